//! The release provider binary that `install` ships and `bench` measures.
//!
//! On Linux x86_64 it is a static musl binary: Terraform starts a provider
//! process per configuration and per phase, and a static, position-dependent
//! binary maps no shared libraries and relocates nothing at start (measured in
//! ARCHITECTURE.md, "Process cost"). The musl target needs the Rust standard
//! library for it and a musl C compiler for ring and aws-lc; when
//! they cannot be had, the host target is built instead and the caller says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::util::{cargo, run, step};

/// The target directory of release builds (bench, the test's smoke step): its own, so a long release build does not hold the lock of
/// the directory day-to-day builds and tests use.
pub fn build_dir(root: &Path) -> PathBuf {
    crate::util::target_dir(root).join("bench").join("cargo-target")
}

/// go-plugin's handshake cookie for Terraform providers.
pub const COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

/// A client certificate like the one Terraform passes in PLUGIN_CLIENT_CERT
/// (self-signed P-521 CA), PEM.
pub fn terraform_like_client_cert() -> anyhow::Result<String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    Ok(params.self_signed(&key)?.pem())
}

/// The provider started the way Terraform starts it, stdout piped.
pub fn start_like_terraform(bin: &Path, client_cert: &str) -> std::io::Result<std::process::Child> {
    Command::new(bin)
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("PLUGIN_CLIENT_CERT", client_cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
}

/// Ends a provider the way Terraform's go-plugin does when it gives up on
/// one (SIGTERM, then SIGKILL): SIGKILL alone would leave its socket
/// directory behind in /tmp.
pub fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    for _ in 0..200 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `cargo xtask test`'s last step: the binary `install` ships builds, starts as
/// Terraform starts it, prints a protocol 6 handshake line and, when static,
/// maps no shared library.
pub fn smoke_test(root: &Path) -> anyhow::Result<()> {
    use std::io::BufRead;
    let target = choose(root);
    let bin = build_provider(root, &target, &build_dir(root))?.join("terraform-provider-vantage");
    let mut child = start_like_terraform(&bin, &terraform_like_client_cert()?)?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("provider stdout")?).read_line(&mut line)?;
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap_or_default();
    stop(child);
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    if !matches!(fields.as_slice(), ["1", "6", "unix", _, "grpc", cert] if !cert.is_empty()) {
        bail!(
            "the release provider ({}) printed {line:?}, not a handshake line",
            target.label()
        );
    }
    let is_library = |line: &&str| {
        let file = line.rsplit('/').next().unwrap_or_default();
        file.ends_with(".so") || file.contains(".so.")
    };
    if target.triple.is_some()
        && let Some(library) = maps.lines().find(is_library)
    {
        bail!("the static release provider maps a shared library: {library}");
    }
    eprintln!("    {} binary: handshake line and no shared libraries", target.label());
    Ok(())
}

pub const STATIC_TARGET: &str = "x86_64-unknown-linux-musl";

/// Which target a release build uses, and where its binaries land.
#[derive(Debug, Clone)]
pub struct ReleaseTarget {
    /// `--target` for cargo; `None` for the host.
    pub triple: Option<&'static str>,
    /// Why the static target was not used, when it was not.
    pub fallback_reason: Option<String>,
}

impl ReleaseTarget {
    pub fn bin_dir(&self, target_dir: &Path) -> PathBuf {
        match self.triple {
            Some(triple) => target_dir.join(triple).join("release"),
            None => target_dir.join("release"),
        }
    }

    pub fn label(&self) -> String {
        match self.triple {
            Some(triple) => format!("{triple} (static)"),
            None => "host target".to_string(),
        }
    }

    /// `cargo build --release` arguments for the provider package.
    pub fn build_args(&self) -> Vec<&'static str> {
        let mut args = vec!["build", "--release", "-p", "terraform-provider-vantage"];
        if let Some(triple) = self.triple {
            args.extend(["--target", triple]);
        }
        args
    }
}

