//! `vantage_aws_cur_bucket` against the devstack and moto, checked through S3.
//! Each test acts in an AWS account of its own (see `aws_billing`).

use acceptance_tests::aws::same_statements;
use acceptance_tests::aws_billing::{Billing, account_for, provider_block, reference_policy};
use acceptance_tests::{Devstack, Workspace};

const TOPIC_US_EAST_1: &str = "arn:aws:sns:us-east-1:630399649041:cost-and-usage-report-uploaded";
const FIVE_REGIONS: &str = "us-east-1, us-west-2, eu-west-1, eu-west-2, ap-southeast-1";

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

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/vantage_cross_account_connection")
}

fn config(account: &str, bucket: &str, extra: &str) -> String {
    format!(
        r#"{provider}
resource "vantage_aws_cur_bucket" "this" {{
  bucket = "{bucket}"
{extra}
}}

output "arn" {{ value = vantage_aws_cur_bucket.this.arn }}
output "region" {{ value = vantage_aws_cur_bucket.this.region }}
output "policy" {{ value = vantage_aws_cur_bucket.this.policy }}
"#,
        provider = provider_block(account)
    )
}

fn policy_matches(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    actual["Version"] == expected["Version"] && same_statements(actual, expected)
}

#[test]
fn module_defaults_produce_the_reference_bucket() {
    let c = case("acc-curb-defaults");
    let bucket = "acc-curb-defaults";
    let role = role(&c.account);
    c.ws.config(&config(
        &c.account,
        bucket,
        &format!(r#"  cross_account_role_arn = "{role}""#),
    ));
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();

    let facts = c.aws.bucket(bucket).expect("the bucket exists");
    assert_eq!(facts.region, "us-east-1");
    assert_eq!(facts.public_access_block, Some([true; 4]), "all four settings on");
    let expected = reference_policy(&c.account, bucket, Some(&role), true);
    let actual = facts.policy.clone().expect("a bucket policy");
    assert!(policy_matches(&actual, &expected), "{actual:#}\nexpected\n{expected:#}");
    assert_eq!(facts.lifecycle, vec![("remove-old-reports".to_string(), 200)]);
    assert_eq!(
        facts.topics,
        vec![(
            TOPIC_US_EAST_1.to_string(),
            vec!["s3:ObjectCreated:*".to_string()],
            Some(".csv.gz".to_string())
        )]
    );
    let outputs = c.ws.outputs();
    assert_eq!(outputs["arn"], format!("arn:aws:s3:::{bucket}"));
    assert_eq!(outputs["region"], "us-east-1");
    let applied: serde_json::Value =
        serde_json::from_str(outputs["policy"].as_str().unwrap_or_default()).expect("policy output is JSON");
    assert!(
        policy_matches(&applied, &expected),
        "the policy attribute is the policy as applied"
    );

    // A bucket holding reports is not deleted by accident.
    c.aws.put_object(bucket, "daily-v1/VantageReport/x.csv.gz", b"data");
    c.ws.destroy()
        .expect_error("CUR bucket is not empty")
        .expect_error("force_destroy = true");
    assert!(c.aws.bucket(bucket).is_some());
    c.ws.config(&config(
        &c.account,
        bucket,
        &format!("  cross_account_role_arn = \"{role}\"\n  force_destroy = true"),
    ));
    c.ws.apply().expect_ok();
    c.ws.destroy().expect_ok();
    assert!(c.aws.bucket(bucket).is_none(), "destroy empties and removes the bucket");
}

#[test]
fn settings_update_in_place_and_bucket_or_region_replace() {
    let c = case("acc-curb-update");
    let bucket = "acc-curb-update";
    c.ws.config(&config(&c.account, bucket, ""));
    c.ws.apply().expect_ok();
    let facts = c.aws.bucket(bucket).expect("bucket");
    let expected = reference_policy(&c.account, bucket, None, true);
    assert!(policy_matches(facts.policy.as_ref().expect("policy"), &expected));

    let extra = format!(
        r#"  lifecycle_days = 30
  enforce_tls    = false
  tags           = {{ Team = "finops" }}
  additional_policy_statements = jsonencode([{{
    Sid       = "AuditorsList"
    Effect    = "Allow"
    Principal = {{ AWS = "arn:aws:iam::{account}:root" }}
    Action    = "s3:ListBucket"
    Resource  = "arn:aws:s3:::{bucket}"
  }}])"#,
        account = c.account
    );
    c.ws.config(&config(&c.account, bucket, &extra));
    let plan = c.ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let facts = c.aws.bucket(bucket).expect("bucket");
    assert_eq!(facts.lifecycle, vec![("remove-old-reports".to_string(), 30)]);
    assert_eq!(facts.tags.get("Team").map(String::as_str), Some("finops"));
    let policy = facts.policy.expect("policy");
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(
        statements.len(),
        4,
        "3 reference statements + the additional one, no TLS deny: {policy:#}"
    );
    assert!(statements.iter().all(|s| s["Effect"] == "Allow"));
    assert!(statements.iter().any(|s| s["Sid"] == "AuditorsList"));

    // The same statements written differently plan no change.
    c.ws.config(&config(
        &c.account,
        bucket,
        &extra
            .replace(
                "additional_policy_statements = jsonencode([{",
                "additional_policy_statements = jsonencode({",
            )
            .replace("  }])", "  })"),
    ));
    c.ws.plan().expect_empty_plan();

    // lifecycle_days = 0 removes the expiry rule; notify_vantage = false removes the notification.
    c.ws.config(&config(
        &c.account,
        bucket,
        "  lifecycle_days = 0\n  notify_vantage = false",
    ));
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let facts = c.aws.bucket(bucket).expect("bucket");
    assert!(facts.lifecycle.is_empty(), "{:?}", facts.lifecycle);
    assert!(facts.topics.is_empty(), "{:?}", facts.topics);
    assert!(facts.tags.is_empty(), "tags removed with the argument");

    // Another region replaces the bucket; it is created with a LocationConstraint and
    // notifies the topic of its own region, while the policy still names us-east-1.
    c.ws.config(&config(&c.account, bucket, r#"  region = "eu-west-1""#));
    let plan = c.ws.plan();
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let facts = c.aws.bucket(bucket).expect("bucket");
    assert_eq!(facts.region, "eu-west-1");
    assert_eq!(
        facts.topics[0].0,
        "arn:aws:sns:eu-west-1:630399649041:cost-and-usage-report-uploaded"
    );
    assert!(policy_matches(facts.policy.as_ref().expect("policy"), &expected));

    // A new name replaces too.
    let renamed = "acc-curb-update-2";
    c.ws.config(&config(&c.account, renamed, r#"  region = "eu-west-1""#));
    let plan = c.ws.plan();
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    assert!(c.aws.bucket(bucket).is_none());
    assert!(c.aws.bucket(renamed).is_some());
    c.ws.destroy().expect_ok();
    assert!(c.aws.bucket(renamed).is_none());
}

#[test]
fn import_by_name_matches_the_created_state() {
    let c = case("acc-curb-import");
    let bucket = "acc-curb-import";
    let extra = format!(
        r#"  cross_account_role_arn = "{role}"
  lifecycle_days         = 90
  tags                   = {{ Owner = "me" }}
  additional_policy_statements = jsonencode([{{
    Effect    = "Allow"
    Principal = {{ AWS = "arn:aws:iam::{account}:root" }}
    Action    = ["s3:ListBucket", "s3:GetBucketLocation"]
    Resource  = "arn:aws:s3:::{bucket}"
  }}])"#,
        role = role(&c.account),
        account = c.account
    );
    c.ws.config(&config(&c.account, bucket, &extra));
    c.ws.apply().expect_ok();
    let created = c.ws.state();
    c.ws.run(&["state", "rm", "vantage_aws_cur_bucket.this"]).expect_ok();
    c.ws.run(&["import", "-no-color", "vantage_aws_cur_bucket.this", bucket])
        .expect_ok();
    c.ws.plan().expect_empty_plan();
    let imported = c.ws.state();
    let values = |s: &serde_json::Value| s["values"]["root_module"]["resources"][0]["values"].clone();
    let (a, b) = (values(&created), values(&imported));
    for key in [
        "id",
        "bucket",
        "region",
        "arn",
        "cross_account_role_arn",
        "lifecycle_days",
        "enforce_tls",
        "notify_vantage",
        "policy",
        "public_access_block",
        "tags",
        "tags_all",
    ] {
        assert_eq!(a[key], b[key], "{key} differs after import");
    }
    c.ws.destroy().expect_ok();
}

#[test]
fn drift_on_every_part_shows_in_the_plan_and_is_repaired() {
    let c = case("acc-curb-drift");
    let bucket = "acc-curb-drift";
    let role = role(&c.account);
    c.ws.config(&config(
        &c.account,
        bucket,
        &format!(r#"  cross_account_role_arn = "{role}""#),
    ));
    c.ws.apply().expect_ok();
    let expected = reference_policy(&c.account, bucket, Some(&role), true);

    // The same policy, reordered and reformatted by someone else: no change.
    let mut reordered = expected.clone();
    if let Some(list) = reordered["Statement"].as_array_mut() {
        list.reverse();
    }
    c.aws.put_bucket_policy(bucket, &format!("{reordered:#}"));
    c.ws.plan().expect_empty_plan();

    // Everything loosened or removed behind Terraform's back.
    c.aws.delete_bucket_policy(bucket);
    c.aws.loosen_public_access_block(bucket);
    c.aws.delete_lifecycle(bucket);
    c.aws.clear_notifications(bucket);
    let plan = c.ws.plan();
    plan.expect_changes();
    for part in ["policy", "block_public_acls", "lifecycle_days", "notify_vantage"] {
        assert!(
            plan.stdout.contains(part),
            "{part} drift shows in the plan:\n{}",
            plan.stdout
        );
    }
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let facts = c.aws.bucket(bucket).expect("bucket");
    assert!(policy_matches(facts.policy.as_ref().expect("policy"), &expected));
    assert_eq!(facts.public_access_block, Some([true; 4]));
    assert_eq!(facts.lifecycle, vec![("remove-old-reports".to_string(), 200)]);
    assert_eq!(facts.topics.len(), 1);

    // A statement dropped from the policy (Vantage's role can no longer read).
    let mut edited = expected.clone();
    if let Some(list) = edited["Statement"].as_array_mut() {
        list.retain(|s| s["Principal"]["AWS"].is_null());
    }
    c.aws.put_bucket_policy(bucket, &edited.to_string());
    let plan = c.ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains(&role), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    let facts = c.aws.bucket(bucket).expect("bucket");
    assert!(policy_matches(facts.policy.as_ref().expect("policy"), &expected));
    c.ws.destroy().expect_ok();
}

#[test]
fn a_bucket_deleted_out_of_band_is_recreated() {
    let c = case("acc-curb-gone");
    let bucket = "acc-curb-gone";
    c.ws.config(&config(&c.account, bucket, ""));
    c.ws.apply().expect_ok();
    c.aws
        .block_on(c.aws.s3.delete_bucket().bucket(bucket).send())
        .expect("DeleteBucket");
    let plan = c.ws.plan();
    plan.expect_changes();
    assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    c.ws.apply().expect_ok();
    assert!(c.aws.bucket(bucket).is_some());
    c.ws.destroy().expect_ok();
}

#[test]
fn a_region_without_a_vantage_topic_is_refused_at_plan_unless_notifications_are_off() {
    let c = case("acc-curb-topic");
    let bucket = "acc-curb-topic";
    c.ws.config(&config(&c.account, bucket, r#"  region = "eu-central-1""#));
    c.ws.plan()
        .expect_error("Vantage has no SNS topic in eu-central-1")
        .expect_error(FIVE_REGIONS)
        .expect_error("notify_vantage = false");

    // The provider's region is the default: the same check applies.
    let mut ws = Workspace::new("acc-curb-topic-default");
    ws.env("AWS_REGION", "ap-northeast-1");
    ws.config(&config(&c.account, bucket, ""));
    ws.plan()
        .expect_error("Vantage has no SNS topic in ap-northeast-1")
        .expect_error(FIVE_REGIONS);

    c.ws.config(&config(
        &c.account,
        bucket,
        "  region         = \"eu-central-1\"\n  notify_vantage = false",
    ));
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let facts = c.aws.bucket(bucket).expect("bucket");
    assert_eq!(facts.region, "eu-central-1");
    assert!(facts.topics.is_empty());
    c.ws.destroy().expect_ok();
}

#[test]
fn bad_input_is_refused_at_plan_time_with_the_attribute() {
    let ws = Workspace::new("acc-curb-bad");
    ws.config(
        r#"resource "vantage_aws_cur_bucket" "this" {
  bucket                       = "Bad_Bucket"
  region                       = "mars"
  cross_account_role_arn       = "vantage_cross_account_connection"
  lifecycle_days               = -1
  additional_policy_statements = "{not json"
  tags                         = { "aws:reserved" = "x" }
}"#,
    );
    let run = ws.plan();
    run.expect_error(r#""Bad_Bucket" is not a valid S3 bucket name"#)
        .expect_error(r#""mars" is not an AWS region name"#)
        .expect_error("is not an IAM role ARN")
        .expect_error("-1 is out of range")
        .expect_error("additional_policy_statements is not valid JSON")
        .expect_error("reserved `aws:` prefix");
    assert!(run.normalized_output().contains("on main.tf line"));
}

#[test]
fn the_policy_names_a_role_created_in_the_same_apply() {
    let c = case("acc-curb-role");
    let bucket = "acc-curb-role";
    c.ws.config(&format!(
        r#"{provider}
resource "vantage_aws_cross_account_role" "this" {{
  name = "acc-curb-role"
}}

resource "vantage_aws_cur_bucket" "this" {{
  bucket                 = "{bucket}"
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
}}
"#,
        provider = provider_block(&c.account)
    ));
    // The role's ARN is unknown at plan time: the policy is computed at apply.
    let plan = c.ws.plan();
    assert!(
        plan.stdout.contains("policy") && plan.stdout.contains("(known after apply)"),
        "{}",
        plan.stdout
    );
    c.ws.apply().expect_ok();
    c.ws.plan().expect_empty_plan();
    let role_arn = format!("arn:aws:iam::{}:role/acc-curb-role", c.account);
    let facts = c.aws.bucket(bucket).expect("bucket");
    let expected = reference_policy(&c.account, bucket, Some(&role_arn), true);
    assert!(policy_matches(facts.policy.as_ref().expect("policy"), &expected));
    c.ws.destroy().expect_ok();
}

/// Faults are armed on a devstack of this test's own, so no other test trips on them.
#[test]
fn a_failure_half_way_keeps_the_bucket_and_the_next_apply_finishes() {
    let ds = Devstack::start(&[]);
    let ws = Workspace::on(&ds, "acc-curb-partial");
    let aws = Billing::for_account(&ds, acceptance_tests::aws::account_id());
    let bucket = "acc-curb-partial";
    ws.config(&format!(
        "resource \"vantage_aws_cur_bucket\" \"this\" {{\n  bucket = \"{bucket}\"\n}}\n"
    ));

    // S3 right after a put: the policy is not readable yet (twice), then it is.
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "s3:GetBucketPolicy", "count": 2, "status": 404,
            "body": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucketPolicy</Code><Message>The bucket policy does not exist</Message></Error>"}),
    );
    // The lifecycle step fails for good (more answers than the SDK's own retries).
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "s3:PutBucketLifecycleConfiguration", "count": 10, "status": 500}),
    );
    ws.apply().expect_error("Could not set the CUR bucket's lifecycle rule");
    let facts = aws.bucket(bucket).expect("the bucket is kept, not orphaned");
    assert!(facts.policy.is_some(), "the steps before the failure are done");
    let state = ws.run(&["state", "list"]);
    assert!(
        state.stdout.contains("vantage_aws_cur_bucket.this"),
        "tracked in state: {}",
        state.stdout
    );

    let r = reqwest::blocking::Client::new()
        .delete(format!("{}/faults", ds.info.admin_url))
        .send()
        .expect("disarm faults");
    assert!(r.status().is_success());
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let facts = aws.bucket(bucket).expect("bucket");
    assert_eq!(facts.lifecycle, vec![("remove-old-reports".to_string(), 200)]);
    assert_eq!(facts.topics.len(), 1);
    ws.destroy().expect_ok();
}

/// `timeouts.create` bounds the whole create, not each step: a slow PutPublicAccessBlock leaves
/// the policy step only what is left (it would get the full 5 s again otherwise, and the create
/// would take about 9 s). The bucket is kept as partial state; the next apply finishes it.
#[test]
fn a_slow_create_ends_at_its_timeout_with_the_bucket_in_state() {
    use std::time::{Duration, Instant};

    let ds = Devstack::start(&[]);
    let bucket = "acc-curb-create-budget";
    let ws = Workspace::on(&ds, bucket);
    let aws = Billing::for_account(&ds, acceptance_tests::aws::account_id());
    ws.config(&format!(
        "resource \"vantage_aws_cur_bucket\" \"this\" {{\n  bucket = \"{bucket}\"\n  timeouts {{\n    create = \"5s\"\n  }}\n}}\n"
    ));
    // Planned first, then the faults armed and only the apply timed: the bound is about the
    // create, and a loaded machine's plan time is not.
    ws.run(&["plan", "-out=tfplan", "-no-color"]).expect_ok();
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "s3:PutPublicAccessBlock", "delay_ms": 4000, "count": 1}),
    );
    // S3's "not yet" for a policy naming a role IAM has not propagated, slowly, every time.
    ds.admin_post(
        "faults",
        serde_json::json!({"service": "aws", "match": "s3:PutBucketPolicy", "count": 1000, "status": 400, "delay_ms": 1500,
            "body": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MalformedPolicy</Code><Message>Invalid principal in policy</Message></Error>"}),
    );
    let started = Instant::now();
    let failed = ws.run(&["apply", "-auto-approve", "-no-color", "tfplan"]);
    let took = started.elapsed();
    failed
        .expect_error("Could not apply the CUR bucket policy")
        .expect_error(r"`timeouts.create` \(5s\) ran out while waiting for S3 PutBucketPolicy");
    assert!(took < Duration::from_secs(8), "the create took {took:?}");
    let state = ws.run(&["state", "list"]);
    assert!(
        state.stdout.contains("vantage_aws_cur_bucket.this"),
        "the bucket is in state: {}",
        state.stdout
    );
    let facts = aws.bucket(bucket).expect("the bucket is kept, not orphaned");
    assert_eq!(facts.public_access_block, Some([true; 4]), "the step before is done");

    acceptance_tests::vantage_checks::clear_faults(&ds);
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    assert!(aws.bucket(bucket).is_some_and(|b| b.policy.is_some()));
    ws.destroy().expect_ok();
}
