//! `vantage_aws_cur_bucket`: the S3 bucket AWS billing delivers the Cost and
//! Usage Report into, with everything Vantage's onboarding puts on it
//! (`reference/aws-onboarding-shapes.md`): public access block, the bucket
//! policy letting billing write and Vantage's role read, the expiry rule and
//! the notification to Vantage's SNS topic.
//!
//! Every part is read on refresh (five S3 calls, made concurrently: policy,
//! public access block, lifecycle, notification, tags), so drift on any of
//! them shows in the plan and apply repairs it. The bucket's region comes
//! from state, not from a sixth call. The policy is compared semantically
//! (`policy::equivalent`), so AWS's reformatting never shows as a change.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, Delete, Event, ExpirationStatus,
    FilterRule, FilterRuleName, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NotificationConfiguration,
    NotificationConfigurationFilter, ObjectIdentifier, PublicAccessBlockConfiguration, S3KeyFilter, Tag, Tagging,
    TopicConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tfplugin::schema::validators::{custom, int_between};
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema, Type, Val, Value,
};

use crate::ProviderData;
use crate::aws::clients::partition_of;
use crate::aws::errors::{code, describe};
use crate::policy::{self, PolicyDocument};
use crate::retry::{RetryError, retry_while};
use crate::tags::{self, Tags};

/// The AWS account that owns Vantage's SNS topics.
pub const VANTAGE_ACCOUNT: &str = "630399649041";
/// The topic Vantage listens on for new CUR files, in each region it exists in.
pub const TOPIC_NAME: &str = "cost-and-usage-report-uploaded";
pub const TOPIC_REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "eu-west-2", "ap-southeast-1"];
/// The lifecycle rule id Vantage's module uses.
pub const LIFECYCLE_RULE_ID: &str = "remove-old-reports";
pub const DEFAULT_LIFECYCLE_DAYS: i64 = 200;
const NOTIFY_EVENT: &str = "s3:ObjectCreated:*";
const NOTIFY_SUFFIX: &str = ".csv.gz";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const BILLING_SERVICE: &str = "billingreports.amazonaws.com";
const EXPORTS_SERVICE: &str = "bcm-data-exports.amazonaws.com";

pub struct CurBucket;

/// The four public access block settings, as S3 reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlockModel {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlockModel {
    pub const ALL_ON: PublicAccessBlockModel = PublicAccessBlockModel {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    fn to_value(self) -> Value {
        Value::Object(BTreeMap::from([
            ("block_public_acls".to_string(), Value::from(self.block_public_acls)),
            ("ignore_public_acls".to_string(), Value::from(self.ignore_public_acls)),
            ("block_public_policy".to_string(), Value::from(self.block_public_policy)),
            (
                "restrict_public_buckets".to_string(),
                Value::from(self.restrict_public_buckets),
            ),
        ]))
    }

    fn ty() -> Type {
        Type::object([
            ("block_public_acls", Type::Bool),
            ("ignore_public_acls", Type::Bool),
            ("block_public_policy", Type::Bool),
            ("restrict_public_buckets", Type::Bool),
        ])
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CurBucketModel {
    pub id: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub cross_account_role_arn: Option<String>,
    pub lifecycle_days: Option<i64>,
    pub enforce_tls: Option<bool>,
    pub notify_vantage: Option<bool>,
    pub additional_policy_statements: Option<String>,
    pub force_destroy: Option<bool>,
    pub tags: Option<Tags>,
    pub tags_all: Option<Tags>,
    pub arn: Option<String>,
    pub policy: Option<String>,
    pub public_access_block: Option<PublicAccessBlockModel>,
    pub timeouts: Option<Timeouts>,
}

impl CurBucketModel {
    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    fn lifecycle_days(&self) -> i64 {
        self.lifecycle_days.unwrap_or(DEFAULT_LIFECYCLE_DAYS)
    }
    fn notify(&self) -> bool {
        self.notify_vantage.unwrap_or(true)
    }
    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// The bucket policy of the reference
// ---------------------------------------------------------------------------

/// CUR and Data Exports live in us-east-1 (cn-northwest-1 in China), whatever
/// the bucket's region: their ARNs in `aws:SourceArn` always name it.
pub fn billing_region(partition: &str) -> &'static str {
    if partition == "aws-cn" {
        "cn-northwest-1"
    } else {
        "us-east-1"
    }
}

pub fn bucket_arn(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

/// Vantage's SNS topic for `region`, when Vantage has one there.
pub fn topic_arn(region: &str) -> Option<String> {
    TOPIC_REGIONS.contains(&region).then(|| {
        format!(
            "arn:{}:sns:{region}:{VANTAGE_ACCOUNT}:{TOPIC_NAME}",
            partition_of(region)
        )
    })
}

/// Statements 1-3 of the reference: billing (CUR 1.0) and Data Exports may
/// read the bucket's ACL and policy and write objects, only for reports of
/// this account.
pub fn billing_statements(partition: &str, account: &str, bucket: &str) -> Vec<serde_json::Value> {
    let b = bucket_arn(partition, bucket);
    let objects = format!("{b}/*");
    let region = billing_region(partition);
    let cur = format!("arn:{partition}:cur:{region}:{account}:definition/*");
    let exports = format!("arn:{partition}:bcm-data-exports:{region}:{account}:export/*");
    vec![
        json!({
            "Effect": "Allow",
            "Principal": { "Service": BILLING_SERVICE },
            "Action": ["s3:GetBucketAcl", "s3:GetBucketPolicy"],
            "Resource": b,
            "Condition": { "StringEquals": { "aws:SourceArn": cur, "aws:SourceAccount": account } }
        }),
        json!({
            "Effect": "Allow",
            "Principal": { "Service": BILLING_SERVICE },
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": { "StringEquals": { "aws:SourceArn": cur, "aws:SourceAccount": account } }
        }),
        json!({
            "Effect": "Allow",
            "Principal": { "Service": [BILLING_SERVICE, EXPORTS_SERVICE] },
            "Action": ["s3:PutObject", "s3:GetBucketPolicy"],
            "Resource": [objects, b],
            "Condition": { "StringLike": { "aws:SourceArn": [cur, exports], "aws:SourceAccount": account } }
        }),
    ]
}

/// Statement 4: Vantage's cross-account role reads the CUR files.
pub fn role_statement(partition: &str, bucket: &str, role_arn: &str) -> serde_json::Value {
    json!({
        "Effect": "Allow",
        "Principal": { "AWS": role_arn },
        "Action": ["s3:GetObject", "s3:GetObjectAcl"],
        "Resource": format!("{}/*", bucket_arn(partition, bucket))
    })
}

/// Statement 5: refuse plain-HTTP requests (AWS services are exempt).
pub fn tls_statement(partition: &str, bucket: &str) -> serde_json::Value {
    let b = bucket_arn(partition, bucket);
    json!({
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [b.clone(), format!("{b}/*")],
        "Condition": {
            "Bool": { "aws:SecureTransport": "false" },
            "BoolIfExists": { "aws:PrincipalIsAWSService": "false" }
        }
    })
}

/// The whole bucket policy: the reference statements, then the user's.
pub fn bucket_policy(
    partition: &str,
    account: &str,
    bucket: &str,
    role_arn: Option<&str>,
    enforce_tls: bool,
    additional: &[serde_json::Value],
) -> String {
    let mut statements = billing_statements(partition, account, bucket);
    if let Some(role) = role_arn {
        statements.push(role_statement(partition, bucket, role));
    }
    if enforce_tls {
        statements.push(tls_statement(partition, bucket));
    }
    statements.extend(additional.iter().cloned());
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// `additional_policy_statements`: a JSON list of statements, one statement
/// object, or a whole policy document (its statements are taken).
pub fn parse_additional(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("additional_policy_statements is not valid JSON: {e}"))?;
    let statements = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(ref o) if o.contains_key("Statement") => match &o["Statement"] {
            serde_json::Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        },
        one @ serde_json::Value::Object(_) => vec![one],
        _ => {
            return Err(
                "additional_policy_statements must be a JSON list of statements (or one statement object), \
                 e.g. jsonencode([{ Effect = \"Allow\", ... }])"
                    .to_string(),
            );
        }
    };
    PolicyDocument::from_value(&json!({ "Version": "2012-10-17", "Statement": statements.clone() }))
        .map_err(|e| format!("additional_policy_statements: {e}"))?;
    Ok(statements)
}

/// Two `additional_policy_statements` texts with the same statements.
fn same_statements(a: &str, b: &str) -> bool {
    match (parse_additional(a), parse_additional(b)) {
        (Ok(a), Ok(b)) => policy::equivalent(
            &json!({ "Version": "2012-10-17", "Statement": a }).to_string(),
            &json!({ "Version": "2012-10-17", "Statement": b }).to_string(),
        ),
        _ => a == b,
    }
}

fn one_statement_doc(statement: &serde_json::Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

/// What an existing bucket policy says in terms of this resource's arguments
/// (for import): the role reading the files, whether TLS is enforced, and
/// any statements beyond the reference ones.
struct PolicyShape {
    role_arn: Option<String>,
    enforce_tls: bool,
    additional: Option<String>,
}

fn policy_shape(partition: &str, account: &str, bucket: &str, text: &str) -> PolicyShape {
    let mut shape = PolicyShape {
        role_arn: None,
        enforce_tls: false,
        additional: None,
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return shape;
    };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(items) => items.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let reference: Vec<String> = billing_statements(partition, account, bucket)
        .iter()
        .map(one_statement_doc)
        .collect();
    let tls = one_statement_doc(&tls_statement(partition, bucket));
    let mut extra = Vec::new();
    for s in statements {
        let this = one_statement_doc(&s);
        if reference.iter().any(|r| policy::equivalent(r, &this)) {
            continue;
        }
        if policy::equivalent(&tls, &this) {
            shape.enforce_tls = true;
            continue;
        }
        let principal = match &s["Principal"]["AWS"] {
            serde_json::Value::String(p) => Some(p.clone()),
            serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
            _ => None,
        };
        if shape.role_arn.is_none()
            && let Some(p) = principal
            && policy::equivalent(&one_statement_doc(&role_statement(partition, bucket, &p)), &this)
        {
            shape.role_arn = Some(p);
            continue;
        }
        extra.push(s);
    }
    if !extra.is_empty() {
        shape.additional = Some(serde_json::Value::Array(extra).to_string());
    }
    shape
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn bucket_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), crate::s3::validate_bucket_name)
}

pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

fn region_check(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some(s) if !is_region_name(s) => Err(format!("{s:?} is not an AWS region name like \"eu-west-1\"")),
        _ => Ok(()),
    }
}

