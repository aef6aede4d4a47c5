//! The checks Vantage makes against AWS when an integration is registered or read: can it
//! assume the role, can the role read the bucket. The Vantage stand-in only talks to this trait;
//! the real implementation (through the AWS front door and its upstream emulator) replaces
//! [`AcceptAll`] when it arrives.

use std::time::SystemTime;

use async_trait::async_trait;

/// What verifying a role learned about it.
#[derive(Debug, Clone, Default)]
pub struct RoleFacts {
    /// When IAM created the role, if known. The propagation delay counts from here; without it,
    /// from the first time the stand-in saw the role.
    pub created_at: Option<SystemTime>,
}

#[async_trait]
pub trait AwsVerifier: Send + Sync {
    /// Ok when `principal_arn` can assume `role_arn` with `external_id`; Err says why not, in a
    /// phrase that reads after "Vantage cannot assume <role>: ".
    async fn verify_role(&self, role_arn: &str, principal_arn: &str, external_id: &str) -> Result<RoleFacts, String>;

    /// Ok when `role_arn` can list and read `bucket_arn`; Err says why not.
    async fn verify_bucket(&self, role_arn: &str, bucket_arn: &str) -> Result<(), String>;
}

/// Accepts every role and bucket: the behaviour until the AWS front door exists.
#[derive(Debug, Default)]
pub struct AcceptAll;

#[async_trait]
impl AwsVerifier for AcceptAll {
    async fn verify_role(&self, _: &str, _: &str, _: &str) -> Result<RoleFacts, String> {
        Ok(RoleFacts::default())
    }

    async fn verify_bucket(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
}
