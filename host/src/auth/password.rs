//! Password hashing with argon2 (the crate's default parameters, Argon2id).
//!
//! Each hash holds about 19 MiB and tens of milliseconds of a core, and anonymous clients can
//! ask for one (logins, registrations). So every hash made on behalf of a request goes
//! through one process-wide gate: a few at once, a short queue, and a refusal beyond it,
//! whatever route asked. Without it, 150 parallel registrations took a server from 0.15 to
//! 5.5 GiB and stalled every tenant's calls. Hashes run on threads of their own at lower
//! priority, so what hashing there is yields to module calls.

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
pub(crate) fn verify(password: &str, stored: &str) -> bool {
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
pub(crate) struct Busy;

/// A hash or verification handed to a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Bounds hashing for the whole process.
struct Gate {
    permits: tokio::sync::Semaphore,
    /// Hashes running or waiting for a permit.
    queued: AtomicUsize,
    /// Most hashes running or waiting; beyond it a request is refused at once.
    max_queued: usize,
    /// How long a request waits for a permit before it is refused.
    max_wait: Duration,
    /// The hashing threads' queue: one thread per permit, so a permitted job starts at once
    /// (or after the memory trim that follows a burst, see [`Ticket`]'s drop).
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

/// How much lower than everything else hashing threads run (Linux nice). Module calls and
/// requests take the core from a hash at once; on an idle host a hash still gets all of it,
/// and on a saturated one about a tenth, so logins slow down rather than fail.
const HASH_NICENESS: i32 = 10;

/// Half the cores hash at once (at least one), so password work never takes the whole
/// machine from module calls; sixteen more may wait up to two seconds.
static GATE: LazyLock<Gate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let running = (cores / 2).max(1);
    Gate::new(running, running + 16, Duration::from_secs(2))
});

impl Gate {
    /// A gate running at most `running` jobs, on as many threads of their own (started here,
    /// at lower priority), with at most `max_queued` running or waiting up to `max_wait`.
    fn new(running: usize, max_queued: usize, max_wait: Duration) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..running {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("nova-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only to take the next job, never while it runs.
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a hashing thread");
        }
        Self {
            permits: tokio::sync::Semaphore::new(running),
            queued: AtomicUsize::new(0),
            max_queued,
            max_wait,
            jobs: std::sync::Mutex::new(tx),
        }
    }

    /// Hand `job` to the hashing threads; false if they are gone.
    fn submit(&self, job: Job) -> bool {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.send(job).is_ok()
    }

    /// A place in the queue, or [`Busy`] at once when it is full. Taken before a request does
    /// any other work for its hash (database reads included), so a flood is refused cheaply.
    fn enter(&self) -> Result<Ticket<'_>, Busy> {
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            metrics::counter!("nova_password_hashes_refused_total").increment(1);
            return Err(Busy);
        }
        Ok(Ticket { gate: self })
    }
}

/// A place in a [`Gate`]'s queue; given back when dropped.
#[must_use]
pub(crate) struct Ticket<'a> {
    gate: &'a Gate,
}

impl Ticket<'_> {
    /// Wait for a permit (at most the gate's `max_wait`), then run `work` on a hashing thread.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let gate = self.gate;
        let Ok(Ok(_permit)) = tokio::time::timeout(gate.max_wait, gate.permits.acquire()).await
        else {
            metrics::counter!("nova_password_hashes_refused_total").increment(1);
            return Err(Busy);
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        if gate.submit(job) {
            result.await.map_err(|_| Busy)
        } else {
            Err(Busy)
        }
    }

    /// [`hash`] on a hashing thread.
    pub(crate) async fn hash(self, password: String) -> Result<anyhow::Result<String>, Busy> {
        self.run(move || hash(&password)).await
    }

    /// [`verify`] on a hashing thread.
    pub(crate) async fn verify(self, password: String, stored: String) -> Result<bool, Busy> {
        self.run(move || verify(&password, &stored)).await
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.gate.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last hash of a burst: hand argon2's freed blocks back to the system, which
            // glibc would otherwise keep in its arenas for ever. (The `nova` binary allocates
            // with jemalloc, which gives blocks that large back as they are freed; there the
            // trim only reaches what C code took from glibc. It stays for the library's
            // other users.) On a hashing thread, at its lower priority: trimming walks every
            // arena and can take milliseconds, which a request thread would take from the
            // requests queued on it.
            self.gate.submit(Box::new(release_free_memory));
        }
    }
}

/// Make the calling thread yield to every normal-priority thread (Linux: per-thread nice).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority take plain integers; raising one's own niceness needs no
    // privilege.
    let ok = unsafe {
        let tid = libc::gettid() as libc::id_t;
        // Never raise a priority the process was already started below.
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, now.max(HASH_NICENESS))
    };
    if ok != 0 {
        tracing::warn!("could not lower the hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns free pages to the kernel; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// A place in the process-wide hashing queue, or [`Busy`]: take it before the work that
/// leads to a hash, and hash or verify with it.
pub(crate) fn admit() -> Result<Ticket<'static>, Busy> {
    GATE.enter()
}

/// [`hash`] through the process-wide gate.
pub(crate) async fn hash_gated(password: String) -> Result<anyhow::Result<String>, Busy> {
    admit()?.hash(password).await
}

/// Why a new password is refused, if it is.
pub(crate) fn check_strength(password: &str) -> Result<(), String> {
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

    impl Gate {
        /// [`Gate::enter`], then [`Ticket::run`].
        async fn run<T: Send + 'static>(
            &self,
            work: impl FnOnce() -> T + Send + 'static,
        ) -> Result<T, Busy> {
            self.enter()?.run(work).await
        }
    }

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
        let gate = std::sync::Arc::new(Gate::new(1, 3, Duration::from_secs(30)));
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
        let gate = Gate::new(1, 3, Duration::from_millis(1));
        // Its only permit is taken, so the next job waits and gives up.
        let _held = gate.permits.acquire().await.unwrap();
        assert_eq!(gate.run(|| ()).await, Err(Busy));
        assert_eq!(gate.queued.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn hashing_threads_run_at_lower_priority() {
        let gate = Gate::new(1, 1, Duration::from_secs(30));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // SAFETY: getpriority on the calling thread.
        let nice = rt.block_on(gate.run(|| unsafe {
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        }));
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_eq!(nice, Ok(here.max(HASH_NICENESS)));
    }

    #[tokio::test]
    async fn gated_hashes_verify() {
        let h = hash_gated("through the gate".into())
            .await
            .unwrap()
            .unwrap();
        let verify = |pw: &str| admit().unwrap().verify(pw.into(), h.clone());
        assert!(verify("through the gate").await.unwrap());
        assert!(!verify("not it").await.unwrap());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough").is_ok());
    }
}
