//! BCM Data Exports (CUR 2.0), `AWSBillingAndCostManagementDataExports.*`: exports, their health,
//! executions and tags, with the same bucket check as CUR for `bcm-data-exports.amazonaws.com`.

use serde_json::{Map, Value, json};

use super::access::{ServiceAccess, Verdict};
use super::cur::{REGIONS, serialization};
use super::errors::{AwsError, Violations, shown};
use super::store::{Export, Tag, merge_tags};
use super::{Ctx, bucket_targeted, page_token, parse_page_token};
use crate::{clock, ids};

/// Tables the query may read.
const TABLES: [&str; 5] = [
    "COST_AND_USAGE_REPORT",
    "COST_AND_USAGE_DASHBOARD",
    "CARBON_EMISSIONS",
    "COST_OPTIMIZATION_RECOMMENDATIONS",
    "FOCUS_1_0_AWS",
];
const BOOL_VALUES: [&str; 2] = ["TRUE", "FALSE"];
const GRANULARITIES: [&str; 3] = ["HOURLY", "DAILY", "MONTHLY"];
/// `COST_AND_USAGE_REPORT` table properties, the values allowed (empty: any), and the value
/// the service adds when a property is absent (`{acct}` is the caller's account).
const CUR2_PROPERTIES: [(&str, &[&str], &str); 7] = [
    ("BILLING_VIEW_ARN", &[], "arn:aws:billing::{acct}:billingview/primary"),
    ("TIME_GRANULARITY", &GRANULARITIES, "HOURLY"),
    ("INCLUDE_RESOURCES", &BOOL_VALUES, "FALSE"),
    ("INCLUDE_SPLIT_COST_ALLOCATION_DATA", &BOOL_VALUES, "FALSE"),
    ("INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY", &BOOL_VALUES, "FALSE"),
    ("INCLUDE_CAPACITY_RESERVATION_DATA", &BOOL_VALUES, "FALSE"),
    ("INCLUDE_IAM_PRINCIPAL_DATA", &BOOL_VALUES, "FALSE"),
];
const OUTPUT_TYPES: [&str; 3] = ["CUSTOM", "ATHENA", "REDSHIFT"];
const FORMATS: [&str; 2] = ["TEXT_OR_CSV", "PARQUET"];
const COMPRESSIONS: [&str; 2] = ["GZIP", "PARQUET"];
const OVERWRITES: [&str; 2] = ["CREATE_NEW_REPORT", "OVERWRITE_REPORT"];
const DEFAULT_PAGE: usize = 20;

pub async fn handle(ctx: &Ctx<'_>, operation: &str, body: &Value) -> Result<Value, AwsError> {
    match operation {
        "CreateExport" => create(ctx, body).await,
        "GetExport" => get(ctx, body).await,
        "UpdateExport" => update(ctx, body).await,
        "DeleteExport" => delete(ctx, body),
        "ListExports" => list(ctx, body).await,
        "GetExecution" => get_execution(ctx, body),
        "ListExecutions" => list_executions(ctx, body),
        "TagResource" => tag(ctx, body),
        "UntagResource" => untag(ctx, body),
        "ListTagsForResource" => list_tags(ctx, body),
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("devstack does not emulate the BCM Data Exports operation {other}"),
        )),
    }
}

fn internal(message: impl Into<String>) -> AwsError {
    AwsError::internal("InternalServerException", message)
}

fn invalid(v: &Violations) -> AwsError {
    AwsError::validation(v.message())
        .with("Reason", "fieldValidationFailed")
        .with("Fields", v.fields())
}

fn not_found(arn: &str) -> AwsError {
    AwsError::new("ResourceNotFoundException", format!("Export {arn} was not found."))
        .with("ResourceId", arn)
        .with("ResourceType", "Export")
}

fn export_arn(body: &Value, member: &str) -> Result<String, AwsError> {
    match body.get(member) {
        Some(Value::String(arn)) => Ok(arn.clone()),
        None | Some(Value::Null) => {
            let mut v = Violations::default();
            v.push(member, "null".to_owned(), "Member must not be null");
            Err(invalid(&v))
        }
        Some(_) => Err(serialization(member, "a string")),
    }
}

fn find(ctx: &Ctx<'_>, arn: &str) -> Result<Export, AwsError> {
    ctx.app
        .aws
        .store
        .exports()
        .into_iter()
        .find(|e| e.account == ctx.account && e.arn == arn)
        .ok_or_else(|| not_found(arn))
}

