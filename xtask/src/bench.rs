//! `cargo xtask bench`: the provider's speed and memory side by side with
//! hashicorp/aws doing the same AWS objects and with Terraform's built-in
//! `terraform_data` carrying the same payload (the floor no plugin goes
//! below), all against one release devstack in the same run; plus the
//! provider's own handshake, refresh calls per object and organisation-scale
//! runs. Writes `<target>/bench/results.json` and `<target>/bench/chart.svg`
//! and prints the table. Never used as a test.

mod configurations;
mod init;
mod organization;
mod peers;
mod procs;
mod quickstart;
mod report;
mod side_by_side;
mod stats;
mod svg;
mod targets;
mod workspace;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use terraform_provider_vantage::VantageProvider;
use tfplugin::Provider;

use crate::util::{cargo, run, step, target_dir};
use report::Row;
use stats::{median, round};
use workspace::{Providers, Tf, World, requests, total_requests};

#[derive(Debug, Clone)]
pub struct Options {
    /// Fewer repetitions and smaller scale runs (for a quick look).
    pub quick: bool,
    /// Also time a cold release build of the provider package's dependencies (slow).
    pub cold_build: bool,
    /// Time a release build of our own crates (`cargo clean -p` first).
    pub build_time: bool,
    /// Numbers of configurations to run hashicorp/aws at (each only while memory allows).
    pub aws_configurations: Vec<usize>,
}

