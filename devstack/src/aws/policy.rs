//! Just enough of IAM policy evaluation to answer the questions CUR, Data Exports and Vantage
//! ask: may this principal do this action on this resource, given these context keys?
//!
//! Supported: `Statement` as object or list; `Effect`; `Principal` / `NotPrincipal` (`"*"`,
//! `AWS`, `Service`, each a string or list); `Action` / `NotAction` and `Resource` /
//! `NotResource` with `*` and `?` wildcards (actions case-insensitively); `Condition` with the
//! String, Arn, Bool and Null operators, their `IfExists` forms and the `ForAnyValue:` /
//! `ForAllValues:` prefixes (context keys are single-valued here). Other operators (Numeric,
//! Date, IpAddress, ...) never match, so an Allow guarded by them does not apply and a Deny
//! guarded by them does not fire. An explicit Deny wins over any Allow.

use serde_json::Value;

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An AWS service principal such as `billingreports.amazonaws.com`.
    Service(String),
    /// An IAM principal, by every name a policy may use for it: its ARN, its account's root ARN,
    /// the bare account id, its unique id.
    Aws(Vec<String>),
    /// Identity-based policies have no `Principal`: the policy's owner is asking.
    Owner,
}

impl Principal {
    /// An IAM role (or user) by ARN, plus the names policies may use for it.
    pub fn iam(arn: &str, unique_id: Option<&str>) -> Self {
        let mut names = vec![arn.to_owned()];
        if let Some(account) = arn.split(':').nth(4).filter(|a| !a.is_empty()) {
            let partition = arn.split(':').nth(1).unwrap_or("aws");
            names.push(format!("arn:{partition}:iam::{account}:root"));
            names.push(account.to_owned());
        }
        names.extend(unique_id.map(str::to_owned));
        Principal::Aws(names)
    }
}

/// One request to authorise.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition context: `(key, value)`; keys are compared case-insensitively.
    pub context: &'a [(&'a str, &'a str)],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    /// No statement applies.
    NotAllowed,
}

/// Parses a policy document. IAM returns documents URL-encoded, S3 verbatim: both are accepted.
pub fn parse(document: &str) -> Result<Value, String> {
    let trimmed = document.trim_start();
    let text = if trimmed.starts_with('{') {
        document.to_owned()
    } else {
        super::request::percent_decode(document)
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("the policy is not a JSON object".to_owned())
    }
}

/// Evaluates one policy.
pub fn evaluate(policy: &Value, request: &Request<'_>) -> Decision {
    combine(std::iter::once(policy), request)
}