async fn create(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut v = Violations::default();
    let export = validate_export(ctx, body.get("Export"), &mut v)?;
    let tags = super::cur::tags(body.get("ResourceTags"), "ResourceTags", &mut v)?;
    if !v.is_empty() {
        return Err(invalid(&v));
    }
    let Some(mut export) = export else {
        return Err(invalid(&v));
    };
    let name = export
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let store = &ctx.app.aws.store;
    if store
        .exports()
        .iter()
        .any(|e| e.account == ctx.account && e.name() == name)
    {
        return Err(AwsError::validation(format!("An export named {name} already exists.")).with("Reason", "other"));
    }
    if store
        .reports()
        .iter()
        .any(|r| r.account == ctx.account && r.name() == name)
    {
        return Err(AwsError::validation(format!(
            "A Cost and Usage Report named {name} already exists; export and report names share one namespace."
        ))
        .with("Reason", "other"));
    }
    let arn = format!(
        "arn:aws:bcm-data-exports:us-east-1:{}:export/{name}-{}",
        ctx.account,
        ids::uuid_v4()
    );
    export.insert("ExportArn".to_owned(), Value::from(arn.clone()));
    reorder(&mut export);
    let record = Export {
        account: ctx.account.clone(),
        arn: arn.clone(),
        export,
        tags: tags.unwrap_or_default(),
        created_at: clock::now_epoch(),
        updated_at: clock::now_epoch(),
        last_refreshed_at: None,
        unhealthy: None,
        executions: Vec::new(),
    };
    check_bucket(ctx, &record).await?;
    let bucket = record.bucket().to_owned();
    store
        .update(|_, exports| {
            exports.push(record);
            ((), true)
        })
        .map_err(|e| internal(e.0))?;
    bucket_targeted(ctx.app, &bucket);
    Ok(json!({ "ExportArn": arn }))
}

async fn update(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ExportArn")?;
    let mut v = Violations::default();
    let export = validate_export(ctx, body.get("Export"), &mut v)?;
    if !v.is_empty() {
        return Err(invalid(&v));
    }
    let Some(mut export) = export else {
        return Err(invalid(&v));
    };
    let current = find(ctx, &arn)?;
    let name = export.get("Name").and_then(Value::as_str).unwrap_or_default();
    if name != current.name() {
        return Err(AwsError::validation(format!(
            "The export name cannot be changed (from {} to {name}).",
            current.name()
        ))
        .with("Reason", "other"));
    }
    export.insert("ExportArn".to_owned(), Value::from(arn.clone()));
    reorder(&mut export);
    let mut next = current.clone();
    next.export = export;
    next.updated_at = clock::now_epoch();
    let moved = next.bucket() != current.bucket() || next.region() != current.region();
    if moved {
        check_bucket(ctx, &next).await?;
        next.unhealthy = None;
    }
    let bucket = next.bucket().to_owned();
    ctx.app
        .aws
        .store
        .update(|_, exports| match exports.iter_mut().find(|e| e.arn == arn) {
            Some(slot) => {
                *slot = next;
                (Ok(()), true)
            }
            None => (Err(not_found(&arn)), false),
        })
        .map_err(|e| internal(e.0))??;
    if moved {
        bucket_targeted(ctx.app, &bucket);
    }
    Ok(json!({ "ExportArn": arn }))
}

fn delete(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ExportArn")?;
    let removed = ctx
        .app
        .aws
        .store
        .update(|_, exports| {
            let before = exports.len();
            exports.retain(|e| !(e.account == ctx.account && e.arn == arn));
            let removed = exports.len() != before;
            (removed, removed)
        })
        .map_err(|e| internal(e.0))?;
    if removed {
        Ok(json!({ "ExportArn": arn }))
    } else {
        Err(not_found(&arn))
    }
}

async fn get(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ExportArn")?;
    let export = refresh_health(ctx, find(ctx, &arn)?).await;
    Ok(json!({ "Export": export.export, "ExportStatus": status(&export) }))
}

async fn list(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let (start, size) = paging(body, 300)?;
    let mine: Vec<Export> = ctx
        .app
        .aws
        .store
        .exports()
        .into_iter()
        .filter(|e| e.account == ctx.account)
        .collect();
    let mut page = Vec::new();
    for export in mine.iter().skip(start).take(size) {
        let export = refresh_health(ctx, export.clone()).await;
        page.push(json!({
            "ExportArn": export.arn,
            "ExportName": export.name(),
            "ExportStatus": status(&export),
        }));
    }
    let mut out = json!({ "Exports": page });
    if start + size < mine.len() {
        out["NextToken"] = Value::from(page_token(start + size));
    }
    Ok(out)
}

