//! IAM's quotas and naming rules for inline policies, checked at plan time
//! so users hear about them before apply (IAM's own errors name neither the
//! limit nor the attribute).

/// IAM's aggregate quota for a role's inline policies, in characters,
/// whitespace excluded.
pub const ROLE_INLINE_POLICY_LIMIT: usize = 10_240;

/// The longest inline policy name IAM accepts.
pub const POLICY_NAME_MAX: usize = 128;

/// A policy's size as IAM counts it against [`ROLE_INLINE_POLICY_LIMIT`]:
/// characters, not bytes, with whitespace not counted. Pass the decoded
/// JSON text, not IAM's URL-encoded form.
pub fn size_without_whitespace(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Checks an inline policy name against IAM's `[\w+=,.@-]{1,128}`, where
/// `\w` is ASCII letters, digits and `_`. The error is a sentence for a
/// diagnostic's detail.
pub fn validate_policy_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("The policy name must not be empty.".to_string());
    }
    let length = name.chars().count();
    if length > POLICY_NAME_MAX {
        return Err(format!(
            "The policy name is {length} characters long; IAM allows at most {POLICY_NAME_MAX}."
        ));
    }
    if let Some((i, bad)) = name.chars().enumerate().find(|(_, c)| !is_name_char(*c)) {
        return Err(format!(
            "The policy name {name:?} contains {bad:?} at position {}; IAM allows only letters, digits and +=,.@_-",
            i + 1
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_ignores_whitespace_and_counts_characters() {
        let pretty = "{\n  \"Version\": \"2012-10-17\",\n\t\"Statement\": []\n}";
        let compact = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert_eq!(size_without_whitespace(pretty), size_without_whitespace(compact));
        assert_eq!(size_without_whitespace(compact), compact.len());
        assert_eq!(size_without_whitespace("\"é\""), 3);
    }

    #[test]
    fn policy_names_follow_iam_rules() {
        for ok in [
            "root",
            "VantageCostandUsageReportRetrieval",
            "a+b=c,d.e@f_g-h",
            &"x".repeat(128),
        ] {
            assert_eq!(validate_policy_name(ok), Ok(()), "{ok}");
        }
        let long = validate_policy_name(&"x".repeat(129)).expect_err("too long");
        assert!(long.contains("129 characters"), "{long}");
        let space = validate_policy_name("my policy").expect_err("space");
        assert!(space.contains("' ' at position 3"), "{space}");
        assert!(validate_policy_name("").is_err());
        assert!(validate_policy_name("politique-é").is_err(), "\\w is ASCII only in IAM");
    }
}
