//! `vantage_aws_cur_backfill`: historical report files copied into the CUR bucket under the
//! report's prefix, idempotently, and the AWS Support request for periods without files.
//! Checked through S3 with the SDK.

use acceptance_tests::aws_billing::{Billing, account_for, provider_block};
use acceptance_tests::{Devstack, Workspace};

const HISTORY: [&str; 3] = [
    "history/VantageReport/20260101-20260201/VantageReport-00001.csv.gz",
    "history/VantageReport/20260101-20260201/VantageReport-Manifest.json",
    "history/VantageReport/20260201-20260301/VantageReport-00001.csv.gz",
];

fn config(account: &str, source: &str, bucket: &str, periods: &str) -> String {
    format!(
        r#"{provider}
resource "vantage_aws_cur_bucket" "this" {{
  bucket        = "{bucket}"
  force_destroy = true
}}

resource "vantage_aws_cur_backfill" "this" {{
  source_bucket      = "{source}"
  source_prefix      = "history/VantageReport"
  bucket             = vantage_aws_cur_bucket.this.bucket
  destination_prefix = "daily-v1/VantageReport"
  organization       = "o-exampleorg"
  periods            = {periods}
}}

output "copied" {{ value = vantage_aws_cur_backfill.this.copied_files }}
output "files" {{ value = vantage_aws_cur_backfill.this.files }}
output "missing" {{ value = vantage_aws_cur_backfill.this.periods_without_files }}
output "request" {{ value = vantage_aws_cur_backfill.this.support_request }}
"#,
        provider = provider_block(account)
    )
}

#[test]
fn history_is_copied_once_again_when_changed_and_missing_periods_become_a_support_request() {
    let name = "acc-backfill";
    let account = account_for(name);
    let aws = Billing::for_account(Devstack::shared(), &account);
    let (source, bucket) = ("acc-backfill-history", "acc-backfill-cur");
    aws.create_bucket(source);
    for key in HISTORY {
        aws.put_object(source, key, format!("data of {key}").as_bytes());
    }
    let ws = Workspace::new(name);
    ws.config(&config(
        &account,
        source,
        bucket,
        r#"["2025-12", "2026-01", "2026-02"]"#,
    ));
    ws.apply().expect_ok();

    let out = ws.outputs();
    assert_eq!(
        (out["files"].as_i64(), out["copied"].as_i64()),
        (Some(2), Some(2)),
        "{out}"
    );
    let copies = aws.objects(bucket);
    for period in ["20260101-20260201", "20260201-20260301"] {
        let key = format!("daily-v1/VantageReport/{period}/VantageReport-00001.csv.gz");
        assert!(copies.contains(&key), "{key} in {copies:?}");
    }
    assert!(
        !copies.iter().any(|k| k.ends_with("Manifest.json")),
        "manifests are not report files"
    );
    assert_eq!(out["missing"], serde_json::json!(["2025-12"]));
    let request = out["request"].as_str().unwrap_or_default();
    for needle in ["o-exampleorg", "\"VantageReport\"", bucket, "2025-12"] {
        assert!(request.contains(needle), "{needle} in {request}");
    }

    // Idempotent: nothing to copy, nothing planned.
    ws.plan().expect_empty_plan();
    let again = ws.apply();
    again.expect_ok();
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);

    // A file changed at the source is copied again, and only that one.
    aws.put_object(source, HISTORY[2], b"corrected data for February");
    let plan = ws.plan();
    plan.expect_changes();
    assert!(
        plan.normalized_output()
            .contains("vantage_aws_cur_backfill.this will be updated in-place"),
        "{}",
        plan.stdout
    );
    ws.apply().expect_ok();
    assert_eq!(ws.outputs()["copied"].as_i64(), Some(1));
    ws.plan().expect_empty_plan();

    // Every period has files: no support request.
    ws.config(&config(&account, source, bucket, r#"["2026-01", "2026-02"]"#));
    ws.apply().expect_ok();
    assert!(ws.outputs()["request"].is_null());

    ws.destroy().expect_ok();
    assert_eq!(aws.objects(source).len(), HISTORY.len(), "the source is left alone");
}

#[test]
fn bad_periods_and_a_source_that_is_the_cur_bucket_are_refused_at_plan_time() {
    let name = "acc-backfill-invalid";
    let account = account_for(name);
    let ws = Workspace::new(name);
    ws.config(&config(&account, "acc-backfill-x", "acc-backfill-y", r#"["2026-13"]"#));
    ws.plan().expect_error("periods.*not a billing period: write `YYYY-MM`");
    ws.config(&config(&account, "acc-backfill-same", "acc-backfill-same", "[]"));
    ws.plan().expect_error("The source is the CUR bucket");
}
