//! The bucket check CUR and Data Exports make before they accept a destination, and before each
//! delivery: the bucket exists (in the expected region) and its bucket policy lets the billing
//! service principal do what it needs.
//!
//! `aws:SourceArn` is tried with two values, and access is granted when either works: the
//! report's (or export's) own ARN, and the wildcard form `...:definition/*` (`...:export/*`).
//! AWS's own documented CUR bucket policy compares `aws:SourceArn` with `StringEquals` against
//! `arn:aws:cur:us-east-1:<acct>:definition/*`, and it works, so billing evidently presents
//! that value; a policy written for one report's ARN must keep working too.

use serde_json::Value;

use super::policy::{self, Decision, Principal, Request};
use super::upstream::{BucketFacts, Upstream, UpstreamError};

pub const BILLING_REPORTS: &str = "billingreports.amazonaws.com";
pub const DATA_EXPORTS: &str = "bcm-data-exports.amazonaws.com";

/// The outcome of a bucket check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allowed,
    NoBucket,
    WrongRegion {
        actual: String,
    },
    /// The policy is missing or does not allow something; says what.
    Denied(String),
}

/// Who asks, on whose behalf, for what.
pub struct ServiceAccess<'a> {
    pub principal: &'a str,
    pub account: &'a str,
    /// Candidate `aws:SourceArn` values (see the module docs).
    pub source_arns: Vec<String>,
    /// `(action, resource ARN)` pairs that must all be allowed.
    pub needs: Vec<(&'static str, String)>,
}

impl ServiceAccess<'_> {
    /// What CUR needs on a bucket: read its ACL and policy, write objects.
    pub fn cur<'a>(account: &'a str, report_arn: &str, bucket: &str) -> ServiceAccess<'a> {
        let wildcard = wildcard_arn(report_arn, "definition/");
        ServiceAccess {
            principal: BILLING_REPORTS,
            account,
            source_arns: vec![report_arn.to_owned(), wildcard],
            needs: vec![
                ("s3:GetBucketAcl", bucket_arn(bucket)),
                ("s3:GetBucketPolicy", bucket_arn(bucket)),
                ("s3:PutObject", format!("{}/*", bucket_arn(bucket))),
            ],
        }
    }

    /// What Data Exports needs on a bucket: read its policy, write objects.
    pub fn export<'a>(account: &'a str, export_arn: &str, bucket: &str) -> ServiceAccess<'a> {
        let wildcard = wildcard_arn(export_arn, "export/");
        ServiceAccess {
            principal: DATA_EXPORTS,
            account,
            source_arns: vec![export_arn.to_owned(), wildcard],
            needs: vec![
                ("s3:GetBucketPolicy", bucket_arn(bucket)),
                ("s3:PutObject", format!("{}/*", bucket_arn(bucket))),
            ],
        }
    }

    /// Only the write of one object (a delivery).
    pub fn write_only(mut self, bucket: &str, key: &str) -> Self {
        self.needs = vec![("s3:PutObject", format!("{}/{key}", bucket_arn(bucket)))];
        self
    }

    /// Evaluates the bucket policy (already fetched) against every need.
    pub fn evaluate(&self, policy_document: Option<&str>) -> Verdict {
        let Some(document) = policy_document else {
            return Verdict::Denied("the bucket has no bucket policy".to_owned());
        };
        let policy: Value = match policy::parse(document) {
            Ok(policy) => policy,
            Err(e) => return Verdict::Denied(e),
        };
        let principal = Principal::Service(self.principal.to_owned());
        for (action, resource) in &self.needs {
            let allowed = self.source_arns.iter().any(|source_arn| {
                let context = [
                    ("aws:SourceArn", source_arn.as_str()),
                    ("aws:SourceAccount", self.account),
                    ("aws:SecureTransport", "true"),
                    ("aws:PrincipalIsAWSService", "true"),
                    ("aws:PrincipalServiceName", self.principal),
                ];
                let request = Request {
                    principal: &principal,
                    action,
                    resource,
                    context: &context,
                };
                policy::evaluate(&policy, &request) == Decision::Allow
            });
            if !allowed {
                return Verdict::Denied(format!(
                    "the bucket policy does not allow {} to {action} on {resource}",
                    self.principal
                ));
            }
        }
        Verdict::Allowed
    }

    /// Fetches the bucket's facts from the upstream and checks them.
    pub async fn check(
        &self,
        upstream: &Upstream,
        bucket: &str,
        expected_region: Option<&str>,
    ) -> Result<Verdict, UpstreamError> {
        match upstream.bucket(self.account, bucket).await? {
            BucketFacts::Missing => Ok(Verdict::NoBucket),
            BucketFacts::Exists { region, policy } => {
                if let Some(expected) = expected_region
                    && expected != region
                {
                    return Ok(Verdict::WrongRegion { actual: region });
                }
                Ok(self.evaluate(policy.as_deref()))
            }
        }
    }
}

pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `arn:...:definition/name` -> `arn:...:definition/*`.
fn wildcard_arn(arn: &str, marker: &str) -> String {
    match arn.find(marker) {
        Some(at) => format!("{}*", &arn[..at + marker.len()]),
        None => arn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "123456789012";

    fn documented_cur_policy(source_condition: &str) -> String {
        json!({"Version": "2008-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
             "Action": ["s3:GetBucketAcl", "s3:GetBucketPolicy"], "Resource": "arn:aws:s3:::cur",
             "Condition": {source_condition: {"aws:SourceArn": "arn:aws:cur:us-east-1:123456789012:definition/*",
                                              "aws:SourceAccount": ACCOUNT}}},
            {"Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": "arn:aws:s3:::cur/*",
             "Condition": {source_condition: {"aws:SourceArn": "arn:aws:cur:us-east-1:123456789012:definition/*",
                                              "aws:SourceAccount": ACCOUNT}}}
        ]})
        .to_string()
    }

    #[test]
    fn documented_policy_passes_with_string_equals_and_string_like() {
        let access = ServiceAccess::cur(ACCOUNT, "arn:aws:cur:us-east-1:123456789012:definition/r", "cur");
        assert_eq!(
            access.evaluate(Some(&documented_cur_policy("StringEquals"))),
            Verdict::Allowed
        );
        assert_eq!(
            access.evaluate(Some(&documented_cur_policy("StringLike"))),
            Verdict::Allowed
        );
    }

    #[test]
    fn wrong_account_or_missing_statement_is_denied() {
        let other = ServiceAccess::cur("210987654321", "arn:aws:cur:us-east-1:210987654321:definition/r", "cur");
        assert!(matches!(
            other.evaluate(Some(&documented_cur_policy("StringEquals"))),
            Verdict::Denied(_)
        ));
        let access = ServiceAccess::cur(ACCOUNT, "arn:aws:cur:us-east-1:123456789012:definition/r", "cur");
        assert!(matches!(access.evaluate(None), Verdict::Denied(_)));
        let exports_only = ServiceAccess::export(
            ACCOUNT,
            "arn:aws:bcm-data-exports:us-east-1:123456789012:export/e-1",
            "cur",
        );
        let Verdict::Denied(why) = exports_only.evaluate(Some(&documented_cur_policy("StringLike"))) else {
            panic!("billingreports statements do not cover bcm-data-exports");
        };
        assert!(why.contains("bcm-data-exports.amazonaws.com"), "{why}");
    }
}
