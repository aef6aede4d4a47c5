//! Equivalence: the cases of user-pain-points row 2, then properties over
//! random documents rendered in every spelling IAM and `jsonencode` produce.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::*;

const TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "AWS": "arn:aws:iam::630399649041:root" },
      "Action": "sts:AssumeRole",
      "Condition": { "StringEquals": { "sts:ExternalId": "ext-123" } }
    }
  ]
}"#;

const BUCKET: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Read","Effect":"Allow","Principal":{"Service":"billingreports.amazonaws.com"},
   "Action":["s3:GetBucketAcl","s3:GetBucketPolicy"],"Resource":"arn:aws:s3:::cur",
   "Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:cur:us-east-1:123456789012:definition/*","aws:SourceAccount":"123456789012"}}},
  {"Sid":"Write","Effect":"Allow","Principal":{"Service":["bcm-data-exports.amazonaws.com","billingreports.amazonaws.com"]},
   "Action":"s3:PutObject","Resource":["arn:aws:s3:::cur/*"]}]}"#;

#[test]
fn policy_written_with_jsonencode_in_another_order_plans_no_change() {
    // What `jsonencode` produces: compact, keys sorted, lists kept as lists.
    let jsonencode = r#"{"Statement":[{"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"sts:ExternalId":["ext-123"]}},"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::630399649041:root"]}}],"Version":"2012-10-17"}"#;
    assert!(equivalent(TRUST, jsonencode));
}

#[test]
fn reordered_statements_and_actions_are_equivalent() {
    let reordered = r#"{"Statement":[
      {"Sid":"Write","Effect":"Allow","Principal":{"Service":["billingreports.amazonaws.com","bcm-data-exports.amazonaws.com"]},
       "Action":["s3:PutObject"],"Resource":"arn:aws:s3:::cur/*"},
      {"Resource":"arn:aws:s3:::cur","Action":["s3:GetBucketPolicy","s3:GetBucketAcl"],"Sid":"Read","Effect":"Allow",
       "Principal":{"Service":"billingreports.amazonaws.com"},
       "Condition":{"StringEquals":{"aws:SourceAccount":"123456789012","aws:SourceArn":["arn:aws:cur:us-east-1:123456789012:definition/*"]}}}],
      "Version":"2012-10-17"}"#;
    assert!(equivalent(BUCKET, reordered));
}

#[test]
fn account_id_principal_equals_root_arn() {
    let bare = TRUST.replace("arn:aws:iam::630399649041:root", "630399649041");
    assert!(equivalent(TRUST, &bare));
    let gov = TRUST.replace("arn:aws:", "arn:aws-us-gov:");
    assert!(
        equivalent(&gov, &bare),
        "IAM writes the root ARN of the policy's partition"
    );
    let other_account = TRUST.replace("630399649041", "111111111111");
    assert!(!equivalent(TRUST, &other_account));
}

#[test]
fn url_encoded_read_back_is_equivalent() {
    let encoded: String = percent_encoding::utf8_percent_encode(TRUST, percent_encoding::NON_ALPHANUMERIC).to_string();
    assert!(encoded.starts_with("%7B%0A%20%20%22Version%22"));
    assert!(equivalent(&encoded, TRUST));
    assert_eq!(normalize(&encoded), normalize(TRUST));
}

#[test]
fn case_iam_ignores_is_ignored() {
    let shouted = TRUST
        .replace("\"Allow\"", "\"ALLOW\"")
        .replace("sts:AssumeRole", "STS:assumerole")
        .replace("sts:ExternalId", "STS:EXTERNALID");
    assert!(equivalent(TRUST, &shouted));
    // Condition operators and values are not case-insensitive.
    assert!(!equivalent(TRUST, &TRUST.replace("StringEquals", "stringequals")));
    assert!(!equivalent(TRUST, &TRUST.replace("ext-123", "EXT-123")));
}

