//! `frontdesk bench retrieval`: index build and query speed, hit@1 and hit@5 of the shipped
//! eval (and of a second eval given on the command line) on the sample corpus and on a scaled
//! copy of it, with the Python `bm25s` baseline on the same passages and questions in the
//! same run when it is installed (`bench/setup.sh`).

use super::{percentile, run_script};

/// `frontdesk bench retrieval` settings.
#[derive(Debug, Clone)]
pub struct RetrievalOptions {
    /// Folder of the sample articles.
    pub knowledge_dir: std::path::PathBuf,
    /// The evaluation questions.
    pub questions: std::path::PathBuf,
    /// Copies of each sample article in the scaled corpus.
    pub copies: usize,
    /// Passes over the questions when timing the sample corpus (the scaled one gets a fifth).
    pub rounds: usize,
    /// Python with bm25s installed (`bench/setup.sh`); `None` skips the comparison.
    pub python: Option<std::path::PathBuf>,
}

/// Figures for one corpus.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorpusFigures {
    /// `sample` or `scaled`.
    pub corpus: String,
    /// Articles.
    pub articles: usize,
    /// Passages.
    pub passages: usize,
    /// Index build in RAM, ms.
    pub build_ms_ram: f64,
    /// Index build on disk (fresh directory, committed), ms.
    pub build_ms_disk: f64,
    /// Queries timed.
    pub queries: usize,
    /// Single-query throughput.
    pub qps: f64,
    /// Median query latency, ms.
    pub p50_ms: f64,
    /// 99th percentile query latency, ms.
    pub p99_ms: f64,
    /// hit@1 over answerable questions.
    pub hit_at_1: f64,
    /// hit@5 over answerable questions.
    pub hit_at_5: f64,
    /// The Python baseline's figures on the same corpus and questions, when run.
    pub python: Option<serde_json::Value>,
}

/// Passages retrieved per query by both engines.
const RETRIEVE_K: usize = 15;

/// The scaled corpus: the sample articles plus `copies` generated copies of each. A copy
/// (`<id>~<n>`) keeps its article's text with the sentences of each passage rotated by `n`,
/// and mixes in 8 pseudo-words per passage drawn from a 5,000-word vocabulary with a
/// Zipf-like (log-uniform) distribution, so the dictionary and document frequencies grow the
/// way a larger help center's would. Deterministic for a given `copies`.
pub fn scaled_corpus(
    articles: &[crate::knowledge::Article],
    copies: usize,
) -> Vec<crate::knowledge::Article> {
    let mut rng = fastrand::Rng::with_seed(42);
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pu", "da", "fe", "go", "hi", "ju", "be", "co",
        "wy", "xa", "qi",
    ];
    let word = |mut i: usize| {
        let mut w = String::new();
        loop {
            w.push_str(syllables[i % syllables.len()]);
            i /= syllables.len();
            if i == 0 {
                break w;
            }
        }
    };
    let mut out = articles.to_vec();
    for copy in 1..=copies {
        for article in articles {
            let mut clone = article.clone();
            clone.id = format!("{}~{copy}", article.id);
            clone.content_hash = format!("{}~{copy}", article.content_hash);
            for passage in &mut clone.passages {
                let mut sentences = crate::text::sentences(&passage.text);
                if !sentences.is_empty() {
                    let shift = copy % sentences.len();
                    sentences.rotate_left(shift);
                }
                let noise: Vec<String> = (0..8)
                    .map(|_| word((5000f64.powf(rng.f64()) - 1.0) as usize))
                    .collect();
                passage.text = format!("{} {}", sentences.join(" "), noise.join(" "));
            }
            out.push(clone);
        }
    }
    out
}

fn base_id(id: &str) -> &str {
    id.split('~').next().unwrap_or(id)
}

fn measure_corpus(
    name: &str,
    articles: &[crate::knowledge::Article],
    questions: &[crate::knowledge::eval::EvalQuestion],
    rounds: usize,
    python: Option<&std::path::Path>,
) -> anyhow::Result<CorpusFigures> {
    use crate::knowledge::KnowledgeBase;
    let passages = articles.iter().map(|a| a.passages.len()).sum();
    let article_count = articles.len();
    let started = std::time::Instant::now();
    let kb = KnowledgeBase::build(articles.to_vec())?;
    let build_ms_ram = started.elapsed().as_secs_f64() * 1000.0;
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    drop(KnowledgeBase::open(
        Some(dir.path()),
        articles.to_vec(),
        &mut |_| {},
    )?);
    let build_ms_disk = started.elapsed().as_secs_f64() * 1000.0;

    let (mut hit1, mut hit5, mut answerable) = (0usize, 0usize, 0usize);
    for q in questions.iter().filter(|q| !q.article_ids.is_empty()) {
        answerable += 1;
        let mut ranked: Vec<&str> = Vec::new();
        let hits = kb.search(&q.question, RETRIEVE_K)?;
        for hit in &hits {
            let id = base_id(&hit.article_id);
            if !ranked.contains(&id) {
                ranked.push(id);
            }
        }
        hit1 += usize::from(
            ranked
                .first()
                .is_some_and(|id| q.article_ids.iter().any(|a| a == id)),
        );
        hit5 += usize::from(
            ranked
                .iter()
                .take(5)
                .any(|id| q.article_ids.iter().any(|a| a == id)),
        );
    }
    let mut latencies = Vec::with_capacity(rounds * questions.len());
    for _ in 0..rounds.max(1) {
        for q in questions {
            let started = std::time::Instant::now();
            let hits = kb.search(&q.question, RETRIEVE_K)?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(hits);
        }
    }
    let total_ms: f64 = latencies.iter().sum();
    latencies.sort_by(f64::total_cmp);
    let python = match python {
        None => None,
        Some(python) => Some(run_python(python, articles, questions, rounds)?),
    };
    Ok(CorpusFigures {
        corpus: name.to_owned(),
        articles: article_count,
        passages,
        build_ms_ram,
        build_ms_disk,
        queries: latencies.len(),
        qps: latencies.len() as f64 / (total_ms / 1000.0),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        hit_at_1: hit1 as f64 / answerable.max(1) as f64,
        hit_at_5: hit5 as f64 / answerable.max(1) as f64,
        python,
    })
}

