//! `vantage_aws_data_export`: a CUR 2.0 export (BCM Data Exports) in the shape Vantage asks
//! for: the `COST_AND_USAGE_REPORT` table with Vantage's columns and every table property set
//! explicitly, CSV with GZIP into the CUR bucket, overwritten, refreshed with billing.
//!
//! AWS adds table properties the caller did not send: they are kept in
//! `table_configuration_all` as AWS reports them and never planned as a change; only the
//! properties this resource sets are compared. Columns compare as a set. Only `name` cannot
//! change in place (`UpdateExport` takes everything else).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tfplugin::schema::validators::{one_of, string};
use tfplugin::timeouts::{self, WriteTimeouts};
use tfplugin::{
    ApplyError, AttrPath, Attribute, ConfigView, Ctx, Diagnostic, Diagnostics, MoveSource, Plan, Resource, Schema, Val,
    Value,
};

use crate::aws::exports::{
    ExportError, ExportFacts, ExportSpec, Exports, TABLE_PROPERTIES, TIME_UNITS, VANTAGE_COLUMNS, check_column_name,
    check_export_name, check_table_property, vantage_table_configuration,
};
use crate::retry::Budget;
use crate::tags::{self, Tags};
use crate::{ProviderData, moves};

pub const DEFAULT_NAME: &str = "VantageDataExport";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

pub struct DataExport;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DataExportModel {
    pub id: Option<String>,
    pub arn: Option<String>,
    pub name: Option<String>,
    pub bucket: Option<String>,
    pub bucket_region: Option<String>,
    pub prefix: Option<String>,
    pub time_unit: Option<String>,
    pub additional_columns: Option<BTreeSet<String>>,
    pub table_configuration: Option<BTreeMap<String, String>>,
    pub columns: Option<BTreeSet<String>>,
    pub table_configuration_all: Option<BTreeMap<String, String>>,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub last_refreshed_at: Option<String>,
    pub tags: Option<Tags>,
    pub tags_all: Option<Tags>,
    pub timeouts: Option<WriteTimeouts>,
}

impl DataExportModel {
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
    /// The export's ARN; `None` while state knows only its name (a create that may have acted
    /// ended before AWS answered with the ARN).
    fn known_arn(&self) -> Option<&str> {
        self.arn
            .as_deref()
            .or(self.id.as_deref())
            .filter(|a| a.starts_with("arn:"))
    }
    /// Vantage's columns in its order, then the additional ones.
    fn column_list(&self) -> Vec<String> {
        let mut columns: Vec<String> = VANTAGE_COLUMNS.iter().map(|c| c.to_string()).collect();
        columns.extend(self.additional_columns.iter().flatten().cloned());
        columns
    }
    /// The properties this resource sets: Vantage's, with the configuration's overrides.
    fn desired_table(&self, partition: &str, account: &str) -> BTreeMap<String, String> {
        let mut table = vantage_table_configuration(partition, account, self.time_unit());
        table.extend(
            self.table_configuration
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        table
    }
    fn spec(&self, partition: &str, account: &str, region: &str) -> ExportSpec {
        ExportSpec {
            name: self.name().to_string(),
            columns: self.column_list(),
            table_configuration: self.desired_table(partition, account),
            bucket: self.bucket().to_string(),
            prefix: self.prefix.clone().unwrap_or_else(|| default_prefix(self.time_unit())),
            bucket_region: region.to_string(),
        }
    }
}

/// `lower(time_unit)-v2`: beside CUR 1.0's `-v1`, so the two generations never share a folder.
pub fn default_prefix(time_unit: &str) -> String {
    format!("{}-v2", time_unit.to_ascii_lowercase())
}

fn diagnostic(e: ExportError) -> Diagnostic {
    let d = e.to_diagnostic();
    match e {
        ExportError::Duplicate { .. } => d.at(AttrPath::new("name")),
        ExportError::BucketNotVerified { .. } => d.at(AttrPath::new("bucket")),
        _ => d,
    }
}

fn string_set(items: impl IntoIterator<Item = String>) -> Value {
    let sorted: BTreeSet<String> = items.into_iter().collect();
    Value::Set(sorted.into_iter().map(Value::from).collect())
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect())
}

