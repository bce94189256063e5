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
