//! `frontdesk bench classify`: the intent classifier beside the scikit-learn baseline, trained
//! and tested on the same files in one run.

use super::run_script;

/// `frontdesk bench classify`: frontdesk's classifier and the scikit-learn baseline on the
/// same train and test files, in one run. Returns frontdesk's report and the baseline's JSON.
pub fn classify(
    train: &std::path::Path,
    test: &std::path::Path,
    python: Option<&std::path::Path>,
) -> anyhow::Result<(crate::triage::eval::ClassifyReport, Option<serde_json::Value>)> {
    use crate::triage::eval::{Split, evaluate, load_examples};
    let train_examples = load_examples(train, Split::Train).map_err(anyhow::Error::msg)?;
    let test_examples = load_examples(test, Split::Test).map_err(anyhow::Error::msg)?;
    let report = evaluate(
        &train_examples,
        &test_examples,
        crate::triage::model::TrainOptions::default(),
        None,
    )
    .map_err(anyhow::Error::msg)?;
    let baseline = match python {
        None => None,
        Some(python) => {
            let pairs = |examples: &[crate::triage::model::Example]| -> Vec<(String, String)> {
                examples
                    .iter()
                    .map(|e| (e.text.clone(), e.label.clone()))
                    .collect()
            };
            let spec = serde_json::json!({ "train": pairs(&train_examples), "test": pairs(&test_examples) });
            Some(run_script(python, "sklearn_baseline.py", &spec)?)
        }
    };
    Ok((report, baseline))
}

/// The classification figures side by side.
pub fn render_classify(
    report: &crate::triage::eval::ClassifyReport,
    baseline: Option<&serde_json::Value>,
) -> String {
    let mut out = format!(
        "{:<48} {:>9} {:>9} {:>11} {:>13} {:>9} {:>10}\n",
        "classifier", "argmax", "accuracy", "oos recall", "oos precision", "train s", "ms/message"
    );
    out.push_str(&format!(
        "{:<48} {:>9.3} {:>9.3} {:>11.3} {:>13.3} {:>9.2} {:>10.3}\n",
        format!("frontdesk (threshold {:.2} from training)", report.threshold),
        report.argmax_accuracy,
        report.accuracy,
        report.oos_recall,
        report.oos_precision,
        report.train_seconds,
        report.ms_per_message
    ));
    if let Some(b) = baseline {
        let n = |k: &str| b.get(k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{:<48} {:>9.3} {:>9.3} {:>11.3} {:>13.3} {:>9.2} {:>10.3}\n",
            b.get("engine")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("python")
                .chars()
                .take(48)
                .collect::<String>(),
            n("accuracy"),
            n("accuracy"),
            n("oos_recall"),
            n("oos_precision"),
            n("train_seconds"),
            n("ms_per_message")
        ));
    }
    match (report.threshold_for_95, report.coverage_at_95) {
        (Some(t), Some(c)) => out.push_str(&format!(
            "frontdesk answers are >= 95% correct from confidence {t:.2}, answering {:.1}% of messages ({} test, {} train)\n",
            c * 100.0,
            report.test_size,
            report.train_size
        )),
        _ => out.push_str("no confidence threshold reaches 95% correct answers\n"),
    }
    out
}