fn role_arn_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), |s| crate::arn::parse_role_arn(s).map(drop))
}

fn additional_check(v: &Value) -> Result<(), String> {
    v.as_str().map_or(Ok(()), |s| parse_additional(s).map(drop))
}

fn no_topic_message(region: &str) -> String {
    format!(
        "Vantage has no SNS topic in {region}: its `{TOPIC_NAME}` topics exist only in {}. Create the bucket in \
         one of those regions, or set `notify_vantage = false` (Vantage then finds new CUR files on its own \
         schedule instead of being notified).",
        TOPIC_REGIONS.join(", ")
    )
}

// ---------------------------------------------------------------------------
// S3 access
// ---------------------------------------------------------------------------

fn is_code<E, R>(e: &SdkError<E, R>, codes: &[&str]) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    code(e).is_some_and(|c| codes.contains(&c))
}

fn cancelled() -> Diagnostic {
    Diagnostic::error("Cancelled", "Terraform asked the provider to stop.")
}

/// A failed step of an S3 call, as a diagnostic naming the operation.
fn s3_failure<E>(step: &str, bucket: &str, e: RetryError<E>, describe_error: impl FnOnce(&E) -> String) -> Diagnostic {
    match e {
        RetryError::Cancelled => cancelled(),
        RetryError::Failed {
            error,
            attempts,
            waited,
        } => {
            let mut detail = format!("S3 {step} on {bucket}: {}", describe_error(&error));
            if attempts > 1 {
                detail.push_str(&format!(
                    " (still failing after {attempts} attempts over {}s)",
                    waited.as_secs()
                ));
            }
            detail.push_str(". Run apply again to continue from here.");
            Diagnostic::error(format!("Could not {}", step_summary(step)), detail)
        }
    }
}

fn step_summary(step: &str) -> &'static str {
    match step {
        "CreateBucket" => "create the CUR bucket",
        "PutPublicAccessBlock" => "block public access to the CUR bucket",
        "PutBucketPolicy" | "GetBucketPolicy" => "apply the CUR bucket policy",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" | "GetBucketLifecycleConfiguration" => {
            "set the CUR bucket's lifecycle rule"
        }
        "PutBucketNotificationConfiguration" | "GetBucketNotificationConfiguration" => {
            "set the CUR bucket's notification to Vantage"
        }
        "PutBucketTagging" | "DeleteBucketTagging" => "tag the CUR bucket",
        _ => "update the CUR bucket",
    }
}

