//! BCM Data Exports (CUR 2.0) through the AWS front door with the AWS SDK: lifecycle,
//! server-added table properties, the bucket check, health, name clashes with CUR 1.0, tags,
//! executions. One devstack for the file; each test acts in its own account.

use crate::common;

use std::sync::OnceLock;

use aws_sdk_bcmdataexports::types::{
    CompressionOption, ExportStatusCode, FormatOption, ResourceTag, S3OutputConfigurations,
};
use common::{Aws, Devstack, code, create_export, cur_bucket_policy, cur2_export, message, unique, unique_account};
use serde_json::json;

fn stack() -> &'static Devstack {
    static STACK: OnceLock<Devstack> = OnceLock::new();
    STACK.get_or_init(|| Devstack::start(&[]))
}

async fn account_with_bucket() -> (Aws, String) {
    let aws = stack().aws(Some(&unique_account()));
    let bucket = unique("cur2");
    aws.cur_bucket(&bucket, "us-east-1").await;
    (aws, bucket)
}

async fn health(aws: &Aws, arn: &str) -> (ExportStatusCode, Option<String>) {
    let out = aws
        .exports
        .get_export()
        .export_arn(arn)
        .send()
        .await
        .expect("GetExport");
    let status = out.export_status().expect("ExportStatus");
    (
        status.status_code().expect("StatusCode").clone(),
        status.status_reason().map(|r| r.as_str().to_owned()),
    )
}

#[tokio::test]
async fn export_lifecycle_with_server_added_table_properties() {
    let (aws, bucket) = account_with_bucket().await;
    let arn = create_export(&aws, "cur2-export", &bucket).await;
    let prefix = format!(
        "arn:aws:bcm-data-exports:us-east-1:{}:export/cur2-export-",
        aws.account_id()
    );
    let uuid = arn.strip_prefix(&prefix).unwrap_or_else(|| panic!("ARN shape: {arn}"));
    assert_eq!(uuid.len(), 36, "{arn}");

    let out = aws.exports.get_export().export_arn(&arn).send().await.expect("get");
    let export = out.export().expect("export");
    assert_eq!(export.export_arn(), Some(arn.as_str()));
    let properties = &export
        .data_query()
        .and_then(|q| q.table_configurations())
        .expect("table configurations")["COST_AND_USAGE_REPORT"];
    assert_eq!(properties["TIME_GRANULARITY"], "DAILY", "given values are kept");
    assert_eq!(
        properties["BILLING_VIEW_ARN"],
        format!("arn:aws:billing::{}:billingview/primary", aws.account_id()),
        "the service adds BILLING_VIEW_ARN"
    );
    assert_eq!(properties["INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY"], "FALSE");
    assert_eq!(health(&aws, &arn).await, (ExportStatusCode::Healthy, None));

    let listed = aws.exports.list_exports().send().await.expect("list");
    let names: Vec<&str> = listed.exports().iter().map(|e| e.export_name()).collect();
    assert_eq!(names, ["cur2-export"]);

    // Update in place; the server-added key may be sent back or left out.
    let mut changed = cur2_export("cur2-export", &bucket);
    changed.description = Some("changed".to_owned());
    aws.exports
        .update_export()
        .export_arn(&arn)
        .export(changed)
        .send()
        .await
        .expect("update");
    let out = aws.exports.get_export().export_arn(&arn).send().await.expect("get");
    assert_eq!(out.export().and_then(|e| e.description()), Some("changed"));
    let renamed = aws
        .exports
        .update_export()
        .export_arn(&arn)
        .export(cur2_export("another-name", &bucket))
        .send()
        .await;
    assert_eq!(code(&renamed.expect_err("names are fixed")), "ValidationException");

    aws.exports
        .delete_export()
        .export_arn(&arn)
        .send()
        .await
        .expect("delete");
    let gone = aws.exports.get_export().export_arn(&arn).send().await;
    assert_eq!(code(&gone.expect_err("deleted")), "ResourceNotFoundException");
    let again = aws.exports.delete_export().export_arn(&arn).send().await;
    assert_eq!(code(&again.expect_err("deleted")), "ResourceNotFoundException");
}

