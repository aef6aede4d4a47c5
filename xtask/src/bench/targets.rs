//! Issue 18's targets, checked against the figures of one run.

use serde_json::{Value, json};

use super::report::Row;

/// One target and what this run measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub measured: String,
    /// `None` when this run did not measure it (a `--quick` run, no hashicorp/aws).
    pub met: Option<bool>,
}

impl Target {
    pub fn to_json(&self) -> Value {
        json!({"target": self.name, "measured": self.measured, "met": self.met})
    }
}

fn row<'a>(rows: &'a [Row], job: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.job == job)
}

/// "at least `times`x less than hashicorp/aws" for the row named `job`.
fn faster(rows: &[Row], job: &str, times: f64) -> Target {
    let ratio = row(rows, job).and_then(Row::ratio_to_aws);
    Target {
        name: format!("{job}: at least {times}x less than hashicorp/aws"),
        measured: ratio.map_or("not measured".into(), |r| format!("{:.1}x less", 1.0 / r)),
        met: ratio.map(|r| r * times <= 1.0),
    }
}

/// Every target of issue 18 against `rows` (the side-by-side table) and the
/// scalar figures: the provider's share of the plan CPU at N = 500, the
/// handshake, refresh calls per object, whether 200 configurations ran.
pub fn check(
    rows: &[Row],
    (largest_n, cpu_share): (usize, Option<f64>),
    handshake_ms: Option<f64>,
    refresh_calls: &Value,
    ran_200_configurations: bool,
) -> Vec<Target> {
    let mut targets = Vec::new();
    for n in [100, 500] {
        for phase in ["plan -refresh=false", "refresh plan"] {
            targets.push(faster(rows, &format!("one role + {n} inline policies: {phase}"), 20.0));
        }
        targets.push(faster(rows, &format!("one role + {n} inline policies: apply"), 10.0));
    }
    let k10 = |what: &str| format!("10 configurations (one per account), role + 3 policies each: {what}");
    targets.push(faster(rows, &k10("refresh plan"), 50.0));
    targets.push(faster(rows, &k10("apply"), 50.0));
    targets.push(faster(
        rows,
        &k10("summed provider peak RSS per configuration, plan"),
        100.0,
    ));
    targets.push(Target {
        name: "200 provider configurations planned and applied on this machine".into(),
        measured: if ran_200_configurations { "yes" } else { "not run" }.into(),
        met: ran_200_configurations.then_some(true),
    });
    targets.push(Target {
        name: format!("provider's own CPU at most 10 % of the plan's CPU at N = 500 (here N = {largest_n})"),
        measured: cpu_share.map_or("not measured".into(), |s| format!("{:.1} %", s * 100.0)),
        met: cpu_share.filter(|_| largest_n >= 500).map(|s| s <= 0.10),
    });
    targets.push(Target {
        name: "handshake under 5 ms".into(),
        measured: handshake_ms.map_or("not measured".into(), |ms| format!("{ms:.2} ms")),
        met: handshake_ms.map(|ms| ms < 5.0),
    });
    // The documented minimum per refresh: role 3 (GetRole, its inline and its
    // attached policy listings), inline policy 1, bucket 5 (README, "Performance").
    for (type_name, minimum) in [
        ("vantage_aws_cross_account_role", 3.0),
        ("vantage_aws_role_policy", 1.0),
        ("vantage_aws_cur_bucket", 5.0),
    ] {
        let calls = refresh_calls[type_name].as_f64();
        targets.push(Target {
            name: format!("{type_name}: at most {minimum} calls per object per refresh"),
            measured: calls.map_or("not measured".into(), |c| format!("{c}")),
            met: calls.map(|c| c <= minimum),
        });
    }
    targets
}

pub fn markdown(targets: &[Target]) -> String {
    let mut out = String::from("| target | measured | met |\n|---|---|---|\n");
    for t in targets {
        let met = match t.met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "-",
        };
        out.push_str(&format!("| {} | {} | {met} |\n", t.name, t.measured));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Summary;

    fn row(job: &str, ours: f64, aws: f64) -> Row {
        Row {
            job: job.into(),
            unit: "s",
            ours: Summary::of(&[ours]),
            aws: Summary::of(&[aws]),
            floor: None,
        }
    }

    #[test]
    fn ratios_are_checked_against_each_target() {
        let rows = vec![
            row("one role + 100 inline policies: plan -refresh=false", 0.3, 9.0),
            row("one role + 100 inline policies: apply", 1.5, 11.0),
        ];
        let targets = check(
            &rows,
            (500, Some(0.05)),
            Some(1.1),
            &json!({"vantage_aws_role_policy": 1.0}),
            true,
        );
        let find = |prefix: &str| targets.iter().find(|t| t.name.starts_with(prefix)).expect(prefix);
        assert_eq!(
            find("one role + 100 inline policies: plan -refresh=false").met,
            Some(true)
        );
        assert_eq!(find("one role + 100 inline policies: apply").met, Some(false));
        assert_eq!(find("one role + 500 inline policies: apply").met, None);
        assert_eq!(find("provider's own CPU").met, Some(true));
        assert_eq!(find("handshake").met, Some(true));
        assert_eq!(find("vantage_aws_role_policy").met, Some(true));
        assert_eq!(find("vantage_aws_cur_bucket").met, None);
        assert!(markdown(&targets).contains("| not met |"));
        let quick = check(&rows, (100, Some(0.05)), None, &json!({}), false);
        assert_eq!(
            quick
                .iter()
                .find(|t| t.name.starts_with("provider's own CPU"))
                .expect("cpu")
                .met,
            None
        );
    }
}
