//! Sending mail: a worker takes each queued mail from `mail_outbox` and hands it to the SMTP
//! server at `SMTP_URL`, retrying with backoff. Without an SMTP server (the embedded default)
//! mail is kept in the outbox, marked `stored`, for superadmins to read: never dropped.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::app::AppState;
use crate::jobs;
use crate::storage::mail as store;
use crate::storage::outbox::{self, Claimed};

/// Where mail goes.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// `smtp_url` such as `smtp://127.0.0.1:1025` (Mailpit) or `smtp://user:pass@host:587`;
    /// `None` keeps mail in the outbox.
    pub fn new(smtp_url: Option<&str>, from: &str) -> anyhow::Result<Self> {
        let transport = match smtp_url.filter(|u| !u.is_empty()) {
            Some(url) => Some(transport(url)?),
            None => None,
        };
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("the sender address {from:?}: {e}"))?;
        Ok(Self { transport, from })
    }

    /// True when mail leaves through SMTP.
    pub fn sends(&self) -> bool {
        self.transport.is_some()
    }
}

/// An SMTP transport for `smtp://[user:pass@]host[:port]`. Mail goes in plain SMTP to a relay
/// Nova trusts (Mailpit locally, the cluster's relay in production), which handles TLS
/// onwards; `smtps://` is refused rather than silently sent in the clear.
fn transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("SMTP_URL {url:?}: {e}"))?;
    anyhow::ensure!(
        parsed.scheme() == "smtp",
        "SMTP_URL must be smtp://host:port (a relay on a trusted network); {:?} is not supported",
        parsed.scheme()
    );
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("SMTP_URL {url:?} has no host"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(parsed.port().unwrap_or(25))
        .timeout(Some(std::time::Duration::from_secs(10)));
    if !parsed.username().is_empty() {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            parsed.username().to_string(),
            parsed.password().unwrap_or_default().to_string(),
        ));
    }
    Ok(builder.build())
}

enum Outcome {
    Done(&'static str),
    Retry(String),
    Fail(String),
}

/// Deliver one queued mail.
pub async fn process(state: &AppState, worker_id: &str, job: Claimed) {
    let outcome = deliver(state, &job).await;
    let (status, error, retry_at) = match &outcome {
        Outcome::Done(status) => (*status, None, None),
        Outcome::Retry(e) => {
            let (s, e, at) = jobs::next_step(state, &job, e);
            (s, Some(e), at)
        }
        Outcome::Fail(e) => ("failed", Some(e.clone()), None),
    };
    let recorded = async {
        let mut tx = state.db.begin().await?;
        let held = match (status, &error) {
            ("sent" | "stored", _) => outbox::complete_in(&mut tx, &job, worker_id).await?,
            (_, e) => {
                let e = e.as_deref().unwrap_or("");
                outbox::give_back_in(&mut tx, &job, worker_id, e, retry_at).await?
            }
        };
        if held {
            let mail_status = if status == "retrying" {
                "queued"
            } else {
                status
            };
            store::mark_in(
                &mut tx,
                &job.ref_id,
                mail_status,
                job.attempts,
                error.as_deref(),
            )
            .await?;
            tx.commit().await?;
            metrics::counter!("nova_mail_total", "status" => status).increment(1);
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, job = %job.id, "could not record a mail delivery");
    }
}

async fn deliver(state: &AppState, job: &Claimed) -> Outcome {
    let mail = match store::get(&state.db, &job.ref_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return Outcome::Fail(format!("no mail {}", job.ref_id)),
        Err(e) => return Outcome::Retry(format!("storage: {e}")),
    };
    let Some(transport) = &state.mailer.transport else {
        return Outcome::Done("stored");
    };
    let to: Mailbox = match mail.to.parse() {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("the address {:?}: {e}", mail.to)),
    };
    let message = match Message::builder()
        .from(state.mailer.from.clone())
        .to(to)
        .subject(&mail.subject)
        .body(mail.body.clone())
    {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("the mail cannot be built: {e}")),
    };
    match transport.send(message).await {
        Ok(_) => Outcome::Done("sent"),
        Err(e) if e.is_permanent() => Outcome::Fail(format!("SMTP refused the mail: {e}")),
        Err(e) => Outcome::Retry(format!("SMTP: {e}")),
    }
}
