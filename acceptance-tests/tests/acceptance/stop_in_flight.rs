//! Ctrl-C while an AWS call stalls in the middle of an apply, at a step no retry loop of the
//! resource watches (its cancellation comes from the SDK's HTTP client): Terraform must stop
//! within seconds, not after the call's own timeout, the state must still describe what exists,
//! and the next apply must finish the job. Checked through IAM and CUR.

use std::process::Child;
use std::time::Duration;

use acceptance_tests::aws::Aws;
use acceptance_tests::aws_billing::{Billing, reference_policy};
use acceptance_tests::vantage_checks::clear_faults;
use acceptance_tests::{Devstack, Workspace, interrupt, wait_until};
use serde_json::{Value, json};

/// Longer than the test would wait: only Ctrl-C can end the call in time.
const STALL_MS: u64 = 120_000;

fn resource(ws: &Workspace, address: &str) -> Option<Value> {
    ws.state()["values"]["root_module"]["resources"]
        .as_array()?
        .iter()
        .find(|r| r["address"] == address)
        .cloned()
}

/// Waits until `operation` reached the devstack (where it stalls), then sends Ctrl-C: Terraform
/// must have stopped within 10 s, unsuccessfully.
fn interrupt_the_stalled_call(ds: &Devstack, child: Child, operation: &str) {
    assert!(
        wait_until(Duration::from_secs(60), || ds.request_count("aws", operation) > 0),
        "{operation} was not called"
    );
    let stopped = interrupt(child, Duration::from_secs(60));
    clear_faults(ds);
    let text = &stopped.text;
    assert!(stopped.finished, "terraform did not stop after Ctrl-C:\n{text}");
    assert!(
        stopped.elapsed < Duration::from_secs(10),
        "Ctrl-C waited for the stalled {operation} ({:?}):\n{text}",
        stopped.elapsed
    );
    assert!(!stopped.success, "{text}");
}

#[test]
fn ctrl_c_while_a_role_deletion_detaches_its_policy_keeps_the_role_in_state() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-stop-role-delete";
    let ws = Workspace::on(&ds, name);
    ws.config(&format!(
        "resource \"vantage_aws_cross_account_role\" \"this\" {{\n  name = \"{name}\"\n}}\n"
    ));
    ws.apply().expect_ok();
    assert!(aws.role(name).is_some());

    // The destroy's refresh is done before the detach: only the detach stalls.
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "iam:DetachRolePolicy", "delay_ms": STALL_MS}),
    );
    let child = ws.spawn(&["destroy", "-auto-approve", "-no-color"]);
    interrupt_the_stalled_call(&ds, child, "iam:DetachRolePolicy");
    assert!(aws.role(name).is_some(), "the role was not deleted");
    assert!(
        resource(&ws, "vantage_aws_cross_account_role.this").is_some(),
        "the role left the state before it was deleted"
    );

    ws.destroy().expect_ok();
    assert!(aws.role(name).is_none());
    assert!(resource(&ws, "vantage_aws_cross_account_role.this").is_none());
}

#[test]
fn ctrl_c_while_the_account_is_looked_up_after_a_report_is_put_keeps_the_report_in_state() {
    let ds = Devstack::start(&[]);
    let aws = Billing::for_account(&ds, acceptance_tests::aws::account_id());
    let name = "acc-stop-report-sts";
    aws.create_bucket(name);
    aws.put_bucket_policy(
        name,
        &reference_policy(acceptance_tests::aws::account_id(), name, None, true).to_string(),
    );
    let ws = Workspace::on(&ds, name);
    ws.config(&format!(
        "resource \"vantage_aws_cur_report\" \"this\" {{\n  name          = \"{name}\"\n  bucket        = \"{name}\"\n  bucket_region = \"us-east-1\"\n}}\n"
    ));
    // Planned first, so the stall hits the apply's own account lookup (after the put).
    ws.run(&["plan", "-out=tfplan", "-no-color"]).expect_ok();
    let before = ds.request_count("aws", "sts:GetCallerIdentity");
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "sts:GetCallerIdentity", "delay_ms": STALL_MS}),
    );
    let child = ws.spawn(&["apply", "-auto-approve", "-no-color", "tfplan"]);
    assert!(
        wait_until(Duration::from_secs(60), || {
            ds.request_count("aws", "sts:GetCallerIdentity") > before
        }),
        "the apply did not look the account up"
    );
    interrupt_the_stalled_call(&ds, child, "sts:GetCallerIdentity");
    if aws.report(name).is_some() {
        let kept = resource(&ws, "vantage_aws_cur_report.this")
            .expect("the report exists, so it must be in state after Ctrl-C");
        assert_eq!(kept["values"]["id"], name, "{kept}");
    }

    ws.apply().expect_ok();
    ws.run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])
        .expect_empty_plan();
    assert!(aws.report(name).is_some());
    ws.destroy().expect_ok();
    assert!(aws.report(name).is_none());
    aws.block_on(aws.s3.delete_bucket().bucket(name).send())
        .expect("DeleteBucket");
}
