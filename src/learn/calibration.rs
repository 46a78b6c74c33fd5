//! Calibration: a logistic model of P(the bot's answer agrees with the team | signals),
//! fitted on a history's judged cases, so that a confidence of 0.9 means about 90% of such
//! answers agree with what a teammate did. Also the reliability table and the expected
//! calibration error (ECE) that show how well it holds.
//!
//! The model is small on purpose (ten dense features, L2-regularised, fitted by Newton's
//! method): a few hundred judged cases fit it, and its weights can be read.

use serde::{Deserialize, Serialize};

/// The signals of one answer the calibration reads, by name.
pub const FEATURES: [&str; 10] = [
    "normalized_score",
    "coverage",
    "margin",
    "asked_as",
    "intent_confidence",
    "intent_known",
    "grounding",
    "log_words",
    "raw_confidence",
    "top_two_agree",
];

/// The feature vector of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Features(pub [f64; FEATURES.len()]);

/// What the features are read from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The customer's message.
    pub question: &'a str,
    /// The best passage's retrieval signals.
    pub best: Option<crate::knowledge::Signals>,
    /// Whether the two best passages come from one article.
    pub top_two_agree: bool,
    /// The triage result.
    pub triage: &'a crate::triage::TriageResult,
    /// The draft.
    pub draft: &'a crate::llm::Draft,
}

impl Features {
    /// Reads the features of an answer.
    pub fn of(inputs: Inputs<'_>) -> Self {
        let signal = |get: fn(&crate::knowledge::Signals) -> f32| {
            inputs.best.as_ref().map_or(0.0, |s| f64::from(get(s)))
        };
        let words = inputs.question.split_whitespace().count() as f64;
        Self([
            signal(|s| s.normalized),
            signal(|s| s.coverage),
            signal(|s| s.margin),
            signal(|s| s.asked_as),
            f64::from(inputs.triage.confidence),
            f64::from(u8::from(inputs.triage.intent != crate::triage::NO_INTENT)),
            f64::from(inputs.draft.grounding),
            (1.0 + words).ln(),
            f64::from(inputs.draft.raw_confidence()),
            f64::from(u8::from(inputs.top_two_agree)),
        ])
    }
}

/// A fitted calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Feature names, in order (a file with other names is not used).
    pub features: Vec<String>,
    /// Means the features are centred with.
    pub means: Vec<f64>,
    /// Scales the centred features are divided by.
    pub scales: Vec<f64>,
    /// Weights of the standardised features.
    pub weights: Vec<f64>,
    /// Intercept.
    pub bias: f64,
    /// Judged cases it was fitted on.
    pub fitted_on: usize,
    /// Of those, agreeing.
    pub agreeing: usize,
}

