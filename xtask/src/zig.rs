//! The C toolchain of release builds. ring and aws-lc compile C for the target, so the static
//! musl build and every cross build need a C compiler and linker for that target. zig is one for
//! all the targets we ship; PyPI carries it (`ziglang`) and crates.io carries cargo-zigbuild, which
//! drives it for cargo. Both are installed beside the target directory, as LocalStack's venv is:
//! nothing on the host's system changes, and a fresh machine gets them from the project's files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{run, step, target_dir};

/// Pinned: a new zig may refuse flags cargo-zigbuild passes, or link differently (the
/// release must be reproducible with the toolchain it names).
const ZIGLANG_REQUIREMENT: &str = "ziglang==0.17.1";
const CARGO_ZIGBUILD_VERSION: &str = "0.24.1";

/// Written into the venv after a complete install; a venv without the same text is rebuilt.
const MARKER: &str = ".terraform-provider-vantage-zig";

/// zig and cargo-zigbuild, ready to run.
#[derive(Debug, Clone)]
pub struct Zig {
    zig: PathBuf,
    tools_bin: PathBuf,
}

impl Zig {
    /// `cargo zigbuild`: cargo with zig as the C compiler and linker for `--target`.
    pub fn cargo_zigbuild(&self) -> Command {
        let mut cmd = crate::util::cargo();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.tools_bin.clone()];
        dirs.extend(std::env::split_paths(&path));
        cmd.arg("zigbuild")
            .env("PATH", std::env::join_paths(dirs).unwrap_or(path))
            .env("CARGO_ZIGBUILD_ZIG_PATH", &self.zig);
        cmd
    }

    /// What the release notes name as the toolchain.
    pub fn describe(&self) -> String {
        format!("{ZIGLANG_REQUIREMENT}, cargo-zigbuild {CARGO_ZIGBUILD_VERSION}")
    }
}

/// zig in `<target>/zig-venv` and cargo-zigbuild in `<target>/zig-tools`, installed when
/// missing or of another version (about 100 MB from PyPI, 1 minute of building from crates.io).
pub fn ensure(root: &Path) -> anyhow::Result<Zig> {
    let base = target_dir(root);
    let venv = base.join("zig-venv");
    let marker = venv.join(MARKER);
    let zig = zig_binary(&venv)?;
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(ZIGLANG_REQUIREMENT) || !zig.is_file() {
        step(&format!("installing {ZIGLANG_REQUIREMENT} into {}", venv.display()));
        if venv.exists() {
            std::fs::remove_dir_all(&venv).with_context(|| format!("removing the stale {}", venv.display()))?;
        }
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (zig, the release build's C compiler, comes from PyPI)",
        )?;
        run(
            Command::new(venv.join("bin/python")).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                ZIGLANG_REQUIREMENT,
            ]),
            "pip install ziglang",
        )?;
        std::fs::write(&marker, ZIGLANG_REQUIREMENT).context("writing the zig venv marker")?;
    }
    let zig = zig_binary(&venv)?;
    if !zig.is_file() {
        bail!(
            "{ZIGLANG_REQUIREMENT} was installed into {} but holds no zig binary",
            venv.display()
        );
    }

    let tools = base.join("zig-tools");
    let tools_bin = tools.join("bin");
    let installed = crate::util::output(
        Command::new(tools_bin.join("cargo-zigbuild")).arg("--version"),
        "cargo-zigbuild --version",
    )
    .unwrap_or_default();
    if installed.split_whitespace().nth(1) != Some(CARGO_ZIGBUILD_VERSION) {
        step(&format!(
            "installing cargo-zigbuild {CARGO_ZIGBUILD_VERSION} into {}",
            tools.display()
        ));
        run(
            crate::util::cargo()
                .args([
                    "install",
                    "--quiet",
                    "--locked",
                    "--version",
                    CARGO_ZIGBUILD_VERSION,
                    "--root",
                ])
                .arg(&tools)
                .arg("cargo-zigbuild")
                // Its own build, not in the project's target directory.
                .env_remove("CARGO_TARGET_DIR"),
            "cargo install cargo-zigbuild",
        )?;
    }
    Ok(Zig { zig, tools_bin })
}

/// The zig executable inside the venv's `ziglang` package (the wheel installs no script for it).
fn zig_binary(venv: &Path) -> anyhow::Result<PathBuf> {
    let lib = venv.join("lib");
    let Ok(entries) = std::fs::read_dir(&lib) else {
        return Ok(lib.join("python3/site-packages/ziglang/zig"));
    };
    let python_dir = entries.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
    });
    Ok(python_dir
        .unwrap_or_else(|| lib.join("python3"))
        .join("site-packages/ziglang/zig"))
}
