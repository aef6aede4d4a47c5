//! AWS Cost and Usage Report (CUR 1.0), `AWSOrigamiServiceGatewayService.*`: the seven
//! operations and the rules listed under "CUR 1.0" in `devstack/README.md`.

use serde_json::{Map, Value, json};

use super::access::{ServiceAccess, Verdict};
use super::errors::{AwsError, Violations, shown};
use super::store::{Report, Tag, cur_arn, merge_tags};
use super::{Ctx, bucket_targeted, page_token, parse_page_token};

/// DescribeReportDefinitions' page size; the model allows exactly this `MaxResults`.
const PAGE_SIZE: usize = 5;

pub const REGIONS: [&str; 28] = [
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
const TIME_UNITS: [&str; 3] = ["HOURLY", "DAILY", "MONTHLY"];
const FORMATS: [&str; 2] = ["textORcsv", "Parquet"];
const COMPRESSIONS: [&str; 3] = ["ZIP", "GZIP", "Parquet"];
const SCHEMA_ELEMENTS: [&str; 3] = [
    "RESOURCES",
    "SPLIT_COST_ALLOCATION_DATA",
    "MANUAL_DISCOUNT_COMPATIBILITY",
];
const ARTIFACTS: [&str; 3] = ["REDSHIFT", "QUICKSIGHT", "ATHENA"];
const VERSIONING: [&str; 2] = ["CREATE_NEW_REPORT", "OVERWRITE_REPORT"];
/// Fields ModifyReportDefinition refuses to change (AWS refuses them: the report must be replaced).
const IMMUTABLE: [&str; 4] = ["ReportName", "TimeUnit", "AdditionalSchemaElements", "ReportVersioning"];

pub async fn handle(ctx: &Ctx<'_>, operation: &str, body: &Value) -> Result<Value, AwsError> {
    match operation {
        "PutReportDefinition" => put(ctx, body).await,
        "DescribeReportDefinitions" => describe(ctx, body),
        "ModifyReportDefinition" => modify(ctx, body).await,
        "DeleteReportDefinition" => delete(ctx, body),
        "TagResource" => tag(ctx, body),
        "UntagResource" => untag(ctx, body),
        "ListTagsForResource" => list_tags(ctx, body),
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("Unknown operation {other} for the Cost and Usage Report service"),
        )),
    }
}

fn internal(message: impl Into<String>) -> AwsError {
    AwsError::internal("InternalErrorException", message)
}

fn is_mine(ctx: &Ctx<'_>, report: &Report) -> bool {
    report.account == ctx.account && report.region == ctx.region
}

async fn put(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut violations = Violations::default();
    let definition = definition(body.get("ReportDefinition"), "reportDefinition", &mut violations)?;
    let tags = tags(body.get("Tags"), "tags", &mut violations)?;
    if !violations.is_empty() {
        return Err(AwsError::validation(violations.message()));
    }
    let Some(definition) = definition else {
        return Err(AwsError::validation("ReportDefinition is required"));
    };
    check_combinations(&definition)?;
    let name = text(&definition, "ReportName").to_owned();
    let existing = ctx.app.aws.store.reports();
    let mine: Vec<&Report> = existing.iter().filter(|r| is_mine(ctx, r)).collect();
    if mine.iter().any(|r| r.name() == name) {
        return Err(AwsError::new(
            "DuplicateReportNameException",
            format!("Report with name {name} already exists. Please specify a different name."),
        ));
    }
    let export_clash = ctx
        .app
        .aws
        .store
        .exports()
        .iter()
        .any(|e| e.account == ctx.account && e.name() == name);
    if export_clash {
        return Err(AwsError::new(
            "DuplicateReportNameException",
            format!("A Data Export named {name} already exists; report and export names share one namespace."),
        ));
    }
    let limit = ctx.app.aws.cur_report_limit;
    if mine.len() >= limit {
        return Err(AwsError::new(
            "ReportLimitReachedException",
            format!("You have reached the limit of {limit} report definitions for this account."),
        ));
    }
    check_management_account(ctx).await?;
    let arn = cur_arn(&ctx.region, &ctx.account, &name);
    check_bucket(ctx, &arn, &definition).await?;

    let report = Report {
        account: ctx.account.clone(),
        region: ctx.region.clone(),
        definition,
        tags: tags.unwrap_or_default(),
        status: None,
    };
    let bucket = report.bucket().to_owned();
    let stored = ctx.app.aws.store.update(|reports, _| {
        // Another request may have won the race for the name.
        if reports.iter().any(|r| is_mine(ctx, r) && r.name() == name) {
            return (false, false);
        }
        reports.push(report);
        (true, true)
    });
    match stored {
        Ok(true) => {}
        Ok(false) => {
            return Err(AwsError::new(
                "DuplicateReportNameException",
                format!("Report with name {name} already exists. Please specify a different name."),
            ));
        }
        Err(e) => return Err(internal(e.0)),
    }
    bucket_targeted(ctx.app, &bucket);
    Ok(json!({}))
}

