//! Starts the real `vantage-devstack` binary for one test and talks to it over HTTP.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_vantage-devstack");

pub const ROLE: &str = "arn:aws:iam::123456789012:role/vantage-cross-account";
pub const BUCKET: &str = "arn:aws:s3:::cur-reports-123456789012";

pub struct Devstack {
    child: Child,
    stdin: Option<ChildStdin>,
    pub ready: Value,
    pub vantage_url: String,
    pub aws_url: String,
    pub admin_url: String,
    pub token: String,
    pub client: reqwest::Client,
    /// How long the process took to print its ready line.
    pub startup: Duration,
}

/// An upstream nobody listens on: for devstacks that never talk to AWS.
pub const NO_UPSTREAM: &str = "http://127.0.0.1:9";

impl Devstack {
    /// A devstack for tests of the Vantage API alone: no moto, and registrations skip the AWS
    /// checks (`--accept-any-role`).
    pub fn start_offline(args: &[&str]) -> Self {
        let mut all = vec!["--accept-any-role", "--aws-upstream", NO_UPSTREAM];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    /// Starts a devstack with `--stop-on-stdin-eof` plus `args`, and waits for its ready line.
    pub fn start(args: &[&str]) -> Self {
        let began = Instant::now();
        let mut child = Command::new(BIN)
            .arg("--stop-on-stdin-eof")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn vantage-devstack");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        assert!(
            !line.is_empty(),
            "devstack exited before its ready line: {:?}",
            child.wait()
        );
        let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
        let field = |name: &str| {
            ready[name]
                .as_str()
                .unwrap_or_else(|| panic!("ready line lacks {name}: {line}"))
                .to_owned()
        };
        Self {
            vantage_url: field("vantage_url"),
            aws_url: field("aws_url"),
            admin_url: field("admin_url"),
            token: field("token"),
            ready,
            child,
            stdin,
            client: client(),
            startup: began.elapsed(),
        }
    }

    pub fn aws_upstream_url(&self) -> &str {
        self.ready["aws_upstream_url"].as_str().unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// A request to the Vantage API with the default token.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.api_as(&self.token, method, path)
    }

    /// A fresh HTTP client per request: a devstack shared by a test file outlives each test's
    /// runtime, and a pooled connection must not either.
    pub fn api_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        client()
            .request(method, format!("{}{path}", self.vantage_url))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.api(Method::GET, path).send().await.expect("GET reaches devstack")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> Response {
        self.api(method, path)
            .json(&body)
            .send()
            .await
            .expect("request reaches devstack")
    }

