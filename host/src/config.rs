//! Configuration shared by every subcommand: flags, each with the same name in the environment.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::storage::Db;

/// How long (ms) the oldest of a full warm pool is kept before a new instance takes its
/// place (`--warm-make-way-ms`).
pub const DEFAULT_WARM_MAKE_WAY_MS: u64 = 250;

/// Where Nova listens and keeps its data. Every subcommand reads the same settings, so
/// `nova superadmin create` and `nova serve` act on the same database.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory for the embedded database, the signing key and the compile cache.
    #[arg(
        long,
        env = "NOVA_DATA_DIR",
        default_value = "./nova-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// `postgres://…` for production; unset means SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// `redis://…`: lets several replicas agree quickly (cache invalidation, wake-ups).
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Secret for signing tokens (at least 32 bytes); unset means one generated and kept in
    /// the data directory.
    #[arg(long, env = "NOVA_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Directory for compiled modules; defaults to `<data-dir>/cache`.
    #[arg(long, env = "NOVA_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,

    /// The most module instances kept warm between calls, for modules that opt in to reuse
    /// (`instances = reuse` in the SDK's `export!`); each is kept for one tenant and module
    /// version only. 0 gives every call a fresh instance.
    #[arg(
        long,
        env = "NOVA_WARM_INSTANCES",
        default_value_t = crate::runtime::engine::DEFAULT_WARM_INSTANCES,
        global = true
    )]
    pub warm_instances: u32,

    /// Once the warm instances are at their most, how long (ms) the one parked longest ago
    /// is kept before a new instance takes its place; until then the new one is dropped.
    /// With more tenants calling at once than fit, parking every call's instance and
    /// dropping the oldest reuses none and costs more than fresh instances. 0: the oldest
    /// makes way at once; 30000 or more: never (parked instances idle out after 30 s).
    #[arg(
        long,
        env = "NOVA_WARM_MAKE_WAY_MS",
        default_value_t = DEFAULT_WARM_MAKE_WAY_MS,
        global = true
    )]
    pub warm_make_way_ms: u64,

    #[command(flatten)]
    pub payments: PaymentsConfig,

    /// Secret the billing provider signs webhooks with (HMAC-SHA256); unset refuses them.
    #[arg(
        long,
        env = "BILLING_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub billing_webhook_secret: Option<String>,

    #[command(flatten)]
    pub worker: WorkerConfig,

    #[command(flatten)]
    pub retention: crate::jobs::retention::Retention,

    /// `smtp://[user:pass@]host:port` for outgoing mail; unset keeps mail in the outbox table
    /// (readable at `GET /v1/superadmin/mail/outbox`).
    #[arg(long, env = "SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of Nova's mail.
    #[arg(
        long,
        env = "NOVA_MAIL_FROM",
        default_value = "Nova <nova@localhost>",
        global = true
    )]
    pub mail_from: String,

    /// What one module call may use (the host's limits, which plans may tighten). Not a
    /// flag: embedders and tests set it. Its deadline is `call_deadline_ms`.
    #[arg(skip)]
    pub call_limits: crate::limits::Limits,

    /// Wall-clock time one module call may run before it is stopped (504
    /// `MODULE_TIMEOUT`), in milliseconds. A tenant's plan may only shorten it.
    #[arg(
        long = "call-deadline-ms",
        env = "NOVA_CALL_DEADLINE_MS",
        default_value_t = crate::limits::DEFAULT_DEADLINE_MS,
        value_parser = clap::value_parser!(u64).range(1..=600_000),
        global = true
    )]
    pub call_deadline_ms: u64,

    /// Extra host names for modules' outbound requests, as `NAME=BASE_URL` (comma-separated
    /// in the environment), e.g. `loyalty=https://loyalty.example.com/api`.
    #[arg(
        long = "outbound-host",
        env = "NOVA_OUTBOUND_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub outbound_hosts: Vec<String>,
    /// Proxies (CIDRs or addresses, comma-separated in the environment) whose
    /// `X-Forwarded-For` names the client; unset believes no header and limits per socket
    /// address. Set it to the load balancer's range when Nova runs behind one.
    #[arg(
        long = "trusted-proxies",
        env = "NOVA_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<String>,

    /// A bearer token Prometheus sends to scrape `/metrics` (which shows revenue figures).
    /// With it, every `/metrics` asks for it (a superadmin's token also does on the API
    /// port); without it, the API port's `/metrics` wants a superadmin's token and the
    /// private listeners (`--metrics-listen`, the worker's probe port) answer anyone.
    #[arg(
        long,
        env = "NOVA_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// 64 hex digits (`openssl rand -hex 32`) sealing signing keys at rest (AES-256-GCM).
    /// Set it, then run `nova keys encrypt` once to seal the keys already stored; from then
    /// on every replica needs it to start.
    #[arg(long, env = "NOVA_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<String>,

    /// Where users reach this server, for links in mail (password resets).
    #[arg(
        long,
        env = "NOVA_PUBLIC_URL",
        default_value = "http://localhost:8080",
        global = true
    )]
    pub public_url: String,
}

