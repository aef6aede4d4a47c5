//! `vantage_aws_cur_report` against the devstack's CUR, checked through the
//! AWS SDK. Each test acts in an AWS account of its own (see `aws_billing`).

use std::collections::BTreeMap;

use acceptance_tests::aws_billing::{Billing, account_for, provider_block};
use acceptance_tests::{Devstack, Workspace};
use aws_sdk_costandusagereport::types::{ReportDefinition, ReportVersioning};

struct Case {
    account: String,
    ws: Workspace,
    aws: Billing,
}

fn case(name: &str) -> Case {
    let account = account_for(name);
    Case {
        ws: Workspace::new(name),
        aws: Billing::for_account(Devstack::shared(), &account),
        account,
    }
}

/// A bucket (force_destroy, so delivered files do not block destroy) and a report on it.
fn config(account: &str, bucket: &str, report: &str) -> String {
    format!(
        r#"{provider}
resource "vantage_aws_cur_bucket" "this" {{
  bucket        = "{bucket}"
  force_destroy = true
}}

resource "vantage_aws_cur_report" "this" {{
  bucket = vantage_aws_cur_bucket.this.bucket
{report}
}}

output "arn" {{ value = vantage_aws_cur_report.this.arn }}
output "prefix" {{ value = vantage_aws_cur_report.this.prefix }}
output "last_status" {{ value = vantage_aws_cur_report.this.last_status }}
output "last_delivery" {{ value = vantage_aws_cur_report.this.last_delivery }}
"#,
        provider = provider_block(account)
    )
}

fn strs<T: AsRef<str>>(items: &[T]) -> Vec<&str> {
    items.iter().map(AsRef::as_ref).collect()
}

#[test]
fn module_defaults_produce_the_reference_report_and_billing_can_deliver() {
    let c = case("acc-curr-defaults");
    let bucket = "acc-curr-defaults";
    c.ws.config(&config(&c.account, bucket, ""));
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();

    let r = c.aws.report("VantageReport").expect("the report exists");
    assert_eq!(r.time_unit().as_str(), "DAILY");
    assert_eq!(r.format().as_str(), "textORcsv");
    assert_eq!(r.compression().as_str(), "GZIP");
    assert_eq!(strs(r.additional_schema_elements()), vec!["RESOURCES"]);
    assert_eq!(r.s3_bucket(), bucket);
    assert_eq!(r.s3_prefix(), "daily-v1");
    assert_eq!(r.s3_region().as_str(), "us-east-1");
    assert_eq!(r.report_versioning(), Some(&ReportVersioning::OverwriteReport));
    assert_eq!(r.refresh_closed_reports(), Some(true));
    assert!(r.additional_artifacts().is_empty());
    let outputs = c.ws.outputs();
    assert_eq!(
        outputs["arn"],
        format!("arn:aws:cur:us-east-1:{}:definition/VantageReport", c.account)
    );
    assert!(outputs["last_status"].is_null(), "no delivery yet");

    // AWS billing delivers a report file: the bucket policy lets it write.
    let delivered = Devstack::shared().admin_post(
        "deliver-cur",
        serde_json::json!({"report_name": "VantageReport", "account": c.account}),
    );
    let objects = c.aws.objects(bucket);
    let data_file = objects
        .iter()
        .find(|k| k.starts_with("daily-v1/VantageReport/") && k.ends_with("VantageReport-00001.csv.gz"));
    assert!(data_file.is_some(), "delivered {delivered}; bucket holds {objects:?}");
    c.ws.run(&["apply", "-refresh-only", "-auto-approve", "-no-color"])
        .expect_ok();
    let outputs = c.ws.outputs();
    assert_eq!(outputs["last_status"], "SUCCESS");
    assert!(
        outputs["last_delivery"].as_str().is_some_and(|d| d.len() == 16),
        "{outputs}"
    );
    c.ws.plan().expect_empty_plan();

    c.ws.destroy().expect_ok();
    assert!(c.aws.report("VantageReport").is_none());
    assert!(c.aws.bucket(bucket).is_none());
}

