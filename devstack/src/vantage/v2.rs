//! v2 integrations: the read side (status) of the same records v1 registers, addressed by token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::{ApiError, parse_body};
use super::integrations::{refresh, refresh_one};
use crate::app::App;
use crate::ids;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

struct ListQuery {
    provider: Option<String>,
    account_identifier: Option<String>,
    page: usize,
    limit: usize,
}

impl ListQuery {
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut query = ListQuery {
            provider: None,
            account_identifier: None,
            page: 1,
            limit: DEFAULT_LIMIT,
        };
        let mut errors = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "provider" => query.provider = Some(value),
                "account_identifier" => query.account_identifier = Some(value),
                "page" => match value.parse::<usize>() {
                    Ok(page) if page >= 1 => query.page = page,
                    _ => errors.push(format!("page must be a positive integer, got {value:?}")),
                },
                "limit" => match value.parse::<usize>() {
                    Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => query.limit = limit,
                    _ => errors.push(format!("limit must be an integer from 1 to {MAX_LIMIT}, got {value:?}")),
                },
                // Unknown parameters are ignored, as most APIs do.
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ApiError::BadRequest(errors))
        }
    }

    /// This listing's URL for `page`, with the filters that were given.
    fn link(&self, base: &str, page: usize) -> String {
        let mut url = format!("{base}/v2/integrations?");
        if let Some(provider) = &self.provider {
            url.push_str(&format!("provider={}&", encode(provider)));
        }
        if let Some(account) = &self.account_identifier {
            url.push_str(&format!("account_identifier={}&", encode(account)));
        }
        url.push_str(&format!("page={page}&limit={}", self.limit));
        url
    }
}

/// `GET /v2/integrations?provider=aws&account_identifier=...&page=N&limit=N`
pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let query = ListQuery::parse(pairs)?;

    let matching: Vec<_> = app
        .store
        .list()
        .into_iter()
        .filter(|_| query.provider.as_deref().is_none_or(|p| p == "aws"))
        .filter(|i| {
            query
                .account_identifier
                .as_deref()
                .is_none_or(|wanted| i.account_identifier() == Some(wanted))
        })
        .collect();
    let last = matching.len().div_ceil(query.limit).max(1);
    let start = (query.page - 1).saturating_mul(query.limit);
    let page: Vec<_> = matching.into_iter().skip(start).take(query.limit).collect();
    let page = refresh(&app, page).await?;

    let base = base_url(&headers, &app.vantage_url);
    let link = |n: usize| Value::String(query.link(&base, n));
    let links = json!({
        "self": link(query.page),
        "first": link(1),
        "next": if query.page < last { link(query.page + 1) } else { Value::Null },
        "last": link(last),
        "prev": if query.page > 1 { link((query.page - 1).min(last)) } else { Value::Null },
    });
    let integrations: Vec<Value> = page.iter().map(|i| i.v2_json()).collect();
    Ok(Json(json!({ "links": links, "integrations": integrations })))
}

/// `GET /v2/integrations/{token}`
pub async fn get(State(app): State<App>, Path(token): Path<String>) -> Result<Json<Value>, ApiError> {
    let integration = app.store.get(id_of(&token)?).ok_or(ApiError::NotFound)?;
    let integration = refresh_one(&app, integration).await?;
    Ok(Json(integration.v2_json()))
}

#[derive(Deserialize)]
struct WorkspacesBody {
    #[serde(default)]
    workspace_tokens: Option<Vec<String>>,
}

/// `PUT /v2/integrations/{token}` with `{"workspace_tokens": [...]}`: the account's workspaces
/// only, at least one.
pub async fn update(State(app): State<App>, Path(token): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let id = id_of(&token)?;
    if app.store.get(id).is_none() {
        return Err(ApiError::NotFound);
    }
    let body: WorkspacesBody = parse_body(&body)?;
    let requested = body
        .workspace_tokens
        .ok_or_else(|| ApiError::bad_request("workspace_tokens is required"))?;
    let known = app.store.account().workspace_token;
    let mut tokens: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for token in requested {
        if token != known {
            errors.push(format!("unknown workspace token {token:?}"));
        } else if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    if errors.is_empty() && tokens.is_empty() {
        errors.push("workspace_tokens must name at least one workspace".to_owned());
    }
    if !errors.is_empty() {
        return Err(ApiError::BadRequest(errors));
    }
    let updated = app.store.set_workspaces(id, tokens)?;
    Ok(Json(updated.v2_json()))
}

/// `DELETE /v2/integrations/{token}`: the same removal as the v1 delete.
pub async fn delete(State(app): State<App>, Path(token): Path<String>) -> Result<StatusCode, ApiError> {
    app.store.remove(id_of(&token)?)?;
    Ok(StatusCode::NO_CONTENT)
}

fn id_of(token: &str) -> Result<i32, ApiError> {
    ids::integration_id(token).ok_or(ApiError::NotFound)
}

/// `http://<Host header>` so links work through whatever address the client used; the bound
/// address when the header is absent or odd.
fn base_url(headers: &HeaderMap, fallback: &str) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| fallback.to_owned())
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn limits_are_bounded() {
        assert!(ListQuery::parse(pairs(&[("limit", "1000")])).is_ok());
        assert!(ListQuery::parse(pairs(&[("limit", "1001")])).is_err());
        assert!(ListQuery::parse(pairs(&[("limit", "0")])).is_err());
        assert!(ListQuery::parse(pairs(&[("page", "0")])).is_err());
        assert!(ListQuery::parse(pairs(&[("page", "x")])).is_err());
        let q = ListQuery::parse(pairs(&[])).expect("defaults");
        assert_eq!((q.page, q.limit), (1, DEFAULT_LIMIT));
    }

    #[test]
    fn links_keep_filters_and_encode_them() {
        let q = ListQuery::parse(pairs(&[
            ("provider", "aws"),
            ("account_identifier", "a b&c"),
            ("limit", "2"),
        ]))
        .expect("valid");
        assert_eq!(
            q.link("http://h:1", 3),
            "http://h:1/v2/integrations?provider=aws&account_identifier=a%20b%26c&page=3&limit=2"
        );
    }
}
