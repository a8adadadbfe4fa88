//! Forward-mode dual numbers `a + b ε` with `ε² = 0`.
//!
//! [`Dual<T, R>`] carries one tangent. `T` is the scalar of both parts (a real or another dual,
//! so duals nest: `Dual<Dual<f64, f64>, f64>` gives second derivatives, as Hessian-vector products
//! need); `R` is the real at the bottom, which lets `Dual` be multiplied by a plain real without
//! overlapping impls. The type is the library's own, so no third-party AD crate's API leaks into
//! the public interface.

use crate::scalar::{Real, Scalar};
use num_traits::{Num, One, Zero};
use std::marker::PhantomData;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

/// A dual number `re + eps·ε` (one tangent direction).
///
/// ```
/// use sciml_core::{Dual, Scalar};
/// // d/dx tanh(x)^2 at x = 0.3
/// let x = Dual::<f64, f64>::variable(0.3);
/// let y = x.tanh() * x.tanh();
/// let t = 0.3_f64.tanh();
/// assert!((y.eps() - 2.0 * t * (1.0 - t * t)).abs() < 1e-15);
/// ```
pub struct Dual<T, R> {
    re: T,
    eps: T,
    _real: PhantomData<R>,
}

/// A first-order dual number over `f64`.
pub type Dual64 = Dual<f64, f64>;

impl<T: Copy, R> Clone for Dual<T, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy, R> Copy for Dual<T, R> {}

impl<T: std::fmt::Debug, R> std::fmt::Debug for Dual<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} + {:?}ε", self.re, self.eps)
    }
}

impl<T: PartialEq, R> PartialEq for Dual<T, R> {
    /// Compares value and tangent.
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re && self.eps == other.eps
    }
}

impl<T: Scalar<Re = R>, R: Real> Dual<T, R> {
    /// A dual number from its value and tangent parts.
    pub fn new(re: T, eps: T) -> Self {
        Dual {
            re,
            eps,
            _real: PhantomData,
        }
    }
    /// The independent variable `x + 1ε`.
    pub fn variable(x: T) -> Self {
        Self::new(x, T::one())
    }
    /// A constant `x + 0ε`.
    pub fn constant(x: T) -> Self {
        Self::new(x, T::zero())
    }
    /// The value part (one level down for nested duals).
    pub fn value(self) -> T {
        self.re
    }
    /// The tangent part.
    pub fn eps(self) -> T {
        self.eps
    }
    #[inline]
    fn chain(self, f: T, df: T) -> Self {
        Self::new(f, self.eps * df)
    }
}

