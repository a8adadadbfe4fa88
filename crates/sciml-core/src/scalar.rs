//! The two scalar levels of the library.
//!
//! [`Real`] types time, step sizes, tolerances, tableau coefficients and error norms (`f32`,
//! `f64`). [`Scalar`] types states and parameters: the reals, and forward-mode dual numbers
//! ([`crate::Dual`]) whose value part is a real. Step-size control and error norms only ever see
//! a scalar's value part ([`Scalar::re`]), so a solve carried out in dual numbers takes exactly the
//! steps of the same solve in reals and its tangents are the derivative of the computed solution.

use num_traits::NumAssign;
pub use num_traits::{One, Zero};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::{Debug, Display};
use std::ops::{Mul, Neg};

/// Floating-point numbers that time, step sizes, tolerances and coefficients are made of.
///
/// Every real is also a [`Scalar`] whose value part is itself.
///
/// ```
/// use sciml_core::Real;
/// fn half<R: Real>(x: R) -> R { x * R::c(0.5) }
/// assert_eq!(half(3.0_f64), 1.5);
/// assert_eq!(half(3.0_f32), 1.5);
/// ```
pub trait Real:
    PartialOrd
    + Default
    + Debug
    + Display
    + Scalar<Re = Self>
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Converts an `f64` literal (exact for `f64`, rounded for `f32`).
    fn c(x: f64) -> Self;
    /// Converts to `f64` (for messages and serialised reports).
    fn to_f64_lossy(self) -> f64;
    /// Converts a count.
    fn from_usize(n: usize) -> Self {
        Self::c(n as f64)
    }
    /// The larger of two values (NaN-ignoring, as `f64::max`).
    fn max(self, o: Self) -> Self;
    /// The smaller of two values (NaN-ignoring, as `f64::min`).
    fn min(self, o: Self) -> Self;
    /// `1`, `-1` or NaN.
    fn signum(self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// Machine epsilon.
    fn epsilon() -> Self;
    /// Positive infinity.
    fn infinity() -> Self;
    /// Cube root.
    fn cbrt(self) -> Self;
}

/// The numbers states and parameters are made of: reals and dual numbers.
///
/// Code generic over `S: Scalar` runs unchanged in `f64`, `f32` and forward-mode dual numbers, which
/// is how exact Jacobians, JVPs and "dual numbers through the solver" sensitivities are obtained.
///
/// ```
/// use sciml_core::{Dual, Scalar};
/// fn f<S: Scalar>(x: S) -> S { x * x.sin() + S::cst(2.0) }
/// let x = Dual::<f64, f64>::variable(0.5);
/// let y = f(x);
/// assert!((y.re() - (0.5 * 0.5_f64.sin() + 2.0)).abs() < 1e-15);
/// assert!((y.eps() - (0.5_f64.sin() + 0.5 * 0.5_f64.cos())).abs() < 1e-15);
/// ```
pub trait Scalar:
    Copy + NumAssign + Neg<Output = Self> + Mul<Self::Re, Output = Self> + Debug + Send + Sync + 'static
{
    /// The real type of the value part.
    type Re: Real;
    /// The value part: all that step control and error norms ever see.
    fn re(self) -> Self::Re;
    /// A constant from an `f64` literal, with zero derivative parts.
    fn cst(x: f64) -> Self;
    /// A constant from a real, with zero derivative parts.
    fn from_re(x: Self::Re) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Exponential.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Integer power.
    fn powi(self, n: i32) -> Self;
    /// Real power.
    fn powf(self, r: Self::Re) -> Self;
    /// Absolute value (the derivative takes the sign of the value part).
    fn abs(self) -> Self;
    /// Reciprocal.
    fn recip(self) -> Self {
        Self::one() / self
    }
    /// Whether the value part and every derivative part are finite.
    fn is_finite_all(self) -> bool;
    /// Hyperbolic tangent of a slice in place. Reals may override this with a vectorised kernel.
    fn tanh_slice(xs: &mut [Self]) {
        for x in xs {
            *x = x.tanh();
        }
    }
}

/// Lanes of the vectorised `tanh` kernel: each step below is a loop over this many values, which
/// the compiler turns into packed SIMD instructions.
const TANH_LANES: usize = 8;

