//! S3 for the CUR bucket: where a bucket lives, what S3 holds for each part
//! Vantage's onboarding puts on a CUR bucket, and the writer of each part.
//! The policy document itself is built in `policy::bucket`.
//!
//! What S3 answers, and what this module relies on:
//! - GetBucketLocation answers an empty location constraint for us-east-1
//!   and the legacy `EU` for eu-west-1; CreateBucket outside us-east-1 needs
//!   a location constraint naming the region. A bucket is served from its
//!   own region, so every call here uses a client for the bucket's region.
//! - CreateBucket answers `BucketAlreadyOwnedByYou` when the caller owns a
//!   bucket of that name and `BucketAlreadyExists` when another account does
//!   (bucket names are global).
//! - A part that was never set is an error of its own: `NoSuchBucketPolicy`,
//!   `NoSuchPublicAccessBlockConfiguration`, `NoSuchLifecycleConfiguration`,
//!   `NoSuchTagSet`. A notification configuration is never missing, only
//!   empty. Any of them answers `NoSuchBucket` once the bucket is gone.
//! - S3 is eventually consistent right after a write: writes to a bucket
//!   created moments ago may answer `NoSuchBucket`; a bucket policy naming a
//!   role created seconds ago is refused with `MalformedPolicy: Invalid
//!   principal in policy` until IAM has propagated the role (up to about two
//!   minutes); GetBucketPolicy right after PutBucketPolicy may still answer
//!   `NoSuchBucketPolicy`. These "not yet" answers are 4xx errors the SDK
//!   never retries; this module retries exactly them (see "Retries: S3 and
//!   CUR" in ARCHITECTURE.md).
//! - S3 returns a bucket policy verbatim (IAM, unlike S3, URL-encodes
//!   documents), possibly reformatted: compare with `policy::equivalent`.
//! - DeleteBucket answers `BucketNotEmpty` while any object version or
//!   delete marker remains; emptying deletes them 1,000 per call.
//!
//! Vantage's parts of a CUR bucket (from Vantage's public Terraform module,
//! vantage-sh/terraform-aws-vantage-integration):
//! - all four public access block settings on;
//! - an expiry rule with id `remove-old-reports` over the whole bucket;
//! - a notification of `s3:ObjectCreated:*` for keys ending in `.csv.gz` to
//!   Vantage's SNS topic `arn:aws:sns:<bucket region>:630399649041:cost-and-usage-report-uploaded`,
//!   which exists only in us-east-1, us-west-2, eu-west-1, eu-west-2 and
//!   ap-southeast-1. This is how Vantage learns that a new CUR file arrived.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, Delete, Event, ExpirationStatus,
    FilterRule, FilterRuleName, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NotificationConfiguration,
    NotificationConfigurationFilter, ObjectIdentifier, PublicAccessBlockConfiguration, S3KeyFilter, Tag, Tagging,
    TopicConfiguration,
};
use serde::{Deserialize, Serialize};
use tfplugin::{CancellationToken, Diagnostic};

use crate::aws::clients::partition_of;
use crate::aws::errors::{code, created_since, describe, refused};
use crate::retry::{Budget, RetryError, retry_while};
use crate::tags::Tags;

/// The AWS account that owns Vantage's SNS topics.
pub const VANTAGE_ACCOUNT: &str = "630399649041";
/// The topic Vantage listens on for new CUR files, in each region it exists in.
pub const TOPIC_NAME: &str = "cost-and-usage-report-uploaded";
pub const TOPIC_REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "eu-west-2", "ap-southeast-1"];
/// The lifecycle rule id Vantage's module uses.
pub const LIFECYCLE_RULE_ID: &str = "remove-old-reports";
const NOTIFY_EVENT: &str = "s3:ObjectCreated:*";
const NOTIFY_SUFFIX: &str = ".csv.gz";
const NOTIFICATION_ID: &str = "vantage-cur-uploaded";

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

/// Why a bucket in `region` cannot notify Vantage, and what to do instead.
pub fn no_topic_message(region: &str) -> String {
    format!(
        "Vantage has no SNS topic in {region}: its `{TOPIC_NAME}` topics exist only in {}. Create the bucket in \
         one of those regions, or set `notify_vantage = false` (Vantage then finds new CUR files on its own \
         schedule instead of being notified).",
        TOPIC_REGIONS.join(", ")
    )
}

