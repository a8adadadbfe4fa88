//! Elementwise activation functions: as a choice inside [`crate::nn::Dense`] and
//! [`crate::nn::Scale`], and as a standalone layer ([`ActivationLayer`]).

use super::{assert_x_len, Input, Layer, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Dual, Real, Scalar, Zero};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// An elementwise activation `σ`, with the definitions of Julia's NNlib (which Lux uses).
///
/// | variant | `σ(x)` | `σ'(x)` |
/// |---|---|---|
/// | `Identity` | `x` | `1` |
/// | `Tanh` | `tanh x` | `1 − σ²` |
/// | `Relu` | `max(x, 0)` | `1` if `x > 0`, else `0` |
/// | `Sigmoid` | `1 / (1 + e^{−x})` | `σ(1 − σ)` |
/// | `Softplus` | `ln(1 + eˣ)` | `sigmoid(x)` |
/// | `Swish` (SiLU) | `x·sigmoid(x)` | `s + x s (1 − s)`, `s = sigmoid(x)` |
/// | `Gelu` | `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (the tanh approximation, NNlib's `gelu`) | exact derivative of that formula |
/// | `Elu(α)` | `x` if `x > 0`, else `α(eˣ − 1)` | `1`, else `α eˣ` |
/// | `LeakyRelu(a)` | `x` if `x > 0`, else `a x` | `1`, else `a` |
///
/// Sigmoid, softplus and ELU are evaluated in forms that neither overflow nor lose the derivative
/// for large `|x|` (also for dual numbers). In slices, `Tanh` uses the scalar's vectorised
/// [`Scalar::tanh_slice`].
///
/// ```
/// use diffeqflux::nn::Activation;
/// assert_eq!(Activation::Relu.eval(-2.0), 0.0);
/// assert!((Activation::Sigmoid.eval(0.0_f64) - 0.5).abs() < 1e-16);
/// assert!((Activation::Tanh.derivative(0.0_f64) - 1.0).abs() < 1e-16);
/// assert_eq!(Activation::LeakyRelu(0.1).eval(-2.0), -0.2);
/// let mut v = [-1.0, 0.0, 1.0];
/// Activation::Relu.apply_slice(&mut v);
/// assert_eq!(v, [0.0, 0.0, 1.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    /// `x`.
    Identity,
    /// `tanh x`.
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^{−x})`.
    Sigmoid,
    /// `ln(1 + eˣ)`.
    Softplus,
    /// `x·sigmoid(x)`, also called SiLU.
    Swish,
    /// GELU in its tanh approximation.
    Gelu,
    /// Exponential linear unit with the given `α` (NNlib's default is 1).
    Elu(f64),
    /// Leaky ReLU with the given negative slope (NNlib's default is 0.01).
    LeakyRelu(f64),
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_A: f64 = 0.044_715;

/// `1 / (1 + e^{−x})` without overflow in either tail.
#[inline]
fn sigmoid<S: Scalar>(x: S) -> S {
    if x.re() >= S::Re::zero() {
        (S::one() + (-x).exp()).recip()
    } else {
        let e = x.exp();
        e / (S::one() + e)
    }
}

/// `ln(1 + e)` for `0 ≤ e ≤ 1`: a series below `1e-3`, else the logarithm (relative error below
/// about `1e-13`).
#[inline]
fn log1p_unit<S: Scalar>(e: S) -> S {
    if e.re() < S::Re::c(1e-3) {
        let c = |v: f64| S::cst(v);
        e * (S::one()
            - e * (c(0.5) - e * (c(1.0 / 3.0) - e * (c(0.25) - e * (c(0.2) - e * c(1.0 / 6.0))))))
    } else {
        (S::one() + e).ln()
    }
}

/// `eˣ − 1` for `x ≤ 0`: a series above `−1e-3`, else the exponential.
#[inline]
fn expm1_neg<S: Scalar>(x: S) -> S {
    if x.re() > S::Re::c(-1e-3) {
        let c = |v: f64| S::cst(v);
        x * (S::one()
            + x * (c(0.5)
                + x * (c(1.0 / 6.0)
                    + x * (c(1.0 / 24.0) + x * (c(1.0 / 120.0) + x * c(1.0 / 720.0))))))
    } else {
        x.exp() - S::one()
    }
}

impl Activation {
    /// `σ(x)`.
    ///
    /// ```
    /// use diffeqflux::nn::Activation;
    /// assert!((Activation::Softplus.eval(0.0_f64) - 2f64.ln()).abs() < 1e-15);
    /// assert_eq!(Activation::Softplus.eval(-800.0_f64), 0.0);
    /// assert_eq!(Activation::Softplus.eval(800.0_f64), 800.0);
    /// ```
    #[inline]
    pub fn eval<S: Scalar>(self, x: S) -> S {
        let zero = S::Re::zero();
        match self {
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => {
                if x.re() > zero {
                    x
                } else {
                    S::zero()
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Softplus => {
                let l = log1p_unit((-x.abs()).exp());
                if x.re() > zero {
                    x + l
                } else {
                    l
                }
            }
            Activation::Swish => x * sigmoid(x),
            Activation::Gelu => {
                let u = (x + x * x * x * S::Re::c(GELU_A)) * S::Re::c(SQRT_2_OVER_PI);
                x * (S::one() + u.tanh()) * S::Re::c(0.5)
            }
            Activation::Elu(alpha) => {
                if x.re() > zero {
                    x
                } else {
                    expm1_neg(x) * S::Re::c(alpha)
                }
            }
            Activation::LeakyRelu(a) => {
                if x.re() > zero {
                    x
                } else {
                    x * S::Re::c(a)
                }
            }
        }
    }

    /// `σ'(x)`.
    ///
    /// ```
    /// use diffeqflux::nn::Activation;
    /// let x = 0.7_f64;
    /// let h = 1e-6;
    /// for a in [Activation::Gelu, Activation::Swish, Activation::Softplus, Activation::Elu(1.0)] {
    ///     let fd = (a.eval(x + h) - a.eval(x - h)) / (2.0 * h);
    ///     assert!((a.derivative(x) - fd).abs() < 1e-9);
    /// }
    /// ```
    #[inline]
    pub fn derivative<S: Scalar>(self, x: S) -> S {
        let zero = S::Re::zero();
        let step = |slope: S| if x.re() > zero { S::one() } else { slope };
        match self {
            Activation::Identity => S::one(),
            Activation::Tanh => {
                let t = x.tanh();
                S::one() - t * t
            }
            Activation::Relu => step(S::zero()),
            Activation::Sigmoid | Activation::Softplus => {
                let s = sigmoid(x);
                if self == Activation::Sigmoid {
                    s * (S::one() - s)
                } else {
                    s
                }
            }
            Activation::Swish => {
                let s = sigmoid(x);
                s * (S::one() + x * (S::one() - s))
            }
            Activation::Gelu => {
                let x2 = x * x;
                let u = (x + x2 * x * S::Re::c(GELU_A)) * S::Re::c(SQRT_2_OVER_PI);
                let t = u.tanh();
                let du = (S::one() + x2 * S::Re::c(3.0 * GELU_A)) * S::Re::c(SQRT_2_OVER_PI);
                (S::one() + t + x * (S::one() - t * t) * du) * S::Re::c(0.5)
            }
            Activation::Elu(alpha) => {
                if x.re() > zero {
                    S::one()
                } else {
                    x.exp() * S::Re::c(alpha)
                }
            }
            Activation::LeakyRelu(a) => step(S::cst(a)),
        }
    }

    /// `σ'(z)` from the output `y = σ(z)`, for the activations that do not need the
    /// pre-activation (see [`Activation::needs_preactivation`]; the others get `σ'(y)`, not
    /// meaningful, and callers use [`Activation::derivative`] on `z` for them).
    pub(crate) fn derivative_from_output<S: Scalar>(self, y: S) -> S {
        match self {
            Activation::Identity => S::one(),
            Activation::Tanh => S::one() - y * y,
            Activation::Sigmoid => y * (S::one() - y),
            Activation::Relu => {
                if y.re() > S::Re::zero() {
                    S::one()
                } else {
                    S::zero()
                }
            }
            other => other.derivative(y),
        }
    }

    /// `σ''(x)`, the derivative of [`Activation::derivative`] taken by one dual number (the
    /// forward-over-reverse passes need it only for activations whose derivative needs the
    /// pre-activation; the others follow from the output).
    pub(crate) fn second_derivative<S: Scalar>(self, x: S) -> S {
        self.derivative(Dual::<S, S::Re>::new(x, S::one())).eps()
    }

    /// `x ← σ(x)` over a slice (`Tanh` through the vectorised [`Scalar::tanh_slice`]).
    ///
    /// ```
    /// use diffeqflux::nn::Activation;
    /// let mut v = [0.0_f64, 1.0];
    /// Activation::Tanh.apply_slice(&mut v);
    /// assert!((v[1] - 1.0_f64.tanh()).abs() < 1e-16);
    /// ```
    pub fn apply_slice<S: Scalar>(self, xs: &mut [S]) {
        match self {
            Activation::Identity => {}
            Activation::Tanh => S::tanh_slice(xs),
            _ => {
                for x in xs {
                    *x = self.eval(*x);
                }
            }
        }
    }

    /// Whether the derivative needs the pre-activation `x`; otherwise it follows from `σ(x)`
    /// alone (identity, tanh, sigmoid, ReLU), and layers save nothing for their reverse pass.
    ///
    /// ```
    /// use diffeqflux::nn::Activation;
    /// assert!(!Activation::Tanh.needs_preactivation());
    /// assert!(Activation::Gelu.needs_preactivation());
    /// ```
    pub fn needs_preactivation(self) -> bool {
        !matches!(
            self,
            Activation::Identity | Activation::Tanh | Activation::Sigmoid | Activation::Relu
        )
    }

    /// `out = σ'(z) ⊙ v`, elementwise: the activation's Jacobian (diagonal) applied to `v`, which
    /// serves forward and reverse mode alike. `y = σ(z)`; `z` is read only when
    /// [`Activation::needs_preactivation`] (it may be empty otherwise).
    pub(crate) fn mul_derivative<S: Scalar>(self, z: &[S], y: &[S], v: &[S], out: &mut [S]) {
        let n = out.len();
        let (v, out) = (&v[..n], &mut out[..n]);
        let zero = S::Re::zero();
        match self {
            Activation::Identity => out.copy_from_slice(v),
            Activation::Tanh => tanh_mul_derivative(&y[..n], v, out),
            Activation::Sigmoid => {
                for ((o, &vi), &yi) in out.iter_mut().zip(v).zip(&y[..n]) {
                    *o = vi * (yi * (S::one() - yi));
                }
            }
            Activation::Relu => {
                for ((o, &vi), &yi) in out.iter_mut().zip(v).zip(&y[..n]) {
                    *o = if yi.re() > zero { vi } else { S::zero() };
                }
            }
            _ => {
                for ((o, &vi), &zi) in out.iter_mut().zip(v).zip(&z[..n]) {
                    *o = vi * self.derivative(zi);
                }
            }
        }
    }

    /// This activation as a standalone layer on `dim` features.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Layer};
    /// let l = Activation::Swish.layer(4);
    /// assert_eq!((l.in_dim(), l.out_dim(), l.nparams()), (4, 4, 0));
    /// ```
    pub fn layer(self, dim: usize) -> ActivationLayer {
        ActivationLayer::new(dim, self)
    }
}

sciml_core::simd_fn! {
    /// `out = (1 − y²) ⊙ v`: `tanh`'s derivative from its output `y`, applied to `v`.
    fn tanh_mul_derivative[S: Scalar](y: &[S], v: &[S], out: &mut [S]) {
        for ((o, &vi), &yi) in out.iter_mut().zip(v).zip(y) {
            *o = vi * (S::one() - yi * yi);
        }
    }
}

sciml_core::simd_fn! {
    /// `tanh`'s reverse pass and its tangent from the output `y` and its tangent `yd`:
    /// `zb = σ' yb` and `zbd = σ'' ż yb + σ' ybd`, with `σ' = 1 − y²` and `σ'' ż = −2 y yd`
    /// (the forward-over-reverse pass of a dense layer, `Layer::vjp_tangent`). The same
    /// arithmetic as the generic loop of `Dense`, compiled per SIMD level.
    pub(crate) fn tanh_cotangent_tangent[S: Scalar](
        y: &[S],
        yd: &[S],
        yb: &[S],
        ybd: &[S],
        zb: &mut [S],
        zbd: &mut [S],
    ) {
        let n = zb.len().min(zbd.len());
        let (y, yd, yb, ybd) = (&y[..n], &yd[..n], &yb[..n], &ybd[..n]);
        let (zb, zbd) = (&mut zb[..n], &mut zbd[..n]);
        let (one, two) = (S::one(), S::cst(2.0));
        for i in 0..n {
            let d1 = one - y[i] * y[i];
            let d2z = -(two * y[i] * yd[i]);
            zb[i] = d1 * yb[i];
            zbd[i] = d2z * yb[i] + d1 * ybd[i];
        }
    }
}

/// An activation applied elementwise as a layer without parameters: `y = σ.(x)`.
///
/// ```
/// use diffeqflux::nn::{Activation, ActivationLayer, Input, Layer};
/// let l = ActivationLayer::new(2, Activation::Relu);
/// let mut y = [0.0; 4];
/// let mut ws = vec![0.0; l.workspace_len(2)];
/// l.forward(Input { x: &[1.0, -1.0, -2.0, 2.0], batch: 2, p: &[] }, &mut y, &mut ws);
/// assert_eq!(y, [1.0, 0.0, 0.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivationLayer {
    dim: usize,
    act: Activation,
}