    /// Registers `role` (and `bucket`); panics unless it is created. Returns the v1 body.
    pub async fn register(&self, role: &str, bucket: Option<&str>) -> Value {
        let res = self
            .send_json(
                Method::POST,
                "/v1/integrations/aws",
                serde_json::json!({ "cross_account_arn": role, "bucket_arn": bucket }),
            )
            .await;
        assert_eq!(res.status(), 201, "register {role}");
        res.json().await.expect("JSON body")
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = client().request(method, format!("{}{path}", self.admin_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("admin request reaches devstack")
    }

    pub async fn fault(&self, fault: Value) {
        let res = self.admin(Method::POST, "/faults", Some(fault)).await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
    }

    /// Closes stdin and waits for the process to exit by itself.
    pub fn stop(mut self) -> ExitStatus {
        self.stdin.take();
        wait_with_timeout(&mut self.child, Duration::from_secs(10)).expect("devstack exits once stdin is closed")
    }
}

impl Drop for Devstack {
    fn drop(&mut self) {
        self.stdin.take();
        if wait_with_timeout(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the binary expecting it to fail before becoming ready; returns its stderr.
pub fn start_failure(args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .arg("--stop-on-stdin-eof")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vantage-devstack");
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("devstack started although it should have failed");
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(status.is_some_and(|s| !s.success()), "{stderr}");
    assert!(stdout.is_empty(), "nothing but the ready line goes to stdout: {stdout}");
    stderr
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

pub fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("response lacks {name}"))
}

pub async fn errors(res: Response) -> Vec<String> {
    let body: Value = res.json().await.expect("JSON error body");
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {body}"))
        .iter()
        .map(|e| e.as_str().expect("error is a string").to_owned())
        .collect()
}

/// The documented v1 id -> v2 token mapping (README.md), reimplemented here so the tests check
/// the contract rather than the devstack's own code.
pub fn token_for(id: i64) -> String {
    let mut x = (id as u64) ^ 0x5641_4e54_4147_4521;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 32;
    format!("accss_crdntl_{x:016x}")
}

/// A fresh 12-digit account id for this test process: tests sharing one devstack stay apart.
pub fn unique_account() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("2{:03}{:08}", std::process::id() % 1000, n)
}

/// A fresh lowercase name (valid as a bucket, report, export or role name).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Adds `x-moto-account-id`, which moto (and devstack) honour to pick the caller's account.
#[derive(Debug)]
struct AccountHeader(String);

impl aws_sdk_s3::config::Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "test-account-header"
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
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// AWS SDK clients pointed at a devstack's AWS front door.
pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub cur: aws_sdk_costandusagereport::Client,
    pub exports: aws_sdk_bcmdataexports::Client,
    pub account: Option<String>,
}

macro_rules! client {
    ($krate:ident, $url:expr, $region:expr, $account:expr, $retries:expr $(, $extra:ident($arg:expr))*) => {{
        use $krate::config::{BehaviorVersion, Credentials, Region};
        let mut builder = $krate::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new($region.to_owned()))
            .endpoint_url($url)
            .credentials_provider(Credentials::new("AKIAIOSFODNN7EXAMPLE", "test-secret", None, None, "test"))
            .retry_config($krate::config::retry::RetryConfig::standard().with_max_attempts($retries))
            $(.$extra($arg))*;
        if let Some(account) = $account {
            builder = builder.interceptor(AccountHeader(account.to_owned()));
        }
        $krate::Client::from_conf(builder.build())
    }};
}

impl Devstack {
    /// Clients acting in `account` (moto's default account 123456789012 when `None`), signing
    /// for us-east-1.
    pub fn aws(&self, account: Option<&str>) -> Aws {
        self.aws_with(account, "us-east-1", 3)
    }

    /// Clients signing for `region`, with `attempts` tries per call (1 disables retries).
    pub fn aws_with(&self, account: Option<&str>, region: &str, attempts: u32) -> Aws {
        let url = self.aws_url.as_str();
        Aws {
            s3: client!(aws_sdk_s3, url, region, account, attempts, force_path_style(true)),
            iam: client!(aws_sdk_iam, url, region, account, attempts),
            sts: client!(aws_sdk_sts, url, region, account, attempts),
            organizations: client!(aws_sdk_organizations, url, region, account, attempts),
            cloudformation: client!(aws_sdk_cloudformation, url, region, account, attempts),
            cur: client!(aws_sdk_costandusagereport, url, region, account, attempts),
            exports: client!(aws_sdk_bcmdataexports, url, region, account, attempts),
            account: account.map(str::to_owned),
        }
    }

    /// `GET /_devstack/requests` -> `aws` counts.
    pub async fn aws_counts(&self) -> Value {
        let res = self.admin(Method::GET, "/requests", None).await;
        let body: Value = res.json().await.expect("JSON counts");
        body["aws"].clone()
    }

    /// `POST /_devstack/deliver-cur`.
    pub async fn deliver(&self, body: Value) -> (u16, Value) {
        let res = self.admin(Method::POST, "/deliver-cur", Some(body)).await;
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON answer"))
    }
}

impl Aws {
    pub fn account_id(&self) -> &str {
        self.account.as_deref().unwrap_or("123456789012")
    }

