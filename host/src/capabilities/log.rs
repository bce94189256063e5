//! `nova:module/log`: guest log lines into the host's structured log.

use crate::runtime::bindings::log::{Host, Level};
use crate::runtime::store::StoreData;

/// Longest log line kept; the rest is cut.
const MAX_LINE: usize = 4096;

/// Per-call log state.
#[derive(Debug, Default)]
pub struct LogState {
    pub lines: u32,
    pub dropped: u32,
}

impl Host for StoreData {
    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        self.enter(None)?.expect("log needs no grant");
        if self.log.lines >= self.limits.log_lines {
            self.log.dropped += 1;
            return Ok(());
        }
        self.log.lines += 1;
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let c = &self.call;
        match level {
            Level::Debug => {
                tracing::debug!(target: "nova::guest", tenant_id = %c.tenant_id, request_id = %c.request_id, module = %c.module, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "nova::guest", tenant_id = %c.tenant_id, request_id = %c.request_id, module = %c.module, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "nova::guest", tenant_id = %c.tenant_id, request_id = %c.request_id, module = %c.module, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "nova::guest", tenant_id = %c.tenant_id, request_id = %c.request_id, module = %c.module, "{message}")
            }
        }
        Ok(())
    }
}
