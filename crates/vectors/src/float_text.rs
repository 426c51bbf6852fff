//! One float element as text: parsing with the same outcomes as `strtof` in
//! pgvector (NaN and Infinity refused, overflow reported), and formatting as
//! Postgres's `float4out` does (shortest round-trip digits, exponent form
//! outside 1e-4 ..< 1e6), so output matches pgvector byte for byte.

use crate::error::{ErrorKind, Result, VectorError};

/// Parses one element token (already trimmed) of a value of type `type_name`.
/// `whole` is the complete input, quoted in syntax errors.
pub fn parse_f32(token: &str, type_name: &str, whole: &str) -> Result<f32> {
    if let Some((value, rest)) = parse_decimal_prefix(token.as_bytes()) {
        if rest.is_empty() {
            return Ok(value);
        }
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

/// `10^e` for `e` in 0..=22: each is exact in `f64` (`5^22 < 2^53`).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
    1e20, 1e21, 1e22,
];

/// `10^-e` for `e` in 0..=22, each rounded to nearest.
const NEGATIVE_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-16,
    1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22,
];

/// Reads a decimal number `[+-]digits[.digits][(e|E)[+-]digits]` (a digit
/// on at least one side of the point) at the start of `bytes`; returns its
/// `f32` value, correctly rounded, and the bytes after it. `None` when
/// `bytes` does not start so, or when this quick path cannot be sure of
/// the rounding: the general parser then decides.
///
/// How: the digits (at most 19 significant) read as an integer `w` and the
/// decimal exponent `e` give `x = w · 10^e` by `f64` multiplications by
/// powers of ten: for `w ≤ 2^53` and `0 ≤ e ≤ 22` one correctly rounded
/// operation (Clinger's fast path), else up to three, each within an
/// `f64` ulp (`10^-k` is itself rounded).
/// Rounding that to `f32` gives `x`'s own rounding unless an `f32`
/// rounding boundary (a midpoint between two `f32`s, 29 bits below an
/// `f64`'s last significand bit) lies that close, which is checked.
///
/// Why: a query vector arrives as text, and its hundreds of elements went
/// through the general parser one by one. Clients print 9 (shortest
/// `float32`) or 17 (Python's `float`) significant digits, beyond the
/// `f32`-only fast path this replaces (measured in the server at 384
/// dimensions: 6% of a whole HNSW query).
pub(crate) fn parse_decimal_prefix(bytes: &[u8]) -> Option<(f32, &[u8])> {
    const MAX_DIGITS: u32 = 19;
    let (negative, mut i) = match bytes.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let (mut w, mut significant, mut mantissa_digits, mut exp10) = (0u64, 0u32, 0u32, 0i32);
    let mut seen_point = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                mantissa_digits += 1;
                if w > 0 || b != b'0' {
                    significant += 1;
                    if significant > MAX_DIGITS {
                        return None;
                    }
                    w = w * 10 + u64::from(b - b'0');
                }
                exp10 -= i32::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        i += 1;
        let exp_negative = match bytes.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let (mut e, mut exp_digits) = (0i32, 0);
        while let Some(&b @ b'0'..=b'9') = bytes.get(i) {
            exp_digits += 1;
            if exp_digits > 4 {
                return None;
            }
            e = e * 10 + i32::from(b - b'0');
            i += 1;
        }
        if exp_digits == 0 {
            return None;
        }
        exp10 += if exp_negative { -e } else { e };
    }
    let magnitude = if w == 0 { 0.0 } else { decimal_to_f32(w, exp10)? };
    Some((if negative { -magnitude } else { magnitude }, &bytes[i..]))
}

