//! How a call's memory limit is enforced, and its growth charged to the tenant's budget.

use std::time::Instant;

use crate::limits::LimitExceeded;

use super::cpu::CpuTurn;
use super::growth::Growth;

/// Caps linear memory and table growth for one store, and charges big growth to the
/// tenant's growth budget.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub(crate) max_memory: usize,
    /// The tenant's growth budget (`None`: growth is not metered).
    pub(crate) growth: Option<Growth>,
    /// When the call's deadline passes; waiting for budget never goes beyond it.
    pub(crate) deadline_at: Instant,
    /// The call's CPU turn, given back while it waits for budget.
    pub(crate) cpu: Option<CpuTurn>,
    /// The largest linear memory this store's instance has grown to, in bytes.
    pub(crate) peak: usize,
}

impl MemoryLimiter {
    /// Limits for one call; `peak` carries over what a warm instance already grew to.
    pub(crate) fn new(limits: &crate::limits::Limits, peak: usize) -> Self {
        Self {
            max_memory: limits.memory_bytes,
            growth: None,
            deadline_at: Instant::now() + limits.deadline,
            cpu: None,
            peak,
        }
    }
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
        // (A refused growth below traps, and a trapped instance is never reused.)
        self.peak = self.peak.max(desired);
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
