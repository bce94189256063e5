//! What one module call may use, and the reasons a call is stopped for going past it. The
//! host sets the defaults; a tenant's plan may only tighten them.

use std::time::Duration;

/// A limit that stopped a call. Raised as a trap so the guest cannot catch it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitExceeded {
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

/// The host's wall-clock deadline for one call unless `--call-deadline-ms` says otherwise.
pub(crate) const DEFAULT_DEADLINE_MS: u64 = 1_000;

/// Limits applied to one invocation. Plans can tighten them per tenant.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory a call may grow to, in bytes.
    pub(crate) memory_bytes: usize,
    /// Wall-clock CPU deadline, enforced with epoch interruption.
    pub(crate) deadline: Duration,
    /// Fuel a call may burn; running out stops it with outcome `limit`.
    pub fuel: u64,
    /// Largest request or response body, in bytes.
    pub(crate) body_bytes: usize,
    /// Largest kv value, in bytes.
    pub(crate) kv_value_bytes: usize,
    /// Host calls (kv, audit, log, context) per invocation.
    pub(crate) host_calls: u32,
    /// Bytes of kv writes one call may buffer.
    pub(crate) buffered_write_bytes: usize,
    /// Audit records one call may write.
    pub(crate) audit_records: u32,
    /// Log lines one call may write (further lines are dropped).
    pub(crate) log_lines: u32,
    /// Calls one tenant may run at once (not a per-call limit, but set by the same plan).
    pub(crate) concurrent_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            deadline: Duration::from_millis(DEFAULT_DEADLINE_MS),
            fuel: 50_000_000_000,
            body_bytes: 1 << 20,
            kv_value_bytes: 256 << 10,
            host_calls: 10_000,
            buffered_write_bytes: 16 << 20,
            audit_records: 256,
            log_lines: 256,
            concurrent_calls: 8,
        }
    }
}
