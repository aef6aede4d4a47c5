//! The checks Vantage makes against AWS when an integration is registered or read: can it
//! assume the role, can the role read the bucket. The Vantage stand-in only talks to the
//! [`AwsVerifier`] trait; [`UpstreamVerifier`] answers through the upstream emulator with the
//! AWS SDK, reading the role, its trust policy, its inline and attached policies and the bucket
//! policy, and evaluating them with [`super::policy`].

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata;
use serde_json::Value;

use super::policy::{self, Decision, Principal, Request};
use super::upstream::{BucketFacts, Upstream, describe};
use crate::vantage::account::VANTAGE_AWS_ACCOUNT;

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

    /// Ok when `role_arn` can read objects of `bucket_arn`; Err says why not.
    async fn verify_bucket(&self, role_arn: &str, bucket_arn: &str) -> Result<(), String>;
}

/// Accepts every role and bucket (`--accept-any-role`): for tests of the Vantage API alone.
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

/// Where a registration's external id comes from, named instead of the secret itself.
const EXTERNAL_ID_SOURCE: &str = "the external_id from GET /v1/integrations/aws/info";

pub struct UpstreamVerifier {
    upstream: Arc<Upstream>,
}

impl UpstreamVerifier {
    pub fn new(upstream: Arc<Upstream>) -> Self {
        Self { upstream }
    }

    async fn role(&self, role_arn: &str) -> Result<aws_sdk_iam::types::Role, String> {
        let (account, name) = split_role(role_arn)?;
        let out = self
            .upstream
            .iam(account)
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchEntity") {
                    "the role does not exist (IAM GetRole answered NoSuchEntity)".to_owned()
                } else {
                    format!(
                        "devstack could not read the role through the upstream: {}",
                        describe(&e)
                    )
                }
            })?;
        let role = out
            .role()
            .cloned()
            .ok_or_else(|| "IAM GetRole returned no role".to_owned())?;
        if role.arn() != role_arn {
            return Err(format!(
                "the role does not exist at this ARN (a role named {name} exists as {})",
                role.arn()
            ));
        }
        Ok(role)
    }

    /// The role's identity policies: inline (`GetRolePolicy`) and attached managed ones.
    async fn identity_policies(&self, role_arn: &str) -> Result<Vec<(String, Value)>, String> {
        let (account, name) = split_role(role_arn)?;
        let iam = self.upstream.iam(account);
        let upstream_error = |e: String| format!("devstack could not read the role's policies: {e}");
        let mut out = Vec::new();
        let inline = iam
            .list_role_policies()
            .role_name(name)
            .max_items(1000)
            .send()
            .await
            .map_err(|e| upstream_error(describe(&e)))?;
        for policy_name in inline.policy_names() {
            let policy = iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .send()
                .await
                .map_err(|e| upstream_error(describe(&e)))?;
            let document =
                policy::parse(policy.policy_document()).map_err(|e| format!("its inline policy {policy_name}: {e}"))?;
            out.push((format!("inline policy {policy_name}"), document));
        }
        let attached = iam
            .list_attached_role_policies()
            .role_name(name)
            .max_items(1000)
            .send()
            .await
            .map_err(|e| upstream_error(describe(&e)))?;
        for policy in attached.attached_policies() {
            let Some(arn) = policy.policy_arn() else { continue };
            let meta = iam
                .get_policy()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| upstream_error(describe(&e)))?;
            let Some(version) = meta.policy().and_then(|p| p.default_version_id()) else {
                continue;
            };
            let version = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| upstream_error(describe(&e)))?;
            let Some(document) = version.policy_version().and_then(|v| v.document()) else {
                continue;
            };
            let document = policy::parse(document).map_err(|e| format!("its attached policy {arn}: {e}"))?;
            out.push((format!("attached policy {arn}"), document));
        }
        Ok(out)
    }
}

/// `arn:aws:iam::<account>:role/<path/>name` -> (account, name).
fn split_role(role_arn: &str) -> Result<(&str, &str), String> {
    let account = role_arn
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("{role_arn} is not a role ARN"))?;
    let name = role_arn
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{role_arn} is not a role ARN"))?;
    Ok((account, name))
}

