//! `POST /_devstack/deliver-cur`: "AWS billing" delivers a report file. Writes a small gzip CSV
//! and a manifest into the report's (or export's) bucket through the upstream S3, laid out the
//! way AWS does, records the outcome (`ReportStatus` / export execution and health), and moves
//! integrations on that bucket towards `connected`.
//!
//! Layouts (billing period = the current calendar month, `P` = `20261101-20261201`):
//! - CUR 1.0, `OVERWRITE_REPORT`: `<prefix>/<report>/<P>/<report>-00001.csv.gz` and
//!   `<prefix>/<report>/<P>/<report>-Manifest.json`.
//! - CUR 1.0, `CREATE_NEW_REPORT`: the data file under `<prefix>/<report>/<P>/<assembly id>/`,
//!   with a manifest there and one in `<prefix>/<report>/<P>/`.
//! - Data Exports: `<prefix>/<export>/data/BILLING_PERIOD=2026-11/<export>-00001.csv.gz` and
//!   `<prefix>/<export>/metadata/BILLING_PERIOD=2026-11/<export>-Manifest.json`.
//!
//! An empty prefix adds no leading `/`. Only CSV with GZIP is written: Parquet and ZIP
//! deliveries are refused (400).

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{ServiceAccess, Verdict};
use super::store::{Delivery, Execution, Export, Report};
use crate::app::Devstack;
use crate::vantage::status::Event;
use crate::{clock, ids};

#[derive(Debug, Deserialize)]
pub struct DeliverRequest {
    #[serde(default)]
    pub report_name: Option<String>,
    #[serde(default)]
    pub export_name: Option<String>,
    /// Needed only when several accounts have a report (export) of that name.
    #[serde(default)]
    pub account: Option<String>,
}

/// Why a delivery could not even be attempted (the admin call answers 400 / 404 / 500).
#[derive(Debug)]
pub enum DeliverError {
    BadRequest(String),
    NotFound(String),
    Internal(String),
}

const CUR1_COLUMNS: [(&str, &str, &str); 12] = [
    ("identity", "LineItemId", "String"),
    ("identity", "TimeInterval", "Interval"),
    ("bill", "PayerAccountId", "String"),
    ("lineItem", "UsageAccountId", "String"),
    ("lineItem", "LineItemType", "String"),
    ("lineItem", "UsageStartDate", "DateTime"),
    ("lineItem", "UsageEndDate", "DateTime"),
    ("lineItem", "ProductCode", "String"),
    ("lineItem", "UsageType", "String"),
    ("lineItem", "UsageAmount", "BigDecimal"),
    ("lineItem", "UnblendedCost", "BigDecimal"),
    ("lineItem", "CurrencyCode", "String"),
];

pub async fn deliver(app: &Devstack, request: DeliverRequest) -> Result<Value, DeliverError> {
    match (&request.report_name, &request.export_name) {
        (Some(name), None) => deliver_report(app, name, request.account.as_deref()).await,
        (None, Some(name)) => deliver_export(app, name, request.account.as_deref()).await,
        _ => Err(DeliverError::BadRequest(
            "give exactly one of report_name and export_name".to_owned(),
        )),
    }
}

struct Period {
    /// `20261101-20261201`
    folder: String,
    /// `2026-11`
    month: String,
    start: String,
    end: String,
    day: String,
}

fn period(now: u64) -> Period {
    let (year, month, day) = clock::date(now);
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    Period {
        folder: format!("{year:04}{month:02}01-{next_year:04}{next_month:02}01"),
        month: format!("{year:04}-{month:02}"),
        start: format!("{year:04}{month:02}01T000000.000Z"),
        end: format!("{next_year:04}{next_month:02}01T000000.000Z"),
        day: format!("{year:04}-{month:02}-{day:02}"),
    }
}

fn join(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{prefix}/{rest}")
    }
}

fn pick<T: Clone>(found: Vec<T>, what: &str, name: &str) -> Result<T, DeliverError> {
    match found.len() {
        0 => Err(DeliverError::NotFound(format!("no {what} named {name:?}"))),
        1 => Ok(found[0].clone()),
        _ => Err(DeliverError::BadRequest(format!(
            "several accounts have a {what} named {name:?}; add \"account\""
        ))),
    }
}

