//! Starting the devstack for the demo and benchmarks, and `cargo xtask devstack`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::Context;
use serde::Deserialize;

use crate::util::{cargo, run, step, target_dir};

#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub vantage_url: String,
    pub aws_url: String,
    pub admin_url: String,
    pub token: String,
}

/// A devstack child process; it exits when this value (and its stdin) drops.
pub struct Running {
    pub ready: Ready,
    child: Child,
    _stdin: ChildStdin,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Builds the provider and devstack (debug) and returns the binaries' directory.
pub fn build_binaries(root: &Path) -> anyhow::Result<PathBuf> {
    step("building the provider and devstack");
    run(
        cargo()
            .args(["build", "-p", "terraform-provider-vantage", "-p", "vantage-devstack"])
            .current_dir(root),
        "cargo build",
    )?;
    Ok(target_dir(root).join("debug"))
}

impl Running {
    /// CPU seconds used so far by the devstack and its children (moto).
    pub fn cpu_seconds(&self) -> f64 {
        crate::util::tree_cpu_seconds(self.child.id())
    }
}

/// Starts a devstack; `python` runs its moto (none with `--aws-upstream` in `extra`).
pub fn start(bin_dir: &Path, python: Option<&Path>, extra: &[&str]) -> anyhow::Result<Running> {
    let mut command = Command::new(bin_dir.join("vantage-devstack"));
    if let Some(python) = python {
        command.env("VANTAGE_DEVSTACK_PYTHON", python);
    }
    let mut child = command
        .arg("--stop-on-stdin-eof")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting vantage-devstack")?;
    let stdout = child.stdout.take().context("devstack stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the devstack ready line")?;
    let ready: Ready = serde_json::from_str(&line).with_context(|| format!("devstack printed {line:?}"))?;
    let stdin = child.stdin.take().context("devstack stdin")?;
    Ok(Running {
        ready,
        child,
        _stdin: stdin,
    })
}

/// `cargo xtask devstack`: runs a devstack in the foreground until Ctrl-C.
pub fn run_foreground(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let python = crate::moto::ensure(root)?;
    let bin_dir = build_binaries(root)?;
    step("starting vantage-devstack (Ctrl-C stops it)");
    run(
        Command::new(bin_dir.join("vantage-devstack"))
            .args(args)
            .env("VANTAGE_DEVSTACK_PYTHON", python),
        "vantage-devstack",
    )
}
