//! IAM's eventual consistency as AWS shows it, and objects deleted out of band ("disappears"),
//! checked through IAM and Vantage. Each test has a devstack of its own: faults are global to a
//! devstack.

use acceptance_tests::aws::Aws;
use acceptance_tests::vantage_checks::{all_integrations, clear_faults, vantage_call};
use acceptance_tests::{Devstack, Workspace};
use serde_json::json;

/// IAM's query-protocol error for an entity it does not show (yet).
fn no_such_entity(what: &str) -> serde_json::Value {
    json!(format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>\
         <Message>The role with name {what} cannot be found.</Message></Error></ErrorResponse>"
    ))
}

fn role_with_policy(name: &str) -> String {
    format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{name}"
}}

resource "vantage_aws_role_policy" "root" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "root"
  preset = "root"
}}
"#
    )
}

/// A new role IAM does not show for a while: GetRole and PutRolePolicy answer NoSuchEntity a
/// few times, and the apply waits it out.
#[test]
fn a_new_role_not_visible_yet_is_waited_for() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-ec-not-visible";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_with_policy(name));
    for (operation, count) in [("iam:GetRole", 2), ("iam:PutRolePolicy", 3)] {
        ds.admin_post(
            "faults",
            json!({"service": "aws", "match": operation, "count": count, "status": 404,
                "body": no_such_entity(name)}),
        );
    }
    ws.apply().expect_ok();
    assert_eq!(ds.request_count("aws", "iam:PutRolePolicy"), 4, "3 refused, then put");
    assert!(ds.request_count("aws", "iam:GetRole") >= 3, "2 refused, then read");
    ws.plan().expect_empty_plan();
    assert!(aws.role_policy(name, "root").is_some());
    ws.destroy().expect_ok();
    assert!(aws.role(name).is_none());
}

/// AttachRolePolicy failing for good after CreateRole: the role stays in state (tainted), and
/// the next apply replaces it: exactly one role afterwards.
#[test]
fn a_role_whose_attachment_failed_is_kept_and_replaced_not_duplicated() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-ec-attach-500";
    let ws = Workspace::on(&ds, name);
    ws.config(&format!(
        "resource \"vantage_aws_cross_account_role\" \"this\" {{\n  name = \"{name}\"\n}}\n"
    ));
    ds.admin_post(
        "faults",
        json!({"service": "aws", "match": "iam:AttachRolePolicy", "count": 10, "status": 500}),
    );
    ws.apply()
        .expect_error("Attaching arn:aws:iam::aws:policy/job-function/ViewOnlyAccess failed");
    clear_faults(&ds);
    let first = aws.role(name).expect("the role exists");
    let state = ws.run(&["state", "list"]);
    assert!(
        state.stdout.contains("vantage_aws_cross_account_role.this"),
        "{}",
        state.stdout
    );
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.stdout.contains("is tainted, so must be replaced"),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let roles = aws
        .block_on(aws.iam.list_roles().send())
        .expect("ListRoles")
        .roles()
        .iter()
        .filter(|r| r.role_name() == name)
        .count();
    assert_eq!(roles, 1, "exactly one role");
    let second = aws.role(name).expect("the role exists");
    assert_ne!(first.unique_id, second.unique_id, "replaced");
    ws.destroy().expect_ok();
}

#[test]
fn a_role_policy_deleted_out_of_band_is_put_again() {
    let ds = Devstack::start(&[]);
    let aws = Aws::new(&ds.info.aws_url);
    let name = "acc-ec-policy-gone";
    let ws = Workspace::on(&ds, name);
    ws.config(&role_with_policy(name));
    ws.apply().expect_ok();
    aws.block_on(aws.iam.delete_role_policy().role_name(name).policy_name("root").send())
        .expect("DeleteRolePolicy");
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.stdout.contains("vantage_aws_role_policy.root will be created"),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    assert!(aws.role_policy(name, "root").is_some());
    ws.destroy().expect_ok();
}

#[test]
fn a_drop_in_registration_deleted_in_vantage_is_registered_again() {
    let ds = Devstack::start(&[]);
    let name = "acc-ec-provider-gone";
    let ws = Workspace::on(&ds, name);
    ws.config(&format!(
        r#"resource "vantage_aws_cross_account_role" "this" {{
  name = "{name}"
}}

resource "vantage_aws_provider" "this" {{
  cross_account_arn = vantage_aws_cross_account_role.this.arn
}}

output "id" {{ value = vantage_aws_provider.this.id }}
"#
    ));
    ws.apply().expect_ok();
    let id = ws.outputs()["id"].to_string();
    let (status, _) = vantage_call(&ds, "DELETE", &format!("/v1/integrations/aws/{id}"), None);
    assert_eq!(status, 204);
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.stdout.contains("vantage_aws_provider.this will be created"),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let integrations = all_integrations(&ds);
    assert_eq!(integrations.len(), 1, "{integrations:?}");
    assert_ne!(ws.outputs()["id"].to_string(), id, "a new registration");
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
}
