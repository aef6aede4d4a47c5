//! Issue 18, part 4: the whole quickstart (role, policies, bucket, report,
//! registration) as `examples/quickstart` writes it, against the same objects
//! in the shape of Vantage's module on hashicorp/aws with our
//! `vantage_aws_provider` for the registration (the drop-in for Vantage's
//! provider). Each runs in an account of its own, so both use the default names.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::peers::{account, aws_provider_block, role_in};
use super::report::{self, AWS, OURS, Row};
use super::workspace::{Measured, Providers, Tf, World};

const ROLE: &str = "vantage_cross_account_connection";

/// The accounts (as [`account`] numbers them) of ours and of the module shape.
pub const ACCOUNTS: [usize; 2] = [900, 901];

/// The module's inline policies: name and the `vantage_aws_provider_info` attribute with the document.
const MODULE_POLICIES: [(&str, &str); 4] = [
    ("root", "root_policy"),
    ("VantageCloudWatchMetricsReadOnly", "cloudwatch_metrics_policy"),
    ("VantageAdditionalResourceReadOnly", "additional_resources_policy"),
    ("VantageAutoPilot", "autopilot_policy"),
];

/// Vantage's module with its defaults (CUR 1.0, autopilot on, the `_with_bucket`
/// twins counted in), from the shapes in `../shared/reference/peers.md`.
pub fn module_shaped(aws_url: &str, account: &str) -> String {
    let bucket = format!("vantage-cur-{account}");
    let mut policies = String::new();
    for (name, attribute) in MODULE_POLICIES {
        policies.push_str(&format!(
            "resource \"aws_iam_role_policy\" \"{name}\" {{\n  name   = \"{name}\"\n  role   = aws_iam_role.vantage_cross_account_connection.id\n  policy = data.vantage_aws_provider_info.default.{attribute}\n}}\n"
        ));
    }
    let aws = aws_provider_block(aws_url, None, Some(account));
    format!(
        r#"{aws}
provider "vantage" {{}}

data "vantage_aws_provider_info" "default" {{}}
data "aws_caller_identity" "current" {{}}

locals {{
  bucket_arn = "arn:aws:s3:::{bucket}"
  account_id = data.aws_caller_identity.current.account_id
  source_arn = "arn:aws:cur:us-east-1:${{local.account_id}}:definition/*"
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
  count         = 1
  bucket        = "{bucket}"
  force_destroy = true
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
        Condition = {{ StringEquals = {{ "aws:SourceArn" = local.source_arn, "aws:SourceAccount" = local.account_id }} }}
      }},
      {{
        Effect    = "Allow"
        Principal = {{ Service = "billingreports.amazonaws.com" }}
        Action    = "s3:PutObject"
        Resource  = "${{local.bucket_arn}}/*"
        Condition = {{ StringEquals = {{ "aws:SourceArn" = local.source_arn, "aws:SourceAccount" = local.account_id }} }}
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

resource "aws_cur_report_definition" "cur_with_bucket" {{
  count                      = 1
  report_name                = "VantageReport"
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

resource "vantage_aws_provider" "with_bucket" {{
  count             = 1
  cross_account_arn = aws_iam_role.vantage_cross_account_connection.arn
  bucket_arn        = aws_s3_bucket.cur_with_bucket[0].arn
  depends_on        = [aws_iam_role_policy.root, aws_cur_report_definition.cur_with_bucket]
}}
"#
    )
}

/// `examples/quickstart` as it is, plus an override file that makes its
/// provider act in `account` (Terraform merges `*_override.tf` into the block).
fn ours(world: &World, root: &Path, account: &str) -> anyhow::Result<Tf> {
    let tf = Tf::new(world, Providers::Ours)?;
    for entry in std::fs::read_dir(root.join("examples/quickstart"))?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tf")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, tf.path().join(name))?;
        }
    }
    std::fs::write(
        tf.path().join("bench_override.tf"),
        format!(
            "provider \"vantage\" {{\n  assume_role {{\n    role_arn = \"{}\"\n  }}\n}}\n",
            role_in(account)
        ),
    )?;
    Ok(tf)
}

/// `(applies, refresh plans)`: `cycles` of apply, `plans` refresh plans, destroy.
fn cycle(
    world: &World,
    tf: &Tf,
    cycles: usize,
    plans: usize,
    vars: &[&str],
) -> anyhow::Result<(Vec<Measured>, Vec<Measured>)> {
    let (mut applies, mut plan_runs) = (Vec::new(), Vec::new());
    let vars: Vec<String> = vars.iter().map(|v| format!("-var={v}")).collect();
    let run = |base: &[&str]| -> anyhow::Result<Measured> {
        let args: Vec<&str> = base.iter().copied().chain(vars.iter().map(String::as_str)).collect();
        tf.measure(world, &args)
    };
    for _ in 0..cycles {
        applies.push(run(&["apply", "-auto-approve", "-input=false"])?);
        for _ in 0..plans {
            plan_runs.push(run(&["plan", "-input=false"])?);
        }
        run(&["destroy", "-auto-approve", "-input=false"])?;
    }
    Ok((applies, plan_runs))
}

pub fn run(world: &World, root: &Path, quick: bool, with_aws: bool) -> anyhow::Result<(Value, Vec<Row>)> {
    let (cycles, plans) = if quick { (1, 2) } else { (2, 2) };
    crate::util::step(&format!("the quickstart: {OURS}"));
    let ours_tf = ours(world, root, &account(ACCOUNTS[0]))?;
    let ours_runs = cycle(world, &ours_tf, cycles, plans, &["cur_bucket_force_destroy=true"])?;
    let aws_runs = if with_aws {
        crate::util::step(&format!(
            "the quickstart in Vantage's module shape: {AWS} + vantage_aws_provider"
        ));
        let tf = Tf::new(world, Providers::Aws { with_ours: true })?;
        tf.config(&module_shaped(&world.devstack.ready.aws_url, &account(ACCOUNTS[1])))?;
        tf.init()?;
        Some(cycle(world, &tf, cycles, plans, &[])?)
    } else {
        None
    };
    let mut results = Map::new();
    let tool = |runs: &(Vec<Measured>, Vec<Measured>)| json!({"apply": report::runs_json(&runs.0), "plan_refresh": report::runs_json(&runs.1)});
    results.insert(OURS.into(), tool(&ours_runs));
    results.insert(AWS.into(), aws_runs.as_ref().map_or(Value::Null, tool));
    let job = |what: &str| format!("quickstart (role, policies, bucket, report, registration): {what}");
    let rows = vec![
        Row {
            job: job("apply"),
            unit: "s",
            ours: report::wall(&ours_runs.0),
            aws: aws_runs.as_ref().and_then(|r| report::wall(&r.0)),
            floor: None,
        },
        Row {
            job: job("refresh plan"),
            unit: "s",
            ours: report::wall(&ours_runs.1),
            aws: aws_runs.as_ref().and_then(|r| report::wall(&r.1)),
            floor: None,
        },
        Row {
            job: job("largest provider process (peak RSS)"),
            unit: "MB",
            ours: report::peak_rss_mb(&[ours_runs.0.clone(), ours_runs.1.clone()].concat()),
            aws: aws_runs
                .as_ref()
                .and_then(|r| report::peak_rss_mb(&[r.0.clone(), r.1.clone()].concat())),
            floor: None,
        },
    ];
    for row in &rows {
        report::print_row(row);
    }
    Ok((Value::Object(results), rows))
}
