//! The intent model: multinomial logistic regression over TF-IDF features (words, word
//! bigrams, and character 2–5-grams within words, so typos and inflections still share
//! features; sublinear counts; words and letter groups normalised apart), trained with SGD,
//! then calibrated by temperature scaling on held-back examples so that a confidence of 0.9
//! means right about nine times in ten. The held-back examples are then trained on too.
//!
//! Out of scope: examples labelled [`OUT_OF_SCOPE`] (or `oos`, `none`) train a class of their
//! own, and a message whose calibrated confidence is below the threshold chosen on the
//! held-back examples is out of scope too. A message with no known feature is out of scope.
//!
//! Explainable: the features that pushed the chosen intent up most are returned with each
//! prediction. The weights are stored feature-major, so the sparse forward and backward passes
//! run over contiguous memory.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The label of messages that belong to no intent.
pub const OUT_OF_SCOPE: &str = "none";

/// Whether a training label means "no intent".
pub fn is_out_of_scope(label: &str) -> bool {
    matches!(
        label.trim().to_lowercase().as_str(),
        "none" | "oos" | "out_of_scope" | ""
    )
}

/// A labelled message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The message.
    pub text: String,
    /// Its intent, or an out-of-scope label.
    pub label: String,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Passes over the training examples.
    pub epochs: usize,
    /// Initial learning rate (decays as 1/(1 + epoch)).
    pub learning_rate: f32,
    /// Share of examples held back for calibration and the out-of-scope threshold.
    pub holdout: f64,
    /// Seed of the shuffle and split.
    pub seed: u64,
    /// Features seen in fewer training messages are dropped.
    pub min_df: u32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 20,
            learning_rate: 1.0,
            holdout: 0.1,
            seed: 7,
            min_df: 2,
        }
    }
}

/// How much held-back in-scope accuracy the out-of-scope threshold may cost.
const THRESHOLD_TOLERANCE: f32 = 0.005;

/// How fast the SGD rate decays per epoch.
const LEARNING_RATE_DECAY: f32 = 0.1;

/// A prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The intent, or [`OUT_OF_SCOPE`].
    pub label: String,
    /// The most likely intent even when out of scope.
    pub best_intent: String,
    /// Calibrated probability of `best_intent`.
    pub confidence: f32,
    /// Why: the features that raised `best_intent` most, with their contribution.
    pub evidence: Vec<(String, f32)>,
    /// The runners-up with their probabilities.
    pub alternatives: Vec<(String, f32)>,
}

/// A trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    labels: Vec<String>,
    out_of_scope_class: Option<usize>,
    /// Looked up for every word and letter group of a message: hashed with `FxHash`, several
    /// times faster on short keys than the default.
    vocabulary: FxHashMap<String, u32>,
    /// Each word of the vocabulary (`w:`) with the known features it brings (itself, its
    /// letter groups), made on first use: a message's known words, most of its words, are
    /// one lookup each rather than one per letter group.
    #[serde(skip)]
    known_words: std::sync::OnceLock<FxHashMap<String, Box<[u32]>>>,
    feature_names: Vec<String>,
    idf: Vec<f32>,
    /// `weights[feature * labels + label]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
    temperature: f32,
    threshold: f32,
    /// Training facts for the log.
    pub report: TrainReport,
}

/// What training measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainReport {
    /// Examples trained on.
    pub trained_on: usize,
    /// Examples held back.
    pub held_back: usize,
    /// Intents (without out of scope).
    pub intents: usize,
    /// Features kept.
    pub features: usize,
    /// Calibration temperature.
    pub temperature: f32,
    /// Confidence below which a message is out of scope.
    pub threshold: f32,
    /// In-scope accuracy on the held-back examples at that threshold.
    pub holdout_accuracy: f32,
    /// Seconds spent training.
    pub seconds: f64,
}

impl TrainReport {
    /// One line: what was trained, how fast, and what it scored on the held-back examples.
    pub fn render(&self) -> String {
        format!(
            "trained {} intents on {} examples ({} held back) in {:.2} s: {} features, temperature {:.2}, out-of-scope threshold {:.2}, held-back in-scope accuracy {:.3}",
            self.intents,
            self.trained_on,
            self.held_back,
            self.seconds,
            self.features,
            self.temperature,
            self.threshold,
            self.holdout_accuracy
        )
    }
}

