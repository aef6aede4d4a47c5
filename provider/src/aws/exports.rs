//! BCM Data Exports (CUR 2.0): create, get, update, delete, find and tag exports of the
//! `COST_AND_USAGE_REPORT` table. Nothing here sees Terraform values.
//!
//! What the API answers, and what this module relies on:
//! - Served from us-east-1 whatever the bucket's region (the client is pinned there). An
//!   export is addressed by its ARN, `arn:aws:bcm-data-exports:us-east-1:<account>:export/<name>-<uuid>`;
//!   names are unique per account and shared with CUR 1.0 report names.
//! - `UpdateExport` takes the whole export and changes anything but the name.
//! - The table configuration comes back with keys the caller did not send (AWS adds new
//!   properties with their defaults), so callers compare only the keys they chose.
//! - Create and update check the bucket like CUR does, for `bcm-data-exports.amazonaws.com`
//!   (`ValidationException: Failed to verify customer bucket permission.`); a bucket policy put
//!   seconds earlier may not be seen yet, so that answer is retried for the write's timeout.
//! - `GetExport` of an unknown ARN: `ResourceNotFoundException`.
//! - A name taken: `ValidationException` saying it "already exists". The SDK retries a
//!   CreateExport whose answer was lost, and that retry is told so about the export its first
//!   attempt made; `ExportStatus.CreatedAt` and the export's content tell that one apart.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use aws_sdk_bcmdataexports::types::{
    CompressionOption, DataQuery, DestinationConfigurations, Export, FormatOption, FrequencyOption, OverwriteOption,
    RefreshCadence, ResourceTag, S3Destination, S3OutputConfigurations, S3OutputType,
};
use tfplugin::{CancellationToken, Diagnostic};

use super::clients::AwsClients;
use super::errors::{Attempts, created_since, describe, refused};
use crate::retry::{RetryError, retry_while};
use crate::tags::Tags;

/// The table Vantage reads.
pub const TABLE: &str = "COST_AND_USAGE_REPORT";

pub const TIME_UNITS: [&str; 3] = ["DAILY", "HOURLY", "MONTHLY"];

const BOOLEAN: &[&str] = &["TRUE", "FALSE"];

/// The table's properties with the values each takes (empty: any) and Vantage's choice
/// (`None`: derived, `BILLING_VIEW_ARN` from the account, `TIME_GRANULARITY` from the time unit).
pub const TABLE_PROPERTIES: [(&str, &[&str], Option<&str>); 7] = [
    ("BILLING_VIEW_ARN", &[], None),
    ("TIME_GRANULARITY", &TIME_UNITS, None),
    ("INCLUDE_RESOURCES", BOOLEAN, Some("TRUE")),
    ("INCLUDE_SPLIT_COST_ALLOCATION_DATA", BOOLEAN, Some("FALSE")),
    ("INCLUDE_CAPACITY_RESERVATION_DATA", BOOLEAN, Some("FALSE")),
    ("INCLUDE_IAM_PRINCIPAL_DATA", BOOLEAN, Some("TRUE")),
    ("INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY", BOOLEAN, Some("FALSE")),
];