/// How workers take jobs from the queue.
#[derive(Debug, Clone, Copy, Args)]
pub struct WorkerConfig {
    /// How long a claimed job is held before another worker may take it over (a worker
    /// that dies mid-job loses its jobs after this long).
    #[arg(
        long = "worker-lease-ms",
        env = "NOVA_WORKER_LEASE_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub lease_ms: i64,
    /// Attempts before a job is marked failed.
    #[arg(
        long = "worker-max-attempts",
        env = "NOVA_WORKER_MAX_ATTEMPTS",
        default_value_t = 8,
        global = true
    )]
    pub max_attempts: i64,
    /// First retry delay; each later one doubles, up to ten minutes.
    #[arg(
        long = "worker-retry-base-ms",
        env = "NOVA_WORKER_RETRY_BASE_MS",
        default_value_t = 1_000,
        global = true
    )]
    pub retry_base_ms: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            lease_ms: 30_000,
            max_attempts: 8,
            retry_base_ms: 1_000,
        }
    }
}

/// The payment provider POS reaches as the host name `payments`.
#[derive(Debug, Clone, Args)]
pub struct PaymentsConfig {
    /// `sandbox` (the `nova payments-sandbox` process, with a development webhook secret by
    /// default), `live` (a real provider; the secret is required) or `off`.
    #[arg(long = "payment-provider-mode", env = "PAYMENT_PROVIDER_MODE", default_value = "sandbox", value_parser = ["sandbox", "live", "off"], global = true)]
    pub mode: String,

    /// Base URL of the provider's API.
    #[arg(
        long = "payment-provider-url",
        env = "PAYMENT_PROVIDER_URL",
        default_value = "http://127.0.0.1:4010",
        global = true
    )]
    pub url: String,

    /// Secret the provider signs settlement webhooks with (HMAC-SHA256).
    #[arg(
        long = "payment-provider-webhook-secret",
        env = "PAYMENT_PROVIDER_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub webhook_secret: Option<String>,
}

/// The secret the sandbox and a sandbox-mode server share when none is configured. Only
/// sandbox mode accepts it: it is public, in this file.
pub(crate) const SANDBOX_WEBHOOK_SECRET: &str = "nova-sandbox-webhook-secret";

impl PaymentsConfig {
    /// The webhook secret in force, or why there is none.
    pub(crate) fn secret(&self) -> anyhow::Result<Option<String>> {
        match (self.mode.as_str(), &self.webhook_secret) {
            ("off", _) => Ok(None),
            (_, Some(s)) if !s.is_empty() => Ok(Some(s.clone())),
            ("sandbox", _) => Ok(Some(SANDBOX_WEBHOOK_SECRET.to_string())),
            _ => anyhow::bail!(
                "PAYMENT_PROVIDER_WEBHOOK_SECRET is required when PAYMENT_PROVIDER_MODE=live"
            ),
        }
    }
}

