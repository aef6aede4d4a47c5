//! Fault injection: the next N calls that match a pattern fail with a status, are delayed, are
//! throttled, or lose their connection, either before the call is handled or, with `after`,
//! once it has been handled (the call took effect, then its answer is delayed, lost or replaced
//! by an error). HTTP-agnostic: the gate in front of each service turns a [`Effect`] into a
//! response.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest injectable delay; longer ones are almost certainly a unit mistake (seconds vs ms).
const MAX_DELAY_MS: u64 = 600_000;

/// The body of `POST /_devstack/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultSpec {
    pub service: String,
    /// `"*"`, a path prefix (`"/v1/integrations"`), or an operation (`"GET /v1/integrations/aws/{id}"`,
    /// `"cur:PutReportDefinition"`, or `"s3:*"` for every operation of an AWS service).
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub drop_connection: bool,
    #[serde(default)]
    pub throttle: bool,
    /// Fire after the handler ran: the call has taken effect when the delay, the dropped
    /// connection or the error answer happens ("done, but the answer was lost").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after: bool,
}

fn one() -> u32 {
    1
}

/// What one activation of a fault does, after its delay.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Delay only: then handle the call normally.
    Proceed,
    /// Close the connection without a response.
    Drop,
    /// Answer 429 as if the rate limit were exhausted.
    Throttle,
    /// Answer with this status and body; without a body the service's default error body.
    Respond { status: u16, body: Option<Body> },
}

/// A fault's response body as given: the text and whether it parses as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub text: String,
    pub is_json: bool,
}

/// One activation of a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub delay: Duration,
    pub effect: Effect,
    /// Whether it fires once the call has been handled rather than before.
    pub after: bool,
}

impl Injection {
    /// Waits out the fault's delay.
    pub async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[derive(Debug, Clone)]
enum Pattern {
    Any,
    PathPrefix(String),
    Operation(String),
    /// `s3:` from the pattern `s3:*`.
    ServicePrefix(String),
}

impl Pattern {
    fn matches(&self, operation: &str, path: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::PathPrefix(prefix) => path.starts_with(prefix.as_str()),
            Pattern::Operation(op) => op == operation,
            Pattern::ServicePrefix(prefix) => operation.starts_with(prefix.as_str()),
        }
    }
}

#[derive(Debug)]
struct Fault {
    id: u64,
    spec: FaultSpec,
    pattern: Pattern,
    remaining: u32,
}

#[derive(Default)]
pub struct Faults {
    inner: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    next_id: u64,
    faults: Vec<Fault>,
}

impl Faults {
    /// Queues a fault; `vantage_operations` are the operation names the Vantage API knows, so a
    /// typo in `match` is an error rather than a fault that never fires (AWS operations are only
    /// checked for their `service:Operation` shape: the upstream serves more than anyone can
    /// list). Returns the stored fault.
    pub fn add(&self, spec: FaultSpec, vantage_operations: &[&str]) -> Result<Value, String> {
        let pattern = match spec.service.as_str() {
            "vantage" => parse_pattern(&spec.pattern, vantage_operations)?,
            "aws" => parse_aws_pattern(&spec.pattern)?,
            other => return Err(format!("unknown service '{other}'; expected 'vantage' or 'aws'")),
        };
        if spec.count == 0 {
            return Err("count must be at least 1".to_owned());
        }
        if let Some(status) = spec.status
            && !(100..=599).contains(&status)
        {
            return Err(format!("status {status} is not an HTTP status code"));
        }
        if spec.delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        if spec.status.is_none() && spec.delay_ms == 0 && !spec.drop_connection && !spec.throttle {
            return Err("a fault needs at least one of status, delay_ms, drop_connection, throttle".to_owned());
        }
        let mut queue = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        queue.next_id += 1;
        let fault = Fault {
            id: queue.next_id,
            remaining: spec.count,
            spec,
            pattern,
        };
        let shown = describe(&fault);
        queue.faults.push(fault);
        Ok(shown)
    }

