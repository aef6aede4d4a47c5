//! LocalStack community in host mode (no Docker), the second AWS upstream the acceptance suite
//! and the demo run against: a venv of its own beside the target directory, started on a free
//! loopback port and stopped by PID.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::util::{run, step, target_dir};

/// What the venv holds. `localstack-core` 2026.3.0 installed unpinned pulls releases that break
/// it: cbor2 6 lacks `cbor2._decoder`, pyOpenSSL 26 lacks `X509.add_extensions`, and twisted's TLS
/// needs `service_identity`, which would drag cryptography past what pyOpenSSL 25 supports.
const REQUIREMENTS: [&[&str]; 2] = [
    &["localstack-core[runtime]==2026.3.0"],
    &[
        "cbor2<6",
        "pyopenssl>=25,<26",
        "cryptography>=45.0.7,<47",
        "service_identity",
    ],
];
/// Written into the venv after a complete install; a venv without the same text is rebuilt.
const MARKER: &str = "vantage-requirements.txt";
/// Overrides the Python the venv is created with.
const PYTHON_ENV: &str = "VANTAGE_LOCALSTACK_PYTHON";
/// Its start to healthy takes ~2 s; a loaded 2-core machine gets much more.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

fn marker_text(python_version: &str) -> String {
    let mut text = format!("python {python_version}\n");
    for group in REQUIREMENTS {
        for requirement in group {
            text.push_str(requirement);
            text.push('\n');
        }
    }
    text
}

/// `Some("3.13.0")` when `python` runs and is >= 3.12 with the venv module. localstack-core
/// declares >= 3.10 but uses 3.12 syntax: on 3.11 it starts and finds no components.
fn usable_python(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, venv; print('%d.%d.%d' % sys.version_info[:3], sys.version_info >= (3, 12))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (version, ok) = text.trim().split_once(' ')?;
    (out.status.success() && ok == "True").then(|| version.to_owned())
}

/// The Python >= 3.12 to build the venv with: VANTAGE_LOCALSTACK_PYTHON, else python3.13 /
/// python3.12 on PATH (a pyenv shim for a version that is not active fails to run and is passed
/// over), else pyenv's installed versions, else python3.
fn find_python() -> anyhow::Result<(PathBuf, String)> {
    if let Some(chosen) = std::env::var_os(PYTHON_ENV).filter(|v| !v.is_empty()) {
        let chosen = PathBuf::from(chosen);
        return match usable_python(&chosen) {
            Some(version) => Ok((chosen, version)),
            None => bail!(
                "{PYTHON_ENV}={} is not a Python >= 3.12 with the venv module",
                chosen.display()
            ),
        };
    }
    let mut candidates: Vec<PathBuf> = vec!["python3.13".into(), "python3.12".into()];
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
    if let Some(versions) = pyenv_root.map(|root| root.join("versions"))
        && let Ok(entries) = std::fs::read_dir(&versions)
    {
        let mut found: Vec<(Vec<u32>, PathBuf)> = entries
            .flatten()
            .map(|e| {
                (
                    version_key(&e.file_name().to_string_lossy()),
                    e.path().join("bin/python3"),
                )
            })
            .collect();
        // Newest first; the version check refuses anything older than 3.12.
        found.sort_by(|a, b| b.0.cmp(&a.0));
        let found = found.into_iter().map(|(_, path)| path);
        candidates.extend(found);
    }
    candidates.push("python3".into());
    for candidate in candidates {
        if let Some(version) = usable_python(&candidate) {
            return Ok((candidate, version));
        }
    }
    bail!(
        "LocalStack (the second acceptance pass of `cargo xtask test`, and `cargo xtask demo --aws \
         localstack`) needs Python >= 3.12 with the venv module (3.11 and older cannot run it), and none \
         was found: python3.13 and python3.12 on PATH, the versions under ~/.pyenv/versions and python3 \
         were tried. Install one, e.g. `pyenv install 3.13` (https://github.com/pyenv/pyenv), or your \
         system's package (Debian/Ubuntu: python3.13 and python3.13-venv), then run again or set \
         {PYTHON_ENV}=/path/to/python3.13"
    )
}

