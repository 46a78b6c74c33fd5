//! frontdesk: a self-hosted triage and auto-reply backend for Intercom.
//!
//! Intercom posts conversation webhooks; frontdesk verifies them, stores them durably, then
//! triages the conversation, retrieves help-centre passages, drafts an answer and decides, by
//! confidence thresholds, whether to reply, leave a draft note for a teammate, or hand off.
//!
//! # Layout
//!
//! - [`config`]: layered configuration (defaults, `config/frontdesk.toml`, `FRONTDESK__*` env),
//!   secrets from the environment only.
//! - [`webhook`]: the HTTP edge (`POST /webhooks/intercom`, health, metrics). The only module
//!   that knows axum.
//! - [`store`]: SQLite on disk: the inbox of accepted events, the outbox of actions, the
//!   decision log.
//! - [`intercom`]: the Intercom wire formats, the REST client and the [`intercom::Helpdesk`]
//!   seam with its recording fake.
//! - [`triage`]: intent, sentiment, spam and handoff rules for a conversation.
//! - [`knowledge`]: the tantivy index over `knowledge/` and retrieval signals.
//! - [`llm`]: the [`llm::Drafter`] seam and the offline extractive answerer.
//! - [`actions`]: the policy that turns a draft into actions, and the executor that carries
//!   them out exactly once through the outbox.
//! - [`pipeline`]: one event through triage, knowledge, drafting and policy; the worker that
//!   drains the inbox.
//! - [`replay`]: the same pipeline over recorded notifications, with no network.
//! - [`app`]: builds and runs the service; [`bench`]: the ingest benchmark.

pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
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