#[async_trait]
impl AwsVerifier for UpstreamVerifier {
    async fn verify_role(&self, role_arn: &str, principal_arn: &str, external_id: &str) -> Result<RoleFacts, String> {
        let role = self.role(role_arn).await?;
        let document = role
            .assume_role_policy_document()
            .ok_or_else(|| format!("the role {role_arn} has no trust policy"))?;
        let trust = policy::parse(document).map_err(|e| format!("its trust policy: {e}"))?;
        trust_allows(&trust, role_arn, principal_arn, external_id)?;
        Ok(RoleFacts {
            created_at: SystemTime::try_from(*role.create_date()).ok(),
        })
    }

    async fn verify_bucket(&self, role_arn: &str, bucket_arn: &str) -> Result<(), String> {
        let bucket = bucket_arn
            .rsplit(':')
            .next()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("{bucket_arn} is not a bucket ARN"))?;
        let (account, _) = split_role(role_arn)?;
        let facts = self
            .upstream
            .bucket(account, bucket)
            .await
            .map_err(|e| format!("devstack could not read the bucket through the upstream: {e}"))?;
        let bucket_policy = match facts {
            BucketFacts::Missing => return Err(format!("the bucket {bucket} does not exist")),
            BucketFacts::Exists { policy: None, .. } => None,
            BucketFacts::Exists {
                policy: Some(document), ..
            } => Some(policy::parse(&document).map_err(|e| format!("the bucket policy of {bucket}: {e}"))?),
        };
        let role = self.role(role_arn).await?;
        let identity = self.identity_policies(role_arn).await?;
        bucket_readable(role_arn, role.role_id(), bucket, &identity, bucket_policy.as_ref())
    }
}

/// The trust policy must let exactly Vantage's principal (or its account root) assume the role,
/// and only with this account's external id.
fn trust_allows(trust: &Value, role_arn: &str, principal_arn: &str, external_id: &str) -> Result<(), String> {
    let principal = Principal::iam(principal_arn, None);
    let ask = |external_id: Option<&str>, who: &Principal| {
        let mut context = vec![
            ("aws:PrincipalArn", principal_arn),
            ("aws:PrincipalAccount", VANTAGE_AWS_ACCOUNT),
            ("aws:SecureTransport", "true"),
        ];
        if let Some(id) = external_id {
            context.push(("sts:ExternalId", id));
        }
        policy::evaluate(
            trust,
            &Request {
                principal: who,
                action: "sts:AssumeRole",
                resource: role_arn,
                context: &context,
            },
        )
    };
    match ask(Some(external_id), &principal) {
        Decision::Allow => {}
        Decision::ExplicitDeny => {
            return Err(format!(
                "the trust policy of {role_arn} explicitly denies sts:AssumeRole to {principal_arn}"
            ));
        }
        Decision::NotAllowed => {
            let request = Request {
                principal: &principal,
                action: "sts:AssumeRole",
                resource: role_arn,
                context: &[],
            };
            return Err(if policy::allows_ignoring_conditions(trust, &request) {
                format!(
                    "the trust policy of {role_arn} does not allow sts:AssumeRole with this account's external id: \
                     its conditions do not accept sts:ExternalId = {EXTERNAL_ID_SOURCE}"
                )
            } else {
                format!(
                    "the trust policy of {role_arn} does not allow {principal_arn} to sts:AssumeRole (the \
                     principal must be that role ARN, or arn:aws:iam::{VANTAGE_AWS_ACCOUNT}:root)"
                )
            });
        }
    }
    let lax = [None, Some("devstack-some-other-external-id")]
        .into_iter()
        .any(|id| ask(id, &principal) == Decision::Allow);
    if lax {
        return Err(format!(
            "the trust policy of {role_arn} does not require sts:ExternalId = {EXTERNAL_ID_SOURCE} (add a \
             StringEquals condition on sts:ExternalId: it is what stops the confused-deputy problem)"
        ));
    }
    let stranger = Principal::iam("arn:aws:iam::999999999999:role/devstack-stranger", None);
    if ask(Some(external_id), &stranger) == Decision::Allow {
        return Err(format!(
            "the trust policy of {role_arn} lets any AWS principal assume the role; trust exactly {principal_arn}"
        ));
    }
    Ok(())
}

