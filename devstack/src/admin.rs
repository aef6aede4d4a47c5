//! The admin API under `/_devstack/` on the vantage port: test hooks, no token, no rate limit,
//! not counted.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::aws::deliver::{self, DeliverError, DeliverRequest};
use crate::clock;
use crate::faults::FaultSpec;
use crate::vantage::errors::{ApiError, not_found, parse_body};
use crate::vantage::operations;
use crate::vantage::status::{Event, Status};

pub fn router() -> Router<App> {
    Router::new()
        .route("/reset", post(reset))
        .route("/requests", axum::routing::get(requests))
        .route("/rate-limit", axum::routing::get(rate_limit))
        .route("/faults", post(add_fault).get(list_faults).delete(clear_faults))
        .route("/propagation-delay", post(set_propagation_delay).get(propagation_delay))
        .route("/integrations/{id}/status", post(set_status))
        .route("/deliver-cur", post(deliver_cur))
        .route("/policies", post(publish_policies))
        .route(
            "/stacksets/failing-accounts/{account}",
            post(fail_account).delete(heal_account),
        )
        .route(
            "/stacksets/delegated-admins/{account}",
            post(add_delegated_admin).delete(remove_delegated_admin),
        )
        .fallback(not_found)
}

#[derive(Deserialize)]
struct ResetBody {
    /// Also reset the upstream emulator (moto's `POST /moto-api/reset`).
    #[serde(default)]
    upstream: bool,
}

/// `POST /_devstack/reset`, optionally with `{"upstream": true}`.
async fn reset(State(app): State<App>, body: Bytes) -> Result<StatusCode, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        ResetBody { upstream: false }
    } else {
        parse_body(&body)?
    };
    app.reset()?;
    if body.upstream {
        app.aws
            .upstream
            .reset_moto()
            .await
            .map_err(|e| ApiError::Internal(format!("devstack was reset, but the upstream was not: {e}")))?;
        // Vantage's topics are not the customer's state: they outlive the reset, as in AWS.
        app.aws.upstream.forget_topics();
        if let Err(e) = crate::aws::upstream::create_vantage_topics(&app.aws.upstream).await {
            tracing::info!(error = %e, "Vantage's CUR topics not created again yet");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /_devstack/requests`
async fn requests(State(app): State<App>) -> Json<Value> {
    Json(app.counts.snapshot())
}

/// `GET /_devstack/rate-limit`
async fn rate_limit(State(app): State<App>) -> Json<Value> {
    Json(app.rate.snapshot())
}

/// `POST /_devstack/faults`
async fn add_fault(State(app): State<App>, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec: FaultSpec = parse_body(&body)?;
    let operations = operations();
    let names: Vec<&str> = operations.iter().map(String::as_str).collect();
    let stored = app.faults.add(spec, &names).map_err(ApiError::bad_request)?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `GET /_devstack/faults`: the faults still armed, with their remaining counts.
async fn list_faults(State(app): State<App>) -> Json<Value> {
    Json(json!({ "faults": app.faults.list() }))
}

/// `DELETE /_devstack/faults`
async fn clear_faults(State(app): State<App>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct DelayBody {
    seconds: f64,
}

/// `POST /_devstack/propagation-delay` with `{"seconds": N}`
async fn set_propagation_delay(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: DelayBody = parse_body(&body)?;
    let delay = Duration::try_from_secs_f64(body.seconds)
        .map_err(|_| ApiError::bad_request(format!("seconds must be a non-negative number, got {}", body.seconds)))?;
    app.propagation.set_delay(delay);
    Ok(Json(json!({ "seconds": delay.as_secs_f64() })))
}

/// `GET /_devstack/propagation-delay`
async fn propagation_delay(State(app): State<App>) -> Json<Value> {
    Json(json!({ "seconds": app.propagation.delay().as_secs_f64() }))
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

/// `POST /_devstack/integrations/{id}/status` with `{"status": "error"}`: sets and pins the
/// status (see the state machine); answers with the v2 view.
async fn set_status(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let id = id.parse::<i32>().map_err(|_| ApiError::NotFound)?;
    let body: StatusBody = parse_body(&body)?;
    let status = Status::parse(&body.status).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::bad_request(format!(
            "unknown status {:?}; expected one of {}",
            body.status,
            known.join(", ")
        ))
    })?;
    let updated = app.store.apply(id, Event::Override(status), clock::now_epoch())?;
    Ok(Json(updated.v2_json()))
}

/// `POST /_devstack/deliver-cur` with `{"report_name": "..."}` or `{"export_name": "..."}`.
async fn deliver_cur(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: DeliverRequest = parse_body(&body)?;
    match deliver::deliver(&app, request).await {
        Ok(outcome) => Ok(Json(outcome)),
        Err(DeliverError::BadRequest(why)) => Err(ApiError::bad_request(why)),
        Err(DeliverError::NotFound(why)) => Err(ApiError::Missing(why)),
        Err(DeliverError::Internal(why)) => Err(ApiError::Internal(why)),
    }
}

/// `POST /_devstack/policies` with `{"root": "<JSON document>", ...}`: publishes new policy
/// documents in the provider info, as Vantage does when it changes its permission set. Names
/// not given keep their document; answers with every published document.
async fn publish_policies(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let published: serde_json::Map<String, Value> = parse_body(&body)?;
    for (name, document) in &published {
        let parsed = document.as_str().map(serde_json::from_str::<Value>);
        if !matches!(parsed, Some(Ok(Value::Object(_)))) {
            return Err(ApiError::bad_request(format!(
                "policy {name:?} must be a JSON document given as a string"
            )));
        }
    }
    let mut policies = app.policies.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    policies.extend(published);
    Ok(Json(Value::Object(policies.clone())))
}

#[derive(Deserialize)]
struct FailBody {
    reason: String,
}

/// `POST /_devstack/stacksets/failing-accounts/{account}` with `{"reason": "..."}`: StackSet
/// deployments into that member account fail with the reason until it is deleted.
async fn fail_account(
    State(app): State<App>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if !crate::aws::upstream::is_account_id(&account) {
        return Err(ApiError::bad_request(format!(
            "{account:?} is not a 12-digit account id"
        )));
    }
    let body: FailBody = parse_body(&body)?;
    app.aws.stacksets.set_failing(&account, Some(body.reason));
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /_devstack/stacksets/failing-accounts/{account}`
async fn heal_account(State(app): State<App>, Path(account): Path<String>) -> StatusCode {
    app.aws.stacksets.set_failing(&account, None);
    StatusCode::NO_CONTENT
}

/// `POST /_devstack/stacksets/delegated-admins/{account}`: registers the member account as a
/// delegated administrator for StackSets (Organizations' RegisterDelegatedAdministrator, which
/// moto refuses for that service principal); `DELETE` deregisters it.
async fn add_delegated_admin(State(app): State<App>, Path(account): Path<String>) -> Result<StatusCode, ApiError> {
    if !crate::aws::upstream::is_account_id(&account) {
        return Err(ApiError::bad_request(format!(
            "{account:?} is not a 12-digit account id"
        )));
    }
    app.aws.stacksets.set_delegated(&account, true);
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_delegated_admin(State(app): State<App>, Path(account): Path<String>) -> StatusCode {
    app.aws.stacksets.set_delegated(&account, false);
    StatusCode::NO_CONTENT
}
