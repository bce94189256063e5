//! The database pool hands out a connection without a round trip first, yet one the server
//! dropped while it sat idle (a restart, an idle timeout) is replaced, not handed to a caller.

use crate::common;

use std::time::Duration;

use nova::storage::Db;

/// Wait until every connection of `db`'s pool is back in it, idle: handed back in a task of
/// its own and checked on the way, whatever was queued on it has run by then.
async fn until_idle(db: &Db) {
    common::eventually(
        || "the connection never came back to the pool".into(),
        async || db.pool().num_idle() == db.pool().size() as usize,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_dropped_while_idle_is_replaced() {
    let db = Db::connect(&common::fresh_postgres().await).await.unwrap();
    let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .unwrap();
    // The connection goes back to the pool in a task of its own, pinged on the way: only
    // once it is idle is what follows about the pool's check rather than that ping's.
    until_idle(&db).await;
    let other = Db::connect(&common::postgres_url()).await.unwrap();
    let (ended,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(other.pool())
        .await
        .unwrap();
    assert!(ended);
    common::eventually(
        || "the backend never ended".into(),
        async || {
            let (left,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
                    .bind(pid)
                    .fetch_one(other.pool())
                    .await
                    .unwrap();
            left == 0
        },
    )
    .await;
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

/// Counts PostgreSQL's notices ("there is no transaction in progress" and the like) that sqlx
/// logs.
struct Notices(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Notices {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::postgres::notice" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[test]
fn a_commit_whose_caller_gives_up_finishes_without_a_stray_rollback() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::SubscriberExt;

    let notices = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(Notices(notices.clone()));
    // One thread, so the pool's own tasks log where this subscriber listens.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let db = Db::connect(&common::fresh_postgres().await).await.unwrap();
            // A COMMIT that takes 300 ms, so the caller can give up while it runs.
            for sql in [
                "CREATE TABLE slow (id INT)",
                "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
                 'BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END'",
                "CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON slow \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow()",
            ] {
                sqlx::query(sql).execute(db.pool()).await.unwrap();
            }
            // Give up on a commit of row `id` after 50 ms, then wait until the connection is
            // back in the pool (whatever sqlx queued on it has run by then); the notices
            // logged meanwhile.
            let give_up_on = |id: i32, in_task: bool| {
                let (db, notices) = (db.clone(), notices.clone());
                async move {
                    let before = notices.load(Ordering::SeqCst);
                    let mut tx = db.begin().await.unwrap();
                    sqlx::query("INSERT INTO slow (id) VALUES ($1)")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    let commit = async move {
                        if in_task {
                            nova::storage::commit_in_task(tx).await
                        } else {
                            tx.commit().await
                        }
                    };
                    let gave_up = tokio::time::timeout(Duration::from_millis(50), commit).await;
                    assert!(gave_up.is_err(), "the commit was still running");
                    until_idle(&db).await;
                    let (committed,): (i64,) =
                        sqlx::query_as("SELECT count(*) FROM slow WHERE id = $1")
                            .bind(id)
                            .fetch_one(db.pool())
                            .await
                            .unwrap();
                    assert_eq!(committed, 1, "the COMMIT reached the server either way");
                    notices.load(Ordering::SeqCst) - before
                }
            };
            // sqlx's own commit, dropped mid-way: its Transaction queues a ROLLBACK behind the
            // COMMIT, and PostgreSQL warns about it. This shows the count sees the warning.
            assert_eq!(give_up_on(1, false).await, 1);
            // Committed in a task of its own: the same commit, and no warning.
            assert_eq!(give_up_on(2, true).await, 0);
        })
    });
}
