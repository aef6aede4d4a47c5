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

/// IAM's path rule: starts and ends with `/`, printable ASCII, at most 512 characters.
pub fn validate_role_path(path: &str) -> Result<(), String> {
    let ok = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c))
        && !path.contains("//");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{path:?} is not a valid IAM path: it must start and end with `/`, like `/` or `/vantage/`"
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

/// The six colon-separated parts of an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits `arn:<aws partition>:<service>:<region>:<account>:<resource>`; the
/// error says which of those two shapes is wrong.
pub fn split_arn(arn: &str) -> Result<Arn<'_>, &'static str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err("it needs six colon-separated parts");
    };
    if *prefix != "arn" || !partition.starts_with("aws") {
        return Err("it must start with arn:aws");
    }
    Ok(Arn {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// A 12-digit AWS account id.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
}

/// Checks `arn:<partition>:iam::<12 digits or aws>:policy/<path/>name`.
pub fn check_policy_arn(arn: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!("{arn:?} is not an IAM policy ARN ({why}); it should look like arn:aws:iam::123456789012:policy/name")
    };
    let parts = split_arn(arn).map_err(bad)?;
    if parts.service != "iam" || !parts.region.is_empty() {
        return Err(bad("the service must be iam, with no region"));
    }
    if parts.account != "aws" && !is_account_id(parts.account) {
        return Err(bad("the account must be 12 digits, or aws for AWS managed policies"));
    }
    match parts.resource.strip_prefix("policy/") {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err(bad("the resource must be policy/<name>")),
    }
}

/// Checks an IAM principal ARN: `arn:<partition>:iam::<12 digits>:<resource>`.
pub fn check_principal_arn(arn: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!(
            "{arn:?} is not an IAM principal ARN ({why}); it should look like \
             arn:aws:iam::630399649041:role/vantage-account-sync-..."
        )
    };
    let parts = split_arn(arn).map_err(bad)?;
    if parts.service != "iam" || !parts.region.is_empty() {
        return Err(bad("the service must be iam, with no region"));
    }
    if !is_account_id(parts.account) {
        return Err(bad("the account id must be 12 digits"));
    }
    if parts.resource.is_empty() {
        return Err(bad("the resource is empty"));
    }
    Ok(())
}

/// Parses `arn:<partition>:iam::<12 digits>:role/<path/>name`.
pub fn parse_role_arn(arn: &str) -> Result<RoleArn, String> {
    let bad = |why: &str| {
        format!("{arn:?} is not an IAM role ARN ({why}); it should look like arn:aws:iam::123456789012:role/name")
    };
    let Arn {
        partition,
        service,
        region,
        account,
        resource,
    } = split_arn(arn).map_err(bad)?;
    if service != "iam" || !region.is_empty() {
        return Err(bad("the service must be iam, with no region"));
    }
    if !is_account_id(account) {
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
    fn role_paths_start_and_end_with_a_slash() {
        assert!(validate_role_path("/").is_ok());
        assert!(validate_role_path("/team/").is_ok());
        assert!(validate_role_path("team").is_err());
        assert!(validate_role_path("/a//b/").is_err());
        assert!(validate_role_path(&format!("/{}/", "x".repeat(511))).is_err());
    }

    #[test]
    fn policy_and_principal_arns_are_checked_part_by_part() {
        assert!(check_policy_arn("arn:aws:iam::123456789012:policy/b").is_ok());
        assert!(check_policy_arn("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess").is_ok());
        let err = check_policy_arn("arn:aws:iam::123456789012:role/b").expect_err("a role is not a policy");
        assert!(err.contains("policy/<name>"), "{err}");
        assert!(check_policy_arn("boundary").is_err());
        assert!(check_principal_arn("arn:aws:iam::630399649041:role/vantage-account-sync-x").is_ok());
        let err = check_principal_arn("arn:aws:iam::63039964904:role/x").expect_err("11 digits");
        assert!(err.contains("12 digits"), "{err}");
        assert!(check_principal_arn("arn:aws:s3:::bucket").is_err());
    }

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
