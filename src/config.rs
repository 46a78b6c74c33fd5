//! Configuration: built-in defaults, then `config/frontdesk.toml` (or `--config FILE`), then
//! `FRONTDESK__SECTION__KEY` environment variables, then command-line flags. Secrets come only
//! from the environment (`INTERCOM_ACCESS_TOKEN`, `INTERCOM_CLIENT_SECRET`, `OPENAI_API_KEY`)
//! and are held as [`SecretString`], whose `Debug` prints `[REDACTED]`.
//!
//! This module owns the meaning of every key; it knows nothing of how they are used.

use crate::domain::Mode;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file read when no `--config` is given (missing is fine: the defaults apply).
pub const DEFAULT_CONFIG_FILE: &str = "config/frontdesk.toml";
/// Prefix of environment overrides: `FRONTDESK__SERVER__LISTEN=0.0.0.0:8080`.
pub const ENV_PREFIX: &str = "FRONTDESK__";

/// Errors while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file named by `--config` does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// A key has the wrong type, an unknown name, or the file is not TOML.
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server and where data lives.
    pub server: ServerConfig,
    /// How to reach Intercom.
    pub intercom: IntercomConfig,
    /// Thresholds and modes that turn drafts into actions.
    pub policy: PolicyConfig,
    /// The knowledge base.
    pub knowledge: KnowledgeConfig,
    /// The triage taxonomy.
    pub triage: TriageConfig,
    /// The background worker that drains the inbox and the outbox.
    pub worker: WorkerConfig,
    /// Drafting.
    pub llm: LlmConfig,
    /// The offline replay.
    pub replay: ReplayConfig,
    /// What the store keeps.
    pub store: StoreConfig,
    /// How live outcomes are settled.
    pub outcomes: OutcomesConfig,
    /// Declared actions: calls to the team's own systems.
    pub actions: ActionsConfig,
    /// Per-workspace settings by Intercom app id; events of other workspaces use the global
    /// settings.
    pub workspaces: BTreeMap<String, WorkspaceConfig>,
    /// Secrets, from the environment only; never serialised.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Secrets read from the environment.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `INTERCOM_ACCESS_TOKEN`: bearer token for the REST API.
    pub intercom_access_token: Option<SecretString>,
    /// `INTERCOM_CLIENT_SECRET`: the app's client secret, the HMAC key of webhook signatures.
    pub intercom_client_secret: Option<SecretString>,
    /// `OPENAI_API_KEY`: key for an OpenAI-compatible endpoint.
    pub openai_api_key: Option<SecretString>,
    /// `FRONTDESK_ADMIN_TOKEN`: bearer token of the admin API (`/decisions/...`); unset, the
    /// admin API answers 401 to everyone.
    pub admin_token: Option<SecretString>,
    /// `DATABASE_URL`: a `postgres://` URL selects the PostgreSQL store; unset, SQLite under
    /// the data dir. A secret, since it may hold a password.
    pub database_url: Option<SecretString>,
}

impl Secrets {
    /// Reads the three secrets from the process environment; empty values count as unset.
    pub fn from_env() -> Self {
        let read = env_secret;
        Self {
            intercom_access_token: read("INTERCOM_ACCESS_TOKEN"),
            intercom_client_secret: read("INTERCOM_CLIENT_SECRET"),
            openai_api_key: read("OPENAI_API_KEY"),
            admin_token: read("FRONTDESK_ADMIN_TOKEN"),
            database_url: read("DATABASE_URL"),
        }
    }
}

/// A secret from the environment variable `name`; empty counts as unset.
fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(SecretString::from)
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Directory of the SQLite store (inbox, outbox, decision log).
    pub data_dir: PathBuf,
    /// Largest webhook body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// How long a graceful shutdown waits for in-flight work, in seconds.
    pub shutdown_grace_seconds: u64,
    /// Log format: `pretty` or `json`.
    pub log_format: LogFormat,
    /// Seconds a client has to send a request's headers.
    pub header_timeout_seconds: u64,
    /// Seconds a client has to send a whole webhook body (408 after).
    pub body_timeout_seconds: u64,
    /// Seconds a keep-alive connection may stay open with no request.
    pub idle_timeout_seconds: u64,
    /// Connections open at once; lowered to stay under the open-file limit. At the cap a new
    /// connection evicts the longest idle one, else the one whose request body has been
    /// arriving longest (a slow client).
    pub max_connections: usize,
    /// Connections open at once from one client address (at most `max_connections`); past
    /// it, a new one evicts that address's idlest or slowest. Behind a proxy every client
    /// shares its address: raise it to `max_connections` there.
    pub max_connections_per_address: usize,
    /// Serve the admin API (`/decisions/...`) on this address instead of `listen`; unset: on
    /// `listen`.
    pub admin_listen: Option<String>,
    /// This process's name in the store's claims, unique among the replicas sharing a
    /// database; unset: `<host name>:<listen>`. A restart under the same name takes its
    /// interrupted work back at once; another replica waits for the claim's lease to run out.
    pub replica_id: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_seconds: 10,
            log_format: LogFormat::Pretty,
            header_timeout_seconds: 10,
            body_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            max_connections: 512,
            max_connections_per_address: 256,
            admin_listen: None,
            replica_id: None,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Days the raw webhook payloads and decision inputs (which hold customer text and
    /// personal data) are kept; the decision log's outcomes and counts stay. 0 keeps them.
    pub retention_days: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

pub use crate::telemetry::LogFormat;

/// Intercom's hosting regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// `https://api.intercom.io`
    Us,
    /// `https://api.eu.intercom.io`
    Eu,
    /// `https://api.au.intercom.io`
    Au,
}