impl<T: Scalar<Re = R>, R: Real> Add for Dual<T, R> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        Self::new(self.re + o.re, self.eps + o.eps)
    }
}
impl<T: Scalar<Re = R>, R: Real> Sub for Dual<T, R> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        Self::new(self.re - o.re, self.eps - o.eps)
    }
}
impl<T: Scalar<Re = R>, R: Real> Mul for Dual<T, R> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        Self::new(self.re * o.re, self.re * o.eps + self.eps * o.re)
    }
}
impl<T: Scalar<Re = R>, R: Real> Div for Dual<T, R> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        let inv = T::one() / o.re;
        let q = self.re * inv;
        Self::new(q, (self.eps - q * o.eps) * inv)
    }
}
impl<T: Scalar<Re = R>, R: Real> Rem for Dual<T, R> {
    type Output = Self;
    /// `a mod b`: locally `a - k b` with `k` constant, so the tangent is `ȧ - k ḃ`.
    fn rem(self, o: Self) -> Self {
        let r = self.re % o.re;
        let k = (self.re - r) / o.re;
        Self::new(r, self.eps - k * o.eps)
    }
}
impl<T: Scalar<Re = R>, R: Real> Neg for Dual<T, R> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        Self::new(-self.re, -self.eps)
    }
}
impl<T: Scalar<Re = R>, R: Real> Mul<R> for Dual<T, R> {
    type Output = Self;
    #[inline]
    fn mul(self, o: R) -> Self {
        Self::new(self.re * o, self.eps * o)
    }
}
macro_rules! assign_op {
    ($tr:ident, $m:ident, $op:tt) => {
        impl<T: Scalar<Re = R>, R: Real> $tr for Dual<T, R> {
            #[inline]
            fn $m(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    };
}
assign_op!(AddAssign, add_assign, +);
assign_op!(SubAssign, sub_assign, -);
assign_op!(MulAssign, mul_assign, *);
assign_op!(DivAssign, div_assign, /);
assign_op!(RemAssign, rem_assign, %);

impl<T: Scalar<Re = R>, R: Real> Zero for Dual<T, R> {
    fn zero() -> Self {
        Self::constant(T::zero())
    }
    fn is_zero(&self) -> bool {
        self.re.is_zero() && self.eps.is_zero()
    }
}
impl<T: Scalar<Re = R>, R: Real> One for Dual<T, R> {
    fn one() -> Self {
        Self::constant(T::one())
    }
}
impl<T: Scalar<Re = R>, R: Real> Num for Dual<T, R> {
    type FromStrRadixErr = T::FromStrRadixErr;
    /// Parses the value part; the tangent is zero.
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        T::from_str_radix(s, radix).map(Self::constant)
    }
}

impl<T: Scalar<Re = R>, R: Real> Scalar for Dual<T, R> {
    type Re = R;
    #[inline]
    fn re(self) -> R {
        self.re.re()
    }
    #[inline]
    fn cst(x: f64) -> Self {
        Self::constant(T::cst(x))
    }
    #[inline]
    fn from_re(x: R) -> Self {
        Self::constant(T::from_re(x))
    }
    fn sqrt(self) -> Self {
        let s = self.re.sqrt();
        self.chain(s, (s + s).recip())
    }
    fn exp(self) -> Self {
        let e = self.re.exp();
        self.chain(e, e)
    }
    fn ln(self) -> Self {
        self.chain(self.re.ln(), self.re.recip())
    }
    fn sin(self) -> Self {
        self.chain(self.re.sin(), self.re.cos())
    }
    fn cos(self) -> Self {
        self.chain(self.re.cos(), -self.re.sin())
    }
    fn tanh(self) -> Self {
        let t = self.re.tanh();
        self.chain(t, T::one() - t * t)
    }
    fn powi(self, n: i32) -> Self {
        if n == 0 {
            return Self::one();
        }
        let pm1 = self.re.powi(n - 1);
        self.chain(pm1 * self.re, pm1 * T::cst(f64::from(n)))
    }
    fn powf(self, r: R) -> Self {
        let pm1 = self.re.powf(r - R::one());
        self.chain(pm1 * self.re, pm1 * r)
    }
    fn abs(self) -> Self {
        if self.re() < R::zero() {
            -self
        } else {
            self
        }
    }
    fn recip(self) -> Self {
        let inv = self.re.recip();
        self.chain(inv, -(inv * inv))
    }
    fn is_finite_all(self) -> bool {
        self.re.is_finite_all() && self.eps.is_finite_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type D = Dual64;
    type DD = Dual<D, f64>;

    fn central(f: impl Fn(f64) -> f64, x: f64) -> f64 {
        let h = 1e-5;
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    #[test]
    fn elementary_derivatives_match_central_differences() {
        let x = 0.37;
        type Case = (fn(D) -> D, fn(f64) -> f64);
        let cases: Vec<Case> = vec![
            (|x| x.sqrt(), f64::sqrt),
            (|x| x.exp(), f64::exp),
            (|x| x.ln(), f64::ln),
            (|x| x.sin(), f64::sin),
            (|x| x.cos(), f64::cos),
            (|x| x.tanh(), f64::tanh),
            (|x| x.powi(3), |x| x.powi(3)),
            (|x| x.powf(2.5), |x| x.powf(2.5)),
            (|x| x.recip(), f64::recip),
            (|x| (-x).abs(), |x| (-x).abs()),
            (|x| x / (x + D::cst(1.0)), |x| x / (x + 1.0)),
            (|x| x % D::cst(0.1), |x| x % 0.1),
        ];
        for (i, (fd, ff)) in cases.iter().enumerate() {
            let y = fd(D::variable(x));
            assert!((y.re() - ff(x)).abs() < 1e-15, "case {i} value");
            let fdv = central(ff, x);
            assert!(
                (y.eps() - fdv).abs() < 1e-8 * (1.0 + fdv.abs()),
                "case {i}: {} vs {fdv}",
                y.eps()
            );
        }
    }

    #[test]
    fn nested_duals_give_second_derivatives() {
        // f(x) = x^3 sin x; f'' = 6x sin x + 6x^2 cos x - x^3 sin x
        let x = 0.8_f64;
        let xd = DD::new(D::new(x, 1.0), D::new(1.0, 0.0));
        let y = xd.powi(3) * xd.sin();
        let f2 = 6.0 * x * x.sin() + 6.0 * x * x * x.cos() - x.powi(3) * x.sin();
        assert!((y.eps().eps() - f2).abs() < 1e-13);
        assert_eq!(y.re(), x.powi(3) * x.sin());
    }
}
