//! frontdesk: a self-hosted triage and auto-reply backend for Intercom.
//!
//! Intercom posts conversation webhooks; frontdesk verifies them, stores them durably, then
//! triages the conversation, retrieves help-centre passages, drafts an answer and decides, by
//! confidence thresholds, whether to reply, leave a draft note for a teammate, or hand off.
//!
//! # Layout
//!
//! One folder per stage; each module's doc says what it owns and ARCHITECTURE.md's table
//! what it must not know (a test holds the code to it). Imports go one way: no module
//! reaches itself through what it imports.
//!
//! - [`webhook`]: the HTTP edge (`POST /webhooks/intercom`, the admin API and dashboard,
//!   health, metrics) and the server loop's limits. The only module that knows axum.
//! - [`store`]: the inbox of accepted events, the decision log, the outbox, conversation
//!   state and live results, over SQLite (`store/sqlite/`) or PostgreSQL
//!   (`store/postgres/`), every conversation named with its workspace.
//! - [`pipeline`]: one event through the stages ([`pipeline::Pipeline`], the one stage
//!   sequence `serve`, `replay`, `ask` and the evaluations all run), each workspace's
//!   pipeline, and the worker that takes events and records decisions.
//! - [`triage`]: intent, language, sentiment, spam and handoff rules.
//! - [`knowledge`]: the tantivy index over the help articles, and retrieval signals.
//! - [`llm`]: the [`llm::Drafter`] seam, the extractive and OpenAI-compatible drafters,
//!   grounding, the injection guard, redaction.
//! - [`policy`]: deciding: outcome, reason and [`policy::Action`]s by mode and thresholds.
//! - [`outbox`]: delivering: the actions, exactly once, through [`intercom::Helpdesk`].
//! - [`intercom`]: Intercom's wire formats, the REST client and its recording fake.
//! - [`outcomes`]: live results (what became of each reply and note) and their report.
//! - [`learn`]: what a team's history teaches; [`replay`]: the simulation over a history
//!   export, and recorded notifications; [`helpcenter`]: the Help Center mirrored.
//! - [`config`]: plain values (defaults, `config/frontdesk.toml`, `FRONTDESK__*` env),
//!   secrets from the environment only; it knows no component.
//! - Leaves, importing nothing above them: [`domain`] (the shared vocabulary), [`clock`],
//!   [`files`], [`metrics`], [`runtime`], [`stats`], [`telemetry`], [`text`].
//! - [`app`]: builds and runs the service; [`cli`]: one file per command; [`bench`]: the
//!   benchmarks.

pub mod actions;
pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod files;
pub mod helpcenter;
pub mod intercom;
pub mod knowledge;
pub mod learn;
pub mod llm;
pub mod metrics;
pub mod outbox;
pub mod outcomes;
pub mod pipeline;
pub mod policy;
pub mod replay;
pub mod runtime;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod triage;
pub mod webhook;

/// Installs the process-wide rustls crypto provider (ring). Every binary and test that builds
/// an HTTP client calls this first; calling it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
