//! CPU time, read from `/proc`: this process's (all its threads), the part of it the
//! benchmark's own load took (its threads, [`harness`]), and the PostgreSQL server's (every
//! process named `postgres`); and the statements and round trips this process sent to
//! PostgreSQL. The difference of two samples over a run, divided by the
//! conversations decided in it, is what a decided conversation costs, figures steadier on a
//! shared 2-core machine than throughput.

/// Clock ticks per second of the `/proc` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The name of the threads of [`harness`].
const HARNESS_THREAD: &str = "bench-harness";

/// The runtime the benchmark's own load runs on (its HTTP client, the fake Intercom): one
/// thread of its own, named [`HARNESS_THREAD`], so that its CPU is counted apart from the
/// replicas'. Built once per process and never dropped.
pub fn harness() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(HARNESS_THREAD)
            .enable_all()
            .build()
            .expect("the benchmark's load runtime")
    });
    RUNTIME.handle().clone()
}

/// CPU used so far, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    own: Option<u64>,
    /// The threads of [`harness`].
    harness: Option<u64>,
    postgres: Option<u64>,
    /// Statements and round trips sent to PostgreSQL.
    traffic: (u64, u64),
}

/// CPU per item between two samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PerItem {
    /// This process.
    pub own_ms: Option<f64>,
    /// The benchmark's own load in this process ([`harness`]).
    pub harness_ms: Option<f64>,
    /// This process without its benchmark's own load: the replicas.
    pub frontdesk_ms: Option<f64>,
    /// The PostgreSQL server (none without one on this machine).
    pub postgres_ms: Option<f64>,
    /// Statements sent to PostgreSQL, `BEGIN` and `COMMIT` included (none when none was).
    pub statements: Option<f64>,
    /// Round trips to PostgreSQL (none when none was).
    pub round_trips: Option<f64>,
}

impl Sample {
    /// Now.
    pub fn now() -> Self {
        Self {
            own: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|s| ticks(&s)),
            harness: harness_ticks(),
            postgres: postgres_ticks(),
            traffic: crate::store::postgres_traffic(),
        }
    }

    /// CPU per item of the `items` done since `earlier`.
    pub fn per_item_since(&self, earlier: &Self, items: usize) -> PerItem {
        let per = |now: Option<u64>, then: Option<u64>| {
            let used = now?.checked_sub(then?)?;
            (items > 0).then(|| used as f64 * 1000.0 / TICKS_PER_SECOND / items as f64)
        };
        let count = |now: u64, then: u64| {
            let sent = now.saturating_sub(then);
            (items > 0 && sent > 0).then(|| sent as f64 / items as f64)
        };
        let own_ms = per(self.own, earlier.own);
        let harness_ms = per(self.harness, earlier.harness);
        PerItem {
            own_ms,
            harness_ms,
            frontdesk_ms: own_ms.map(|own| own - harness_ms.unwrap_or(0.0)),
            postgres_ms: per(self.postgres, earlier.postgres),
            statements: count(self.traffic.0, earlier.traffic.0),
            round_trips: count(self.traffic.1, earlier.traffic.1),
        }
    }
}

/// User plus system time of a `/proc/<pid>/stat` line, in ticks.
fn ticks(stat: &str) -> Option<u64> {
    // The command may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // State is field 3 of the line, utime 14 and stime 15: 0, 11 and 12 after the ')'.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// The summed ticks of this process's threads named [`HARNESS_THREAD`]; none when none runs.
fn harness_ticks() -> Option<u64> {
    ticks_named("/proc/self/task", HARNESS_THREAD)
}

/// The summed ticks of every `postgres` process this user can read; none when there is none.
fn postgres_ticks() -> Option<u64> {
    ticks_named("/proc", "postgres")
}

/// The summed ticks of the processes (or threads) under `dir` (`/proc`, or a process's
/// `task`) whose command is `name`; none when there is none.
fn ticks_named(dir: &str, name: &str) -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if comm(&stat) == Some(name)
            && let Some(t) = ticks(&stat)
        {
            total = Some(total.unwrap_or(0) + t);
        }
    }
    total
}

/// The command of a `/proc/<pid>/stat` line (between the first '(' and the last ')').
fn comm(stat: &str) -> Option<&str> {
    let (_, rest) = stat.split_once('(')?;
    Some(rest.rsplit_once(')')?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_past_a_command_with_spaces() {
        let line = "4242 (post gres) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 99 0 0";
        assert_eq!(ticks(line), Some(281));
        assert_eq!(ticks("garbage"), None);
        let own = Sample {
            harness: Some(5),
            ..Sample::now()
        };
        assert!(own.own.is_some(), "this process's own times are readable");
        let later = Sample {
            own: own.own.map(|t| t + 50),
            harness: Some(25),
            postgres: None,
            traffic: (own.traffic.0 + 70, own.traffic.1 + 20),
        };
        let per = later.per_item_since(&own, 10);
        assert_eq!(per.own_ms, Some(50.0), "50 ticks of 10 ms over 10 items");
        assert_eq!(per.harness_ms, Some(20.0), "the load's own 20 ticks");
        assert_eq!(per.frontdesk_ms, Some(30.0), "the rest is the replicas'");
        assert_eq!(comm(line), Some("post gres) (x)"));
        assert_eq!(per.postgres_ms, None);
        assert_eq!((per.statements, per.round_trips), (Some(7.0), Some(2.0)));
        assert_eq!(
            own.per_item_since(&own, 10).statements,
            None,
            "nothing sent, no figure"
        );
    }
}
