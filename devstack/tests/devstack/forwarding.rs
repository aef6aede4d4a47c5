//! Everything that is not CUR or Data Exports goes to moto unchanged: IAM, S3 (streaming bodies
//! both ways), STS, Organizations, CloudFormation. Plus request counts per operation and
//! injected AWS faults. Each test has its own devstack: counts and faults are global.

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{Devstack, code, unique, unique_account};
use reqwest::Method;
use serde_json::{Value, json};

fn count(counts: &Value, operation: &str) -> u64 {
    counts[operation].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn iam_sts_organizations_and_cloudformation_reach_moto() {
    let stack = Devstack::start(&[]);
    let aws = stack.aws(None);

    let identity = aws.sts.get_caller_identity().send().await.expect("GetCallerIdentity");
    assert_eq!(identity.account(), Some("123456789012"), "moto's default account");
    let other = stack.aws(Some("111122223333"));
    let identity = other.sts.get_caller_identity().send().await.expect("GetCallerIdentity");
    assert_eq!(identity.account(), Some("111122223333"));

    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    aws.iam
        .create_role()
        .role_name("forwarded")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("CreateRole");
    aws.iam
        .put_role_policy()
        .role_name("forwarded")
        .policy_name("inline")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .send()
        .await
        .expect("PutRolePolicy");
    let role = aws.iam.get_role().role_name("forwarded").send().await.expect("GetRole");
    assert_eq!(
        role.role().map(|r| r.arn()),
        Some("arn:aws:iam::123456789012:role/forwarded")
    );
    let missing = aws.iam.get_role().role_name("absent").send().await;
    assert_eq!(code(&missing.expect_err("no such role")), "NoSuchEntity");

    aws.organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("CreateOrganization");
    let org = aws
        .organizations
        .describe_organization()
        .send()
        .await
        .expect("DescribeOrganization");
    assert_eq!(
        org.organization().and_then(|o| o.master_account_id()),
        Some("123456789012")
    );

    let template = json!({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}});
    aws.cloudformation
        .create_stack()
        .stack_name("tiny")
        .template_body(template.to_string())
        .send()
        .await
        .expect("CreateStack");
    let stacks = aws.cloudformation.list_stacks().send().await.expect("ListStacks");
    assert!(stacks.stack_summaries().iter().any(|s| s.stack_name() == Some("tiny")));

    let counts = stack.aws_counts().await;
    for (operation, n) in [
        ("sts:GetCallerIdentity", 2),
        ("iam:CreateRole", 1),
        ("iam:PutRolePolicy", 1),
        ("iam:GetRole", 2),
        ("organizations:CreateOrganization", 1),
        ("organizations:DescribeOrganization", 1),
        ("cloudformation:CreateStack", 1),
        ("cloudformation:ListStacks", 1),
    ] {
        assert_eq!(count(&counts, operation), n, "{operation} in {counts}");
    }
}

#[tokio::test]
async fn s3_streams_multi_megabyte_objects_both_ways() {
    let stack = Devstack::start(&[]);
    let aws = stack.aws(None);
    let bucket = unique("stream");
    aws.s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    let size = 8 * 1024 * 1024 + 123;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("PutObject");
    let got = aws
        .s3
        .get_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .expect("GetObject");
    assert_eq!(got.content_length(), Some(size as i64));
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(body.len(), data.len());
    assert!(body == data, "the object comes back byte for byte");

    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    aws.s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy.to_string())
        .send()
        .await
        .expect("PutBucketPolicy");
    let back = aws
        .s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketPolicy");
    let back: Value = serde_json::from_str(back.policy().expect("policy")).expect("JSON");
    assert_eq!(back, policy, "S3 returns bucket policies verbatim");
    aws.s3
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .expect("location");

    let counts = stack.aws_counts().await;
    for operation in [
        "s3:CreateBucket",
        "s3:PutObject",
        "s3:GetObject",
        "s3:PutBucketPolicy",
        "s3:GetBucketPolicy",
        "s3:GetBucketLocation",
    ] {
        assert_eq!(count(&counts, operation), 1, "{operation} in {counts}");
    }
}

