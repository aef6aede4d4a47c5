//! The CUR API (Cost and Usage Report 1.0 definitions): put, modify,
//! delete, describe and tag report definitions, and the per-process page
//! cache of DescribeReportDefinitions. Nothing here sees Terraform values.
//!
//! What the CUR API answers, and what this module relies on:
//! - CUR is served only from us-east-1 (cn-northwest-1 in China), whatever
//!   the bucket's region: the client is pinned there, and report ARNs name
//!   it: `arn:aws:cur:us-east-1:<account>:definition/<name>`.
//! - Operations and their errors: PutReportDefinition
//!   (`DuplicateReportNameException`, `ReportLimitReachedException`,
//!   `ValidationException`, `InternalErrorException`); ModifyReportDefinition
//!   and DeleteReportDefinition (`ValidationException`, also for an unknown
//!   report, so a delete that says so is checked against a fresh scan and
//!   then counts as done); TagResource, UntagResource, ListTagsForResource
//!   (`ResourceNotFoundException`, `ValidationException`). Errors are HTTP
//!   400, except `InternalErrorException` (500).
//! - There is no "get one report": DescribeReportDefinitions pages through
//!   all of them, five per page (the service model allows exactly 5).
//! - A definition: name (1-256 of `[0-9A-Za-z!-_.*'()]`, unique per account,
//!   case-sensitive); time unit `HOURLY`, `DAILY` or `MONTHLY`; format
//!   `textORcsv` or `Parquet`; compression `ZIP`, `GZIP` or `Parquet`;
//!   additional schema elements `RESOURCES`, `SPLIT_COST_ALLOCATION_DATA`,
//!   `MANUAL_DISCOUNT_COMPATIBILITY` (may be empty); bucket (1-256 of
//!   `[A-Za-z0-9_.-]`), prefix (up to 256 of `[0-9A-Za-z!-_.*'()/]`, may be
//!   empty) and bucket region (one of 28 commercial and China regions);
//!   artifacts `REDSHIFT`, `QUICKSIGHT`, `ATHENA`; refresh of closed
//!   reports; versioning `CREATE_NEW_REPORT` or `OVERWRITE_REPORT`. Its
//!   status tells the last delivery (`yyyymmddThhmmssZ`) and its outcome
//!   (`SUCCESS`, `ERROR_PERMISSIONS`, `ERROR_NO_BUCKET`).
//! - Rules AWS enforces, mostly with a bare `ValidationException` (so
//!   `vantage_aws_cur_report` checks 1-3 at plan time and says why):
//!   1. `ATHENA` must be the only artifact, and needs format and compression
//!      `Parquet`, versioning `OVERWRITE_REPORT` and a non-empty prefix.
//!   2. `REDSHIFT` and `QUICKSIGHT` need `textORcsv` (GZIP or ZIP); they may
//!      be combined.
//!   3. Format `Parquet` if and only if compression `Parquet`.
//!   4. At Put (and at Modify when the bucket changes) CUR checks that the
//!      bucket exists in the given region and that its policy lets
//!      `billingreports.amazonaws.com` `s3:GetBucketAcl` and
//!      `s3:GetBucketPolicy` on the bucket and `s3:PutObject` on its
//!      objects; otherwise it answers `ValidationException: Failed to verify
//!      customer bucket permission.` A bucket policy put moments ago may not
//!      apply yet, so that answer is retried (after asking Organizations
//!      whether the account is a member, see rule 6).
//!   5. Duplicate names: `DuplicateReportNameException`; too many reports:
//!      `ReportLimitReachedException`.
//!   6. A member account of an AWS Organization cannot create reports: they
//!      belong in the management (payer) account, where they cover the
//!      whole organisation.
//!   7. Name, time unit, schema elements and versioning cannot change in
//!      place (the resource replaces the report); the rest changes through
//!      ModifyReportDefinition.
//!
//! Retries: see "Retries: S3 and CUR" in ARCHITECTURE.md.
//!
//! The page cache: Terraform refreshes every `vantage_aws_cur_report` of a
//! configuration in the same provider process, so each one scanning the pages
//! itself would cost `N * ceil(N/5)` calls. Instead the first refresh fetches
//! every page, and the others (waiting on the same lock meanwhile) reuse the
//! result: `ceil(N/5)` calls for the whole plan. The cache describes the
//! account as this process last saw it. Writes made by this process (put,
//! modify, delete, tag) call [`CurReportCache::invalidate`]; a generation
//! counter keeps a scan that started before such a write from storing its
//! now stale pages.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_costandusagereport::types::{
    AdditionalArtifact, AwsRegion, CompressionFormat, ReportDefinition as SdkDefinition, ReportFormat,
    ReportVersioning, SchemaElement, Tag, TimeUnit,
};
use tfplugin::{CancellationToken, Diagnostic};

