//! Issue 18, part 2: K provider configurations, one per account (the
//! organisation-wide pattern), each with a role and its inline policies.
//! Terraform runs a provider process per configuration, so memory per
//! configuration decides how far K can go on one machine.

use serde_json::{Map, Value, json};

use super::peers::{account, aws_provider_block, role_in};
use super::report::{self, AWS, OURS, Row};
use super::side_by_side::{Tool, role_with_policies};
use super::stats::{Summary, round};
use super::workspace::{Measured, Tf, World};

/// Inline policies on each configuration's role.
pub const POLICIES_PER_ROLE: usize = 3;

/// Never more hashicorp/aws processes than this at once (the machine is shared).
pub const AWS_PROCESS_CAP: usize = 20;

pub fn body(tool: Tool, k: usize, aws_url: &str) -> String {
    let mut body = String::new();
    for i in 0..k {
        let alias = format!("acct_{i}");
        let account = account(i);
        match tool {
            Tool::Ours => body.push_str(&format!(
                "provider \"vantage\" {{\n  alias  = \"{alias}\"\n  region = \"us-east-1\"\n  assume_role {{\n    role_arn = \"{}\"\n  }}\n}}\n",
                role_in(&account)
            )),
            Tool::Aws => body.push_str(&aws_provider_block(aws_url, Some(&alias), Some(&account))),
            Tool::Floor => {}
        }
        let provider = match tool {
            Tool::Ours => Some(format!("vantage.{alias}")),
            Tool::Aws => Some(format!("aws.{alias}")),
            Tool::Floor => None,
        };
        body.push_str(&role_with_policies(
            tool,
            &format!("bench-{}-k{i}", tool.key().replace('_', "-")),
            POLICIES_PER_ROLE,
            provider.as_deref(),
        ));
    }
    body
}

/// Apply/destroy cycles and refresh plans per cycle.
fn repetitions(tool: Tool, k: usize, quick: bool) -> (usize, usize) {
    match (tool, quick) {
        (Tool::Aws, true) => (1, 1),
        (Tool::Aws, false) => (1, 2),
        (_, true) => (1, 2),
        (_, false) if k >= 200 => (1, 2),
        (_, false) if k >= 50 => (2, 1),
        _ => (3, 1),
    }
}

/// `(apply runs, plan runs)` of one tool at one K.
fn measure(world: &World, tool: Tool, k: usize, quick: bool) -> anyhow::Result<(Vec<Measured>, Vec<Measured>)> {
    let tf = Tf::new(world, tool.providers())?;
    tf.config(&body(tool, k, &world.devstack.ready.aws_url))?;
    tf.init()?;
    let (cycles, plans) = repetitions(tool, k, quick);
    let (mut applies, mut plan_runs) = (Vec::new(), Vec::new());
    for _ in 0..cycles {
        applies.push(tf.measure(world, &["apply", "-auto-approve", "-input=false"])?);
        for _ in 0..plans {
            plan_runs.push(tf.measure(world, &["plan", "-input=false"])?);
        }
        tf.run(&["destroy", "-auto-approve", "-input=false"])?;
    }
    Ok((applies, plan_runs))
}

fn per_configuration(runs: &[Measured], k: usize, f: impl Fn(&Measured) -> u64) -> Option<Summary> {
    Summary::of(&runs.iter().map(|m| f(m) as f64 / 1024.0 / k as f64).collect::<Vec<_>>())
}

fn tool_json(k: usize, applies: &[Measured], plans: &[Measured]) -> Value {
    let mb = |s: Option<Summary>| s.map_or(Value::Null, |s| s.to_json(2));
    json!({
        "apply": report::runs_json(applies),
        "plan_refresh": report::runs_json(plans),
        "summed_peak_rss_mb_per_configuration_plan": mb(per_configuration(plans, k, |m| m.providers.sum_peak_kb())),
        "summed_pss_mb_per_configuration_plan": mb(per_configuration(plans, k, |m| m.providers.sum_pss_kb())),
        "summed_peak_rss_mb_per_configuration_apply": mb(per_configuration(applies, k, |m| m.providers.sum_peak_kb())),
        "summed_pss_mb_per_configuration_apply": mb(per_configuration(applies, k, |m| m.providers.sum_pss_kb())),
    })
}

