//! `/v1/superadmin/*` for who gets what: plans, per-tenant modules and feature flags
//! (overrides over plan rows), presets, registrations and toggle analytics.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, current_request_id};
use super::extract::SuperAdmin;
use super::json::ApiJson;
use super::query::ApiQuery;
use crate::app::AppState;
use crate::error_code::ErrorCode;
use crate::runtime::valid_module_name;
use crate::storage::presets::{self, Preset};
use crate::storage::toggles::{self, Kind, Source};
use crate::storage::{analytics, modules, plans, registrations, service_tokens, tenants, users};
use crate::tenancy::ChangeError;
use crate::tenancy::changes::{Change, Delta, Op};
use crate::tenancy::registration::{self, DecisionError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes mounted under `/v1/superadmin`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(list_members))
        .routes(routes!(tenant_modules))
        .routes(routes!(set_module, drop_module))
        .routes(routes!(tenant_flags))
        .routes(routes!(set_flag, drop_flag))
        .routes(routes!(apply_preset))
        .routes(routes!(list_presets, create_preset))
        .routes(routes!(replace_preset, delete_preset))
        .routes(routes!(list_registrations))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(change_plan, cancel_subscription))
        .routes(routes!(toggle_analytics))
        .routes(routes!(create_service_token, list_service_tokens))
        .routes(routes!(revoke_service_token))
}

/// Feature flag names: lower-case words joined by `.`, `_` or `-`, at most 64 bytes.
pub(crate) fn valid_flag_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_lowercase()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NoTenant(t) => ApiError::not_found(
            ErrorCode::TENANT_NOT_FOUND,
            format!("tenant {t} does not exist"),
        ),
        ChangeError::Storage(e) => e.into(),
    }
}

fn decision_error(e: DecisionError) -> ApiError {
    match e {
        DecisionError::NotFound(_) => {
            ApiError::not_found(ErrorCode::REGISTRATION_NOT_FOUND, e.to_string())
        }
        DecisionError::AlreadyDecided(_) | DecisionError::EmailTaken(_) => {
            ApiError::conflict(e.to_string())
        }
        DecisionError::UnknownPreset(_) => ApiError::validation("preset", e.to_string()),
        DecisionError::UnknownPlan(_) => ApiError::validation("plan", e.to_string()),
        DecisionError::Storage(e) => e.into(),
    }
}

/// Every plan.
#[derive(Serialize, utoipa::ToSchema)]
struct PlanList {
    plans: Vec<plans::Plan>,
}

#[utoipa::path(get, path = "/plans", responses((status = 200, description = "Every plan", body = PlanList)))]
async fn list_plans(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<PlanList>> {
    let plans = plans::list(&state.db).await?;
    Ok(Json(PlanList { plans }))
}

/// Every superadmin, for the access review.
#[derive(Serialize, utoipa::ToSchema)]
struct MemberList {
    members: Vec<users::Member>,
}

#[utoipa::path(get, path = "/members", responses((status = 200, description = "Every superadmin, with their last login", body = MemberList)))]
async fn list_members(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<MemberList>> {
    let members = users::superadmins(&state.db).await?;
    Ok(Json(MemberList { members }))
}

async fn require_tenant(state: &AppState, tenant: &str) -> ApiResult<()> {
    match tenants::get(&state.db, tenant).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(
            ErrorCode::TENANT_NOT_FOUND,
            format!("tenant {tenant} does not exist"),
        )),
    }
}

/// One module's or flag's state for a tenant: effective, where it comes from, both rows.
#[derive(Serialize, utoipa::ToSchema)]
struct Toggle {
    name: String,
    enabled: bool,
    /// `override`, `plan` or `none`.
    source: &'static str,
    /// The plan's row; `null` when the plan says nothing.
    plan: Option<bool>,
    /// The superadmin's override; `null` when there is none.
    r#override: Option<bool>,
}

/// A module's state for a tenant, and what switching it off would stop now.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ModuleToggle {
    #[serde(flatten)]
    toggle: Toggle,
    /// The tenant's calls of it running now on the replica that answered (switching the
    /// module off interrupts them).
    in_flight: usize,
    /// The version this tenant is pinned to (a canary); `null` when it runs the active one.
    pinned_version: Option<i64>,
}

/// A tenant's modules (every installed one) with their state.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantModules {
    tenant_id: String,
    modules: Vec<ModuleToggle>,
}

/// A tenant's feature flags with their state.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantFlags {
    tenant_id: String,
    feature_flags: Vec<Toggle>,
}

