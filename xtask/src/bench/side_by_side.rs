//! Issue 18, part 1: one role with N inline policies, the same AWS objects
//! with ours and with hashicorp/aws, and the same payload in `terraform_data`
//! as the floor. Each cycle applies, plans without and with refresh, and
//! destroys, so every phase runs against the state the previous one left.

use serde_json::{Map, Value};

use super::report::{self, AWS, FLOOR, OURS, Row};
use super::workspace::{Measured, Providers, Tf, World};

/// The document every inline policy carries, for all three tools.
pub const POLICY: &str = r#"jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["ec2:Describe*"], Resource = "*" }] })"#;

/// The trust policy's principal and external id, given literally to both
/// providers so neither asks Vantage (the objects, not the lookup, are measured).
pub const PRINCIPAL: &str = "arn:aws:iam::630399649041:root";
pub const EXTERNAL_ID: &str = "bench-external-id";

fn trust_expression() -> String {
    format!(
        r#"jsonencode({{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Principal = {{ AWS = "{PRINCIPAL}" }}, Action = "sts:AssumeRole", Condition = {{ StringEquals = {{ "sts:ExternalId" = "{EXTERNAL_ID}" }} }} }}] }})"#
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tool {
    Ours,
    Aws,
    Floor,
}

impl Tool {
    pub fn key(self) -> &'static str {
        match self {
            Tool::Ours => OURS,
            Tool::Aws => AWS,
            Tool::Floor => FLOOR,
        }
    }

    pub fn providers(self) -> Providers {
        match self {
            Tool::Ours => Providers::Ours,
            Tool::Aws => Providers::Aws { with_ours: false },
            Tool::Floor => Providers::Builtin,
        }
    }
}

/// A role named `role` with `n` inline policies, as `tool` writes it.
/// `provider` is the provider block (hashicorp/aws needs one) and the
/// resources' `provider` argument, when a configuration holds several.
pub fn role_with_policies(tool: Tool, role: &str, n: usize, provider: Option<&str>) -> String {
    let meta = provider.map(|p| format!("  provider = {p}\n")).unwrap_or_default();
    let label = role.replace(['-', '.'], "_");
    let trust = trust_expression();
    match tool {
        Tool::Ours => format!(
            r#"resource "vantage_aws_cross_account_role" "{label}" {{
{meta}  name                      = "{role}"
  vantage_principal_arn     = "{PRINCIPAL}"
  external_id               = "{EXTERNAL_ID}"
  managed_policy_arns       = []
  exclusive_inline_policies = false
}}
resource "vantage_aws_role_policy" "{label}" {{
{meta}  count  = {n}
  role   = vantage_aws_cross_account_role.{label}.name
  name   = "bench-${{count.index}}"
  policy = {POLICY}
}}
"#
        ),
        Tool::Aws => format!(
            r#"resource "aws_iam_role" "{label}" {{
{meta}  name               = "{role}"
  assume_role_policy = {trust}
}}
resource "aws_iam_role_policy" "{label}" {{
{meta}  count  = {n}
  role   = aws_iam_role.{label}.id
  name   = "bench-${{count.index}}"
  policy = {POLICY}
}}
"#
        ),
        Tool::Floor => format!(
            r#"resource "terraform_data" "role_{label}" {{
  input = {{
    name               = "{role}"
    assume_role_policy = {trust}
  }}
}}
resource "terraform_data" "policy_{label}" {{
  count = {n}
  input = {{
    role   = terraform_data.role_{label}.output.name
    name   = "bench-${{count.index}}"
    policy = {POLICY}
  }}
}}
"#
        ),
    }
}

/// Apply/destroy cycles and plans of each kind per cycle. hashicorp/aws takes
/// seconds per phase and minutes at N = 500, so it runs fewer cycles with more
/// plans in each: at least three plans of each kind everywhere, three cycles
/// where they are cheap.
pub fn repetitions(tool: Tool, n: usize, quick: bool) -> (usize, usize) {
    match (tool, quick) {
        (Tool::Aws, true) => (1, 2),
        (_, true) => (2, 1),
        (Tool::Aws, false) if n >= 500 => (1, 3),
        (Tool::Aws, false) => (2, 2),
        _ => (3, 1),
    }
}

pub const PHASES: [(&str, &str); 4] = [
    ("apply", "apply"),
    ("plan_no_refresh", "plan -refresh=false"),
    ("plan_refresh", "refresh plan"),
    ("destroy", "destroy"),
];

/// Runs every phase of one tool at one N; the runs of each phase in [`PHASES`] order.
fn measure_tool(world: &World, tool: Tool, n: usize, quick: bool) -> anyhow::Result<[Vec<Measured>; 4]> {
    let tf = Tf::new(world, tool.providers())?;
    let mut body = String::new();
    if tool == Tool::Aws {
        body.push_str(&super::peers::aws_provider_block(
            &world.devstack.ready.aws_url,
            None,
            None,
        ));
    }
    body.push_str(&role_with_policies(tool, &format!("bench-{}-{n}", tool.key()), n, None));
    tf.config(&body)?;
    tf.init()?;
    let (cycles, plans) = repetitions(tool, n, quick);
    let mut runs: [Vec<Measured>; 4] = Default::default();
    for _ in 0..cycles {
        runs[0].push(tf.measure(world, &["apply", "-auto-approve", "-input=false"])?);
        for _ in 0..plans {
            runs[1].push(tf.measure(world, &["plan", "-refresh=false", "-input=false"])?);
        }
        for _ in 0..plans {
            runs[2].push(tf.measure(world, &["plan", "-input=false"])?);
        }
        runs[3].push(tf.measure(world, &["destroy", "-auto-approve", "-input=false"])?);
    }
    Ok(runs)
}