/// The columns Vantage's export selects, in its order (column names are case-sensitive).
pub const VANTAGE_COLUMNS: [&str; 116] = [
    "bill_bill_type",
    "bill_billing_entity",
    "bill_billing_period_end_date",
    "bill_billing_period_start_date",
    "bill_invoice_id",
    "bill_invoicing_entity",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "cost_category",
    "discount",
    "discount_bundled_discount",
    "discount_total_discount",
    "identity_line_item_id",
    "identity_time_interval",
    "line_item_availability_zone",
    "line_item_blended_cost",
    "line_item_blended_rate",
    "line_item_currency_code",
    "line_item_iam_principal",
    "line_item_legal_entity",
    "line_item_line_item_description",
    "line_item_line_item_type",
    "line_item_net_unblended_cost",
    "line_item_net_unblended_rate",
    "line_item_normalization_factor",
    "line_item_normalized_usage_amount",
    "line_item_operation",
    "line_item_product_code",
    "line_item_resource_id",
    "line_item_tax_type",
    "line_item_unblended_cost",
    "line_item_unblended_rate",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_usage_amount",
    "line_item_usage_end_date",
    "line_item_usage_start_date",
    "line_item_usage_type",
    "pricing_currency",
    "pricing_lease_contract_length",
    "pricing_offering_class",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "pricing_purchase_option",
    "pricing_rate_code",
    "pricing_rate_id",
    "pricing_term",
    "pricing_unit",
    "product",
    "product_comment",
    "product_fee_code",
    "product_fee_description",
    "product_from_location",
    "product_from_location_type",
    "product_from_region_code",
    "product_instance_family",
    "product_instance_type",
    "product_instancesku",
    "product_location",
    "product_location_type",
    "product_operation",
    "product_pricing_unit",
    "product_product_family",
    "product_region_code",
    "product_servicecode",
    "product_sku",
    "product_to_location",
    "product_to_location_type",
    "product_to_region_code",
    "product_usagetype",
    "reservation_amortized_upfront_cost_for_usage",
    "reservation_amortized_upfront_fee_for_billing_period",
    "reservation_availability_zone",
    "reservation_effective_cost",
    "reservation_end_time",
    "reservation_modification_status",
    "reservation_net_amortized_upfront_cost_for_usage",
    "reservation_net_amortized_upfront_fee_for_billing_period",
    "reservation_net_effective_cost",
    "reservation_net_recurring_fee_for_usage",
    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
    "reservation_net_unused_recurring_fee",
    "reservation_net_upfront_value",
    "reservation_normalized_units_per_reservation",
    "reservation_number_of_reservations",
    "reservation_recurring_fee_for_usage",
    "reservation_reservation_a_r_n",
    "reservation_start_time",
    "reservation_subscription_id",
    "reservation_total_reserved_normalized_units",
    "reservation_total_reserved_units",
    "reservation_units_per_reservation",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_normalized_unit_quantity",
    "reservation_unused_quantity",
    "reservation_unused_recurring_fee",
    "reservation_upfront_value",
    "resource_tags",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_end_time",
    "savings_plan_instance_type_family",
    "savings_plan_net_amortized_upfront_commitment_for_billing_period",
    "savings_plan_net_recurring_commitment_for_billing_period",
    "savings_plan_net_savings_plan_effective_cost",
    "savings_plan_offering_type",
    "savings_plan_payment_option",
    "savings_plan_purchase_term",
    "savings_plan_recurring_commitment_for_billing_period",
    "savings_plan_region",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_savings_plan_rate",
    "savings_plan_start_time",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "tags",
];

/// The table configuration Vantage asks for, every key explicit.
pub fn vantage_table_configuration(partition: &str, account: &str, time_unit: &str) -> BTreeMap<String, String> {
    TABLE_PROPERTIES
        .iter()
        .map(|(key, _, value)| {
            let value = match (*key, value) {
                ("BILLING_VIEW_ARN", _) => format!("arn:{partition}:billing::{account}:billingview/primary"),
                ("TIME_GRANULARITY", _) => time_unit.to_string(),
                (_, Some(v)) => (*v).to_string(),
                (_, None) => String::new(),
            };
            (key.to_string(), value)
        })
        .collect()
}

/// `SELECT <columns> FROM COST_AND_USAGE_REPORT`.
pub fn query_statement(columns: &[String]) -> String {
    format!("SELECT {} FROM {TABLE}", columns.join(", "))
}

/// The columns of a statement in the shape [`query_statement`] writes.
pub fn columns_of(statement: &str) -> Option<Vec<String>> {
    let rest = statement.trim().strip_prefix("SELECT ")?;
    let from = rest.rfind(" FROM ")?;
    let columns: Vec<String> = rest[..from]
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    (!columns.is_empty()).then_some(columns)
}

