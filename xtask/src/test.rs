//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::path::Path;
use std::time::Instant;

use crate::util::{cargo, run, step};

/// What the acceptance harness reads (acceptance-tests/src/lib.rs): the devstack's upstream, what
/// it is, and the file the moto-only tests write their names to.
const UPSTREAM_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM";
const UPSTREAM_KIND_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM_KIND";
const MOTO_ONLY_LOG_ENV: &str = "VANTAGE_ACC_MOTO_ONLY_LOG";

pub fn run_all(root: &Path) -> anyhow::Result<()> {
    step("cargo fmt --check");
    run(
        cargo().args(["fmt", "--all", "--", "--check"]).current_dir(root),
        "cargo fmt --check (run `cargo fmt --all`)",
    )?;

    step("cargo clippy -D warnings");
    run(
        cargo()
            .args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
            .current_dir(root),
        "cargo clippy",
    )?;

    step("docs are current");
    crate::docs::run(root, true)?;

    // Both emulators before any test, so a missing Python fails in seconds, not after the suite.
    step("local AWS emulators (moto, LocalStack)");
    let python = crate::moto::ensure(root)?;
    let localstack_python = crate::localstack::ensure(root)?;

    step("unit and devstack tests");
    run(
        cargo()
            .args(["test", "--workspace", "--exclude", "acceptance-tests"])
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .current_dir(root),
        "unit tests",
    )?;

    crate::util::require_terraform()?;
    step("acceptance tests with moto (real terraform against the provider and devstack)");
    let started = Instant::now();
    run(
        acceptance(root)
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .env_remove(UPSTREAM_ENV)
            .env_remove(UPSTREAM_KIND_ENV)
            .env_remove(MOTO_ONLY_LOG_ENV),
        "acceptance tests (moto)",
    )?;
    eprintln!("    moto pass: {:.0} s", started.elapsed().as_secs_f64());

    step("acceptance tests with LocalStack as the devstack's AWS upstream");
    let started = Instant::now();
    let localstack = crate::localstack::LocalStack::start(&localstack_python)?;
    eprintln!(
        "    LocalStack {} healthy in {:.1} s (log {})",
        localstack.url,
        started.elapsed().as_secs_f64(),
        localstack.log_path().display()
    );
    let moto_only = tempfile::NamedTempFile::new()?;
    let result = run(
        acceptance(root)
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .env(UPSTREAM_ENV, &localstack.url)
            .env(UPSTREAM_KIND_ENV, "localstack")
            .env(MOTO_ONLY_LOG_ENV, moto_only.path()),
        "acceptance tests (LocalStack)",
    );
    drop(localstack);
    // Listed whether the pass failed or not: none of them ran against LocalStack.
    let listed = std::fs::read_to_string(moto_only.path()).unwrap_or_default();
    let mut lines: Vec<&str> = listed.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort_unstable();
    eprintln!(
        "    moto-only (passed without running against LocalStack, which lacks what they need): {}",
        lines.len()
    );
    for line in &lines {
        eprintln!("      {line}");
    }
    result?;
    eprintln!("    LocalStack pass: {:.0} s", started.elapsed().as_secs_f64());

    step("release build: the binary `cargo xtask install` ships");
    crate::release::smoke_test(root)?;
    step("all checks passed");
    Ok(())
}

/// The acceptance suite, as both passes run it.
fn acceptance(root: &Path) -> std::process::Command {
    let mut cmd = cargo();
    cmd.args(["test", "-p", "acceptance-tests", "--", "--test-threads", "4"])
        .current_dir(root);
    cmd
}