#[test]
fn condition_booleans_and_numbers_equal_their_text() {
    let a = r#"{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":10}}}}"#;
    let b = r#"{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"},"NumericLessThan":{"s3:max-keys":["10"]}}}}"#;
    assert!(equivalent(a, b));
}

#[test]
fn sid_version_and_id_are_exact() {
    let no_version = TRUST.replace("\"Version\": \"2012-10-17\",", "");
    assert!(!equivalent(TRUST, &no_version), "IAM keeps an absent Version absent");
    assert!(!equivalent(
        BUCKET,
        &BUCKET.replace("\"Sid\":\"Read\"", "\"Sid\":\"read\"")
    ));
    assert!(!equivalent(BUCKET, &BUCKET.replace("\"Sid\":\"Read\",", "")));
}

#[test]
fn real_changes_are_not_equivalent() {
    let trust = |from: &str, to: &str| (TRUST, TRUST.replace(from, to));
    let bucket = |from: &str, to: &str| (BUCKET, BUCKET.replace(from, to));
    let changes = [
        trust("\"sts:AssumeRole\"", "[\"sts:AssumeRole\", \"sts:TagSession\"]"),
        trust("\"Allow\"", "\"Deny\""),
        trust("ext-123", "ext-124"),
        trust("\"ext-123\"", "[\"ext-123\", \"ext-124\"]"),
        trust("StringEquals", "StringLike"),
        trust("\"Principal\"", "\"NotPrincipal\""),
        trust("\"Action\"", "\"NotAction\""),
        bucket("\"arn:aws:s3:::cur/*\"", "\"arn:aws:s3:::cur/daily/*\""),
        bucket(
            "\"billingreports.amazonaws.com\"]",
            "\"billingreports.amazonaws.com\", \"x.amazonaws.com\"]",
        ),
        bucket(
            "\"aws:SourceAccount\":\"123456789012\"",
            "\"aws:SourceAccount\":\"123456789013\"",
        ),
    ];
    for (base, changed) in changes {
        assert_ne!(base, changed, "the replacement must apply");
        assert!(!equivalent(base, &changed), "{changed}");
    }
}

#[test]
fn duplicate_statements_count() {
    let once = r#"{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
    let twice = r#"{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
    assert!(!equivalent(once, twice));
    let object = r#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#;
    assert!(
        equivalent(once, object),
        "Statement as an object is a one-statement list"
    );
}

#[test]
fn invalid_documents_are_equivalent_only_to_themselves() {
    assert!(equivalent("{not json", "{not json"));
    assert!(!equivalent("{not json", "{not  json"));
    assert!(!equivalent("{not json", TRUST));
}

#[test]
fn normalized_form_is_compact_sorted_and_stable() {
    let expected = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["630399649041"]},"Action":["sts:assumerole"],"Condition":{"StringEquals":{"sts:externalid":["ext-123"]}}}]}"#;
    assert_eq!(normalize(TRUST).expect("valid"), expected);
    assert!(
        equivalent(expected, TRUST),
        "the canonical form is itself an equivalent policy"
    );
    assert!(matches!(normalize("[]"), Err(PolicyError::Invalid { .. })));
}

// ---- properties ---------------------------------------------------------------

fn action() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        "(s3|ec2|iam|sts|logs|ce):[A-Z][a-zA-Z]{1,12}\\*?",
        "(s3|ec2|dynamodb):\\*",
    ]
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        "arn:aws:s3:::[a-z]{1,6}(/\\*)?",
        "arn:aws:logs:\\*:\\*:log-group:/[a-z]{1,6}/\\*",
    ]
}