impl Region {
    /// The REST base URL of the region.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Us => "https://api.intercom.io",
            Self::Eu => "https://api.eu.intercom.io",
            Self::Au => "https://api.au.intercom.io",
        }
    }
}

/// `[intercom]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntercomConfig {
    /// Region of the workspace; picks the base URL unless `base_url` is set.
    pub region: Region,
    /// Explicit base URL (tests, proxies); overrides `region`.
    pub base_url: Option<String>,
    /// The admin the bot acts as. When unset, `serve` asks `GET /me` at start-up.
    #[serde(deserialize_with = "id_opt")]
    pub admin_id: Option<String>,
    /// Per-request timeout, in seconds.
    pub timeout_seconds: u64,
    /// Retries after a 429, a 5xx or a transport error (replies retry only what was not sent).
    pub max_retries: u32,
    /// Longest single wait between retries, in seconds.
    pub max_backoff_seconds: u64,
    /// Record actions without sending anything to Intercom.
    pub dry_run: bool,
}

impl Default for IntercomConfig {
    fn default() -> Self {
        Self {
            region: Region::Us,
            base_url: None,
            admin_id: None,
            timeout_seconds: 10,
            max_retries: 3,
            max_backoff_seconds: 60,
            dry_run: false,
        }
    }
}

impl IntercomConfig {
    /// The base URL in force: `base_url` if set, else the region's.
    pub fn effective_base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| self.region.base_url().to_owned())
            .trim_end_matches('/')
            .to_owned()
    }
}

/// `[policy]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// `autonomous`, `draft` or `shadow`.
    pub mode: Mode,
    /// Reply to the customer at or above this answer confidence (autonomous mode).
    pub reply_threshold: f64,
    /// Post the draft as an internal note at or above this confidence; below it, hand off.
    pub note_threshold: f64,
    /// Tag applied on every handoff.
    pub handoff_tag: String,
    /// Tag applied when the bot answered.
    pub answered_tag: String,
    /// Team ids by the team names used in the triage taxonomy.
    #[serde(deserialize_with = "id_map")]
    pub teams: BTreeMap<String, String>,
    /// The team (a name of `teams`) a handoff goes to when its intent names none: with an
    /// empty taxonomy, every handoff.
    pub default_team: Option<String>,
    /// Replies the bot may post in one conversation; the next customer message is handed off.
    pub max_bot_replies: u32,
    /// Hand off urgent messages as well as angry ones.
    pub handoff_on_urgent: bool,
    /// On a handoff, tell the customer (in their language) that a person will take over.
    pub handover_message: bool,
    /// Close the conversation after the bot's reply (the customer's next message reopens it).
    pub close_after_reply: bool,
    /// Outside the routed team's business hours: `open` leaves the conversation open,
    /// `snooze` snoozes it until the team is back.
    pub outside_hours: OutsideHours,
    /// Conversation custom attribute that receives the triage priority (`low`, `normal`,
    /// `high`, `urgent`). Unset: the priority is only shown in the note and the log, since
    /// the 2.16 API cannot set the conversation's own priority.
    pub priority_attribute: Option<String>,
    /// Per-intent mode and thresholds, overriding the ones above.
    pub intents: BTreeMap<String, IntentPolicyConfig>,
    /// Opening hours by team name (`default` for teams without their own).
    pub business_hours: BTreeMap<String, BusinessHoursConfig>,
    /// Share of conversations in the random holdout (control group), 0..1: there the bot
    /// decides and logs but posts nothing, so the live report can measure its effect.
    pub holdout: f64,
}

/// `[outcomes]`: how the live outcomes of the bot's replies and notes are settled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomesConfig {
    /// Hours without a customer message after the bot's touch before it counts as
    /// `assumed` resolved.
    pub quiet_hours: f64,
    /// Seconds between two sweeps for quiet touches.
    pub sweep_interval_seconds: u64,
}

impl Default for OutcomesConfig {
    fn default() -> Self {
        Self {
            quiet_hours: 24.0,
            sweep_interval_seconds: 60,
        }
    }
}

impl OutcomesConfig {
    /// The quiet period in whole seconds.
    pub fn quiet_seconds(&self) -> i64 {
        (self.quiet_hours * 3600.0).round() as i64
    }
}

/// `[actions]`: the calls the bot may make to the team's own systems.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionsConfig {
    /// The actions file (`[[action]]` tables); none there: no action.
    pub file: PathBuf,
    /// Minutes a write waits for the customer's yes before it is dropped.
    pub confirm_minutes: u64,
    /// Recorded answers (JSONL) a replay's calls are answered from: a replay never calls.
    pub fixtures: PathBuf,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::from("config/actions.toml"),
            confirm_minutes: 30,
            fixtures: PathBuf::from("knowledge/actions/fixtures.jsonl"),
        }
    }
}

/// What happens to a conversation handed off outside business hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutsideHours {
    /// Leave it open in the team's inbox.
    #[default]
    Open,
    /// Snooze it until the team's next opening.
    Snooze,
}

/// `[policy.intents.<intent>]`: what differs for one intent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntentPolicyConfig {
    /// Mode for this intent.
    pub mode: Option<Mode>,
    /// Reply threshold for this intent.
    pub reply_threshold: Option<f64>,
    /// Note threshold for this intent.
    pub note_threshold: Option<f64>,
    /// Holdout share for this intent.
    pub holdout: Option<f64>,
}

