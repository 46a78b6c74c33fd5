//! `frontdesk search`: the top passages for the customer's words, with their signals.

use super::shared::load_in_memory;
use crate::config::Config;
use crate::knowledge::Hit;
use clap::Args;
use std::process::ExitCode;

/// `search` flags.
#[derive(Debug, Args)]
pub struct Search {
    /// The customer's words.
    query: String,
    /// How many passages.
    #[arg(long, default_value_t = 5)]
    limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Search {
    pub(super) fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let kb = load_in_memory(config)?;
        let hits = kb.search(&self.query, self.limit)?;
        if self.json {
            let hits: Vec<_> = hits.iter().map(hit_json).collect();
            println!("{}", serde_json::to_string_pretty(&hits)?);
        } else if hits.is_empty() {
            println!("no passage matches");
        } else {
            for (i, hit) in hits.iter().enumerate() {
                print!("{}", render_hit(i + 1, hit));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn hit_json(h: &Hit) -> serde_json::Value {
    serde_json::json!({
        "article_id": h.article_id,
        "title": h.title,
        "heading": h.heading,
        "url": h.url,
        "score": h.signals.score,
        "signals": h.signals,
        "snippet": snippet(&h.text),
    })
}

fn render_hit(rank: usize, h: &Hit) -> String {
    let heading = if h.heading.is_empty() {
        String::new()
    } else {
        format!(" › {}", h.heading)
    };
    let internal = if h.internal {
        "  (internal: teammates only)"
    } else {
        ""
    };
    format!(
        "{rank}. {} — {}{heading}\n   score {:.2}  normalised {:.2}  margin {:.2}  coverage {:.2}  asked-as {:.2}{internal}\n   {}\n   {}\n\n",
        h.article_id,
        h.title,
        h.signals.score,
        h.signals.normalized,
        h.signals.margin,
        h.signals.coverage,
        h.signals.asked_as,
        snippet(&h.text),
        h.url
    )
}

/// The first 160 characters of a passage, on one line.
fn snippet(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}