/// Feature strings of a message, with counts.
fn extract(text: &str) -> Vec<(String, f32)> {
    let mut counts: HashMap<String, f32> = HashMap::new();
    each_feature(text, |feature| match counts.get_mut(feature) {
        Some(count) => *count += 1.0,
        None => {
            counts.insert(feature.to_owned(), 1.0);
        }
    });
    counts.into_iter().collect()
}

/// The most feature counts [`Model::known_features`] makes room for at once: a message's
/// length in bytes, up to this.
const MAX_FEATURES_SIZED: usize = 4_096;

/// Calls `f` with each feature of `text`, once per occurrence: its words (`w:`), their
/// letter groups of 2 to 5 with the word's ends marked (`c:`), and its word pairs (`b:`).
/// The feature is written in one buffer, not made a string each.
fn each_feature(text: &str, mut f: impl FnMut(&str)) {
    let lowered = text.to_lowercase();
    let words = words_of(&lowered);
    let mut scratch = WordScratch::default();
    for word in &words {
        scratch.each_feature(word, &mut f);
    }
    each_pair(&words, &mut scratch.key, f);
}

/// The words of a lower-cased message, as [`each_feature`] reads them.
fn words_of(lowered: &str) -> Vec<&str> {
    lowered
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .take(2_000)
        .collect()
}

/// Calls `f` with each word pair's feature (`b:`), written in `key`.
fn each_pair(words: &[&str], key: &mut String, mut f: impl FnMut(&str)) {
    for pair in words.windows(2) {
        key.clear();
        key.push_str("b:");
        key.push_str(pair[0]);
        key.push(' ');
        key.push_str(pair[1]);
        f(key);
    }
}

/// The buffers one word's features are written in, reused from word to word.
#[derive(Default)]
struct WordScratch {
    key: String,
    /// The word with its ends marked (`<word>`).
    padded: String,
    /// Where each letter of `padded` starts, and its end.
    starts: Vec<usize>,
}

impl WordScratch {
    /// Calls `f` with `word`'s own feature (`w:`), then its letter groups (`c:`).
    fn each_feature(&mut self, word: &str, mut f: impl FnMut(&str)) {
        self.key.clear();
        self.key.push_str("w:");
        self.key.push_str(word);
        f(&self.key);
        self.padded.clear();
        self.padded.push('<');
        self.padded.push_str(word);
        self.padded.push('>');
        self.starts.clear();
        self.starts.extend(self.padded.char_indices().map(|(i, _)| i));
        self.starts.push(self.padded.len());
        let letters = self.starts.len() - 1;
        for n in 2..=5 {
            for first in 0..(letters + 1).saturating_sub(n) {
                self.key.clear();
                self.key.push_str("c:");
                self.key
                    .push_str(&self.padded[self.starts[first]..self.starts[first + n]]);
                f(&self.key);
            }
        }
    }
}

fn describe(feature: &str) -> String {
    match feature.split_once(':') {
        Some(("w", w)) => format!("word \"{w}\""),
        Some(("b", b)) => format!("words \"{b}\""),
        Some(("c", c)) => format!("letters \"{}\"", c.replace(['<', '>'], "␣")),
        _ => feature.to_owned(),
    }
}

fn softmax(logits: &mut [f32], temperature: f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = ((*l - max) / temperature).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
}

impl Model {
    /// A model of no intent: everything is out of scope at confidence 0 (an empty
    /// taxonomy, where the knowledge base alone decides).
    pub fn untrained() -> Self {
        Self {
            labels: Vec::new(),
            out_of_scope_class: None,
            vocabulary: FxHashMap::default(),
            known_words: std::sync::OnceLock::new(),
            feature_names: Vec::new(),
            idf: Vec::new(),
            weights: Vec::new(),
            bias: Vec::new(),
            temperature: 1.0,
            threshold: 1.0,
            report: TrainReport::default(),
        }
    }

