//! A client no one here wrote, against the devstack: the real hashicorp/aws 5.100.0 applies
//! its `aws_cur_report_definition` and `aws_bcmdataexports_export` through the devstack's AWS
//! front door, and everything it expects of AWS (create, read, update in place, import,
//! delete, the bucket-permission error) holds. Checks go through the AWS SDK, not through
//! either provider.
//!
//! Also the guide's manual path: a role made with hashicorp/aws from the documents
//! `vantage_aws_provider_info` renders registers with `vantage_aws_integration` at once.

use acceptance_tests::aws_billing::{Billing, account_for, provider_block, reference_policy};
use acceptance_tests::vantage_checks::v1_integration;
use acceptance_tests::{Devstack, SOURCE_ADDRESS, Workspace, peers};

const REPORT: &str = "ConformanceReport";

/// A bucket, optionally with the policy AWS billing needs, beside hashicorp/aws's provider block.
fn bucket_hcl(ds: &Devstack, account: &str, bucket: &str, with_policy: bool) -> String {
    let policy = if with_policy {
        let document = reference_policy(account, bucket, None, false);
        format!(
            r#"
resource "aws_s3_bucket_policy" "cur" {{
  bucket = aws_s3_bucket.cur.id
  policy = <<EOT
{document}
EOT
}}
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{aws}
resource "aws_s3_bucket" "cur" {{
  bucket = "{bucket}"
}}
{policy}"#,
        aws = peers::aws_provider_block(ds, account),
    )
}

fn report_hcl(bucket_part: &str, prefix: &str, refresh: bool, depends: &str) -> String {
    format!(
        r#"{bucket_part}
resource "aws_cur_report_definition" "this" {{
  report_name                = "{REPORT}"
  time_unit                  = "DAILY"
  format                     = "textORcsv"
  compression                = "GZIP"
  additional_schema_elements = ["RESOURCES"]
  s3_bucket                  = aws_s3_bucket.cur.id
  s3_region                  = "us-east-1"
  s3_prefix                  = "{prefix}"
  report_versioning          = "OVERWRITE_REPORT"
  refresh_closed_reports     = {refresh}
  depends_on                 = [{depends}]
}}
"#
    )
}

/// A workspace for hashicorp/aws alone (our provider is named but unused).
fn aws_workspace(ds: &Devstack, name: &str, body: &str) -> Workspace {
    let ws = peers::workspace(ds, name);
    peers::config(&ws, SOURCE_ADDRESS, body);
    peers::init(&ws).expect_ok();
    ws
}

#[test]
fn cur_report_definition_creates_reads_updates_imports_and_deletes() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    let name = "acc-conf-cur";
    let ds = Devstack::shared();
    let account = account_for(name);
    let bucket = format!("conf-cur-{account}");
    let aws = Billing::for_account(ds, &account);
    let bucket_part = bucket_hcl(ds, &account, &bucket, true);
    let depends = "aws_s3_bucket_policy.cur";
    let ws = aws_workspace(ds, name, &report_hcl(&bucket_part, "v1", true, depends));

    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let report = aws.report(REPORT).expect("the report exists");
    assert_eq!(report.s3_bucket(), bucket);
    assert_eq!(report.s3_prefix(), "v1");
    assert_eq!(report.refresh_closed_reports(), Some(true));

    // Both arguments change in place (ModifyReportDefinition), never by replacement.
    peers::config(&ws, SOURCE_ADDRESS, &report_hcl(&bucket_part, "v2", false, depends));
    let plan = ws.plan();
    plan.expect_changes();
    let text = plan.normalized_output();
    assert!(
        text.contains("aws_cur_report_definition.this will be updated in-place"),
        "{text}"
    );
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let report = aws.report(REPORT).expect("the report exists");
    assert_eq!(report.s3_prefix(), "v2");
    assert_eq!(report.refresh_closed_reports(), Some(false));

    // Import by report name, as hashicorp/aws documents it.
    ws.run(&["state", "rm", "aws_cur_report_definition.this"]).expect_ok();
    ws.run(&["import", "-no-color", "aws_cur_report_definition.this", REPORT])
        .expect_ok();
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    assert!(aws.report(REPORT).is_none(), "destroy deletes the report");
    assert!(aws.bucket(&bucket).is_none(), "destroy deletes the bucket");
}

#[test]
fn cur_report_definition_without_a_bucket_policy_fails_as_aws_says() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    let name = "acc-conf-cur-nopolicy";
    let ds = Devstack::shared();
    let account = account_for(name);
    let bucket = format!("conf-nopol-{account}");
    let aws = Billing::for_account(ds, &account);
    let bucket_part = bucket_hcl(ds, &account, &bucket, false);
    let ws = aws_workspace(ds, name, &report_hcl(&bucket_part, "v1", true, "aws_s3_bucket.cur"));

    ws.apply()
        .expect_error("creating Cost And Usage Report Definition")
        .expect_error("ValidationException")
        .expect_error("Failed to verify customer bucket permission");
    assert!(aws.report(REPORT).is_none(), "no report was created");
    ws.destroy().expect_ok();
}

