//! CUR 1.0 through the AWS front door, as the AWS SDK sees it: every rule listed
//! under "CUR 1.0" in `devstack/README.md`, against bucket policies stored in moto. One devstack for the file;
//! each test acts in its own account.

use crate::common;

use std::io::Read;
use std::sync::OnceLock;

use aws_sdk_costandusagereport::types::{
    AdditionalArtifact, AwsRegion, CompressionFormat, ReportDefinition, ReportFormat, ReportVersioning, SchemaElement,
    Tag, TimeUnit,
};
use common::{Aws, Devstack, code, cur_bucket_policy, message, unique, unique_account};
use serde_json::json;

const LIMIT: usize = 7;

fn stack() -> &'static Devstack {
    static STACK: OnceLock<Devstack> = OnceLock::new();
    STACK.get_or_init(|| Devstack::start(&["--cur-report-limit", "7"]))
}

/// The report Vantage's Terraform module defines by default.
fn module_report(name: &str, bucket: &str) -> aws_sdk_costandusagereport::types::builders::ReportDefinitionBuilder {
    ReportDefinition::builder()
        .report_name(name)
        .time_unit(TimeUnit::Daily)
        .format(ReportFormat::Csv)
        .compression(CompressionFormat::Gzip)
        .additional_schema_elements(SchemaElement::Resources)
        .s3_bucket(bucket)
        .s3_prefix("daily-v1")
        .s3_region(AwsRegion::from("us-east-1"))
        .report_versioning(ReportVersioning::OverwriteReport)
        .refresh_closed_reports(true)
}

async fn put(
    aws: &Aws,
    definition: aws_sdk_costandusagereport::types::builders::ReportDefinitionBuilder,
) -> Result<(), String> {
    let definition = definition.build().expect("all required fields");
    aws.cur
        .put_report_definition()
        .report_definition(definition)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}: {}", code(&e), message(&e)))
}

/// A fresh account with a bucket carrying the module's bucket policy.
async fn account_with_bucket() -> (Aws, String) {
    let account = unique_account();
    let aws = stack().aws(Some(&account));
    let bucket = unique("cur");
    aws.cur_bucket(&bucket, "us-east-1").await;
    (aws, bucket)
}

const BUCKET_DENIED: &str = "ValidationException: Failed to verify customer bucket permission.";

#[tokio::test]
async fn module_report_round_trips_with_server_defaults() {
    let (aws, bucket) = account_with_bucket().await;
    put(&aws, module_report("VantageReport", &bucket))
        .await
        .expect("created");
    // A minimal definition gets the service's defaults.
    put(
        &aws,
        ReportDefinition::builder()
            .report_name("Minimal")
            .time_unit(TimeUnit::Hourly)
            .format(ReportFormat::Csv)
            .compression(CompressionFormat::Zip)
            .set_additional_schema_elements(Some(vec![]))
            .s3_bucket(&bucket)
            .s3_prefix("")
            .s3_region(AwsRegion::from("us-east-1")),
    )
    .await
    .expect("minimal report");
    let out = aws.cur.describe_report_definitions().send().await.expect("describe");
    assert!(out.next_token().is_none());
    let reports = out.report_definitions();
    assert_eq!(reports.len(), 2);
    let module = &reports[0];
    assert_eq!(module.report_name(), "VantageReport");
    assert_eq!(module.time_unit(), &TimeUnit::Daily);
    assert_eq!(module.s3_prefix(), "daily-v1");
    assert_eq!(module.additional_schema_elements(), [SchemaElement::Resources]);
    assert!(module.report_status().is_none(), "no delivery yet");
    let minimal = &reports[1];
    assert_eq!(minimal.refresh_closed_reports(), Some(true));
    assert_eq!(minimal.report_versioning(), Some(&ReportVersioning::CreateNewReport));
    assert!(minimal.additional_artifacts().is_empty());

    // Another account sees none of them.
    let other = stack().aws(Some(&unique_account()));
    let theirs = other.cur.describe_report_definitions().send().await.expect("describe");
    assert!(theirs.report_definitions().is_empty());
}