async fn deliver_report(app: &Devstack, name: &str, account: Option<&str>) -> Result<Value, DeliverError> {
    let found: Vec<Report> = app
        .aws
        .store
        .reports()
        .into_iter()
        .filter(|r| r.name() == name && account.is_none_or(|a| a == r.account))
        .collect();
    let report = pick(found, "CUR report", name)?;
    if report.field("Format") != "textORcsv" || report.field("Compression") != "GZIP" {
        return Err(DeliverError::BadRequest(format!(
            "deliver-cur writes gzip CSV only; report {name} is {} / {}",
            report.field("Format"),
            report.field("Compression")
        )));
    }
    let now = clock::now_epoch();
    let p = period(now);
    let bucket = report.bucket().to_owned();
    let base = join(report.field("S3Prefix"), &format!("{name}/{}", p.folder));
    let assembly = ids::uuid_v4();
    let overwrite = report.field("ReportVersioning") == "OVERWRITE_REPORT";
    let data_dir = if overwrite {
        base.clone()
    } else {
        format!("{base}/{assembly}")
    };
    let data_key = format!("{data_dir}/{name}-00001.csv.gz");
    let mut manifest_keys = vec![format!("{base}/{name}-Manifest.json")];
    if !overwrite {
        manifest_keys.push(format!("{data_dir}/{name}-Manifest.json"));
    }

    let header: Vec<String> = CUR1_COLUMNS.iter().map(|(c, n, _)| format!("{c}/{n}")).collect();
    let account = report.account.clone();
    let interval = format!("{}T00:00:00Z/{}T01:00:00Z", p.day, p.day);
    let rows = [
        (
            "devstack-line-1",
            "AmazonS3",
            "USE1-TimedStorage-ByteHrs",
            "0.0032",
            "0.0000736",
        ),
        ("devstack-line-2", "AmazonEC2", "BoxUsage:t3.micro", "1", "0.0104"),
    ];
    let mut csv = header.join(",");
    csv.push('\n');
    for (id, product, usage, amount, cost) in rows {
        csv.push_str(&format!(
            "{id},{interval},{account},{account},Usage,{}T00:00:00Z,{}T01:00:00Z,{product},{usage},{amount},{cost},USD\n",
            p.day, p.day
        ));
    }
    let manifest = json!({
        "assemblyId": assembly,
        "account": account,
        "columns": CUR1_COLUMNS.iter().map(|(c, n, t)| json!({"category": c, "name": n, "type": t})).collect::<Vec<_>>(),
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportId": ids::uuid_v4().replace('-', ""),
        "reportName": name,
        "billingPeriod": {"start": p.start, "end": p.end},
        "bucket": bucket,
        "reportKeys": [data_key],
        "additionalArtifactKeys": [],
    });

    let access = ServiceAccess::cur(&account, &report.arn(), &bucket);
    let outcome = write_files(
        app,
        &access,
        &account,
        &bucket,
        &data_key,
        &csv,
        &manifest_keys,
        &manifest,
    )
    .await?;
    let status = match outcome {
        Outcome::Written => "SUCCESS",
        Outcome::NoBucket => "ERROR_NO_BUCKET",
        Outcome::Denied(_) => "ERROR_PERMISSIONS",
    };
    let delivery = Delivery {
        last_delivery: clock::iso8601(now).replace(['-', ':'], ""),
        last_status: status.to_owned(),
    };
    let arn = report.arn();
    app.aws
        .store
        .update(|reports, _| match reports.iter_mut().find(|r| r.arn() == arn) {
            Some(r) => {
                r.status = Some(delivery);
                ((), true)
            }
            None => ((), false),
        })
        .map_err(|e| DeliverError::Internal(e.0))?;
    let mut keys = vec![data_key];
    keys.extend(manifest_keys);
    finish(app, &bucket, status == "SUCCESS", status, keys, now, &outcome)
}

async fn deliver_export(app: &Devstack, name: &str, account: Option<&str>) -> Result<Value, DeliverError> {
    let found: Vec<Export> = app
        .aws
        .store
        .exports()
        .into_iter()
        .filter(|e| e.name() == name && account.is_none_or(|a| a == e.account))
        .collect();
    let export = pick(found, "Data Export", name)?;
    if export.output("Format") != "TEXT_OR_CSV" || export.output("Compression") != "GZIP" {
        return Err(DeliverError::BadRequest(format!(
            "deliver-cur writes gzip CSV only; export {name} is {} / {}",
            export.output("Format"),
            export.output("Compression")
        )));
    }
    let now = clock::now_epoch();
    let p = period(now);
    let bucket = export.bucket().to_owned();
    let account = export.account.clone();
    let data_key = join(
        export.prefix(),
        &format!("{name}/data/BILLING_PERIOD={}/{name}-00001.csv.gz", p.month),
    );
    let manifest_keys = vec![join(
        export.prefix(),
        &format!("{name}/metadata/BILLING_PERIOD={}/{name}-Manifest.json", p.month),
    )];
    let mut csv = String::from(
        "identity_line_item_id,identity_time_interval,bill_payer_account_id,line_item_usage_account_id,\
         line_item_line_item_type,line_item_product_code,line_item_usage_type,line_item_usage_amount,\
         line_item_unblended_cost,line_item_currency_code\n",
    );
    csv.push_str(&format!(
        "devstack-line-1,{d}T00:00:00Z/{d}T01:00:00Z,{account},{account},Usage,AmazonEC2,BoxUsage:t3.micro,1,0.0104,USD\n",
        d = p.day
    ));
    let execution_id = ids::uuid_v4();
    let manifest = json!({
        "executionId": execution_id,
        "exportArn": export.arn,
        "exportName": name,
        "billingPeriod": {"start": p.start, "end": p.end},
        "bucket": bucket,
        "dataFiles": [format!("s3://{bucket}/{data_key}")],
        "compression": "GZIP",
        "contentType": "text/csv",
    });
    let access = ServiceAccess::export(&account, &export.arn, &bucket);
    let outcome = write_files(
        app,
        &access,
        &account,
        &bucket,
        &data_key,
        &csv,
        &manifest_keys,
        &manifest,
    )
    .await?;
    let ok = outcome == Outcome::Written;
    let execution = Execution {
        id: execution_id.clone(),
        status: if ok { "DELIVERY_SUCCESS" } else { "DELIVERY_FAILURE" }.to_owned(),
        reason: (!ok).then(|| "INSUFFICIENT_PERMISSION".to_owned()),
        at: now,
    };
    let arn = export.arn.clone();
    app.aws
        .store
        .update(|_, exports| match exports.iter_mut().find(|e| e.arn == arn) {
            Some(e) => {
                e.executions.push(execution);
                if ok {
                    e.last_refreshed_at = Some(now);
                    e.unhealthy = None;
                } else {
                    e.unhealthy = Some("INSUFFICIENT_PERMISSION".to_owned());
                }
                ((), true)
            }
            None => ((), false),
        })
        .map_err(|e| DeliverError::Internal(e.0))?;
    let status = match &outcome {
        Outcome::Written => "DELIVERY_SUCCESS",
        _ => "DELIVERY_FAILURE",
    };
    let mut keys = vec![data_key];
    keys.extend(manifest_keys);
    let mut out = finish(app, &bucket, ok, status, keys, now, &outcome)?;
    out["execution_id"] = Value::from(execution_id);
    Ok(out)
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Written,
    NoBucket,
    Denied(String),
}