/// Whether `s` looks like an AWS region name (`eu-west-1`, `us-gov-west-1`).
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

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A failed S3 call on a CUR bucket.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// Writing one part of the bucket (or reading it to write it) failed;
    /// `attempts` and `waited` count our "not yet" retries.
    #[error("S3 {op} on {bucket}: {message}")]
    Write {
        op: &'static str,
        bucket: String,
        message: String,
        attempts: u32,
        waited: Duration,
    },
    /// The operation's bound passed with a write (or its read) still unanswered.
    #[error("S3 {op} on {bucket}: no answer before the deadline")]
    Unanswered { op: &'static str, bucket: String },
    /// Reading what S3 holds for the bucket failed.
    #[error("S3 {op} on {bucket}: {message}")]
    Read {
        op: &'static str,
        bucket: String,
        message: String,
    },
    #[error("S3 GetBucketLocation on {bucket}: {message}")]
    Location { bucket: String, message: String },
    /// Waited `waited` for a bucket that never appeared.
    #[error("there is no S3 bucket named {bucket:?}")]
    Missing { bucket: String, waited: Duration },
    #[error("a bucket named {bucket:?} is already owned by these credentials")]
    AlreadyOwned { bucket: String },
    #[error("another AWS account has a bucket named {bucket:?}")]
    NameTaken { bucket: String },
    #[error("S3 CreateBucket {bucket} in {region}: {message}")]
    Create {
        bucket: String,
        region: String,
        message: String,
        /// S3 refused (a 4xx): no bucket was made. Otherwise (no answer, a 5xx) it may have been.
        refused: bool,
    },
    /// Listing or deleting objects while emptying the bucket failed.
    #[error("S3 {op} on {bucket}: {message}")]
    Empty {
        op: &'static str,
        bucket: String,
        message: String,
    },
    /// DeleteObjects answered, but refused some of the objects.
    #[error("S3 DeleteObjects on {bucket} refused {refused} of {count} objects, e.g. {key:?}: {code} {message}")]
    EmptyRefused {
        bucket: String,
        refused: usize,
        count: usize,
        key: String,
        code: String,
        message: String,
    },
    #[error("S3 DeleteBucket {bucket}: {message}")]
    Delete { bucket: String, message: String },
    /// Listing or copying report files failed.
    #[error("S3 {op} on {bucket}: {message}")]
    Objects {
        op: &'static str,
        bucket: String,
        message: String,
    },
    #[error("S3 refuses to delete {bucket} because it still holds objects")]
    NotEmpty { bucket: String },
    /// The bucket should notify Vantage, but Vantage has no topic in its region.
    #[error("Vantage has no SNS topic in {region}")]
    NoVantageTopic { region: String },
    /// The SDK refused to build a request (`summary` names what).
    #[error("{summary}: {message}")]
    Build { summary: &'static str, message: String },
    #[error("cancelled")]
    Cancelled,
}

impl S3Error {
    /// The S3 operation a failed write step was waiting for.
    pub fn write_op(&self) -> Option<&'static str> {
        match self {
            S3Error::Write { op, .. } | S3Error::Unanswered { op, .. } => Some(op),
            _ => None,
        }
    }

    /// Whether a failed [`create_bucket`] may still have made the bucket: S3 gave no answer or a
    /// server error, or Terraform stopped the wait.
    pub fn may_have_created(&self) -> bool {
        matches!(self, S3Error::Cancelled | S3Error::Create { refused: false, .. })
    }

    /// The diagnostic for this error: what failed and what to do.
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            S3Error::Write {
                op, attempts, waited, ..
            } => {
                let mut detail = self.to_string();
                if *attempts > 1 {
                    detail.push_str(&format!(
                        " (still failing after {attempts} attempts over {}s)",
                        waited.as_secs()
                    ));
                }
                detail.push_str(". Run apply again to continue from here.");
                if *op == "PutBucketPolicy" && detail.contains("MalformedPolicy") {
                    detail.push_str(
                        " Check `cross_account_role_arn` (the role must exist) and `additional_policy_statements`.",
                    );
                }
                Diagnostic::error(format!("Could not {}", write_summary(op)), detail)
            }
            S3Error::Unanswered { op, .. } => Diagnostic::error(
                format!("Could not {}", write_summary(op)),
                format!("{self}. Run apply again to continue from here."),
            ),
            S3Error::Read { .. } => Diagnostic::error("Could not read the CUR bucket", self.to_string()),
            S3Error::Location { .. } => Diagnostic::error("Could not find the bucket's region", self.to_string()),
            S3Error::Missing { bucket, waited } => Diagnostic::error(
                "CUR bucket not found",
                format!(
                    "There is no S3 bucket named {bucket:?} (waited {}s for it to appear). Create it with \
                     `vantage_aws_cur_bucket`, or set `bucket_region` if these credentials cannot read its location.",
                    waited.as_secs()
                ),
            ),
            S3Error::AlreadyOwned { bucket } => Diagnostic::error(
                "CUR bucket already exists",
                format!(
                    "You already own a bucket named {bucket:?} (perhaps left by an earlier onboarding). \
                     Adopt it instead of creating it: add\n\n  import {{\n    to = vantage_aws_cur_bucket.<this \
                     resource's name>\n    id = \"{bucket}\"\n  }}\n\nand run apply again, or choose another \
                     `bucket`."
                ),
            ),
            S3Error::NameTaken { bucket } => Diagnostic::error(
                "Bucket name taken",
                format!(
                    "Another AWS account already has a bucket named {bucket:?}: bucket names are global. \
                     Choose another `bucket`."
                ),
            ),
            S3Error::Create { .. } => Diagnostic::error("Could not create the CUR bucket", self.to_string()),
            S3Error::Empty { .. } | S3Error::EmptyRefused { .. } => {
                Diagnostic::error("Could not empty the CUR bucket", self.to_string())
            }
            S3Error::Delete { .. } => Diagnostic::error("Could not delete the CUR bucket", self.to_string()),
            S3Error::Objects { .. } => Diagnostic::error(
                "Could not copy the report files",
                format!(
                    "{self}. The provider's credentials need s3:ListBucket and s3:GetObject on the source and \
                     s3:PutObject on the CUR bucket."
                ),
            ),
            S3Error::NotEmpty { bucket } => Diagnostic::error(
                "CUR bucket is not empty",
                format!(
                    "S3 refuses to delete {bucket} because it still holds objects (Cost and Usage Report files). \
                     To delete them with the bucket, set `force_destroy = true`, run apply (so the setting is \
                     stored), then destroy again. Or empty the bucket yourself, or remove it from the \
                     configuration with a `removed {{}}` block to keep it."
                ),
            ),
            S3Error::NoVantageTopic { region } => {
                Diagnostic::error("No Vantage topic in this region", no_topic_message(region))
            }
            S3Error::Build { summary, message } => Diagnostic::error(*summary, message.clone()),
            S3Error::Cancelled => Diagnostic::error("Cancelled", "Terraform asked the provider to stop."),
        }
    }
}