    /// Creates `bucket` (in `region`) with the bucket policy of Vantage's module: billingreports
    /// may read the ACL and policy, billingreports and bcm-data-exports may write objects.
    pub async fn cur_bucket(&self, bucket: &str, region: &str) {
        let mut create = self.s3.create_bucket().bucket(bucket);
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        create.send().await.expect("CreateBucket");
        self.s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(cur_bucket_policy(bucket, self.account_id()).to_string())
            .send()
            .await
            .expect("PutBucketPolicy");
    }
}

/// The billing statements of a CUR bucket policy (the first three `vantage_aws_cur_bucket` writes).
pub fn cur_bucket_policy(bucket: &str, account: &str) -> Value {
    let b = format!("arn:aws:s3:::{bucket}");
    serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "BillingGetBucket", "Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
         "Action": ["s3:GetBucketAcl", "s3:GetBucketPolicy"], "Resource": b,
         "Condition": {"StringEquals": {"aws:SourceArn": format!("arn:aws:cur:us-east-1:{account}:definition/*"),
                                        "aws:SourceAccount": account}}},
        {"Sid": "BillingPut", "Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": format!("{b}/*"),
         "Condition": {"StringEquals": {"aws:SourceArn": format!("arn:aws:cur:us-east-1:{account}:definition/*"),
                                        "aws:SourceAccount": account}}},
        {"Sid": "Exports", "Effect": "Allow",
         "Principal": {"Service": ["billingreports.amazonaws.com", "bcm-data-exports.amazonaws.com"]},
         "Action": ["s3:PutObject", "s3:GetBucketPolicy"], "Resource": [format!("{b}/*"), b],
         "Condition": {"StringLike": {"aws:SourceArn": [format!("arn:aws:cur:us-east-1:{account}:definition/*"),
                                                        format!("arn:aws:bcm-data-exports:us-east-1:{account}:export/*")]},
                       "StringEquals": {"aws:SourceAccount": account}}}
    ]})
}

/// The error code of an SDK error (`ValidationException`, `NoSuchEntity`, ...).
pub fn code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("none").to_owned(),
        other => format!("not a service error: {other:?}"),
    }
}

/// The error message of an SDK error.
pub fn message<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => s.err().message().unwrap_or_default().to_owned(),
        other => format!("{other:?}"),
    }
}

/// Creates a CUR 2.0 export (the module's shape) into `bucket`; returns its ARN.
pub async fn create_export(aws: &Aws, name: &str, bucket: &str) -> String {
    aws.exports
        .create_export()
        .export(cur2_export(name, bucket))
        .send()
        .await
        .expect("CreateExport")
        .export_arn()
        .expect("ExportArn")
        .to_owned()
}

/// Vantage's CUR 2.0 export, without `BILLING_VIEW_ARN` (server-added).
pub fn cur2_export(name: &str, bucket: &str) -> aws_sdk_bcmdataexports::types::Export {
    use aws_sdk_bcmdataexports::types::*;
    let properties: std::collections::HashMap<String, String> = [
        ("TIME_GRANULARITY", "DAILY"),
        ("INCLUDE_RESOURCES", "TRUE"),
        ("INCLUDE_SPLIT_COST_ALLOCATION_DATA", "FALSE"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Export::builder()
        .name(name)
        .data_query(
            DataQuery::builder()
                .query_statement("SELECT identity_line_item_id, line_item_unblended_cost FROM COST_AND_USAGE_REPORT")
                .table_configurations("COST_AND_USAGE_REPORT", properties)
                .build()
                .expect("query"),
        )
        .destination_configurations(
            DestinationConfigurations::builder()
                .s3_destination(
                    S3Destination::builder()
                        .s3_bucket(bucket)
                        .s3_prefix("cur2")
                        .s3_region("us-east-1")
                        .s3_output_configurations(
                            S3OutputConfigurations::builder()
                                .output_type(S3OutputType::Custom)
                                .format(FormatOption::TextOrCsv)
                                .compression(CompressionOption::Gzip)
                                .overwrite(OverwriteOption::OverwriteReport)
                                .build()
                                .expect("output"),
                        )
                        .build()
                        .expect("destination"),
                )
                .build(),
        )
        .refresh_cadence(
            RefreshCadence::builder()
                .frequency(FrequencyOption::Synchronous)
                .build()
                .expect("cadence"),
        )
        .build()
        .expect("export")
}
