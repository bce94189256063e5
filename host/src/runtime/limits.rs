//! The reasons a call can be stopped for exceeding a limit, and how memory limits are
//! enforced. (The limits themselves are `crate::limits::Limits`.)

use std::time::{Duration, Instant};

pub use crate::limits::Limits;

use super::cpu::CpuTurn;
use super::growth::Growth;

/// A limit that stopped a call. Raised as a trap so the guest cannot catch it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("memory limit of {0} bytes exceeded")]
    Memory(usize),
    #[error("CPU deadline of {0:?} exceeded")]
    Deadline(Duration),
    #[error("host call budget of {0} calls exceeded")]
    HostCalls(u32),
    #[error("response body larger than {0} bytes")]
    ResponseBody(usize),
    #[error("memory growth budget of the tenant exhausted (it grows memory faster than its share)")]
    GrowthBudget,
    #[error("interrupted: module switched off for this tenant")]
    Interrupted,
}

/// Caps linear memory and table growth for one store, and charges big growth to the
/// tenant's growth budget.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub max_memory: usize,
    /// The tenant's growth budget (`None`: growth is not metered).
    pub growth: Option<Growth>,
    /// When the call's deadline passes; waiting for budget never goes beyond it.
    pub deadline_at: Instant,
    /// The call's CPU turn, given back while it waits for budget.
    pub cpu: Option<CpuTurn>,
}

#[async_trait::async_trait]
impl wasmtime::ResourceLimiterAsync for MemoryLimiter {
    async fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            // An error (not `Ok(false)`) traps at once, so a guest that ignores a failed
            // `memory.grow` cannot keep running, and the trap says which limit it hit.
            return Err(wasmtime::Error::new(LimitExceeded::Memory(self.max_memory)));
        }
        let Some(growth) = self.growth.as_mut() else {
            return Ok(true);
        };
        let now = Instant::now();
        let max_wait = self.deadline_at.saturating_duration_since(now);
        let Some(wait) = growth.charge(desired.saturating_sub(current), now, max_wait) else {
            // It could not have the memory in time: stop it now rather than at its deadline.
            return Err(wasmtime::Error::new(LimitExceeded::GrowthBudget));
        };
        if !wait.is_zero() {
            // Waiting is not computing: let the tenant's other calls have the CPU share.
            if let Some(cpu) = &self.cpu {
                cpu.release();
            }
            tokio::time::sleep(wait).await;
        }
        Ok(true)
    }

    async fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
