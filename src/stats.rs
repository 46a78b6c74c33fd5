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
