//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Instant;

use anyhow::Context;

use crate::util::{cargo, run, step};

/// What the acceptance harness reads (acceptance-tests/src/lib.rs): the devstack's upstream, what
/// it is, and the file the moto-only tests write their names to.
const UPSTREAM_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM";
const UPSTREAM_KIND_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM_KIND";
const MOTO_ONLY_LOG_ENV: &str = "VANTAGE_ACC_MOTO_ONLY_LOG";
/// The release the mirror test installs (acceptance-tests/tests/acceptance/release.rs).
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

    // The release step builds in a target directory of its own (`release::build_dir`), so it
    // runs beside the unit tests and the acceptance build, which wait on cargo's lock of the
    // main one; it is done before the acceptance tests, whose mirror test installs its release.
    // Its second build, for reproducibility, runs beside the acceptance tests instead.
    step("release build for this platform: smoke test (in the background)");
    let release = Background::start(
        "the release step",
        Command::new(std::env::current_exe()?)
            .args(["test-release", "--without-reproducibility"])
            .current_dir(root),
    )?;

    step("unit and devstack tests");
    run(
        cargo()
            .args(["test", "--workspace", "--exclude", "acceptance-tests"])
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .current_dir(root),
        "unit tests",
    )?;

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
    step("release build for this platform: its output");
    release.finish()?;
    let release_dir = crate::release::test_release_dir(root);
    // Niced: it fills what the acceptance tests leave of the two cores (a third of them, idle
    // while tests wait) instead of slowing their timing-sensitive steps.
    step("release build for this platform: reproducibility (in the background)");
    let reproducibility = Background::start(
        "the reproducibility check",
        Command::new("nice")
            .args(["-n", "10"])
            .arg(std::env::current_exe()?)
            .arg("test-reproducible")
            .current_dir(root),
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
    let localstack_pass = Background::start(
        "acceptance tests (LocalStack)",
        acceptance(root, &release_dir, LOCALSTACK_THREADS)
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .env(UPSTREAM_ENV, &localstack.url)
            .env(UPSTREAM_KIND_ENV, "localstack")
            .env(MOTO_ONLY_LOG_ENV, moto_only.path()),
    )?;

    step("acceptance tests with moto (real terraform against the provider and devstack)");
    let moto_started = Instant::now();
    let moto_result = run(
        acceptance(root, &release_dir, MOTO_THREADS)
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .env_remove(UPSTREAM_ENV)
            .env_remove(UPSTREAM_KIND_ENV)
            .env_remove(MOTO_ONLY_LOG_ENV),
        "acceptance tests (moto)",
    );
    eprintln!("    moto pass: {:.0} s", moto_started.elapsed().as_secs_f64());
    step("acceptance tests with LocalStack: their output");
    let localstack_result = localstack_pass.finish();
    drop(localstack);
    // Listed whether the pass failed or not: none of them ran against LocalStack.
    let listed = std::fs::read_to_string(moto_only.path()).unwrap_or_default();
    let mut lines: Vec<&str> = listed.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort_unstable();
    eprintln!(
        "    moto-only (passed without running against LocalStack, each with its reason): {}",
        lines.len()
    );
    for line in &lines {
        eprintln!("      {line}");
    }
    eprintln!("    LocalStack pass: {:.0} s", started.elapsed().as_secs_f64());
    step("release build for this platform: reproducibility, its output");
    let reproducibility_result = reproducibility.finish();
    moto_result?;
    localstack_result?;
    reproducibility_result?;

    step("all checks passed");
    Ok(())
}

/// Tests at once in each pass. The suite mostly waits on terraform, the devstack and the
/// emulators; the LocalStack pass has fewer long tests (those running hashicorp/aws are
/// moto-only), and one LocalStack serves all of its devstacks.
const MOTO_THREADS: &str = "8";
const LOCALSTACK_THREADS: &str = "4";

/// The acceptance suite, as both passes run it.
fn acceptance(root: &Path, release_dir: &Path, threads: &str) -> Command {
    let mut cmd = cargo();
    cmd.args(["test", "-p", "acceptance-tests", "--", "--test-threads", threads])
        .env(RELEASE_DIR_ENV, release_dir)
        .current_dir(root);
    cmd
}

/// A step run beside the others, its output kept in a file and printed when it is waited for.
struct Background {
    what: &'static str,
    child: Child,
    output: tempfile::NamedTempFile,
}

impl Background {
    fn start(what: &'static str, command: &mut Command) -> anyhow::Result<Background> {
        let output = tempfile::NamedTempFile::new()?;
        let child = command
            .stdout(output.reopen()?)
            .stderr(output.reopen()?)
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        Ok(Background { what, child, output })
    }

    /// Waits for it, prints its output, and fails as it failed.
    fn finish(mut self) -> anyhow::Result<()> {
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for {}", self.what))?;
        eprint!("{}", std::fs::read_to_string(self.output.path()).unwrap_or_default());
        if !status.success() {
            anyhow::bail!("{} failed ({status}); its output is above", self.what);
        }
        Ok(())
    }
}