#[allow(clippy::too_many_arguments)]
async fn write_files(
    app: &Devstack,
    access: &ServiceAccess<'_>,
    account: &str,
    bucket: &str,
    data_key: &str,
    csv: &str,
    manifest_keys: &[String],
    manifest: &Value,
) -> Result<Outcome, DeliverError> {
    let upstream = &app.aws.upstream;
    let facts = upstream
        .bucket(account, bucket)
        .await
        .map_err(|e| DeliverError::Internal(e.to_string()))?;
    let policy = match facts {
        super::upstream::BucketFacts::Missing => return Ok(Outcome::NoBucket),
        super::upstream::BucketFacts::Exists { policy, .. } => policy,
    };
    for key in std::iter::once(data_key).chain(manifest_keys.iter().map(String::as_str)) {
        let write = ServiceAccess {
            principal: access.principal,
            account: access.account,
            source_arns: access.source_arns.clone(),
            needs: Vec::new(),
        }
        .write_only(bucket, key);
        if let Verdict::Denied(why) = write.evaluate(policy.as_deref()) {
            return Ok(Outcome::Denied(why));
        }
    }
    let gz = gzip(csv.as_bytes()).map_err(|e| DeliverError::Internal(format!("gzip: {e}")))?;
    upstream
        .put_object(account, bucket, data_key, gz, "text/csv")
        .await
        .map_err(|e| DeliverError::Internal(e.to_string()))?;
    for key in manifest_keys {
        upstream
            .put_object(
                account,
                bucket,
                key,
                manifest.to_string().into_bytes(),
                "application/json",
            )
            .await
            .map_err(|e| DeliverError::Internal(e.to_string()))?;
    }
    Ok(Outcome::Written)
}

fn finish(
    app: &Devstack,
    bucket: &str,
    ok: bool,
    status: &str,
    keys: Vec<String>,
    now: u64,
    outcome: &Outcome,
) -> Result<Value, DeliverError> {
    let mut advanced = Vec::new();
    if ok {
        let bucket_arn = super::access::bucket_arn(bucket);
        for integration in app.store.list() {
            if integration.bucket_arn.as_deref() == Some(bucket_arn.as_str()) {
                let updated = app
                    .store
                    .apply(integration.id, Event::CurDelivered, now)
                    .map_err(|e| DeliverError::Internal(e.to_string()))?;
                advanced.push(json!({"id": updated.id, "status": updated.status.status.as_str()}));
            }
        }
    }
    let mut out = json!({
        "bucket": bucket,
        "status": status,
        "objects": if ok { keys } else { Vec::new() },
        "integrations": advanced,
    });
    if let Outcome::Denied(why) = outcome {
        out["reason"] = Value::from(why.as_str());
    }
    Ok(out)
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_periods_are_calendar_months() {
        // 2026-12-15
        let p = period(1_797_292_800);
        assert_eq!(p.folder, "20261201-20270101");
        assert_eq!(p.month, "2026-12");
        assert_eq!(p.start, "20261201T000000.000Z");
        assert_eq!(join("", "r/x"), "r/x");
        assert_eq!(join("daily-v1/", "r/x"), "daily-v1/r/x");
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let gz = gzip(b"a,b\n1,2\n").expect("gzip");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("gunzip");
        assert_eq!(out, "a,b\n1,2\n");
    }
}