/// `tanh` of [`TANH_LANES`] values at once, branch-free and without libm calls, so that it
/// vectorises: the kernel of `f64::tanh_slice` (`f32` has its own, [`tanh_lanes_f32`]).
///
/// With `y = −2|x|` (capped at −40, where `tanh` rounds to ±1) split as `y = k·ln 2 + r`,
/// `k = round(y/ln 2 + ½) = ⌈y/ln 2⌉` (so `r ∈ (−ln 2, 0]` up to rounding, and no cancellation
/// occurs below), `e^r = P(r)/Q(r)` is the (7, 7) Padé approximant (relative error 1.1e-18 on that
/// interval) with `P = E + O`, `Q = E − O` (`E` even, `O` odd), and `s = 2^k` is built from the
/// exponent bits. Then, exactly in real arithmetic,
///
/// `tanh|x| = (Q − sP)/(Q + sP) = ((1−s) + ((1−s)Ē − (1+s)O)) / ((1+s) + ((1+s)Ē − (1−s)O))`
///
/// with `Ē = E − 1`; the grouping keeps every rounding small against the result (for `k = 0`
/// the numerator is exactly `−2O`). Measured error: at most 2.8 ulp against the correctly rounded
/// value (glibc's scalar `tanh`: 2.2 ulp), and within 4 ulp of glibc. `±0`, `±∞` and NaN map to
/// `±0`, `±1` and NaN; subnormal inputs come back unchanged.
#[inline(always)]
fn tanh_lanes(x: [f64; TANH_LANES]) -> [f64; TANH_LANES] {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // Cody–Waite split of ln 2 (fdlibm): k·LN2_HI is exact for |k| < 2^20.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5·2^52 rounds to an integer, which then sits in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // Padé (7, 7) of e^r: E = 1 + E1 r² + E2 r⁴ + E3 r⁶, O = r (O0 + O1 r² + O2 r⁴ + O3 r⁶).
    const E1: f64 = 3.0 / 26.0;
    const E2: f64 = 5.0 / 3432.0;
    const E3: f64 = 1.0 / 308_880.0;
    const O0: f64 = 0.5;
    const O1: f64 = 5.0 / 312.0;
    const O2: f64 = 1.0 / 11_440.0;
    const O3: f64 = 1.0 / 17_297_280.0;

    let mut y = [0.0; TANH_LANES];
    for (yi, &xi) in y.iter_mut().zip(&x) {
        let v = -2.0 * xi.abs();
        // The comparison is false for NaN, which passes through.
        *yi = if v < -40.0 { -40.0 } else { v };
    }
    let mut t = [0.0; TANH_LANES];
    for (ti, &yi) in t.iter_mut().zip(&y) {
        *ti = (yi * LOG2E + 0.5) + SHIFT;
    }
    let mut r = [0.0; TANH_LANES];
    for ((ri, &yi), &ti) in r.iter_mut().zip(&y).zip(&t) {
        let kf = ti - SHIFT;
        *ri = (yi - kf * LN2_HI) - kf * LN2_LO;
    }
    let mut out = [0.0; TANH_LANES];
    for (((o, &xi), &ri), &ti) in out.iter_mut().zip(&x).zip(&r).zip(&t) {
        let r2 = ri * ri;
        let eb = ((E3 * r2 + E2) * r2 + E1) * r2;
        let od = O0 * ri + (ri * r2) * ((O3 * r2 + O2) * r2 + O1);
        // s = 2^k, k in -58..=0, from the low bits of t.
        let s = f64::from_bits((ti.to_bits() << 52).wrapping_add(1023_u64 << 52));
        let (sm, sp) = (1.0 - s, 1.0 + s);
        let num = sm + (sm * eb - sp * od);
        let den = sp + (sp * eb - sm * od);
        // The quotient is ≥ 0 (or NaN): OR-ing in the sign of x is copysign.
        *o = f64::from_bits((num / den).to_bits() | (xi.to_bits() & (1_u64 << 63)));
    }
    out
}

/// Applies [`tanh_lanes`] to a slice of any float type that converts to and from `f64`, in
/// blocks of [`TANH_LANES`] (the last block padded).
#[inline(always)]
fn tanh_slice_via_lanes<T: Copy>(xs: &mut [T], to: impl Fn(T) -> f64, from: impl Fn(f64) -> T) {
    let mut blocks = xs.chunks_exact_mut(TANH_LANES);
    for blk in &mut blocks {
        let mut v = [0.0; TANH_LANES];
        for (vi, &b) in v.iter_mut().zip(blk.iter()) {
            *vi = to(b);
        }
        for (b, &vi) in blk.iter_mut().zip(&tanh_lanes(v)) {
            *b = from(vi);
        }
    }
    let rest = blocks.into_remainder();
    if !rest.is_empty() {
        let mut v = [0.0; TANH_LANES];
        for (vi, &b) in v.iter_mut().zip(rest.iter()) {
            *vi = to(b);
        }
        for (b, &vi) in rest.iter_mut().zip(&tanh_lanes(v)) {
            *b = from(vi);
        }
    }
}