/// Memory the machine can still give, in MB (`MemAvailable`).
fn available_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn total_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Why hashicorp/aws is not run at `k` configurations, or `None` when it may
/// be: `peak_mb` is the largest process measured so far, `available` what the
/// machine has free and `total` its memory.
pub fn aws_refusal(k: usize, peak_mb: f64, available: f64, total: f64) -> Option<String> {
    let needs = k as f64 * peak_mb;
    if needs > total {
        return Some(format!(
            "{k} processes of {peak_mb:.0} MB need {:.1} GB, more than the machine's {:.1} GB",
            needs / 1024.0,
            total / 1024.0
        ));
    }
    if k > AWS_PROCESS_CAP {
        return Some(format!(
            "{k} processes of {peak_mb:.0} MB ({:.1} GB) exceed the {AWS_PROCESS_CAP} this shared machine allows at once",
            needs / 1024.0
        ));
    }
    // Keep 2 GB for terraform, the devstack and the engineers compiling beside it.
    if needs > available - 2048.0 {
        return Some(format!(
            "{k} processes of {peak_mb:.0} MB need {:.1} GB; {:.1} GB is free",
            needs / 1024.0,
            available / 1024.0
        ));
    }
    None
}

/// Part 2: results.json's `configurations` and the table's rows.
pub fn run(world: &World, ours_ks: &[usize], aws_ks: &[usize], quick: bool) -> anyhow::Result<(Value, Vec<Row>)> {
    let mut results = Map::new();
    let mut measured: Vec<(Tool, usize, Vec<Measured>, Vec<Measured>)> = Vec::new();
    let mut ours = Map::new();
    for &k in ours_ks {
        crate::util::step(&format!("K = {k} configurations: {OURS}"));
        let (applies, plans) = measure(world, Tool::Ours, k, quick)?;
        ours.insert(k.to_string(), tool_json(k, &applies, &plans));
        measured.push((Tool::Ours, k, applies, plans));
    }
    results.insert(OURS.into(), Value::Object(ours));
    let mut theirs = Map::new();
    let mut stops = Vec::new();
    let mut peak_mb = 0.0f64;
    let mut candidates: Vec<usize> = aws_ks.to_vec();
    // Where it would go next, so the results say where and why it stops.
    for k in ours_ks {
        if !candidates.contains(k) {
            candidates.push(*k);
        }
    }
    candidates.sort_unstable();
    for k in candidates {
        let wanted = aws_ks.contains(&k);
        if peak_mb > 0.0 || !wanted {
            let refusal = aws_refusal(
                k,
                peak_mb.max(1.0),
                available_mb().unwrap_or(0.0),
                total_mb().unwrap_or(0.0),
            );
            let reason = match (refusal, wanted) {
                (Some(reason), _) => reason,
                (None, false) => "not asked for (--aws-configurations): each one takes minutes".to_string(),
                (None, true) => String::new(),
            };
            if !reason.is_empty() {
                stops.push(json!({"configurations": k, "reason": reason}));
                continue;
            }
        }
        crate::util::step(&format!("K = {k} configurations: {AWS}"));
        // Recorded, not fatal: the rest of the bench still has something to say.
        let (applies, plans) = match measure(world, Tool::Aws, k, quick) {
            Ok(runs) => runs,
            Err(e) => {
                eprintln!("    hashicorp/aws at K = {k} failed: {e:#}");
                stops.push(json!({"configurations": k, "reason": format!("failed: {e:#}")}));
                continue;
            }
        };
        peak_mb = peak_mb.max(
            applies
                .iter()
                .chain(&plans)
                .map(|m| m.providers.max_peak_kb() as f64 / 1024.0)
                .fold(0.0, f64::max),
        );
        theirs.insert(k.to_string(), tool_json(k, &applies, &plans));
        measured.push((Tool::Aws, k, applies, plans));
    }
    results.insert(AWS.into(), Value::Object(theirs));
    results.insert("hashicorp_aws_not_run".into(), Value::Array(stops));
    results.insert("policies_per_role".into(), json!(POLICIES_PER_ROLE));
    results.insert(
        "memory_available_mb_at_end".into(),
        json!(available_mb().map(|m| round(m, 0))),
    );

    let find = |tool: Tool, k: usize| measured.iter().find(|m| m.0 == tool && m.1 == k);
    let mut rows = Vec::new();
    for &k in ours_ks {
        let (o, a) = (find(Tool::Ours, k), find(Tool::Aws, k));
        let job = |what: &str| {
            format!("{k} configurations (one per account), role + {POLICIES_PER_ROLE} policies each: {what}")
        };
        rows.push(Row {
            job: job("apply"),
            unit: "s",
            ours: o.and_then(|m| report::wall(&m.2)),
            aws: a.and_then(|m| report::wall(&m.2)),
            floor: None,
        });
        rows.push(Row {
            job: job("refresh plan"),
            unit: "s",
            ours: o.and_then(|m| report::wall(&m.3)),
            aws: a.and_then(|m| report::wall(&m.3)),
            floor: None,
        });
        rows.push(Row {
            job: job("summed provider peak RSS per configuration, plan"),
            unit: "MB",
            ours: o.and_then(|m| per_configuration(&m.3, k, |r| r.providers.sum_peak_kb())),
            aws: a.and_then(|m| per_configuration(&m.3, k, |r| r.providers.sum_peak_kb())),
            floor: None,
        });
        rows.push(Row {
            job: job("summed provider PSS per configuration, plan"),
            unit: "MB",
            ours: o.and_then(|m| per_configuration(&m.3, k, |r| r.providers.sum_pss_kb())),
            aws: a.and_then(|m| per_configuration(&m.3, k, |r| r.providers.sum_pss_kb())),
            floor: None,
        });
    }
    for row in &rows {
        report::print_row(row);
    }
    Ok((Value::Object(results), rows))
}