    /// Trains on `examples`. Fails when there are fewer than two intents.
    pub fn train(examples: &[Example], options: TrainOptions) -> Result<Self, String> {
        let started = std::time::Instant::now();
        let mut labels: Vec<String> = Vec::new();
        let mut label_of = |label: &str| -> usize {
            let name = if is_out_of_scope(label) {
                OUT_OF_SCOPE
            } else {
                label.trim()
            };
            match labels.iter().position(|l| l == name) {
                Some(i) => i,
                None => {
                    labels.push(name.to_owned());
                    labels.len() - 1
                }
            }
        };
        let mut data: Vec<(Vec<(String, f32)>, usize)> = examples
            .iter()
            .map(|e| (extract(&e.text), label_of(&e.label)))
            .collect();
        let out_of_scope_class = labels.iter().position(|l| l == OUT_OF_SCOPE);
        if labels.len() - usize::from(out_of_scope_class.is_some()) < 2 {
            return Err("at least two intents with examples are needed".into());
        }
        let mut rng = fastrand::Rng::with_seed(options.seed);
        rng.shuffle(&mut data);
        // Stratified hold-out: every label keeps most of its examples for training.
        let mut held = Vec::new();
        let mut train = Vec::new();
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let per_label: HashMap<usize, usize> = data.iter().fold(HashMap::new(), |mut m, (_, l)| {
            *m.entry(*l).or_default() += 1;
            m
        });
        for item in data {
            let count = seen.entry(item.1).or_default();
            let quota = (per_label[&item.1] as f64 * options.holdout).floor() as usize;
            if *count < quota {
                *count += 1;
                held.push(item);
            } else {
                train.push(item);
            }
        }
        // Vocabulary and idf from the training part.
        let mut df: HashMap<&str, u32> = HashMap::new();
        for (features, _) in &train {
            for (f, _) in features {
                *df.entry(f.as_str()).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, u32)> = df.into_iter().filter(|(_, d)| *d >= options.min_df).collect();
        kept.sort_unstable();
        let n = train.len() as f32;
        let vocabulary: FxHashMap<String, u32> = kept
            .iter()
            .enumerate()
            .map(|(i, (f, _))| ((*f).to_owned(), i as u32))
            .collect();
        let idf: Vec<f32> = kept
            .iter()
            .map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0)
            .collect();
        let feature_names: Vec<String> = kept.iter().map(|(f, _)| describe(f)).collect();
        let classes = labels.len();
        let mut model = Model {
            labels,
            out_of_scope_class,
            vocabulary,
            known_words: std::sync::OnceLock::new(),
            feature_names,
            idf,
            weights: vec![0.0; kept.len() * classes],
            bias: vec![0.0; classes],
            temperature: 1.0,
            threshold: 0.0,
            report: TrainReport::default(),
        };
        let vectors: Vec<(Vec<(u32, f32)>, usize)> =
            train.iter().map(|(f, l)| (model.vectorize(f), *l)).collect();
        model.fit(&vectors, options, &mut rng);
        let held_vectors: Vec<(Vec<(u32, f32)>, usize)> =
            held.iter().map(|(f, l)| (model.vectorize(f), *l)).collect();
        model.calibrate(&held_vectors);
        // The held-back examples have chosen the temperature and the threshold; now they are
        // trained on too, so no labelled example is wasted.
        if !held_vectors.is_empty() {
            let mut all = vectors.clone();
            all.extend(held_vectors.iter().cloned());
            model.weights.iter_mut().for_each(|w| *w = 0.0);
            model.bias.iter_mut().for_each(|b| *b = 0.0);
            model.fit(&all, options, &mut rng);
        }
        model.report = TrainReport {
            trained_on: vectors.len(),
            held_back: held_vectors.len(),
            intents: classes - usize::from(out_of_scope_class.is_some()),
            features: kept.len(),
            temperature: model.temperature,
            threshold: model.threshold,
            holdout_accuracy: model.report.holdout_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok(model)
    }

    /// Multinomial logistic regression by SGD over `vectors`, the rate decaying as
    /// `rate / (1 + 0.1 × epoch)`.
    fn fit(&mut self, vectors: &[(Vec<(u32, f32)>, usize)], options: TrainOptions, rng: &mut fastrand::Rng) {
        let classes = self.labels.len();
        let mut order: Vec<usize> = (0..vectors.len()).collect();
        let mut probabilities = vec![0.0f32; classes];
        for epoch in 0..options.epochs {
            rng.shuffle(&mut order);
            let rate = options.learning_rate / (1.0 + LEARNING_RATE_DECAY * epoch as f32);
            for &i in &order {
                let (x, y) = &vectors[i];
                self.logits(x, &mut probabilities);
                softmax(&mut probabilities, 1.0);
                probabilities[*y] -= 1.0;
                for (c, gradient) in probabilities.iter().enumerate() {
                    self.bias[c] -= rate * gradient;
                }
                for &(f, v) in x {
                    let row = &mut self.weights[f as usize * classes..(f as usize + 1) * classes];
                    for (w, gradient) in row.iter_mut().zip(&probabilities) {
                        *w -= rate * v * gradient;
                    }
                }
            }
        }
    }

    /// Picks the temperature that minimises the held-back log loss, then the confidence
    /// threshold that maximises held-back accuracy (an out-of-scope message is right when
    /// rejected, an in-scope one when answered with its intent).
    fn calibrate(&mut self, held: &[(Vec<(u32, f32)>, usize)]) {
        if held.is_empty() {
            return;
        }
        let classes = self.labels.len();
        let logits: Vec<Vec<f32>> = held
            .iter()
            .map(|(x, _)| {
                let mut l = vec![0.0; classes];
                self.logits(x, &mut l);
                l
            })
            .collect();
        let mut best = (f32::INFINITY, 1.0);
        for step in 0..=40 {
            let t = 0.25 * 16f32.powf(step as f32 / 40.0);
            let loss: f32 = logits
                .iter()
                .zip(held)
                .map(|(l, (_, y))| {
                    let mut p = l.clone();
                    softmax(&mut p, t);
                    -(p[*y].max(1e-9)).ln()
                })
                .sum();
            if loss < best.0 {
                best = (loss, t);
            }
        }
        self.temperature = best.1;
        let scored: Vec<(usize, f32, usize)> = logits
            .iter()
            .zip(held)
            .map(|(l, (_, y))| {
                let mut p = l.clone();
                softmax(&mut p, self.temperature);
                let (arg, conf) = self.best(&p);
                (arg, conf, *y)
            })
            .collect();
        // The operating point: the highest threshold at which the held-back in-scope accuracy
        // stays within half a point of its best. Unknown messages are rejected as far as that
        // costs answerable ones at most 0.5%; it needs no out-of-scope examples, which are rare.
        let in_scope_accuracy = |threshold: f32| {
            let (mut ins, mut right) = (0usize, 0usize);
            for (arg, conf, y) in &scored {
                if Some(*y) != self.out_of_scope_class {
                    ins += 1;
                    right +=
                        usize::from(*conf >= threshold && Some(*arg) != self.out_of_scope_class && arg == y);
                }
            }
            right as f32 / ins.max(1) as f32
        };
        let accuracies: Vec<(f32, f32)> = (0..=95)
            .map(|step| step as f32 / 100.0)
            .map(|t| (t, in_scope_accuracy(t)))
            .collect();
        let top = accuracies.iter().map(|(_, a)| *a).fold(0.0f32, f32::max);
        let best = accuracies
            .iter()
            .rev()
            .find(|(_, a)| *a >= top - THRESHOLD_TOLERANCE)
            .map_or((0.0, 0.0), |(t, a)| (*a, *t));
        self.threshold = best.1;
        self.report.holdout_accuracy = best.0;
    }

    fn vectorize(&self, features: &[(String, f32)]) -> Vec<(u32, f32)> {
        self.weigh(
            features
                .iter()
                .filter_map(|(f, count)| self.vocabulary.get(f).map(|&i| (i, *count)))
                .collect(),
        )
    }

    /// The features of `text` the vocabulary holds, with their counts: those of
    /// [`each_feature`], without a string made per letter group (the most of a prediction's
    /// time), and a known word's taken from [`Self::known_words`].
    fn known_features(&self, text: &str) -> Vec<(u32, f32)> {
        // Sized for the text at once: grown step by step, the map was rebuilt several times
        // a message.
        let mut counts: FxHashMap<u32, f32> =
            FxHashMap::with_capacity_and_hasher(text.len().min(MAX_FEATURES_SIZED), Default::default());
        let lowered = text.to_lowercase();
        let words = words_of(&lowered);
        let known = self.known_words();
        let mut scratch = WordScratch::default();
        for word in &words {
            match known.get(*word) {
                Some(features) => {
                    for &i in features {
                        *counts.entry(i).or_default() += 1.0;
                    }
                }
                None => scratch.each_feature(word, |feature| self.count(feature, &mut counts)),
            }
        }
        each_pair(&words, &mut scratch.key, |feature| {
            self.count(feature, &mut counts)
        });
        counts.into_iter().collect()
    }

    /// Counts `feature` in `counts` when the vocabulary holds it.
    fn count(&self, feature: &str, counts: &mut FxHashMap<u32, f32>) {
        if let Some(&i) = self.vocabulary.get(feature) {
            *counts.entry(i).or_default() += 1.0;
        }
    }

    /// The vocabulary's words with the known features each brings, once per occurrence, as
    /// [`WordScratch::each_feature`] gives them.
    fn known_words(&self) -> &FxHashMap<String, Box<[u32]>> {
        self.known_words.get_or_init(|| {
            let mut scratch = WordScratch::default();
            self.vocabulary
                .keys()
                .filter_map(|feature| feature.strip_prefix("w:"))
                .map(|word| {
                    let mut features = Vec::new();
                    scratch.each_feature(word, |feature| {
                        if let Some(&i) = self.vocabulary.get(feature) {
                            features.push(i);
                        }
                    });
                    (word.to_owned(), features.into_boxed_slice())
                })
                .collect()
        })
    }

    /// Known features with their counts, weighed (sublinear count times idf) and normalised.
    fn weigh(&self, counts: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
        let mut x: Vec<(u32, f32)> = counts
            .into_iter()
            .map(|(i, count)| (i, (1.0 + count.ln()) * self.idf[i as usize]))
            .collect();
        // Sorted before summing: the features come in hash order, and a float sum in another
        // order differs in the last bits, which would make the same message score differently
        // from one process to the next.
        x.sort_unstable_by_key(|(i, _)| *i);
        // Words (and word pairs) and letter groups are normalised apart, each to length
        // 1/√2: the many letter groups of a message would otherwise drown its few words.
        let is_letters = |i: u32| self.feature_names[i as usize].starts_with("letters");
        let mut norms = [0.0f32; 2];
        for &(i, v) in &x {
            norms[usize::from(is_letters(i))] += v * v;
        }
        let scale = norms.map(|n| {
            if n > 0.0 {
                std::f32::consts::FRAC_1_SQRT_2 / n.sqrt()
            } else {
                0.0
            }
        });
        for (i, v) in &mut x {
            *v *= scale[usize::from(is_letters(*i))];
        }
        x
    }

    fn logits(&self, x: &[(u32, f32)], out: &mut [f32]) {
        let classes = self.labels.len();
        out.copy_from_slice(&self.bias);
        for &(f, v) in x {
            let row = &self.weights[f as usize * classes..(f as usize + 1) * classes];
            for (o, w) in out.iter_mut().zip(row) {
                *o += v * w;
            }
        }
    }

    /// The most likely class that is not out of scope, and its probability.
    fn best(&self, p: &[f32]) -> (usize, f32) {
        let (arg, conf) =
            p.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |best, (i, &v)| if v > best.1 { (i, v) } else { best },
            );
        (arg, conf)
    }