fn execution_json(execution: &super::store::Execution) -> Value {
    let at = clock::iso8601(execution.at);
    let mut status = json!({
        "StatusCode": execution.status,
        "CreatedAt": at,
        "CompletedAt": at,
        "LastUpdatedAt": at,
    });
    if let Some(reason) = &execution.reason {
        status["StatusReason"] = Value::from(reason.as_str());
    }
    status
}

fn get_execution(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ExportArn")?;
    let id = export_arn(body, "ExecutionId")?;
    let export = find(ctx, &arn)?;
    let execution = export.executions.iter().find(|e| e.id == id).ok_or_else(|| {
        AwsError::new("ResourceNotFoundException", format!("Execution {id} was not found."))
            .with("ResourceId", id.as_str())
            .with("ResourceType", "Execution")
    })?;
    Ok(json!({
        "ExecutionId": execution.id,
        "Export": export.export,
        "ExecutionStatus": execution_json(execution),
    }))
}

fn list_executions(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ExportArn")?;
    let (start, size) = paging(body, 300)?;
    let export = find(ctx, &arn)?;
    // Newest first.
    let all: Vec<&super::store::Execution> = export.executions.iter().rev().collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(size)
        .map(|e| json!({ "ExecutionId": e.id, "ExecutionStatus": execution_json(e) }))
        .collect();
    let mut out = json!({ "Executions": page });
    if start + size < all.len() {
        out["NextToken"] = Value::from(page_token(start + size));
    }
    Ok(out)
}

fn tag(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ResourceArn")?;
    let mut v = Violations::default();
    let tags = super::cur::tags(body.get("ResourceTags"), "ResourceTags", &mut v)?;
    if tags.is_none() {
        v.push("ResourceTags", "null".to_owned(), "Member must not be null");
    }
    if !v.is_empty() {
        return Err(invalid(&v));
    }
    let tags = tags.unwrap_or_default();
    with_export(ctx, &arn, |export| {
        let mut merged = export.tags.clone();
        merge_tags(&mut merged, tags);
        if merged.len() > 200 {
            return Err(AwsError::validation("An export can have at most 200 tags.").with("Reason", "other"));
        }
        export.tags = merged;
        Ok(())
    })?;
    Ok(json!({}))
}

fn untag(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ResourceArn")?;
    let keys: Vec<String> = match body.get("ResourceTagKeys") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        None | Some(Value::Null) => {
            let mut v = Violations::default();
            v.push("ResourceTagKeys", "null".to_owned(), "Member must not be null");
            return Err(invalid(&v));
        }
        Some(_) => return Err(serialization("ResourceTagKeys", "a list of strings")),
    };
    with_export(ctx, &arn, |export| {
        export.tags.retain(|t| !keys.contains(&t.key));
        Ok(())
    })?;
    Ok(json!({}))
}

fn list_tags(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let arn = export_arn(body, "ResourceArn")?;
    let (start, size) = paging(body, 300)?;
    let export = find(ctx, &arn)?;
    let page: Vec<&Tag> = export.tags.iter().skip(start).take(size).collect();
    let mut out = json!({ "ResourceTags": page });
    if start + size < export.tags.len() {
        out["NextToken"] = Value::from(page_token(start + size));
    }
    Ok(out)
}

fn with_export(ctx: &Ctx<'_>, arn: &str, f: impl FnOnce(&mut Export) -> Result<(), AwsError>) -> Result<(), AwsError> {
    ctx.app
        .aws
        .store
        .update(
            |_, exports| match exports.iter_mut().find(|e| e.account == ctx.account && e.arn == arn) {
                Some(export) => {
                    let result = f(export);
                    let changed = result.is_ok();
                    (result, changed)
                }
                None => (Err(not_found(arn)), false),
            },
        )
        .map_err(|e| internal(e.0))?
}

fn paging(body: &Value, max: u64) -> Result<(usize, usize), AwsError> {
    let size = match body.get("MaxResults") {
        None | Some(Value::Null) => DEFAULT_PAGE,
        Some(value) => {
            let n = value
                .as_u64()
                .ok_or_else(|| serialization("MaxResults", "an integer"))?;
            if !(1..=max).contains(&n) {
                let mut v = Violations::default();
                v.push(
                    "MaxResults",
                    shown(Some(value)),
                    format!("Member must be between 1 and {max}"),
                );
                return Err(invalid(&v));
            }
            usize::try_from(n).unwrap_or(DEFAULT_PAGE)
        }
    };
    let start = match body.get("NextToken").and_then(Value::as_str) {
        Some(token) => parse_page_token(token)
            .ok_or_else(|| AwsError::validation("The NextToken is not valid.").with("Reason", "other"))?,
        None => 0,
    };
    Ok((start, size))
}

