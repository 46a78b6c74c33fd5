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

/// A proportion with its 95% Wilson interval.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Estimate {
    /// The value.
    pub value: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Sample size.
    pub n: usize,
}

/// Forecast against the measured value, for one metric.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ForecastCheck {
    /// From the earlier part.
    pub forecast: Estimate,
    /// Measured on the later part.
    pub actual: Estimate,
    /// actual − forecast.
    pub error: f64,
    /// Where the later part's value is expected to fall: the forecast with both samples'
    /// uncertainty (Newcombe's interval for a difference of two proportions, around the
    /// forecast).
    pub interval: (f64, f64),
    /// The actual value lies inside that interval.
    pub within_interval: bool,
}

/// A proportion with its 95% Wilson score interval.
pub fn wilson(successes: usize, n: usize) -> Estimate {
    if n == 0 {
        return Estimate {
            value: 0.0,
            low: 0.0,
            high: 1.0,
            n,
        };
    }
    let z = 1.96_f64;
    let nf = n as f64;
    let p = successes as f64 / nf;
    let denominator = 1.0 + z * z / nf;
    let centre = (p + z * z / (2.0 * nf)) / denominator;
    let half = z * ((p * (1.0 - p) / nf) + z * z / (4.0 * nf * nf)).sqrt() / denominator;
    Estimate {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
        n,
    }
}

/// Compares a forecast with the later part's measurement. Both are samples, so the
/// interval the measurement should fall in is wider than the forecast's own: each side
/// combines the forecast's Wilson half-width with the measurement's (Newcombe's method for
/// the difference of two independent proportions).
pub fn check(forecast: Estimate, actual: Estimate) -> ForecastCheck {
    let below = ((forecast.value - forecast.low).powi(2) + (actual.high - actual.value).powi(2)).sqrt();
    let above = ((forecast.high - forecast.value).powi(2) + (actual.value - actual.low).powi(2)).sqrt();
    let interval = (
        (forecast.value - below).max(0.0),
        (forecast.value + above).min(1.0),
    );
    ForecastCheck {
        forecast,
        actual,
        error: actual.value - forecast.value,
        interval,
        within_interval: actual.value >= interval.0 - 1e-12 && actual.value <= interval.1 + 1e-12,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_matches_the_interval_computed_by_hand() {
        // 8 of 10: p = 0.8, centre = (0.8 + 1.96²/20) / (1 + 1.96²/10) = 0.716738,
        // half-width = 1.96·√(0.016 + 1.96²/400) / 1.38416 = 0.226581.
        let e = wilson(8, 10);
        assert!(
            close(e.value, 0.8) && close(e.low, 0.490157) && close(e.high, 0.943319),
            "{e:?}"
        );
        // 5 of 10 is symmetric around one half.
        let e = wilson(5, 10);
        assert!(close(e.low, 0.236589) && close(e.high, 0.763411), "{e:?}");
        // Nothing measured says nothing.
        let e = wilson(0, 0);
        assert_eq!((e.low, e.high), (0.0, 1.0));
        // All successes keep the upper bound at 1 and a lower bound below it.
        let e = wilson(10, 10);
        assert!(close(e.high, 1.0) && close(e.low, 0.722460), "{e:?}");
    }

    #[test]
    fn check_widens_the_forecast_by_the_measurement_s_own_uncertainty() {
        // Forecast 8/10, measured 5/10: below = √(0.309843² + 0.263411²) = 0.406679.
        let c = check(wilson(8, 10), wilson(5, 10));
        assert!(close(c.error, -0.3), "{c:?}");
        assert!(close(c.interval.0, 0.393321), "{c:?}");
        assert_eq!(c.interval.1, 1.0, "clamped to a proportion");
        assert!(c.within_interval);
        // Forecast 9/10, measured 1/10: far outside.
        let c = check(wilson(9, 10), wilson(1, 10));
        assert!(!c.within_interval, "{c:?}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&sorted), (50.0, 99.0));
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert!(percentile(&[], 0.5).is_nan());
        assert_eq!(ratio(1, 4), 0.25);
        assert_eq!(ratio(1, 0), 0.0);
    }
}