use crate::aws::clients::AwsClients;
use crate::aws::errors::{Attempts, describe, refused};
use crate::aws::s3::bucket_location;
use crate::retry::{RetryError, retry_while};
use crate::tags::Tags;

/// DescribeReportDefinitions' page size: the service model allows exactly 5.
pub const PAGE_SIZE: i32 = 5;
/// The start of CUR's answer when it cannot verify the bucket's policy (rule 4).
const BUCKET_DENIED: &str = "Failed to verify customer bucket permission";

/// CUR and Data Exports live in us-east-1 (cn-northwest-1 in China), whatever
/// the bucket's region: their ARNs in `aws:SourceArn` always name it.
pub fn billing_region(partition: &str) -> &'static str {
    if partition == "aws-cn" {
        "cn-northwest-1"
    } else {
        "us-east-1"
    }
}

pub fn report_arn(partition: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{partition}:cur:{}:{account}:definition/{name}",
        billing_region(partition)
    )
}

// ---------------------------------------------------------------------------
// What a definition may hold: checked before AWS sees it
// ---------------------------------------------------------------------------

pub const TIME_UNITS: [&str; 3] = ["HOURLY", "DAILY", "MONTHLY"];
pub const FORMATS: [&str; 2] = ["textORcsv", "Parquet"];
pub const COMPRESSIONS: [&str; 3] = ["ZIP", "GZIP", "Parquet"];
pub const SCHEMA_ELEMENTS: [&str; 3] = [
    "RESOURCES",
    "SPLIT_COST_ALLOCATION_DATA",
    "MANUAL_DISCOUNT_COMPATIBILITY",
];
pub const ARTIFACTS: [&str; 3] = ["REDSHIFT", "QUICKSIGHT", "ATHENA"];
pub const VERSIONING: [&str; 2] = ["CREATE_NEW_REPORT", "OVERWRITE_REPORT"];
/// The regions CUR can deliver to (the service model's `AWSRegion`).
pub const S3_REGIONS: [&str; 28] = [
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "me-central-1",
    "me-south-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "cn-north-1",
    "cn-northwest-1",
];

/// The report name pattern: 1-256 of `[0-9A-Za-z!-_.*'()]`.
pub fn check_report_name(s: &str) -> Result<(), String> {
    let ok = (1..=256).contains(&s.chars().count())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid report name: use 1-256 characters of letters, digits and !-_.*'() (no spaces)"
        ))
    }
}

/// The bucket pattern CUR accepts: 1-256 of `[A-Za-z0-9_.-]` (a name, not an ARN).
pub fn check_bucket_name(s: &str) -> Result<(), String> {
    let ok = (1..=256).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a bucket name CUR accepts: give the bucket's name (letters, digits, _.-), not its ARN"
        ))
    }
}

/// The prefix pattern: up to 256 of `[0-9A-Za-z!-_.*'()/]`, may be empty.
pub fn check_prefix(s: &str) -> Result<(), String> {
    let ok = s.chars().count() <= 256 && s.chars().all(|c| c.is_ascii_alphanumeric() || "!-_.*'()/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid report prefix: up to 256 characters of letters, digits and !-_.*'()/"
        ))
    }
}

/// The settings rules 1-3 combine, defaults filled in; `None` where not known yet.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub format: Option<String>,
    pub compression: Option<String>,
    pub versioning: Option<String>,
    pub prefix: Option<String>,
    pub artifacts: Option<BTreeSet<String>>,
}

/// The setting a violated rule is blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Format,
    Compression,
    Versioning,
    Prefix,
    Artifacts,
}