#[test]
fn settings_update_in_place_and_immutable_fields_replace() {
    let c = case("acc-curr-update");
    let bucket = "acc-curr-update";
    let name = "acc-curr-update";
    c.ws.config(&config(&c.account, bucket, &format!(r#"  name = "{name}""#)));
    c.ws.apply().expect_ok();

    c.ws.config(&config(
        &c.account,
        bucket,
        &format!(
            r#"  name                   = "{name}"
  prefix                 = "custom/cur"
  compression            = "ZIP"
  additional_artifacts   = ["REDSHIFT", "QUICKSIGHT"]
  refresh_closed_reports = false
  tags                   = {{ Team = "finops" }}"#
        ),
    ));
    let plan = c.ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let r = c.aws.report(name).expect("report");
    assert_eq!(r.s3_prefix(), "custom/cur");
    assert_eq!(r.compression().as_str(), "ZIP");
    let mut artifacts = strs(r.additional_artifacts());
    artifacts.sort_unstable();
    assert_eq!(artifacts, vec!["QUICKSIGHT", "REDSHIFT"]);
    assert_eq!(r.refresh_closed_reports(), Some(false));
    assert_eq!(
        c.aws.report_tags(name),
        BTreeMap::from([("Team".to_string(), "finops".to_string())])
    );

    // Each immutable field replaces the report.
    for (field, setting, check) in [
        (
            "time_unit",
            r#"time_unit = "HOURLY""#,
            (|r: &ReportDefinition| r.time_unit().as_str() == "HOURLY" && r.s3_prefix() == "hourly-v1")
                as fn(&ReportDefinition) -> bool,
        ),
        (
            "additional_schema_elements",
            r#"additional_schema_elements = ["RESOURCES", "SPLIT_COST_ALLOCATION_DATA"]"#,
            |r: &ReportDefinition| r.additional_schema_elements().len() == 2,
        ),
        (
            "report_versioning",
            r#"report_versioning = "CREATE_NEW_REPORT""#,
            |r: &ReportDefinition| r.report_versioning() == Some(&ReportVersioning::CreateNewReport),
        ),
    ] {
        c.ws.config(&config(
            &c.account,
            bucket,
            &format!("  name = \"{name}\"\n  {setting}"),
        ));
        let plan = c.ws.plan();
        assert!(
            plan.stdout.contains("must be replaced") && plan.stdout.contains(field),
            "{field}: {}",
            plan.stdout
        );
        c.ws.apply().expect_ok();
        c.ws.plan().expect_empty_plan();
        let r = c.aws.report(name).expect("report");
        assert!(check(&r), "{field}: {r:?}");
    }

    let renamed = format!("{name}-2");
    c.ws.config(&config(&c.account, bucket, &format!(r#"  name = "{renamed}""#)));
    let plan = c.ws.plan();
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    assert!(c.aws.report(name).is_none());
    assert!(c.aws.report(&renamed).is_some());
    c.ws.destroy().expect_ok();
    assert!(c.aws.report(&renamed).is_none());
}

#[test]
fn import_by_name_matches_the_created_state() {
    let c = case("acc-curr-import");
    let bucket = "acc-curr-import";
    c.ws.config(&config(
        &c.account,
        bucket,
        "  name = \"Imported\"\n  tags = { Owner = \"me\" }",
    ));
    c.ws.apply().expect_ok();
    let created = c.ws.state();
    c.ws.run(&["state", "rm", "vantage_aws_cur_report.this"]).expect_ok();
    c.ws.run(&["import", "-no-color", "vantage_aws_cur_report.this", "NoSuchReport"])
        .expect_error("no Cost and Usage Report named \"NoSuchReport\"");
    c.ws.run(&["import", "-no-color", "vantage_aws_cur_report.this", "Imported"])
        .expect_ok();
    c.ws.plan().expect_empty_plan();
    let imported = c.ws.state();
    let report = |s: &serde_json::Value| {
        s["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["type"] == "vantage_aws_cur_report"))
            .map(|r| r["values"].clone())
            .unwrap_or_default()
    };
    let (a, b) = (report(&created), report(&imported));
    for key in [
        "id",
        "name",
        "arn",
        "bucket",
        "bucket_region",
        "prefix",
        "time_unit",
        "format",
        "compression",
        "additional_schema_elements",
        "additional_artifacts",
        "report_versioning",
        "refresh_closed_reports",
        "tags",
        "tags_all",
    ] {
        assert_eq!(a[key], b[key], "{key} differs after import");
    }
    c.ws.destroy().expect_ok();
}

#[test]
fn invalid_combinations_are_refused_at_plan_time_with_the_fix() {
    let ws = Workspace::new("acc-curr-invalid");
    let cases = [
        (
            r#"format = "Parquet""#,
            r#"format = "Parquet" cannot be combined with compression = "GZIP".*Use format = "Parquet" with compression = "Parquet""#,
        ),
        (
            r#"compression = "Parquet""#,
            r#"format = "textORcsv" cannot be combined with compression = "Parquet""#,
        ),
        (
            "format = \"Parquet\"\n  compression = \"Parquet\"\n  additional_artifacts = [\"ATHENA\", \"REDSHIFT\"]",
            "ATHENA must be the only additional artifact, but REDSHIFT is listed too",
        ),
        (
            r#"additional_artifacts = ["ATHENA"]"#,
            r#"ATHENA needs format = "Parquet" and compression = "Parquet""#,
        ),
        (
            "format = \"Parquet\"\n  compression = \"Parquet\"\n  additional_artifacts = [\"ATHENA\"]\n  report_versioning = \"CREATE_NEW_REPORT\"",
            r#"ATHENA needs report_versioning = "OVERWRITE_REPORT""#,
        ),
        (
            "format = \"Parquet\"\n  compression = \"Parquet\"\n  additional_artifacts = [\"ATHENA\"]\n  prefix = \"\"",
            "ATHENA needs a non-empty prefix",
        ),
        (
            "format = \"Parquet\"\n  compression = \"Parquet\"\n  additional_artifacts = [\"QUICKSIGHT\"]",
            r#"QUICKSIGHT needs format = "textORcsv""#,
        ),
        (
            r#"time_unit = "WEEKLY""#,
            r#""WEEKLY" is not allowed here; use one of `HOURLY`"#,
        ),
        (r#"name = "has space""#, r#""has space" is not a valid report name"#),
        (r#"bucket_region = "mars-1""#, r#""mars-1" is not allowed here"#),
        (
            r#"additional_schema_elements = ["COLUMNS"]"#,
            r#""COLUMNS" is not one of the schema elements"#,
        ),
        (
            r#"prefix = "with space""#,
            r#""with space" is not a valid report prefix"#,
        ),
    ];
    for (setting, error) in cases {
        ws.config(&format!(
            "resource \"vantage_aws_cur_report\" \"this\" {{\n  bucket = \"some-bucket\"\n  {setting}\n}}\n"
        ));
        ws.plan().expect_error(error);
    }
    ws.config("resource \"vantage_aws_cur_report\" \"this\" {\n  bucket = \"arn:aws:s3:::some-bucket\"\n}\n");
    ws.plan().expect_error("not its ARN");
}

/// On a devstack of its own: the fault that slows the bucket policy down must not slow others.
#[test]
fn a_report_created_with_its_bucket_without_depends_on_waits_for_the_policy() {
    let ds = Devstack::start(&[]);
    let ws = Workspace::on(&ds, "acc-curr-race");
    let aws = Billing::for_account(&ds, acceptance_tests::aws::account_id());
    let bucket = "acc-curr-race";
    // No reference from the reports to the bucket resource: Terraform creates them in parallel.
    ws.config(&format!(
        r#"locals {{ bucket = "{bucket}" }}

resource "vantage_aws_cur_bucket" "this" {{
  bucket        = local.bucket
  force_destroy = true
}}

resource "vantage_aws_cur_report" "this" {{
  name          = "RaceGivenRegion"
  bucket        = local.bucket
  bucket_region = "us-east-1"
}}

resource "vantage_aws_cur_report" "found_region" {{
  name   = "RaceFoundRegion"
  bucket = local.bucket
}}
"#
    ));
    // The bucket policy lands 3 s late, as S3 policy propagation can make it look.
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "s3:PutBucketPolicy", "count": 1, "delay_ms": 3000}),
    );
    ws.apply().expect_ok();
    let puts = ds.request_count("aws", "cur:PutReportDefinition");
    assert!(
        puts > 2,
        "the bucket check was retried until the policy was there ({puts} puts for 2 reports)"
    );
    ws.plan().expect_empty_plan();
    assert!(aws.report("RaceGivenRegion").is_some());
    let found = aws.report("RaceFoundRegion").expect("report");
    assert_eq!(found.s3_region().as_str(), "us-east-1");
    ws.destroy().expect_ok();
}

#[test]
fn a_bucket_policy_without_billing_fails_with_the_explanation() {
    let c = case("acc-curr-denied");
    let bucket = "acc-curr-denied";
    c.aws.create_bucket(bucket);
    c.aws.put_bucket_policy(
        bucket,
        &serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", c.account)},
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }]})
        .to_string(),
    );
    c.ws.config(&format!(
        r#"{provider}
resource "vantage_aws_cur_report" "this" {{
  bucket = "{bucket}"
  timeouts {{
    create = "12s"
  }}
}}
"#,
        provider = provider_block(&c.account)
    ));
    // The timeout bounds the whole create (AssumeRole into a fresh account and the bucket
    // lookup included), so it leaves a loaded machine room to reach the refused put.
    c.ws.apply()
        .expect_error("AWS billing cannot write to the CUR bucket")
        .expect_error("Failed to verify customer bucket permission")
        .expect_error("must allow the service principal billingreports.amazonaws.com")
        .expect_error("vantage_aws_cur_bucket");
    assert!(c.aws.report("VantageReport").is_none());

    // A bucket_region that is not the bucket's says so at CUR's first refusal, without waiting
    // out the bound (no wait moves a bucket), whatever the bound is.
    c.ws.config(&format!(
        r#"{provider}
resource "vantage_aws_cur_report" "this" {{
  bucket        = "{bucket}"
  bucket_region = "eu-west-1"
}}
"#,
        provider = provider_block(&c.account)
    ));
    let run = c.ws.apply();
    run.expect_error(r#"is in us-east-1, but the report says bucket_region = "eu-west-1""#);
    let output = run.normalized_output();
    assert!(
        !output.contains("of retries") && !output.contains("ran out"),
        "the region mismatch was waited out: {output}"
    );
    assert!(c.aws.report("VantageReport").is_none());
}

#[test]
fn a_member_account_is_told_reports_belong_in_the_management_account() {
    acceptance_tests::require_moto!(
        "LocalStack community does not serve Organizations (CreateOrganization, CreateAccount)"
    );
    let management = account_for("acc-curr-org-management");
    let org = Billing::for_account(Devstack::shared(), &management);
    let member = org.block_on(async {
        org.organizations
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("CreateOrganization");
        org.organizations
            .create_account()
            .email("cur-member@example.com")
            .account_name("member")
            .send()
            .await
            .expect("CreateAccount")
            .create_account_status()
            .and_then(|s| s.account_id())
            .expect("member account id")
            .to_string()
    });
    let ws = Workspace::new("acc-curr-member");
    ws.config(&format!(
        r#"{provider}
resource "vantage_aws_cur_report" "this" {{
  bucket        = "acc-curr-member"
  bucket_region = "us-east-1"
}}
"#,
        provider = provider_block(&member)
    ));
    ws.apply()
        .expect_error("Cost and Usage Reports belong in the management account")
        .expect_error(&format!("Account {member} is a member account"))
        .expect_error(&format!("management \\(payer\\) account is {management}"));
}

#[test]
fn a_report_changed_or_deleted_out_of_band_is_repaired() {
    let c = case("acc-curr-drift");
    let bucket = "acc-curr-drift";
    c.ws.config(&config(&c.account, bucket, ""));
    c.ws.apply().expect_ok();
    let r = c.aws.report("VantageReport").expect("report");
    c.aws.modify_report(
        ReportDefinition::builder()
            .report_name(r.report_name())
            .time_unit(r.time_unit().clone())
            .format(r.format().clone())
            .compression(aws_sdk_costandusagereport::types::CompressionFormat::Zip)
            .set_additional_schema_elements(Some(r.additional_schema_elements().to_vec()))
            .s3_bucket(r.s3_bucket())
            .s3_prefix("moved")
            .s3_region(r.s3_region().clone())
            .set_report_versioning(r.report_versioning().cloned())
            .refresh_closed_reports(false)
            .build()
            .expect("definition"),
    );
    let plan = c.ws.plan();
    plan.expect_changes();
    for part in ["prefix", "compression", "refresh_closed_reports"] {
        assert!(plan.stdout.contains(part), "{part}: {}", plan.stdout);
    }
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let r = c.aws.report("VantageReport").expect("report");
    assert_eq!((r.s3_prefix(), r.compression().as_str()), ("daily-v1", "GZIP"));
    assert_eq!(r.refresh_closed_reports(), Some(true));

    c.aws.delete_report("VantageReport");
    let plan = c.ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    assert!(c.aws.report("VantageReport").is_some());

    // Destroying a report someone already deleted succeeds.
    c.aws.delete_report("VantageReport");
    c.ws.run(&["destroy", "-auto-approve", "-no-color", "-refresh=false"])
        .expect_ok();
    assert!(c.aws.bucket(bucket).is_none());
}

/// Refreshing N reports scans DescribeReportDefinitions once (ceil(N/5)
/// pages), not once per report; a bucket refresh costs five S3 calls. Runs on
/// a devstack of its own so the request counts are this test's alone.
#[test]
fn refreshing_many_reports_reads_the_pages_once() {
    const N: usize = 12;
    let ds = Devstack::start(&["--cur-report-limit", "50"]);
    let ws = Workspace::on(&ds, "acc-curr-count");
    let bucket = "acc-curr-count";
    ws.config(&format!(
        r#"resource "vantage_aws_cur_bucket" "this" {{
  bucket        = "{bucket}"
  force_destroy = true
}}

resource "vantage_aws_cur_report" "many" {{
  count  = {N}
  name   = "Report-${{count.index}}"
  bucket = vantage_aws_cur_bucket.this.bucket
}}
"#
    ));
    ws.apply().expect_ok();

    let counts = || ds.admin_get("requests")["aws"].clone();
    let before = counts();
    ws.plan().expect_empty_plan();
    let after = counts();
    let delta = |op: &str| after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0);
    let pages = delta("cur:DescribeReportDefinitions");
    let s3: u64 = after
        .as_object()
        .map(|ops| ops.keys().filter(|k| k.starts_with("s3:")).map(|k| delta(k)).sum())
        .unwrap_or(0);
    eprintln!(
        "refresh of 1 bucket + {N} reports: {pages} DescribeReportDefinitions, {} ListTagsForResource, {s3} S3 calls; all: {after}",
        delta("cur:ListTagsForResource")
    );
    assert_eq!(pages, N.div_ceil(5) as u64, "one scan of the pages for all reports");
    assert_eq!(delta("cur:ListTagsForResource"), N as u64, "one tag read per report");
    assert!(s3 <= 5, "a bucket refresh makes at most five S3 calls, made {s3}");

    ws.destroy().expect_ok();
}