    /// Predicts the intent of `text`.
    pub fn predict(&self, text: &str) -> Prediction {
        if self.labels.is_empty() {
            return Prediction {
                label: OUT_OF_SCOPE.to_owned(),
                best_intent: String::new(),
                confidence: 0.0,
                evidence: Vec::new(),
                alternatives: Vec::new(),
            };
        }
        let x = self.weigh(self.known_features(text));
        let classes = self.labels.len();
        let mut p = vec![0.0; classes];
        self.logits(&x, &mut p);
        softmax(&mut p, self.temperature);
        let (arg, confidence) = self.best(&p);
        let mut ranked: Vec<(usize, f32)> = p.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let in_scope = !x.is_empty() && confidence >= self.threshold && Some(arg) != self.out_of_scope_class;
        let mut strongest: Vec<(u32, f32)> = x
            .iter()
            .map(|&(f, v)| (f, v * self.weights[f as usize * classes + arg]))
            .filter(|(_, c)| *c > 0.0)
            .collect();
        strongest.sort_by(|a, b| b.1.total_cmp(&a.1));
        strongest.truncate(12);
        let mut evidence: Vec<(String, f32)> = strongest
            .into_iter()
            .map(|(f, c)| (self.feature_names[f as usize].clone(), c))
            .collect();
        // Among the strongest, whole words read better than letter groups: list them first.
        evidence.sort_by_key(|(name, _)| !name.starts_with("word"));
        evidence.truncate(5);
        Prediction {
            label: if in_scope {
                self.labels[arg].clone()
            } else {
                OUT_OF_SCOPE.to_owned()
            },
            best_intent: self.labels[arg].clone(),
            confidence: if x.is_empty() { 0.0 } else { confidence },
            evidence,
            alternatives: ranked
                .iter()
                .skip(1)
                .take(2)
                .map(|(i, v)| (self.labels[*i].clone(), *v))
                .collect(),
        }
    }

