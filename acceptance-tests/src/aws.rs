//! Checks against the AWS side (moto or LocalStack behind the devstack's
//! front door), through the AWS SDK: never through the provider's own code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::Credentials;

use crate::Devstack;

/// Credentials every test uses; each emulator maps them to its default account.
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_KEY: &str = "devstack-secret";
pub const REGION: &str = "us-east-1";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The account [`ACCESS_KEY`] acts in: moto's default account, or LocalStack's.
pub fn account_id() -> &'static str {
    match crate::aws_upstream() {
        crate::Upstream::Moto => "123456789012",
        crate::Upstream::LocalStack => "000000000000",
    }
}

/// Blocking wrappers over the SDK, for test code.
pub struct Aws {
    rt: tokio::runtime::Runtime,
    pub iam: aws_sdk_iam::Client,
}

/// A role as IAM reports it.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    pub arn: String,
    pub unique_id: String,
    pub create_date: String,
    pub path: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    pub permissions_boundary: Option<String>,
    pub trust_policy: serde_json::Value,
    pub tags: BTreeMap<String, String>,
    pub managed_policy_arns: BTreeSet<String>,
    pub inline_policy_names: BTreeSet<String>,
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as JSON, decoding IAM's URL encoding when present.
pub fn document(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::from_str(&url_decode(text)).expect("policy JSON"))
}

/// SDK config acting in `account` through AssumeRole into its `terraform` role, which both
/// emulators grant without the role existing, mapping the credentials to that account.
pub async fn assumed_config(endpoint: &str, account: &str) -> aws_config::SdkConfig {
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await;
    let out = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(crate::aws_billing::role_in(account))
        .role_session_name("acceptance-tests")
        .send()
        .await
        .expect("AssumeRole into the test's account");
    let c = out.credentials().expect("credentials");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "assumed",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

impl Aws {
    pub fn shared() -> &'static Aws {
        static AWS: OnceLock<Aws> = OnceLock::new();
        AWS.get_or_init(|| Aws::new(&Devstack::shared().info.aws_url))
    }

    pub fn new(endpoint: &str) -> Aws {
        let rt = runtime();
        let config = rt.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests"))
                .endpoint_url(endpoint)
                .load(),
        );
        Aws::from_config(&config)
    }

    /// IAM checks with the credentials of `config` (e.g. a test's own account).
    pub fn from_config(config: &aws_config::SdkConfig) -> Aws {
        Aws {
            iam: aws_sdk_iam::Client::new(config),
            rt: runtime(),
        }
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The role with its policies, or None when IAM has no such role.
    pub fn role(&self, name: &str) -> Option<RoleFacts> {
        self.block_on(async {
            let role = match self.iam.get_role().role_name(name).send().await {
                Ok(out) => out.role?.clone(),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => return None,
                Err(e) => panic!("GetRole {name}: {e:?}"),
            };
            let attached = self
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("attached");
            let inline = self
                .iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("inline");
            Some(RoleFacts {
                arn: role.arn().to_string(),
                unique_id: role.role_id().to_string(),
                create_date: role.create_date().to_string(),
                path: role.path().to_string(),
                description: role.description().map(str::to_string),
                max_session_duration: role.max_session_duration(),
                permissions_boundary: role
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
                trust_policy: document(role.assume_role_policy_document().unwrap_or("{}")),
                tags: role
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                managed_policy_arns: attached
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .map(str::to_string)
                    .collect(),
                inline_policy_names: inline.policy_names().iter().cloned().collect(),
            })
        })
    }

    /// An inline policy's document, or None.
    pub fn role_policy(&self, role: &str, name: &str) -> Option<serde_json::Value> {
        self.block_on(async {
            match self
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
            {
                Ok(out) => Some(document(out.policy_document())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
                Err(e) => panic!("GetRolePolicy {role}/{name}: {e:?}"),
            }
        })
    }

    /// Puts an inline policy behind Terraform's back.
    pub fn put_role_policy(&self, role: &str, name: &str, document: &str) {
        self.block_on(
            self.iam
                .put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(document)
                .send(),
        )
        .expect("PutRolePolicy");
    }

    /// Attaches a managed policy behind Terraform's back (as another tool would).
    pub fn attach_role_policy(&self, role: &str, policy_arn: &str) {
        self.block_on(
            self.iam
                .attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send(),
        )
        .expect("AttachRolePolicy");
    }

    pub fn update_trust(&self, role: &str, document: &str) {
        self.block_on(
            self.iam
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send(),
        )
        .expect("UpdateAssumeRolePolicy");
    }

    /// Deletes a role and everything on it, behind Terraform's back.
    pub fn delete_role(&self, name: &str) {
        self.block_on(async {
            let attached = self
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("attached");
            for p in attached.attached_policies() {
                let arn = p.policy_arn().unwrap_or_default();
                self.iam
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .expect("detach");
            }
            let inline = self
                .iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("inline");
            for p in inline.policy_names() {
                self.iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .expect("delete inline");
            }
            self.iam.delete_role().role_name(name).send().await.expect("DeleteRole");
        });
    }

    pub fn create_role(&self, name: &str, trust: &str) {
        self.block_on(
            self.iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust)
                .send(),
        )
        .expect("CreateRole");
    }
}

/// Whether two JSON policy values hold the same statements, ignoring order
/// and single-string-vs-list differences: a test's own simple comparison.
pub fn same_statements(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    fn norm(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Array(items) if items.len() == 1 => norm(&items[0]),
            serde_json::Value::Array(items) => {
                let mut n: Vec<serde_json::Value> = items.iter().map(norm).collect();
                n.sort_by_key(|x| x.to_string());
                serde_json::Value::Array(n)
            }
            serde_json::Value::Object(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect())
            }
            other => other.clone(),
        }
    }
    norm(&a["Statement"]) == norm(&b["Statement"])
}
