//! The devstack as a process: ready line, moto as a child and its lifetime, upstream choice,
//! persistence.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{Devstack, ROLE, start_failure, wait_with_timeout};
use reqwest::Method;
use serde_json::{Value, json};

/// Processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// Running (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

fn moto_of(stack: &Devstack) -> u32 {
    let children = children_of(stack.pid());
    let moto: Vec<u32> = children
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| cmd.contains("moto.server"))
        })
        .collect();
    assert_eq!(moto.len(), 1, "exactly one moto child: {moto:?}");
    moto[0]
}

fn wait_gone(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[tokio::test]
async fn ready_line_names_loopback_urls_a_generated_token_and_the_upstream() {
    let stack = Devstack::start(&[]);
    eprintln!("devstack with moto: ready line after {:?}", stack.startup);
    let keys: Vec<&str> = stack
        .ready
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["vantage_url", "aws_url", "admin_url", "token", "aws_upstream_url"]
    );
    assert!(stack.vantage_url.starts_with("http://127.0.0.1:"));
    assert!(stack.aws_url.starts_with("http://127.0.0.1:"));
    assert!(stack.aws_upstream_url().starts_with("http://127.0.0.1:"));
    assert_ne!(stack.vantage_url, stack.aws_url);
    assert_ne!(stack.aws_upstream_url(), stack.aws_url);
    assert_eq!(stack.admin_url, format!("{}/_devstack", stack.vantage_url));
    assert!(stack.token.starts_with("vntg_tkn_"), "{}", stack.token);
    // The generated token has both scopes.
    assert_eq!(stack.get("/v1/integrations/aws/info").await.status(), 200);
    // The upstream is moto, a child of devstack.
    let moto = moto_of(&stack);
    assert!(alive(moto));
    let res = stack
        .client
        .get(format!("{}/moto-api/", stack.aws_upstream_url()))
        .send()
        .await
        .expect("moto answers");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn ready_line_prints_the_first_given_token() {
    let stack = Devstack::start_offline(&["--token", "first:read", "--token", "second"]);
    assert_eq!(stack.token, "first");
    assert_eq!(stack.aws_upstream_url(), common::NO_UPSTREAM);
}

#[test]
fn stdin_eof_stops_devstack_and_its_moto() {
    let stack = Devstack::start(&[]);
    let moto = moto_of(&stack);
    let status = stack.stop();
    assert!(status.success(), "{status:?}");
    assert!(wait_gone(moto), "moto {moto} outlived devstack");
}

#[test]
fn sigterm_and_sigint_stop_devstack_and_its_moto() {
    for signal in ["-TERM", "-INT"] {
        let mut stack = Devstack::start(&[]);
        let moto = moto_of(&stack);
        let pid = stack.pid().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().expect("run kill");
        assert!(sent.success());
        let status = wait_with_timeout(stack.child_mut(), Duration::from_secs(10)).expect("devstack exits");
        assert!(status.success(), "{signal}: {status:?}");
        assert!(wait_gone(moto), "{signal}: moto {moto} outlived devstack");
    }
}

#[test]
fn sigkill_of_devstack_takes_moto_down_too() {
    let mut stack = Devstack::start(&[]);
    let moto = moto_of(&stack);
    let pid = stack.pid().to_string();
    let sent = Command::new("kill").args(["-KILL", &pid]).status().expect("run kill");
    assert!(sent.success());
    wait_with_timeout(stack.child_mut(), Duration::from_secs(10)).expect("devstack killed");
    assert!(wait_gone(moto), "moto {moto} outlived a SIGKILLed devstack");
}

#[test]
fn a_python_without_moto_fails_fast_and_names_the_fix() {
    let stderr = start_failure(&["--moto-python", "/nonexistent/bin/python"]);
    assert!(stderr.contains("--moto-python"), "{stderr}");
    assert!(stderr.contains("cargo xtask devstack-setup"), "{stderr}");

    let mut child = Command::new(common::BIN)
        .arg("--stop-on-stdin-eof")
        .env("VANTAGE_DEVSTACK_PYTHON", "/nonexistent/python-from-env")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = wait_with_timeout(&mut child, Duration::from_secs(10)).expect("fails fast");
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read");
    assert!(stderr.contains("VANTAGE_DEVSTACK_PYTHON"), "{stderr}");
}

#[tokio::test]
async fn an_external_upstream_replaces_moto() {
    let owner = Devstack::start(&[]);
    let guest = Devstack::start(&["--aws-upstream", owner.aws_upstream_url()]);
    assert_eq!(guest.aws_upstream_url(), owner.aws_upstream_url());
    assert!(children_of(guest.pid()).is_empty(), "no moto of its own");
    let bucket = common::unique("shared");
    guest
        .aws(None)
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create through guest");
    owner
        .aws(None)
        .s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("visible through owner");
}

#[tokio::test]
async fn state_file_keeps_vantage_cur_and_export_state_across_restarts() {
    let upstream = Devstack::start(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("devstack.json");
    let path = path.to_str().expect("utf-8 path");
    let args = [
        "--state-file",
        path,
        "--token",
        "tkn",
        "--aws-upstream",
        upstream.aws_upstream_url(),
        "--accept-any-role",
    ];

    let stack = Devstack::start(&args);
    let info: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    let created = stack.register(ROLE, Some("arn:aws:s3:::cur-bucket")).await;
    let account = common::unique_account();
    let aws = stack.aws(Some(&account));
    let bucket = common::unique("persist");
    aws.cur_bucket(&bucket, "us-east-1").await;
    aws.cur
        .put_report_definition()
        .report_definition(
            aws_sdk_costandusagereport::types::ReportDefinition::builder()
                .report_name("Persisted")
                .time_unit(aws_sdk_costandusagereport::types::TimeUnit::Daily)
                .format(aws_sdk_costandusagereport::types::ReportFormat::Csv)
                .compression(aws_sdk_costandusagereport::types::CompressionFormat::Gzip)
                .set_additional_schema_elements(Some(vec![]))
                .s3_bucket(&bucket)
                .s3_prefix("p")
                .s3_region(aws_sdk_costandusagereport::types::AwsRegion::from("us-east-1"))
                .build()
                .expect("definition"),
        )
        .send()
        .await
        .expect("report");
    let export_arn = common::create_export(&aws, "PersistedExport", &bucket).await;
    assert!(stack.stop().success());

    let stack = Devstack::start(&args);
    let info_again: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    assert_eq!(info_again["external_id"], info["external_id"]);
    assert_eq!(info_again["iam_role_arn"], info["iam_role_arn"]);
    assert_eq!(info_again["vantage_id"], info["vantage_id"]);
    let read = stack.get(&format!("/v1/integrations/aws/{}", created["id"])).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.expect("JSON"), created);
    let aws = stack.aws(Some(&account));
    let reports = aws.cur.describe_report_definitions().send().await.expect("describe");
    let names: Vec<&str> = reports.report_definitions().iter().map(|r| r.report_name()).collect();
    assert_eq!(names, ["Persisted"]);
    let export = aws
        .exports
        .get_export()
        .export_arn(&export_arn)
        .send()
        .await
        .expect("export kept");
    assert_eq!(export.export().map(|e| e.name()), Some("PersistedExport"));
    // Ids continue after the persisted ones.
    let next = stack.register("arn:aws:iam::123456789012:role/another", None).await;
    assert!(next["id"].as_i64() > created["id"].as_i64());
    // Reset is persisted too, for CUR as well.
    assert_eq!(stack.admin(Method::POST, "/reset", None).await.status(), 204);
    assert!(stack.stop().success());

    let stack = Devstack::start(&args);
    let list: Value = stack.get("/v2/integrations").await.json().await.expect("JSON");
    assert_eq!(list["integrations"], json!([]));
    let reports = stack
        .aws(Some(&account))
        .cur
        .describe_report_definitions()
        .send()
        .await
        .expect("describe");
    assert!(reports.report_definitions().is_empty());
}

#[test]
fn unreadable_state_file_stops_startup_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("devstack.json");
    std::fs::write(&path, "{ not json").expect("write");
    let stderr = start_failure(&["--state-file", path.to_str().expect("utf-8 path")]);
    assert!(stderr.contains("not a devstack state file"), "{stderr}");
}

#[test]
fn bad_token_scopes_are_rejected_on_the_command_line() {
    let stderr = start_failure(&["--token", "tkn:admin"]);
    assert!(stderr.contains("unknown scope 'admin'"), "{stderr}");
}
