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
use crate::faults::{self, Effect};
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

    if let Some(injection) = app.faults.take("vantage", &operation, &path) {
        tracing::debug!(%operation, ?injection, "injecting fault");
        if !injection.delay.is_zero() {
            tokio::time::sleep(injection.delay).await;
        }
        match injection.effect {
            Effect::Proceed => {}
            Effect::Drop => {
                if let Some(ConnectInfo(conn)) = request.extensions().get::<ConnectInfo<ConnHandle>>() {
                    conn.kill();
                }
                // Never written when the connection was cut.
                return with_quota(StatusCode::BAD_GATEWAY.into_response(), quota);
            }
            Effect::Throttle => {
                let exhausted = quota.exhausted();
                return with_quota(ApiError::RateLimited.into_response(), exhausted);
            }
            Effect::Respond { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = body.unwrap_or_else(|| faults::Body {
                    text: json!({ "errors": [format!("injected fault (HTTP {})", status.as_u16())] }).to_string(),
                    is_json: true,
                });
                let content_type = if body.is_json {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                let response = (status, [(header::CONTENT_TYPE, content_type)], Body::from(body.text)).into_response();
                return with_quota(response, quota);
            }
        }
    }

    if quota.exceeded {
        return with_quota(ApiError::RateLimited.into_response(), quota);
    }
    let access = endpoint.map_or(Access::AnyToken, |e| e.access);
    if let Err(denied) = app.tokens.authorize(presented.as_deref(), access) {
        return with_quota(denied.into_response(), quota);
    }
    let response = next.run(request).await;
    tracing::debug!(%operation, status = response.status().as_u16(), "handled");
    with_quota(response, quota)
}

fn with_quota(mut response: Response, quota: Quota) -> Response {
    quota.write_headers(response.headers_mut());
    response
}
