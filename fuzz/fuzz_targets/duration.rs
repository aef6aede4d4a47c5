//! `timeouts` values and the provider's `timeout`: parsing never panics, and what parses is
//! within the bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfplugin::timeouts::{MAX_DURATION, parse_duration};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = parse_duration(&text) {
        assert!(d <= MAX_DURATION, "{text:?} parsed to {d:?}, beyond the bound");
    }
});