fn principal() -> impl Strategy<Value = Principal> {
    let aws = prop_oneof![
        "[0-9]{12}",
        "arn:aws:iam::[0-9]{12}:role/[a-zA-Z+=,.@_-]{1,8}",
        "arn:aws:iam::[0-9]{12}:root",
    ];
    let typed = (
        proptest::collection::vec(aws, 0..3),
        proptest::collection::vec("[a-z]{2,8}\\.amazonaws\\.com", 0..3),
    )
        .prop_map(|(aws, service)| {
            let mut map = BTreeMap::new();
            if !aws.is_empty() || service.is_empty() {
                map.insert(PrincipalType::Aws, aws);
            }
            if !service.is_empty() {
                map.insert(PrincipalType::Service, service);
            }
            Principal::Typed(map)
        });
    prop_oneof![1 => Just(Principal::Everyone), 4 => typed]
}

fn negatable<T: std::fmt::Debug + Clone>(inner: impl Strategy<Value = T>) -> impl Strategy<Value = Negatable<T>> {
    (inner, proptest::bool::weighted(0.2)).prop_map(|(v, not)| if not { Negatable::Not(v) } else { Negatable::Is(v) })
}

fn conditions() -> impl Strategy<Value = Vec<Condition>> {
    let operator = prop_oneof![
        Just("StringEquals"),
        Just("StringLike"),
        Just("ArnLike"),
        Just("Bool"),
        Just("NumericLessThan"),
        Just("ForAnyValue:StringEquals"),
    ];
    let value = prop_oneof![
        "[a-z0-9:/*-]{0,8}",
        Just("true".to_string()),
        Just("false".to_string()),
        Just("3.50".to_string())
    ];
    // Keyed by operator and lowercased key: JSON objects cannot hold the
    // same key twice, and the renderer changes key case at random.
    proptest::collection::btree_map(
        (operator, "(aws|sts|s3):[a-z]{2,8}"),
        proptest::collection::vec(value, 1..4),
        0..3,
    )
    .prop_map(|map| {
        map.into_iter()
            .map(|((operator, key), values)| Condition {
                operator: operator.to_string(),
                key,
                values,
            })
            .collect()
    })
}

fn statement() -> impl Strategy<Value = Statement> {
    (
        proptest::option::of("[A-Z][A-Za-z0-9]{0,6}"),
        prop_oneof![Just(Effect::Allow), Just(Effect::Deny)],
        proptest::option::weighted(0.4, negatable(principal())),
        negatable(proptest::collection::vec(action(), 1..5)),
        proptest::option::weighted(0.8, negatable(proptest::collection::vec(resource(), 1..4))),
        conditions(),
    )
        .prop_map(|(sid, effect, principal, action, resource, conditions)| Statement {
            sid,
            effect,
            principal,
            action,
            resource,
            conditions,
        })
}

fn document() -> impl Strategy<Value = PolicyDocument> {
    (
        prop_oneof![
            Just(None),
            Just(Some("2012-10-17".to_string())),
            Just(Some("2008-10-17".to_string()))
        ],
        proptest::option::weighted(0.1, "[a-z0-9-]{1,8}"),
        proptest::collection::vec(statement(), 1..5),
    )
        .prop_map(|(version, id, statements)| PolicyDocument {
            version,
            id,
            statements,
        })
}