fn export_hcl(bucket_part: &str, account: &str, name: &str) -> String {
    format!(
        r#"{bucket_part}
resource "aws_bcmdataexports_export" "this" {{
  export {{
    name = "{name}"
    data_query {{
      query_statement = "SELECT identity_line_item_id, line_item_unblended_cost FROM COST_AND_USAGE_REPORT"
      # Every property AWS fills in, as hashicorp/aws's docs advise: AWS answers GetExport with
      # the ones left out added (BILLING_VIEW_ARN among them), and hashicorp/aws 5.100.0 then
      # fails the apply with "new element ... has appeared" (its issues #42761, #43978).
      table_configurations = {{
        COST_AND_USAGE_REPORT = {{
          BILLING_VIEW_ARN                      = "arn:aws:billing::{account}:billingview/primary"
          TIME_GRANULARITY                      = "HOURLY"
          INCLUDE_RESOURCES                     = "FALSE"
          INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY = "FALSE"
          INCLUDE_SPLIT_COST_ALLOCATION_DATA    = "FALSE"
          INCLUDE_CAPACITY_RESERVATION_DATA     = "FALSE"
          INCLUDE_IAM_PRINCIPAL_DATA            = "FALSE"
        }}
      }}
    }}
    destination_configurations {{
      s3_destination {{
        s3_bucket = aws_s3_bucket.cur.id
        s3_prefix = "cur2"
        s3_region = "us-east-1"
        s3_output_configurations {{
          overwrite   = "OVERWRITE_REPORT"
          format      = "PARQUET"
          compression = "PARQUET"
          output_type = "CUSTOM"
        }}
      }}
    }}
    refresh_cadence {{
      frequency = "SYNCHRONOUS"
    }}
  }}
  depends_on = [aws_s3_bucket_policy.cur]
}}

output "export_arn" {{ value = aws_bcmdataexports_export.this.id }}
"#
    )
}

#[test]
fn bcmdataexports_export_creates_reads_and_deletes() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    let name = "acc-conf-export";
    let ds = Devstack::shared();
    let account = account_for(name);
    let bucket = format!("conf-export-{account}");
    let aws = Billing::for_account(ds, &account);
    let bucket_part = bucket_hcl(ds, &account, &bucket, true);
    let ws = aws_workspace(ds, name, &export_hcl(&bucket_part, &account, "ConformanceExport"));

    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let arn = ws.outputs()["export_arn"].as_str().unwrap_or_default().to_string();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:bcm-data-exports:us-east-1:{account}:export/ConformanceExport-"
        )),
        "{arn}"
    );
    assert_eq!(aws.export_arns(), [arn.as_str()], "the SDK sees the export");

    ws.run(&["state", "rm", "aws_bcmdataexports_export.this"]).expect_ok();
    ws.run(&["import", "-no-color", "aws_bcmdataexports_export.this", &arn])
        .expect_ok();
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    assert!(!aws.export_arns().contains(&arn), "destroy deletes the export");
}

/// The guide's manual path with hashicorp/aws: the trust and CUR retrieval documents come from
/// `vantage_aws_provider_info`, the role and its policies from `aws_iam_role*`, the
/// registration from `vantage_aws_integration`.
fn manual_role_hcl(ds: &Devstack, account: &str, bucket: &str) -> String {
    format!(
        r#"{bucket_part}
{vantage}
data "vantage_aws_provider_info" "x" {{
  cur_bucket = aws_s3_bucket.cur.id
}}

resource "aws_iam_role" "vantage" {{
  name               = "made-with-hashicorp-aws"
  assume_role_policy = data.vantage_aws_provider_info.x.assume_role_policy
}}

resource "aws_iam_role_policy" "root" {{
  name   = "root"
  role   = aws_iam_role.vantage.id
  policy = data.vantage_aws_provider_info.x.root_policy
}}

resource "aws_iam_role_policy" "cur" {{
  name   = "VantageCostandUsageReportRetrieval"
  role   = aws_iam_role.vantage.id
  policy = data.vantage_aws_provider_info.x.cur_retrieval_policy
}}

resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = aws_iam_role.vantage.arn
  bucket_arn             = aws_s3_bucket.cur.arn
  depends_on             = [aws_iam_role_policy.root, aws_iam_role_policy.cur, aws_s3_bucket_policy.cur]
}}

output "integration_id" {{ value = vantage_aws_integration.this.id }}
"#,
        bucket_part = bucket_hcl(ds, account, bucket, true),
        vantage = provider_block(account),
    )
}

#[test]
fn a_role_made_with_hashicorp_aws_from_the_rendered_documents_registers_at_the_first_apply() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    let name = "acc-conf-manual-role";
    let ds = Devstack::shared();
    let account = account_for(name);
    let bucket = format!("conf-manual-{account}");
    let aws = Billing::for_account(ds, &account);
    let ws = aws_workspace(ds, name, &manual_role_hcl(ds, &account, &bucket));

    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let id = match &ws.outputs()["integration_id"] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let registered = v1_integration(ds, &id).expect("registered with Vantage");
    assert_eq!(
        registered["cross_account_arn"],
        format!("arn:aws:iam::{account}:role/made-with-hashicorp-aws").as_str()
    );
    assert_eq!(registered["bucket_arn"], format!("arn:aws:s3:::{bucket}").as_str());
    let role = aws.iam().role("made-with-hashicorp-aws").expect("the role exists");
    assert_eq!(
        role.inline_policy_names.iter().map(String::as_str).collect::<Vec<_>>(),
        ["VantageCostandUsageReportRetrieval", "root"]
    );
    // What IAM holds is what our own resources write.
    let info = ds.vantage_get("/v1/integrations/aws/info");
    let statement = &role.trust_policy["Statement"][0];
    assert_eq!(statement["Principal"]["AWS"], info["iam_role_arn"]);
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        info["external_id"]
    );
    assert_eq!(
        aws.iam()
            .role_policy("made-with-hashicorp-aws", "VantageCostandUsageReportRetrieval"),
        Some(serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectAcl"],
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }]}))
    );

    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &id).is_none(), "destroy removes the integration");
}
