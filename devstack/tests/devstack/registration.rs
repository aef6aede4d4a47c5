//! Registration checks Vantage makes through AWS (the real verifier against moto): the role
//! exists and trusts Vantage's principal with this account's external id, the bucket exists and
//! the role can read it; the propagation delay counts from the role's IAM CreateDate; and the
//! integration status follows CUR reports and deliveries.

use crate::common;

use std::sync::OnceLock;
use std::time::Duration;

use common::{Aws, Devstack, errors, unique, unique_account};
use reqwest::Method;
use serde_json::{Value, json};

fn stack() -> &'static Devstack {
    static STACK: OnceLock<Devstack> = OnceLock::new();
    STACK.get_or_init(|| Devstack::start(&[]))
}

struct Vantage {
    principal: String,
    external_id: String,
}

async fn vantage(stack: &Devstack) -> Vantage {
    let info: Value = stack.get("/v1/integrations/aws/info").await.json().await.expect("info");
    Vantage {
        principal: info["iam_role_arn"].as_str().expect("principal").to_owned(),
        external_id: info["external_id"].as_str().expect("external id").to_owned(),
    }
}

/// The guide's trust policy, with the given principal and external id condition.
fn trust(principal: &str, condition: Option<Value>) -> String {
    let mut statement = json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"});
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

fn external_id(id: &str) -> Option<Value> {
    Some(json!({"StringEquals": {"sts:ExternalId": id}}))
}

async fn role(aws: &Aws, name: &str, trust: String) -> String {
    let out = aws
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("CreateRole");
    out.role().expect("role").arn().to_owned()
}

/// The module's `VantageCostandUsageReportRetrieval` inline policy.
async fn allow_read(aws: &Aws, role: &str, bucket: &str) {
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectAcl"], "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name("VantageCostandUsageReportRetrieval")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("PutRolePolicy");
}

async fn register(stack: &Devstack, role: &str, bucket: Option<&str>) -> (u16, Value) {
    let res = stack
        .send_json(
            Method::POST,
            "/v1/integrations/aws",
            json!({"cross_account_arn": role, "bucket_arn": bucket.map(|b| format!("arn:aws:s3:::{b}"))}),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON"))
}

async fn refused(stack: &Devstack, role: &str, bucket: Option<&str>) -> String {
    let res = stack
        .send_json(
            Method::POST,
            "/v1/integrations/aws",
            json!({"cross_account_arn": role, "bucket_arn": bucket.map(|b| format!("arn:aws:s3:::{b}"))}),
        )
        .await;
    assert_eq!(res.status(), 400, "{role} must be refused");
    errors(res).await.join("; ")
}

async fn status_of(stack: &Devstack, id: i64) -> String {
    let v2: Value = stack
        .get(&format!("/v2/integrations/{}", common::token_for(id)))
        .await
        .json()
        .await
        .expect("v2 integration");
    v2["status"].as_str().expect("status").to_owned()
}

#[tokio::test]
async fn each_broken_setup_is_refused_with_its_reason() {
    let stack = stack();
    let v = vantage(stack).await;
    let aws = stack.aws(Some(&unique_account()));
    let account = aws.account_id().to_owned();
    let mut messages = Vec::new();

    let absent = format!("arn:aws:iam::{account}:role/{}", unique("absent"));
    let why = refused(stack, &absent, None).await;
    messages.push(why.clone());
    assert!(
        why.contains(&format!("Vantage cannot assume {absent}: the role does not exist")),
        "{why}"
    );

    let stranger = role(
        &aws,
        &unique("stranger"),
        trust(
            "arn:aws:iam::630399649041:role/someone-else",
            external_id(&v.external_id),
        ),
    )
    .await;
    let why = refused(stack, &stranger, None).await;
    messages.push(why.clone());
    assert!(
        why.contains(&format!("does not allow {} to sts:AssumeRole", v.principal)),
        "{why}"
    );

    let no_condition = role(&aws, &unique("open"), trust(&v.principal, None)).await;
    let why = refused(stack, &no_condition, None).await;
    messages.push(why.clone());
    assert!(why.contains("does not require sts:ExternalId"), "{why}");

    let wrong_id = role(
        &aws,
        &unique("wrong-id"),
        trust(&v.principal, external_id("not-this-accounts-id")),
    )
    .await;
    let why = refused(stack, &wrong_id, None).await;
    messages.push(why.clone());
    assert!(why.contains("do not accept sts:ExternalId"), "{why}");
    assert!(why.contains("/v1/integrations/aws/info"), "{why}");

    let good = role(&aws, &unique("good"), trust(&v.principal, external_id(&v.external_id))).await;
    let why = refused(stack, &good, Some("no-such-bucket-anywhere")).await;
    messages.push(why.clone());
    assert!(
        why.contains("the bucket no-such-bucket-anywhere does not exist"),
        "{why}"
    );

    let bucket = unique("unreadable");
    aws.s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let why = refused(stack, &good, Some(&bucket)).await;
    messages.push(why.clone());
    assert!(
        why.contains(&format!("may not s3:GetObject on arn:aws:s3:::{bucket}/*")),
        "{why}"
    );

    for message in messages {
        assert!(
            !message.contains(&v.external_id),
            "never print the external id: {message}"
        );
    }
    // Nothing was registered.
    let list: Value = stack
        .get(&format!("/v2/integrations?account_identifier={account}"))
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(list["integrations"], json!([]));
}

#[tokio::test]
async fn status_follows_the_role_the_cur_report_and_deliveries() {
    let stack = stack();
    let v = vantage(stack).await;
    let aws = stack.aws(Some(&unique_account()));
    let name = unique("vantage");
    let role_arn = role(&aws, &name, trust(&v.principal, external_id(&v.external_id))).await;
    let bucket = unique("cur");
    aws.cur_bucket(&bucket, "us-east-1").await;
    allow_read(&aws, &name, &bucket).await;

    let (status, created) = register(stack, &role_arn, Some(&bucket)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(status_of(stack, id).await, "pending", "role verified, but no CUR yet");

    let report = aws_sdk_costandusagereport::types::ReportDefinition::builder()
        .report_name(&name)
        .time_unit(aws_sdk_costandusagereport::types::TimeUnit::Daily)
        .format(aws_sdk_costandusagereport::types::ReportFormat::Csv)
        .compression(aws_sdk_costandusagereport::types::CompressionFormat::Gzip)
        .additional_schema_elements(aws_sdk_costandusagereport::types::SchemaElement::Resources)
        .s3_bucket(&bucket)
        .s3_prefix("daily-v1")
        .s3_region(aws_sdk_costandusagereport::types::AwsRegion::from("us-east-1"))
        .report_versioning(aws_sdk_costandusagereport::types::ReportVersioning::OverwriteReport)
        .build()
        .expect("definition");
    aws.cur
        .put_report_definition()
        .report_definition(report)
        .send()
        .await
        .expect("CUR report");
    assert_eq!(status_of(stack, id).await, "importing");

    let (code, outcome) = stack
        .deliver(json!({"report_name": name, "account": aws.account_id()}))
        .await;
    assert_eq!(code, 200, "{outcome}");
    assert_eq!(outcome["integrations"], json!([{"id": id, "status": "connected"}]));
    let v2: Value = stack
        .get(&format!("/v2/integrations/{}", common::token_for(id)))
        .await
        .json()
        .await
        .expect("v2");
    assert_eq!(v2["status"], "connected");
    assert!(v2["last_updated"].is_string());

    // The role loses its trust: the next read says error; restoring it reconnects.
    aws.iam
        .update_assume_role_policy()
        .role_name(&name)
        .policy_document(trust(&v.principal, None))
        .send()
        .await
        .expect("weaken trust");
    assert_eq!(status_of(stack, id).await, "error");
    aws.iam
        .update_assume_role_policy()
        .role_name(&name)
        .policy_document(trust(&v.principal, external_id(&v.external_id)))
        .send()
        .await
        .expect("restore trust");
    assert_eq!(status_of(stack, id).await, "connected");
}

#[tokio::test]
async fn a_bucket_policy_or_the_account_root_principal_also_works() {
    let stack = stack();
    let v = vantage(stack).await;
    let aws = stack.aws(Some(&unique_account()));
    let root = role(
        &aws,
        &unique("root-trust"),
        trust("arn:aws:iam::630399649041:root", external_id(&v.external_id)),
    )
    .await;
    let bucket = unique("shared");
    aws.s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": root}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    aws.s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy.to_string())
        .send()
        .await
        .expect("policy");
    let (status, body) = register(stack, &root, Some(&bucket)).await;
    assert_eq!(status, 201, "{body}");
    // Without a bucket the first verified read connects.
    let plain = role(&aws, &unique("plain"), trust(&v.principal, external_id(&v.external_id))).await;
    let (status, body) = register(stack, &plain, None).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().expect("id");
    assert_eq!(status_of(stack, id).await, "connected");
}

#[tokio::test]
async fn propagation_delay_counts_from_the_roles_create_date() {
    let stack = Devstack::start(&["--propagation-delay", "2"]);
    let v = vantage(&stack).await;
    let aws = stack.aws(Some(&unique_account()));
    let young = role(&aws, &unique("young"), trust(&v.principal, external_id(&v.external_id))).await;
    let patient = role(
        &aws,
        &unique("patient"),
        trust(&v.principal, external_id(&v.external_id)),
    )
    .await;
    let why = refused(&stack, &young, None).await;
    assert!(why.contains("not assumable yet"), "{why}");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Never seen before, but IAM created it more than 2 s ago: accepted at once.
    let (status, body) = register(&stack, &patient, None).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = register(&stack, &young, None).await;
    assert_eq!(status, 201, "{body}");
}