fn describe(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    if let Some(max) = body.get("MaxResults").filter(|v| !v.is_null()) {
        let n = max.as_u64().ok_or_else(|| serialization("MaxResults", "an integer"))?;
        if n != PAGE_SIZE as u64 {
            let mut v = Violations::default();
            let bound = if n < PAGE_SIZE as u64 { "greater" } else { "less" };
            v.push(
                "maxResults",
                shown(Some(max)),
                format!("Member must have value {bound} than or equal to {PAGE_SIZE}"),
            );
            return Err(AwsError::validation(v.message()));
        }
    }
    let start = match body.get("NextToken").and_then(Value::as_str) {
        Some(token) => parse_page_token(token).ok_or_else(|| AwsError::validation("The NextToken is not valid."))?,
        None => 0,
    };
    let mine: Vec<Report> = ctx
        .app
        .aws
        .store
        .reports()
        .into_iter()
        .filter(|r| is_mine(ctx, r))
        .collect();
    let page: Vec<Value> = mine.iter().skip(start).take(PAGE_SIZE).map(Report::describe).collect();
    let mut out = json!({ "ReportDefinitions": page });
    if start + PAGE_SIZE < mine.len() {
        out["NextToken"] = Value::from(page_token(start + PAGE_SIZE));
    }
    Ok(out)
}

async fn modify(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut violations = Violations::default();
    let name = report_name(body, &mut violations)?;
    let definition = definition(body.get("ReportDefinition"), "reportDefinition", &mut violations)?;
    if !violations.is_empty() {
        return Err(AwsError::validation(violations.message()));
    }
    let (Some(name), Some(definition)) = (name, definition) else {
        return Err(AwsError::validation("ReportName and ReportDefinition are required"));
    };
    check_combinations(&definition)?;
    let current = find(ctx, &name).ok_or_else(|| {
        AwsError::validation(format!(
            "Report {name} does not exist. Please specify an existing report name."
        ))
    })?;
    for field in IMMUTABLE {
        if current.definition.get(field) != definition.get(field) {
            return Err(AwsError::validation(format!(
                "{field} cannot be changed by ModifyReportDefinition (from {} to {}); delete the report and \
                 create it again",
                shown(current.definition.get(field)),
                shown(definition.get(field)),
            )));
        }
    }
    let moved =
        current.bucket() != text(&definition, "S3Bucket") || current.field("S3Region") != text(&definition, "S3Region");
    if moved {
        check_bucket(ctx, &current.arn(), &definition).await?;
    }
    let bucket = text(&definition, "S3Bucket").to_owned();
    let updated =
        ctx.app.aws.store.update(
            |reports, _| match reports.iter_mut().find(|r| is_mine(ctx, r) && r.name() == name) {
                Some(report) => {
                    report.definition = definition;
                    (true, true)
                }
                None => (false, false),
            },
        );
    match updated {
        Ok(true) => {}
        Ok(false) => return Err(AwsError::validation(format!("Report {name} does not exist."))),
        Err(e) => return Err(internal(e.0)),
    }
    if moved {
        bucket_targeted(ctx.app, &bucket);
    }
    Ok(json!({}))
}

/// Deleting an unknown report is a `ValidationException`, like modifying one.
fn delete(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut violations = Violations::default();
    let name = report_name(body, &mut violations)?;
    if !violations.is_empty() {
        return Err(AwsError::validation(violations.message()));
    }
    let Some(name) = name else {
        return Err(AwsError::validation("ReportName is required"));
    };
    let removed = ctx.app.aws.store.update(|reports, _| {
        let before = reports.len();
        reports.retain(|r| !(is_mine(ctx, r) && r.name() == name));
        let removed = reports.len() != before;
        (removed, removed)
    });
    match removed {
        Ok(true) => Ok(json!({ "ResponseMessage": format!("Report {name} deleted.") })),
        Ok(false) => Err(AwsError::validation(format!(
            "Report {name} does not exist. Please specify an existing report name."
        ))),
        Err(e) => Err(internal(e.0)),
    }
}

