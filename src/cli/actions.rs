//! `frontdesk actions`: the declared actions, checked (`list`), and one of them called by
//! hand (`test NAME --input k=v [--dry-run]`), as an operator tries a new one.

use crate::actions::{ActionApi, Actions, HttpApi};
use crate::config::Config;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// `actions` subcommands.
#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// The declared actions, checked: each with its risk, method, URL (secrets masked),
    /// inputs and where their values come from.
    List,
    /// Call one action by hand with the values given (`--dry-run`: show the request only).
    Test(Test),
    /// Serve the demo shop the shipped actions call (`config/actions.toml`), until stopped.
    DemoShop {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: String,
        /// The bearer token it takes (the shipped actions send SHOP_API_TOKEN, default
        /// demo-token).
        #[arg(long, default_value = "demo-token")]
        token: String,
    },
}

/// `actions test` flags.
#[derive(Debug, Args)]
pub struct Test {
    /// The action's name.
    name: String,
    /// An input's value, `name=value` (bound inputs too: by hand, the operator binds them).
    #[arg(long = "input", value_name = "NAME=VALUE", value_parser = pair)]
    inputs: Vec<(String, String)>,
    /// Show the request that would be made, and make none.
    #[arg(long)]
    dry_run: bool,
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not name=value"))
}

/// The declared actions of `config`, or every problem in one message.
pub(super) fn load(config: &Config) -> anyhow::Result<Actions> {
    Actions::load(&config.actions.file, &|name| std::env::var(name).ok()).map_err(|problems| {
        anyhow::anyhow!(
            "the actions file has {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        )
    })
}

impl ActionsCommand {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        match self {
            Self::List => {
                print!("{}", render_list(&load(config)?, &config.actions.file));
                Ok(ExitCode::SUCCESS)
            }
            Self::Test(test) => test.run(&load(config)?).await,
            Self::DemoShop { listen, token } => {
                let shop = crate::bench::shop::DemoShop::start(&listen, &token)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                println!(
                    "demo shop on {} (orders 12345 and 23456 of ann@example.com, 34567 and 45678 of bob@example.com); Ctrl-C stops it",
                    shop.url()
                );
                tokio::signal::ctrl_c().await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// The actions as `list` and `check-config` show them.
pub(super) fn render_list(actions: &Actions, file: &std::path::Path) -> String {
    use std::fmt::Write as _;
    if actions.actions.is_empty() {
        return format!("no action is declared ({} holds none)\n", file.display());
    }
    let mut out = format!(
        "{} action(s) from {}, calling {}:\n",
        actions.actions.len(),
        file.display(),
        actions.hosts.join(", ")
    );
    for action in &actions.actions {
        let inputs: Vec<String> = action
            .inputs
            .iter()
            .map(|(name, input)| format!("{name} ({})", input.source))
            .collect();
        let _ = writeln!(
            out,
            "  {} [{}{}] {} {} — {}; inputs: {}",
            action.name,
            match action.risk {
                crate::actions::Risk::Read => "read",
                crate::actions::Risk::Write => "write",
            },
            if action.confirm { ", confirmed" } else { "" },
            action.method.as_str(),
            action.url.shown(),
            action.description,
            if inputs.is_empty() {
                "none".to_owned()
            } else {
                inputs.join(", ")
            }
        );
    }
    out
}

impl Test {
    async fn run(self, actions: &Actions) -> anyhow::Result<ExitCode> {
        let Some(spec) = actions.get(&self.name) else {
            let names: Vec<&str> = actions.actions.iter().map(|a| a.name.as_str()).collect();
            bail!(
                "no action {} is declared (declared: {})",
                self.name,
                names.join(", ")
            );
        };
        let given: BTreeMap<String, String> = self.inputs.into_iter().collect();
        let values = crate::actions::checked_values(spec, &given)?;
        let key = crate::actions::idempotency_key(
            "by-hand",
            "by-hand",
            &crate::clock::now_ms().to_string(),
            &spec.name,
        );
        let request = crate::actions::request(spec, &values, key)?;
        println!("{} {}", request.method.as_str(), request.shown_url);
        println!("Idempotency-Key: {}", request.idempotency_key);
        for (name, value) in &request.headers {
            println!("{name}: {}", value.shown());
        }
        if let Some(body) = &request.body {
            println!("{body}");
        }
        if self.dry_run {
            println!("(dry run: nothing was called)");
            return Ok(ExitCode::SUCCESS);
        }
        let api = HttpApi::new()?;
        let response = api
            .call(&request)
            .await
            .with_context(|| format!("calling {}", spec.name))?;
        println!("\n{} in {} ms", response.status, response.latency_ms);
        let output = crate::actions::output(spec, &response.body)?;
        println!("{}", serde_json::to_string_pretty(&output)?);
        if let Some(reply) = &spec.reply {
            println!("\nreply: {}", crate::actions::render(reply, &values, &output)?);
        }
        Ok(ExitCode::SUCCESS)
    }
}