/// The role may `s3:GetObject` on `bucket/*` through its own policies or the bucket policy, and
/// neither denies it.
fn bucket_readable(
    role_arn: &str,
    role_id: &str,
    bucket: &str,
    identity: &[(String, Value)],
    bucket_policy: Option<&Value>,
) -> Result<(), String> {
    let resource = format!("arn:aws:s3:::{bucket}/*");
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let context = [
        ("aws:PrincipalArn", role_arn),
        ("aws:PrincipalAccount", account),
        ("aws:SecureTransport", "true"),
        ("aws:PrincipalIsAWSService", "false"),
    ];
    let ask = |principal: &Principal, policy: &Value| {
        policy::evaluate(
            policy,
            &Request {
                principal,
                action: "s3:GetObject",
                resource: &resource,
                context: &context,
            },
        )
    };
    let mut allowed = false;
    for (name, document) in identity {
        match ask(&Principal::Owner, document) {
            Decision::ExplicitDeny => {
                return Err(format!("the role's {name} denies s3:GetObject on {resource}"));
            }
            Decision::Allow => allowed = true,
            Decision::NotAllowed => {}
        }
    }
    if let Some(document) = bucket_policy {
        match ask(&Principal::iam(role_arn, Some(role_id)), document) {
            Decision::ExplicitDeny => {
                return Err(format!(
                    "the bucket policy of {bucket} denies s3:GetObject on {resource} to the role"
                ));
            }
            Decision::Allow => allowed = true,
            Decision::NotAllowed => {}
        }
    }
    if allowed {
        Ok(())
    } else {
        let names: Vec<&str> = identity.iter().map(|(n, _)| n.as_str()).collect();
        Err(format!(
            "the role may not s3:GetObject on {resource}: neither its policies ({}) nor the bucket policy allow it \
             (Vantage's module adds the inline policy VantageCostandUsageReportRetrieval)",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ))
    }
}

/// Remembers verdicts so that listing many integrations does not re-read
/// every role each time (N processes listing N integrations would otherwise
/// cost N² role reads). A verdict holds until an IAM or S3 write passes the
/// front door ([`CachedVerifier::invalidate`]) or [`VERDICT_TTL`] elapses, so
/// a change made through the front door is seen by the very next read.
pub struct CachedVerifier {
    inner: Arc<dyn AwsVerifier>,
    roles: std::sync::Mutex<std::collections::HashMap<(String, String, String), Verdict<RoleFacts>>>,
    buckets: std::sync::Mutex<std::collections::HashMap<(String, String), Verdict<()>>>,
}

/// How long a verdict may be reused when nothing was written in between
/// (writes straight to the upstream, bypassing the front door, are not seen).
pub const VERDICT_TTL: std::time::Duration = std::time::Duration::from_secs(10);

type Verdict<T> = (std::time::Instant, Result<T, String>);

impl CachedVerifier {
    pub fn new(inner: Arc<dyn AwsVerifier>) -> CachedVerifier {
        CachedVerifier {
            inner,
            roles: Default::default(),
            buckets: Default::default(),
        }
    }

    /// Forgets every verdict (an IAM or S3 write went through the front door).
    pub fn invalidate(&self) {
        if let Ok(mut roles) = self.roles.lock() {
            roles.clear();
        }
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.clear();
        }
    }

    fn fresh<K: std::hash::Hash + Eq, T: Clone>(
        map: &std::sync::Mutex<std::collections::HashMap<K, Verdict<T>>>,
        key: &K,
    ) -> Option<Result<T, String>> {
        let map = map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < VERDICT_TTL)
            .map(|(_, v)| v.clone())
    }
}

#[async_trait]
impl AwsVerifier for CachedVerifier {
    async fn verify_role(&self, role_arn: &str, principal_arn: &str, external_id: &str) -> Result<RoleFacts, String> {
        let key = (role_arn.to_owned(), principal_arn.to_owned(), external_id.to_owned());
        if let Some(verdict) = Self::fresh(&self.roles, &key) {
            return verdict;
        }
        let verdict = self.inner.verify_role(role_arn, principal_arn, external_id).await;
        if let Ok(mut roles) = self.roles.lock() {
            roles.insert(key, (std::time::Instant::now(), verdict.clone()));
        }
        verdict
    }

    async fn verify_bucket(&self, role_arn: &str, bucket_arn: &str) -> Result<(), String> {
        let key = (role_arn.to_owned(), bucket_arn.to_owned());
        if let Some(verdict) = Self::fresh(&self.buckets, &key) {
            return verdict;
        }
        let verdict = self.inner.verify_bucket(role_arn, bucket_arn).await;
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.insert(key, (std::time::Instant::now(), verdict.clone()));
        }
        verdict
    }
}

