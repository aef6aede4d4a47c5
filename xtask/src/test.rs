//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::path::Path;

use crate::util::{cargo, run, step};

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

    step("local AWS emulator (moto)");
    let python = crate::moto::ensure(root)?;

    step("unit and devstack tests");
    run(
        cargo()
            .args(["test", "--workspace", "--exclude", "acceptance-tests"])
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .current_dir(root),
        "unit tests",
    )?;

    crate::util::require_terraform()?;
    step("acceptance tests (real terraform against the provider and devstack)");
    run(
        cargo()
            .args(["test", "-p", "acceptance-tests", "--", "--test-threads", "4"])
            .env("VANTAGE_DEVSTACK_PYTHON", &python)
            .current_dir(root),
        "acceptance tests",
    )?;
    step("release build: the binary `cargo xtask install` ships");
    crate::release::smoke_test(root)?;
    step("all checks passed");
    Ok(())
}