    /// The confidence below which a message is out of scope.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Overrides the out-of-scope threshold.
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold.clamp(0.0, 1.0);
    }

    /// The intents known (out of scope excluded).
    pub fn intents(&self) -> Vec<&str> {
        self.labels
            .iter()
            .map(String::as_str)
            .filter(|l| *l != OUT_OF_SCOPE)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Example> {
        let mut out = Vec::new();
        let data = [
            (
                "refund",
                [
                    "i want my money back",
                    "refund my order please",
                    "how do i get a refund",
                    "can i return this for a refund",
                    "refund status?",
                    "when will my refund arrive",
                    "i need a refund for the shoes",
                    "refund to my card",
                ],
            ),
            (
                "shipping",
                [
                    "where is my package",
                    "has my order shipped",
                    "tracking number please",
                    "when will my delivery arrive",
                    "shipping is late",
                    "package not delivered yet",
                    "how long does shipping take",
                    "delivery status",
                ],
            ),
            (
                "password",
                [
                    "i forgot my password",
                    "reset my password",
                    "cant log in to my account",
                    "password not working",
                    "locked out of my account",
                    "need a new password",
                    "login problems",
                    "how do i change my password",
                ],
            ),
        ];
        for (label, texts) in data {
            for _ in 0..3 {
                for t in texts {
                    out.push(Example {
                        text: t.into(),
                        label: label.into(),
                    });
                }
            }
        }
        for t in [
            "what's the weather",
            "tell me a joke",
            "who won the game",
            "play some music",
            "what time is it in tokyo",
            "book a flight",
        ] {
            out.push(Example {
                text: t.into(),
                label: "oos".into(),
            });
            out.push(Example {
                text: format!("{t} please"),
                label: "oos".into(),
            });
        }
        out
    }

    #[test]
    fn it_learns_intents_and_explains_them() {
        let model = Model::train(
            &examples(),
            TrainOptions {
                min_df: 1,
                ..TrainOptions::default()
            },
        )
        .unwrap();
        let p = model.predict("my refund hasnt arrived, where's my money");
        assert_eq!(p.label, "refund", "{p:?}");
        assert!(p.evidence.iter().any(|(f, _)| f.contains("ref")), "{p:?}");
        assert_eq!(model.predict("i forgot my pasword").label, "password");
        assert_eq!(model.predict("where is my pakage").best_intent, "shipping");
    }

    /// Training twice and predicting many times gives bit-identical confidences: a logged
    /// decision made again must be the same decision.
    #[test]
    fn training_and_prediction_are_deterministic_to_the_bit() {
        let options = || TrainOptions {
            min_df: 1,
            ..TrainOptions::default()
        };
        let a = Model::train(&examples(), options()).unwrap();
        let b = Model::train(&examples(), options()).unwrap();
        let text = "my refund hasnt arrived and the delivery is late, where's my money";
        let first = a.predict(text).confidence.to_bits();
        for model in [&a, &b] {
            for _ in 0..50 {
                assert_eq!(model.predict(text).confidence.to_bits(), first);
            }
        }
    }

    #[test]
    fn unknown_text_is_out_of_scope_and_nothing_panics() {
        let model = Model::train(
            &examples(),
            TrainOptions {
                min_df: 1,
                ..TrainOptions::default()
            },
        )
        .unwrap();
        for text in [
            "",
            "🙂🙂🙂",
            "\u{0}\u{1}\u{2}",
            "<p></p>",
            &"x".repeat(200_000),
            "ÄÖÜ ß 漢字",
        ] {
            let p = model.predict(text);
            assert!(p.confidence.is_finite());
            if text.trim().is_empty() || text.starts_with('🙂') {
                assert_eq!(p.label, OUT_OF_SCOPE, "{text:?}");
            }
        }
    }

    /// The features as first written: each letter group collected from the word's letters.
    fn each_feature_by_letters(text: &str, mut f: impl FnMut(&str)) {
        let lowered = text.to_lowercase();
        let words: Vec<&str> = lowered
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .map(|w| w.trim_matches('\''))
            .filter(|w| !w.is_empty())
            .take(2_000)
            .collect();
        for word in &words {
            f(&format!("w:{word}"));
            let padded: Vec<char> = std::iter::once('<')
                .chain(word.chars())
                .chain(std::iter::once('>'))
                .collect();
            for n in 2..=5 {
                for window in padded.windows(n) {
                    f(&format!("c:{}", window.iter().collect::<String>()));
                }
            }
        }
        for pair in words.windows(2) {
            f(&format!("b:{} {}", pair[0], pair[1]));
        }
    }

    /// What the vocabulary holds of `text` by the reference features, sorted.
    fn reference_known(model: &Model, text: &str) -> Vec<(u32, f32)> {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        each_feature_by_letters(text, |feature| {
            if let Some(&i) = model.vocabulary.get(feature) {
                *counts.entry(i).or_default() += 1.0;
            }
        });
        let mut counts: Vec<(u32, f32)> = counts.into_iter().collect();
        counts.sort_unstable_by_key(|(i, _)| *i);
        counts
    }

    fn known_sorted(model: &Model, text: &str) -> Vec<(u32, f32)> {
        let mut counts = model.known_features(text);
        counts.sort_unstable_by_key(|(i, _)| *i);
        counts
    }

    fn small_model() -> Model {
        Model::train(
            &examples(),
            TrainOptions {
                min_df: 1,
                ..TrainOptions::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn features_are_the_letter_by_letter_ones() {
        let texts = [
            "",
            "a",
            "ab",
            "Ünïcödé wörds, 漢字 and 'quoted' ones",
            "aaaaaaa aaaa",
            "<p>x</p>",
        ];
        for text in texts {
            let (mut ours, mut reference) = (Vec::new(), Vec::new());
            each_feature(text, |f| ours.push(f.to_owned()));
            each_feature_by_letters(text, |f| reference.push(f.to_owned()));
            assert_eq!(ours, reference, "{text:?}");
        }
    }

    /// Known words through their table, the others letter group by letter group: the same
    /// counts as every feature looked up, on the shipped help center's every line.
    #[test]
    fn known_features_are_every_feature_looked_up() {
        let model = small_model();
        assert!(!model.known_words().is_empty());
        let mut texts: Vec<String> = examples().into_iter().map(|e| e.text).collect();
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                let text = std::fs::read_to_string(&path).unwrap();
                texts.extend(text.lines().map(str::to_owned));
                texts.push(text);
            }
        }
        let mut known = 0;
        for text in &texts {
            let ours = known_sorted(&model, text);
            assert_eq!(ours, reference_known(&model, text), "{text:?}");
            known += ours.len();
        }
        assert!(known > 1_000, "the texts hold known features: {known}");
    }

    proptest::proptest! {
        #[test]
        fn known_features_agree_on_any_text(
            words in proptest::collection::vec(
                "(refund|my|money|where|is|pakage|password|\\PC{0,6}|[a-z']{1,9}| |, )", 0..24),
        ) {
            let model = small_model();
            let text = words.join(" ");
            proptest::prop_assert_eq!(known_sorted(&model, &text), reference_known(&model, &text));
        }
    }

    #[test]
    fn one_intent_is_not_enough() {
        let one = vec![Example {
            text: "a".into(),
            label: "x".into(),
        }];
        assert!(Model::train(&one, TrainOptions::default()).is_err());
    }
}
