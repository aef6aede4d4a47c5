//! The Vantage API client: bearer auth, timeouts, rate-limit waits, bounded
//! jittered retries, cancellation, and errors that name the endpoint and the
//! fix without ever echoing the token.
//!
//! This is the only layer that sends a failed request again for 5xx answers,
//! timeouts, transport errors and 429s (the table is in ARCHITECTURE.md,
//! "Retries"); what a call may repeat is its [`Repeat`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tfplugin::log::Sensitive;
use tfplugin::{CancellationToken, Diagnostic};

pub const DEFAULT_HOST: &str = "https://api.vantage.sh";
pub const TOKEN_ENV: &str = "VANTAGE_API_TOKEN";

/// How hard the client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts of one call, the first included, for the answers its [`Repeat`] allows.
    pub attempts: u32,
    /// The wait before attempt `n + 1` is random between zero and
    /// `base_delay * 2^n`, at most `max_delay` (full jitter).
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest a call waits in all for rate-limit windows to reset before failing.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts: at most 1 + 2 + 4 + 8 = 15 s of backoff.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(120),
        }
    }
}

/// Which failed attempts of one call the client sends again. A 429 is
/// always waited for (up to [`RetryPolicy::max_rate_limit_wait`]), a
/// 401, 403, 404 or other 4xx never repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// GET, PUT, DELETE: sending one twice does what sending it once does,
    /// so every 5xx, timeout and transport error is sent again.
    Idempotent,
    /// A POST: sent again only when Vantage surely did not act on it (503,
    /// connection refused).
    IfNotActed,
    /// A POST that Vantage refuses to carry out twice (it answers 409
    /// instead): sent again like an idempotent call, and
    /// [`Attempts::unclear`] tells the caller that an earlier attempt may
    /// have acted.
    RefusedTwice,
}

/// What one call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Requests sent, waits for a rate limit included.
    pub sent: u32,
    /// Attempts without a clear answer (a 5xx other than 503, a timeout, a
    /// dropped connection, Terraform's cancellation while one was out):
    /// Vantage may have acted on them.
    pub unclear: u32,
}

#[derive(Clone)]
pub struct VantageClient {
    /// Built on the first call: setting up TLS and the system roots takes
    /// ~14 ms, and most provider processes Terraform starts never call Vantage.
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
    host: String,
    token: Option<Sensitive<String>>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for VantageClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VantageClient")
            .field("host", &self.host)
            .field("token", &self.token)
            .finish()
    }
}

/// Everything that can go wrong talking to Vantage, each with the fix.
#[derive(Debug, thiserror::Error)]
pub enum VantageError {
    #[error("no Vantage API token configured")]
    MissingToken { endpoint: String },
    #[error("Vantage rejected the API token (401) at {endpoint}")]
    Unauthorized { endpoint: String },
    #[error("the API token lacks permission (403) for {endpoint}: {message}")]
    Forbidden { endpoint: String, message: String },
    #[error("{endpoint} was not found (404)")]
    NotFound { endpoint: String, message: String },
    #[error("Vantage answered {status} at {endpoint}: {message}")]
    Api {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("rate limited by Vantage at {endpoint}; the limit resets in {wait_secs} s")]
    RateLimited { endpoint: String, wait_secs: u64 },
    #[error("could not reach Vantage at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("Vantage did not answer {endpoint} within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("the request to {endpoint} was cancelled")]
    Cancelled { endpoint: String },
    #[error("unexpected answer from {endpoint}: {message}")]
    Decode { endpoint: String, message: String },
}