impl DataExport {
    fn exports(ctx: &Ctx<ProviderData>) -> Exports<'_> {
        Exports::new(&ctx.provider().aws, ctx.cancellation())
    }

    /// The state for an export AWS holds. `prior` carries what the configuration chose; an
    /// imported or moved state (no `columns` yet) takes those choices from the export itself.
    fn state_from(ctx: &Ctx<ProviderData>, prior: &DataExportModel, facts: ExportFacts) -> DataExportModel {
        let spec = facts.spec;
        let time_unit = spec
            .table_configuration
            .get("TIME_GRANULARITY")
            .cloned()
            .unwrap_or_else(|| prior.time_unit().to_string());
        let adopted = prior.columns.is_none();
        let additional_columns = if adopted {
            Some(
                spec.columns
                    .iter()
                    .filter(|c| !VANTAGE_COLUMNS.contains(&c.as_str()))
                    .cloned()
                    .collect(),
            )
        } else {
            prior.additional_columns.clone()
        };
        let table_configuration = if adopted {
            let overrides: BTreeMap<String, String> = TABLE_PROPERTIES
                .iter()
                .filter_map(|(key, _, vantage)| {
                    let actual = spec.table_configuration.get(*key)?;
                    vantage
                        .filter(|v| v != actual)
                        .map(|_| (key.to_string(), actual.clone()))
                })
                .collect();
            (!overrides.is_empty()).then_some(overrides)
        } else {
            prior.table_configuration.clone()
        };
        DataExportModel {
            id: Some(facts.arn.clone()),
            arn: Some(facts.arn),
            name: Some(spec.name),
            bucket: Some(spec.bucket),
            bucket_region: Some(spec.bucket_region),
            prefix: Some(spec.prefix),
            time_unit: Some(time_unit),
            additional_columns,
            table_configuration,
            columns: Some(spec.columns.into_iter().collect()),
            table_configuration_all: Some(spec.table_configuration),
            status: facts.status,
            status_reason: facts.status_reason,
            last_refreshed_at: facts.last_refreshed_at,
            tags: tags::own_tags(
                &facts.tags,
                &ctx.provider().aws.settings.default_tags,
                prior.tags.as_ref(),
            ),
            tags_all: Some(facts.tags),
            timeouts: prior.timeouts.clone(),
        }
    }

    /// The ARN of the export `m` describes: from state, or found by name when an interrupted
    /// create left only the name there. `None` when there is no such export.
    async fn resolve_arn(ctx: &Ctx<ProviderData>, m: &DataExportModel) -> Result<Option<String>, Diagnostic> {
        match m.known_arn() {
            Some(arn) => Ok(Some(arn.to_string())),
            None => Self::exports(ctx).find_arn(m.name()).await.map_err(diagnostic),
        }
    }

    async fn read_state(
        ctx: &Ctx<ProviderData>,
        prior: &DataExportModel,
        arn: &str,
    ) -> Result<Option<DataExportModel>, Diagnostic> {
        let Some(facts) = Self::exports(ctx).get(arn).await.map_err(diagnostic)? else {
            return Ok(None);
        };
        let state = Self::state_from(ctx, prior, facts);
        if state.status.as_deref() == Some("UNHEALTHY") {
            ctx.warn(unhealthy(&state));
        }
        Ok(Some(state))
    }
}

/// The apply's warning when the SDK's retry of CreateExport found the export its first,
/// unanswered attempt had made.
fn adopted(name: &str, arn: &str) -> Diagnostic {
    Diagnostic::warning(
        "Adopted the data export an interrupted attempt created",
        format!(
            "AWS gave no clear answer to the first CreateExport of {name} (a lost connection or a server error), \
             and the retry found {arn}, created since this apply started with exactly the query, destination and \
             tags asked for: that attempt had succeeded. Terraform now manages it."
        ),
    )
}

