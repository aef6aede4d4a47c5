//! `cargo xtask bench`: the provider's speed and memory as ratios against
//! baselines measured in the same run (Terraform's built-in `terraform_data`,
//! a bare process start), plus devstack request counts per object. Writes
//! `target/bench/results.json` and prints a table. Never used as a test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use terraform_provider_vantage::VantageProvider;
use tfplugin::Provider;

use crate::util::{cargo, run, step, target_dir};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fewer repetitions and smaller scale runs (for a quick look).
    pub quick: bool,
    /// Also time a cold release build of the provider package's dependencies (slow).
    pub cold_build: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// One terraform working directory wired to the release provider and the devstack.
struct Tf {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Tf {
    fn new(bin_dir: &Path, devstack: &crate::devstack::Ready, usage_file: &Path) -> anyhow::Result<Tf> {
        let dir = tempfile::Builder::new().prefix("vantage-bench-").tempdir()?;
        let rc = dir.path().join("terraform.rc");
        std::fs::write(
            &rc,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"terraform.local/vantage/vantage\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                bin_dir.display()
            ),
        )?;
        let env = vec![
            ("TF_CLI_CONFIG_FILE".into(), rc.display().to_string()),
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("VANTAGE_HOST".into(), devstack.vantage_url.clone()),
            ("VANTAGE_API_TOKEN".into(), devstack.token.clone()),
            ("AWS_ENDPOINT_URL".into(), devstack.aws_url.clone()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("TF_PLUGIN_USAGE_FILE".into(), usage_file.display().to_string()),
        ];
        Ok(Tf { dir, env })
    }

    fn config(&self, body: &str) -> anyhow::Result<()> {
        let text = format!(
            "terraform {{\n  required_providers {{\n    vantage = {{ source = \"terraform.local/vantage/vantage\" }}\n  }}\n}}\n{body}\n"
        );
        std::fs::write(self.dir.path().join("main.tf"), text)?;
        Ok(())
    }

