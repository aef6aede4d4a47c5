//! Creates whose remote side acted but whose answer never arrived: Ctrl-C while an "after"
//! fault holds the answer, the `timeouts` bound passing while it is held, or a connection
//! dropped after the call was handled (so the SDK or the client retries it). Every way, the
//! object must end up in state, a second apply must succeed without an import, and
//! `plan -refresh=false` must then be empty. Checked through IAM, S3, CUR, BCM Data Exports and
//! Vantage. Each test has a devstack of its own: faults are global to a devstack.

use std::time::Duration;

use acceptance_tests::aws::Aws;
use acceptance_tests::aws_billing::{Billing, reference_policy};
use acceptance_tests::vantage_checks::{all_integrations, clear_faults};
use acceptance_tests::{Devstack, Run, Workspace, interrupt, wait_until};
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
    let child = ws.spawn_apply();
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

/// The `timeouts` bound the deadline cases write, and the error it gives when it runs out with a
/// call in flight.
const BOUND: &str = "timeouts {\n    create = \"8s\"\n  }\n";
const RAN_OUT: &str = "`timeouts.create` \\(8s\\) ran out while waiting for";

/// Arms an "after" delay on `operation` far beyond the configuration's `timeouts.create` (8 s,
/// [`BOUND`]): the remote side acts and its answer is held past the bound. The apply must fail
/// at the bound, not after the held answer or the SDK's 60 s attempt timeout, saying which
/// bound ran out, and the state must hold `address`.
fn time_out_while_the_answer_is_held(ds: &Devstack, ws: &Workspace, service: &str, operation: &str, address: &str) {
    ds.admin_post(
        "faults",
        json!({"service": service, "match": operation, "after": true, "delay_ms": 120000}),
    );
    let started = std::time::Instant::now();
    let applied = ws.apply();
    let took = started.elapsed();
    clear_faults(ds);
    applied.expect_error(RAN_OUT);
    assert!(
        took < Duration::from_secs(45),
        "the apply waited for the held answer ({took:?}):\n{}",
        applied.normalized_output()
    );
    let kept = resource(ws, address).unwrap_or_else(|| {
        panic!(
            "{address} is not in state after the bound ran out:\n{}",
            applied.normalized_output()
        )
    });
    assert!(kept["values"]["id"].is_string(), "{kept}");
}

/// Arms an "after" dropped connection on `operation`: the call is done, its answer lost, and
/// the client's retry meets the object the first attempt made. The apply must succeed with that
/// one retry and leave nothing to do, even unrefreshed. The apply's output, for its warnings.
fn apply_losing_the_answer_once(ds: &Devstack, ws: &Workspace, service: &str, operation: &str) -> Run {
    ds.admin_post(
        "faults",
        json!({"service": service, "match": operation, "after": true, "drop_connection": true}),
    );
    let applied = ws.apply();
    applied.expect_ok();
    assert_eq!(ds.request_count(service, operation), 2, "{operation} was retried once");
    ws.run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])
        .expect_empty_plan();
    ws.plan().expect_empty_plan();
    applied
}

/// A second apply converges without an import and leaves nothing to do, even unrefreshed.
fn converges(ws: &Workspace) {
    ws.apply().expect_ok();
    ws.run(&["plan", "-refresh=false", "-detailed-exitcode", "-no-color"])
        .expect_empty_plan();
    ws.plan().expect_empty_plan();
}

/// A devstack of its own, IAM checks on it, and a workspace with `config`.
fn iam_case(name: &str, config: &str) -> (Devstack, Aws, Workspace) {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    // Also has moto build the account's IAM (seconds on a loaded machine) before any fault or
    // bound is armed.
    assert!(aws.role(name).is_none());
    let ws = Workspace::on(&ds, name);
    ws.config(config);
    (ds, aws, ws)
}

