//! One float element as text: parsing with the same outcomes as `strtof` in
//! pgvector (NaN and Infinity refused, overflow reported), and formatting as
//! Postgres's `float4out` does (shortest round-trip digits, exponent form
//! outside 1e-4 ..< 1e6), so output matches pgvector byte for byte.

use crate::error::{ErrorKind, Result, VectorError};

/// Parses one element token (already trimmed) of a value of type `type_name`.
/// `whole` is the complete input, quoted in syntax errors.
pub fn parse_f32(token: &str, type_name: &str, whole: &str) -> Result<f32> {
    if let Some(value) = parse_plain_decimal(token.as_bytes()) {
        return Ok(value);
    }
    if token.is_empty() || !token.bytes().all(is_float_byte) {
        return Err(VectorError::syntax(type_name, whole));
    }
    let value: f32 = token
        .parse()
        .map_err(|_| VectorError::syntax(type_name, whole))?;
    check_finite(value, token, type_name)?;
    Ok(value)
}

/// `10^e` for the fractional digits [`parse_plain_decimal`] takes: each is
/// exact in `f32` (`5^10 < 2^24`).
const POWERS_OF_TEN: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// The value of a plain decimal token (`[+-]digits[.digits]`, a digit on
/// at least one side) whose digits, read as one integer `w`, fit `f32`'s
/// 24-bit significand and which has at most 10 fractional digits `e`:
/// `w` and `10^e` are then exact, so `w / 10^e` is one correctly rounded
/// division, the value any correct parser returns (Clinger's fast path).
/// `None` for anything else, which the general parser then decides.
///
/// Why: a query vector arrives as text, and its hundreds of elements went
/// through the general parser one by one (784 elements, measured in the
/// server: about 10 us, pgvector 4-7 us; with this path 4 us).
fn parse_plain_decimal(token: &[u8]) -> Option<f32> {
    const SIGNIFICAND_LIMIT: u32 = 1 << 24;
    let (negative, digits) = match token.first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    let (mut w, mut fraction_digits, mut any_digit, mut seen_point) = (0u32, 0usize, false, false);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                w = w * 10 + u32::from(b - b'0');
                if w > SIGNIFICAND_LIMIT {
                    return None;
                }
                any_digit = true;
                fraction_digits += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    let scale = POWERS_OF_TEN.get(fraction_digits)?;
    if !any_digit {
        return None;
    }
    let magnitude = w as f32 / scale;
    Some(if negative { -magnitude } else { magnitude })
}

/// White space as C's `isspace` (and so pgvector) skips it: ASCII only.
pub fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// Bytes that may appear in a float literal `strtof` accepts (hex floats
/// aside); Rust's parser then decides whether their order makes a number.
fn is_float_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'+' || b == b'-'
}

/// Refuses NaN and infinities: a spelled-out `inf` is refused as infinite, a
/// finite literal that overflows f32 as out of range.
pub fn check_finite(value: f32, token: &str, type_name: &str) -> Result<()> {
    if value.is_nan() {
        return Err(VectorError::new(
            ErrorKind::Data,
            format!("NaN not allowed in {type_name}"),
        ));
    }
    if value.is_infinite() {
        if token.to_ascii_lowercase().contains("inf") {
            return Err(VectorError::new(
                ErrorKind::Data,
                format!("infinite value not allowed in {type_name}"),
            ));
        }
        return Err(VectorError::new(
            ErrorKind::OutOfRange,
            format!("\"{token}\" is out of range for type {type_name}"),
        ));
    }
    Ok(())
}

