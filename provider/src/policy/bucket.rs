//! The CUR bucket's policy: the statements Vantage's onboarding puts on the
//! bucket, the user's additional statements, and reading an existing policy
//! back into those terms (for import). Nothing here talks to AWS.
//!
//! The statements, as Vantage's public Terraform module
//! (vantage-sh/terraform-aws-vantage-integration) writes them, with `A` the
//! account id and `B` the bucket's ARN (`arn:aws:s3:::<bucket>`):
//! 1. `billingreports.amazonaws.com` may `s3:GetBucketAcl` and
//!    `s3:GetBucketPolicy` on `B`, when `aws:SourceArn` equals
//!    `arn:aws:cur:us-east-1:A:definition/*` and `aws:SourceAccount` is `A`.
//! 2. `billingreports.amazonaws.com` may `s3:PutObject` on `B/*`, same conditions.
//! 3. `billingreports.amazonaws.com` and `bcm-data-exports.amazonaws.com`
//!    may `s3:PutObject` and `s3:GetBucketPolicy` on `B/*` and `B`, when
//!    `aws:SourceArn` is like `arn:aws:cur:us-east-1:A:definition/*` or
//!    `arn:aws:bcm-data-exports:us-east-1:A:export/*` and `aws:SourceAccount` is `A`.
//! 4. Vantage's cross-account role may `s3:GetObject` and `s3:GetObjectAcl` on `B/*`.
//! 5. (newer module versions) Deny `s3:*` on `B` and `B/*` when
//!    `aws:SecureTransport` is false, unless `aws:PrincipalIsAWSService`.
//!
//! The source ARNs name us-east-1 whatever the bucket's region, because CUR
//! and Data Exports live there (`aws::cur::billing_region`). CUR checks
//! statements 1 and 2 before it accepts a report definition for the bucket.

use serde_json::{Value, json};

use crate::aws::cur::billing_region;
use crate::aws::s3::bucket_arn;
use crate::policy::{self, PolicyDocument};

const BILLING_SERVICE: &str = "billingreports.amazonaws.com";
const EXPORTS_SERVICE: &str = "bcm-data-exports.amazonaws.com";

/// Statements 1-3: billing (CUR 1.0) and Data Exports may read the bucket's
/// ACL and policy and write objects, only for reports of this account.
pub fn billing_statements(partition: &str, account: &str, bucket: &str) -> Vec<Value> {
    let b = bucket_arn(partition, bucket);
    let objects = format!("{b}/*");
    let region = billing_region(partition);
    let cur = format!("arn:{partition}:cur:{region}:{account}:definition/*");
    let exports = format!("arn:{partition}:bcm-data-exports:{region}:{account}:export/*");
    vec![
        json!({
            "Effect": "Allow",
            "Principal": { "Service": BILLING_SERVICE },
            "Action": ["s3:GetBucketAcl", "s3:GetBucketPolicy"],
            "Resource": b,
            "Condition": { "StringEquals": { "aws:SourceArn": cur, "aws:SourceAccount": account } }
        }),
        json!({
            "Effect": "Allow",
            "Principal": { "Service": BILLING_SERVICE },
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": { "StringEquals": { "aws:SourceArn": cur, "aws:SourceAccount": account } }
        }),
        json!({
            "Effect": "Allow",
            "Principal": { "Service": [BILLING_SERVICE, EXPORTS_SERVICE] },
            "Action": ["s3:PutObject", "s3:GetBucketPolicy"],
            "Resource": [objects, b],
            "Condition": { "StringLike": { "aws:SourceArn": [cur, exports], "aws:SourceAccount": account } }
        }),
    ]
}

/// Statement 4: Vantage's cross-account role reads the CUR files.
pub fn role_statement(partition: &str, bucket: &str, role_arn: &str) -> Value {
    json!({
        "Effect": "Allow",
        "Principal": { "AWS": role_arn },
        "Action": ["s3:GetObject", "s3:GetObjectAcl"],
        "Resource": format!("{}/*", bucket_arn(partition, bucket))
    })
}

/// Statement 5: refuse plain-HTTP requests (AWS services are exempt).
pub fn tls_statement(partition: &str, bucket: &str) -> Value {
    let b = bucket_arn(partition, bucket);
    json!({
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [b.clone(), format!("{b}/*")],
        "Condition": {
            "Bool": { "aws:SecureTransport": "false" },
            "BoolIfExists": { "aws:PrincipalIsAWSService": "false" }
        }
    })
}

