//! Identifiers the stand-in hands out, and the one mapping between a v1 integration id and its
//! v2 token (documented in README.md; the provider relies on it).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::Rng;

/// 22 URL-safe characters, like Vantage's external ids (16 random bytes, unpadded base64url).
pub fn external_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random (version 4) UUID in lowercase hyphenated form.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An IAM role id: `AROA` followed by 17 uppercase alphanumerics.
pub fn iam_role_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..17)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("AROA{tail}")
}

/// The workspace every devstack account starts with.
pub fn workspace_token() -> String {
    format!("wrkspc_{:016x}", rand::rng().random::<u64>())
}

/// An API token for when none is given on the command line.
pub fn api_token() -> String {
    format!("vntg_tkn_{:032x}", rand::rng().random::<u128>())
}

const TOKEN_PREFIX: &str = "accss_crdntl_";
// The mix is xor with a constant, multiply by an odd constant (mod 2^64), then xor the high half
// into the low half. Each step is invertible, so ids and tokens are in one-to-one correspondence,
// while consecutive ids still get unrelated-looking tokens.
const SALT: u64 = 0x5641_4e54_4147_4521; // "VANTAGE!"
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
const MULTIPLIER_INVERSE: u64 = inverse_mod_2_64(MULTIPLIER);

/// Newton's iteration for the inverse of an odd number modulo 2^64: an odd `m` is its own inverse
/// to 3 bits, and every step doubles the number of correct bits (3 -> 96 in five steps).
const fn inverse_mod_2_64(m: u64) -> u64 {
    let mut inv = m;
    let mut step = 0;
    while step < 5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(inv)));
        step += 1;
    }
    inv
}

/// The v2 token of the integration whose v1 id is `id` (ids are positive).
pub fn integration_token(id: i32) -> String {
    let mut x = u64::from(id.unsigned_abs()) ^ SALT;
    x = x.wrapping_mul(MULTIPLIER);
    x ^= x >> 32;
    format!("{TOKEN_PREFIX}{x:016x}")
}

/// The v1 id behind a v2 token, if the token is one `integration_token` can produce.
pub fn integration_id(token: &str) -> Option<i32> {
    let hex = token.strip_prefix(TOKEN_PREFIX)?;
    let well_formed = hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return None;
    }
    let mut x = u64::from_str_radix(hex, 16).ok()?;
    x ^= x >> 32;
    x = x.wrapping_mul(MULTIPLIER_INVERSE);
    x ^= SALT;
    i32::try_from(x).ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_id_is_22_url_safe_characters() {
        let id = external_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn role_id_shape() {
        let id = iam_role_id();
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert!(id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    }

    #[test]
    fn token_round_trips_to_id() {
        for id in (1..5000).chain([i32::MAX, 123_456_789]) {
            let token = integration_token(id);
            assert_eq!(token.len(), TOKEN_PREFIX.len() + 16, "{token}");
            assert_eq!(integration_id(&token), Some(id), "{token}");
        }
    }

    #[test]
    fn documented_examples_hold() {
        // These values are quoted in README.md.
        assert_eq!(integration_token(1), "accss_crdntl_9c168a8c2782a12c");
        assert_eq!(integration_token(2), "accss_crdntl_76bcf7b94fcf6866");
    }

    #[test]
    fn foreign_tokens_map_to_nothing() {
        assert_eq!(integration_id("accss_crdntl_ac985d1d8bb8bc12"), None);
        assert_eq!(integration_id("accss_crdntl_AC985D1D8BB8BC12"), None);
        assert_eq!(integration_id("accss_crdntl_123"), None);
        assert_eq!(integration_id("wrkspc_0123456789abcdef"), None);
    }
}
