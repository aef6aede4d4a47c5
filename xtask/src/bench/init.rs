//! Issue 18, part 3: `terraform init` with each provider installed from a
//! filesystem mirror, as users without registry access install them: ours
//! from the zip `cargo xtask release` makes (packed layout), hashicorp/aws
//! from the machine image's mirror (unpacked layout), and a configuration
//! with no provider as the floor.

use std::path::Path;

use super::report::{self, Row};
use super::side_by_side::Tool;
use super::workspace::{Measured, Providers, Tf, World};

const OURS_SOURCE: &str = "terraform.local/vantage/vantage";

/// A workspace whose CLI config installs ours from a mirror holding only its release zip.
fn ours_from_zip(world: &World, binary: &Path) -> anyhow::Result<Tf> {
    let tf = Tf::new(world, Providers::Ours)?;
    let mirror = tf.path().join(".zip-mirror");
    let (name, zip) = crate::release::registry_zip(&std::fs::read(binary)?, &crate::util::terraform_platform())?;
    let dir = mirror.join(OURS_SOURCE);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), zip)?;
    std::fs::write(
        tf.path().join("terraform.rc"),
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            mirror.display()
        ),
    )?;
    tf.config("")?;
    Ok(tf)
}

/// Runs `terraform init` `reps` times from scratch (no `.terraform`, no lock file).
fn init_runs(world: &World, tf: &Tf, reps: usize) -> anyhow::Result<Vec<Measured>> {
    let mut runs = Vec::new();
    for _ in 0..reps {
        let _ = std::fs::remove_dir_all(tf.path().join(".terraform"));
        let _ = std::fs::remove_file(tf.path().join(".terraform.lock.hcl"));
        runs.push(tf.measure(world, &["init", "-input=false"])?);
    }
    Ok(runs)
}

pub fn run(world: &World, binary: &Path, reps: usize, with_aws: bool) -> anyhow::Result<(serde_json::Value, Row)> {
    crate::util::step("terraform init from a filesystem mirror");
    let ours = init_runs(world, &ours_from_zip(world, binary)?, reps)?;
    let floor_tf = Tf::new(world, Providers::Builtin)?;
    floor_tf.config("")?;
    let floor = init_runs(world, &floor_tf, reps)?;
    let aws = if with_aws {
        let tf = Tf::new(world, Tool::Aws.providers())?;
        tf.config("")?;
        Some(init_runs(world, &tf, reps)?)
    } else {
        None
    };
    let row = Row {
        job: "terraform init, provider from a filesystem mirror".into(),
        unit: "s",
        ours: report::wall(&ours),
        aws: aws.as_deref().and_then(report::wall),
        floor: report::wall(&floor),
    };
    report::print_row(&row);
    let json = serde_json::json!({
        report::OURS: report::runs_json(&ours),
        report::AWS: aws.as_deref().map(report::runs_json),
        report::FLOOR: report::runs_json(&floor),
    });
    Ok((json, row))
}
