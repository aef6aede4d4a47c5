//! A harness for acceptance tests that drive the real `terraform` CLI against
//! the freshly built provider (through dev_overrides) and the devstack, in
//! the spirit of HashiCorp's terraform-plugin-testing:
//!
//! ```text
//! let tf = Workspace::new("provider_info_outputs");
//! tf.config(r#"data "vantage_aws_provider_info" "x" {}"#);
//! tf.apply().expect_ok();
//! tf.plan().expect_empty();
//! tf.destroy().expect_ok();
//! ```
//!
//! One devstack runs per test binary; every test gets its own working
//! directory. Results are checked against the devstack's own APIs, never
//! through the provider's code. Missing prerequisites fail loudly.

pub mod aws;
pub mod aws_billing;
pub mod mirror;
pub mod organization;
pub mod peers;
pub mod upstream;
pub mod vantage_checks;

use upstream::upstream_url;
pub use upstream::{Upstream, aws_upstream, moto_only};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;

pub const SOURCE_ADDRESS: &str = "terraform.local/vantage/vantage";

/// The cargo target directory this test binary was built in.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // CARGO_TARGET_TMPDIR is <target>/tmp for integration tests.
    option_env!("CARGO_TARGET_TMPDIR")
        .map(|t| PathBuf::from(t).parent().map(Path::to_path_buf).unwrap_or_default())
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Read at run time (cargo sets it for test binaries): the target directory is
/// shared between checkouts, so a compile-time path can name a removed clone.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Builds the provider and devstack binaries once per test process and
/// returns the directory holding them.
pub fn binaries_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(cargo);
        // The test's own CARGO_PKG_* and CARGO_MANIFEST_* would make ring's
        // build script (and everything above it) rebuild; drop them.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_BIN_")
                || name == "CARGO_CRATE_NAME"
                || name == "CARGO_PRIMARY_PACKAGE"
            {
                command.env_remove(name.as_ref());
            }
        }
        let status = command
            .args([
                "build",
                "--quiet",
                "-p",
                "terraform-provider-vantage",
                "-p",
                "vantage-devstack",
            ])
            .current_dir(workspace_root())
            .status()
            .expect("running cargo build for the provider and devstack");
        assert!(status.success(), "cargo build of the provider and devstack failed");
        target_dir().join("debug")
    })
}

pub fn provider_bin() -> PathBuf {
    binaries_dir().join("terraform-provider-vantage")
}

pub fn devstack_bin() -> PathBuf {
    binaries_dir().join("vantage-devstack")
}

/// The `terraform` binary, checked to be >= 1.5.
pub fn terraform_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".to_string());
        let out = Command::new(&bin).arg("version").arg("-json").env("CHECKPOINT_DISABLE", "1").output();
        let out = match out {
            Ok(o) if o.status.success() => o,
            _ => panic!(
                "terraform (>= 1.5) is required for the acceptance tests and was not found on PATH. \
                 Install it from https://developer.hashicorp.com/terraform/install (or set TERRAFORM=/path/to/terraform)."
            ),
        };
        #[derive(Deserialize)]
        struct Version {
            terraform_version: String,
        }
        let v: Version = serde_json::from_slice(&out.stdout).expect("terraform version -json");
        let parts: Vec<u32> = v.terraform_version.split('.').filter_map(|p| p.parse().ok()).collect();
        assert!(
            parts.len() >= 2 && (parts[0] > 1 || (parts[0] == 1 && parts[1] >= 5)),
            "terraform {} is too old: the acceptance tests need >= 1.5",
            v.terraform_version
        );
        PathBuf::from(bin)
    })
}

/// The ready line devstack prints.
#[derive(Debug, Clone, Deserialize)]
pub struct DevstackInfo {
    pub vantage_url: String,
    pub aws_url: String,
    pub admin_url: String,
    pub token: String,
}

/// A running devstack, stopped when its stdin closes: when it is dropped, or at process exit
/// for the shared one.
pub struct Devstack {
    pub info: DevstackInfo,
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
}

