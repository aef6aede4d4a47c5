//! The whole of Vantage's "Set Up AWS" guide in one apply: `examples/quickstart` and the module
//! `examples/modules/vantage-aws-connection`, applied, connected, planned
//! again and destroyed, with nothing left in the devstack or its AWS emulator.

use acceptance_tests::aws::Aws;
use acceptance_tests::aws_billing::{Billing, account_for, provider_block};
use acceptance_tests::vantage_checks::all_integrations;
use acceptance_tests::{Devstack, Workspace, workspace_root};

/// Copies the `.tf` files of an example directory into the workspace.
fn copy_example(ws: &Workspace, example: &str) {
    let dir = workspace_root().join(example);
    for entry in std::fs::read_dir(&dir).expect("example directory").flatten() {
        if entry.path().extension().is_some_and(|e| e == "tf") {
            std::fs::copy(entry.path(), ws.path().join(entry.file_name())).expect("copy example");
        }
    }
}

#[test]
fn the_quickstart_connects_the_account_and_leaves_nothing_behind() {
    // A devstack of its own: the quickstart uses the default names (no other test uses them in
    // the default account, which a shared upstream such as LocalStack serves to every devstack).
    let ds = Devstack::start(&[]);
    let mut ws = Workspace::on(&ds, "quickstart");
    ws.env("TF_VAR_cur_bucket_force_destroy", "true");
    copy_example(&ws, "examples/quickstart");
    ws.apply().expect_ok();

    let out = ws.outputs();
    let role = "vantage_cross_account_connection";
    let bucket = out["cur_bucket"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        out["cross_account_role_arn"],
        format!("arn:aws:iam::{}:role/{role}", acceptance_tests::aws::account_id())
    );
    let facts = Aws::new(&ds.info.aws_url).role(role).expect("role");
    assert_eq!(
        facts.inline_policy_names.len(),
        4,
        "root, cloudwatch, resources and CUR retrieval; no autopilot"
    );
    assert!(!facts.inline_policy_names.iter().any(|n| n.contains("AutoPilot")));
    let billing = Billing::for_account(&ds, acceptance_tests::aws::account_id());
    assert!(billing.bucket(&bucket).is_some());
    assert!(billing.report("VantageReport").is_some());

    // The first report file arrives: the integration moves to connected.
    ds.admin_post("deliver-cur", serde_json::json!({ "report_name": "VantageReport" }));
    ws.run(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
        .expect_ok();
    assert_eq!(ws.outputs()["integration_status"], "connected");
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty(), "nothing stays registered in Vantage");
    assert!(Aws::new(&ds.info.aws_url).role(role).is_none(), "the role is gone");
    assert!(billing.bucket(&bucket).is_none(), "the bucket is gone");
    assert!(billing.reports().is_empty(), "the report is gone");
}

#[test]
fn the_quickstart_with_cur_2_connects_through_a_data_export() {
    let ds = Devstack::start(&[]);
    // The same default names as the test above: an account of its own (a Terraform override file
    // adds assume_role to the example's provider block), since with a shared upstream
    // (LocalStack) a devstack of its own does not mean an IAM and S3 of its own.
    let account = account_for("quickstart-cur2");
    let mut ws = Workspace::on(&ds, "quickstart-cur2");
    ws.env("TF_VAR_cur_bucket_force_destroy", "true");
    ws.env("TF_VAR_cur_version", "2");
    copy_example(&ws, "examples/quickstart");
    std::fs::write(ws.path().join("account_override.tf"), provider_block(&account)).expect("override file");
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();

    let out = ws.outputs();
    assert_eq!(out["cur_report"], "VantageDataExport");
    let bucket = out["cur_bucket"].as_str().unwrap_or_default().to_string();
    assert_eq!(out["cur_bucket"], format!("vantage-cur-{account}"));
    let billing = Billing::for_account(&ds, &account);
    assert!(billing.reports().is_empty(), "no CUR 1.0 report with cur_version = 2");
    assert_eq!(billing.export_arns().len(), 1);

    // The first CUR 2.0 file arrives: the integration follows it to connected.
    ds.admin_post("deliver-cur", serde_json::json!({ "export_name": "VantageDataExport" }));
    assert!(
        billing.objects(&bucket).iter().any(|k| k.starts_with("daily-v2/")),
        "delivered under the export's prefix"
    );
    ws.run(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
        .expect_ok();
    assert_eq!(ws.outputs()["integration_status"], "connected");
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
    assert!(billing.export_arns().is_empty(), "the export is gone");
    assert!(billing.bucket(&bucket).is_none(), "the bucket is gone");
}

#[test]
fn the_module_connects_a_management_and_a_member_account() {
    let ds = Devstack::start(&[]);
    // An account of its own: the quickstart test creates the same default role name, and with a
    // shared upstream (LocalStack) a devstack of its own does not mean an IAM of its own.
    let account = account_for("quickstart-module");
    let ws = Workspace::on(&ds, "module");
    let module = workspace_root().join("examples/modules/vantage-aws-connection");
    ws.config(&format!(
        r#"{provider}
module "management" {{
  source          = "{module}"
  cur_bucket_name = "vantage-cur-module-test"
  tags            = {{ Team = "finops" }}
}}

module "member" {{
  source                  = "{module}"
  cross_account_role_name = "vantage_member_connection"
  member_account          = true
}}

output "management" {{ value = module.management }}
output "member" {{ value = module.member }}
"#,
        module = module.display(),
        provider = provider_block(&account),
    ));
    // Modules need installing; `terraform get` does it without touching providers.
    ws.run(&["get", "-no-color"]).expect_ok();
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();

    let out = ws.outputs();
    assert_eq!(out["management"]["cur_report_name"], "VantageReport");
    assert!(
        out["member"]["cur_bucket_arn"].is_null(),
        "a member account gets no bucket"
    );
    let integrations = all_integrations(&ds);
    assert_eq!(integrations.len(), 2, "{integrations:?}");
    let billing = Billing::for_account(&ds, &account);
    let aws = billing.iam();
    let member = aws.role("vantage_member_connection").expect("member role");
    assert!(
        !member
            .inline_policy_names
            .contains("VantageCostandUsageReportRetrieval")
    );
    assert_eq!(
        aws.role("vantage_cross_account_connection")
            .expect("role")
            .tags
            .get("Team")
            .map(String::as_str),
        Some("finops")
    );

    // The report files are kept unless asked: empty the bucket as a user would.
    ws.destroy().expect_ok();
    assert!(all_integrations(&ds).is_empty());
    assert!(aws.role("vantage_member_connection").is_none());
    assert!(aws.role("vantage_cross_account_connection").is_none());
    assert!(billing.bucket("vantage-cur-module-test").is_none());
    assert!(billing.reports().is_empty());
}