/// `(K, MB per configuration)` of one tool, for the chart.
pub fn memory_series(configurations: &Value, tool: &str) -> Vec<(f64, f64)> {
    report::points(&configurations[tool], |v| {
        v["summed_peak_rss_mb_per_configuration_plan"]["median"].as_f64()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_configuration_has_its_provider_account_and_role() {
        let ours = body(Tool::Ours, 3, "http://127.0.0.1:1");
        assert_eq!(ours.matches("provider \"vantage\"").count(), 3);
        assert!(ours.contains(&role_in(&account(2))));
        assert!(ours.contains("provider = vantage.acct_2"));
        assert!(ours.contains("\"bench-vantage-k2\""));
        let theirs = body(Tool::Aws, 2, "http://127.0.0.1:1");
        assert_eq!(theirs.matches("provider \"aws\"").count(), 2);
        assert!(theirs.contains("provider = aws.acct_1"));
    }

    #[test]
    fn hashicorp_aws_stops_at_the_machine_or_the_process_cap() {
        let (available, total) = (20_000.0, 24_000.0);
        assert_eq!(aws_refusal(10, 530.0, available, total), None);
        let cap = aws_refusal(30, 530.0, available, total).expect("over the cap");
        assert!(cap.contains("exceed the 20"), "{cap}");
        let machine = aws_refusal(50, 530.0, available, total).expect("over the machine");
        assert!(machine.contains("more than the machine"), "{machine}");
        let free = aws_refusal(20, 530.0, 9_000.0, total).expect("not enough free");
        assert!(free.contains("free"), "{free}");
    }

    #[test]
    fn the_memory_series_is_sorted_by_k() {
        let results = json!({"vantage": {
            "200": {"summed_peak_rss_mb_per_configuration_plan": {"median": 9.0}},
            "10": {"summed_peak_rss_mb_per_configuration_plan": {"median": 18.0}},
        }});
        assert_eq!(memory_series(&results, OURS), vec![(10.0, 18.0), (200.0, 9.0)]);
    }
}
