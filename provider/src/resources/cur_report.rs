//! `vantage_aws_cur_report`: the Cost and Usage Report (CUR 1.0) definition
//! that makes AWS billing deliver cost data into the CUR bucket.
//!
//! Every rule of `reference/cur-api.md` is checked at plan time with a
//! message naming the combination and the fix, because AWS answers most of
//! them with a bare `ValidationException`. The CUR API lives in us-east-1
//! only (the client is pinned there); the bucket may be in any region.
//!
//! Refresh reads the account's report definitions through the provider's
//! shared page cache (`aws::cur`): one scan per provider process,
//! however many reports the configuration holds.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_costandusagereport::types::{
    AdditionalArtifact, AwsRegion, CompressionFormat, ReportDefinition, ReportFormat, ReportVersioning, SchemaElement,
    Tag, TimeUnit,
};
use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::{custom, one_of};
use tfplugin::timeouts::{self, Timeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema, Val, Value,
};

use crate::ProviderData;
use crate::aws::errors::describe;
use crate::resources::cur_bucket::{billing_region, bucket_location};
use crate::retry::{RetryError, retry_while};
use crate::tags::{self, Tags};

pub const DEFAULT_NAME: &str = "VantageReport";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const BUCKET_DENIED: &str = "Failed to verify customer bucket permission";

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

pub struct CurReport;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CurReportModel {
    pub id: Option<String>,
    pub name: Option<String>,
    pub bucket: Option<String>,
    pub bucket_region: Option<String>,
    pub prefix: Option<String>,
    pub time_unit: Option<String>,
    pub format: Option<String>,
    pub compression: Option<String>,
    pub additional_schema_elements: Option<BTreeSet<String>>,
    pub additional_artifacts: Option<BTreeSet<String>>,
    pub report_versioning: Option<String>,
    pub refresh_closed_reports: Option<bool>,
    pub tags: Option<Tags>,
    pub tags_all: Option<Tags>,
    pub arn: Option<String>,
    pub last_delivery: Option<String>,
    pub last_status: Option<String>,
    pub timeouts: Option<Timeouts>,
}

impl CurReportModel {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_NAME)
    }
    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }
    fn time_unit(&self) -> &str {
        self.time_unit.as_deref().unwrap_or("DAILY")
    }
    fn timeouts(&self) -> Timeouts {
        self.timeouts.clone().unwrap_or_default()
    }
    /// The settings ModifyReportDefinition changes, for "did anything change".
    fn definition_fields(&self) -> impl PartialEq + use<> {
        (
            self.bucket.clone(),
            self.bucket_region.clone(),
            self.prefix.clone(),
            self.format.clone(),
            self.compression.clone(),
            self.additional_artifacts.clone(),
            self.refresh_closed_reports,
        )
    }
}

/// `lower(time_unit)-v1`, Vantage's module's prefix.
pub fn default_prefix(time_unit: &str) -> String {
    format!("{}-v1", time_unit.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------
// Plan-time rules (cur-api.md)
// ---------------------------------------------------------------------------

fn name_check(v: &Value) -> Result<(), String> {
    let Some(s) = v.as_str() else { return Ok(()) };
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

fn bucket_check(v: &Value) -> Result<(), String> {
    let Some(s) = v.as_str() else { return Ok(()) };
    let ok = (1..=256).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a bucket name CUR accepts: give the bucket's name (letters, digits, _.-), not its ARN"
        ))
    }
}

fn prefix_check(v: &Value) -> Result<(), String> {
    let Some(s) = v.as_str() else { return Ok(()) };
    let ok = s.chars().count() <= 256 && s.chars().all(|c| c.is_ascii_alphanumeric() || "!-_.*'()/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid report prefix: up to 256 characters of letters, digits and !-_.*'()/"
        ))
    }
}

fn set_check(allowed: &'static [&'static str], what: &'static str) -> impl Fn(&Value) -> Result<(), String> {
    move |v: &Value| {
        for item in v.elements().unwrap_or_default() {
            if let Some(s) = item.as_str()
                && !allowed.contains(&s)
            {
                return Err(format!("{s:?} is not one of the {what}: use {}", allowed.join(", ")));
            }
        }
        Ok(())
    }
}

