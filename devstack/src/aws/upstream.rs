//! devstack's own calls to the upstream emulator, as a given AWS account: who a caller is, what
//! a bucket looks like, objects written by "AWS billing", and the reads the Vantage verifier
//! makes. Uses the AWS SDK for Rust pointed at the upstream.
//!
//! Accounts: moto picks the account of a request from the `x-moto-account-id` header, else from
//! the access key when it is one moto issued (IAM users, assumed roles), else 123456789012.
//! LocalStack uses a 12-digit access key id as the account id. devstack's own calls send both
//! (the header and the account id as access key), so they land in the intended account on
//! either emulator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};

use super::forward::Forwarder;
use super::request::Scope;

/// moto's default account, used when nothing else names one.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
const MOTO_ACCOUNT_HEADER: &str = "x-moto-account-id";

/// Adds `x-moto-account-id` to every request of a client.
#[derive(Debug)]
struct AccountHeader(String);

impl aws_sdk_s3::config::Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "devstack-account-header"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        context
            .request_mut()
            .headers_mut()
            .insert(MOTO_ACCOUNT_HEADER, self.0.clone());
        Ok(())
    }
}

#[derive(Clone)]
struct Clients {
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    organizations: aws_sdk_organizations::Client,
}

/// A failure to talk to the upstream (not an answer about the bucket or role).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError(pub String);

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What S3 says about a bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketFacts {
    Missing,
    Exists {
        region: String,
        /// The bucket policy document, verbatim; `None` without a policy.
        policy: Option<String>,
    },
}

pub struct Upstream {
    forwarder: Forwarder,
    clients: Mutex<HashMap<String, Clients>>,
    /// `(access key, x-moto-account-id)` -> account, learned from the upstream's STS.
    accounts: Mutex<HashMap<(String, String), String>>,
    /// Whether Vantage's CUR topics are known to exist upstream ([`create_vantage_topics`]).
    topics_ready: AtomicBool,
}

impl Upstream {
    pub fn new(forwarder: Forwarder) -> Self {
        Self {
            forwarder,
            clients: Mutex::default(),
            accounts: Mutex::default(),
            topics_ready: AtomicBool::new(false),
        }
    }

    pub fn topics_ready(&self) -> bool {
        self.topics_ready.load(Ordering::Acquire)
    }

    /// After an upstream reset: the topics are gone until created again.
    pub fn forget_topics(&self) {
        self.topics_ready.store(false, Ordering::Release);
    }

