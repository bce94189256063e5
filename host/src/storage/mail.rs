//! `mail_outbox`: every mail Nova sends, queued in the transaction that decided to send it and
//! delivered by a worker (or kept here when no SMTP server is configured).

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms, outbox, rfc3339};

/// The queue mail jobs go through.
pub(crate) const QUEUE: &str = "mail:send";

/// A mail as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Mail {
    pub(crate) id: String,
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: String,
    pub(crate) sent_at: Option<String>,
}

/// What operators see instead of the body of a mail that holds a secret.
const WITHHELD: &str = "(withheld: this mail holds a one-time link)";

/// Queue one mail and its delivery job.
pub(crate) async fn enqueue_in(
    conn: &mut AnyConnection,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<String, sqlx::Error> {
    enqueue_with(conn, to, subject, body, false).await
}

/// Queue a mail whose body holds a secret (a one-time link): operators' views never show its
/// body, and it is blanked once an SMTP server has taken the mail.
pub(crate) async fn enqueue_secret_in(
    conn: &mut AnyConnection,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<String, sqlx::Error> {
    enqueue_with(conn, to, subject, body, true).await
}

async fn enqueue_with(
    conn: &mut AnyConnection,
    to: &str,
    subject: &str,
    body: &str,
    secret: bool,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO mail_outbox (id, to_addr, subject, body, status, attempts, created_at, secret) \
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6)",
    )
    .bind(&id)
    .bind(to)
    .bind(subject)
    .bind(body)
    .bind(now_ms())
    .bind(i64::from(secret))
    .execute(&mut *conn)
    .await?;
    outbox::enqueue_in(conn, QUEUE, &id).await?;
    Ok(id)
}

/// Record a delivery attempt.
pub(crate) async fn mark_in(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    attempts: i64,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let sent_at = matches!(status, "sent" | "stored").then(now_ms);
    // A secret's body goes once an SMTP server has it: the outbox is no mailbox for it then.
    let sent = i64::from(status == "sent");
    sqlx::query(
        "UPDATE mail_outbox SET status = $1, attempts = $2, last_error = $3, sent_at = $4, \
         body = CASE WHEN secret = 1 AND $5 = 1 THEN $6 ELSE body END WHERE id = $7",
    )
    .bind(status)
    .bind(attempts)
    .bind(error)
    .bind(sent_at)
    .bind(sent)
    .bind(WITHHELD)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

fn view(r: &sqlx::any::AnyRow) -> Result<Mail, sqlx::Error> {
    Ok(Mail {
        id: r.try_get("id")?,
        to: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: rfc3339(r.try_get("created_at")?),
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(rfc3339),
    })
}

const COLUMNS: &str =
    "id, to_addr, subject, body, status, attempts, last_error, created_at, sent_at, secret";

/// A mail as operators may see it: a secret's body withheld.
fn withheld(r: &sqlx::any::AnyRow) -> Result<Mail, sqlx::Error> {
    let mut mail = view(r)?;
    if r.try_get::<i64, _>("secret")? != 0 {
        mail.body = WITHHELD.to_string();
    }
    Ok(mail)
}

/// One mail.
pub(crate) async fn get(db: &Db, id: &str) -> Result<Option<Mail>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM mail_outbox WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| view(&r)).transpose()
}

/// Newest first.
pub(crate) async fn list(db: &Db, limit: i64) -> Result<Vec<Mail>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM mail_outbox ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(withheld).collect()
}
