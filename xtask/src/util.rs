//! Small helpers shared by the tasks: running commands, paths, progress lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Read at run time: the target directory is shared between checkouts, so a
/// path baked in at compile time can name a clone that no longer exists.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The cargo target directory (CARGO_TARGET_DIR, else `<root>/target`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A cargo command without the package-scoped variables `cargo run` gave us.
/// ring's build script reruns when CARGO_PKG_NAME and friends change, so
/// leaking xtask's values would rebuild ring, rustls and the AWS SDK.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if is_package_scoped_cargo_var(&name) {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

pub fn is_package_scoped_cargo_var(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || name.starts_with("CARGO_BIN_")
        || matches!(name, "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE")
}

/// A progress line, so a long task shows where it is.
pub fn step(message: &str) {
    eprintln!("==> {message}");
}

/// Runs a command, failing with its description when it does not succeed.
pub fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("could not start: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs a command and returns its stdout.
pub fn output(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("could not start: {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Terraform's name for this platform, e.g. `linux_amd64`.
pub fn terraform_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// Fails with the install hint when terraform is missing.
pub fn require_terraform() -> anyhow::Result<()> {
    match Command::new("terraform")
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        _ => bail!(
            "terraform (>= 1.5) is needed and was not found on PATH. Install it from \
             https://developer.hashicorp.com/terraform/install"
        ),
    }
}

/// Fields of `/proc/<pid>/stat` after the command name, which may hold spaces.
fn proc_stat_fields(pid: &str) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // The first field after the name is the state letter; it parses as 0.
    after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect()
}

/// Clock ticks to seconds (Linux reports 100 per second).
fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / 100.0
}

/// CPU seconds (user + system) of a live process and all its descendants.
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    let mut total = 0;
    let mut pending = vec![pid.to_string()];
    while let Some(pid) = pending.pop() {
        let fields = proc_stat_fields(&pid);
        // utime and stime: fields 14 and 15 of stat, counted from 1.
        total += fields.get(11..13).map_or(0, |f| f.iter().sum::<u64>());
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten();
        for task in tasks {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pending.extend(children.split_whitespace().map(str::to_string));
        }
    }
    ticks_to_seconds(total)
}

/// CPU seconds of this process's children that have exited and been waited
/// for (terraform runs, with the provider processes they waited for).
pub fn waited_children_cpu_seconds() -> f64 {
    let fields = proc_stat_fields("self");
    // cutime and cstime: fields 16 and 17.
    ticks_to_seconds(fields.get(13..15).map_or(0, |f| f.iter().sum::<u64>()))
}
