//! Creates whose remote side acted but whose answer never arrived: Ctrl-C while an "after"
//! fault holds the answer, or a connection dropped after the call was handled (so the SDK or the
//! client retries it). Either way the object must end up in state, a second apply must succeed
//! without an import, and `plan -refresh=false` must then be empty. Checked through IAM, S3,
//! CUR and Vantage. Each test has a devstack of its own: faults are global to a devstack.

use std::process::Stdio;
use std::time::Duration;

use acceptance_tests::aws::Aws;
use acceptance_tests::vantage_checks::clear_faults;
use acceptance_tests::{Devstack, Workspace, interrupt, wait_until};
use serde_json::{Value, json};

/// The state's resource at `address` (`vantage_aws_cross_account_role.this`), if any.
fn resource(ws: &Workspace, address: &str) -> Option<Value> {
    let state = ws.state();
    state["values"]["root_module"]["resources"]
        .as_array()?
        .iter()
        .find(|r| r["address"] == address)
        .cloned()
}

/// Arms an "after" delay on `operation`, starts `terraform apply`, waits until `acted` sees the
/// remote side has done the call (its answer is still held), then sends Ctrl-C. Terraform must
/// stop within seconds, and the state must hold `address` with its id.
fn interrupt_while_the_answer_is_held(
    ds: &Devstack,
    ws: &Workspace,
    service: &str,
    operation: &str,
    address: &str,
    acted: impl FnMut() -> bool,
) {
    ds.admin_post(
        "faults",
        json!({"service": service, "match": operation, "after": true, "delay_ms": 120000}),
    );
    let child = ws
        .command(&["apply", "-auto-approve", "-no-color"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("terraform apply");
    assert!(
        wait_until(Duration::from_secs(90), acted),
        "{operation} did not take effect"
    );
    let stopped = interrupt(child, Duration::from_secs(60));
    clear_faults(ds);
    let text = &stopped.text;
    assert!(stopped.finished, "terraform did not stop after Ctrl-C:\n{text}");
    assert!(
        stopped.elapsed < Duration::from_secs(15),
        "Ctrl-C waited for the held answer ({:?}):\n{text}",
        stopped.elapsed
    );
    assert!(!stopped.success, "{text}");
    let kept = resource(ws, address).unwrap_or_else(|| panic!("{address} is not in state after Ctrl-C:\n{text}"));
    assert!(kept["values"]["id"].is_string(), "{kept}");
}

/// Arms an "after" dropped connection on `operation`: the call is done, its answer lost, and
/// the client's retry meets the object the first attempt made.
fn lose_the_answer_once(ds: &Devstack, service: &str, operation: &str) {
    ds.admin_post(
        "faults",
        json!({"service": service, "match": operation, "after": true, "drop_connection": true}),
    );
}

/// A second apply converges without an import and leaves nothing to do, even unrefreshed.
fn converges(ws: &Workspace) {
    ws.apply().expect_ok();
    ws.run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])
        .expect_empty_plan();
    ws.plan().expect_empty_plan();
}

fn role_config(name: &str) -> String {
    format!(
        "resource \"vantage_aws_cross_account_role\" \"this\" {{\n  name = \"{name}\"\n  tags = {{ team = \"finops\" }}\n}}\n"
    )
}

#[test]
fn a_role_created_while_ctrl_c_is_pressed_stays_in_state() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-lost-role-ctrl-c";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_config(name));
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "iam:CreateRole",
        "vantage_aws_cross_account_role.this",
        || aws.role(name).is_some(),
    );
    converges(&ws);
    let role = aws.role(name).expect("the role exists");
    assert_eq!(
        role.managed_policy_arns.iter().collect::<Vec<_>>(),
        vec!["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"]
    );
    ws.destroy().expect_ok();
    assert!(aws.role(name).is_none());
}

#[test]
fn a_role_whose_create_answer_was_lost_is_adopted() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-lost-role-retry";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_config(name));
    lose_the_answer_once(&ds, "aws", "iam:CreateRole");
    ws.apply().expect_ok();
    assert_eq!(ds.request_count("aws", "iam:CreateRole"), 2, "the SDK retried once");
    ws.run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])
        .expect_empty_plan();
    ws.plan().expect_empty_plan();
    assert!(aws.role(name).is_some());
    ws.destroy().expect_ok();
}

/// An update that failed after UpdateRole took effect records the new description.
#[test]
fn a_failed_role_update_keeps_what_iam_applied() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-lost-role-update";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_config(name));
    ws.apply().expect_ok();
    ws.config(&role_config(name).replace("tags", "description = \"changed\"\n  tags"));
    // UpdateRole acts, its answer is an error (each of the SDK's 3 attempts), then the update
    // stops before the tags.
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "iam:UpdateRole", "after": true, "status": 500, "count": 3}),
    );
    ws.apply().expect_error("Updating the IAM role failed");
    clear_faults(&ds);
    assert_eq!(aws.role(name).expect("role").description.as_deref(), Some("changed"));
    let kept = resource(&ws, "vantage_aws_cross_account_role.this").expect("in state");
    assert_eq!(kept["values"]["description"], "changed", "{kept}");
    converges(&ws);
    ws.destroy().expect_ok();
}