/// The region a bucket lives in (GetBucketLocation), `None` when it does not exist.
pub async fn bucket_location(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Option<String>, Diagnostic> {
    match s3.get_bucket_location().bucket(bucket).send().await {
        Ok(out) => Ok(Some(
            match out.location_constraint().map(BucketLocationConstraint::as_str) {
                None | Some("") => "us-east-1".to_string(),
                Some("EU") => "eu-west-1".to_string(),
                Some(r) => r.to_string(),
            },
        )),
        Err(e) if is_code(&e, &["NoSuchBucket"]) => Ok(None),
        Err(e) => Err(Diagnostic::error(
            "Could not find the bucket's region",
            format!("S3 GetBucketLocation on {bucket}: {}", describe(&e)),
        )),
    }
}

/// What S3 holds for the bucket: five calls, made concurrently.
struct RemoteBucket {
    policy: Option<String>,
    public_access_block: PublicAccessBlockModel,
    lifecycle_days: i64,
    notify_vantage: bool,
    tags: Tags,
}

fn read_error<E, R>(what: &str, bucket: &str, e: &SdkError<E, R>) -> Diagnostic
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Diagnostic::error(
        "Could not read the CUR bucket",
        format!("S3 {what} on {bucket}: {}", describe(e)),
    )
}

/// The expiry (days) of the rule that expires every object, preferring ours.
/// Older rules carry their prefix at the top level (deprecated, still returned).
#[allow(deprecated)]
fn lifecycle_days_of(rules: &[LifecycleRule]) -> i64 {
    let whole_bucket = |r: &&LifecycleRule| {
        *r.status() == ExpirationStatus::Enabled
            && r.prefix().unwrap_or_default().is_empty()
            && r.filter().is_none_or(|f| {
                f.prefix().unwrap_or_default().is_empty()
                    && f.tag().is_none()
                    && f.and().is_none()
                    && f.object_size_greater_than().is_none()
                    && f.object_size_less_than().is_none()
            })
    };
    let days = |r: &LifecycleRule| r.expiration().and_then(|e| e.days()).map(i64::from);
    rules
        .iter()
        .filter(whole_bucket)
        .find(|r| r.id() == Some(LIFECYCLE_RULE_ID))
        .and_then(days)
        .or_else(|| rules.iter().filter(whole_bucket).find_map(days))
        .unwrap_or(0)
}

fn is_vantage_topic(t: &TopicConfiguration, topic: &str) -> bool {
    t.topic_arn() == topic
}

fn notifies_vantage(topics: &[TopicConfiguration], topic: Option<&str>) -> bool {
    let Some(topic) = topic else { return false };
    topics.iter().any(|t| {
        is_vantage_topic(t, topic)
            && t.events().iter().any(|e| e.as_str() == NOTIFY_EVENT)
            && t.filter().and_then(|f| f.key()).is_some_and(|k| {
                k.filter_rules().iter().any(|r| {
                    r.name().is_some_and(|n| n.as_str().eq_ignore_ascii_case("suffix"))
                        && r.value() == Some(NOTIFY_SUFFIX)
                })
            })
    })
}

async fn read_remote(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) -> Result<Option<RemoteBucket>, Diagnostic> {
    let (policy, pab, lifecycle, notification, tagging) = tokio::join!(
        s3.get_bucket_policy().bucket(bucket).send(),
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_lifecycle_configuration().bucket(bucket).send(),
        s3.get_bucket_notification_configuration().bucket(bucket).send(),
        s3.get_bucket_tagging().bucket(bucket).send(),
    );
    const GONE: &[&str] = &["NoSuchBucket"];
    let policy = match policy {
        Ok(out) => out.policy().map(str::to_string),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchBucketPolicy"]) => None,
        Err(e) => return Err(read_error("GetBucketPolicy", bucket, &e)),
    };
    let public_access_block = match pab {
        Ok(out) => out
            .public_access_block_configuration()
            .map(|c| PublicAccessBlockModel {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            })
            .unwrap_or_default(),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => PublicAccessBlockModel::default(),
        Err(e) => return Err(read_error("GetPublicAccessBlock", bucket, &e)),
    };
    let lifecycle_days = match lifecycle {
        Ok(out) => lifecycle_days_of(out.rules()),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchLifecycleConfiguration"]) => 0,
        Err(e) => return Err(read_error("GetBucketLifecycleConfiguration", bucket, &e)),
    };
    let notify_vantage = match notification {
        Ok(out) => notifies_vantage(out.topic_configurations(), topic_arn(region).as_deref()),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) => return Err(read_error("GetBucketNotificationConfiguration", bucket, &e)),
    };
    let tags = match tagging {
        Ok(out) => out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchTagSet"]) => Tags::new(),
        Err(e) => return Err(read_error("GetBucketTagging", bucket, &e)),
    };
    Ok(Some(RemoteBucket {
        policy,
        public_access_block,
        lifecycle_days,
        notify_vantage,
        tags,
    }))
}

/// Writes to a bucket created moments ago may still see `NoSuchBucket`.
fn not_visible_yet<E: aws_sdk_s3::error::ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    is_code(e, &["NoSuchBucket"])
}

/// The steps that bring a bucket to the planned state; each is idempotent.
struct Writer<'a> {
    ctx: &'a Ctx<ProviderData>,
    s3: aws_sdk_s3::Client,
    bucket: &'a str,
    region: &'a str,
    timeout: Duration,
}