#[tokio::test]
async fn bucket_permission_is_checked_against_the_upstream_policy() {
    let (aws, bucket) = account_with_bucket().await;
    let account = aws.account_id().to_owned();

    let missing = put(&aws, module_report("NoBucket", "no-such-bucket-anywhere")).await;
    assert_eq!(missing.expect_err("no bucket"), BUCKET_DENIED);

    let wrong_region = put(
        &aws,
        module_report("WrongRegion", &bucket).s3_region(AwsRegion::from("eu-west-1")),
    )
    .await;
    assert_eq!(wrong_region.expect_err("bucket is in us-east-1"), BUCKET_DENIED);

    let bare = unique("bare");
    aws.s3.create_bucket().bucket(&bare).send().await.expect("bucket");
    let no_policy = put(&aws, module_report("NoPolicy", &bare)).await;
    assert_eq!(no_policy.expect_err("no policy"), BUCKET_DENIED);

    // A policy written for another account's reports does not count.
    let foreign = unique("foreign");
    aws.s3.create_bucket().bucket(&foreign).send().await.expect("bucket");
    aws.s3
        .put_bucket_policy()
        .bucket(&foreign)
        .policy(cur_bucket_policy(&foreign, "999999999999").to_string())
        .send()
        .await
        .expect("policy");
    assert_eq!(
        put(&aws, module_report("Foreign", &foreign))
            .await
            .expect_err("foreign"),
        BUCKET_DENIED
    );

    // Wildcards, lists and a per-report SourceArn are evaluated properly.
    let broad = unique("broad");
    aws.s3.create_bucket().bucket(&broad).send().await.expect("bucket");
    let policy = json!({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": ["logging.s3.amazonaws.com", "billingreports.amazonaws.com"]},
        "Action": ["s3:Get*", "s3:Put*"], "Resource": [format!("arn:aws:s3:::{broad}"), format!("arn:aws:s3:::{broad}/*")],
        "Condition": {"ArnEquals": {"aws:SourceArn": format!("arn:aws:cur:us-east-1:{account}:definition/Broad")}}
    }]});
    aws.s3
        .put_bucket_policy()
        .bucket(&broad)
        .policy(policy.to_string())
        .send()
        .await
        .expect("policy");
    put(&aws, module_report("Broad", &broad))
        .await
        .expect("wildcards allow it");
    assert_eq!(
        put(&aws, module_report("OtherName", &broad))
            .await
            .expect_err("SourceArn names Broad"),
        BUCKET_DENIED
    );

    // An explicit Deny wins.
    let mut denied = cur_bucket_policy(&bucket, &account);
    denied["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}));
    aws.s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(denied.to_string())
        .send()
        .await
        .expect("policy");
    assert_eq!(
        put(&aws, module_report("Denied", &bucket)).await.expect_err("deny"),
        BUCKET_DENIED
    );
}

#[tokio::test]
async fn unknown_enums_and_bad_names_are_rejected_with_aws_messages() {
    let (aws, bucket) = account_with_bucket().await;
    let weekly = put(
        &aws,
        module_report("Weekly", &bucket).time_unit(TimeUnit::from("WEEKLY")),
    )
    .await;
    let weekly = weekly.expect_err("unknown time unit");
    assert!(
        weekly.starts_with("ValidationException: 1 validation error detected: Value 'WEEKLY' at "),
        "{weekly}"
    );
    assert!(weekly.contains("enum value set: [HOURLY, DAILY, MONTHLY]"), "{weekly}");

    for (definition, what) in [
        (
            module_report("Bad", &bucket).format(ReportFormat::from("csv")),
            "format",
        ),
        (
            module_report("Bad", &bucket).compression(CompressionFormat::from("BZIP2")),
            "compression",
        ),
        (
            module_report("Bad", &bucket).s3_region(AwsRegion::from("us-gov-west-1")),
            "region",
        ),
        (
            module_report("Bad", &bucket).additional_schema_elements(SchemaElement::from("EVERYTHING")),
            "schema element",
        ),
        (
            module_report("Bad", &bucket).additional_artifacts(AdditionalArtifact::from("TABLEAU")),
            "artifact",
        ),
        (
            module_report("Bad", &bucket).report_versioning(ReportVersioning::from("KEEP")),
            "versioning",
        ),
        (module_report("has space", &bucket), "name characters"),
        (module_report(&"n".repeat(257), &bucket), "name length"),
        (module_report("Bad", "bucket/with/slash"), "bucket characters"),
        (module_report("Bad", &bucket).s3_prefix("a b"), "prefix characters"),
        (
            module_report("Bad", &bucket).s3_prefix("p".repeat(257)),
            "prefix length",
        ),
        (module_report("Bad", &bucket).billing_view_arn("x"), "billing view"),
    ] {
        let err = put(&aws, definition).await.expect_err(what);
        assert!(
            err.starts_with("ValidationException: 1 validation error detected: "),
            "{what}: {err}"
        );
    }
    // Nothing was created by the failures.
    let out = aws.cur.describe_report_definitions().send().await.expect("describe");
    assert!(out.report_definitions().is_empty());
}