/// Rules 1-3: the setting to blame and a message naming the combination and
/// the fix, for each violation.
pub fn rule_violations(s: &Choices) -> Vec<(Setting, String)> {
    let mut errors = Vec::new();
    if let (Some(format), Some(compression)) = (&s.format, &s.compression)
        && (format == "Parquet") != (compression == "Parquet")
    {
        errors.push((
            Setting::Compression,
            format!(
                "format = {format:?} cannot be combined with compression = {compression:?}: Parquet format needs \
                 Parquet compression and Parquet compression needs Parquet format. Use format = \"Parquet\" with \
                 compression = \"Parquet\", or format = \"textORcsv\" with compression = \"GZIP\" or \"ZIP\"."
            ),
        ));
    }
    let Some(artifacts) = &s.artifacts else { return errors };
    if artifacts.contains("ATHENA") {
        if artifacts.len() > 1 {
            let others: Vec<&str> = artifacts
                .iter()
                .map(String::as_str)
                .filter(|a| *a != "ATHENA")
                .collect();
            errors.push((
                Setting::Artifacts,
                format!(
                    "ATHENA must be the only additional artifact, but {} is listed too. Use \
                     additional_artifacts = [\"ATHENA\"] alone, or drop ATHENA.",
                    others.join(" and ")
                ),
            ));
        }
        if s.format.as_deref().is_some_and(|f| f != "Parquet")
            || s.compression.as_deref().is_some_and(|c| c != "Parquet")
        {
            errors.push((
                Setting::Format,
                format!(
                    "ATHENA needs format = \"Parquet\" and compression = \"Parquet\" (found {:?} / {:?}). Set both \
                     to \"Parquet\", or drop ATHENA.",
                    s.format.as_deref().unwrap_or_default(),
                    s.compression.as_deref().unwrap_or_default()
                ),
            ));
        }
        if s.versioning.as_deref().is_some_and(|v| v != "OVERWRITE_REPORT") {
            errors.push((
                Setting::Versioning,
                format!(
                    "ATHENA needs report_versioning = \"OVERWRITE_REPORT\" (found {:?}): Athena reads one current \
                     version of the report. Set it to \"OVERWRITE_REPORT\", or drop ATHENA.",
                    s.versioning.as_deref().unwrap_or_default()
                ),
            ));
        }
        if s.prefix.as_deref().is_some_and(str::is_empty) {
            errors.push((
                Setting::Prefix,
                "ATHENA needs a non-empty prefix: set prefix (e.g. \"daily-v1\"), or drop ATHENA.".to_string(),
            ));
        }
    }
    for artifact in ["REDSHIFT", "QUICKSIGHT"] {
        if artifacts.contains(artifact)
            && let Some(format) = s.format.as_deref().filter(|f| *f != "textORcsv")
        {
            errors.push((
                Setting::Format,
                format!(
                    "{artifact} needs format = \"textORcsv\" (with compression \"GZIP\" or \"ZIP\"), not {format:?}. \
                     Use textORcsv, or drop {artifact}."
                ),
            ));
        }
    }
    errors
}

// ---------------------------------------------------------------------------
// Report definitions in plain terms
// ---------------------------------------------------------------------------

/// A report definition: what PutReportDefinition takes and
/// DescribeReportDefinitions returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDefinition {
    pub name: String,
    pub time_unit: String,
    pub format: String,
    pub compression: String,
    pub schema_elements: BTreeSet<String>,
    pub bucket: String,
    pub prefix: String,
    pub bucket_region: String,
    pub artifacts: BTreeSet<String>,
    pub refresh_closed_reports: bool,
    pub versioning: String,
}

/// A report as AWS holds it.
#[derive(Debug, Clone)]
pub struct Report {
    pub definition: ReportDefinition,
    pub tags: Tags,
    pub last_delivery: Option<String>,
    pub last_status: Option<String>,
}

impl ReportDefinition {
    fn to_sdk(&self) -> Result<SdkDefinition, CurError> {
        SdkDefinition::builder()
            .report_name(&self.name)
            .time_unit(TimeUnit::from(self.time_unit.as_str()))
            .format(ReportFormat::from(self.format.as_str()))
            .compression(CompressionFormat::from(self.compression.as_str()))
            .set_additional_schema_elements(Some(
                self.schema_elements
                    .iter()
                    .map(|e| SchemaElement::from(e.as_str()))
                    .collect(),
            ))
            .s3_bucket(&self.bucket)
            .s3_prefix(&self.prefix)
            .s3_region(AwsRegion::from(self.bucket_region.as_str()))
            .set_additional_artifacts(Some(
                self.artifacts
                    .iter()
                    .map(|a| AdditionalArtifact::from(a.as_str()))
                    .collect(),
            ))
            .refresh_closed_reports(self.refresh_closed_reports)
            .report_versioning(ReportVersioning::from(self.versioning.as_str()))
            .build()
            .map_err(|e| CurError::Build {
                summary: "Invalid report definition",
                message: e.to_string(),
            })
    }

    fn from_sdk(def: &SdkDefinition) -> ReportDefinition {
        ReportDefinition {
            name: def.report_name().to_string(),
            time_unit: def.time_unit().as_str().to_string(),
            format: def.format().as_str().to_string(),
            compression: def.compression().as_str().to_string(),
            schema_elements: def
                .additional_schema_elements()
                .iter()
                .map(|e| e.as_str().to_string())
                .collect(),
            bucket: def.s3_bucket().to_string(),
            prefix: def.s3_prefix().to_string(),
            bucket_region: def.s3_region().as_str().to_string(),
            artifacts: def
                .additional_artifacts()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
            refresh_closed_reports: def.refresh_closed_reports().unwrap_or(true),
            versioning: def
                .report_versioning()
                .map_or("CREATE_NEW_REPORT", ReportVersioning::as_str)
                .to_string(),
        }
    }
}