    /// Runs terraform; returns the wall time. Fails on a non-zero exit
    /// (except 2 for `plan -detailed-exitcode`).
    fn run(&self, args: &[&str]) -> anyhow::Result<Duration> {
        let mut cmd = Command::new("terraform");
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in ["TF_LOG", "AWS_PROFILE"] {
            cmd.env_remove(key);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let out = cmd.output().context("running terraform")?;
        let elapsed = start.elapsed();
        if !out.status.success() && out.status.code() != Some(2) {
            bail!(
                "terraform {} failed:\n{}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(elapsed)
    }
}

/// Per-process usage lines the provider appends at exit (TF_PLUGIN_USAGE_FILE).
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    processes: u64,
    max_peak_kb: u64,
    sum_peak_kb: u64,
    sum_anon_kb: u64,
    sum_pss_kb: u64,
    max_anon_kb: u64,
    cpu_ms: u64,
}

fn read_usage(path: &Path) -> Usage {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut u = Usage::default();
    for line in text.lines() {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let peak = field("peak_rss_kb");
        u.processes += 1;
        u.max_peak_kb = u.max_peak_kb.max(peak);
        u.sum_peak_kb += peak;
        let anon = field("rss_anon_kb");
        u.sum_anon_kb += anon;
        u.max_anon_kb = u.max_anon_kb.max(anon);
        u.sum_pss_kb += field("pss_kb");
        u.cpu_ms += field("cpu_ms");
    }
    u
}

/// Where one terraform run's CPU went: Terraform itself, the provider
/// processes (their usage lines), and the devstack with moto behind it.
fn cpu_split(terraform_and_providers: f64, provider: &Usage, devstack: f64) -> Value {
    let provider_seconds = provider.cpu_ms as f64 / 1000.0;
    json!({
        "terraform": round((terraform_and_providers - provider_seconds).max(0.0), 2),
        "provider": round(provider_seconds, 2),
        "devstack_and_moto": round(devstack, 2),
    })
}

/// Runs terraform and returns the wall time, the CPU of terraform and the
/// providers it waited for, and the devstack's CPU over the same span.
fn run_with_cpu(tf: &Tf, devstack: &crate::devstack::Running, args: &[&str]) -> anyhow::Result<(Duration, f64, f64)> {
    let (children, stack) = (crate::util::waited_children_cpu_seconds(), devstack.cpu_seconds());
    let wall = tf.run(args)?;
    Ok((
        wall,
        crate::util::waited_children_cpu_seconds() - children,
        devstack.cpu_seconds() - stack,
    ))
}

fn requests(admin_url: &str) -> anyhow::Result<Value> {
    let response = reqwest::blocking::get(format!("{admin_url}/requests")).context("devstack request counts")?;
    Ok(response.json().unwrap_or(Value::Null))
}

fn total_requests(counts: &Value) -> u64 {
    let mut total = 0;
    for service in ["vantage", "aws"] {
        if let Some(map) = counts[service].as_object() {
            total += map.values().filter_map(Value::as_u64).sum::<u64>();
        }
    }
    total
}

fn request_delta(before: &Value, after: &Value) -> u64 {
    total_requests(after).saturating_sub(total_requests(before))
}

/// Exec to handshake line, against exec to exit of a trivial program.
fn handshake(bin: &Path, runs: usize) -> anyhow::Result<(f64, f64)> {
    let cert = crate::release::terraform_like_client_cert()?;
    let mut provider = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut child = crate::release::start_like_terraform(bin, &cert)?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        provider.push(start.elapsed().as_secs_f64() * 1000.0);
        crate::release::stop(child);
        if !line.starts_with("1|6|") {
            bail!("unexpected handshake line {line:?}");
        }
        let start = Instant::now();
        Command::new("true").status()?;
        baseline.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(provider), median(baseline)))
}

fn terraform_data(n: usize) -> String {
    format!("resource \"terraform_data\" \"x\" {{\n  count = {n}\n  input = \"value-${{count.index}}\"\n}}\n")
}

/// The document every benchmarked role policy carries (and the same-payload
/// baseline with it).
const POLICY_EXPRESSION: &str = r#"jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["ec2:Describe*"], Resource = "*" }] })"#;

/// `terraform_data` carrying what each role policy carries (role, name and the
/// `jsonencode`d document): separates the cost of evaluating and rendering that
/// payload, which Terraform pays either way, from the cost of a plugin.
fn terraform_data_same_payload(n: usize) -> String {
    format!(
        r#"resource "terraform_data" "x" {{
  count = {n}
  input = {{
    role   = "bench-role"
    name   = "bench-${{count.index}}"
    policy = {POLICY_EXPRESSION}
  }}
}}
"#
    )
}

/// Runs terraform and returns its wall time and the CPU seconds of terraform
/// with the provider processes it waited for.
fn run_timed_cpu(tf: &Tf, args: &[&str]) -> anyhow::Result<(f64, f64)> {
    let before = crate::util::waited_children_cpu_seconds();
    let wall = tf.run(args)?;
    Ok((secs(wall), crate::util::waited_children_cpu_seconds() - before))
}

fn role_policies(n: usize, role: &str) -> String {
    format!(
        r#"resource "vantage_aws_role_policy" "p" {{
  count  = {n}
  role   = "{role}"
  name   = "bench-${{count.index}}"
  policy = {POLICY_EXPRESSION}
}}
"#
    )
}

fn has_type(name: &str) -> bool {
    VantageProvider.resources().iter().any(|r| r.type_name() == name)
}

