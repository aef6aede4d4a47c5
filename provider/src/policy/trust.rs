//! The trust policy of Vantage's cross-account role: written, recognised,
//! and the external id it carries.

/// The trust policy Vantage needs: its principal may assume the role, only
/// with this account's external id (which stops the confused-deputy problem).
pub fn trust_policy(principal: &str, external_id: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": principal },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "sts:ExternalId": external_id } }
        }]
    })
    .to_string()
}

/// Principal and external id from a trust policy of exactly Vantage's shape.
pub fn vantage_trust(document: &str) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(document).ok()?;
    let statement = match &doc["Statement"] {
        serde_json::Value::Array(a) if a.len() == 1 => a[0].clone(),
        s @ serde_json::Value::Object(_) => s.clone(),
        _ => return None,
    };
    let one = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
        _ => None,
    };
    if !statement["Effect"]
        .as_str()
        .is_some_and(|e| e.eq_ignore_ascii_case("allow"))
    {
        return None;
    }
    if !one(&statement["Action"]).is_some_and(|a| a.eq_ignore_ascii_case("sts:AssumeRole")) {
        return None;
    }
    let principal = one(&statement["Principal"]["AWS"])?;
    let external_id = one(&statement["Condition"]["StringEquals"]["sts:ExternalId"])?;
    Some((principal, external_id))
}

/// A principal IAM shows as a unique id: the trusted role was deleted (and
/// maybe recreated), so the trust no longer names anything that can assume.
pub fn is_unique_id(principal: &str) -> bool {
    principal.len() == 21 && (principal.starts_with("AROA") || principal.starts_with("AIDA"))
}

/// IAM's rule for `sts:ExternalId`. The message never echoes the value: it is a secret.
pub fn validate_external_id(external_id: &str) -> Result<(), String> {
    let ok = (2..=1224).contains(&external_id.len())
        && external_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err("the external id must be 2-1224 characters of letters, digits and _+=,.@:/-".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policy_round_trips_through_the_parser() {
        let doc = trust_policy("arn:aws:iam::630399649041:role/vantage-x", "abcdefghijklmnopqrstuv");
        assert_eq!(
            vantage_trust(&doc),
            Some((
                "arn:aws:iam::630399649041:role/vantage-x".to_string(),
                "abcdefghijklmnopqrstuv".to_string()
            ))
        );
    }

    #[test]
    fn trust_without_external_id_is_not_vantages_shape() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::630399649041:root"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(vantage_trust(doc), None);
    }

    #[test]
    fn unique_ids_are_recognised() {
        assert!(is_unique_id("AROAZFRV7IUIYSTS4G3VK"));
        assert!(!is_unique_id("arn:aws:iam::630399649041:role/x"));
    }

    #[test]
    fn external_id_errors_never_echo_the_value() {
        let err = validate_external_id("bad value with spaces").expect_err("invalid");
        assert!(!err.contains("bad value"));
    }
}
