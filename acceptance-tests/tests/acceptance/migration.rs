//! Moving a connection made the way Vantage's module makes it (hashicorp/aws for the AWS
//! half, Vantage's provider for the registration) to this provider's resources with
//! `moved` and `removed` blocks: nothing is destroyed or created, the AWS and Vantage
//! objects stay the same objects, and the plan after the move is empty.
//!
//! The real hashicorp/aws 5.100.0 runs beside this provider, which also stands in for
//! Vantage's provider under its source address (`vantage-sh/vantage`).

use acceptance_tests::aws_billing::{Billing, account_for, provider_block};
use acceptance_tests::peers::{self, VANTAGE_OFFICIAL_SOURCE};
use acceptance_tests::vantage_checks::v1_integration;
use acceptance_tests::{Devstack, Run, SOURCE_ADDRESS, Workspace};

const ROLE: &str = "vantage_cross_account_connection";
const REPORT: &str = "VantageReport";

/// The inline policies Vantage's module puts on the role, by name, with the
/// attribute of `vantage_aws_provider_info` holding each document and our preset for it.
const MODULE_POLICIES: [(&str, &str, &str); 4] = [
    ("root", "root_policy", "root"),
    (
        "VantageCloudWatchMetricsReadOnly",
        "cloudwatch_metrics_policy",
        "cloudwatch",
    ),
    (
        "VantageAdditionalResourceReadOnly",
        "additional_resources_policy",
        "resources",
    ),
    ("VantageAutoPilot", "autopilot_policy", "autopilot"),
];

/// Which report the module made: CUR 1.0, or CUR 2.0 (its `upgrade_to_cur_2`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cur {
    V1,
    V2,
}

impl Cur {
    fn module_address(self) -> &'static str {
        match self {
            Cur::V1 => "aws_cur_report_definition.cur_with_bucket[0]",
            Cur::V2 => "aws_bcmdataexports_export.cur2_with_bucket[0]",
        }
    }

    fn our_address(self) -> &'static str {
        match self {
            Cur::V1 => "vantage_aws_cur_report.this",
            Cur::V2 => "vantage_aws_data_export.this",
        }
    }

    /// Ours, keeping the module's name and prefix (defaults differ: see the migration guide).
    fn ours(self) -> String {
        match self {
            Cur::V1 => {
                "resource \"vantage_aws_cur_report\" \"this\" {\n  bucket = vantage_aws_cur_bucket.this.bucket\n}"
                    .into()
            }
            Cur::V2 => format!(
                "resource \"vantage_aws_data_export\" \"this\" {{\n  bucket = vantage_aws_cur_bucket.this.bucket\n  \
                 name   = \"{REPORT}\"\n  prefix = \"daily-v1\"\n}}"
            ),
        }
    }
}