/// Writes `doc` the way some tool might: keys and lists in any order,
/// one-element lists as strings, random case where IAM ignores it, account
/// ids as root ARNs, booleans and numbers unquoted, pretty or compact, and
/// sometimes URL-encoded like IAM's responses.
fn render(doc: &PolicyDocument, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let rng = &mut rng;
    let mut statements: Vec<Value> = doc.statements.iter().map(|s| render_statement(s, rng)).collect();
    statements.shuffle(rng);
    let mut top = vec![];
    if let Some(v) = &doc.version {
        top.push(("Version", Value::String(v.clone())));
    }
    if let Some(id) = &doc.id {
        top.push(("Id", Value::String(id.clone())));
    }
    let statement = match statements.as_slice() {
        [only] if rng.random_bool(0.5) => only.clone(),
        _ => Value::Array(statements),
    };
    top.push(("Statement", statement));
    let value = object(top, rng);
    let text = if rng.random_bool(0.5) {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .unwrap_or_default();
    if rng.random_bool(0.3) {
        percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string()
    } else {
        text
    }
}

fn render_statement(s: &Statement, rng: &mut StdRng) -> Value {
    let mut fields = vec![];
    if let Some(sid) = &s.sid {
        fields.push(("Sid", Value::String(sid.clone())));
    }
    let effect = s.effect.as_str();
    let effect = match rng.random_range(0..3) {
        0 => effect.to_string(),
        1 => effect.to_ascii_lowercase(),
        _ => effect.to_ascii_uppercase(),
    };
    fields.push(("Effect", Value::String(effect)));
    if let Some(p) = &s.principal {
        let name = if p.is_not() { "NotPrincipal" } else { "Principal" };
        let value = match p.value() {
            Principal::Everyone => Value::String("*".into()),
            Principal::Typed(map) => {
                let entries = map
                    .iter()
                    .map(|(t, values)| {
                        let values = values
                            .iter()
                            .map(|v| match (t, document::is_account_id(v), rng.random_bool(0.5)) {
                                (PrincipalType::Aws, true, true) => format!("arn:aws:iam::{v}:root"),
                                _ => v.clone(),
                            })
                            .collect();
                        (t.as_str(), strings(values, rng))
                    })
                    .collect();
                object(entries, rng)
            }
        };
        fields.push((name, value));
    }
    let name = if s.action.is_not() { "NotAction" } else { "Action" };
    let actions = s.action.value().iter().map(|a| random_case(a, rng)).collect();
    fields.push((name, strings(actions, rng)));
    if let Some(r) = &s.resource {
        let name = if r.is_not() { "NotResource" } else { "Resource" };
        fields.push((name, strings(r.value().clone(), rng)));
    }
    if !s.conditions.is_empty() {
        let mut by_operator: Vec<(&str, Vec<(String, Value)>)> = Vec::new();
        for c in &s.conditions {
            let values: Vec<Value> = c.values.iter().map(|v| condition_value(v, rng)).collect();
            let values = match values.as_slice() {
                [one] if rng.random_bool(0.5) => one.clone(),
                _ => Value::Array(values),
            };
            let entry = (random_case(&c.key, rng), values);
            match by_operator.iter_mut().find(|(op, _)| *op == c.operator) {
                Some((_, keys)) => keys.push(entry),
                None => by_operator.push((&c.operator, vec![entry])),
            }
        }
        let operators = by_operator
            .into_iter()
            .map(|(op, mut keys)| {
                keys.shuffle(rng);
                (op, Value::Object(keys.into_iter().collect::<Map<String, Value>>()))
            })
            .collect();
        fields.push(("Condition", object(operators, rng)));
    }
    object(fields, rng)
}

/// A JSON object with its keys in random order (serde_json preserves
/// insertion order in this workspace).
fn object(mut fields: Vec<(&str, Value)>, rng: &mut StdRng) -> Value {
    fields.shuffle(rng);
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A shuffled list, sometimes with a repeat, or a bare string for one item.
fn strings(mut values: Vec<String>, rng: &mut StdRng) -> Value {
    values.shuffle(rng);
    if let Some(first) = values.first().cloned()
        && rng.random_bool(0.2)
    {
        values.push(first);
    }
    match values.as_slice() {
        [one] if rng.random_bool(0.5) => Value::String(one.clone()),
        _ => Value::Array(values.into_iter().map(Value::String).collect()),
    }
}

fn condition_value(v: &str, rng: &mut StdRng) -> Value {
    let unquoted = rng.random_bool(0.5);
    match v {
        "true" | "false" if unquoted => Value::Bool(v == "true"),
        "3.50" if unquoted => serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string())),
        _ => Value::String(v.to_string()),
    }
}

