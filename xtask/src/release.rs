//! The release provider binaries: what `release` packages, `install` ships and `bench` measures.
//!
//! On Linux they are static musl binaries: Terraform starts a provider process per configuration
//! and per phase, and a static, position-dependent binary maps no shared libraries and relocates
//! nothing at start (measured in ARCHITECTURE.md, "Process cost"); one binary also runs on any
//! Linux, whatever its libc. zig (`zig.rs`) is the C compiler and linker for every shipped target.
//! When zig cannot be had, the host target is built instead and the caller says so.
//!
//! The builds are reproducible: the paths a binary would carry (the cargo home's sources in
//! panic locations and tracing metadata, the target directory in generated code's file names) are
//! remapped to fixed ones, our crates' own paths are relative already, and `cargo xtask test`
//! builds the host platform a second time from a copy of the sources elsewhere and compares.

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

/// Where [`test_release`] writes the release.
pub fn test_release_dir(root: &Path) -> PathBuf {
    crate::util::target_dir(root).join("test-release")
}

/// The release target of the platform we run on.
fn host_target(root: &Path) -> anyhow::Result<ReleaseTarget> {
    let host = crate::util::terraform_platform();
    let Some(platform) = SHIPPED.iter().find(|p| p.terraform == host) else {
        bail!("the release test runs on a platform we ship, not on {host}");
    };
    prepare(root, *platform)
}

/// `cargo xtask test`'s release step: the host platform's release as `release` writes it, into
/// `<target>/test-release` (returned, for the mirror test to install). Its binary starts as
/// Terraform starts it, prints a protocol 6 handshake line and maps no shared library; and,
/// with `reproducibility`, the same sources built from another directory give the same bytes
/// (else [`test_reproducible`] checks that later).
pub fn test_release(root: &Path, reproducibility: bool) -> anyhow::Result<PathBuf> {
    let target = host_target(root)?;
    let out = test_release_dir(root);
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("emptying {}", out.display()))?;
    }
    // Signed as a release is, with a throwaway key, and verified as a registry would.
    let keyring = tempfile::Builder::new().prefix("gnupg").tempdir_in("/tmp")?;
    let signer = Signer::throwaway(keyring.path())?;
    let built = write_release(root, std::slice::from_ref(&target), &out, Some(&signer));
    let verified = built.and_then(|built| signer.verify(&out).map(|()| built));
    signer.stop_agent();
    let built = verified?;
    let bin = target.binary(&build_dir(root));
    for line in &built {
        eprintln!("{line}");
    }
    eprintln!("    SHA256SUMS signed with a throwaway key and verified with gpg --verify");
    smoke_test(&target, &bin)?;
    if reproducibility {
        check_reproducible(root, &target, &bin)?;
    }
    Ok(out)
}

/// The reproducibility half of [`test_release`], run after it: the binary in the release it
/// wrote against the same sources built again from another directory.
pub fn test_reproducible(root: &Path) -> anyhow::Result<()> {
    let target = host_target(root)?;
    let zip = test_release_dir(root).join(provider_packaging::zip_name(crate::install::VERSION, &target.platform));
    let bytes = std::fs::read(&zip)
        .with_context(|| format!("reading {} (written by `cargo xtask test-release`)", zip.display()))?;
    let (_, binary) = provider_packaging::read_zip_entry(&bytes)?;
    let first = tempfile::NamedTempFile::new()?;
    std::fs::write(first.path(), binary)?;
    check_reproducible(root, &target, first.path())
}

fn smoke_test(target: &ReleaseTarget, bin: &Path) -> anyhow::Result<()> {
    use std::io::BufRead;
    let mut child = start_like_terraform(bin, &terraform_like_client_cert()?)?;
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
    if target.is_static()
        && let Some(library) = maps.lines().find(is_library)
    {
        bail!("the static release provider maps a shared library: {library}");
    }
    eprintln!("    {} binary: handshake line and no shared libraries", target.label());
    let reported = crate::util::output(
        Command::new(bin).arg("--version"),
        "terraform-provider-vantage --version",
    )?;
    let expected = format!("terraform-provider-vantage {}", crate::install::VERSION);
    if reported.trim() != expected {
        bail!("the release provider reports {:?}, not {expected:?}", reported.trim());
    }
    eprintln!("    --version: {expected}");
    Ok(())
}