fn sdk_tags(all: &Tags) -> Result<Vec<Tag>, CurError> {
    all.iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| CurError::Build {
                summary: "Invalid tag",
                message: e.to_string(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why CUR could not verify the bucket, found out after the retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketProblem {
    /// The bucket does not exist, or these credentials cannot see it.
    Missing,
    /// The bucket lives in this region, not the one the report names.
    InRegion(String),
    /// The bucket is where the report says: its policy is the problem.
    Policy,
}

/// A failed CUR call.
#[derive(Debug, thiserror::Error)]
pub enum CurError {
    #[error("the account already has a report named {name:?}")]
    DuplicateName { name: String },
    #[error("AWS refused a new report: {message}")]
    LimitReached { message: String },
    #[error("account {caller} is a member account; its management account is {management}")]
    MemberAccount {
        caller: String,
        management: String,
        aws_said: String,
    },
    /// CUR still could not verify the bucket's policy after `waited`.
    #[error("CUR cannot verify the permissions of {bucket} in {region}")]
    BucketNotVerified {
        bucket: String,
        region: String,
        waited: Duration,
        problem: BucketProblem,
    },
    /// PutReportDefinition (`action` "create") or ModifyReportDefinition ("update") failed.
    #[error("CUR (us-east-1) answered for {name}: {message}")]
    Write {
        action: &'static str,
        name: String,
        message: String,
        validation: bool,
        /// CUR refused (a 4xx): nothing was written. Otherwise (no answer, a 5xx) it may have been.
        refused: bool,
    },
    #[error("CUR {op} {name}: {message}")]
    Tag {
        op: &'static str,
        name: String,
        message: String,
    },
    #[error("CUR ListTagsForResource {name}: {message}")]
    ReadTags { name: String, message: String },
    #[error("CUR DeleteReportDefinition {name}: {message}")]
    Delete { name: String, message: String },
    #[error("CUR DescribeReportDefinitions (us-east-1) failed: {message}")]
    List { message: String },
    /// The SDK refused to build a request (`summary` names what).
    #[error("{summary}: {message}")]
    Build { summary: &'static str, message: String },
    #[error("cancelled")]
    Cancelled,
}

impl CurError {
    /// Whether a failed put or modify may still have taken effect: CUR gave no answer or a
    /// server error, or Terraform stopped the wait.
    pub fn may_have_acted(&self) -> bool {
        matches!(self, CurError::Cancelled | CurError::Write { refused: false, .. })
    }

    /// CUR's answer while it cannot verify the bucket's policy (rule 4): the
    /// only CUR error we retry ourselves. A 400 the SDK never retries.
    fn is_bucket_not_verified(&self) -> bool {
        matches!(self, CurError::Write { message, validation: true, .. } if message.contains(BUCKET_DENIED))
    }

    /// The diagnostic for this error: what failed and what to do.
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            CurError::DuplicateName { name } => Diagnostic::error(
                "Cost and Usage Report already exists",
                format!(
                    "This account already has a report named {name:?} (perhaps created by an earlier onboarding \
                     or by hand). Adopt it instead of creating it: add\n\n  import {{\n    to = \
                     vantage_aws_cur_report.<this resource's name>\n    id = \"{name}\"\n  }}\n\nand run apply \
                     again, or choose another `name`."
                ),
            ),
            CurError::LimitReached { message } => Diagnostic::error(
                "Too many Cost and Usage Reports",
                format!(
                    "AWS refused a new report: {message}. Delete a report you no longer need (or import an \
                     existing one and point it at the Vantage bucket) and apply again."
                ),
            ),
            CurError::MemberAccount {
                caller,
                management,
                aws_said,
            } => Diagnostic::error(
                "Cost and Usage Reports belong in the management account",
                format!(
                    "Account {caller} is a member account of an AWS Organization whose management (payer) account \
                     is {management}. AWS creates Cost and Usage Reports only in the management account, where \
                     they cover the whole organisation. Configure the provider that manages this report with \
                     credentials for {management} (for example `assume_role {{ role_arn = \
                     \"arn:aws:iam::{management}:role/...\" }}` on an aliased provider). Member accounts are \
                     connected with the cross-account role alone, without a bucket or report. (AWS said: \
                     {aws_said})"
                ),
            ),
            CurError::BucketNotVerified {
                bucket,
                region,
                waited,
                problem,
            } => {
                let cause = match problem {
                    BucketProblem::Missing => {
                        format!("The bucket {bucket} does not exist (or these credentials cannot see it).")
                    }
                    BucketProblem::InRegion(actual) => format!(
                        "The bucket {bucket} is in {actual}, but the report says bucket_region = {region:?}: set \
                         bucket_region to {actual:?} (or leave it out to use the bucket's region)."
                    ),
                    BucketProblem::Policy => format!(
                        "The bucket policy of {bucket} must allow the service principal \
                         billingreports.amazonaws.com to s3:GetBucketAcl and s3:GetBucketPolicy on \
                         arn:aws:s3:::{bucket} and to s3:PutObject on arn:aws:s3:::{bucket}/*, with aws:SourceArn \
                         arn:aws:cur:us-east-1:<account>:definition/* (us-east-1 whatever the bucket's region) and \
                         aws:SourceAccount = this account. The `vantage_aws_cur_bucket` resource writes exactly \
                         that policy: manage the bucket with it, or copy its statements."
                    ),
                };
                let detail = if let BucketProblem::InRegion(_) = problem {
                    // Asked at the first refusal: waiting cannot move a bucket.
                    format!("CUR answered \"ValidationException: {BUCKET_DENIED}.\" for {bucket} in {region}. {cause}")
                } else {
                    format!(
                        "CUR answered \"ValidationException: {BUCKET_DENIED}.\" for {bucket} in {region}, still \
                         after {}s of retries (a new bucket policy can take a moment to apply). {cause} To wait \
                         longer, set `timeouts {{ create = \"5m\" }}`.",
                        waited.as_secs()
                    )
                };
                Diagnostic::error("AWS billing cannot write to the CUR bucket", detail)
            }
            CurError::Write { action, .. } => Diagnostic::error(
                format!("Could not {action} the Cost and Usage Report"),
                self.to_string(),
            ),
            CurError::Tag { .. } => Diagnostic::error("Could not tag the Cost and Usage Report", self.to_string()),
            CurError::ReadTags { .. } => Diagnostic::error("Could not read the report's tags", self.to_string()),
            CurError::Delete { .. } => {
                Diagnostic::error("Could not delete the Cost and Usage Report", self.to_string())
            }
            CurError::List { .. } => Diagnostic::error(
                "Could not list the Cost and Usage Reports",
                format!("{self}. The credentials need `cur:DescribeReportDefinitions`."),
            ),
            CurError::Build { summary, message } => Diagnostic::error(*summary, message.clone()),
            CurError::Cancelled => Diagnostic::error("Cancelled", "Terraform asked the provider to stop."),
        }
    }
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/// The CUR calls of one operation: the clients, the shared page cache and
/// Terraform's cancellation.
pub struct Cur<'a> {
    aws: &'a AwsClients,
    reports: &'a CurReportCache,
    cancel: &'a CancellationToken,
}

impl<'a> Cur<'a> {
    pub fn new(aws: &'a AwsClients, reports: &'a CurReportCache, cancel: &'a CancellationToken) -> Cur<'a> {
        Cur { aws, reports, cancel }
    }

    /// The report named `name` with its tags (through the page cache), `None` when gone.
    pub async fn read_report(&self, name: &str) -> Result<Option<Report>, CurError> {
        let client = self.aws.cur().await;
        let Some(def) = self.reports.find(client, self.cancel, name).await? else {
            return Ok(None);
        };
        let tags = match client.list_tags_for_resource().report_name(name).send().await {
            Ok(out) => out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(CurError::ReadTags {
                    name: name.to_string(),
                    message: describe(&e),
                });
            }
        };
        let status = def.report_status();
        Ok(Some(Report {
            definition: ReportDefinition::from_sdk(&def),
            tags,
            last_delivery: status.and_then(|s| s.last_delivery()).map(str::to_string),
            last_status: status.and_then(|s| s.last_status()).map(|s| s.as_str().to_string()),
        }))
    }

    /// PutReportDefinition, retried for `timeout` while CUR cannot verify the bucket yet.
    pub async fn put_report_definition(
        &self,
        definition: &ReportDefinition,
        tags: &Tags,
        timeout: Duration,
    ) -> Result<(), CurError> {
        let report = definition.to_sdk()?;
        let wanted_tags = tags;
        let tags = sdk_tags(tags)?;
        let client = self.aws.cur().await;
        let name = &definition.name;
        self.write(definition, timeout, || async {
            let attempts = Attempts::default();
            let out = client
                .put_report_definition()
                .report_definition(report.clone())
                .set_tags(if tags.is_empty() { None } else { Some(tags.clone()) })
                .customize()
                .interceptor(attempts.clone())
                .send()
                .await;
            self.reports.invalidate();
            let Err(e) = out else { return Ok(()) };
            let s = e.as_service_error();
            if s.is_some_and(|s| s.is_duplicate_report_name_exception()) {
                // The SDK retried a put whose answer was lost: the report may be the one its
                // first attempt made. CUR keeps no creation time, so "ours" is: retried, and
                // exactly the definition and tags this put asked for.
                if attempts.retried()
                    && let Ok(Some(existing)) = self.read_report(name).await
                    && existing.definition == *definition
                    && existing.tags == *wanted_tags
                {
                    tracing::info!(report = %name, "PutReportDefinition was retried after its answer was lost: adopting the report it created");
                    return Ok(());
                }
                return Err(CurError::DuplicateName { name: name.clone() });
            }
            if s.is_some_and(|s| s.is_report_limit_reached_exception()) {
                return Err(CurError::LimitReached { message: describe(&e) });
            }
            Err(CurError::Write {
                action: "create",
                name: name.clone(),
                message: describe(&e),
                validation: s.is_some_and(|s| s.is_validation_exception()),
                refused: refused(&e),
            })
        })
        .await
    }

    /// ModifyReportDefinition of the report `definition` names, retried like a put.
    pub async fn modify_report_definition(
        &self,
        definition: &ReportDefinition,
        timeout: Duration,
    ) -> Result<(), CurError> {
        let report = definition.to_sdk()?;
        let client = self.aws.cur().await;
        let name = &definition.name;
        self.write(definition, timeout, || async {
            let out = client
                .modify_report_definition()
                .report_name(name)
                .report_definition(report.clone())
                .send()
                .await;
            self.reports.invalidate();
            out.map(drop).map_err(|e| CurError::Write {
                action: "update",
                name: name.clone(),
                message: describe(&e),
                validation: e.as_service_error().is_some_and(|s| s.is_validation_exception()),
                refused: refused(&e),
            })
        })
        .await
    }

    /// Runs a put or modify. While CUR cannot verify the bucket (a policy put
    /// moments ago, or a bucket created in parallel by the same apply) it is
    /// retried for `timeout`, unless the account is a member account, which
    /// is asked before waiting.
    async fn write<F, Fut>(&self, definition: &ReportDefinition, timeout: Duration, op: F) -> Result<(), CurError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), CurError>>,
    {
        let member_error = |aws_said: &CurError, (caller, management): (String, String)| CurError::MemberAccount {
            caller,
            management,
            aws_said: match aws_said {
                CurError::Write { message, .. } => message.clone(),
                other => other.to_string(),
            },
        };
        let mut org_checked = false;
        let mut problem = None;
        let started = Instant::now();
        let not_verified = |problem| CurError::BucketNotVerified {
            bucket: definition.bucket.clone(),
            region: definition.bucket_region.clone(),
            waited: started.elapsed(),
            problem,
        };
        let first = tokio::select! {
            r = op() => r,
            _ = self.cancel.cancelled() => return Err(CurError::Cancelled),
        };
        let result = match first {
            Err(e) if e.is_bucket_not_verified() => {
                // Before waiting out the window: a member account gets a clear answer now, and so
                // does a bucket in another region, which no wait can fix.
                org_checked = true;
                if let Some(member) = member_of(self.aws).await {
                    return Err(member_error(&e, member));
                }
                match self.bucket_problem(&definition.bucket, &definition.bucket_region).await {
                    in_region @ BucketProblem::InRegion(_) => return Err(not_verified(in_region)),
                    found => problem = Some(found),
                }
                retry_while(
                    self.cancel,
                    timeout.saturating_sub(started.elapsed()),
                    &op,
                    CurError::is_bucket_not_verified,
                )
                .await
            }
            other => other.map_err(|error| RetryError::Failed {
                error,
                attempts: 1,
                waited: Duration::ZERO,
            }),
        };
        let error = match result {
            Ok(()) => return Ok(()),
            Err(RetryError::Cancelled) => return Err(CurError::Cancelled),
            Err(RetryError::Failed { error, .. }) => error,
        };
        if error.is_bucket_not_verified() {
            // The answer must fit in what the bound leaves after the last attempt: ask S3 again
            // only when the bucket was missing before the wait (it may have been made since).
            let problem = match problem {
                Some(BucketProblem::Missing) | None => {
                    self.bucket_problem(&definition.bucket, &definition.bucket_region).await
                }
                Some(found) => found,
            };
            return Err(not_verified(problem));
        }
        if matches!(error, CurError::Write { validation: true, .. })
            && !org_checked
            && let Some(member) = member_of(self.aws).await
        {
            return Err(member_error(&error, member));
        }
        Err(error)
    }

    /// Why CUR keeps refusing the bucket: missing, elsewhere, or its policy.
    async fn bucket_problem(&self, bucket: &str, region: &str) -> BucketProblem {
        let s3 = self.aws.s3(Some(region)).await;
        match bucket_location(&s3, bucket).await {
            Ok(None) => BucketProblem::Missing,
            Ok(Some(actual)) if actual != region => BucketProblem::InRegion(actual),
            _ => BucketProblem::Policy,
        }
    }

    /// DeleteReportDefinition; a report already gone counts as deleted.
    pub async fn delete_report_definition(&self, name: &str) -> Result<(), CurError> {
        let client = self.aws.cur().await;
        let out = client.delete_report_definition().report_name(name).send().await;
        self.reports.invalidate();
        let failed = |e: &dyn Fn() -> String| CurError::Delete {
            name: name.to_string(),
            message: e(),
        };
        match out {
            Ok(_) => Ok(()),
            // CUR answers ValidationException for an unknown report: gone already is fine.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_validation_exception()) => {
                match self.reports.find(client, self.cancel, name).await? {
                    None => Ok(()),
                    Some(_) => Err(failed(&|| describe(&e))),
                }
            }
            Err(e) => Err(failed(&|| describe(&e))),
        }
    }

    /// TagResource: adds or changes `tags` on the report.
    pub async fn tag_report(&self, name: &str, tags: &Tags) -> Result<(), CurError> {
        let tags = sdk_tags(tags)?;
        let client = self.aws.cur().await;
        let out = client
            .tag_resource()
            .report_name(name)
            .set_tags(Some(tags))
            .send()
            .await;
        self.reports.invalidate();
        out.map(drop).map_err(|e| CurError::Tag {
            op: "TagResource",
            name: name.to_string(),
            message: describe(&e),
        })
    }

    /// UntagResource: removes the tags `keys` from the report.
    pub async fn untag_report(&self, name: &str, keys: Vec<String>) -> Result<(), CurError> {
        let client = self.aws.cur().await;
        let out = client
            .untag_resource()
            .report_name(name)
            .set_tag_keys(Some(keys))
            .send()
            .await;
        self.reports.invalidate();
        out.map(drop).map_err(|e| CurError::Tag {
            op: "UntagResource",
            name: name.to_string(),
            message: describe(&e),
        })
    }
}