/// The whole bucket policy: Vantage's statements, then the user's.
pub fn bucket_policy(
    partition: &str,
    account: &str,
    bucket: &str,
    role_arn: Option<&str>,
    enforce_tls: bool,
    additional: &[Value],
) -> String {
    let mut statements = billing_statements(partition, account, bucket);
    if let Some(role) = role_arn {
        statements.push(role_statement(partition, bucket, role));
    }
    if enforce_tls {
        statements.push(tls_statement(partition, bucket));
    }
    statements.extend(additional.iter().cloned());
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// The Sids that mark Vantage's statements in a bucket policy another tool manages
/// (`vantage_aws_cur_bucket_access`): statements 1-3, then the role's.
pub const VANTAGE_SIDS: [&str; 4] = [
    "VantageBillingReadBucket",
    "VantageBillingWriteReports",
    "VantageExportsWriteReports",
    "VantageReadReports",
];

/// Vantage's statements with their Sids, to merge into a policy that holds others.
pub fn vantage_statements(partition: &str, account: &str, bucket: &str, role_arn: Option<&str>) -> Vec<Value> {
    let mut statements = billing_statements(partition, account, bucket);
    if let Some(role) = role_arn {
        statements.push(role_statement(partition, bucket, role));
    }
    for (statement, sid) in statements.iter_mut().zip(VANTAGE_SIDS) {
        if let Value::Object(o) = statement {
            o.insert("Sid".to_string(), Value::from(sid));
        }
    }
    statements
}

fn statements_of(policy: Option<&str>) -> Result<Vec<Value>, String> {
    let Some(text) = policy.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("the bucket policy is not JSON: {e}"))?;
    Ok(match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    })
}

fn is_vantage(statement: &Value) -> bool {
    statement["Sid"].as_str().is_some_and(|sid| VANTAGE_SIDS.contains(&sid))
}

/// `current` with Vantage's statements (by Sid) replaced by `ours`, the others untouched;
/// `None` when no statement is left (the policy is to be deleted).
pub fn merge_vantage_statements(current: Option<&str>, ours: &[Value]) -> Result<Option<String>, String> {
    let mut statements: Vec<Value> = statements_of(current)?.into_iter().filter(|s| !is_vantage(s)).collect();
    statements.extend(ours.iter().cloned());
    let version = current
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|d| d["Version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "2012-10-17".to_string());
    Ok((!statements.is_empty()).then(|| json!({ "Version": version, "Statement": statements }).to_string()))
}

/// Vantage's statements in `current` (by Sid), as a JSON list.
pub fn vantage_statements_in(current: Option<&str>) -> String {
    let ours: Vec<Value> = statements_of(current)
        .unwrap_or_default()
        .into_iter()
        .filter(is_vantage)
        .collect();
    Value::Array(ours).to_string()
}

/// `additional_policy_statements`: a JSON list of statements, one statement
/// object, or a whole policy document (its statements are taken).
pub fn parse_additional(text: &str) -> Result<Vec<Value>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("additional_policy_statements is not valid JSON: {e}"))?;
    let statements = match value {
        Value::Array(items) => items,
        Value::Object(ref o) if o.contains_key("Statement") => match &o["Statement"] {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        },
        one @ Value::Object(_) => vec![one],
        _ => {
            return Err(
                "additional_policy_statements must be a JSON list of statements (or one statement object), \
                 e.g. jsonencode([{ Effect = \"Allow\", ... }])"
                    .to_string(),
            );
        }
    };
    PolicyDocument::from_value(&json!({ "Version": "2012-10-17", "Statement": statements.clone() }))
        .map_err(|e| format!("additional_policy_statements: {e}"))?;
    Ok(statements)
}

/// Two `additional_policy_statements` texts with the same statements.
pub fn same_statements(a: &str, b: &str) -> bool {
    match (parse_additional(a), parse_additional(b)) {
        (Ok(a), Ok(b)) => policy::equivalent(
            &json!({ "Version": "2012-10-17", "Statement": a }).to_string(),
            &json!({ "Version": "2012-10-17", "Statement": b }).to_string(),
        ),
        _ => a == b,
    }
}

fn one_statement_doc(statement: &Value) -> String {
    json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

/// What an existing bucket policy says in terms of the bucket's options:
/// the role reading the files, whether TLS is enforced, and any statements
/// beyond Vantage's (a JSON list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyShape {
    pub role_arn: Option<String>,
    pub enforce_tls: bool,
    pub additional: Option<String>,
}

impl PolicyShape {
    /// The options of a bucket without a policy: the defaults, nothing extra.
    pub const NO_POLICY: PolicyShape = PolicyShape {
        role_arn: None,
        enforce_tls: true,
        additional: None,
    };
}

