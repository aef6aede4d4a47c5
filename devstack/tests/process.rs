//! The devstack as a process: ready line, lifetime, persistence, the AWS placeholder.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Devstack, ROLE, start_failure, wait_with_timeout};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn ready_line_names_loopback_urls_and_a_generated_token() {
    let stack = Devstack::start(&[]);
    let keys: Vec<&str> = stack
        .ready
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["vantage_url", "aws_url", "admin_url", "token"]);
    assert!(stack.vantage_url.starts_with("http://127.0.0.1:"));
    assert!(stack.aws_url.starts_with("http://127.0.0.1:"));
    assert_ne!(stack.vantage_url, stack.aws_url);
    assert_eq!(stack.admin_url, format!("{}/_devstack", stack.vantage_url));
    assert!(stack.token.starts_with("vntg_tkn_"), "{}", stack.token);
    // The generated token has both scopes.
    assert_eq!(stack.get("/v1/integrations/aws/info").await.status(), 200);
    stack.register(ROLE, None).await;
}

#[tokio::test]
async fn ready_line_prints_the_first_given_token() {
    let stack = Devstack::start(&["--token", "first:read", "--token", "second"]);
    assert_eq!(stack.token, "first");
}

#[test]
fn exits_when_stdin_closes() {
    let stack = Devstack::start(&[]);
    let status = stack.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn exits_cleanly_on_sigterm() {
    let mut stack = Devstack::start(&[]);
    let pid = stack.pid().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(sent.success());
    let status = wait_with_timeout(stack.child_mut(), Duration::from_secs(10)).expect("devstack exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn aws_port_is_a_placeholder_answering_501() {
    let stack = Devstack::start(&[]);
    let res = stack
        .client
        .post(format!("{}/", stack.aws_url))
        .header(
            "x-amz-target",
            "AWSOrigamiServiceGatewayService.DescribeReportDefinitions",
        )
        .body("{}")
        .send()
        .await
        .expect("AWS port answers");
    assert_eq!(res.status(), 501);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["__type"], "NotImplemented");
    assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn state_file_keeps_account_and_integrations_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("devstack.json");
    let path = path.to_str().expect("utf-8 path");
    let args = ["--state-file", path, "--token", "tkn"];

    let stack = Devstack::start(&args);
    let info: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    let created = stack.register(ROLE, Some("arn:aws:s3:::cur-bucket")).await;
    assert!(stack.stop().success());

    let stack = Devstack::start(&args);
    let info_again: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("JSON");
    assert_eq!(info_again["external_id"], info["external_id"]);
    assert_eq!(info_again["iam_role_arn"], info["iam_role_arn"]);
    assert_eq!(info_again["vantage_id"], info["vantage_id"]);
    let read = stack.get(&format!("/v1/integrations/aws/{}", created["id"])).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.expect("JSON"), created);
    // Ids continue after the persisted ones.
    let next = stack.register("arn:aws:iam::123456789012:role/another", None).await;
    assert!(next["id"].as_i64() > created["id"].as_i64());
    // Reset is persisted too.
    assert_eq!(stack.admin(Method::POST, "/reset", None).await.status(), 204);
    assert!(stack.stop().success());

    let stack = Devstack::start(&args);
    let list: Value = stack.get("/v2/integrations").await.json().await.expect("JSON");
    assert_eq!(list["integrations"], json!([]));
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
