//! `vantage_aws_data_export` (CUR 2.0) against the devstack's BCM Data Exports, checked
//! through the AWS SDK. Each test acts in an AWS account of its own (see `aws_billing`).

use std::collections::BTreeMap;

use acceptance_tests::aws_billing::{Billing, account_for, provider_block};
use acceptance_tests::{Devstack, Workspace};
use aws_sdk_bcmdataexports::types::Export;

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

/// A bucket (force_destroy, so delivered files do not block destroy) and an export on it.
fn config(account: &str, bucket: &str, export: &str) -> String {
    format!(
        r#"{provider}
resource "vantage_aws_cur_bucket" "this" {{
  bucket        = "{bucket}"
  force_destroy = true
}}

resource "vantage_aws_data_export" "this" {{
  bucket = vantage_aws_cur_bucket.this.bucket
{export}
}}

output "arn" {{ value = vantage_aws_data_export.this.arn }}
output "status" {{ value = vantage_aws_data_export.this.status }}
"#,
        provider = provider_block(account)
    )
}

impl Case {
    fn export(&self, arn: &str) -> Option<Export> {
        let out = self.aws.block_on(self.aws.exports.get_export().export_arn(arn).send());
        match out {
            Ok(out) => out.export().cloned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("GetExport {arn}: {e:?}"),
        }
    }

    fn arn(&self) -> String {
        self.ws.outputs()["arn"].as_str().expect("arn output").to_string()
    }
}

fn columns(export: &Export) -> Vec<String> {
    let statement = export.data_query().map(|q| q.query_statement()).unwrap_or_default();
    let list = statement
        .strip_prefix("SELECT ")
        .and_then(|s| s.split(" FROM ").next())
        .unwrap_or_default();
    list.split(", ").map(str::to_string).collect()
}

fn table(export: &Export) -> BTreeMap<String, String> {
    export
        .data_query()
        .and_then(|q| q.table_configurations())
        .and_then(|t| t.get("COST_AND_USAGE_REPORT"))
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[test]
fn the_smallest_configuration_makes_vantages_export_and_plans_nothing_after() {
    let c = case("acc-dx-defaults");
    let bucket = "acc-dx-defaults";
    c.ws.config(&config(&c.account, bucket, ""));
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();

    let arn = c.arn();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:bcm-data-exports:us-east-1:{}:export/VantageDataExport-",
            c.account
        )),
        "{arn}"
    );
    let e = c.export(&arn).expect("the export exists");
    assert_eq!(e.name(), "VantageDataExport");
    let cols = columns(&e);
    assert_eq!(cols.len(), 116, "{cols:?}");
    assert_eq!(cols.first().map(String::as_str), Some("bill_bill_type"));
    let t = table(&e);
    assert_eq!(t["TIME_GRANULARITY"], "DAILY");
    assert_eq!(t["INCLUDE_RESOURCES"], "TRUE");
    assert_eq!(t["INCLUDE_IAM_PRINCIPAL_DATA"], "TRUE");
    assert_eq!(
        t["BILLING_VIEW_ARN"],
        format!("arn:aws:billing::{}:billingview/primary", c.account)
    );
    let s3 = e
        .destination_configurations()
        .and_then(|d| d.s3_destination())
        .expect("destination");
    assert_eq!(
        (s3.s3_bucket(), s3.s3_prefix(), s3.s3_region()),
        (bucket, "daily-v2", "us-east-1")
    );
    let out = s3.s3_output_configurations().expect("output");
    assert_eq!(
        (
            out.format().as_str(),
            out.compression().as_str(),
            out.overwrite().as_str()
        ),
        ("TEXT_OR_CSV", "GZIP", "OVERWRITE_REPORT")
    );
    assert_eq!(c.ws.outputs()["status"], "HEALTHY");

    // AWS delivers a file under the export's prefix: the bucket policy lets Data Exports write.
    Devstack::shared().admin_post(
        "deliver-cur",
        serde_json::json!({"export_name": "VantageDataExport", "account": c.account}),
    );
    let objects = c.aws.objects(bucket);
    assert!(
        objects
            .iter()
            .any(|k| k.starts_with("daily-v2/") && k.ends_with(".csv.gz")),
        "{objects:?}"
    );

    c.ws.destroy().expect_ok();
    assert!(c.export(&arn).is_none(), "destroy deletes the export");
}