/// The summary of a failed write step, by the S3 operation that failed.
fn write_summary(op: &str) -> &'static str {
    match op {
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

fn build_error(summary: &'static str) -> impl FnOnce(aws_sdk_s3::error::BuildError) -> S3Error {
    move |e| S3Error::Build {
        summary,
        message: e.to_string(),
    }
}

// ---------------------------------------------------------------------------
// "Not yet" answers: the only S3 errors we retry ourselves
// ---------------------------------------------------------------------------

fn is_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, codes: &[&str]) -> bool {
    code(e).is_some_and(|c| codes.contains(&c))
}

/// A bucket created moments ago that S3 does not see yet (`NoSuchBucket`, 404).
fn bucket_not_visible_yet(code: Option<&str>) -> bool {
    code == Some("NoSuchBucket")
}

/// PutBucketPolicy not accepted yet: the bucket is not visible yet, or the
/// policy names a role IAM has not propagated yet (`MalformedPolicy`, 400).
fn policy_not_accepted_yet(code: Option<&str>, message: Option<&str>) -> bool {
    bucket_not_visible_yet(code)
        || (code == Some("MalformedPolicy")
            && message.is_some_and(|m| m.to_ascii_lowercase().contains("invalid principal")))
}

/// GetBucketPolicy right after a put: `NoSuchBucketPolicy` or `NoSuchBucket` (404).
fn policy_not_readable_yet(code: Option<&str>) -> bool {
    matches!(code, Some("NoSuchBucketPolicy" | "NoSuchBucket"))
}

fn service_message<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(ProvideErrorMetadata::message)
}

// ---------------------------------------------------------------------------
// Location, create, delete
// ---------------------------------------------------------------------------