crate::simd_fn! {
    /// The vectorised `tanh` of an `f64` slice (AVX2 where available, bitwise the same).
    fn tanh_slice_f64(xs: &mut [f64]) {
        tanh_slice_via_lanes(xs, |v| v, |v| v);
    }
}

/// Lanes of the `f32` kernel: twice the `f64` kernel's, so a vector register holds as many.
const TANH_LANES_F32: usize = 16;

/// `tanh` of [`TANH_LANES_F32`] `f32` values in `f32` arithmetic: the reduction of
/// [`tanh_lanes`] (`y = −2|x|` capped at −20, where `tanh` rounds to ±1 in `f32`;
/// `y = k·ln 2 + r`; `s = 2^k` from exponent bits) with the (4, 4) Padé approximant of `e^r`
/// (relative error 1.4e-9 on `(−ln 2, 0]`, far below half an `f32` ulp). Twice the values per
/// vector register of the `f64` kernel; measured error at most 2 `f32` ulp against the correctly
/// rounded value (tests: `nn_tanh`).
#[inline(always)]
fn tanh_lanes_f32(x: [f32; TANH_LANES_F32]) -> [f32; TANH_LANES_F32] {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Cody–Waite split of ln 2: k·LN2_HI is exact for |k| < 2^8.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    // Padé (4, 4) of e^r: E = 1 + E1 r² + E2 r⁴, O = r (O0 + O1 r²).
    const E1: f32 = 3.0 / 28.0;
    const E2: f32 = 1.0 / 1680.0;
    const O0: f32 = 0.5;
    const O1: f32 = 1.0 / 84.0;
    let mut out = [0.0f32; TANH_LANES_F32];
    for (o, &xi) in out.iter_mut().zip(&x) {
        let v = -2.0 * xi.abs();
        let y = if v < -20.0 { -20.0 } else { v };
        let t = (y * LOG2E + 0.5) + SHIFT;
        let kf = t - SHIFT;
        let r = (y - kf * LN2_HI) - kf * LN2_LO;
        let r2 = r * r;
        let eb = (E2 * r2 + E1) * r2;
        let od = O0 * r + (r * r2) * O1;
        // s = 2^k, k in -29..=0, from the low bits of t.
        let s = f32::from_bits((t.to_bits() << 23).wrapping_add(127_u32 << 23));
        let (sm, sp) = (1.0 - s, 1.0 + s);
        let num = sm + (sm * eb - sp * od);
        let den = sp + (sp * eb - sm * od);
        // For k ≤ −2 (|x| ≳ 1), tanh|x| = 1 − 2q/(1 + q) with q = e^y = s·P/Q small: the
        // correction is computed to a relative ulp or two and is below ¼, so the result is within
        // an ulp of the rounded value; the quotient form above is kept near 0.
        let p = (1.0 + eb) + od;
        let q = (1.0 + eb) - od;
        // One division for both forms: the operands are chosen first, then divided (a divide
        // per form cost two thirds of the loop). The bit select keeps the compiler from turning
        // it back into a select of two quotients.
        let near = kf <= -2.0;
        let mask = 0_u32.wrapping_sub(u32::from(near));
        let pick = |a: f32, b: f32| f32::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask));
        let quot = pick(2.0 * s * p, num) / pick(q + s * p, den);
        let v = if near { 1.0 - quot } else { quot };
        *o = f32::from_bits(v.to_bits() | (xi.to_bits() & (1_u32 << 31)));
    }
    out
}

crate::simd_fn! {
    /// The vectorised `tanh` of an `f32` slice, in `f32` arithmetic ([`tanh_lanes_f32`]; AVX2
    /// where available, bitwise the same).
    fn tanh_slice_f32(xs: &mut [f32]) {
        tanh_slice_f32_body(xs);
    }
}

/// The body of [`tanh_slice_f32`], in blocks of [`TANH_LANES_F32`] (the last block padded).
#[inline(always)]
fn tanh_slice_f32_body(xs: &mut [f32]) {
    let mut blocks = xs.chunks_exact_mut(TANH_LANES_F32);
    for blk in &mut blocks {
        let mut v = [0.0f32; TANH_LANES_F32];
        v.copy_from_slice(blk);
        blk.copy_from_slice(&tanh_lanes_f32(v));
    }
    let rest = blocks.into_remainder();
    if !rest.is_empty() {
        let mut v = [0.0f32; TANH_LANES_F32];
        v[..rest.len()].copy_from_slice(rest);
        let r = tanh_lanes_f32(v);
        rest.copy_from_slice(&r[..rest.len()]);
    }
}

