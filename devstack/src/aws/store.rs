//! CUR 1.0 report definitions and BCM Data Exports, per account. Persisted under the `aws` key
//! of `--state-file` after every change.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::state::StateFile;

const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// Adds or replaces tags by key, keeping first-seen order.
pub fn merge_tags(tags: &mut Vec<Tag>, new: Vec<Tag>) {
    for tag in new {
        match tags.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => tags.push(tag),
        }
    }
}

/// `ReportStatus` of a CUR report: the last delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `yyyymmddThhmmssZ`
    #[serde(rename = "lastDelivery")]
    pub last_delivery: String,
    /// `SUCCESS`, `ERROR_PERMISSIONS` or `ERROR_NO_BUCKET`.
    #[serde(rename = "lastStatus")]
    pub last_status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub account: String,
    /// `us-east-1` or `cn-northwest-1`: where the report was created.
    pub region: String,
    /// The `ReportDefinition` as AWS returns it (without `ReportStatus`).
    pub definition: Map<String, Value>,
    pub tags: Vec<Tag>,
    pub status: Option<Delivery>,
}

impl Report {
    pub fn name(&self) -> &str {
        self.definition
            .get("ReportName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn bucket(&self) -> &str {
        self.definition
            .get("S3Bucket")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn field(&self, name: &str) -> &str {
        self.definition.get(name).and_then(Value::as_str).unwrap_or_default()
    }

    pub fn arn(&self) -> String {
        cur_arn(&self.region, &self.account, self.name())
    }

    /// The `ReportDefinition` of DescribeReportDefinitions.
    pub fn describe(&self) -> Value {
        let mut out = self.definition.clone();
        if let Some(status) = &self.status {
            out.insert("ReportStatus".to_owned(), json!(status));
        }
        Value::Object(out)
    }
}

pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") { "aws-cn" } else { "aws" }
}

pub fn cur_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:{}:cur:{region}:{account}:definition/{name}", partition(region))
}

/// One delivery run of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: String,
    /// `DELIVERY_SUCCESS` or `DELIVERY_FAILURE`.
    pub status: String,
    pub reason: Option<String>,
    /// Unix seconds.
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub account: String,
    pub arn: String,
    /// The `Export` as AWS returns it (with `ExportArn` and the server-added table keys).
    pub export: Map<String, Value>,
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    pub last_refreshed_at: Option<u64>,
    /// `None` when healthy, else the `StatusReason`.
    pub unhealthy: Option<String>,
    pub executions: Vec<Execution>,
}

impl Export {
    pub fn name(&self) -> &str {
        self.export.get("Name").and_then(Value::as_str).unwrap_or_default()
    }

    fn destination(&self, field: &str) -> &str {
        self.export
            .get("DestinationConfigurations")
            .and_then(|d| d.get("S3Destination"))
            .and_then(|d| d.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn bucket(&self) -> &str {
        self.destination("S3Bucket")
    }

    pub fn prefix(&self) -> &str {
        self.destination("S3Prefix")
    }

    pub fn region(&self) -> &str {
        self.destination("S3Region")
    }

    pub fn output(&self, field: &str) -> &str {
        self.export
            .get("DestinationConfigurations")
            .and_then(|d| d.get("S3Destination"))
            .and_then(|d| d.get("S3OutputConfigurations"))
            .and_then(|d| d.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Data {
    version: u32,
    reports: Vec<Report>,
    exports: Vec<Export>,
}

pub struct AwsStore {
    data: Mutex<Data>,
    file: Option<Arc<StateFile>>,
}

/// A change to the store that could not be written to the state file.
#[derive(Debug)]
pub struct PersistError(pub String);

impl AwsStore {
    /// Loads the `aws` key of the state file when present.
    pub fn open(file: Option<Arc<StateFile>>) -> anyhow::Result<Self> {
        let mut data = Data {
            version: STATE_VERSION,
            ..Data::default()
        };
        if let Some(file) = &file
            && let Some(section) = file.snapshot().get("aws")
        {
            data = serde_json::from_value(section.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not a devstack state file (its aws section: {e})",
                    file.path().display()
                )
            })?;
            if data.version != STATE_VERSION {
                anyhow::bail!(
                    "the aws section of {} has version {} (expected {STATE_VERSION})",
                    file.path().display(),
                    data.version
                );
            }
        }
        Ok(Self {
            data: Mutex::new(data),
            file,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn persist(&self, data: &Data) -> Result<(), PersistError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut keys = Map::new();
        keys.insert(
            "aws".to_owned(),
            serde_json::to_value(data).map_err(|e| PersistError(e.to_string()))?,
        );
        file.save(keys).map_err(|e| {
            let path = file.path().display();
            tracing::error!(%path, error = %e, "state file write failed");
            PersistError(format!("devstack could not write its state file {path}: {e}"))
        })
    }

    /// Reads or changes the data under the lock; persists when `f` says it changed something.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<Report>, &mut Vec<Export>) -> (T, bool),
    ) -> Result<T, PersistError> {
        let mut data = self.lock();
        let Data { reports, exports, .. } = &mut *data;
        let (out, changed) = f(reports, exports);
        if changed {
            self.persist(&data)?;
        }
        Ok(out)
    }

    pub fn reports(&self) -> Vec<Report> {
        self.lock().reports.clone()
    }

    pub fn exports(&self) -> Vec<Export> {
        self.lock().exports.clone()
    }

    /// True when a CUR report or an export delivers into `bucket`.
    pub fn targets_bucket(&self, bucket: &str) -> bool {
        let data = self.lock();
        data.reports.iter().any(|r| r.bucket() == bucket) || data.exports.iter().any(|e| e.bucket() == bucket)
    }

    pub fn clear(&self) -> Result<(), PersistError> {
        let mut data = self.lock();
        data.reports.clear();
        data.exports.clear();
        self.persist(&data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str) -> Report {
        let definition = json!({"ReportName": name, "S3Bucket": "cur"});
        Report {
            account: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            definition: definition.as_object().cloned().unwrap_or_default(),
            tags: vec![],
            status: None,
        }
    }

    #[test]
    fn reports_persist_beside_other_sections() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let file = Arc::new(StateFile::open(path.clone()).expect("new file"));
        let mut other = Map::new();
        other.insert("account".to_owned(), json!({"kept": true}));
        file.save(other).expect("other section");
        let store = AwsStore::open(Some(file)).expect("store");
        store
            .update(|reports, _| {
                reports.push(report("r1"));
                ((), true)
            })
            .expect("persisted");
        assert!(store.targets_bucket("cur"));

        let file = Arc::new(StateFile::open(path).expect("reopen"));
        assert_eq!(file.snapshot()["account"]["kept"], true);
        let store = AwsStore::open(Some(file)).expect("store");
        assert_eq!(
            store.reports()[0].arn(),
            "arn:aws:cur:us-east-1:123456789012:definition/r1"
        );
        store.clear().expect("clear");
        assert!(!store.targets_bucket("cur"));
    }

    #[test]
    fn tags_merge_by_key() {
        let tag = |k: &str, v: &str| Tag {
            key: k.to_owned(),
            value: v.to_owned(),
        };
        let mut tags = vec![tag("a", "1"), tag("b", "2")];
        merge_tags(&mut tags, vec![tag("b", "3"), tag("c", "4")]);
        assert_eq!(tags, vec![tag("a", "1"), tag("b", "3"), tag("c", "4")]);
    }
}
