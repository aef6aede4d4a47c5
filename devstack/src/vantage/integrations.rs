//! v1: ping, provider info, and AWS integration ("access credential") CRUD, plus the checks a
//! registration goes through and the verification every read runs.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::arn;
use super::errors::{ApiError, parse_body};
use super::status::Event;
use super::store::{Integration, StoreError};
use crate::app::{App, Devstack};
use crate::aws::verifier::AwsVerifier;
use crate::clock;

/// `GET /v1/ping`, `GET /v2/ping`: needs a valid token (any scope) so a client can check its
/// credentials with it.
pub async fn ping() -> Json<Value> {
    Json(json!({ "ping": "pong" }))
}

/// `GET /v1/integrations/aws/info`
pub async fn info(State(app): State<App>) -> Json<Value> {
    Json(
        app.store
            .account()
            .provider_info(&app.policies.read().unwrap_or_else(std::sync::PoisonError::into_inner)),
    )
}

/// `POST /v1/integrations/aws`
pub async fn create(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let registration = Registration::parse(&body)?;
    if let Some(id) = app.store.owner_of_role(&registration.role) {
        return Err(StoreError::Duplicate {
            role: registration.role,
            id,
        }
        .into());
    }
    check_registration(&app, &registration).await?;
    let created = app
        .store
        .create(&registration.role, registration.bucket.as_deref(), clock::now_epoch())?;
    Ok((StatusCode::CREATED, Json(created.v1_json())).into_response())
}

/// `GET /v1/integrations/aws/{id}`
pub async fn read(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let integration = app.store.get(parse_id(&id)?).ok_or(ApiError::NotFound)?;
    let integration = refresh_one(&app, integration).await?;
    Ok(Json(integration.v1_json()))
}

/// `PUT /v1/integrations/aws/{id}`: the body replaces the registration, so a missing or null
/// `bucket_arn` clears the bucket.
pub async fn update(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let current = app.store.get(id).ok_or(ApiError::NotFound)?;
    let registration = Registration::parse(&body)?;
    if let Some(other) = app.store.owner_of_role(&registration.role).filter(|other| *other != id) {
        return Err(StoreError::Duplicate {
            role: registration.role,
            id: other,
        }
        .into());
    }
    // An unchanged registration is not re-checked, so repeating a PUT is always safe.
    if registration.role != current.cross_account_arn || registration.bucket != current.bucket_arn {
        check_registration(&app, &registration).await?;
    }
    let updated = app.store.reregister(
        id,
        &registration.role,
        registration.bucket.as_deref(),
        clock::now_epoch(),
    )?;
    Ok(Json(updated.v1_json()))
}

/// `DELETE /v1/integrations/aws/{id}`
pub async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    app.store.remove(parse_id(&id)?)?;
    Ok(StatusCode::NO_CONTENT)
}

/// v1 ids are positive integers; anything else names no integration.
fn parse_id(id: &str) -> Result<i32, ApiError> {
    id.parse::<i32>().ok().filter(|id| *id > 0).ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
struct RegistrationBody {
    #[serde(default)]
    cross_account_arn: Option<String>,
    #[serde(default)]
    bucket_arn: Option<String>,
}

struct Registration {
    role: String,
    bucket: Option<String>,
}

impl Registration {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let body: RegistrationBody = parse_body(body)?;
        let mut errors = Vec::new();
        match &body.cross_account_arn {
            None => errors.push("cross_account_arn is required".to_owned()),
            Some(role) => {
                if let Err(e) = arn::role_account(role) {
                    errors.push(e);
                }
            }
        }
        if let Some(bucket) = &body.bucket_arn
            && let Err(e) = arn::check_bucket(bucket)
        {
            errors.push(e);
        }
        match body.cross_account_arn {
            Some(role) if errors.is_empty() => Ok(Self {
                role,
                bucket: body.bucket_arn,
            }),
            _ => Err(ApiError::BadRequest(errors)),
        }
    }
}

/// What Vantage checks before accepting a registration: it can assume the role (and the role is
/// old enough for IAM to have propagated it), and the role can read the bucket.
async fn check_registration(app: &Devstack, registration: &Registration) -> Result<(), ApiError> {
    let role = &registration.role;
    app.propagation.note_attempt(role, SystemTime::now());
    let account = app.store.account();
    let facts = app
        .verifier
        .verify_role(role, &account.iam_role_arn, &account.external_id)
        .await
        .map_err(|why| ApiError::bad_request(format!("Vantage cannot assume {role}: {why}")))?;
    app.propagation
        .check(role, &facts, SystemTime::now())
        .map_err(ApiError::bad_request)?;
    if let Some(bucket) = &registration.bucket {
        app.verifier
            .verify_bucket(role, bucket)
            .await
            .map_err(|why| ApiError::bad_request(format!("Vantage cannot read {bucket} as {role}: {why}")))?;
    }
    Ok(())
}

/// Every read re-verifies the role, as Vantage keeps checking its access: this is what moves a
/// new integration to `connected` and a broken one to `error`. Integrations deleted meanwhile
/// are left out.
pub async fn refresh(app: &Devstack, integrations: Vec<Integration>) -> Result<Vec<Integration>, ApiError> {
    let account = app.store.account();
    let mut refreshed = Vec::with_capacity(integrations.len());
    for integration in integrations {
        if integration.status.pinned {
            refreshed.push(integration);
            continue;
        }
        let event = match app
            .verifier
            .verify_role(
                &integration.cross_account_arn,
                &account.iam_role_arn,
                &account.external_id,
            )
            .await
        {
            Ok(_) => Event::RoleVerified {
                has_bucket: integration.bucket_arn.is_some(),
            },
            Err(why) => {
                tracing::info!(role = %integration.cross_account_arn, %why, "role no longer assumable");
                Event::RoleUnassumable
            }
        };
        let verified = matches!(event, Event::RoleVerified { .. });
        let mut updated = match app.store.apply(integration.id, event, clock::now_epoch()) {
            Ok(updated) => updated,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        // A verified role whose bucket already receives a CUR report or export is importing.
        let targeted = updated
            .bucket_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next())
            .is_some_and(|bucket| app.aws.store.targets_bucket(bucket));
        if verified && targeted {
            match app
                .store
                .apply(integration.id, Event::CurConfigured, clock::now_epoch())
            {
                Ok(next) => updated = next,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        refreshed.push(updated);
    }
    Ok(refreshed)
}

pub async fn refresh_one(app: &Devstack, integration: Integration) -> Result<Integration, ApiError> {
    refresh(app, vec![integration]).await?.pop().ok_or(ApiError::NotFound)
}