/// `3.13.0` -> [3, 13, 0]; a part that is not a number (`3.13t`, `miniconda3`) ends it.
fn version_key(name: &str) -> Vec<u32> {
    name.split('.').map_while(|part| part.parse().ok()).collect()
}

/// Returns the venv's Python with LocalStack in it, creating `<target>/localstack-venv` (about
/// 3 minutes, 500 MB) the first time and whenever the requirements change.
pub fn ensure(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = target_dir(root).join("localstack-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(MARKER);
    if let (Ok(found), Some(version)) = (std::fs::read_to_string(&marker), usable_python(&python))
        && found == marker_text(&version)
    {
        return Ok(python);
    }
    let (base, version) = find_python()?;
    step(&format!(
        "installing LocalStack into {} with Python {version} ({}; ~3 minutes, once)",
        venv.display(),
        base.display()
    ));
    if venv.exists() {
        std::fs::remove_dir_all(&venv).with_context(|| format!("removing the stale {}", venv.display()))?;
    }
    run(Command::new(&base).args(["-m", "venv"]).arg(&venv), "python -m venv")?;
    let pip = |args: &[&str], what: &str| {
        run(
            Command::new(&python)
                .args(["-m", "pip", "--disable-pip-version-check", "--quiet"])
                .args(args),
            what,
        )
    };
    pip(&["install", "-U", "pip"], "pip install -U pip")?;
    for group in REQUIREMENTS {
        let mut args = vec!["install"];
        args.extend_from_slice(group);
        pip(&args, &format!("pip install {}", group.join(" ")))?;
    }
    pip(&["check"], "pip check (the LocalStack venv's dependencies conflict)")?;
    std::fs::write(&marker, marker_text(&version)).context("writing the LocalStack venv marker")?;
    Ok(python)
}

/// A LocalStack process; SIGTERM and a wait (by PID) when dropped, so it stops on every way out
/// of the task, errors and panics included.
pub struct LocalStack {
    pub url: String,
    child: Child,
    /// Its volume and filesystem root, and its log; removed after it stops.
    dir: tempfile::TempDir,
}

impl LocalStack {
    /// Starts LocalStack on a free loopback port and waits until `/_localstack/health` says IAM,
    /// STS and S3 are available.
    pub fn start(python: &Path) -> anyhow::Result<LocalStack> {
        let dir = tempfile::Builder::new().prefix("vantage-localstack-").tempdir()?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .context("finding a free port for LocalStack")?
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("localstack.log"))?;
        let mut command = Command::new(python);
        command
            .args(["-m", "localstack.runtime.main"])
            .env("GATEWAY_LISTEN", &address)
            .env("LOCALSTACK_HOST", &address)
            // No DNS server: it would try to bind port 53.
            .env("DNS_ADDRESS", "0")
            .env("LOCALSTACK_VOLUME_DIR", dir.path().join("volume"))
            .env("FILESYSTEM_ROOT", dir.path().join("fs"))
            .env("DISABLE_EVENTS", "1")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own process group: a Ctrl-C reaches xtask, which stops it by PID on the way out.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        die_with_parent(&mut command);
        let child = command.spawn().context("starting LocalStack")?;
        let mut localstack = LocalStack {
            url: format!("http://{address}"),
            child,
            dir,
        };
        localstack.wait_healthy()?;
        Ok(localstack)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("localstack.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let health = format!("{}/_localstack/health", self.url);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "LocalStack exited before it was healthy ({status}):\n{}",
                    self.log_tail()
                );
            }
            let answer = http.get(&health).send().and_then(|r| r.json::<serde_json::Value>());
            if let Ok(body) = answer
                && ["iam", "sts", "s3"]
                    .iter()
                    .all(|service| matches!(body["services"][service].as_str(), Some("available" | "running")))
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "LocalStack did not report IAM, STS and S3 available at {health} within {} s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            // SIGTERM shuts it down in about a second; never hang the task on it.
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// SIGTERM to LocalStack when xtask dies without stopping it (SIGKILL, a crash). The kernel
/// sends it when the thread that spawned the child exits: xtask spawns it from its main thread.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // functions may be called: it calls only `prctl` and `getppid`, allocates nothing and takes
    // no locks.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then nobody would stop us.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("xtask exited while LocalStack was starting"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}
