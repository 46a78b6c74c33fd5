//! Small statistics shared by the evaluations, the replay and the benchmarks.

/// `part / whole`, or 0 when `whole` is 0.
pub fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The nearest-rank percentile `p` (0..=1) of ascending `sorted`; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// p50 and p99 of ascending `sorted`.
pub fn percentiles(sorted: &[f64]) -> (f64, f64) {
    (percentile(sorted, 0.5), percentile(sorted, 0.99))
}

/// A mean with its 95% interval (normal approximation) and the median.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Mean {
    /// The mean.
    pub mean: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// The median.
    pub median: f64,
    /// Sample size.
    pub n: usize,
    /// Sample variance (for differences).
    #[serde(skip)]
    pub variance: f64,
}

/// The mean of `values` with its 95% interval; zeros and NaN bounds when empty.
pub fn mean(values: &[f64]) -> Mean {
    let n = values.len();
    if n == 0 {
        return Mean {
            mean: 0.0,
            low: 0.0,
            high: 0.0,
            median: 0.0,
            n,
            variance: 0.0,
        };
    }
    let m = values.iter().sum::<f64>() / n as f64;
    let variance = if n > 1 {
        values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let half = 1.96 * (variance / n as f64).sqrt();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Mean {
        mean: m,
        low: m - half,
        high: m + half,
        median: percentile(&sorted, 0.5),
        n,
        variance,
    }
}

/// A difference (a − b) with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Difference {
    /// a − b.
    pub difference: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Whether the interval excludes 0.
    pub significant: bool,
}

impl Difference {
    fn new(difference: f64, low: f64, high: f64) -> Self {
        Self {
            difference,
            low,
            high,
            significant: low > 0.0 || high < 0.0,
        }
    }
}

/// The difference of two means (Welch's normal interval).
pub fn mean_difference(a: &Mean, b: &Mean) -> Difference {
    let se = (a.variance / a.n.max(1) as f64 + b.variance / b.n.max(1) as f64).sqrt();
    let d = a.mean - b.mean;
    Difference::new(d, d - 1.96 * se, d + 1.96 * se)
}

/// The difference of two proportions, each with its Wilson interval `(value, low, high)`
/// (Newcombe's hybrid score interval).
pub fn proportion_difference(a: (f64, f64, f64), b: (f64, f64, f64)) -> Difference {
    let d = a.0 - b.0;
    let below = ((a.0 - a.1).powi(2) + (b.2 - b.0).powi(2)).sqrt();
    let above = ((a.2 - a.0).powi(2) + (b.0 - b.1).powi(2)).sqrt();
    Difference::new(d, d - below, d + above)
}