impl Drop for Devstack {
    /// Closes its stdin and reaps it (killing it if it is still there after a few seconds),
    /// so that a test's devstack leaves no zombie behind for the rest of the run.
    fn drop(&mut self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            stdin.take();
        }
        let Ok(mut child) = self.child.lock() else { return };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                _ => return,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Devstack {
    /// Starts a devstack with extra arguments, forwarding to the run's shared AWS upstream when
    /// there is one (`--aws-upstream`, see [`upstream`]), else to a moto of its own.
    pub fn start(extra_args: &[&str]) -> Devstack {
        let mut command = Command::new(devstack_bin());
        if let Some(url) = upstream_url() {
            command.args(["--aws-upstream", &url]);
        }
        let mut child = command
            .arg("--stop-on-stdin-eof")
            .args(extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting vantage-devstack");
        let stdout = child.stdout.take().expect("devstack stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the devstack ready line");
        let info: DevstackInfo = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("devstack printed {line:?} instead of its ready line: {e}"));
        let stdin = child.stdin.take().expect("devstack stdin");
        Devstack {
            info,
            child: Mutex::new(child),
            stdin: Mutex::new(Some(stdin)),
        }
    }

    /// The devstack shared by all tests of this binary.
    pub fn shared() -> &'static Devstack {
        static SHARED: OnceLock<Devstack> = OnceLock::new();
        SHARED.get_or_init(|| Devstack::start(&[]))
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().map(|c| c.id()).unwrap_or(0)
    }

    fn http() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    /// GET a Vantage API path with the devstack's token.
    pub fn vantage_get(&self, path: &str) -> serde_json::Value {
        let r = Self::http()
            .get(format!("{}{path}", self.info.vantage_url))
            .bearer_auth(&self.info.token)
            .send()
            .expect("devstack request");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().expect("devstack json")
    }

    /// POST to an admin endpoint (`/_devstack/...`).
    pub fn admin_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = Self::http()
            .post(format!("{}/{path}", self.info.admin_url))
            .json(&body)
            .send()
            .expect("admin request");
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().unwrap_or(serde_json::Value::Null)
    }

    pub fn admin_get(&self, path: &str) -> serde_json::Value {
        let r = Self::http()
            .get(format!("{}/{path}", self.info.admin_url))
            .send()
            .expect("admin request");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().expect("admin json")
    }

    /// How many calls of `operation` (e.g. `GET /v1/integrations/aws/info`) devstack has served.
    pub fn request_count(&self, service: &str, operation: &str) -> u64 {
        self.admin_get("requests")[service][operation].as_u64().unwrap_or(0)
    }
}