/// Each name's effective state, its source, and both rows.
fn describe(
    rows: &std::collections::HashMap<String, toggles::Rows>,
    names: impl IntoIterator<Item = String>,
) -> Vec<Toggle> {
    let mut all: Vec<String> = names.into_iter().chain(rows.keys().cloned()).collect();
    all.sort();
    all.dedup();
    all.into_iter()
        .map(|name| {
            let r = rows.get(&name).copied().unwrap_or_default();
            Toggle {
                name,
                enabled: r.effective(),
                source: r.source(),
                plan: r.plan,
                r#override: r.r#override,
            }
        })
        .collect()
}

#[utoipa::path(get, path = "/tenants/{tenant_id}/modules", responses((status = 200, description = "Every installed module's state for the tenant", body = TenantModules)))]
async fn tenant_modules(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(tenant): Path<String>,
) -> ApiResult<Json<TenantModules>> {
    require_tenant(&state, &tenant).await?;
    let rows = toggles::for_tenant(&state.db, Kind::Module, &tenant).await?;
    let installed = modules::list(&state.db).await?.into_iter().map(|m| m.name);
    let pins = modules::pinned_versions(&state.db, &tenant).await?;
    let running = &state.runtime.tenants;
    let modules = describe(&rows, installed)
        .into_iter()
        .map(|toggle| ModuleToggle {
            in_flight: running.in_flight(&tenant, &toggle.name),
            pinned_version: pins.get(&toggle.name).copied(),
            toggle,
        })
        .collect();
    Ok(Json(TenantModules {
        modules,
        tenant_id: tenant,
    }))
}

#[utoipa::path(get, path = "/tenants/{tenant_id}/feature-flags", responses((status = 200, description = "The tenant's feature flags", body = TenantFlags)))]
async fn tenant_flags(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(tenant): Path<String>,
) -> ApiResult<Json<TenantFlags>> {
    require_tenant(&state, &tenant).await?;
    let rows = toggles::for_tenant(&state.db, Kind::Flag, &tenant).await?;
    Ok(Json(TenantFlags {
        feature_flags: describe(&rows, []),
        tenant_id: tenant,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Enabled {
    enabled: bool,
}

/// The answer to a single module or flag change: `module` or `flag` names what changed.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Toggled {
    tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<String>,
    /// The effective state now.
    enabled: bool,
    /// `override`, `plan` or `none`.
    source: &'static str,
    /// The effective state before; `null` when nothing decided it.
    previous: Option<bool>,
}

/// Set or drop one override, make it take effect everywhere, and answer with the new state.
async fn change_one(
    state: &AppState,
    admin: &str,
    tenant: &str,
    kind: Kind,
    name: &str,
    op: Op,
) -> ApiResult<Json<Toggled>> {
    let reason = match op {
        Op::Set(..) => "override",
        Op::Drop(_) => "override removed",
    };
    let change = Change {
        kind,
        name: name.to_string(),
        op,
    };
    let deltas = state
        .tenancy
        .change(tenant, &[change], admin, &current_request_id(), reason)
        .await
        .map_err(change_error)?;
    state.changed(tenant, &deltas).await;
    let source = toggles::for_tenant(&state.db, kind, tenant)
        .await?
        .get(name)
        .copied()
        .unwrap_or_default()
        .source();
    let (module, flag) = match kind {
        Kind::Module => (Some(name.to_string()), None),
        Kind::Flag => (None, Some(name.to_string())),
    };
    let d = deltas.first();
    Ok(Json(Toggled {
        tenant_id: tenant.to_string(),
        module,
        flag,
        enabled: d.and_then(|d| d.current).unwrap_or(false),
        source,
        previous: d.and_then(|d| d.previous),
    }))
}

#[utoipa::path(put, path = "/tenants/{tenant_id}/modules/{module}", request_body = Enabled, responses((status = 200, description = "The state now", body = Toggled)))]
async fn set_module(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, module)): Path<(String, String)>,
    ApiJson(body): ApiJson<Enabled>,
) -> ApiResult<Json<Toggled>> {
    if state.runtime.registry.get(&module).is_none() {
        return Err(ApiError::not_found(
            ErrorCode::MODULE_NOT_FOUND,
            format!("no module named {module:?} is installed"),
        ));
    }
    let op = Op::Set(Source::Override, body.enabled);
    change_one(&state, &admin.email, &tenant, Kind::Module, &module, op).await
}

#[utoipa::path(delete, path = "/tenants/{tenant_id}/modules/{module}", responses((status = 200, description = "The state now", body = Toggled)))]
async fn drop_module(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, module)): Path<(String, String)>,
) -> ApiResult<Json<Toggled>> {
    let op = Op::Drop(Source::Override);
    change_one(&state, &admin.email, &tenant, Kind::Module, &module, op).await
}