/// Runs the retrieval benchmark (blocking).
pub fn retrieval(options: &RetrievalOptions) -> anyhow::Result<Vec<CorpusFigures>> {
    let (articles, problems) =
        crate::knowledge::read_articles(std::slice::from_ref(&options.knowledge_dir), false);
    if !problems.is_empty() {
        anyhow::bail!(
            "{} article(s) could not be read, first: {}",
            problems.len(),
            problems[0]
        );
    }
    let questions = crate::knowledge::eval::load_questions(&options.questions)?;
    let python = options.python.as_deref();
    let sample = measure_corpus("sample", &articles, &questions, options.rounds, python)?;
    if options.copies == 0 {
        return Ok(vec![sample]);
    }
    let scaled = measure_corpus(
        "scaled",
        &scaled_corpus(&articles, options.copies),
        &questions,
        (options.rounds / 5).max(1),
        python,
    )?;
    Ok(vec![sample, scaled])
}

/// The retrieval figures as a table.
pub fn render_retrieval(figures: &[CorpusFigures]) -> String {
    let mut out = format!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7}\n",
        "corpus",
        "articles",
        "passages",
        "build RAM",
        "build disk",
        "queries",
        "qps",
        "p50 ms",
        "p99 ms",
        "hit@1",
        "hit@5"
    );
    for f in figures {
        out.push_str(&format!(
            "{:<8} {:>8} {:>9} {:>7.0}ms {:>8.0}ms {:>8} {:>9.0} {:>8.3} {:>8.3} {:>7.3} {:>7.3}   frontdesk (tantivy)\n",
            f.corpus, f.articles, f.passages, f.build_ms_ram, f.build_ms_disk, f.queries, f.qps, f.p50_ms, f.p99_ms, f.hit_at_1, f.hit_at_5
        ));
        if let Some(py) = &f.python {
            let n = |k: &str| py.get(k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
            out.push_str(&format!(
                "{:<8} {:>8} {:>9} {:>7.0}ms {:>10} {:>8} {:>9.0} {:>8.3} {:>8.3} {:>7.3} {:>7.3}   {}\n",
                "",
                "",
                "",
                n("build_seconds") * 1000.0,
                "-",
                n("queries"),
                n("qps"),
                n("p50_ms"),
                n("p99_ms"),
                n("hit_at_1"),
                n("hit_at_5"),
                py.get("engine")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("python")
            ));
            out.push_str(&format!(
                "{:<8} frontdesk/python: {:.1}x queries per second, hit@5 {:+.3}\n",
                "",
                f.qps / n("qps"),
                f.hit_at_5 - n("hit_at_5")
            ));
        }
    }
    out
}

/// The `bm25s` baseline on `articles` and `questions`.
fn run_python(
    python: &std::path::Path,
    articles: &[crate::knowledge::Article],
    questions: &[crate::knowledge::eval::EvalQuestion],
    rounds: usize,
) -> anyhow::Result<serde_json::Value> {
    let passages: Vec<serde_json::Value> = articles
        .iter()
        .flat_map(|a| {
            a.passages.iter().map(move |p| {
                serde_json::json!({ "article_id": a.id, "text": format!("{} {} {} {}", a.title, p.heading, p.text, a.tags.join(" ")) })
            })
        })
        .collect();
    let spec = serde_json::json!({ "passages": passages, "questions": questions, "k": RETRIEVE_K, "rounds": rounds.max(1) });
    run_script(python, "bm25_compare.py", &spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaled_corpus_reaches_ten_thousand_passages_deterministically() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
        let (articles, problems) = crate::knowledge::read_articles(&[dir], false);
        assert!(problems.is_empty(), "{problems:?}");
        let a = scaled_corpus(&articles, 75);
        let passages: usize = a.iter().map(|x| x.passages.len()).sum();
        assert!(passages >= 10_000, "{passages}");
        let b = scaled_corpus(&articles, 75);
        assert_eq!(a, b);
        assert_eq!(base_id("returns-policy~12"), "returns-policy");
    }
}