impl Writer<'_> {
    /// One bucket write, retried while S3 does not see the new bucket yet.
    async fn write<T, E, R, F, Fut>(&self, step: &str, op: F) -> Result<(), Diagnostic>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        retry_while(self.ctx.cancellation(), self.timeout, op, not_visible_yet)
            .await
            .map(drop)
            .map_err(|e| s3_failure(step, self.bucket, e, describe))
    }

    async fn public_access_block(&self) -> Result<(), Diagnostic> {
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        self.write("PutPublicAccessBlock", || {
            self.s3
                .put_public_access_block()
                .bucket(self.bucket)
                .public_access_block_configuration(config.clone())
                .send()
        })
        .await
    }

    async fn policy(&self, document: &str) -> Result<(), Diagnostic> {
        retry_while(
            self.ctx.cancellation(),
            self.timeout,
            || self.s3.put_bucket_policy().bucket(self.bucket).policy(document).send(),
            // A role created moments ago is an "invalid principal" until IAM propagates it.
            |e| {
                not_visible_yet(e)
                    || (is_code(e, &["MalformedPolicy"])
                        && e.as_service_error()
                            .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::message(s))
                            .is_some_and(|m| m.to_ascii_lowercase().contains("invalid principal")))
            },
        )
        .await
        .map(drop)
        .map_err(|e| {
            let mut d = s3_failure("PutBucketPolicy", self.bucket, e, describe);
            if d.detail.contains("MalformedPolicy") {
                d.detail.push_str(
                    " Check `cross_account_role_arn` (the role must exist) and `additional_policy_statements`.",
                );
            }
            d
        })
    }

    /// Reads the policy back (S3 may answer NoSuchBucketPolicy right after a put).
    async fn policy_applied(&self) -> Result<String, Diagnostic> {
        retry_while(
            self.ctx.cancellation(),
            self.timeout,
            || async {
                let out = self.s3.get_bucket_policy().bucket(self.bucket).send().await?;
                Ok(out.policy().unwrap_or_default().to_string())
            },
            |e: &SdkError<_, _>| is_code(e, &["NoSuchBucketPolicy", "NoSuchBucket"]),
        )
        .await
        .map_err(|e| s3_failure("GetBucketPolicy", self.bucket, e, describe))
    }

    /// Sets our expiry rule (or removes it when `days` is 0), keeping other rules.
    async fn lifecycle(&self, days: i64) -> Result<(), Diagnostic> {
        let current = retry_while(
            self.ctx.cancellation(),
            self.timeout,
            || async {
                match self
                    .s3
                    .get_bucket_lifecycle_configuration()
                    .bucket(self.bucket)
                    .send()
                    .await
                {
                    Ok(out) => Ok(out.rules().to_vec()),
                    Err(e) if is_code(&e, &["NoSuchLifecycleConfiguration"]) => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            },
            not_visible_yet,
        )
        .await
        .map_err(|e| s3_failure("GetBucketLifecycleConfiguration", self.bucket, e, describe))?;
        let mut rules: Vec<LifecycleRule> = current
            .into_iter()
            .filter(|r| r.id() != Some(LIFECYCLE_RULE_ID))
            .collect();
        if days > 0 {
            let rule = LifecycleRule::builder()
                .id(LIFECYCLE_RULE_ID)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .expiration(LifecycleExpiration::builder().days(days as i32).build())
                .build()
                .map_err(|e| Diagnostic::error("Invalid lifecycle rule", e.to_string()))?;
            rules.push(rule);
        }
        if rules.is_empty() {
            return self
                .write("DeleteBucketLifecycle", || {
                    self.s3.delete_bucket_lifecycle().bucket(self.bucket).send()
                })
                .await;
        }
        let config = BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(|e| Diagnostic::error("Invalid lifecycle configuration", e.to_string()))?;
        self.write("PutBucketLifecycleConfiguration", || {
            self.s3
                .put_bucket_lifecycle_configuration()
                .bucket(self.bucket)
                .lifecycle_configuration(config.clone())
                .send()
        })
        .await
    }

    /// Adds (or removes) the notification to Vantage's topic, keeping other notifications.
    async fn notification(&self, notify: bool) -> Result<(), Diagnostic> {
        let topic = topic_arn(self.region);
        let current = retry_while(
            self.ctx.cancellation(),
            self.timeout,
            || {
                self.s3
                    .get_bucket_notification_configuration()
                    .bucket(self.bucket)
                    .send()
            },
            not_visible_yet,
        )
        .await
        .map_err(|e| s3_failure("GetBucketNotificationConfiguration", self.bucket, e, describe))?;
        let mut topics: Vec<TopicConfiguration> = current
            .topic_configurations()
            .iter()
            .filter(|t| topic.as_deref().is_none_or(|arn| !is_vantage_topic(t, arn)))
            .cloned()
            .collect();
        if notify {
            let Some(topic) = &topic else {
                return Err(
                    Diagnostic::error("No Vantage topic in this region", no_topic_message(self.region))
                        .at(AttrPath::new("notify_vantage")),
                );
            };
            let filter = NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(
                            FilterRule::builder()
                                .name(FilterRuleName::Suffix)
                                .value(NOTIFY_SUFFIX)
                                .build(),
                        )
                        .build(),
                )
                .build();
            let ours = TopicConfiguration::builder()
                .id("vantage-cur-uploaded")
                .topic_arn(topic)
                .events(Event::from(NOTIFY_EVENT))
                .filter(filter)
                .build()
                .map_err(|e| Diagnostic::error("Invalid notification", e.to_string()))?;
            topics.push(ours);
        }
        let config = NotificationConfiguration::builder()
            .set_topic_configurations(Some(topics))
            .set_queue_configurations(Some(current.queue_configurations().to_vec()))
            .set_lambda_function_configurations(Some(current.lambda_function_configurations().to_vec()))
            .set_event_bridge_configuration(current.event_bridge_configuration().cloned())
            .build();
        self.write("PutBucketNotificationConfiguration", || {
            self.s3
                .put_bucket_notification_configuration()
                .bucket(self.bucket)
                .notification_configuration(config.clone())
                .send()
        })
        .await
    }

    async fn tags(&self, all: &Tags) -> Result<(), Diagnostic> {
        if all.is_empty() {
            return self
                .write("DeleteBucketTagging", || {
                    self.s3.delete_bucket_tagging().bucket(self.bucket).send()
                })
                .await;
        }
        let tag_set = all
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Diagnostic::error("Invalid tag", e.to_string()))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| Diagnostic::error("Invalid tags", e.to_string()))?;
        self.write("PutBucketTagging", || {
            self.s3
                .put_bucket_tagging()
                .bucket(self.bucket)
                .tagging(tagging.clone())
                .send()
        })
        .await
    }

    /// Deletes every object version and delete marker (force_destroy).
    async fn empty(&self) -> Result<usize, Diagnostic> {
        let mut deleted = 0;
        loop {
            if self.ctx.cancellation().is_cancelled() {
                return Err(cancelled());
            }
            let out = self
                .s3
                .list_object_versions()
                .bucket(self.bucket)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| {
                    Diagnostic::error(
                        "Could not empty the CUR bucket",
                        format!("S3 ListObjectVersions on {}: {}", self.bucket, describe(&e)),
                    )
                })?;
            let mut ids = Vec::new();
            for v in out.versions() {
                if let Some(key) = v.key() {
                    ids.push((key.to_string(), v.version_id().map(str::to_string)));
                }
            }
            for m in out.delete_markers() {
                if let Some(key) = m.key() {
                    ids.push((key.to_string(), m.version_id().map(str::to_string)));
                }
            }
            if ids.is_empty() {
                return Ok(deleted);
            }
            let objects = ids
                .iter()
                .map(|(key, version)| {
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.clone())
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Diagnostic::error("Invalid object id", e.to_string()))?;
            let count = objects.len();
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| Diagnostic::error("Invalid delete request", e.to_string()))?;
            let out = self
                .s3
                .delete_objects()
                .bucket(self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| {
                    Diagnostic::error(
                        "Could not empty the CUR bucket",
                        format!("S3 DeleteObjects on {}: {}", self.bucket, describe(&e)),
                    )
                })?;
            if let Some(first) = out.errors().first() {
                return Err(Diagnostic::error(
                    "Could not empty the CUR bucket",
                    format!(
                        "S3 DeleteObjects on {} refused {} of {count} objects, e.g. {:?}: {} {}",
                        self.bucket,
                        out.errors().len(),
                        first.key().unwrap_or_default(),
                        first.code().unwrap_or_default(),
                        first.message().unwrap_or_default()
                    ),
                ));
            }
            deleted += count;
        }
    }
}

