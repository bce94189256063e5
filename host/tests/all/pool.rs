//! The database pool hands out a connection without a round trip first, yet one the server
//! dropped while it sat idle (a restart, an idle timeout) is replaced, not handed to a caller.

use crate::common;

use std::time::{Duration, Instant};

use nova::storage::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_dropped_while_idle_is_replaced() {
    let db = Db::connect(&common::fresh_postgres().await).await.unwrap();
    let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .unwrap();
    // The connection goes back to the pool in a task of its own, pinged on the way: only
    // once it is idle is what follows about the pool's check rather than that ping's.
    let give_up = Instant::now() + Duration::from_secs(30);
    while db.pool().num_idle() != 1 {
        assert!(
            Instant::now() < give_up,
            "the connection never came back to the pool"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let other = Db::connect(&common::postgres_url()).await.unwrap();
    let (ended,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(other.pool())
        .await
        .unwrap();
    assert!(ended);
    loop {
        let (left,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_one(other.pool())
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < give_up, "the backend never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What is tested is the idle time itself: past it, the pool checks before handing out.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (now,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .expect("the pool handed out the dropped connection");
    assert_ne!(now, pid);
    // The dropped connection was closed, not kept beside the new one.
    assert_eq!(db.pool().size(), 1);
}