fn role_config(name: &str) -> String {
    format!(
        "resource \"vantage_aws_cross_account_role\" \"this\" {{\n  name = \"{name}\"\n  tags = {{ team = \"finops\" }}\n}}\n"
    )
}

#[test]
fn a_role_created_while_ctrl_c_is_pressed_stays_in_state() {
    let name = "acc-lost-role-ctrl-c";
    let (ds, aws, ws) = iam_case(name, &role_config(name));
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
fn a_role_whose_create_outlasts_the_timeouts_bound_stays_in_state() {
    let name = "acc-lost-role-deadline";
    let config = role_config(name).replace("  tags", &format!("  {BOUND}  tags"));
    let (ds, aws, ws) = iam_case(name, &config);
    time_out_while_the_answer_is_held(&ds, &ws, "aws", "iam:CreateRole", "vantage_aws_cross_account_role.this");
    assert!(aws.role(name).is_some(), "CreateRole acted");
    converges(&ws);
    assert_eq!(aws.role(name).expect("the role").managed_policy_arns.len(), 1);
    ws.destroy().expect_ok();
    assert!(aws.role(name).is_none());
}

#[test]
fn a_role_whose_create_answer_was_lost_is_adopted() {
    let name = "acc-lost-role-retry";
    let (ds, aws, ws) = iam_case(name, &role_config(name));
    apply_losing_the_answer_once(&ds, &ws, "aws", "iam:CreateRole");
    assert!(aws.role(name).is_some());
    ws.destroy().expect_ok();
}

/// Every attempt of CreateRole acts (or meets the role) and is answered 500: after the SDK's
/// three attempts the role exists, and the failed create keeps it.
#[test]
fn a_role_whose_create_answers_were_all_errors_stays_in_state() {
    let name = "acc-lost-role-500";
    let (ds, aws, ws) = iam_case(name, &role_config(name));
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "iam:CreateRole", "after": true, "status": 500, "count": 3}),
    );
    ws.apply().expect_error("Creating the IAM role failed");
    clear_faults(&ds);
    assert!(aws.role(name).is_some());
    let kept = resource(&ws, "vantage_aws_cross_account_role.this").expect("in state");
    assert_eq!(kept["values"]["id"], name, "{kept}");
    converges(&ws);
    ws.destroy().expect_ok();
    assert!(aws.role(name).is_none());
}

/// An update that failed after UpdateRole took effect records the new description.
#[test]
fn a_failed_role_update_keeps_what_iam_applied() {
    let name = "acc-lost-role-update";
    let (ds, aws, ws) = iam_case(name, &role_config(name));
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

fn role_policy_config(role: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{role}"
}}

resource "vantage_aws_role_policy" "root" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "root"
  preset = "root"
}}
"#
    )
}

#[test]
fn a_role_policy_put_while_ctrl_c_is_pressed_stays_in_state() {
    let role = "acc-lost-policy-ctrl-c";
    let (ds, aws, ws) = iam_case(role, &role_policy_config(role));
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "iam:PutRolePolicy",
        "vantage_aws_role_policy.root",
        || aws.role_policy(role, "root").is_some(),
    );
    converges(&ws);
    assert!(aws.role_policy(role, "root").is_some());
    ws.destroy().expect_ok();
    assert!(aws.role(role).is_none());
}

#[test]
fn a_role_policy_whose_put_answer_was_lost_is_put_again() {
    let role = "acc-lost-policy-retry";
    let (ds, aws, ws) = iam_case(role, &role_policy_config(role));
    apply_losing_the_answer_once(&ds, &ws, "aws", "iam:PutRolePolicy");
    assert!(aws.role_policy(role, "root").is_some());
    ws.destroy().expect_ok();
}

fn bucket_config(bucket: &str, region: &str) -> String {
    format!(
        "resource \"vantage_aws_cur_bucket\" \"this\" {{\n  bucket        = \"{bucket}\"\n  region        = \"{region}\"\n  force_destroy = true\n}}\n"
    )
}

