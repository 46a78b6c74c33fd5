//! `frontdesk index`: build or update the on-disk knowledge index, with a progress bar and
//! a summary (also the last step of `sync-articles`).

use super::shared::{poor_coverage_message, taxonomy_coverage_of};
use crate::config::Config;
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `index` flags.
#[derive(Debug, Args)]
pub struct Index {
    /// Folder of Markdown articles (default: knowledge.dir).
    #[arg(long)]
    knowledge: Option<PathBuf>,
}

impl Index {
    pub(super) async fn run(self, mut config: Config) -> anyhow::Result<ExitCode> {
        if let Some(dir) = self.knowledge {
            config.knowledge.dir = dir;
        }
        index_on_disk(&config).await?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Builds or updates the on-disk index with a progress bar, then prints a summary.
pub(super) async fn index_on_disk(config: &Config) -> anyhow::Result<()> {
    let sources = config.knowledge_sources();
    let follow_symlinks = config.knowledge.follow_symlinks;
    let index_dir = config.index_dir();
    let started = std::time::Instant::now();
    // The asked-as questions `learn` found are indexed with their passages, as `serve` does.
    let asked = crate::learn::asked_as_in(&config.learned_dir())?;
    let (kb, problems, report) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (articles, problems) = crate::knowledge::read_articles(&sources, follow_symlinks);
        let bar = indicatif::ProgressBar::new(articles.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("indexing {bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let (kb, report) =
            crate::knowledge::KnowledgeBase::open_with(Some(&index_dir), articles, asked, &mut |id| {
                bar.set_message(id.to_owned());
                bar.inc(1);
            })?;
        bar.finish_and_clear();
        Ok((kb, problems, report))
    })
    .await??;
    for problem in &problems {
        println!("skipped {problem}");
    }
    if let Some(problem) = config.knowledge_problem(Some(kb.article_count())) {
        bail!(problem);
    }
    if let Some(reason) = &report.rebuilt {
        println!("rebuilt the index from scratch: {reason}");
    }
    println!(
        "index {}: {} articles, {} passages ({} added, {} updated, {} removed, {} unchanged, {} skipped) in {:.0} ms, version {}",
        config.index_dir().display(),
        kb.article_count(),
        kb.passage_count(),
        report.added,
        report.updated,
        report.removed,
        report.unchanged,
        problems.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        kb.version()
    );
    if let Some(coverage) = taxonomy_coverage_of(config, Some(kb.articles())).await {
        println!("taxonomy: {coverage}");
        if coverage.is_poor() {
            println!("warning: {}", poor_coverage_message(config, &coverage));
        }
    }
    Ok(())
}
