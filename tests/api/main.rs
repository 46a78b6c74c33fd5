//! One integration-test binary: the real server on a random loopback port, the real Intercom
//! client against a fake Intercom on another that validates every request against the
//! OpenAPI 2.16 spec, the real tantivy index, and the real store on disk.

#![allow(unreachable_pub)]

mod acting;
mod actions;
mod architecture;
mod browser;
mod cli;
mod client;
mod dashboard;
mod delivery;
mod drafting;
mod fake_intercom;
mod fake_llm;
mod hardening;
mod helpers;
mod injection;
mod knowledge;
mod learning;
mod outcomes;
mod policy;
mod proxy;
mod replicas;
mod spec;
mod takeover;
mod tenancy;
mod webhook;
