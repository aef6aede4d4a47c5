//! `cargo xtask install`: puts a release build into Terraform's implicit local
//! mirror, so `source = "terraform.local/vantage/vantage"` works with a plain
//! `terraform init`, offline.

use std::path::Path;

use anyhow::Context;

use crate::util::{step, terraform_platform};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn run_install(root: &Path, as_vantage_sh: bool) -> anyhow::Result<()> {
    let target = crate::release::choose(root);
    step(&format!("building the provider (release, {})", target.label()));
    let built = crate::release::build_provider(root, &target, &crate::release::build_dir(root))?;
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let mut sources = vec!["terraform.local/vantage/vantage"];
    if as_vantage_sh {
        sources.push("registry.terraform.io/vantage-sh/vantage");
    }
    for source in &sources {
        let dir = Path::new(&home)
            .join(".terraform.d/plugins")
            .join(source)
            .join(VERSION)
            .join(terraform_platform());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dest = dir.join(format!("terraform-provider-vantage_v{VERSION}"));
        std::fs::copy(&built, &dest).with_context(|| format!("copying to {}", dest.display()))?;
        step(&format!("installed {}", dest.display()));
    }
    eprintln!(
        "Use it with:\n  terraform {{\n    required_providers {{\n      vantage = {{ source = \"terraform.local/vantage/vantage\", version = \"{VERSION}\" }}\n    }}\n  }}\nthen `terraform init`."
    );
    if as_vantage_sh {
        eprintln!(
            "A configuration naming `source = \"vantage-sh/vantage\"` now installs this build offline (version {VERSION}); \
             `terraform init -upgrade` after a configuration's lock file names another version."
        );
    }
    Ok(())
}
