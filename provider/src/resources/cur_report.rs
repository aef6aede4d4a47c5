//! `vantage_aws_cur_report`: the Cost and Usage Report (CUR 1.0) definition
//! that makes AWS billing deliver cost data into the CUR bucket.
//!
//! The rules AWS enforces on a definition (listed in `aws::cur`, which also
//! holds the CUR calls) are checked at plan time with a message naming the
//! combination and the fix, because AWS answers most of them with a bare
//! `ValidationException`. The CUR API lives in us-east-1 only (the client is
//! pinned there); the bucket may be in any region.
//!
//! Refresh reads the account's report definitions through the provider's
//! shared page cache (`aws::cur`): one scan per provider process,
//! however many reports the configuration holds.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::{one_of, string};
use tfplugin::timeouts::{self, WriteTimeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema, Val,
    Value,
};

use crate::aws::cur::{
    ARTIFACTS, COMPRESSIONS, Choices, Cur, CurError, FORMATS, Report, ReportDefinition, S3_REGIONS, SCHEMA_ELEMENTS,
    Setting, TIME_UNITS, VERSIONING, report_arn, rule_violations,
};
use crate::retry::Budget;
use crate::tags::{self, Tags};
use crate::{ProviderData, moves};

pub const DEFAULT_NAME: &str = "VantageReport";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

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
    pub timeouts: Option<WriteTimeouts>,
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
    fn timeouts(&self) -> WriteTimeouts {
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
    /// The definition to deliver into `region`, defaults filled in.
    fn definition(&self, region: &str) -> ReportDefinition {
        ReportDefinition {
            name: self.name().to_string(),
            time_unit: self.time_unit().to_string(),
            format: self.format.clone().unwrap_or_else(|| "textORcsv".into()),
            compression: self.compression.clone().unwrap_or_else(|| "GZIP".into()),
            schema_elements: self.additional_schema_elements.clone().unwrap_or_default(),
            bucket: self.bucket().to_string(),
            prefix: self.prefix.clone().unwrap_or_else(|| default_prefix(self.time_unit())),
            bucket_region: region.to_string(),
            artifacts: self.additional_artifacts.clone().unwrap_or_default(),
            refresh_closed_reports: self.refresh_closed_reports.unwrap_or(true),
            versioning: self
                .report_versioning
                .clone()
                .unwrap_or_else(|| "OVERWRITE_REPORT".into()),
        }
    }
}