/// The module's report: a CUR 1.0 definition, or a CUR 2.0 export with every table property set.
fn module_report(cur: Cur, account: &str) -> String {
    if cur == Cur::V1 {
        return format!(
            r#"resource "aws_cur_report_definition" "cur_with_bucket" {{
  count                      = 1
  report_name                = "{REPORT}"
  time_unit                  = "DAILY"
  format                     = "textORcsv"
  compression                = "GZIP"
  additional_schema_elements = ["RESOURCES"]
  s3_bucket                  = aws_s3_bucket.cur_with_bucket[0].id
  s3_region                  = "us-east-1"
  s3_prefix                  = "daily-v1"
  report_versioning          = "OVERWRITE_REPORT"
  refresh_closed_reports     = true
  depends_on                 = [aws_s3_bucket_policy.cur_with_bucket]
}}
"#
        );
    }
    let columns = acceptance_tests::peers::vantage_cur2_columns().join(", ");
    format!(
        r#"resource "aws_bcmdataexports_export" "cur2_with_bucket" {{
  count = 1
  export {{
    name = "{REPORT}"
    data_query {{
      query_statement = "SELECT {columns} FROM COST_AND_USAGE_REPORT"
      table_configurations = {{
        COST_AND_USAGE_REPORT = {{
          BILLING_VIEW_ARN                      = "arn:aws:billing::{account}:billingview/primary"
          TIME_GRANULARITY                      = "DAILY"
          INCLUDE_RESOURCES                     = "TRUE"
          INCLUDE_SPLIT_COST_ALLOCATION_DATA    = "FALSE"
          INCLUDE_CAPACITY_RESERVATION_DATA     = "FALSE"
          INCLUDE_IAM_PRINCIPAL_DATA            = "TRUE"
          INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY = "FALSE"
        }}
      }}
    }}
    destination_configurations {{
      s3_destination {{
        s3_bucket = aws_s3_bucket.cur_with_bucket[0].id
        s3_prefix = "daily-v1"
        s3_region = "us-east-1"
        s3_output_configurations {{
          overwrite   = "OVERWRITE_REPORT"
          format      = "TEXT_OR_CSV"
          compression = "GZIP"
          output_type = "CUSTOM"
        }}
      }}
    }}
    refresh_cadence {{
      frequency = "SYNCHRONOUS"
    }}
  }}
  depends_on = [aws_s3_bucket_policy.cur_with_bucket]
}}
"#
    )
}

/// A connection in the shape of Vantage's module, with its defaults (autopilot on, CUR 1.0,
/// `_with_bucket` twins counted in, `_without_bucket` ones counted out), written here from
/// the shapes in the reference docs.
fn module_shaped(ds: &Devstack, account: &str, bucket: &str, cur: Cur) -> String {
    let mut policies = String::new();
    for (name, attribute, _) in MODULE_POLICIES {
        policies.push_str(&format!(
            r#"
resource "aws_iam_role_policy" "{name}" {{
  name   = "{name}"
  role   = aws_iam_role.vantage_cross_account_connection.id
  policy = data.vantage_aws_provider_info.default.{attribute}
}}
"#
        ));
    }
    format!(
        r#"{aws}
provider "vantage" {{}}

data "vantage_aws_provider_info" "default" {{}}
data "aws_caller_identity" "current" {{}}

locals {{
  bucket_arn = "arn:aws:s3:::{bucket}"
  account_id = data.aws_caller_identity.current.account_id
}}

resource "aws_iam_role" "vantage_cross_account_connection" {{
  name = "{ROLE}"
  assume_role_policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ AWS = data.vantage_aws_provider_info.default.iam_role_arn }}
      Action    = "sts:AssumeRole"
      Condition = {{ StringEquals = {{ "sts:ExternalId" = data.vantage_aws_provider_info.default.external_id }} }}
    }}]
  }})
}}

resource "aws_iam_role_policy_attachment" "view_only" {{
  role       = aws_iam_role.vantage_cross_account_connection.name
  policy_arn = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
}}
{policies}
resource "aws_iam_role_policy" "cur_retrieval_with_bucket" {{
  count = 1
  name  = "VantageCostandUsageReportRetrieval"
  role  = aws_iam_role.vantage_cross_account_connection.id
  policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Action = ["s3:GetObject", "s3:GetObjectAcl"], Resource = "${{local.bucket_arn}}/*" }}]
  }})
}}

resource "aws_s3_bucket" "cur_with_bucket" {{
  count  = 1
  bucket = "{bucket}"
}}

