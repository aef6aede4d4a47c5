//! AWS error answers: `{"__type": "<Code>", "Message": "..."}` for the JSON services the front
//! door serves itself, and the protocol's own shape for injected faults on forwarded services.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::request::Protocol;
use crate::ids;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error of an awsJson1_1 service.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra members of the error shape (`Reason`, `ResourceId`, ...).
    pub fields: Map<String, Value>,
}

impl AwsError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            fields: Map::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// A 500 `InternalErrorException` (CUR) / `InternalServerException` (Data Exports).
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new(code, message)
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("__type".to_owned(), Value::from(self.code));
        body.insert("Message".to_owned(), Value::from(self.message));
        body.extend(self.fields);
        let mut response = json_response(self.status, &Value::Object(body));
        if let Ok(code) = HeaderValue::from_str(self.code) {
            response.headers_mut().insert("x-amzn-errortype", code);
        }
        response
    }
}

/// A JSON-protocol answer with a request id, as AWS sends.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
        Body::from(body.to_string()),
    )
        .into_response();
    if let Ok(id) = HeaderValue::from_str(&ids::uuid_v4()) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

/// An error in the protocol's own shape, for injected faults and front-door failures on
/// forwarded services: JSON for JSON/REST services, `ErrorResponse` XML for the query protocol,
/// `Error` XML for S3.
pub fn protocol_error(protocol: Protocol, status: StatusCode, code: &str, message: &str) -> Response {
    match protocol {
        Protocol::Json | Protocol::Rest => {
            let body = json!({ "__type": code, "Message": message });
            let mut response = json_response(status, &body);
            if let Ok(code) = HeaderValue::from_str(code) {
                response.headers_mut().insert("x-amzn-errortype", code);
            }
            response
        }
        Protocol::Query => {
            let kind = if status.is_server_error() { "Receiver" } else { "Sender" };
            let body = format!(
                "<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error>\
                 <RequestId>{}</RequestId></ErrorResponse>",
                xml_escape(code),
                xml_escape(message),
                ids::uuid_v4()
            );
            (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
        }
        Protocol::S3 => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
                 <RequestId>{}</RequestId></Error>",
                xml_escape(code),
                xml_escape(message),
                ids::uuid_v4()
            );
            (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
        }
    }
}

/// The throttling answer each protocol's SDK recognises and retries.
pub fn throttled(protocol: Protocol) -> Response {
    match protocol {
        Protocol::Json | Protocol::Rest => protocol_error(
            protocol,
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        Protocol::Query => protocol_error(protocol, StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        Protocol::S3 => protocol_error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// AWS's wording for constraint violations: `1 validation error detected: Value 'x' at
/// 'reportDefinition.timeUnit' failed to satisfy constraint: Member must ...`.
#[derive(Debug, Default)]
pub struct Violations {
    items: Vec<(String, String)>,
}

impl Violations {
    pub fn push(&mut self, path: &str, shown: String, constraint: impl Into<String>) {
        self.items.push((
            path.to_owned(),
            format!(
                "Value {shown} at '{path}' failed to satisfy constraint: {}",
                constraint.into()
            ),
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn message(&self) -> String {
        let n = self.items.len();
        let noun = if n == 1 { "error" } else { "errors" };
        let details: Vec<&str> = self.items.iter().map(|(_, m)| m.as_str()).collect();
        format!("{n} validation {noun} detected: {}", details.join("; "))
    }

    /// `(field path, message)` pairs, for Data Exports' `Fields`.
    pub fn fields(&self) -> Value {
        Value::Array(
            self.items
                .iter()
                .map(|(name, message)| json!({ "Name": name, "Message": message }))
                .collect(),
        )
    }
}

/// How a value is quoted in a violation message.
pub fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "null".to_owned(),
        Some(Value::String(s)) => format!("'{s}'"),
        Some(other) => format!("'{other}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_messages_read_like_aws() {
        let mut v = Violations::default();
        v.push(
            "reportDefinition.timeUnit",
            shown(Some(&json!("WEEKLY"))),
            "Member must satisfy enum value set: [HOURLY, DAILY, MONTHLY]",
        );
        assert_eq!(
            v.message(),
            "1 validation error detected: Value 'WEEKLY' at 'reportDefinition.timeUnit' failed to satisfy \
             constraint: Member must satisfy enum value set: [HOURLY, DAILY, MONTHLY]"
        );
        v.push("reportDefinition.s3Bucket", shown(None), "Member must not be null");
        assert!(v.message().starts_with("2 validation errors detected: "));
    }
}
