//! AWS settings from the provider block. SDK clients are derived from one
//! shared configuration, built on first use only: a plan that touches only
//! Vantage never resolves AWS credentials, and provider start-up (paid 3-5
//! times per Terraform command) stays cheap.

use std::collections::BTreeMap;

use tfplugin::log::Sensitive;

/// CUR and BCM Data Exports exist only in us-east-1 (commercial partition).
pub const BILLING_REGION: &str = "us-east-1";

#[derive(Debug, Clone, Default)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<Sensitive<String>>,
    pub session_name: Option<String>,
}

/// Per-service endpoint overrides (LocalStack, moto, the devstack).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub iam: Option<String>,
    pub sts: Option<String>,
    pub s3: Option<String>,
    pub cur: Option<String>,
    pub bcm_data_exports: Option<String>,
    pub organizations: Option<String>,
    pub cloudformation: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<AssumeRole>,
    /// One endpoint for every service, for LocalStack-style stacks.
    pub endpoint: Option<String>,
    pub endpoints: Endpoints,
    pub default_tags: BTreeMap<String, String>,
}

impl AwsSettings {
    /// The endpoint for a service: its own override, else the shared one.
    pub fn endpoint_for(&self, service: &str) -> Option<&str> {
        let specific = match service {
            "iam" => &self.endpoints.iam,
            "sts" => &self.endpoints.sts,
            "s3" => &self.endpoints.s3,
            "cur" => &self.endpoints.cur,
            "bcm_data_exports" => &self.endpoints.bcm_data_exports,
            "organizations" => &self.endpoints.organizations,
            "cloudformation" => &self.endpoints.cloudformation,
            _ => &None,
        };
        specific.as_deref().or(self.endpoint.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_endpoint_overrides_the_shared_one() {
        let settings = AwsSettings {
            endpoint: Some("http://shared".into()),
            endpoints: Endpoints {
                s3: Some("http://s3".into()),
                ..Endpoints::default()
            },
            ..AwsSettings::default()
        };
        assert_eq!(settings.endpoint_for("s3"), Some("http://s3"));
        assert_eq!(settings.endpoint_for("iam"), Some("http://shared"));
    }
}