/// `[policy.business_hours.<team>]`: when a team's people answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHoursConfig {
    /// IANA time zone, e.g. `Europe/Paris`.
    pub timezone: String,
    /// Open days: `mon` … `sun`.
    pub days: Vec<String>,
    /// Opening time, `HH:MM` local.
    pub open: String,
    /// Closing time, `HH:MM` local, after `open`.
    pub close: String,
}

impl Default for BusinessHoursConfig {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
        }
    }
}

/// `[workspaces.<app_id>]`: settings of one Intercom workspace, over the global ones. Its
/// secrets come from `INTERCOM_ACCESS_TOKEN_<APP_ID>` and `INTERCOM_CLIENT_SECRET_<APP_ID>`
/// (the app id upper-cased), falling back to the global ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Region of this workspace.
    pub region: Option<Region>,
    /// Explicit base URL of this workspace.
    pub base_url: Option<String>,
    /// The admin the bot posts as in this workspace.
    #[serde(deserialize_with = "id_opt")]
    pub admin_id: Option<String>,
    /// Mode in this workspace.
    pub mode: Option<Mode>,
    /// Reply threshold in this workspace.
    pub reply_threshold: Option<f64>,
    /// Note threshold in this workspace.
    pub note_threshold: Option<f64>,
    /// Holdout share in this workspace.
    pub holdout: Option<f64>,
    /// Team ids in this workspace (replace the global ones when given).
    #[serde(deserialize_with = "id_map")]
    pub teams: BTreeMap<String, String>,
    /// Per-intent overrides in this workspace (replace the global ones when given).
    pub intents: BTreeMap<String, IntentPolicyConfig>,
    /// Whether this workspace's Help Center articles (its `article.*` webhooks and
    /// `sync-articles --workspace`) join the one knowledge base every workspace answers from.
    /// Off by default: a workspace's articles never become another workspace's answers.
    pub share_knowledge: bool,
    /// Whether this workspace decides with what `frontdesk learn` learnt from the global
    /// workspace's history (`<data dir>/learned/`) instead of its own (`learn --workspace`).
    /// Off by default: one workspace's customers and teammates never reach another's notes.
    pub share_learned: bool,
    /// Secrets of this workspace, from the environment.
    #[serde(skip)]
    pub secrets: WorkspaceSecrets,
}

/// A workspace's own secrets.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceSecrets {
    /// `INTERCOM_ACCESS_TOKEN_<APP_ID>`.
    pub intercom_access_token: Option<SecretString>,
    /// `INTERCOM_CLIENT_SECRET_<APP_ID>`.
    pub intercom_client_secret: Option<SecretString>,
}

/// The suffix of a workspace's secret variables: the app id upper-cased, other characters
/// than letters and digits as `_`.
pub fn workspace_env_suffix(app_id: &str) -> String {
    app_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Autonomous,
            reply_threshold: 0.7,
            note_threshold: 0.35,
            handoff_tag: "frontdesk-handoff".into(),
            answered_tag: "frontdesk-answered".into(),
            teams: BTreeMap::new(),
            default_team: None,
            max_bot_replies: 1,
            handoff_on_urgent: true,
            handover_message: false,
            close_after_reply: false,
            outside_hours: OutsideHours::Open,
            priority_attribute: None,
            intents: BTreeMap::new(),
            business_hours: BTreeMap::new(),
            holdout: 0.0,
        }
    }
}

/// `[knowledge]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Folder of Markdown articles with front matter.
    pub dir: PathBuf,
    /// Passages retrieved per question.
    pub top_k: usize,
    /// Follow symbolic links that lead outside the knowledge folder (links inside it are
    /// always followed).
    pub follow_symlinks: bool,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("knowledge"),
            top_k: 5,
            follow_symlinks: false,
        }
    }
}

/// `[triage]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// The taxonomy: intents, examples, routing, handoff rules.
    pub intents_file: PathBuf,
    /// Labelled past conversations to train on as well (CSV `text,label` with a header, or
    /// JSONL `{"text","label"}`); unset by default.
    pub training_file: Option<PathBuf>,
}

impl Default for TriageConfig {
    fn default() -> Self {
        Self {
            intents_file: PathBuf::from("config/intents.toml"),
            training_file: None,
        }
    }
}

/// `[worker]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// How often the worker looks at the inbox and outbox when nothing woke it, in ms.
    pub poll_interval_ms: u64,
    /// Attempts at processing one event before it is marked failed.
    pub max_event_attempts: u32,
    /// Attempts at one action before it is dead-lettered.
    pub max_action_attempts: u32,
    /// First wait before an action is retried, in ms; doubles each attempt.
    pub action_retry_base_ms: u64,
    /// Events decided at once: those of different conversations run in parallel, each
    /// conversation's in order.
    pub decision_concurrency: usize,
    /// Seconds a claimed event stays this replica's without a heartbeat renewing it; the
    /// heartbeat renews it while the event is being decided, however long that takes. A
    /// replica that dies lets its events go after this at most.
    pub event_lease_seconds: u64,
    /// Seconds claimed actions stay this replica's without a heartbeat renewing them; 0: as
    /// `event_lease_seconds`.
    pub action_lease_seconds: u64,
    /// How often each replica records that it is alive and renews the leases of the claims
    /// it holds (one statement), in seconds; 0 turns the heartbeat off, and then the leases
    /// must outlast the slowest decision and send. A replica not seen for four heartbeats is
    /// taken for dead: the others take its claims over at once.
    pub heartbeat_seconds: u64,
}

impl WorkerConfig {
    /// How long a replica not seen is taken for alive, in seconds: four heartbeats, never
    /// past the shorter lease (0 without a heartbeat).
    pub fn dead_after_seconds(&self) -> u64 {
        (self.heartbeat_seconds * 4).min(self.event_lease_seconds.min(self.action_lease()))
    }

