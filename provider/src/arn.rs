//! ARN parsing shared by every resource that takes an ARN.

/// IAM's role name rule: 1-64 characters of letters, digits and `_+=,.@-`.
pub fn validate_role_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else if name.starts_with("arn:") {
        Err(format!(
            "{name:?} is an ARN; give the role's name (the part after `role/`)"
        ))
    } else {
        Err(format!(
            "{name:?} is not a valid role name: use 1-64 characters of letters, digits and _+=,.@-"
        ))
    }
}

/// The parts of an IAM role ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub partition: String,
    pub account_id: String,
    /// The path, `/` when none (e.g. `/team/`).
    pub path: String,
    pub name: String,
}

/// Parses `arn:<partition>:iam::<12 digits>:role/<path/>name`.
pub fn parse_role_arn(arn: &str) -> Result<RoleArn, String> {
    let bad = |why: &str| {
        format!("{arn:?} is not an IAM role ARN ({why}); it should look like arn:aws:iam::123456789012:role/name")
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad("it needs six colon-separated parts"));
    };
    if *prefix != "arn" || !partition.starts_with("aws") {
        return Err(bad("it must start with arn:aws"));
    }
    if *service != "iam" || !region.is_empty() {
        return Err(bad("the service must be iam, with no region"));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("the account id must be 12 digits"));
    }
    let Some(rest) = resource.strip_prefix("role/") else {
        return Err(bad("the resource must start with role/"));
    };
    let (path, name) = match rest.rfind('/') {
        Some(i) => (format!("/{}", &rest[..=i]), &rest[i + 1..]),
        None => ("/".to_string(), rest),
    };
    if name.is_empty() {
        return Err(bad("the role name is empty"));
    }
    Ok(RoleArn {
        partition: partition.to_string(),
        account_id: account.to_string(),
        path,
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_role_arns_with_and_without_paths() {
        let r = parse_role_arn("arn:aws:iam::123456789012:role/team/app/vantage").expect("valid");
        assert_eq!(
            (r.account_id.as_str(), r.path.as_str(), r.name.as_str()),
            ("123456789012", "/team/app/", "vantage")
        );
        let r = parse_role_arn("arn:aws-us-gov:iam::123456789012:role/v").expect("valid");
        assert_eq!((r.partition.as_str(), r.path.as_str()), ("aws-us-gov", "/"));
    }

    #[test]
    fn rejects_other_arns_with_the_reason() {
        assert!(parse_role_arn("arn:aws:iam::123:role/x").is_err_and(|e| e.contains("12 digits")));
        assert!(parse_role_arn("arn:aws:s3:::bucket").is_err());
        assert!(parse_role_arn("arn:aws:iam::123456789012:user/x").is_err_and(|e| e.contains("role/")));
        assert!(parse_role_arn("role/x").is_err());
    }
}
