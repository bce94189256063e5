//! Keeping several `nova serve` replicas in agreement.
//!
//! Every change to a tenant's modules, flags or plan, and every change of module versions,
//! is published on Redis (when `REDIS_URL` is set); each replica drops what it cached and
//! interrupts calls of modules switched off. A reconciliation pass every few seconds bounds
//! the damage of a missed message: caches are dropped and active versions re-read from the
//! database, which stays the only source of truth.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How often each replica re-reads everything, whatever Redis says.
pub(crate) const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum Event {
    /// A tenant's modules, flags or plan changed; `off` lists modules now off.
    Tenant { tenant: String, off: Vec<String> },
    /// Active or pinned module versions changed.
    Modules,
    /// Jobs were added to a queue: idle workers look now instead of at their next poll.
    Jobs { queue: String },
    /// Maintenance mode was switched.
    Maintenance,
    /// A platform setting (trace sampling) changed.
    Settings,
    /// Signing keys were added or retired.
    Keys,
    /// Users were disabled, enabled or removed.
    Users,
}

/// Messages published by this replica carry its id, so it can skip its own.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    from: String,
    event: Event,
}

/// A connection to the change channel.
pub struct Bus {
    client: redis::Client,
    publisher: redis::aio::MultiplexedConnection,
    channel: String,
    me: String,
}

impl Bus {
    /// Connect; replicas that share a database share a channel.
    pub async fn connect(redis_url: &str, database_url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(redis_url).context("parsing REDIS_URL")?;
        let publisher = client
            .get_multiplexed_async_connection()
            .await
            .context("connecting to Redis")?;
        let scope = hex::encode(&Sha256::digest(database_url.as_bytes())[..8]);
        Ok(Self {
            client,
            publisher,
            channel: format!("nova:changes:{scope}"),
            me: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Tell the other replicas. Failures are logged: reconciliation catches up anyway.
    pub(crate) async fn publish(&self, event: Event) {
        let Ok(msg) = serde_json::to_string(&Envelope {
            from: self.me.clone(),
            event,
        }) else {
            return;
        };
        let mut conn = self.publisher.clone();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(msg)
            .query_async(&mut conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not publish a change; replicas catch up within the reconcile interval");
        }
    }

    /// Listen for other replicas' changes until the process ends, reconnecting on failure.
    /// The answer resolves once the first subscription is in place.
    pub(crate) fn listen<R: Replica>(
        self: Arc<Self>,
        state: R,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let (subscribed, first) = tokio::sync::oneshot::channel();
        let mut subscribed = Some(subscribed);
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.listen_once(&state, &mut subscribed).await {
                    tracing::warn!(error = %e, "change listener lost Redis; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        first
    }

    async fn listen_once<R: Replica>(
        &self,
        state: &R,
        subscribed: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> anyhow::Result<()> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        // The first subscription, in time, is before anything was cached. Any later one (a
        // lost connection, or a start that did not wait for it) re-reads everything, now that
        // no change made from here on can be missed.
        let in_time = subscribed.take().is_some_and(|tell| tell.send(()).is_ok());
        if !in_time {
            state.catch_up().await;
        }
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let Ok(envelope) = serde_json::from_str::<Envelope>(&payload) else {
                tracing::warn!("ignoring a malformed change message");
                continue;
            };
            if envelope.from != self.me {
                state.apply(envelope.event).await;
            }
        }
        anyhow::bail!("the subscription ended")
    }
}

/// A token bucket per tenant shared by every replica: up to a minute's allowance, refilled
/// continuously, timed by the Redis server's clock so replicas' clocks do not matter.
const RATE_SCRIPT: &str = r"
local cap = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * cap / 60000)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
return ok
";

impl Bus {
    /// Take one call from `tenant`'s shared bucket; `Err` when Redis did not answer (the
    /// caller falls back to the in-process limiter).
    pub async fn allow(&self, tenant: &str, per_minute: u64) -> redis::RedisResult<bool> {
        let mut conn = self.publisher.clone();
        let ok: i64 = redis::Script::new(RATE_SCRIPT)
            .key(format!("{}:rate:{tenant}", self.channel))
            .arg(per_minute)
            .invoke_async(&mut conn)
            .await?;
        Ok(ok == 1)
    }
}

/// What a replica does about the others: take up their changes, and re-read what it caches
/// when a change may have been missed.
pub(crate) trait Replica: Send + Sync + 'static {
    /// Apply another replica's change.
    fn apply(&self, event: Event) -> impl Future<Output = ()> + Send;
    /// Re-read everything this replica caches: the periodic run.
    fn reconcile(&self) -> impl Future<Output = ()> + Send;
    /// Re-read everything after a gap in the change messages (Redis came back, or the first
    /// subscription came late), without counting a periodic round.
    fn catch_up(&self) -> impl Future<Output = ()> + Send;
}

/// Re-read everything every [`RECONCILE_EVERY`], for as long as the process runs.
pub(crate) fn reconcile_periodically<R: Replica>(state: R) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RECONCILE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            state.reconcile().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replica that reports each change it is told of.
    struct Heard(tokio::sync::mpsc::UnboundedSender<Event>);

    impl Replica for Heard {
        async fn apply(&self, event: Event) {
            let _ = self.0.send(event);
        }
        async fn reconcile(&self) {}
        async fn catch_up(&self) {}
    }

    /// Once `listen` has answered, no change is missed: a replica that says it is up hears
    /// a toggle made the moment after (published before its subscription, one would be lost).
    #[tokio::test]
    async fn a_change_published_once_listen_has_answered_is_heard() {
        let url = std::env::var("NOVA_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let db = format!("postgres://shared/{}", uuid::Uuid::new_v4());
        let connect = || async {
            Bus::connect(&url, &db).await.unwrap_or_else(|e| {
                panic!("Redis at {url} ({e:#}); start it or set NOVA_TEST_REDIS_URL")
            })
        };
        let (listener, other) = (Arc::new(connect().await), connect().await);
        let (heard, mut told) = tokio::sync::mpsc::unbounded_channel();
        listener.listen(Heard(heard)).await.unwrap();
        other.publish(Event::Modules).await;
        let got = tokio::time::timeout(Duration::from_secs(30), told.recv()).await;
        assert_eq!(got.ok().flatten(), Some(Event::Modules));
    }

    #[test]
    fn events_round_trip_as_json() {
        let e = Event::Tenant {
            tenant: "t".into(),
            off: vec!["pos".into()],
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"type":"tenant","tenant":"t","off":["pos"]}"#);
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        assert_eq!(
            serde_json::to_string(&Event::Modules).unwrap(),
            r#"{"type":"modules"}"#
        );
    }
}