/// Builds `target` again from a copy of the sources in another directory (the same target
/// directory, so only our own crates are compiled again) and fails unless the binary is
/// byte-identical to `first`.
fn check_reproducible(root: &Path, target: &ReleaseTarget, first: &Path) -> anyhow::Result<()> {
    if target.zig.is_none() {
        bail!(
            "the reproducibility check needs the zig build ({}); the host-target fallback is not \
             reproducible across machines",
            target.fallback_reason.as_deref().unwrap_or("zig is missing")
        );
    }
    let first_bytes = std::fs::read(first).with_context(|| format!("reading {}", first.display()))?;
    let copy = crate::util::target_dir(root).join("reproducibility-checkout");
    copy_sources(root, &copy)?;
    step(&format!(
        "the same release build from {} (reproducibility)",
        copy.display()
    ));
    let second = build_provider(&copy, target, &build_dir(root))?;
    let second_bytes = std::fs::read(&second).with_context(|| format!("reading {}", second.display()))?;
    if first_bytes != second_bytes {
        let kept = build_dir(root).join("not-reproducible");
        std::fs::create_dir_all(&kept)?;
        std::fs::write(kept.join("first"), &first_bytes)?;
        std::fs::write(kept.join("second"), &second_bytes)?;
        let offset = first_bytes.iter().zip(&second_bytes).position(|(a, b)| a != b);
        bail!(
            "the release build is not reproducible: built from {} and from {}, the binaries differ \
             ({} and {} bytes, first difference at byte {}; sha256 {} and {}); both are kept in {} \
             for diffoscope",
            root.display(),
            copy.display(),
            first_bytes.len(),
            second_bytes.len(),
            offset.map_or_else(|| "end of the shorter".to_string(), |o| o.to_string()),
            provider_packaging::sha256_hex(&first_bytes),
            provider_packaging::sha256_hex(&second_bytes),
            kept.display()
        );
    }
    eprintln!(
        "    reproducible: built from {} and from {}, {} bytes, sha256 {} both times",
        root.display(),
        copy.display(),
        first_bytes.len(),
        provider_packaging::sha256_hex(&first_bytes)
    );
    Ok(())
}

/// The work tree's files as git sees them (tracked and new, ignored ones left out) copied into
/// `dest`, emptied first.
fn copy_sources(root: &Path, dest: &Path) -> anyhow::Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("emptying {}", dest.display()))?;
    }
    let listed = crate::util::output(
        Command::new("git")
            .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
            .current_dir(root),
        "git ls-files",
    )?;
    for file in listed.split('\0').filter(|f| !f.is_empty()) {
        let from = root.join(file);
        // Deleted in the work tree but still in the index: not part of what is built.
        if !from.is_file() {
            continue;
        }
        let to = dest.join(file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("copying {file}"))?;
    }
    Ok(())
}

/// A platform as Terraform names it (`<os>_<arch>`) and the Rust target that builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub terraform: &'static str,
    pub triple: &'static str,
}

/// What a release ships. musl for Linux: static, so one binary runs on any distribution.
pub const SHIPPED: [Platform; 3] = [
    Platform {
        terraform: "linux_amd64",
        triple: "x86_64-unknown-linux-musl",
    },
    Platform {
        terraform: "linux_arm64",
        triple: "aarch64-unknown-linux-musl",
    },
    Platform {
        terraform: "windows_amd64",
        triple: "x86_64-pc-windows-gnu",
    },
];

/// Platforms registry providers usually have that cannot be built here, and why.
pub const NOT_SHIPPED: [(&str, &str); 2] = [("darwin_amd64", DARWIN_REASON), ("darwin_arm64", DARWIN_REASON)];

