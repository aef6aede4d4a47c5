//! The AWS emulator the devstack forwards to: moto server, from the project's
//! own virtualenv under the target directory when python3 lacks it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{run, step, target_dir};

/// The moto release the project is tested with.
const MOTO_REQUIREMENT: &str = "moto[server]==5.2.1";

fn has_moto(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import moto, moto.server, flask"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Returns a python interpreter that can run `moto.server`, creating
/// `<target>/devstack-venv` with moto in it if needed.
pub fn ensure(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = target_dir(root).join("devstack-venv");
    let venv_python = venv.join("bin").join("python");
    if has_moto(&venv_python) {
        return Ok(venv_python);
    }
    let system = PathBuf::from("python3");
    if has_moto(&system) {
        return Ok(system);
    }
    step(&format!("installing {MOTO_REQUIREMENT} into {}", venv.display()));
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv (Python 3 with the venv module is required for the local AWS emulator)",
    )?;
    run(
        Command::new(&venv_python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
        ]),
        "pip install moto",
    )?;
    if !has_moto(&venv_python) {
        anyhow::bail!("moto was installed into {} but cannot be imported", venv.display());
    }
    Ok(venv_python)
}
