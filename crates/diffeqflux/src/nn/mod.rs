//! Explicit-parameter neural layers with hand-written reverse (VJP) and forward (JVP) passes,
//! generic over the scalar so dual numbers pass through them.
//!
//! A layer holds only shapes and choices (Lux's explicit-parameter style); its parameters live in
//! one flat vector, `p`, that the optimiser and the adjoint both see. Named views into `p` come
//! from [`Layer::param_names`] and [`Layer::param_range`].
//!
//! Data are `features × batch`, column-major: sample `j` of a batch is the contiguous slice
//! `x[j*features .. (j+1)*features]` (the layout of `sciml_core::Batch`).
//!
//! Every pass is allocation-free: the caller allocates `workspace_len(batch)` scalars of scratch
//! once and passes them to each call.
//!
//! | layer | parameters | |
//! |---|---|---|
//! | [`Dense`] | `weight` (out×in, row-major), `bias` (out) | `y = σ.(W x .+ b)` |
//! | [`Scale`] | `weight` (dim), `bias` (dim) | `y = σ.(w .* x .+ b)` |
//! | [`ActivationLayer`] | none | `y = σ.(x)` |
//! | [`WrappedFunction`] | none | `y = f.(x)` for a user's [`ElementwiseFn`] |
//! | [`Chain`] | `layer_k.*` | `y = L_n(…L_1(x))` |
//! | [`Parallel`] | `layer_k.*` | `y = Σ_k L_k(x)` or `[L_1(x); …; L_n(x)]` |
//! | [`SkipConnection`] | `layers.*` | `y = L(x) + x` or `[L(x); x]` |
//! | [`TensorLayer`] | `weight` (out×K) | `y = W (B_1(x_1) ⊗ … ⊗ B_d(x_d))` |
//! | [`SplineLayer`] | `values` (dim×grid) | `y_i = s_i(x_i)`, a spline through trainable values |
//!
//! ```
//! use diffeqflux::nn::{Activation, Chain, Dense, Input, Layer};
//! use sciml_core::rng::Xoshiro256pp;
//!
//! // A 2-50-2 tanh network, its parameters and a workspace for batches of 8.
//! let net = Chain::new((
//!     Dense::new(2, 50, Activation::Tanh),
//!     Dense::new(50, 2, Activation::Identity),
//! ))?;
//! let p = net.initial_params(&mut Xoshiro256pp::new(0));
//! assert_eq!(p.len(), 2 * 50 + 50 + 50 * 2 + 2);
//! let batch = 8;
//! let x = vec![0.1; 2 * batch];
//! let mut ws = vec![0.0; net.workspace_len(batch)];
//! let mut y = vec![0.0; 2 * batch];
//! net.forward(Input { x: &x, batch, p: &p }, &mut y, &mut ws);
//!
//! // Reverse mode: gradients of Σ y in the input and in the parameters.
//! let ybar = vec![1.0; 2 * batch];
//! let (mut xbar, mut pbar) = (vec![0.0; 2 * batch], vec![0.0; p.len()]);
//! net.vjp(Input { x: &x, batch, p: &p }, &ybar, &mut xbar, &mut pbar, &mut ws);
//! // The output bias's gradient is Σ_b ybar_b (8 samples of 1).
//! let b2 = net.param_range("layer_2.bias").expect("a named block");
//! assert_eq!((b2.clone(), &pbar[b2]), (250..252, &[8.0, 8.0][..]));
//! # Ok::<(), diffeqflux::nn::LayerError>(())
//! ```

mod activation;
mod basis;
mod chain;
mod dense;
mod kernels;
mod parallel;
mod scale;
mod skip;
mod spline;
mod tangent;
mod tensor;
mod wrapped;

pub use activation::{Activation, ActivationLayer};
pub use basis::Basis;
pub use chain::{Chain, LayerTuple, LayerVisitor};
pub use dense::Dense;
pub use parallel::{Combine, Parallel};
pub use scale::Scale;
pub use skip::SkipConnection;
pub use spline::{SplineKind, SplineLayer};
pub use tensor::TensorLayer;
pub use wrapped::{ElementwiseFn, WrappedFunction};

use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Dual, Real, Scalar};
use std::ops::Range;

/// The input of one layer call: data, batch size and the layer's own parameter slice.
///
/// ```
/// use diffeqflux::nn::Input;
/// let x = [1.0, 2.0, 3.0, 4.0]; // 2 features × 2 samples
/// let inp = Input { x: &x, batch: 2, p: &[] };
/// assert_eq!(inp.x.len() / inp.batch, 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Input<'a, S> {
    /// `in_dim × batch` values, column-major.
    pub x: &'a [S],
    /// Number of samples.
    pub batch: usize,
    /// The layer's parameters (`nparams()` values).
    pub p: &'a [S],
}