/// The plan-time warning for an export AWS reports as unhealthy, with what to fix.
fn unhealthy(state: &DataExportModel) -> Diagnostic {
    let reason = state.status_reason.as_deref().unwrap_or("no reason given");
    let fix = match reason {
        "INSUFFICIENT_PERMISSION" => format!(
            "Data Exports may not write to {}: the bucket policy must let bcm-data-exports.amazonaws.com \
             s3:PutObject and s3:GetBucketPolicy (vantage_aws_cur_bucket writes that statement).",
            state.bucket()
        ),
        "BILL_OWNER_CHANGED" => "The account changed organisation: recreate the export in the new management \
                                 account."
            .to_string(),
        _ => "AWS retries deliveries; if this persists, check the bucket and the export in the console.".to_string(),
    };
    Diagnostic::warning(
        "The data export is unhealthy",
        format!("AWS reports the export {} as UNHEALTHY ({reason}). {fix}", state.name()),
    )
}

#[tfplugin::async_trait]
impl Resource<ProviderData> for DataExport {
    type Model = DataExportModel;

    fn type_name(&self) -> &'static str {
        "vantage_aws_data_export"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "A CUR 2.0 export (BCM Data Exports) in the shape Vantage asks for: the `COST_AND_USAGE_REPORT` \
             table with Vantage's columns and every table property set explicitly, CSV with GZIP into the CUR \
             bucket, overwritten, refreshed with billing. Create it in the management (payer) account. Table \
             properties AWS adds on its own are kept as AWS reports them and never shown as a change. Only \
             `name` forces a new export; everything else is updated in place. It can run beside \
             `vantage_aws_cur_report` on the same bucket (names and prefixes must differ).",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("The export ARN."),
        )
        .attribute(
            Attribute::string("arn")
                .computed()
                .use_state_for_unknown()
                .description("ARN of the export (`arn:aws:bcm-data-exports:us-east-1:<account>:export/<name>-<id>`)."),
        )
        .attribute(
            Attribute::string("name")
                .default(DEFAULT_NAME)
                .requires_replace()
                .validator(string(
                    "1-128 characters of letters, digits and `!-_.*'()`",
                    check_export_name,
                ))
                .description(
                    "Export name, unique in the account and not the name of a CUR 1.0 report (they share one \
                     namespace).",
                ),
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
                .validator(one_of(&crate::aws::cur::S3_REGIONS))
                .description(
                    "Region of the bucket. Defaults to the bucket's actual region (S3 GetBucketLocation at \
                     apply). The export itself always lives in us-east-1.",
                ),
        )
        .attribute(
            Attribute::string("prefix")
                .optional_computed()
                .validator(string(
                    "up to 256 characters of letters, digits and `!-_.*'()/`",
                    crate::aws::cur::check_prefix,
                ))
                .description(
                    "Key prefix of the export files. Defaults to `lower(time_unit)-v2`, e.g. `daily-v2`, beside \
                     CUR 1.0's `daily-v1`.",
                ),
        )
        .attribute(
            Attribute::string("time_unit")
                .default("DAILY")
                .validator(one_of(&TIME_UNITS))
                .description("Granularity of the line items (`TIME_GRANULARITY`): `DAILY`, `HOURLY` or `MONTHLY`."),
        )
        .attribute(
            Attribute::string_set("additional_columns")
                .default(Value::Set(Vec::new()))
                .validator(string("lowercase column names of COST_AND_USAGE_REPORT", |s: &str| {
                    check_column_name(s)
                }))
                .description(
                    "Columns to select beside Vantage's (names as the table spells them, e.g. \
                     `split_line_item_split_cost`).",
                ),
        )
        .attribute(Attribute::string_map("table_configuration").optional().description(
            "Table properties to set differently from Vantage's (`INCLUDE_RESOURCES = \"TRUE\"`, \
             `INCLUDE_SPLIT_COST_ALLOCATION_DATA`, `INCLUDE_CAPACITY_RESERVATION_DATA`, \
             `INCLUDE_IAM_PRINCIPAL_DATA = \"TRUE\"`, `INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY`, all `FALSE` \
             unless noted, and `BILLING_VIEW_ARN`, the account's primary view). `TIME_GRANULARITY` comes from \
             `time_unit`.",
        ))
        .attribute(
            Attribute::string_set("columns")
                .computed()
                .description("Every column the export selects, as AWS holds it."),
        )
        .attribute(
            Attribute::string_map("table_configuration_all")
                .computed()
                .description("The table properties as AWS holds them, including any AWS added on its own."),
        )
        .attribute(
            Attribute::string("status")
                .computed()
                .description("`HEALTHY` or `UNHEALTHY` (the plan warns and says what to fix)."),
        )
        .attribute(
            Attribute::string("status_reason")
                .computed()
                .description("Why AWS reports the export unhealthy, e.g. `INSUFFICIENT_PERMISSION`."),
        )
        .attribute(
            Attribute::string("last_refreshed_at")
                .computed()
                .description("When AWS last refreshed the export's data, once it has."),
        )
        .attribute(tags::tags_attribute())
        .attribute(tags::tags_all_attribute())
        .block(timeouts::block(&["create", "update"]))
    }

    async fn validate(&self, config: &ConfigView<'_>) -> Diagnostics {
        let mut diags = Diagnostics::new();
        if let Val::Known(table) = config.get::<BTreeMap<String, String>>("table_configuration") {
            for (key, value) in &table {
                if let Err(e) = check_table_property(key, value) {
                    diags.push(
                        Diagnostic::error("Invalid table_configuration", format!("{e}."))
                            .at(AttrPath::new("table_configuration")),
                    );
                }
            }
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx<ProviderData>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_destroy() {
            return Ok(());
        }
        let config: DataExportModel = plan.config()?;
        let planned: DataExportModel = plan.planned()?;
        let prior: Option<DataExportModel> = plan.prior()?;
        let config_value = plan.config_value().clone();

        if config.prefix.is_none() && !config_value.attr("prefix").is_unknown() {
            if config_value.attr("time_unit").is_unknown() {
                plan.set_unknown("prefix");
            } else {
                plan.set("prefix", default_prefix(planned.time_unit()));
            }
        }
        crate::s3::plan_delivery_region(plan);
        if config_value.attr("additional_columns").is_unknown() {
            plan.set_unknown("columns");
        } else {
            plan.set("columns", string_set(planned.column_list()));
        }
        // Only the properties this resource sets are compared: the rest stay as AWS has them.
        let table_known = !["table_configuration", "time_unit"]
            .iter()
            .any(|a| config_value.attr(a).is_unknown());
        match prior.as_ref().and_then(|p| p.table_configuration_all.clone()) {
            Some(mut all) if table_known => {
                let caller = ctx.provider().aws.caller().await?;
                all.extend(planned.desired_table(&caller.partition, &caller.account_id));
                plan.set("table_configuration_all", string_map(&all));
            }
            _ => plan.set_unknown("table_configuration_all"),
        }
        tags::plan_tags_all(plan, &ctx.provider().aws.settings.default_tags);
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        planned: DataExportModel,
    ) -> Result<DataExportModel, ApplyError<DataExportModel>> {
        // `timeouts.create` bounds the whole create: each step gets what the earlier ones left.
        let budget = Budget::new("create", planned.timeouts().create_or(DEFAULT_TIMEOUT));
        let region =
            crate::s3::delivery_region(ctx, planned.bucket(), planned.bucket_region.as_deref(), &budget).await?;
        let caller = ctx.provider().aws.caller().await?;
        let spec = planned.spec(&caller.partition, &caller.account_id, &region);
        let tags = planned.tags_all.clone().unwrap_or_default();
        let exports = Self::exports(ctx);
        // What is known once the export exists. Until AWS answers with the ARN only the name
        // identifies it: `id` holds the name, and the next refresh finds the export by it.
        let mut created = DataExportModel {
            id: Some(spec.name.clone()),
            arn: None,
            bucket_region: Some(region),
            prefix: Some(spec.prefix.clone()),
            columns: Some(spec.columns.iter().cloned().collect()),
            table_configuration_all: Some(spec.table_configuration.clone()),
            ..planned
        };
        let Some(answer) = budget.bound_retried(exports.create(&spec, &tags, budget.left())).await else {
            // Cut in flight: AWS may have made the export. The next refresh finds it or drops it.
            return Err(ApplyError::with_partial_state(
                created,
                budget.ran_out("waiting for Data Exports CreateExport"),
            ));
        };
        let arn = match answer {
            Ok(c) => {
                if c.adopted {
                    ctx.warn(adopted(&spec.name, &c.arn));
                }
                c.arn
            }
            Err(e) => {
                // The export may exist (the answer was lost, or Terraform stopped the wait): keep
                // it in state, where the next refresh finds it or drops it.
                let acted = e.may_have_acted();
                let d = budget.explain(diagnostic(e), "waiting for Data Exports CreateExport");
                return Err(if acted {
                    ApplyError::with_partial_state(created, d)
                } else {
                    ApplyError::from(d)
                });
            }
        };
        // The export exists from here on: state records it even if the read back fails.
        created.id = Some(arn.clone());
        created.arn = Some(arn.clone());
        let step = "reading the new export back";
        match budget.bound(exports.get(&arn)).await {
            Some(Ok(Some(facts))) => Ok(Self::state_from(ctx, &created, facts)),
            Some(Ok(None)) => Err(ApplyError::with_partial_state(
                created,
                Diagnostic::error(
                    "The export disappeared",
                    format!("AWS created {arn} but cannot find it now."),
                ),
            )),
            Some(Err(e)) => Err(ApplyError::with_partial_state(created, diagnostic(e))),
            None => Err(ApplyError::with_partial_state(created, budget.ran_out(step))),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        current: DataExportModel,
    ) -> Result<Option<DataExportModel>, Diagnostics> {
        let Some(arn) = Self::resolve_arn(ctx, &current).await? else {
            return Ok(None);
        };
        Ok(Self::read_state(ctx, &current, &arn).await?)
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: DataExportModel,
        planned: DataExportModel,
    ) -> Result<DataExportModel, ApplyError<DataExportModel>> {
        let budget = Budget::new("update", planned.timeouts().update_or(DEFAULT_TIMEOUT));
        let Some(arn) = Self::resolve_arn(ctx, &prior).await? else {
            return Err(Diagnostic::error(
                "The export disappeared",
                format!("There is no data export named {:?} to update.", prior.name()),
            )
            .into());
        };
        let region =
            crate::s3::delivery_region(ctx, planned.bucket(), planned.bucket_region.as_deref(), &budget).await?;
        let caller = ctx.provider().aws.caller().await?;
        let spec = planned.spec(&caller.partition, &caller.account_id, &region);
        let exports = Self::exports(ctx);
        let prior_spec = prior.spec(
            &caller.partition,
            &caller.account_id,
            prior.bucket_region.as_deref().unwrap_or(&region),
        );
        let drifted = prior.columns.as_ref() != Some(&spec.columns.iter().cloned().collect())
            || prior
                .table_configuration_all
                .as_ref()
                .is_none_or(|all| spec.table_configuration.iter().any(|(k, v)| all.get(k) != Some(v)));
        if spec != prior_spec || drifted {
            // A change in place: cut at the deadline, the next refresh reads what AWS holds.
            let step = "waiting for Data Exports UpdateExport";
            budget
                .bound_retried(exports.update(&arn, &spec, budget.left()))
                .await
                .ok_or_else(|| budget.ran_out(step))?
                .map_err(|e| budget.explain(diagnostic(e), step))?;
        }
        let step = "tagging the export";
        let (set, remove) = tags::diff(
            prior.tags_all.as_ref().unwrap_or(&Tags::new()),
            planned.tags_all.as_ref().unwrap_or(&Tags::new()),
        );
        if !remove.is_empty() {
            budget
                .bound(exports.untag(&arn, remove))
                .await
                .ok_or_else(|| budget.ran_out(step))?
                .map_err(diagnostic)?;
        }
        if !set.is_empty() {
            budget
                .bound(exports.tag(&arn, &set))
                .await
                .ok_or_else(|| budget.ran_out(step))?
                .map_err(diagnostic)?;
        }
        let updated = DataExportModel {
            id: Some(arn.clone()),
            arn: Some(arn.clone()),
            bucket_region: Some(region),
            ..planned
        };
        match budget.bound(exports.get(&arn)).await {
            Some(Ok(Some(facts))) => Ok(Self::state_from(ctx, &updated, facts)),
            Some(Ok(None)) => Err(ApplyError::with_partial_state(
                updated,
                Diagnostic::error(
                    "The export disappeared",
                    format!("{arn} was deleted during the update."),
                ),
            )),
            Some(Err(e)) => Err(ApplyError::with_partial_state(updated, diagnostic(e))),
            None => Err(ApplyError::with_partial_state(
                updated,
                budget.ran_out("reading the export back"),
            )),
        }
    }

    async fn delete(&self, ctx: &Ctx<ProviderData>, prior: DataExportModel) -> Result<(), Diagnostics> {
        let Some(arn) = Self::resolve_arn(ctx, &prior).await? else {
            return Ok(());
        };
        Self::exports(ctx).delete(&arn).await.map_err(|e| diagnostic(e).into())
    }

    /// By ARN, or by name.
    async fn import(&self, ctx: &Ctx<ProviderData>, id: &str) -> Result<DataExportModel, Diagnostics> {
        let arn = if id.starts_with("arn:") {
            id.to_string()
        } else {
            check_export_name(id).map_err(|e| {
                Diagnostics::from(Diagnostic::error(
                    "Invalid import id",
                    format!("{e}. Import the export by its ARN or its name."),
                ))
            })?;
            Self::exports(ctx)
                .find_arn(id)
                .await
                .map_err(diagnostic)?
                .ok_or_else(|| {
                    Diagnostics::from(Diagnostic::error(
                        "Cannot import a missing export",
                        format!("This account has no data export named {id:?} (names are case-sensitive)."),
                    ))
                })?
        };
        let prior = DataExportModel {
            arn: Some(arn.clone()),
            ..DataExportModel::default()
        };
        Self::read_state(ctx, &prior, &arn).await?.ok_or_else(|| {
            Diagnostic::error(
                "Cannot import a missing export",
                format!("This account has no data export {arn}."),
            )
            .into()
        })
    }

    /// `moved { from = aws_bcmdataexports_export.x  to = vantage_aws_data_export.x }`: the
    /// refresh adopts the export's columns and table properties, as after an import.
    async fn move_state(&self, from: &MoveSource) -> Option<Result<serde_json::Value, Diagnostics>> {
        moves::from_hashicorp_aws(from, "aws_bcmdataexports_export").then(|| {
            let s = &from.state;
            let arn = moves::required(s, "id", from)?;
            moves::state(&DataExportModel {
                id: Some(arn.clone()),
                arn: Some(arn),
                name: s["export"][0]["name"].as_str().map(str::to_string),
                tags: moves::tags(s, "tags"),
                tags_all: moves::tags(s, "tags_all"),
                ..DataExportModel::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_prefix_stays_apart_from_cur_1() {
        assert_eq!(default_prefix("DAILY"), "daily-v2");
        assert_ne!(
            default_prefix("DAILY"),
            crate::resources::cur_report::default_prefix("DAILY")
        );
    }

    #[test]
    fn overrides_replace_vantages_properties_and_columns_follow_vantages_order() {
        let m = DataExportModel {
            time_unit: Some("HOURLY".into()),
            table_configuration: Some(BTreeMap::from([("INCLUDE_IAM_PRINCIPAL_DATA".into(), "FALSE".into())])),
            additional_columns: Some(BTreeSet::from(["split_line_item_split_cost".to_string()])),
            ..DataExportModel::default()
        };
        let t = m.desired_table("aws", "123456789012");
        assert_eq!(t["TIME_GRANULARITY"], "HOURLY");
        assert_eq!(t["INCLUDE_IAM_PRINCIPAL_DATA"], "FALSE");
        assert_eq!(t["INCLUDE_RESOURCES"], "TRUE");
        let columns = m.column_list();
        assert_eq!(columns.first().map(String::as_str), Some("bill_bill_type"));
        assert_eq!(columns.last().map(String::as_str), Some("split_line_item_split_cost"));
    }

    #[test]
    fn an_aws_bcmdataexports_export_moves_by_its_arn() {
        let from = MoveSource {
            provider_address: "registry.terraform.io/hashicorp/aws".into(),
            type_name: "aws_bcmdataexports_export".into(),
            schema_version: 0,
            state: serde_json::json!({
                "id": "arn:aws:bcm-data-exports:us-east-1:123456789012:export/VantageReport-1",
                "export": [{"name": "VantageReport"}], "tags": {},
            }),
        };
        let moved = tokio::runtime::Builder::new_current_thread()
            .build()
            .ok()
            .and_then(|rt| rt.block_on(DataExport.move_state(&from)))
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_eq!(moved["name"], "VantageReport");
        assert_eq!(moved["id"], moved["arn"]);
        // The refresh adopts what the export holds when `columns` is unset.
        assert_eq!(moved["columns"], serde_json::Value::Null);
    }
}