/// `ExportStatus` of an export.
fn status(export: &Export) -> Value {
    let mut out = json!({
        "StatusCode": if export.unhealthy.is_some() { "UNHEALTHY" } else { "HEALTHY" },
        "CreatedAt": clock::iso8601(export.created_at),
        "LastUpdatedAt": clock::iso8601(export.updated_at),
    });
    if let Some(reason) = &export.unhealthy {
        out["StatusReason"] = Value::from(reason.as_str());
    }
    if let Some(at) = export.last_refreshed_at {
        out["LastRefreshedAt"] = Value::from(clock::iso8601(at));
    }
    out
}

/// Re-checks the bucket: an export whose bucket stops allowing Data Exports turns UNHEALTHY
/// (`INSUFFICIENT_PERMISSION`), and HEALTHY again once it allows it. Upstream failures keep the
/// last known health.
async fn refresh_health(ctx: &Ctx<'_>, mut export: Export) -> Export {
    let access = ServiceAccess::export(&ctx.account, &export.arn, export.bucket());
    let verdict = match access
        .check(&ctx.app.aws.upstream, export.bucket(), Some(export.region()))
        .await
    {
        Ok(verdict) => verdict,
        Err(e) => {
            tracing::warn!(error = %e, "cannot re-check an export's bucket");
            return export;
        }
    };
    let unhealthy = (verdict != Verdict::Allowed).then(|| "INSUFFICIENT_PERMISSION".to_owned());
    if unhealthy != export.unhealthy {
        export.unhealthy = unhealthy.clone();
        let arn = export.arn.clone();
        let result = ctx.app.aws.store.update(|_, exports| {
            if let Some(stored) = exports.iter_mut().find(|e| e.arn == arn) {
                stored.unhealthy = unhealthy;
                ((), true)
            } else {
                ((), false)
            }
        });
        if let Err(e) = result {
            tracing::error!(error = %e.0, "cannot persist an export's health");
        }
    }
    export
}

async fn check_bucket(ctx: &Ctx<'_>, export: &Export) -> Result<(), AwsError> {
    let verdict = ServiceAccess::export(&ctx.account, &export.arn, export.bucket())
        .check(&ctx.app.aws.upstream, export.bucket(), Some(export.region()))
        .await
        .map_err(|e| internal(format!("devstack could not check the bucket through the upstream: {e}")))?;
    match verdict {
        Verdict::Allowed => Ok(()),
        other => {
            tracing::info!(bucket = export.bucket(), ?other, "Data Exports bucket check failed");
            Err(AwsError::validation("Failed to verify customer bucket permission.").with("Reason", "other"))
        }
    }
}

/// Members in the model's order, `ExportArn` first.
fn reorder(export: &mut Map<String, Value>) {
    let mut ordered = Map::new();
    for key in [
        "ExportArn",
        "Name",
        "Description",
        "DataQuery",
        "DestinationConfigurations",
        "RefreshCadence",
    ] {
        if let Some(value) = export.remove(key) {
            ordered.insert(key.to_owned(), value);
        }
    }
    *export = ordered;
}

fn string<'a>(object: &'a Value, member: &str) -> Result<Option<&'a str>, AwsError> {
    match object.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(serialization(member, "a string")),
    }
}

fn required<'a>(object: &'a Value, member: &str, path: &str, v: &mut Violations) -> Result<Option<&'a str>, AwsError> {
    let value = string(object, member)?;
    if value.is_none() {
        v.push(path, "null".to_owned(), "Member must not be null");
    }
    Ok(value)
}

fn one_of(value: Option<&str>, path: &str, allowed: &[&str], v: &mut Violations) {
    if let Some(value) = value
        && !allowed.contains(&value)
    {
        v.push(
            path,
            format!("'{value}'"),
            format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
        );
    }
}

fn object<'a>(parent: &'a Value, member: &str, path: &str, v: &mut Violations) -> Result<Option<&'a Value>, AwsError> {
    match parent.get(member) {
        None | Some(Value::Null) => {
            v.push(path, "null".to_owned(), "Member must not be null");
            Ok(None)
        }
        Some(value @ Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(serialization(member, "an object")),
    }
}