    /// `action_lease_seconds`, its default applied.
    pub fn action_lease(&self) -> u64 {
        match self.action_lease_seconds {
            0 => self.event_lease_seconds,
            set => set,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 500,
            max_event_attempts: 5,
            max_action_attempts: 5,
            action_retry_base_ms: 2_000,
            decision_concurrency: 4,
            event_lease_seconds: 15,
            action_lease_seconds: 0,
            heartbeat_seconds: 2,
        }
    }
}

/// `[llm]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Folder of the prompt templates (`system.j2`, `answer.j2`, `handover.j2`).
    pub prompts_dir: PathBuf,
    /// Base URL of an OpenAI-compatible API, with `/v1`; unset: the offline extractive drafter.
    pub api_base: Option<String>,
    /// Model name sent to the endpoint.
    pub model: String,
    /// Per-request timeout, seconds.
    pub timeout_seconds: u64,
    /// Largest answer, in tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Drafts in flight at once.
    pub max_concurrency: usize,
    /// How the reply's JSON shape is asked of the endpoint.
    pub structured: Structured,
}

/// `llm.structured`: how the endpoint is asked for the reply's JSON shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Structured {
    /// `response_format` with a bounded JSON schema built per request (every field required,
    /// citations limited to the passage ids given, lengths capped): servers that enforce it
    /// (llama.cpp, vLLM, OpenAI) cannot produce anything else.
    #[default]
    JsonSchema,
    /// `response_format: json_object`: any JSON object.
    JsonObject,
    /// No `response_format`; the prompt alone asks for JSON (endpoints that reject it).
    Off,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            prompts_dir: PathBuf::from("prompts"),
            api_base: None,
            model: "gpt-4o-mini".into(),
            timeout_seconds: 30,
            max_tokens: 400,
            temperature: 0.2,
            max_concurrency: 4,
            structured: Structured::JsonSchema,
        }
    }
}

/// `[replay]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Folder of recorded webhook notifications (`*.json`), for `replay --samples`.
    pub samples_dir: PathBuf,
    /// The history export `replay` simulates on by default.
    pub history_file: PathBuf,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            samples_dir: PathBuf::from("knowledge/samples"),
            history_file: PathBuf::from("knowledge/history/conversations.jsonl"),
        }
    }
}

/// An id written as a string or a number (environment values arrive as numbers).
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(u64),
}

impl From<Id> for String {
    fn from(id: Id) -> Self {
        match id {
            Id::Text(text) => text,
            Id::Number(number) => number.to_string(),
        }
    }
}

fn id_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Id>::deserialize(d)?
        .map(String::from)
        .filter(|s| !s.is_empty()))
}

fn id_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(BTreeMap::<String, Id>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect())
}

/// How serious a configuration problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `serve` refuses to start.
    Error,
    /// Works, but probably not as intended.
    Warning,
}

/// The problems found so far.
#[derive(Debug, Default)]
struct Found(Vec<Problem>);

impl Found {
    fn error(&mut self, key: &'static str, message: String) {
        self.0.push(Problem {
            severity: Severity::Error,
            key,
            message,
        });
    }
}

