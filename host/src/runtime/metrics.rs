//! Per-module invocation metrics, with handles registered once per loaded version so the
//! hot path does not build label sets on every call.

use metrics::{Counter, Histogram};

use crate::storage::invocations::Outcome;

const OUTCOMES: [Outcome; 7] = [
    Outcome::Ok,
    Outcome::Error,
    Outcome::Denied,
    Outcome::Trap,
    Outcome::Timeout,
    Outcome::Limit,
    Outcome::Interrupted,
];

/// `nova_module_invocations_total{module,outcome}`,
/// `nova_module_invocation_duration_seconds{module}` and
/// `nova_module_warm_calls_total{module}` (calls that ran in a reused instance) for one
/// module.
pub(crate) struct ModuleMetrics {
    calls: Vec<Counter>,
    duration: Histogram,
    warm: Counter,
}

impl ModuleMetrics {
    /// Register the handles for `module`.
    pub(crate) fn new(module: &str) -> Self {
        Self {
            calls: OUTCOMES
                .iter()
                .map(|o| {
                    metrics::counter!("nova_module_invocations_total", "module" => module.to_string(), "outcome" => o.as_str())
                })
                .collect(),
            duration: metrics::histogram!("nova_module_invocation_duration_seconds", "module" => module.to_string()),
            warm: metrics::counter!("nova_module_warm_calls_total", "module" => module.to_string()),
        }
    }

    /// Count a call that runs in a reused instance.
    pub(crate) fn warm_call(&self) {
        self.warm.increment(1);
    }

    /// Count one call and its duration.
    pub(crate) fn observe(&self, outcome: Outcome, seconds: f64) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.calls[i].increment(1);
        }
        self.duration.record(seconds);
    }
}
