//! IAM policy documents from configuration and from AWS (URL-encoded or not): parse,
//! normalise and compare without a panic; a document is equivalent to itself and to its
//! normal form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use terraform_provider_vantage::policy;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(doc) = policy::parse_any(&text) {
        let _ = policy::write_actions(&doc);
        let _ = policy::data_reads(&doc, Some("bucket"));
        if let Ok(normal) = policy::normalize(&text) {
            assert!(policy::equivalent(&text, &text), "a document is equivalent to itself");
            assert!(
                policy::equivalent(&text, &normal),
                "a document is equivalent to its normal form"
            );
        }
    }
    // Two documents from one input: equivalence must be symmetric.
    let middle = (0..=text.len() / 2)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let (a, b) = text.split_at(middle);
    assert_eq!(policy::equivalent(a, b), policy::equivalent(b, a));
});
