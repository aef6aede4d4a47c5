//! Medians with their spread, and ratios between figures of the same run.

use serde_json::{Value, json};

/// Repeated measurements of one figure: median, min, max and how many runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Summary {
    /// The summary of `values`; `None` when there are none (or one is not a number).
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        // The mean of the two middle values for an even count, so two runs
        // report their midpoint rather than whichever was slower.
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            runs: n,
        })
    }

    pub fn to_json(self, digits: i32) -> Value {
        json!({
            "median": round(self.median, digits),
            "min": round(self.min, digits),
            "max": round(self.max, digits),
            "runs": self.runs,
        })
    }
}

/// `ours / theirs`, `None` when the baseline is zero or missing.
pub fn ratio(ours: f64, theirs: f64) -> Option<f64> {
    (theirs.is_finite() && ours.is_finite() && theirs > 0.0).then(|| ours / theirs)
}

/// `x` rounded to `digits` decimal places.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The median alone (0 for no values), for figures reported without spread.
pub fn median(values: &[f64]) -> f64 {
    Summary::of(values).map_or(0.0, |s| s.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_counts_take_the_middle_value() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
    }

    #[test]
    fn even_counts_take_the_midpoint() {
        let s = Summary::of(&[4.0, 1.0]).expect("values");
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }

    #[test]
    fn nothing_to_summarise() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn ratios_need_a_positive_baseline() {
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::INFINITY, 1.0), None);
    }

    #[test]
    fn json_rounds_each_figure() {
        let s = Summary::of(&[0.12345, 0.2]).expect("values");
        assert_eq!(
            s.to_json(3),
            json!({"median": 0.162, "min": 0.123, "max": 0.2, "runs": 2})
        );
    }
}