/// Writes what is measured so far, so a failure late in the run keeps the rest.
fn save(path: &Path, results: &Map<String, Value>) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(&Value::Object(results.clone()))?)
        .with_context(|| format!("writing {}", path.display()))
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn run_bench(root: &Path, options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    crate::util::require_terraform()?;
    let aws_mirror = match peers::find_mirror() {
        Ok(dir) => dir,
        Err(why) => bail!("the side-by-side figures need hashicorp/aws: {why}"),
    };
    let python = crate::moto::ensure(root)?;
    let out_dir = target_dir(root).join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let results_path = out_dir.join("results.json");

    let build_dir = crate::release::build_dir(root);
    let release_target = crate::release::choose(root);
    step(&format!(
        "building release binaries (provider for {}, devstack for the host)",
        release_target.label()
    ));
    let provider_bin = crate::release::build_provider(root, &release_target, &build_dir)?;
    let bin_dir = provider_bin.parent().map(Path::to_path_buf).unwrap_or_default();
    let devstack_dir = crate::release::build_devstack(root, &build_dir)?;

    let mut results = Map::new();
    let date = utc_now();
    results.insert(
        "machine".into(),
        json!({
            "date": date,
            "quick": options.quick,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "terraform": Command::new("terraform").arg("version").env("CHECKPOINT_DISABLE", "1").output().ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string()),
            "provider_build": release_target.label(),
            "hashicorp_aws": format!("{} from {}", peers::AWS_VERSION, aws_mirror.display()),
            "devstack": "release build; moto without AWS managed policies for parts 1 and 2, with them for the rest",
        }),
    );

    step("handshake latency");
    let (hs, hs_base) = handshake(&provider_bin, if options.quick { 15 } else { 50 })?;
    results.insert("handshake_ms_median".into(), json!(round(hs, 2)));
    results.insert("handshake_baseline_process_ms_median".into(), json!(round(hs_base, 2)));
    results.insert("handshake_ratio".into(), json!(round(hs / hs_base.max(0.001), 2)));

    // Parts 1 and 2 attach no managed policy, and part 2 spans hundreds of
    // accounts: their devstack's moto has none (its first call in an account
    // then costs milliseconds, not a second). The rest needs `ViewOnlyAccess`
    // and runs on a devstack as `cargo xtask demo` starts it.
    step("starting a release devstack (moto without AWS managed policies)");
    let lean = crate::devstack::start(
        &devstack_dir,
        Some(&python),
        &[
            "--rate-limit",
            "100000000",
            "--cur-report-limit",
            "1000",
            "--moto-without-managed-policies",
        ],
    )?;
    let usage_file = out_dir.join("usage.log");
    let world = World {
        bin_dir: bin_dir.clone(),
        aws_mirror: Some(aws_mirror.clone()),
        devstack: &lean,
        usage_file: usage_file.clone(),
    };
    let ours_ks: &[usize] = if options.quick { &[10, 50] } else { &[10, 50, 200] };
    let accounts: Vec<String> = (0..ours_ks.iter().copied().max().unwrap_or(0))
        .map(peers::account)
        .collect();
    warm_up(&world, &accounts)?;
    let mut rows: Vec<Row> = Vec::new();

    step("one role with N inline policies, side by side");
    let sizes: &[usize] = if options.quick { &[1, 100] } else { &[1, 100, 500] };
    let (side, side_rows) = side_by_side::run(&world, sizes, options.quick, true)?;
    let largest = sizes.last().copied().unwrap_or(1);
    let cpu_share = side_by_side::provider_cpu_share(&side, largest);
    results.insert("side_by_side".into(), side);
    results.insert(
        "provider_cpu_share_of_plan".into(),
        json!({"n": largest, "share": cpu_share.map(|s| round(s, 3))}),
    );
    rows.extend(side_rows);
    save(&results_path, &results)?;

    step("K provider configurations, one per account");
    let (configs, config_rows) = configurations::run(&world, ours_ks, &options.aws_configurations, options.quick)?;
    let ran_200 = configs[report::OURS].get("200").is_some();
    results.insert("configurations".into(), configs);
    rows.extend(config_rows);
    save(&results_path, &results)?;

    // Member accounts attach no managed policy here (`managed_policy_arns = []`): this
    // devstack's moto has none, and loading them would cost moto a second per member.
    let members = 50;
    results.insert(
        "organization".into(),
        organization::run(&world, members, if options.quick { 2 } else { 3 })?,
    );
    save(&results_path, &results)?;

    drop(lean);

    step("starting a release devstack");
    let devstack = crate::devstack::start(
        &devstack_dir,
        Some(&python),
        &["--rate-limit", "100000000", "--cur-report-limit", "1000"],
    )?;
    let world = World {
        bin_dir: bin_dir.clone(),
        aws_mirror: Some(aws_mirror),
        devstack: &devstack,
        usage_file,
    };
    warm_up(&world, &quickstart::ACCOUNTS.map(peers::account))?;
    let (init_json, init_row) = init::run(&world, &provider_bin, if options.quick { 2 } else { 3 }, true)?;
    results.insert("init".into(), init_json);
    rows.push(init_row);
    save(&results_path, &results)?;

    let (quickstart_json, quickstart_rows) = quickstart::run(&world, root, options.quick, true)?;
    results.insert("quickstart".into(), quickstart_json);
    rows.extend(quickstart_rows);
    save(&results_path, &results)?;

    data_source_plan(&world, &mut results)?;
    refresh_calls(&world, &mut results)?;
    if has_type("vantage_aws_integration") {
        org_scale(&world, if options.quick { 50 } else { 200 }, &mut results)?;
    }
    drop(devstack);

    let size = std::fs::metadata(&provider_bin).map(|m| m.len()).unwrap_or(0);
    results.insert("binary_size_mb".into(), json!(round(size as f64 / 1_048_576.0, 2)));
    if options.build_time || options.cold_build {
        step("build time");
        let build_seconds = build_time(root, &build_dir, &release_target, options.cold_build)?;
        results.insert("build_seconds".into(), json!(round(build_seconds.0, 1)));
        results.insert("build_scope".into(), json!(build_seconds.1));
    }

    let checked = targets::check(
        &rows,
        (largest, cpu_share),
        results["handshake_ms_median"].as_f64(),
        &results["refresh_calls_per_object"],
        ran_200,
    );
    results.insert("table".into(), Value::Array(rows.iter().map(Row::to_json).collect()));
    results.insert(
        "targets".into(),
        Value::Array(checked.iter().map(targets::Target::to_json).collect()),
    );
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    results.insert("bench_minutes".into(), json!(round(minutes, 1)));
    save(&results_path, &results)?;

    let chart_path = out_dir.join("chart.svg");
    std::fs::write(&chart_path, chart(&results, &date))?;

    eprintln!("\n{}", report::markdown(&rows));
    eprintln!("{}", targets::markdown(&checked));
    print_scalars(&results);
    step(&format!(
        "wrote {} and {} ({minutes:.1} min)",
        results_path.display(),
        chart_path.display()
    ));
    Ok(())
}