impl<'a, S> Input<'a, S> {
    /// The same call with another parameter slice (a sub-layer's block).
    #[inline]
    pub(crate) fn with_p(self, p: &'a [S]) -> Self {
        Input { p, ..self }
    }
}

/// What [`Layer::forward_tape`] left for [`Layer::backward`].
///
/// ```
/// use diffeqflux::nn::LayerTape;
/// let y = [0.5, 0.25];
/// let t = LayerTape { y: &y, saved: &[] };
/// assert_eq!(t.y.len(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LayerTape<'a, S> {
    /// The layer's output (`out_dim × batch`).
    pub y: &'a [S],
    /// The values it saved (`tape_len(batch)`).
    pub saved: &'a [S],
}

/// Wrong shapes when building a layer or calling it.
///
/// ```
/// use diffeqflux::nn::{Activation, Chain, Dense, LayerError};
/// let e = Chain::new((Dense::new(2, 3, Activation::Tanh), Dense::new(4, 1, Activation::Identity)));
/// assert!(matches!(e, Err(LayerError::ChainMismatch { index: 1, expected: 4, found: 3 })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// Consecutive layers of a chain disagree on the number of features.
    #[error(
        "layer {} of the chain takes {expected} features but the layer before it gives {found}",
        index + 1
    )]
    ChainMismatch {
        /// The (0-based) position of the layer whose input does not fit.
        index: usize,
        /// Its `in_dim`.
        expected: usize,
        /// The previous layer's `out_dim`.
        found: usize,
    },
    /// Layers combined by a connection disagree on a dimension.
    #[error("{what}: layer {} has {found} features where {expected} are needed", index + 1)]
    ConnectionMismatch {
        /// Which connection and which dimension.
        what: &'static str,
        /// The (0-based) position of the offending layer.
        index: usize,
        /// The dimension required.
        expected: usize,
        /// The layer's dimension.
        found: usize,
    },
    /// A slice passed to a layer has the wrong length.
    #[error("{what} has {found} values; the layer needs {expected}")]
    Length {
        /// Which argument (`"x"`, `"p"`, ...).
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A layer was built with a parameter out of its domain.
    #[error("{0}")]
    Invalid(String),
}

