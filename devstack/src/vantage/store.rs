//! The Vantage account's records: its identity and its AWS integrations, one record per
//! integration serving both the v1 (`id`) and v2 (`token`) views. Every mutation is persisted
//! when `--state-file` is set.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::bail;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::account::Account;
use super::arn;
use super::errors::ApiError;
use super::status::{Event, Tracker};
use crate::state::{self, StateFile};
use crate::{clock, ids};

const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Integration {
    pub id: i32,
    pub cross_account_arn: String,
    pub bucket_arn: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub workspace_tokens: Vec<String>,
    pub status: Tracker,
}

impl Integration {
    pub fn token(&self) -> String {
        ids::integration_token(self.id)
    }

    pub fn account_identifier(&self) -> Option<&str> {
        arn::role_account(&self.cross_account_arn).ok()
    }

    /// `AwsAccessCredential`
    pub fn v1_json(&self) -> Value {
        json!({
            "id": self.id,
            "cross_account_arn": self.cross_account_arn,
            "bucket_arn": self.bucket_arn,
        })
    }

    /// v2 `Integration`
    pub fn v2_json(&self) -> Value {
        json!({
            "token": self.token(),
            "provider": "aws",
            "account_identifier": self.account_identifier(),
            "status": self.status.status.as_str(),
            "last_updated": self.status.last_updated.map(clock::iso8601),
            "created_at": clock::iso8601(self.created_at),
            "workspace_tokens": self.workspace_tokens,
            "managed_account_tokens": [],
        })
    }
}

#[derive(Debug)]
pub enum StoreError {
    Duplicate { role: String, id: i32 },
    NotFound,
    Persist(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Duplicate { role, id } => {
                write!(f, "an AWS integration for {role} already exists with id {id}")
            }
            StoreError::NotFound => f.write_str("not found"),
            StoreError::Persist(why) => f.write_str(why),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate { .. } => ApiError::Conflict(e.to_string()),
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Persist(why) => ApiError::Internal(why),
        }
    }
}

/// The state file's shape (versioned so a future layout can migrate old files).
#[derive(Serialize)]
struct SnapshotOut<'a> {
    version: u32,
    account: &'a Account,
    next_id: i32,
    integrations: Vec<&'a Integration>,
}

#[derive(Deserialize)]
struct SnapshotIn {
    version: u32,
    account: Account,
    next_id: i32,
    integrations: Vec<Integration>,
}

struct Data {
    account: Account,
    next_id: i32,
    integrations: BTreeMap<i32, Integration>,
}

pub struct Store {
    data: Mutex<Data>,
    file: Option<Arc<StateFile>>,
}

impl Store {
    /// Loads the Vantage keys of the state file when it has them; otherwise starts a new account
    /// (and writes it to the file).
    pub fn open(file: Option<Arc<StateFile>>) -> anyhow::Result<Self> {
        let loaded =
            match &file {
                Some(file) => {
                    let root = file.snapshot();
                    if root.get("account").is_some() {
                        Some(serde_json::from_value::<SnapshotIn>(root).map_err(|e| {
                            anyhow::anyhow!("{} is not a devstack state file: {e}", file.path().display())
                        })?)
                    } else {
                        None
                    }
                }
                None => None,
            };
        let data = match loaded {
            Some(snapshot) => {
                if snapshot.version != STATE_VERSION {
                    bail!(
                        "state file version {} is not supported (expected {STATE_VERSION})",
                        snapshot.version
                    );
                }
                Data {
                    account: snapshot.account,
                    next_id: snapshot.next_id,
                    integrations: snapshot.integrations.into_iter().map(|i| (i.id, i)).collect(),
                }
            }
            None => Data {
                account: Account::generate(),
                next_id: 1,
                integrations: BTreeMap::new(),
            },
        };
        let store = Self {
            data: Mutex::new(data),
            file,
        };
        store.persist(&store.lock()).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn persist(&self, data: &Data) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let snapshot = SnapshotOut {
            version: STATE_VERSION,
            account: &data.account,
            next_id: data.next_id,
            integrations: data.integrations.values().collect(),
        };
        state::keys_of(&snapshot).and_then(|keys| file.save(keys)).map_err(|e| {
            let path = file.path().display();
            tracing::error!(%path, error = %e, "state file write failed");
            StoreError::Persist(format!("devstack could not write its state file {path}: {e}"))
        })
    }

    pub fn account(&self) -> Account {
        self.lock().account.clone()
    }

    pub fn get(&self, id: i32) -> Option<Integration> {
        self.lock().integrations.get(&id).cloned()
    }

    /// All integrations, by ascending id.
    pub fn list(&self) -> Vec<Integration> {
        self.lock().integrations.values().cloned().collect()
    }

    pub fn owner_of_role(&self, role: &str) -> Option<i32> {
        owner(&self.lock(), role)
    }