#[tokio::test]
async fn bucket_must_allow_data_exports_and_health_follows_the_policy() {
    let (aws, bucket) = account_with_bucket().await;
    let bare = unique("bare");
    aws.s3.create_bucket().bucket(&bare).send().await.expect("bucket");
    let refused = aws
        .exports
        .create_export()
        .export(cur2_export("no-policy", &bare))
        .send()
        .await;
    let err = refused.expect_err("no policy");
    assert_eq!(code(&err), "ValidationException");
    assert_eq!(message(&err), "Failed to verify customer bucket permission.");
    let missing = aws
        .exports
        .create_export()
        .export(cur2_export("no-bucket", "no-such-bucket-anywhere"))
        .send()
        .await;
    assert_eq!(code(&missing.expect_err("no bucket")), "ValidationException");

    let arn = create_export(&aws, "healthy", &bucket).await;
    assert_eq!(health(&aws, &arn).await.0, ExportStatusCode::Healthy);
    aws.s3
        .delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("drop policy");
    assert_eq!(
        health(&aws, &arn).await,
        (ExportStatusCode::Unhealthy, Some("INSUFFICIENT_PERMISSION".to_owned()))
    );
    let listed = aws.exports.list_exports().send().await.expect("list");
    let status = listed.exports()[0].export_status().and_then(|s| s.status_code());
    assert_eq!(status, Some(&ExportStatusCode::Unhealthy));
    aws.s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(cur_bucket_policy(&bucket, aws.account_id()).to_string())
        .send()
        .await
        .expect("restore policy");
    assert_eq!(health(&aws, &arn).await.0, ExportStatusCode::Healthy);
    assert_eq!(health(&aws, &arn).await.0, ExportStatusCode::Healthy, "twice in a row");
}

#[tokio::test]
async fn export_and_report_names_share_one_namespace() {
    let (aws, bucket) = account_with_bucket().await;
    create_export(&aws, "shared-name", &bucket).await;
    let duplicate = aws
        .exports
        .create_export()
        .export(cur2_export("shared-name", &bucket))
        .send()
        .await;
    assert_eq!(code(&duplicate.expect_err("duplicate export")), "ValidationException");
    let report = aws_sdk_costandusagereport::types::ReportDefinition::builder()
        .report_name("shared-name")
        .time_unit(aws_sdk_costandusagereport::types::TimeUnit::Daily)
        .format(aws_sdk_costandusagereport::types::ReportFormat::Csv)
        .compression(aws_sdk_costandusagereport::types::CompressionFormat::Gzip)
        .set_additional_schema_elements(Some(vec![]))
        .s3_bucket(&bucket)
        .s3_prefix("v1")
        .s3_region(aws_sdk_costandusagereport::types::AwsRegion::from("us-east-1"))
        .build()
        .expect("definition");
    let clash = aws
        .cur
        .put_report_definition()
        .report_definition(report.clone())
        .send()
        .await;
    assert_eq!(
        code(&clash.expect_err("export has the name")),
        "DuplicateReportNameException"
    );

    let mut first_report = report.clone();
    first_report.report_name = "report-first".to_owned();
    aws.cur
        .put_report_definition()
        .report_definition(first_report)
        .send()
        .await
        .expect("report");
    let clash = aws
        .exports
        .create_export()
        .export(cur2_export("report-first", &bucket))
        .send()
        .await;
    let err = clash.expect_err("report has the name");
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("Cost and Usage Report"), "{}", message(&err));
}

#[tokio::test]
async fn invalid_exports_are_rejected_field_by_field() {
    let (aws, bucket) = account_with_bucket().await;
    let with_output = |format: FormatOption, compression: CompressionOption| {
        let mut export = cur2_export("bad", &bucket);
        if let Some(s3) = export
            .destination_configurations
            .as_mut()
            .and_then(|d| d.s3_destination.as_mut())
        {
            s3.s3_output_configurations = Some(
                S3OutputConfigurations::builder()
                    .output_type(aws_sdk_bcmdataexports::types::S3OutputType::Custom)
                    .format(format)
                    .compression(compression)
                    .overwrite(aws_sdk_bcmdataexports::types::OverwriteOption::OverwriteReport)
                    .build()
                    .expect("output"),
            );
        }
        export
    };
    let mut unknown_property = cur2_export("bad", &bucket);
    if let Some(query) = unknown_property.data_query.as_mut()
        && let Some(tables) = query.table_configurations.as_mut()
    {
        tables
            .entry("COST_AND_USAGE_REPORT".to_owned())
            .or_default()
            .insert("INCLUDE_EVERYTHING".to_owned(), "TRUE".to_owned());
    }
    let mut bad_query = cur2_export("bad", &bucket);
    if let Some(query) = bad_query.data_query.as_mut() {
        query.query_statement = "SELECT * FROM NOT_A_TABLE".to_owned();
    }
    let mut bad_name = cur2_export("bad", &bucket);
    bad_name.name = "has space".to_owned();
    for (export, what) in [
        (
            with_output(FormatOption::Parquet, CompressionOption::Gzip),
            "Parquet with GZIP",
        ),
        (
            with_output(FormatOption::from("JSON"), CompressionOption::Gzip),
            "unknown format",
        ),
        (unknown_property, "unknown table property"),
        (bad_query, "unknown table"),
        (bad_name, "name characters"),
    ] {
        let err = aws.exports.create_export().export(export).send().await.expect_err(what);
        assert_eq!(code(&err), "ValidationException", "{what}");
        assert!(message(&err).contains("validation error"), "{what}: {}", message(&err));
    }
    let listed = aws.exports.list_exports().send().await.expect("list");
    assert!(listed.exports().is_empty());
}