/// Evaluates several policies as one: any explicit Deny wins, then any Allow.
pub fn combine<'p>(policies: impl IntoIterator<Item = &'p Value>, request: &Request<'_>) -> Decision {
    let mut allowed = false;
    for policy in policies {
        for statement in statements(policy) {
            if !statement_applies(statement, request) {
                continue;
            }
            match statement.get("Effect").and_then(Value::as_str) {
                Some("Deny") => return Decision::ExplicitDeny,
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    if allowed { Decision::Allow } else { Decision::NotAllowed }
}

/// True when some Allow statement names this principal and action on this resource, ignoring
/// its conditions: tells "not trusted at all" from "trusted, but a condition fails".
pub fn allows_ignoring_conditions(policy: &Value, request: &Request<'_>) -> bool {
    statements(policy).any(|statement| {
        statement.get("Effect").and_then(Value::as_str) == Some("Allow")
            && principal_matches(statement, request.principal)
            && action_matches(statement, request.action)
            && resource_matches(statement, request.resource)
    })
}

fn statements(policy: &Value) -> impl Iterator<Item = &Value> {
    let list: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    list.into_iter()
}

fn statement_applies(statement: &Value, request: &Request<'_>) -> bool {
    principal_matches(statement, request.principal)
        && action_matches(statement, request.action)
        && resource_matches(statement, request.resource)
        && conditions_hold(statement.get("Condition"), request.context)
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `Principal` must name the requester; `NotPrincipal` must not; identity policies have neither.
fn principal_matches(statement: &Value, principal: &Principal) -> bool {
    match (statement.get("Principal"), statement.get("NotPrincipal")) {
        (Some(named), _) => names(named, principal),
        (None, Some(excluded)) => !names(excluded, principal),
        (None, None) => matches!(principal, Principal::Owner),
    }
}

fn names(block: &Value, principal: &Principal) -> bool {
    if block.as_str() == Some("*") {
        return true;
    }
    let Some(block) = block.as_object() else {
        return false;
    };
    let listed = |kind: &str| block.get(kind).map(strings).unwrap_or_default();
    // `{"AWS": "*"}` is documented as equivalent to `"*"`.
    if listed("AWS").contains(&"*") {
        return true;
    }
    match principal {
        Principal::Service(service) => listed("Service").iter().any(|s| s == service),
        Principal::Aws(aliases) => listed("AWS").iter().any(|p| aliases.iter().any(|a| a == p)),
        Principal::Owner => false,
    }
}

fn action_matches(statement: &Value, action: &str) -> bool {
    let action = action.to_ascii_lowercase();
    let any = |patterns: &Value| strings(patterns).iter().any(|p| glob(&p.to_ascii_lowercase(), &action));
    match (statement.get("Action"), statement.get("NotAction")) {
        (Some(patterns), _) => any(patterns),
        (None, Some(excluded)) => !any(excluded),
        (None, None) => false,
    }
}

/// A missing `Resource` (trust policies) covers the resource the policy is attached to.
fn resource_matches(statement: &Value, resource: &str) -> bool {
    let any = |patterns: &Value| strings(patterns).iter().any(|p| glob(p, resource));
    match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(patterns), _) => any(patterns),
        (None, Some(excluded)) => !any(excluded),
        (None, None) => true,
    }
}

/// Every operator block and every key in it must hold.
fn conditions_hold(conditions: Option<&Value>, context: &[(&str, &str)]) -> bool {
    let Some(conditions) = conditions else {
        return true;
    };
    let Some(blocks) = conditions.as_object() else {
        return false;
    };
    blocks.iter().all(|(operator, keys)| {
        let Some(keys) = keys.as_object() else {
            return false;
        };
        keys.iter().all(|(key, wanted)| {
            let present = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v);
            condition_holds(operator, present, wanted)
        })
    })
}

