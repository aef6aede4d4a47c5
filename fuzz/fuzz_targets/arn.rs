//! ARNs from configuration and from AWS and Vantage answers: split and role ARN parsing never
//! panic, and a parsed role ARN names the account it came with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use terraform_provider_vantage::arn;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = arn::split_arn(&text);
    if let Ok(role) = arn::parse_role_arn(&text) {
        assert!(text.contains(&role.account_id));
    }
    let _ = arn::check_policy_arn(&text);
    let _ = arn::check_principal_arn(&text);
    let _ = arn::validate_role_name(&text);
    let _ = arn::validate_role_path(&text);
});
