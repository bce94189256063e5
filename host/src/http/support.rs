//! Support over HTTP: superadmin triage across tenants (through each tenant's support module),
//! announcements, maintenance mode and the mail outbox.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, current_request_id};
use super::extract::{SuperAdmin, TenantUser};
use super::json::ApiJson;
use super::query::{ApiQuery, limit};
use super::relayed::{
    self, SupportReply, SupportThread, SupportTicket, TriageList, TriageTicket, Unreadable,
};
use crate::app::AppState;
use crate::calls::CallerRole;
use crate::error_code::ErrorCode;
use crate::storage::announcements::{self, Announcement, Window};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::{mail, maintenance, now_ms, tenants};
use crate::support::{self, Answer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/v1/superadmin/...` routes of this file.
pub(crate) fn superadmin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(triage))
        .routes(routes!(ticket))
        .routes(routes!(respond))
        .routes(routes!(severity))
        .routes(routes!(assign))
        .routes(routes!(list_announcements))
        .routes(routes!(maintenance_now, set_maintenance))
        .routes(routes!(maintenance_log))
        .routes(routes!(outbox))
}

fn team(admin: &crate::auth::Claims) -> String {
    format!("support:{}", admin.email)
}

/// Call the support module for `tenant` as Nova's support team, `admin` acting.
async fn as_team(
    state: &AppState,
    tenant: &str,
    admin: &crate::auth::Claims,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    support::call(
        state,
        tenant,
        &team(admin),
        CallerRole::Support,
        method,
        path,
        body,
    )
    .await
}

/// The support module's answer, as `T` when it succeeded.
fn relay<T: DeserializeOwned + Serialize>(a: Answer) -> Response {
    relayed::relay::<T>(support::MODULE, a.status, a.body)
}

/// A page of a tenant's tickets as its support module lists them (triage reads one page of
/// up to 1000; each ticket's shape is checked, the page's cursor is not needed).
#[derive(Deserialize)]
struct TicketPage {
    tickets: Vec<SupportTicket>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageQuery {
    severity: Option<String>,
    status: Option<String>,
    breaching: Option<String>,
}

/// Tenants' support modules that triage asks at once.
const TRIAGE_CALLS_AT_ONCE: usize = 4;

/// Open (or `status=`) tickets of every tenant with support, ordered by time left on their SLA.
#[utoipa::path(get, path = "/support/tickets", responses(
    (status = 200, description = "Open (or `status=`) tickets of every tenant with support, least time left first", body = TriageList),
))]
async fn triage(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    ApiQuery(q): ApiQuery<TriageQuery>,
) -> ApiResult<Json<TriageList>> {
    if let Some(s) = &q.severity
        && !matches!(s.as_str(), "S1" | "S2" | "S3" | "S4")
    {
        return Err(ApiError::validation(
            "severity",
            "severity is S1, S2, S3 or S4",
        ));
    }
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    if !matches!(status.as_str(), "open" | "closed") {
        return Err(ApiError::validation("status", "status is open or closed"));
    }
    let breaching = match q.breaching.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::validation(
                "breaching",
                "breaching is true or false",
            ));
        }
    };
    let now = now_ms();
    let mut all = Vec::new();
    let mut unreadable = Vec::new();
    let path = format!("/tickets?status={status}&limit=1000");
    let who = team(&admin);
    // A few tenants at a time: one slow tenant's support does not hold up the rest, and the
    // list cannot take every instance of the pool.
    let answers: Vec<(String, Answer)> =
        stream::iter(support::tenants_with_tickets(&state, &status).await?)
            .map(|tenant| {
                let (state, who, path) = (&state, &who, &path);
                async move {
                    let a =
                        support::call(state, &tenant, who, CallerRole::Support, "GET", path, None)
                            .await;
                    (tenant, a)
                }
            })
            .buffer_unordered(TRIAGE_CALLS_AT_ONCE)
            .collect()
            .await;
    for (tenant, a) in answers {
        // Switched off since the list of tenants was read: it has no tickets to show now.
        if a.status == 403 && a.body["error"]["code"] == ErrorCode::MODULE_DISABLED.as_str() {
            continue;
        }
        // One tenant's support failing (refused a capability, trapped, busy) must not hide
        // every other tenant's tickets: the list says whose could not be read, and why.
        let failed = |code: &str, message: String| Unreadable {
            tenant_id: tenant.clone(),
            status: a.status,
            code: code.to_string(),
            message,
        };
        if a.status != 200 {
            let code = a.body["error"]["code"]
                .as_str()
                .unwrap_or(ErrorCode::SUPPORT_UNAVAILABLE.as_str());
            let message = a.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string();
            unreadable.push(failed(code, message));
            continue;
        }
        let page: TicketPage = match serde_json::from_value(a.body.clone()) {
            Ok(page) => page,
            Err(e) => {
                unreadable.push(failed(
                    ErrorCode::MODULE_BAD_RESPONSE.as_str(),
                    format!("a list of the wrong shape: {e}"),
                ));
                continue;
            }
        };
        all.extend(page.tickets.into_iter().map(|ticket| TriageTicket {
            sla_ms_left: ticket.sla_due_at_ms.map(|d| d as i64 - now),
            tenant_id: tenant.clone(),
            ticket,
        }));
    }
    all.retain(|t| {
        q.severity
            .as_deref()
            .is_none_or(|s| serde_json::to_value(t.ticket.severity).is_ok_and(|v| v == s))
    });
    if breaching {
        all.retain(|t| t.sla_ms_left.is_some_and(|left| left <= 0));
    }
    // Least time left first; tickets without a pending deadline last, newest first.
    all.sort_by_key(|t| {
        (
            t.sla_ms_left.unwrap_or(i64::MAX),
            std::cmp::Reverse(t.ticket.created_at_ms),
        )
    });
    unreadable.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    Ok(Json(TriageList {
        tickets: all,
        unreadable,
        now,
    }))
}

#[utoipa::path(get, path = "/support/tickets/{tenant_id}/{ticket_id}", responses(
    (status = 200, description = "The ticket with its replies", body = SupportThread),
    (status = 502, description = "The support module failed or answered another shape", body = crate::http::openapi::ErrorBody),
    (status = 503, description = "The support module is busy for this tenant; retry shortly", body = crate::http::openapi::ErrorBody),
    (status = 504, description = "The support module did not answer in time", body = crate::http::openapi::ErrorBody),
))]
async fn ticket(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    relay::<SupportThread>(
        as_team(
            &state,
            &tenant,
            &admin,
            "GET",
            &format!("/tickets/{id}"),
            None,
        )
        .await,
    )
}

#[utoipa::path(post, path = "/support/tickets/{tenant_id}/{ticket_id}/replies", request_body = Object, responses(
    (status = 201, description = "The support team's reply", body = SupportReply),
    (status = 502, description = "The support module failed or answered another shape", body = crate::http::openapi::ErrorBody),
    (status = 503, description = "The support module is busy for this tenant, or maintenance is on", body = crate::http::openapi::ErrorBody),
    (status = 504, description = "The support module did not answer in time", body = crate::http::openapi::ErrorBody),
))]
async fn respond(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let path = format!("/tickets/{id}/replies");
    relay::<SupportReply>(as_team(&state, &tenant, &admin, "POST", &path, Some(&body)).await)
}

#[utoipa::path(put, path = "/support/tickets/{tenant_id}/{ticket_id}/severity", request_body = Object, responses(
    (status = 200, description = "The ticket, with its deadlines moved to the new severity", body = SupportTicket),
    (status = 502, description = "The support module failed or answered another shape", body = crate::http::openapi::ErrorBody),
    (status = 503, description = "The support module is busy for this tenant, or maintenance is on", body = crate::http::openapi::ErrorBody),
    (status = 504, description = "The support module did not answer in time", body = crate::http::openapi::ErrorBody),
))]
async fn severity(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let path = format!("/tickets/{id}/severity");
    relay::<SupportTicket>(as_team(&state, &tenant, &admin, "PUT", &path, Some(&body)).await)
}

#[utoipa::path(put, path = "/support/tickets/{tenant_id}/{ticket_id}/assignee", request_body = Object, responses(
    (status = 200, description = "The ticket with its new assignee", body = SupportTicket),
    (status = 502, description = "The support module failed or answered another shape", body = crate::http::openapi::ErrorBody),
    (status = 503, description = "The support module is busy for this tenant, or maintenance is on", body = crate::http::openapi::ErrorBody),
    (status = 504, description = "The support module did not answer in time", body = crate::http::openapi::ErrorBody),
))]
async fn assign(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let path = format!("/tickets/{id}/assignee");
    relay::<SupportTicket>(as_team(&state, &tenant, &admin, "PUT", &path, Some(&body)).await)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AnnouncementBody {
    title: String,
    body: String,
    tenant_ids: Option<Vec<String>>,
    maintenance_window: Option<Window>,
}

fn check_window(w: Option<Window>, field: &str) -> ApiResult<()> {
    match w {
        Some(w) if w.end <= w.start => Err(ApiError::validation(
            field,
            format!("{field}.end must be after {field}.start"),
        )),
        _ => Ok(()),
    }
}

/// `POST /support/announcements`: to every tenant, or to `tenantIds`; their admins get it by mail.
#[utoipa::path(post, path = "/support/announcements", request_body = AnnouncementBody, responses((status = 201, description = "The announcement; its mail is queued", body = Announcement)))]
pub(crate) async fn announce(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    ApiJson(b): ApiJson<AnnouncementBody>,
) -> ApiResult<(StatusCode, Json<Announcement>)> {
    let title = b.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::validation(
            "title",
            "title must be 1 to 200 characters",
        ));
    }
    if b.body.trim().is_empty() || b.body.chars().count() > 10_000 {
        return Err(ApiError::validation(
            "body",
            "body must be 1 to 10000 characters",
        ));
    }
    check_window(b.maintenance_window, "maintenanceWindow")?;
    if let Some(ids) = &b.tenant_ids {
        if ids.is_empty() {
            return Err(ApiError::validation(
                "tenantIds",
                "tenantIds must name at least one tenant; omit it for all",
            ));
        }
        for id in ids {
            if tenants::get(&state.db, id).await?.is_none() {
                return Err(ApiError::validation("tenantIds", format!("no tenant {id}")));
            }
        }
    }
    let mut tx = state.db.begin().await?;
    let a = support::announce_in(
        &mut tx,
        title,
        b.body.trim(),
        b.tenant_ids.as_deref(),
        b.maintenance_window,
        &admin.email,
    )
    .await?;
    let row = AuditEvent::new(
        None,
        "superadmin",
        "announcement.created",
        Some(&admin.email),
        &json!({"announcementId": a.id, "title": a.title, "tenantIds": a.tenant_ids}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &row).await?;
    crate::storage::commit_in_task(tx).await?;
    state.jobs_queued(mail::QUEUE).await;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Announcements, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AnnouncementList {
    announcements: Vec<Announcement>,
}

#[utoipa::path(get, path = "/support/announcements", responses((status = 200, description = "Every announcement, newest first", body = AnnouncementList)))]
async fn list_announcements(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<AnnouncementList>> {
    let announcements = announcements::all(&state.db, 200).await?;
    Ok(Json(AnnouncementList { announcements }))
}

/// `GET /v1/portal/support/announcements`: what the caller's tenant may read.
#[utoipa::path(get, path = "/v1/portal/support/announcements", responses((status = 200, description = "What the caller's tenant may read, newest first", body = AnnouncementList)))]
pub(crate) async fn tenant_announcements(
    State(state): State<AppState>,
    user: TenantUser,
) -> ApiResult<Json<AnnouncementList>> {
    let announcements = announcements::for_tenant(&state.db, &user.tenant_id, 200).await?;
    Ok(Json(AnnouncementList { announcements }))
}

/// Maintenance mode now.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MaintenanceNow {
    /// The runbook's flag name.
    flag: &'static str,
    enabled: bool,
    /// The operators' message, while on.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The open period, while on.
    #[serde(skip_serializing_if = "Option::is_none")]
    period_id: Option<String>,
    /// The period that switching off just ended (`PUT` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_period: Option<Option<maintenance::Period>>,
}

fn maintenance_view(state: &AppState) -> MaintenanceNow {
    let on = state
        .maintenance
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    MaintenanceNow {
        flag: maintenance::FLAG,
        enabled: on.is_some(),
        message: on.as_ref().map(|o| o.message.clone()),
        period_id: on.map(|o| o.period_id),
        ended_period: None,
    }
}

#[utoipa::path(get, path = "/maintenance", responses((status = 200, description = "Maintenance mode now", body = MaintenanceNow)))]
async fn maintenance_now(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> Json<MaintenanceNow> {
    Json(maintenance_view(&state))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MaintenanceBody {
    enabled: bool,
    message: Option<String>,
    window: Option<Window>,
}

/// Switch maintenance mode; switching it off ends the period and announces the end.
pub(crate) async fn switch_maintenance(
    state: &AppState,
    enabled: bool,
    message: Option<&str>,
    window: Option<Window>,
    who: &str,
) -> Result<Option<maintenance::Period>, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    let ended = if enabled {
        maintenance::start_in(&mut tx, message.unwrap_or_default(), window, who).await?;
        None
    } else {
        let ended = maintenance::end_in(&mut tx, who).await?;
        if let Some(p) = &ended {
            let body = format!(
                "Maintenance is over and Nova is fully available again. ({})",
                p.message
            );
            support::announce_in(&mut tx, "Maintenance complete", &body, None, None, who).await?;
        }
        ended
    };
    let action = if enabled {
        "maintenance.enabled"
    } else {
        "maintenance.disabled"
    };
    let row = AuditEvent::new(
        None,
        "superadmin",
        action,
        Some(who),
        &json!({"message": message, "window": window}),
        Some(&current_request_id()),
    );
    audit::insert(&mut tx, &row).await?;
    crate::storage::commit_in_task(tx).await?;
    state.maintenance_changed().await;
    state.jobs_queued(mail::QUEUE).await;
    Ok(ended)
}

#[utoipa::path(put, path = "/maintenance", request_body = MaintenanceBody, responses((status = 200, description = "Maintenance mode now, and the period switching off ended", body = MaintenanceNow)))]
async fn set_maintenance(
    State(state): State<AppState>,
    SuperAdmin(admin): SuperAdmin,
    ApiJson(b): ApiJson<MaintenanceBody>,
) -> ApiResult<Json<MaintenanceNow>> {
    let message = b
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    if b.enabled && message.is_none_or(|m| m.chars().count() > 500) {
        return Err(ApiError::validation(
            "message",
            "turning maintenance on needs a message of 1 to 500 characters",
        ));
    }
    check_window(b.window, "window")?;
    let ended = switch_maintenance(&state, b.enabled, message, b.window, &admin.email).await?;
    Ok(Json(MaintenanceNow {
        ended_period: Some(ended),
        ..maintenance_view(&state)
    }))
}

/// Maintenance periods, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MaintenanceLog {
    periods: Vec<maintenance::Period>,
}

#[utoipa::path(get, path = "/maintenance/log", responses((status = 200, description = "Maintenance periods, newest first", body = MaintenanceLog)))]
async fn maintenance_log(
    State(state): State<AppState>,
    _admin: SuperAdmin,
) -> ApiResult<Json<MaintenanceLog>> {
    let periods = maintenance::log(&state.db, 200).await?;
    Ok(Json(MaintenanceLog { periods }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    limit: Option<String>,
}

/// Mail Nova sent or will send, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MailOutbox {
    mail: Vec<mail::Mail>,
    /// Whether mail goes out over SMTP (`false`: it stays here to read).
    smtp: bool,
}

#[utoipa::path(get, path = "/mail/outbox", responses((status = 200, description = "Mail, newest first", body = MailOutbox)))]
async fn outbox(
    State(state): State<AppState>,
    _admin: SuperAdmin,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<MailOutbox>> {
    let limit = limit(q.limit.as_deref(), 100, 1000)?;
    Ok(Json(MailOutbox {
        mail: mail::list(&state.db, limit).await?,
        smtp: state.mailer.sends(),
    }))
}

/// While maintenance is on, the refusal of a write on a tenant route, before anything runs:
/// 503 `MAINTENANCE` with the operators' message. Reads and superadmin routes go through
/// (`None`).
// It takes the method and path, not the request: a borrowed request (its body is not
// `Sync`) held across the count's await would make the caller's future not `Send`.
pub(crate) async fn maintenance_refusal(
    state: &AppState,
    method: &Method,
    path: &str,
) -> Option<Response> {
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let tenant_route = path.starts_with("/v1/portal/") || path == "/v1/registrations";
    if write && tenant_route {
        let on = state
            .maintenance
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(on) = on {
            if let Err(e) = maintenance::count_refused(&state.db, &on.period_id).await {
                tracing::warn!(error = %e, "could not count a refused write");
            }
            metrics::counter!("nova_maintenance_refused_writes_total").increment(1);
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::MAINTENANCE,
                on.message,
            )
            .into_response();
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("300"));
            return Some(resp);
        }
    }
    None
}