    pub fn url(&self) -> &str {
        self.forwarder.base()
    }

    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// Forgets learned caller accounts (after a reset, moto's access keys may be gone).
    pub fn forget_accounts(&self) {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    fn clients(&self, account: &str) -> Clients {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(account.to_owned())
            .or_insert_with(|| build_clients(self.url(), account))
            .clone()
    }

    pub fn s3(&self, account: &str) -> aws_sdk_s3::Client {
        self.clients(account).s3
    }

    pub fn iam(&self, account: &str) -> aws_sdk_iam::Client {
        self.clients(account).iam
    }

    pub fn organizations(&self, account: &str) -> aws_sdk_organizations::Client {
        self.clients(account).organizations
    }

    /// The account a caller acts in, the way the upstream sees it: its `x-moto-account-id`
    /// header, else what the upstream's STS `GetCallerIdentity` says about its access key.
    /// Without an answer: a 12-digit access key id is the account (LocalStack's rule), anything
    /// else moto's default account.
    pub async fn caller_account(&self, scope: Option<&Scope>, headers: &HeaderMap) -> String {
        let moto_header = headers
            .get(MOTO_ACCOUNT_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if is_account_id(&moto_header) {
            return moto_header;
        }
        let access_key = scope.map(|s| s.access_key.clone()).unwrap_or_default();
        let cache_key = (access_key.clone(), moto_header.clone());
        if let Some(account) = self
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&cache_key)
        {
            return account.clone();
        }
        let account = match self.sts_account(&access_key).await {
            Ok(account) => account,
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the upstream who the caller is; guessing from the access key");
                if is_account_id(&access_key) {
                    access_key.clone()
                } else {
                    DEFAULT_ACCOUNT.to_owned()
                }
            }
        };
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cache_key, account.clone());
        account
    }

    /// STS GetCallerIdentity with the caller's access key (neither moto nor LocalStack check
    /// signatures by default, and both derive the account from the key).
    async fn sts_account(&self, access_key: &str) -> Result<String, UpstreamError> {
        let key = if access_key.is_empty() {
            "AKIAIOSFODNN7EXAMPLE"
        } else {
            access_key
        };
        let (status, body) = self
            .query(
                key,
                None,
                "us-east-1",
                "sts",
                "Action=GetCallerIdentity&Version=2011-06-15",
            )
            .await?;
        let body = String::from_utf8_lossy(&body);
        let account = body
            .split("<Account>")
            .nth(1)
            .and_then(|rest| rest.split("</Account>").next())
            .filter(|a| is_account_id(a));
        match account {
            Some(account) if status.is_success() => Ok(account.to_owned()),
            _ => Err(UpstreamError(format!("STS GetCallerIdentity answered {status}"))),
        }
    }

    /// Creates the SNS topic `name` in `account` and `region` unless it exists (CreateTopic is
    /// idempotent): Vantage's own topics, which S3 checks a notification's destination against.
    pub async fn ensure_topic(&self, account: &str, region: &str, name: &str) -> Result<(), UpstreamError> {
        let body = format!("Action=CreateTopic&Version=2010-03-31&Name={name}");
        let (status, answer) = self.query(account, Some(account), region, "sns", &body).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(UpstreamError(format!(
                "SNS CreateTopic {name} in {account} {region} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            )))
        }
    }

    /// One query-protocol call (form body with `Action=`) as `access_key` (LocalStack's account
    /// when it is an account id), with `x-moto-account-id: moto_account` (moto's) when given.
    async fn query(
        &self,
        access_key: &str,
        moto_account: Option<&str>,
        region: &str,
        service: &str,
        body: &str,
    ) -> Result<(axum::http::StatusCode, Vec<u8>), UpstreamError> {
        // Signed in shape only: the upstream routes by the credential scope and checks no signature.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={access_key}/20240101/{region}/{service}/aws4_request, \
             SignedHeaders=content-type;host, Signature=0000000000000000000000000000000000000000000000000000000000000000"
        );
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.url()))
            .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            .header("authorization", authorization);
        if let Some(account) = moto_account {
            request = request.header(MOTO_ACCOUNT_HEADER, account);
        }
        let request = request
            .body(Body::from(body.to_owned()))
            .map_err(|e| UpstreamError(e.to_string()))?;
        self.forwarder
            .call(request)
            .await
            .map_err(|e| UpstreamError(e.to_string()))
    }

    /// POST `/moto-api/reset` on the upstream.
    pub async fn reset_moto(&self) -> Result<(), UpstreamError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/moto-api/reset", self.url()))
            .body(Body::empty())
            .map_err(|e| UpstreamError(e.to_string()))?;
        let (status, _) = self
            .forwarder
            .call(request)
            .await
            .map_err(|e| UpstreamError(e.to_string()))?;
        if status.is_success() {
            Ok(())
        } else {
            Err(UpstreamError(format!(
                "the upstream answered {status} to POST /moto-api/reset (is it moto?)"
            )))
        }
    }

    /// Whether the bucket exists in `account`, its region and its policy.
    pub async fn bucket(&self, account: &str, bucket: &str) -> Result<BucketFacts, UpstreamError> {
        let s3 = self.s3(account);
        let location = match s3.get_bucket_location().bucket(bucket).send().await {
            Ok(out) => out,
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).map(str::to_owned);
                return match code.as_deref() {
                    Some("NoSuchBucket") => Ok(BucketFacts::Missing),
                    _ if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(BucketFacts::Missing),
                    _ => Err(UpstreamError(format!(
                        "S3 GetBucketLocation {bucket}: {}",
                        describe(&e)
                    ))),
                };
            }
        };
        let region = match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        };
        let policy = match s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(out) => out.policy().map(str::to_owned),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).map(str::to_owned);
                match code.as_deref() {
                    Some("NoSuchBucketPolicy") => None,
                    Some("NoSuchBucket") => return Ok(BucketFacts::Missing),
                    _ => return Err(UpstreamError(format!("S3 GetBucketPolicy {bucket}: {}", describe(&e)))),
                }
            }
        };
        Ok(BucketFacts::Exists { region, policy })
    }

    /// Writes an object as `account` (deliveries of "AWS billing").
    pub async fn put_object(
        &self,
        account: &str,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), UpstreamError> {
        self.s3(account)
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| UpstreamError(format!("S3 PutObject s3://{bucket}/{key}: {}", describe(&e))))
    }

    /// Organizations: `Some(management account)` when `account` belongs to an organisation.
    pub async fn management_account(&self, account: &str) -> Result<Option<String>, UpstreamError> {
        let organizations = self.clients(account).organizations;
        match organizations.describe_organization().send().await {
            Ok(out) => Ok(out
                .organization()
                .and_then(|o| o.master_account_id())
                .map(str::to_owned)),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).map(str::to_owned);
                if code.as_deref() == Some("AWSOrganizationsNotInUseException") {
                    Ok(None)
                } else {
                    Err(UpstreamError(format!(
                        "Organizations DescribeOrganization: {}",
                        describe(&e)
                    )))
                }
            }
        }
    }
}