pub fn run_bench(root: &Path, options: Options) -> anyhow::Result<()> {
    crate::util::require_terraform()?;
    let python = crate::moto::ensure(root)?;
    let out_dir = target_dir(root).join("bench");
    std::fs::create_dir_all(&out_dir)?;

    let build_dir = crate::release::build_dir(root);
    let release_target = crate::release::choose(root);
    step(&format!(
        "building release binaries (provider for {}, devstack for the host)",
        release_target.label()
    ));
    let bin_dir = crate::release::build_provider(root, &release_target, &build_dir)?;
    let devstack_dir = crate::release::build_devstack(root, &build_dir)?;
    let provider_bin = bin_dir.join("terraform-provider-vantage");

    let mut results = serde_json::Map::new();
    results.insert(
        "machine".into(),
        json!({
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "terraform": Command::new("terraform").arg("version").output().ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string()),
            "provider_build": release_target.label(),
        }),
    );

    step("handshake latency");
    let (hs, hs_base) = handshake(&provider_bin, if options.quick { 15 } else { 50 })?;
    results.insert("handshake_ms_median".into(), json!(round(hs, 2)));
    results.insert("handshake_baseline_process_ms_median".into(), json!(round(hs_base, 2)));
    results.insert("handshake_ratio".into(), json!(round(hs / hs_base.max(0.001), 2)));

    step("starting a release devstack");
    let devstack = crate::devstack::start(
        &devstack_dir,
        Some(&python),
        &["--rate-limit", "100000000", "--cur-report-limit", "1000"],
    )?;
    let ready = devstack.ready.clone();
    let usage_file = out_dir.join("usage.log");

    // A role the role policies attach to.
    let setup = Tf::new(&bin_dir, &ready, &usage_file)?;
    setup.config(
        r#"resource "vantage_aws_cross_account_role" "bench" {
  name = "bench-role"
  exclusive_inline_policies = false
}"#,
    )?;
    setup.run(&["apply", "-auto-approve", "-input=false"])?;

    step("plan and apply overhead against terraform_data");
    let sizes: &[usize] = if options.quick { &[1, 100] } else { &[1, 100, 500] };
    let mut plan_ratio = serde_json::Map::new();
    let mut apply_ratio = serde_json::Map::new();
    let mut plan_seconds = serde_json::Map::new();
    let mut plan_ratio_same_payload = serde_json::Map::new();
    let mut plan_cpu = serde_json::Map::new();
    let mut apply_seconds = serde_json::Map::new();
    let (mut plan_peak_rss_kb, mut apply_peak_rss_kb) = (0u64, 0u64);
    for &n in sizes {
        let reps = if n >= 500 || options.quick { 3 } else { 5 };
        let base = Tf::new(&bin_dir, &ready, &usage_file)?;
        base.config(&terraform_data(n))?;
        let same_payload = Tf::new(&bin_dir, &ready, &usage_file)?;
        same_payload.config(&terraform_data_same_payload(n))?;
        let ours = Tf::new(&bin_dir, &ready, &usage_file)?;
        ours.config(&role_policies(n, "bench-role"))?;
        let _ = std::fs::remove_file(&usage_file);
        let mut base_plan = Vec::new();
        let mut payload_plan = Vec::new();
        let mut our_plan = Vec::new();
        // CPU summed over the repetitions: (terraform_data, same payload, ours).
        let mut cpu = (0.0, 0.0, 0.0);
        let plan = ["plan", "-refresh=false", "-input=false"];
        for _ in 0..reps {
            let (wall, seconds) = run_timed_cpu(&base, &plan)?;
            base_plan.push(wall);
            cpu.0 += seconds;
            let (wall, seconds) = run_timed_cpu(&same_payload, &plan)?;
            payload_plan.push(wall);
            cpu.1 += seconds;
            let (wall, seconds) = run_timed_cpu(&ours, &plan)?;
            our_plan.push(wall);
            cpu.2 += seconds;
        }
        let plan_usage = read_usage(&usage_file);
        let provider_cpu = plan_usage.cpu_ms as f64 / 1000.0;
        // Terraform's own CPU with the plugin, against the same payload built in:
        // what Terraform spends on its side of the protocol bounds the ratio.
        let terraform_cpu_ratio = (cpu.2 - provider_cpu) / cpu.1.max(1e-9);
        plan_cpu.insert(
            n.to_string(),
            json!({
                "terraform_data": round(cpu.0 / reps as f64, 3),
                "terraform_data_same_payload": round(cpu.1 / reps as f64, 3),
                "ours_terraform": round((cpu.2 - provider_cpu) / reps as f64, 3),
                "ours_provider": round(provider_cpu / reps as f64, 3),
                "terraform_cpu_ratio_vs_same_payload": round(terraform_cpu_ratio, 3),
            }),
        );
        let mut base_apply = Vec::new();
        plan_peak_rss_kb = plan_peak_rss_kb.max(plan_usage.max_peak_kb);
        let _ = std::fs::remove_file(&usage_file);
        let mut our_apply = Vec::new();
        for _ in 0..if n >= 500 { 1 } else { 2 } {
            base_apply.push(secs(base.run(&[
                "apply",
                "-auto-approve",
                "-refresh=false",
                "-input=false",
            ])?));
            our_apply.push(secs(ours.run(&[
                "apply",
                "-auto-approve",
                "-refresh=false",
                "-input=false",
            ])?));
            base.run(&["destroy", "-auto-approve", "-input=false"])?;
            ours.run(&["destroy", "-auto-approve", "-input=false"])?;
        }
        apply_peak_rss_kb = apply_peak_rss_kb.max(read_usage(&usage_file).max_peak_kb);
        let (bp, op, ba, oa) = (
            median(base_plan),
            median(our_plan),
            median(base_apply),
            median(our_apply),
        );
        let payload_median = median(payload_plan);
        plan_ratio.insert(n.to_string(), json!(round(op / bp, 3)));
        plan_ratio_same_payload.insert(n.to_string(), json!(round(op / payload_median, 3)));
        apply_ratio.insert(n.to_string(), json!(round(oa / ba, 3)));
        plan_seconds.insert(
            n.to_string(),
            json!({"terraform_data": round(bp, 3), "terraform_data_same_payload": round(payload_median, 3), "vantage_aws_role_policy": round(op, 3)}),
        );
        apply_seconds.insert(
            n.to_string(),
            json!({"terraform_data": round(ba, 3), "vantage_aws_role_policy": round(oa, 3)}),
        );
        eprintln!(
            "    N={n}: plan {op:.3}s vs {bp:.3}s ({payload_median:.3}s same payload), apply {oa:.3}s vs {ba:.3}s; \
             terraform's own CPU x{terraform_cpu_ratio:.2} of the same-payload plan"
        );
    }
    // Issue 2's measure: one data source read (a Vantage call) against one terraform_data.
    {
        let base = Tf::new(&bin_dir, &ready, &usage_file)?;
        base.config(&terraform_data(1))?;
        let ours = Tf::new(&bin_dir, &ready, &usage_file)?;
        ours.config("data \"vantage_aws_provider_info\" \"this\" {}\n")?;
        let (mut b, mut o) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            b.push(secs(base.run(&["plan", "-input=false"])?));
            o.push(secs(ours.run(&["plan", "-input=false"])?));
        }
        let (b, o) = (median(b), median(o));
        results.insert(
            "data_source_plan".into(),
            json!({"terraform_data_seconds": round(b, 3), "vantage_aws_provider_info_seconds": round(o, 3), "ratio": round(o / b, 3)}),
        );
        eprintln!("    data source plan {o:.3}s vs terraform_data {b:.3}s");
    }
    results.insert("plan_ratio".into(), Value::Object(plan_ratio));
    results.insert("apply_ratio".into(), Value::Object(apply_ratio));
    results.insert("plan_seconds".into(), Value::Object(plan_seconds));
    results.insert("plan_ratio_same_payload".into(), Value::Object(plan_ratio_same_payload));
    results.insert("plan_cpu_seconds".into(), Value::Object(plan_cpu));
    results.insert("apply_seconds".into(), Value::Object(apply_seconds));
    // The issue's measure is the largest plan; applies (which also destroy) are
    // reported beside it.
    results.insert(
        "provider_peak_rss_mb".into(),
        json!(round(plan_peak_rss_kb as f64 / 1024.0, 1)),
    );
    results.insert(
        "provider_peak_rss_mb_apply".into(),
        json!(round(apply_peak_rss_kb as f64 / 1024.0, 1)),
    );

    step("refresh cost: devstack requests per object per refresh");
    let mut per_object = serde_json::Map::new();
    let mut cases: Vec<(&str, usize, String)> = vec![
        (
            "vantage_aws_cross_account_role",
            4,
            r#"resource "vantage_aws_cross_account_role" "r" {
  count = 4
  name  = "bench-refresh-${count.index}"
}"#
            .to_string(),
        ),
        ("vantage_aws_role_policy", 4, role_policies(4, "bench-role")),
    ];
    if has_type("vantage_aws_cur_bucket") {
        cases.push((
            "vantage_aws_cur_bucket",
            2,
            r#"resource "vantage_aws_cur_bucket" "b" {
  count  = 2
  bucket = "bench-cur-${count.index}"
}"#
            .to_string(),
        ));
    }
    if has_type("vantage_aws_cur_report") {
        cases.push((
            "vantage_aws_cur_report",
            12,
            r#"resource "vantage_aws_cur_bucket" "b" {
  bucket = "bench-report-bucket"
}
resource "vantage_aws_cur_report" "r" {
  count  = 12
  name   = "BenchReport${count.index}"
  bucket = vantage_aws_cur_bucket.b.bucket
}"#
            .to_string(),
        ));
    }
    if has_type("vantage_aws_integration") {
        cases.push((
            "vantage_aws_integration",
            3,
            r#"resource "vantage_aws_cross_account_role" "r" {
  count = 3
  name  = "bench-int-${count.index}"
}
resource "vantage_aws_integration" "i" {
  count                  = 3
  cross_account_role_arn = vantage_aws_cross_account_role.r[count.index].arn
}"#
            .to_string(),
        ));
    }
    for (type_name, count, body) in cases {
        let tf = Tf::new(&bin_dir, &ready, &usage_file)?;
        tf.config(&body)?;
        tf.run(&["apply", "-auto-approve", "-input=false"])?;
        // Count only the resources of this type: refresh everything else first, then
        // subtract what a refresh of the helpers alone costs.
        let before = requests(&ready.admin_url)?;
        tf.run(&["plan", "-refresh-only", "-input=false"])?;
        let after = requests(&ready.admin_url)?;
        let calls = request_delta(&before, &after);
        let helper_calls = helper_refresh_calls(type_name, count, &per_object);
        let per = (calls.saturating_sub(helper_calls)) as f64 / count as f64;
        per_object.insert(type_name.to_string(), json!(round(per, 2)));
        eprintln!(
            "    {type_name}: {per:.2} calls per object per refresh ({calls} for {count}, {helper_calls} for helpers)"
        );
        tf.run(&["destroy", "-auto-approve", "-input=false"])?;
    }
    results.insert("refresh_calls_per_object".into(), Value::Object(per_object));

    if has_type("vantage_aws_integration") {
        let n = if options.quick { 50 } else { 200 };
        step(&format!(
            "organisation scale: {n} roles + {n} integrations, one provider configuration"
        ));
        let _ = std::fs::remove_file(&usage_file);
        let tf = Tf::new(&bin_dir, &ready, &usage_file)?;
        tf.config(&format!(
            r#"resource "vantage_aws_cross_account_role" "r" {{
  count = {n}
  name  = "org-${{count.index}}"
}}
resource "vantage_aws_integration" "i" {{
  count                  = {n}
  cross_account_role_arn = vantage_aws_cross_account_role.r[count.index].arn
}}"#
        ))?;
        let before = requests(&ready.admin_url)?;
        let (apply, apply_cpu, apply_stack_cpu) =
            run_with_cpu(&tf, &devstack, &["apply", "-auto-approve", "-input=false"])?;
        let apply_usage = read_usage(&usage_file);
        let _ = std::fs::remove_file(&usage_file);
        let mid = requests(&ready.admin_url)?;
        let (plan, plan_cpu, plan_stack_cpu) = run_with_cpu(&tf, &devstack, &["plan", "-input=false"])?;
        let after = requests(&ready.admin_url)?;
        let plan_usage = read_usage(&usage_file);
        let usage = Usage {
            max_peak_kb: apply_usage.max_peak_kb.max(plan_usage.max_peak_kb),
            max_anon_kb: apply_usage.max_anon_kb.max(plan_usage.max_anon_kb),
            cpu_ms: apply_usage.cpu_ms + plan_usage.cpu_ms,
            processes: apply_usage.processes + plan_usage.processes,
            ..Usage::default()
        };
        let objects = (2 * n) as f64;
        results.insert(
            "org_scale".into(),
            json!({
                "objects": 2 * n,
                "apply_seconds": round(secs(apply), 2),
                "plan_seconds": round(secs(plan), 2),
                "apply_requests_per_object": round(request_delta(&before, &mid) as f64 / objects, 2),
                "plan_requests_per_object": round(request_delta(&mid, &after) as f64 / objects, 2),
                "provider_peak_rss_mb": round(usage.max_peak_kb as f64 / 1024.0, 1),
                "provider_max_private_mb_at_exit": round(usage.max_anon_kb as f64 / 1024.0, 1),
                "provider_cpu_seconds": round(usage.cpu_ms as f64 / 1000.0, 2),
                "provider_processes": usage.processes,
                "apply_cpu_seconds": cpu_split(apply_cpu, &apply_usage, apply_stack_cpu),
                "plan_cpu_seconds": cpu_split(plan_cpu, &plan_usage, plan_stack_cpu),
            }),
        );
        eprintln!(
            "    apply {:.1}s, no-op plan {:.1}s; plan CPU {}",
            secs(apply),
            secs(plan),
            cpu_split(plan_cpu, &plan_usage, plan_stack_cpu)
        );
        tf.run(&["destroy", "-auto-approve", "-input=false"])?;

        let n = if options.quick { 40 } else { 200 };
        step(&format!(
            "{n} provider configurations (one per account), each with a role and an integration"
        ));
        let _ = std::fs::remove_file(&usage_file);
        let tf = Tf::new(&bin_dir, &ready, &usage_file)?;
        let mut body = String::new();
        for i in 0..n {
            body.push_str(&format!(
                r#"provider "vantage" {{
  alias = "acct_{i}"
  region = "us-east-1"
}}
resource "vantage_aws_cross_account_role" "r{i}" {{
  provider = vantage.acct_{i}
  name     = "alias-{i}"
}}
resource "vantage_aws_integration" "i{i}" {{
  provider               = vantage.acct_{i}
  cross_account_role_arn = vantage_aws_cross_account_role.r{i}.arn
}}
"#
            ));
        }
        tf.config(&body)?;
        let (apply, apply_cpu, apply_stack_cpu) =
            run_with_cpu(&tf, &devstack, &["apply", "-auto-approve", "-input=false"])?;
        let apply_usage = read_usage(&usage_file);
        let _ = std::fs::remove_file(&usage_file);
        let (plan, plan_cpu, plan_stack_cpu) = run_with_cpu(&tf, &devstack, &["plan", "-input=false"])?;
        let plan_usage = read_usage(&usage_file);
        let per_config_mb = plan_usage.sum_peak_kb as f64 / 1024.0 / n as f64;
        results.insert(
            "aliases_scale".into(),
            json!({
                "configurations": n,
                "plan_seconds": round(secs(plan), 2),
                "apply_seconds": round(secs(apply), 2),
                "summed_provider_rss_mb": round(plan_usage.sum_peak_kb as f64 / 1024.0, 1),
                "per_configuration_mb": round(per_config_mb, 2),
                // What each configuration costs beyond the binary's pages, which
                // the page cache shares between all provider processes.
                "summed_private_mb_at_exit": round(plan_usage.sum_anon_kb as f64 / 1024.0, 1),
                "private_per_configuration_mb": round(plan_usage.sum_anon_kb as f64 / 1024.0 / n as f64, 2),
                // Shared pages split among the processes mapping them when each exits.
                "summed_pss_mb_at_exit": round(plan_usage.sum_pss_kb as f64 / 1024.0, 1),
                "pss_per_configuration_mb": round(plan_usage.sum_pss_kb as f64 / 1024.0 / n as f64, 2),
                "provider_processes_plan": plan_usage.processes,
                "provider_processes_apply": apply_usage.processes,
                "apply_cpu_seconds": cpu_split(apply_cpu, &apply_usage, apply_stack_cpu),
                "plan_cpu_seconds": cpu_split(plan_cpu, &plan_usage, plan_stack_cpu),
            }),
        );
        eprintln!(
            "    plan {:.1}s (CPU {}), apply {:.1}s, {per_config_mb:.1} MB per configuration ({:.1} MB private, {:.1} MB PSS)",
            secs(plan),
            cpu_split(plan_cpu, &plan_usage, plan_stack_cpu),
            secs(apply),
            plan_usage.sum_anon_kb as f64 / 1024.0 / n as f64,
            plan_usage.sum_pss_kb as f64 / 1024.0 / n as f64
        );
        tf.run(&["destroy", "-auto-approve", "-input=false"])?;
    }
    drop(devstack);

    step("binary size and build time");
    let size = std::fs::metadata(&provider_bin).map(|m| m.len()).unwrap_or(0);
    results.insert("binary_size_mb".into(), json!(round(size as f64 / 1_048_576.0, 2)));
    let build_seconds = build_time(root, &build_dir, &release_target, options.cold_build)?;
    results.insert("cold_build_seconds".into(), json!(round(build_seconds.0, 1)));
    results.insert("cold_build_scope".into(), json!(build_seconds.1));

    let path = out_dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&Value::Object(results.clone()))?)?;
    print_table(&results);
    step(&format!("wrote {}", path.display()));
    Ok(())
}

