//! `module_presets`: named sets of module and feature-flag overrides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Db, now_ms};

/// A preset as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Preset {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    /// Module name → on/off.
    #[serde(default)]
    pub(crate) modules: BTreeMap<String, bool>,
    /// Feature flag → on/off.
    #[serde(default)]
    pub(crate) feature_flags: BTreeMap<String, bool>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Preset, sqlx::Error> {
    let decode = |col: &str| -> Result<BTreeMap<String, bool>, sqlx::Error> {
        let raw: String = r.try_get(col)?;
        serde_json::from_str(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(Preset {
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        modules: decode("modules")?,
        feature_flags: decode("feature_flags")?,
    })
}

/// Every preset by name.
pub(crate) async fn list(db: &Db) -> Result<Vec<Preset>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, description, modules, feature_flags FROM module_presets ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// One preset.
pub(crate) async fn get(
    conn: &mut sqlx::AnyConnection,
    name: &str,
) -> Result<Option<Preset>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT name, description, modules, feature_flags FROM module_presets WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Create or replace; returns true when it was created.
pub(crate) async fn upsert(db: &Db, p: &Preset, create_only: bool) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let modules = serde_json::to_string(&p.modules).unwrap_or_else(|_| "{}".into());
    let flags = serde_json::to_string(&p.feature_flags).unwrap_or_else(|_| "{}".into());
    let sql = if create_only {
        "INSERT INTO module_presets (name, description, modules, feature_flags, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING"
    } else {
        "INSERT INTO module_presets (name, description, modules, feature_flags, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
         modules = excluded.modules, feature_flags = excluded.feature_flags, updated_at = excluded.updated_at"
    };
    let existed = sqlx::query("SELECT 1 FROM module_presets WHERE name = $1")
        .bind(&p.name)
        .fetch_optional(db.pool())
        .await?
        .is_some();
    sqlx::query(sql)
        .bind(&p.name)
        .bind(&p.description)
        .bind(modules)
        .bind(flags)
        .bind(now)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(!existed)
}

/// Delete; returns true when it existed.
pub(crate) async fn delete(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM module_presets WHERE name = $1")
        .bind(name)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}
