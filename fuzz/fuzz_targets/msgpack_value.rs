//! cty's msgpack as Terraform sends it in every plan and apply: never a panic, bounded work,
//! and what decodes encodes to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfplugin::value::{decode_msgpack, encode_msgpack};

#[path = "types.rs"]
mod types;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let ty = types::pick(selector);
    if let Ok(value) = decode_msgpack(bytes, &ty) {
        let again = encode_msgpack(&value, &ty).expect("a decoded value encodes");
        let back = decode_msgpack(&again, &ty).expect("an encoded value decodes");
        assert_eq!(back, value);
    }
});
