//! A scratch PostgreSQL database for a benchmark run.

use sqlx::Connection;

/// Create an empty database beside `url`'s and return its URL.
pub async fn fresh_postgres(url: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    // Named like the tests' databases, so their sweep drops it once this process is gone.
    let name = format!("nova_t_{}_{}", std::process::id(), rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("{}/{name}", url.rsplit_once('/').unwrap().0)
}

/// Run `run` on SQLite, then on a scratch PostgreSQL database when `NOVA_BENCH_POSTGRES`
/// names a server, in one runtime.
pub fn on_each_backend<F, Fut>(run: F)
where
    F: Fn(&'static str, Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        run("sqlite", None).await;
        if let Ok(url) = std::env::var("NOVA_BENCH_POSTGRES") {
            let db = fresh_postgres(&url).await;
            run("postgres", Some(db)).await;
        }
    });
}