impl VantageError {
    /// The HTTP status Vantage answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            VantageError::Unauthorized { .. } => Some(401),
            VantageError::Forbidden { .. } => Some(403),
            VantageError::NotFound { .. } => Some(404),
            VantageError::RateLimited { .. } => Some(429),
            VantageError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A diagnostic that says what happened and what to do.
    pub fn to_diagnostic(&self, summary: &str) -> Diagnostic {
        let detail = match self {
            VantageError::MissingToken { endpoint } => format!(
                "Calling {endpoint} needs a Vantage API token. Set the {TOKEN_ENV} environment variable \
                 or `api_token` in the provider block (create a token with the read and write scopes \
                 under Settings > API Access Tokens in the Vantage console)."
            ),
            VantageError::Unauthorized { endpoint } => format!(
                "Vantage answered 401 Unauthorized at {endpoint}: the API token is unknown, revoked or \
                 expired. Check {TOKEN_ENV} (or `api_token`), and that `host` points at the right \
                 Vantage API."
            ),
            VantageError::Forbidden { endpoint, message } => format!(
                "Vantage answered 403 Forbidden at {endpoint}: {message}. Use a token with the read and \
                 write scopes."
            ),
            VantageError::Timeout { endpoint, timeout } => format!(
                "Vantage did not answer {endpoint} within {}s, even after retries. Check the network, \
                 or raise `timeout` in the provider block.",
                timeout.as_secs()
            ),
            VantageError::Unreachable { endpoint, message } => format!(
                "Could not connect to {endpoint}: {message}. Check `host` (or VANTAGE_HOST) and the \
                 network, then retry."
            ),
            VantageError::RateLimited { endpoint, wait_secs } => format!(
                "Vantage's rate limit was exhausted at {endpoint} and resets in {wait_secs} s, longer \
                 than the provider waits. Retry after the reset, or reduce -parallelism."
            ),
            other => other.to_string(),
        };
        Diagnostic::error(summary, detail)
    }
}

/// Seconds until the rate-limit window ends, from `x-rate-limit-reset` (epoch seconds).
fn rate_limit_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    let reset = headers
        .get("x-rate-limit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    match reset {
        Some(reset) if reset > now => Duration::from_secs(reset - now),
        // Missing or past reset: a short pause before trying again.
        _ => Duration::from_secs(1),
    }
}

/// Vantage error bodies are `{"errors": [...]}`; anything else is shown as text.
fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<serde_json::Value>,
    }
    if let Ok(e) = serde_json::from_str::<Errors>(body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        "no details given".to_string()
    } else {
        trimmed.chars().take(500).collect()
    }
}

