//! Narrowing to half precision: a finite f32 that overflows f16 is an
//! error, never a silent infinity.

use half::f16;

use crate::error::{ErrorKind, Result, VectorError};

/// Converts to f16, refusing values beyond f16's range (|x| > 65504 after rounding).
pub fn to_f16(values: &[f32], type_name: &str) -> Result<Vec<f16>> {
    values
        .iter()
        .map(|&v| {
            let h = f16::from_f32(v);
            if h.is_infinite() && v.is_finite() {
                return Err(VectorError::new(
                    ErrorKind::OutOfRange,
                    format!("\"{v}\" is out of range for type {type_name}"),
                ));
            }
            Ok(h)
        })
        .collect()
}

/// Widens to f32 (exact).
pub fn to_f32(values: &[f16]) -> Vec<f32> {
    values.iter().map(|h| h.to_f32()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range() {
        assert_eq!(
            to_f16(&[65504.0, 1.5], "h").unwrap(),
            vec![f16::MAX, f16::from_f32(1.5)]
        );
        assert_eq!(
            to_f16(&[70000.0], "h").unwrap_err().kind,
            ErrorKind::OutOfRange
        );
        assert_eq!(to_f32(&to_f16(&[0.25], "h").unwrap()), vec![0.25]);
    }
}