fn not_found(name: &str) -> AwsError {
    AwsError::new("ResourceNotFoundException", format!("Report {name} was not found."))
}

fn tag(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut violations = Violations::default();
    let name = report_name(body, &mut violations)?;
    let tags = tags(body.get("Tags"), "tags", &mut violations)?;
    if tags.is_none() {
        violations.push("tags", "null".to_owned(), "Member must not be null");
    }
    if !violations.is_empty() {
        return Err(AwsError::validation(violations.message()));
    }
    let (Some(name), Some(tags)) = (name, tags) else {
        return Err(AwsError::validation("ReportName and Tags are required"));
    };
    let result = ctx.app.aws.store.update(|reports, _| {
        let Some(report) = reports.iter_mut().find(|r| is_mine(ctx, r) && r.name() == name) else {
            return (Err(not_found(&name)), false);
        };
        let mut merged = report.tags.clone();
        merge_tags(&mut merged, tags);
        if merged.len() > 200 {
            return (Err(AwsError::validation("A report can have at most 200 tags.")), false);
        }
        report.tags = merged;
        (Ok(json!({})), true)
    });
    result.map_err(|e| internal(e.0))?
}

fn untag(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut violations = Violations::default();
    let name = report_name(body, &mut violations)?;
    let keys = match body.get("TagKeys") {
        None | Some(Value::Null) => {
            violations.push("tagKeys", "null".to_owned(), "Member must not be null");
            Vec::new()
        }
        Some(Value::Array(items)) => {
            if items.len() > 200 {
                violations.push(
                    "tagKeys",
                    format!("'{} keys'", items.len()),
                    "Member must have length less than or equal to 200",
                );
            }
            let mut keys = Vec::new();
            for item in items {
                let key = item
                    .as_str()
                    .ok_or_else(|| serialization("TagKeys", "a list of strings"))?;
                check_length(&mut violations, "tagKeys.member", item, key, 1, 128);
                keys.push(key.to_owned());
            }
            keys
        }
        Some(_) => return Err(serialization("TagKeys", "a list of strings")),
    };
    if !violations.is_empty() {
        return Err(AwsError::validation(violations.message()));
    }
    let Some(name) = name else {
        return Err(AwsError::validation("ReportName is required"));
    };
    let result = ctx.app.aws.store.update(|reports, _| {
        let Some(report) = reports.iter_mut().find(|r| is_mine(ctx, r) && r.name() == name) else {
            return (Err(not_found(&name)), false);
        };
        report.tags.retain(|t| !keys.contains(&t.key));
        (Ok(json!({})), true)
    });
    result.map_err(|e| internal(e.0))?
}

fn list_tags(ctx: &Ctx<'_>, body: &Value) -> Result<Value, AwsError> {
    let mut violations = Violations::default();
    let name = report_name(body, &mut violations)?;
    if !violations.is_empty() {
        return Err(AwsError::validation(violations.message()));
    }
    let Some(name) = name else {
        return Err(AwsError::validation("ReportName is required"));
    };
    let report = find(ctx, &name).ok_or_else(|| not_found(&name))?;
    Ok(json!({ "Tags": report.tags }))
}

fn find(ctx: &Ctx<'_>, name: &str) -> Option<Report> {
    ctx.app
        .aws
        .store
        .reports()
        .into_iter()
        .find(|r| is_mine(ctx, r) && r.name() == name)
}

/// Rule 7: reports belong in the management (payer) account. Only checked when the upstream
/// answers Organizations calls (LocalStack community does not).
async fn check_management_account(ctx: &Ctx<'_>) -> Result<(), AwsError> {
    match ctx.app.aws.upstream.management_account(&ctx.account).await {
        Ok(Some(management)) if management != ctx.account => Err(AwsError::validation(format!(
            "Account {} is a member of an organization whose management account is {management}; create \
             Cost and Usage Reports in the management (payer) account.",
            ctx.account
        ))),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::info!(error = %e, "cannot ask the upstream about organizations; member-account rule skipped");
            Ok(())
        }
    }
}