#[tokio::test]
async fn artifact_and_format_combinations_follow_the_rules() {
    let (aws, bucket) = account_with_bucket().await;
    let parquet = |name: &str| {
        module_report(name, &bucket)
            .format(ReportFormat::Parquet)
            .compression(CompressionFormat::Parquet)
    };
    let refused = [
        (
            module_report("A", &bucket).format(ReportFormat::Parquet),
            "Parquet format, GZIP",
        ),
        (
            module_report("B", &bucket).compression(CompressionFormat::Parquet),
            "csv, Parquet compression",
        ),
        (
            parquet("C")
                .additional_artifacts(AdditionalArtifact::Athena)
                .additional_artifacts(AdditionalArtifact::Redshift),
            "ATHENA with another artifact",
        ),
        (
            module_report("D", &bucket).additional_artifacts(AdditionalArtifact::Athena),
            "ATHENA with csv",
        ),
        (
            parquet("E")
                .additional_artifacts(AdditionalArtifact::Athena)
                .report_versioning(ReportVersioning::CreateNewReport),
            "ATHENA creating new reports",
        ),
        (
            parquet("F")
                .additional_artifacts(AdditionalArtifact::Athena)
                .s3_prefix(""),
            "ATHENA without prefix",
        ),
        (
            parquet("G").additional_artifacts(AdditionalArtifact::Quicksight),
            "QUICKSIGHT with Parquet",
        ),
    ];
    for (definition, what) in refused {
        let err = put(&aws, definition).await.expect_err(what);
        assert!(err.starts_with("ValidationException: "), "{what}: {err}");
    }
    put(&aws, parquet("Athena").additional_artifacts(AdditionalArtifact::Athena))
        .await
        .expect("ATHENA alone with Parquet, overwrite, prefix");
    put(
        &aws,
        module_report("Redshift", &bucket)
            .additional_artifacts(AdditionalArtifact::Redshift)
            .additional_artifacts(AdditionalArtifact::Quicksight)
            .compression(CompressionFormat::Zip),
    )
    .await
    .expect("REDSHIFT and QUICKSIGHT with csv");
}

#[tokio::test]
async fn names_are_unique_reports_are_limited_and_pages_hold_five() {
    let (aws, bucket) = account_with_bucket().await;
    for i in 0..LIMIT {
        put(&aws, module_report(&format!("Report-{i}"), &bucket))
            .await
            .expect("under the limit");
    }
    let duplicate = put(&aws, module_report("Report-0", &bucket))
        .await
        .expect_err("duplicate");
    assert!(duplicate.starts_with("DuplicateReportNameException: "), "{duplicate}");
    // Names are case-sensitive, but the account is full.
    let limit = put(&aws, module_report("report-0", &bucket)).await.expect_err("limit");
    assert!(limit.starts_with("ReportLimitReachedException: "), "{limit}");

    let first = aws.cur.describe_report_definitions().send().await.expect("page 1");
    assert_eq!(first.report_definitions().len(), 5);
    let token = first.next_token().expect("more pages").to_owned();
    let second = aws
        .cur
        .describe_report_definitions()
        .max_results(5)
        .next_token(token)
        .send()
        .await
        .expect("page 2");
    let names: Vec<&str> = second.report_definitions().iter().map(|r| r.report_name()).collect();
    assert_eq!(names, ["Report-5", "Report-6"]);
    assert!(second.next_token().is_none());

    let bad_size = aws.cur.describe_report_definitions().max_results(3).send().await;
    let err = bad_size.expect_err("the model allows only 5");
    assert_eq!(code(&err), "ValidationException");
    let bad_token = aws.cur.describe_report_definitions().next_token("garbage").send().await;
    assert_eq!(code(&bad_token.expect_err("bad token")), "ValidationException");

    // Deleting frees a slot.
    aws.cur
        .delete_report_definition()
        .report_name("Report-3")
        .send()
        .await
        .expect("delete");
    put(&aws, module_report("report-0", &bucket)).await.expect("room again");
}

