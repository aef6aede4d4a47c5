//! hashicorp/aws, the provider users run beside or instead of this one, in a
//! Terraform filesystem mirror of the machine image
//! (`<mirror>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/<binary>`).
//! Found here once for the acceptance tests and `cargo xtask bench`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The release the machine image carries.
pub const VERSION: &str = "5.100.0";

/// Names a mirror root to use instead of searching.
pub const MIRROR_ENV: &str = "VANTAGE_ACC_AWS_PROVIDER_MIRROR";

/// The mirror directory of the release, below a mirror root.
pub const MIRROR_PATH: &str = "registry.terraform.io/hashicorp/aws/5.100.0";

/// The executable's name in the mirror.
pub fn binary_name() -> String {
    format!("terraform-provider-aws_v{VERSION}_x5")
}

fn holds_it(mirror: &Path, platform: &str) -> bool {
    mirror.join(MIRROR_PATH).join(platform).join(binary_name()).is_file()
}

/// The root of a filesystem mirror holding hashicorp/aws for `platform`
/// (`linux_amd64`): `$VANTAGE_ACC_AWS_PROVIDER_MIRROR`, else the usual plugin
/// directories, else wherever `find` sees the binary on this filesystem; or
/// why there is none and how to make one.
pub fn find_mirror(platform: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(MIRROR_ENV).map(PathBuf::from) {
        return if holds_it(&dir, platform) {
            Ok(dir)
        } else {
            Err(format!(
                "{MIRROR_ENV}={} holds no {MIRROR_PATH}/{platform}/{}",
                dir.display(),
                binary_name()
            ))
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
    if let Some(dir) = candidates.into_iter().find(|d| holds_it(d, platform)) {
        return Ok(dir);
    }
    let found = Command::new("find")
        .args(["/", "-xdev", "-name", &binary_name(), "-path", "*/hashicorp/aws/*"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                // The binary sits five levels below the mirror root.
                .filter_map(|bin| Path::new(bin).ancestors().nth(5).map(Path::to_path_buf))
                .find(|dir| holds_it(dir, platform))
        });
    found.ok_or_else(|| {
        format!(
            "hashicorp/aws {VERSION} was not found in a filesystem mirror. Make one on a machine with \
             internet access (`terraform providers mirror -platform={platform} <dir>` in a configuration \
             requiring hashicorp/aws = \"{VERSION}\"), copy it here and set {MIRROR_ENV}=<dir>"
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mirror_holds_the_binary_five_levels_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        let platform = dir.path().join(super::MIRROR_PATH).join("linux_amd64");
        std::fs::create_dir_all(&platform).expect("mkdir");
        assert!(!super::holds_it(dir.path(), "linux_amd64"));
        std::fs::write(platform.join(super::binary_name()), b"").expect("write");
        assert!(super::holds_it(dir.path(), "linux_amd64"));
        assert!(super::MIRROR_PATH.ends_with(super::VERSION));
    }
}
