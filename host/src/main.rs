//! The `nova` binary: parse the command line and run it.

/// jemalloc instead of glibc's malloc. A request allocates and frees many small buffers on
/// one thread and hands others to another (HTTP, JSON, sqlx rows, the committer's batches);
/// glibc spent 11-14% of the server's CPU on them (`malloc_consolidate` among them), and
/// jemalloc takes 5-20% off the CPU of a call (docs/PERFORMANCE.md, "The allocator").
/// mimalloc saved as much but kept about 100 MB more resident at idle. SQLite's C code
/// still allocates from glibc.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's live and resident bytes, for `/metrics` (`nova::set_heap_stats`).
fn heap_stats() -> Option<nova::HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot taken when the epoch advances.
    epoch::advance().ok()?;
    Some(nova::HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nova::set_heap_stats(heap_stats);
    nova::cli::run().await
}
