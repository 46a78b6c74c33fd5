//! Classifier evaluation: labelled files in, in-scope accuracy, macro-F1, out-of-scope
//! recall and precision, and a coverage table out.
//!
//! Files: CSV with a header row (first column text, second label), JSONL
//! (`{"text", "label"}`), or the CLINC150 JSON layout (`{"train": [[text, label]], "oos_train":
//! …, "test": …, "oos_test": …}`), where `--train` takes `train` + `oos_train` and `--test`
//! takes `test` + `oos_test`. Labels `oos`, `none` or empty are out of scope.

use super::model::{Example, Model, OUT_OF_SCOPE, is_out_of_scope};
use crate::stats::ratio;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Which part of a CLINC-style JSON file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `train` + `oos_train`.
    Train,
    /// `test` + `oos_test`.
    Test,
}

/// Reads labelled examples; errors name the file and line.
pub fn load_examples(path: &Path, split: Split) -> Result<Vec<Example>, String> {
    let text = crate::files::read_text_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.display();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v.get("train").is_some() || v.get("test").is_some())
    {
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        let keys: &[&str] = match split {
            Split::Train => &["train", "oos_train"],
            Split::Test => &["test", "oos_test"],
        };
        let mut out = Vec::new();
        for key in keys {
            for (i, pair) in value
                .get(*key)
                .and_then(|v| v.as_array())
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                let text = pair.get(0).and_then(|t| t.as_str());
                let label = pair.get(1).and_then(|t| t.as_str());
                match (text, label) {
                    (Some(text), Some(label)) => out.push(Example {
                        text: text.to_owned(),
                        label: label.to_owned(),
                    }),
                    _ => return Err(format!("{name}: {key}[{i}] is not a [text, label] pair")),
                }
            }
        }
        return Ok(out);
    }
    if trimmed.starts_with('{') {
        return text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| format!("{name}:{}: {e}", i + 1))?;
                let text = v
                    .get("text")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| format!("{name}:{}: no \"text\"", i + 1))?;
                let label = v.get("label").and_then(|t| t.as_str()).unwrap_or("");
                Ok(Example {
                    text: text.to_owned(),
                    label: label.to_owned(),
                })
            })
            .collect();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{name}:{}: {e}", i + 2))?;
        let text = record
            .get(0)
            .ok_or_else(|| format!("{name}:{}: no text column", i + 2))?;
        out.push(Example {
            text: text.to_owned(),
            label: record.get(1).unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}

/// One row of the coverage table.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    /// Confidence threshold.
    pub threshold: f32,
    /// Share of all test messages answered (confidence at or above, not out of scope).
    pub coverage: f64,
    /// Accuracy on the answered ones (an out-of-scope message answered is wrong).
    pub accuracy: f64,
}

/// The evaluation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyReport {
    /// In-scope accuracy at the model's threshold (rejecting an in-scope message is wrong).
    pub accuracy: f64,
    /// In-scope accuracy of the most likely class, without the threshold (out of scope only
    /// when its own class wins): how scikit-learn's classifiers are usually scored.
    pub argmax_accuracy: f64,
    /// Macro-F1 over in-scope intents.
    pub macro_f1: f64,
    /// Share of out-of-scope test messages rejected.
    pub oos_recall: f64,
    /// Share of rejected messages that are out of scope.
    pub oos_precision: f64,
    /// Confidence threshold chosen on held-back training examples.
    pub threshold: f32,
    /// The lowest threshold at which answered messages are at least 95% correct.
    pub threshold_for_95: Option<f32>,
    /// Coverage at that threshold.
    pub coverage_at_95: Option<f64>,
    /// Seconds to train.
    pub train_seconds: f64,
    /// Mean time to classify one message, ms.
    pub ms_per_message: f64,
    /// Training examples.
    pub train_size: usize,
    /// Test examples.
    pub test_size: usize,
    /// Intents.
    pub intents: usize,
    /// Coverage by threshold.
    pub coverage: Vec<CoverageRow>,
}