fn billing(ds: &Devstack) -> Billing {
    Billing::for_account(ds, acceptance_tests::aws::account_id())
}

/// A devstack of its own, S3 checks on it, and a workspace with the bucket in `region`.
fn bucket_case(bucket: &str, region: &str) -> (Devstack, Billing, Workspace) {
    let ds = Devstack::start(&[]);
    let aws = billing(&ds);
    let ws = Workspace::on(&ds, bucket);
    ws.config(&bucket_config(bucket, region));
    (ds, aws, ws)
}

#[test]
fn a_bucket_created_while_ctrl_c_is_pressed_stays_in_state() {
    let bucket = "acc-lost-bucket-ctrl-c";
    let (ds, aws, ws) = bucket_case(bucket, "us-east-1");
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "s3:CreateBucket",
        "vantage_aws_cur_bucket.this",
        || aws.bucket_created(bucket).is_some(),
    );
    converges(&ws);
    let facts = aws.bucket(bucket).expect("the bucket exists");
    assert!(facts.policy.is_some(), "the second apply finished the bucket");
    ws.destroy().expect_ok();
    assert!(aws.bucket(bucket).is_none());
}

#[test]
fn a_bucket_policy_put_while_ctrl_c_is_pressed_keeps_the_bucket_in_state() {
    let bucket = "acc-lost-bucket-policy-ctrl-c";
    let (ds, aws, ws) = bucket_case(bucket, "us-east-1");
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "s3:PutBucketPolicy",
        "vantage_aws_cur_bucket.this",
        || aws.bucket(bucket).is_some_and(|b| b.policy.is_some()),
    );
    converges(&ws);
    ws.destroy().expect_ok();
    assert!(aws.bucket(bucket).is_none());
}

/// PutBucketPolicy is idempotent: the SDK's retry puts the same document again.
#[test]
fn a_bucket_policy_whose_put_answer_was_lost_is_put_again() {
    let bucket = "acc-lost-bucket-policy-retry";
    let (ds, aws, ws) = bucket_case(bucket, "us-east-1");
    apply_losing_the_answer_once(&ds, &ws, "aws", "s3:PutBucketPolicy");
    let kept = resource(&ws, "vantage_aws_cur_bucket.this").expect("the bucket is in state");
    let in_state: Value =
        serde_json::from_str(kept["values"]["policy"].as_str().expect("the state holds the policy")).expect("JSON");
    let applied = aws
        .bucket(bucket)
        .and_then(|b| b.policy)
        .expect("the bucket has a policy");
    let expected = reference_policy(acceptance_tests::aws::account_id(), bucket, None, true);
    for (what, policy) in [("S3's", &applied), ("the state's", &in_state)] {
        assert!(
            policy["Version"] == expected["Version"] && acceptance_tests::aws::same_statements(policy, &expected),
            "{what} policy is not the reference one: {policy}"
        );
    }
    ws.destroy().expect_ok();
}

/// Outside us-east-1 S3 answers a repeated CreateBucket with `BucketAlreadyOwnedByYou`.
#[test]
fn a_bucket_whose_create_answer_was_lost_is_adopted() {
    let bucket = "acc-lost-bucket-retry";
    let (ds, aws, ws) = bucket_case(bucket, "eu-west-1");
    apply_losing_the_answer_once(&ds, &ws, "aws", "s3:CreateBucket");
    assert!(aws.bucket(bucket).is_some());
    ws.destroy().expect_ok();
}

/// A bucket with the reference policy, made here, and a report on it.
fn report_case(ds: &Devstack, name: &str) -> (Billing, Workspace) {
    let aws = billing(ds);
    aws.create_bucket(name);
    aws.put_bucket_policy(
        name,
        &reference_policy(acceptance_tests::aws::account_id(), name, None, true).to_string(),
    );
    let ws = Workspace::on(ds, name);
    ws.config(&report_config(name, ""));
    (aws, ws)
}