#[test]
fn a_column_removed_out_of_band_is_drift_restored_in_place() {
    let c = case("acc-dx-drift");
    let bucket = "acc-dx-drift";
    c.ws.config(&config(&c.account, bucket, "  time_unit = \"HOURLY\""));
    c.ws.apply().expect_ok();
    let arn = c.arn();

    // Someone drops a column and switches a table property in the console.
    let mut e = c.export(&arn).expect("export");
    let kept: Vec<String> = columns(&e)
        .into_iter()
        .filter(|c| c != "line_item_resource_id")
        .collect();
    let mut t = table(&e);
    t.insert("INCLUDE_RESOURCES".into(), "FALSE".into());
    let query = aws_sdk_bcmdataexports::types::DataQuery::builder()
        .query_statement(format!("SELECT {} FROM COST_AND_USAGE_REPORT", kept.join(", ")))
        .table_configurations("COST_AND_USAGE_REPORT", t.into_iter().collect())
        .build()
        .expect("query");
    e.data_query = Some(query);
    e.export_arn = None;
    c.aws
        .block_on(c.aws.exports.update_export().export_arn(&arn).export(e).send())
        .expect("UpdateExport");

    let plan = c.ws.plan();
    plan.expect_changes();
    let text = plan.normalized_output();
    assert!(
        text.contains("vantage_aws_data_export.this will be updated in-place"),
        "{text}"
    );
    assert!(text.contains("+ \"line_item_resource_id\""), "{text}");
    assert!(text.contains("\"INCLUDE_RESOURCES\" = \"FALSE\" -> \"TRUE\""), "{text}");
    assert!(!text.contains("must be replaced"), "{text}");
    c.ws.apply().expect_ok();
    let e = c.export(&arn).expect("the same export, updated in place");
    assert!(columns(&e).contains(&"line_item_resource_id".to_string()));
    assert_eq!(table(&e)["INCLUDE_RESOURCES"], "TRUE");
    assert_eq!(table(&e)["TIME_GRANULARITY"], "HOURLY");
    c.ws.plan().expect_empty_plan();
    c.ws.destroy().expect_ok();
}

#[test]
fn an_export_made_outside_terraform_imports_by_arn_and_by_name() {
    let c = case("acc-dx-import");
    let bucket = "acc-dx-import";
    c.ws.config(&config(
        &c.account,
        bucket,
        "  additional_columns = [\"split_line_item_split_cost\"]\n  table_configuration = { INCLUDE_SPLIT_COST_ALLOCATION_DATA = \"TRUE\" }",
    ));
    c.ws.apply().expect_ok();
    let arn = c.arn();

    for id in [arn.as_str(), "VantageDataExport"] {
        c.ws.run(&["state", "rm", "vantage_aws_data_export.this"]).expect_ok();
        c.ws.run(&["import", "-no-color", "vantage_aws_data_export.this", id])
            .expect_ok();
        c.ws.plan().expect_empty_plan();
    }
    c.ws.run(&["state", "rm", "vantage_aws_data_export.this"]).expect_ok();
    c.ws.run(&["import", "-no-color", "vantage_aws_data_export.this", "NoSuchExport"])
        .expect_error("no data export named \"NoSuchExport\"");
    c.ws.run(&["import", "-no-color", "vantage_aws_data_export.this", &arn])
        .expect_ok();
    c.ws.destroy().expect_ok();
}

#[test]
fn cur_1_and_2_run_side_by_side_on_one_bucket() {
    let c = case("acc-dx-sidebyside");
    let bucket = "acc-dx-sidebyside";
    let both = format!(
        "{}\nresource \"vantage_aws_cur_report\" \"v1\" {{\n  bucket = vantage_aws_cur_bucket.this.bucket\n}}\n",
        config(&c.account, bucket, "")
    );
    c.ws.config(&both);
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    assert!(c.aws.report("VantageReport").is_some());
    let arn = c.arn();
    assert!(c.export(&arn).is_some());

    // CUR 1.0 removed: the export stays.
    c.ws.config(&config(&c.account, bucket, ""));
    c.ws.apply().expect_ok();
    assert!(c.aws.report("VantageReport").is_none());
    assert!(c.export(&arn).is_some());
    c.ws.plan().expect_empty_plan();
    c.ws.destroy().expect_ok();
}

