//! Run-time selection of the kernel implementation.
//!
//! Each instruction-set level has one static table of function pointers
//! ([`Kernels`]). The best level the CPU supports is detected once, lowered
//! by `EMBER_DISTANCE_ISA` if asked, and its table cached in a `OnceLock`, so
//! the dispatched functions pay one atomic load and one indirect call.
//!
//! This module is public only so that tests and benchmarks can run every
//! level side by side; it is not part of the supported API.

use std::sync::OnceLock;

use half::f16;

/// An instruction-set level, ordered from the most portable to the fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain loops, any CPU.
    Scalar,
    /// AVX2 with FMA, plus F16C for the half-precision conversions.
    Avx2,
    /// AVX-512F (its f16 conversions need no extra feature).
    Avx512,
}

impl Isa {
    /// All levels, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The name reported by [`crate::active_isa`].
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2+fma",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses a value of `EMBER_DISTANCE_ISA` (`scalar`, `avx2`, `avx512`).
    pub fn from_env_value(value: &str) -> Option<Isa> {
        match value.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "avx2" | "avx2+fma" => Some(Isa::Avx2),
            "avx512" | "avx512f" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU can run the level's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Isa::Avx2.is_supported() && is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The highest level this CPU supports.
    pub fn best_supported() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Scalar)
    }
}

/// Function-pointer table of one level.
///
/// Invariant: a `&Kernels` of a SIMD level is only handed out (by
/// [`Kernels::for_isa`] and [`active`]) after checking that the CPU supports
/// that level, which is what makes calling its `unsafe fn` pointers sound.
/// The fields are private so no other code can build or copy one.
pub struct Kernels {
    isa: Isa,
    l2_squared: unsafe fn(&[f32], &[f32]) -> f32,
    dot: unsafe fn(&[f32], &[f32]) -> f32,
    l1: unsafe fn(&[f32], &[f32]) -> f32,
    norm_squared: unsafe fn(&[f32]) -> f32,
    cosine_parts: unsafe fn(&[f32], &[f32]) -> [f32; 3],
    l2_squared_f16: unsafe fn(&[f16], &[f16]) -> f32,
    dot_f16: unsafe fn(&[f16], &[f16]) -> f32,
    l1_f16: unsafe fn(&[f16], &[f16]) -> f32,
    norm_squared_f16: unsafe fn(&[f16]) -> f32,
    cosine_parts_f16: unsafe fn(&[f16], &[f16]) -> [f32; 3],
}

/// Builds the table of a level from a module exposing the kernels under the
/// common names (the SIMD modules' functions are safe `#[target_feature]`
/// functions, which coerce to `unsafe fn` pointers).
macro_rules! table {
    ($isa:expr, $module:ident) => {
        Kernels {
            isa: $isa,
            l2_squared: $module::l2_squared,
            dot: $module::dot,
            l1: $module::l1,
            norm_squared: $module::norm_squared,
            cosine_parts: $module::cosine_parts,
            l2_squared_f16: $module::l2_squared_f16,
            dot_f16: $module::dot_f16,
            l1_f16: $module::l1_f16,
            norm_squared_f16: $module::norm_squared_f16,
            cosine_parts_f16: $module::cosine_parts_f16,
        }
    };
}

use crate::scalar;
static SCALAR: Kernels = table!(Isa::Scalar, scalar);

#[cfg(target_arch = "x86_64")]
use crate::{avx2, avx512};
#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = table!(Isa::Avx2, avx2);
#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = table!(Isa::Avx512, avx512);

/// The table chosen for this process (detected once, then cached).
#[inline]
pub fn active() -> &'static Kernels {
    static ACTIVE: OnceLock<&'static Kernels> = OnceLock::new();
    ACTIVE.get_or_init(|| {
        let requested = std::env::var("EMBER_DISTANCE_ISA").ok();
        let isa = choose(Isa::best_supported(), requested.as_deref());
        Kernels::for_isa(isa).unwrap_or(&SCALAR)
    })
}

