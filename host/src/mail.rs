//! Sending mail: hands one mail to the SMTP server at `SMTP_URL`. Without an SMTP server (the
//! embedded default) mail is kept in the outbox, marked `stored`, for superadmins to read:
//! never dropped. The worker that takes queued mail and retries is `jobs::mail`.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::storage::mail::Mail;

/// Where mail goes.
pub(crate) struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// `smtp_url` such as `smtp://127.0.0.1:1025` (Mailpit) or `smtp://user:pass@host:587`;
    /// `None` keeps mail in the outbox.
    pub(crate) fn new(smtp_url: Option<&str>, from: &str) -> anyhow::Result<Self> {
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
    pub(crate) fn sends(&self) -> bool {
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

/// What became of one mail.
pub(crate) enum Delivery {
    /// Handed to the SMTP server.
    Sent,
    /// No SMTP server: kept in the outbox.
    Stored,
    /// Worth trying again (the server was unreachable or said "later").
    Retry(String),
    /// Never deliverable as it is.
    Fail(String),
}

impl Mailer {
    /// Send `mail` now.
    pub(crate) async fn deliver(&self, mail: &Mail) -> Delivery {
        let Some(transport) = &self.transport else {
            return Delivery::Stored;
        };
        let to: Mailbox = match mail.to.parse() {
            Ok(m) => m,
            Err(e) => return Delivery::Fail(format!("the address {:?}: {e}", mail.to)),
        };
        let message = match Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .body(mail.body.clone())
        {
            Ok(m) => m,
            Err(e) => return Delivery::Fail(format!("the mail cannot be built: {e}")),
        };
        match transport.send(message).await {
            Ok(_) => Delivery::Sent,
            Err(e) if e.is_permanent() => Delivery::Fail(format!("SMTP refused the mail: {e}")),
            Err(e) => Delivery::Retry(format!("SMTP: {e}")),
        }
    }
}