/// Export names: 1-128 characters of letters, digits and `!-_.*'()`.
pub fn check_export_name(s: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
    if s.is_empty() || s.chars().count() > 128 || !s.chars().all(ok) {
        return Err(format!(
            "{s:?} is not a valid export name: 1-128 characters of letters, digits and !-_.*'()"
        ));
    }
    Ok(())
}

/// Column names as the table spells them: lowercase letters, digits and `_`, a letter first.
pub fn check_column_name(s: &str) -> Result<(), String> {
    let valid = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!(
            "{s:?} is not a column of {TABLE}: column names are lowercase snake case, e.g. \
             `split_line_item_split_cost` (case-sensitive)"
        ));
    }
    if VANTAGE_COLUMNS.contains(&s) {
        return Err(format!("{s:?} is already one of the columns Vantage's export selects"));
    }
    Ok(())
}

/// A table property a configuration may set (`TIME_GRANULARITY` comes from the time unit).
pub fn check_table_property(key: &str, value: &str) -> Result<(), String> {
    if key == "TIME_GRANULARITY" {
        return Err("TIME_GRANULARITY is set by `time_unit`".to_string());
    }
    let Some((_, allowed, _)) = TABLE_PROPERTIES.iter().find(|(k, ..)| *k == key) else {
        let known: Vec<&str> = TABLE_PROPERTIES
            .iter()
            .map(|(k, ..)| *k)
            .filter(|k| *k != "TIME_GRANULARITY")
            .collect();
        return Err(format!(
            "{key:?} is not a property of {TABLE}: use {}",
            known.join(", ")
        ));
    };
    if !allowed.is_empty() && !allowed.contains(&value) {
        return Err(format!("{key} is {value:?}: use {}", allowed.join(" or ")));
    }
    if key == "BILLING_VIEW_ARN" && !value.starts_with("arn:") {
        return Err(format!("BILLING_VIEW_ARN is {value:?}: use a billing view ARN"));
    }
    Ok(())
}

/// What an export delivers, as this module writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub name: String,
    pub columns: Vec<String>,
    pub table_configuration: BTreeMap<String, String>,
    pub bucket: String,
    pub prefix: String,
    pub bucket_region: String,
}

/// An export as AWS holds it.
#[derive(Debug, Clone)]
pub struct ExportFacts {
    pub arn: String,
    pub spec: ExportSpec,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub last_refreshed_at: Option<String>,
    /// When AWS created the export (RFC 3339), if it says.
    pub created_at: Option<String>,
    pub tags: Tags,
}

impl ExportFacts {
    /// Whether this is the export a CreateExport of `spec` with `tags` that started at
    /// `call_started` made: what was asked (name, columns, the properties sent, destination,
    /// tags), and created since the call started when AWS gives the time. AWS adds table
    /// properties of its own, so only the ones sent are compared.
    pub fn created_by(&self, spec: &ExportSpec, tags: &Tags, call_started: SystemTime) -> bool {
        let held = &self.spec;
        let same_columns = held.columns.iter().collect::<BTreeSet<_>>() == spec.columns.iter().collect::<BTreeSet<_>>();
        let same_table = spec
            .table_configuration
            .iter()
            .all(|(k, v)| held.table_configuration.get(k) == Some(v));
        held.name == spec.name
            && same_columns
            && same_table
            && held.bucket == spec.bucket
            && held.prefix == spec.prefix
            && held.bucket_region == spec.bucket_region
            && self.tags == *tags
            && self
                .created_at
                .as_deref()
                .is_none_or(|at| created_since(at, call_started))
    }
}

