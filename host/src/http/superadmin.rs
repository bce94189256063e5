//! `/v1/superadmin/*`: tenants, users, modules, toggles, and what happened (invocations, audit).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, ApiResult, current_request_id};
use super::extract::SuperAdmin;
use super::json::ApiJson;
use super::query::{ApiQuery, limit};
use crate::app::AppState;
use crate::auth::{Role, password};
use crate::capabilities::clock;
use crate::error_code::ErrorCode;
use crate::runtime::InstallError;
use crate::storage::audit::{self as audit_store, AuditEvent, AuditFilter};
use crate::storage::invocations::{self, InvocationFilter, Outcome};
use crate::storage::page::Position;
use crate::storage::{self, modules, tenants, users};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

/// Largest component accepted by the install route.
const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// The superadmin router (mounted at `/v1/superadmin`).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(create_user, list_users))
        .routes(routes!(set_timezone))
        .routes(
            routes!(list_modules, install_module).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES)),
        )
        .routes(routes!(list_invocations))
        .routes(routes!(list_audit))
        .merge(super::tenancy::router())
        .merge(super::versions::router())
        .merge(super::tracing_settings::router())
        .merge(super::access::router())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
}

#[utoipa::path(post, path = "/tenants", request_body = NewTenant, responses((status = 201, description = "The new tenant", body = tenants::Tenant)))]
async fn create_tenant(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiJson(body): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<tenants::Tenant>)> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    let tenant = tenants::create(&state.db, name).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// A tenant in the list, with its plan and the modules on for it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantRow {
    #[serde(flatten)]
    tenant: tenants::Tenant,
    /// The plan of its current subscription; `null` without one.
    plan: Option<String>,
    /// Modules on for it (override, else plan), by name.
    modules: Vec<String>,
}

/// A page of tenants, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantList {
    tenants: Vec<TenantRow>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantListQuery {
    /// Part of the name (any case), or a whole id.
    q: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Tenants, newest first, `limit` at a time (default 100, at most 500), filtered by `q`.
#[utoipa::path(get, path = "/tenants", responses((status = 200, description = "A page of tenants, newest first", body = TenantList)))]
async fn list_tenants(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(query): ApiQuery<TenantListQuery>,
) -> ApiResult<Json<TenantList>> {
    let limit = limit(query.limit.as_deref(), 100, 500)?;
    let search = query.q.as_deref().unwrap_or("").trim();
    if search.chars().count() > 200 {
        return Err(ApiError::validation("q", "q is at most 200 characters"));
    }
    let after = cursor(query.cursor.as_deref())?;
    let (page, next) = tenants::page(&state.db, search, after.as_ref(), limit).await?;
    let mut rows = Vec::with_capacity(page.len());
    for tenant in page {
        let view = state.tenancy.view(&tenant.id).await?;
        rows.push(TenantRow {
            plan: view.plan.as_ref().map(|p| p.name.clone()),
            modules: view.enabled_modules(),
            tenant,
        });
    }
    Ok(Json(TenantList {
        tenants: rows,
        next_cursor: next.map(|a| a.encode()),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TimezoneBody {
    /// An IANA timezone name, such as `Europe/Paris`.
    timezone: String,
}

/// Set the restaurant's timezone: modules with the `clock` capability read its local date
/// and time (POS's business date) from it.
#[utoipa::path(put, path = "/tenants/{tenant_id}/timezone", request_body = TimezoneBody, responses((status = 200, description = "The tenant, with its new timezone", body = tenants::Tenant)))]
async fn set_timezone(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<TimezoneBody>,
) -> ApiResult<Json<tenants::Tenant>> {
    let timezone = body.timezone.trim();
    if timezone.is_empty() || timezone.len() > 64 || !clock::known_timezone(timezone) {
        return Err(ApiError::validation(
            "timezone",
            format!("{timezone:?} is not an IANA timezone name such as Europe/Paris"),
        ));
    }
    let Some(before) = tenants::get(&state.db, &tenant_id).await? else {
        return Err(no_tenant(&tenant_id));
    };
    let mut tx = state.db.begin().await?;
    if !tenants::set_timezone_in(&mut tx, &tenant_id, timezone).await? {
        return Err(no_tenant(&tenant_id));
    }
    let event = AuditEvent::new(
        Some(&tenant_id),
        "superadmin",
        "tenant.timezone_changed",
        Some(&admin.email),
        &json!({"previous": before.timezone, "current": timezone}),
        Some(&current_request_id()),
    );
    audit_store::insert(&mut tx, &event).await?;
    crate::storage::commit_in_task(tx).await?;
    // The tenant's view carries its timezone: drop it here and on the other replicas.
    state.tenancy.invalidate(&tenant_id);
    state.changed(&tenant_id, &[]).await;
    Ok(Json(tenants::Tenant {
        timezone: timezone.to_string(),
        ..before
    }))
}

pub(crate) fn no_tenant(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::TENANT_NOT_FOUND, format!("no tenant {id:?}"))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    password: String,
    role: String,
}

/// Why an email is refused, if it is.
pub(crate) fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "email",
            "email must look like name@example.com",
        ))
    }
}

