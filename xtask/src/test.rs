//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::util::{cargo, run, step};

/// What the acceptance harness reads (acceptance-tests/src/lib.rs): the devstack's upstream, what
/// it is, and the file the moto-only tests write their names to.
const UPSTREAM_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM";
const UPSTREAM_KIND_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM_KIND";
const MOTO_ONLY_LOG_ENV: &str = "VANTAGE_ACC_MOTO_ONLY_LOG";
/// The release the mirror test installs (acceptance-tests/tests/release.rs).
const RELEASE_DIR_ENV: &str = "VANTAGE_ACC_RELEASE_DIR";

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

    // Before the acceptance tests: the mirror test installs this release.
    step("release build for this platform: smoke test and reproducibility");
    let release_dir = crate::release::test_release(root)?;

    crate::util::require_terraform()?;
    // The two passes run at once: the suite spends most of its time waiting on terraform,
    // the devstack and the emulators (about half of two cores was busy when they ran one
    // after the other), and each test has its own devstack and names.
    step("acceptance tests: building them once for both passes");
    run(
        cargo()
            .args(["test", "-p", "acceptance-tests", "--no-run", "--quiet"])
            .current_dir(root),
        "building the acceptance tests",
    )?;
    step("acceptance tests with LocalStack as the devstack's AWS upstream (in the background)");
    let started = Instant::now();
    let localstack = crate::localstack::LocalStack::start(&localstack_python)?;
    eprintln!(
        "    LocalStack {} healthy in {:.1} s (log {})",
        localstack.url,
        started.elapsed().as_secs_f64(),
        localstack.log_path().display()
    );
    let moto_only = tempfile::NamedTempFile::new()?;
    let localstack_output = tempfile::NamedTempFile::new()?;
    let mut localstack_pass = acceptance(root, &release_dir)
        .env("VANTAGE_DEVSTACK_PYTHON", &python)
        .env(UPSTREAM_ENV, &localstack.url)
        .env(UPSTREAM_KIND_ENV, "localstack")
        .env(MOTO_ONLY_LOG_ENV, moto_only.path())
        .stdout(localstack_output.reopen()?)
        .stderr(localstack_output.reopen()?)
        .spawn()
        .context("starting the LocalStack pass")?;

    step("acceptance tests with moto (real terraform against the provider and devstack)");
    let moto_started = Instant::now();
    let moto_result = run(
        acceptance(root, &release_dir)
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .env_remove(UPSTREAM_ENV)
            .env_remove(UPSTREAM_KIND_ENV)
            .env_remove(MOTO_ONLY_LOG_ENV),
        "acceptance tests (moto)",
    );
    eprintln!("    moto pass: {:.0} s", moto_started.elapsed().as_secs_f64());
    let localstack_status = localstack_pass.wait().context("waiting for the LocalStack pass")?;
    drop(localstack);

    step("acceptance tests with LocalStack: their output");
    eprint!(
        "{}",
        std::fs::read_to_string(localstack_output.path()).unwrap_or_default()
    );
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
    eprintln!("    LocalStack pass: {:.0} s", started.elapsed().as_secs_f64());
    moto_result?;
    if !localstack_status.success() {
        anyhow::bail!("acceptance tests (LocalStack) failed ({localstack_status}); their output is above");
    }

    step("all checks passed");
    Ok(())
}

/// The acceptance suite, as both passes run it.
fn acceptance(root: &Path, release_dir: &Path) -> std::process::Command {
    let mut cmd = cargo();
    cmd.args(["test", "-p", "acceptance-tests", "--", "--test-threads", "4"])
        .env(RELEASE_DIR_ENV, release_dir)
        .current_dir(root);
    cmd
}
