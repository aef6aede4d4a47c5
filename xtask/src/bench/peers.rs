//! hashicorp/aws, the provider users would pick instead: where the machine
//! image's filesystem mirror holds it (`../shared/reference/peers.md`), and its
//! provider block against the devstack.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const AWS_VERSION: &str = "5.100.0";
pub const AWS_PATH: &str = "registry.terraform.io/hashicorp/aws/5.100.0";

/// Set to a mirror root to skip the search (the acceptance tests read it too).
pub const MIRROR_ENV: &str = "VANTAGE_ACC_AWS_PROVIDER_MIRROR";

pub fn aws_binary_name() -> String {
    format!("terraform-provider-aws_v{AWS_VERSION}_x5")
}

fn holds_aws(mirror: &Path) -> bool {
    mirror
        .join(AWS_PATH)
        .join(crate::util::terraform_platform())
        .join(aws_binary_name())
        .is_file()
}

/// The mirror root holding hashicorp/aws, or why it is not there and how to get it.
pub fn find_mirror() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(MIRROR_ENV).map(PathBuf::from) {
        return if holds_aws(&dir) {
            Ok(dir)
        } else {
            Err(format!("{MIRROR_ENV}={} holds no {AWS_PATH}", dir.display()))
        };
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let candidates = [
        PathBuf::from("/opt/tf-plugins"),
        home.join(".terraform.d/plugins"),
        home.join(".local/share/terraform/plugins"),
        PathBuf::from("/usr/local/share/terraform/plugins"),
        PathBuf::from("/usr/share/terraform/plugins"),
    ];
    if let Some(dir) = candidates.into_iter().find(|d| holds_aws(d)) {
        return Ok(dir);
    }
    // `<mirror>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/<binary>`.
    let found = Command::new("find")
        .args(["/", "-xdev", "-name", &aws_binary_name(), "-path", "*/hashicorp/aws/*"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|bin| Path::new(bin).ancestors().nth(5).map(Path::to_path_buf))
                .find(|dir| holds_aws(dir))
        });
    found.ok_or_else(|| {
        format!(
            "hashicorp/aws {AWS_VERSION} was not found in a filesystem mirror. Make one on a machine with \
             internet access (`terraform providers mirror -platform=linux_amd64 <dir>` in a configuration \
             requiring hashicorp/aws = \"{AWS_VERSION}\"), copy it here and set {MIRROR_ENV}=<dir>"
        )
    })
}

/// hashicorp/aws against the devstack's AWS front door; in `account` through
/// AssumeRole when given (moto gives assumed credentials the role's account).
pub fn aws_provider_block(aws_url: &str, alias: Option<&str>, account: Option<&str>) -> String {
    let alias = alias.map(|a| format!("  alias = \"{a}\"\n")).unwrap_or_default();
    let assume = account
        .map(|a| format!("  assume_role {{\n    role_arn = \"{}\"\n  }}\n", role_in(a)))
        .unwrap_or_default();
    format!(
        r#"provider "aws" {{
{alias}  region                      = "us-east-1"
  access_key                  = "{key}"
  secret_key                  = "bench"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
{assume}  endpoints {{
    iam            = "{aws_url}"
    sts            = "{aws_url}"
    s3             = "{aws_url}"
    cur            = "{aws_url}"
    bcmdataexports = "{aws_url}"
    sns            = "{aws_url}"
  }}
}}
"#,
        key = super::workspace::ACCESS_KEY,
    )
}

/// The role a provider configuration assumes to act in `account`.
pub fn role_in(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/terraform")
}

/// The `i`-th bench account: 12 digits, apart from the devstack's default account.
pub fn account(i: usize) -> String {
    format!("3{:011}", 10_000 + i)
}

#[cfg(test)]
mod tests {
    #[test]
    fn accounts_have_twelve_digits_and_differ() {
        assert_eq!(super::account(0).len(), 12);
        assert_ne!(super::account(1), super::account(2));
    }

    #[test]
    fn the_aws_block_assumes_a_role_only_when_given_an_account() {
        let plain = super::aws_provider_block("http://127.0.0.1:1", None, None);
        assert!(!plain.contains("assume_role") && !plain.contains("alias"));
        let aliased = super::aws_provider_block("http://127.0.0.1:1", Some("a1"), Some("300000010001"));
        assert!(aliased.contains("alias = \"a1\""));
        assert!(aliased.contains("arn:aws:iam::300000010001:role/terraform"));
    }
}
