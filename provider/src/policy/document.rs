//! The policy document model and its parser.
//!
//! The parser accepts the grammar IAM accepts and rejects the rest with a
//! message that names the element (`Statement[1].Effect ...`), so plan-time
//! validation can tell the user exactly what to fix instead of waiting for
//! `MalformedPolicyDocument` at apply.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::PolicyError;

/// The two policy language versions IAM accepts.
pub const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// A parsed IAM policy: identity (inline role) policy, trust policy or S3
/// bucket policy. Values keep the order and spelling of the source; the
/// canonical form (see [`PolicyDocument::canonical`]) is what compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub id: Option<String>,
    /// `Statement` written as a single object parses as one statement.
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`; absent in identity policies.
    pub principal: Option<Negatable<Principal>>,
    /// `Action` or `NotAction`; every statement has one.
    pub action: Negatable<Vec<String>>,
    /// `Resource` or `NotResource`; absent in trust policies.
    pub resource: Option<Negatable<Vec<String>>>,
    /// One entry per operator and key, in source order.
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// An element and its `Not` form (`Action` / `NotAction`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Negatable<T> {
    Is(T),
    Not(T),
}

impl<T> Negatable<T> {
    pub fn value(&self) -> &T {
        match self {
            Negatable::Is(v) | Negatable::Not(v) => v,
        }
    }

    pub fn is_not(&self) -> bool {
        matches!(self, Negatable::Not(_))
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Negatable<U> {
        match self {
            Negatable::Is(v) => Negatable::Is(f(v)),
            Negatable::Not(v) => Negatable::Not(f(v)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    /// `"*"`: everyone, including anonymous callers.
    Everyone,
    /// `{"AWS": ..., "Service": ...}`.
    Typed(BTreeMap<PrincipalType, Vec<String>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    const ALL: [PrincipalType; 4] = [
        PrincipalType::Aws,
        PrincipalType::Service,
        PrincipalType::Federated,
        PrincipalType::CanonicalUser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// One `operator -> key -> values` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Condition {
    /// `StringEquals`, `ForAnyValue:StringLike`, `BoolIfExists`, ...: exact.
    pub operator: String,
    /// `aws:SourceArn`, `sts:ExternalId`, ...: IAM compares these case-insensitively.
    pub key: String,
    /// Booleans and numbers are kept as their JSON text: IAM compares
    /// condition values as strings, so `true` and `"true"` mean the same.
    pub values: Vec<String>,
}

const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl PolicyDocument {
    /// Parses a policy as IAM accepts it. Whitespace, key order, single
    /// strings vs lists and `Statement` as an object or a list are all
    /// accepted; anything IAM would refuse is an error naming the element.
    pub fn parse(text: &str) -> Result<PolicyDocument, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PolicyError::Json {
            line: e.line(),
            column: e.column(),
            message: json_error_message(&e),
        })?;
        PolicyDocument::from_value(&value)
    }

    /// Like [`PolicyDocument::parse`], for a document that is already JSON.
    pub fn from_value(value: &Value) -> Result<PolicyDocument, PolicyError> {
        let Value::Object(top) = value else {
            return Err(invalid(
                "policy",
                format!("must be a JSON object, found {}", kind(value)),
            ));
        };
        check_elements(top, "policy", &["Version", "Id", "Statement"])?;
        let version = optional_string(top, "Version", "Version")?;
        if let Some(v) = &version
            && !VERSIONS.contains(&v.as_str())
        {
            return Err(invalid(
                "Version",
                format!("must be \"2012-10-17\" or \"2008-10-17\", found {v:?}"),
            ));
        }
        let id = optional_string(top, "Id", "Id")?;
        let statements = match top.get("Statement") {
            None => return Err(invalid("policy", "has no \"Statement\"".to_string())),
            Some(Value::Object(one)) => vec![parse_statement(one, "Statement")?],
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let path = format!("Statement[{i}]");
                    match s {
                        Value::Object(s) => parse_statement(s, &path),
                        other => Err(invalid(&path, format!("must be an object, found {}", kind(other)))),
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(invalid(
                    "Statement",
                    format!("must be an object or a list, found {}", kind(other)),
                ));
            }
        };
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }

    /// Compact JSON in IAM's grammar. Lists are always written as lists.
    pub fn to_json(&self) -> String {
        // Serializing these types into a String cannot fail: keys are strings.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl std::str::FromStr for PolicyDocument {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyDocument::parse(s)
    }
}

/// IAM returns inline and trust policy documents URL-encoded
/// (`%7B%22Version%22...`); S3 returns bucket policies verbatim. This decodes
/// the former and passes JSON through untouched, so callers need not know
/// where a document came from.
///
/// Only `%XX` escapes are decoded: IAM encodes per RFC 3986 (spaces as `%20`),
/// so a literal `+` (legal in role names) stays a `+`. Text that does not
/// decode to UTF-8 is returned unchanged, for the parser to refuse.
pub fn decode_iam(text: &str) -> String {
    try_decode_iam(text).map_or_else(|_| text.to_string(), Cow::into_owned)
}

/// [`decode_iam`] that says when decoding fails, for [`super::parse_any`].
pub(crate) fn try_decode_iam(text: &str) -> Result<Cow<'_, str>, PolicyError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || !trimmed.contains('%') {
        return Ok(Cow::Borrowed(text));
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| Cow::Owned(decoded.into_owned()))
        .map_err(|_| PolicyError::Encoding)
}

fn parse_statement(s: &Map<String, Value>, path: &str) -> Result<Statement, PolicyError> {
    check_elements(s, path, &STATEMENT_ELEMENTS)?;
    let sid = optional_string(s, "Sid", &format!("{path}.Sid"))?;
    let effect = match s.get("Effect") {
        None => return Err(invalid(path, "has no \"Effect\"".to_string())),
        Some(Value::String(e)) if e.eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(Value::String(e)) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(other) => {
            return Err(invalid(
                &format!("{path}.Effect"),
                format!("must be \"Allow\" or \"Deny\", found {}", shown(other)),
            ));
        }
    };
    let principal = match pair(s, path, "Principal", "NotPrincipal")? {
        None => None,
        Some((name, v)) => Some(negate(name, parse_principal(v, &format!("{path}.{name}"))?)),
    };
    let action = match pair(s, path, "Action", "NotAction")? {
        None => return Err(invalid(path, "has no \"Action\" or \"NotAction\"".to_string())),
        Some((name, v)) => {
            let element = format!("{path}.{name}");
            let actions = strings(v, &element)?;
            for (i, a) in actions.iter().enumerate() {
                if a != "*"
                    && !a
                        .split_once(':')
                        .is_some_and(|(svc, act)| !svc.is_empty() && !act.is_empty())
                {
                    return Err(invalid(
                        &format!("{element}[{i}]"),
                        format!("must be \"*\" or \"service:action\" (for example \"s3:GetObject\"), found {a:?}"),
                    ));
                }
            }
            negate(name, actions)
        }
    };
    let resource = match pair(s, path, "Resource", "NotResource")? {
        None => None,
        Some((name, v)) => Some(negate(name, strings(v, &format!("{path}.{name}"))?)),
    };
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(v) => parse_conditions(v, &format!("{path}.Condition"))?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn negate<T>(name: &str, value: T) -> Negatable<T> {
    if name.starts_with("Not") {
        Negatable::Not(value)
    } else {
        Negatable::Is(value)
    }
}

/// The one of `Action`/`NotAction` (etc.) the statement has; both is an error.
fn pair<'a>(
    s: &'a Map<String, Value>,
    path: &str,
    is: &'static str,
    not: &'static str,
) -> Result<Option<(&'static str, &'a Value)>, PolicyError> {
    match (s.get(is), s.get(not)) {
        (Some(_), Some(_)) => Err(invalid(path, format!("has both \"{is}\" and \"{not}\"; use one"))),
        (Some(v), None) => Ok(Some((is, v))),
        (None, Some(v)) => Ok(Some((not, v))),
        (None, None) => Ok(None),
    }
}

fn parse_principal(v: &Value, path: &str) -> Result<Principal, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principal::Everyone),
        Value::Object(map) => {
            let mut typed = BTreeMap::new();
            for (key, value) in map {
                let Some(t) = PrincipalType::ALL.iter().find(|t| t.as_str() == key) else {
                    return Err(invalid(
                        path,
                        format!(
                            "has unknown principal type {key:?}; expected AWS, Service, Federated or CanonicalUser"
                        ),
                    ));
                };
                typed.insert(*t, strings(value, &format!("{path}.{key}"))?);
            }
            Ok(Principal::Typed(typed))
        }
        other => Err(invalid(
            path,
            format!(
                "must be \"*\" or an object such as {{\"AWS\": \"arn:...\"}}, found {}",
                shown(other)
            ),
        )),
    }
}

fn parse_conditions(v: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = v else {
        return Err(invalid(
            path,
            format!("must be an object of operators, found {}", kind(v)),
        ));
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        let op_path = format!("{path}.{operator}");
        let Value::Object(keys) = keys else {
            return Err(invalid(
                &op_path,
                format!("must be an object of condition keys, found {}", kind(keys)),
            ));
        };
        for (i, (key, values)) in keys.iter().enumerate() {
            let key_path = format!("{op_path}.{key}");
            // IAM compares condition keys without regard to case: two spellings of one key in an
            // operator would be one key twice, which no normal form can write.
            if let Some(earlier) = keys.keys().take(i).find(|k| k.eq_ignore_ascii_case(key)) {
                return Err(invalid(
                    &key_path,
                    format!(
                        "is the condition key {earlier:?} again in another case (IAM compares condition keys \
                         without regard to case): write it once, with all its values"
                    ),
                ));
            }
            let values = match values {
                Value::Array(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| condition_value(v, &format!("{key_path}[{i}]")))
                    .collect::<Result<_, _>>()?,
                single => vec![condition_value(single, &key_path)?],
            };
            out.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn condition_value(v: &Value, path: &str) -> Result<String, PolicyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        // With arbitrary_precision this is the number's source text.
        Value::Number(n) => Ok(n.to_string()),
        other => Err(invalid(
            path,
            format!("must be a string, number or boolean, found {}", kind(other)),
        )),
    }
}

/// A string or a list of strings; a single string is a one-element list.
fn strings(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(
                    &format!("{path}[{i}]"),
                    format!("must be a string, found {}", kind(other)),
                )),
            })
            .collect(),
        other => Err(invalid(
            path,
            format!("must be a string or a list of strings, found {}", kind(other)),
        )),
    }
}

fn optional_string(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, PolicyError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(path, format!("must be a string, found {}", kind(other)))),
    }
}

/// Unknown elements are what IAM refuses most often after a typo
/// (`Actions`, `effect`), so name the element it probably meant.
fn check_elements(map: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), PolicyError> {
    for key in map.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        let hint = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(key) || k.eq_ignore_ascii_case(key.trim_end_matches('s')))
            .map(|k| format!(" (did you mean \"{k}\"?)"))
            .unwrap_or_default();
        return Err(invalid(path, format!("has unknown element {key:?}{hint}")));
    }
    Ok(())
}

fn invalid(path: &str, message: String) -> PolicyError {
    PolicyError::Invalid {
        path: path.to_string(),
        message,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a bad value for an error message.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => kind(other).to_string(),
    }
}

/// serde_json's message without its trailing " at line X column Y", which
/// the error carries separately.
fn json_error_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

// ---- canonical form -------------------------------------------------------

impl PolicyDocument {
    /// The form two equivalent documents share (the rules of
    /// [`super::equivalent`]): statements sorted, every set sorted and
    /// deduplicated, Effect spelt `Allow`/`Deny`, actions and condition keys
    /// lowercased, account-root principals written as the bare account id.
    /// Sid, Version, Id, resources, principals and condition values are kept
    /// exactly. The result is still a valid policy.
    pub fn canonical(&self) -> PolicyDocument {
        let mut statements: Vec<Statement> = self.statements.iter().map(Statement::canonical).collect();
        // A multiset: duplicates are kept, only their order is forgotten.
        statements.sort();
        PolicyDocument {
            version: self.version.clone(),
            id: self.id.clone(),
            statements,
        }
    }

    /// Whether `self` and `other` mean the same to IAM (see [`super::equivalent`]).
    pub fn equivalent(&self, other: &PolicyDocument) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Statement {
    fn canonical(&self) -> Statement {
        let principal = self.principal.clone().map(|p| {
            p.map(|p| match p {
                Principal::Everyone => Principal::Everyone,
                Principal::Typed(map) => Principal::Typed(
                    map.into_iter()
                        .map(|(t, values)| {
                            let values = match t {
                                PrincipalType::Aws => values.into_iter().map(|v| account_root_to_id(&v)).collect(),
                                _ => values,
                            };
                            (t, set(values))
                        })
                        .collect(),
                ),
            })
        });
        let action = self
            .action
            .clone()
            .map(|actions| set(actions.into_iter().map(|a| a.to_ascii_lowercase()).collect()));
        let resource = self.resource.clone().map(|r| r.map(set));
        let mut conditions: Vec<Condition> = self
            .conditions
            .iter()
            .map(|c| Condition {
                operator: c.operator.clone(),
                key: c.key.to_ascii_lowercase(),
                values: set(c.values.clone()),
            })
            .collect();
        conditions.sort();
        Statement {
            sid: self.sid.clone(),
            effect: self.effect,
            principal,
            action,
            resource,
            conditions,
        }
    }
}

fn set(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values.dedup();
    values
}

/// `arn:<partition>:iam::<12 digits>:root` -> the 12 digits. IAM itself
/// rewrites a bare account id to the root ARN of the policy's partition, so
/// the id is the partition-neutral way to compare the two spellings.
fn account_root_to_id(principal: &str) -> String {
    let parts: Vec<&str> = principal.split(':').collect();
    if let ["arn", partition, "iam", "", account, "root"] = parts.as_slice()
        && partition.starts_with("aws")
        && is_account_id(account)
    {
        return (*account).to_string();
    }
    principal.to_string()
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

// ---- serialization --------------------------------------------------------

impl Serialize for PolicyDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(v) = &self.version {
            map.serialize_entry("Version", v)?;
        }
        if let Some(id) = &self.id {
            map.serialize_entry("Id", id)?;
        }
        map.serialize_entry("Statement", &self.statements)?;
        map.end()
    }
}

impl Serialize for Statement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(sid) = &self.sid {
            map.serialize_entry("Sid", sid)?;
        }
        map.serialize_entry("Effect", self.effect.as_str())?;
        if let Some(p) = &self.principal {
            let name = if p.is_not() { "NotPrincipal" } else { "Principal" };
            map.serialize_entry(name, p.value())?;
        }
        let name = if self.action.is_not() { "NotAction" } else { "Action" };
        map.serialize_entry(name, self.action.value())?;
        if let Some(r) = &self.resource {
            let name = if r.is_not() { "NotResource" } else { "Resource" };
            map.serialize_entry(name, r.value())?;
        }
        if !self.conditions.is_empty() {
            map.serialize_entry("Condition", &ConditionBlock(&self.conditions))?;
        }
        map.end()
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Everyone => serializer.serialize_str("*"),
            Principal::Typed(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (t, values) in map {
                    out.serialize_entry(t.as_str(), values)?;
                }
                out.end()
            }
        }
    }
}

/// Writes conditions grouped by operator, in first-seen operator order.
struct ConditionBlock<'a>(&'a [Condition]);

impl Serialize for ConditionBlock<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut operators: Vec<&str> = Vec::new();
        for c in self.0 {
            if !operators.contains(&c.operator.as_str()) {
                operators.push(&c.operator);
            }
        }
        let mut map = serializer.serialize_map(Some(operators.len()))?;
        for op in operators {
            map.serialize_entry(op, &ConditionKeys(self.0, op))?;
        }
        map.end()
    }
}

struct ConditionKeys<'a>(&'a [Condition], &'a str);

impl Serialize for ConditionKeys<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for c in self.0.iter().filter(|c| c.operator == self.1) {
            map.serialize_entry(&c.key, &Strings(&c.values))?;
        }
        map.end()
    }
}

struct Strings<'a>(&'a [String]);

impl Serialize for Strings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for s in self.0 {
            seq.serialize_element(s)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        PolicyDocument::parse(text).expect_err("should be refused").to_string()
    }

    #[test]
    fn parses_the_vantage_trust_policy() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::630399649041:root"},
                "Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}}"#,
        )
        .expect("valid");
        assert_eq!(doc.statements.len(), 1);
        let s = &doc.statements[0];
        assert_eq!(s.effect, Effect::Allow);
        assert_eq!(s.action, Negatable::Is(vec!["sts:AssumeRole".to_string()]));
        assert!(s.resource.is_none());
        assert_eq!(
            s.conditions,
            vec![Condition {
                operator: "StringEquals".into(),
                key: "sts:ExternalId".into(),
                values: vec!["abc".into()]
            }]
        );
    }

    #[test]
    fn bad_effect_names_the_statement_and_the_value() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},
            {"Effect":"allow2","Action":"s3:ListBucket","Resource":"*"}]}"#;
        assert_eq!(
            error(text),
            r#"Statement[1].Effect must be "Allow" or "Deny", found "allow2""#
        );
    }

    #[test]
    fn effect_is_case_insensitive() {
        let doc = PolicyDocument::parse(r#"{"Statement":{"Effect":"DENY","Action":"*","Resource":"*"}}"#)
            .expect("IAM accepts any case");
        assert_eq!(doc.statements[0].effect, Effect::Deny);
    }

    #[test]
    fn refusals_say_what_and_where() {
        let cases = [
            ("[]", "policy must be a JSON object, found a list"),
            (r#"{"Version":"2012-10-17"}"#, r#"policy has no "Statement""#),
            (r#"{"Version":"2012-10-18","Statement":[]}"#, "Version must be"),
            (
                r#"{"Statement":[{"Effect":"Allow","Actions":["s3:GetObject"]}]}"#,
                "did you mean \"Action\"?",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                r#"Statement[0] has no "Action" or "NotAction""#,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":["s3:GetObject","GetObject"]}}"#,
                "Statement.Action[1] must be",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#,
                "has both",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":[1]}]}"#,
                "Statement[0].Resource[0] must be a string",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":{"aws":"1"}}]}"#,
                "unknown principal type \"aws\"",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":"me"}]}"#,
                "Statement[0].Principal must be \"*\"",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"Bool":{"aws:SecureTransport":null}}}]}"#,
                "Statement[0].Condition.Bool.aws:SecureTransport must be a string, number or boolean, found null",
            ),
            ("{\"Statement\": [}", "not valid JSON"),
        ];
        for (text, expected) in cases {
            let got = error(text);
            assert!(got.contains(expected), "{text}: {got:?} should contain {expected:?}");
        }
    }

    #[test]
    fn json_errors_carry_line_and_column() {
        let got = error("{\n  \"Statement\": [,]\n}");
        assert!(got.contains("line 2"), "{got}");
    }

    #[test]
    fn condition_numbers_keep_their_text() {
        let doc = PolicyDocument::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"NumericLessThan":{"s3:max-keys":10.50},"Bool":{"aws:MultiFactorAuthPresent":true}}}}"#,
        )
        .expect("valid");
        let values: Vec<&str> = doc.statements[0]
            .conditions
            .iter()
            .map(|c| c.values[0].as_str())
            .collect();
        assert_eq!(values, ["10.50", "true"]);
    }

    #[test]
    fn url_encoded_documents_decode_and_json_passes_through() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Aa%2Bb%2F%2A%22%7D%5D%7D";
        let decoded = decode_iam(encoded);
        let doc = PolicyDocument::parse(&decoded).expect("valid");
        assert_eq!(
            doc.statements[0].resource,
            Some(Negatable::Is(vec!["arn:aws:s3:::a+b/*".to_string()]))
        );
        // A literal `%` inside a JSON string must not be decoded.
        let json = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/100%25"}}"#;
        assert_eq!(decode_iam(json), json);
        assert_eq!(decode_iam("%7B%FF%FE"), "%7B%FF%FE", "left for the parser to refuse");
        assert!(matches!(try_decode_iam("%7B%FF%FE"), Err(PolicyError::Encoding)));
    }

    #[test]
    fn serializes_back_to_an_equal_document() {
        let text = r#"{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"A","Effect":"Deny","NotPrincipal":{"AWS":["1"],"Service":"s.amazonaws.com"},
            "NotAction":"s3:*","NotResource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"aws:SourceArn":["a","b"]},"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let doc = PolicyDocument::parse(text).expect("valid");
        let again = PolicyDocument::parse(&doc.to_json()).expect("round trip");
        assert_eq!(doc, again);
    }

    #[test]
    fn root_arns_in_any_partition_become_account_ids() {
        assert_eq!(account_root_to_id("arn:aws:iam::123456789012:root"), "123456789012");
        assert_eq!(
            account_root_to_id("arn:aws-us-gov:iam::123456789012:root"),
            "123456789012"
        );
        assert_eq!(
            account_root_to_id("arn:aws:iam::123456789012:role/root"),
            "arn:aws:iam::123456789012:role/root"
        );
        assert_eq!(account_root_to_id("arn:aws:iam::12345:root"), "arn:aws:iam::12345:root");
    }
}