#[tokio::test]
async fn tags_and_unknown_exports() {
    let (aws, bucket) = account_with_bucket().await;
    let unknown = format!("arn:aws:bcm-data-exports:us-east-1:{}:export/ghost-1", aws.account_id());
    let tag = |k: &str, v: &str| ResourceTag::builder().key(k).value(v).build().expect("tag");
    let err = aws
        .exports
        .tag_resource()
        .resource_arn(&unknown)
        .resource_tags(tag("a", "b"))
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "ResourceNotFoundException");

    let arn = aws
        .exports
        .create_export()
        .export(cur2_export("tagged", &bucket))
        .resource_tags(tag("team", "finops"))
        .send()
        .await
        .expect("create")
        .export_arn()
        .expect("arn")
        .to_owned();
    aws.exports
        .tag_resource()
        .resource_arn(&arn)
        .resource_tags(tag("env", "dev"))
        .send()
        .await
        .expect("tag");
    aws.exports
        .untag_resource()
        .resource_arn(&arn)
        .resource_tag_keys("team")
        .send()
        .await
        .expect("untag");
    let tags = aws
        .exports
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list");
    let pairs: Vec<(&str, &str)> = tags.resource_tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("env", "dev")]);

    // Other accounts cannot see it.
    let other = stack().aws(Some(&unique_account()));
    let hidden = other.exports.get_export().export_arn(&arn).send().await;
    assert_eq!(code(&hidden.expect_err("other account")), "ResourceNotFoundException");
}

#[tokio::test]
async fn deliveries_write_cur2_files_and_record_executions() {
    let (aws, bucket) = account_with_bucket().await;
    let name = unique("delivered");
    let arn = create_export(&aws, &name, &bucket).await;
    let (status, outcome) = stack()
        .deliver(json!({ "export_name": name, "account": aws.account_id() }))
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["status"], "DELIVERY_SUCCESS");
    let key = outcome["objects"][0].as_str().expect("data key");
    assert!(key.starts_with(&format!("cur2/{name}/data/BILLING_PERIOD=")), "{key}");
    assert!(key.ends_with(".csv.gz"), "{key}");
    aws.s3
        .head_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .expect("object exists");

    let executions = aws
        .exports
        .list_executions()
        .export_arn(&arn)
        .send()
        .await
        .expect("executions");
    let execution = &executions.executions()[0];
    assert_eq!(execution.execution_id(), outcome["execution_id"].as_str().expect("id"));
    let got = aws
        .exports
        .get_execution()
        .export_arn(&arn)
        .execution_id(execution.execution_id())
        .send()
        .await
        .expect("execution");
    let code_of = got
        .execution_status()
        .and_then(|s| s.status_code())
        .map(|c| c.as_str().to_owned());
    assert_eq!(code_of.as_deref(), Some("DELIVERY_SUCCESS"));
    let refreshed = aws.exports.get_export().export_arn(&arn).send().await.expect("get");
    assert!(refreshed.export_status().and_then(|s| s.last_refreshed_at()).is_some());
}

#[tokio::test]
async fn data_exports_answer_only_in_us_east_1() {
    let aws = stack().aws_with(Some(&unique_account()), "eu-west-1", 1);
    let err = aws.exports.list_exports().send().await.expect_err("wrong region");
    assert_eq!(code(&err), "InvalidSignatureException");
}
