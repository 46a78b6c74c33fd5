//! `frontdesk bench drafting`: the time frontdesk adds around an LLM draft, and the time of a
//! whole extractive answer.

/// `frontdesk bench drafting`: per question of the eval set, frontdesk's own work around an
/// LLM draft, without the model (redaction, both prompts rendered, a model reply parsed, the
/// answer grounded against the passages), and the whole extractive answer (triage, retrieval,
/// draft, grounding, policy). Returns (overhead, extractive) latencies in ms, sorted.
pub async fn drafting(config: &crate::config::Config, rounds: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    use crate::llm::prompts::{PromptMessage, PromptPassage, Prompts};
    let pipeline = crate::pipeline::Pipeline::from_config(config)?;
    let prompts = Prompts::load(&config.llm.prompts_dir)?;
    let questions =
        crate::knowledge::eval::load_questions(&config.knowledge.dir.join("eval/questions.jsonl"))?;
    let (mut overhead, mut extractive) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        for q in &questions {
            let triage = pipeline.classifier().classify(&q.question);
            let hits = pipeline.knowledge().search(&q.question, config.knowledge.top_k)?;
            let reply = format!(
                r#"{{"answer": "{}", "citations": ["p1"], "confidence": 0.9, "needs_human": false, "reason": ""}}"#,
                hits.first()
                    .map(|h| h.text.replace('"', "'").replace('\n', " "))
                    .unwrap_or_default()
            );
            let started = std::time::Instant::now();
            let question = crate::llm::redact::redact(&q.question).text;
            let passages = PromptPassage::from_hits(&hits);
            let system = prompts.system(&triage.language)?;
            let user = prompts.answer(
                &triage,
                &passages,
                &[PromptMessage {
                    author: "customer".into(),
                    text: question,
                }],
            )?;
            let parsed = crate::llm::openai::parse(&reply);
            let mut draft = crate::llm::Draft::needing_human("bench", String::new());
            draft.text = parsed.map(|p| p.answer).unwrap_or_default();
            draft.ground(&hits, |text| pipeline.knowledge().terms(text));
            std::hint::black_box((system, user, draft));
            overhead.push(started.elapsed().as_secs_f64() * 1000.0);

            let started = std::time::Instant::now();
            std::hint::black_box(pipeline.answer(&q.question, &crate::clock::SystemClock).await?);
            extractive.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    overhead.sort_by(f64::total_cmp);
    extractive.sort_by(f64::total_cmp);
    Ok((overhead, extractive))
}

/// The two figures of [`drafting`] as a terminal prints them.
pub fn render_drafting(overhead: &[f64], extractive: &[f64]) -> String {
    let (o50, o99) = crate::stats::percentiles(overhead);
    let (e50, e99) = crate::stats::percentiles(extractive);
    format!(
        "{} drafts over the eval questions\n\
         frontdesk's own work per LLM draft (redact, render prompts, parse reply, ground): p50 {o50:.3} ms, p99 {o99:.3} ms\n\
         extractive answer (triage, retrieval, draft, grounding, policy; repeats cached):  p50 {e50:.3} ms, p99 {e99:.3} ms\n",
        overhead.len()
    )
}