#[utoipa::path(put, path = "/tenants/{tenant_id}/feature-flags/{flag}", request_body = Enabled, responses((status = 200, description = "The state now", body = Toggled)))]
async fn set_flag(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, flag)): Path<(String, String)>,
    ApiJson(body): ApiJson<Enabled>,
) -> ApiResult<Json<Toggled>> {
    if !valid_flag_name(&flag) {
        return Err(ApiError::validation(
            "flag",
            "flag names use a-z, 0-9, '.', '_' and '-', at most 64 bytes",
        ));
    }
    let op = Op::Set(Source::Override, body.enabled);
    change_one(&state, &admin.email, &tenant, Kind::Flag, &flag, op).await
}

#[utoipa::path(delete, path = "/tenants/{tenant_id}/feature-flags/{flag}", responses((status = 200, description = "The state now", body = Toggled)))]
async fn drop_flag(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, flag)): Path<(String, String)>,
) -> ApiResult<Json<Toggled>> {
    let op = Op::Drop(Source::Override);
    change_one(&state, &admin.email, &tenant, Kind::Flag, &flag, op).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApplyPreset {
    preset: String,
}

/// A preset applied, and what it switched.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PresetApplied {
    tenant_id: String,
    preset: String,
    delta: BTreeMap<String, DeltaView>,
}

#[utoipa::path(post, path = "/tenants/{tenant_id}/apply-preset", request_body = ApplyPreset, responses((status = 200, description = "What the preset switched", body = PresetApplied)))]
async fn apply_preset(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<ApplyPreset>,
) -> ApiResult<Json<PresetApplied>> {
    require_tenant(&state, &tenant).await?;
    let deltas = registration::apply_preset(
        &state.tenancy,
        &tenant,
        &body.preset,
        &admin.email,
        &current_request_id(),
    )
    .await
    .map_err(decision_error)?;
    state.changed(&tenant, &deltas).await;
    Ok(Json(PresetApplied {
        tenant_id: tenant,
        preset: body.preset,
        delta: deltas_view(&deltas),
    }))
}

/// Every preset.
#[derive(Serialize, utoipa::ToSchema)]
struct PresetList {
    presets: Vec<Preset>,
}

