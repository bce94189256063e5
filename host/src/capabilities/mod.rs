//! Host capabilities, one unit per WIT interface. Each unit holds its per-call state, its
//! limits, its `Host` impl and its `add_to_linker` (for every contract version that has
//! the interface); [`add_to_linker`] below is the one list that registers them. Every host
//! function starts at the [`Gate`] (the host-call budget and the grant, checked in one
//! place; a refusal is the interface's `denied` case). Units are tested without Wasm.
//! `v0_1` serves the frozen `nova:module@0.1.0` imports with the same units.

pub(crate) mod audit;
pub mod clock;
pub(crate) mod context;
pub(crate) mod entitlements;
pub mod gate;
pub mod grants;
pub(crate) mod kv;
pub mod log;
pub mod outbound_http;
pub(crate) mod v0_1;

use std::marker::PhantomData;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::limits::Limits;
use crate::storage::Db;
use crate::tenancy::TenantView;
use audit::AuditState;
use gate::{CallInfo, Gate};
use kv::KvState;
use log::LogState;
use outbound_http::OutboundState;

/// What a unit's host functions see: the call's gate and the unit's own state.
pub(crate) struct Unit<'a, S> {
    pub(crate) gate: &'a mut Gate,
    pub(crate) state: &'a mut S,
}

/// The `HasData` of a unit whose state is `S` (its host functions run on a [`Unit`]).
pub(crate) struct Using<S>(PhantomData<S>);

impl<S: 'static> HasData for Using<S> {
    type Data<'a> = Unit<'a, S>;
}

/// Every unit's state for one call.
pub(crate) struct Capabilities {
    pub(crate) gate: Gate,
    pub(crate) kv: KvState,
    pub(crate) audit: AuditState,
    pub(crate) log: LogState,
    pub(crate) outbound: OutboundState,
    /// The calling tenant's modules, flags, plan and timezone, as resolved when the call
    /// started.
    pub(crate) tenant: Arc<TenantView>,
}

impl Capabilities {
    /// Fresh state for one call, granted nothing yet.
    pub(crate) fn new(db: Db, call: CallInfo, limits: Limits, tenant: Arc<TenantView>) -> Self {
        Self {
            kv: KvState::new(db, call.tenant_id.clone(), call.module.clone(), limits),
            gate: Gate::new(call, limits),
            audit: AuditState::default(),
            log: LogState::default(),
            outbound: OutboundState::default(),
            tenant,
        }
    }
}

/// A store's data that holds the capabilities.
pub(crate) trait HasCapabilities: Send + 'static {
    fn capabilities(&mut self) -> &mut Capabilities;
}

/// A getter for the linker: the gate and one unit's state, out of the store's data.
macro_rules! unit {
    ($state:ident) => {
        |t| {
            let c = t.capabilities();
            Unit {
                gate: &mut c.gate,
                state: &mut c.$state,
            }
        }
    };
}

/// Register every unit: the one list a new capability joins.
pub(crate) fn add_to_linker<T: HasCapabilities>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    context::add_to_linker(linker, |t| &mut t.capabilities().gate)?;
    log::add_to_linker(linker, unit!(log))?;
    kv::add_to_linker(linker, unit!(kv))?;
    audit::add_to_linker(linker, unit!(audit))?;
    entitlements::add_to_linker(linker, unit!(tenant))?;
    outbound_http::add_to_linker(linker, unit!(outbound))?;
    clock::add_to_linker(linker, unit!(tenant))
}