#[tokio::test]
async fn cur_calls_are_counted_by_target_and_reset_clears_cur_state() {
    let stack = Devstack::start(&[]);
    let account = unique_account();
    let aws = stack.aws(Some(&account));
    for _ in 0..3 {
        aws.cur.describe_report_definitions().send().await.expect("describe");
    }
    aws.exports.list_exports().send().await.expect("list");
    let counts = stack.aws_counts().await;
    assert_eq!(count(&counts, "cur:DescribeReportDefinitions"), 3, "{counts}");
    assert_eq!(count(&counts, "bcm-data-exports:ListExports"), 1, "{counts}");

    let bucket = unique("reset");
    aws.cur_bucket(&bucket, "us-east-1").await;
    common::create_export(&aws, "before-reset", &bucket).await;
    let res = stack.admin(Method::POST, "/reset", None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(stack.aws_counts().await, json!({}));
    let listed = aws.exports.list_exports().send().await.expect("list");
    assert!(listed.exports().is_empty(), "exports are devstack state");
    aws.s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("moto's state is kept");

    let res = stack
        .admin(Method::POST, "/reset", Some(json!({"upstream": true})))
        .await;
    assert_eq!(res.status(), 204);
    let gone = aws.s3.head_bucket().bucket(&bucket).send().await;
    assert!(gone.is_err(), "moto was reset too");
}

#[tokio::test]
async fn aws_faults_fail_throttle_delay_and_drop_matching_calls() {
    let stack = Devstack::start(&[]);
    let once = stack.aws_with(Some(&unique_account()), "us-east-1", 1);

    stack
        .fault(json!({"service": "aws", "match": "cur:PutReportDefinition", "status": 503}))
        .await;
    stack
        .fault(json!({"service": "aws", "match": "cur:DescribeReportDefinitions", "throttle": true}))
        .await;
    let err = once
        .cur
        .describe_report_definitions()
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(code(&err), "ThrottlingException");
    once.cur.describe_report_definitions().send().await.expect("only once");

    stack
        .fault(json!({"service": "aws", "match": "iam:*", "throttle": true}))
        .await;
    let err = once.iam.list_roles().send().await.expect_err("throttled");
    assert_eq!(code(&err), "Throttling", "the query protocol's code");
    stack
        .fault(json!({"service": "aws", "match": "s3:ListBuckets", "throttle": true}))
        .await;
    let err = once.s3.list_buckets().send().await.expect_err("throttled");
    assert_eq!(code(&err), "SlowDown");

    stack
        .fault(json!({"service": "aws", "match": "s3:ListBuckets", "status": 500, "count": 2}))
        .await;
    let err = once.s3.list_buckets().send().await.expect_err("500");
    assert_eq!(code(&err), "InternalError");
    // The SDK's standard retries ride over the second failure.
    let retrying = stack.aws(None);
    retrying.s3.list_buckets().send().await.expect("retried");

    stack
        .fault(json!({"service": "aws", "match": "sts:GetCallerIdentity", "drop_connection": true}))
        .await;
    let err = once.sts.get_caller_identity().send().await.expect_err("dropped");
    assert!(
        matches!(
            err,
            aws_sdk_sts::error::SdkError::DispatchFailure(_) | aws_sdk_sts::error::SdkError::ResponseError(_)
        ),
        "{err:?}"
    );

    stack
        .fault(json!({"service": "aws", "match": "sts:GetCallerIdentity", "delay_ms": 400}))
        .await;
    let began = Instant::now();
    once.sts
        .get_caller_identity()
        .send()
        .await
        .expect("delayed, then answered");
    assert!(began.elapsed() >= Duration::from_millis(400));

    stack
        .fault(json!({"service": "aws", "match": "*", "status": 400,
                      "body": {"__type": "AccessDeniedException", "Message": "nope"}}))
        .await;
    let err = once.exports.list_exports().send().await.expect_err("custom body");
    assert_eq!(code(&err), "AccessDeniedException");

    // The 503 armed for PutReportDefinition never fired: still listed.
    let faults: Value = stack
        .admin(Method::GET, "/faults", None)
        .await
        .json()
        .await
        .expect("JSON");
    let armed: Vec<&str> = faults["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .filter_map(|f| f["match"].as_str())
        .collect();
    assert_eq!(armed, ["cur:PutReportDefinition"]);
    let counts = stack.aws_counts().await;
    assert_eq!(
        count(&counts, "cur:DescribeReportDefinitions"),
        2,
        "faulted calls count too"
    );
    assert_eq!(count(&counts, "s3:ListBuckets"), 4, "{counts}");
}

/// `after` AWS faults: the upstream (or CUR) has acted when the answer is lost, replaced or
/// late, so an SDK retry of a create meets the object its first attempt made.
#[tokio::test]
async fn aws_after_faults_fire_once_the_call_has_taken_effect() {
    let stack = Devstack::start(&[]);
    let account = unique_account();
    let once = stack.aws_with(Some(&account), "us-east-1", 1);
    let retrying = stack.aws_with(Some(&account), "us-east-1", 3);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    .to_string();
    let create = |aws: &common::Aws, name: &str| {
        aws.iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(&trust)
            .send()
    };

    stack
        .fault(json!({"service": "aws", "match": "iam:CreateRole", "after": true, "status": 500}))
        .await;
    let err = create(&once, "after-500").await.expect_err("500 after handling");
    assert_eq!(code(&err), "InternalFailure");
    once.iam
        .get_role()
        .role_name("after-500")
        .send()
        .await
        .expect("the role exists");

    // The first answer is lost: the SDK's retry meets the role its first attempt created.
    stack
        .fault(json!({"service": "aws", "match": "iam:CreateRole", "after": true, "drop_connection": true}))
        .await;
    let err = create(&retrying, "after-drop")
        .await
        .expect_err("the retry finds the role");
    assert_eq!(code(&err), "EntityAlreadyExists");
    let counts = stack.aws_counts().await;
    assert_eq!(count(&counts, "iam:CreateRole"), 3, "{counts}");

    stack
        .fault(json!({"service": "aws", "match": "iam:CreateRole", "after": true, "delay_ms": 1500}))
        .await;
    let began = Instant::now();
    let held = tokio::spawn(create(&once, "after-delay"));
    let mut seen_while_held = false;
    while began.elapsed() < Duration::from_millis(1200) {
        if once.iam.get_role().role_name("after-delay").send().await.is_ok() {
            seen_while_held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_while_held, "the role exists before the answer arrives");
    held.await.expect("task").expect("created, late");
    assert!(began.elapsed() >= Duration::from_millis(1500));
}

/// SNS ListTopics in Vantage's account through the front door, as raw query calls (the tests
/// have no SNS client): the topic ARNs in the answer.
async fn vantage_topics(stack: &Devstack, region: &str) -> String {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=630399649041/20240101/{region}/sns/aws4_request, \
         SignedHeaders=content-type;host, Signature=0000000000000000000000000000000000000000000000000000000000000000"
    );
    let res = common::client()
        .post(format!("{}/", stack.aws_url))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .header("authorization", authorization)
        .header("x-moto-account-id", "630399649041")
        .body("Action=ListTopics&Version=2010-03-31")
        .send()
        .await
        .expect("ListTopics");
    assert!(res.status().is_success(), "ListTopics: {}", res.status());
    res.text().await.expect("ListTopics body")
}

#[tokio::test]
async fn vantages_cur_topics_exist_upstream_and_outlive_a_reset() {
    // S3 refuses a bucket notification to a topic that does not exist (LocalStack checks, as AWS
    // does), so devstack creates Vantage's topics in the upstream, in each of their regions.
    let stack = Devstack::start(&[]);
    for region in ["us-east-1", "us-west-2", "eu-west-1", "eu-west-2", "ap-southeast-1"] {
        let topics = vantage_topics(&stack, region).await;
        let arn = format!("arn:aws:sns:{region}:630399649041:cost-and-usage-report-uploaded");
        assert!(topics.contains(&arn), "{region}: {topics}");
    }
    let reset = stack
        .admin(Method::POST, "/reset", Some(json!({"upstream": true})))
        .await;
    assert_eq!(reset.status().as_u16(), 204);
    let topics = vantage_topics(&stack, "eu-west-2").await;
    assert!(
        topics.contains("arn:aws:sns:eu-west-2:630399649041:cost-and-usage-report-uploaded"),
        "{topics}"
    );

    // moto reset behind devstack's back (through the front door): the topics are created again
    // before the next bucket notification goes upstream.
    let reset = common::client()
        .post(format!("{}/moto-api/reset", stack.aws_url))
        .send()
        .await
        .expect("moto reset");
    assert!(reset.status().is_success());
    assert!(
        !vantage_topics(&stack, "us-east-1")
            .await
            .contains("cost-and-usage-report-uploaded")
    );
    let aws = stack.aws(None);
    let bucket = unique("notified");
    aws.s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    let topic = aws_sdk_s3::types::TopicConfiguration::builder()
        .topic_arn("arn:aws:sns:us-east-1:630399649041:cost-and-usage-report-uploaded")
        .events(aws_sdk_s3::types::Event::S3ObjectCreated)
        .build()
        .expect("topic configuration");
    aws.s3
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .topic_configurations(topic)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketNotificationConfiguration");
    assert!(
        vantage_topics(&stack, "us-east-1")
            .await
            .contains("cost-and-usage-report-uploaded")
    );
}