/// Appends `value` to `out` as Postgres's float4out prints it with the
/// default `extra_float_digits = 1`: shortest digits that round-trip,
/// fixed notation for decimal exponents -4..=5, otherwise `d.ddde+XX`.
pub fn format_f32(value: f32, out: &mut String) {
    use std::fmt::Write;
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Rust's `{:e}` without precision prints the shortest round-trip digits.
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    out.push_str(sign);
    if (-4..6).contains(&exp) {
        push_fixed(&digits, exp, out);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// Writes digits `d1 d2 ...` meaning `d1.d2... x 10^exp` in fixed notation.
fn push_fixed(digits: &str, exp: i32, out: &mut String) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: f32) -> String {
        let mut s = String::new();
        format_f32(v, &mut s);
        s
    }

    #[test]
    fn formats_like_float4out() {
        assert_eq!(fmt(1.0), "1");
        assert_eq!(fmt(-2.5), "-2.5");
        assert_eq!(fmt(0.1), "0.1");
        assert_eq!(fmt(123456.0), "123456");
        assert_eq!(fmt(1234567.0), "1.234567e+06");
        assert_eq!(fmt(1e20), "1e+20");
        assert_eq!(fmt(0.0001), "0.0001");
        assert_eq!(fmt(0.00001), "1e-05");
        assert_eq!(fmt(1.5e-7), "1.5e-07");
        assert_eq!(fmt(f32::MAX), "3.4028235e+38");
        assert_eq!(fmt(f32::MIN_POSITIVE / 4.0), "2.938736e-39");
        assert_eq!(fmt(-0.0), "-0");
        assert_eq!(fmt(100.0), "100");
        assert_eq!(fmt(1.25), "1.25");
    }

    #[test]
    fn plain_decimals_take_the_fast_path() {
        for (token, value) in [("0", 0.0), ("255.0", 255.0), ("-0.5", -0.5), ("+7", 7.0), (".25", 0.25), ("3.", 3.0)] {
            assert_eq!(parse_plain_decimal(token.as_bytes()), Some(value), "{token}");
        }
        assert!(parse_plain_decimal(b"-0").unwrap().is_sign_negative());
        // Left to the general parser: exponents, long digit strings, too
        // many fractional digits, and anything malformed.
        for token in ["1e3", "16777217", "0.12345678901", "0.00000000001", "", "-", ".", "1.2.3", "1-2", "--1", "inf", " 1"] {
            assert_eq!(parse_plain_decimal(token.as_bytes()), None, "{token}");
        }
        assert_eq!(parse_plain_decimal(b"16777216"), Some(16_777_216.0));
    }

    proptest::proptest! {
        /// The fast path returns exactly what Rust's correctly rounding
        /// parser returns, bit for bit, whenever it answers.
        #[test]
        fn the_fast_path_agrees_with_the_general_parser(
            negative in proptest::bool::ANY,
            int_digits in "[0-9]{0,9}",
            frac_digits in proptest::option::of("[0-9]{0,12}"),
        ) {
            let token = format!(
                "{}{int_digits}{}",
                if negative { "-" } else { "" },
                frac_digits.map(|f| format!(".{f}")).unwrap_or_default()
            );
            if let Some(fast) = parse_plain_decimal(token.as_bytes()) {
                let general: f32 = token.parse().expect("a plain decimal parses");
                proptest::prop_assert_eq!(fast.to_bits(), general.to_bits(), "{}", token);
            }
        }
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_f32("1.5", "embedding", "[1.5]").unwrap(), 1.5);
        assert_eq!(parse_f32("-1e-3", "embedding", "").unwrap(), -1e-3);
        assert_eq!(parse_f32("1e-50", "embedding", "").unwrap(), 0.0);
        let e = parse_f32("NaN", "embedding", "").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Data);
        let e = parse_f32("-Infinity", "embedding", "").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Data);
        let e = parse_f32("1e39", "embedding", "").unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutOfRange);
        for bad in ["", "1.2.3", "abc", "1 2", "0x10", "--1", "1e", "'1'"] {
            assert_eq!(
                parse_f32(bad, "embedding", "").unwrap_err().kind,
                ErrorKind::InvalidText,
                "{bad}"
            );
        }
    }
}
