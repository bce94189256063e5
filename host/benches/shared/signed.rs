//! Tenants for the benchmarks that need many: made through a running server's API, with
//! tokens signed here with the server's `NOVA_JWT_SECRET` (thousands of sign-ins would
//! measure Argon2, not the host).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nova::auth::token::{Keys, Role};

use super::process;

/// The `NOVA_JWT_SECRET` of every server these tenants are made on.
pub const SECRET: &str = "tenant-scale-bench-secret-of-at-least-32-bytes";

/// A setting from the environment, or its default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` tenants with POS on, each with an admin token signed here.
pub async fn tenants(base: &str, n: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let admin = process::superadmin_token(base).await;
    let keys = Arc::new(Keys::from_secret(SECRET.as_bytes()));
    let next = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (http, admin, base, next, made, keys) = (
                http.clone(),
                admin.clone(),
                base.to_string(),
                next.clone(),
                made.clone(),
                keys.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let id = process::create_tenant(&http, &base, &admin, &["pos"]).await;
                    let sub = uuid::Uuid::new_v4().to_string();
                    let token = keys
                        .issue(&sub, "owner@scale.test", Role::Admin, Some(&id))
                        .unwrap();
                    made.lock().unwrap().push(token);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    made.lock().unwrap().clone()
}