impl ActivationLayer {
    /// `σ` on `dim` features.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, ActivationLayer, Layer};
    /// assert_eq!(ActivationLayer::new(5, Activation::Tanh).out_dim(), 5);
    /// ```
    pub fn new(dim: usize, act: Activation) -> Self {
        ActivationLayer { dim, act }
    }
    /// The activation.
    ///
    /// ```
    /// use diffeqflux::nn::Activation;
    /// assert_eq!(Activation::Gelu.layer(3).activation(), Activation::Gelu);
    /// ```
    pub fn activation(&self) -> Activation {
        self.act
    }
}

impl Layer for ActivationLayer {
    fn in_dim(&self) -> usize {
        self.dim
    }
    fn out_dim(&self) -> usize {
        self.dim
    }
    fn nparams(&self) -> usize {
        0
    }
    fn workspace_len(&self, batch: usize) -> usize {
        self.dim * batch
    }
    fn init_params(&self, _rng: &mut Xoshiro256pp, _p: &mut [f64]) {}
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        Vec::new()
    }
    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], _ws: &mut [S]) {
        let n = self.dim * inp.batch;
        assert_x_len(inp.x.len(), n);
        y[..n].copy_from_slice(&inp.x[..n]);
        self.act.apply_slice(&mut y[..n]);
    }
    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        _pbar: &mut [S],
        ws: &mut [S],
    ) {
        let n = self.dim * inp.batch;
        assert_x_len(inp.x.len(), n);
        let y = &mut ws[..n];
        if !self.act.needs_preactivation() {
            // σ' comes from y = σ(x); otherwise from x alone.
            self.forward(inp, y, &mut []);
        }
        self.act.mul_derivative(inp.x, y, ybar, &mut xbar[..n]);
    }
    fn backward<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        tape: LayerTape<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        _pbar: &mut [S],
        _ws: &mut [S],
    ) {
        let n = self.dim * inp.batch;
        assert_x_len(inp.x.len(), n);
        self.act.mul_derivative(inp.x, tape.y, ybar, &mut xbar[..n]);
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
        assert_x_len(xdot.len(), n);
        self.forward(inp, y, ws);
        self.act.mul_derivative(inp.x, y, xdot, &mut ydot[..n]);
    }
}
