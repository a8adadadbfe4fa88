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

/// The real type behind a state's scalars.
pub type Re<V> = <<V as crate::State>::S as Scalar>::Re;

macro_rules! real_scalar {
    ($t:ty) => {
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
        }
    };
}
real_scalar!(f64);
real_scalar!(f32);
