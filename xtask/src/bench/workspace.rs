//! One terraform working directory per measured configuration, wired to the
//! devstack, and the measurement of one terraform run in it: wall time, CPU of
//! terraform / providers / devstack, provider memory and devstack requests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::procs::{self, Sampler, Usage};

pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// What every workspace of a run shares: the providers and the devstack.
pub struct World<'a> {
    /// The directory holding our release provider.
    pub bin_dir: PathBuf,
    /// The root of the filesystem mirror holding hashicorp/aws, when found.
    pub aws_mirror: Option<PathBuf>,
    pub devstack: &'a crate::devstack::Running,
    pub usage_file: PathBuf,
}

/// Which providers a configuration needs, which decides how Terraform finds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Providers {
    /// Only `terraform_data`: no plugin at all.
    Builtin,
    /// Ours through `dev_overrides` (no `terraform init`).
    Ours,
    /// hashicorp/aws, with ours beside it when `with_ours`, both installed by
    /// `terraform init` from a mirror of this workspace.
    Aws { with_ours: bool },
}

pub struct Tf {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    providers: Providers,
}

/// One terraform run as measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub wall: f64,
    /// Terraform with the provider processes it waited for.
    pub cpu_total: f64,
    pub devstack_cpu: f64,
    pub requests: u64,
    pub providers: Usage,
}

impl Measured {
    pub fn terraform_cpu(&self) -> f64 {
        (self.cpu_total - self.providers.cpu_seconds()).max(0.0)
    }
}

/// Links `target` to `link`, creating the directory holding it.
fn link(target: &Path, link: &Path) -> anyhow::Result<()> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::os::unix::fs::symlink(target, link).with_context(|| format!("linking {}", link.display()))
}

impl Tf {
    pub fn new(world: &World, providers: Providers) -> anyhow::Result<Tf> {
        let dir = tempfile::Builder::new().prefix("vantage-bench-").tempdir()?;
        let rc = dir.path().join("terraform.rc");
        let installation = match providers {
            Providers::Builtin | Providers::Ours => format!(
                "  dev_overrides {{\n    \"terraform.local/vantage/vantage\" = \"{}\"\n  }}\n  direct {{}}\n",
                world.bin_dir.display()
            ),
            Providers::Aws { with_ours } => {
                let source = world
                    .aws_mirror
                    .as_deref()
                    .context("hashicorp/aws is needed for this measure and was not found")?;
                // Terraform's walk of a mirror follows links to files, not to directories.
                let mirror = dir.path().join(".mirror");
                let platform = format!("{}/{}", super::peers::AWS_PATH, crate::util::terraform_platform());
                let binary = super::peers::aws_binary_name();
                link(
                    &source.join(&platform).join(&binary),
                    &mirror.join(&platform).join(&binary),
                )?;
                if with_ours {
                    let version = crate::install::VERSION;
                    link(
                        &world.bin_dir.join("terraform-provider-vantage"),
                        &mirror
                            .join("terraform.local/vantage/vantage")
                            .join(version)
                            .join(crate::util::terraform_platform())
                            .join(format!("terraform-provider-vantage_v{version}")),
                    )?;
                }
                format!("  filesystem_mirror {{\n    path = \"{}\"\n  }}\n", mirror.display())
            }
        };
        std::fs::write(&rc, format!("provider_installation {{\n{installation}}}\n"))?;
        let ready = &world.devstack.ready;
        let env = vec![
            ("TF_CLI_CONFIG_FILE".into(), rc.display().to_string()),
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("VANTAGE_HOST".into(), ready.vantage_url.clone()),
            ("VANTAGE_API_TOKEN".into(), ready.token.clone()),
            ("AWS_ENDPOINT_URL".into(), ready.aws_url.clone()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("TF_PLUGIN_USAGE_FILE".into(), world.usage_file.display().to_string()),
        ];
        Ok(Tf { dir, env, providers })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `main.tf`: `required_providers` for what this workspace uses, then `body`.
    pub fn config(&self, body: &str) -> anyhow::Result<()> {
        let required = match self.providers {
            Providers::Builtin => String::new(),
            Providers::Ours => "    vantage = { source = \"terraform.local/vantage/vantage\" }\n".to_string(),
            Providers::Aws { with_ours } => {
                let mut r = format!(
                    "    aws = {{\n      source  = \"hashicorp/aws\"\n      version = \"{}\"\n    }}\n",
                    super::peers::AWS_VERSION
                );
                if with_ours {
                    r.push_str("    vantage = { source = \"terraform.local/vantage/vantage\" }\n");
                }
                r
            }
        };
        let text = format!("terraform {{\n  required_providers {{\n{required}  }}\n}}\n{body}\n");
        std::fs::write(self.dir.path().join("main.tf"), text)?;
        Ok(())
    }

    /// Runs terraform with stdout and stderr in files of the workspace (a pipe
    /// nobody reads would stall a large plan); fails on a non-zero exit
    /// (except 2 for `plan -detailed-exitcode`).
    fn spawn_and_wait(&self, args: &[&str], sample: bool) -> anyhow::Result<(Duration, Usage)> {
        let out_path = self.dir.path().join("terraform.out");
        let err_path = self.dir.path().join("terraform.err");
        let mut cmd = Command::new("terraform");
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?);
        for key in ["TF_LOG", "AWS_PROFILE"] {
            cmd.env_remove(key);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let mut child = cmd.spawn().context("running terraform")?;
        let sampler = sample.then(|| Sampler::start(child.id(), Duration::from_millis(100)));
        let status = child.wait().context("waiting for terraform")?;
        let elapsed = start.elapsed();
        let sampled = sampler.map(Sampler::finish).unwrap_or_default();
        if !status.success() && status.code() != Some(2) {
            let tail = |p: &Path| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            };
            bail!(
                "terraform {} failed in {}:\n{}\n{}",
                args.join(" "),
                self.dir.path().display(),
                tail(&out_path),
                tail(&err_path)
            );
        }
        Ok((elapsed, sampled))
    }

    /// Runs terraform unmeasured; returns the wall time.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Duration> {
        self.spawn_and_wait(args, false).map(|(wall, _)| wall)
    }