/// Fewest judged cases, and fewest of each kind, a calibration is fitted on.
pub const MIN_CASES: usize = 30;
/// Fewest agreeing and fewest disagreeing cases.
pub const MIN_EACH: usize = 5;
/// L2 penalty on the standardised weights.
const RIDGE: f64 = 1.0;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Calibration {
    /// Fits the model on `(features, agrees)` pairs; `None` when there are too few, or too
    /// few of either kind, to fit anything meaningful.
    pub fn fit(cases: &[(Features, bool)]) -> Option<Self> {
        let n = cases.len();
        let agreeing = cases.iter().filter(|(_, y)| *y).count();
        if n < MIN_CASES || agreeing < MIN_EACH || n - agreeing < MIN_EACH {
            return None;
        }
        let d = FEATURES.len();
        let mut means = vec![0.0; d];
        for (x, _) in cases {
            for (mean, value) in means.iter_mut().zip(x.0) {
                *mean += value / n as f64;
            }
        }
        let mut scales = vec![0.0; d];
        for (x, _) in cases {
            for ((scale, mean), value) in scales.iter_mut().zip(&means).zip(x.0) {
                *scale += (value - mean).powi(2) / n as f64;
            }
        }
        for s in &mut scales {
            *s = if s.sqrt() < 1e-6 { 1.0 } else { s.sqrt() };
        }
        let rows: Vec<(Vec<f64>, f64)> = cases
            .iter()
            .map(|(x, y)| {
                let mut row: Vec<f64> = (0..d).map(|j| (x.0[j] - means[j]) / scales[j]).collect();
                row.push(1.0);
                (row, f64::from(u8::from(*y)))
            })
            .collect();
        // Newton's method on the penalised log-likelihood (the intercept is not penalised).
        let k = d + 1;
        let mut w = vec![0.0; k];
        for _ in 0..50 {
            let mut gradient = vec![0.0; k];
            let mut hessian = vec![vec![0.0; k]; k];
            for (row, y) in &rows {
                let p = sigmoid(row.iter().zip(&w).map(|(a, b)| a * b).sum());
                let weight = (p * (1.0 - p)).max(1e-9);
                for i in 0..k {
                    gradient[i] += (p - y) * row[i];
                    for j in 0..k {
                        hessian[i][j] += weight * row[i] * row[j];
                    }
                }
            }
            for i in 0..d {
                gradient[i] += RIDGE * w[i];
                hessian[i][i] += RIDGE;
            }
            let step = solve(hessian, gradient)?;
            let mut largest: f64 = 0.0;
            for i in 0..k {
                w[i] -= step[i];
                largest = largest.max(step[i].abs());
            }
            if largest < 1e-8 {
                break;
            }
        }
        let bias = w.pop().unwrap_or(0.0);
        Some(Self {
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            means,
            scales,
            weights: w,
            bias,
            fitted_on: n,
            agreeing,
        })
    }

    /// Whether the model reads the features this build computes.
    pub fn is_current(&self) -> bool {
        self.features
            .iter()
            .map(String::as_str)
            .eq(FEATURES.iter().copied())
            && self.means.len() == FEATURES.len()
            && self.scales.len() == FEATURES.len()
            && self.weights.len() == FEATURES.len()
    }

    /// P(agrees with the team) for an answer with these features.
    pub fn predict(&self, x: &Features) -> f64 {
        let z: f64 = (0..FEATURES.len())
            .map(|j| self.weights[j] * (x.0[j] - self.means[j]) / self.scales[j])
            .sum::<f64>()
            + self.bias;
        sigmoid(z)
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            let pivot_row = a[col].clone();
            for (cell, above) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *cell -= factor * above;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

/// One bin of a reliability chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Lower edge of the confidence bin.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Cases in it.
    pub n: usize,
    /// Their mean confidence.
    pub confidence: f64,
    /// The share that agreed.
    pub agreement: f64,
}

/// The reliability table of `(confidence, agrees)` pairs in `bins` equal-width bins, and
/// the expected calibration error: the case-weighted mean of |agreement − confidence|.
pub fn reliability(cases: &[(f64, bool)], bins: usize) -> (Vec<Bin>, f64) {
    let bins = bins.max(1);
    let mut table: Vec<Bin> = (0..bins)
        .map(|i| Bin {
            low: i as f64 / bins as f64,
            high: (i + 1) as f64 / bins as f64,
            n: 0,
            confidence: 0.0,
            agreement: 0.0,
        })
        .collect();
    for &(p, y) in cases {
        let i = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        table[i].n += 1;
        table[i].confidence += p;
        table[i].agreement += f64::from(u8::from(y));
    }
    let mut ece = 0.0;
    for bin in &mut table {
        if bin.n > 0 {
            bin.confidence /= bin.n as f64;
            bin.agreement /= bin.n as f64;
            ece += bin.n as f64 / cases.len() as f64 * (bin.agreement - bin.confidence).abs();
        }
    }
    (table, ece)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(coverage: f64, agrees: bool) -> (Features, bool) {
        let mut x = [0.5; FEATURES.len()];
        x[1] = coverage;
        (Features(x), agrees)
    }

    /// On data where agreement rises with coverage as a logistic curve, the fitted
    /// probabilities follow it, and the reliability table shows a small error.
    #[test]
    fn a_fitted_model_recovers_the_agreement_rate() {
        let mut cases = Vec::new();
        let mut state = 7u64;
        for i in 0..2000 {
            let coverage = f64::from(i % 100) / 100.0;
            let p = sigmoid(8.0 * (coverage - 0.5));
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            cases.push(case(coverage, u < p));
        }
        let model = Calibration::fit(&cases).unwrap();
        assert!(model.is_current());
        for coverage in [0.1, 0.5, 0.9] {
            let expected = sigmoid(8.0 * (coverage - 0.5));
            let got = model.predict(&case(coverage, true).0);
            assert!((got - expected).abs() < 0.08, "{coverage}: {got} vs {expected}");
        }
        let scored: Vec<(f64, bool)> = cases.iter().map(|(x, y)| (model.predict(x), *y)).collect();
        let (table, ece) = reliability(&scored, 10);
        assert_eq!(table.iter().map(|b| b.n).sum::<usize>(), cases.len());
        assert!(ece < 0.05, "{ece}");
        let (_, bad) = reliability(&cases.iter().map(|(_, y)| (0.99, *y)).collect::<Vec<_>>(), 10);
        assert!(bad > 0.4, "always 0.99 on a coin flip is badly calibrated: {bad}");
    }

    #[test]
    fn too_few_or_one_sided_cases_fit_nothing() {
        assert!(Calibration::fit(&vec![case(0.5, true); 100]).is_none());
        let few: Vec<_> = (0..20).map(|i| case(0.5, i % 2 == 0)).collect();
        assert!(Calibration::fit(&few).is_none());
    }
}
