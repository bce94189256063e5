//! The `nova` binary: parse the command line and run it.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nova::cli::run().await
}