/// `lower(time_unit)-v1`, Vantage's module's prefix.
pub fn default_prefix(time_unit: &str) -> String {
    format!("{}-v1", time_unit.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------
// Plan-time checks (the rules of `aws::cur`)
// ---------------------------------------------------------------------------

fn one_of_set(allowed: &'static [&'static str], what: &'static str) -> impl Fn(&str) -> Result<(), String> {
    move |s: &str| {
        if allowed.contains(&s) {
            Ok(())
        } else {
            Err(format!("{s:?} is not one of the {what}: use {}", allowed.join(", ")))
        }
    }
}

fn with_default(v: Val<String>, default: impl FnOnce() -> Option<String>) -> Option<String> {
    match v {
        Val::Known(s) => Some(s),
        Val::Null => default(),
        Val::Unknown => None,
    }
}

/// A configuration's settings with the defaults filled in; `None` where unknown.
fn choices(config: &ConfigView<'_>) -> Choices {
    let time_unit = with_default(config.get("time_unit"), || Some("DAILY".into()));
    Choices {
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

/// Rules 1-3: (attribute to blame, message) for each violation.
fn combination_errors(c: &Choices) -> Vec<(&'static str, String)> {
    let attribute = |s: Setting| match s {
        Setting::Format => "format",
        Setting::Compression => "compression",
        Setting::Versioning => "report_versioning",
        Setting::Prefix => "prefix",
        Setting::Artifacts => "additional_artifacts",
    };
    rule_violations(c).into_iter().map(|(s, m)| (attribute(s), m)).collect()
}

/// A CUR error as a diagnostic, on the attribute it concerns.
fn diagnostic(e: CurError) -> Diagnostic {
    let d = e.to_diagnostic();
    match e {
        CurError::DuplicateName { .. } => d.at(AttrPath::new("name")),
        CurError::BucketNotVerified { .. } => d.at(AttrPath::new("bucket")),
        _ => d,
    }
}

impl CurReport {
    fn cur(ctx: &Ctx<ProviderData>) -> Cur<'_> {
        let data = ctx.provider();
        Cur::new(&data.aws, &data.cur_reports, ctx.cancellation())
    }

    /// The state for a report AWS holds.
    async fn state_from(
        ctx: &Ctx<ProviderData>,
        prior: &CurReportModel,
        report: Report,
    ) -> Result<CurReportModel, Diagnostic> {
        let def = report.definition;
        let arn = match &prior.arn {
            Some(a) if a.ends_with(&format!(":definition/{}", def.name)) => a.clone(),
            _ => {
                let caller = ctx.provider().aws.caller().await?;
                report_arn(&caller.partition, &caller.account_id, &def.name)
            }
        };
        Ok(CurReportModel {
            id: Some(def.name.clone()),
            name: Some(def.name),
            bucket: Some(def.bucket),
            bucket_region: Some(def.bucket_region),
            prefix: Some(def.prefix),
            time_unit: Some(def.time_unit),
            format: Some(def.format),
            compression: Some(def.compression),
            additional_schema_elements: Some(def.schema_elements),
            additional_artifacts: Some(def.artifacts),
            report_versioning: Some(def.versioning),
            refresh_closed_reports: Some(def.refresh_closed_reports),
            tags: tags::own_tags(
                &report.tags,
                &ctx.provider().aws.settings.default_tags,
                prior.tags.as_ref(),
            ),
            tags_all: Some(report.tags),
            arn: Some(arn),
            last_delivery: report.last_delivery,
            last_status: report.last_status,
            timeouts: prior.timeouts.clone(),
        })
    }

    /// The report as AWS holds it, `None` when gone.
    async fn read_state(
        ctx: &Ctx<ProviderData>,
        prior: &CurReportModel,
        name: &str,
    ) -> Result<Option<CurReportModel>, Diagnostic> {
        match Self::cur(ctx).read_report(name).await.map_err(diagnostic)? {
            Some(report) => Self::state_from(ctx, prior, report).await.map(Some),
            None => Ok(None),
        }
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
                .validator(string(
                    "1-256 characters of letters, digits and `!-_.*'()`",
                    crate::aws::cur::check_report_name,
                ))
                .description("Report name, unique in the account (case-sensitive)."),
        )
        .attribute(
            Attribute::string("bucket")
                .required()
                .validator(string("an S3 bucket name", crate::aws::cur::check_bucket_name))
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
                .validator(string(
                    "up to 256 characters of letters, digits and `!-_.*'()/`",
                    crate::aws::cur::check_prefix,
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
                .validator(string(
                    "a set of `RESOURCES`, `SPLIT_COST_ALLOCATION_DATA`, `MANUAL_DISCOUNT_COMPATIBILITY`",
                    one_of_set(&SCHEMA_ELEMENTS, "schema elements"),
                ))
                .description(
                    "Extra columns: `RESOURCES` (resource ids, which Vantage uses), `SPLIT_COST_ALLOCATION_DATA`, \
                     `MANUAL_DISCOUNT_COMPATIBILITY`. May be empty.",
                ),
        )
        .attribute(
            Attribute::string_set("additional_artifacts")
                .default(Value::Set(Vec::new()))
                .validator(string(
                    "a set of `REDSHIFT`, `QUICKSIGHT`, `ATHENA`",
                    one_of_set(&ARTIFACTS, "additional artifacts"),
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
        for (attribute, message) in combination_errors(&choices(config)) {
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
        crate::s3::plan_delivery_region(plan);
        tags::plan_tags_all(plan, &ctx.provider().aws.settings.default_tags);
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: CurReportModel,
    ) -> Result<CurReportModel, ApplyError<CurReportModel>> {
        // `timeouts.create` bounds the whole create: the put gets what finding the region left.
        let budget = Budget::new("create", planned.timeouts().create_or(DEFAULT_TIMEOUT));
        let name = planned.name().to_string();
        let region =
            crate::s3::delivery_region(ctx, planned.bucket(), planned.bucket_region.as_deref(), &budget).await?;
        let tags = planned.tags_all.clone().unwrap_or_default();
        let mut created = CurReportModel {
            id: Some(name.clone()),
            arn: None,
            bucket_region: Some(region.clone()),
            last_delivery: None,
            last_status: None,
            ..planned.clone()
        };
        let cur = Self::cur(ctx);
        let definition = planned.definition(&region);
        let putting = cur.put_report_definition(&definition, &tags, budget.left());
        let Some(put) = budget.bound_retried(putting).await else {
            // Cut in flight: CUR may have made the report. The next refresh finds it or drops it.
            return Err(ApplyError::with_partial_state(
                created,
                budget.ran_out("waiting for CUR PutReportDefinition"),
            ));
        };
        if let Err(e) = put {
            // The report may exist (the answer was lost, or Terraform stopped the wait): the next
            // refresh finds it or drops it.
            let acted = e.may_have_acted();
            let d = budget.explain(diagnostic(e), "waiting for CUR PutReportDefinition");
            return Err(if acted {
                ApplyError::with_partial_state(created, d)
            } else {
                ApplyError::from(d)
            });
        }
        // The report exists: without the account for its ARN it is still state.
        let caller = match ctx.provider().aws.caller().await {
            Ok(caller) => caller,
            Err(d) => return Err(ApplyError::with_partial_state(created, d)),
        };
        created.arn = Some(report_arn(&caller.partition, &caller.account_id, &name));
        Ok(created)
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: CurReportModel,
    ) -> Result<Option<CurReportModel>, Diagnostics> {
        let name = current.name().to_string();
        Ok(Self::read_state(ctx, &current, &name).await?)
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: CurReportModel,
        planned: CurReportModel,
    ) -> Result<CurReportModel, ApplyError<CurReportModel>> {
        let budget = Budget::new("update", planned.timeouts().update_or(DEFAULT_TIMEOUT));
        let name = planned.name().to_string();
        let region =
            crate::s3::delivery_region(ctx, planned.bucket(), planned.bucket_region.as_deref(), &budget).await?;
        let cur = Self::cur(ctx);
        let mut resolved = planned.clone();
        resolved.bucket_region = Some(region.clone());
        if resolved.definition_fields() != prior.definition_fields() {
            // A change in place: cut at the deadline, the next refresh reads what CUR holds.
            let step = "waiting for CUR ModifyReportDefinition";
            budget
                .bound_retried(cur.modify_report_definition(&resolved.definition(&region), budget.left()))
                .await
                .ok_or_else(|| budget.ran_out(step))?
                .map_err(|e| budget.explain(diagnostic(e), step))?;
        }
        let updated = CurReportModel {
            id: Some(name.clone()),
            arn: prior.arn.clone(),
            last_delivery: prior.last_delivery.clone(),
            last_status: prior.last_status.clone(),
            ..resolved
        };
        // The definition is in place: a tagging failure keeps it, with the tags as they were.
        let untagged = || CurReportModel {
            tags: prior.tags.clone(),
            tags_all: prior.tags_all.clone(),
            ..updated.clone()
        };
        let (set, remove) = tags::diff(
            prior.tags_all.as_ref().unwrap_or(&Tags::new()),
            planned.tags_all.as_ref().unwrap_or(&Tags::new()),
        );
        // Tagging is idempotent, so a call still out at the deadline is abandoned; the tags then
        // stay as they were in state and the next apply sets them again.
        let step = "tagging the report";
        if !remove.is_empty() {
            match budget.bound(cur.untag_report(&name, remove)).await {
                None => return Err(ApplyError::with_partial_state(untagged(), budget.ran_out(step))),
                Some(Err(e)) => {
                    return Err(ApplyError::with_partial_state(
                        untagged(),
                        budget.explain(diagnostic(e), step),
                    ));
                }
                Some(Ok(())) => {}
            }
        }
        if !set.is_empty() {
            match budget.bound(cur.tag_report(&name, &set)).await {
                None => return Err(ApplyError::with_partial_state(untagged(), budget.ran_out(step))),
                Some(Err(e)) => {
                    return Err(ApplyError::with_partial_state(
                        untagged(),
                        budget.explain(diagnostic(e), step),
                    ));
                }
                Some(Ok(())) => {}
            }
        }
        Ok(updated)
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: CurReportModel) -> Result<(), Diagnostics> {
        Self::cur(ctx)
            .delete_report_definition(prior.name())
            .await
            .map_err(|e| diagnostic(e).into())
    }

    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<CurReportModel, Diagnostics> {
        crate::aws::cur::check_report_name(id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Invalid import id",
                format!("{e}. Import the report by its name."),
            ))
        })?;
        let prior = CurReportModel {
            name: Some(id.to_string()),
            ..CurReportModel::default()
        };
        match Self::read_state(ctx, &prior, id).await? {
            Some(state) => Ok(state),
            None => Err(Diagnostic::error(
                "Cannot import a missing report",
                format!("This account has no Cost and Usage Report named {id:?} (names are case-sensitive)."),
            )
            .into()),
        }
    }

    /// `moved { from = aws_cur_report_definition.x  to = vantage_aws_cur_report.x }`.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        moves::from_hashicorp_aws(from, "aws_cur_report_definition").then(|| moved_from_aws_cur_report_definition(from))
    }
}

/// An `aws_cur_report_definition` state as this type's (the names differ: `report_name`,
/// `s3_bucket`, `s3_region`, `s3_prefix`); the refresh reads the delivery status.
fn moved_from_aws_cur_report_definition(from: &MoveSource) -> Result<serde_json::Value, Diagnostics> {
    let s = &from.state;
    let name = moves::required(s, "report_name", from)?;
    moves::state(&CurReportModel {
        id: Some(name.clone()),
        name: Some(name),
        bucket: moves::string(s, "s3_bucket"),
        bucket_region: moves::string(s, "s3_region"),
        // "" is a prefix of its own here (no prefix), unlike SDKv2's unset strings.
        prefix: s["s3_prefix"].as_str().map(str::to_string),
        time_unit: moves::string(s, "time_unit"),
        format: moves::string(s, "format"),
        compression: moves::string(s, "compression"),
        additional_schema_elements: Some(moves::strings(s, "additional_schema_elements").unwrap_or_default()),
        additional_artifacts: Some(moves::strings(s, "additional_artifacts").unwrap_or_default()),
        report_versioning: moves::string(s, "report_versioning"),
        refresh_closed_reports: moves::boolean(s, "refresh_closed_reports"),
        tags: moves::tags(s, "tags"),
        tags_all: moves::tags(s, "tags_all"),
        arn: moves::string(s, "arn"),
        ..CurReportModel::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_cur_report_definition_moves_under_this_types_names() {
        let from = MoveSource {
            provider_address: "registry.terraform.io/hashicorp/aws".into(),
            type_name: "aws_cur_report_definition".into(),
            schema_version: 0,
            state: serde_json::json!({
                "report_name": "VantageReport", "s3_bucket": "b", "s3_region": "us-east-1", "s3_prefix": "daily-v1",
                "time_unit": "DAILY", "format": "textORcsv", "compression": "GZIP",
                "additional_schema_elements": ["RESOURCES"], "additional_artifacts": [],
                "report_versioning": "OVERWRITE_REPORT", "refresh_closed_reports": true,
            }),
        };
        let moved = moved_from_aws_cur_report_definition(&from).unwrap_or_default();
        assert_eq!(moved["id"], "VantageReport");
        assert_eq!(moved["bucket"], "b");
        assert_eq!(moved["prefix"], "daily-v1");
        assert_eq!(moved["additional_schema_elements"], serde_json::json!(["RESOURCES"]));
        assert_eq!(moved["additional_artifacts"], serde_json::json!([]));
    }

    #[test]
    fn each_rule_is_blamed_on_its_attribute() {
        let choices = Choices {
            format: Some("textORcsv".into()),
            compression: Some("GZIP".into()),
            versioning: Some("CREATE_NEW_REPORT".into()),
            prefix: Some(String::new()),
            artifacts: Some(BTreeSet::from(["ATHENA".to_string()])),
        };
        let attrs: Vec<&str> = combination_errors(&choices).iter().map(|(a, _)| *a).collect();
        assert_eq!(attrs, vec!["format", "report_versioning", "prefix"]);
    }

    #[test]
    fn the_default_prefix_follows_the_time_unit() {
        assert_eq!(default_prefix("HOURLY"), "hourly-v1");
    }
}