/// `w · 10^exp10` correctly rounded to `f32`, where the quick computation
/// is sure of it (see [`parse_decimal_prefix`]); `None` elsewhere, and for
/// results outside `f32`'s normal range.
fn decimal_to_f32(w: u64, exp10: i32) -> Option<f32> {
    /// Bits of an `f64` significand below an `f32`'s last bit.
    const EXTRA_BITS: u32 = 52 - 23;
    const MIDPOINT: u64 = 1 << (EXTRA_BITS - 1);
    /// How close (in `f64` ulps) to a midpoint is too close.
    const MARGIN: u64 = 8;
    /// Scaling steps of at most `10^22` each (3: `|exp10| <= 66`, as far
    /// as 19 digits reach into `f32`'s normal range).
    const MAX_STEPS: i32 = 3;
    let last = POWERS_OF_TEN.len() as i32 - 1;
    if exp10.abs() > MAX_STEPS * last {
        return None;
    }
    // Dividing by `10^k` would round once; multiplying by the rounded
    // `10^-k` rounds twice (at most an ulp), which the margin allows for,
    // and made parsing 3-7% faster (an `f64` division's latency).
    let mut exact = w <= 1 << 53 && exp10 >= 0;
    let mut r = w as f64;
    let mut left = exp10;
    loop {
        let step = left.clamp(-last, last);
        let k = step.unsigned_abs() as usize;
        r *= if step >= 0 { POWERS_OF_TEN[k] } else { NEGATIVE_POWERS_OF_TEN[k] };
        left -= step;
        if left == 0 {
            break;
        }
        // Each step rounds once or twice more (at most an ulp), within
        // `MARGIN` for `MAX_STEPS` steps.
        exact = false;
    }
    if !(f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX)).contains(&r) {
        return None;
    }
    let below_f32 = r.to_bits() & ((1 << EXTRA_BITS) - 1);
    let near_midpoint = if exact {
        below_f32 == MIDPOINT
    } else {
        below_f32.abs_diff(MIDPOINT) <= MARGIN
    };
    (!near_midpoint).then_some(r as f32)
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

/// Appends `value` to `out` in the form of Postgres's float4out with the
/// default `extra_float_digits = 1`: shortest digits that round-trip,
/// fixed notation for decimal exponents -4..=5, otherwise `d.ddde+XX`.
///
/// The digits come from Ryu, as float4out's do, and a tie goes to the even
/// digit as there. One difference is left: where the shortest digits lie
/// exactly on the edge of the values that read back as `value`
/// (`52460128` prints `5.246013e+07`), float4out takes one more digit
/// (`5.2460128e+07`); both read back the same. The extension prints
/// through float4out's own function ([`crate::text::format_dense_by`]);
/// this one serves the pure crates and tests.
pub fn format_f32(value: f32, out: &mut String) {
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    if !value.is_finite() {
        // Never stored (values are checked finite); printed as Rust does.
        out.push_str(&value.to_string());
        return;
    }
    if value.is_sign_negative() {
        out.push('-');
    }
    let mut ryu_buf = ryu::Buffer::new();
    let (digits, exp) = ShortestDigits::of(ryu_buf.format_finite(value.abs()));
    let digits = digits.as_str();
    if (-4..6).contains(&exp) {
        push_fixed(digits, exp, out);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        // |exp| <= 45 for an f32: always two digits, as float4out prints.
        let exp = exp.unsigned_abs();
        out.push(char::from(b'0' + (exp / 10) as u8));
        out.push(char::from(b'0' + (exp % 10) as u8));
    }
}

/// The significant digits `d1 d2 ...` of a positive decimal, without
/// leading or trailing zeros (at most 9 for an f32; 17 fit).
struct ShortestDigits {
    bytes: [u8; 17],
    len: usize,
}