/// The region a bucket lives in (GetBucketLocation), `None` when it does not exist.
pub async fn bucket_location(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Option<String>, S3Error> {
    match s3.get_bucket_location().bucket(bucket).send().await {
        Ok(out) => Ok(Some(
            match out.location_constraint().map(BucketLocationConstraint::as_str) {
                None | Some("") => "us-east-1".to_string(),
                Some("EU") => "eu-west-1".to_string(),
                Some(r) => r.to_string(),
            },
        )),
        Err(e) if is_code(&e, &["NoSuchBucket"]) => Ok(None),
        Err(e) => Err(S3Error::Location {
            bucket: bucket.to_string(),
            message: describe(&e),
        }),
    }
}

/// The bucket's region, waiting up to `timeout` for a bucket that does not
/// exist yet (one created by the same apply).
pub async fn wait_for_bucket_location(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<String, S3Error> {
    let found = retry_while(
        cancel,
        timeout,
        || async {
            match bucket_location(s3, bucket).await {
                Ok(Some(r)) => Ok(r),
                Ok(None) => Err(None),
                Err(e) => Err(Some(e)),
            }
        },
        Option::is_none,
    )
    .await;
    match found {
        Ok(region) => Ok(region),
        Err(RetryError::Cancelled) => Err(S3Error::Cancelled),
        Err(RetryError::Failed { error: Some(e), .. }) => Err(e),
        Err(RetryError::Failed {
            error: None, waited, ..
        }) => Err(S3Error::Missing {
            bucket: bucket.to_string(),
            waited,
        }),
    }
}

/// CreateBucket in `region` (a client for that region). `BucketAlreadyOwnedByYou` for a bucket
/// created since this call started is the SDK's retry of a CreateBucket whose answer was lost
/// meeting the bucket its first attempt made: that counts as created.
pub async fn create_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    cancel: &CancellationToken,
) -> Result<(), S3Error> {
    let mut request = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    let started = SystemTime::now();
    let created = tokio::select! {
        r = request.send() => r,
        _ = cancel.cancelled() => return Err(S3Error::Cancelled),
    };
    let bucket = bucket.to_string();
    match created {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, &["BucketAlreadyOwnedByYou"]) => {
            if created_by_this_call(s3, &bucket, started).await {
                tracing::info!(%bucket, "CreateBucket was retried after its answer was lost: adopting the bucket it created");
                Ok(())
            } else {
                Err(S3Error::AlreadyOwned { bucket })
            }
        }
        Err(e) if is_code(&e, &["BucketAlreadyExists"]) => Err(S3Error::NameTaken { bucket }),
        Err(e) => Err(S3Error::Create {
            bucket,
            region: region.to_string(),
            message: describe(&e),
            refused: refused(&e),
        }),
    }
}

/// Whether ListBuckets shows `bucket` created since `started`.
async fn created_by_this_call(s3: &aws_sdk_s3::Client, bucket: &str, started: SystemTime) -> bool {
    let Ok(listed) = s3.list_buckets().prefix(bucket).send().await else {
        return false;
    };
    listed.buckets().iter().any(|b| {
        b.name() == Some(bucket)
            && b.creation_date()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                .is_some_and(|d| created_since(&d, started))
    })
}

/// DeleteBucket; a bucket already gone counts as deleted. With `force` every
/// object is deleted first, and again if a report file lands in between.
pub async fn delete_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    force: bool,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<(), S3Error> {
    let result = retry_while(
        cancel,
        timeout,
        || async {
            if force {
                empty_bucket(s3, bucket, cancel).await?;
            }
            match s3.delete_bucket().bucket(bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) if is_code(&e, &["NoSuchBucket"]) => Ok(()),
                Err(e) if is_code(&e, &["BucketNotEmpty"]) => Err(S3Error::NotEmpty {
                    bucket: bucket.to_string(),
                }),
                Err(e) => Err(S3Error::Delete {
                    bucket: bucket.to_string(),
                    message: describe(&e),
                }),
            }
        },
        |e| force && matches!(e, S3Error::NotEmpty { .. }),
    )
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(RetryError::Cancelled) => Err(S3Error::Cancelled),
        Err(RetryError::Failed { error, .. }) => Err(error),
    }
}

/// Deletes every object version and delete marker; returns how many.
/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub key: String,
    pub size: i64,
    pub etag: String,
}