#[utoipa::path(post, path = "/tenants/{tenant_id}/users", request_body = NewUser, responses((status = 201, description = "The new user (never with a password hash)", body = users::User)))]
async fn create_user(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<users::User>)> {
    let email = body.email.trim().to_lowercase();
    check_email(&email)?;
    password::check_strength(&body.password).map_err(|m| ApiError::validation("password", m))?;
    let role = match Role::parse(&body.role) {
        Some(r @ (Role::Admin | Role::Staff)) => r,
        _ => {
            return Err(ApiError::validation(
                "role",
                "role must be \"admin\" or \"staff\"",
            ));
        }
    };
    if tenants::get(&state.db, &tenant_id).await?.is_none() {
        return Err(ApiError::not_found(
            ErrorCode::TENANT_NOT_FOUND,
            format!("tenant {tenant_id} does not exist"),
        ));
    }
    let pw = body.password;
    let hash = password::hash_gated(pw)
        .await?
        .map_err(ApiError::internal)?;
    match users::create(&state.db, Some(&tenant_id), &email, &hash, role.as_str()).await {
        Ok(user) => Ok((StatusCode::CREATED, Json(user))),
        Err(e) if storage::is_unique_violation(&e) => Err(ApiError::conflict(format!(
            "a user with email {email} already exists"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A tenant's admins and staff.
#[derive(Serialize, utoipa::ToSchema)]
struct UserList {
    users: Vec<users::Member>,
}

#[utoipa::path(get, path = "/tenants/{tenant_id}/users", responses((status = 200, description = "The tenant's admins and staff by email, with their last sign-in (never a password hash)", body = UserList)))]
async fn list_users(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    Path(tenant_id): Path<String>,
) -> ApiResult<Json<UserList>> {
    if tenants::get(&state.db, &tenant_id).await?.is_none() {
        return Err(ApiError::not_found(
            ErrorCode::TENANT_NOT_FOUND,
            format!("tenant {tenant_id} does not exist"),
        ));
    }
    let users = users::in_tenant(&state.db, &tenant_id).await?;
    Ok(Json(UserList { users }))
}

/// Every installed module.
#[derive(Serialize, utoipa::ToSchema)]
struct ModuleList {
    modules: Vec<modules::ModuleSummary>,
}

#[utoipa::path(get, path = "/modules", responses((status = 200, description = "Every installed module", body = ModuleList)))]
async fn list_modules(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<ModuleList>> {
    let modules = modules::list(&state.db).await?;
    Ok(Json(ModuleList { modules }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallQuery {
    name: Option<String>,
}

#[utoipa::path(post, path = "/modules", params(("name" = String, Query, description = "The module's name")), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The component's bytes (`wasm32-wasip2`)"), responses((status = 201, description = "The installed version, now active", body = crate::runtime::Installed)))]
async fn install_module(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    ApiQuery(q): ApiQuery<InstallQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<crate::runtime::Installed>)> {
    let name = q
        .name
        .ok_or_else(|| ApiError::validation("name", "pass the module name as ?name=…"))?;
    if body.is_empty() {
        return Err(ApiError::validation(
            "body",
            "send the component bytes as the request body",
        ));
    }
    match state
        .runtime
        .install(&name, body.to_vec(), Some(&admin.email))
        .await
    {
        Ok(installed) => {
            state.versions_changed().await;
            Ok((StatusCode::CREATED, Json(installed)))
        }
        Err(InstallError::BadName(_)) => Err(ApiError::validation(
            "name",
            "module names use a-z, 0-9 and '-', start with a letter, at most 64 bytes",
        )),
        Err(InstallError::Compile(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_COMPONENT,
            e.to_string(),
        )),
        Err(InstallError::Storage(e)) => Err(e.into()),
        Err(InstallError::Internal(e)) => Err(ApiError::internal(e)),
    }
}

/// Where a page starts, from the `cursor` a list answered with as `nextCursor`.
fn cursor(raw: Option<&str>) -> ApiResult<Option<Position>> {
    raw.map(|c| {
        Position::decode(c).ok_or_else(|| {
            ApiError::validation("cursor", "cursor must be a nextCursor this API gave out")
        })
    })
    .transpose()
}

/// An RFC 3339 time (`2026-12-01T08:00:00Z`) as Unix milliseconds.
fn instant(field: &str, raw: Option<&str>) -> ApiResult<Option<i64>> {
    raw.map(|t| {
        t.parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| {
                ApiError::validation(
                    field,
                    format!("{field} must be an RFC 3339 time such as 2026-12-01T08:00:00Z"),
                )
            })
    })
    .transpose()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InvocationQuery {
    tenant_id: Option<String>,
    module: Option<String>,
    outcome: Option<String>,
    request_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// Invocation records, newest first, a page at a time.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct InvocationList {
    invocations: Vec<invocations::InvocationView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/invocations", responses((status = 200, description = "Invocation records, newest first", body = InvocationList)))]
async fn list_invocations(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<InvocationQuery>,
) -> ApiResult<Json<InvocationList>> {
    let outcome = match q.outcome.as_deref() {
        None => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            ApiError::validation(
                "outcome",
                "outcome must be one of ok, error, denied, trap, timeout, limit, interrupted",
            )
        })?),
    };
    let filter = InvocationFilter {
        since_ms: instant("since", q.since.as_deref())?,
        until_ms: instant("until", q.until.as_deref())?,
        after: cursor(q.cursor.as_deref())?,
        tenant_id: q.tenant_id,
        module: q.module,
        outcome,
        request_id: q.request_id,
        limit: limit(q.limit.as_deref(), 50, 1000)?,
    };
    let (invocations, next) = invocations::page(&state.db, &filter).await?;
    Ok(Json(InvocationList {
        invocations,
        next_cursor: next.map(|p| p.encode()),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditQuery {
    module: Option<String>,
    action: Option<String>,
    tenant_id: Option<String>,
    request_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// Audit events, newest first, a page at a time.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuditList {
    events: Vec<audit_store::AuditView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/audit", responses((status = 200, description = "Audit events, newest first", body = AuditList)))]
async fn list_audit(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    let filter = AuditFilter {
        since_ms: instant("since", q.since.as_deref())?,
        until_ms: instant("until", q.until.as_deref())?,
        after: cursor(q.cursor.as_deref())?,
        module: q.module,
        action: q.action,
        tenant_id: q.tenant_id,
        request_id: q.request_id,
        limit: limit(q.limit.as_deref(), 50, 1000)?,
    };
    let (events, next) = audit_store::page(&state.db, &filter).await?;
    Ok(Json(AuditList {
        events,
        next_cursor: next.map(|p| p.encode()),
    }))
}
