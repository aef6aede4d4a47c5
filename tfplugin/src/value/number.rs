//! Arbitrary-precision numbers, as cty keeps them (Terraform uses 512-bit
//! big floats). We keep exact decimals: everything Terraform can send
//! (integers, float64 values, decimal strings) is a finite decimal.

use std::fmt;
use std::str::FromStr;

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, ToPrimitive, Zero};

#[derive(Clone, Debug)]
pub struct Number(BigDecimal);

/// How a number goes onto the msgpack wire, following cty: an integer when it
/// fits in i64, a float64 when that is exact, else its decimal text.
pub(crate) enum WireNumber {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Number {
    pub fn from_decimal(d: BigDecimal) -> Number {
        Number(d.normalized())
    }

    pub fn as_decimal(&self) -> &BigDecimal {
        &self.0
    }

    pub fn to_i64(&self) -> Option<i64> {
        if self.0.is_integer() { self.0.to_i64() } else { None }
    }

    pub fn to_u64(&self) -> Option<u64> {
        if self.0.is_integer() { self.0.to_u64() } else { None }
    }

    /// Nearest float64 (lossy for numbers f64 cannot hold).
    pub fn to_f64(&self) -> f64 {
        self.to_plain_string().parse().unwrap_or(f64::NAN)
    }

    /// The exact value of a finite float64.
    pub fn from_f64_exact(f: f64) -> Option<Number> {
        if !f.is_finite() {
            return None;
        }
        if f == 0.0 {
            return Some(Number(BigDecimal::zero()));
        }
        let bits = f.to_bits();
        let negative = bits >> 63 == 1;
        let exponent = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        let (mantissa, exp2) = if exponent == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), exponent - 1075)
        };
        let mut m = BigInt::from(mantissa);
        if negative {
            m = -m;
        }
        let d = if exp2 >= 0 {
            BigDecimal::from(m << (exp2 as usize))
        } else {
            // m / 2^k == m * 5^k / 10^k
            let k = (-exp2) as u32;
            BigDecimal::new(m * BigInt::from(5u8).pow(k), i64::from(k))
        };
        Some(Number(d.normalized()))
    }

    /// Decimal text without exponent, as cty prints numbers ("1.5", "100").
    pub fn to_plain_string(&self) -> String {
        self.0.to_plain_string()
    }

    pub(crate) fn to_wire(&self) -> WireNumber {
        if let Some(i) = self.to_i64() {
            return WireNumber::Int(i);
        }
        let text = self.to_plain_string();
        if let Ok(f) = text.parse::<f64>()
            && Number::from_f64_exact(f).is_some_and(|exact| exact == *self)
        {
            return WireNumber::Float(f);
        }
        WireNumber::Text(text)
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.0 == other.0
    }
}

/// Most decimal digits a number read from text may have when written out without exponent.
/// Nothing this provider takes comes near; without a bound `1e-1000000000` parses in a few
/// bytes and then costs a billion digits wherever it is printed or compared with another scale.
pub const MAX_DIGITS: u64 = 4096;

impl FromStr for Number {
    type Err = String;
    fn from_str(s: &str) -> Result<Number, String> {
        let trimmed = s.trim();
        if trimmed.len() as u64 > MAX_DIGITS * 2 {
            return Err(format!(
                "a number of {} characters is longer than this provider accepts",
                trimmed.len()
            ));
        }
        // BigDecimal accepts a few spellings cty would not ("inf", "nan" are rejected anyway).
        let d = BigDecimal::from_str(trimmed)
            .map_err(|_| format!("{s:?} is not a number"))?
            .normalized();
        // The bound is on the number's plain decimal form, the same however it was written
        // (`1e3` and `1000`), so whatever decodes also decodes again once encoded.
        let (digits, scale) = d.as_bigint_and_exponent();
        let count = digits.magnitude().to_string().len() as u64;
        let plain = if scale > 0 {
            count.max(scale.unsigned_abs()) + 1
        } else {
            count + scale.unsigned_abs()
        };
        if plain > MAX_DIGITS {
            return Err(format!(
                "{:?}: numbers of more than {MAX_DIGITS} decimal digits are not supported",
                trimmed.chars().take(40).collect::<String>()
            ));
        }
        Ok(Number::from_decimal(d))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_plain_string())
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        Number(BigDecimal::from(n))
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Number {
        Number(BigDecimal::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_exactness_decides_the_wire_form() {
        assert!(matches!(Number::from(42i64).to_wire(), WireNumber::Int(42)));
        assert!(matches!("0.5".parse::<Number>().map(|n| n.to_wire()), Ok(WireNumber::Float(f)) if f == 0.5));
        // 0.1 is not a float64: it must travel as text to stay exact.
        assert!(matches!("0.1".parse::<Number>().map(|n| n.to_wire()), Ok(WireNumber::Text(t)) if t == "0.1"));
        let big = "123456789012345678901234567890";
        assert!(matches!(big.parse::<Number>().map(|n| n.to_wire()), Ok(WireNumber::Text(t)) if t == big));
    }

    #[test]
    fn exact_float_conversion() {
        let n = Number::from_f64_exact(0.1).map(|n| n.to_plain_string());
        assert_eq!(
            n.as_deref(),
            Some("0.1000000000000000055511151231257827021181583404541015625")
        );
        assert_eq!(
            Number::from_f64_exact(-2.5).map(|n| n.to_plain_string()).as_deref(),
            Some("-2.5")
        );
        assert_eq!(
            Number::from_f64_exact(1e20).map(|n| n.to_plain_string()).as_deref(),
            Some("100000000000000000000")
        );
        assert!(Number::from_f64_exact(f64::INFINITY).is_none());
    }

    #[test]
    fn hostile_exponents_and_lengths_are_refused_cheaply() {
        for text in ["1e-1000000000", "1e1000000000", "-9e4097"] {
            assert!(text.parse::<Number>().is_err(), "{text}");
        }
        assert!("9".repeat(9000).parse::<Number>().is_err());
        assert!("1e4094".parse::<Number>().is_ok());
        // Found by fuzzing: few digits with a large exponent decoded, yet its plain form did not.
        let wide = format!("-{}e2222", "9".repeat(2700));
        assert!(wide.parse::<Number>().is_err());
        let fits = format!("-{}e1000", "9".repeat(2700));
        let plain = fits.parse::<Number>().map(|n| n.to_plain_string());
        assert!(plain.as_deref().is_ok_and(|p| p.parse::<Number>().is_ok()), "{plain:?}");
        assert!("1.5e-300".parse::<Number>().is_ok());
    }

    #[test]
    fn equal_regardless_of_trailing_zeros() {
        assert_eq!("1.50".parse::<Number>(), "1.5".parse::<Number>());
        assert_eq!(
            "100".parse::<Number>().map(|n| n.to_plain_string()).as_deref(),
            Ok("100")
        );
    }
}