/// Every object under `prefix` (ListObjectsV2, paged).
pub async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    cancel: &CancellationToken,
) -> Result<Vec<ObjectFacts>, S3Error> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        if cancel.is_cancelled() {
            return Err(S3Error::Cancelled);
        }
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| S3Error::Objects {
                op: "ListObjectsV2",
                bucket: bucket.to_string(),
                message: describe(&e),
            })?;
        objects.extend(out.contents().iter().filter_map(|o| {
            Some(ObjectFacts {
                key: o.key()?.to_string(),
                size: o.size().unwrap_or_default(),
                etag: o.e_tag().unwrap_or_default().to_string(),
            })
        }));
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(objects),
        }
    }
}

/// CopyObject, server-side: the data never passes through the provider.
pub async fn copy_object(
    s3: &aws_sdk_s3::Client,
    from_bucket: &str,
    from_key: &str,
    to_bucket: &str,
    to_key: &str,
) -> Result<(), S3Error> {
    let source = format!("{from_bucket}/{}", percent_encode_key(from_key));
    s3.copy_object()
        .copy_source(source)
        .bucket(to_bucket)
        .key(to_key)
        .send()
        .await
        .map(drop)
        .map_err(|e| S3Error::Objects {
            op: "CopyObject",
            bucket: to_bucket.to_string(),
            message: format!("{from_bucket}/{from_key} -> {to_key}: {}", describe(&e)),
        })
}

/// `x-amz-copy-source` wants the key URL-encoded, `/` kept.
fn percent_encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str, cancel: &CancellationToken) -> Result<usize, S3Error> {
    let failed = |op: &'static str, message: String| S3Error::Empty {
        op,
        bucket: bucket.to_string(),
        message,
    };
    let mut deleted = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(S3Error::Cancelled);
        }
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| failed("ListObjectVersions", describe(&e)))?;
        let versions = out.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = out.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let objects = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                key.map(|key| {
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(str::to_string))
                        .build()
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error("Invalid object id"))?;
        if objects.is_empty() {
            return Ok(deleted);
        }
        let count = objects.len();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(build_error("Invalid delete request"))?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| failed("DeleteObjects", describe(&e)))?;
        if let Some(first) = out.errors().first() {
            return Err(S3Error::EmptyRefused {
                bucket: bucket.to_string(),
                refused: out.errors().len(),
                count,
                key: first.key().unwrap_or_default().to_string(),
                code: first.code().unwrap_or_default().to_string(),
                message: first.message().unwrap_or_default().to_string(),
            });
        }
        deleted += count;
    }
}

// ---------------------------------------------------------------------------
// Reading what S3 holds
// ---------------------------------------------------------------------------

/// The four public access block settings, as S3 reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    pub const ALL_ON: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

/// What S3 holds for each part of a CUR bucket.
#[derive(Debug, Clone)]
pub struct BucketParts {
    /// The bucket policy as S3 returns it; `None` when there is none.
    pub policy: Option<String>,
    pub public_access_block: PublicAccessBlock,
    /// Days after which the whole-bucket expiry rule deletes objects; 0 for none.
    pub lifecycle_days: i64,
    /// Whether new `.csv.gz` files notify Vantage's topic for the bucket's region.
    pub notify_vantage: bool,
    pub tags: Tags,
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

/// Every part of the bucket in `region`: five calls, made concurrently.
/// `None` when the bucket does not exist.
pub async fn read_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) -> Result<Option<BucketParts>, S3Error> {
    let (policy, pab, lifecycle, notification, tagging) = tokio::join!(
        s3.get_bucket_policy().bucket(bucket).send(),
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_lifecycle_configuration().bucket(bucket).send(),
        s3.get_bucket_notification_configuration().bucket(bucket).send(),
        s3.get_bucket_tagging().bucket(bucket).send(),
    );
    const GONE: &[&str] = &["NoSuchBucket"];
    let failed = |op: &'static str, message: String| S3Error::Read {
        op,
        bucket: bucket.to_string(),
        message,
    };
    let policy = match policy {
        Ok(out) => out.policy().map(str::to_string),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchBucketPolicy"]) => None,
        Err(e) => return Err(failed("GetBucketPolicy", describe(&e))),
    };
    let public_access_block = match pab {
        Ok(out) => out
            .public_access_block_configuration()
            .map(|c| PublicAccessBlock {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            })
            .unwrap_or_default(),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => PublicAccessBlock::default(),
        Err(e) => return Err(failed("GetPublicAccessBlock", describe(&e))),
    };
    let lifecycle_days = match lifecycle {
        Ok(out) => lifecycle_days_of(out.rules()),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchLifecycleConfiguration"]) => 0,
        Err(e) => return Err(failed("GetBucketLifecycleConfiguration", describe(&e))),
    };
    let notify_vantage = match notification {
        Ok(out) => notifies_vantage(out.topic_configurations(), topic_arn(region).as_deref()),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) => return Err(failed("GetBucketNotificationConfiguration", describe(&e))),
    };
    let tags = match tagging {
        Ok(out) => out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if is_code(&e, GONE) => return Ok(None),
        Err(e) if is_code(&e, &["NoSuchTagSet"]) => Tags::new(),
        Err(e) => return Err(failed("GetBucketTagging", describe(&e))),
    };
    Ok(Some(BucketParts {
        policy,
        public_access_block,
        lifecycle_days,
        notify_vantage,
        tags,
    }))
}