fn condition_holds(operator: &str, present: Option<&str>, wanted: &Value) -> bool {
    let operator = operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| operator.strip_prefix("ForAllValues:"))
        .unwrap_or(operator);
    let (operator, if_exists) = match operator.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (operator, false),
    };
    let wanted: Vec<String> = match wanted {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => vec![scalar(other)],
    };
    if operator == "Null" {
        // `"Null": {"key": "true"}` holds when the key is absent.
        return wanted.iter().any(|w| (w == "true") == present.is_none());
    }
    let negated = operator.contains("Not");
    let Some(value) = present else {
        // A missing key fails positive operators and satisfies negated ones.
        return if_exists || negated;
    };
    let compare: fn(&str, &str) -> bool = match operator {
        "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => |w, v| w == v,
        "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => |w, v| w.eq_ignore_ascii_case(v),
        "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => |w, v| glob(w, v),
        "Bool" => |w, v| w.eq_ignore_ascii_case(v),
        _ => return false,
    };
    let any = wanted.iter().any(|w| compare(w, value));
    if negated { !any } else { any }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `*` matches any run of characters, `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BUCKET: &str = "arn:aws:s3:::cur";
    const SOURCE: &str = "arn:aws:cur:us-east-1:123456789012:definition/r";

    fn billing() -> Principal {
        Principal::Service("billingreports.amazonaws.com".to_owned())
    }

    fn ask(policy: &Value, principal: &Principal, action: &str, resource: &str) -> Decision {
        let context = [("aws:SourceArn", SOURCE), ("aws:SourceAccount", "123456789012")];
        evaluate(
            policy,
            &Request {
                principal,
                action,
                resource,
                context: &context,
            },
        )
    }

    /// The bucket policy Vantage's Terraform module writes.
    fn module_policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "billingreports.amazonaws.com"},
             "Action": ["s3:GetBucketAcl", "s3:GetBucketPolicy"], "Resource": BUCKET,
             "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cur:us-east-1:123456789012:definition/*",
                                            "aws:SourceAccount": "123456789012"}}},
            {"Effect": "Allow", "Principal": {"Service": ["billingreports.amazonaws.com", "bcm-data-exports.amazonaws.com"]},
             "Action": "s3:PutObject", "Resource": "arn:aws:s3:::cur/*",
             "Condition": {"StringLike": {"aws:SourceArn": ["arn:aws:cur:us-east-1:123456789012:definition/*",
                                                            "arn:aws:bcm-data-exports:us-east-1:123456789012:export/*"]},
                           "StringEquals": {"aws:SourceAccount": "123456789012"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [BUCKET, "arn:aws:s3:::cur/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}, "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}
        ]})
    }

    #[test]
    fn module_bucket_policy_allows_billing_reports() {
        let policy = module_policy();
        assert_eq!(
            ask(&policy, &billing(), "s3:PutObject", "arn:aws:s3:::cur/p/x"),
            Decision::Allow
        );
        // StringEquals does not expand wildcards: the first statement does not match a concrete ARN.
        assert_eq!(
            ask(&policy, &billing(), "s3:GetBucketAcl", BUCKET),
            Decision::NotAllowed
        );
        let other = Principal::Service("logging.s3.amazonaws.com".to_owned());
        assert_eq!(
            ask(&policy, &other, "s3:PutObject", "arn:aws:s3:::cur/x"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn wildcards_lists_and_deny() {
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:Put*", "Resource": "arn:aws:s3:::cur/*"},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "S3:PUTOBJECT", "Resource": "arn:aws:s3:::cur/secret/*"}
        ]});
        assert_eq!(
            ask(&policy, &billing(), "s3:PutObject", "arn:aws:s3:::cur/a"),
            Decision::Allow
        );
        assert_eq!(
            ask(&policy, &billing(), "s3:PutObject", "arn:aws:s3:::cur/secret/a"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            ask(&policy, &billing(), "s3:GetObject", "arn:aws:s3:::cur/a"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn conditions_missing_keys_and_if_exists() {
        let holds = |op: &str, present: Option<&str>, wanted: Value| condition_holds(op, present, &wanted);
        assert!(!holds("StringEquals", None, json!("x")));
        assert!(holds("StringEqualsIfExists", None, json!("x")));
        assert!(holds("StringNotEquals", None, json!("x")));
        assert!(holds("StringLike", Some("abc"), json!(["z", "a*"])));
        assert!(!holds("StringNotLike", Some("abc"), json!(["z", "a*"])));
        assert!(holds(
            "ArnLike",
            Some(SOURCE),
            json!("arn:aws:cur:*:123456789012:definition/*")
        ));
        assert!(holds("Bool", Some("true"), json!(true)));
        assert!(holds("Null", None, json!("true")));
        assert!(!holds("NumericLessThan", Some("1"), json!("2")));
    }

    #[test]
    fn identity_policies_and_iam_principals() {
        let inline =
            json!({"Statement": {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::cur/*"}});
        assert_eq!(
            ask(&inline, &Principal::Owner, "s3:GetObject", "arn:aws:s3:::cur/*"),
            Decision::Allow
        );
        let role = Principal::iam("arn:aws:iam::123456789012:role/r", Some("AROAEXAMPLE"));
        // An identity policy does not apply to another principal through a resource policy.
        assert_eq!(
            ask(&inline, &role, "s3:GetObject", "arn:aws:s3:::cur/*"),
            Decision::NotAllowed
        );
        let root = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                        "Action": "s3:*", "Resource": "*"}});
        assert_eq!(ask(&root, &role, "s3:GetObject", "arn:aws:s3:::cur/*"), Decision::Allow);
        let by_id = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": ["AROAEXAMPLE"]},
                                         "Action": "s3:GetObject", "Resource": "*"}});
        assert_eq!(ask(&by_id, &role, "s3:GetObject", "x"), Decision::Allow);
    }

    #[test]
    fn url_encoded_documents_parse() {
        let doc = "%7B%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse(doc).expect("decoded"), json!({"Statement": []}));
        assert!(parse("[1]").is_err());
    }

    #[test]
    fn glob_semantics() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*/*", "bucket/key"));
        assert!(!glob("arn:aws:s3:::cur/*", "arn:aws:s3:::cur"));
    }
}
