//! Where moto answers differently from S3, for requests the front door forwards.
//!
//! - **TLS-only bucket policies.** A statement like Vantage's
//!   `Deny s3:* when aws:SecureTransport is false` never matches on AWS for requests made over
//!   HTTPS, which every SDK call and every AWS billing delivery is. moto evaluates bucket
//!   policies on object reads and writes without that context and answers 403 to every
//!   `PutObject` / `GetObject` / `DeleteObjects` once such a statement is present, so no CUR file
//!   could ever be delivered into a bucket set up the way Vantage's module does. devstack stands
//!   in for an HTTPS service: on `PutBucketPolicy` it sends moto the policy without the Deny
//!   statements that only apply to plain-HTTP requests, and on `GetBucketPolicy` it answers with
//!   the document the client put (as long as moto still holds what devstack sent), so clients
//!   see S3's behaviour: their policy verbatim, and object access as over HTTPS.
//! - **Empty notification configuration.** moto answers `GetBucketNotificationConfiguration`
//!   for a bucket without notifications with `<GetBucketNotificationResponse/>`, which the AWS
//!   SDKs refuse to parse; S3 answers `<NotificationConfiguration/>`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::forward::Forwarder;
use super::request::Protocol;

/// Policies are small (S3 allows 20 KB).
const POLICY_LIMIT: usize = 1024 * 1024;

/// Per bucket: (what devstack sent moto, what the client put).
type Shadows = HashMap<String, (Vec<u8>, Vec<u8>)>;
static POLICIES: LazyLock<Mutex<Shadows>> = LazyLock::new(Default::default);

/// Forwards one S3 call, fixing moto's answer where it differs from S3.
pub async fn forward(forwarder: &Forwarder, operation: &str, request: Request<Body>, protocol: Protocol) -> Response {
    match operation {
        "s3:PutBucketPolicy" => put_policy(forwarder, request, protocol).await,
        "s3:GetBucketPolicy" => {
            let bucket = bucket_of(&request);
            let response = forwarder.forward(request, protocol).await;
            get_policy(&bucket, response).await
        }
        "s3:GetBucketNotificationConfiguration" => {
            let response = forwarder.forward(request, protocol).await;
            map_ok_body(response, |body| rename_notification_root(&body)).await
        }
        _ => forwarder.forward(request, protocol).await,
    }
}

fn bucket_of(request: &Request<Body>) -> String {
    request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn put_policy(forwarder: &Forwarder, request: Request<Body>, protocol: Protocol) -> Response {
    let bucket = bucket_of(&request);
    let (mut parts, body) = request.into_parts();
    let original = match axum::body::to_bytes(body, POLICY_LIMIT).await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => {
            return super::errors::protocol_error(
                protocol,
                StatusCode::BAD_REQUEST,
                "MalformedPolicy",
                &format!("policy body unreadable: {e}"),
            );
        }
    };
    let sent = match without_plain_http_denies(&original) {
        Some(stripped) => {
            // The body changed: drop what described the old one (moto checks no signatures).
            for name in ["content-md5", "x-amz-content-sha256", "x-amz-sdk-checksum-algorithm"] {
                parts.headers.remove(name);
            }
            let checksums: Vec<_> = parts
                .headers
                .keys()
                .filter(|k| k.as_str().starts_with("x-amz-checksum-"))
                .cloned()
                .collect();
            for name in checksums {
                parts.headers.remove(name);
            }
            parts.headers.insert(header::CONTENT_LENGTH, stripped.len().into());
            stripped
        }
        None => original.clone(),
    };
    let response = forwarder
        .forward(Request::from_parts(parts, Body::from(sent.clone())), protocol)
        .await;
    if response.status().is_success()
        && let Ok(mut policies) = POLICIES.lock()
    {
        if sent == original {
            policies.remove(&bucket);
        } else {
            policies.insert(bucket, (sent, original));
        }
    }
    response
}

async fn get_policy(bucket: &str, response: Response) -> Response {
    let shadow = POLICIES.lock().ok().and_then(|p| p.get(bucket).cloned());
    let Some((sent, original)) = shadow else {
        return response;
    };
    map_ok_body(response, move |body| if body == sent { original } else { body }).await
}

/// Rewrites the body of a 200 answer (small bodies only: policies and notification configs).
async fn map_ok_body(response: Response, f: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, POLICY_LIMIT).await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => {
            tracing::warn!(error = %e, "reading an answer from the upstream");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let fixed = f(bytes);
    parts.headers.insert(header::CONTENT_LENGTH, fixed.len().into());
    Response::from_parts(parts, Body::from(fixed)).into_response()
}

/// The policy without Deny statements that only apply to plain-HTTP requests
/// (`aws:SecureTransport` = false); `None` when there is none, or it is not JSON.
fn without_plain_http_denies(policy: &[u8]) -> Option<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(policy).ok()?;
    let statements = match doc.get_mut("Statement")? {
        Value::Array(list) => list,
        _ => return None,
    };
    let before = statements.len();
    statements.retain(|s| !only_plain_http(s));
    if statements.len() == before {
        return None;
    }
    serde_json::to_vec(&doc).ok()
}

fn only_plain_http(statement: &Value) -> bool {
    let is_deny = statement
        .get("Effect")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case("deny"));
    let conditions = statement.get("Condition").and_then(Value::as_object);
    is_deny
        && conditions.is_some_and(|c| {
            c.iter().any(|(op, keys)| {
                matches!(op.as_str(), "Bool" | "BoolIfExists")
                    && keys.as_object().is_some_and(|k| {
                        k.iter().any(|(key, v)| {
                            key.eq_ignore_ascii_case("aws:SecureTransport")
                                && match v {
                                    Value::String(s) => s.eq_ignore_ascii_case("false"),
                                    Value::Bool(b) => !b,
                                    Value::Array(items) => items
                                        .iter()
                                        .all(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false"))),
                                    _ => false,
                                }
                        })
                    })
            })
        })
}

fn rename_notification_root(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if text.contains("<GetBucketNotificationResponse") {
        text.replace("GetBucketNotificationResponse", "NotificationConfiguration")
            .into_bytes()
    } else {
        body.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_http_denies_are_left_out_for_moto() {
        let tls = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                         "Condition": {"Bool": {"aws:SecureTransport": "false"},
                                       "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}});
        let allow = json!({"Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
                           "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"});
        let other_deny = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "*"});
        let doc = json!({"Version": "2012-10-17", "Statement": [allow, tls, other_deny]});
        let stripped: Value =
            serde_json::from_slice(&without_plain_http_denies(doc.to_string().as_bytes()).expect("stripped"))
                .expect("json");
        assert_eq!(stripped["Statement"], json!([allow, other_deny]));
        let plain = json!({"Version": "2012-10-17", "Statement": [allow]});
        assert!(without_plain_http_denies(plain.to_string().as_bytes()).is_none());
    }

    #[test]
    fn moto_empty_notification_answer_gets_s3_root_element() {
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketNotificationResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        let fixed = String::from_utf8(rename_notification_root(moto)).expect("utf-8");
        assert!(fixed.contains(r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#));
        let real = b"<NotificationConfiguration><TopicConfiguration/></NotificationConfiguration>";
        assert_eq!(rename_notification_root(real), real.to_vec());
    }
}