impl ShortestDigits {
    /// The digits of Ryu's text of a positive finite number (`123.0`,
    /// `0.00123`, `1.5e30`, `1e-7`) and its decimal exponent, so that the
    /// number is `d1.d2d3... x 10^exp`.
    fn of(text: &str) -> (Self, i32) {
        let (mantissa, scale) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().expect("Ryu prints an integer exponent")),
            None => (text, 0),
        };
        let point = mantissa.find('.').unwrap_or(mantissa.len());
        let mut digits = Self { bytes: [0; 17], len: 0 };
        let mut first = None;
        for (i, c) in mantissa.bytes().enumerate() {
            if c == b'.' || (first.is_none() && c == b'0') {
                continue;
            }
            first.get_or_insert(i);
            if digits.len < digits.bytes.len() {
                digits.bytes[digits.len] = c;
                digits.len += 1;
            }
        }
        while digits.len > 1 && digits.bytes[digits.len - 1] == b'0' {
            digits.len -= 1;
        }
        // The first significant digit's place: before the point it is
        // 10^(point - i - 1), after it 10^-(i - point).
        let first = first.expect("a non-zero number has a significant digit");
        let place = if first < point { (point - first - 1) as i32 } else { -((first - point) as i32) };
        (digits, place + scale)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("ASCII digits")
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

    /// The formatting through `{:e}` (Rust's shortest round-trip digits)
    /// that `format_f32` replaced. They differ only where two shortest
    /// decimals lie exactly as near: Rust rounds half up, Ryu (and
    /// float4out) to the even digit (`1808724.25`: `1.8087243e+06`
    /// against `1.8087242e+06`).
    fn through_core_fmt(value: f32) -> String {
        if value == 0.0 {
            return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
        }
        let sci = format!("{value:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let mut out = sign.to_string();
        if (-4..6).contains(&exp) {
            push_fixed(&digits, exp, &mut out);
        } else {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push_str(&format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()));
        }
        out
    }

    /// `format_f32(v)` round-trips, and is the text through `{:e}` but
    /// where that rounded a tie up: then one less in the last digit, even.
    fn check_against_core_fmt(v: f32) {
        let (ours, core) = (fmt(v), through_core_fmt(v));
        assert_eq!(ours.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{ours} does not round-trip");
        if ours != core {
            let (a, b) = (ours.as_bytes(), core.as_bytes());
            let last = a.iter().zip(b).position(|(x, y)| x != y).unwrap();
            assert_eq!(a.len(), b.len(), "{ours} against {core}");
            assert_eq!(a[last] + 1, b[last], "{ours} against {core}");
            assert_eq!(a[last] % 2, 0, "{ours} against {core}: not the even digit");
            assert!(!a[last + 1..].iter().any(u8::is_ascii_digit) || a[last + 1] == b'e', "{ours} against {core}");
        }
    }

    #[test]
    fn ties_go_to_the_even_digit_as_in_float4out() {
        // 1808724.25, exactly (an f32 there is a multiple of 1/8).
        let tie = 1_808_724.0 + 0.25;
        assert_eq!(fmt(tie), "1.8087242e+06");
        assert_eq!(through_core_fmt(tie), "1.8087243e+06");
    }

    #[test]
    fn formats_as_core_fmt_at_the_edges() {
        let mut edges = vec![f32::MIN_POSITIVE, f32::MAX, f32::EPSILON, 1e-45, 1e-38, 9.999_999e-5, 1e-4, 999_999.94, 1e6, 1e5, 99_999.99];
        for e in -45..=38 {
            edges.push(format!("1e{e}").parse().unwrap());
            edges.push(format!("9.5e{e}").parse().unwrap());
        }
        for v in edges {
            for v in [v, -v, f32::from_bits(v.to_bits() + 1), f32::from_bits(v.to_bits().saturating_sub(1))] {
                if v.is_finite() {
                    check_against_core_fmt(v);
                }
            }
        }
    }

    /// Every 16th bit pattern (a few minutes; run with `--ignored`).
    #[test]
    #[ignore]
    fn formats_every_16th_f32_as_core_fmt() {
        for bits in (0..=u32::MAX).step_by(16) {
            let v = f32::from_bits(bits);
            if v.is_finite() {
                check_against_core_fmt(v);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// Any finite f32, by its bits.
        #[test]
        fn formats_any_f32_as_core_fmt(bits in proptest::num::u32::ANY) {
            let v = f32::from_bits(bits);
            if v.is_finite() {
                check_against_core_fmt(v);
            }
        }
    }

    fn quick(token: &str) -> Option<f32> {
        parse_decimal_prefix(token.as_bytes()).and_then(|(v, rest)| rest.is_empty().then_some(v))
    }

    #[test]
    fn decimals_take_the_quick_path() {
        for (token, value) in [
            ("0", 0.0),
            ("255.0", 255.0),
            ("-0.5", -0.5),
            ("+7", 7.0),
            (".25", 0.25),
            ("3.", 3.0),
            ("1e3", 1000.0),
            ("-2.5E-1", -0.25),
            ("0.0123456789", 0.012_345_679),
            ("0.12345678901234567", 0.123_456_79),
            ("0e999", 0.0),
            ("-5.59909559e-33", -5.599_095_6e-33),
            ("1.2345678901234567e-30", 1.234_567_9e-30),
            ("1e30", 1e30),
        ] {
            assert_eq!(quick(token), Some(value), "{token}");
        }
        assert!(quick("-0").unwrap().is_sign_negative());
        assert_eq!(parse_decimal_prefix(b"1.5,2"), Some((1.5, &b",2"[..])));
        assert_eq!(parse_decimal_prefix(b"-1e2]"), Some((-100.0, &b"]"[..])));
        // Left to the general parser: too many digits, exponents beyond
        // the exact powers, results outside f32's normal range, anything
        // malformed.
        for token in [
            "12345678901234567890", "1e67", "1e-67", "3.5e38", "1e-39", "1e-45", "", "-", ".", "e5", "1e", "1e+", "1.2.3", "--1",
            "inf", "nan", " 1",
        ] {
            assert_eq!(quick(token), None, "{token}");
        }
    }

    proptest::proptest! {
        /// The quick path returns exactly what Rust's correctly rounding
        /// parser returns, bit for bit, whenever it answers.
        #[test]
        fn the_quick_path_agrees_with_the_general_parser(
            negative in proptest::bool::ANY,
            int_digits in "[0-9]{0,12}",
            frac_digits in proptest::option::of("[0-9]{0,20}"),
            exponent in proptest::option::of(-70i32..70),
        ) {
            let token = format!(
                "{}{int_digits}{}{}",
                if negative { "-" } else { "" },
                frac_digits.map(|f| format!(".{f}")).unwrap_or_default(),
                exponent.map(|e| format!("e{e}")).unwrap_or_default(),
            );
            if let Some(fast) = quick(&token) {
                let general: f32 = token.parse().expect("a decimal parses");
                proptest::prop_assert_eq!(fast.to_bits(), general.to_bits(), "{}", token);
            }
        }

        /// Every f32 printed as clients print it (shortest f32 digits,
        /// Python's 17-digit f64, 9 significant digits with exponent)
        /// parses back to itself, and the quick path takes almost all.
        #[test]
        fn printed_floats_round_trip(v in proptest::num::f32::NORMAL | proptest::num::f32::ZERO) {
            for token in [format!("{v}"), format!("{}", f64::from(v)), format!("{v:.8e}"), format!("{:.16e}", f64::from(v))] {
                let general: f32 = token.parse().expect("printed floats parse");
                proptest::prop_assert_eq!(general.to_bits(), v.to_bits());
                if let Some(fast) = quick(&token) {
                    proptest::prop_assert_eq!(fast.to_bits(), v.to_bits(), "{}", token);
                }
            }
        }
    }

    proptest::proptest! {
        /// Decimals printed next to a midpoint between two f32s (where
        /// rounding through f64 could go the wrong way) parse right.
        #[test]
        fn decimals_near_f32_midpoints_parse_right(bits in 0x0080_0000u32..0x7f7f_ffff, nudge in -3i64..=3) {
            let (lo, hi) = (f32::from_bits(bits), f32::from_bits(bits + 1));
            let mid = f64::from_bits(((f64::from(lo) + f64::from(hi)) / 2.0).to_bits().wrapping_add_signed(nudge));
            for token in [format!("{mid:e}"), format!("{mid:.18e}")] {
                let general: f32 = token.parse().unwrap();
                if let Some(fast) = quick(&token) {
                    proptest::prop_assert_eq!(fast.to_bits(), general.to_bits(), "{}", token);
                }
            }
        }
    }

    #[test]
    fn midpoints_go_to_the_general_parser() {
        // 1 + 2^-24 is exactly halfway between 1 and the next f32:
        // ties to even gives 1.0, and only an exact parser knows it is a tie.
        let tie = "1.000000059604644775390625";
        assert_eq!(quick(tie), None);
        assert_eq!(parse_f32(tie, "embedding", "").unwrap(), 1.0);
        // Just above the tie rounds up.
        assert_eq!(parse_f32("1.0000000596046448", "embedding", "").unwrap(), 1.000_000_1);
        // 2^24 + 1 is halfway between two f32s and exact in f64.
        assert_eq!(quick("16777217"), None);
        assert_eq!(parse_f32("16777217", "embedding", "").unwrap(), 16_777_216.0);
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
