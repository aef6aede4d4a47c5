//! `vantage_aws_cur_bucket_access` on a bucket the user already has: Vantage's statements
//! merged beside the user's, the notification added, drift repaired, and only Vantage's
//! removed on destroy. Checked through S3 with the SDK.

use acceptance_tests::aws_billing::{Billing, account_for, provider_block, role_in};
use acceptance_tests::{Devstack, Workspace};
use serde_json::{Value, json};

fn config(account: &str, bucket: &str) -> String {
    format!(
        r#"{provider}
resource "vantage_aws_cur_bucket_access" "this" {{
  bucket                 = "{bucket}"
  cross_account_role_arn = "{role}"
}}

output "statements" {{ value = vantage_aws_cur_bucket_access.this.vantage_statements }}
"#,
        provider = provider_block(account),
        role = role_in(account),
    )
}

fn sids(policy: &Option<Value>) -> Vec<String> {
    let mut sids: Vec<String> = policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_string))
        .collect();
    sids.sort();
    sids
}

#[test]
fn vantage_statements_join_an_existing_policy_and_leave_it_as_it_was() {
    let name = "acc-bucket-access";
    let account = account_for(name);
    let aws = Billing::for_account(Devstack::shared(), &account);
    let bucket = "acc-bucket-access";
    aws.create_bucket(bucket);
    let theirs = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "TheirAuditors", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}"),
    }]});
    aws.put_bucket_policy(bucket, &theirs.to_string());

    let ws = Workspace::new(name);
    ws.config(&config(&account, bucket));
    ws.apply().expect_ok();
    ws.plan().expect_empty_plan();
    let facts = aws.bucket(bucket).expect("bucket");
    assert_eq!(
        sids(&facts.policy),
        [
            "TheirAuditors",
            "VantageBillingReadBucket",
            "VantageBillingWriteReports",
            "VantageExportsWriteReports",
            "VantageReadReports"
        ]
    );
    assert!(
        facts
            .topics
            .iter()
            .any(|(arn, _, suffix)| arn.ends_with(":cost-and-usage-report-uploaded")
                && suffix.as_deref() == Some(".csv.gz")),
        "{:?}",
        facts.topics
    );

    // Someone rewrites the policy with only their statement: drift, repaired in place.
    aws.put_bucket_policy(bucket, &theirs.to_string());
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains("vantage_aws_cur_bucket_access.this will be updated in-place"),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert_eq!(sids(&aws.bucket(bucket).expect("bucket").policy).len(), 5);
    ws.plan().expect_empty_plan();

    // Import by bucket name, then nothing to do.
    ws.run(&["state", "rm", "vantage_aws_cur_bucket_access.this"])
        .expect_ok();
    ws.run(&["import", "-no-color", "vantage_aws_cur_bucket_access.this", bucket])
        .expect_ok();
    ws.plan().expect_empty_plan();

    ws.destroy().expect_ok();
    let after = aws.bucket(bucket).expect("the bucket stays");
    assert_eq!(sids(&after.policy), ["TheirAuditors"], "only Vantage's statements go");
    assert!(after.topics.is_empty(), "{:?}", after.topics);
}

#[test]
fn a_bucket_that_does_not_exist_is_refused_at_plan_time() {
    let name = "acc-bucket-access-missing";
    let account = account_for(name);
    let ws = Workspace::new(name);
    ws.config(&config(&account, "acc-bucket-access-nowhere"));
    ws.plan()
        .expect_error("There is no S3 bucket named \"acc-bucket-access-nowhere\".*vantage_aws_cur_bucket");
}