#[test]
fn an_existing_report_gets_an_import_suggestion() {
    let c = case("acc-curr-exists");
    let bucket = "acc-curr-exists";
    c.aws.create_bucket(bucket);
    c.aws.put_bucket_policy(
        bucket,
        &acceptance_tests::aws_billing::reference_policy(&c.account, bucket, None, true).to_string(),
    );
    c.aws
        .block_on(
            c.aws
                .cur
                .put_report_definition()
                .report_definition(
                    ReportDefinition::builder()
                        .report_name("Existing")
                        .time_unit(aws_sdk_costandusagereport::types::TimeUnit::Daily)
                        .format(aws_sdk_costandusagereport::types::ReportFormat::Csv)
                        .compression(aws_sdk_costandusagereport::types::CompressionFormat::Gzip)
                        .additional_schema_elements(aws_sdk_costandusagereport::types::SchemaElement::Resources)
                        .s3_bucket(bucket)
                        .s3_prefix("daily-v1")
                        .s3_region(aws_sdk_costandusagereport::types::AwsRegion::from("us-east-1"))
                        .build()
                        .expect("definition"),
                )
                .send(),
        )
        .expect("PutReportDefinition");
    c.ws.config(&format!(
        "{}\nresource \"vantage_aws_cur_report\" \"this\" {{\n  name   = \"Existing\"\n  bucket = \"{bucket}\"\n}}\n",
        provider_block(&c.account)
    ));
    c.ws.apply()
        .expect_error(r#"already has a report named "Existing""#)
        .expect_error(r#"import \{ to = vantage_aws_cur_report"#)
        .expect_error(r#"id = "Existing""#);
    c.aws.delete_report("Existing");
}

/// A `timeouts` block used to make the report's state unencodable (its model
/// carried a `delete` the block does not have).
#[test]
fn a_timeouts_block_is_kept_in_state() {
    let c = case("acc-curr-timeouts");
    let bucket = "acc-curr-timeouts";
    c.ws.config(&config(
        &c.account,
        bucket,
        "  name = \"TimeoutsReport\"\n  timeouts {\n    create = \"3m\"\n  }",
    ));
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    assert!(c.aws.report("TimeoutsReport").is_some());
    c.ws.destroy().expect_ok();
    assert!(c.aws.report("TimeoutsReport").is_none());
}
