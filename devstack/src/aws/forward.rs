//! Forwarding to the upstream emulator: method, path and query, headers (Host and Authorization
//! included, so signatures still verify) and body go through unchanged, and the response comes
//! back unchanged. Bodies stream in both directions; nothing is buffered here.
//!
//! Only hop-by-hop headers (`Connection`, `Transfer-Encoding`, ...) are not copied: they describe
//! one connection, and hyper frames each side itself. `Expect: 100-continue` is answered by
//! devstack's own server and not passed on.

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use axum::response::IntoResponse;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::errors::protocol_error;
use super::request::Protocol;

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpConnector, Body>,
    /// `http://host:port` of the upstream, without a trailing slash.
    base: String,
}

impl Forwarder {
    pub fn new(upstream: &str) -> anyhow::Result<Self> {
        let base = upstream.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|e| anyhow::anyhow!("--aws-upstream {upstream:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            anyhow::bail!("--aws-upstream {upstream:?} must be an http:// URL with a host (https is not supported)");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, base })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `request` upstream and streams the answer back. When the upstream cannot be
    /// reached the client gets a 502 in its protocol's error shape.
    pub async fn forward(&self, request: Request<Body>, protocol: Protocol) -> axum::response::Response {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let target = format!("{}{path_and_query}", self.base);
        parts.uri = match target.parse() {
            Ok(uri) => uri,
            Err(e) => {
                return protocol_error(
                    protocol,
                    StatusCode::BAD_REQUEST,
                    "InvalidURI",
                    &format!("cannot forward {path_and_query}: {e}"),
                );
            }
        };
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::EXPECT);
        let upstream_request = Request::from_parts(parts, body);
        match self.client.request(upstream_request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body)).into_response()
            }
            Err(e) => {
                tracing::warn!(upstream = %self.base, error = %e, "upstream request failed");
                protocol_error(
                    protocol,
                    StatusCode::BAD_GATEWAY,
                    "ServiceUnavailable",
                    &format!(
                        "devstack could not reach the upstream AWS emulator at {}: {e}",
                        self.base
                    ),
                )
            }
        }
    }

    /// A small request of devstack's own to the upstream (moto's admin API, STS); the body is
    /// read whole.
    pub async fn call(&self, request: Request<Body>) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        use http_body_util::BodyExt;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| anyhow::anyhow!("upstream {} unreachable: {e}", self.base))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading from upstream {}: {e}", self.base))?
            .to_bytes();
        Ok((status, body.to_vec()))
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
        headers.remove(name);
    }
}
