//! `data "vantage_aws_provider_info"` and the provider configuration, against
//! the devstack: values, bad credentials, secrets in logs, cancellation.

use std::time::{Duration, Instant};

use acceptance_tests::{Devstack, Workspace, wait_until};

const INFO_CONFIG: &str = r#"
data "vantage_aws_provider_info" "this" {}

output "iam_role_arn" { value = data.vantage_aws_provider_info.this.iam_role_arn }
output "iam_role_id" { value = data.vantage_aws_provider_info.this.iam_role_id }
output "vantage_id" { value = data.vantage_aws_provider_info.this.vantage_id }
output "root_policy" { value = data.vantage_aws_provider_info.this.root_policy }
output "autopilot_policy" { value = data.vantage_aws_provider_info.this.autopilot_policy }
output "cloudwatch_metrics_policy" { value = data.vantage_aws_provider_info.this.cloudwatch_metrics_policy }
output "additional_resources_policy" { value = data.vantage_aws_provider_info.this.additional_resources_policy }
output "s3_request_metrics_policy" { value = data.vantage_aws_provider_info.this.s3_request_metrics_policy }
output "external_id" {
  value     = data.vantage_aws_provider_info.this.external_id
  sensitive = true
}
"#;

#[test]
fn provider_info_outputs_match_devstack() {
    let ds = Devstack::shared();
    let ws = Workspace::new("info");
    ws.config(INFO_CONFIG);
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();

    let expected = ds.vantage_get("/v1/integrations/aws/info");
    let out = ws.outputs();
    assert_eq!(out["iam_role_arn"], expected["iam_role_arn"]);
    assert_eq!(out["external_id"], expected["external_id"]);
    assert_eq!(out["iam_role_id"], expected["iam_role_id"]);
    assert_eq!(out["vantage_id"], expected["vantage_id"]);
    assert_eq!(out["root_policy"], expected["policies"]["root"]);
    assert_eq!(out["autopilot_policy"], expected["policies"]["autopilot"]);
    assert_eq!(out["cloudwatch_metrics_policy"], expected["policies"]["cloudwatch"]);
    assert_eq!(out["additional_resources_policy"], expected["policies"]["resources"]);
    assert_eq!(
        out["s3_request_metrics_policy"],
        expected["policies"]["s3_request_metrics"]
    );
    let arn = out["iam_role_arn"].as_str().unwrap_or_default();
    assert!(arn.starts_with("arn:aws:iam::630399649041:role/"), "{arn}");
    assert_eq!(out["external_id"].as_str().map(str::len), Some(22));

    ws.destroy().expect_ok();
}

#[test]
fn missing_token_names_the_environment_variable() {
    let mut ws = Workspace::new("no-token");
    ws.remove_env("VANTAGE_API_TOKEN");
    ws.config(INFO_CONFIG);
    ws.plan()
        .expect_error(r"VANTAGE_API_TOKEN")
        .expect_error(r"/v1/integrations/aws/info");
}

#[test]
fn wrong_token_is_a_clear_401() {
    let mut ws = Workspace::new("bad-token");
    ws.env("VANTAGE_API_TOKEN", "definitely-not-a-token");
    ws.config(INFO_CONFIG);
    let run = ws.plan();
    run.expect_error(r"401 Unauthorized").expect_error("VANTAGE_API_TOKEN");
    assert!(!run.normalized_output().contains("panic"), "{}", run.stderr);
    assert!(
        !run.normalized_output().contains("definitely-not-a-token"),
        "the token is never echoed"
    );
}

#[test]
fn unreachable_host_is_a_clear_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut ws = Workspace::new("unreachable");
    ws.env("VANTAGE_HOST", &format!("http://{addr}"));
    ws.config(INFO_CONFIG);
    let run = ws.plan();
    run.expect_error(r"Could not connect to GET http://127\.0\.0\.1:\d+/v1/integrations/aws/info")
        .expect_error("Check `host` \\(or VANTAGE_HOST\\)");
    assert!(!run.normalized_output().contains("panic"), "{}", run.stderr);
}

#[test]
fn invalid_provider_settings_are_caught_at_plan_time() {
    let ws = Workspace::new("bad-settings");
    ws.config(
        r#"provider "vantage" {
  host    = "api.vantage.sh"
  timeout = "soon"
}
data "vantage_aws_provider_info" "this" {}"#,
    );
    let run = ws.plan();
    run.expect_error(r#""api.vantage.sh" is not a URL"#)
        .expect_error(r#""soon" is not a duration"#);
}

#[test]
fn unknown_provider_configuration_suggests_target() {
    let ws = Workspace::new("unknown-config");
    ws.config(
        r#"resource "terraform_data" "later" {
  input = "x"
}
provider "vantage" {
  host = "http://${terraform_data.later.output}"
}
data "vantage_aws_provider_info" "this" {}"#,
    );
    ws.plan().expect_error(r"-target");
}

#[test]
fn trace_logs_never_contain_the_token_or_the_external_id() {
    let ds = Devstack::shared();
    let external_id = ds.vantage_get("/v1/integrations/aws/info")["external_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(external_id.len(), 22);
    let mut ws = Workspace::new("trace");
    let log_path = ws.path().join("trace.log");
    ws.env("TF_LOG", "trace");
    ws.env("TF_LOG_PATH", &log_path.display().to_string());
    ws.config(INFO_CONFIG);
    let apply = ws.apply();
    apply.expect_ok();
    let plan = ws.plan();
    plan.expect_empty_plan();
    let log = std::fs::read_to_string(&log_path).expect("trace log written");
    assert!(log.contains("provider"), "the trace log has provider lines");
    assert!(log.contains("@module"), "the provider logs hclog JSON at trace level");
    for (name, secret) in [
        ("API token", ds.info.token.as_str()),
        ("external id", external_id.as_str()),
    ] {
        assert!(!log.contains(secret), "the {name} appears in the TF_LOG=trace log");
        for run in [&apply, &plan] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "the {name} appears in output"
            );
        }
    }
}

#[test]
fn ctrl_c_during_a_slow_vantage_answer_cancels_promptly() {
    // A devstack of its own: the fault must not slow other tests down.
    let ds = Devstack::start(&[]);
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "vantage", "match": "GET /v1/integrations/aws/info", "count": 1, "delay_ms": 120000}),
    );
    let ws = Workspace::on(&ds, "ctrl-c");
    ws.config(INFO_CONFIG);
    let child = ws.spawn(&["plan", "-no-color"]);
    let started = Instant::now();
    let asked = wait_until(Duration::from_secs(60), || {
        ds.request_count("vantage", "GET /v1/integrations/aws/info") > 0
    });
    assert!(asked, "the provider reached Vantage");
    let stopped = acceptance_tests::interrupt(child, Duration::from_secs(60));
    let (text, elapsed) = (&stopped.text, started.elapsed());
    assert!(stopped.finished, "terraform did not stop after Ctrl-C:\n{text}");
    assert!(
        elapsed < Duration::from_secs(100),
        "stopped only when the slow answer arrived ({elapsed:?})"
    );
    assert!(!stopped.success);
    // Terraform prints "Interrupt received" for any plan it interrupts: the provider's own
    // diagnostic says the read was cancelled, and it came at once, not when the answer did.
    assert!(
        stopped.elapsed < Duration::from_secs(10),
        "the read ended {:?} after Ctrl-C:\n{text}",
        stopped.elapsed
    );
    assert!(
        text.contains("cancelled"),
        "the provider's diagnostic says the read was cancelled:\n{text}"
    );
}