/// Rule 4: the bucket exists in `S3Region` and its policy lets billingreports read the ACL and
/// policy and write objects.
async fn check_bucket(ctx: &Ctx<'_>, arn: &str, definition: &Map<String, Value>) -> Result<(), AwsError> {
    let bucket = text(definition, "S3Bucket");
    let region = text(definition, "S3Region");
    let verdict = ServiceAccess::cur(&ctx.account, arn, bucket)
        .check(&ctx.app.aws.upstream, bucket, Some(region))
        .await
        .map_err(|e| internal(format!("devstack could not check the bucket through the upstream: {e}")))?;
    match verdict {
        Verdict::Allowed => Ok(()),
        other => {
            tracing::info!(bucket, region, ?other, "CUR bucket check failed");
            Err(AwsError::validation("Failed to verify customer bucket permission."))
        }
    }
}

/// Rules 1-3.
fn check_combinations(definition: &Map<String, Value>) -> Result<(), AwsError> {
    let format = text(definition, "Format");
    let compression = text(definition, "Compression");
    let artifacts = list(definition, "AdditionalArtifacts");
    if (format == "Parquet") != (compression == "Parquet") {
        return Err(AwsError::validation(format!(
            "Format {format} cannot be used with Compression {compression}: Parquet format requires Parquet \
             compression, and Parquet compression requires Parquet format."
        )));
    }
    if artifacts.contains(&"ATHENA") {
        if artifacts.len() > 1 {
            return Err(AwsError::validation(
                "ATHENA cannot be combined with other additional artifacts.",
            ));
        }
        if format != "Parquet" {
            return Err(AwsError::validation(
                "ATHENA requires Format Parquet and Compression Parquet.",
            ));
        }
        if text(definition, "ReportVersioning") != "OVERWRITE_REPORT" {
            return Err(AwsError::validation(
                "ATHENA requires ReportVersioning OVERWRITE_REPORT.",
            ));
        }
        if text(definition, "S3Prefix").is_empty() {
            return Err(AwsError::validation("ATHENA requires a non-empty S3Prefix."));
        }
    }
    for artifact in ["REDSHIFT", "QUICKSIGHT"] {
        if artifacts.contains(&artifact) && format != "textORcsv" {
            return Err(AwsError::validation(format!(
                "{artifact} requires Format textORcsv with GZIP or ZIP compression."
            )));
        }
    }
    Ok(())
}

fn text<'a>(definition: &'a Map<String, Value>, field: &str) -> &'a str {
    definition.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn list<'a>(definition: &'a Map<String, Value>, field: &str) -> Vec<&'a str> {
    definition
        .get(field)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub fn serialization(field: &str, expected: &str) -> AwsError {
    AwsError::new("SerializationException", format!("{field} must be {expected}"))
}

fn report_name(body: &Value, v: &mut Violations) -> Result<Option<String>, AwsError> {
    string_field(body, "ReportName", "reportName", v, FieldRule::ReportName, true)
}

#[derive(Clone, Copy)]
enum FieldRule {
    ReportName,
    Bucket,
    Prefix,
    BillingView,
    Enum(&'static [&'static str]),
}

/// Reads a string member, recording AWS-style violations; Err only for wrong JSON types.
fn string_field(
    object: &Value,
    member: &str,
    path: &str,
    v: &mut Violations,
    rule: FieldRule,
    required: bool,
) -> Result<Option<String>, AwsError> {
    let value = object.get(member);
    let text = match value {
        None | Some(Value::Null) => {
            if required {
                v.push(path, "null".to_owned(), "Member must not be null");
            }
            return Ok(None);
        }
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(serialization(member, "a string")),
    };
    let value = value.unwrap_or(&Value::Null);
    match rule {
        FieldRule::ReportName => {
            check_length(v, path, value, text, 0, 256);
            check_chars(v, path, value, text, 1, r"[0-9A-Za-z!\-_.*\'()]+", |c| {
                c.is_ascii_alphanumeric() || "!-_.*'()".contains(c)
            });
        }
        FieldRule::Bucket => {
            check_length(v, path, value, text, 0, 256);
            check_chars(v, path, value, text, 1, r"[A-Za-z0-9_\.\-]+", |c| {
                c.is_ascii_alphanumeric() || "_.-".contains(c)
            });
        }
        FieldRule::Prefix => {
            check_length(v, path, value, text, 0, 256);
            check_chars(v, path, value, text, 0, r"[0-9A-Za-z!\-_.*\'()/]*", |c| {
                c.is_ascii_alphanumeric() || "!-_.*'()/".contains(c)
            });
        }
        FieldRule::BillingView => {
            check_length(v, path, value, text, 0, 128);
            if !billing_view_ok(text) {
                v.push(
                    path,
                    shown(Some(value)),
                    r"Member must satisfy regular expression pattern: (arn:aws(-cn)?:billing::[0-9]{12}:billingview/)?[a-zA-Z0-9_\+=\.\-@].{1,30}",
                );
            }
        }
        FieldRule::Enum(allowed) => {
            if !allowed.contains(&text) {
                v.push(
                    path,
                    shown(Some(value)),
                    format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
                );
            }
        }
    }
    Ok(Some(text.to_owned()))
}