/// The caller's account and the management account of its organisation when
/// the caller is a member account (rule 6); `None` for management and
/// standalone accounts, or when Organizations cannot be asked.
async fn member_of(aws: &AwsClients) -> Option<(String, String)> {
    let caller = aws.caller().await.ok()?.account_id.clone();
    let organization = crate::aws::organizations::describe_organization(aws.organizations().await)
        .await
        .ok()??;
    let management = organization.management_account_id;
    (!management.is_empty() && management != caller).then_some((caller, management))
}

// ---------------------------------------------------------------------------
// The page cache
// ---------------------------------------------------------------------------

#[derive(Default)]
struct CacheState {
    generation: u64,
    reports: Option<Arc<Vec<SdkDefinition>>>,
}

/// Report definitions shared by every report resource of one provider process.
#[derive(Default)]
pub struct CurReportCache {
    /// Serialises scans: concurrent refreshes wait for the first one.
    scan: tokio::sync::Mutex<()>,
    state: Mutex<CacheState>,
}

impl std::fmt::Debug for CurReportCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurReportCache").finish_non_exhaustive()
    }
}

impl CurReportCache {
    pub fn new() -> CurReportCache {
        CurReportCache::default()
    }

    fn cached(&self) -> (u64, Option<Arc<Vec<SdkDefinition>>>) {
        match self.state.lock() {
            Ok(s) => (s.generation, s.reports.clone()),
            Err(_) => (0, None),
        }
    }

