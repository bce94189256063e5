//! `invoices`, and the billing summary operators watch.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, rfc3339};

/// An invoice as the provider reported it.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceFacts<'a> {
    pub(crate) id: &'a str,
    pub(crate) tenant_id: &'a str,
    pub(crate) subscription_id: Option<&'a str>,
    /// `open`, `paid` or `past_due`.
    pub(crate) status: &'a str,
    pub(crate) amount_cents: i64,
    pub(crate) due_at: Option<i64>,
}

/// Insert or update an invoice. A paid invoice stays paid (a late `invoice.created` or
/// `payment_failed` cannot undo a payment), and an invoice id of another tenant is left alone.
pub(crate) async fn upsert(
    conn: &mut AnyConnection,
    f: &InvoiceFacts<'_>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let paid_at = (f.status == "paid").then_some(now);
    sqlx::query(
        "INSERT INTO invoices (id, tenant_id, subscription_id, status, amount_cents, due_at, paid_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO UPDATE SET \
         status = CASE WHEN invoices.status = 'paid' THEN 'paid' ELSE excluded.status END, \
         amount_cents = excluded.amount_cents, due_at = COALESCE(excluded.due_at, invoices.due_at), \
         paid_at = COALESCE(invoices.paid_at, excluded.paid_at), updated_at = excluded.updated_at \
         WHERE invoices.tenant_id = excluded.tenant_id",
    )
    .bind(f.id)
    .bind(f.tenant_id)
    .bind(f.subscription_id)
    .bind(f.status)
    .bind(f.amount_cents)
    .bind(f.due_at)
    .bind(paid_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A renewal coming up.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Renewal {
    pub(crate) tenant_id: String,
    pub(crate) subscription_id: String,
    pub(crate) plan_id: String,
    pub(crate) current_period_end: String,
}

/// An invoice not yet paid.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpenInvoice {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) status: String,
    pub(crate) amount_cents: i64,
    pub(crate) due_at: Option<String>,
}

/// What `GET /v1/superadmin/billing/summary` shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub(crate) active_tenants: i64,
    pub(crate) mrr_cents: i64,
    pub(crate) past_due_tenants: i64,
    pub(crate) upcoming_renewals: Vec<Renewal>,
    pub(crate) cancel_at_period_end: i64,
    pub(crate) open_invoices: Vec<OpenInvoice>,
}

/// How far ahead a renewal counts as upcoming.
pub(crate) const RENEWAL_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

async fn count(db: &Db, sql: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(sql).fetch_one(db.pool()).await?.try_get("n")
}

/// The billing summary at `now`.
pub(crate) async fn summary(db: &Db, now: i64) -> Result<Summary, sqlx::Error> {
    let active_tenants = count(
        db,
        "SELECT COUNT(DISTINCT tenant_id) AS n FROM subscriptions WHERE status = 'active'",
    )
    .await?;
    let past_due_tenants = count(
        db,
        "SELECT COUNT(DISTINCT tenant_id) AS n FROM subscriptions WHERE status = 'past_due'",
    )
    .await?;
    let cancel_at_period_end = count(
        db,
        "SELECT COUNT(*) AS n FROM subscriptions WHERE cancel_at_period_end = 1 AND status <> 'canceled'",
    )
    .await?;
    // Yearly plans count a twelfth of their price per month.
    let mrr_cents = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN s.billing_cycle = 'yearly' THEN p.price_cents / 12 ELSE p.price_cents END), 0) AS BIGINT) AS n \
         FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.status IN ('active', 'past_due')",
    )
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    let renewals = sqlx::query(
        "SELECT tenant_id, id, plan_id, current_period_end FROM subscriptions WHERE status <> 'canceled' \
         AND cancel_at_period_end = 0 AND current_period_end BETWEEN $1 AND $2 ORDER BY current_period_end",
    )
    .bind(now)
    .bind(now + RENEWAL_WINDOW_MS)
    .fetch_all(db.pool())
    .await?;
    let upcoming_renewals = renewals
        .iter()
        .map(|r| {
            Ok(Renewal {
                tenant_id: r.try_get("tenant_id")?,
                subscription_id: r.try_get("id")?,
                plan_id: r.try_get("plan_id")?,
                current_period_end: rfc3339(r.try_get("current_period_end")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let open = sqlx::query(
        "SELECT id, tenant_id, status, amount_cents, due_at FROM invoices WHERE status IN ('open', 'past_due') \
         ORDER BY created_at",
    )
    .fetch_all(db.pool())
    .await?;
    let open_invoices = open
        .iter()
        .map(|r| {
            Ok(OpenInvoice {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                status: r.try_get("status")?,
                amount_cents: r.try_get("amount_cents")?,
                due_at: r.try_get::<Option<i64>, _>("due_at")?.map(rfc3339),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Summary {
        active_tenants,
        mrr_cents,
        past_due_tenants,
        upcoming_renewals,
        cancel_at_period_end,
        open_invoices,
    })
}
