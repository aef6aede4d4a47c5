//! moto server as a child process: the default upstream AWS emulator.
//!
//! Started on a free loopback port, ready once it answers HTTP, stopped (kill, then wait, by
//! PID) when devstack stops. If devstack dies without stopping it (SIGKILL, a crash), the kernel
//! kills moto too: the child asks for `PR_SET_PDEATHSIG` before exec. That signal fires when the
//! *thread* that forked the child exits, so [`Moto::spawn`] must run on the main thread (it does:
//! `main` drives `run` with `block_on`, which polls it on the main thread).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long moto may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of moto's output kept for error messages.
const LOG_LINES: usize = 40;
/// Where `cargo xtask devstack-setup` puts its venv, relative to the target directory.
const VENV_PYTHON: &str = "devstack-venv/bin/python";

/// The Python interpreter to run moto with, and why it was chosen.
#[derive(Debug, Clone)]
pub struct Python {
    pub program: PathBuf,
    pub source: &'static str,
}

impl Python {
    /// `--moto-python`, else `VANTAGE_DEVSTACK_PYTHON`, else the project's venv next to the
    /// target profile directory (`<target>/devstack-venv`), else `python3` on PATH.
    pub fn choose(flag: Option<PathBuf>) -> Self {
        if let Some(program) = flag {
            return Self {
                program,
                source: "--moto-python",
            };
        }
        if let Some(program) = std::env::var_os("VANTAGE_DEVSTACK_PYTHON").filter(|v| !v.is_empty()) {
            return Self {
                program: program.into(),
                source: "VANTAGE_DEVSTACK_PYTHON",
            };
        }
        if let Some(venv) = project_venv() {
            return Self {
                program: venv,
                source: "the project's venv (cargo xtask devstack-setup)",
            };
        }
        Self {
            program: PathBuf::from("python3"),
            source: "python3 on PATH",
        }
    }
}

/// `<exe dir>/../devstack-venv/bin/python`: the binary lives in `<target>/<profile>/`.
fn project_venv() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?;
    let python = target.join(VENV_PYTHON);
    python.exists().then_some(python)
}

fn fix_hint() -> String {
    format!(
        "run `cargo xtask devstack-setup` (creates <target>/{} with moto[server]), or pass \
         --moto-python PATH / set VANTAGE_DEVSTACK_PYTHON to a Python that has `moto[server]`, or point \
         --aws-upstream at a running moto or LocalStack",
        VENV_PYTHON.trim_end_matches("/bin/python")
    )
}

/// A running moto server. Dropping it kills the process and waits for it.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Starts moto and waits until it answers. Call from the main thread (module docs).
    /// Without `managed_policies`, accounts have none of AWS's managed policies: each
    /// account's IAM is then built in milliseconds instead of about a second (and ~25 MB).
    pub async fn start(python: &Python, managed_policies: bool) -> anyhow::Result<Self> {
        let mut last_error = None;
        // A port found free can be taken before moto binds it: try a few.
        for _ in 0..3 {
            let (child, port, log) = Self::spawn(python, managed_policies)?;
            let mut moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            match moto.wait_ready(port, &log).await {
                Ok(()) => return Ok(moto),
                Err(e) => {
                    let tail = log_tail(&log);
                    if tail.contains("Address already in use") {
                        last_error = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("moto server did not start")))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(python: &Python, managed_policies: bool) -> anyhow::Result<(Child, u16, Log)> {
        let port = free_port()?;
        let mut command = Command::new(&python.program);
        command
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            // Real accounts have AWS's managed policies (ViewOnlyAccess, ...); moto only on request.
            .env(
                "MOTO_IAM_LOAD_MANAGED_POLICIES",
                if managed_policies { "true" } else { "false" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: a Ctrl+C in the terminal reaches devstack, which then stops moto
        // itself, instead of killing moto underneath a devstack still serving.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        die_with_parent(&mut command);
        let mut child = command.spawn().map_err(|e| {
            anyhow::anyhow!(
                "cannot run {} ({}) to start moto server: {e}; {}",
                python.program.display(),
                python.source,
                fix_hint()
            )
        })?;
        let log: Log = Arc::default();
        if let Some(out) = child.stdout.take() {
            forward_log(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward_log(err, log.clone());
        }
        tracing::debug!(pid = child.id(), port, python = %python.program.display(), "moto starting");
        Ok((child, port, log))
    }

    async fn wait_ready(&mut self, port: u16, log: &Log) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = self.child.try_wait().context("checking on moto server")? {
                // Give the log threads a moment to collect the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let tail = log_tail(log);
                if tail.contains("No module named") {
                    bail!(
                        "moto is not installed for this Python ({}): {}",
                        tail.lines().last().unwrap_or_default(),
                        fix_hint()
                    );
                }
                bail!("moto server exited before it was ready ({status}):\n{tail}");
            }
            if answers_http(addr).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "moto server did not answer on {addr} within {}s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    log_tail(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kills moto and waits for it, so no moto outlives devstack.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        tracing::debug!(pid = self.child.id(), "moto stopped");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

type Log = Arc<Mutex<VecDeque<String>>>;

/// moto logs every request; its lines go to devstack's log at debug level.
fn forward_log(stream: impl Read + Send + 'static, log: Log) {
    let spawned = std::thread::Builder::new().name("moto-log".to_owned()).spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            tracing::debug!(target: "moto", "{line}");
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot read moto's output");
    }
}

fn log_tail(log: &Log) -> String {
    let log = log.lock().unwrap_or_else(PoisonError::into_inner);
    log.iter().cloned().collect::<Vec<_>>().join("\n")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port for moto")?;
    Ok(listener.local_addr()?.port())
}

/// One HTTP request to moto's own API: any HTTP answer means it is serving.
async fn answers_http(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1."))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Asks the kernel to SIGKILL the child when its parent thread dies, so a SIGKILLed devstack
/// leaves no moto behind.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: `pre_exec` is unsafe because the closure runs in the forked child before exec,
    // where only async-signal-safe functions may be called. It calls only `prctl` and `getppid`
    // (both async-signal-safe), allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("devstack exited while moto was starting"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}