fn delete_bucket(aws: &Billing, bucket: &str) {
    aws.block_on(aws.s3.delete_bucket().bucket(bucket).send())
        .expect("DeleteBucket");
}

fn report_config(bucket: &str, extra: &str) -> String {
    format!(
        "resource \"vantage_aws_cur_report\" \"this\" {{\n  name          = \"{bucket}\"\n  bucket        = \"{bucket}\"\n  bucket_region = \"us-east-1\"\n{extra}}}\n"
    )
}

#[test]
fn a_report_put_while_ctrl_c_is_pressed_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-report-ctrl-c";
    let (aws, ws) = report_case(&ds, name);
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "cur:PutReportDefinition",
        "vantage_aws_cur_report.this",
        || aws.report(name).is_some(),
    );
    converges(&ws);
    assert!(aws.report(name).is_some());
    ws.destroy().expect_ok();
    assert!(aws.report(name).is_none());
    delete_bucket(&aws, name);
}

#[test]
fn a_report_whose_put_outlasts_the_timeouts_bound_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-report-deadline";
    let (aws, ws) = report_case(&ds, name);
    ws.config(&report_config(name, &format!("  {BOUND}")));
    time_out_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "cur:PutReportDefinition",
        "vantage_aws_cur_report.this",
    );
    assert!(aws.report(name).is_some(), "PutReportDefinition acted");
    converges(&ws);
    assert_eq!(aws.reports().iter().filter(|r| r.report_name() == name).count(), 1);
    ws.destroy().expect_ok();
    delete_bucket(&aws, name);
}

#[test]
fn a_report_whose_put_answer_was_lost_is_adopted() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-report-retry";
    let (aws, ws) = report_case(&ds, name);
    apply_losing_the_answer_once(&ds, &ws, "aws", "cur:PutReportDefinition");
    assert_eq!(aws.reports().iter().filter(|r| r.report_name() == name).count(), 1);
    ws.destroy().expect_ok();
    delete_bucket(&aws, name);
}

/// The account for the report's ARN is asked after the report exists.
#[test]
fn a_report_put_before_sts_failed_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-report-sts";
    let (aws, ws) = report_case(&ds, name);
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "sts:GetCallerIdentity", "status": 403, "count": 5,
            "body": "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>denied</Message></Error></ErrorResponse>"}),
    );
    ws.apply().expect_error("Could not determine the AWS account");
    clear_faults(&ds);
    assert!(aws.report(name).is_some());
    let kept = resource(&ws, "vantage_aws_cur_report.this").expect("in state");
    assert_eq!(kept["values"]["id"], name, "{kept}");
    converges(&ws);
    ws.destroy().expect_ok();
    delete_bucket(&aws, name);
}

/// ModifyReportDefinition took effect, then tagging failed: the state has the new definition.
#[test]
fn a_report_update_whose_tagging_failed_keeps_the_new_definition() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-report-tags";
    let (aws, ws) = report_case(&ds, name);
    ws.apply().expect_ok();
    ws.config(&report_config(
        name,
        "  prefix = \"moved\"\n  tags = { team = \"finops\" }\n",
    ));
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "cur:TagResource", "status": 400,
            "body": {"__type": "ValidationException", "Message": "tagging refused"}}),
    );
    ws.apply().expect_error("tagging refused");
    clear_faults(&ds);
    assert_eq!(aws.report(name).expect("report").s3_prefix(), "moved");
    let kept = resource(&ws, "vantage_aws_cur_report.this").expect("in state");
    assert_eq!(kept["values"]["prefix"], "moved", "{kept}");
    converges(&ws);
    assert_eq!(aws.report_tags(name).get("team").map(String::as_str), Some("finops"));
    ws.destroy().expect_ok();
    delete_bucket(&aws, name);
}

/// A bucket with the reference policy (it lets Data Exports write), made here, and an export
/// named `name` on it.
fn export_case(ds: &Devstack, name: &str) -> (Billing, Workspace) {
    let (aws, ws) = report_case(ds, name);
    ws.config(&export_config(name, ""));
    (aws, ws)
}