/// A layer: shapes and choices only; parameters come in through [`Input::p`].
///
/// Every method is allocation-free: scratch space of `workspace_len(batch)` scalars is passed in
/// (more is fine). Implementations in this module are generic over the scalar, so the same code
/// runs in `f64`, `f32` and dual numbers.
///
/// Reverse mode comes in two forms. [`Layer::vjp`] is self-contained: it recomputes the forward
/// activations it needs in the workspace. [`Layer::forward_tape`] followed by [`Layer::backward`]
/// splits it, so a container ([`Chain`]) computes every activation once: `forward_tape` writes the
/// output and saves `tape_len(batch)` scalars that `backward` reads together with the input and the
/// output. The defaults save nothing and recompute, so a layer only needs `forward`, `vjp` and
/// `jvp`.
///
/// ```
/// use diffeqflux::nn::{Activation, Dense, Input, Layer};
/// let d = Dense::new(3, 2, Activation::Identity);
/// let p = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, -0.5]; // W = [1 0 0; 0 1 0], b = [0.5, -0.5]
/// let mut y = [0.0; 2];
/// let mut ws = vec![0.0; d.workspace_len(1)];
/// d.forward(Input { x: &[1.0, 2.0, 3.0], batch: 1, p: &p }, &mut y, &mut ws);
/// assert_eq!(y, [1.5, 1.5]);
/// ```
pub trait Layer: Send + Sync {
    /// Features per input sample.
    fn in_dim(&self) -> usize;
    /// Features per output sample.
    fn out_dim(&self) -> usize;
    /// Number of parameters.
    fn nparams(&self) -> usize;
    /// Scalars of scratch that `forward`, `vjp`, `jvp`, `forward_tape` and `backward` need for a
    /// batch of `batch` samples.
    fn workspace_len(&self, batch: usize) -> usize;
    /// Scalars that [`Layer::forward_tape`] saves for [`Layer::backward`] (default none).
    fn tape_len(&self, batch: usize) -> usize {
        let _ = batch;
        0
    }
    /// Writes initial parameters into `p` (`nparams()` values), drawing from `rng`.
    fn init_params(&self, rng: &mut Xoshiro256pp, p: &mut [f64]);
    /// Names and ranges of the parameter blocks (e.g. `("weight", 0..100)`), for named views.
    /// Containers prefix their children's names (`"layer_2.weight"`).
    fn param_names(&self) -> Vec<(String, Range<usize>)>;
    /// `y = layer(x; p)` (`out_dim × batch`).
    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]);
    /// Reverse mode: `xbar = (∂y/∂x)ᵀ ybar` (overwritten) and `pbar += (∂y/∂p)ᵀ ybar`
    /// (accumulated). Recomputes the forward activations it needs in `ws`.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer};
    /// // y = tanh(w x + b) at w = 2, b = 0, x = 0.5: dy/dx = 2(1 − tanh²1), dy/dw = 0.5(1 − tanh²1).
    /// let d = Dense::new(1, 1, Activation::Tanh);
    /// let mut ws = vec![0.0; d.workspace_len(1)];
    /// let (mut xbar, mut pbar) = ([0.0], [0.0, 0.0]);
    /// d.vjp(Input { x: &[0.5], batch: 1, p: &[2.0, 0.0] }, &[1.0], &mut xbar, &mut pbar, &mut ws);
    /// let s = 1.0 - 1.0_f64.tanh().powi(2);
    /// assert!((xbar[0] - 2.0 * s).abs() < 1e-15 && (pbar[0] - 0.5 * s).abs() < 1e-15);
    /// assert!((pbar[1] - s).abs() < 1e-15);
    /// ```
    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        ws: &mut [S],
    );
    /// Forward mode: `y = layer(x; p)` and `ydot = ∂y/∂x · xdot + ∂y/∂p · pdot` (`pdot = None`
    /// means zero).
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer};
    /// // y = w x + b: ydot = w xdot + wdot x + bdot.
    /// let d = Dense::new(1, 1, Activation::Identity);
    /// let mut ws = vec![0.0; d.workspace_len(1)];
    /// let (mut y, mut ydot) = ([0.0], [0.0]);
    /// let inp = Input { x: &[3.0], batch: 1, p: &[2.0, 1.0] };
    /// d.jvp(inp, &[1.0], Some(&[10.0, 100.0]), &mut y, &mut ydot, &mut ws);
    /// assert_eq!((y[0], ydot[0]), (7.0, 2.0 + 30.0 + 100.0));
    /// d.jvp(inp, &[1.0], None, &mut y, &mut ydot, &mut ws);
    /// assert_eq!(ydot[0], 2.0);
    /// ```
    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    );
    /// `y = layer(x; p)`, saving in `tape` (`tape_len(batch)` values) what [`Layer::backward`]
    /// needs besides `x` and `y`. The default is [`Layer::forward`], saving nothing.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer, LayerTape};
    /// let d = Dense::new(2, 3, Activation::Gelu); // GELU's derivative needs the pre-activation
    /// let p = vec![0.1; d.nparams()];
    /// let inp = Input { x: &[1.0, 2.0], batch: 1, p: &p };
    /// let (mut y, mut tape) = (vec![0.0; 3], vec![0.0; d.tape_len(1)]);
    /// let mut ws = vec![0.0; d.workspace_len(1)];
    /// d.forward_tape(inp, &mut y, &mut tape, &mut ws);
    /// let (mut xbar, mut pbar) = (vec![0.0; 2], vec![0.0; p.len()]);
    /// d.backward(inp, LayerTape { y: &y, saved: &tape }, &[1.0; 3], &mut xbar, &mut pbar, &mut ws);
    /// let (mut xbar2, mut pbar2) = (vec![0.0; 2], vec![0.0; p.len()]);
    /// d.vjp(inp, &[1.0; 3], &mut xbar2, &mut pbar2, &mut ws);
    /// assert_eq!((xbar, pbar), (xbar2, pbar2));
    /// ```
    fn forward_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        y: &mut [S],
        tape: &mut [S],
        ws: &mut [S],
    ) {
        let _ = tape;
        self.forward(inp, y, ws);
    }
    /// The reverse pass after [`Layer::forward_tape`] with the same input, which left `tape` (the
    /// output and the saved values): `xbar` overwritten and `pbar` accumulated as in
    /// [`Layer::vjp`]. The default calls `vjp` (recomputing the forward pass).
    fn backward<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        tape: LayerTape<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        ws: &mut [S],
    ) {
        let _ = tape;
        self.vjp(inp, ybar, xbar, pbar, ws);
    }

    /// Whether [`Layer::vjp_tangent`] and [`Layer::vjp_tangent_dirs`] accept an empty `xbar`
    /// and then skip the input cotangents `Jᵀ ybar` (a caller that needs only the tangents,
    /// such as an exact trace's gradient, saves a product per direction). Default `false`;
    /// [`Dense`] accepts it. [`Layer::vjp_tangent_dirs_from_tape`] takes an empty `xbar` from
    /// every layer.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Layer};
    /// assert!(Dense::new(2, 2, Activation::Tanh).accepts_empty_xbar());
    /// ```
    fn accepts_empty_xbar(&self) -> bool {
        false
    }

    /// Scalars of scratch that [`Layer::vjp_tangent`] needs for a batch of `batch` samples
    /// (default: [`Layer::workspace_len`]).
    fn tangent_workspace_len(&self, batch: usize) -> usize {
        self.workspace_len(batch)
    }

    /// Forward over reverse in plain scalars: the tangent of the VJP along a direction. With the
    /// input moving as `x + δ·xdot` (parameters fixed) and the cotangent as `ybar + δ·ybar_dot`,
    /// writes `xbar = Jᵀ ybar` (overwritten), its tangent `xbar_dot = Jᵀ ybar_dot + ∇_x(ybarᵀ J
    /// xdot)` (overwritten), and accumulates the tangent of the parameter cotangent, `pbar_dot
    /// += J_pᵀ ybar_dot + ∇_p(ybarᵀ J xdot)` (`J = ∂y/∂x`, `J_p = ∂y/∂p`). These are the
    /// tangents of [`Layer::vjp`] run in dual numbers, computed here without them.
    ///
    /// `fwd` is the output and its tangent, `(y, ydot)` as [`Layer::jvp`] gives them with
    /// `pdot = None`, when the caller has them (a layer may use them instead of recomputing).
    ///
    /// The default runs [`Layer::vjp`] in dual numbers and allocates its buffers per call;
    /// [`Dense`] and [`Chain`] implement it in plain scalars without allocation, over the batch.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer};
    /// // y = tanh(w x) at w = 2, x = 0.5 (no bias): xbar = w σ' ybar; along xdot = 1 with
    /// // ybar = 1, ybar_dot = 0, xbar_dot = w² σ'' where σ'' = −2 tanh(1)(1 − tanh²1).
    /// let d = Dense::new(1, 1, Activation::Tanh).use_bias(false);
    /// let mut ws = vec![0.0; d.tangent_workspace_len(1)];
    /// let (mut xbar, mut xbar_dot, mut pbar_dot) = ([0.0], [0.0], [0.0]);
    /// let inp = Input { x: &[0.5], batch: 1, p: &[2.0] };
    /// d.vjp_tangent(inp, &[1.0], None, &[1.0], &[0.0], &mut xbar, &mut xbar_dot, &mut pbar_dot, &mut ws);
    /// let t = 1.0_f64.tanh();
    /// assert!((xbar[0] - 2.0 * (1.0 - t * t)).abs() < 1e-15);
    /// assert!((xbar_dot[0] - 4.0 * (-2.0 * t * (1.0 - t * t))).abs() < 1e-14);
    /// ```
    #[allow(clippy::too_many_arguments)]
    fn vjp_tangent<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        fwd: Option<(&[S], &[S])>,
        ybar: &[S],
        ybar_dot: &[S],
        xbar: &mut [S],
        xbar_dot: &mut [S],
        pbar_dot: &mut [S],
        ws: &mut [S],
    ) {
        let _ = (fwd, ws);
        tangent::vjp_tangent_by_duals(self, inp, xdot, (ybar, ybar_dot), xbar, xbar_dot, pbar_dot);
    }

    /// Scalars of scratch that [`Layer::jvp_dirs`] and [`Layer::vjp_tangent_dirs`] need for
    /// `ndir` directions over a batch of `batch` samples (default: what the per-direction
    /// passes need, which the defaults call, and one input and one output batch besides).
    fn dirs_workspace_len(&self, batch: usize, ndir: usize) -> usize {
        let _ = ndir;
        let per_direction = self
            .workspace_len(batch)
            .max(self.tangent_workspace_len(batch));
        per_direction + (self.in_dim() + self.out_dim()) * batch
    }

    /// [`Layer::jvp`] (with `pdot = None`) along `ndir` input directions at once: `xdot` holds
    /// `ndir` blocks of `in_dim × batch` (direction `d` at `d·in_dim·batch`), a matrix of
    /// `ndir·batch` columns; `y` gets the output (`out_dim × batch`, computed once) and `ydot`
    /// the `ndir` output tangents, blocked the same way. [`Dense`] and [`Chain`] push all the
    /// directions through one product per layer (bitwise the same as one `jvp` per direction);
    /// the default calls `jvp` once per direction.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer};
    /// // y = tanh(w x) at w = 2, x = 0.5 along xdot = 1 and xdot = 3: ydot = w σ' xdot.
    /// let d = Dense::new(1, 1, Activation::Tanh).use_bias(false);
    /// let mut ws = vec![0.0; d.dirs_workspace_len(1, 2)];
    /// let (mut y, mut ydot) = ([0.0], [0.0; 2]);
    /// d.jvp_dirs(Input { x: &[0.5], batch: 1, p: &[2.0] }, 2, &[1.0, 3.0], &mut y, &mut ydot, &mut ws);
    /// let s = 1.0 - 1.0_f64.tanh().powi(2);
    /// assert!((ydot[0] - 2.0 * s).abs() < 1e-15 && (ydot[1] - 6.0 * s).abs() < 1e-15);
    /// ```
    fn jvp_dirs<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        let (ni, no) = (self.in_dim() * inp.batch, self.out_dim() * inp.batch);
        for d in 0..ndir {
            let yd = &mut ydot[d * no..(d + 1) * no];
            self.jvp(inp, &xdot[d * ni..(d + 1) * ni], None, y, yd, ws);
        }
    }

    /// [`Layer::vjp_tangent`] along `ndir` directions at once, summed over the directions: the
    /// pass a sum of directional second derivatives needs (an exact trace `Σ_d e_dᵀ J e_d`).
    /// `xdot`, `ybar` and `xbar` hold `ndir` blocks of one sample batch each (as in
    /// [`Layer::jvp_dirs`]); `ybar_dot` and `xbar_dot` one batch. Writes `xbar_d = Jᵀ ybar_d`
    /// per direction and
    ///
    /// ```text
    /// xbar_dot  = Jᵀ ybar_dot + Σ_d ∇_x(ybar_dᵀ J xdot_d)        (overwritten)
    /// pbar_dot += J_pᵀ ybar_dot + Σ_d ∇_p(ybar_dᵀ J xdot_d)     (accumulated)
    /// ```
    ///
    /// the sum of [`Layer::vjp_tangent`] over the directions with the cotangent tangent
    /// `ybar_dot` on the first and zero on the others. `fwd` is `(y, ydot)` as
    /// [`Layer::jvp_dirs`] gives them. [`Dense`] and [`Chain`] push every direction through one
    /// product per layer and carry one summed tangent (equal to the per-direction calls within
    /// rounding); the default makes those calls.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer};
    /// // y = tanh(w x) at w = 2, x = 0.5, two directions xdot = 1 and 3 with ybar = 1 each and
    /// // ybar_dot = 0: xbar_dot = Σ_d w² σ'' xdot_d = 4 w² σ''.
    /// let d = Dense::new(1, 1, Activation::Tanh).use_bias(false);
    /// let mut ws = vec![0.0; d.dirs_workspace_len(1, 2)];
    /// let (mut xbar, mut xbar_dot, mut pbar_dot) = ([0.0; 2], [0.0], [0.0]);
    /// let inp = Input { x: &[0.5], batch: 1, p: &[2.0] };
    /// let ybar = ([1.0, 1.0].as_slice(), [0.0].as_slice());
    /// d.vjp_tangent_dirs(inp, 2, &[1.0, 3.0], None, ybar, &mut xbar, &mut xbar_dot, &mut pbar_dot, &mut ws);
    /// let t = 1.0_f64.tanh();
    /// assert!((xbar_dot[0] - 16.0 * (-2.0 * t * (1.0 - t * t))).abs() < 1e-13);
    /// ```
    #[allow(clippy::too_many_arguments)]
    fn vjp_tangent_dirs<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        fwd: Option<(&[S], &[S])>,
        (ybar, ybar_dot): (&[S], &[S]),
        xbar: &mut [S],
        xbar_dot: &mut [S],
        pbar_dot: &mut [S],
        ws: &mut [S],
    ) {
        let (ni, no) = (self.in_dim() * inp.batch, self.out_dim() * inp.batch);
        let (one_xbd, rest) = ws.split_at_mut(ni);
        let (zeros, ws) = rest.split_at_mut(no);
        zeros.iter_mut().for_each(|z| *z = S::zero());
        for d in 0..ndir {
            let (i, o) = (d * ni..(d + 1) * ni, d * no..(d + 1) * no);
            let (ybd, xbd): (&[S], &mut [S]) = if d == 0 {
                (&ybar_dot[..no], &mut xbar_dot[..ni])
            } else {
                (&*zeros, &mut *one_xbd)
            };
            self.vjp_tangent(
                inp,
                &xdot[i.clone()],
                fwd.map(|(y, yd)| (y, &yd[o.clone()])),
                &ybar[o],
                ybd,
                &mut xbar[i],
                xbd,
                pbar_dot,
                ws,
            );
            if d > 0 {
                for (t, v) in xbar_dot.iter_mut().zip(one_xbd.iter()) {
                    *t += *v;
                }
            }
        }
    }

    /// Scalars of the record that [`Layer::jvp_dirs_tape`] writes for `ndir` directions over a
    /// batch of `batch` samples, so that [`Layer::vjp_tangent_dirs_from_tape`] need not repeat
    /// the forward pass; 0 (the default) when the layer keeps none and the taped passes are the
    /// plain ones. [`Chain`] keeps every layer's output and tangents.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense, Layer};
    /// let c = Chain::new((Dense::new(2, 4, Activation::Tanh), Dense::new(4, 2, Activation::Identity)))?;
    /// // (4 + 2) outputs per sample, each with 2 tangents: 3 batches of 6 per sample.
    /// assert_eq!(c.dirs_tape_len(5, 2), 3 * 6 * 5);
    /// assert_eq!(Dense::new(2, 2, Activation::Tanh).dirs_tape_len(5, 2), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn dirs_tape_len(&self, batch: usize, ndir: usize) -> usize {
        let _ = (batch, ndir);
        0
    }

    /// [`Layer::jvp_dirs`], keeping in `tape` (of [`Layer::dirs_tape_len`] scalars) what
    /// [`Layer::vjp_tangent_dirs_from_tape`] reads back; `y` and `ydot` are as `jvp_dirs`
    /// writes them, bitwise. The default keeps nothing and calls `jvp_dirs`.
    #[allow(clippy::too_many_arguments)]
    fn jvp_dirs_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        y: &mut [S],
        ydot: &mut [S],
        tape: &mut [S],
        ws: &mut [S],
    ) {
        let _ = tape;
        self.jvp_dirs(inp, ndir, xdot, y, ydot, ws);
    }

    /// [`Layer::vjp_tangent_dirs`] at the input, directions and parameters whose forward pass
    /// [`Layer::jvp_dirs_tape`] recorded in `tape`: the same results, bitwise, without
    /// repeating that pass. `xbar` may be empty when the caller needs no input cotangents (then
    /// a layer that [accepts it](Layer::accepts_empty_xbar) skips them; others compute them
    /// into scratch). The default ignores the tape and calls `vjp_tangent_dirs`.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense, Input, Layer};
    /// let c = Chain::new((Dense::new(2, 3, Activation::Tanh), Dense::new(3, 2, Activation::Identity)))?;
    /// let p: Vec<f64> = (0..c.nparams()).map(|i| 0.1 * i as f64 - 0.5).collect();
    /// let inp = Input { x: &[0.3, -0.2], batch: 1, p: &p };
    /// let (xdot, ybar, ybd) = ([1.0, 0.0, 0.0, 1.0], [0.5, -1.0, 2.0, 0.25], [1.0, -0.5]);
    /// let mut ws = vec![0.0; c.dirs_workspace_len(1, 2)];
    /// let mut tape = vec![0.0; c.dirs_tape_len(1, 2)];
    /// let (mut y, mut ydot) = ([0.0; 2], [0.0; 4]);
    /// c.jvp_dirs_tape(inp, 2, &xdot, &mut y, &mut ydot, &mut tape, &mut ws);
    /// let run = |taped: bool, ws: &mut [f64]| {
    ///     let (mut xb, mut xbd, mut pbd) = ([0.0; 4], [0.0; 2], vec![0.0; p.len()]);
    ///     let yb = (&ybar[..], &ybd[..]);
    ///     if taped {
    ///         c.vjp_tangent_dirs_from_tape(inp, 2, &xdot, &tape, yb, &mut xb, &mut xbd, &mut pbd, ws);
    ///     } else {
    ///         c.vjp_tangent_dirs(inp, 2, &xdot, None, yb, &mut xb, &mut xbd, &mut pbd, ws);
    ///     }
    ///     (xb, xbd, pbd)
    /// };
    /// assert_eq!(run(true, &mut ws), run(false, &mut ws));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    fn vjp_tangent_dirs_from_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        tape: &[S],
        ybar: (&[S], &[S]),
        xbar: &mut [S],
        xbar_dot: &mut [S],
        pbar_dot: &mut [S],
        ws: &mut [S],
    ) {
        let _ = tape;
        if xbar.is_empty() && !self.accepts_empty_xbar() {
            let mut scratch = vec![S::zero(); self.in_dim() * inp.batch * ndir];
            let xb = &mut scratch;
            return self.vjp_tangent_dirs(inp, ndir, xdot, None, ybar, xb, xbar_dot, pbar_dot, ws);
        }
        self.vjp_tangent_dirs(inp, ndir, xdot, None, ybar, xbar, xbar_dot, pbar_dot, ws);
    }

    /// The range of the parameter block called `name` in [`Layer::param_names`].
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Layer};
    /// let d = Dense::new(3, 2, Activation::Tanh);
    /// assert_eq!(d.param_range("bias"), Some(6..8));
    /// assert_eq!(d.param_range("gamma"), None);
    /// ```
    fn param_range(&self, name: &str) -> Option<Range<usize>> {
        self.param_names()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// A fresh parameter vector from [`Layer::init_params`].
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Layer};
    /// use sciml_core::rng::Xoshiro256pp;
    /// let d = Dense::new(3, 2, Activation::Tanh);
    /// let p = d.initial_params(&mut Xoshiro256pp::new(1));
    /// assert_eq!(p.len(), d.nparams());
    /// assert_eq!(&p[6..], &[0.0, 0.0]); // zero bias
    /// ```
    fn initial_params(&self, rng: &mut Xoshiro256pp) -> Vec<f64> {
        let mut p = vec![0.0; self.nparams()];
        self.init_params(rng, &mut p);
        p
    }

    /// Checks the lengths of a call's data and parameters. The unchecked passes (`forward`,
    /// `vjp`, `jvp`, ...) panic on a wrong input length rather than return a wrong output; the
    /// `try_` entry points ([`Layer::try_forward`], [`Layer::try_vjp`], [`Layer::try_jvp`]) and
    /// [`Layer::apply`] check every slice first and return an `Err`.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer, LayerError};
    /// let d = Dense::new(3, 2, Activation::Tanh);
    /// let p = vec![0.0; d.nparams()];
    /// assert!(d.check_input(&Input { x: &[0.0; 6], batch: 2, p: &p }).is_ok());
    /// let e = d.check_input(&Input { x: &[0.0; 5], batch: 2, p: &p });
    /// assert!(matches!(e, Err(LayerError::Length { what: "x", expected: 6, found: 5 })));
    /// ```
    fn check_input<S: Scalar>(&self, inp: &Input<'_, S>) -> Result<(), LayerError> {
        check_len("x", self.in_dim() * inp.batch, inp.x.len())?;
        check_len("p", self.nparams(), inp.p.len())
    }

    /// [`Layer::forward`] with every length checked first: `x` and `p` exactly, `y` and the
    /// workspace at least as long as needed.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Input, Layer};
    /// let d = Dense::new(3, 2, Activation::Tanh);
    /// let p = vec![0.1; d.nparams()];
    /// let (mut y, mut ws) = (vec![0.0; 2], vec![0.0; d.workspace_len(1)]);
    /// assert!(d.try_forward(Input { x: &[1.0, 2.0, 3.0], batch: 1, p: &p }, &mut y, &mut ws).is_ok());
    /// let short = d.try_forward(Input { x: &[1.0, 2.0], batch: 1, p: &p }, &mut y, &mut ws);
    /// assert!(short.unwrap_err().to_string().contains("x has 2 values; the layer needs 3"));
    /// ```
    fn try_forward<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        y: &mut [S],
        ws: &mut [S],
    ) -> Result<(), LayerError> {
        self.check_input(&inp)?;
        check_at_least("y", self.out_dim() * inp.batch, y.len())?;
        check_at_least("workspace", self.workspace_len(inp.batch), ws.len())?;
        self.forward(inp, y, ws);
        Ok(())
    }

    /// [`Layer::vjp`] with every length checked first.
    fn try_vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        ws: &mut [S],
    ) -> Result<(), LayerError> {
        self.check_input(&inp)?;
        check_len("ybar", self.out_dim() * inp.batch, ybar.len())?;
        check_len("xbar", self.in_dim() * inp.batch, xbar.len())?;
        check_len("pbar", self.nparams(), pbar.len())?;
        check_at_least("workspace", self.workspace_len(inp.batch), ws.len())?;
        self.vjp(inp, ybar, xbar, pbar, ws);
        Ok(())
    }

    /// [`Layer::jvp`] with every length checked first.
    fn try_jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) -> Result<(), LayerError> {
        self.check_input(&inp)?;
        check_len("xdot", self.in_dim() * inp.batch, xdot.len())?;
        if let Some(pd) = pdot {
            check_len("pdot", self.nparams(), pd.len())?;
        }
        check_at_least("y", self.out_dim() * inp.batch, y.len())?;
        check_at_least("ydot", self.out_dim() * inp.batch, ydot.len())?;
        check_at_least("workspace", self.workspace_len(inp.batch), ws.len())?;
        self.jvp(inp, xdot, pdot, y, ydot, ws);
        Ok(())
    }

    /// The layer applied to a batch, checked, into a new vector (`out_dim × batch`): the
    /// convenient call when speed per call does not matter.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Layer};
    /// let d = Dense::new(2, 1, Activation::Identity);
    /// let y = d.apply(&[1.0, 2.0, 3.0, 4.0], 2, &[1.0, 1.0, 0.5]).unwrap();
    /// assert_eq!(y, vec![3.5, 7.5]);
    /// assert!(d.apply(&[1.0, 2.0, 3.0], 2, &[1.0, 1.0, 0.5]).is_err());
    /// ```
    fn apply<S: Scalar>(&self, x: &[S], batch: usize, p: &[S]) -> Result<Vec<S>, LayerError> {
        let zero = S::zero();
        let mut y = vec![zero; self.out_dim() * batch];
        let mut ws = vec![zero; self.workspace_len(batch)];
        self.try_forward(Input { x, batch, p }, &mut y, &mut ws)?;
        Ok(y)
    }
}

