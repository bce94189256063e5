//! `nova:module/log`: guest log lines into the host's structured log.

use wasmtime::component::Linker;

use super::{Unit, Using};
use crate::contract::log::{self as wit, Host, Level};
use crate::contract::v0_1::nova::module::log as wit_0_1;

/// Longest log line kept; the rest is cut.
const MAX_LINE: usize = 4096;

/// Per-call log state.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    pub(crate) lines: u32,
    pub(crate) dropped: u32,
}

/// Link `nova:module/log` (both contract versions) to the state `get` finds in a store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Unit<'_, LogState>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Using<LogState>>(linker, get)?;
    wit_0_1::add_to_linker::<T, Using<LogState>>(linker, get)
}

impl Host for Unit<'_, LogState> {
    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        self.gate.enter(None)?.expect("log needs no grant");
        if self.state.lines >= self.gate.limits.log_lines {
            self.state.dropped += 1;
            return Ok(());
        }
        self.state.lines += 1;
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let c = &self.gate.call;
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
