//! The runtime the worker and the outbox run on, beside the one that serves webhooks, at a
//! lower priority. Knows nothing of the crate.

use tracing::warn;

/// The runtime the worker and the outbox run on, beside the one that serves webhooks: its
/// own threads (`frontdesk-decide`, one per core), at a lower priority ([`DECIDE_NICE`]).
/// A decision's steps (classify, retrieve, draft) run for a millisecond or more without
/// yielding; on the serving runtime's threads the acknowledgements waiting for a thread
/// queued behind them. On threads of their own, the kernel shares the cores between both,
/// and when both want a core the webhook's thread gets it: an ack has Intercom's 5 s
/// timeout behind it, a decision only its own latency. Built once per process and never
/// dropped; where it cannot be built, the caller's runtime is used. The PostgreSQL
/// connections the worker and the outbox use are served here too.
pub fn background() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::LazyLock<Option<tokio::runtime::Runtime>> = std::sync::LazyLock::new(|| {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("frontdesk-decide")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .inspect_err(
                |error| warn!(%error, "no runtime of its own for the worker: it shares the server's"),
            )
            .ok()
    });
    RUNTIME
        .as_ref()
        .map_or_else(tokio::runtime::Handle::current, |runtime| {
            runtime.handle().clone()
        })
}

/// The nice value of the decision threads: under contention the kernel gives a thread at 0
/// (the webhook's, the store's writer) about nine times the CPU of one at 10, and the
/// decisions still get every cycle the acknowledgements leave.
pub const DECIDE_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`DECIDE_NICE`] (Linux sets it per thread);
/// where that fails, the thread keeps the process's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), DECIDE_NICE) {
        tracing::debug!(%error, "the decision thread keeps its priority");
    }
}
