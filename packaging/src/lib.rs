//! The provider's release files as a registry (or `terraform providers mirror`)
//! serves them, and the hashes Terraform records in `.terraform.lock.hcl`.
//!
//! Shared by `cargo xtask release` and the acceptance tests' network mirror,
//! so the test installs exactly what a release ships; and where the machine's
//! mirror of hashicorp/aws is ([`hashicorp_aws`]).

pub mod hashicorp_aws;

use std::io::Write;

use anyhow::Context;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The provider's type name, as in `terraform-provider-<name>`.
pub const NAME: &str = "vantage";

/// What a registry says about our protocol (plugin protocol 6 only): the repository's
/// `terraform-registry-manifest.json`, shipped as `<name>_<version>_manifest.json`.
pub const MANIFEST_JSON: &str = include_str!("../../terraform-registry-manifest.json");

/// The executable inside a release zip: `terraform-provider-vantage_v<version>`.
pub fn binary_name(version: &str) -> String {
    format!("terraform-provider-{NAME}_v{version}")
}

/// The executable inside the zip for `platform` (Terraform's `<os>_<arch>`): Windows runs only
/// files named `.exe`, and Terraform looks for `terraform-provider-<name>*` with it there.
pub fn executable_name(version: &str, platform: &str) -> String {
    if platform.starts_with("windows_") {
        format!("{}.exe", binary_name(version))
    } else {
        binary_name(version)
    }
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
/// timestamp is the zip epoch (1980-01-01 00:00), the mode 0755 and the
/// creator Unix, whatever the clock, umask or OS of the machine packaging it.
///
/// Written by hand (APPNOTE 4.3: one local header, the deflated data, one
/// central directory record, the end record) rather than with the `zip`
/// crate: that one enables zeroize's `derive` feature, which changes the
/// build of rustls and everything above it (the AWS SDK) in xtask's and the
/// acceptance tests' dependency graphs, a rebuild of many minutes.
pub fn zip_binary(entry_name: &str, binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    zip_binary_at(entry_name, binary, flate2::Compression::best())
}

/// `zip_binary` at another compression level: the acceptance tests package
/// the ~200 MB debug binary at level 1 (seconds rather than minutes).
pub fn zip_binary_at(entry_name: &str, binary: &[u8], level: flate2::Compression) -> anyhow::Result<Vec<u8>> {
    const DEFLATE: u16 = 8;
    const VERSION_NEEDED: u16 = 20;
    // High byte 3 = Unix: readers then take the mode from the external attributes.
    const MADE_BY_UNIX: u16 = (3 << 8) | 20;
    const DOS_TIME: u16 = 0;
    const DOS_DATE_1980_01_01: u16 = (1 << 5) | 1;
    let regular_file_0755: u32 = 0o100_755 << 16;

    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), level);
    encoder.write_all(binary).context("compressing the binary")?;
    let data = encoder.finish().context("compressing the binary")?;
    let crc = crc32fast::hash(binary);
    let name = entry_name.as_bytes();
    let too_big = |what: &str| anyhow::anyhow!("{what} too large for a zip without zip64");
    let compressed = u32::try_from(data.len()).map_err(|_| too_big("compressed binary"))?;
    let size = u32::try_from(binary.len()).map_err(|_| too_big("binary"))?;
    let name_len = u16::try_from(name.len()).map_err(|_| too_big("entry name"))?;

    let mut out = Vec::with_capacity(data.len() + 2 * name.len() + 128);
    let u16le = |out: &mut Vec<u8>, v: u16| out.extend_from_slice(&v.to_le_bytes());
    let u32le = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());

    u32le(&mut out, 0x0403_4b50);
    for v in [VERSION_NEEDED, 0, DEFLATE, DOS_TIME, DOS_DATE_1980_01_01] {
        u16le(&mut out, v);
    }
    for v in [crc, compressed, size] {
        u32le(&mut out, v);
    }
    u16le(&mut out, name_len);
    u16le(&mut out, 0);
    out.extend_from_slice(name);
    out.extend_from_slice(&data);

    let central_offset = u32::try_from(out.len()).map_err(|_| too_big("archive"))?;
    u32le(&mut out, 0x0201_4b50);
    for v in [MADE_BY_UNIX, VERSION_NEEDED, 0, DEFLATE, DOS_TIME, DOS_DATE_1980_01_01] {
        u16le(&mut out, v);
    }
    for v in [crc, compressed, size] {
        u32le(&mut out, v);
    }
    // Name length; no extra field, comment, disk number or internal attributes.
    for v in [name_len, 0, 0, 0, 0] {
        u16le(&mut out, v);
    }
    u32le(&mut out, regular_file_0755);
    u32le(&mut out, 0); // the local header's offset
    out.extend_from_slice(name);
    let central_size = u32::try_from(out.len()).map_err(|_| too_big("archive"))? - central_offset;

    u32le(&mut out, 0x0605_4b50);
    for v in [0, 0, 1, 1] {
        u16le(&mut out, v);
    }
    u32le(&mut out, central_size);
    u32le(&mut out, central_offset);
    u16le(&mut out, 0);
    Ok(out)
}