impl VantageClient {
    pub fn new(host: &str, token: Option<String>, timeout: Duration) -> Result<VantageClient, String> {
        let host = host.trim_end_matches('/').to_string();
        if !(host.starts_with("https://") || host.starts_with("http://")) {
            return Err(format!(
                "host {host:?} must start with https:// (or http:// for a local stand-in)"
            ));
        }
        Ok(VantageClient {
            http: std::sync::OnceLock::new(),
            host,
            token: token.filter(|t| !t.is_empty()).map(Sensitive),
            timeout,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> VantageClient {
        self.retry = retry;
        self
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout.min(Duration::from_secs(10)))
                    .user_agent(concat!("terraform-provider-vantage/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("could not build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub async fn get<T: DeserializeOwned>(&self, cancel: &CancellationToken, path: &str) -> Result<T, VantageError> {
        self.call::<(), T>(
            cancel,
            Method::GET,
            path,
            None,
            Repeat::Idempotent,
            &mut Attempts::default(),
        )
        .await
    }

    pub async fn delete(&self, cancel: &CancellationToken, path: &str) -> Result<(), VantageError> {
        self.send::<()>(
            cancel,
            Method::DELETE,
            path,
            None,
            Repeat::Idempotent,
            &mut Attempts::default(),
        )
        .await
        .map(drop)
    }

    /// A write (`POST` or `PUT`) that also says what it cost, for callers
    /// that report the attempts or must know whether one may have acted.
    pub async fn write<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        cancel: &CancellationToken,
        method: Method,
        path: &str,
        body: &B,
        repeat: Repeat,
    ) -> (Result<T, VantageError>, Attempts) {
        let mut attempts = Attempts::default();
        let result = self.call(cancel, method, path, Some(body), repeat, &mut attempts).await;
        (result, attempts)
    }

    async fn call<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        cancel: &CancellationToken,
        method: Method,
        path: &str,
        body: Option<&B>,
        repeat: Repeat,
        attempts: &mut Attempts,
    ) -> Result<T, VantageError> {
        let endpoint = format!("{method} {}{path}", self.host);
        let text = self.send(cancel, method, path, body, repeat, attempts).await?;
        serde_json::from_str(&text).map_err(|e| VantageError::Decode {
            endpoint,
            message: e.to_string(),
        })
    }

    /// Sends a request, again as `repeat` allows; returns the body of a 2xx answer.
    async fn send<B: Serialize + Sync>(
        &self,
        cancel: &CancellationToken,
        method: Method,
        path: &str,
        body: Option<&B>,
        repeat: Repeat,
        attempts: &mut Attempts,
    ) -> Result<String, VantageError> {
        let url = format!("{}{path}", self.host);
        let endpoint = format!("{method} {url}");
        let Some(token) = &self.token else {
            return Err(VantageError::MissingToken { endpoint });
        };
        let http = self.http().map_err(|message| VantageError::Unreachable {
            endpoint: endpoint.clone(),
            message,
        })?;
        let repeat_unclear = repeat != Repeat::IfNotActed;
        // Attempts that count against `RetryPolicy::attempts` (rate-limit waits do not).
        let mut failed = 0u32;
        let mut rate_limit_waited = Duration::ZERO;
        loop {
            let mut request = http
                .request(method.clone(), &url)
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(b) = body {
                request = request.json(b);
            }
            tracing::debug!(%endpoint, attempt = attempts.sent, "calling Vantage");
            attempts.sent += 1;
            let outcome = tokio::select! {
                r = request.send() => r,
                _ = cancel.cancelled() => {
                    // The request may have reached Vantage.
                    attempts.unclear += 1;
                    return Err(VantageError::Cancelled { endpoint });
                }
            };
            let last_try = failed + 1 >= self.retry.attempts;
            let retry_after = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let text = tokio::select! {
                        t = response.text() => t.unwrap_or_default(),
                        _ = cancel.cancelled() => {
                            attempts.unclear += 1;
                            return Err(VantageError::Cancelled { endpoint });
                        }
                    };
                    if status.is_success() {
                        return Ok(text);
                    }
                    let message = error_message(&text);
                    match status {
                        StatusCode::TOO_MANY_REQUESTS => {
                            let wait = rate_limit_wait(&headers);
                            if rate_limit_waited + wait > self.retry.max_rate_limit_wait {
                                return Err(VantageError::RateLimited {
                                    endpoint,
                                    wait_secs: wait.as_secs(),
                                });
                            }
                            rate_limit_waited += wait;
                            tracing::info!(%endpoint, wait_secs = wait.as_secs(), "rate limited; waiting for reset");
                            Some(wait)
                        }
                        StatusCode::UNAUTHORIZED => return Err(VantageError::Unauthorized { endpoint }),
                        StatusCode::FORBIDDEN => return Err(VantageError::Forbidden { endpoint, message }),
                        StatusCode::NOT_FOUND => return Err(VantageError::NotFound { endpoint, message }),
                        s if s.is_server_error() => {
                            // 503: Vantage (or its front door) turned the request away unread.
                            let unclear = s != StatusCode::SERVICE_UNAVAILABLE;
                            if unclear {
                                attempts.unclear += 1;
                            }
                            if last_try || (unclear && !repeat_unclear) {
                                return Err(VantageError::Api {
                                    endpoint,
                                    status: s.as_u16(),
                                    message,
                                });
                            }
                            tracing::info!(%endpoint, status = s.as_u16(), "server error; retrying");
                            None
                        }
                        s => {
                            return Err(VantageError::Api {
                                endpoint,
                                status: s.as_u16(),
                                message,
                            });
                        }
                    }
                }
                Err(e) => {
                    // A refused connection never reached Vantage; a timeout or a
                    // connection dropped mid-request may have.
                    let unclear = !e.is_connect();
                    if unclear {
                        attempts.unclear += 1;
                    }
                    let retryable = e.is_connect() || (repeat_unclear && (e.is_timeout() || e.is_request()));
                    if !retryable || last_try {
                        return Err(if e.is_timeout() {
                            VantageError::Timeout {
                                endpoint,
                                timeout: self.timeout,
                            }
                        } else {
                            VantageError::Unreachable {
                                endpoint,
                                message: describe(&e),
                            }
                        });
                    }
                    tracing::info!(%endpoint, error = %describe(&e), "transport error; retrying");
                    None
                }
            };
            let delay = match retry_after {
                Some(wait) => wait,
                None => {
                    failed += 1;
                    self.backoff(failed)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Err(VantageError::Cancelled { endpoint }),
            }
        }
    }

    /// Exponential backoff with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry.base_delay.saturating_mul(1u32 << attempt.min(16));
        let cap = exp.min(self.retry.max_delay);
        let millis = rand::rng().random_range(0..=cap.as_millis().max(1) as u64);
        Duration::from_millis(millis)
    }
}

/// reqwest's error with its causes (the chain holds the useful part, such
/// as "connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_as_vantage_writes_them() {
        assert_eq!(error_message(r#"{"errors":["a","b"]}"#), "a; b");
        assert_eq!(error_message("plain text"), "plain text");
        assert_eq!(error_message(""), "no details given");
    }

    #[test]
    fn missing_token_names_the_env_var_and_endpoint() {
        let e = VantageError::MissingToken {
            endpoint: "GET https://x/v1/ping".into(),
        };
        let d = e.to_diagnostic("Read failed");
        assert!(d.detail.contains("VANTAGE_API_TOKEN") && d.detail.contains("GET https://x/v1/ping"));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = VantageClient::new(
            "https://api.example",
            Some("secret-token".into()),
            Duration::from_secs(5),
        )
        .expect("client");
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    /// A one-shot HTTP server answering each connection with the next canned response.
    async fn canned_server(responses: Vec<String>) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            for response in responses {
                let (mut socket, _) = listener.accept().await.expect("accept");
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                socket.write_all(response.as_bytes()).await.expect("write");
            }
        });
        addr
    }

    fn throttled(reset: u64) -> String {
        format!(
            "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-remaining: 0\r\nx-rate-limit-reset: {reset}\r\n\
             content-type: application/json\r\ncontent-length: 34\r\nconnection: close\r\n\r\n\
             {{\"errors\":[\"rate limit exceeded\"]}}"
        )
    }

    fn epoch_now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
    }

    #[tokio::test]
    async fn a_429_waits_until_the_rate_limit_resets() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\
                  connection: close\r\n\r\n{\"ping\":\"pong\"}"
            .to_string();
        let addr = canned_server(vec![throttled(epoch_now() + 2), ok]).await;
        let client =
            VantageClient::new(&format!("http://{addr}"), Some("t".into()), Duration::from_secs(5)).expect("client");
        let started = std::time::Instant::now();
        let answer: serde_json::Value = client
            .get(&CancellationToken::new(), "/v1/ping")
            .await
            .expect("answered once the window reset");
        assert_eq!(answer["ping"], "pong");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "waited for x-rate-limit-reset ({:?})",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_429_with_a_distant_reset_fails_at_once_with_the_wait() {
        let addr = canned_server(vec![throttled(epoch_now() + 3000)]).await;
        let client =
            VantageClient::new(&format!("http://{addr}"), Some("t".into()), Duration::from_secs(5)).expect("client");
        let started = std::time::Instant::now();
        let err = client
            .get::<serde_json::Value>(&CancellationToken::new(), "/v1/ping")
            .await
            .expect_err("the reset is too far away to wait for");
        assert!(
            matches!(err, VantageError::RateLimited { wait_secs, .. } if wait_secs > 2900),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_persistent_500_costs_the_policy_attempts_and_a_post_only_when_refused_twice() {
        let error = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n\
                     content-length: 16\r\nconnection: close\r\n\r\n{\"errors\":[\"x\"]}"
            .to_string();
        let fast = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_rate_limit_wait: Duration::from_secs(1),
        };
        let body = serde_json::json!({});
        for (repeat, expected) in [
            (Repeat::IfNotActed, 1),
            (Repeat::RefusedTwice, 3),
            (Repeat::Idempotent, 3),
        ] {
            let addr = canned_server(vec![error.clone(); 3]).await;
            let client = VantageClient::new(&format!("http://{addr}"), Some("t".into()), Duration::from_secs(5))
                .expect("client")
                .with_retry_policy(fast.clone());
            let (result, attempts) = client
                .write::<_, serde_json::Value>(&CancellationToken::new(), Method::POST, "/x", &body, repeat)
                .await;
            assert!(
                matches!(result, Err(VantageError::Api { status: 500, .. })),
                "{result:?}"
            );
            assert_eq!(
                attempts,
                Attempts {
                    sent: expected,
                    unclear: expected
                },
                "{repeat:?}"
            );
        }
    }

    #[test]
    fn backoff_is_bounded() {
        let c = VantageClient::new("https://api.example", None, Duration::from_secs(5)).expect("client");
        for attempt in 1..20 {
            assert!(c.backoff(attempt) <= c.retry.max_delay);
        }
    }
}
