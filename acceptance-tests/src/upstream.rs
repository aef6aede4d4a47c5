//! Which AWS emulator the devstacks of a run forward to, and the tests that need moto.
//!
//! `cargo xtask test` runs the suite twice: each devstack starting its own moto, then every
//! devstack forwarding to one LocalStack (`--aws-upstream`). LocalStack community lacks some
//! services (Organizations); a test that needs one calls [`require_moto!`](crate::require_moto),
//! which passes it under LocalStack and names it, so nothing is left out silently.

use std::io::Write;
use std::path::Path;

/// Set by `cargo xtask test` for its LocalStack pass: the URL of an AWS emulator every devstack
/// forwards to (`--aws-upstream`) instead of starting moto, and what it is (`localstack` or
/// `moto`). Unset: each devstack starts its own moto.
pub const AWS_UPSTREAM_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM";
pub const AWS_UPSTREAM_KIND_ENV: &str = "VANTAGE_ACC_AWS_UPSTREAM_KIND";
/// A file each moto-only test appends its name and reason to, so xtask can list them.
pub const MOTO_ONLY_LOG_ENV: &str = "VANTAGE_ACC_MOTO_ONLY_LOG";

/// The AWS emulator behind the devstacks of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Moto,
    LocalStack,
}

pub(crate) fn upstream_url() -> Option<String> {
    std::env::var(AWS_UPSTREAM_ENV).ok().filter(|url| !url.is_empty())
}

/// moto unless the environment names another upstream. A URL without a kind, or an unknown
/// kind, stops the run: a test must never guess which emulator it talks to.
pub fn aws_upstream() -> Upstream {
    let kind = std::env::var(AWS_UPSTREAM_KIND_ENV).unwrap_or_default();
    match (upstream_url(), kind.as_str()) {
        (None, "") => Upstream::Moto,
        (Some(_), "moto") => Upstream::Moto,
        (Some(_), "localstack") => Upstream::LocalStack,
        (url, kind) => panic!(
            "{AWS_UPSTREAM_ENV}={url:?} with {AWS_UPSTREAM_KIND_ENV}={kind:?}: set both, the kind to `moto` or `localstack`"
        ),
    }
}

/// Whether the test `name` must stop here because the upstream lacks what it needs (`why`).
/// Then it says so on stderr (straight to the stream: libtest would hide a passing test's
/// `eprintln!`) and in the [`MOTO_ONLY_LOG_ENV`] file. Use [`require_moto!`].
pub fn moto_only(name: &str, why: &str) -> bool {
    if aws_upstream() == Upstream::Moto {
        return false;
    }
    let line = format!("{name}: {why}");
    let _ = writeln!(std::io::stderr(), "moto-only: {line}");
    if let Some(path) = std::env::var_os(MOTO_ONLY_LOG_ENV) {
        // One short append per line: the tests run in parallel.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            panic!("recording moto-only test {name} in {}: {e}", Path::new(&path).display());
        }
    }
    true
}

/// Ends the test (passing) unless the upstream is moto, naming it as moto-only with the reason:
/// `acceptance_tests::require_moto!("LocalStack community does not serve Organizations");`
#[macro_export]
macro_rules! require_moto {
    ($why:expr) => {{
        fn here() {}
        let path = ::std::any::type_name_of_val(&here);
        let path = path.strip_suffix("::here").unwrap_or(path);
        // Without the test binary's crate name: the path libtest shows.
        let name = path.split_once("::").map_or(path, |(_, name)| name);
        if $crate::moto_only(name, $why) {
            return;
        }
    }};
}