resource "aws_s3_bucket_public_access_block" "cur_with_bucket" {{
  count                   = 1
  bucket                  = aws_s3_bucket.cur_with_bucket[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}}

resource "aws_s3_bucket_lifecycle_configuration" "cur_with_bucket" {{
  count  = 1
  bucket = aws_s3_bucket.cur_with_bucket[0].id
  rule {{
    id     = "expire-cur-files"
    status = "Enabled"
    filter {{}}
    expiration {{
      days = 200
    }}
  }}
}}

resource "aws_s3_bucket_policy" "cur_with_bucket" {{
  count  = 1
  bucket = aws_s3_bucket.cur_with_bucket[0].id
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [
      {{
        Effect    = "Allow"
        Principal = {{ Service = "billingreports.amazonaws.com" }}
        Action    = ["s3:GetBucketAcl", "s3:GetBucketPolicy"]
        Resource  = local.bucket_arn
        Condition = {{ StringEquals = {{
          "aws:SourceArn"     = "arn:aws:cur:us-east-1:${{local.account_id}}:definition/*"
          "aws:SourceAccount" = local.account_id
        }} }}
      }},
      {{
        Effect    = "Allow"
        Principal = {{ Service = "billingreports.amazonaws.com" }}
        Action    = "s3:PutObject"
        Resource  = "${{local.bucket_arn}}/*"
        Condition = {{ StringEquals = {{
          "aws:SourceArn"     = "arn:aws:cur:us-east-1:${{local.account_id}}:definition/*"
          "aws:SourceAccount" = local.account_id
        }} }}
      }},
      {{
        Effect    = "Allow"
        Principal = {{ Service = ["billingreports.amazonaws.com", "bcm-data-exports.amazonaws.com"] }}
        Action    = ["s3:PutObject", "s3:GetBucketPolicy"]
        Resource  = ["${{local.bucket_arn}}/*", local.bucket_arn]
        Condition = {{ StringLike = {{
          "aws:SourceArn" = [
            "arn:aws:cur:us-east-1:${{local.account_id}}:definition/*",
            "arn:aws:bcm-data-exports:us-east-1:${{local.account_id}}:export/*",
          ]
          "aws:SourceAccount" = local.account_id
        }} }}
      }},
      {{
        Effect    = "Allow"
        Principal = {{ AWS = aws_iam_role.vantage_cross_account_connection.arn }}
        Action    = ["s3:GetObject", "s3:GetObjectAcl"]
        Resource  = "${{local.bucket_arn}}/*"
      }},
    ]
  }})
  depends_on = [aws_s3_bucket_public_access_block.cur_with_bucket]
}}

resource "aws_s3_bucket_notification" "cur_with_bucket" {{
  count  = 1
  bucket = aws_s3_bucket.cur_with_bucket[0].id
  topic {{
    topic_arn     = "arn:aws:sns:us-east-1:630399649041:cost-and-usage-report-uploaded"
    events        = ["s3:ObjectCreated:*"]
    filter_suffix = ".csv.gz"
  }}
}}

{report}
resource "vantage_aws_provider" "with_bucket" {{
  count             = 1
  cross_account_arn = aws_iam_role.vantage_cross_account_connection.arn
  bucket_arn        = aws_s3_bucket.cur_with_bucket[0].arn
  depends_on        = [aws_iam_role_policy.root, {report_address}]
}}

output "integration_id" {{ value = vantage_aws_provider.with_bucket[0].id }}
"#,
        aws = peers::aws_provider_block(ds, account),
        report = module_report(cur, account),
        report_address = cur.module_address().trim_end_matches("[0]"),
    )
}