    pub fn create(&self, role: &str, bucket: Option<&str>, now: u64) -> Result<Integration, StoreError> {
        let mut data = self.lock();
        if let Some(id) = owner(&data, role) {
            return Err(StoreError::Duplicate {
                role: role.to_owned(),
                id,
            });
        }
        let id = data.next_id;
        data.next_id = id
            .checked_add(1)
            .ok_or_else(|| StoreError::Persist("integration ids exhausted".to_owned()))?;
        let integration = Integration {
            id,
            cross_account_arn: role.to_owned(),
            bucket_arn: bucket.map(str::to_owned),
            created_at: now,
            workspace_tokens: vec![data.account.workspace_token.clone()],
            status: Tracker::default(),
        };
        data.integrations.insert(id, integration.clone());
        self.persist(&data)?;
        Ok(integration)
    }

    /// v1 PUT: new role and bucket (`None` clears the bucket).
    pub fn reregister(&self, id: i32, role: &str, bucket: Option<&str>, now: u64) -> Result<Integration, StoreError> {
        let mut data = self.lock();
        if let Some(other) = owner(&data, role).filter(|other| *other != id) {
            return Err(StoreError::Duplicate {
                role: role.to_owned(),
                id: other,
            });
        }
        let integration = data.integrations.get_mut(&id).ok_or(StoreError::NotFound)?;
        let bucket = bucket.map(str::to_owned);
        if integration.cross_account_arn != role || integration.bucket_arn != bucket {
            integration.cross_account_arn = role.to_owned();
            integration.bucket_arn = bucket;
            integration.status.apply(Event::Reconfigured, now);
            let updated = integration.clone();
            self.persist(&data)?;
            Ok(updated)
        } else {
            Ok(integration.clone())
        }
    }

    pub fn set_workspaces(&self, id: i32, workspace_tokens: Vec<String>) -> Result<Integration, StoreError> {
        let mut data = self.lock();
        let integration = data.integrations.get_mut(&id).ok_or(StoreError::NotFound)?;
        integration.workspace_tokens = workspace_tokens;
        let updated = integration.clone();
        self.persist(&data)?;
        Ok(updated)
    }

    /// Feeds a status event to an integration; the integration as it now is.
    pub fn apply(&self, id: i32, event: Event, now: u64) -> Result<Integration, StoreError> {
        let mut data = self.lock();
        let integration = data.integrations.get_mut(&id).ok_or(StoreError::NotFound)?;
        let changed = integration.status.apply(event, now);
        let updated = integration.clone();
        if changed {
            self.persist(&data)?;
        }
        Ok(updated)
    }

    pub fn remove(&self, id: i32) -> Result<(), StoreError> {
        let mut data = self.lock();
        data.integrations.remove(&id).ok_or(StoreError::NotFound)?;
        self.persist(&data)
    }

    /// Forgets every integration. Ids keep counting up, so a stale id from before a reset can
    /// never name a new integration.
    pub fn clear(&self) -> Result<(), StoreError> {
        let mut data = self.lock();
        data.integrations.clear();
        self.persist(&data)
    }
}

fn owner(data: &Data, role: &str) -> Option<i32> {
    data.integrations
        .values()
        .find(|i| i.cross_account_arn == role)
        .map(|i| i.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/vantage";

    #[test]
    fn duplicate_roles_conflict() {
        let store = Store::open(None).expect("in-memory store");
        let first = store.create(ROLE, None, 1).expect("create");
        let err = store.create(ROLE, None, 2).expect_err("duplicate");
        assert!(matches!(err, StoreError::Duplicate { id, .. } if id == first.id));
    }

    #[test]
    fn state_file_survives_reopen_and_ids_keep_counting_after_clear() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let open = |path: &std::path::Path| {
            Store::open(Some(Arc::new(StateFile::open(path.to_owned()).expect("state file")))).expect("store")
        };
        let store = open(&path);
        let account = store.account();
        let created = store.create(ROLE, Some("arn:aws:s3:::cur"), 1).expect("create");
        drop(store);

        let store = open(&path);
        assert_eq!(store.account().external_id, account.external_id);
        let back = store.get(created.id).expect("persisted");
        assert_eq!(back.bucket_arn.as_deref(), Some("arn:aws:s3:::cur"));
        store.clear().expect("clear");
        let next = store.create(ROLE, None, 2).expect("create after clear");
        assert!(next.id > created.id);
    }

    #[test]
    fn v2_view_derives_from_the_record() {
        let store = Store::open(None).expect("in-memory store");
        let created = store.create(ROLE, None, 0).expect("create");
        let v2 = created.v2_json();
        assert_eq!(v2["token"], ids::integration_token(created.id));
        assert_eq!(v2["account_identifier"], "123456789012");
        assert_eq!(v2["status"], "pending");
        assert_eq!(v2["last_updated"], Value::Null);
        assert_eq!(v2["created_at"], "1970-01-01T00:00:00Z");
        assert_eq!(v2["workspace_tokens"][0], store.account().workspace_token);
    }
}