/// Validates an `Export` and returns it with the server-added table properties.
fn validate_export(
    ctx: &Ctx<'_>,
    value: Option<&Value>,
    v: &mut Violations,
) -> Result<Option<Map<String, Value>>, AwsError> {
    let Some(export) = object_or_null(value, "Export", v)? else {
        return Ok(None);
    };
    let name = required(export, "Name", "Export.Name", v)?;
    if let Some(name) = name {
        let n = name.chars().count();
        if !(1..=128).contains(&n) || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            v.push(
                "Export.Name",
                format!("'{name}'"),
                r"Member must satisfy regular expression pattern: [0-9A-Za-z\-_]+ and have length between 1 and 128",
            );
        }
    }
    if let Some(description) = string(export, "Description")?
        && description.chars().count() > 1024
    {
        v.push(
            "Export.Description",
            "'...'".to_owned(),
            "Member must have length less than or equal to 1024",
        );
    }
    let query = object(export, "DataQuery", "Export.DataQuery", v)?;
    let mut table_configurations = None;
    if let Some(query) = query {
        let statement = required(query, "QueryStatement", "Export.DataQuery.QueryStatement", v)?;
        let table = statement.and_then(|s| query_table(s, v));
        table_configurations = table_properties(ctx, query, table.as_deref(), v)?;
    }
    let destination = object(
        export,
        "DestinationConfigurations",
        "Export.DestinationConfigurations",
        v,
    )?;
    if let Some(destination) = destination {
        validate_destination(destination, v)?;
    }
    if let Some(cadence) = object(export, "RefreshCadence", "Export.RefreshCadence", v)? {
        let frequency = required(cadence, "Frequency", "Export.RefreshCadence.Frequency", v)?;
        one_of(frequency, "Export.RefreshCadence.Frequency", &["SYNCHRONOUS"], v);
    }
    if !v.is_empty() {
        return Ok(None);
    }
    let mut out = export.as_object().cloned().unwrap_or_default();
    out.remove("ExportArn");
    if let (Some(configurations), Some(Value::Object(query))) = (table_configurations, out.get_mut("DataQuery")) {
        query.insert("TableConfigurations".to_owned(), configurations);
    }
    Ok(Some(out))
}

fn object_or_null<'a>(
    value: Option<&'a Value>,
    member: &str,
    v: &mut Violations,
) -> Result<Option<&'a Value>, AwsError> {
    match value {
        None | Some(Value::Null) => {
            v.push(member, "null".to_owned(), "Member must not be null");
            Ok(None)
        }
        Some(value @ Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err(serialization(member, "an object")),
    }
}

/// `SELECT <columns> FROM <TABLE>`: the table, if the statement has that shape.
fn query_table(statement: &str, v: &mut Violations) -> Option<String> {
    let path = "Export.DataQuery.QueryStatement";
    let n = statement.chars().count();
    if !(1..=36_000).contains(&n) {
        v.push(path, "'...'".to_owned(), "Member must have length between 1 and 36000");
        return None;
    }
    let words: Vec<&str> = statement.split_whitespace().collect();
    let from = words.iter().position(|w| w.eq_ignore_ascii_case("FROM"));
    let select = words.first().is_some_and(|w| w.eq_ignore_ascii_case("SELECT"));
    let table = from.and_then(|i| words.get(i + 1)).map(|t| t.trim_end_matches(';'));
    match (select, from, table) {
        (true, Some(i), Some(table)) if i > 1 && TABLES.contains(&table) => Some(table.to_owned()),
        (true, Some(i), Some(table)) if i > 1 => {
            v.push(
                path,
                format!("'{statement}'"),
                format!("The query reads unknown table {table}; tables: {}", TABLES.join(", ")),
            );
            None
        }
        _ => {
            v.push(
                path,
                format!("'{statement}'"),
                "The query must have the form SELECT <columns> FROM <table>",
            );
            None
        }
    }
}