/// Whether a front-door call may change what a verdict depends on.
pub fn invalidates_verdicts(operation: &str) -> bool {
    let Some((service, name)) = operation.split_once(':') else {
        return false;
    };
    matches!(service, "iam" | "s3" | "sts")
        && !["Get", "List", "Head", "Describe", "Simulate", "Generate"]
            .iter()
            .any(|p| name.starts_with(p))
        && !matches!(name, "AssumeRole" | "GetCallerIdentity")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/vantage";
    const VANTAGE: &str = "arn:aws:iam::630399649041:role/vantage-account-sync-x";
    const EXTERNAL_ID: &str = "abcdefghijklmnopqrstuv";

    fn trust(principal: Value, condition: Option<Value>) -> Value {
        let mut statement = json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"});
        if let Some(condition) = condition {
            statement["Condition"] = condition;
        }
        json!({"Version": "2012-10-17", "Statement": [statement]})
    }

    fn external_id(value: &str) -> Option<Value> {
        Some(json!({"StringEquals": {"sts:ExternalId": value}}))
    }

    #[test]
    fn the_guides_trust_policy_is_accepted() {
        assert!(
            trust_allows(
                &trust(json!(VANTAGE), external_id(EXTERNAL_ID)),
                ROLE,
                VANTAGE,
                EXTERNAL_ID
            )
            .is_ok()
        );
        let root = trust(json!(["arn:aws:iam::630399649041:root"]), external_id(EXTERNAL_ID));
        assert!(trust_allows(&root, ROLE, VANTAGE, EXTERNAL_ID).is_ok());
    }

    #[test]
    fn each_trust_mistake_has_its_own_message() {
        let err = |t: Value| trust_allows(&t, ROLE, VANTAGE, EXTERNAL_ID).expect_err("refused");
        let wrong_principal = err(trust(
            json!("arn:aws:iam::630399649041:role/other"),
            external_id(EXTERNAL_ID),
        ));
        assert!(wrong_principal.contains("does not allow arn:aws:iam::630399649041:role/vantage-account-sync-x"));
        let missing = err(trust(json!(VANTAGE), None));
        assert!(missing.contains("does not require sts:ExternalId"), "{missing}");
        let wrong_id = err(trust(json!(VANTAGE), external_id("someone-elses-id")));
        assert!(
            wrong_id.contains("conditions do not accept sts:ExternalId"),
            "{wrong_id}"
        );
        let wildcard = err(trust(json!("*"), external_id(EXTERNAL_ID)));
        assert!(wildcard.contains("any AWS principal"), "{wildcard}");
        for message in [wrong_principal, missing, wrong_id, wildcard] {
            assert!(!message.contains(EXTERNAL_ID), "never print the external id: {message}");
        }
    }

    #[test]
    fn bucket_read_through_inline_or_bucket_policy() {
        let inline = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectAcl"],
                                           "Resource": "arn:aws:s3:::cur/*"}]});
        let named = vec![("inline policy VantageCostandUsageReportRetrieval".to_owned(), inline)];
        assert!(bucket_readable(ROLE, "AROA1", "cur", &named, None).is_ok());
        let by_bucket = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE},
                                              "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cur/*"}]});
        assert!(bucket_readable(ROLE, "AROA1", "cur", &[], Some(&by_bucket)).is_ok());
        let err = bucket_readable(ROLE, "AROA1", "other", &named, None).expect_err("other bucket");
        assert!(err.contains("neither its policies"), "{err}");
        let deny = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::cur/*"}]});
        let err = bucket_readable(ROLE, "AROA1", "cur", &named, Some(&deny)).expect_err("denied");
        assert!(err.contains("denies"), "{err}");
    }

    #[test]
    fn only_writes_to_iam_s3_and_sts_invalidate_verdicts() {
        assert!(invalidates_verdicts("iam:UpdateAssumeRolePolicy"));
        assert!(invalidates_verdicts("iam:DeleteRole"));
        assert!(invalidates_verdicts("s3:PutBucketPolicy"));
        assert!(!invalidates_verdicts("iam:GetRole"));
        assert!(!invalidates_verdicts("s3:ListObjectsV2"));
        assert!(!invalidates_verdicts("cur:PutReportDefinition"));
    }
}
