//! `cargo xtask demo`: the quickstart end to end against the devstack.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{output, run, step};

/// The AWS emulator behind the devstack's front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Aws {
    Moto,
    Localstack,
}

pub fn run_demo(root: &Path, aws: Aws) -> anyhow::Result<()> {
    crate::util::require_terraform()?;
    // LocalStack is declared before the devstack, so it is dropped (stopped) after it.
    let (moto_python, localstack) = match aws {
        Aws::Moto => (Some(crate::moto::ensure(root)?), None),
        Aws::Localstack => {
            let venv_python = crate::localstack::ensure(root)?;
            step("starting LocalStack (the AWS emulator behind the devstack)");
            (None, Some(crate::localstack::LocalStack::start(&venv_python)?))
        }
    };
    let bin_dir = crate::devstack::build_binaries(root)?;
    step("starting the devstack (local Vantage API + AWS emulator)");
    let upstream_args: Vec<&str> = match &localstack {
        Some(localstack) => vec!["--aws-upstream", &localstack.url],
        None => Vec::new(),
    };
    let devstack = crate::devstack::start(&bin_dir, moto_python.as_deref(), &upstream_args)?;
    let ready = devstack.ready.clone();
    eprintln!(
        "    Vantage API: {}\n    AWS:         {}\n    Admin:       {}",
        ready.vantage_url, ready.aws_url, ready.admin_url
    );
    if let Some(localstack) = &localstack {
        eprintln!(
            "    LocalStack:  {} (log {})",
            localstack.url,
            localstack.log_path().display()
        );
    }

    let work = tempfile::Builder::new().prefix("vantage-demo-").tempdir()?;
    let quickstart = root.join("examples/quickstart");
    for entry in std::fs::read_dir(&quickstart).context("examples/quickstart")? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "tf") {
            std::fs::copy(entry.path(), work.path().join(entry.file_name()))?;
        }
    }
    let cli_config = work.path().join("terraform.rc");
    std::fs::write(
        &cli_config,
        format!(
            "provider_installation {{\n  dev_overrides {{\n    \"terraform.local/vantage/vantage\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            bin_dir.display()
        ),
    )?;
    let terraform = |args: &[&str]| {
        let mut cmd = Command::new("terraform");
        cmd.args(args)
            .current_dir(work.path())
            .env("TF_CLI_CONFIG_FILE", &cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("VANTAGE_HOST", &devstack.ready.vantage_url)
            .env("VANTAGE_API_TOKEN", &devstack.ready.token)
            .env("AWS_ENDPOINT_URL", &devstack.ready.aws_url)
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "devstack")
            .env("AWS_REGION", "us-east-1")
            // The demo destroys what it built, report files included.
            .env("TF_VAR_cur_bucket_force_destroy", "true")
            .env_remove("AWS_PROFILE");
        cmd
    };

    step("terraform apply examples/quickstart");
    run(
        &mut terraform(&["apply", "-auto-approve", "-input=false", "-compact-warnings"]),
        "terraform apply",
    )?;

    // AWS billing delivers the first report file hours later; the devstack does it now.
    step("devstack delivers the first CUR file, as AWS billing would");
    let report = output(
        &mut terraform(&["output", "-raw", "cur_report"]),
        "terraform output cur_report",
    )?;
    let delivered = reqwest::blocking::Client::new()
        .post(format!("{}/deliver-cur", ready.admin_url))
        .json(&serde_json::json!({ "report_name": report.trim() }))
        .send()
        .context("devstack deliver-cur")?;
    if !delivered.status().is_success() {
        bail!("deliver-cur failed: {}", delivered.text().unwrap_or_default());
    }

    step("refreshing until Vantage reports the integration connected");
    let mut status = String::new();
    for _ in 0..10 {
        run(
            terraform(&[
                "apply",
                "-refresh-only",
                "-auto-approve",
                "-input=false",
                "-compact-warnings",
            ])
            .stdout(std::process::Stdio::null()),
            "terraform apply -refresh-only",
        )?;
        status = output(
            &mut terraform(&["output", "-raw", "integration_status"]),
            "terraform output",
        )?;
        eprintln!("    integration status: {}", status.trim());
        if status.trim() == "connected" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    if status.trim() != "connected" {
        bail!(
            "the integration did not reach `connected` (last status {:?})",
            status.trim()
        );
    }

    step("outputs");
    run(&mut terraform(&["output"]), "terraform output")?;

    step("terraform plan again: no changes expected");
    let status = terraform(&["plan", "-detailed-exitcode", "-input=false", "-compact-warnings"]).status()?;
    match status.code() {
        Some(0) => eprintln!("    no changes: Terraform and the real objects agree"),
        Some(2) => bail!("the second plan wants changes: that is a bug (perpetual diff)"),
        _ => bail!("terraform plan failed"),
    }

    step("terraform destroy");
    run(
        &mut terraform(&["destroy", "-auto-approve", "-input=false", "-compact-warnings"]),
        "terraform destroy",
    )?;
    let state = output(&mut terraform(&["state", "list"]), "terraform state list")?;
    if !state.trim().is_empty() {
        bail!("objects left in state after destroy:\n{state}");
    }
    let left: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/v2/integrations?provider=aws", ready.vantage_url))
        .bearer_auth(&ready.token)
        .send()
        .and_then(|r| r.json())
        .context("listing Vantage integrations")?;
    let count = left["integrations"].as_array().map_or(0, Vec::len);
    if count != 0 {
        bail!("{count} integration(s) left registered in Vantage after destroy");
    }
    eprintln!("    nothing left: no state, no Vantage integration");
    step("demo complete; stopping the devstack");
    Ok(())
}