fn export_config(name: &str, extra: &str) -> String {
    format!(
        "resource \"vantage_aws_data_export\" \"this\" {{\n  name          = \"{name}\"\n  bucket        = \"{name}\"\n  bucket_region = \"us-east-1\"\n  tags          = {{ team = \"finops\" }}\n{extra}}}\n"
    )
}

#[test]
fn a_data_export_created_while_ctrl_c_is_pressed_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-export-ctrl-c";
    let (aws, ws) = export_case(&ds, name);
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "bcm-data-exports:CreateExport",
        "vantage_aws_data_export.this",
        || aws.export_arns().len() == 1,
    );
    converges(&ws);
    let arns = aws.export_arns();
    assert_eq!(arns.len(), 1, "{arns:?}");
    let kept = resource(&ws, "vantage_aws_data_export.this").expect("in state");
    assert_eq!(kept["values"]["arn"], arns[0], "{kept}");
    ws.destroy().expect_ok();
    assert!(aws.export_arns().is_empty());
    delete_bucket(&aws, name);
}

#[test]
fn a_data_export_whose_create_outlasts_the_timeouts_bound_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-export-deadline";
    let (aws, ws) = export_case(&ds, name);
    ws.config(&export_config(name, &format!("  {BOUND}")));
    time_out_while_the_answer_is_held(
        &ds,
        &ws,
        "aws",
        "bcm-data-exports:CreateExport",
        "vantage_aws_data_export.this",
    );
    assert_eq!(aws.export_arns().len(), 1, "CreateExport acted");
    converges(&ws);
    let arns = aws.export_arns();
    assert_eq!(arns.len(), 1, "{arns:?}");
    ws.destroy().expect_ok();
    assert!(aws.export_arns().is_empty());
    delete_bucket(&aws, name);
}

#[test]
fn a_data_export_whose_create_answer_was_lost_is_adopted() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-export-retry";
    let (aws, ws) = export_case(&ds, name);
    let applied = apply_losing_the_answer_once(&ds, &ws, "aws", "bcm-data-exports:CreateExport");
    let text = applied.normalized_output();
    assert!(
        text.contains("Adopted the data export an interrupted attempt created"),
        "{text}"
    );
    let arns = aws.export_arns();
    assert_eq!(arns.len(), 1, "{arns:?}");
    let kept = resource(&ws, "vantage_aws_data_export.this").expect("in state");
    assert_eq!(kept["values"]["arn"], arns[0], "{kept}");
    ws.destroy().expect_ok();
    assert!(aws.export_arns().is_empty());
    delete_bucket(&aws, name);
}

fn integration_config(name: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{name}"
}}

resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
}}
"#
    )
}

/// The registration's integrations on `ds`: exactly one after every case below.
fn registrations(ds: &Devstack) -> usize {
    all_integrations(ds).len()
}

#[test]
fn a_registration_made_while_ctrl_c_is_pressed_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-int-ctrl-c";
    let ws = Workspace::on(&ds, name);
    ws.config(&integration_config(name));
    interrupt_while_the_answer_is_held(
        &ds,
        &ws,
        "vantage",
        "POST /v1/integrations/aws",
        "vantage_aws_integration.this",
        || registrations(&ds) == 1,
    );
    converges(&ws);
    assert_eq!(registrations(&ds), 1, "{:?}", all_integrations(&ds));
    ws.destroy().expect_ok();
    assert_eq!(registrations(&ds), 0);
}