/// Validates `TableConfigurations` and adds the service's defaults for the CUR 2.0 table.
fn table_properties(
    ctx: &Ctx<'_>,
    query: &Value,
    table: Option<&str>,
    v: &mut Violations,
) -> Result<Option<Value>, AwsError> {
    let path = "Export.DataQuery.TableConfigurations";
    let mut configurations = match query.get("TableConfigurations") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(serialization("TableConfigurations", "a map of maps")),
    };
    for (name, properties) in &configurations {
        if Some(name.as_str()) != table {
            v.push(
                path,
                format!("'{name}'"),
                format!(
                    "Table configurations may only name the table the query reads ({})",
                    table.unwrap_or("none")
                ),
            );
        }
        if !properties.is_object() {
            return Err(serialization("TableConfigurations", "a map of maps of strings"));
        }
    }
    let Some("COST_AND_USAGE_REPORT") = table else {
        return Ok(Some(Value::Object(configurations)));
    };
    let properties = configurations
        .entry("COST_AND_USAGE_REPORT".to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(properties) = properties.as_object_mut() else {
        return Err(serialization("TableConfigurations", "a map of maps of strings"));
    };
    for (key, value) in properties.iter() {
        let Some(value) = value.as_str() else {
            return Err(serialization("TableConfigurations", "a map of maps of strings"));
        };
        match CUR2_PROPERTIES.iter().find(|(name, ..)| name == key) {
            None => {
                let known: Vec<&str> = CUR2_PROPERTIES.iter().map(|(name, ..)| *name).collect();
                v.push(
                    &format!("{path}.COST_AND_USAGE_REPORT"),
                    format!("'{key}'"),
                    format!("Unknown table property; known: {}", known.join(", ")),
                );
            }
            Some((_, allowed, _)) if !allowed.is_empty() && !allowed.contains(&value) => {
                v.push(
                    &format!("{path}.COST_AND_USAGE_REPORT.{key}"),
                    format!("'{value}'"),
                    format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
                );
            }
            Some(_) => {}
        }
    }
    for (key, _, default) in CUR2_PROPERTIES {
        if !properties.contains_key(key) {
            properties.insert(key.to_owned(), Value::from(default.replace("{acct}", &ctx.account)));
        }
    }
    Ok(Some(Value::Object(configurations)))
}

fn validate_destination(destination: &Value, v: &mut Violations) -> Result<(), AwsError> {
    let base = "Export.DestinationConfigurations.S3Destination";
    let Some(s3) = object(destination, "S3Destination", base, v)? else {
        return Ok(());
    };
    let p = |m: &str| format!("{base}.{m}");
    if let Some(bucket) = required(s3, "S3Bucket", &p("S3Bucket"), v)? {
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !ok {
            v.push(
                &p("S3Bucket"),
                format!("'{bucket}'"),
                "Member must be an S3 bucket name (3-63 of a-z, 0-9, '.', '-')",
            );
        }
    }
    if let Some(prefix) = required(s3, "S3Prefix", &p("S3Prefix"), v)?
        && prefix.chars().count() > 1024
    {
        v.push(
            &p("S3Prefix"),
            "'...'".to_owned(),
            "Member must have length less than or equal to 1024",
        );
    }
    let region = required(s3, "S3Region", &p("S3Region"), v)?;
    one_of(region, &p("S3Region"), &REGIONS, v);
    if let Some(owner) = string(s3, "S3BucketOwner")?
        && !super::upstream::is_account_id(owner)
    {
        v.push(
            &p("S3BucketOwner"),
            format!("'{owner}'"),
            "Member must satisfy regular expression pattern: [0-9]{12}",
        );
    }
    let out_path = p("S3OutputConfigurations");
    if let Some(output) = object(s3, "S3OutputConfigurations", &out_path, v)? {
        let q = |m: &str| format!("{out_path}.{m}");
        let output_type = required(output, "OutputType", &q("OutputType"), v)?;
        one_of(output_type, &q("OutputType"), &OUTPUT_TYPES, v);
        let format = required(output, "Format", &q("Format"), v)?;
        one_of(format, &q("Format"), &FORMATS, v);
        let compression = required(output, "Compression", &q("Compression"), v)?;
        one_of(compression, &q("Compression"), &COMPRESSIONS, v);
        let overwrite = required(output, "Overwrite", &q("Overwrite"), v)?;
        one_of(overwrite, &q("Overwrite"), &OVERWRITES, v);
        if let (Some(format), Some(compression)) = (format, compression)
            && (format == "PARQUET") != (compression == "PARQUET")
            && FORMATS.contains(&format)
            && COMPRESSIONS.contains(&compression)
        {
            v.push(
                &q("Compression"),
                format!("'{compression}'"),
                format!(
                    "Format {format} requires Compression {}",
                    if format == "PARQUET" { "PARQUET" } else { "GZIP" }
                ),
            );
        }
    }
    Ok(())
}
