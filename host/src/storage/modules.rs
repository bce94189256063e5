//! `modules` and `module_versions`: installed components. The bytes live in the database so
//! every replica can load the same version; compiled code is cached on each host's disk.

use serde::Serialize;
use sqlx::Row;

use super::{Db, now_ms, rfc3339};

/// One stored version, with its component bytes.
#[derive(Debug, Clone)]
pub(crate) struct StoredVersion {
    pub(crate) id: String,
    pub(crate) module: String,
    pub(crate) version: i64,
    pub(crate) content_hash: String,
    pub(crate) component: Vec<u8>,
}

/// A module as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModuleSummary {
    pub(crate) name: String,
    pub(crate) active_version: Option<i64>,
    pub(crate) active_version_id: Option<String>,
    pub(crate) content_hash: Option<String>,
    pub(crate) size_bytes: Option<i64>,
    pub(crate) versions: i64,
    pub(crate) created_at: String,
}

/// The active version of every installed module.
pub(crate) async fn active_versions(db: &Db) -> Result<Vec<StoredVersion>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT v.id, v.module, v.version, v.content_hash, v.component FROM modules m \
         JOIN module_versions v ON v.id = m.active_version_id ORDER BY m.name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(stored).collect()
}

/// True when this module already has a version with these exact bytes.
pub(crate) async fn has_hash(
    db: &Db,
    module: &str,
    content_hash: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT 1 FROM module_versions WHERE module = $1 AND content_hash = $2")
        .bind(module)
        .bind(content_hash)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Store a new version and make it active, in one transaction. Returns the stored version.
pub(crate) async fn install(
    db: &Db,
    module: &str,
    content_hash: &str,
    component: &[u8],
    actor: Option<&str>,
) -> Result<StoredVersion, sqlx::Error> {
    let now = now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO modules (name, active_version_id, created_at) VALUES ($1, NULL, $2) ON CONFLICT (name) DO NOTHING")
        .bind(module)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let next: i64 = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM module_versions WHERE module = $1",
    )
    .bind(module)
    .fetch_one(&mut *tx)
    .await?
    .try_get("next")?;
    sqlx::query(
        "INSERT INTO module_versions (id, module, version, content_hash, size_bytes, component, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(module)
    .bind(next)
    .bind(content_hash)
    .bind(component.len() as i64)
    .bind(component)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE modules SET active_version_id = $1 WHERE name = $2")
        .bind(&id)
        .bind(module)
        .execute(&mut *tx)
        .await?;
    // Who put which bytes into production is the first thing an incident review asks.
    let request_id = crate::telemetry::REQUEST_ID.try_with(Clone::clone).ok();
    super::audit::insert(
        &mut tx,
        &super::audit::AuditEvent::new(
            None,
            "superadmin",
            "module.installed",
            actor,
            &serde_json::json!({"module": module, "version": next, "versionId": id,
                "contentHash": content_hash, "sizeBytes": component.len()}),
            request_id.as_deref(),
        ),
    )
    .await?;
    crate::storage::commit_in_task(tx).await?;
    Ok(StoredVersion {
        id,
        module: module.to_string(),
        version: next,
        content_hash: content_hash.to_string(),
        component: component.to_vec(),
    })
}

/// Every installed module with its active version.
pub(crate) async fn list(db: &Db) -> Result<Vec<ModuleSummary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.name, m.active_version_id, m.created_at, v.version, v.content_hash, v.size_bytes, \
         (SELECT COUNT(*) FROM module_versions c WHERE c.module = m.name) AS versions \
         FROM modules m LEFT JOIN module_versions v ON v.id = m.active_version_id ORDER BY m.name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ModuleSummary {
                name: r.try_get("name")?,
                active_version: r.try_get("version")?,
                active_version_id: r.try_get("active_version_id")?,
                content_hash: r.try_get("content_hash")?,
                size_bytes: r.try_get("size_bytes")?,
                versions: r.try_get("versions")?,
                created_at: rfc3339(r.try_get("created_at")?),
            })
        })
        .collect()
}

/// One version as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionSummary {
    pub(crate) id: String,
    pub(crate) version: i64,
    pub(crate) content_hash: String,
    pub(crate) size_bytes: i64,
    pub(crate) created_by: Option<String>,
    pub(crate) created_at: String,
    pub(crate) active: bool,
}

/// Every version of a module, newest first.
pub(crate) async fn versions(db: &Db, module: &str) -> Result<Vec<VersionSummary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT v.id, v.version, v.content_hash, v.size_bytes, v.created_by, v.created_at, \
         CASE WHEN m.active_version_id = v.id THEN 1 ELSE 0 END AS active \
         FROM module_versions v JOIN modules m ON m.name = v.module WHERE v.module = $1 ORDER BY v.version DESC",
    )
    .bind(module)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(VersionSummary {
                id: r.try_get("id")?,
                version: r.try_get("version")?,
                content_hash: r.try_get("content_hash")?,
                size_bytes: r.try_get("size_bytes")?,
                created_by: r.try_get("created_by")?,
                created_at: rfc3339(r.try_get("created_at")?),
                active: r.try_get::<i64, _>("active")? == 1,
            })
        })
        .collect()
}

fn stored(r: &sqlx::any::AnyRow) -> Result<StoredVersion, sqlx::Error> {
    Ok(StoredVersion {
        id: r.try_get("id")?,
        module: r.try_get("module")?,
        version: r.try_get("version")?,
        content_hash: r.try_get("content_hash")?,
        component: r.try_get("component")?,
    })
}

/// One version of a module, with its bytes.
pub(crate) async fn version(
    db: &Db,
    module: &str,
    version: i64,
) -> Result<Option<StoredVersion>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, module, version, content_hash, component FROM module_versions WHERE module = $1 AND version = $2",
    )
    .bind(module)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(stored).transpose()
}

/// Make a stored version the active one.
pub(crate) async fn set_active(
    conn: &mut sqlx::AnyConnection,
    module: &str,
    version_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE modules SET active_version_id = $1 WHERE name = $2")
        .bind(version_id)
        .bind(module)
        .execute(conn)
        .await?;
    Ok(())
}

/// Pin a tenant to a version of a module (a canary).
pub(crate) async fn pin(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    module: &str,
    version_id: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_module_pins (tenant_id, module, version_id, pinned_by, pinned_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, module) DO UPDATE SET version_id = excluded.version_id, \
         pinned_by = excluded.pinned_by, pinned_at = excluded.pinned_at",
    )
    .bind(tenant)
    .bind(module)
    .bind(version_id)
    .bind(actor)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Remove a tenant's pin; false when there was none.
pub(crate) async fn unpin(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    module: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM tenant_module_pins WHERE tenant_id = $1 AND module = $2")
        .bind(tenant)
        .bind(module)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Every pin with its version's bytes: (tenant, version).
pub(crate) async fn pins(db: &Db) -> Result<Vec<(String, StoredVersion)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.tenant_id, v.id, v.module, v.version, v.content_hash, v.component FROM tenant_module_pins p \
         JOIN module_versions v ON v.id = p.version_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("tenant_id")?, stored(r)?)))
        .collect()
}

/// The versions `tenant` is pinned to, by module (without the bytes).
pub(crate) async fn pinned_versions(
    db: &Db,
    tenant: &str,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT v.module, v.version FROM tenant_module_pins p \
         JOIN module_versions v ON v.id = p.version_id WHERE p.tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("module")?, r.try_get("version")?)))
        .collect()
}
