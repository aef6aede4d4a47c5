//! `GET /v1/integrations/aws/info`: what Vantage needs in the customer's
//! AWS account (its principal, the account's external id, its policies), and
//! what that means for a role's trust policy.

use tfplugin::CancellationToken;

use super::client::{VantageClient, VantageError};
use crate::arn::parse_role_arn;

pub const AWS_INFO_PATH: &str = "/v1/integrations/aws/info";

/// Vantage's principal account: its role and its root may be trusted.
const VANTAGE_ACCOUNT: &str = "630399649041";

/// `GET /v1/integrations/aws/info`: what Vantage needs in the customer's account.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AwsProviderInfo {
    pub external_id: String,
    pub iam_role_arn: String,
    #[serde(default)]
    pub iam_role_id: Option<String>,
    #[serde(default)]
    pub vantage_id: Option<String>,
    pub policies: AwsPolicies,
}

/// Vantage's policy documents, each a JSON string.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AwsPolicies {
    #[serde(default)]
    pub root: Option<String>,
    #[serde(default)]
    pub autopilot: Option<String>,
    #[serde(default)]
    pub cloudwatch: Option<String>,
    #[serde(default)]
    pub resources: Option<String>,
    #[serde(default)]
    pub s3_request_metrics: Option<String>,
}

/// Reads the provider info (retried as every GET is, see the client).
pub async fn provider_info(
    vantage: &VantageClient,
    cancel: &CancellationToken,
) -> Result<AwsProviderInfo, VantageError> {
    vantage.get(cancel, AWS_INFO_PATH).await
}

impl AwsProviderInfo {
    /// Why Vantage cannot assume `role_arn`, judged from its URL-decoded
    /// `trust_policy`: it must name Vantage's principal (its role, its
    /// account or that account's root) and require the external id. `None`
    /// when the policy does both.
    pub fn trust_problem(&self, role_arn: &str, trust_policy: &str) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_str(trust_policy).ok()?;
        let mut strings = Vec::new();
        collect_strings(&doc, &mut strings);
        let principal_account = parse_role_arn(&self.iam_role_arn)
            .map(|r| r.account_id)
            .unwrap_or_else(|_| VANTAGE_ACCOUNT.to_string());
        let trusted = strings.iter().any(|s| {
            *s == self.iam_role_arn || *s == principal_account || *s == format!("arn:aws:iam::{principal_account}:root")
        });
        if !trusted {
            return Some(format!(
                "the trust policy of {role_arn} does not name Vantage's principal {}",
                self.iam_role_arn
            ));
        }
        if !strings.iter().any(|s| *s == self.external_id) {
            return Some(format!(
                "the trust policy of {role_arn} does not require your Vantage external id (sts:ExternalId)"
            ));
        }
        None
    }
}

fn collect_strings<'v>(v: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(m) => m.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> AwsProviderInfo {
        AwsProviderInfo {
            external_id: "ext-123".into(),
            iam_role_arn: "arn:aws:iam::630399649041:role/vantage-account-sync".into(),
            iam_role_id: None,
            vantage_id: None,
            policies: AwsPolicies::default(),
        }
    }

    #[test]
    fn trust_problems_name_what_is_missing() {
        let role = "arn:aws:iam::123456789012:role/v";
        let trust = |principal: &str, external_id: &str| {
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]})
            .to_string()
        };
        let i = info();
        assert_eq!(
            i.trust_problem(role, &trust("arn:aws:iam::630399649041:root", "ext-123")),
            None
        );
        assert!(
            i.trust_problem(role, &trust("arn:aws:iam::111122223333:root", "ext-123"))
                .is_some_and(|p| p.contains("does not name Vantage's principal"))
        );
        assert!(
            i.trust_problem(role, &trust("arn:aws:iam::630399649041:root", "other"))
                .is_some_and(|p| p.contains("external id"))
        );
    }
}
