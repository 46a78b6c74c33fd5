//! `frontdesk check-config`: the configuration with secrets masked, what was learnt, how well
//! the taxonomy fits the articles, and every problem found (exit 1 on an error).

use super::shared::{poor_coverage_message, taxonomy_coverage_of};
use crate::config::{Config, Problem, Severity};
use std::process::ExitCode;

pub(super) async fn run(config: &Config) -> anyhow::Result<ExitCode> {
    print!("{}", config.render_masked());
    match config.database_url() {
        Some(url) => println!(
            "\n# store: PostgreSQL at {}",
            crate::store::describe_connection(url)
        ),
        None => println!(
            "\n# store: SQLite in {}",
            config.server.data_dir.join(crate::store::DB_FILE).display()
        ),
    }
    let mut problems = crate::app::preflight(config);
    if let Ok(actions) = super::actions::load(config) {
        print!(
            "\n# {}",
            super::actions::render_list(&actions, &config.actions.file)
        );
    }
    println!("\n# {}", learned_line(config));
    if let Some(coverage) = taxonomy_coverage_of(config, None).await {
        println!("\n# taxonomy: {coverage}");
        if coverage.is_poor() {
            problems.push(Problem {
                severity: Severity::Warning,
                key: "triage.intents_file",
                message: poor_coverage_message(config, &coverage),
            });
        }
    }
    if problems.is_empty() {
        println!("\n# no problems found");
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    for p in &problems {
        let level = if p.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        println!("{level}: {}: {}", p.key, p.message);
    }
    Ok(if problems.iter().any(|p| p.severity == Severity::Error) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What `learn` left in the data dir, in one line.
fn learned_line(config: &Config) -> String {
    match crate::learn::Learned::load(&config.learned_dir()) {
        Ok(Some(learned)) => format!(
            "learned from {} ({} conversations) on {}: {}; calibrated: {}",
            learned.manifest.history,
            learned.manifest.conversations,
            learned.manifest.created_at,
            learned
                .manifest
                .counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            learned.calibration.is_some()
        ),
        Ok(None) => {
            "nothing learnt yet: `frontdesk learn --history FILE` on an export calibrates the confidence"
                .into()
        }
        Err(error) => format!("learned: {error}"),
    }
}
