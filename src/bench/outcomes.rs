//! `frontdesk bench outcomes`: the live report, the outcome sweep and the dashboard's HTTP
//! routes on a store of synthetic decisions (100,000 by default), in a temporary data dir.

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::intercom::{Helpdesks, RecordingHelpdesk};
use crate::stats::percentiles;
use crate::store::Store;
use secrecy::SecretString;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct OutcomesOptions {
    /// Decisions stored.
    pub decisions: usize,
    /// Of those, open touches whose quiet period is over (the sweep's work).
    pub open: usize,
    /// Timed repetitions of each read.
    pub rounds: usize,
}

/// Timings of one route or step, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// What.
    pub name: String,
    /// Median.
    pub p50_ms: f64,
    /// Slowest of the rounds.
    pub max_ms: f64,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomesReport {
    /// Decisions stored.
    pub decisions: usize,
    /// Seconds to store them.
    pub seed_seconds: f64,
    /// Open touches swept.
    pub swept: usize,
    /// Seconds the sweep took.
    pub sweep_seconds: f64,
    /// `frontdesk report` over the whole period (the library call the command makes).
    pub report: Timing,
    /// The dashboard's page and API routes through the real server.
    pub routes: Vec<Timing>,
}

pub use crate::store::synthetic::synthetic;

fn timing(name: &str, mut samples: Vec<f64>) -> Timing {
    samples.sort_by(f64::total_cmp);
    let (p50, _) = percentiles(&samples);
    Timing {
        name: name.to_owned(),
        p50_ms: p50,
        max_ms: samples.last().copied().unwrap_or(f64::NAN),
    }
}

/// Runs the benchmark.
pub async fn run(
    base: &Config,
    options: OutcomesOptions,
    keep: Option<&std::path::Path>,
) -> anyhow::Result<OutcomesReport> {
    let temp = tempfile::tempdir()?;
    let dir = match keep {
        Some(dir) => {
            anyhow::ensure!(
                !dir.join(crate::store::DB_FILE).exists(),
                "{} already holds a store; give an empty folder",
                dir.display()
            );
            dir.to_owned()
        }
        None => temp.path().to_owned(),
    };
    let store = Store::open(&dir)?;
    let now = crate::clock::now_ms() / 1000;
    let started = Instant::now();
    let mut items = synthetic(options.decisions, options.open, now);
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(10_000));
        store.record_many(std::mem::replace(&mut items, rest)).await?;
    }
    let seed_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let swept = store.sweep_quiet(now).await?;
    let sweep_seconds = started.elapsed().as_secs_f64();
    let (since, until) = (
        crate::outcomes::report::day_of(now - 40 * 86_400),
        crate::outcomes::report::day_of(now + 86_400),
    );
    let forecast = dir.join("replay").join("replay.json");
    let mut samples = Vec::new();
    for _ in 0..options.rounds {
        let started = Instant::now();
        let report = crate::outcomes::report::from_store(
            &store,
            &since,
            &until,
            &forecast,
            base.policy.reply_threshold,
            8_000,
        )
        .await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            report.conversations == options.decisions,
            "the report missed decisions"
        );
    }
    let report = timing("report", samples);

    let mut config = base.clone();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = dir.clone();
    config.server.admin_listen = None;
    config.intercom.dry_run = true;
    config.llm.api_base = None;
    config.store.retention_days = 0;
    config.secrets.intercom_client_secret = Some(SecretString::from("bench-secret"));
    let token = "bench-admin-token-0123456789abcdef";
    config.secrets.admin_token = Some(SecretString::from(token));
    drop(store);
    let app = App::start(
        &config,
        Helpdesks::single(Arc::new(RecordingHelpdesk::new(None))),
        Arc::new(SystemClock),
    )
    .await?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let base_url = format!("http://{}", app.addr());
    let mut routes = Vec::new();
    for (name, path) in [
        ("GET /admin (page)", "/admin".to_owned()),
        (
            "GET /admin/api/report",
            format!("/admin/api/report?since={since}&until={until}"),
        ),
        (
            "GET /admin/api/decisions",
            "/admin/api/decisions?limit=200".to_owned(),
        ),
        (
            "GET /admin/api/decisions?outcome=escalated",
            "/admin/api/decisions?limit=200&outcome=escalated".to_owned(),
        ),
        (
            "GET /admin/api/decisions?reason=no_article",
            "/admin/api/decisions?limit=200&reason=no_article".to_owned(),
        ),
        (
            "GET /admin/api/conversations/{id}",
            "/admin/api/conversations/b12345".to_owned(),
        ),
    ] {
        let mut samples = Vec::new();
        for _ in 0..options.rounds {
            let started = Instant::now();
            let response = http
                .get(format!("{base_url}{path}"))
                .bearer_auth(token)
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "{path}: {}", response.status());
            let _ = response.bytes().await?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        routes.push(timing(name, samples));
    }
    app.shutdown().await?;
    Ok(OutcomesReport {
        decisions: options.decisions,
        seed_seconds,
        swept,
        sweep_seconds,
        report,
        routes,
    })
}

impl OutcomesReport {
    /// The terminal text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "frontdesk bench outcomes: {} decisions stored in {:.1} s\n\n  sweep: {} open touches settled in {:.3} s ({:.3} s per 10,000)\n  report over all of them: p50 {:.0} ms, max {:.0} ms\n\n  dashboard, through the real server:\n",
            self.decisions,
            self.seed_seconds,
            self.swept,
            self.sweep_seconds,
            self.sweep_seconds * 10_000.0 / self.swept.max(1) as f64,
            self.report.p50_ms,
            self.report.max_ms
        );
        for t in &self.routes {
            out.push_str(&format!(
                "    {:<46} p50 {:>7.1} ms   max {:>7.1} ms\n",
                t.name, t.p50_ms, t.max_ms
            ));
        }
        out
    }
}
