//! hashicorp/aws, the provider users would pick instead: the machine image's
//! filesystem mirror of it (found by `provider_packaging::hashicorp_aws`), and
//! its provider block against the devstack.

pub use provider_packaging::hashicorp_aws::{
    MIRROR_PATH as AWS_PATH, VERSION as AWS_VERSION, binary_name as aws_binary_name,
};

/// The mirror root holding hashicorp/aws, or why it is not there and how to get it.
pub fn find_mirror() -> Result<std::path::PathBuf, String> {
    provider_packaging::hashicorp_aws::find_mirror(&crate::util::terraform_platform())
}

/// hashicorp/aws against the devstack's AWS front door; in `account` through
/// AssumeRole when given (moto gives assumed credentials the role's account).
pub fn aws_provider_block(aws_url: &str, alias: Option<&str>, account: Option<&str>) -> String {
    let alias = alias.map(|a| format!("  alias = \"{a}\"\n")).unwrap_or_default();
    let assume = account
        .map(|a| format!("  assume_role {{\n    role_arn = \"{}\"\n  }}\n", role_in(a)))
        .unwrap_or_default();
    format!(
        r#"provider "aws" {{
{alias}  region                      = "us-east-1"
  access_key                  = "{key}"
  secret_key                  = "bench"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
{assume}  endpoints {{
    iam            = "{aws_url}"
    sts            = "{aws_url}"
    s3             = "{aws_url}"
    cur            = "{aws_url}"
    bcmdataexports = "{aws_url}"
    sns            = "{aws_url}"
  }}
}}
"#,
        key = super::workspace::ACCESS_KEY,
    )
}

/// The role a provider configuration assumes to act in `account`.
pub fn role_in(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/terraform")
}

/// The `i`-th bench account: 12 digits, apart from the devstack's default account.
pub fn account(i: usize) -> String {
    format!("3{:011}", 10_000 + i)
}

#[cfg(test)]
mod tests {
    #[test]
    fn accounts_have_twelve_digits_and_differ() {
        assert_eq!(super::account(0).len(), 12);
        assert_ne!(super::account(1), super::account(2));
    }

    #[test]
    fn the_aws_block_assumes_a_role_only_when_given_an_account() {
        let plain = super::aws_provider_block("http://127.0.0.1:1", None, None);
        assert!(!plain.contains("assume_role") && !plain.contains("alias"));
        let aliased = super::aws_provider_block("http://127.0.0.1:1", Some("a1"), Some("300000010001"));
        assert!(aliased.contains("alias = \"a1\""));
        assert!(aliased.contains("arn:aws:iam::300000010001:role/terraform"));
    }
}
