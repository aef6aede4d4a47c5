//! The side-by-side table: each job's median (min-max) for ours, hashicorp/aws
//! and the `terraform_data` floor, with the ratios from the same run.

use serde_json::{Value, json};

use super::stats::{Summary, ratio, round};
use super::workspace::Measured;

/// The tools a job is measured with, as results.json names them.
pub const OURS: &str = "vantage";
pub const AWS: &str = "hashicorp_aws";
pub const FLOOR: &str = "terraform_data";

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub job: String,
    /// `s` or `MB`: how the figures print.
    pub unit: &'static str,
    pub ours: Option<Summary>,
    pub aws: Option<Summary>,
    pub floor: Option<Summary>,
}

impl Row {
    pub fn ratio_to_aws(&self) -> Option<f64> {
        ratio(self.ours?.median, self.aws?.median)
    }
    pub fn ratio_to_floor(&self) -> Option<f64> {
        ratio(self.ours?.median, self.floor?.median)
    }

    pub fn to_json(&self) -> Value {
        let figure = |s: &Option<Summary>| s.map_or(Value::Null, |s| s.to_json(3));
        json!({
            "job": self.job,
            "unit": self.unit,
            OURS: figure(&self.ours),
            AWS: figure(&self.aws),
            FLOOR: figure(&self.floor),
            "ratio_ours_to_hashicorp_aws": self.ratio_to_aws().map(|r| round(r, 4)),
            "ratio_ours_to_terraform_data": self.ratio_to_floor().map(|r| round(r, 3)),
        })
    }
}

/// `0.281 (0.270-0.300)`, or `-` when not measured.
fn cell(summary: Option<Summary>, unit: &str) -> String {
    let Some(s) = summary else {
        return "-".to_string();
    };
    let digits = if s.median >= 100.0 {
        0
    } else if s.median >= 10.0 {
        1
    } else {
        3
    };
    if s.runs > 1 {
        format!("{:.digits$} {unit} ({:.digits$}-{:.digits$})", s.median, s.min, s.max)
    } else {
        format!("{:.digits$} {unit}", s.median)
    }
}

/// A ratio as the issue states its targets: `1/28` when ours is smaller, `x1.66` when larger.
pub fn ratio_text(r: Option<f64>) -> String {
    match r {
        None => "-".to_string(),
        Some(r) if r > 0.0 && r < 1.0 => format!("1/{:.1}", 1.0 / r),
        Some(r) => format!("x{r:.2}"),
    }
}

pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| job | ours | hashicorp/aws | terraform_data | ours / hashicorp/aws | ours / terraform_data |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.job,
            cell(row.ours, row.unit),
            cell(row.aws, row.unit),
            cell(row.floor, row.unit),
            ratio_text(row.ratio_to_aws()),
            ratio_text(row.ratio_to_floor()),
        ));
    }
    out
}

/// `(x, y)` for a chart from results keyed by x (`"100"`, `"500"`), sorted by x;
/// entries without a y are left out.
pub fn points(by_x: &Value, y: impl Fn(&Value) -> Option<f64>) -> Vec<(f64, f64)> {
    let Some(map) = by_x.as_object() else {
        return Vec::new();
    };
    let mut points: Vec<(f64, f64)> = map.iter().filter_map(|(x, v)| Some((x.parse().ok()?, y(v)?))).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// One row as a progress line, while the bench runs.
pub fn print_row(row: &Row) {
    eprintln!(
        "    {}",
        markdown(std::slice::from_ref(row)).lines().last().unwrap_or_default()
    );
}

/// Repeated runs of one job with one tool, as results.json keeps them.
pub fn runs_json(runs: &[Measured]) -> Value {
    let pick = |f: &dyn Fn(&Measured) -> f64| {
        Summary::of(&runs.iter().map(f).collect::<Vec<_>>()).map_or(Value::Null, |s| s.to_json(3))
    };
    json!({
        "wall_seconds": pick(&|m| m.wall),
        "cpu_seconds": {
            "terraform": pick(&|m| m.terraform_cpu()),
            "provider": pick(&|m| m.providers.cpu_seconds()),
            "devstack_and_moto": pick(&|m| m.devstack_cpu),
        },
        "provider_processes": pick(&|m| m.providers.processes() as f64),
        "largest_provider_peak_rss_mb": pick(&|m| m.providers.max_peak_kb() as f64 / 1024.0),
        "requests": pick(&|m| m.requests as f64),
    })
}

/// The wall times of `runs`.
pub fn wall(runs: &[Measured]) -> Option<Summary> {
    Summary::of(&runs.iter().map(|m| m.wall).collect::<Vec<_>>())
}

/// The largest provider process of each run, in MB.
pub fn peak_rss_mb(runs: &[Measured]) -> Option<Summary> {
    Summary::of(
        &runs
            .iter()
            .map(|m| m.providers.max_peak_kb() as f64 / 1024.0)
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(values: &[f64]) -> Option<Summary> {
        Summary::of(values)
    }

    #[test]
    fn ratios_print_as_fractions_below_one() {
        assert_eq!(ratio_text(Some(0.25)), "1/4.0");
        assert_eq!(ratio_text(Some(1.66)), "x1.66");
        assert_eq!(ratio_text(None), "-");
    }

    #[test]
    fn a_row_gives_both_ratios_from_its_medians() {
        let row = Row {
            job: "plan".into(),
            unit: "s",
            ours: s(&[0.2, 0.3, 0.4]),
            aws: s(&[6.0]),
            floor: s(&[0.15]),
        };
        assert!((row.ratio_to_aws().expect("aws") - 0.05).abs() < 1e-9);
        assert!((row.ratio_to_floor().expect("floor") - 2.0).abs() < 1e-9);
        let table = markdown(std::slice::from_ref(&row));
        assert!(
            table.contains("| plan | 0.300 s (0.200-0.400) | 6.000 s | 0.150 s | 1/20.0 | x2.00 |"),
            "{table}"
        );
        assert_eq!(row.to_json()["ratio_ours_to_hashicorp_aws"], json!(0.05));
    }

    #[test]
    fn missing_figures_print_as_dashes() {
        let row = Row {
            job: "init".into(),
            unit: "s",
            ours: s(&[0.5]),
            aws: None,
            floor: None,
        };
        assert!(markdown(&[row]).contains("| init | 0.500 s | - | - | - | - |"));
    }
}