    /// Forgets the pages: the next lookup scans again. Called after every
    /// write this process makes to report definitions.
    pub fn invalidate(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.generation += 1;
            s.reports = None;
        }
    }

    /// Every report definition of the account, scanned at most once per
    /// process between writes.
    async fn all(
        &self,
        client: &aws_sdk_costandusagereport::Client,
        cancel: &CancellationToken,
    ) -> Result<Arc<Vec<SdkDefinition>>, CurError> {
        if let (_, Some(reports)) = self.cached() {
            return Ok(reports);
        }
        let _scanning = tokio::select! {
            guard = self.scan.lock() => guard,
            _ = cancel.cancelled() => return Err(CurError::Cancelled),
        };
        // Another refresh may have finished the scan while this one waited.
        let (generation, cached) = self.cached();
        if let Some(reports) = cached {
            return Ok(reports);
        }
        let reports = tokio::select! {
            r = scan(client) => Arc::new(r?),
            _ = cancel.cancelled() => return Err(CurError::Cancelled),
        };
        if let Ok(mut s) = self.state.lock()
            && s.generation == generation
        {
            s.reports = Some(reports.clone());
        }
        Ok(reports)
    }

    /// The definition named `name` (case-sensitive), if the account has one.
    async fn find(
        &self,
        client: &aws_sdk_costandusagereport::Client,
        cancel: &CancellationToken,
        name: &str,
    ) -> Result<Option<SdkDefinition>, CurError> {
        let all = self.all(client, cancel).await?;
        Ok(all.iter().find(|r| r.report_name() == name).cloned())
    }
}

