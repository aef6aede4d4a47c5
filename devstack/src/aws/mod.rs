//! The AWS front door (its own port). Every request is classified by its `X-Amz-Target` header
//! and SigV4 credential scope, counted, offered to the armed faults, and then either served here
//! (CUR 1.0, BCM Data Exports and service-managed StackSets, which no emulator serves as AWS does) or forwarded unchanged to the
//! upstream emulator (moto by default, or `--aws-upstream`).

pub mod access;
pub mod cur;
pub mod deliver;
pub mod errors;
pub mod exports;
pub mod forward;
pub mod moto;
pub mod moto_compat;
pub mod policy;
pub mod request;
pub mod stacksets;
pub mod store;
pub mod upstream;
pub mod verifier;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::app::{App, Devstack};
use crate::clock;
use crate::faults::{Effect, Injection};
use crate::net::ConnHandle;
use crate::vantage::status::Event;
use errors::{AwsError, json_response, protocol_error, throttled};
use request::{CUR_TARGET, Call, EXPORTS_TARGET, Protocol};
use store::AwsStore;
use upstream::Upstream;

/// Largest form body (query protocol) read to learn the operation; CloudFormation templates
/// sent inline are at most 51,200 bytes.
const FORM_LIMIT: usize = 16 * 1024 * 1024;
/// Largest CUR / Data Exports request body.
const JSON_LIMIT: usize = 1024 * 1024;
/// Regions whose credential scope CUR accepts (its only endpoints).
const CUR_REGIONS: [&str; 2] = ["us-east-1", "cn-northwest-1"];

/// The AWS side's state: the upstream, CUR reports and exports, settings.
pub struct AwsSide {
    pub upstream: Arc<Upstream>,
    pub store: AwsStore,
    /// Service-managed StackSets (see `stacksets`).
    pub stacksets: stacksets::StackSets,
    /// Report definitions per account before `ReportLimitReachedException`.
    pub cur_report_limit: usize,
}

impl AwsSide {
    /// Forgets CUR reports, exports and learned caller accounts (not the upstream's state).
    pub fn reset(&self) -> Result<(), store::PersistError> {
        self.upstream.forget_accounts();
        self.stacksets.clear();
        self.store.clear()
    }
}

/// One CUR / Data Exports call: the devstack, and the caller's account and signing region.
pub struct Ctx<'a> {
    pub app: &'a Devstack,
    pub account: String,
    pub region: String,
}

pub fn router(app: App) -> Router {
    Router::new().fallback(front_door).with_state(app)
}

async fn front_door(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let has_target = parts.headers.contains_key("x-amz-target");
    // The query protocol names its operation in the body: read small form bodies whole.
    let (body, form) = if !has_target && request::is_form(&parts.method, &parts.headers) {
        match axum::body::to_bytes(body, FORM_LIMIT).await {
            Ok(bytes) => (Body::from(bytes.clone()), Some(bytes)),
            Err(e) => {
                return protocol_error(
                    Protocol::Query,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    &format!("form body unreadable or larger than {FORM_LIMIT} bytes: {e}"),
                );
            }
        }
    } else {
        (body, None)
    };
    let call = request::classify(&parts.method, &path, query.as_deref(), &parts.headers, form.as_deref());
    app.counts.record("aws", &call.operation);

    let injection = app.faults.take("aws", &call.operation, &path);
    let conn = parts.extensions.get::<ConnectInfo<ConnHandle>>().map(|c| c.0.clone());
    if let Some(injection) = injection.as_ref().filter(|i| !i.after) {
        tracing::debug!(operation = %call.operation, ?injection, "injecting fault");
        if let Some(response) = inject(injection, conn.as_ref(), call.protocol).await {
            return response;
        }
    }

    let request = Request::from_parts(parts, body);
    let response = match call.target_parts() {
        Some((CUR_TARGET, operation)) => serve(&app, &call, request, Service::Cur, operation).await,
        Some((EXPORTS_TARGET, operation)) => serve(&app, &call, request, Service::Exports, operation).await,
        _ if stacksets::serves(&call.operation) => {
            stacksets::handle(&app, &call, request.headers(), form.as_deref().unwrap_or_default()).await
        }
        _ => {
            // A reset of moto through the front door forgets its access keys: so does devstack.
            if path.starts_with("/moto-api/reset") {
                app.aws.upstream.forget_accounts();
                app.aws.upstream.forget_topics();
            }
            if call.operation == "s3:PutBucketNotificationConfiguration"
                && !app.aws.upstream.topics_ready()
                && let Err(e) = upstream::create_vantage_topics(&app.aws.upstream).await
            {
                tracing::warn!(error = %e, "cannot create Vantage's CUR topics before a bucket notification");
            }
            moto_compat::forward(app.aws.upstream.forwarder(), &call.operation, request, call.protocol).await
        }
    };
    if verifier::invalidates_verdicts(&call.operation) {
        app.verifier.invalidate();
    }
    tracing::debug!(operation = %call.operation, status = response.status().as_u16(), "aws call");
    if let Some(injection) = injection.as_ref().filter(|i| i.after) {
        tracing::debug!(operation = %call.operation, ?injection, "injecting fault after handling");
        if let Some(replaced) = inject(injection, conn.as_ref(), call.protocol).await {
            return replaced;
        }
    }
    response
}