#[test]
fn bad_input_is_refused_at_plan_time_naming_the_attribute() {
    let c = case("acc-dx-invalid");
    for (settings, pattern) in [
        (
            "  additional_columns = [\"Line_Item_Thing\"]",
            "additional_columns.*lowercase snake case",
        ),
        (
            "  table_configuration = { INCLUDE_RESOURCES = \"yes\" }",
            "table_configuration.*INCLUDE_RESOURCES is \"yes\": use TRUE or FALSE",
        ),
        (
            "  table_configuration = { TIME_GRANULARITY = \"DAILY\" }",
            "TIME_GRANULARITY is set by `time_unit`",
        ),
        ("  time_unit = \"WEEKLY\"", "time_unit"),
        ("  bucket_region = \"mars-east-1\"", "bucket_region"),
        ("  name = \"has space\"", "not a valid export name"),
    ] {
        c.ws.config(&config(&c.account, "acc-dx-invalid", settings));
        c.ws.plan().expect_error(pattern);
    }
    assert!(c.aws.bucket("acc-dx-invalid").is_none(), "nothing was created");
}

#[test]
fn an_export_deleted_out_of_band_is_planned_again() {
    let c = case("acc-dx-gone");
    c.ws.config(&config(&c.account, "acc-dx-gone", ""));
    c.ws.apply().expect_ok();
    let arn = c.arn();
    c.aws
        .block_on(c.aws.exports.delete_export().export_arn(&arn).send())
        .expect("DeleteExport");
    let plan = c.ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains("vantage_aws_data_export.this will be created"),
        "{}",
        plan.stdout
    );
    c.ws.apply().expect_ok();
    assert_ne!(c.arn(), arn, "a new export");
    c.ws.plan().expect_empty_plan();
    c.ws.destroy().expect_ok();
}

/// `timeouts.create` bounds the whole create: a slow wait for the bucket's region leaves
/// CreateExport only what is left (it would get the full 5 s again otherwise, and the create
/// would take about 9 s). Faults are armed on a devstack of this test's own.
#[test]
fn a_slow_create_ends_at_its_timeout() {
    use std::time::{Duration, Instant};

    let ds = Devstack::start(&[]);
    let name = "acc-export-create-budget";
    let ws = Workspace::on(&ds, name);
    let bucket = format!(
        "resource \"vantage_aws_cur_bucket\" \"this\" {{\n  bucket        = \"{name}\"\n  force_destroy = true\n}}\n"
    );
    ws.config(&bucket);
    ws.apply().expect_ok();
    ws.config(&format!(
        "{bucket}\nresource \"vantage_aws_data_export\" \"this\" {{\n  bucket = vantage_aws_cur_bucket.this.bucket\n  name   = \"{name}\"\n  timeouts {{\n    create = \"5s\"\n  }}\n}}\n"
    ));
    // Planned first, then the faults armed and only the apply timed: the bound is about the
    // create, and a loaded machine's plan time is not.
    ws.run(&["plan", "-out=tfplan", "-no-color"]).expect_ok();
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "s3:GetBucketLocation", "delay_ms": 4000, "count": 1}),
    );
    // Data Exports' "not yet" while it cannot verify the bucket policy, slowly, every time.
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "bcm-data-exports:CreateExport", "count": 1000, "status": 400,
            "delay_ms": 1500, "body": {"__type": "ValidationException", "Message": "Failed to verify customer bucket permission."}}),
    );
    let started = Instant::now();
    let failed = ws.run(&["apply", "-auto-approve", "-no-color", "tfplan"]);
    let took = started.elapsed();
    failed.expect_error(r"`timeouts.create` \(5s\) ran out while waiting for Data Exports CreateExport");
    assert!(took < Duration::from_secs(8), "the create took {took:?}");

    acceptance_tests::vantage_checks::clear_faults(&ds);
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    ws.destroy().expect_ok();
}
