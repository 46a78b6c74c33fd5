//! The benchmarks behind `frontdesk bench`, one file each, and what they share:
//! - [`ingest`]: webhook acknowledgements per second and their latency, beside a bare axum
//!   handler, optionally with the worker and the outbox running;
//! - [`actions`]: webhook to action through the whole service, the outbox's rate, a 429 storm;
//! - [`cluster`]: replicas on one store inside the benchmark process (used by both above);
//! - [`cpu`]: CPU time per conversation, of this process and of the PostgreSQL server;
//! - [`outcomes`]: the live report, the sweep and the dashboard on synthetic decisions;
//! - [`retrieval`], [`classify`], [`drafting`]: the knowledge index, the intent model and the
//!   drafter, beside their Python baselines where there is one;
//! - [`shop`]: the demo shop API the shipped actions call (tests, `frontdesk demo-shop`).

pub mod actions;
pub mod classify;
pub mod cluster;
pub mod cpu;
pub mod declared;
pub mod drafting;
pub mod ingest;
pub mod outcomes;
pub mod retrieval;
pub mod shop;

pub use crate::stats::{percentile, percentiles};
pub use classify::{classify, render_classify};
pub use cluster::Backend;
pub use drafting::drafting;
pub use ingest::{
    IngestOptions, IngestReport, ServerFigures, WorkerFigures, ingest, ingest_with_worker,
    signed_notification,
};
pub use retrieval::{CorpusFigures, RetrievalOptions, render_retrieval, retrieval, scaled_corpus};

/// Runs `bench/<script>` with `python` on `spec` (written to a temporary JSON file) and
/// parses the JSON object it prints.
fn run_script(
    python: &std::path::Path,
    script: &str,
    spec: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(spec)?)?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(script);
    let output = std::process::Command::new(python)
        .arg(&script)
        .arg(file.path())
        .output()?;
    if !output.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}