/// Waits out the fault's delay, then the answer it replaces the call's with (`None`: the call's
/// own answer stands).
async fn inject(injection: &Injection, conn: Option<&ConnHandle>, protocol: Protocol) -> Option<Response> {
    injection.wait().await;
    match &injection.effect {
        Effect::Proceed => None,
        Effect::Drop => {
            if let Some(conn) = conn {
                conn.kill();
            }
            Some(StatusCode::BAD_GATEWAY.into_response())
        }
        Effect::Throttle => Some(throttled(protocol)),
        Effect::Respond { status, body } => Some(injected(protocol, *status, body.clone())),
    }
}

/// An injected `status` fault: the given body, or the protocol's error shape.
fn injected(protocol: Protocol, status: u16, body: Option<crate::faults::Body>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match body {
        Some(body) => {
            let content_type = if body.is_json {
                if protocol == Protocol::Json {
                    errors::JSON_CONTENT_TYPE
                } else {
                    "application/json"
                }
            } else if body.text.trim_start().starts_with('<') {
                "application/xml"
            } else {
                "text/plain; charset=utf-8"
            };
            (status, [(header::CONTENT_TYPE, content_type)], body.text).into_response()
        }
        None => {
            let code = match (status.as_u16(), protocol) {
                (500, Protocol::S3) => "InternalError",
                (500, _) => "InternalFailure",
                (503, _) => "ServiceUnavailable",
                _ => "InjectedFault",
            };
            protocol_error(
                protocol,
                status,
                code,
                &format!("injected fault (HTTP {})", status.as_u16()),
            )
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Service {
    Cur,
    Exports,
}

async fn serve(app: &Devstack, call: &Call, request: Request, service: Service, operation: &str) -> Response {
    match serve_json(app, call, request, service, operation).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => {
            tracing::debug!(operation, code = error.code, message = %error.message, "answered with an error");
            error.into_response()
        }
    }
}

async fn serve_json(
    app: &Devstack,
    call: &Call,
    request: Request,
    service: Service,
    operation: &str,
) -> Result<Value, AwsError> {
    let Some(scope) = call.scope.clone() else {
        return Err(AwsError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let allowed: &[&str] = match service {
        Service::Cur => &CUR_REGIONS,
        Service::Exports => &CUR_REGIONS[..1],
    };
    if !allowed.contains(&scope.region.as_str()) {
        let what = match service {
            Service::Cur => "Cost and Usage Reports are served only in us-east-1 (and cn-northwest-1 in China)",
            Service::Exports => "BCM Data Exports is served only in us-east-1",
        };
        return Err(AwsError::new(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to a valid region, not '{}'. {what}: pin the client's region.",
                scope.region
            ),
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, JSON_LIMIT)
        .await
        .map_err(|e| AwsError::new("SerializationException", format!("unreadable request body: {e}")))?;
    let body: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| AwsError::new("SerializationException", format!("the request body is not JSON: {e}")))?
    };
    if !body.is_object() {
        return Err(AwsError::new(
            "SerializationException",
            "the request body must be a JSON object",
        ));
    }
    let account = app.aws.upstream.caller_account(Some(&scope), &parts.headers).await;
    let ctx = Ctx {
        app,
        account,
        region: scope.region.clone(),
    };
    match service {
        Service::Cur => cur::handle(&ctx, operation, &body).await,
        Service::Exports => exports::handle(&ctx, operation, &body).await,
    }
}

/// A CUR report or Data Export now delivers into `bucket`: integrations registered with that
/// bucket move from `pending` to `importing`.
pub fn bucket_targeted(app: &Devstack, bucket: &str) {
    let bucket_arn = access::bucket_arn(bucket);
    for integration in app.store.list() {
        if integration.bucket_arn.as_deref() == Some(bucket_arn.as_str())
            && let Err(e) = app
                .store
                .apply(integration.id, Event::CurConfigured, clock::now_epoch())
        {
            tracing::error!(id = integration.id, error = %e, "cannot record that CUR targets the bucket");
        }
    }
}

/// Opaque paging tokens: the offset of the next page.
pub fn page_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("devstack-page:{offset}"))
}

pub fn parse_page_token(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("devstack-page:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(parse_page_token(&page_token(5)), Some(5));
        assert_eq!(parse_page_token("bm90LWEtdG9rZW4"), None);
        assert_eq!(parse_page_token("***"), None);
    }
}