/// The same connection in this provider's resources, with the blocks that move the old
/// state onto them and forget the satellites folded into `vantage_aws_cur_bucket`.
fn ours_with_moves(ds: &Devstack, account: &str, bucket: &str, cur: Cur) -> String {
    let mut policies = String::new();
    for (name, _, preset) in MODULE_POLICIES {
        let writes = if preset == "autopilot" {
            "\n  allow_write_actions = true"
        } else {
            ""
        };
        policies.push_str(&format!(
            r#"
resource "vantage_aws_role_policy" "{name}" {{
  role   = vantage_aws_cross_account_role.this.name
  name   = "{name}"
  preset = "{preset}"{writes}
}}

moved {{
  from = aws_iam_role_policy.{name}
  to   = vantage_aws_role_policy.{name}
}}
"#
        ));
    }
    format!(
        r#"{aws}
{vantage}
resource "vantage_aws_cross_account_role" "this" {{}}

moved {{
  from = aws_iam_role.vantage_cross_account_connection
  to   = vantage_aws_cross_account_role.this
}}

removed {{
  from = aws_iam_role_policy_attachment.view_only
  lifecycle {{
    destroy = false
  }}
}}
{policies}
resource "vantage_aws_role_policy" "cur" {{
  role       = vantage_aws_cross_account_role.this.name
  name       = "VantageCostandUsageReportRetrieval"
  preset     = "cur_retrieval"
  cur_bucket = vantage_aws_cur_bucket.this.bucket
}}

moved {{
  from = aws_iam_role_policy.cur_retrieval_with_bucket[0]
  to   = vantage_aws_role_policy.cur
}}

resource "vantage_aws_cur_bucket" "this" {{
  bucket                 = "{bucket}"
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
}}

moved {{
  from = aws_s3_bucket.cur_with_bucket[0]
  to   = vantage_aws_cur_bucket.this
}}

removed {{
  from = aws_s3_bucket_public_access_block.cur_with_bucket
  lifecycle {{
    destroy = false
  }}
}}

removed {{
  from = aws_s3_bucket_lifecycle_configuration.cur_with_bucket
  lifecycle {{
    destroy = false
  }}
}}

removed {{
  from = aws_s3_bucket_policy.cur_with_bucket
  lifecycle {{
    destroy = false
  }}
}}

removed {{
  from = aws_s3_bucket_notification.cur_with_bucket
  lifecycle {{
    destroy = false
  }}
}}

{report}

moved {{
  from = {from}
  to   = {to}
}}

resource "vantage_aws_integration" "this" {{
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
  bucket_arn             = vantage_aws_cur_bucket.this.arn
}}

moved {{
  from = vantage_aws_provider.with_bucket[0]
  to   = vantage_aws_integration.this
}}

output "integration_id" {{ value = vantage_aws_integration.this.id }}
"#,
        aws = peers::aws_provider_block(ds, account),
        vantage = provider_block(account),
        report = cur.ours(),
        from = cur.module_address(),
        to = cur.our_address(),
    )
}

/// The identities that must survive the move.
#[derive(Debug, PartialEq)]
struct Objects {
    role_unique_id: String,
    role_created: String,
    inline_policies: Vec<String>,
    bucket_created: String,
    report: String,
    integration: serde_json::Value,
}

fn objects(aws: &Billing, ds: &Devstack, bucket: &str, integration_id: &str, cur: Cur) -> Objects {
    let role = aws.iam().role(ROLE).expect("the role exists");
    let report = match cur {
        Cur::V1 => {
            let report = aws.report(REPORT).expect("the report exists");
            format!("{}:{}", report.report_name(), report.s3_bucket())
        }
        Cur::V2 => {
            let arns = aws.export_arns();
            assert_eq!(arns.len(), 1, "one export: {arns:?}");
            arns[0].clone()
        }
    };
    let integration = v1_integration(ds, integration_id).expect("the integration exists");
    Objects {
        role_unique_id: role.unique_id,
        role_created: role.create_date,
        inline_policies: role.inline_policy_names.into_iter().collect(),
        bucket_created: aws.bucket_created(bucket).expect("the bucket exists"),
        report,
        integration: serde_json::json!({
            "id": integration["id"],
            "role": integration["cross_account_arn"],
            "bucket": integration["bucket_arn"],
        }),
    }
}

fn integration_id(ws: &Workspace) -> String {
    let outputs = ws.outputs();
    match &outputs["integration_id"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => panic!("integration_id output is {other}"),
    }
}