#[utoipa::path(get, path = "/module-presets", responses((status = 200, description = "Every preset", body = PresetList)))]
async fn list_presets(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<PresetList>> {
    let presets = presets::list(&state.db).await?;
    Ok(Json(PresetList { presets }))
}

fn check_preset(p: &Preset) -> ApiResult<()> {
    if !valid_flag_name(&p.name) {
        return Err(ApiError::validation(
            "name",
            "preset names use a-z, 0-9, '.', '_' and '-', at most 64 bytes",
        ));
    }
    if let Some(bad) = p.modules.keys().find(|m| !valid_module_name(m)) {
        return Err(ApiError::validation(
            "modules",
            format!("{bad:?} is not a module name"),
        ));
    }
    if let Some(bad) = p.feature_flags.keys().find(|f| !valid_flag_name(f)) {
        return Err(ApiError::validation(
            "featureFlags",
            format!("{bad:?} is not a flag name"),
        ));
    }
    if p.description.chars().count() > 500 {
        return Err(ApiError::validation(
            "description",
            "description must be at most 500 characters",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/module-presets", request_body = Preset, responses((status = 201, description = "The new preset", body = Preset)))]
async fn create_preset(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiJson(preset): ApiJson<Preset>,
) -> ApiResult<(StatusCode, Json<Preset>)> {
    check_preset(&preset)?;
    if !presets::upsert(&state.db, &preset, true).await? {
        return Err(ApiError::conflict(format!(
            "a preset named {:?} exists; PUT replaces it",
            preset.name
        )));
    }
    Ok((StatusCode::CREATED, Json(preset)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PresetBody {
    #[serde(default)]
    description: String,
    #[serde(default)]
    modules: BTreeMap<String, bool>,
    #[serde(default)]
    feature_flags: BTreeMap<String, bool>,
}

#[utoipa::path(put, path = "/module-presets/{name}", request_body = PresetBody, responses((status = 200, description = "The preset now", body = Preset), (status = 201, description = "Created: no preset had this name", body = Preset)))]
async fn replace_preset(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PresetBody>,
) -> ApiResult<(StatusCode, Json<Preset>)> {
    let preset = Preset {
        name,
        description: body.description,
        modules: body.modules,
        feature_flags: body.feature_flags,
    };
    check_preset(&preset)?;
    let created = presets::upsert(&state.db, &preset, false).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(preset),
    ))
}

#[utoipa::path(delete, path = "/module-presets/{name}", responses((status = 204, description = "Done")))]
async fn delete_preset(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if presets::delete(&state.db, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            ErrorCode::PRESET_NOT_FOUND,
            format!("no preset named {name:?}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    status: Option<String>,
}

/// Registrations, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
struct RegistrationList {
    registrations: Vec<registrations::Registration>,
}

#[utoipa::path(get, path = "/registrations", responses((status = 200, description = "Registrations, oldest first", body = RegistrationList)))]
async fn list_registrations(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<RegistrationList>> {
    if let Some(s) = &q.status
        && !["pending", "approved", "rejected"].contains(&s.as_str())
    {
        return Err(ApiError::validation(
            "status",
            "status must be pending, approved or rejected",
        ));
    }
    let registrations = registrations::list(&state.db, q.status.as_deref()).await?;
    Ok(Json(RegistrationList { registrations }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Approve {
    preset: Option<String>,
}

#[utoipa::path(post, path = "/registrations/{id}/approve", responses((status = 200, description = "What the approval created", body = registration::Approved)))]
async fn approve(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<registration::Approved>> {
    // The body is optional: no body approves with the plan alone.
    let body: Approve = if body.iter().all(u8::is_ascii_whitespace) {
        Approve::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation("body", format!("invalid JSON body: {e}")))?
    };
    let approved = registration::approve(
        &state.tenancy,
        &id,
        body.preset.as_deref(),
        &admin.email,
        &current_request_id(),
    )
    .await
    .map_err(decision_error)?;
    state.changed(&approved.tenant_id, &[]).await;
    Ok(Json(approved))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Reject {
    reason: String,
}

/// A refused registration.
#[derive(Serialize, utoipa::ToSchema)]
struct Rejected {
    id: String,
    /// Always `rejected`.
    status: &'static str,
    reason: String,
}

#[utoipa::path(post, path = "/registrations/{id}/reject", request_body = Reject, responses((status = 200, description = "Rejected", body = Rejected)))]
async fn reject(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reject>,
) -> ApiResult<Json<Rejected>> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::validation(
            "reason",
            "reason must be 1 to 500 characters",
        ));
    }
    registration::reject(&state.tenancy, &id, reason, &admin.email)
        .await
        .map_err(decision_error)?;
    Ok(Json(Rejected {
        id,
        status: "rejected",
        reason: reason.to_string(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WindowQuery {
    window_days: Option<String>,
}

/// Toggles per module and state in the window, and new tenants per module.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ToggleReport {
    window_days: i64,
    toggles: Vec<analytics::ModuleToggles>,
    /// The same toggles by day (UTC) and module, for the chart.
    daily: Vec<analytics::DailyToggles>,
    new_tenants_per_module: Vec<analytics::NewTenants>,
}

#[utoipa::path(get, path = "/analytics/module-toggles", responses((status = 200, description = "The report", body = ToggleReport)))]
async fn toggle_analytics(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Json<ToggleReport>> {
    let days = super::query::limit(q.window_days.as_deref(), 30, 366).map_err(|_| {
        ApiError::validation(
            "windowDays",
            "windowDays must be a whole number from 1 to 366",
        )
    })?;
    let since = crate::storage::now_ms() - days * 86_400_000;
    let report = analytics::module_toggles(&state.db, since).await?;
    Ok(Json(ToggleReport {
        window_days: days,
        toggles: report.toggles,
        daily: report.daily,
        new_tenants_per_module: report.new_tenants,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewServiceToken {
    name: String,
    /// Days until the token stops working (1 to 3650); omitted: it works until revoked.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn audit_superadmin(
    state: &AppState,
    tenant: &str,
    action: &str,
    actor: &str,
    payload: Value,
) -> ApiResult<()> {
    let event = crate::storage::audit::AuditEvent::new(
        Some(tenant),
        "superadmin",
        action,
        Some(actor),
        &payload,
        Some(&current_request_id()),
    );
    let mut conn = state.db.pool().acquire().await?;
    crate::storage::audit::insert(&mut conn, &event).await?;
    Ok(())
}

/// A new service token: the secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct IssuedToken {
    id: String,
    /// The bearer secret; it is not stored and cannot be shown again.
    token: String,
    name: String,
    tenant_id: String,
    created_at: String,
    /// When it stops working; `null`: never.
    expires_at: Option<String>,
}

#[utoipa::path(post, path = "/tenants/{tenant_id}/service-tokens", request_body = NewServiceToken, responses((status = 201, description = "The token, with its secret shown once", body = IssuedToken)))]
async fn create_service_token(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewServiceToken>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation(
            "name",
            "name must be 1 to 100 characters",
        ));
    }
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => Some(crate::storage::now_ms() + i64::from(days) * 86_400_000),
        Some(_) => {
            return Err(ApiError::validation(
                "expiresInDays",
                "expiresInDays must be 1 to 3650",
            ));
        }
    };
    require_tenant(&state, &tenant).await?;
    let (token, secret) =
        service_tokens::create(&state.db, &tenant, name, &admin.email, expires_at).await?;
    audit_superadmin(
        &state,
        &tenant,
        "service_token.created",
        &admin.email,
        json!({"tokenId": token.id, "name": name, "expiresAt": token.expires_at}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            id: token.id,
            token: secret,
            name: token.name,
            tenant_id: tenant,
            created_at: token.created_at,
            expires_at: token.expires_at,
        }),
    ))
}

/// A tenant's service tokens, without their secrets.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenList {
    tenant_id: String,
    tokens: Vec<service_tokens::Listed>,
}

#[utoipa::path(get, path = "/tenants/{tenant_id}/service-tokens", responses((status = 200, description = "The tenant's service tokens, newest first, without secrets", body = TokenList)))]
async fn list_service_tokens(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(tenant): Path<String>,
) -> ApiResult<Json<TokenList>> {
    require_tenant(&state, &tenant).await?;
    let tokens = service_tokens::list(&state.db, &tenant).await?;
    Ok(Json(TokenList {
        tenant_id: tenant,
        tokens,
    }))
}

#[utoipa::path(delete, path = "/tenants/{tenant_id}/service-tokens/{token_id}", responses((status = 204, description = "Done")))]
async fn revoke_service_token(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    if !service_tokens::revoke(&state.db, &tenant, &token_id).await? {
        return Err(ApiError::not_found(
            ErrorCode::TOKEN_NOT_FOUND,
            "no live service token with that id for this tenant",
        ));
    }
    audit_superadmin(
        &state,
        &tenant,
        "service_token.revoked",
        &admin.email,
        json!({"tokenId": token_id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn plan_error(e: registration::PlanError) -> ApiError {
    match e {
        registration::PlanError::UnknownPlan(_) => ApiError::validation("plan", e.to_string()),
        registration::PlanError::NoSubscription(_) => {
            ApiError::not_found(ErrorCode::SUBSCRIPTION_NOT_FOUND, e.to_string())
        }
        registration::PlanError::Storage(e) => e.into(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    plan: String,
}

/// What a change did to one module or flag: its effective state before and after (`null`
/// when nothing decided it).
#[derive(Serialize, utoipa::ToSchema)]
struct DeltaView {
    previous: Option<bool>,
    current: Option<bool>,
}

/// Every changed module and flag, by name.
fn deltas_view(deltas: &[Delta]) -> BTreeMap<String, DeltaView> {
    deltas
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                DeltaView {
                    previous: d.previous,
                    current: d.current,
                },
            )
        })
        .collect()
}

/// A plan change and what it switched.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PlanChanged {
    tenant_id: String,
    plan: String,
    delta: BTreeMap<String, DeltaView>,
}

/// A cancellation and what it switched off.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Canceled {
    tenant_id: String,
    /// Always `canceled`.
    status: &'static str,
    delta: BTreeMap<String, DeltaView>,
}

#[utoipa::path(put, path = "/tenants/{tenant_id}/subscription", request_body = PlanBody, responses((status = 200, description = "The plan now, and what it switched", body = PlanChanged)))]
async fn change_plan(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> ApiResult<Json<PlanChanged>> {
    let deltas = registration::change_plan(
        &state.tenancy,
        &tenant,
        body.plan.trim(),
        &admin.email,
        &current_request_id(),
    )
    .await
    .map_err(plan_error)?;
    state.changed(&tenant, &deltas).await;
    Ok(Json(PlanChanged {
        tenant_id: tenant,
        plan: body.plan,
        delta: deltas_view(&deltas),
    }))
}

#[utoipa::path(delete, path = "/tenants/{tenant_id}/subscription", responses((status = 200, description = "Canceled, and what it switched off", body = Canceled)))]
async fn cancel_subscription(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Canceled>> {
    let deltas = registration::cancel_subscription(
        &state.tenancy,
        &tenant,
        &admin.email,
        &current_request_id(),
    )
    .await
    .map_err(plan_error)?;
    state.changed(&tenant, &deltas).await;
    Ok(Json(Canceled {
        tenant_id: tenant,
        status: "canceled",
        delta: deltas_view(&deltas),
    }))
}