const DARWIN_REASON: &str = "the AWS SDK's HTTP client reads the system's CA certificates through \
    rustls-native-certs, which links Apple's Security and CoreFoundation frameworks; zig carries \
    only libSystem, and Apple's SDK cannot be had from the registries this project installs from";

/// Which target a release build uses, and how it is built.
#[derive(Debug, Clone)]
pub struct ReleaseTarget {
    /// Terraform's name of the platform the binary runs on.
    pub platform: String,
    /// `--target` for cargo; `None` for the host.
    pub triple: Option<&'static str>,
    /// The C toolchain of a shipped platform's build; `None` for the host-target fallback.
    zig: Option<crate::zig::Zig>,
    /// Why the shipped target was not used, when it was not.
    pub fallback_reason: Option<String>,
}

impl ReleaseTarget {
    pub fn for_platform(platform: Platform, zig: crate::zig::Zig) -> ReleaseTarget {
        ReleaseTarget {
            platform: platform.terraform.to_string(),
            triple: Some(platform.triple),
            zig: Some(zig),
            fallback_reason: None,
        }
    }

    fn host(fallback_reason: Option<String>) -> ReleaseTarget {
        ReleaseTarget {
            platform: crate::util::terraform_platform(),
            triple: None,
            zig: None,
            fallback_reason,
        }
    }

    /// The built executable inside `target_dir`.
    pub fn binary(&self, target_dir: &Path) -> PathBuf {
        let dir = match self.triple {
            Some(triple) => target_dir.join(triple).join("release"),
            None => target_dir.join("release"),
        };
        let exe = if self.platform.starts_with("windows_") {
            ".exe"
        } else {
            ""
        };
        dir.join(format!("terraform-provider-vantage{exe}"))
    }

    /// The release build of the provider package into `target_dir`, to run in a checkout.
    pub fn build_command(&self, target_dir: &Path) -> anyhow::Result<Command> {
        let mut cmd = match (&self.zig, self.triple) {
            (Some(zig), Some(triple)) => {
                let mut cmd = zig.cargo_zigbuild();
                cmd.args(["--release", "-p", "terraform-provider-vantage", "--target", triple])
                    .arg("--config")
                    .arg(remapped_paths_config(triple, target_dir)?)
                    // Flags from the environment would replace the target's in .cargo/config.toml.
                    .env_remove("RUSTFLAGS")
                    .env_remove("CARGO_ENCODED_RUSTFLAGS");
                cmd
            }
            _ => {
                let mut cmd = cargo();
                cmd.args(["build", "--release", "-p", "terraform-provider-vantage"]);
                if let Some(triple) = self.triple {
                    cmd.args(["--target", triple]);
                }
                cmd
            }
        };
        cmd.env("CARGO_TARGET_DIR", target_dir);
        Ok(cmd)
    }

    pub fn is_static(&self) -> bool {
        self.triple.is_some_and(|t| t.ends_with("-musl"))
    }

    pub fn label(&self) -> String {
        match self.triple {
            Some(triple) if self.is_static() => format!("{triple} (static)"),
            Some(triple) => triple.to_string(),
            None => "host target".to_string(),
        }
    }
}

fn has_rust_target(triple: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == triple))
}

/// The Rust standard library for `triple`, added with rustup when missing.
fn ensure_rust_target(root: &Path, triple: &str) -> anyhow::Result<()> {
    if has_rust_target(triple) {
        return Ok(());
    }
    step(&format!("rustup target add {triple}"));
    run(
        Command::new("rustup").args(["target", "add", triple]).current_dir(root),
        &format!("rustup target add {triple}"),
    )
}

/// The release target for this machine: the shipped platform it is, built with zig (installed
/// when missing), else the host target with the reason.
pub fn choose(root: &Path) -> ReleaseTarget {
    let host = crate::util::terraform_platform();
    let Some(platform) = SHIPPED.iter().find(|p| p.terraform == host) else {
        return ReleaseTarget::host(None);
    };
    match prepare(root, *platform) {
        Ok(target) => target,
        Err(err) => ReleaseTarget::host(Some(format!("{err:#}"))),
    }
}