/// Creates Vantage's CUR topics in the upstream (see `CUR_TOPIC_REGIONS`); whether all of them
/// exist now. Called at startup, and again before a bucket notification is forwarded while they
/// are not known to exist (an upstream that was down at startup, or reset since). Bounded, so an
/// upstream that never answers delays neither startup nor the call.
pub async fn create_vantage_topics(upstream: &Arc<Upstream>) -> Result<(), UpstreamError> {
    use crate::vantage::account::{CUR_TOPIC_NAME, CUR_TOPIC_REGIONS, VANTAGE_AWS_ACCOUNT};
    const BOUND: Duration = Duration::from_secs(5);
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for region in CUR_TOPIC_REGIONS {
        let upstream = upstream.clone();
        calls.spawn(async move { upstream.ensure_topic(VANTAGE_AWS_ACCOUNT, region, CUR_TOPIC_NAME).await });
    }
    let all = async {
        while let Some(done) = calls.join_next().await {
            done.map_err(|e| UpstreamError(format!("creating Vantage's CUR topic: {e}")))??;
        }
        Ok(())
    };
    let result = match tokio::time::timeout(BOUND, all).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError(format!(
            "SNS CreateTopic for Vantage's CUR topics took over {} s",
            BOUND.as_secs()
        ))),
    };
    if result.is_ok() {
        upstream.topics_ready.store(true, Ordering::Release);
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Vantage's CUR topics in place"
        );
    }
    result
}

/// An SDK error with its code and message when the service sent them.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> String {
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or_default()
        ),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                source = inner.source();
            }
            text
        }
    }
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn build_clients(url: &str, account: &str) -> Clients {
    use aws_sdk_s3::config::timeout::TimeoutConfig;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let credentials = Credentials::new(account, "devstack-secret", None, None, "vantage-devstack");
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(15))
        .build();
    let region = Region::new("us-east-1");
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.clone())
        .endpoint_url(url)
        .credentials_provider(credentials.clone())
        .force_path_style(true)
        .timeout_config(timeouts.clone())
        .interceptor(AccountHeader(account.to_owned()))
        .build();
    let iam = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(credentials.clone())
        .timeout_config(timeouts.clone())
        .interceptor(AccountHeader(account.to_owned()))
        .build();
    let organizations = aws_sdk_organizations::Config::builder()
        .behavior_version(aws_sdk_organizations::config::BehaviorVersion::latest())
        .region(aws_sdk_organizations::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(credentials)
        .timeout_config(timeouts)
        .interceptor(AccountHeader(account.to_owned()))
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        iam: aws_sdk_iam::Client::from_conf(iam),
        organizations: aws_sdk_organizations::Client::from_conf(organizations),
    }
}
