//! Starts the real `vantage-devstack` binary for one test and talks to it over HTTP.
#![allow(dead_code)] // each test binary uses a different part of this helper

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_vantage-devstack");

pub const ROLE: &str = "arn:aws:iam::123456789012:role/vantage-cross-account";
pub const BUCKET: &str = "arn:aws:s3:::cur-reports-123456789012";

pub struct Devstack {
    child: Child,
    stdin: Option<ChildStdin>,
    pub ready: Value,
    pub vantage_url: String,
    pub aws_url: String,
    pub admin_url: String,
    pub token: String,
    pub client: reqwest::Client,
}

impl Devstack {
    /// Starts a devstack with `--stop-on-stdin-eof` plus `args`, and waits for its ready line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("--stop-on-stdin-eof")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn vantage-devstack");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        assert!(
            !line.is_empty(),
            "devstack exited before its ready line: {:?}",
            child.wait()
        );
        let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
        let field = |name: &str| {
            ready[name]
                .as_str()
                .unwrap_or_else(|| panic!("ready line lacks {name}: {line}"))
                .to_owned()
        };
        Self {
            vantage_url: field("vantage_url"),
            aws_url: field("aws_url"),
            admin_url: field("admin_url"),
            token: field("token"),
            ready,
            child,
            stdin,
            client: client(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// A request to the Vantage API with the default token.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.api_as(&self.token, method, path)
    }

    pub fn api_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.vantage_url))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.api(Method::GET, path).send().await.expect("GET reaches devstack")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> Response {
        self.api(method, path)
            .json(&body)
            .send()
            .await
            .expect("request reaches devstack")
    }

    /// Registers `role` (and `bucket`); panics unless it is created. Returns the v1 body.
    pub async fn register(&self, role: &str, bucket: Option<&str>) -> Value {
        let res = self
            .send_json(
                Method::POST,
                "/v1/integrations/aws",
                serde_json::json!({ "cross_account_arn": role, "bucket_arn": bucket }),
            )
            .await;
        assert_eq!(res.status(), 201, "register {role}");
        res.json().await.expect("JSON body")
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.admin_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("admin request reaches devstack")
    }

    pub async fn fault(&self, fault: Value) {
        let res = self.admin(Method::POST, "/faults", Some(fault)).await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
    }

    /// Closes stdin and waits for the process to exit by itself.
    pub fn stop(mut self) -> ExitStatus {
        self.stdin.take();
        wait_with_timeout(&mut self.child, Duration::from_secs(10)).expect("devstack exits once stdin is closed")
    }
}

impl Drop for Devstack {
    fn drop(&mut self) {
        self.stdin.take();
        if wait_with_timeout(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the binary expecting it to fail before becoming ready; returns its stderr.
pub fn start_failure(args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .arg("--stop-on-stdin-eof")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vantage-devstack");
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("devstack started although it should have failed");
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(status.is_some_and(|s| !s.success()), "{stderr}");
    assert!(stdout.is_empty(), "nothing but the ready line goes to stdout: {stdout}");
    stderr
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

pub fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("response lacks {name}"))
}

pub async fn errors(res: Response) -> Vec<String> {
    let body: Value = res.json().await.expect("JSON error body");
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {body}"))
        .iter()
        .map(|e| e.as_str().expect("error is a string").to_owned())
        .collect()
}

/// The documented v1 id -> v2 token mapping (README.md), reimplemented here so the tests check
/// the contract rather than the devstack's own code.
pub fn token_for(id: i64) -> String {
    let mut x = (id as u64) ^ 0x5641_4e54_4147_4521;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 32;
    format!("accss_crdntl_{x:016x}")
}
