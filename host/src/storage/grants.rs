//! `module_grants`: the host capabilities a superadmin granted to each module.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};

use super::{Db, now_ms};

/// Every module's granted capability names.
pub(crate) async fn all(db: &Db) -> Result<BTreeMap<String, BTreeSet<String>>, sqlx::Error> {
    let rows = sqlx::query("SELECT module, capability FROM module_grants")
        .fetch_all(db.pool())
        .await?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        out.entry(r.try_get("module")?)
            .or_default()
            .insert(r.try_get("capability")?);
    }
    Ok(out)
}

/// Replace a module's grants.
pub async fn replace(
    conn: &mut AnyConnection,
    module: &str,
    capabilities: &BTreeSet<String>,
    actor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM module_grants WHERE module = $1")
        .bind(module)
        .execute(&mut *conn)
        .await?;
    for c in capabilities {
        sqlx::query("INSERT INTO module_grants (module, capability, granted_by, granted_at) VALUES ($1, $2, $3, $4)")
            .bind(module)
            .bind(c)
            .bind(actor)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
