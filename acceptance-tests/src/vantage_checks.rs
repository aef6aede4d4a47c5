//! Checks and actions on the Vantage side of a devstack (its v1/v2 API and
//! admin API, with plain HTTP) and on the AWS side (S3 buckets, an AWS
//! Organization, through the AWS SDK): never through the provider's code.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::Credentials;
use serde_json::Value;

use crate::Devstack;
use crate::aws::{ACCESS_KEY, REGION, SECRET_KEY};

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// One Vantage API call with the devstack's token: status and JSON body (Null when none).
pub fn vantage_call(ds: &Devstack, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
    let mut request = http()
        .request(method, format!("{}{path}", ds.info.vantage_url))
        .bearer_auth(&ds.info.token);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().expect("devstack request");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The v1 record of integration `id`, or None when Vantage has none.
pub fn v1_integration(ds: &Devstack, id: &str) -> Option<Value> {
    match vantage_call(ds, "GET", &format!("/v1/integrations/aws/{id}"), None) {
        (200, body) => Some(body),
        (404, _) => None,
        (status, body) => panic!("GET /v1/integrations/aws/{id}: {status} {body}"),
    }
}

/// The v2 record of the integration with `token`, or None.
pub fn v2_integration(ds: &Devstack, token: &str) -> Option<Value> {
    match vantage_call(ds, "GET", &format!("/v2/integrations/{token}"), None) {
        (200, body) => Some(body),
        (404, _) => None,
        (status, body) => panic!("GET /v2/integrations/{token}: {status} {body}"),
    }
}

/// Every AWS integration Vantage holds (v2, all pages).
pub fn all_integrations(ds: &Devstack) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let (status, body) = vantage_call(
            ds,
            "GET",
            &format!("/v2/integrations?provider=aws&limit=1000&page={page}"),
            None,
        );
        assert_eq!(status, 200, "listing integrations: {body}");
        out.extend(body["integrations"].as_array().cloned().unwrap_or_default());
        if body["links"]["next"].is_null() {
            break;
        }
    }
    out
}

/// Registers a role directly, as someone using Vantage's console would: the v1 id.
pub fn register(ds: &Devstack, role_arn: &str, bucket_arn: Option<&str>) -> i64 {
    let mut body = serde_json::json!({ "cross_account_arn": role_arn });
    if let Some(b) = bucket_arn {
        body["bucket_arn"] = Value::from(b);
    }
    let (status, answer) = vantage_call(ds, "POST", "/v1/integrations/aws", Some(body));
    assert_eq!(status, 201, "registering {role_arn}: {answer}");
    answer["id"].as_i64().expect("integration id")
}

/// Vantage-side request counts per operation (`GET /v1/integrations/aws/{id}` ...).
pub fn vantage_requests(ds: &Devstack) -> Value {
    ds.admin_get("requests")["vantage"].clone()
}

/// Calls of `operation` between two snapshots of [`vantage_requests`].
pub fn delta(before: &Value, after: &Value, operation: &str) -> u64 {
    after[operation].as_u64().unwrap_or(0) - before[operation].as_u64().unwrap_or(0)
}

/// Arms a Vantage fault on `ds`.
pub fn fault(ds: &Devstack, spec: Value) {
    let mut spec = spec;
    spec["service"] = Value::from("vantage");
    ds.admin_post("faults", spec);
}

/// Disarms every fault on `ds`.
pub fn clear_faults(ds: &Devstack) {
    let status = http()
        .delete(format!("{}/faults", ds.info.admin_url))
        .send()
        .expect("admin request")
        .status();
    assert!(status.is_success(), "DELETE faults: {status}");
}

/// AWS SDK clients for S3 and Organizations against a devstack's AWS port,
/// as the default test account.
pub struct AwsSide {
    rt: tokio::runtime::Runtime,
    pub s3: aws_sdk_s3::Client,
    pub organizations: aws_sdk_organizations::Client,
}

impl AwsSide {
    pub fn new(endpoint: &str) -> AwsSide {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = rt.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests"))
                .endpoint_url(endpoint)
                .load(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        AwsSide {
            organizations: aws_sdk_organizations::Client::new(&config),
            s3,
            rt,
        }
    }

    pub fn create_bucket(&self, name: &str) {
        self.rt
            .block_on(self.s3.create_bucket().bucket(name).send())
            .unwrap_or_else(|e| panic!("CreateBucket {name}: {e:?}"));
    }

    pub fn delete_bucket(&self, name: &str) {
        self.rt
            .block_on(self.s3.delete_bucket().bucket(name).send())
            .unwrap_or_else(|e| panic!("DeleteBucket {name}: {e:?}"));
    }

    /// Creates an organisation managed by the default test account; its id.
    pub fn create_organization(&self) -> String {
        let out = self
            .rt
            .block_on(self.organizations.create_organization().send())
            .unwrap_or_else(|e| panic!("CreateOrganization: {e:?}"));
        out.organization()
            .and_then(|o| o.id())
            .expect("organization id")
            .to_string()
    }

    /// Creates a member account in the organisation; its id. The account gets
    /// `OrganizationAccountAccessRole`, trusted by the management account.
    pub fn create_member_account(&self, name: &str, email: &str) -> String {
        let out = self
            .rt
            .block_on(
                self.organizations
                    .create_account()
                    .account_name(name)
                    .email(email)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("CreateAccount: {e:?}"));
        out.create_account_status()
            .and_then(|s| s.account_id())
            .expect("member account id")
            .to_string()
    }
}