/// Whether a command runs and exits 0 (its output discarded).
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn has_rust_target(triple: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == triple))
}

fn has_musl_gcc() -> bool {
    succeeds(Command::new("musl-gcc").arg("--version"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

static SYSTEM_PACKAGES_ALLOWED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set from `--install-system-packages`: only then may a task run apt-get.
pub fn allow_system_packages(allowed: bool) {
    SYSTEM_PACKAGES_ALLOWED.store(allowed, std::sync::atomic::Ordering::Relaxed);
}

/// Installs a Debian package when the caller asked for it
/// (`--install-system-packages`) and runs as root with apt-get; otherwise
/// says what is missing and how to get it.
pub fn apt_install(package: &str, why: &str) {
    let allowed = SYSTEM_PACKAGES_ALLOWED.load(std::sync::atomic::Ordering::Relaxed);
    if allowed && is_root() && succeeds(Command::new("apt-get").arg("--version")) {
        step(&format!("apt-get install {package} ({why})"));
        let _ = run(
            Command::new("apt-get")
                .args(["install", "-y", "-q", package])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            &format!("apt-get install {package}"),
        );
    } else {
        eprintln!(
            "    {package} is missing ({why}): install it with `apt-get install {package}`, \
             or rerun with `cargo xtask --install-system-packages ...`"
        );
    }
}

/// Picks the release target, adding what the static build needs when it can
/// (`rustup target add`; Debian's `musl-tools` only with `--install-system-packages`).
pub fn choose(root: &Path) -> ReleaseTarget {
    let host = |reason: String| ReleaseTarget {
        triple: None,
        fallback_reason: Some(reason),
    };
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return ReleaseTarget {
            triple: None,
            fallback_reason: None,
        };
    }
    if !has_rust_target(STATIC_TARGET) {
        step(&format!("rustup target add {STATIC_TARGET}"));
        if !succeeds(
            Command::new("rustup")
                .args(["target", "add", STATIC_TARGET])
                .current_dir(root),
        ) {
            return host(format!("`rustup target add {STATIC_TARGET}` failed"));
        }
    }
    if !has_musl_gcc() {
        apt_install("musl-tools", "a musl C compiler for ring and aws-lc");
        if !has_musl_gcc() {
            return host("no musl-gcc (install musl-tools)".to_string());
        }
    }
    ReleaseTarget {
        triple: Some(STATIC_TARGET),
        fallback_reason: None,
    }
}

/// Builds the release devstack for the host into `target_dir`; returns the
/// directory holding it.
pub fn build_devstack(root: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    run(
        cargo()
            .args(["build", "--release", "-p", "vantage-devstack"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(root),
        "cargo build --release (devstack)",
    )?;
    Ok(target_dir.join("release"))
}

/// Builds the release provider into `target_dir`; returns the directory holding it.
pub fn build_provider(root: &Path, target: &ReleaseTarget, target_dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(reason) = &target.fallback_reason {
        eprintln!("    building for the host target instead of {STATIC_TARGET}: {reason}");
    }
    run(
        cargo()
            .args(target.build_args())
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(root),
        "cargo build --release (provider)",
    )?;
    Ok(target.bin_dir(target_dir))
}

/// `cargo xtask release` options.
#[derive(Debug)]
pub struct ReleaseOptions {
    /// Must equal the workspace version when given: the binary reports that one.
    pub version: Option<String>,
    pub gpg_key: Option<String>,
    pub out: Option<PathBuf>,
}

/// Platforms a registry release of a provider usually has that this machine
/// cannot build, and why (ring and aws-lc need a C compiler for the target).
fn unbuildable_platforms(built: &str) -> Vec<(&'static str, String)> {
    let needs = |compiler: &str, what: &str| {
        if succeeds(Command::new(compiler).arg("--version")) {
            format!("cross builds are not wired into xtask yet ({compiler} is present)")
        } else {
            format!("ring and aws-lc need a C cross compiler for {what} ({compiler}), not installed here")
        }
    };
    [
        ("linux_amd64", needs("musl-gcc", "x86_64 musl")),
        ("linux_arm64", needs("aarch64-linux-musl-gcc", "aarch64 musl")),
        ("windows_amd64", needs("x86_64-w64-mingw32-gcc", "Windows (mingw-w64)")),
        (
            "darwin_amd64",
            "needs Apple's SDK and linker (build on macOS: `cargo xtask release` there)".to_string(),
        ),
        (
            "darwin_arm64",
            "needs Apple's SDK and linker (build on macOS: `cargo xtask release` there)".to_string(),
        ),
    ]
    .into_iter()
    .filter(|(platform, _)| *platform != built)
    .collect()
}

/// Builds the release provider for this platform and writes what a registry
/// serves: the zip, SHA256SUMS (signed with `gpg_key` when given) and the manifest.
pub fn run_release(root: &Path, options: ReleaseOptions) -> anyhow::Result<()> {
    let version = crate::install::VERSION;
    if let Some(asked) = &options.version
        && asked != version
    {
        bail!(
            "--version {asked} differs from the workspace version {version}: set `version` under \
             [workspace.package] in Cargo.toml (the one place it lives, and what the provider \
             reports), then release"
        );
    }
    let out = options
        .out
        .unwrap_or_else(|| crate::util::target_dir(root).join("dist").join(version));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let target = choose(root);
    step(&format!("building the provider (release, {})", target.label()));
    let bin = build_provider(root, &target, &build_dir(root))?.join("terraform-provider-vantage");
    let binary = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    let platform = crate::util::terraform_platform();

    let (zip_name, zip) = registry_zip(&binary)?;
    let entry = provider_packaging::binary_name(version);
    write(&out.join(&zip_name), &zip)?;
    let sums_name = provider_packaging::sha256sums_name(version);
    let sums = provider_packaging::sha256sums(&[(zip_name.clone(), zip.clone())]);
    write(&out.join(&sums_name), sums.as_bytes())?;
    write(
        &out.join(provider_packaging::manifest_name(version)),
        provider_packaging::MANIFEST_JSON.as_bytes(),
    )?;
    if let Some(key) = &options.gpg_key {
        let sig = out.join(format!("{sums_name}.sig"));
        step(&format!("signing {sums_name} with {key}"));
        run(
            Command::new("gpg")
                .args(["--batch", "--yes", "--local-user", key, "--detach-sign", "--output"])
                .arg(&sig)
                .arg(out.join(&sums_name)),
            "gpg --detach-sign",
        )?;
    }

    step(&format!("release {version} in {}", out.display()));
    for entry in std::fs::read_dir(&out)?.flatten() {
        eprintln!("    {}", entry.file_name().to_string_lossy());
    }
    eprintln!(
        "    {zip_name}: {} ({}, {}), {}",
        provider_packaging::zh_hash(&zip),
        provider_packaging::h1_hash_of_package(&entry, &binary),
        target.label(),
        if target.triple.is_some() {
            "static"
        } else {
            "dynamically linked against the host's libc"
        }
    );
    if options.gpg_key.is_none() {
        eprintln!("    not signed: pass --gpg-key <id> for {sums_name}.sig");
    }
    eprintln!("    not built on this machine:");
    for (platform, why) in unbuildable_platforms(&platform) {
        eprintln!("      {platform}: {why}");
    }
    Ok(())
}

/// The registry zip of `binary` for this platform, and its file name: what
/// `release` writes and what `bench` installs from a filesystem mirror.
pub fn registry_zip(binary: &[u8]) -> anyhow::Result<(String, Vec<u8>)> {
    let version = crate::install::VERSION;
    let name = provider_packaging::zip_name(version, &crate::util::terraform_platform());
    let zip = provider_packaging::zip_binary(&provider_packaging::binary_name(version), binary)?;
    Ok((name, zip))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