/// Recognises Vantage's statements in `text` (a bucket policy S3 returned).
pub fn policy_shape(partition: &str, account: &str, bucket: &str, text: &str) -> PolicyShape {
    let mut shape = PolicyShape {
        role_arn: None,
        enforce_tls: false,
        additional: None,
    };
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return shape;
    };
    let statements = match &doc["Statement"] {
        Value::Array(items) => items.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let billing: Vec<String> = billing_statements(partition, account, bucket)
        .iter()
        .map(one_statement_doc)
        .collect();
    let tls = one_statement_doc(&tls_statement(partition, bucket));
    let mut extra = Vec::new();
    for s in statements {
        let this = one_statement_doc(&s);
        if billing.iter().any(|r| policy::equivalent(r, &this)) {
            continue;
        }
        if policy::equivalent(&tls, &this) {
            shape.enforce_tls = true;
            continue;
        }
        let principal = match &s["Principal"]["AWS"] {
            Value::String(p) => Some(p.clone()),
            Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
            _ => None,
        };
        if shape.role_arn.is_none()
            && let Some(p) = principal
            && policy::equivalent(&one_statement_doc(&role_statement(partition, bucket, &p)), &this)
        {
            shape.role_arn = Some(p);
            continue;
        }
        extra.push(s);
    }
    if !extra.is_empty() {
        shape.additional = Some(Value::Array(extra).to_string());
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vantage_statements_merge_beside_others_and_leave_with_them_untouched() {
        let theirs = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#;
        let ours = vantage_statements("aws", "123456789012", "b", Some("arn:aws:iam::123456789012:role/v"));
        assert_eq!(ours.len(), 4);
        let merged = merge_vantage_statements(Some(theirs), &ours)
            .ok()
            .flatten()
            .unwrap_or_default();
        let doc: Value = serde_json::from_str(&merged).unwrap_or_default();
        assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(5));
        assert!(policy::equivalent(
            &vantage_statements_in(Some(&merged)),
            &Value::Array(ours.clone()).to_string()
        ));
        // Merging again replaces ours instead of adding them twice.
        let again = merge_vantage_statements(Some(&merged), &ours)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(policy::equivalent(&again, &merged));
        // Removing ours gives back exactly theirs; with nothing else, no policy at all.
        let removed = merge_vantage_statements(Some(&merged), &[])
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(policy::equivalent(&removed, theirs));
        let only_ours = merge_vantage_statements(None, &ours).ok().flatten();
        assert_eq!(merge_vantage_statements(only_ours.as_deref(), &[]), Ok(None));
    }

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn the_policy_names_us_east_1_whatever_the_bucket_region() {
        let doc = bucket_policy("aws", ACCOUNT, "my-cur", None, true, &[]);
        assert!(doc.contains("arn:aws:cur:us-east-1:123456789012:definition/*"));
        assert!(doc.contains("arn:aws:bcm-data-exports:us-east-1:123456789012:export/*"));
        assert!(PolicyDocument::parse(&doc).is_ok());
    }

    #[test]
    fn the_policy_has_vantages_statements_and_the_options() {
        let role = "arn:aws:iam::123456789012:role/vantage_cross_account_connection";
        let extra = parse_additional(r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::my-cur"}]"#)
            .expect("valid");
        let doc: Value =
            serde_json::from_str(&bucket_policy("aws", ACCOUNT, "my-cur", Some(role), true, &extra)).expect("json");
        let statements = doc["Statement"].as_array().expect("list");
        assert_eq!(statements.len(), 6);
        assert_eq!(statements[3]["Principal"]["AWS"], role);
        assert_eq!(statements[4]["Effect"], "Deny");
        let bare: Value =
            serde_json::from_str(&bucket_policy("aws", ACCOUNT, "my-cur", None, false, &[])).expect("json");
        assert_eq!(bare["Statement"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn an_imported_policy_gives_back_the_arguments() {
        let role = "arn:aws:iam::123456789012:role/v";
        let extra_text = r#"[{"Sid":"Mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::my-cur"}]"#;
        let extra = parse_additional(extra_text).expect("valid");
        let doc = bucket_policy("aws", ACCOUNT, "my-cur", Some(role), true, &extra);
        let shape = policy_shape("aws", ACCOUNT, "my-cur", &doc);
        assert_eq!(shape.role_arn.as_deref(), Some(role));
        assert!(shape.enforce_tls);
        assert!(same_statements(
            shape.additional.as_deref().unwrap_or_default(),
            extra_text
        ));
        let shape = policy_shape(
            "aws",
            ACCOUNT,
            "my-cur",
            &bucket_policy("aws", ACCOUNT, "my-cur", None, false, &[]),
        );
        assert!(shape.role_arn.is_none() && !shape.enforce_tls && shape.additional.is_none());
    }

    #[test]
    fn additional_statements_accept_a_list_an_object_or_a_document() {
        let one = r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"*"}"#;
        assert_eq!(parse_additional(one).map(|s| s.len()), Ok(1));
        assert_eq!(parse_additional(&format!("[{one},{one}]")).map(|s| s.len()), Ok(2));
        assert_eq!(
            parse_additional(&format!(r#"{{"Version":"2012-10-17","Statement":[{one}]}}"#)).map(|s| s.len()),
            Ok(1)
        );
        assert!(parse_additional("\"x\"").is_err());
        assert!(
            parse_additional(r#"[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]"#)
                .is_err_and(|e| e.contains("Effect"))
        );
        assert!(same_statements(&format!("[{one}]"), one));
    }
}