fn check_at_least(what: &'static str, expected: usize, found: usize) -> Result<(), LayerError> {
    if found >= expected {
        Ok(())
    } else {
        Err(LayerError::Length {
            what,
            expected,
            found,
        })
    }
}

/// The unchecked passes' guard: a wrong input length is a panic that names the checked entry
/// points, never a wrong output.
#[track_caller]
pub(crate) fn assert_x_len(found: usize, expected: usize) {
    assert!(
        found == expected,
        "layer input has {found} values, expected {expected} (in_dim × batch); \
         use Layer::try_forward / try_vjp / try_jvp for a checked call"
    );
}

fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), LayerError> {
    if expected == found {
        Ok(())
    } else {
        Err(LayerError::Length {
            what,
            expected,
            found,
        })
    }
}

/// [`Layer::vjp`] for layers whose `workspace_len` is `out_dim·batch + tape_len + inner`: splits
/// the workspace into the output, the tape and the rest, then runs `forward_tape` and `backward`.
pub(crate) fn vjp_via_tape<L: Layer, S: Scalar>(
    layer: &L,
    inp: Input<'_, S>,
    ybar: &[S],
    xbar: &mut [S],
    pbar: &mut [S],
    ws: &mut [S],
) {
    let (y, rest) = ws.split_at_mut(layer.out_dim() * inp.batch);
    let (tape, rest) = rest.split_at_mut(layer.tape_len(inp.batch));
    layer.forward_tape(inp, y, tape, rest);
    let tape = LayerTape { y, saved: tape };
    layer.backward(inp, tape, ybar, xbar, pbar, rest);
}

