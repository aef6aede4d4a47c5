//! The tools users run today, beside this provider: hashicorp/aws from the
//! machine image's filesystem mirror, and this provider's binary under
//! Vantage's own source address (`vantage-sh/vantage`), standing in for the
//! official provider the way a user's configuration names it.
//!
//! A missing hashicorp/aws fails the test with what to install, never skips it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::aws::{ACCESS_KEY, REGION, SECRET_KEY};
use crate::{Devstack, Run, SOURCE_ADDRESS, Workspace, binaries_dir};

/// The hashicorp/aws release the machine image carries.
pub const AWS_PROVIDER_VERSION: &str = "5.100.0";

/// Vantage's official provider, as `moved` blocks and state name it.
pub const VANTAGE_OFFICIAL_SOURCE: &str = "registry.terraform.io/vantage-sh/vantage";

const MIRROR_ENV: &str = "VANTAGE_ACC_AWS_PROVIDER_MIRROR";

/// `<mirror>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/<binary>` sits this deep.
const MIRROR_DEPTH: usize = 5;

fn binary_name() -> String {
    format!("terraform-provider-aws_v{AWS_PROVIDER_VERSION}_x5")
}

fn holds_aws_provider(mirror: &Path) -> bool {
    mirror
        .join("registry.terraform.io/hashicorp/aws")
        .join(AWS_PROVIDER_VERSION)
        .join("linux_amd64")
        .join(binary_name())
        .is_file()
}

/// The root of a filesystem mirror holding hashicorp/aws: `$VANTAGE_ACC_AWS_PROVIDER_MIRROR`,
/// else the usual plugin directories, else wherever `find` sees the binary on this filesystem.
pub fn aws_provider_mirror() -> &'static Path {
    static MIRROR: OnceLock<PathBuf> = OnceLock::new();
    MIRROR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(MIRROR_ENV) {
            let dir = PathBuf::from(dir);
            assert!(
                holds_aws_provider(&dir),
                "{MIRROR_ENV}={} holds no registry.terraform.io/hashicorp/aws/{AWS_PROVIDER_VERSION}/linux_amd64/{}",
                dir.display(),
                binary_name()
            );
            return dir;
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        let candidates = [
            PathBuf::from("/opt/tf-plugins"),
            home.join(".terraform.d/plugins"),
            home.join(".local/share/terraform/plugins"),
            PathBuf::from("/usr/local/share/terraform/plugins"),
            PathBuf::from("/usr/share/terraform/plugins"),
        ];
        if let Some(dir) = candidates.into_iter().find(|d| holds_aws_provider(d)) {
            return dir;
        }
        let found = Command::new("find")
            .args(["/", "-xdev", "-name", &binary_name(), "-path", "*/hashicorp/aws/*"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .and_then(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(PathBuf::from)
                    .find_map(|bin| bin.ancestors().nth(MIRROR_DEPTH).map(Path::to_path_buf))
            });
        match found {
            Some(dir) if holds_aws_provider(&dir) => dir,
            _ => panic!(
                "hashicorp/aws {AWS_PROVIDER_VERSION} is required for the tests that run it beside this provider, \
                 and no filesystem mirror holding it was found. Make one on a machine with internet access \
                 (`terraform providers mirror -platform=linux_amd64 <dir>` in a configuration requiring \
                 hashicorp/aws = \"{AWS_PROVIDER_VERSION}\"), copy it here and set {MIRROR_ENV}=<dir>."
            ),
        }
    })
}

/// A workspace on `ds` whose Terraform installs hashicorp/aws and this provider (under both
/// its own source address and Vantage's, `vantage-sh/vantage`) from a filesystem mirror, as a
/// user's `terraform init` installs registry providers. Run [`init`] after writing the
/// configuration. (`dev_overrides` would not do: `terraform init` still asks the registry for
/// an overridden provider.)
pub fn workspace(ds: &Devstack, name: &str) -> Workspace {
    let ws = Workspace::on(ds, name);
    let mirror = ws.path().join(".mirror");
    // Terraform's walk of a mirror follows links to files, not to directories.
    let platform = "registry.terraform.io/hashicorp/aws/".to_string() + AWS_PROVIDER_VERSION + "/linux_amd64";
    std::fs::create_dir_all(mirror.join(&platform)).expect("creating the mirror");
    std::os::unix::fs::symlink(
        aws_provider_mirror().join(&platform).join(binary_name()),
        mirror.join(&platform).join(binary_name()),
    )
    .expect("linking hashicorp/aws into the mirror");
    let version = env!("CARGO_PKG_VERSION");
    for source in [SOURCE_ADDRESS, VANTAGE_OFFICIAL_SOURCE] {
        let dir = mirror.join(source).join(version).join("linux_amd64");
        std::fs::create_dir_all(&dir).expect("creating the mirror");
        std::os::unix::fs::symlink(
            binaries_dir().join("terraform-provider-vantage"),
            dir.join(format!("terraform-provider-vantage_v{version}")),
        )
        .expect("linking this provider into the mirror");
    }
    let cli_config = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
        mirror.display()
    );
    std::fs::write(ws.path().join("terraform.rc"), cli_config).expect("writing the CLI config");
    ws
}

/// `terraform init`: installs the providers the configuration names from the mirror.
pub fn init(ws: &Workspace) -> Run {
    ws.run(&["init", "-no-color", "-input=false"])
}

/// Writes `main.tf` with `required_providers` naming hashicorp/aws and `vantage` at `vantage_source`.
pub fn config(ws: &Workspace, vantage_source: &str, body: &str) {
    let text = format!(
        "terraform {{\n  required_providers {{\n    aws = {{\n      source  = \"hashicorp/aws\"\n      \
         version = \"{AWS_PROVIDER_VERSION}\"\n    }}\n    vantage = {{ source = \"{vantage_source}\" }}\n  }}\n}}\n\n{body}\n"
    );
    std::fs::write(ws.path().join("main.tf"), text).expect("writing main.tf");
}

/// hashicorp/aws pointed at the devstack's AWS front door, acting in `account` through
/// AssumeRole like [`crate::aws_billing::provider_block`] does for this provider.
pub fn aws_provider_block(ds: &Devstack, account: &str) -> String {
    let url = &ds.info.aws_url;
    let role = crate::aws_billing::role_in(account);
    format!(
        r#"provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "{ACCESS_KEY}"
  secret_key                  = "{SECRET_KEY}"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
  assume_role {{
    role_arn = "{role}"
  }}
  endpoints {{
    iam            = "{url}"
    sts            = "{url}"
    s3             = "{url}"
    cur            = "{url}"
    bcmdataexports = "{url}"
    sns            = "{url}"
  }}
}}
"#
    )
}