/// What refreshing a case's helper objects costs (the roles behind the
/// integrations, the bucket behind the reports), from the cases measured before.
fn helper_refresh_calls(type_name: &str, count: usize, measured: &serde_json::Map<String, Value>) -> u64 {
    let per = |t: &str| measured.get(t).and_then(Value::as_f64).unwrap_or(0.0);
    let helpers = match type_name {
        "vantage_aws_integration" => per("vantage_aws_cross_account_role") * count as f64,
        "vantage_aws_cur_report" => per("vantage_aws_cur_bucket"),
        _ => 0.0,
    };
    helpers.round() as u64
}

/// Release build time of the provider package: only our crates by default
/// (`cargo clean -p`), the whole dependency tree in a fresh target dir with `--cold-build`.
fn build_time(
    root: &Path,
    build_dir: &Path,
    target: &crate::release::ReleaseTarget,
    cold: bool,
) -> anyhow::Result<(f64, &'static str)> {
    if cold {
        let fresh: PathBuf = build_dir.with_file_name("cold-target");
        let _ = std::fs::remove_dir_all(&fresh);
        let start = Instant::now();
        run(
            cargo()
                .args(target.build_args())
                .env("CARGO_TARGET_DIR", &fresh)
                .current_dir(root),
            "cold build",
        )?;
        let elapsed = start.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&fresh);
        return Ok((elapsed, "all dependencies, fresh target directory"));
    }
    let mut clean = vec![
        "clean",
        "--release",
        "-p",
        "terraform-provider-vantage",
        "-p",
        "tfplugin",
    ];
    if let Some(triple) = target.triple {
        clean.extend(["--target", triple]);
    }
    run(
        cargo().args(clean).env("CARGO_TARGET_DIR", build_dir).current_dir(root),
        "cargo clean -p",
    )?;
    let start = Instant::now();
    run(
        cargo()
            .args(target.build_args())
            .env("CARGO_TARGET_DIR", build_dir)
            .current_dir(root),
        "cargo build --release",
    )?;
    Ok((
        start.elapsed().as_secs_f64(),
        "tfplugin + provider crates (dependencies cached; --cold-build for all)",
    ))
}

fn print_table(results: &serde_json::Map<String, Value>) {
    let mut rows: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in results {
        match v {
            Value::Object(m) if k != "machine" => {
                for (sub, val) in m {
                    rows.insert(format!("{k}.{sub}"), val.to_string());
                }
            }
            _ => {
                rows.insert(k.clone(), v.to_string());
            }
        }
    }
    eprintln!("\n| measure | value |\n|---|---|");
    for (k, v) in rows {
        eprintln!("| {k} | {v} |");
    }
}