/// zig and the Rust target `platform` needs, installed when missing.
pub fn prepare(root: &Path, platform: Platform) -> anyhow::Result<ReleaseTarget> {
    ensure_rust_target(root, platform.triple)?;
    let zig = crate::zig::ensure(root)?;
    Ok(ReleaseTarget::for_platform(platform, zig))
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

/// Builds the release provider into `target_dir`; returns the executable.
pub fn build_provider(root: &Path, target: &ReleaseTarget, target_dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(reason) = &target.fallback_reason {
        eprintln!("    building for the host target instead of a static one: {reason}");
    }
    run(
        target.build_command(target_dir)?.current_dir(root),
        &format!("cargo build --release (provider, {})", target.label()),
    )?;
    Ok(target.binary(target_dir))
}

/// `--config` adding, to the target's rustflags in .cargo/config.toml, the remapping of the two
/// absolute paths that would otherwise end up in the binary: the cargo home (dependencies'
/// sources) and the target directory (generated sources).
fn remapped_paths_config(triple: &str, target_dir: &Path) -> anyhow::Result<String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let flags = [(cargo_home, "/cargo"), (target_dir.to_path_buf(), "/target")]
        .iter()
        .map(|(from, to)| {
            let from = from.to_str().context("a non-UTF-8 path")?;
            if from.contains(['"', '\\', '=']) {
                bail!("cannot remap the path {from:?} (it holds a quote, backslash or '=')");
            }
            Ok(format!("\"--remap-path-prefix={from}={to}\""))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(format!("target.{triple}.rustflags=[{}]", flags.join(",")))
}

/// `cargo xtask release` options.
#[derive(Debug)]
pub struct ReleaseOptions {
    /// Must equal the workspace version when given: the binary reports that one.
    pub version: Option<String>,
    pub gpg_key: Option<String>,
    pub out: Option<PathBuf>,
    /// Terraform platform names; empty for every shipped one.
    pub platforms: Vec<String>,
}

/// Builds the release provider for every shipped platform (or those asked for) and writes what
/// a registry serves: the zips, SHA256SUMS (signed with `gpg_key` when given) and the manifest.
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
    let platforms = selected_platforms(&options.platforms)?;
    let out = options
        .out
        .unwrap_or_else(|| crate::util::target_dir(root).join("dist").join(version));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let targets = platforms
        .into_iter()
        .map(|platform| prepare(root, platform).with_context(|| format!("preparing the {} build", platform.terraform)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signer = options.gpg_key.clone().map(|key| Signer { key, home: None });
    let summary = write_release(root, &targets, &out, signer.as_ref())?;
    let sums_name = provider_packaging::sha256sums_name(version);
    step(&format!("release {version} in {}", out.display()));
    for line in &summary {
        eprintln!("{line}");
    }
    if options.gpg_key.is_none() {
        eprintln!("    not signed: pass --gpg-key <id> for {sums_name}.sig");
    }
    eprintln!("    not built here:");
    for (platform, why) in NOT_SHIPPED {
        eprintln!("      {platform}: {why}");
    }
    Ok(())
}

/// Who signs SHA256SUMS: a key of the caller's keyring, or of a throwaway one in `home`.
pub struct Signer {
    pub key: String,
    pub home: Option<PathBuf>,
}

impl Signer {
    fn gpg(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--batch");
        if let Some(home) = &self.home {
            cmd.env("GNUPGHOME", home);
        }
        cmd
    }

    /// A new ed25519 signing key without a passphrase in the empty directory `home`.
    fn throwaway(home: &Path) -> anyhow::Result<Signer> {
        let signer = Signer {
            key: "terraform-provider-vantage release test <release-test@example.invalid>".to_string(),
            home: Some(home.to_path_buf()),
        };
        crate::util::output(
            signer.gpg().args([
                "--passphrase",
                "",
                "--quick-generate-key",
                &signer.key,
                "ed25519",
                "sign",
                "never",
            ]),
            "gpg --quick-generate-key (gpg signs SHA256SUMS; Debian/Ubuntu: apt-get install gnupg)",
        )?;
        Ok(signer)
    }

    fn sign(&self, file: &Path, signature: &Path) -> anyhow::Result<()> {
        run(
            self.gpg()
                .args(["--yes", "--local-user", &self.key, "--detach-sign", "--output"])
                .arg(signature)
                .arg(file),
            "gpg --detach-sign",
        )
    }

    /// `gpg --verify` of the release's SHA256SUMS against its `.sig`.
    fn verify(&self, out: &Path) -> anyhow::Result<()> {
        let sums = out.join(provider_packaging::sha256sums_name(crate::install::VERSION));
        let mut sig = sums.clone().into_os_string();
        sig.push(".sig");
        crate::util::output(
            self.gpg().arg("--verify").arg(&sig).arg(&sums),
            "gpg --verify of SHA256SUMS",
        )
        .map(|_| ())
    }

    /// The gpg-agent a throwaway keyring started, which would outlive it.
    fn stop_agent(&self) {
        if let Some(home) = &self.home {
            let _ = Command::new("gpgconf")
                .args(["--kill", "gpg-agent"])
                .env("GNUPGHOME", home)
                .status();
        }
    }
}

/// Builds each target and writes its zip, then SHA256SUMS (signed with `gpg_key` when given) and
/// the manifest into `out`; returns a line per zip with its hashes.
fn write_release(
    root: &Path,
    targets: &[ReleaseTarget],
    out: &Path,
    signer: Option<&Signer>,
) -> anyhow::Result<Vec<String>> {
    let version = crate::install::VERSION;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut zips = Vec::new();
    let mut summary = Vec::new();
    for target in targets {
        step(&format!(
            "building the provider for {} ({})",
            target.platform,
            target.label()
        ));
        let bin = build_provider(root, target, &build_dir(root))?;
        let binary = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
        let (zip_name, zip) = registry_zip(&binary, &target.platform)?;
        write(&out.join(&zip_name), &zip)?;
        let entry = provider_packaging::executable_name(version, &target.platform);
        summary.push(format!(
            "    {zip_name}: {} {}, {} bytes, {}",
            provider_packaging::zh_hash(&zip),
            provider_packaging::h1_hash_of_package(&entry, &binary),
            binary.len(),
            target.label()
        ));
        if let Some(zig) = &target.zig {
            summary.push(format!("      built with {}", zig.describe()));
        }
        zips.push((zip_name, zip));
    }
    let sums_name = provider_packaging::sha256sums_name(version);
    write(&out.join(&sums_name), provider_packaging::sha256sums(&zips).as_bytes())?;
    write(
        &out.join(provider_packaging::manifest_name(version)),
        provider_packaging::MANIFEST_JSON.as_bytes(),
    )?;
    if let Some(signer) = signer {
        step(&format!("signing {sums_name} with {}", signer.key));
        signer.sign(&out.join(&sums_name), &out.join(format!("{sums_name}.sig")))?;
    }
    Ok(summary)
}

fn selected_platforms(asked: &[String]) -> anyhow::Result<Vec<Platform>> {
    if asked.is_empty() {
        return Ok(SHIPPED.to_vec());
    }
    asked
        .iter()
        .map(|name| {
            if let Some(platform) = SHIPPED.iter().find(|p| p.terraform == name) {
                return Ok(*platform);
            }
            if let Some((_, why)) = NOT_SHIPPED.iter().find(|(p, _)| p == name) {
                bail!("--platform {name} cannot be built here: {why}");
            }
            let shipped: Vec<&str> = SHIPPED.iter().map(|p| p.terraform).collect();
            bail!(
                "--platform {name} is not one we ship; choose from {}",
                shipped.join(", ")
            )
        })
        .collect()
}

/// The registry zip of `binary` for `platform`, and its file name: what `release` writes and
/// what `bench` installs from a filesystem mirror.
pub fn registry_zip(binary: &[u8], platform: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let version = crate::install::VERSION;
    let name = provider_packaging::zip_name(version, platform);
    let zip = provider_packaging::zip_binary(&provider_packaging::executable_name(version, platform), binary)?;
    Ok((name, zip))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