    /// Consumes one activation of the oldest fault matching this call, if any.
    pub fn take(&self, service: &str, operation: &str, path: &str) -> Option<Injection> {
        let mut queue = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let index = queue
            .faults
            .iter()
            .position(|f| f.spec.service == service && f.remaining > 0 && f.pattern.matches(operation, path))?;
        let fault = &mut queue.faults[index];
        fault.remaining -= 1;
        let injection = injection(&fault.spec);
        if fault.remaining == 0 {
            queue.faults.remove(index);
        }
        Some(injection)
    }

    pub fn list(&self) -> Value {
        let queue = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Value::Array(queue.faults.iter().map(describe).collect())
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).faults.clear();
    }
}

fn parse_pattern(pattern: &str, operations: &[&str]) -> Result<Pattern, String> {
    if pattern == "*" {
        return Ok(Pattern::Any);
    }
    if pattern.starts_with('/') {
        return Ok(Pattern::PathPrefix(pattern.to_owned()));
    }
    let Some((method, path)) = pattern.split_once(' ') else {
        return Err(format!(
            "match '{pattern}' is neither '*', a path prefix starting with '/', nor 'METHOD /template'"
        ));
    };
    let operation = format!("{} {}", method.to_ascii_uppercase(), path.trim());
    if operations.contains(&operation.as_str()) {
        Ok(Pattern::Operation(operation))
    } else {
        Err(format!(
            "unknown operation '{operation}'; known operations: {}",
            operations.join(", ")
        ))
    }
}

/// `*`, a path prefix, `service:Operation` or `service:*` (`cur:PutReportDefinition`, `s3:*`).
fn parse_aws_pattern(pattern: &str) -> Result<Pattern, String> {
    if pattern == "*" {
        return Ok(Pattern::Any);
    }
    if pattern.starts_with('/') {
        return Ok(Pattern::PathPrefix(pattern.to_owned()));
    }
    let shape_error = || {
        format!(
            "match '{pattern}' is neither '*', a path prefix starting with '/', 'service:Operation' \
             (cur:PutReportDefinition) nor 'service:*'"
        )
    };
    let (service, operation) = pattern.split_once(':').ok_or_else(shape_error)?;
    let service_ok = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !service_ok {
        return Err(shape_error());
    }
    if operation == "*" {
        return Ok(Pattern::ServicePrefix(format!("{service}:")));
    }
    if operation.is_empty() || !operation.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(shape_error());
    }
    Ok(Pattern::Operation(pattern.to_owned()))
}

/// Precedence when several effects are set: drop, then throttle, then status.
fn injection(spec: &FaultSpec) -> Injection {
    let effect = if spec.drop_connection {
        Effect::Drop
    } else if spec.throttle {
        Effect::Throttle
    } else if let Some(status) = spec.status {
        let body = match &spec.body {
            None => None,
            Some(Value::String(text)) => Some(Body {
                text: text.clone(),
                is_json: serde_json::from_str::<Value>(text).is_ok(),
            }),
            Some(other) => Some(Body {
                text: other.to_string(),
                is_json: true,
            }),
        };
        Effect::Respond { status, body }
    } else {
        Effect::Proceed
    };
    Injection {
        delay: Duration::from_millis(spec.delay_ms),
        effect,
        after: spec.after,
    }
}