/// What CreateExport gave: the ARN, and whether the export was one an earlier attempt of the
/// same call had made (its answer lost), adopted rather than created by the last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub arn: String,
    pub adopted: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    #[error("Data Exports cannot write to the bucket {bucket} ({region}): {message}")]
    BucketNotVerified {
        bucket: String,
        region: String,
        message: String,
    },
    #[error("an export or Cost and Usage Report named {name} already exists: {message}")]
    Duplicate { name: String, message: String },
    #[error("could not {action} the export {name}: {message}")]
    Write {
        action: &'static str,
        name: String,
        message: String,
        /// AWS refused (a 4xx): nothing was written. Otherwise (no answer, a 5xx) it may have been.
        refused: bool,
    },
    #[error("could not read the export {arn}: {message}")]
    Read { arn: String, message: String },
    #[error("could not list the exports: {message}")]
    List { message: String },
    #[error("{op} on the export {arn}: {message}")]
    Tag {
        op: &'static str,
        arn: String,
        message: String,
    },
    #[error("could not delete the export {arn}: {message}")]
    Delete { arn: String, message: String },
    #[error("could not build the request: {0}")]
    Build(String),
    #[error("cancelled")]
    Cancelled,
}

impl ExportError {
    /// Whether a failed create or update may still have taken effect: AWS gave no answer or a
    /// server error, or Terraform stopped the wait.
    pub fn may_have_acted(&self) -> bool {
        matches!(self, ExportError::Cancelled | ExportError::Write { refused: false, .. })
    }

    fn is_bucket_not_verified(&self) -> bool {
        matches!(self, ExportError::Write { message, .. } if message.contains("bucket permission"))
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            ExportError::BucketNotVerified { bucket, .. } => Diagnostic::error(
                "Data Exports cannot write to the bucket",
                format!(
                    "{self}. The bucket policy must let bcm-data-exports.amazonaws.com s3:PutObject and \
                     s3:GetBucketPolicy on {bucket} (vantage_aws_cur_bucket writes that statement), and the \
                     bucket must exist in that region."
                ),
            ),
            ExportError::Duplicate { name, .. } => Diagnostic::error(
                "Export name taken",
                format!(
                    "{self}. Export and report names share one namespace per account: choose another `name`, or, \
                     if it is an export, adopt it instead of creating it: add\n\n  import {{\n    to = \
                     vantage_aws_data_export.<this resource's name>\n    id = \"{name}\"\n  }}\n\nand run \
                     apply again."
                ),
            ),
            ExportError::Cancelled => Diagnostic::error("Cancelled", "The operation was cancelled."),
            _ => Diagnostic::error("BCM Data Exports call failed", format!("{self}.")),
        }
    }
}

fn build_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Build(e.to_string())
}

impl ExportSpec {
    fn to_sdk(&self) -> Result<Export, ExportError> {
        let query = DataQuery::builder()
            .query_statement(query_statement(&self.columns))
            .table_configurations(
                TABLE,
                self.table_configuration
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
            .build()
            .map_err(build_error)?;
        let output = S3OutputConfigurations::builder()
            .output_type(S3OutputType::Custom)
            .format(FormatOption::TextOrCsv)
            .compression(CompressionOption::Gzip)
            .overwrite(OverwriteOption::OverwriteReport)
            .build()
            .map_err(build_error)?;
        let destination = S3Destination::builder()
            .s3_bucket(&self.bucket)
            .s3_prefix(&self.prefix)
            .s3_region(&self.bucket_region)
            .s3_output_configurations(output)
            .build()
            .map_err(build_error)?;
        Export::builder()
            .name(&self.name)
            .data_query(query)
            .destination_configurations(DestinationConfigurations::builder().s3_destination(destination).build())
            .refresh_cadence(
                RefreshCadence::builder()
                    .frequency(FrequencyOption::Synchronous)
                    .build()
                    .map_err(build_error)?,
            )
            .build()
            .map_err(build_error)
    }

    fn from_sdk(export: &Export) -> ExportSpec {
        let query = export.data_query();
        let destination = export.destination_configurations().and_then(|d| d.s3_destination());
        ExportSpec {
            name: export.name().to_string(),
            columns: query.and_then(|q| columns_of(q.query_statement())).unwrap_or_default(),
            table_configuration: query
                .and_then(|q| q.table_configurations())
                .and_then(|t| t.get(TABLE))
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            bucket: destination.map(|d| d.s3_bucket().to_string()).unwrap_or_default(),
            prefix: destination.map(|d| d.s3_prefix().to_string()).unwrap_or_default(),
            bucket_region: destination.map(|d| d.s3_region().to_string()).unwrap_or_default(),
        }
    }
}

fn sdk_tags(tags: &Tags) -> Result<Vec<ResourceTag>, ExportError> {
    tags.iter()
        .map(|(k, v)| ResourceTag::builder().key(k).value(v).build().map_err(build_error))
        .collect()
}

pub struct Exports<'a> {
    aws: &'a AwsClients,
    cancel: &'a CancellationToken,
}

