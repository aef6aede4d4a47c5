//! cty's JSON (state upgrades, import-time values): never a panic, and a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfplugin::value::{decode_json, encode_json};

#[path = "types.rs"]
mod types;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let ty = types::pick(selector);
    if let Ok(value) = decode_json(bytes, &ty) {
        let again = encode_json(&value, &ty).expect("a decoded value encodes");
        let back = decode_json(&again, &ty).expect("an encoded value decodes");
        assert_eq!(back, value);
    }
});