impl CurBucket {
    /// The state for what S3 holds, keeping the prior policy string when it
    /// means the same as what was read.
    fn state_from_remote(
        ctx: &Ctx<ProviderData>,
        prior: &CurBucketModel,
        region: &str,
        remote: RemoteBucket,
    ) -> CurBucketModel {
        let default_tags = &ctx.provider().aws.settings.default_tags;
        let bucket = prior.bucket().to_string();
        let policy = match (&prior.policy, remote.policy) {
            (Some(p), Some(actual)) if policy::equivalent(p, &actual) => Some(p.clone()),
            (_, actual) => actual,
        };
        CurBucketModel {
            id: Some(bucket.clone()),
            arn: Some(bucket_arn(partition_of(region), &bucket)),
            bucket: Some(bucket),
            region: Some(region.to_string()),
            lifecycle_days: Some(remote.lifecycle_days),
            notify_vantage: Some(remote.notify_vantage),
            tags: tags::own_tags(&remote.tags, default_tags, prior.tags.as_ref()),
            tags_all: Some(remote.tags),
            policy,
            public_access_block: Some(remote.public_access_block),
            ..prior.clone()
        }
    }

    /// The policy the arguments of `m` call for (the account is the caller's).
    async fn desired_policy(
        ctx: &Ctx<ProviderData>,
        partition: &str,
        bucket: &str,
        m: &CurBucketModel,
    ) -> Result<String, Diagnostic> {
        let account = &ctx.provider().aws.caller().await?.account_id;
        let additional = match &m.additional_policy_statements {
            Some(text) => parse_additional(text).map_err(|e| {
                Diagnostic::error("Invalid additional_policy_statements", e)
                    .at(AttrPath::new("additional_policy_statements"))
            })?,
            None => Vec::new(),
        };
        Ok(bucket_policy(
            partition,
            account,
            bucket,
            m.cross_account_role_arn.as_deref(),
            m.enforce_tls.unwrap_or(true),
            &additional,
        ))
    }

    /// The planned policy, computed now when it depended on values unknown at plan time
    /// (a role created by the same apply).
    async fn planned_policy(ctx: &Ctx<ProviderData>, planned: &CurBucketModel) -> Result<String, Diagnostic> {
        match &planned.policy {
            Some(p) => Ok(p.clone()),
            None => {
                let partition = partition_of(planned.region().unwrap_or("us-east-1"));
                Self::desired_policy(ctx, partition, planned.bucket(), planned).await
            }
        }
    }