// ---------------------------------------------------------------------------
// Writing each part
// ---------------------------------------------------------------------------

/// Writes the parts of one bucket. Each write is idempotent and retried
/// while S3 answers "not yet" (see the module docs), within what is left of
/// the operation's `budget`; an attempt still in flight at its deadline is abandoned
/// (safe: the next apply writes the part again).
pub struct BucketWriter<'a> {
    s3: aws_sdk_s3::Client,
    bucket: &'a str,
    region: &'a str,
    cancel: &'a CancellationToken,
    budget: Budget,
}

impl<'a> BucketWriter<'a> {
    /// A writer for `bucket` in `region`; `s3` must be a client for that region.
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: &'a str,
        region: &'a str,
        cancel: &'a CancellationToken,
        budget: Budget,
    ) -> BucketWriter<'a> {
        BucketWriter {
            s3,
            bucket,
            region,
            cancel,
            budget,
        }
    }

    /// Runs `op` until it succeeds or fails with an error `not_yet` rejects.
    async fn retrying<T, E, R, F, Fut>(
        &self,
        op_name: &'static str,
        op: F,
        not_yet: impl Fn(&SdkError<E, R>) -> bool,
    ) -> Result<T, S3Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let retried = retry_while(self.cancel, self.budget.left(), op, not_yet);
        let Some(result) = self.budget.bound(retried).await else {
            return Err(S3Error::Unanswered {
                op: op_name,
                bucket: self.bucket.to_string(),
            });
        };
        result.map_err(|e| match e {
            RetryError::Cancelled => S3Error::Cancelled,
            RetryError::Failed {
                error,
                attempts,
                waited,
            } => S3Error::Write {
                op: op_name,
                bucket: self.bucket.to_string(),
                message: describe(&error),
                attempts,
                waited,
            },
        })
    }

    /// One write, retried while S3 does not see the new bucket yet.
    async fn write<T, E, R, F, Fut>(&self, op_name: &'static str, op: F) -> Result<(), S3Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        self.retrying(op_name, op, |e| bucket_not_visible_yet(code(e)))
            .await
            .map(drop)
    }

    /// Turns on all four public access block settings.
    pub async fn block_public_access(&self) -> Result<(), S3Error> {
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

    /// PutBucketPolicy, retried while the bucket or a new role is not visible yet.
    pub async fn put_bucket_policy(&self, document: &str) -> Result<(), S3Error> {
        self.retrying(
            "PutBucketPolicy",
            || self.s3.put_bucket_policy().bucket(self.bucket).policy(document).send(),
            |e| policy_not_accepted_yet(code(e), service_message(e)),
        )
        .await
        .map(drop)
    }

    /// DeleteBucketPolicy (a bucket without a policy answers the same).
    pub async fn delete_bucket_policy(&self) -> Result<(), S3Error> {
        self.write("DeleteBucketPolicy", || {
            self.s3.delete_bucket_policy().bucket(self.bucket).send()
        })
        .await
    }

    /// The policy as S3 holds it after a put (which S3 may not show at once).
    pub async fn applied_bucket_policy(&self) -> Result<String, S3Error> {
        self.retrying(
            "GetBucketPolicy",
            || async {
                let out = self.s3.get_bucket_policy().bucket(self.bucket).send().await?;
                Ok(out.policy().unwrap_or_default().to_string())
            },
            |e| policy_not_readable_yet(code(e)),
        )
        .await
    }

    /// Sets our expiry rule (or removes it when `days` is 0), keeping other rules.
    pub async fn put_expiry_rule(&self, days: i64) -> Result<(), S3Error> {
        let current = self
            .retrying(
                "GetBucketLifecycleConfiguration",
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
                |e| bucket_not_visible_yet(code(e)),
            )
            .await?;
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
                .map_err(build_error("Invalid lifecycle rule"))?;
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
            .map_err(build_error("Invalid lifecycle configuration"))?;
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
    pub async fn put_vantage_notification(&self, notify: bool) -> Result<(), S3Error> {
        let topic = topic_arn(self.region);
        let current = self
            .retrying(
                "GetBucketNotificationConfiguration",
                || {
                    self.s3
                        .get_bucket_notification_configuration()
                        .bucket(self.bucket)
                        .send()
                },
                |e| bucket_not_visible_yet(code(e)),
            )
            .await?;
        let mut topics: Vec<TopicConfiguration> = current
            .topic_configurations()
            .iter()
            .filter(|t| topic.as_deref().is_none_or(|arn| !is_vantage_topic(t, arn)))
            .cloned()
            .collect();
        if notify {
            let Some(topic) = &topic else {
                return Err(S3Error::NoVantageTopic {
                    region: self.region.to_string(),
                });
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
                .id(NOTIFICATION_ID)
                .topic_arn(topic)
                .events(Event::from(NOTIFY_EVENT))
                .filter(filter)
                .build()
                .map_err(build_error("Invalid notification"))?;
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

    /// Replaces the bucket's tags with `all` (deletes them when empty).
    pub async fn put_tags(&self, all: &Tags) -> Result<(), S3Error> {
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
            .map_err(build_error("Invalid tag"))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(build_error("Invalid tags"))?;
        self.write("PutBucketTagging", || {
            self.s3
                .put_bucket_tagging()
                .bucket(self.bucket)
                .tagging(tagging.clone())
                .send()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_encode_everything_but_slashes() {
        assert_eq!(percent_encode_key("a/b c+d=e.csv.gz"), "a/b%20c%2Bd%3De.csv.gz");
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

    /// The SDK's standard retry already retries these (5xx, throttling,
    /// request timeouts): our "not yet" retries must never add to it.
    const SDK_RETRIED: [&str; 8] = [
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
        "RequestLimitExceeded",
    ];

    #[test]
    fn not_yet_retries_never_repeat_what_the_sdk_retried() {
        for code in SDK_RETRIED {
            assert!(!bucket_not_visible_yet(Some(code)), "{code}");
            assert!(
                !policy_not_accepted_yet(Some(code), Some("Invalid principal in policy")),
                "{code}"
            );
            assert!(!policy_not_readable_yet(Some(code)), "{code}");
        }
        // Transport errors (timeouts, connection resets) carry no code.
        assert!(
            !bucket_not_visible_yet(None) && !policy_not_accepted_yet(None, None) && !policy_not_readable_yet(None)
        );
    }

    #[test]
    fn not_yet_answers_are_recognised() {
        assert!(bucket_not_visible_yet(Some("NoSuchBucket")));
        assert!(policy_not_accepted_yet(
            Some("MalformedPolicy"),
            Some("Invalid principal in policy")
        ));
        assert!(!policy_not_accepted_yet(
            Some("MalformedPolicy"),
            Some("Policy has invalid action")
        ));
        assert!(policy_not_readable_yet(Some("NoSuchBucketPolicy")));
        assert!(!bucket_not_visible_yet(Some("AccessDenied")));
    }

    #[test]
    fn a_failed_policy_write_names_the_step_and_the_fix() {
        let e = S3Error::Write {
            op: "PutBucketPolicy",
            bucket: "my-cur".into(),
            message: "MalformedPolicy: Invalid principal in policy".into(),
            attempts: 3,
            waited: Duration::from_secs(4),
        };
        let d = e.to_diagnostic();
        assert_eq!(d.summary, "Could not apply the CUR bucket policy");
        assert_eq!(
            d.detail,
            "S3 PutBucketPolicy on my-cur: MalformedPolicy: Invalid principal in policy (still failing after 3 \
             attempts over 4s). Run apply again to continue from here. Check `cross_account_role_arn` (the role \
             must exist) and `additional_policy_statements`."
        );
    }
}