/// The level to use given the best supported one and the value of
/// `EMBER_DISTANCE_ISA`: the variable may only lower the level, so unknown
/// values and levels above `best` are ignored.
pub fn choose(best: Isa, requested: Option<&str>) -> Isa {
    requested
        .and_then(Isa::from_env_value)
        .map_or(best, |wanted| wanted.min(best))
}

impl Kernels {
    /// The table of `isa`, or `None` if this CPU cannot run it.
    pub fn for_isa(isa: Isa) -> Option<&'static Kernels> {
        if !isa.is_supported() {
            return None;
        }
        match isa {
            Isa::Scalar => Some(&SCALAR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Some(&AVX2),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Some(&AVX512),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }

    /// The tables of every level this CPU supports, lowest first.
    pub fn all_supported() -> Vec<&'static Kernels> {
        Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect()
    }

    /// The level of this table.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

// Each method below calls a pointer of the table. SAFETY (all of them): by
// the type invariant the CPU supports `self.isa`, the only precondition of
// the kernels; they take the shorter length on a mismatch, so lengths are
// not a safety matter (hence only `debug_assert`).
impl Kernels {
    /// See [`crate::l2_squared`].
    #[inline]
    pub fn l2_squared(&self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.l2_squared)(a, b) }
    }

    /// See [`crate::dot`].
    #[inline]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.dot)(a, b) }
    }

    /// See [`crate::l1`].
    #[inline]
    pub fn l1(&self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.l1)(a, b) }
    }

    /// See [`crate::norm_squared`].
    #[inline]
    pub fn norm_squared(&self, a: &[f32]) -> f32 {
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.norm_squared)(a) }
    }

    /// See [`crate::cosine_distance`].
    #[inline]
    pub fn cosine_distance(&self, a: &[f32], b: &[f32]) -> f64 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        let [dot, norm_a, norm_b] = unsafe { (self.cosine_parts)(a, b) };
        crate::cosine_from_parts(dot, norm_a, norm_b)
    }

    /// See [`crate::l2_squared_f16`].
    #[inline]
    pub fn l2_squared_f16(&self, a: &[f16], b: &[f16]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.l2_squared_f16)(a, b) }
    }

    /// See [`crate::dot_f16`].
    #[inline]
    pub fn dot_f16(&self, a: &[f16], b: &[f16]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.dot_f16)(a, b) }
    }

    /// See [`crate::l1_f16`].
    #[inline]
    pub fn l1_f16(&self, a: &[f16], b: &[f16]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.l1_f16)(a, b) }
    }

    /// See [`crate::norm_squared_f16`].
    #[inline]
    pub fn norm_squared_f16(&self, a: &[f16]) -> f32 {
        // SAFETY: CPU support checked, see the comment on this impl block.
        unsafe { (self.norm_squared_f16)(a) }
    }

    /// See [`crate::cosine_distance_f16`].
    #[inline]
    pub fn cosine_distance_f16(&self, a: &[f16], b: &[f16]) -> f64 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY: CPU support checked, see the comment on this impl block.
        let [dot, norm_a, norm_b] = unsafe { (self.cosine_parts_f16)(a, b) };
        crate::cosine_from_parts(dot, norm_a, norm_b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_only_lowers_the_level() {
        assert_eq!(choose(Isa::Avx512, None), Isa::Avx512);
        assert_eq!(choose(Isa::Avx512, Some("avx2")), Isa::Avx2);
        assert_eq!(choose(Isa::Avx512, Some(" Scalar ")), Isa::Scalar);
        assert_eq!(choose(Isa::Avx2, Some("avx512")), Isa::Avx2);
        assert_eq!(choose(Isa::Scalar, Some("avx2")), Isa::Scalar);
        assert_eq!(choose(Isa::Avx2, Some("neon")), Isa::Avx2);
        assert_eq!(choose(Isa::Avx512, Some("")), Isa::Avx512);
    }

    #[test]
    fn tables_match_their_level() {
        for isa in Isa::ALL {
            if let Some(kernels) = Kernels::for_isa(isa) {
                assert_eq!(kernels.isa(), isa);
            }
        }
        assert!(Kernels::for_isa(Isa::Scalar).is_some());
        assert_eq!(
            Kernels::all_supported().last().map(|k| k.isa()),
            Some(Isa::best_supported())
        );
    }
}
