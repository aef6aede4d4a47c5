//! `data "vantage_aws_account"` in each organisation role, against the
//! devstack's upstream. Each test that creates an organisation runs a devstack
//! (and moto) of its own: an organisation is global to moto. LocalStack
//! community has no Organizations: those tests are moto-only, and the
//! standalone account reads as one there with a warning.

use acceptance_tests::aws::account_id;
use acceptance_tests::vantage_checks::AwsSide;
use acceptance_tests::{Devstack, Workspace};
use serde_json::Value;

const ACCOUNT_CONFIG: &str = r#"
data "vantage_aws_account" "this" {}

output "account_id" { value = data.vantage_aws_account.this.account_id }
output "partition" { value = data.vantage_aws_account.this.partition }
output "arn" { value = data.vantage_aws_account.this.arn }
output "organization_id" { value = data.vantage_aws_account.this.organization_id }
output "management_account_id" { value = data.vantage_aws_account.this.management_account_id }
output "role" { value = data.vantage_aws_account.this.role }
output "member_accounts" { value = data.vantage_aws_account.this.member_accounts }
"#;

fn read_account(ws: &Workspace) -> Value {
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let out = ws.outputs();
    ws.destroy().expect_ok();
    out
}

#[test]
fn a_standalone_account_has_no_organisation() {
    let ws = Workspace::new("acct-standalone");
    ws.config(ACCOUNT_CONFIG);
    let out = read_account(&ws);
    assert_eq!(out["account_id"], account_id());
    assert_eq!(out["partition"], "aws");
    assert!(
        out["arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:") && a.contains(account_id())),
        "{out}"
    );
    assert_eq!(out["role"], "standalone");
    assert!(out["organization_id"].is_null() && out["management_account_id"].is_null());
    assert_eq!(out["member_accounts"], Value::Array(Vec::new()));
}

#[test]
fn an_endpoint_without_organizations_reads_as_standalone_with_a_warning() {
    // What LocalStack community answers to every Organizations call.
    let ds = Devstack::start(&[]);
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "organizations:*", "count": 100, "status": 501}),
    );
    let ws = Workspace::on(&ds, "acct-no-organizations");
    ws.config(ACCOUNT_CONFIG);
    let apply = ws.apply();
    apply.expect_ok();
    let text = apply.normalized_output();
    assert!(
        text.contains("Warning: AWS Organizations is not available at this endpoint") && text.contains("HTTP 501"),
        "{text}"
    );
    let out = ws.outputs();
    assert_eq!(out["account_id"], account_id());
    assert_eq!(out["role"], "standalone");
    assert!(out["organization_id"].is_null() && out["management_account_id"].is_null());
    ws.destroy().expect_ok();
}

#[test]
fn the_management_account_lists_its_members() {
    acceptance_tests::require_moto!(
        "LocalStack community does not serve Organizations (CreateOrganization, CreateAccount)"
    );
    let ds = Devstack::start(&[]);
    let aws = AwsSide::new(&ds.info.aws_url);
    let organization = aws.create_organization();
    let finance = aws.create_member_account("finance", "finance@example.com");
    let research = aws.create_member_account("research", "research@example.com");

    let ws = Workspace::on(&ds, "acct-management");
    ws.config(ACCOUNT_CONFIG);
    let out = read_account(&ws);
    assert_eq!(out["role"], "management");
    assert_eq!(out["account_id"], account_id());
    assert_eq!(out["organization_id"], organization.as_str());
    assert_eq!(out["management_account_id"], account_id());
    let mut members: Vec<(String, String, String, String)> = out["member_accounts"]
        .as_array()
        .expect("member_accounts is a list")
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("name"), field("email"), field("status"))
        })
        .collect();
    members.sort();
    let mut expected = vec![
        (
            finance,
            "finance".to_string(),
            "finance@example.com".to_string(),
            "ACTIVE".to_string(),
        ),
        (
            research,
            "research".to_string(),
            "research@example.com".to_string(),
            "ACTIVE".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(members, expected, "the management account itself is not a member");
}

#[test]
fn a_member_account_knows_its_management_account() {
    acceptance_tests::require_moto!(
        "LocalStack community does not serve Organizations (CreateOrganization, CreateAccount)"
    );
    let ds = Devstack::start(&[]);
    let aws = AwsSide::new(&ds.info.aws_url);
    let organization = aws.create_organization();
    let member = aws.create_member_account("finance", "finance@example.com");

    let ws = Workspace::on(&ds, "acct-member");
    ws.config(&format!(
        r#"provider "vantage" {{
  assume_role {{
    role_arn = "arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
  }}
}}
{ACCOUNT_CONFIG}"#
    ));
    let out = read_account(&ws);
    assert_eq!(out["role"], "member");
    assert_eq!(out["account_id"], member.as_str());
    assert_eq!(out["organization_id"], organization.as_str());
    assert_eq!(out["management_account_id"], account_id());
    assert_eq!(out["member_accounts"], Value::Array(Vec::new()));
    assert!(
        out["arn"]
            .as_str()
            .is_some_and(|a| a.contains(&member) && a.contains("OrganizationAccountAccessRole")),
        "{out}"
    );
}