/// moto builds an account's IAM (its ~1,000 AWS managed policies) on the first
/// call there, which costs more than a whole plan of ours: one unmeasured apply
/// in the default account and in every account the bench uses, so no measured
/// run pays it and neither tool pays it for the other.
fn warm_up(world: &World, accounts: &[String]) -> anyhow::Result<()> {
    step(&format!("warming up moto in {} accounts", accounts.len() + 1));
    let tf = Tf::new(world, Providers::Ours)?;
    let mut body = side_by_side::role_with_policies(side_by_side::Tool::Ours, "bench-warm", 1, None);
    for (i, account) in accounts.iter().enumerate() {
        body.push_str(&format!(
            "provider \"vantage\" {{\n  alias = \"warm_{i}\"\n  assume_role {{\n    role_arn = \"{}\"\n  }}\n}}\n",
            peers::role_in(account)
        ));
        body.push_str(&side_by_side::role_with_policies(
            side_by_side::Tool::Ours,
            &format!("bench-warm-{i}"),
            1,
            Some(&format!("vantage.warm_{i}")),
        ));
    }
    tf.config(&body)?;
    // Gently: building an account's IAM holds moto for a while, and credentials
    // from an AssumeRole that waits behind too many of them time out. The roles
    // stay (no measured configuration uses their names).
    let apply = ["apply", "-auto-approve", "-input=false", "-parallelism=4"];
    let mut last = None;
    for _ in 0..3 {
        match tf.run(&apply) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("warm-up failed"), |e| e.context("warming up moto")))
}

/// Plan time against N for the three tools, memory per configuration against K.
fn chart(results: &Map<String, Value>, date: &str) -> String {
    use svg::{Panel, Series};
    let colors = [
        (report::OURS, "vantage (ours)", "#1f77b4"),
        (report::AWS, "hashicorp/aws", "#d62728"),
        (report::FLOOR, "terraform_data (floor)", "#7f7f7f"),
    ];
    let side = results.get("side_by_side").cloned().unwrap_or(Value::Null);
    let plan_panel = |phase: &str, title: &str| Panel {
        title: title.into(),
        x_label: "N inline policies on one role".into(),
        y_label: "wall seconds (median)".into(),
        series: colors
            .iter()
            .map(|(key, name, color)| Series {
                name: (*name).into(),
                color,
                points: side_by_side::series(&side, key, phase),
            })
            .filter(|s| !s.points.is_empty())
            .collect(),
    };
    let configs = results.get("configurations").cloned().unwrap_or(Value::Null);
    let memory = Panel {
        title: "provider memory per configuration".into(),
        x_label: "K provider configurations (one per account)".into(),
        y_label: "summed peak RSS per configuration, MB".into(),
        series: colors[..2]
            .iter()
            .map(|(key, name, color)| Series {
                name: (*name).into(),
                color,
                points: configurations::memory_series(&configs, key),
            })
            .filter(|s| !s.points.is_empty())
            .collect(),
    };
    svg::render(
        &[
            plan_panel("plan_no_refresh", "plan -refresh=false"),
            plan_panel("plan_refresh", "refresh plan"),
            memory,
        ],
        &format!("cargo xtask bench, {date}; medians, log-log axes; target/bench/results.json has min and max"),
    )
}

/// The figures outside the side-by-side table.
fn print_scalars(results: &Map<String, Value>) {
    for key in [
        "handshake_ms_median",
        "handshake_baseline_process_ms_median",
        "provider_cpu_share_of_plan",
        "data_source_plan",
        "refresh_calls_per_object",
        "org_scale",
        "binary_size_mb",
        "build_seconds",
    ] {
        if let Some(v) = results.get(key) {
            eprintln!("{key}: {v}");
        }
    }
}

/// Issue 2's measure: one data source read (a Vantage call) against one terraform_data.
fn data_source_plan(world: &World, results: &mut Map<String, Value>) -> anyhow::Result<()> {
    step("one data source against one terraform_data");
    let base = Tf::new(world, Providers::Builtin)?;
    base.config("resource \"terraform_data\" \"x\" {\n  input = \"value\"\n}\n")?;
    let ours = Tf::new(world, Providers::Ours)?;
    ours.config("data \"vantage_aws_provider_info\" \"this\" {}\n")?;
    let (mut b, mut o) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        b.push(base.run(&["plan", "-input=false"])?.as_secs_f64());
        o.push(ours.run(&["plan", "-input=false"])?.as_secs_f64());
    }
    let (b, o) = (median(&b), median(&o));
    results.insert(
        "data_source_plan".into(),
        json!({"terraform_data_seconds": round(b, 3), "vantage_aws_provider_info_seconds": round(o, 3), "ratio": round(o / b, 3)}),
    );
    Ok(())
}