impl<'a> Exports<'a> {
    pub fn new(aws: &'a AwsClients, cancel: &'a CancellationToken) -> Exports<'a> {
        Exports { aws, cancel }
    }

    /// The export with its status and tags, `None` when it is gone.
    pub async fn get(&self, arn: &str) -> Result<Option<ExportFacts>, ExportError> {
        let client = self.aws.bcm_data_exports().await;
        let out = match client.get_export().export_arn(arn).send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(ExportError::Read {
                    arn: arn.to_string(),
                    message: describe(&e),
                });
            }
        };
        let Some(export) = out.export() else {
            return Ok(None);
        };
        let tags = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| ExportError::Read {
                arn: arn.to_string(),
                message: describe(&e),
            })?
            .resource_tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let status = out.export_status();
        Ok(Some(ExportFacts {
            arn: arn.to_string(),
            spec: ExportSpec::from_sdk(export),
            status: status.and_then(|s| s.status_code()).map(|c| c.as_str().to_string()),
            status_reason: status.and_then(|s| s.status_reason()).map(|r| r.as_str().to_string()),
            last_refreshed_at: status.and_then(|s| s.last_refreshed_at()).map(|t| t.to_string()),
            created_at: status
                .and_then(|s| s.created_at())
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            tags,
        }))
    }

    /// The ARN of the export named `name` (ListExports, paged), `None` when there is none.
    pub async fn find_arn(&self, name: &str) -> Result<Option<String>, ExportError> {
        let client = self.aws.bcm_data_exports().await;
        let mut token = None;
        loop {
            let out = client
                .list_exports()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| ExportError::List { message: describe(&e) })?;
            if let Some(found) = out.exports().iter().find(|e| e.export_name() == name) {
                return Ok(Some(found.export_arn().to_string()));
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// CreateExport. Retried for `timeout` while the bucket check fails. "Already exists" from
    /// the SDK's retry of a create whose answer was lost, about an export made since the call
    /// started exactly as asked, is that first attempt's export: adopted (see [`Created`]).
    pub async fn create(&self, spec: &ExportSpec, tags: &Tags, timeout: Duration) -> Result<Created, ExportError> {
        let export = spec.to_sdk()?;
        let wanted_tags = tags;
        let tags = sdk_tags(tags)?;
        let client = self.aws.bcm_data_exports().await;
        self.write(spec, timeout, || async {
            let attempts = Attempts::default();
            let started = SystemTime::now();
            let out = client
                .create_export()
                .export(export.clone())
                .set_resource_tags(if tags.is_empty() { None } else { Some(tags.clone()) })
                .customize()
                .interceptor(attempts.clone())
                .send()
                .await;
            let e = match out {
                Ok(out) => {
                    return Ok(Created {
                        arn: out.export_arn().unwrap_or_default().to_string(),
                        adopted: false,
                    });
                }
                Err(e) => e,
            };
            let message = describe(&e);
            if message.contains("already exists") {
                // Only a retried call can have met its own export; a first attempt told so met
                // an older one.
                if attempts.retried()
                    && let Some(arn) = self.created_by_this_call(spec, wanted_tags, started).await
                {
                    tracing::info!(export = %spec.name, %arn, "CreateExport was retried after its answer was lost: adopting the export it created");
                    return Ok(Created { arn, adopted: true });
                }
                return Err(ExportError::Duplicate {
                    name: spec.name.clone(),
                    message,
                });
            }
            Err(ExportError::Write {
                action: "create",
                name: spec.name.clone(),
                message,
                refused: refused(&e),
            })
        })
        .await
    }

    /// The ARN of the export named like `spec` if it is the one a CreateExport that started at
    /// `started` made (see [`ExportFacts::created_by`]); `None` when it is not or cannot be read.
    async fn created_by_this_call(&self, spec: &ExportSpec, tags: &Tags, started: SystemTime) -> Option<String> {
        let arn = self.find_arn(&spec.name).await.ok()??;
        let facts = self.get(&arn).await.ok()??;
        facts.created_by(spec, tags, started).then_some(arn)
    }

    /// UpdateExport with the whole export, retried like a create.
    pub async fn update(&self, arn: &str, spec: &ExportSpec, timeout: Duration) -> Result<(), ExportError> {
        let export = spec.to_sdk()?;
        let client = self.aws.bcm_data_exports().await;
        self.write(spec, timeout, || async {
            client
                .update_export()
                .export_arn(arn)
                .export(export.clone())
                .send()
                .await
                .map(drop)
                .map_err(|e| ExportError::Write {
                    action: "update",
                    name: spec.name.clone(),
                    message: describe(&e),
                    refused: refused(&e),
                })
        })
        .await
    }

    async fn write<T, F, Fut>(&self, spec: &ExportSpec, timeout: Duration, op: F) -> Result<T, ExportError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ExportError>>,
    {
        match retry_while(self.cancel, timeout, op, ExportError::is_bucket_not_verified).await {
            Ok(v) => Ok(v),
            Err(RetryError::Cancelled) => Err(ExportError::Cancelled),
            Err(RetryError::Failed { error, .. }) if error.is_bucket_not_verified() => {
                Err(ExportError::BucketNotVerified {
                    bucket: spec.bucket.clone(),
                    region: spec.bucket_region.clone(),
                    message: error.to_string(),
                })
            }
            Err(RetryError::Failed { error, .. }) => Err(error),
        }
    }

    /// DeleteExport; an export already gone counts as deleted.
    pub async fn delete(&self, arn: &str) -> Result<(), ExportError> {
        let client = self.aws.bcm_data_exports().await;
        match client.delete_export().export_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(ExportError::Delete {
                arn: arn.to_string(),
                message: describe(&e),
            }),
        }
    }

    pub async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), ExportError> {
        let client = self.aws.bcm_data_exports().await;
        client
            .tag_resource()
            .resource_arn(arn)
            .set_resource_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map(drop)
            .map_err(|e| ExportError::Tag {
                op: "TagResource",
                arn: arn.to_string(),
                message: describe(&e),
            })
    }

    pub async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<(), ExportError> {
        let client = self.aws.bcm_data_exports().await;
        client
            .untag_resource()
            .resource_arn(arn)
            .set_resource_tag_keys(Some(keys))
            .send()
            .await
            .map(drop)
            .map_err(|e| ExportError::Tag {
                op: "UntagResource",
                arn: arn.to_string(),
                message: describe(&e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_round_trips_and_keeps_its_order() {
        let columns: Vec<String> = VANTAGE_COLUMNS.iter().map(|c| c.to_string()).collect();
        let statement = query_statement(&columns);
        assert!(statement.starts_with("SELECT bill_bill_type, bill_billing_entity,"));
        assert!(statement.ends_with("tags FROM COST_AND_USAGE_REPORT"));
        assert_eq!(columns_of(&statement), Some(columns));
        assert_eq!(columns_of("DELETE FROM x"), None);
    }

    #[test]
    fn vantage_sets_every_table_property() {
        let t = vantage_table_configuration("aws", "123456789012", "DAILY");
        assert_eq!(t.len(), TABLE_PROPERTIES.len());
        assert_eq!(
            t["BILLING_VIEW_ARN"],
            "arn:aws:billing::123456789012:billingview/primary"
        );
        assert_eq!(t["TIME_GRANULARITY"], "DAILY");
        assert_eq!(t["INCLUDE_RESOURCES"], "TRUE");
        assert_eq!(t["INCLUDE_IAM_PRINCIPAL_DATA"], "TRUE");
        assert_eq!(t["INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY"], "FALSE");
    }

    #[test]
    fn bad_columns_properties_and_names_say_why() {
        assert!(check_column_name("split_line_item_split_cost").is_ok());
        assert!(check_column_name("Line_Item_Resource_Id").is_err());
        assert!(check_column_name("line_item_resource_id").is_err_and(|e| e.contains("already")));
        assert!(check_table_property("INCLUDE_RESOURCES", "FALSE").is_ok());
        assert!(check_table_property("INCLUDE_RESOURCES", "yes").is_err_and(|e| e.contains("TRUE or FALSE")));
        assert!(check_table_property("TIME_GRANULARITY", "DAILY").is_err_and(|e| e.contains("time_unit")));
        assert!(check_table_property("INCLUDE_EVERYTHING", "TRUE").is_err());
        assert!(check_export_name("VantageDataExport").is_ok());
        assert!(check_export_name("has space").is_err());
    }

    #[test]
    fn only_an_export_made_since_the_call_as_asked_counts_as_its_own() {
        let spec = ExportSpec {
            name: "VantageDataExport".into(),
            columns: vec!["bill_bill_type".into(), "tags".into()],
            table_configuration: vantage_table_configuration("aws", "123456789012", "DAILY"),
            bucket: "cur".into(),
            prefix: "daily-v2".into(),
            bucket_region: "us-east-1".into(),
        };
        let tags = Tags::from([("team".to_string(), "finops".to_string())]);
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut held = spec.clone();
        // AWS adds properties of its own and may list the columns in another order.
        held.table_configuration
            .insert("INCLUDE_SOMETHING_NEW".into(), "FALSE".into());
        held.columns.reverse();
        let facts = |spec: ExportSpec, created_at: &str| ExportFacts {
            arn: "arn:aws:bcm-data-exports:us-east-1:123456789012:export/VantageDataExport-1".into(),
            spec,
            status: None,
            status_reason: None,
            last_refreshed_at: None,
            created_at: Some(created_at.into()),
            tags: tags.clone(),
        };
        assert!(facts(held.clone(), "2023-11-14T22:13:21Z").created_by(&spec, &tags, started));
        assert!(
            !facts(held.clone(), "2023-11-14T22:00:00Z").created_by(&spec, &tags, started),
            "made before the call"
        );
        assert!(!facts(held.clone(), "2023-11-14T22:13:21Z").created_by(&spec, &Tags::new(), started));
        let mut elsewhere = held;
        elsewhere.prefix = "other".into();
        assert!(!facts(elsewhere, "2023-11-14T22:13:21Z").created_by(&spec, &tags, started));
    }

    #[test]
    fn only_the_bucket_check_is_retried() {
        let denied = ExportError::Write {
            action: "create",
            name: "x".into(),
            message: "ValidationException: Failed to verify customer bucket permission.".into(),
            refused: true,
        };
        assert!(denied.is_bucket_not_verified());
        let other = ExportError::Write {
            action: "create",
            name: "x".into(),
            message: "ValidationException: bad column".into(),
            refused: true,
        };
        assert!(!other.is_bucket_not_verified());
    }
}