#[tokio::test]
async fn modify_changes_mutable_fields_and_rechecks_a_new_bucket() {
    let (aws, bucket) = account_with_bucket().await;
    put(&aws, module_report("Mod", &bucket)).await.expect("created");
    let modify = |definition: aws_sdk_costandusagereport::types::builders::ReportDefinitionBuilder, name: &str| {
        aws.cur
            .modify_report_definition()
            .report_name(name)
            .report_definition(definition.build().expect("definition"))
            .send()
    };
    let unknown = modify(module_report("Nope", &bucket), "Nope")
        .await
        .expect_err("unknown report");
    assert_eq!(code(&unknown), "ValidationException");

    modify(module_report("Mod", &bucket).s3_prefix("other-prefix"), "Mod")
        .await
        .expect("prefix changes in place");
    let described = aws.cur.describe_report_definitions().send().await.expect("describe");
    assert_eq!(described.report_definitions()[0].s3_prefix(), "other-prefix");

    for (definition, what) in [
        (module_report("Mod", &bucket).time_unit(TimeUnit::Hourly), "time unit"),
        (
            module_report("Mod", &bucket).report_versioning(ReportVersioning::CreateNewReport),
            "versioning",
        ),
        (module_report("Renamed", &bucket), "name"),
    ] {
        let err = modify(definition, "Mod").await.expect_err(what);
        assert_eq!(code(&err), "ValidationException", "{what}");
    }
    let to_bare = modify(module_report("Mod", "no-such-bucket-anywhere"), "Mod")
        .await
        .expect_err("new bucket is checked");
    assert_eq!(message(&to_bare), "Failed to verify customer bucket permission.");
    let other = unique("other");
    aws.cur_bucket(&other, "us-east-1").await;
    modify(module_report("Mod", &other), "Mod")
        .await
        .expect("moved to a good bucket");
}

#[tokio::test]
async fn delete_and_tags_of_unknown_reports() {
    let (aws, bucket) = account_with_bucket().await;
    let gone = aws.cur.delete_report_definition().report_name("Ghost").send().await;
    assert_eq!(code(&gone.expect_err("unknown")), "ValidationException");
    let tags = aws.cur.list_tags_for_resource().report_name("Ghost").send().await;
    assert_eq!(code(&tags.expect_err("unknown")), "ResourceNotFoundException");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().expect("tag");
    let tagging = aws
        .cur
        .tag_resource()
        .report_name("Ghost")
        .tags(tag("a", "b"))
        .send()
        .await;
    assert_eq!(code(&tagging.expect_err("unknown")), "ResourceNotFoundException");
    let untag = aws.cur.untag_resource().report_name("Ghost").tag_keys("a").send().await;
    assert_eq!(code(&untag.expect_err("unknown")), "ResourceNotFoundException");

    aws.cur
        .put_report_definition()
        .report_definition(module_report("Tagged", &bucket).build().expect("definition"))
        .tags(tag("team", "finops"))
        .send()
        .await
        .expect("put with tags");
    aws.cur
        .tag_resource()
        .report_name("Tagged")
        .tags(tag("team", "platform"))
        .tags(tag("env", "dev"))
        .send()
        .await
        .expect("tag");
    aws.cur
        .untag_resource()
        .report_name("Tagged")
        .tag_keys("env")
        .send()
        .await
        .expect("untag");
    let listed = aws
        .cur
        .list_tags_for_resource()
        .report_name("Tagged")
        .send()
        .await
        .expect("list");
    let pairs: Vec<(&str, &str)> = listed.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("team", "platform")]);
    let long_key = aws
        .cur
        .tag_resource()
        .report_name("Tagged")
        .tags(tag(&"k".repeat(129), "v"))
        .send()
        .await;
    assert_eq!(code(&long_key.expect_err("key too long")), "ValidationException");

    aws.cur
        .delete_report_definition()
        .report_name("Tagged")
        .send()
        .await
        .expect("delete");
}

#[tokio::test]
async fn only_us_east_1_signed_requests_are_served() {
    let account = unique_account();
    let west = stack().aws_with(Some(&account), "us-west-2", 1);
    let err = west
        .cur
        .describe_report_definitions()
        .send()
        .await
        .expect_err("wrong region");
    assert_eq!(code(&err), "InvalidSignatureException");
    assert!(message(&err).contains("us-east-1"), "{}", message(&err));
    let east = stack().aws(Some(&account));
    east.cur
        .describe_report_definitions()
        .send()
        .await
        .expect("us-east-1 works");
}

