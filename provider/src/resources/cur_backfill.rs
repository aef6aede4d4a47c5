//! `vantage_aws_cur_backfill`: the product guide's backfill of past reporting periods. It
//! copies historical Cost and Usage Report files from a source bucket and prefix into the
//! Vantage bucket under the report's prefix (server-side copies), and renders the AWS Support
//! request for periods that have no files.
//!
//! Idempotent: a file whose copy is already there (same size and ETag) is not copied again; a
//! file changed at the source, or a copy deleted, shows as an in-place update on the next plan.
//! The plan lists the source to tell. Destroying the resource leaves the copied files in place
//! (Vantage has ingested them).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tfplugin::schema::validators::string;
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema, Val,
};

use crate::ProviderData;
use crate::aws::s3::{self, ObjectFacts, S3Error};

pub struct CurBackfill;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CurBackfillModel {
    pub id: Option<String>,
    pub source_bucket: String,
    pub source_prefix: Option<String>,
    pub bucket: String,
    pub destination_prefix: String,
    pub report_name: Option<String>,
    pub organization: Option<String>,
    pub periods: Option<BTreeSet<String>>,
    pub files: Option<i64>,
    pub copied_files: Option<i64>,
    pub source_fingerprint: Option<String>,
    pub periods_found: Option<BTreeSet<String>>,
    pub periods_without_files: Option<BTreeSet<String>>,
    pub support_request: Option<String>,
}

impl CurBackfillModel {
    fn source_prefix(&self) -> &str {
        self.source_prefix.as_deref().unwrap_or_default()
    }

    fn id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.source_bucket,
            self.source_prefix(),
            self.bucket,
            self.destination_prefix
        )
    }

    /// Where a source file goes: the destination prefix, then its key below the source prefix.
    fn destination_key(&self, source_key: &str) -> String {
        let rest = source_key.strip_prefix(self.source_prefix()).unwrap_or(source_key);
        let rest = rest.trim_start_matches('/');
        let prefix = self.destination_prefix.trim_end_matches('/');
        if prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{prefix}/{rest}")
        }
    }
}

/// The billing period (`YYYY-MM`) a report file belongs to: CUR 1.0 keys hold
/// `<YYYYMMDD>-<YYYYMMDD>/`, CUR 2.0 keys `BILLING_PERIOD=YYYY-MM/`.
pub fn period_of(key: &str) -> Option<String> {
    key.split('/').find_map(|segment| {
        if let Some(p) = segment.strip_prefix("BILLING_PERIOD=") {
            let ok = p.len() == 7 && p.as_bytes()[4] == b'-';
            return ok.then(|| p.to_string());
        }
        let (from, to) = segment.split_once('-')?;
        let digits = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit());
        (digits(from) && digits(to)).then(|| format!("{}-{}", &from[..4], &from[4..6]))
    })
}

fn is_report_file(key: &str) -> bool {
    !key.ends_with('/') && !key.ends_with("-Manifest.json")
}

/// A copy matches its source: same size, and the same ETag unless the source was uploaded
/// in parts (a copy's ETag then differs).
fn in_sync(source: &ObjectFacts, copy: Option<&ObjectFacts>) -> bool {
    copy.is_some_and(|c| c.size == source.size && (c.etag == source.etag || source.etag.contains('-')))
}