/// `Plan: A to add, C to change, D to destroy.` or `No changes.`, as (A, C, D).
fn plan_counts(run: &Run) -> (u32, u32, u32) {
    let text = run.normalized_output();
    if text.contains("No changes.") {
        return (0, 0, 0);
    }
    let re = regex::Regex::new(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy").expect("regex");
    let c = re
        .captures(&text)
        .unwrap_or_else(|| panic!("no plan summary in:\n{text}"));
    let n = |i: usize| c[i].parse().unwrap_or(u32::MAX);
    (n(1), n(2), n(3))
}

#[test]
fn a_module_shaped_connection_moves_to_our_resources_without_recreation() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    migrate("acc-migrate-moved", Cur::V1);
}

#[test]
fn a_module_shaped_cur_2_connection_moves_to_our_resources_without_recreation() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    migrate("acc-migrate-moved-cur2", Cur::V2);
}

fn migrate(name: &str, cur: Cur) {
    let ds = Devstack::shared();
    let account = account_for(name);
    let bucket = format!("vantage-cur-{account}");
    let aws = Billing::for_account(ds, &account);
    let ws = peers::workspace(ds, name);

    peers::config(&ws, VANTAGE_OFFICIAL_SOURCE, &module_shaped(ds, &account, &bucket, cur));
    peers::init(&ws).expect_ok();
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let id = integration_id(&ws);
    let before = objects(&aws, ds, &bucket, &id, cur);

    peers::config(&ws, SOURCE_ADDRESS, &ours_with_moves(ds, &account, &bucket, cur));
    peers::init(&ws).expect_ok();
    let plan = ws.run(&["plan", "-no-color"]);
    plan.expect_ok();
    // One in-place update, listed in the migration guide: the bucket policy gains the
    // TLS-only statement (`enforce_tls` defaults to true; the module's older policy lacks it).
    assert_eq!(
        plan_counts(&plan),
        (0, 1, 0),
        "the move must neither create nor destroy:\n{}",
        plan.stdout
    );
    let text = plan.normalized_output();
    assert!(text.contains("enforce_tls = false -> true"), "{text}");
    let moved_report = format!("{} has moved to {}", cur.module_address(), cur.our_address());
    for moved in [
        "aws_iam_role.vantage_cross_account_connection has moved to vantage_aws_cross_account_role.this",
        "aws_iam_role_policy.VantageAutoPilot has moved to vantage_aws_role_policy.VantageAutoPilot",
        "vantage_aws_cur_bucket.this will be updated in-place # (moved from aws_s3_bucket.cur_with_bucket[0])",
        moved_report.as_str(),
        "vantage_aws_provider.with_bucket[0] has moved to vantage_aws_integration.this",
    ] {
        assert!(text.contains(moved), "expected `{moved}` in:\n{text}");
    }
    // Vantage's module names its policies its own way; they are not strays.
    assert!(!text.contains("Inline policies left in place"), "{text}");

    ws.apply().expect_ok();
    let after = objects(&aws, ds, &bucket, &integration_id(&ws), cur);
    assert_eq!(before, after, "the move must keep the same objects");
    let facts = aws.bucket(&bucket).expect("the bucket exists");
    assert_eq!(
        facts.lifecycle,
        vec![("expire-cur-files".to_string(), 200)],
        "the module's rule is kept"
    );
    let statements = facts
        .policy
        .as_ref()
        .map(|p| p["Statement"].clone())
        .unwrap_or_default();
    assert!(
        statements
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["Effect"] == "Deny")),
        "the TLS-only statement was added: {statements}"
    );
    ws.plan().expect_empty_plan();
}

/// A configuration written for Vantage's provider (`vantage-sh/vantage`: its
/// `vantage_aws_provider` and `vantage_aws_provider_info`, a provider block with only
/// `host` and `api_token`) beside hashicorp/aws, run unchanged with this provider
/// installed under that address. Where the official provider falls short (no import,
/// `id` unknown on every update, a crash updating without `bucket_arn`), this one does not.
fn official_shaped(ds: &Devstack, account: &str, bucket_arn: &str) -> String {
    let bucket_line = if bucket_arn.is_empty() {
        String::new()
    } else {
        format!("  bucket_arn        = {bucket_arn}\n")
    };
    format!(
        r#"{aws}
provider "vantage" {{
  host      = "{host}"
  api_token = "{token}"
}}

data "vantage_aws_provider_info" "default" {{}}

resource "aws_iam_role" "vantage" {{
  name = "{ROLE}"
  assume_role_policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ AWS = data.vantage_aws_provider_info.default.iam_role_arn }}
      Action    = "sts:AssumeRole"
      Condition = {{ StringEquals = {{ "sts:ExternalId" = data.vantage_aws_provider_info.default.external_id }} }}
    }}]
  }})
}}