macro_rules! real_scalar {
    ($t:ty, $tanh_kernel:ident) => {
        impl Real for $t {
            #[inline]
            fn c(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64_lossy(self) -> f64 {
                self as f64
            }
            #[inline]
            fn max(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            #[inline]
            fn min(self, o: Self) -> Self {
                <$t>::min(self, o)
            }
            #[inline]
            fn signum(self) -> Self {
                <$t>::signum(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn epsilon() -> Self {
                <$t>::EPSILON
            }
            #[inline]
            fn infinity() -> Self {
                <$t>::INFINITY
            }
            #[inline]
            fn cbrt(self) -> Self {
                <$t>::cbrt(self)
            }
        }
        impl Scalar for $t {
            type Re = $t;
            #[inline]
            fn re(self) -> $t {
                self
            }
            #[inline]
            fn cst(x: f64) -> $t {
                x as $t
            }
            #[inline]
            fn from_re(x: $t) -> $t {
                x
            }
            #[inline]
            fn sqrt(self) -> $t {
                <$t>::sqrt(self)
            }
            #[inline]
            fn exp(self) -> $t {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> $t {
                <$t>::ln(self)
            }
            #[inline]
            fn sin(self) -> $t {
                <$t>::sin(self)
            }
            #[inline]
            fn cos(self) -> $t {
                <$t>::cos(self)
            }
            #[inline]
            fn tanh(self) -> $t {
                <$t>::tanh(self)
            }
            #[inline]
            fn powi(self, n: i32) -> $t {
                <$t>::powi(self, n)
            }
            #[inline]
            fn powf(self, r: $t) -> $t {
                <$t>::powf(self, r)
            }
            #[inline]
            fn abs(self) -> $t {
                <$t>::abs(self)
            }
            #[inline]
            fn recip(self) -> $t {
                <$t>::recip(self)
            }
            #[inline]
            fn is_finite_all(self) -> bool {
                <$t>::is_finite(self)
            }
            /// A vectorised kernel (no libm calls): at most 2.8 ulp from the correctly rounded
            /// value in `f64`, 2 ulp in `f32`, NaN-preserving; see `tanh_lanes` and
            /// `tanh_lanes_f32` in this module's source.
            #[inline]
            fn tanh_slice(xs: &mut [$t]) {
                $tanh_kernel(xs);
            }
        }
    };
}
real_scalar!(f64, tanh_slice_f64);
real_scalar!(f32, tanh_slice_f32);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Xoshiro256pp;

    /// Special values and a spread of magnitudes (subnormal to huge), both signs, plus random
    /// bit patterns and values around the kernels' cut-offs; lengths not a multiple of a block.
    fn inputs_f64() -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 3.0,
            5e-324,
            f64::MAX,
            f64::EPSILON,
            20.0,
            -20.0,
            19.999_999,
            0.5 * std::f64::consts::LN_2,
        ];
        for e in -1080..1030 {
            let x = 2f64.powi(e) * 1.37;
            v.extend([x, -x]);
        }
        let mut rng = Xoshiro256pp::new(9);
        for _ in 0..20_000 {
            v.push(20.0 * rng.uniform() - 10.0);
            v.push(f64::from_bits(rng.next_u64()));
        }
        v.push(0.3);
        v
    }

    #[test]
    fn dispatched_tanh_kernels_equal_the_portable_ones_bitwise() {
        use crate::simd::{force_simd_level, SimdLevel};
        let initial = crate::simd::simd_level();
        for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
            let got = force_simd_level(level);
            eprintln!("tanh kernels at {got:?}");
            check_tanh_against_portable();
        }
        force_simd_level(initial);
    }

    fn check_tanh_against_portable() {
        let xs = inputs_f64();
        let mut a = xs.clone();
        tanh_slice_f64(&mut a);
        let mut b = xs.clone();
        tanh_slice_via_lanes(&mut b, |v| v, |v| v);
        for ((x, p), q) in xs.iter().zip(&a).zip(&b) {
            assert_eq!(p.to_bits(), q.to_bits(), "f64 tanh({x:e}): {p:e} vs {q:e}");
        }
        let xs: Vec<f32> = xs
            .iter()
            .map(|&x| x as f32)
            .chain(xs.iter().map(|x| f32::from_bits(x.to_bits() as u32)))
            .collect();
        let mut a = xs.clone();
        tanh_slice_f32(&mut a);
        let mut b = xs.clone();
        tanh_slice_f32_body(&mut b);
        for ((x, p), q) in xs.iter().zip(&a).zip(&b) {
            assert_eq!(p.to_bits(), q.to_bits(), "f32 tanh({x:e}): {p:e} vs {q:e}");
        }
    }
}