/// Second derivatives of a layer by forward over reverse: its [`Layer::vjp`] in dual numbers with
/// the input seeded `x + εv`, whose tangents are `gx += ∇_x (wᵀ J v)` and `gp += ∇_p (wᵀ J v)`,
/// `J = ∂y/∂x`. One VJP in dual numbers per call; its buffers are allocated per call.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_hvp<L: Layer, R: Real>(
    layer: &L,
    batch: usize,
    x: &[R],
    p: &[R],
    w: &[R],
    v: &[R],
    gx: &mut [R],
    gp: &mut [R],
) {
    let zero = Dual::<R, R>::constant(R::zero());
    let xd: Vec<Dual<R, R>> = x.iter().zip(v).map(|(a, b)| Dual::new(*a, *b)).collect();
    let pd: Vec<Dual<R, R>> = p.iter().map(|a| Dual::constant(*a)).collect();
    let wd: Vec<Dual<R, R>> = w.iter().map(|a| Dual::constant(*a)).collect();
    let mut xbar = vec![zero; x.len()];
    let mut pbar = vec![zero; p.len()];
    let mut ws = vec![zero; layer.workspace_len(batch)];
    let inp = Input {
        x: &xd,
        batch,
        p: &pd,
    };
    layer.vjp(inp, &wd, &mut xbar, &mut pbar, &mut ws);
    for (g, d) in gx.iter_mut().zip(&xbar) {
        *g += d.eps();
    }
    for (g, d) in gp.iter_mut().zip(&pbar) {
        *g += d.eps();
    }
}

/// Prefixes every name of `names` with `prefix.` and shifts its range by `offset`.
pub(crate) fn prefixed(
    prefix: &str,
    offset: usize,
    names: Vec<(String, Range<usize>)>,
) -> impl Iterator<Item = (String, Range<usize>)> + '_ {
    names
        .into_iter()
        .map(move |(n, r)| (format!("{prefix}.{n}"), r.start + offset..r.end + offset))
}
