//! The devstack's one "Vantage account": its identity towards AWS (principal, external id) and
//! the policy documents `GET /v1/integrations/aws/info` hands out.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ids;

/// Vantage's AWS account, where every account's principal role lives.
pub const VANTAGE_AWS_ACCOUNT: &str = "630399649041";

/// The SNS topic Vantage listens on for new CUR files, and the regions it has one in
/// (`arn:aws:sns:<region>:630399649041:cost-and-usage-report-uploaded`). They exist in AWS; in
/// the upstream emulator devstack creates them at startup, since an S3 that checks notification
/// destinations (LocalStack does, as AWS does) refuses a bucket notification to a missing topic.
pub const CUR_TOPIC_NAME: &str = "cost-and-usage-report-uploaded";
pub const CUR_TOPIC_REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "eu-west-2", "ap-southeast-1"];

/// Example policies published by Vantage (`root`, `autopilot`, `cloudwatch`, `resources`).
const EXAMPLE_POLICIES: &str = include_str!("policies.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub external_id: String,
    /// Vantage's principal: the role that assumes customers' cross-account roles.
    pub iam_role_arn: String,
    pub iam_role_id: String,
    pub vantage_id: String,
    /// The workspace integrations belong to unless changed through v2.
    pub workspace_token: String,
}

impl Account {
    pub fn generate() -> Self {
        Self {
            external_id: ids::external_id(),
            iam_role_arn: format!(
                "arn:aws:iam::{VANTAGE_AWS_ACCOUNT}:role/vantage-account-sync-{}",
                ids::uuid_v4()
            ),
            iam_role_id: ids::iam_role_id(),
            vantage_id: ids::uuid_v4(),
            workspace_token: ids::workspace_token(),
        }
    }

    /// The `AwsProviderCredential` body.
    pub fn provider_info(&self, policies: &Map<String, Value>) -> Value {
        json!({
            "external_id": self.external_id,
            "iam_role_arn": self.iam_role_arn,
            "iam_role_id": self.iam_role_id,
            "vantage_id": self.vantage_id,
            "policies": policies,
        })
    }
}

/// Policy name -> the policy document serialised as a string, as the real API returns them.
pub fn policies() -> anyhow::Result<Map<String, Value>> {
    let examples: Map<String, Value> = serde_json::from_str(EXAMPLE_POLICIES).context("embedded policies.json")?;
    let mut out = Map::new();
    for name in ["root", "autopilot", "cloudwatch", "resources"] {
        let document = examples
            .get(name)
            .with_context(|| format!("embedded policies.json lacks '{name}'"))?;
        out.insert(name.to_owned(), Value::String(document.to_string()));
    }
    // Vantage does not publish this one; a plausible read-only stand-in.
    let s3_request_metrics = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "VantageS3RequestMetricsReadOnly",
            "Effect": "Allow",
            "Action": [
                "s3:GetMetricsConfiguration",
                "s3:ListBucketMetricsConfigurations",
                "cloudwatch:GetMetricData"
            ],
            "Resource": "*"
        }]
    });
    out.insert(
        "s3_request_metrics".to_owned(),
        Value::String(s3_request_metrics.to_string()),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_is_a_json_string_of_a_policy_document() {
        let policies = policies().expect("embedded policies load");
        let names: Vec<&str> = policies.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["root", "autopilot", "cloudwatch", "resources", "s3_request_metrics"]
        );
        for (name, value) in &policies {
            let text = value.as_str().expect("policy is a string");
            let doc: Value = serde_json::from_str(text).expect("policy string is JSON");
            assert_eq!(doc["Version"], "2012-10-17", "{name}");
            assert!(doc["Statement"].is_array(), "{name}");
        }
    }

    #[test]
    fn generated_identity_has_vantage_shapes() {
        let account = Account::generate();
        assert!(
            account
                .iam_role_arn
                .starts_with("arn:aws:iam::630399649041:role/vantage-account-sync-")
        );
        assert_eq!(account.external_id.len(), 22);
        assert!(account.workspace_token.starts_with("wrkspc_"));
    }
}