/// A configuration's settings with the defaults filled in; `None` where unknown.
struct Settings {
    format: Option<String>,
    compression: Option<String>,
    versioning: Option<String>,
    prefix: Option<String>,
    artifacts: Option<BTreeSet<String>>,
}

fn with_default(v: Val<String>, default: impl FnOnce() -> Option<String>) -> Option<String> {
    match v {
        Val::Known(s) => Some(s),
        Val::Null => default(),
        Val::Unknown => None,
    }
}

impl Settings {
    fn from_config(config: &ConfigView<'_>) -> Settings {
        let time_unit = with_default(config.get("time_unit"), || Some("DAILY".into()));
        Settings {
            format: with_default(config.get("format"), || Some("textORcsv".into())),
            compression: with_default(config.get("compression"), || Some("GZIP".into())),
            versioning: with_default(config.get("report_versioning"), || Some("OVERWRITE_REPORT".into())),
            prefix: with_default(config.get("prefix"), || time_unit.as_deref().map(default_prefix)),
            artifacts: match config.get::<BTreeSet<String>>("additional_artifacts") {
                Val::Known(s) => Some(s),
                Val::Null => Some(BTreeSet::new()),
                Val::Unknown => None,
            },
        }
    }
}

/// Rules 1-3 of cur-api.md: (attribute to blame, message) for each violation.
fn combination_errors(s: &Settings) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if let (Some(format), Some(compression)) = (&s.format, &s.compression)
        && (format == "Parquet") != (compression == "Parquet")
    {
        errors.push((
            "compression",
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
                "additional_artifacts",
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
                "format",
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
                "report_versioning",
                format!(
                    "ATHENA needs report_versioning = \"OVERWRITE_REPORT\" (found {:?}): Athena reads one current \
                     version of the report. Set it to \"OVERWRITE_REPORT\", or drop ATHENA.",
                    s.versioning.as_deref().unwrap_or_default()
                ),
            ));
        }
        if s.prefix.as_deref().is_some_and(str::is_empty) {
            errors.push((
                "prefix",
                "ATHENA needs a non-empty prefix: set prefix (e.g. \"daily-v1\"), or drop ATHENA.".to_string(),
            ));
        }
    }
    for artifact in ["REDSHIFT", "QUICKSIGHT"] {
        if artifacts.contains(artifact)
            && let Some(format) = s.format.as_deref().filter(|f| *f != "textORcsv")
        {
            errors.push((
                "format",
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
// AWS side
// ---------------------------------------------------------------------------

fn cancelled() -> Diagnostic {
    Diagnostic::error("Cancelled", "Terraform asked the provider to stop.")
}

fn definition(m: &CurReportModel, region: &str) -> Result<ReportDefinition, Diagnostic> {
    let set = |s: &Option<BTreeSet<String>>| s.clone().unwrap_or_default().into_iter();
    ReportDefinition::builder()
        .report_name(m.name())
        .time_unit(TimeUnit::from(m.time_unit()))
        .format(ReportFormat::from(m.format.as_deref().unwrap_or("textORcsv")))
        .compression(CompressionFormat::from(m.compression.as_deref().unwrap_or("GZIP")))
        .set_additional_schema_elements(Some(
            set(&m.additional_schema_elements)
                .map(|e| SchemaElement::from(e.as_str()))
                .collect(),
        ))
        .s3_bucket(m.bucket())
        .s3_prefix(m.prefix.clone().unwrap_or_else(|| default_prefix(m.time_unit())))
        .s3_region(AwsRegion::from(region))
        .set_additional_artifacts(Some(
            set(&m.additional_artifacts)
                .map(|a| AdditionalArtifact::from(a.as_str()))
                .collect(),
        ))
        .refresh_closed_reports(m.refresh_closed_reports.unwrap_or(true))
        .report_versioning(ReportVersioning::from(
            m.report_versioning.as_deref().unwrap_or("OVERWRITE_REPORT"),
        ))
        .build()
        .map_err(|e| Diagnostic::error("Invalid report definition", e.to_string()))
}

fn cur_tags(all: &Tags) -> Result<Vec<Tag>, Diagnostic> {
    all.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Diagnostic::error("Invalid tag", e.to_string()))
        })
        .collect()
}

pub fn report_arn(partition: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{partition}:cur:{}:{account}:definition/{name}",
        billing_region(partition)
    )
}

