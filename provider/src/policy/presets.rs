//! What Vantage's role is made of, wherever it is made (`vantage_aws_cross_account_role` and
//! `vantage_aws_role_policy` in one account, `vantage_aws_member_account_roles` in every member):
//! its default name, the managed policy it carries, Vantage's published documents by preset
//! name, and the words the guards use about them.

use tfplugin::{AttrPath, Diagnostic};

use super::{Finding, MODULE_POLICY_NAMES, PRESET_NAMES, cur_retrieval_policy_with_key, describe_findings};
use crate::vantage::AwsProviderInfo;

/// The role name Vantage's guide and module use.
pub const DEFAULT_ROLE_NAME: &str = "vantage_cross_account_connection";

/// `ViewOnlyAccess`, after `arn:<partition>:`.
pub const VIEW_ONLY_ACCESS: &str = "iam::aws:policy/job-function/ViewOnlyAccess";

/// A preset's document, from Vantage's provider info.
pub fn preset_document(
    info: &AwsProviderInfo,
    preset: &str,
    cur_bucket: Option<&str>,
    kms_key_arn: Option<&str>,
) -> Result<String, Diagnostic> {
    let p = &info.policies;
    let doc = match preset {
        "root" => p.root.clone(),
        "cloudwatch" => p.cloudwatch.clone(),
        "resources" => p.resources.clone(),
        "autopilot" => p.autopilot.clone(),
        "cur_retrieval" => cur_bucket.map(|b| cur_retrieval_policy_with_key(b, kms_key_arn)),
        _ => None,
    };
    doc.ok_or_else(|| {
        Diagnostic::error(
            "Preset not available",
            format!("Vantage's provider info has no {preset:?} policy document. Use `policy` with the JSON instead."),
        )
        .at(AttrPath::new("preset"))
    })
}

/// The inline policy name a preset's document has on the role (Vantage module's names).
pub fn preset_policy_name(preset: &str) -> Option<&'static str> {
    let i = PRESET_NAMES.iter().position(|p| *p == preset)?;
    MODULE_POLICY_NAMES.get(i).copied()
}

/// The preset whose document a module-named inline policy holds.
pub fn preset_of_policy_name(name: &str) -> Option<&'static str> {
    let i = MODULE_POLICY_NAMES.iter().position(|n| *n == name)?;
    PRESET_NAMES.get(i).copied()
}

pub fn write_message(findings: &[Finding]) -> String {
    format!(
        "This policy would let Vantage change your account: {}. Vantage's integration is read-only by \
         default; set `allow_write_actions = true` only if you mean to grant these (Autopilot needs them).",
        describe_findings(findings)
    )
}

pub fn data_message(findings: &[Finding]) -> String {
    format!(
        "This policy would let Vantage read data or credentials, not just metadata: {}. Set \
         `allow_data_reads = true` only if you mean to grant these.",
        describe_findings(findings)
    )
}