#[test]
fn a_registration_that_outlasts_the_timeouts_bound_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-int-deadline";
    let ws = Workspace::on(&ds, name);
    let config = integration_config(name).replace(
        "  cross_account_role_arn",
        &format!("  {BOUND}  cross_account_role_arn"),
    );
    ws.config(&config);
    time_out_while_the_answer_is_held(
        &ds,
        &ws,
        "vantage",
        "POST /v1/integrations/aws",
        "vantage_aws_integration.this",
    );
    assert_eq!(registrations(&ds), 1, "the POST acted");
    converges(&ws);
    assert_eq!(registrations(&ds), 1, "{:?}", all_integrations(&ds));
    ws.destroy().expect_ok();
    assert_eq!(registrations(&ds), 0);
}

/// Every attempt of the POST acts (or meets the registration) and is answered 500: after the
/// client's five attempts the role is registered, and the failed create keeps it.
#[test]
fn a_registration_whose_answers_were_all_errors_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-int-500";
    let ws = Workspace::on(&ds, name);
    ws.config(&integration_config(name));
    ds.admin_post(
        "faults",
        json!({"service": "vantage", "match": "POST /v1/integrations/aws", "after": true, "status": 500, "count": 5}),
    );
    ws.apply().expect_error("vantage_aws_integration");
    clear_faults(&ds);
    assert_eq!(registrations(&ds), 1);
    let kept = resource(&ws, "vantage_aws_integration.this").expect("in state");
    assert!(kept["values"]["id"].is_string(), "{kept}");
    converges(&ws);
    assert_eq!(registrations(&ds), 1, "{:?}", all_integrations(&ds));
    ws.destroy().expect_ok();
    assert_eq!(registrations(&ds), 0);
}

#[test]
fn a_registration_whose_answer_was_lost_is_adopted() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-int-retry";
    let ws = Workspace::on(&ds, name);
    ws.config(&integration_config(name));
    apply_losing_the_answer_once(&ds, &ws, "vantage", "POST /v1/integrations/aws");
    assert_eq!(registrations(&ds), 1);
    ws.destroy().expect_ok();
}

/// A 201 whose body does not decode: Vantage registered the role, and the state holds it.
#[test]
fn a_registration_answered_with_an_undecodable_body_stays_in_state() {
    let ds = Devstack::start(&[]);
    let name = "acc-lost-int-garbled";
    let ws = Workspace::on(&ds, name);
    ws.config(&integration_config(name));
    ds.admin_post(
        "faults",
        json!({"service": "vantage", "match": "POST /v1/integrations/aws", "after": true,
            "status": 201, "body": "<html>created</html>"}),
    );
    ws.apply().expect_error("vantage_aws_integration");
    assert_eq!(registrations(&ds), 1);
    let kept = resource(&ws, "vantage_aws_integration.this").expect("in state");
    assert!(kept["values"]["id"].is_string(), "{kept}");
    converges(&ws);
    assert_eq!(registrations(&ds), 1);
    ws.destroy().expect_ok();
    assert_eq!(registrations(&ds), 0);
}

/// Ctrl-C while the registration waits between "not assumable yet" answers: every request had a
/// clear answer, so nothing was registered and no request is sent to find out.
#[test]
fn ctrl_c_between_clear_refusals_sends_no_further_registration() {
    let ds = Devstack::start(&["--propagation-delay", "600"]);
    let name = "acc-lost-int-refused";
    let ws = Workspace::on(&ds, name);
    ws.config(&integration_config(name));
    let posts = || ds.request_count("vantage", "POST /v1/integrations/aws");
    let child = ws.spawn_apply();
    assert!(
        wait_until(Duration::from_secs(90), || posts() >= 2),
        "the registration is retried"
    );
    // Between the second and third attempt (that wait is at least 400 ms; a request takes a few).
    std::thread::sleep(Duration::from_millis(100));
    let before = posts();
    let stopped = interrupt(child, Duration::from_secs(60));
    assert!(stopped.finished, "{}", stopped.text);
    assert_eq!(posts(), before, "no POST after Ctrl-C");
    assert_eq!(registrations(&ds), 0);
    assert!(resource(&ws, "vantage_aws_integration.this").is_none());
    ws.destroy().expect_ok();
}