resource "aws_iam_role_policy" "root" {{
  name   = "root"
  role   = aws_iam_role.vantage.id
  policy = data.vantage_aws_provider_info.default.root_policy
}}

resource "aws_s3_bucket" "cur" {{
  bucket = "vantage-cur-{account}"
}}

resource "aws_iam_role_policy" "cur" {{
  name = "VantageCostandUsageReportRetrieval"
  role = aws_iam_role.vantage.id
  policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Action = ["s3:GetObject", "s3:GetObjectAcl"], Resource = "${{aws_s3_bucket.cur.arn}}/*" }}]
  }})
}}

resource "vantage_aws_provider" "this" {{
  cross_account_arn = aws_iam_role.vantage.arn
{bucket_line}  depends_on        = [aws_iam_role_policy.root, aws_iam_role_policy.cur]
}}

output "integration_id" {{ value = vantage_aws_provider.this.id }}
"#,
        aws = peers::aws_provider_block(ds, account),
        host = ds.info.vantage_url,
        token = ds.info.token,
    )
}

#[test]
fn a_configuration_for_the_official_provider_runs_unchanged_and_its_gaps_are_filled() {
    acceptance_tests::require_moto!(peers::MOTO_PASS_ONLY);
    let name = "acc-official-dropin";
    let ds = Devstack::shared();
    let account = account_for(name);
    let mut ws = peers::workspace(ds, name);
    // Only the provider block configures Vantage, as in the official provider's docs.
    ws.remove_env("VANTAGE_HOST").remove_env("VANTAGE_API_TOKEN");

    peers::config(&ws, VANTAGE_OFFICIAL_SOURCE, &official_shaped(ds, &account, ""));
    peers::init(&ws).expect_ok();
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let id = integration_id(&ws);
    let registered = v1_integration(ds, &id).expect("registered with Vantage");
    assert!(registered["bucket_arn"].is_null(), "{registered}");

    // Adding the bucket updates in place and keeps the id known in the plan.
    peers::config(
        &ws,
        VANTAGE_OFFICIAL_SOURCE,
        &official_shaped(ds, &account, "aws_s3_bucket.cur.arn"),
    );
    let plan = ws.plan();
    plan.expect_changes();
    let text = plan.normalized_output();
    assert!(
        text.contains("vantage_aws_provider.this will be updated in-place"),
        "{text}"
    );
    assert!(
        !text.contains("known after apply"),
        "the id stays known on update:\n{text}"
    );
    ws.apply().expect_ok();
    assert_eq!(integration_id(&ws), id);
    let bucket_arn = format!("arn:aws:s3:::vantage-cur-{account}");
    assert_eq!(
        v1_integration(ds, &id).expect("registered")["bucket_arn"],
        bucket_arn.as_str()
    );

    // Removing it again (the official provider crashes on this update).
    peers::config(&ws, VANTAGE_OFFICIAL_SOURCE, &official_shaped(ds, &account, ""));
    ws.apply().expect_ok();
    assert!(v1_integration(ds, &id).expect("registered")["bucket_arn"].is_null());
    ws.plan().expect_empty_plan();

    // Import by id (the official provider has none).
    ws.run(&["state", "rm", "vantage_aws_provider.this"]).expect_ok();
    ws.run(&["import", "-no-color", "vantage_aws_provider.this", &id])
        .expect_ok();
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    assert!(v1_integration(ds, &id).is_none(), "destroy removes the integration");
}