fn check_length(v: &mut Violations, path: &str, value: &Value, text: &str, min: usize, max: usize) {
    let n = text.chars().count();
    if n > max {
        v.push(
            path,
            shown(Some(value)),
            format!("Member must have length less than or equal to {max}"),
        );
    } else if n < min {
        v.push(
            path,
            shown(Some(value)),
            format!("Member must have length greater than or equal to {min}"),
        );
    }
}

fn check_chars(
    v: &mut Violations,
    path: &str,
    value: &Value,
    text: &str,
    min: usize,
    pattern: &str,
    allowed: impl Fn(char) -> bool,
) {
    if text.chars().count() < min || !text.chars().all(allowed) {
        v.push(
            path,
            shown(Some(value)),
            format!("Member must satisfy regular expression pattern: {pattern}"),
        );
    }
}

/// `(arn:aws(-cn)?:billing::[0-9]{12}:billingview/)?[a-zA-Z0-9_\+=\.\-@].{1,30}`, anchored.
fn billing_view_ok(text: &str) -> bool {
    let tail_ok = |tail: &str| {
        let mut chars = tail.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_+=.-@".contains(c));
        let rest = chars.count();
        first_ok && (1..=30).contains(&rest)
    };
    if tail_ok(text) {
        return true;
    }
    for partition in ["arn:aws:billing::", "arn:aws-cn:billing::"] {
        if let Some(rest) = text.strip_prefix(partition)
            && let Some((account, rest)) = rest.split_once(':')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && let Some(tail) = rest.strip_prefix("billingview/")
        {
            return tail_ok(tail);
        }
    }
    false
}