/// One problem found by [`Config::problems`], explained in one line.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The key concerned, e.g. `policy.reply_threshold`.
    pub key: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Config {
    /// Loads defaults, then the file (`path`, or [`DEFAULT_CONFIG_FILE`] when present), then the
    /// environment, then reads the secrets.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => return Err(Error::Missing(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                if default.exists() {
                    figment = figment.merge(Toml::file_exact(default));
                }
            }
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let mut config: Config = figment.extract().map_err(|e| Error::Invalid(Box::new(e)))?;
        config.secrets = Secrets::from_env();
        for (app_id, workspace) in &mut config.workspaces {
            let suffix = workspace_env_suffix(app_id);
            let read = |name: &str| env_secret(&format!("{name}_{suffix}"));
            workspace.secrets = WorkspaceSecrets {
                intercom_access_token: read("INTERCOM_ACCESS_TOKEN"),
                intercom_client_secret: read("INTERCOM_CLIENT_SECRET"),
            };
        }
        Ok(config)
    }

    /// The policy settings in force for workspace `app_id`: the global ones with the
    /// workspace's overrides.
    pub fn policy_for(&self, app_id: &str) -> PolicyConfig {
        let mut policy = self.policy.clone();
        if let Some(w) = self.workspaces.get(app_id) {
            policy.mode = w.mode.unwrap_or(policy.mode);
            policy.reply_threshold = w.reply_threshold.unwrap_or(policy.reply_threshold);
            policy.note_threshold = w.note_threshold.unwrap_or(policy.note_threshold);
            policy.holdout = w.holdout.unwrap_or(policy.holdout);
            if !w.teams.is_empty() {
                policy.teams = w.teams.clone();
            }
            if !w.intents.is_empty() {
                policy.intents = w.intents.clone();
            }
        }
        policy
    }

    /// The PostgreSQL URL of the store, when one is set (`DATABASE_URL`, `--database-url`).
    pub fn database_url(&self) -> Option<&str> {
        self.secrets.database_url.as_ref().map(|u| u.expose_secret())
    }

    /// This process's name in the store's claims (`server.replica_id`, else
    /// `<host name>:<listen>`).
    pub fn replica_id(&self) -> String {
        self.server.replica_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "frontdesk".into());
            format!("{host}:{}", self.server.listen)
        })
    }

    /// The Intercom settings in force for workspace `app_id`.
    pub fn intercom_for(&self, app_id: &str) -> IntercomConfig {
        let mut intercom = self.intercom.clone();
        if let Some(w) = self.workspaces.get(app_id) {
            if let Some(region) = w.region {
                intercom.region = region;
                intercom.base_url = None;
            }
            if w.base_url.is_some() {
                intercom.base_url = w.base_url.clone();
            }
            if w.admin_id.is_some() {
                intercom.admin_id = w.admin_id.clone();
            }
        }
        intercom
    }

    /// The client secret that signs webhooks of workspace `app_id`.
    pub fn client_secret_for(&self, app_id: &str) -> Option<&SecretString> {
        self.workspaces
            .get(app_id)
            .and_then(|w| w.secrets.intercom_client_secret.as_ref())
            .or(self.secrets.intercom_client_secret.as_ref())
    }

    /// The access token of workspace `app_id`.
    pub fn access_token_for(&self, app_id: &str) -> Option<&SecretString> {
        self.workspaces
            .get(app_id)
            .and_then(|w| w.secrets.intercom_access_token.as_ref())
            .or(self.secrets.intercom_access_token.as_ref())
    }

    /// Why the knowledge base cannot serve: `knowledge.dir` is missing, or no source holds an
    /// article (`articles` is how many were read). One line naming the path.
    pub fn knowledge_problem(&self, articles: Option<usize>) -> Option<String> {
        let dir = &self.knowledge.dir;
        if !dir.is_dir() {
            return Some(format!(
                "knowledge dir {} does not exist (set knowledge.dir or FRONTDESK__KNOWLEDGE__DIR to your help articles)",
                dir.display()
            ));
        }
        (articles == Some(0)).then(|| {
            format!(
                "knowledge dir {} holds no article (Markdown files with front matter), and no Help Center article is synced in {}",
                dir.display(),
                self.synced_articles_dir().display()
            )
        })
    }

    /// Where articles are read from: the knowledge folder, the synced Help Center articles of
    /// the global workspace under the data dir, and those of each workspace that shares its
    /// knowledge.
    pub fn knowledge_sources(&self) -> Vec<PathBuf> {
        let mut sources = vec![self.knowledge.dir.clone(), self.synced_articles_dir()];
        sources.extend(
            self.workspaces
                .iter()
                .filter(|(_, w)| w.share_knowledge)
                .map(|(app, _)| self.workspace_articles_dir(app)),
        );
        sources
    }

    /// Where the synced articles of configured workspace `app_id` go.
    fn workspace_articles_dir(&self, app_id: &str) -> PathBuf {
        self.workspace_dir("articles", app_id)
    }

    /// Where Help Center articles of workspace `app_id` are written (`None`: the global
    /// workspace); an error saying why when that workspace does not share its knowledge.
    pub fn articles_dir_for(&self, app_id: Option<&str>) -> Result<PathBuf, String> {
        match app_id.and_then(|app| self.workspaces.get(app).map(|w| (app, w))) {
            None => Ok(self.synced_articles_dir()),
            Some((app, w)) if w.share_knowledge => Ok(self.workspace_articles_dir(app)),
            Some((app, _)) => Err(format!(
                "workspace {app} does not share its knowledge (set workspaces.{app}.share_knowledge = true to let its articles answer every workspace)"
            )),
        }
    }

    /// Where `sync-articles` and `article.*` webhooks write Help Center articles.
    pub fn synced_articles_dir(&self) -> PathBuf {
        self.server.data_dir.join("articles")
    }

    /// Where `frontdesk train` caches the trained intent model.
    pub fn model_cache(&self) -> PathBuf {
        self.server.data_dir.join("triage-model.json")
    }

    /// Where `frontdesk learn` writes what it learnt from the global workspace's history.
    pub fn learned_dir(&self) -> PathBuf {
        self.server.data_dir.join(LEARNED_DIR)
    }

    /// What workspace `app_id` learns into and decides with (`None`: the global workspace):
    /// a configured workspace has a folder of its own unless it shares the global one
    /// (`share_learned`); any other app id is the global workspace's.
    pub fn learned_dir_for(&self, app_id: Option<&str>) -> PathBuf {
        match app_id.and_then(|app| self.workspaces.get(app).map(|w| (app, w))) {
            Some((app, w)) if !w.share_learned => self.workspace_dir(LEARNED_DIR, app),
            _ => self.learned_dir(),
        }
    }

    /// Where `frontdesk replay` writes its report for workspace `app_id` (`None`, or an app
    /// id the configuration does not name: the global workspace's `<data dir>/replay/`, which
    /// the live report compares with).
    pub fn replay_dir_for(&self, app_id: Option<&str>) -> PathBuf {
        match app_id.filter(|app| self.workspaces.contains_key(*app)) {
            Some(app) => self.workspace_dir("replay", app),
            None => self.server.data_dir.join("replay"),
        }
    }

    /// `<data dir>/<name>-workspace-<hex app id>`: a configured workspace's own folder (hex,
    /// so that any app id maps to a folder name of its own).
    fn workspace_dir(&self, name: &str, app_id: &str) -> PathBuf {
        self.server
            .data_dir
            .join(format!("{name}-workspace-{}", hex::encode(app_id)))
    }

    /// The configured workspaces that learn apart from the global one (their learned data
    /// is theirs alone).
    pub fn workspaces_learning_apart(&self) -> impl Iterator<Item = &str> {
        self.workspaces
            .iter()
            .filter(|(_, w)| !w.share_learned)
            .map(|(app, _)| app.as_str())
    }

    /// Where the on-disk index lives.
    pub fn index_dir(&self) -> PathBuf {
        self.server.data_dir.join("index")
    }

    /// Every problem with this configuration's own values for running `serve`, one line
    /// each. What only a component can check (prompt templates, business hours) is added by
    /// `app::preflight`.
    pub fn problems(&self) -> Vec<Problem> {
        let mut found = Found::default();
        self.server_problems(&mut found);
        self.policy_problems(&mut found);
        self.integration_problems(&mut found);
        found.0
    }

    /// Addresses, timeouts, limits and the admin token.
    fn server_problems(&self, found: &mut Found) {
        if self.server.listen.parse::<SocketAddr>().is_err() {
            found.error(
                "server.listen",
                format!("{:?} is not an address like 127.0.0.1:8080", self.server.listen),
            );
        }
        if let Some(admin) = &self.server.admin_listen
            && admin.parse::<SocketAddr>().is_err()
        {
            found.error(
                "server.admin_listen",
                format!("{admin:?} is not an address like 127.0.0.1:9090"),
            );
        }
        for (key, value) in [
            (
                "server.header_timeout_seconds",
                self.server.header_timeout_seconds,
            ),
            ("server.body_timeout_seconds", self.server.body_timeout_seconds),
            ("server.idle_timeout_seconds", self.server.idle_timeout_seconds),
        ] {
            if value == 0 {
                found.error(key, "must be at least 1 second".into());
            }
        }
        // A time added to a clock's reading must stay far from its range's end: `u64::MAX`
        // seconds once passed here and made every connection panic.
        for (key, seconds) in [
            (
                "server.header_timeout_seconds",
                self.server.header_timeout_seconds,
            ),
            ("server.body_timeout_seconds", self.server.body_timeout_seconds),
            ("server.idle_timeout_seconds", self.server.idle_timeout_seconds),
            (
                "server.shutdown_grace_seconds",
                self.server.shutdown_grace_seconds,
            ),
            ("intercom.timeout_seconds", self.intercom.timeout_seconds),
            ("intercom.max_backoff_seconds", self.intercom.max_backoff_seconds),
            ("llm.timeout_seconds", self.llm.timeout_seconds),
            ("worker.event_lease_seconds", self.worker.event_lease_seconds),
            ("worker.action_lease_seconds", self.worker.action_lease_seconds),
            ("worker.heartbeat_seconds", self.worker.heartbeat_seconds),
            ("worker.poll_interval_ms", self.worker.poll_interval_ms / 1000),
            (
                "worker.action_retry_base_ms",
                self.worker.action_retry_base_ms / 1000,
            ),
            (
                "outcomes.sweep_interval_seconds",
                self.outcomes.sweep_interval_seconds,
            ),
            (
                "actions.confirm_minutes",
                self.actions.confirm_minutes.saturating_mul(60),
            ),
        ] {
            if seconds > MAX_DURATION_SECONDS {
                found.error(
                    key,
                    format!("is over a week ({MAX_DURATION_SECONDS} s); no timeout, lease or interval here needs that long"),
                );
            }
        }
        let lease = self.worker.event_lease_seconds.min(self.worker.action_lease());
        if self.worker.heartbeat_seconds > 0 && self.worker.heartbeat_seconds * 3 > lease {
            found.error(
                "worker.heartbeat_seconds",
                format!("must be at most a third of the shorter lease ({lease} s), so that a missed heartbeat or two does not let a live replica's claims go"),
            );
        }
        if self.server.max_connections == 0 {
            found.error("server.max_connections", "must be at least 1".into());
        }
        if self.server.max_connections_per_address == 0 {
            found.error("server.max_connections_per_address", "must be at least 1".into());
        }
        if let Some(token) = &self.secrets.admin_token
            && token.expose_secret().chars().count() < MIN_ADMIN_TOKEN_CHARS
        {
            found.error(
                "FRONTDESK_ADMIN_TOKEN",
                format!(
                    "is {} characters long; it must have at least {MIN_ADMIN_TOKEN_CHARS} (for example: openssl rand -hex 32)",
                    token.expose_secret().chars().count()
                ),
            );
        }
        if self.server.body_limit_bytes < 1024 {
            found.error(
                "server.body_limit_bytes",
                "must be at least 1024 bytes; Intercom notifications are several KiB".into(),
            );
        }
    }

    /// Thresholds, holdouts and the outcome settings, globally and per workspace.
    fn policy_problems(&self, found: &mut Found) {
        for (key, value) in [
            ("policy.reply_threshold", self.policy.reply_threshold),
            ("policy.note_threshold", self.policy.note_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                found.error(key, format!("{value} is outside 0..=1"));
            }
        }
        if self.policy.note_threshold > self.policy.reply_threshold {
            found.error(
                "policy.note_threshold",
                format!(
                    "{} is above policy.reply_threshold {}: drafts would need more confidence than replies",
                    self.policy.note_threshold, self.policy.reply_threshold
                ),
            );
        }
        for (scope, policy) in std::iter::once(("policy".to_owned(), self.policy.clone())).chain(
            self.workspaces
                .keys()
                .map(|app| (format!("workspaces.{app}"), self.policy_for(app))),
        ) {
            let holdouts = std::iter::once((scope.clone(), policy.holdout)).chain(
                policy
                    .intents
                    .iter()
                    .filter_map(|(intent, o)| o.holdout.map(|h| (format!("{scope}.intents.{intent}"), h))),
            );
            for (key, holdout) in holdouts {
                if !(0.0..1.0).contains(&holdout) {
                    found.error(
                        "policy.holdout",
                        format!("{key}.holdout: {holdout} must lie in 0..1 (a share of conversations)"),
                    );
                }
            }
            for (intent, o) in &policy.intents {
                let reply = o.reply_threshold.unwrap_or(policy.reply_threshold);
                let note = o.note_threshold.unwrap_or(policy.note_threshold);
                if !(0.0..=1.0).contains(&reply) || !(0.0..=1.0).contains(&note) || note > reply {
                    found.error(
                        "policy.intents",
                        format!(
                            "{scope}.intents.{intent}: thresholds must lie in 0..=1 with note ≤ reply (note {note}, reply {reply})"
                        ),
                    );
                }
            }
            // The global thresholds are checked above; here, a workspace's own.
            if scope != "policy"
                && (!(0.0..=1.0).contains(&policy.reply_threshold)
                    || policy.note_threshold > policy.reply_threshold)
            {
                found.error(
                    "workspaces",
                    format!("{scope}: thresholds must lie in 0..=1 with note ≤ reply"),
                );
            }
        }
        if !(self.outcomes.quiet_hours > 0.0 && self.outcomes.quiet_hours <= 24.0 * 30.0) {
            found.error(
                "outcomes.quiet_hours",
                format!("{} must lie in (0, 720] hours", self.outcomes.quiet_hours),
            );
        }
        if self.outcomes.sweep_interval_seconds == 0 {
            found.error("outcomes.sweep_interval_seconds", "must be at least 1".into());
        }
    }

    /// Intercom, the secrets, the knowledge, the worker, the taxonomy and the teams.
    fn integration_problems(&self, found: &mut Found) {
        if let Some(url) = &self.intercom.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            found.error(
                "intercom.base_url",
                format!("{url:?} must start with http:// or https://"),
            );
        }
        if self.secrets.intercom_client_secret.is_none() {
            found.error(
                "INTERCOM_CLIENT_SECRET",
                "is not set: webhooks cannot be verified, so serve would reject every one (set it to the app's client secret)".into(),
            );
        }
        if !self.intercom.dry_run && self.secrets.intercom_access_token.is_none() {
            found.error(
                "INTERCOM_ACCESS_TOKEN",
                "is not set: nothing can be posted to Intercom (set it, or run with --dry-run)".into(),
            );
        }
        if !self.knowledge.dir.is_dir() {
            found.error(
                "knowledge.dir",
                format!(
                    "{} is not a folder of Markdown articles",
                    self.knowledge.dir.display()
                ),
            );
        }
        let no_taxonomy = !self.triage.intents_file.is_file();
        if self.worker.max_action_attempts == 0 || self.worker.max_event_attempts == 0 {
            found.error("worker", "attempt counts must be at least 1".into());
        }
        if no_taxonomy {
            found.0.push(Problem {
                severity: Severity::Warning,
                key: "triage.intents_file",
                message: format!(
                    "{} does not exist: no taxonomy, so every question goes to the knowledge base and handoffs go to policy.default_team (`frontdesk learn` proposes intents from your history)",
                    self.triage.intents_file.display()
                ),
            });
        }
        if let Some(team) = &self.policy.default_team
            && !self.policy.teams.contains_key(team)
        {
            found.0.push(Problem {
                severity: Severity::Error,
                key: "policy.default_team",
                message: format!("{team:?} is not a team name of [policy.teams]"),
            });
        }
        if self.policy.teams.is_empty() {
            found.0.push(Problem {
                severity: Severity::Warning,
                key: "policy.teams",
                message: "no team ids are configured: handoffs are tagged but not assigned".into(),
            });
        }
    }

    /// The effective configuration as TOML, with the secrets shown only as set or unset and
    /// credentials in URLs masked.
    pub fn render_masked(&self) -> String {
        let mut shown = self.clone();
        for url in std::iter::once(&mut shown.llm.api_base)
            .chain(std::iter::once(&mut shown.intercom.base_url))
            .chain(shown.workspaces.values_mut().map(|w| &mut w.base_url))
            .flatten()
        {
            *url = describe_connection_credentials(url);
        }
        let mut out = toml::to_string_pretty(&shown).unwrap_or_else(|error| format!("# {error}\n"));
        // Set or unset, nothing more: not even a length, which narrows a guess.
        let mask = |s: &Option<SecretString>| match s {
            Some(_) => "\"set (masked)\"".to_owned(),
            None => "\"unset\"".to_owned(),
        };
        let _ = write!(
            out,
            "\n# from the environment only\n[secrets]\nINTERCOM_ACCESS_TOKEN = {}\nINTERCOM_CLIENT_SECRET = {}\nOPENAI_API_KEY = {}\nFRONTDESK_ADMIN_TOKEN = {}\nDATABASE_URL = {}\n",
            mask(&self.secrets.intercom_access_token),
            mask(&self.secrets.intercom_client_secret),
            mask(&self.secrets.openai_api_key),
            mask(&self.secrets.admin_token),
            self.secrets.database_url.as_ref().map_or_else(
                || "\"unset (SQLite under the data dir)\"".to_owned(),
                |_| "\"set (masked; the store it names is shown below)\"".to_owned()
            ),
        );
        out
    }
}

