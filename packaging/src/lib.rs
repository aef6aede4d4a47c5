//! The provider's release files as a registry (or `terraform providers mirror`)
//! serves them, and the hashes Terraform records in `.terraform.lock.hcl`.
//!
//! Shared by `cargo xtask release` and the acceptance tests' network mirror,
//! so the test installs exactly what a release ships.

use std::io::{Cursor, Read, Write};

use anyhow::{Context, bail};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The provider's type name, as in `terraform-provider-<name>`.
pub const NAME: &str = "vantage";

/// What a registry says about our protocol (plugin protocol 6 only).
pub const MANIFEST_JSON: &str = r#"{"version":1,"metadata":{"protocol_versions":["6.0"]}}"#;

/// The executable inside a release zip: `terraform-provider-vantage_v<version>`.
pub fn binary_name(version: &str) -> String {
    format!("terraform-provider-{NAME}_v{version}")
}

/// `terraform-provider-vantage_<version>_<os>_<arch>.zip`; `platform` is Terraform's `<os>_<arch>`.
pub fn zip_name(version: &str, platform: &str) -> String {
    format!("terraform-provider-{NAME}_{version}_{platform}.zip")
}

pub fn sha256sums_name(version: &str) -> String {
    format!("terraform-provider-{NAME}_{version}_SHA256SUMS")
}

pub fn manifest_name(version: &str) -> String {
    format!("terraform-provider-{NAME}_{version}_manifest.json")
}

/// A zip holding one executable, identical bytes for identical input: the
/// timestamp is the zip epoch (1980-01-01), the mode 0755, the host system
/// field Unix, whatever the clock, umask or OS of the machine packaging it.
pub fn zip_binary(entry_name: &str, binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755)
        .system(zip::System::Unix);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file(entry_name, options)
        .context("starting the zip entry")?;
    writer.write_all(binary).context("compressing the binary")?;
    Ok(writer.finish().context("finishing the zip")?.into_inner())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Terraform's `zh:` hash: the hex SHA-256 of the zip file itself.
pub fn zh_hash(zip: &[u8]) -> String {
    format!("zh:{}", sha256_hex(zip))
}

/// Terraform's `h1:` hash of a package: the "dirhash" of its unpacked files.
/// Each file contributes a line `<hex sha256 of its contents>  <name>\n`,
/// lines sorted by name; the hash is base64 of the SHA-256 of those lines.
/// Taken over the zip's entries so it needs no unpacking to disk.
pub fn h1_hash_of_zip(zip: &[u8]) -> anyhow::Result<String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).context("reading the zip")?;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).context("reading a zip entry")?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().context("reading a zip entry name")?.to_string();
        if name.contains('\n') {
            bail!("zip entry name {name:?} holds a newline, which the h1 hash cannot represent");
        }
        let mut contents = Vec::new();
        entry
            .read_to_end(&mut contents)
            .with_context(|| format!("unpacking {name}"))?;
        files.push((name, sha256_hex(&contents)));
    }
    Ok(h1_hash(&files))
}

/// The `h1:` hash from `(file name, hex sha256)` pairs, in any order.
pub fn h1_hash(files: &[(String, String)]) -> String {
    let mut files = files.to_vec();
    files.sort();
    let mut summary = Sha256::new();
    for (name, hex) in &files {
        summary.update(format!("{hex}  {name}\n"));
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    )
}

/// The SHA256SUMS file: `<hex>  <file name>` lines, sorted by name, as `sha256sum` writes them.
pub fn sha256sums(files: &[(String, Vec<u8>)]) -> String {
    let mut lines: Vec<(String, String)> = files
        .iter()
        .map(|(name, bytes)| (name.clone(), sha256_hex(bytes)))
        .collect();
    lines.sort();
    lines.iter().map(|(name, hex)| format!("{hex}  {name}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_gives_byte_identical_zips() {
        let binary: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let first = zip_binary(&binary_name("1.2.3"), &binary).expect("zip");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = zip_binary(&binary_name("1.2.3"), &binary).expect("zip");
        assert_eq!(sha256_hex(&first), sha256_hex(&second));
        let other = zip_binary(&binary_name("1.2.3"), &binary[1..]).expect("zip");
        assert_ne!(first, other);
    }

    #[test]
    fn the_zip_holds_one_executable_entry_with_fixed_metadata() {
        let zip = zip_binary("terraform-provider-vantage_v0.1.0", b"#!/bin/sh\n").expect("zip");
        let mut archive = zip::ZipArchive::new(Cursor::new(&zip)).expect("read back");
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).expect("entry");
        assert_eq!(entry.name().expect("name"), "terraform-provider-vantage_v0.1.0");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.last_modified(), Some(zip::DateTime::default()));
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).expect("contents");
        assert_eq!(contents, b"#!/bin/sh\n");
    }

    #[test]
    fn h1_matches_the_dirhash_computed_by_coreutils() {
        // Expected value from the shell, independent of this code:
        // printf '%s  %s\n' "$(printf 'hello\n' | sha256sum | cut -d' ' -f1)" a.txt \
        //   "$(printf 'world\n' | sha256sum | cut -d' ' -f1)" b.txt | sha256sum | xxd -r -p | base64
        let files = vec![
            ("b.txt".to_string(), sha256_hex(b"world\n")),
            ("a.txt".to_string(), sha256_hex(b"hello\n")),
        ];
        assert_eq!(h1_hash(&files), H1_A_B);
    }

    #[test]
    fn h1_of_a_zip_hashes_its_contents_not_its_bytes() {
        let zip = zip_binary("a.txt", b"hello\n").expect("zip");
        let files = vec![("a.txt".to_string(), sha256_hex(b"hello\n"))];
        assert_eq!(h1_hash_of_zip(&zip).expect("h1"), h1_hash(&files));
        assert!(zh_hash(&zip).starts_with("zh:") && zh_hash(&zip).len() == 67);
    }

    #[test]
    fn sha256sums_lines_are_sorted_like_sha256sum() {
        let sums = sha256sums(&[
            ("b.zip".to_string(), b"b".to_vec()),
            ("a.zip".to_string(), b"a".to_vec()),
        ]);
        assert_eq!(
            sums,
            format!("{}  a.zip\n{}  b.zip\n", sha256_hex(b"a"), sha256_hex(b"b"))
        );
    }

    const H1_A_B: &str = "h1:bdtMB561ypUQacQjexEwiIn0rn40htB5T8z7y/cW628=";
}