/// Devstack requests per object per refresh, for each resource type.
fn refresh_calls(world: &World, results: &mut Map<String, Value>) -> anyhow::Result<()> {
    step("refresh cost: devstack requests per object per refresh");
    let policies = side_by_side::role_with_policies(side_by_side::Tool::Ours, "bench-refresh-policies", 4, None);
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
        ("vantage_aws_role_policy", 4, policies),
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
    let admin = &world.devstack.ready.admin_url;
    let mut per_object = Map::new();
    for (type_name, count, body) in cases {
        let tf = Tf::new(world, Providers::Ours)?;
        tf.config(&body)?;
        tf.run(&["apply", "-auto-approve", "-input=false"])?;
        // Count only the resources of this type: subtract what a refresh of
        // the helpers (the role behind the policies and integrations, the
        // bucket behind the reports) costs, from the cases measured before.
        let before = requests(admin)?;
        tf.run(&["plan", "-refresh-only", "-input=false"])?;
        let calls = total_requests(&requests(admin)?).saturating_sub(total_requests(&before));
        let helper_calls = helper_refresh_calls(type_name, count, &per_object);
        let per = (calls.saturating_sub(helper_calls)) as f64 / count as f64;
        per_object.insert(type_name.to_string(), json!(round(per, 2)));
        eprintln!(
            "    {type_name}: {per:.2} calls per object per refresh ({calls} for {count}, {helper_calls} for helpers)"
        );
        tf.run(&["destroy", "-auto-approve", "-input=false"])?;
    }
    results.insert("refresh_calls_per_object".into(), Value::Object(per_object));
    Ok(())
}

/// `n` roles and `n` integrations in one provider configuration.
fn org_scale(world: &World, n: usize, results: &mut Map<String, Value>) -> anyhow::Result<()> {
    step(&format!(
        "organisation scale: {n} roles + {n} integrations, one provider configuration"
    ));
    let tf = Tf::new(world, Providers::Ours)?;
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
    let apply = tf.measure(world, &["apply", "-auto-approve", "-input=false"])?;
    let plan = tf.measure(world, &["plan", "-input=false"])?;
    let objects = (2 * n) as f64;
    let cpu = |m: &workspace::Measured| {
        json!({
            "terraform": round(m.terraform_cpu(), 2),
            "provider": round(m.providers.cpu_seconds(), 2),
            "devstack_and_moto": round(m.devstack_cpu, 2),
        })
    };
    results.insert(
        "org_scale".into(),
        json!({
            "objects": 2 * n,
            "apply_seconds": round(apply.wall, 2),
            "plan_seconds": round(plan.wall, 2),
            "apply_requests_per_object": round(apply.requests as f64 / objects, 2),
            "plan_requests_per_object": round(plan.requests as f64 / objects, 2),
            "provider_peak_rss_mb": round(apply.providers.max_peak_kb().max(plan.providers.max_peak_kb()) as f64 / 1024.0, 1),
            "provider_processes": apply.providers.processes() + plan.providers.processes(),
            "apply_cpu_seconds": cpu(&apply),
            "plan_cpu_seconds": cpu(&plan),
        }),
    );
    eprintln!(
        "    apply {:.1}s, no-op plan {:.1}s; plan CPU {}",
        apply.wall,
        plan.wall,
        cpu(&plan)
    );
    tf.run(&["destroy", "-auto-approve", "-input=false"])?;
    Ok(())
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
    Ok((median(&provider), median(&baseline)))
}

fn has_type(name: &str) -> bool {
    VantageProvider.resources().iter().any(|r| r.type_name() == name)
}

/// What refreshing a case's helper objects costs (the role behind the
/// policies and the integrations, the bucket behind the reports), from the
/// cases measured before.
fn helper_refresh_calls(type_name: &str, count: usize, measured: &serde_json::Map<String, Value>) -> u64 {
    let per = |t: &str| measured.get(t).and_then(Value::as_f64).unwrap_or(0.0);
    let helpers = match type_name {
        "vantage_aws_integration" => per("vantage_aws_cross_account_role") * count as f64,
        "vantage_aws_role_policy" => per("vantage_aws_cross_account_role"),
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
        run(target.build_command(&fresh)?.current_dir(root), "cold build")?;
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
        target.build_command(build_dir)?.current_dir(root),
        "cargo build --release",
    )?;
    Ok((
        start.elapsed().as_secs_f64(),
        "tfplugin + provider crates (dependencies cached; --cold-build for all)",
    ))
}