#[tokio::test]
async fn member_accounts_cannot_create_reports() {
    let management = unique_account();
    let aws = stack().aws(Some(&management));
    aws.organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let created = aws
        .organizations
        .create_account()
        .email(format!("{}@example.com", unique("member")))
        .account_name("member")
        .send()
        .await
        .expect("member account");
    let member = created
        .create_account_status()
        .and_then(|s| s.account_id())
        .expect("member id")
        .to_owned();
    let member_aws = stack().aws(Some(&member));
    let bucket = unique("member");
    member_aws.cur_bucket(&bucket, "us-east-1").await;
    let err = put(&member_aws, module_report("MemberReport", &bucket))
        .await
        .expect_err("member account");
    assert!(err.contains("management"), "{err}");
    // The management account can.
    let own = unique("mgmt");
    aws.cur_bucket(&own, "us-east-1").await;
    put(&aws, module_report("OrgReport", &own))
        .await
        .expect("management account");
}

#[tokio::test]
async fn deliveries_land_in_the_bucket_and_set_report_status() {
    let (aws, bucket) = account_with_bucket().await;
    let name = unique("Delivered");
    put(&aws, module_report(&name, &bucket)).await.expect("created");
    let (status, outcome) = stack()
        .deliver(json!({ "report_name": name, "account": aws.account_id() }))
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["status"], "SUCCESS");
    let data_key = outcome["objects"][0].as_str().expect("data key").to_owned();
    assert!(data_key.starts_with(&format!("daily-v1/{name}/")), "{data_key}");
    assert!(data_key.ends_with(&format!("/{name}-00001.csv.gz")), "{data_key}");

    let object = aws
        .s3
        .get_object()
        .bucket(&bucket)
        .key(&data_key)
        .send()
        .await
        .expect("object");
    let gz = object.body.collect().await.expect("body").into_bytes();
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut csv)
        .expect("valid gzip");
    assert!(csv.starts_with("identity/LineItemId,"), "{csv}");
    assert!(csv.lines().count() >= 2);
    let manifest = outcome["objects"][1].as_str().expect("manifest key");
    assert!(manifest.ends_with(&format!("{name}-Manifest.json")));

    let status_of = |aws: &Aws| {
        let cur = aws.cur.clone();
        let name = name.clone();
        async move {
            let out = cur.describe_report_definitions().send().await.expect("describe");
            let report = out
                .report_definitions()
                .iter()
                .find(|r| r.report_name() == name)
                .expect("report")
                .clone();
            let status = report.report_status().expect("status after a delivery").clone();
            (
                status.last_status().map(|s| s.as_str().to_owned()),
                status.last_delivery().map(str::to_owned),
            )
        }
    };
    let (last, when) = status_of(&aws).await;
    assert_eq!(last.as_deref(), Some("SUCCESS"));
    let when = when.expect("lastDelivery");
    assert_eq!(when.len(), 16, "{when}");
    assert!(when.ends_with('Z') && when.as_bytes()[8] == b'T', "{when}");

    // The policy stops allowing billingreports: ERROR_PERMISSIONS.
    aws.s3
        .delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("drop policy");
    let (_, outcome) = stack()
        .deliver(json!({ "report_name": name, "account": aws.account_id() }))
        .await;
    assert_eq!(outcome["status"], "ERROR_PERMISSIONS", "{outcome}");
    assert_eq!(status_of(&aws).await.0.as_deref(), Some("ERROR_PERMISSIONS"));

    // The bucket is gone: ERROR_NO_BUCKET.
    let listed = aws.s3.list_objects_v2().bucket(&bucket).send().await.expect("list");
    for object in listed.contents() {
        aws.s3
            .delete_object()
            .bucket(&bucket)
            .key(object.key().expect("key"))
            .send()
            .await
            .expect("delete object");
    }
    aws.s3
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("delete bucket");
    let (_, outcome) = stack()
        .deliver(json!({ "report_name": name, "account": aws.account_id() }))
        .await;
    assert_eq!(outcome["status"], "ERROR_NO_BUCKET", "{outcome}");

    let (status, missing) = stack().deliver(json!({ "report_name": "NoSuchReport" })).await;
    assert_eq!(status, 404, "{missing}");
}