/// The result of one terraform command.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(command: String, out: Output) -> Run {
        Run {
            command,
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Panics with the whole output unless the command succeeded.
    #[track_caller]
    pub fn expect_ok(&self) -> &Run {
        assert!(
            self.success(),
            "`{}` failed ({:?}):\n{}\n{}",
            self.command,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Expects the command to fail with a diagnostic matching `pattern`
    /// (whitespace, including Terraform's line wrapping, is normalised).
    #[track_caller]
    pub fn expect_error(&self, pattern: &str) -> &Run {
        assert!(
            !self.success(),
            "`{}` succeeded but an error matching /{pattern}/ was expected:\n{}",
            self.command,
            self.stdout
        );
        let re = Regex::new(pattern).expect("valid regex");
        let text = self.normalized_output();
        assert!(
            re.is_match(&text),
            "`{}` failed, but not with /{pattern}/:\n{text}",
            self.command
        );
        self
    }

    /// Stdout and stderr with line wrapping and box-drawing undone.
    pub fn normalized_output(&self) -> String {
        let joined = format!("{}\n{}", self.stdout, self.stderr);
        let cleaned: String = joined
            .chars()
            .map(|c| if matches!(c, '│' | '╷' | '╵') { ' ' } else { c })
            .collect();
        cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// For `plan -detailed-exitcode`: 0 means no changes.
    #[track_caller]
    pub fn expect_empty_plan(&self) -> &Run {
        assert_eq!(
            self.status,
            Some(0),
            "expected an empty plan, got:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn expect_changes(&self) -> &Run {
        assert_eq!(
            self.status,
            Some(2),
            "expected a plan with changes, got:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A private terraform working directory with its own CLI config.
pub struct Workspace {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Workspace {
    /// A workspace wired to the shared devstack (token and host in the environment).
    pub fn new(name: &str) -> Workspace {
        Workspace::on(Devstack::shared(), name)
    }

    /// A workspace wired to `ds`: Vantage host and token, AWS endpoint and
    /// test credentials in the environment of terraform and the provider.
    pub fn on(ds: &Devstack, name: &str) -> Workspace {
        let mut ws = Workspace::bare(name);
        ws.env("VANTAGE_HOST", &ds.info.vantage_url);
        ws.env("VANTAGE_API_TOKEN", &ds.info.token);
        ws.env("AWS_ENDPOINT_URL", &ds.info.aws_url);
        ws.env("AWS_ACCESS_KEY_ID", aws::ACCESS_KEY);
        ws.env("AWS_SECRET_ACCESS_KEY", aws::SECRET_KEY);
        ws.env("AWS_REGION", aws::REGION);
        ws
    }

    /// A workspace with dev_overrides only: no devstack, no credentials.
    pub fn bare(name: &str) -> Workspace {
        terraform_bin();
        let dir = tempfile::Builder::new()
            .prefix(&format!("tfacc-{name}-"))
            .tempdir()
            .expect("temp dir");
        let cli_config = dir.path().join("terraform.rc");
        let overrides = binaries_dir().display().to_string();
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"{SOURCE_ADDRESS}\" = \"{overrides}\"\n  }}\n  direct {{}}\n}}\n"
            ),
        )
        .expect("writing the CLI config");
        let mut ws = Workspace { dir, env: Vec::new() };
        ws.env("TF_CLI_CONFIG_FILE", &cli_config.display().to_string());
        ws.env("TF_IN_AUTOMATION", "1");
        ws.env("CHECKPOINT_DISABLE", "1");
        ws.env("TF_INPUT", "0");
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sets (or replaces) an environment variable for terraform and the provider.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Workspace {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn remove_env(&mut self, key: &str) -> &mut Workspace {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Writes `main.tf`: the required_providers block plus `body`.
    pub fn config(&self, body: &str) {
        let text = format!(
            "terraform {{\n  required_providers {{\n    vantage = {{ source = \"{SOURCE_ADDRESS}\" }}\n  }}\n}}\n\n{body}\n"
        );
        std::fs::write(self.path().join("main.tf"), text).expect("writing main.tf");
    }

    /// A terraform command prepared with this workspace's directory and env.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(terraform_bin());
        cmd.args(args).current_dir(self.path());
        // Only what the test sets reaches the provider: no stray TF_LOG, tokens or AWS profiles.
        for key in [
            "TF_LOG",
            "TF_LOG_PATH",
            "TF_LOG_PROVIDER",
            "VANTAGE_API_TOKEN",
            "VANTAGE_HOST",
            "TF_REATTACH_PROVIDERS",
        ] {
            cmd.env_remove(key);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("running terraform");
        Run::from_output(format!("terraform {}", args.join(" ")), out)
    }

    /// `terraform apply` started in the background with its output captured, for a test that
    /// interrupts it ([`interrupt`]).
    /// `terraform <args>` started with its output piped, for a test that interrupts it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting terraform {}: {e}", args.join(" ")))
    }

    pub fn spawn_apply(&self) -> Child {
        self.spawn(&["apply", "-auto-approve", "-no-color"])
    }

    pub fn apply(&self) -> Run {
        self.run(&["apply", "-auto-approve", "-no-color"])
    }

    pub fn plan(&self) -> Run {
        self.run(&["plan", "-detailed-exitcode", "-no-color"])
    }

    pub fn destroy(&self) -> Run {
        self.run(&["destroy", "-auto-approve", "-no-color"])
    }

    /// `terraform output -json` (sensitive values included).
    pub fn outputs(&self) -> serde_json::Value {
        let run = self.run(&["output", "-json"]);
        run.expect_ok();
        let all: serde_json::Value = serde_json::from_str(&run.stdout).expect("output json");
        let mut values = serde_json::Map::new();
        if let Some(obj) = all.as_object() {
            for (k, v) in obj {
                values.insert(k.clone(), v["value"].clone());
            }
        }
        serde_json::Value::Object(values)
    }

    /// `terraform show -json` of the state.
    pub fn state(&self) -> serde_json::Value {
        let run = self.run(&["show", "-json"]);
        run.expect_ok();
        serde_json::from_str(&run.stdout).expect("show json")
    }
}

/// A terraform command after a user's Ctrl-C.
pub struct Interrupted {
    /// Whether terraform exited within the wait.
    pub finished: bool,
    /// From the SIGINT to the exit (or the end of the wait).
    pub elapsed: Duration,
    pub success: bool,
    /// Stdout and stderr.
    pub text: String,
}

/// What a user's Ctrl-C does: SIGINT to terraform (the provider ignores its
/// own copy; Terraform calls StopProvider). Waits up to `wait` for terraform
/// to exit, then kills it.
pub fn interrupt(mut child: Child, wait: Duration) -> Interrupted {
    let started = Instant::now();
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let finished = wait_until(wait, || matches!(child.try_wait(), Ok(Some(_))));
    let elapsed = started.elapsed();
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("terraform output");
    Interrupted {
        finished,
        elapsed,
        success: out.status.success(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Waits until `check` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}