    /// `terraform init` (a no-op for workspaces that need none).
    pub fn init(&self) -> anyhow::Result<Duration> {
        if matches!(self.providers, Providers::Aws { .. }) {
            self.run(&["init", "-input=false"])
        } else {
            Ok(Duration::ZERO)
        }
    }

    /// Runs terraform and measures it. Our provider's processes report
    /// themselves in the usage file; hashicorp/aws's are sampled.
    pub fn measure(&self, world: &World, args: &[&str]) -> anyhow::Result<Measured> {
        let _ = std::fs::remove_file(&world.usage_file);
        let requests_before = requests(&world.devstack.ready.admin_url)?;
        let (children, stack) = (crate::util::waited_children_cpu_seconds(), world.devstack.cpu_seconds());
        let sample = matches!(self.providers, Providers::Aws { .. });
        let (wall, sampled) = self.spawn_and_wait(args, sample)?;
        let cpu_total = crate::util::waited_children_cpu_seconds() - children;
        let devstack_cpu = world.devstack.cpu_seconds() - stack;
        let requests_after = requests(&world.devstack.ready.admin_url)?;
        // Ours (beside hashicorp/aws too) report exactly at exit; add those the
        // sampler saw that are not ours: the sampler cannot tell them apart by
        // name, so with ours present it counts only processes above ours in size.
        let mut providers = procs::read_usage_file(&world.usage_file);
        if sample {
            let ours_max = providers.max_peak_kb();
            providers.procs.extend(
                sampled
                    .procs
                    .into_iter()
                    .filter(|p| providers_are_distinct(p.peak_rss_kb, ours_max)),
            );
        }
        Ok(Measured {
            wall: wall.as_secs_f64(),
            cpu_total,
            devstack_cpu,
            requests: total_requests(&requests_after).saturating_sub(total_requests(&requests_before)),
            providers,
        })
    }
}

/// Whether a sampled process is not one of ours: ours stay under 64 MB (the
/// bench shows it), hashicorp/aws maps hundreds of MB before it answers.
fn providers_are_distinct(sampled_peak_kb: u64, ours_max_kb: u64) -> bool {
    sampled_peak_kb > (64 * 1024).max(ours_max_kb)
}

/// The devstack's request counts per service and operation.
pub fn requests(admin_url: &str) -> anyhow::Result<Value> {
    let response = reqwest::blocking::get(format!("{admin_url}/requests")).context("devstack request counts")?;
    Ok(response.json().unwrap_or(Value::Null))
}

/// Every request the devstack counted, Vantage and AWS.
pub fn total_requests(counts: &Value) -> u64 {
    ["vantage", "aws"]
        .iter()
        .filter_map(|service| counts[service].as_object())
        .flat_map(|map| map.values().filter_map(Value::as_u64))
        .sum()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn requests_sum_both_services() {
        let counts = json!({"vantage": {"GET /v1/x": 2}, "aws": {"iam:GetRole": 3, "s3:x": 1}, "other": {"x": 9}});
        assert_eq!(super::total_requests(&counts), 6);
        assert_eq!(super::total_requests(&json!(null)), 0);
    }

    #[test]
    fn sampled_processes_above_ours_are_theirs() {
        assert!(super::providers_are_distinct(500_000, 8_000));
        assert!(!super::providers_are_distinct(9_000, 8_000));
    }
}