/// Part 1 for each N: results.json's `side_by_side` and the table's rows.
pub fn run(world: &World, sizes: &[usize], quick: bool, with_aws: bool) -> anyhow::Result<(Value, Vec<Row>)> {
    let mut results = Map::new();
    let mut rows = Vec::new();
    for &n in sizes {
        let tools: &[Tool] = if with_aws {
            &[Tool::Floor, Tool::Ours, Tool::Aws]
        } else {
            &[Tool::Floor, Tool::Ours]
        };
        let mut by_tool = Map::new();
        let mut measured: Vec<(Tool, [Vec<Measured>; 4])> = Vec::new();
        for &tool in tools {
            crate::util::step(&format!("N = {n}: {}", tool.key()));
            let runs = measure_tool(world, tool, n, quick)?;
            let mut phases = Map::new();
            for (i, (key, _)) in PHASES.iter().enumerate() {
                phases.insert((*key).to_string(), report::runs_json(&runs[i]));
            }
            by_tool.insert(tool.key().to_string(), Value::Object(phases));
            measured.push((tool, runs));
        }
        let find = |tool: Tool| measured.iter().find(|(t, _)| *t == tool).map(|(_, r)| r);
        let mut ratios = Map::new();
        for (i, (key, label)) in PHASES.iter().enumerate() {
            let row = Row {
                job: format!("one role + {n} inline policies: {label}"),
                unit: "s",
                ours: find(Tool::Ours).and_then(|r| report::wall(&r[i])),
                aws: find(Tool::Aws).and_then(|r| report::wall(&r[i])),
                floor: find(Tool::Floor).and_then(|r| report::wall(&r[i])),
            };
            report::print_row(&row);
            ratios.insert((*key).to_string(), row.to_json());
            rows.push(row);
        }
        let peak = Row {
            job: format!("one role + {n} inline policies: largest provider process (peak RSS)"),
            unit: "MB",
            ours: find(Tool::Ours).and_then(|r| report::peak_rss_mb(&r.concat())),
            aws: find(Tool::Aws).and_then(|r| report::peak_rss_mb(&r.concat())),
            floor: None,
        };
        ratios.insert("largest_provider_peak_rss".into(), peak.to_json());
        rows.push(peak);
        by_tool.insert("table".into(), Value::Object(ratios));
        results.insert(n.to_string(), Value::Object(by_tool));
    }
    Ok((Value::Object(results), rows))
}

/// The provider's share of the plan's CPU at the largest N (the issue's
/// "at most 10 %" target), from results.json's `side_by_side`.
pub fn provider_cpu_share(side_by_side: &Value, n: usize) -> Option<f64> {
    let cpu = &side_by_side[n.to_string()][OURS]["plan_no_refresh"]["cpu_seconds"];
    let provider = cpu["provider"]["median"].as_f64()?;
    let terraform = cpu["terraform"]["median"].as_f64()?;
    let total = provider + terraform;
    (total > 0.0).then(|| provider / total)
}

/// `(N, median seconds)` of one tool's phase, for the chart.
pub fn series(side_by_side: &Value, tool: &str, phase: &str) -> Vec<(f64, f64)> {
    report::points(side_by_side, |v| v[tool][phase]["wall_seconds"]["median"].as_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_tool_writes_the_role_and_n_policies() {
        for tool in [Tool::Ours, Tool::Aws, Tool::Floor] {
            let text = role_with_policies(tool, "bench-x-5", 5, None);
            assert!(text.contains("count  = 5") || text.contains("count = 5"), "{text}");
            assert!(text.contains("\"bench-x-5\""), "{text}");
            assert!(text.contains(EXTERNAL_ID), "{text}");
        }
        let aliased = role_with_policies(Tool::Aws, "r", 1, Some("aws.a1"));
        assert_eq!(aliased.matches("provider = aws.a1").count(), 2);
    }

    #[test]
    fn at_least_three_plans_of_each_kind_in_a_full_run() {
        for tool in [Tool::Ours, Tool::Aws, Tool::Floor] {
            for n in [1, 100, 500] {
                let (cycles, plans) = repetitions(tool, n, false);
                assert!(cycles * plans >= 3, "{tool:?} {n}");
            }
        }
    }

    #[test]
    fn the_cpu_share_and_series_come_from_the_results() {
        let results = json!({
            "500": {"vantage": {"plan_no_refresh": {
                "cpu_seconds": {"provider": {"median": 0.1}, "terraform": {"median": 0.9}},
                "wall_seconds": {"median": 0.6}}}},
            "1": {"vantage": {"plan_no_refresh": {"wall_seconds": {"median": 0.1}}}},
        });
        assert!((provider_cpu_share(&results, 500).expect("share") - 0.1).abs() < 1e-9);
        assert_eq!(provider_cpu_share(&results, 1), None);
        assert_eq!(
            series(&results, OURS, "plan_no_refresh"),
            vec![(1.0, 0.1), (500.0, 0.6)]
        );
    }
}