impl PaymentsConfig {
    /// Refuse to serve sandbox settlements, signed with the public development secret, to
    /// anyone but this machine: on a non-loopback address the secret must be set.
    pub(crate) fn check_exposure(&self, listen: std::net::IpAddr) -> anyhow::Result<()> {
        let explicit = self
            .webhook_secret
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        anyhow::ensure!(
            self.mode != "sandbox" || explicit || listen.is_loopback(),
            "PAYMENT_PROVIDER_MODE=sandbox accepts settlements signed with a public development \
             secret; listening on {listen} would accept them from other machines. Set \
             PAYMENT_PROVIDER_WEBHOOK_SECRET, use PAYMENT_PROVIDER_MODE=live or off, or listen \
             on 127.0.0.1"
        );
        Ok(())
    }
}

impl Config {
    /// An embedded (SQLite) configuration in `data_dir` with no payment provider, no Redis
    /// and no extra hosts: the base for tests, benchmarks and the module test kit.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            database_url: None,
            redis_url: None,
            jwt_secret: None,
            cache_dir: None,
            warm_instances: crate::runtime::engine::DEFAULT_WARM_INSTANCES,
            warm_make_way_ms: DEFAULT_WARM_MAKE_WAY_MS,
            payments: PaymentsConfig {
                mode: "off".into(),
                url: String::new(),
                webhook_secret: None,
            },
            outbound_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            metrics_token: None,
            master_key: None,
            public_url: "http://localhost:8080".into(),
            billing_webhook_secret: None,
            worker: WorkerConfig::default(),
            retention: crate::jobs::retention::Retention::default(),
            smtp_url: None,
            mail_from: "Nova <nova@localhost>".into(),
            call_limits: crate::limits::Limits::default(),
            call_deadline_ms: crate::limits::DEFAULT_DEADLINE_MS,
        }
    }

    /// The database URL in force.
    pub(crate) fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}/nova.db?mode=rwc", self.data_dir.display()),
        }
    }

    /// Where compiled modules are cached.
    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }

    /// Host names bound to base URLs for outbound requests: `payments` (unless the provider
    /// is off) and every `--outbound-host`.
    pub(crate) fn outbound_bindings(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<String, reqwest::Url>> {
        let mut out = std::collections::HashMap::new();
        if self.payments.mode != "off" {
            let url = reqwest::Url::parse(&self.payments.url)
                .with_context(|| format!("PAYMENT_PROVIDER_URL {:?}", self.payments.url))?;
            out.insert("payments".to_string(), url);
        }
        for entry in self.outbound_hosts.iter().filter(|e| !e.is_empty()) {
            let (name, url) = entry
                .split_once('=')
                .with_context(|| format!("--outbound-host {entry:?} is not NAME=URL"))?;
            anyhow::ensure!(
                crate::runtime::manifest::valid_host(name),
                "--outbound-host name {name:?} is not a host name"
            );
            let url = reqwest::Url::parse(url)
                .with_context(|| format!("--outbound-host {name}: {url:?} is not a URL"))?;
            out.insert(name.to_string(), url);
        }
        Ok(out)
    }

    /// Connect to the configured database, creating the data directory for SQLite.
    pub(crate) async fn connect(&self) -> anyhow::Result<Db> {
        let url = self.database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        let master = self
            .master_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(crate::storage::sealed::MasterKey::from_hex)
            .transpose()?;
        Ok(Db::connect(&url).await?.with_master_key(master))
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentsConfig;

    fn payments(mode: &str, secret: Option<&str>) -> PaymentsConfig {
        PaymentsConfig {
            mode: mode.into(),
            url: "http://127.0.0.1:4010".into(),
            webhook_secret: secret.map(str::to_string),
        }
    }

    #[test]
    fn the_public_sandbox_secret_stays_on_this_machine() {
        let (lo, any) = ("127.0.0.1".parse().unwrap(), "0.0.0.0".parse().unwrap());
        assert!(payments("sandbox", None).check_exposure(lo).is_ok());
        assert!(payments("sandbox", None).check_exposure(any).is_err());
        assert!(payments("sandbox", Some("")).check_exposure(any).is_err());
        assert!(
            payments("sandbox", Some("s3cret"))
                .check_exposure(any)
                .is_ok()
        );
        assert!(payments("off", None).check_exposure(any).is_ok());
        assert!(payments("live", Some("s3cret")).check_exposure(any).is_ok());
    }
}
