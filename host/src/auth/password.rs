//! Password hashing with argon2 (the crate's default parameters, Argon2id).
//!
//! Each hash holds about 19 MiB and tens of milliseconds of a core, and anonymous clients can
//! ask for one (logins, registrations). So every hash made on behalf of a request goes
//! through one process-wide gate: a few at once, a short queue, and a refusal beyond it,
//! whatever route asked. Without it, 150 parallel registrations took a server from 0.15 to
//! 5.5 GiB and stalled every tenant's calls.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// Hash a password for storage.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// True when `password` matches the stored hash.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The gate was full: too many hashes running and waiting. Retry shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Bounds hashing for the whole process.
struct Gate {
    permits: tokio::sync::Semaphore,
    /// Hashes running or waiting for a permit.
    queued: AtomicUsize,
    /// Most hashes running or waiting; beyond it a request is refused at once.
    max_queued: usize,
    /// How long a request waits for a permit before it is refused.
    max_wait: Duration,
}

/// Half the cores hash at once (at least one), so password work never takes the whole
/// machine from module calls; sixteen more may wait up to two seconds.
static GATE: LazyLock<Gate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let running = (cores / 2).max(1);
    Gate {
        permits: tokio::sync::Semaphore::new(running),
        queued: AtomicUsize::new(0),
        max_queued: running + 16,
        max_wait: Duration::from_secs(2),
    }
});

impl Gate {
    /// Run `work` (a hash or a verification) through the gate, on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            metrics::counter!("nova_password_hashes_refused_total").increment(1);
            return Err(Busy);
        }
        let permit = tokio::time::timeout(self.max_wait, self.permits.acquire()).await;
        let result = match permit {
            Ok(Ok(_permit)) => tokio::task::spawn_blocking(work).await.map_err(|_| Busy),
            _ => {
                metrics::counter!("nova_password_hashes_refused_total").increment(1);
                Err(Busy)
            }
        };
        if self.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last hash of a burst: hand argon2's freed blocks back to the system, which
            // glibc would otherwise keep in its arenas for ever.
            release_free_memory();
        }
        result
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns free pages to the kernel; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// [`hash`] through the process-wide gate.
pub async fn hash_gated(password: String) -> Result<anyhow::Result<String>, Busy> {
    GATE.run(move || hash(&password)).await
}

/// [`verify`] through the process-wide gate.
pub async fn verify_gated(password: String, stored: String) -> Result<bool, Busy> {
    GATE.run(move || verify(&password, &stored)).await
}

/// Why a new password is refused, if it is.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < 8 {
        return Err("password must be at least 8 characters".into());
    }
    if password.len() > 256 {
        return Err("password must be at most 256 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_runs_one_queues_a_few_and_refuses_the_rest() {
        let gate = std::sync::Arc::new(Gate {
            permits: tokio::sync::Semaphore::new(1),
            queued: AtomicUsize::new(0),
            max_queued: 3,
            max_wait: Duration::from_secs(30),
        });
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Arc::new(std::sync::Mutex::new(hold));
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (gate, hold, running) = (gate.clone(), hold.clone(), running.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "one at a time");
                    hold.lock().unwrap().recv().unwrap();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        while gate.queued.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            gate.run(|| ()).await,
            Err(Busy),
            "a fourth is refused at once"
        );
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(()));
        }
        assert_eq!(gate.queued.load(Ordering::SeqCst), 0);
        assert_eq!(gate.run(|| 7).await, Ok(7), "open again once drained");
    }

    #[tokio::test]
    async fn a_full_wait_is_refused() {
        let gate = Gate {
            permits: tokio::sync::Semaphore::new(0),
            queued: AtomicUsize::new(0),
            max_queued: 3,
            max_wait: Duration::from_millis(1),
        };
        assert_eq!(gate.run(|| ()).await, Err(Busy));
        assert_eq!(gate.queued.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn gated_hashes_verify() {
        let h = hash_gated("through the gate".into())
            .await
            .unwrap()
            .unwrap();
        assert!(
            verify_gated("through the gate".into(), h.clone())
                .await
                .unwrap()
        );
        assert!(!verify_gated("not it".into(), h).await.unwrap());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough").is_ok());
    }
}