fn enum_list(
    object: &Value,
    member: &str,
    path: &str,
    allowed: &[&str],
    required: bool,
    v: &mut Violations,
) -> Result<Option<Vec<Value>>, AwsError> {
    match object.get(member) {
        None | Some(Value::Null) => {
            if required {
                v.push(path, "null".to_owned(), "Member must not be null");
            }
            Ok(None)
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let text = item
                    .as_str()
                    .ok_or_else(|| serialization(member, "a list of strings"))?;
                if !allowed.contains(&text) {
                    v.push(
                        path,
                        shown(Some(&Value::Array(items.clone()))),
                        format!(
                            "Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                            allowed.join(", ")
                        ),
                    );
                    return Ok(None);
                }
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(serialization(member, "a list of strings")),
    }
}

/// Validates a `ReportDefinition` and returns it as stored and described: members in the
/// model's order, server defaults filled in (`AdditionalArtifacts: []`,
/// `RefreshClosedReports: true`, `ReportVersioning: CREATE_NEW_REPORT`), output-only
/// `ReportStatus` dropped.
fn definition(value: Option<&Value>, path: &str, v: &mut Violations) -> Result<Option<Map<String, Value>>, AwsError> {
    let object = match value {
        None | Some(Value::Null) => {
            v.push(path, "null".to_owned(), "Member must not be null");
            return Ok(None);
        }
        Some(object @ Value::Object(_)) => object,
        Some(_) => return Err(serialization("ReportDefinition", "an object")),
    };
    let p = |member: &str| format!("{path}.{member}");
    let name = string_field(object, "ReportName", &p("reportName"), v, FieldRule::ReportName, true)?;
    let time_unit = string_field(
        object,
        "TimeUnit",
        &p("timeUnit"),
        v,
        FieldRule::Enum(&TIME_UNITS),
        true,
    )?;
    let format = string_field(object, "Format", &p("format"), v, FieldRule::Enum(&FORMATS), true)?;
    let compression = string_field(
        object,
        "Compression",
        &p("compression"),
        v,
        FieldRule::Enum(&COMPRESSIONS),
        true,
    )?;
    let schema = enum_list(
        object,
        "AdditionalSchemaElements",
        &p("additionalSchemaElements"),
        &SCHEMA_ELEMENTS,
        true,
        v,
    )?;
    let bucket = string_field(object, "S3Bucket", &p("s3Bucket"), v, FieldRule::Bucket, true)?;
    let prefix = string_field(object, "S3Prefix", &p("s3Prefix"), v, FieldRule::Prefix, true)?;
    let region = string_field(object, "S3Region", &p("s3Region"), v, FieldRule::Enum(&REGIONS), true)?;
    let artifacts = enum_list(
        object,
        "AdditionalArtifacts",
        &p("additionalArtifacts"),
        &ARTIFACTS,
        false,
        v,
    )?;
    let refresh = match object.get("RefreshClosedReports") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(serialization("RefreshClosedReports", "a boolean")),
    };
    let versioning = string_field(
        object,
        "ReportVersioning",
        &p("reportVersioning"),
        v,
        FieldRule::Enum(&VERSIONING),
        false,
    )?;
    let billing_view = string_field(
        object,
        "BillingViewArn",
        &p("billingViewArn"),
        v,
        FieldRule::BillingView,
        false,
    )?;
    let (Some(name), Some(time_unit), Some(format), Some(compression), Some(schema)) =
        (name, time_unit, format, compression, schema)
    else {
        return Ok(None);
    };
    let (Some(bucket), Some(prefix), Some(region)) = (bucket, prefix, region) else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("ReportName".to_owned(), Value::from(name));
    out.insert("TimeUnit".to_owned(), Value::from(time_unit));
    out.insert("Format".to_owned(), Value::from(format));
    out.insert("Compression".to_owned(), Value::from(compression));
    out.insert("AdditionalSchemaElements".to_owned(), Value::Array(schema));
    out.insert("S3Bucket".to_owned(), Value::from(bucket));
    out.insert("S3Prefix".to_owned(), Value::from(prefix));
    out.insert("S3Region".to_owned(), Value::from(region));
    out.insert(
        "AdditionalArtifacts".to_owned(),
        Value::Array(artifacts.unwrap_or_default()),
    );
    out.insert("RefreshClosedReports".to_owned(), Value::Bool(refresh));
    out.insert(
        "ReportVersioning".to_owned(),
        Value::from(versioning.unwrap_or_else(|| "CREATE_NEW_REPORT".to_owned())),
    );
    if let Some(billing_view) = billing_view {
        out.insert("BillingViewArn".to_owned(), Value::from(billing_view));
    }
    Ok(Some(out))
}