fn random_case(s: &str, rng: &mut StdRng) -> String {
    s.chars()
        .map(|c| {
            if rng.random_bool(0.3) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_policy_is_equivalent_to_its_reformatted_self(doc in document(), a in any::<u64>(), b in any::<u64>()) {
        let (first, second) = (render(&doc, a), render(&doc, b));
        prop_assert!(equivalent(&first, &second), "{first}\n{second}");
        prop_assert_eq!(normalize(&first).ok(), normalize(&second).ok());
        let parsed = parse_any(&first).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(parsed.equivalent(&doc));
    }

    #[test]
    fn adding_an_action_is_a_change(doc in document(), seed in any::<u64>(), which in any::<prop::sample::Index>()) {
        let mut changed = doc.clone();
        let i = which.index(changed.statements.len());
        match &mut changed.statements[i].action {
            Negatable::Is(a) | Negatable::Not(a) => a.push("zz:AddedAction".into()),
        }
        prop_assert!(!equivalent(&render(&doc, seed), &render(&changed, seed)));
    }

    #[test]
    fn flipping_an_effect_is_a_change(doc in document(), seed in any::<u64>(), which in any::<prop::sample::Index>()) {
        let mut changed = doc.clone();
        let s = &mut changed.statements[which.index(doc.statements.len())];
        s.effect = match s.effect { Effect::Allow => Effect::Deny, Effect::Deny => Effect::Allow };
        prop_assert!(!equivalent(&render(&doc, seed), &render(&changed, seed)));
    }

    #[test]
    fn a_new_resource_or_condition_value_is_a_change(doc in document(), seed in any::<u64>(), which in any::<prop::sample::Index>()) {
        let mut changed = doc.clone();
        let s = &mut changed.statements[which.index(doc.statements.len())];
        match (s.conditions.first_mut(), &mut s.resource) {
            (Some(c), _) => c.values.push("changed-value".into()),
            (None, Some(Negatable::Is(r) | Negatable::Not(r))) => r.push("arn:aws:s3:::changed/*".into()),
            (None, None) => s.resource = Some(Negatable::Is(vec!["*".into()])),
        }
        prop_assert!(!equivalent(&render(&doc, seed), &render(&changed, seed)));
    }
}

#[test]
fn kms_key_arns_are_checked_and_granted_decrypt_only() {
    use crate::policy::{check_kms_key_arn, cur_retrieval_policy, cur_retrieval_policy_with_key};
    assert!(check_kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/abc").is_ok());
    assert!(check_kms_key_arn("alias/cur").is_err());
    assert!(check_kms_key_arn("arn:aws:kms:us-east-1:123:key/abc").is_err());
    let doc = cur_retrieval_policy_with_key("b", Some("arn:aws:kms:us-east-1:123456789012:key/abc"));
    assert!(doc.contains("\"kms:Decrypt\""));
    assert!(!cur_retrieval_policy("b").contains("kms"));
}

/// Found by fuzzing (`cargo xtask fuzz`, policy_document): two spellings of one condition key
/// in one operator normalised to a document with that key twice, which is not equivalent to it.
#[test]
fn condition_keys_that_differ_only_in_case_are_refused() {
    let fuzzed = String::from_utf8_lossy(include_bytes!("testdata/fuzz-condition-key-case.bin")).into_owned();
    assert!(super::normalize(&fuzzed).is_err());
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
        "Condition":{"StringEquals":{"aws:SourceAccount":"1","AWS:sourceaccount":"2"}}}]}"#;
    let err = super::parse_any(doc).expect_err("refused").to_string();
    assert!(
        err.contains("Statement[0].Condition.StringEquals")
            && err.contains("\"aws:SourceAccount\" again in another case"),
        "{err}"
    );
    // Different operators may name the same key.
    let two_operators = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
        "Condition":{"StringEquals":{"aws:SourceAccount":"1"},"StringLike":{"AWS:SourceAccount":"2*"}}}]}"#;
    assert!(super::parse_any(two_operators).is_ok());
}
