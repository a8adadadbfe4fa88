//! `WrappedFunction`: a user's elementwise function, written once generically over the scalar, as
//! a layer without parameters.

use super::{Input, Layer};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Dual, Scalar};
use std::ops::Range;

/// A scalar function `f` and its derivative `df`, generic over the scalar so that the layer runs in
/// `f64`, `f32` and dual numbers. (Closures cannot be generic, hence a trait.)
///
/// `df` defaults to forward-mode differentiation of `f` with a dual number; write it by hand when
/// a cheaper form exists.
///
/// ```
/// use diffeqflux::nn::ElementwiseFn;
/// use sciml_core::Scalar;
///
/// /// x ↦ x³ with its derivative 3x².
/// struct Cube;
/// impl ElementwiseFn for Cube {
///     fn f<S: Scalar>(&self, x: S) -> S { x * x * x }
///     fn df<S: Scalar>(&self, x: S) -> S { x * x * S::cst(3.0) }
/// }
///
/// /// x ↦ sin(x)·x, derivative by dual numbers.
/// struct XSin;
/// impl ElementwiseFn for XSin {
///     fn f<S: Scalar>(&self, x: S) -> S { x.sin() * x }
/// }
///
/// assert_eq!(Cube.f(2.0), 8.0);
/// assert_eq!(Cube.df(2.0), 12.0);
/// let x = 0.3_f64;
/// assert!((XSin.df(x) - (x.cos() * x + x.sin())).abs() < 1e-15);
/// ```
pub trait ElementwiseFn: Send + Sync {
    /// `f(x)`.
    fn f<S: Scalar>(&self, x: S) -> S;
    /// `f'(x)`; by default from `f` evaluated on a dual number.
    fn df<S: Scalar>(&self, x: S) -> S {
        self.f(Dual::<S, S::Re>::variable(x)).eps()
    }
}

/// `y = f.(x)` on `dim` features for a user's [`ElementwiseFn`] (Lux's `WrappedFunction` with a
/// broadcast function). No parameters; reverse and forward mode use `df`.
///
/// ```
/// use diffeqflux::nn::{ElementwiseFn, Input, Layer, WrappedFunction};
/// use sciml_core::Scalar;
/// struct Cube;
/// impl ElementwiseFn for Cube {
///     fn f<S: Scalar>(&self, x: S) -> S { x * x * x }
///     fn df<S: Scalar>(&self, x: S) -> S { x * x * S::cst(3.0) }
/// }
/// let l = WrappedFunction::new(2, Cube);
/// let x = [1.0, -2.0];
/// let mut y = [0.0; 2];
/// l.forward(Input { x: &x, batch: 1, p: &[] }, &mut y, &mut []);
/// assert_eq!(y, [1.0, -8.0]);
/// let (mut xbar, mut pbar) = ([0.0; 2], []);
/// l.vjp(Input { x: &x, batch: 1, p: &[] }, &[1.0, 1.0], &mut xbar, &mut pbar, &mut []);
/// assert_eq!(xbar, [3.0, 12.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WrappedFunction<F> {
    dim: usize,
    f: F,
}

impl<F: ElementwiseFn> WrappedFunction<F> {
    /// `f` applied to each of `dim` features.
    ///
    /// ```
    /// use diffeqflux::nn::{ElementwiseFn, Layer, WrappedFunction};
    /// use sciml_core::Scalar;
    /// struct Square;
    /// impl ElementwiseFn for Square {
    ///     fn f<S: Scalar>(&self, x: S) -> S { x * x }
    /// }
    /// let l = WrappedFunction::new(3, Square);
    /// assert_eq!((l.in_dim(), l.nparams()), (3, 0));
    /// ```
    pub fn new(dim: usize, f: F) -> Self {
        WrappedFunction { dim, f }
    }

    /// The function.
    ///
    /// ```
    /// use diffeqflux::nn::{ElementwiseFn, WrappedFunction};
    /// use sciml_core::Scalar;
    /// struct Double;
    /// impl ElementwiseFn for Double {
    ///     fn f<S: Scalar>(&self, x: S) -> S { x + x }
    /// }
    /// assert_eq!(WrappedFunction::new(1, Double).function().f(2.0), 4.0);
    /// ```
    pub fn function(&self) -> &F {
        &self.f
    }

    /// `out = f'(x) ⊙ v`.
    fn mul_df<S: Scalar>(&self, x: &[S], v: &[S], out: &mut [S]) {
        for ((o, &xi), &vi) in out.iter_mut().zip(x).zip(v) {
            *o = self.f.df(xi) * vi;
        }
    }
}

impl<F: ElementwiseFn> Layer for WrappedFunction<F> {
    fn in_dim(&self) -> usize {
        self.dim
    }
    fn out_dim(&self) -> usize {
        self.dim
    }
    fn nparams(&self) -> usize {
        0
    }
    fn workspace_len(&self, _batch: usize) -> usize {
        0
    }
    fn init_params(&self, _rng: &mut Xoshiro256pp, _p: &mut [f64]) {}
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        Vec::new()
    }
    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], _ws: &mut [S]) {
        let n = self.dim * inp.batch;
        for (o, &xi) in y[..n].iter_mut().zip(&inp.x[..n]) {
            *o = self.f.f(xi);
        }
    }
    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        _pbar: &mut [S],
        _ws: &mut [S],
    ) {
        let n = self.dim * inp.batch;
        self.mul_df(&inp.x[..n], ybar, &mut xbar[..n]);
    }
    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        _pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        let n = self.dim * inp.batch;
        self.forward(inp, y, ws);
        self.mul_df(&inp.x[..n], xdot, &mut ydot[..n]);
    }
}
