//! The imports of `nova:module@0.1.0`, frozen as it shipped, served by the current units.
//! Only the refusal differs: 0.1.0 had no `denied` case, so a refused capability comes back
//! the way 0.1.0 worded it (kv `other`, audit `invalid-action`, outbound `not-allowed`, each
//! with the text its SDK recognises; entitlements answered "nothing").

use std::sync::Arc;

use super::Unit;
use super::audit::AuditState;
use super::gate::Gate;
use super::kv::KvState;
use super::log::LogState;
use super::outbound_http::OutboundState;
use crate::contract::v0_1::nova::module as old;
use crate::contract::{audit, context, entitlements, kv, log, outbound_http};
use crate::tenancy::TenantView;

impl old::kv::Host for Unit<'_, KvState> {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, old::kv::Error>> {
        Ok(kv::Host::get(self, key).await?.map_err(kv_error))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), old::kv::Error>> {
        Ok(kv::Host::set(self, key, value).await?.map_err(kv_error))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), old::kv::Error>> {
        Ok(kv::Host::delete(self, key).await?.map_err(kv_error))
    }

    async fn list(
        &mut self,
        prefix: String,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<old::kv::Page, old::kv::Error>> {
        let page = kv::Host::list(self, prefix, limit, cursor).await?;
        Ok(page
            .map(|p| old::kv::Page {
                entries: p
                    .entries
                    .into_iter()
                    .map(|e| old::kv::Entry {
                        key: e.key,
                        value: e.value,
                    })
                    .collect(),
                cursor: p.cursor,
            })
            .map_err(kv_error))
    }
}

fn kv_error(e: kv::Error) -> old::kv::Error {
    match e {
        kv::Error::InvalidKey(m) => old::kv::Error::InvalidKey(m),
        kv::Error::ValueTooLarge(n) => old::kv::Error::ValueTooLarge(n),
        kv::Error::QuotaExceeded(m) => old::kv::Error::QuotaExceeded(m),
        kv::Error::Other(m) | kv::Error::Denied(m) => old::kv::Error::Other(m),
    }
}

impl old::audit::Host for Unit<'_, AuditState> {
    async fn record(
        &mut self,
        action: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), old::audit::Error>> {
        let done = audit::Host::record(self, action, payload).await?;
        Ok(done.map_err(|e| match e {
            audit::Error::InvalidAction(m) | audit::Error::Denied(m) => {
                old::audit::Error::InvalidAction(m)
            }
            audit::Error::InvalidPayload(m) => old::audit::Error::InvalidPayload(m),
            audit::Error::QuotaExceeded(m) => old::audit::Error::QuotaExceeded(m),
        }))
    }
}

impl old::log::Host for Unit<'_, LogState> {
    async fn log(&mut self, level: old::log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            old::log::Level::Debug => log::Level::Debug,
            old::log::Level::Info => log::Level::Info,
            old::log::Level::Warn => log::Level::Warn,
            old::log::Level::Error => log::Level::Error,
        };
        log::Host::log(self, level, message).await
    }
}

impl old::context::Host for Gate {
    async fn get(&mut self) -> wasmtime::Result<old::context::Info> {
        let i = context::Host::get(self).await?;
        Ok(old::context::Info {
            tenant_id: i.tenant_id,
            actor: i.actor,
            request_id: i.request_id,
            module_name: i.module_name,
            module_version: i.module_version,
        })
    }
}

impl old::entitlements::Host for Unit<'_, Arc<TenantView>> {
    async fn has_feature(&mut self, flag: String) -> wasmtime::Result<bool> {
        Ok(entitlements::Host::has_feature(self, flag)
            .await?
            .unwrap_or(false))
    }

    async fn enabled_modules(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(entitlements::Host::enabled_modules(self)
            .await?
            .unwrap_or_default())
    }
}

impl old::outbound_http::Host for Unit<'_, OutboundState> {
    async fn send(
        &mut self,
        req: old::outbound_http::Request,
    ) -> wasmtime::Result<Result<old::outbound_http::Response, old::outbound_http::Error>> {
        use old::outbound_http as o;
        let req = outbound_http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
        };
        let sent = outbound_http::Host::send(self, req).await?;
        Ok(sent
            .map(|r| o::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(|e| match e {
                outbound_http::Error::NotAllowed(m) | outbound_http::Error::Denied(m) => {
                    o::Error::NotAllowed(m)
                }
                outbound_http::Error::InvalidRequest(m) => o::Error::InvalidRequest(m),
                outbound_http::Error::Timeout(m) => o::Error::Timeout(m),
                outbound_http::Error::QuotaExceeded(m) => o::Error::QuotaExceeded(m),
                outbound_http::Error::Failed(m) => o::Error::Failed(m),
            }))
    }
}