fn fingerprint<'a>(files: impl IntoIterator<Item = &'a ObjectFacts>) -> String {
    let mut lines: Vec<String> = files
        .into_iter()
        .map(|f| format!("{}\t{}\t{}\n", f.key, f.size, f.etag))
        .collect();
    lines.sort();
    let digest = Sha256::digest(lines.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The AWS Support request of the guide, for the periods that have no files to copy.
pub fn support_request(organization: &str, report: &str, bucket: &str, periods: &BTreeSet<String>) -> String {
    let list = periods.iter().cloned().collect::<Vec<_>>().join(", ");
    format!(
        "Subject: Backfill of the Cost and Usage Report for previous billing periods\n\n\
         Hello AWS Support,\n\n\
         Please backfill the Cost and Usage Report \"{report}\" of the organization {organization} into the S3 \
         bucket \"{bucket}\" for these billing periods: {list}.\n\n\
         Thank you."
    )
}

struct Listing {
    sources: Vec<ObjectFacts>,
    copies: BTreeMap<String, ObjectFacts>,
}

fn diagnostic(e: S3Error) -> Diagnostic {
    e.to_diagnostic()
}

impl CurBackfill {
    async fn client(ctx: &Ctx<ProviderData>, bucket: &str) -> aws_sdk_s3::Client {
        let data = ctx.provider();
        let home = data.aws.s3(None).await;
        let region = s3::bucket_location(&home, bucket).await.ok().flatten();
        data.aws.s3(region.as_deref()).await
    }

    async fn sources(ctx: &Ctx<ProviderData>, m: &CurBackfillModel) -> Result<Vec<ObjectFacts>, Diagnostic> {
        let client = Self::client(ctx, &m.source_bucket).await;
        let all = s3::list_objects(&client, &m.source_bucket, m.source_prefix(), ctx.cancellation())
            .await
            .map_err(diagnostic)?;
        Ok(all.into_iter().filter(|o| is_report_file(&o.key)).collect())
    }

    async fn list(ctx: &Ctx<ProviderData>, m: &CurBackfillModel) -> Result<Listing, Diagnostic> {
        let sources = Self::sources(ctx, m).await?;
        let client = Self::client(ctx, &m.bucket).await;
        let copies = s3::list_objects(&client, &m.bucket, &m.destination_prefix, ctx.cancellation())
            .await
            .map_err(diagnostic)?
            .into_iter()
            .map(|o| (o.key.clone(), o))
            .collect();
        Ok(Listing { sources, copies })
    }

    /// The state for what the buckets hold; `synced` is the fingerprint of the files whose
    /// copies match (all of them right after a copy).
    async fn state(
        ctx: &Ctx<ProviderData>,
        m: &CurBackfillModel,
        listing: &Listing,
        copied: Option<i64>,
    ) -> Result<CurBackfillModel, Diagnostic> {
        let synced = listing
            .sources
            .iter()
            .filter(|s| in_sync(s, listing.copies.get(&m.destination_key(&s.key))));
        let found: BTreeSet<String> = listing.sources.iter().filter_map(|s| period_of(&s.key)).collect();
        let missing: BTreeSet<String> = m
            .periods
            .iter()
            .flatten()
            .filter(|p| !found.contains(*p))
            .cloned()
            .collect();
        let request = if missing.is_empty() {
            None
        } else {
            let organization = match &m.organization {
                Some(o) => o.clone(),
                None => ctx.provider().aws.caller().await?.account_id.clone(),
            };
            let report = m.report_name.as_deref().unwrap_or("VantageReport");
            Some(support_request(&organization, report, &m.bucket, &missing))
        };
        Ok(CurBackfillModel {
            id: Some(m.id()),
            files: Some(listing.sources.len() as i64),
            copied_files: copied.or(m.copied_files),
            source_fingerprint: Some(fingerprint(synced)),
            periods_found: Some(found),
            periods_without_files: Some(missing),
            support_request: request,
            ..m.clone()
        })
    }

    /// Copies every file whose copy is missing or differs; how many it copied.
    async fn copy(ctx: &Ctx<ProviderData>, m: &CurBackfillModel) -> Result<(Listing, i64), Diagnostic> {
        let mut listing = Self::list(ctx, m).await?;
        let client = Self::client(ctx, &m.bucket).await;
        let mut copied = 0;
        for source in &listing.sources {
            let to = m.destination_key(&source.key);
            if in_sync(source, listing.copies.get(&to)) {
                continue;
            }
            if ctx.cancellation().is_cancelled() {
                return Err(diagnostic(S3Error::Cancelled));
            }
            s3::copy_object(&client, &m.source_bucket, &source.key, &m.bucket, &to)
                .await
                .map_err(diagnostic)?;
            tracing::info!(from = %source.key, to = %to, "copied a report file");
            copied += 1;
        }
        if copied > 0 {
            listing = Self::list(ctx, m).await?;
        }
        Ok((listing, copied))
    }

    async fn apply(
        ctx: &Ctx<ProviderData>,
        planned: CurBackfillModel,
    ) -> Result<CurBackfillModel, ApplyError<CurBackfillModel>> {
        let (listing, copied) = Self::copy(ctx, &planned).await?;
        Ok(Self::state(ctx, &planned, &listing, Some(copied)).await?)
    }
}

const COMPUTED_BY_COPY: [&str; 6] = [
    "files",
    "copied_files",
    "source_fingerprint",
    "periods_found",
    "periods_without_files",
    "support_request",
];

#[tfplugin::async_trait]
impl Resource<ProviderData> for CurBackfill {
    type Model = CurBackfillModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_cur_backfill"
    }

    fn schema(&self) -> Schema {
        let bucket = || string("an S3 bucket name", crate::aws::cur::check_bucket_name);
        Schema::new(
            "Backfills past reporting periods, as Vantage's guide describes: copies historical Cost and Usage \
             Report files (daily CSV with resource ids is what Vantage expects; hourly and Parquet are accepted \
             with a warning) from a source bucket and prefix into the CUR bucket under the report's prefix, with \
             server-side copies. A file already copied is not copied again; a file changed at the source is. For \
             periods in `periods` without files it renders the AWS Support backfill request. Destroying it leaves \
             the copied files in place.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("`<source_bucket>:<source_prefix>:<bucket>:<destination_prefix>`."),
        )
        .attribute(
            Attribute::string("source_bucket")
                .required()
                .requires_replace()
                .validator(bucket())
                .description("Bucket holding the historical report files."),
        )
        .attribute(
            Attribute::string("source_prefix")
                .default("")
                .requires_replace()
                .description("Key prefix of the historical files in the source bucket."),
        )
        .attribute(
            Attribute::string("bucket")
                .required()
                .requires_replace()
                .validator(bucket())
                .description("The CUR bucket Vantage reads, e.g. `vantage_aws_cur_bucket.this.bucket`."),
        )
        .attribute(
            Attribute::string("destination_prefix")
                .required()
                .requires_replace()
                .description(
                    "Where the files go in `bucket`: the report's prefix and name, e.g. \
                     `\"${vantage_aws_cur_report.this.prefix}/${vantage_aws_cur_report.this.name}\"`. Each file keeps \
                     its key below `source_prefix`.",
                ),
        )
        .attribute(
            Attribute::string("report_name")
                .optional()
                .description("Report name for the support request. Defaults to `VantageReport` there."),
        )
        .attribute(
            Attribute::string("organization").optional().description(
                "Organization (or account) named in the support request. Defaults to the caller's account.",
            ),
        )
        .attribute(
            Attribute::string_set("periods")
                .optional()
                .validator(string("billing periods as `YYYY-MM`", check_period))
                .description(
                    "Billing periods (`YYYY-MM`) Vantage should have; those without files go into `support_request`.",
                ),
        )
        .attribute(
            Attribute::number("files")
                .computed()
                .description("Report files found at the source."),
        )
        .attribute(
            Attribute::number("copied_files")
                .computed()
                .description("Files the last apply copied (0 when every copy was already there)."),
        )
        .attribute(
            Attribute::string("source_fingerprint")
                .computed()
                .description("Digest of the source files whose copies are in place; a change means files to copy."),
        )
        .attribute(
            Attribute::string_set("periods_found")
                .computed()
                .description("Billing periods the source files cover."),
        )
        .attribute(
            Attribute::string_set("periods_without_files")
                .computed()
                .description("Periods in `periods` without source files."),
        )
        .attribute(Attribute::string("support_request").computed().description(
            "The AWS Support request asking to backfill `periods_without_files` (null when there are none).",
        ))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        if let (Val::Known(from), Val::Known(to)) =
            (config.get::<String>("source_bucket"), config.get::<String>("bucket"))
            && from == to
        {
            diags.push(
                Diagnostic::error(
                    "The source is the CUR bucket",
                    "`source_bucket` and `bucket` are the same bucket: copy from where the historical files are.",
                )
                .at(AttrPath::new("source_bucket")),
            );
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() || !plan.config_value().is_wholly_known() {
            return Ok(());
        }
        let config: CurBackfillModel = plan.config()?;
        let config = CurBackfillModel {
            source_prefix: config.source_prefix.or(Some(String::new())),
            ..config
        };
        plan.set("id", config.id());
        let sources = Self::sources(ctx, &config).await?;
        let parquet = sources.iter().any(|s| s.key.ends_with(".parquet"));
        let hourly = sources.iter().any(|s| s.key.to_ascii_lowercase().contains("hourly"));
        if parquet || hourly {
            ctx.warn(
                Diagnostic::warning(
                    "Not daily CSV",
                    format!(
                        "The source holds {} files. Vantage accepts them, but expects daily CSV with resource ids: \
                         ingestion may take longer or need Vantage support's help.",
                        if parquet { "Parquet" } else { "hourly" }
                    ),
                )
                .at(AttrPath::new("source_prefix")),
            );
        }
        let prior: Option<CurBackfillModel> = plan.prior()?;
        let up_to_date = prior.as_ref().is_some_and(|p| {
            p.source_fingerprint.as_deref() == Some(fingerprint(&sources).as_str()) && p.periods == config.periods
        });
        if !up_to_date {
            for attribute in COMPUTED_BY_COPY {
                plan.set_unknown(attribute);
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: CurBackfillModel,
    ) -> Result<CurBackfillModel, ApplyError<CurBackfillModel>> {
        Self::apply(ctx, planned).await
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: CurBackfillModel,
    ) -> Result<Option<CurBackfillModel>, Diagnostics> {
        let listing = Self::list(ctx, &current).await?;
        Ok(Some(Self::state(ctx, &current, &listing, None).await?))
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        _prior: CurBackfillModel,
        planned: CurBackfillModel,
    ) -> Result<CurBackfillModel, ApplyError<CurBackfillModel>> {
        Self::apply(ctx, planned).await
    }

    async fn delete(&self, _ctx: &Ctx<ProviderData>, _prior: CurBackfillModel) -> Result<(), Diagnostics> {
        Ok(())
    }

    /// By `<source_bucket>:<source_prefix>:<bucket>:<destination_prefix>`.
    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<CurBackfillModel, Diagnostics> {
        let parts: Vec<&str> = id.splitn(4, ':').collect();
        let [source_bucket, source_prefix, bucket, destination_prefix] = parts[..] else {
            return Err(Diagnostic::error(
                "Invalid import id",
                format!("{id:?} is not `<source_bucket>:<source_prefix>:<bucket>:<destination_prefix>`."),
            )
            .into());
        };
        let m = CurBackfillModel {
            source_bucket: source_bucket.to_string(),
            source_prefix: Some(source_prefix.to_string()),
            bucket: bucket.to_string(),
            destination_prefix: destination_prefix.to_string(),
            copied_files: Some(0),
            ..CurBackfillModel::default()
        };
        let listing = Self::list(ctx, &m).await?;
        Ok(Self::state(ctx, &m, &listing, None).await?)
    }
}

fn check_period(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(
            &s[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        );
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a billing period: write `YYYY-MM`, e.g. `2026-01`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(key: &str, size: i64, etag: &str) -> ObjectFacts {
        ObjectFacts {
            key: key.into(),
            size,
            etag: etag.into(),
        }
    }

    #[test]
    fn periods_come_from_both_generations_layouts() {
        assert_eq!(
            period_of("old/VantageReport/20260101-20260201/VantageReport-00001.csv.gz").as_deref(),
            Some("2026-01")
        );
        assert_eq!(
            period_of("cur2/data/BILLING_PERIOD=2025-11/part-0.csv.gz").as_deref(),
            Some("2025-11")
        );
        assert_eq!(period_of("notes/readme.txt"), None);
        assert!(check_period("2026-12").is_ok());
        assert!(check_period("2026-13").is_err());
        assert!(check_period("202601").is_err());
    }

    #[test]
    fn files_keep_their_key_below_the_source_prefix() {
        let m = CurBackfillModel {
            source_prefix: Some("history".into()),
            destination_prefix: "daily-v1/VantageReport/".into(),
            ..CurBackfillModel::default()
        };
        assert_eq!(
            m.destination_key("history/20260101-20260201/a.csv.gz"),
            "daily-v1/VantageReport/20260101-20260201/a.csv.gz"
        );
    }

    #[test]
    fn a_copy_is_in_sync_by_size_and_etag_and_the_fingerprint_sees_changes() {
        let source = file("a", 10, "\"abc\"");
        assert!(in_sync(&source, Some(&file("x", 10, "\"abc\""))));
        assert!(!in_sync(&source, Some(&file("x", 10, "\"def\""))));
        assert!(!in_sync(&source, None));
        assert!(in_sync(&file("a", 10, "\"abc-2\""), Some(&file("x", 10, "\"zzz\""))));
        let changed = file("a", 11, "\"abd\"");
        assert_ne!(fingerprint([&source]), fingerprint([&changed]));
        assert_eq!(fingerprint([&source, &changed]), fingerprint([&changed, &source]));
    }

    #[test]
    fn the_support_request_names_report_bucket_organisation_and_periods() {
        let text = support_request(
            "o-abc123",
            "VantageReport",
            "vantage-cur-1",
            &BTreeSet::from(["2025-12".to_string(), "2026-01".to_string()]),
        );
        for needle in ["o-abc123", "\"VantageReport\"", "\"vantage-cur-1\"", "2025-12, 2026-01"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
