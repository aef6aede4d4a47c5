//! What every Vantage API request passes before its handler, in order: request counting, rate
//! limit accounting, injected faults, the rate-limit verdict, authentication and scope. Every
//! answer, including 401 and 429, carries the rate-limit headers.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{self, Access};
use super::errors::ApiError;
use super::rate_limit::{ANONYMOUS, Quota};
use crate::app::App;
use crate::clock;
use crate::faults::{self, Effect, Injection};
use crate::net::ConnHandle;

pub async fn gate(State(app): State<App>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let endpoint = super::endpoint_for(request.method().as_str(), &path);
    let operation = match endpoint {
        Some(endpoint) => endpoint.operation(),
        None => format!("{} (unmatched)", request.method()),
    };
    app.counts.record("vantage", &operation);

    // Unknown tokens share one budget so that garbage cannot grow the table.
    let presented = auth::bearer(request.headers()).map(str::to_owned);
    let budget = presented
        .as_deref()
        .filter(|token| app.tokens.is_known(token))
        .unwrap_or(ANONYMOUS);
    let quota = app.rate.consume(budget, clock::now_epoch());

    let injection = app.faults.take("vantage", &operation, &path);
    let conn = request
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    if let Some(injection) = injection.as_ref().filter(|i| !i.after) {
        tracing::debug!(%operation, ?injection, "injecting fault");
        if let Some(response) = inject(injection, conn.as_ref(), quota).await {
            return response;
        }
    }

    let response = if quota.exceeded {
        app.rate.record_throttled();
        with_quota(ApiError::RateLimited.into_response(), quota)
    } else {
        let access = endpoint.map_or(Access::AnyToken, |e| e.access);
        match app.tokens.authorize(presented.as_deref(), access) {
            Err(denied) => with_quota(denied.into_response(), quota),
            Ok(()) => {
                let response = next.run(request).await;
                tracing::debug!(%operation, status = response.status().as_u16(), "handled");
                with_quota(response, quota)
            }
        }
    };
    if let Some(injection) = injection.as_ref().filter(|i| i.after) {
        tracing::debug!(%operation, ?injection, "injecting fault after handling");
        if let Some(replaced) = inject(injection, conn.as_ref(), quota).await {
            return replaced;
        }
    }
    response
}

/// Waits out the fault's delay, then the answer it replaces the call's with (`None`: the call's
/// own answer stands).
async fn inject(injection: &Injection, conn: Option<&ConnHandle>, quota: Quota) -> Option<Response> {
    injection.wait().await;
    match &injection.effect {
        Effect::Proceed => None,
        Effect::Drop => {
            if let Some(conn) = conn {
                conn.kill();
            }
            // Never written when the connection was cut.
            Some(with_quota(StatusCode::BAD_GATEWAY.into_response(), quota))
        }
        Effect::Throttle => Some(with_quota(ApiError::RateLimited.into_response(), quota.exhausted())),
        Effect::Respond { status, body } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body.clone().unwrap_or_else(|| faults::Body {
                text: json!({ "errors": [format!("injected fault (HTTP {})", status.as_u16())] }).to_string(),
                is_json: true,
            });
            let content_type = if body.is_json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            let response = (status, [(header::CONTENT_TYPE, content_type)], Body::from(body.text)).into_response();
            Some(with_quota(response, quota))
        }
    }
}

fn with_quota(mut response: Response, quota: Quota) -> Response {
    quota.write_headers(response.headers_mut());
    response
}