/// The management account of the caller's organisation when the caller is a
/// member account; `None` for management and standalone accounts, or when
/// Organizations cannot be asked.
async fn member_of(ctx: &Ctx<ProviderData>) -> Option<(String, String)> {
    let aws = &ctx.provider().aws;
    let caller = aws.caller().await.ok()?.account_id.clone();
    let out = aws.organizations().await.describe_organization().send().await.ok()?;
    let management = out.organization()?.master_account_id()?.to_string();
    (management != caller).then_some((caller, management))
}

fn member_account_error(caller: &str, management: &str, aws_said: &str) -> Diagnostic {
    Diagnostic::error(
        "Cost and Usage Reports belong in the management account",
        format!(
            "Account {caller} is a member account of an AWS Organization whose management (payer) account is \
             {management}. AWS creates Cost and Usage Reports only in the management account, where they cover \
             the whole organisation. Configure the provider that manages this report with credentials for \
             {management} (for example `assume_role {{ role_arn = \"arn:aws:iam::{management}:role/...\" }}` on \
             an aliased provider). Member accounts are connected with the cross-account role alone, without a \
             bucket or report. (AWS said: {aws_said})"
        ),
    )
}

fn is_bucket_denied(message: &str) -> bool {
    message.contains(BUCKET_DENIED)
}

/// Explains a bucket check that kept failing, after finding out why.
async fn bucket_denied_error(ctx: &Ctx<ProviderData>, bucket: &str, region: &str, waited: Duration) -> Diagnostic {
    let s3 = ctx.provider().aws.s3(Some(region)).await;
    let cause = match bucket_location(&s3, bucket).await {
        Ok(None) => format!("The bucket {bucket} does not exist (or these credentials cannot see it)."),
        Ok(Some(actual)) if actual != region => format!(
            "The bucket {bucket} is in {actual}, but the report says bucket_region = {region:?}: set bucket_region \
             to {actual:?} (or leave it out to use the bucket's region)."
        ),
        _ => format!(
            "The bucket policy of {bucket} must allow the service principal billingreports.amazonaws.com to \
             s3:GetBucketAcl and s3:GetBucketPolicy on arn:aws:s3:::{bucket} and to s3:PutObject on \
             arn:aws:s3:::{bucket}/*, with aws:SourceArn arn:aws:cur:us-east-1:<account>:definition/* (us-east-1 \
             whatever the bucket's region) and aws:SourceAccount = this account. The `vantage_aws_cur_bucket` \
             resource writes exactly that policy: manage the bucket with it, or copy its statements."
        ),
    };
    Diagnostic::error(
        "AWS billing cannot write to the CUR bucket",
        format!(
            "CUR answered \"ValidationException: {BUCKET_DENIED}.\" for {bucket} in {region}, still after {}s of \
             retries (a new bucket policy can take a moment to apply). {cause} To wait longer, set \
             `timeouts {{ create = \"5m\" }}`.",
            waited.as_secs()
        ),
    )
    .at(AttrPath::new("bucket"))
}

enum WriteError {
    Sdk(String, bool),
    Other(Diagnostic),
}

impl CurReport {
    /// The region to deliver to: configured, else the bucket's own (which may
    /// be created by this same apply, so a missing bucket is waited for).
    async fn resolve_region(
        ctx: &Ctx<ProviderData>,
        m: &CurReportModel,
        timeout: Duration,
    ) -> Result<String, Diagnostic> {
        if let Some(r) = &m.bucket_region {
            return Ok(r.clone());
        }
        let s3 = ctx.provider().aws.s3(None).await;
        let found = retry_while(
            ctx.cancellation(),
            timeout,
            || async {
                match bucket_location(&s3, m.bucket()).await {
                    Ok(Some(r)) => Ok(r),
                    Ok(None) => Err(None),
                    Err(d) => Err(Some(d)),
                }
            },
            Option::is_none,
        )
        .await;
        match found {
            Ok(r) => Ok(r),
            Err(RetryError::Cancelled) => Err(cancelled()),
            Err(RetryError::Failed { error: Some(d), .. }) => Err(d),
            Err(RetryError::Failed {
                error: None, waited, ..
            }) => Err(Diagnostic::error(
                "CUR bucket not found",
                format!(
                    "There is no S3 bucket named {:?} (waited {}s for it to appear). Create it with \
                     `vantage_aws_cur_bucket`, or set `bucket_region` if these credentials cannot read its location.",
                    m.bucket(),
                    waited.as_secs()
                ),
            )
            .at(AttrPath::new("bucket"))),
        }
    }

