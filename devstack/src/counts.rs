//! Requests seen per service and operation since the last reset, for `GET /_devstack/requests`.
//! Tests use it to assert how many calls (and retries) a client really made.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};

/// Every service the devstack fronts; each appears in the snapshot even with no requests yet.
pub const SERVICES: [&str; 2] = ["vantage", "aws"];

#[derive(Default)]
pub struct RequestCounts {
    inner: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
}

impl RequestCounts {
    pub fn record(&self, service: &str, operation: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner
            .entry(service.to_owned())
            .or_default()
            .entry(operation.to_owned())
            .or_default() += 1;
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// `{"vantage": {"GET /v1/ping": 2}, "aws": {}}`
    pub fn snapshot(&self) -> Value {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Map::new();
        for service in SERVICES {
            let ops: Map<String, Value> = inner
                .get(service)
                .map(|ops| ops.iter().map(|(op, n)| (op.clone(), Value::from(*n))).collect())
                .unwrap_or_default();
            out.insert(service.to_owned(), Value::Object(ops));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_operation_and_lists_every_service() {
        let counts = RequestCounts::default();
        counts.record("vantage", "GET /v1/ping");
        counts.record("vantage", "GET /v1/ping");
        counts.record("vantage", "POST /v1/integrations/aws");
        assert_eq!(
            counts.snapshot().to_string(),
            r#"{"vantage":{"GET /v1/ping":2,"POST /v1/integrations/aws":1},"aws":{}}"#
        );
        counts.clear();
        assert_eq!(counts.snapshot().to_string(), r#"{"vantage":{},"aws":{}}"#);
    }
}