    fn writer<'a>(
        ctx: &'a Ctx<ProviderData>,
        s3: aws_sdk_s3::Client,
        model: &'a CurBucketModel,
        timeout: Duration,
    ) -> Writer<'a> {
        Writer {
            ctx,
            s3,
            bucket: model.bucket(),
            region: model.region().unwrap_or("us-east-1"),
            timeout,
        }
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for CurBucket {
    type Model = CurBucketModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_cur_bucket"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The S3 bucket AWS billing delivers the Cost and Usage Report into, set up the way Vantage's \
             onboarding does: public access blocked, a bucket policy that lets AWS billing (and Data Exports) \
             write reports and Vantage's cross-account role read them, an expiry rule for old reports, and a \
             notification to Vantage's SNS topic when a new report file lands. Drift on any of these parts \
             shows in the plan and the next apply repairs it.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("The bucket name."),
        )
        .attribute(
            Attribute::string("bucket")
                .required()
                .requires_replace()
                .validator(custom("an S3 bucket name", bucket_check))
                .description(
                    "Name of the bucket (S3's naming rules apply: 3-63 lowercase letters, digits, dots and \
                     hyphens). Vantage's console names it `vantage-cur-<id>-<hex>`.",
                ),
        )
        .attribute(
            Attribute::string("region")
                .optional_computed()
                .requires_replace()
                .validator(custom("an AWS region name", region_check))
                .description(
                    "Region of the bucket. Defaults to the provider's region. The report itself always lives \
                     in us-east-1; the bucket may be anywhere, but Vantage's notification topic exists only \
                     in us-east-1, us-west-2, eu-west-1, eu-west-2 and ap-southeast-1.",
                ),
        )
        .attribute(
            Attribute::string("cross_account_role_arn")
                .optional()
                .validator(custom("an IAM role ARN", role_arn_check))
                .description(
                    "ARN of Vantage's cross-account role (`vantage_aws_cross_account_role.this.arn`): the bucket \
                     policy lets it read the report files (`s3:GetObject`, `s3:GetObjectAcl`). Without it, \
                     grant that access through the role's `cur_retrieval` policy instead.",
                ),
        )
        .attribute(
            Attribute::number("lifecycle_days")
                .default(DEFAULT_LIFECYCLE_DAYS)
                .validator(int_between(0, i64::from(i32::MAX)))
                .description("Delete report files this many days after they were written; `0` keeps them forever."),
        )
        .attribute(Attribute::bool("enforce_tls").default(true).description(
            "Deny every request to the bucket that does not use TLS (AWS services excepted), as Vantage's module \
             does.",
        ))
        .attribute(Attribute::bool("notify_vantage").default(true).description(
            "Notify Vantage's SNS topic in the bucket's region when a report file (`*.csv.gz`) arrives, so Vantage \
             imports it at once. The topic exists in us-east-1, us-west-2, eu-west-1, eu-west-2 and \
             ap-southeast-1 only; elsewhere set this to `false`.",
        ))
        .attribute(
            Attribute::string("additional_policy_statements")
                .optional()
                .validator(custom("a JSON list of IAM policy statements", additional_check))
                .semantic_equality(|a, b| match (a.as_str(), b.as_str()) {
                    (Some(a), Some(b)) => same_statements(a, b),
                    _ => false,
                })
                .description(
                    "Extra bucket policy statements (a JSON list, e.g. `jsonencode([{ ... }])`, or one \
                     statement object), added after Vantage's.",
                ),
        )
        .attribute(Attribute::bool("force_destroy").default(false).description(
            "Delete every object (all versions) when the bucket is destroyed. Without it, destroying a bucket \
             that holds reports fails. Apply the change before destroying: destroy uses the stored value.",
        ))
        .attribute(tags::tags_attribute())
        .attribute(tags::tags_all_attribute())
        .attribute(
            Attribute::string("arn")
                .computed()
                .use_state_for_unknown()
                .description("ARN of the bucket: register it with Vantage (`bucket_arn`)."),
        )
        .attribute(
            Attribute::string("policy")
                .computed()
                .description("The bucket policy as applied (JSON)."),
        )
        .attribute(
            Attribute::new("public_access_block", PublicAccessBlockModel::ty())
                .computed()
                .description("The bucket's public access block settings; all four are kept `true`."),
        )
        .block(timeouts::block(&["create", "update", "delete"]))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        // A region given literally is checked here; the provider's default region at plan time.
        if let (Val::Known(region), notify) = (config.get::<String>("region"), config.get::<bool>("notify_vantage"))
            && is_region_name(&region)
            && notify.known().unwrap_or(true)
            && !config.get::<bool>("notify_vantage").is_unknown()
            && topic_arn(&region).is_none()
        {
            diags.push(
                Diagnostic::error("No Vantage topic in this region", no_topic_message(&region))
                    .at(AttrPath::new("region")),
            );
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() {
            return Ok(());
        }
        let config: CurBucketModel = plan.config()?;
        let prior: Option<CurBucketModel> = plan.prior()?;
        let config_value = plan.config_value().clone();
        let data = ctx.provider();

        let region = match (config_value.attr("region").is_unknown(), &config.region, &prior) {
            (true, _, _) => None,
            (false, Some(r), _) => Some(r.clone()),
            (false, None, Some(p)) if p.region.is_some() => p.region.clone(),
            (false, None, _) => Some(data.aws.region().await),
        };
        match &region {
            Some(r) => plan.set("region", r.as_str()),
            None => plan.set_unknown("region"),
        }
        let bucket = config
            .bucket
            .clone()
            .filter(|_| !config_value.attr("bucket").is_unknown());
        let partition = region.as_deref().map(partition_of);
        match (&bucket, partition) {
            (Some(b), Some(p)) => {
                plan.set("id", b.as_str());
                plan.set("arn", bucket_arn(p, b));
            }
            _ => {
                plan.set_unknown("id");
                plan.set_unknown("arn");
            }
        }

        let notify = config_value.attr("notify_vantage").as_bool().unwrap_or(true)
            && !config_value.attr("notify_vantage").is_unknown();
        if notify
            && let Some(r) = &region
            && topic_arn(r).is_none()
        {
            let path = if config.region.is_some() {
                "region"
            } else {
                "notify_vantage"
            };
            return Err(
                Diagnostic::error("No Vantage topic in this region", no_topic_message(r))
                    .at(AttrPath::new(path))
                    .into(),
            );
        }

        if !config_value.attr("tags").is_unknown() {
            let all = tags::merge(&data.aws.settings.default_tags, config.tags.as_ref());
            plan.set(
                "tags_all",
                Value::Map(all.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
            );
        }
        plan.set("public_access_block", PublicAccessBlockModel::ALL_ON.to_value());

        let inputs_known = ["cross_account_role_arn", "enforce_tls", "additional_policy_statements"]
            .iter()
            .all(|a| config_value.attr(a).is_wholly_known());
        match (&bucket, partition) {
            (Some(b), Some(p)) if inputs_known => {
                let desired = Self::desired_policy(ctx, p, b, &config).await?;
                let keep = prior
                    .as_ref()
                    .and_then(|p| p.policy.clone())
                    .filter(|prior_doc| policy::equivalent(prior_doc, &desired));
                plan.set("policy", keep.unwrap_or(desired));
            }
            _ => plan.set_unknown("policy"),
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: CurBucketModel,
    ) -> Result<CurBucketModel, ApplyError<CurBucketModel>> {
        let bucket = planned.bucket().to_string();
        let region = planned.region().unwrap_or("us-east-1").to_string();
        let timeout = planned.timeouts().create_or(DEFAULT_TIMEOUT);
        let s3 = ctx.provider().aws.s3(Some(&region)).await;

        let mut request = s3.create_bucket().bucket(&bucket);
        if region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        let created = tokio::select! {
            r = request.send() => r,
            _ = ctx.cancellation().cancelled() => return Err(cancelled().into()),
        };
        if let Err(e) = created {
            let d = if is_code(&e, &["BucketAlreadyOwnedByYou"]) {
                Diagnostic::error(
                    "CUR bucket already exists",
                    format!(
                        "You already own a bucket named {bucket:?} (perhaps left by an earlier onboarding). \
                         Adopt it instead of creating it: add\n\n  import {{\n    to = vantage_aws_cur_bucket.<this \
                         resource's name>\n    id = \"{bucket}\"\n  }}\n\nand run apply again, or choose another \
                         `bucket`."
                    ),
                )
            } else if is_code(&e, &["BucketAlreadyExists"]) {
                Diagnostic::error(
                    "Bucket name taken",
                    format!(
                        "Another AWS account already has a bucket named {bucket:?}: bucket names are global. \
                         Choose another `bucket`."
                    ),
                )
            } else {
                Diagnostic::error(
                    "Could not create the CUR bucket",
                    format!("S3 CreateBucket {bucket} in {region}: {}", describe(&e)),
                )
            };
            return Err(d.at(AttrPath::new("bucket")).into());
        }

        // From here on the bucket exists: a failure returns what was done as
        // partial state, so the next apply continues and nothing is orphaned.
        let mut partial = CurBucketModel {
            id: Some(bucket.clone()),
            region: Some(region.clone()),
            arn: Some(bucket_arn(partition_of(&region), &bucket)),
            policy: None,
            public_access_block: Some(PublicAccessBlockModel::default()),
            lifecycle_days: Some(0),
            notify_vantage: Some(false),
            tags_all: Some(Tags::new()),
            ..planned.clone()
        };
        let writer = Self::writer(ctx, s3, &planned, timeout);
        let fail = |partial: &CurBucketModel, d: Diagnostic| ApplyError::with_partial_state(partial.clone(), d);

        if let Err(d) = writer.public_access_block().await {
            return Err(fail(&partial, d));
        }
        let block = Some(PublicAccessBlockModel::ALL_ON);
        let document = match Self::planned_policy(ctx, &planned).await {
            Ok(d) => d,
            Err(d) => {
                return Err(fail(
                    &CurBucketModel {
                        public_access_block: block,
                        ..partial
                    },
                    d,
                ));
            }
        };
        if let Err(d) = writer.policy(&document).await {
            return Err(fail(
                &CurBucketModel {
                    public_access_block: block,
                    ..partial
                },
                d,
            ));
        }
        let applied = match writer.policy_applied().await {
            Ok(text) if policy::equivalent(&text, &document) => document.clone(),
            Ok(text) => text,
            Err(d) => {
                return Err(fail(
                    &CurBucketModel {
                        public_access_block: block,
                        policy: Some(document),
                        ..partial
                    },
                    d,
                ));
            }
        };
        partial.public_access_block = block;
        partial.policy = Some(applied);
        if planned.lifecycle_days() > 0 {
            if let Err(d) = writer.lifecycle(planned.lifecycle_days()).await {
                return Err(fail(&partial, d));
            }
            partial.lifecycle_days = Some(planned.lifecycle_days());
        }
        if planned.notify() {
            if let Err(d) = writer.notification(true).await {
                return Err(fail(&partial, d));
            }
            partial.notify_vantage = Some(true);
        }
        let all_tags = planned.tags_all.clone().unwrap_or_default();
        if !all_tags.is_empty() {
            if let Err(d) = writer.tags(&all_tags).await {
                return Err(fail(&partial, d));
            }
            partial.tags_all = Some(all_tags);
        }
        Ok(partial)
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: CurBucketModel,
    ) -> Result<Option<CurBucketModel>, Diagnostics> {
        let region = match current.region() {
            Some(r) => r.to_string(),
            None => ctx.provider().aws.region().await,
        };
        let s3 = ctx.provider().aws.s3(Some(&region)).await;
        let Some(remote) = read_remote(&s3, current.bucket(), &region).await? else {
            return Ok(None);
        };
        Ok(Some(Self::state_from_remote(ctx, &current, &region, remote)))
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: CurBucketModel,
        planned: CurBucketModel,
    ) -> Result<CurBucketModel, ApplyError<CurBucketModel>> {
        let timeout = planned.timeouts().update_or(DEFAULT_TIMEOUT);
        let region = planned.region().or(prior.region()).unwrap_or("us-east-1").to_string();
        let s3 = ctx.provider().aws.s3(Some(&region)).await;
        let writer = Self::writer(ctx, s3, &planned, timeout);
        // Progress so far: on failure Terraform keeps what was done.
        let mut state = prior.clone();
        let fail = |state: &CurBucketModel, d: Diagnostic| ApplyError::with_partial_state(state.clone(), d);

        if prior.public_access_block != Some(PublicAccessBlockModel::ALL_ON) {
            writer.public_access_block().await.map_err(|d| fail(&state, d))?;
            state.public_access_block = Some(PublicAccessBlockModel::ALL_ON);
        }
        let document = Self::planned_policy(ctx, &planned).await.map_err(|d| fail(&state, d))?;
        if prior
            .policy
            .as_deref()
            .is_none_or(|p| !policy::equivalent(p, &document))
        {
            writer.policy(&document).await.map_err(|d| fail(&state, d))?;
            let applied = writer.policy_applied().await.map_err(|d| fail(&state, d))?;
            state.policy = Some(if policy::equivalent(&applied, &document) {
                document
            } else {
                applied
            });
        } else if planned.policy.is_none() {
            state.policy = Some(document);
        }
        if planned.lifecycle_days != prior.lifecycle_days {
            writer
                .lifecycle(planned.lifecycle_days())
                .await
                .map_err(|d| fail(&state, d))?;
            state.lifecycle_days = planned.lifecycle_days;
        }
        if planned.notify_vantage != prior.notify_vantage {
            writer
                .notification(planned.notify())
                .await
                .map_err(|d| fail(&state, d))?;
            state.notify_vantage = planned.notify_vantage;
        }
        if planned.tags_all != prior.tags_all {
            let all = planned.tags_all.clone().unwrap_or_default();
            writer.tags(&all).await.map_err(|d| fail(&state, d))?;
            state.tags_all = Some(all);
        }
        Ok(CurBucketModel {
            policy: state.policy,
            public_access_block: state.public_access_block,
            ..planned
        })
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: CurBucketModel) -> Result<(), Diagnostics> {
        let bucket = prior.bucket().to_string();
        let region = prior.region().unwrap_or("us-east-1").to_string();
        let timeout = prior.timeouts().delete_or(DEFAULT_TIMEOUT);
        let s3 = ctx.provider().aws.s3(Some(&region)).await;
        let force = prior.force_destroy.unwrap_or(false);
        let writer = Self::writer(ctx, s3.clone(), &prior, timeout);
        let result = retry_while(
            ctx.cancellation(),
            timeout,
            || async {
                if force {
                    writer.empty().await.map_err(DeleteError::Other)?;
                }
                match s3.delete_bucket().bucket(&bucket).send().await {
                    Ok(_) => Ok(()),
                    Err(e) if is_code(&e, &["NoSuchBucket"]) => Ok(()),
                    Err(e) if is_code(&e, &["BucketNotEmpty"]) => Err(DeleteError::NotEmpty),
                    Err(e) => Err(DeleteError::Other(Diagnostic::error(
                        "Could not delete the CUR bucket",
                        format!("S3 DeleteBucket {bucket}: {}", describe(&e)),
                    ))),
                }
            },
            // With force_destroy a report file may land between emptying and deleting: go again.
            |e| force && matches!(e, DeleteError::NotEmpty),
        )
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(RetryError::Cancelled) => Err(cancelled().into()),
            Err(RetryError::Failed {
                error: DeleteError::NotEmpty,
                ..
            }) => Err(Diagnostic::error(
                "CUR bucket is not empty",
                format!(
                    "S3 refuses to delete {bucket} because it still holds objects (Cost and Usage Report files). \
                     To delete them with the bucket, set `force_destroy = true`, run apply (so the setting is \
                     stored), then destroy again. Or empty the bucket yourself, or remove it from the \
                     configuration with a `removed {{}}` block to keep it."
                ),
            )
            .into()),
            Err(RetryError::Failed {
                error: DeleteError::Other(d),
                ..
            }) => Err(d.into()),
        }
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<CurBucketModel, Diagnostics> {
        crate::s3::validate_bucket_name(id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import the CUR bucket by its name."),
            ))
        })?;
        let data = ctx.provider();
        let home = data.aws.s3(None).await;
        let Some(region) = bucket_location(&home, id).await? else {
            return Err(Diagnostic::error(
                "Cannot import a missing bucket",
                format!("There is no S3 bucket named {id:?} that these credentials can see."),
            )
            .into());
        };
        let s3 = data.aws.s3(Some(&region)).await;
        let Some(remote) = read_remote(&s3, id, &region).await? else {
            return Err(Diagnostic::error(
                "Cannot import a missing bucket",
                format!("The S3 bucket {id:?} disappeared while it was being imported."),
            )
            .into());
        };
        let account = &data.aws.caller().await?.account_id;
        let shape = remote
            .policy
            .as_deref()
            .map(|p| policy_shape(partition_of(&region), account, id, p))
            .unwrap_or(PolicyShape {
                role_arn: None,
                enforce_tls: true,
                additional: None,
            });
        let prior = CurBucketModel {
            bucket: Some(id.to_string()),
            cross_account_role_arn: shape.role_arn,
            enforce_tls: Some(shape.enforce_tls),
            additional_policy_statements: shape.additional,
            force_destroy: Some(false),
            ..CurBucketModel::default()
        };
        Ok(Self::state_from_remote(ctx, &prior, &region, remote))
    }
}

