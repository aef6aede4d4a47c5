//! The AWS front door (its own port). For now a placeholder that answers every request with 501
//! in AWS's JSON error shape; CUR / Data Exports emulation and forwarding to the upstream
//! emulator (moto by default) will live in this module.

pub mod verifier;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Settings the front door will need; kept now so the CLI is stable.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// Upstream AWS emulator URL (`--aws-upstream`); moto started as a child when absent.
    pub upstream: Option<String>,
}

pub fn router(config: &AwsConfig) -> Router {
    if let Some(upstream) = &config.upstream {
        tracing::info!(%upstream, "AWS upstream noted; forwarding arrives with the front door");
    }
    Router::new().fallback(not_implemented)
}

async fn not_implemented() -> Response {
    let body = serde_json::json!({
        "__type": "NotImplemented",
        "Message": "the AWS front door arrives with the devstack issue",
    });
    (
        StatusCode::NOT_IMPLEMENTED,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}
