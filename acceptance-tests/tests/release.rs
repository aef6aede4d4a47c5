//! Installing the provider the way users of a release do: `terraform init`
//! from a provider network mirror (HTTPS on loopback) serving the zip
//! `cargo xtask release` makes (same packaging code, the debug binary inside
//! so the test needs no release build), the lock file's hashes verified by a
//! second init, a tampered zip refused, `terraform providers lock` against it.
//! No devstack: nothing here talks to Vantage or AWS.

use std::path::Path;
use std::sync::OnceLock;

use acceptance_tests::mirror::Mirror;
use acceptance_tests::{Run, SOURCE_ADDRESS, Workspace, provider_bin};

const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Package {
    binary: Vec<u8>,
    zip_name: String,
    zip: Vec<u8>,
    h1: String,
    zh: String,
}

/// Packaged once per test binary: the debug binary is ~200 MB.
fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let binary = std::fs::read(provider_bin()).expect("reading the provider binary");
        let entry = provider_packaging::binary_name(VERSION);
        let zip = provider_packaging::zip_binary_at(&entry, &binary, flate2::Compression::fast())
            .expect("packaging the provider");
        Package {
            zip_name: provider_packaging::zip_name(VERSION, "linux_amd64"),
            h1: provider_packaging::h1_hash_of_package(&entry, &binary),
            zh: provider_packaging::zh_hash(&zip),
            zip,
            binary,
        }
    })
}

fn publish(mirror: &Mirror, zip: &[u8], hashes: Vec<String>) {
    let name = &package().zip_name;
    mirror.publish(SOURCE_ADDRESS, VERSION, &[("linux_amd64", name, zip, hashes)]);
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
        .join("linux_amd64")
        .join(provider_packaging::binary_name(VERSION))
}

#[test]
fn init_installs_the_release_zip_from_a_mirror_and_a_second_init_verifies_the_lock_file() {
    let p = package();
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
    let mut zip = package().zip.clone();
    let middle = zip.len() / 2;
    zip[middle] ^= 0x01;
    zip
}

#[test]
fn a_tampered_zip_is_refused_against_the_mirrors_hashes() {
    let p = package();
    let mirror = Mirror::start();
    publish(&mirror, &tampered(), vec![p.h1.clone(), p.zh.clone()]);
    let ws = workspace("release-tampered", &mirror);
    terraform(&ws, &["init", "-no-color"]).expect_error("checksum");
    assert!(!installed_binary(ws.path()).exists());
}

#[test]
fn a_tampered_zip_is_refused_against_the_lock_file_when_the_mirror_vouches_for_it() {
    let p = package();
    // A valid zip of a binary with one byte changed, and a compromised mirror
    // that lists its hashes: only the lock file catches it.
    let mut binary = p.binary.clone();
    let middle = binary.len() / 2;
    binary[middle] ^= 0x01;
    let entry = provider_packaging::binary_name(VERSION);
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
fn providers_lock_records_the_mirrors_hashes_for_linux_amd64() {
    let p = package();
    let mirror = Mirror::start();
    publish(&mirror, &p.zip, vec![p.h1.clone(), p.zh.clone()]);
    let ws = workspace("release-providers-lock", &mirror);
    let net_mirror = format!("-net-mirror={}", mirror.url);
    terraform(
        &ws,
        &["providers", "lock", "-no-color", &net_mirror, "-platform=linux_amd64"],
    )
    .expect_ok();
    let lock = lock_file(&ws);
    assert!(
        lock.contains(&format!("\"{}\"", p.h1)),
        "the lock file lacks {}:\n{lock}",
        p.h1
    );
}