enum DeleteError {
    NotEmpty,
    Other(Diagnostic),
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn the_policy_names_us_east_1_whatever_the_bucket_region() {
        let doc = bucket_policy("aws", ACCOUNT, "my-cur", None, true, &[]);
        assert!(doc.contains("arn:aws:cur:us-east-1:123456789012:definition/*"));
        assert!(doc.contains("arn:aws:bcm-data-exports:us-east-1:123456789012:export/*"));
        assert!(PolicyDocument::parse(&doc).is_ok());
    }

    #[test]
    fn the_policy_has_the_reference_statements_and_the_options() {
        let role = "arn:aws:iam::123456789012:role/vantage_cross_account_connection";
        let extra = parse_additional(r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::my-cur"}]"#)
            .expect("valid");
        let doc: serde_json::Value =
            serde_json::from_str(&bucket_policy("aws", ACCOUNT, "my-cur", Some(role), true, &extra)).expect("json");
        let statements = doc["Statement"].as_array().expect("list");
        assert_eq!(statements.len(), 6);
        assert_eq!(statements[3]["Principal"]["AWS"], role);
        assert_eq!(statements[4]["Effect"], "Deny");
        let bare: serde_json::Value =
            serde_json::from_str(&bucket_policy("aws", ACCOUNT, "my-cur", None, false, &[])).expect("json");
        assert_eq!(bare["Statement"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn an_imported_policy_gives_back_the_arguments() {
        let role = "arn:aws:iam::123456789012:role/v";
        let extra_text = r#"[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::my-cur"}]"#;
        let extra = parse_additional(extra_text).expect("valid");
        let doc = bucket_policy("aws", ACCOUNT, "my-cur", Some(role), true, &extra);
        let shape = policy_shape("aws", ACCOUNT, "my-cur", &doc);
        assert_eq!(shape.role_arn.as_deref(), Some(role));
        assert!(shape.enforce_tls);
        assert!(same_statements(
            shape.additional.as_deref().unwrap_or_default(),
            extra_text
        ));
        let shape = policy_shape(
            "aws",
            ACCOUNT,
            "my-cur",
            &bucket_policy("aws", ACCOUNT, "my-cur", None, false, &[]),
        );
        assert!(shape.role_arn.is_none() && !shape.enforce_tls && shape.additional.is_none());
    }

    #[test]
    fn additional_statements_accept_a_list_an_object_or_a_document() {
        let one = r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"*"}"#;
        assert_eq!(parse_additional(one).map(|s| s.len()), Ok(1));
        assert_eq!(parse_additional(&format!("[{one},{one}]")).map(|s| s.len()), Ok(2));
        assert_eq!(
            parse_additional(&format!(r#"{{"Version":"2012-10-17","Statement":[{one}]}}"#)).map(|s| s.len()),
            Ok(1)
        );
        assert!(parse_additional("\"x\"").is_err());
        assert!(
            parse_additional(r#"[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]"#)
                .is_err_and(|e| e.contains("Effect"))
        );
        assert!(same_statements(&format!("[{one}]"), one));
    }

    #[test]
    fn topics_exist_in_five_regions() {
        assert_eq!(
            topic_arn("eu-west-2").as_deref(),
            Some("arn:aws:sns:eu-west-2:630399649041:cost-and-usage-report-uploaded")
        );
        assert!(topic_arn("eu-central-1").is_none());
        assert!(
            no_topic_message("eu-central-1").contains("us-east-1, us-west-2, eu-west-1, eu-west-2, ap-southeast-1")
        );
    }

    #[test]
    fn region_names_are_recognised() {
        assert!(is_region_name("us-east-1") && is_region_name("ap-southeast-1") && is_region_name("us-gov-west-1"));
        assert!(!is_region_name("useast1") && !is_region_name("US-EAST-1") && !is_region_name("us-east"));
    }

    #[test]
    fn the_expiry_rule_is_found_among_others() {
        let rule = |id: &str, days: i32, prefix: &str| {
            LifecycleRule::builder()
                .id(id)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
                .expiration(LifecycleExpiration::builder().days(days).build())
                .build()
                .expect("rule")
        };
        assert_eq!(lifecycle_days_of(&[]), 0);
        assert_eq!(
            lifecycle_days_of(&[rule("other", 30, "tmp/"), rule(LIFECYCLE_RULE_ID, 200, "")]),
            200
        );
        assert_eq!(lifecycle_days_of(&[rule("theirs", 90, "")]), 90);
        assert_eq!(lifecycle_days_of(&[rule("scoped", 90, "logs/")]), 0);
    }
}