/// The name and contents of the one entry of a zip `zip_binary` wrote (local header, deflated
/// data): how the mirror test takes a release zip apart to hash and tamper with its executable.
pub fn read_zip_entry(zip: &[u8]) -> anyhow::Result<(String, Vec<u8>)> {
    use std::io::Read;
    let bytes = |at: usize, len: usize| zip.get(at..at + len).context("the zip ends early");
    let u16_at = |at: usize| bytes(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    anyhow::ensure!(u32_at(0)? == 0x0403_4b50, "not a zip (no local file header)");
    anyhow::ensure!(u16_at(8)? == 8, "the entry is not deflated");
    let (crc, compressed) = (u32_at(14)?, u32_at(18)? as usize);
    let (name_len, extra_len) = (usize::from(u16_at(26)?), usize::from(u16_at(28)?));
    let name = String::from_utf8(bytes(30, name_len)?.to_vec()).context("the entry name is not UTF-8")?;
    let data = bytes(30 + name_len + extra_len, compressed)?;
    let mut contents = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut contents)
        .context("inflating the entry")?;
    anyhow::ensure!(crc32fast::hash(&contents) == crc, "the entry's CRC does not match");
    Ok((name, contents))
}

/// Terraform's `h1:` hash of a zip `zip_binary` wrote.
pub fn h1_hash_of_zip(zip: &[u8]) -> anyhow::Result<String> {
    let (name, contents) = read_zip_entry(zip)?;
    Ok(h1_hash_of_package(&name, &contents))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Terraform's `zh:` hash: the hex SHA-256 of the zip file itself.
pub fn zh_hash(zip: &[u8]) -> String {
    format!("zh:{}", sha256_hex(zip))
}

/// Terraform's `h1:` hash of the package `zip_binary` makes: the "dirhash"
/// of its unpacked files, here the one executable.
pub fn h1_hash_of_package(entry_name: &str, binary: &[u8]) -> String {
    h1_hash(&[(entry_name.to_string(), sha256_hex(binary))])
}

/// Terraform's `h1:` hash: each file contributes a line
/// `<hex sha256 of its contents>  <name>\n`, lines sorted by name; the hash is
/// base64 of the SHA-256 of those lines. It covers the unpacked contents, so
/// it is the same for a zip and for the directory Terraform unpacks it into.
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
    fn only_windows_executables_end_in_exe() {
        assert_eq!(
            executable_name("1.2.3", "windows_amd64"),
            "terraform-provider-vantage_v1.2.3.exe"
        );
        assert_eq!(
            executable_name("1.2.3", "linux_arm64"),
            "terraform-provider-vantage_v1.2.3"
        );
        assert_eq!(
            executable_name("1.2.3", "darwin_arm64"),
            "terraform-provider-vantage_v1.2.3"
        );
    }

    #[test]
    fn the_manifest_speaks_protocol_6_only() {
        let compact: String = MANIFEST_JSON.split_whitespace().collect();
        assert_eq!(compact, r#"{"version":1,"metadata":{"protocol_versions":["6.0"]}}"#);
    }

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

    /// Reads back the single entry as any zip reader would: the local header, the
    /// deflated data, the central record's mode.
    fn read_single_entry(zip: &[u8]) -> (String, u32, u16, u16, Vec<u8>) {
        use std::io::Read;
        let u16_at = |at: usize| u16::from_le_bytes([zip[at], zip[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([zip[at], zip[at + 1], zip[at + 2], zip[at + 3]]);
        assert_eq!(u32_at(0), 0x0403_4b50);
        let (time, date, crc, compressed) = (u16_at(10), u16_at(12), u32_at(14), u32_at(18) as usize);
        let name_len = u16_at(26) as usize;
        let name = String::from_utf8(zip[30..30 + name_len].to_vec()).expect("name");
        let data = &zip[30 + name_len..30 + name_len + compressed];
        let mut contents = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut contents)
            .expect("inflate");
        assert_eq!(crc32fast::hash(&contents), crc);
        let central = 30 + name_len + compressed;
        assert_eq!(u32_at(central), 0x0201_4b50);
        assert_eq!(zip[central + 5], 3, "made on Unix");
        let eocd = central + 46 + name_len;
        assert_eq!(u32_at(eocd), 0x0605_4b50);
        assert_eq!(u16_at(eocd + 10), 1, "one entry");
        assert_eq!(eocd + 22, zip.len());
        (name, u32_at(central + 38) >> 16, time, date, contents)
    }

    #[test]
    fn a_zip_reads_back_to_its_entry_and_a_damaged_one_is_refused() {
        let zip = zip_binary("bin_v1", b"contents").expect("zip");
        let (name, contents) = read_zip_entry(&zip).expect("read");
        assert_eq!((name.as_str(), contents.as_slice()), ("bin_v1", b"contents".as_slice()));
        assert_eq!(
            h1_hash_of_zip(&zip).expect("h1"),
            h1_hash_of_package("bin_v1", b"contents")
        );
        assert!(read_zip_entry(&zip[..20]).is_err());
        let mut damaged = zip.clone();
        damaged[40] ^= 0xff;
        assert!(read_zip_entry(&damaged).is_err());
    }

    #[test]
    fn the_zip_holds_one_executable_entry_with_fixed_metadata() {
        let zip = zip_binary("terraform-provider-vantage_v0.1.0", b"#!/bin/sh\n").expect("zip");
        let (name, mode, time, date, contents) = read_single_entry(&zip);
        assert_eq!(name, "terraform-provider-vantage_v0.1.0");
        assert_eq!(mode, 0o100_755);
        assert_eq!((time, date), (0, 0x21), "1980-01-01 00:00");
        assert_eq!(contents, b"#!/bin/sh\n");
    }

    #[test]
    fn unzip_reads_the_zip_when_installed() {
        // A second opinion from Info-ZIP when the machine has it (CI does).
        if std::process::Command::new("unzip").arg("-v").output().is_err() {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.zip");
        std::fs::write(&path, zip_binary("bin_v1", b"contents").expect("zip")).expect("write");
        let out = std::process::Command::new("unzip")
            .arg("-Z")
            .arg("-l")
            .arg(&path)
            .output()
            .expect("unzip");
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{listing}");
        assert!(
            listing.contains("-rwxr-xr-x") && listing.contains("bin_v1"),
            "{listing}"
        );
        let test = std::process::Command::new("unzip")
            .arg("-t")
            .arg(&path)
            .output()
            .expect("unzip -t");
        assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
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
    fn h1_of_a_package_hashes_its_contents_not_the_zip() {
        let files = vec![("a.txt".to_string(), sha256_hex(b"hello\n"))];
        assert_eq!(h1_hash_of_package("a.txt", b"hello\n"), h1_hash(&files));
        let zip = zip_binary("a.txt", b"hello\n").expect("zip");
        assert_eq!(zh_hash(&zip), format!("zh:{}", sha256_hex(&zip)));
        assert_eq!(zh_hash(&zip).len(), 67);
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