/// The folder of the data dir where `frontdesk learn` writes (a configured workspace's own
/// is `<this>-workspace-<hex app id>`).
pub const LEARNED_DIR: &str = "learned";

/// The longest timeout, lease or interval accepted: a week.
pub const MAX_DURATION_SECONDS: u64 = 7 * 86_400;

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// `url` with its user info and the values of credential-like query parameters masked.
pub fn describe_connection_credentials(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut masked = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _))
                    if ["key", "token", "secret", "password", "sig", "auth"]
                        .iter()
                        .any(|word| name.to_ascii_lowercase().contains(word)) =>
                {
                    format!("{name}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        masked.push('?');
        masked.push_str(&pairs.join("&"));
    }
    masked
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's error type
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            describe_connection_credentials(
                "https://user:pa55@llm.example.com/v1?api-version=2024&api-key=abc"
            ),
            "https://***@llm.example.com/v1?api-version=2024&api-key=***"
        );
        assert_eq!(
            describe_connection_credentials("http://127.0.0.1:8089/v1"),
            "http://127.0.0.1:8089/v1"
        );
        let mut config = Config::default();
        config.llm.api_base = Some("https://sk-live-secret@llm.example.com/v1?token=t0k".into());
        let rendered = config.render_masked();
        assert!(
            !rendered.contains("sk-live-secret") && !rendered.contains("t0k"),
            "{rendered}"
        );
        assert!(
            rendered.contains("header_timeout_seconds = 10"),
            "the limits are shown"
        );
    }

    /// L7: a timeout of `u64::MAX` seconds is an error (and the server's limits stay within
    /// a week whatever was configured: `webhook::serve`'s tests).
    #[test]
    fn timeouts_past_a_week_are_errors_and_never_reach_the_server() {
        let mut config = Config::default();
        config.server.idle_timeout_seconds = u64::MAX;
        config.server.header_timeout_seconds = u64::MAX;
        config.worker.event_lease_seconds = u64::MAX;
        let keys: Vec<&str> = config
            .problems()
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.key)
            .collect();
        for key in [
            "server.idle_timeout_seconds",
            "server.header_timeout_seconds",
            "worker.event_lease_seconds",
        ] {
            assert!(keys.contains(&key), "{key}: {keys:?}");
        }
        config.server.idle_timeout_seconds = MAX_DURATION_SECONDS;
        config.server.header_timeout_seconds = 10;
        config.worker.event_lease_seconds = 300;
        let left: Vec<&str> = config.problems().into_iter().map(|p| p.key).collect();
        assert!(
            !left.iter().any(|k| k.contains("timeout") || k.contains("lease")),
            "{left:?}"
        );
    }

    #[test]
    fn a_heartbeat_must_come_three_times_per_lease() {
        let mut config = Config::default();
        assert_eq!(config.worker.dead_after_seconds(), 8, "four heartbeats of 2 s");
        let keys = |c: &Config| -> Vec<&str> { c.problems().into_iter().map(|p| p.key).collect() };
        assert!(!keys(&config).contains(&"worker.heartbeat_seconds"));
        config.worker.heartbeat_seconds = 6;
        assert!(
            keys(&config).contains(&"worker.heartbeat_seconds"),
            "one missed beat and the lease is gone"
        );
        config.worker.event_lease_seconds = 60;
        assert!(!keys(&config).contains(&"worker.heartbeat_seconds"));
        assert_eq!(config.worker.dead_after_seconds(), 24);
        config.worker.action_lease_seconds = 10;
        assert!(
            keys(&config).contains(&"worker.heartbeat_seconds"),
            "the shorter lease counts"
        );
        config.worker.heartbeat_seconds = 0;
        assert!(!keys(&config).contains(&"worker.heartbeat_seconds"), "off");
    }

    #[test]
    fn a_short_admin_token_is_an_error() {
        let mut config = Config::default();
        config.secrets.admin_token = Some(SecretString::from("a"));
        assert!(
            config
                .problems()
                .iter()
                .any(|p| p.key == "FRONTDESK_ADMIN_TOKEN" && p.severity == Severity::Error)
        );
        config.secrets.admin_token = Some(SecretString::from("x".repeat(32)));
        assert!(!config.problems().iter().any(|p| p.key == "FRONTDESK_ADMIN_TOKEN"));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut config = Config::default();
        config.secrets.intercom_access_token = Some(SecretString::from("tok_very_secret"));
        config.secrets.intercom_client_secret = Some(SecretString::from("client_secret_xyz"));
        let debug = format!("{config:?}");
        let rendered = config.render_masked();
        for text in [debug, rendered] {
            assert!(!text.contains("tok_very_secret"), "{text}");
            assert!(!text.contains("client_secret_xyz"), "{text}");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "f.toml",
                "[server]\nlisten = \"127.0.0.1:1\"\n[policy]\nreply_threshold = 0.9\n",
            )?;
            jail.set_env("FRONTDESK__SERVER__LISTEN", "127.0.0.1:2");
            jail.set_env("FRONTDESK__INTERCOM__ADMIN_ID", "991267696");
            jail.set_env("FRONTDESK__POLICY__TEAMS__ORDERS", "5017691");
            let config = Config::load(Some(Path::new("f.toml"))).expect("loads");
            assert_eq!(config.server.listen, "127.0.0.1:2");
            assert!((config.policy.reply_threshold - 0.9).abs() < 1e-6);
            assert_eq!(config.intercom.admin_id.as_deref(), Some("991267696"));
            assert_eq!(config.policy.teams["orders"], "5017691");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("f.toml", "[policy]\nreply_treshold = 0.9\n")?;
            let error = Config::load(Some(Path::new("f.toml"))).expect_err("typo is caught");
            assert!(error.to_string().contains("reply_treshold"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn inverted_thresholds_are_a_problem() {
        let mut config = Config::default();
        config.policy.note_threshold = 0.9;
        config.policy.reply_threshold = 0.5;
        let problems = config.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.key == "policy.note_threshold" && p.severity == Severity::Error)
        );
    }
}