/// A tag list: at most 200, keys 1-128 characters, values 0-256.
pub fn tags(value: Option<&Value>, path: &str, v: &mut Violations) -> Result<Option<Vec<Tag>>, AwsError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(serialization("Tags", "a list of {Key, Value}")),
    };
    if items.len() > 200 {
        v.push(
            path,
            format!("'{} tags'", items.len()),
            "Member must have length less than or equal to 200",
        );
    }
    let mut out = Vec::new();
    for item in items {
        let (Some(key), Some(value)) = (
            item.get("Key").and_then(Value::as_str),
            item.get("Value").and_then(Value::as_str),
        ) else {
            return Err(serialization("Tags", "a list of {Key, Value} with string members"));
        };
        check_length(v, &format!("{path}.member.key"), &Value::from(key), key, 1, 128);
        check_length(v, &format!("{path}.member.value"), &Value::from(value), value, 0, 256);
        out.push(Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "ReportName": "VantageReport", "TimeUnit": "DAILY", "Format": "textORcsv", "Compression": "GZIP",
            "AdditionalSchemaElements": ["RESOURCES"], "S3Bucket": "cur-bucket", "S3Prefix": "daily-v1",
            "S3Region": "us-east-1", "RefreshClosedReports": true, "ReportVersioning": "OVERWRITE_REPORT"
        })
    }

    fn parse(value: Value) -> (Option<Map<String, Value>>, Violations) {
        let mut v = Violations::default();
        let out = definition(Some(&value), "reportDefinition", &mut v).expect("types are right");
        (out, v)
    }

    #[test]
    fn module_defaults_are_valid_and_get_server_defaults() {
        let (out, v) = parse(valid());
        assert!(v.is_empty(), "{}", v.message());
        let out = out.expect("definition");
        assert_eq!(out["AdditionalArtifacts"], json!([]));
        let (out, _) = parse(json!({
            "ReportName": "r", "TimeUnit": "HOURLY", "Format": "textORcsv", "Compression": "ZIP",
            "AdditionalSchemaElements": [], "S3Bucket": "b", "S3Prefix": "", "S3Region": "eu-west-1"
        }));
        let out = out.expect("minimal definition");
        assert_eq!(out["RefreshClosedReports"], true);
        assert_eq!(out["ReportVersioning"], "CREATE_NEW_REPORT");
    }

    #[test]
    fn enums_patterns_and_lengths_are_enforced() {
        let mut bad = valid();
        bad["TimeUnit"] = json!("WEEKLY");
        bad["ReportName"] = json!("has space");
        bad["S3Prefix"] = json!("a".repeat(257));
        bad["S3Region"] = json!("us-gov-west-1");
        bad["AdditionalSchemaElements"] = json!(["RESOURCES", "EVERYTHING"]);
        let (out, v) = parse(bad);
        assert!(out.is_none());
        let message = v.message();
        assert!(message.starts_with("5 validation errors detected"), "{message}");
        assert!(message.contains("'reportDefinition.timeUnit'"), "{message}");
        assert!(
            message.contains("enum value set: [HOURLY, DAILY, MONTHLY]"),
            "{message}"
        );
        assert!(message.contains("regular expression pattern"), "{message}");
        assert!(message.contains("length less than or equal to 256"), "{message}");

        let mut missing = valid();
        missing.as_object_mut().expect("object").remove("S3Prefix");
        let (_, v) = parse(missing);
        assert!(v.message().contains("Value null at 'reportDefinition.s3Prefix'"));

        let mut wrong_type = valid();
        wrong_type["TimeUnit"] = json!(3);
        let mut v = Violations::default();
        let err = definition(Some(&wrong_type), "reportDefinition", &mut v).expect_err("type error");
        assert_eq!(err.code, "SerializationException");
    }

    #[test]
    fn combination_rules() {
        let ok = |patch: Value| {
            let mut d = valid();
            for (k, val) in patch.as_object().expect("patch") {
                d[k] = val.clone();
            }
            let (out, v) = parse(d);
            assert!(v.is_empty(), "{}", v.message());
            check_combinations(&out.expect("definition"))
        };
        assert!(
            ok(json!({"Format": "Parquet"})).is_err(),
            "Parquet format needs Parquet compression"
        );
        assert!(ok(json!({"Compression": "Parquet"})).is_err());
        assert!(ok(json!({"Format": "Parquet", "Compression": "Parquet"})).is_ok());
        let athena = json!({"Format": "Parquet", "Compression": "Parquet", "AdditionalArtifacts": ["ATHENA"]});
        assert!(ok(athena.clone()).is_ok());
        let mut with_redshift = athena.clone();
        with_redshift["AdditionalArtifacts"] = json!(["ATHENA", "REDSHIFT"]);
        assert!(ok(with_redshift).is_err());
        let mut new_report = athena.clone();
        new_report["ReportVersioning"] = json!("CREATE_NEW_REPORT");
        assert!(ok(new_report).is_err());
        let mut no_prefix = athena;
        no_prefix["S3Prefix"] = json!("");
        assert!(ok(no_prefix).is_err());
        assert!(ok(json!({"AdditionalArtifacts": ["REDSHIFT", "QUICKSIGHT"]})).is_ok());
        assert!(
            ok(json!({"AdditionalArtifacts": ["QUICKSIGHT"], "Format": "Parquet", "Compression": "Parquet"})).is_err()
        );
    }

    #[test]
    fn billing_view_arns() {
        assert!(billing_view_ok("arn:aws:billing::123456789012:billingview/primary"));
        assert!(billing_view_ok("primary"));
        assert!(!billing_view_ok("arn:aws:billing::123:billingview/primary"));
        assert!(!billing_view_ok("p"));
    }
}