    /// Runs a Put or Modify, retrying the bucket check for `timeout` (S3
    /// policy propagation, or a bucket created in parallel by the same apply).
    async fn write<F, Fut>(
        ctx: &Ctx<ProviderData>,
        m: &CurReportModel,
        region: &str,
        timeout: Duration,
        what: &str,
        op: F,
    ) -> Result<(), Diagnostic>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), WriteError>>,
    {
        let mut org_checked = false;
        let started = std::time::Instant::now();
        let first = op().await;
        let result = match first {
            Err(WriteError::Sdk(message, true)) if is_bucket_denied(&message) => {
                // Before waiting out the window: a member account gets a clear answer now.
                org_checked = true;
                if let Some((caller, management)) = member_of(ctx).await {
                    return Err(member_account_error(&caller, &management, &message));
                }
                retry_while(
                    ctx.cancellation(),
                    timeout.saturating_sub(started.elapsed()),
                    &op,
                    |e| matches!(e, WriteError::Sdk(m, true) if is_bucket_denied(m)),
                )
                .await
            }
            other => other.map_err(|error| RetryError::Failed {
                error,
                attempts: 1,
                waited: Duration::ZERO,
            }),
        };
        match result {
            Ok(()) => Ok(()),
            Err(RetryError::Cancelled) => Err(cancelled()),
            Err(RetryError::Failed {
                error: WriteError::Other(d),
                ..
            }) => Err(d),
            Err(RetryError::Failed {
                error: WriteError::Sdk(message, validation),
                ..
            }) => {
                if validation && is_bucket_denied(&message) {
                    return Err(bucket_denied_error(ctx, m.bucket(), region, started.elapsed()).await);
                }
                if validation
                    && !org_checked
                    && let Some((caller, management)) = member_of(ctx).await
                {
                    return Err(member_account_error(&caller, &management, &message));
                }
                Err(Diagnostic::error(
                    format!("Could not {what} the Cost and Usage Report"),
                    format!("CUR (us-east-1) answered for {}: {message}", m.name()),
                ))
            }
        }
    }

    /// The state for a definition AWS holds.
    async fn state_from(
        ctx: &Ctx<ProviderData>,
        prior: &CurReportModel,
        def: &ReportDefinition,
        tags_all: Tags,
    ) -> Result<CurReportModel, Diagnostic> {
        let name = def.report_name().to_string();
        let arn = match &prior.arn {
            Some(a) if a.ends_with(&format!(":definition/{name}")) => a.clone(),
            _ => {
                let caller = ctx.provider().aws.caller().await?;
                report_arn(&caller.partition, &caller.account_id, &name)
            }
        };
        let status = def.report_status();
        Ok(CurReportModel {
            id: Some(name.clone()),
            name: Some(name),
            bucket: Some(def.s3_bucket().to_string()),
            bucket_region: Some(def.s3_region().as_str().to_string()),
            prefix: Some(def.s3_prefix().to_string()),
            time_unit: Some(def.time_unit().as_str().to_string()),
            format: Some(def.format().as_str().to_string()),
            compression: Some(def.compression().as_str().to_string()),
            additional_schema_elements: Some(
                def.additional_schema_elements()
                    .iter()
                    .map(|e| e.as_str().to_string())
                    .collect(),
            ),
            additional_artifacts: Some(
                def.additional_artifacts()
                    .iter()
                    .map(|a| a.as_str().to_string())
                    .collect(),
            ),
            report_versioning: Some(
                def.report_versioning()
                    .map_or("CREATE_NEW_REPORT", ReportVersioning::as_str)
                    .to_string(),
            ),
            refresh_closed_reports: Some(def.refresh_closed_reports().unwrap_or(true)),
            tags: tags::own_tags(
                &tags_all,
                &ctx.provider().aws.settings.default_tags,
                prior.tags.as_ref(),
            ),
            tags_all: Some(tags_all),
            arn: Some(arn),
            last_delivery: status.and_then(|s| s.last_delivery()).map(str::to_string),
            last_status: status.and_then(|s| s.last_status()).map(|s| s.as_str().to_string()),
            timeouts: prior.timeouts.clone(),
        })
    }

    /// The report as AWS holds it (shared page cache), `None` when gone.
    async fn read_remote(
        ctx: &Ctx<ProviderData>,
        prior: &CurReportModel,
        name: &str,
    ) -> Result<Option<CurReportModel>, Diagnostic> {
        let data = ctx.provider();
        let cur = data.aws.cur().await;
        let Some(def) = data.cur_reports.find(cur, ctx.cancellation(), name).await? else {
            return Ok(None);
        };
        let tags = match cur.list_tags_for_resource().report_name(name).send().await {
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
                return Err(Diagnostic::error(
                    "Could not read the report's tags",
                    format!("CUR ListTagsForResource {name}: {}", describe(&e)),
                ));
            }
        };
        Self::state_from(ctx, prior, &def, tags).await.map(Some)
    }
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for CurReport {
    type Model = CurReportModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_cur_report"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "A Cost and Usage Report (CUR 1.0) definition: AWS billing writes the account's cost and usage data \
             into the CUR bucket, where Vantage imports it. Create it in the management (payer) account of an \
             organisation. The defaults are those of Vantage's module: daily, CSV with GZIP, resource ids, \
             overwriting the report. Invalid combinations are refused at plan time with the reason. \
             `name`, `time_unit`, `additional_schema_elements` and `report_versioning` cannot change in place \
             (changing them replaces the report); the rest is updated in place.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("The report name."),
        )
        .attribute(
            Attribute::string("name")
                .default(DEFAULT_NAME)
                .requires_replace()
                .validator(custom("1-256 characters of letters, digits and `!-_.*'()`", name_check))
                .description("Report name, unique in the account (case-sensitive)."),
        )
        .attribute(
            Attribute::string("bucket")
                .required()
                .validator(custom("an S3 bucket name", bucket_check))
                .description("Name of the bucket to deliver to, e.g. `vantage_aws_cur_bucket.this.bucket`."),
        )
        .attribute(
            Attribute::string("bucket_region")
                .optional_computed()
                .validator(one_of(&S3_REGIONS))
                .description(
                    "Region of the bucket. Defaults to the bucket's actual region (S3 GetBucketLocation at \
                     apply). The report itself always lives in us-east-1.",
                ),
        )
        .attribute(
            Attribute::string("prefix")
                .optional_computed()
                .validator(custom(
                    "up to 256 characters of letters, digits and `!-_.*'()/`",
                    prefix_check,
                ))
                .description("Key prefix of the report files. Defaults to `lower(time_unit)-v1`, e.g. `daily-v1`."),
        )
        .attribute(
            Attribute::string("time_unit")
                .default("DAILY")
                .requires_replace()
                .validator(one_of(&TIME_UNITS))
                .description("Granularity of the line items: `HOURLY`, `DAILY` or `MONTHLY`."),
        )
        .attribute(
            Attribute::string("format")
                .default("textORcsv")
                .validator(one_of(&FORMATS))
                .description("`textORcsv` or `Parquet` (Parquet needs `compression = \"Parquet\"`)."),
        )
        .attribute(
            Attribute::string("compression")
                .default("GZIP")
                .validator(one_of(&COMPRESSIONS))
                .description("`GZIP` or `ZIP` for CSV, `Parquet` for Parquet."),
        )
        .attribute(
            Attribute::string_set("additional_schema_elements")
                .default(Value::Set(vec![Value::from("RESOURCES")]))
                .requires_replace()
                .validator(custom(
                    "a set of `RESOURCES`, `SPLIT_COST_ALLOCATION_DATA`, `MANUAL_DISCOUNT_COMPATIBILITY`",
                    set_check(&SCHEMA_ELEMENTS, "schema elements"),
                ))
                .description(
                    "Extra columns: `RESOURCES` (resource ids, which Vantage uses), `SPLIT_COST_ALLOCATION_DATA`, \
                     `MANUAL_DISCOUNT_COMPATIBILITY`. May be empty.",
                ),
        )
        .attribute(
            Attribute::string_set("additional_artifacts")
                .default(Value::Set(Vec::new()))
                .validator(custom(
                    "a set of `REDSHIFT`, `QUICKSIGHT`, `ATHENA`",
                    set_check(&ARTIFACTS, "additional artifacts"),
                ))
                .description(
                    "Integration files AWS writes next to the report: `REDSHIFT` and/or `QUICKSIGHT` (CSV only), \
                     or `ATHENA` alone (Parquet, `OVERWRITE_REPORT`, non-empty prefix).",
                ),
        )
        .attribute(
            Attribute::string("report_versioning")
                .default("OVERWRITE_REPORT")
                .requires_replace()
                .validator(one_of(&VERSIONING))
                .description("`OVERWRITE_REPORT` (one current version, as Vantage expects) or `CREATE_NEW_REPORT`."),
        )
        .attribute(Attribute::bool("refresh_closed_reports").default(true).description(
            "Update reports of closed months when AWS applies refunds, credits or support fees after the fact.",
        ))
        .attribute(tags::tags_attribute())
        .attribute(tags::tags_all_attribute())
        .attribute(
            Attribute::string("arn")
                .computed()
                .use_state_for_unknown()
                .description("ARN of the report definition (`arn:aws:cur:us-east-1:<account>:definition/<name>`)."),
        )
        .attribute(
            Attribute::string("last_delivery")
                .computed()
                .description("When AWS last delivered the report (`yyyymmddThhmmssZ`), once it has."),
        )
        .attribute(
            Attribute::string("last_status")
                .computed()
                .description("Outcome of the last delivery: `SUCCESS`, `ERROR_PERMISSIONS` or `ERROR_NO_BUCKET`."),
        )
        .block(timeouts::block(&["create", "update"]))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        for (attribute, message) in combination_errors(&Settings::from_config(config)) {
            diags.push(
                Diagnostic::error("Invalid Cost and Usage Report settings", message).at(AttrPath::new(attribute)),
            );
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() {
            return Ok(());
        }
        let config: CurReportModel = plan.config()?;
        let planned: CurReportModel = plan.planned()?;
        let prior: Option<CurReportModel> = plan.prior()?;
        let config_value = plan.config_value().clone();

        if config_value.attr("name").is_unknown() {
            plan.set_unknown("id");
        } else {
            plan.set("id", planned.name());
        }
        if config.prefix.is_none() && !config_value.attr("prefix").is_unknown() {
            if config_value.attr("time_unit").is_unknown() {
                plan.set_unknown("prefix");
            } else {
                plan.set("prefix", default_prefix(planned.time_unit()));
            }
        }
        if config.bucket_region.is_none() && !config_value.attr("bucket_region").is_unknown() {
            let same_bucket = prior.as_ref().is_some_and(|p| {
                p.bucket == config.bucket && !config_value.attr("bucket").is_unknown() && p.bucket_region.is_some()
            });
            match prior.as_ref().filter(|_| same_bucket) {
                Some(p) => plan.set("bucket_region", p.bucket_region.clone()),
                None => plan.set_unknown("bucket_region"),
            }
        }
        if !config_value.attr("tags").is_unknown() {
            let all = tags::merge(&ctx.provider().aws.settings.default_tags, config.tags.as_ref());
            plan.set(
                "tags_all",
                Value::Map(all.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
            );
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: CurReportModel,
    ) -> Result<CurReportModel, ApplyError<CurReportModel>> {
        let data = ctx.provider();
        let timeout = planned.timeouts().create_or(DEFAULT_TIMEOUT);
        let name = planned.name().to_string();
        let region = Self::resolve_region(ctx, &planned, timeout).await?;
        let report = definition(&planned, &region)?;
        let tags = cur_tags(&planned.tags_all.clone().unwrap_or_default())?;
        let cur = data.aws.cur().await;
        let result = Self::write(ctx, &planned, &region, timeout, "create", || async {
            let out = cur
                .put_report_definition()
                .report_definition(report.clone())
                .set_tags(if tags.is_empty() { None } else { Some(tags.clone()) })
                .send()
                .await;
            data.cur_reports.invalidate();
            match out {
                Ok(_) => Ok(()),
                Err(e) => {
                    let s = e.as_service_error();
                    if s.is_some_and(|s| s.is_duplicate_report_name_exception()) {
                        return Err(WriteError::Other(
                            Diagnostic::error(
                                "Cost and Usage Report already exists",
                                format!(
                                    "This account already has a report named {name:?} (perhaps created by an \
                                     earlier onboarding or by hand). Adopt it instead of creating it: add\n\n  \
                                     import {{\n    to = vantage_aws_cur_report.<this resource's name>\n    id = \
                                     \"{name}\"\n  }}\n\nand run apply again, or choose another `name`."
                                ),
                            )
                            .at(AttrPath::new("name")),
                        ));
                    }
                    if s.is_some_and(|s| s.is_report_limit_reached_exception()) {
                        return Err(WriteError::Other(Diagnostic::error(
                            "Too many Cost and Usage Reports",
                            format!(
                                "AWS refused a new report: {}. Delete a report you no longer need (or import \
                                 an existing one and point it at the Vantage bucket) and apply again.",
                                describe(&e)
                            ),
                        )));
                    }
                    let validation = s.is_some_and(|s| s.is_validation_exception());
                    Err(WriteError::Sdk(describe(&e), validation))
                }
            }
        })
        .await;
        result.map_err(ApplyError::from)?;
        let caller = data.aws.caller().await?;
        Ok(CurReportModel {
            id: Some(name.clone()),
            arn: Some(report_arn(&caller.partition, &caller.account_id, &name)),
            bucket_region: Some(region),
            last_delivery: None,
            last_status: None,
            ..planned
        })
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: CurReportModel,
    ) -> Result<Option<CurReportModel>, Diagnostics> {
        let name = current.name().to_string();
        Ok(Self::read_remote(ctx, &current, &name).await?)
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: CurReportModel,
        planned: CurReportModel,
    ) -> Result<CurReportModel, ApplyError<CurReportModel>> {
        let data = ctx.provider();
        let timeout = planned.timeouts().update_or(DEFAULT_TIMEOUT);
        let name = planned.name().to_string();
        let region = Self::resolve_region(ctx, &planned, timeout).await?;
        let cur = data.aws.cur().await;
        let mut resolved = planned.clone();
        resolved.bucket_region = Some(region.clone());
        if resolved.definition_fields() != prior.definition_fields() {
            let report = definition(&resolved, &region)?;
            Self::write(ctx, &resolved, &region, timeout, "update", || async {
                let out = cur
                    .modify_report_definition()
                    .report_name(&name)
                    .report_definition(report.clone())
                    .send()
                    .await;
                data.cur_reports.invalidate();
                out.map(drop).map_err(|e| {
                    let validation = e.as_service_error().is_some_and(|s| s.is_validation_exception());
                    WriteError::Sdk(describe(&e), validation)
                })
            })
            .await
            .map_err(ApplyError::from)?;
        }
        let (set, remove) = tags::diff(
            prior.tags_all.as_ref().unwrap_or(&Tags::new()),
            planned.tags_all.as_ref().unwrap_or(&Tags::new()),
        );
        let tag_failure = |e: String| ApplyError::from(Diagnostic::error("Could not tag the Cost and Usage Report", e));
        if !remove.is_empty() {
            let out = cur
                .untag_resource()
                .report_name(&name)
                .set_tag_keys(Some(remove))
                .send()
                .await;
            data.cur_reports.invalidate();
            out.map_err(|e| tag_failure(format!("CUR UntagResource {name}: {}", describe(&e))))?;
        }
        if !set.is_empty() {
            let out = cur
                .tag_resource()
                .report_name(&name)
                .set_tags(Some(cur_tags(&set)?))
                .send()
                .await;
            data.cur_reports.invalidate();
            out.map_err(|e| tag_failure(format!("CUR TagResource {name}: {}", describe(&e))))?;
        }
        Ok(CurReportModel {
            id: Some(name),
            arn: prior.arn.clone(),
            last_delivery: prior.last_delivery.clone(),
            last_status: prior.last_status.clone(),
            ..resolved
        })
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: CurReportModel) -> Result<(), Diagnostics> {
        let data = ctx.provider();
        let name = prior.name().to_string();
        let cur = data.aws.cur().await;
        let out = cur.delete_report_definition().report_name(&name).send().await;
        data.cur_reports.invalidate();
        match out {
            Ok(_) => Ok(()),
            // CUR answers ValidationException for an unknown report: gone already is fine.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_validation_exception()) => {
                match data.cur_reports.find(cur, ctx.cancellation(), &name).await? {
                    None => Ok(()),
                    Some(_) => Err(Diagnostic::error(
                        "Could not delete the Cost and Usage Report",
                        format!("CUR DeleteReportDefinition {name}: {}", describe(&e)),
                    )
                    .into()),
                }
            }
            Err(e) => Err(Diagnostic::error(
                "Could not delete the Cost and Usage Report",
                format!("CUR DeleteReportDefinition {name}: {}", describe(&e)),
            )
            .into()),
        }
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<CurReportModel, Diagnostics> {
        name_check(&Value::from(id)).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import the report by its name."),
            ))
        })?;
        let prior = CurReportModel {
            name: Some(id.to_string()),
            ..CurReportModel::default()
        };
        match Self::read_remote(ctx, &prior, id).await? {
            Some(state) => Ok(state),
            None => Err(Diagnostic::error(
                "Cannot import a missing report",
                format!("This account has no Cost and Usage Report named {id:?} (names are case-sensitive)."),
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(format: &str, compression: &str, versioning: &str, prefix: &str, artifacts: &[&str]) -> Settings {
        Settings {
            format: Some(format.into()),
            compression: Some(compression.into()),
            versioning: Some(versioning.into()),
            prefix: Some(prefix.into()),
            artifacts: Some(artifacts.iter().map(|a| a.to_string()).collect()),
        }
    }

    #[test]
    fn module_defaults_are_valid() {
        assert!(combination_errors(&settings("textORcsv", "GZIP", "OVERWRITE_REPORT", "daily-v1", &[])).is_empty());
        assert!(combination_errors(&settings("Parquet", "Parquet", "OVERWRITE_REPORT", "p", &["ATHENA"])).is_empty());
        assert!(
            combination_errors(&settings(
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
        let e = combination_errors(&settings("Parquet", "GZIP", "OVERWRITE_REPORT", "p", &[]));
        assert!(
            e.len() == 1
                && e[0]
                    .1
                    .contains("format = \"Parquet\" cannot be combined with compression = \"GZIP\"")
        );
        let e = combination_errors(&settings(
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
        let e = combination_errors(&settings("textORcsv", "GZIP", "CREATE_NEW_REPORT", "", &["ATHENA"]));
        let attrs: Vec<&str> = e.iter().map(|(a, _)| *a).collect();
        assert_eq!(attrs, vec!["format", "report_versioning", "prefix"]);
        let e = combination_errors(&settings(
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
        assert!(name_check(&Value::from("VantageReport-0123456789")).is_ok());
        assert!(name_check(&Value::from("has space")).is_err());
        assert!(prefix_check(&Value::from("")).is_ok());
        assert!(prefix_check(&Value::from("a b")).is_err());
        assert!(bucket_check(&Value::from("arn:aws:s3:::b")).is_err_and(|e| e.contains("not its ARN")));
        assert_eq!(default_prefix("HOURLY"), "hourly-v1");
    }

    #[test]
    fn arns_name_us_east_1() {
        assert_eq!(
            report_arn("aws", "123456789012", "VantageReport"),
            "arn:aws:cur:us-east-1:123456789012:definition/VantageReport"
        );
    }
}