impl ClassifyReport {
    /// The report as a terminal prints it.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "trained on {} examples ({} intents) in {:.2} s; tested on {} at {:.3} ms per message\n",
            self.train_size, self.intents, self.train_seconds, self.test_size, self.ms_per_message
        );
        let _ = writeln!(
            out,
            "in-scope accuracy {:.3} (most likely class, no threshold: {:.3})   macro-F1 {:.3}   out-of-scope recall {:.3}   precision {:.3}   (threshold {:.2}, chosen on held-back training examples)",
            self.accuracy,
            self.argmax_accuracy,
            self.macro_f1,
            self.oos_recall,
            self.oos_precision,
            self.threshold
        );
        let _ = match (self.threshold_for_95, self.coverage_at_95) {
            (Some(t), Some(c)) => writeln!(
                out,
                "answered messages are >= 95% correct from threshold {t:.2}, answering {:.1}% of all messages",
                c * 100.0
            ),
            _ => writeln!(out, "no threshold reaches 95% correct answers"),
        };
        out.push_str("\nthreshold  coverage  accuracy of answered\n");
        for row in &self.coverage {
            let _ = writeln!(
                out,
                "   {:.2}     {:>5.1}%     {:.3}",
                row.threshold,
                row.coverage * 100.0,
                row.accuracy
            );
        }
        out
    }
}

/// Trains on `train`, evaluates on `test`.
pub fn evaluate(
    train: &[Example],
    test: &[Example],
    options: super::model::TrainOptions,
    threshold: Option<f32>,
) -> Result<ClassifyReport, String> {
    let started = std::time::Instant::now();
    let mut model = Model::train(train, options)?;
    if let Some(threshold) = threshold {
        model.set_threshold(threshold);
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let predictions: Vec<_> = test.iter().map(|e| model.predict(&e.text)).collect();
    let ms_per_message = started.elapsed().as_secs_f64() * 1000.0 / test.len().max(1) as f64;
    let truth = |e: &Example| {
        if is_out_of_scope(&e.label) {
            OUT_OF_SCOPE.to_owned()
        } else {
            e.label.trim().to_owned()
        }
    };
    let (mut in_scope, mut in_scope_right, mut oos, mut oos_rejected, mut rejected) = (0, 0, 0, 0, 0);
    let argmax_right = test
        .iter()
        .zip(&predictions)
        .filter(|(e, p)| !is_out_of_scope(&e.label) && p.best_intent == e.label.trim())
        .count();
    let mut per_label: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new(); // tp, fp, fn
    for (e, p) in test.iter().zip(&predictions) {
        let t = truth(e);
        if p.label == OUT_OF_SCOPE {
            rejected += 1;
        }
        if t == OUT_OF_SCOPE {
            oos += 1;
            oos_rejected += usize::from(p.label == OUT_OF_SCOPE);
            if p.label != OUT_OF_SCOPE {
                per_label.entry(p.label.clone()).or_default().1 += 1;
            }
            continue;
        }
        in_scope += 1;
        if p.label == t {
            in_scope_right += 1;
            per_label.entry(t).or_default().0 += 1;
        } else {
            per_label.entry(t).or_default().2 += 1;
            if p.label != OUT_OF_SCOPE {
                per_label.entry(p.label.clone()).or_default().1 += 1;
            }
        }
    }
    let f1s: Vec<f64> = per_label
        .values()
        .map(|&(tp, fp, fn_)| {
            if tp == 0 {
                0.0
            } else {
                2.0 * tp as f64 / (2.0 * tp as f64 + fp as f64 + fn_ as f64)
            }
        })
        .collect();
    let mut coverage = Vec::new();
    for step in 0..20 {
        let threshold = step as f32 * 0.05;
        let answered: Vec<bool> = test
            .iter()
            .zip(&predictions)
            .filter(|(_, p)| p.best_intent != OUT_OF_SCOPE && p.confidence >= threshold)
            .map(|(e, p)| truth(e) == p.best_intent)
            .collect();
        coverage.push(CoverageRow {
            threshold,
            coverage: answered.len() as f64 / test.len().max(1) as f64,
            accuracy: if answered.is_empty() {
                1.0
            } else {
                answered.iter().filter(|r| **r).count() as f64 / answered.len() as f64
            },
        });
    }
    let at_95 = coverage.iter().find(|r| r.accuracy >= 0.95 && r.coverage > 0.0);
    Ok(ClassifyReport {
        accuracy: ratio(in_scope_right, in_scope),
        argmax_accuracy: ratio(argmax_right, in_scope),
        macro_f1: if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f64>() / f1s.len() as f64
        },
        oos_recall: ratio(oos_rejected, oos),
        oos_precision: ratio(oos_rejected, rejected),
        threshold: model.threshold(),
        threshold_for_95: at_95.map(|r| r.threshold),
        coverage_at_95: at_95.map(|r| r.coverage),
        train_seconds,
        ms_per_message,
        train_size: train.len(),
        test_size: test.len(),
        intents: model.intents().len(),
        coverage,
    })
}
