//! `announcements`: messages from the platform to every tenant or to some.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, rfc3339};

/// An announcement as tenants and superadmins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Announcement {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) body: String,
    /// `None` for every tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tenant_ids: Option<Vec<String>>,
    pub(crate) maintenance_window: Option<Window>,
    pub(crate) created_by: String,
    pub(crate) created_at: String,
}

/// A maintenance window, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

/// Store an announcement for `tenants` (`None`: every tenant).
pub(crate) async fn create_in(
    conn: &mut AnyConnection,
    title: &str,
    body: &str,
    tenants: Option<&[String]>,
    window: Option<Window>,
    created_by: &str,
) -> Result<Announcement, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO announcements (id, title, body, all_tenants, window_start, window_end, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(title)
    .bind(body)
    .bind(i64::from(tenants.is_none()))
    .bind(window.map(|w| w.start))
    .bind(window.map(|w| w.end))
    .bind(created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for t in tenants.unwrap_or_default() {
        sqlx::query(
            "INSERT INTO announcement_targets (announcement_id, tenant_id) VALUES ($1, $2)",
        )
        .bind(&id)
        .bind(t)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Announcement {
        id,
        title: title.to_string(),
        body: body.to_string(),
        tenant_ids: tenants.map(<[String]>::to_vec),
        maintenance_window: window,
        created_by: created_by.to_string(),
        created_at: rfc3339(now),
    })
}

fn view(
    r: &sqlx::any::AnyRow,
    tenant_ids: Option<Vec<String>>,
) -> Result<Announcement, sqlx::Error> {
    let start: Option<i64> = r.try_get("window_start")?;
    let end: Option<i64> = r.try_get("window_end")?;
    Ok(Announcement {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        tenant_ids,
        maintenance_window: start.zip(end).map(|(start, end)| Window { start, end }),
        created_by: r.try_get("created_by")?,
        created_at: rfc3339(r.try_get("created_at")?),
    })
}

/// What `tenant` may read: announcements to everyone and to it, newest first. Targets of
/// other tenants are never shown.
pub(crate) async fn for_tenant(
    db: &Db,
    tenant: &str,
    limit: i64,
) -> Result<Vec<Announcement>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.title, a.body, a.window_start, a.window_end, a.created_by, a.created_at FROM announcements a \
         WHERE a.all_tenants = 1 OR EXISTS (SELECT 1 FROM announcement_targets t WHERE t.announcement_id = a.id AND t.tenant_id = $1) \
         ORDER BY a.created_at DESC, a.id DESC LIMIT $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| view(r, None)).collect()
}

/// Every announcement with its targets, newest first (superadmins).
pub(crate) async fn all(db: &Db, limit: i64) -> Result<Vec<Announcement>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, title, body, all_tenants, window_start, window_end, created_by, created_at FROM announcements \
         ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let everyone: i64 = r.try_get("all_tenants")?;
        let targets = if everyone == 1 {
            None
        } else {
            let id: String = r.try_get("id")?;
            let t = sqlx::query("SELECT tenant_id FROM announcement_targets WHERE announcement_id = $1 ORDER BY tenant_id")
                .bind(&id)
                .fetch_all(db.pool())
                .await?;
            Some(
                t.iter()
                    .map(|x| x.try_get("tenant_id"))
                    .collect::<Result<_, _>>()?,
            )
        };
        out.push(view(r, targets)?);
    }
    Ok(out)
}
