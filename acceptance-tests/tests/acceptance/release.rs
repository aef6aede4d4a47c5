//! Installing the provider the way users of a release do: `terraform init`
//! from a provider network mirror (HTTPS on loopback) serving what
//! `cargo xtask release` makes, the lock file's hashes verified by a second
//! init, a tampered zip refused, `terraform providers lock` for every platform.
//! No devstack: nothing here talks to Vantage or AWS.
//!
//! What is served: the release in `VANTAGE_ACC_RELEASE_DIR` when it is set
//! (`cargo xtask test` builds the host platform's release before the
//! acceptance tests and sets it; a full `cargo xtask release` holds every
//! shipped platform), every zip its SHA256SUMS lists; otherwise the debug
//! binary, packaged by the same code, so the test also runs on its own.

use std::path::Path;
use std::sync::OnceLock;

use acceptance_tests::mirror::Mirror;
use acceptance_tests::{Run, SOURCE_ADDRESS, Workspace, provider_bin};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const RELEASE_DIR_ENV: &str = "VANTAGE_ACC_RELEASE_DIR";
const HOST: &str = "linux_amd64";

struct Archive {
    platform: String,
    zip_name: String,
    zip: Vec<u8>,
    h1: String,
    zh: String,
}

impl Archive {
    fn new(platform: &str, zip_name: String, zip: Vec<u8>) -> Archive {
        Archive {
            platform: platform.to_string(),
            h1: provider_packaging::h1_hash_of_zip(&zip).expect("reading the zip's executable"),
            zh: provider_packaging::zh_hash(&zip),
            zip_name,
            zip,
        }
    }
}

/// Read once per test binary: the debug binary is ~200 MB.
fn archives() -> &'static [Archive] {
    static ARCHIVES: OnceLock<Vec<Archive>> = OnceLock::new();
    ARCHIVES.get_or_init(|| match std::env::var_os(RELEASE_DIR_ENV) {
        Some(dir) => release_archives(Path::new(&dir)),
        None => {
            eprintln!("{RELEASE_DIR_ENV} is not set: serving the debug binary, packaged as a release is");
            let binary = std::fs::read(provider_bin()).expect("reading the provider binary");
            let entry = provider_packaging::executable_name(VERSION, HOST);
            let zip = provider_packaging::zip_binary_at(&entry, &binary, flate2::Compression::fast())
                .expect("packaging the provider");
            vec![Archive::new(HOST, provider_packaging::zip_name(VERSION, HOST), zip)]
        }
    })
}

/// Every zip the release's SHA256SUMS lists, checked against it.
fn release_archives(dir: &Path) -> Vec<Archive> {
    let sums_path = dir.join(provider_packaging::sha256sums_name(VERSION));
    let sums = std::fs::read_to_string(&sums_path)
        .unwrap_or_else(|e| panic!("{RELEASE_DIR_ENV}: reading {}: {e}", sums_path.display()));
    let prefix = format!("terraform-provider-vantage_{VERSION}_");
    let archives: Vec<Archive> = sums
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(hex, name)| {
            let zip = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"));
            assert_eq!(
                provider_packaging::sha256_hex(&zip),
                hex,
                "SHA256SUMS is wrong about {name}"
            );
            let platform = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".zip"))
                .unwrap_or_else(|| panic!("{name} is not named like a release zip"));
            Archive::new(platform, name.to_string(), zip)
        })
        .collect();
    eprintln!(
        "serving the release in {}: {}",
        dir.display(),
        archives
            .iter()
            .map(|a| a.platform.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    archives
}

fn host() -> &'static Archive {
    archives()
        .iter()
        .find(|a| a.platform == HOST)
        .unwrap_or_else(|| panic!("the release holds no {HOST} zip"))
}

/// Every archive, with the host's replaced by `host_zip` (its hashes as given).
fn publish(mirror: &Mirror, host_zip: &[u8], hashes: Vec<String>) {
    let mut listed: Vec<(&str, &str, &[u8], Vec<String>)> = archives()
        .iter()
        .filter(|a| a.platform != HOST)
        .map(|a| {
            (
                a.platform.as_str(),
                a.zip_name.as_str(),
                a.zip.as_slice(),
                vec![a.h1.clone(), a.zh.clone()],
            )
        })
        .collect();
    listed.push((HOST, host().zip_name.as_str(), host_zip, hashes));
    mirror.publish(SOURCE_ADDRESS, VERSION, &listed);
}

/// A working directory whose CLI config installs everything from `mirror`.
fn workspace(name: &str, mirror: &Mirror) -> Workspace {
    let mut ws = Workspace::bare(name);
    std::fs::write(
        ws.path().join("terraform.rc"),
        format!(
            "provider_installation {{\n  network_mirror {{\n    url = \"{}\"\n  }}\n}}\n",
            mirror.url
        ),
    )
    .expect("writing the CLI config");
    ws.env("SSL_CERT_FILE", &mirror.ca_file.display().to_string());
    std::fs::write(
        ws.path().join("main.tf"),
        format!(
            "terraform {{\n  required_providers {{\n    vantage = {{\n      source  = \"{SOURCE_ADDRESS}\"\n      \
             version = \"{VERSION}\"\n    }}\n  }}\n}}\n"
        ),
    )
    .expect("writing main.tf");
    ws
}