async fn scan(client: &aws_sdk_costandusagereport::Client) -> Result<Vec<SdkDefinition>, CurError> {
    let mut reports = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .describe_report_definitions()
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| CurError::List { message: describe(&e) })?;
        reports.extend(out.report_definitions().iter().cloned());
        match out.next_token().filter(|t| !t.is_empty()) {
            // A token that repeats would loop forever: stop instead.
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(format: &str, compression: &str, versioning: &str, prefix: &str, artifacts: &[&str]) -> Choices {
        Choices {
            format: Some(format.into()),
            compression: Some(compression.into()),
            versioning: Some(versioning.into()),
            prefix: Some(prefix.into()),
            artifacts: Some(artifacts.iter().map(|a| a.to_string()).collect()),
        }
    }

    #[test]
    fn module_defaults_are_valid() {
        assert!(rule_violations(&settings("textORcsv", "GZIP", "OVERWRITE_REPORT", "daily-v1", &[])).is_empty());
        assert!(rule_violations(&settings("Parquet", "Parquet", "OVERWRITE_REPORT", "p", &["ATHENA"])).is_empty());
        assert!(
            rule_violations(&settings(
                "textORcsv",
                "ZIP",
                "CREATE_NEW_REPORT",
                "",
                &["REDSHIFT", "QUICKSIGHT"]
            ))
            .is_empty()
        );
    }

    #[test]
    fn each_rule_names_the_combination_and_the_fix() {
        let e = rule_violations(&settings("Parquet", "GZIP", "OVERWRITE_REPORT", "p", &[]));
        assert!(
            e.len() == 1
                && e[0]
                    .1
                    .contains("format = \"Parquet\" cannot be combined with compression = \"GZIP\"")
        );
        let e = rule_violations(&settings(
            "Parquet",
            "Parquet",
            "OVERWRITE_REPORT",
            "p",
            &["ATHENA", "REDSHIFT"],
        ));
        assert!(e.iter().any(|(_, m)| m.contains("ATHENA must be the only")));
        assert!(
            e.iter()
                .any(|(_, m)| m.contains("REDSHIFT needs format = \"textORcsv\""))
        );
        let e = rule_violations(&settings("textORcsv", "GZIP", "CREATE_NEW_REPORT", "", &["ATHENA"]));
        let blamed: Vec<Setting> = e.iter().map(|(s, _)| *s).collect();
        assert_eq!(blamed, vec![Setting::Format, Setting::Versioning, Setting::Prefix]);
        let e = rule_violations(&settings(
            "Parquet",
            "Parquet",
            "OVERWRITE_REPORT",
            "p",
            &["QUICKSIGHT"],
        ));
        assert!(e[0].1.contains("QUICKSIGHT needs"));
    }

    #[test]
    fn names_prefixes_and_buckets_follow_the_api_patterns() {
        assert!(check_report_name("VantageReport-0123456789").is_ok());
        assert!(check_report_name("has space").is_err());
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("a b").is_err());
        assert!(check_bucket_name("arn:aws:s3:::b").is_err_and(|e| e.contains("not its ARN")));
    }

    #[test]
    fn arns_name_us_east_1() {
        assert_eq!(
            report_arn("aws", "123456789012", "VantageReport"),
            "arn:aws:cur:us-east-1:123456789012:definition/VantageReport"
        );
        assert_eq!(billing_region("aws-cn"), "cn-northwest-1");
    }

    fn write_error(message: &str, validation: bool) -> CurError {
        CurError::Write {
            action: "create",
            name: "VantageReport".into(),
            message: message.into(),
            validation,
            refused: true,
        }
    }

    #[test]
    fn only_the_bucket_check_is_retried() {
        let denied = "ValidationException: Failed to verify customer bucket permission.";
        assert!(write_error(denied, true).is_bucket_not_verified());
        // The SDK retries 500s and throttling itself: never again here.
        assert!(!write_error("InternalErrorException: internal error", false).is_bucket_not_verified());
        assert!(!write_error("ThrottlingException: Rate exceeded", false).is_bucket_not_verified());
        assert!(!write_error("ValidationException: Invalid S3 region", true).is_bucket_not_verified());
        assert!(!CurError::DuplicateName { name: "x".into() }.is_bucket_not_verified());
    }

    #[test]
    fn a_bucket_in_another_region_is_named() {
        let d = CurError::BucketNotVerified {
            bucket: "my-cur".into(),
            region: "eu-west-1".into(),
            waited: Duration::ZERO,
            problem: BucketProblem::InRegion("us-east-1".into()),
        }
        .to_diagnostic();
        assert_eq!(d.summary, "AWS billing cannot write to the CUR bucket");
        assert!(
            d.detail
                .contains(r#"is in us-east-1, but the report says bucket_region = "eu-west-1""#)
        );
        // Found at the first refusal: no wait is suggested, since none helps.
        assert!(
            !d.detail.contains("retries") && !d.detail.contains("timeouts"),
            "{}",
            d.detail
        );
    }
}