fn describe(fault: &Fault) -> Value {
    let mut shown = serde_json::to_value(&fault.spec).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut shown {
        map.insert("id".to_owned(), Value::from(fault.id));
        map.insert("remaining".to_owned(), Value::from(fault.remaining));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[&str] = &["GET /v1/ping", "GET /v1/integrations/aws/{id}"];

    fn spec(pattern: &str) -> FaultSpec {
        FaultSpec {
            service: "vantage".to_owned(),
            pattern: pattern.to_owned(),
            count: 2,
            status: Some(503),
            body: None,
            delay_ms: 0,
            drop_connection: false,
            throttle: false,
            after: false,
        }
    }

    #[test]
    fn fires_count_times_then_disappears() {
        let faults = Faults::default();
        faults.add(spec("GET /v1/ping"), OPS).expect("valid fault");
        assert!(faults.take("vantage", "GET /v1/other", "/v1/other").is_none());
        for _ in 0..2 {
            let hit = faults.take("vantage", "GET /v1/ping", "/v1/ping").expect("fault fires");
            assert!(matches!(
                hit.effect,
                Effect::Respond {
                    status: 503,
                    body: None
                }
            ));
        }
        assert!(faults.take("vantage", "GET /v1/ping", "/v1/ping").is_none());
        assert_eq!(faults.list(), Value::Array(vec![]));
    }

    #[test]
    fn path_prefix_and_wildcard_match() {
        let faults = Faults::default();
        faults.add(spec("/v1/integrations"), OPS).expect("prefix");
        assert!(faults.take("vantage", "GET /v1/ping", "/v1/ping").is_none());
        assert!(
            faults
                .take("vantage", "GET /v1/integrations/aws/{id}", "/v1/integrations/aws/7")
                .is_some()
        );
        faults.clear();
        faults.add(spec("*"), OPS).expect("wildcard");
        assert!(faults.take("vantage", "GET /v1/ping", "/v1/ping").is_some());
    }

    #[test]
    fn rejects_typos_and_empty_faults() {
        let faults = Faults::default();
        let err = faults.add(spec("GET /v1/pong"), OPS).expect_err("unknown op");
        assert!(err.contains("unknown operation"), "{err}");
        let mut nothing = spec("*");
        nothing.status = None;
        assert!(faults.add(nothing, OPS).is_err());
        let mut other = spec("*");
        other.service = "gcp".to_owned();
        assert!(faults.add(other, OPS).is_err());
    }

    #[test]
    fn aws_patterns_name_service_operations() {
        let faults = Faults::default();
        let aws = |pattern: &str| FaultSpec {
            service: "aws".to_owned(),
            ..spec(pattern)
        };
        for bad in [
            "PutReportDefinition",
            "cur:",
            "CUR:Put",
            "cur:Put Report",
            "GET /v1/ping",
        ] {
            assert!(faults.add(aws(bad), OPS).is_err(), "{bad}");
        }
        faults.add(aws("cur:PutReportDefinition"), OPS).expect("operation");
        assert!(faults.take("aws", "cur:DeleteReportDefinition", "/").is_none());
        assert!(faults.take("vantage", "cur:PutReportDefinition", "/").is_none());
        assert!(faults.take("aws", "cur:PutReportDefinition", "/").is_some());
        faults.clear();
        faults.add(aws("s3:*"), OPS).expect("service wildcard");
        assert!(faults.take("aws", "iam:GetRole", "/").is_none());
        assert!(faults.take("aws", "s3:PutObject", "/bucket/key").is_some());
    }

    #[test]
    fn effects_follow_precedence() {
        let mut s = spec("*");
        s.delay_ms = 250;
        s.throttle = true;
        let hit = injection(&s);
        assert_eq!(hit.delay, Duration::from_millis(250));
        assert_eq!(hit.effect, Effect::Throttle);
        s.drop_connection = true;
        assert_eq!(injection(&s).effect, Effect::Drop);
        s.drop_connection = false;
        s.throttle = false;
        s.status = None;
        assert_eq!(injection(&s).effect, Effect::Proceed);
        s.status = Some(500);
        s.body = Some(Value::String("plain".to_owned()));
        assert_eq!(
            injection(&s).effect,
            Effect::Respond {
                status: 500,
                body: Some(Body {
                    text: "plain".to_owned(),
                    is_json: false
                })
            }
        );
    }
}