/// Runs terraform without a plugin cache, which would hide a download.
fn terraform(ws: &Workspace, args: &[&str]) -> Run {
    let out = ws
        .command(args)
        .env_remove("TF_PLUGIN_CACHE_DIR")
        .output()
        .expect("running terraform");
    Run {
        command: format!("terraform {}", args.join(" ")),
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn lock_file(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.path().join(".terraform.lock.hcl")).expect("reading .terraform.lock.hcl")
}

fn installed_binary(dir: &Path) -> std::path::PathBuf {
    dir.join(".terraform/providers")
        .join(SOURCE_ADDRESS)
        .join(VERSION)
        .join(HOST)
        .join(provider_packaging::executable_name(VERSION, HOST))
}

#[test]
fn init_installs_the_release_zip_from_a_mirror_and_a_second_init_verifies_the_lock_file() {
    let p = host();
    let mirror = Mirror::start();
    publish(&mirror, &p.zip, vec![p.h1.clone(), p.zh.clone()]);

    let first = workspace("release-init", &mirror);
    terraform(&first, &["init", "-no-color"]).expect_ok();
    let lock = lock_file(&first);
    assert!(lock.contains(&format!("provider \"{SOURCE_ADDRESS}\"")), "{lock}");
    assert!(lock.contains(&format!("version     = \"{VERSION}\"")), "{lock}");
    assert!(
        lock.contains(&format!("\"{}\"", p.h1)),
        "the lock file lacks {}:\n{lock}",
        p.h1
    );
    let requests = mirror.requests();
    assert!(
        requests.iter().any(|r| r.ends_with(&p.zip_name)),
        "terraform did not download the zip: {requests:?}"
    );
    let installed = installed_binary(first.path());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&installed)
            .expect("the installed provider")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{} is not executable", installed.display());
    }
    // It says which release it is: the version the zip and the lock file name.
    let reported = std::process::Command::new(&installed)
        .arg("--version")
        .output()
        .expect("running the installed provider with --version");
    assert_eq!(
        String::from_utf8_lossy(&reported.stdout).trim(),
        format!("terraform-provider-vantage {VERSION}")
    );
    // The unpacked provider runs: Terraform starts it for its schema.
    let schema = terraform(&first, &["providers", "schema", "-json"]);
    schema.expect_ok();
    assert!(schema.stdout.contains("vantage_aws_integration"), "{}", schema.stdout);

    // Another machine: a fresh directory with only the configuration and the lock file.
    let second = workspace("release-reinit", &mirror);
    std::fs::write(second.path().join(".terraform.lock.hcl"), &lock).expect("copying the lock file");
    terraform(&second, &["init", "-no-color"]).expect_ok();
    assert_eq!(
        lock_file(&second),
        lock,
        "a verifying init must not rewrite the lock file"
    );
    assert!(installed_binary(second.path()).exists());
}

/// One byte flipped in the middle of the compressed data.
fn tampered() -> Vec<u8> {
    let mut zip = host().zip.clone();
    let middle = zip.len() / 2;
    zip[middle] ^= 0x01;
    zip
}

#[test]
fn a_tampered_zip_is_refused_against_the_mirrors_hashes() {
    let p = host();
    let mirror = Mirror::start();
    publish(&mirror, &tampered(), vec![p.h1.clone(), p.zh.clone()]);
    let ws = workspace("release-tampered", &mirror);
    terraform(&ws, &["init", "-no-color"]).expect_error("checksum");
    assert!(!installed_binary(ws.path()).exists());
}

#[test]
fn a_tampered_zip_is_refused_against_the_lock_file_when_the_mirror_vouches_for_it() {
    let p = host();
    // A valid zip of a binary with one byte changed, and a compromised mirror
    // that lists its hashes: only the lock file catches it.
    let (entry, mut binary) = provider_packaging::read_zip_entry(&p.zip).expect("reading the zip");
    let middle = binary.len() / 2;
    binary[middle] ^= 0x01;
    let bad = provider_packaging::zip_binary_at(&entry, &binary, flate2::Compression::fast()).expect("zip");
    let mirror = Mirror::start();
    let vouched = vec![
        provider_packaging::h1_hash_of_package(&entry, &binary),
        provider_packaging::zh_hash(&bad),
    ];
    publish(&mirror, &bad, vouched);
    let ws = workspace("release-tampered-lock", &mirror);
    std::fs::write(
        ws.path().join(".terraform.lock.hcl"),
        format!(
            "provider \"{SOURCE_ADDRESS}\" {{\n  version     = \"{VERSION}\"\n  constraints = \"{VERSION}\"\n  \
             hashes = [\n    \"{}\",\n    \"{}\",\n  ]\n}}\n",
            p.h1, p.zh
        ),
    )
    .expect("writing the lock file");
    terraform(&ws, &["init", "-no-color"]).expect_error("checksums previously recorded in the dependency lock file");
    assert!(!installed_binary(ws.path()).exists());
}

#[test]
fn providers_lock_records_the_hashes_of_every_platform_in_the_release() {
    let p = host();
    let mirror = Mirror::start();
    publish(&mirror, &p.zip, vec![p.h1.clone(), p.zh.clone()]);
    let ws = workspace("release-providers-lock", &mirror);
    let net_mirror = format!("-net-mirror={}", mirror.url);
    let platforms: Vec<String> = archives().iter().map(|a| format!("-platform={}", a.platform)).collect();
    let mut args = vec!["providers", "lock", "-no-color", net_mirror.as_str()];
    args.extend(platforms.iter().map(String::as_str));
    terraform(&ws, &args).expect_ok();
    let lock = lock_file(&ws);
    for archive in archives() {
        assert!(
            lock.contains(&format!("\"{}\"", archive.h1)),
            "the lock file lacks {}'s {}:\n{lock}",
            archive.platform,
            archive.h1
        );
    }
    let requests = mirror.requests();
    for archive in archives() {
        assert!(
            requests.iter().any(|r| r.ends_with(&archive.zip_name)),
            "terraform did not download {}: {requests:?}",
            archive.zip_name
        );
    }
}
