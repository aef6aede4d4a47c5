//! Atomic JSON persistence for `--state-file`. A crash mid-write never leaves a torn file: the
//! new contents go to a temporary file in the same directory, are synced, then renamed over the
//! old file (rename is atomic within one filesystem).
//!
//! Several stores share one file: [`StateFile`] keeps the whole JSON object in memory, each
//! store replaces its own top-level keys, and every write goes through one lock so writes never
//! interleave.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The state file shared by the Vantage store and the CUR / Data Exports store.
pub struct StateFile {
    path: PathBuf,
    root: Mutex<Map<String, Value>>,
}

impl StateFile {
    /// Loads `path` when it exists (it must hold a JSON object); otherwise starts empty.
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let root = match load::<Value>(&path)? {
            None => Map::new(),
            Some(Value::Object(root)) => root,
            Some(_) => anyhow::bail!("{} is not a devstack state file (not a JSON object)", path.display()),
        };
        Ok(Self {
            path,
            root: Mutex::new(root),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file as loaded or last written.
    pub fn snapshot(&self) -> Value {
        Value::Object(self.root.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }

    /// Replaces the given top-level keys and rewrites the file atomically.
    pub fn save(&self, updates: Map<String, Value>) -> io::Result<()> {
        let mut root = self.root.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = root.clone();
        next.extend(updates);
        save(&self.path, &next)?;
        *root = next;
        Ok(())
    }
}

/// Serialises `value` into a top-level JSON object's keys, for [`StateFile::save`].
pub fn keys_of<T: Serialize>(value: &T) -> io::Result<Map<String, Value>> {
    match serde_json::to_value(value).map_err(io::Error::other)? {
        Value::Object(map) => Ok(map),
        _ => Err(io::Error::other("state section is not a JSON object")),
    }
}

/// Reads `path`, or `None` when it does not exist yet.
pub fn load<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a devstack state file", path.display()))?;
    Ok(Some(value))
}

/// Replaces `path` with `value` as pretty JSON, atomically.
pub fn save<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));

    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable. Not possible on every platform; best effort.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        assert!(load::<Vec<u32>>(&path).expect("missing file is fine").is_none());
        save(&path, &vec![1u32, 2, 3]).expect("save");
        save(&path, &vec![4u32]).expect("overwrite");
        let back: Option<Vec<u32>> = load(&path).expect("load");
        assert_eq!(back, Some(vec![4]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        fs::write(&path, b"not json").expect("write");
        let err = load::<Vec<u32>>(&path).expect_err("garbage must fail");
        assert!(format!("{err:#}").contains("not a devstack state file"));
    }
}
