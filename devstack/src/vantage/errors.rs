//! Error answers in Vantage's shape: a status and `{"errors": ["..."]}`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::auth::Scope;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    BadRequest(Vec<String>),
    Unauthorized,
    Forbidden(Scope),
    NotFound,
    /// 404 with a specific message (admin API).
    Missing(String),
    MethodNotAllowed,
    Conflict(String),
    RateLimited,
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(vec![message.into()])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn messages(&self) -> Vec<String> {
        match self {
            ApiError::BadRequest(messages) => messages.clone(),
            ApiError::Unauthorized => {
                vec!["Unauthorized: invalid or missing bearer token".to_owned()]
            }
            ApiError::Forbidden(scope) => {
                vec![format!("token lacks the '{}' scope", scope.as_str())]
            }
            ApiError::NotFound => vec!["not found".to_owned()],
            ApiError::MethodNotAllowed => vec!["method not allowed".to_owned()],
            ApiError::Conflict(message) | ApiError::Internal(message) | ApiError::Missing(message) => {
                vec![message.clone()]
            }
            ApiError::RateLimited => vec!["rate limit exceeded".to_owned()],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = Json(json!({ "errors": self.messages() }));
        if self == ApiError::Unauthorized {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

/// Parses a JSON request body. Content-Type is not enforced: clients that forget it still get a
/// precise answer about the body itself.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body must be a JSON object, got an empty body",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
