//! `cargo xtask fuzz`: runs each cargo-fuzz target under `fuzz/` for a given time, seeded from
//! `fuzz/seeds/<target>/`, with its growing corpus kept in `<target>/fuzz-corpus/<target>/`.
//! Needs cargo-fuzz and a nightly toolchain (libFuzzer's instrumentation); without them it
//! says how to get them and stops. Never part of `cargo xtask test`: fuzzing is open-ended.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde_json::json;

use crate::util::{step, target_dir};

/// Every target in `fuzz/Cargo.toml` (a unit test keeps the two in step).
pub const TARGETS: [&str; 5] = ["msgpack_value", "json_value", "policy_document", "arn", "duration"];

pub struct Options {
    pub seconds: u64,
    pub target: Option<String>,
}

/// `rustup run nightly <program>`, with the toolchain choice of the `cargo xtask` that runs us
/// removed, so the nightly toolchain is the one used, and without the package-scoped variables
/// cargo gave us (build scripts that watch them would rebuild the whole fuzz build).
fn nightly(program: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", program]);
    for var in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if crate::util::is_package_scoped_cargo_var(&name) {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

fn check_tools() -> anyhow::Result<()> {
    let works = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works(nightly("rustc").arg("--version")) {
        bail!(
            "fuzzing needs a nightly Rust toolchain (libFuzzer's instrumentation): install it with \
             `rustup toolchain install nightly`"
        );
    }
    if !works(nightly("cargo").args(["fuzz", "--version"])) {
        bail!("fuzzing needs cargo-fuzz: install it with `cargo install cargo-fuzz`");
    }
    Ok(())
}

/// What one target's run found.
struct Outcome {
    runs: Option<u64>,
    crashes: Vec<String>,
    ok: bool,
}

/// libFuzzer's last line: `Done 123456 runs in 60 second(s)`.
fn runs_done(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Done ")?.split_whitespace().next()?.parse().ok())
}

pub fn run_fuzz(root: &Path, options: Options) -> anyhow::Result<()> {
    check_tools()?;
    let fuzz_dir = root.join("fuzz");
    // The versions fuzzed are the versions shipped.
    std::fs::copy(root.join("Cargo.lock"), fuzz_dir.join("Cargo.lock")).context("copying Cargo.lock into fuzz/")?;
    let targets: Vec<&str> = match &options.target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!("no fuzz target {t:?}; the targets are {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let target = target_dir(root);
    let build_dir = target.join("fuzz");
    let mut summary = serde_json::Map::new();
    let mut failed = Vec::new();
    for name in targets {
        let corpus = target.join("fuzz-corpus").join(name);
        std::fs::create_dir_all(&corpus)?;
        let seeds = fuzz_dir.join("seeds").join(name);
        if let Ok(entries) = std::fs::read_dir(&seeds) {
            for entry in entries.flatten() {
                std::fs::copy(entry.path(), corpus.join(entry.file_name()))?;
            }
        }
        step(&format!("fuzzing {name} for {} s", options.seconds));
        let output = nightly("cargo")
            .args(["fuzz", "run", "--sanitizer", "none", "-O", name])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={}", options.seconds))
            .args(["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1"])
            .env("CARGO_TARGET_DIR", &build_dir)
            .current_dir(&fuzz_dir)
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running cargo fuzz for {name}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let artifacts = fuzz_dir.join("artifacts").join(name);
        let crashes: Vec<String> = std::fs::read_dir(&artifacts)
            .map(|entries| entries.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        let outcome = Outcome {
            runs: runs_done(&stderr),
            ok: output.status.success() && crashes.is_empty(),
            crashes,
        };
        if !outcome.ok {
            eprintln!(
                "{}",
                stderr
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            failed.push(name);
        }
        step(&format!(
            "{name}: {} runs, {}",
            outcome.runs.map_or("?".to_string(), |r| r.to_string()),
            if outcome.ok {
                "no findings".to_string()
            } else {
                format!("findings: {:?}", outcome.crashes)
            }
        ));
        summary.insert(
            name.to_string(),
            json!({ "seconds": options.seconds, "runs": outcome.runs, "findings": outcome.crashes, "ok": outcome.ok }),
        );
    }
    let report = target.join("fuzz").join("summary.json");
    std::fs::create_dir_all(target.join("fuzz"))?;
    std::fs::write(&report, serde_json::to_string_pretty(&summary)?)?;
    step(&format!("summary in {}", report.display()));
    if !failed.is_empty() {
        bail!(
            "fuzzing found problems in {}: the inputs are under fuzz/artifacts/; reproduce one with \
             `cargo +nightly fuzz run <target> <file>` in fuzz/",
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_of_the_fuzz_crate_is_run() {
        let manifest =
            std::fs::read_to_string(crate::util::workspace_root().join("fuzz/Cargo.toml")).unwrap_or_default();
        let declared: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.trim().strip_prefix("name = \""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|n| *n != "vantage-fuzz")
            .collect();
        assert_eq!(declared, TARGETS.to_vec());
    }

    #[test]
    fn libfuzzer_run_counts_are_read() {
        assert_eq!(
            runs_done("#1024 pulse\nDone 123456 runs in 60 second(s)\n"),
            Some(123_456)
        );
        assert_eq!(runs_done("crash\n"), None);
    }
}
