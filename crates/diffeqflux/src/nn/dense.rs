//! The fully connected layer `y = σ.(W x .+ b)`.

use super::activation::tanh_cotangent_tangent;
use super::kernels::{colsum_acc, gemm_axpy, gemm_dot, ger_acc, transpose, Init};
use super::{assert_x_len, vjp_via_tape, Activation, Input, Layer, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Scalar, Zero};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A fully connected layer `y = σ.(W x .+ b)` from `in_dim` to `out_dim` features.
///
/// Parameters, in this order: `weight`, `out_dim × in_dim` **row-major** (`W[i, j]` at
/// `i·in_dim + j`: row `i` holds the weights into output `i`, the layout of PyTorch's and candle's
/// `Linear` and of a safetensors tensor of shape `[out, in]`), then `bias` (`out_dim`, absent
/// without bias).
///
/// Initialisation as Lux's `Dense` before v1: the weight is Glorot-uniform,
/// `U(−√(6/(in+out)), +√(6/(in+out)))`, drawn in storage order; the bias is zero.
///
/// The products are chosen per call for speed: at batch 1 each output is one contiguous dot
/// product; for larger batches with many outputs, the forward pass accumulates rows of `Wᵀ`
/// (transposed once into the workspace) into register blocks of each output column, the reverse
/// pass accumulates `Σ_b zbar_b x_bᵀ` in register blocks of the weight gradient, and the input
/// gradient `Wᵀ zbar` takes whichever of the two forms has the longer inner loop.
///
/// ```
/// use diffeqflux::nn::{Activation, Dense, Input, Layer};
/// let d = Dense::new(2, 3, Activation::Relu);
/// // W = [1 2; 3 4; -5 -6], b = [0, 0, 1]
/// let p = [1.0, 2.0, 3.0, 4.0, -5.0, -6.0, 0.0, 0.0, 1.0];
/// let mut y = [0.0; 3];
/// let mut ws = vec![0.0; d.workspace_len(1)];
/// d.forward(Input { x: &[1.0, 1.0], batch: 1, p: &p }, &mut y, &mut ws);
/// assert_eq!(y, [3.0, 7.0, 0.0]);
/// assert_eq!(d.param_names()[0], ("weight".to_string(), 0..6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    in_dim: usize,
    out_dim: usize,
    act: Activation,
    bias: bool,
}

/// Batches from which the forward pass transposes `W` to run in the register-blocked form.
const BLOCKED_FROM_BATCH: usize = 4;

impl Dense {
    /// A dense layer with a bias.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Layer};
    /// let d = Dense::new(3, 2, Activation::Tanh);
    /// assert_eq!((d.in_dim(), d.out_dim(), d.nparams()), (3, 2, 8));
    /// ```
    pub fn new(in_dim: usize, out_dim: usize, act: Activation) -> Self {
        Dense {
            in_dim,
            out_dim,
            act,
            bias: true,
        }
    }

    /// With or without the bias (Lux's `use_bias`).
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense, Layer};
    /// let d = Dense::new(3, 2, Activation::Tanh).use_bias(false);
    /// assert_eq!(d.nparams(), 6);
    /// assert_eq!(d.bias_range(), None);
    /// ```
    pub fn use_bias(self, bias: bool) -> Self {
        Dense { bias, ..self }
    }

    /// The activation.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense};
    /// assert_eq!(Dense::new(1, 1, Activation::Gelu).activation(), Activation::Gelu);
    /// ```
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// Where the weight lies in the parameter vector.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense};
    /// assert_eq!(Dense::new(3, 2, Activation::Tanh).weight_range(), 0..6);
    /// ```
    pub fn weight_range(&self) -> Range<usize> {
        0..self.out_dim * self.in_dim
    }

    /// Where the bias lies in the parameter vector (`None` without bias).
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense};
    /// assert_eq!(Dense::new(3, 2, Activation::Tanh).bias_range(), Some(6..8));
    /// ```
    pub fn bias_range(&self) -> Option<Range<usize>> {
        let nw = self.out_dim * self.in_dim;
        self.bias.then_some(nw..nw + self.out_dim)
    }

    /// Splits a parameter slice into the weight and the bias.
    #[inline]
    fn split<'a, S>(&self, p: &'a [S]) -> (&'a [S], Option<&'a [S]>) {
        let (w, b) = p.split_at(self.out_dim * self.in_dim);
        (w, self.bias.then(|| &b[..self.out_dim]))
    }

    /// `z (init)= W x` for a batch; `wt` is scratch of `in·out` scalars.
    #[inline]
    fn linear<S: Scalar>(&self, w: &[S], x: &[S], z: &mut [S], init: Init<'_, S>, wt: &mut [S]) {
        let batch = z.len() / self.out_dim.max(1);
        self.linear_as(batch, w, x, z, init, wt);
    }

    /// [`Dense::linear`] over any number of columns, choosing the product as for `batch`
    /// samples: the multi-direction passes choose per sample batch, so that each direction's
    /// columns are computed (and rounded) exactly as in a call of its own.
    #[inline]
    fn linear_as<S: Scalar>(
        &self,
        batch: usize,
        w: &[S],
        x: &[S],
        z: &mut [S],
        init: Init<'_, S>,
        wt: &mut [S],
    ) {
        let (m, k) = (self.out_dim, self.in_dim);
        if batch >= BLOCKED_FROM_BATCH && m >= 8 {
            transpose(w, (m, k), wt);
            gemm_axpy(wt, (k, m), x, z, init);
        } else {
            gemm_dot(w, (m, k), x, z, init);
        }
    }

    /// `zdot = W xdot + Wdot x + bdot` (the last two when `pdot` is given).
    #[inline]
    fn linear_tangent<S: Scalar>(
        &self,
        w: &[S],
        pdot: Option<&[S]>,
        (x, xdot): (&[S], &[S]),
        zdot: &mut [S],
        wt: &mut [S],
    ) {
        match pdot {
            Some(pd) => {
                let (wd, bd) = self.split(pd);
                self.linear(w, xdot, zdot, bd.map_or(Init::Zero, Init::Bias), wt);
                self.linear(wd, x, zdot, Init::Keep, wt);
            }
            None => self.linear(w, xdot, zdot, Init::Zero, wt),
        }
    }

    /// `xbar = Wᵀ zbar` for a batch; `wt` is scratch of `in·out` scalars.
    #[inline]
    fn linear_tr<S: Scalar>(&self, w: &[S], zbar: &[S], xbar: &mut [S], wt: &mut [S]) {
        let batch = xbar.len() / self.in_dim.max(1);
        self.linear_tr_as(batch, w, zbar, xbar, wt);
    }

    /// [`Dense::linear_tr`] over any number of columns, choosing the product as for `batch`
    /// samples (see [`Dense::linear_as`]).
    #[inline]
    fn linear_tr_as<S: Scalar>(
        &self,
        batch: usize,
        w: &[S],
        zbar: &[S],
        xbar: &mut [S],
        wt: &mut [S],
    ) {
        let (m, k) = (self.in_dim, self.out_dim);
        if m >= 8 || batch < BLOCKED_FROM_BATCH {
            gemm_axpy(w, (k, m), zbar, xbar, Init::Zero);
        } else {
            transpose(w, (k, m), wt);
            gemm_dot(wt, (m, k), zbar, xbar, Init::Zero);
        }
    }

    /// The cotangent of the pre-activation and its tangent, `zbar = σ'(z) ybar` and `zbar_dot
    /// = σ''(z) zdot ybar + σ'(z) ybar_dot`, from the output and its tangent `(y, ydot)` (for
    /// activations whose derivatives follow from `y`: `σ''(z) zdot = (σ''/σ')(z) ydot`) or from
    /// the pre-activation and its tangent `(z, zdot)` (the others).
    fn cotangent_tangent<S: Scalar>(
        &self,
        (v, vdot): (&[S], &[S]),
        (ybar, ybar_dot): (&[S], &[S]),
        zbar: &mut [S],
        zbar_dot: &mut [S],
    ) {
        if self.act == Activation::Tanh {
            // The common case in its own vectorised kernel: the `match` below, inside the loop,
            // kept this one scalar (15% of W5's f32 training iteration).
            return tanh_cotangent_tangent(v, vdot, ybar, ybar_dot, zbar, zbar_dot);
        }
        let one = S::one();
        let two = S::cst(2.0);
        let it = v.iter().zip(vdot).zip(ybar.iter().zip(ybar_dot));
        for (((&y, &yd), (&yb, &ybd)), (zb, zbd)) in it.zip(zbar.iter_mut().zip(zbar_dot)) {
            // (σ', σ''·zdot) per activation.
            let (d1, d2z) = match self.act {
                Activation::Identity => (one, S::zero()),
                // σ' = 1 − y², σ'' = −2 y σ'.
                Activation::Tanh => (one - y * y, -(two * y * yd)),
                // σ' = y(1 − y), σ'' = σ'(1 − 2y).
                Activation::Sigmoid => (y * (one - y), (one - two * y) * yd),
                Activation::Relu => {
                    let d = if y.re() > S::Re::zero() {
                        one
                    } else {
                        S::zero()
                    };
                    (d, S::zero())
                }
                act => (act.derivative(y), act.second_derivative(y) * yd),
            };
            *zb = d1 * yb;
            *zbd = d2z * yb + d1 * ybd;
        }
    }

    /// Scalars of scratch the passes need besides the output and the tape.
    fn inner_len(&self, batch: usize) -> usize {
        let n = self.out_dim * batch;
        self.in_dim * self.out_dim + n * (1 + usize::from(self.act.needs_preactivation()))
    }
}

impl Layer for Dense {
    fn in_dim(&self) -> usize {
        self.in_dim
    }
    fn out_dim(&self) -> usize {
        self.out_dim
    }
    fn nparams(&self) -> usize {
        self.out_dim * self.in_dim + if self.bias { self.out_dim } else { 0 }
    }
    fn workspace_len(&self, batch: usize) -> usize {
        self.out_dim * batch + self.tape_len(batch) + self.inner_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        if self.act.needs_preactivation() {
            self.out_dim * batch
        } else {
            0
        }
    }
    fn init_params(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        let fan = (self.in_dim + self.out_dim).max(1) as f64;
        let a = (6.0 / fan).sqrt();
        let (w, b) = p[..self.nparams()].split_at_mut(self.out_dim * self.in_dim);
        for wi in w {
            *wi = rng.uniform_range(-a, a);
        }
        b.fill(0.0);
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        let mut v = vec![("weight".to_string(), self.weight_range())];
        if let Some(r) = self.bias_range() {
            v.push(("bias".to_string(), r));
        }
        v
    }
    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]) {
        let n = self.out_dim * inp.batch;
        assert_x_len(inp.x.len(), self.in_dim * inp.batch);
        let (w, b) = self.split(inp.p);
        let init = b.map_or(Init::Zero, Init::Bias);
        let y = &mut y[..n];
        self.linear(w, inp.x, y, init, ws);
        self.act.apply_slice(y);
    }
    fn forward_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        y: &mut [S],
        tape: &mut [S],
        ws: &mut [S],
    ) {
        let n = self.out_dim * inp.batch;
        assert_x_len(inp.x.len(), self.in_dim * inp.batch);
        let (w, b) = self.split(inp.p);
        let y = &mut y[..n];
        self.linear(w, inp.x, y, b.map_or(Init::Zero, Init::Bias), ws);
        if self.act.needs_preactivation() {
            tape[..n].copy_from_slice(y);
        }
        self.act.apply_slice(y);
    }
    fn backward<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        tape: LayerTape<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        ws: &mut [S],
    ) {
        let n = self.out_dim * inp.batch;
        let (w, _) = self.split(inp.p);
        let (zb, wt) = ws.split_at_mut(n);
        let zbar: &[S] = if self.act == Activation::Identity {
            &ybar[..n]
        } else {
            self.act.mul_derivative(tape.saved, tape.y, ybar, zb);
            zb
        };
        let (pw, pb) = pbar.split_at_mut(self.out_dim * self.in_dim);
        ger_acc(zbar, (self.out_dim, self.in_dim), inp.x, pw);
        if self.bias {
            colsum_acc(zbar, self.out_dim, pb);
        }
        self.linear_tr(w, zbar, &mut xbar[..self.in_dim * inp.batch], wt);
    }
    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        ws: &mut [S],
    ) {
        vjp_via_tape(self, inp, ybar, xbar, pbar, ws);
    }
    fn tangent_workspace_len(&self, batch: usize) -> usize {
        4 * self.out_dim * batch + self.in_dim * self.out_dim
    }
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
        let (n, nin) = (self.out_dim * inp.batch, self.in_dim * inp.batch);
        assert_x_len(inp.x.len(), nin);
        assert_x_len(xdot.len(), nin);
        let (w, b) = self.split(inp.p);
        let (zb, rest) = ws.split_at_mut(n);
        let (zbd, rest) = rest.split_at_mut(n);
        let (v, rest) = rest.split_at_mut(n);
        let (vd, wt) = rest.split_at_mut(n);
        let (ybar, ybar_dot) = (&ybar[..n], &ybar_dot[..n]);
        let (zbar, zbar_dot): (&[S], &[S]) = if self.act == Activation::Identity {
            (ybar, ybar_dot)
        } else {
            let given = fwd.filter(|_| !self.act.needs_preactivation());
            let (v, vd): (&[S], &[S]) = match given {
                Some((y, yd)) => (&y[..n], &yd[..n]),
                None => {
                    // The pre-activation and its tangent; then the output and its tangent for
                    // the activations that work from the output.
                    self.linear(w, inp.x, v, b.map_or(Init::Zero, Init::Bias), wt);
                    self.linear(w, xdot, vd, Init::Zero, wt);
                    if !self.act.needs_preactivation() {
                        self.act.apply_slice(v);
                        for (t, &y) in vd.iter_mut().zip(v.iter()) {
                            *t *= self.act.derivative_from_output(y);
                        }
                    }
                    (v, vd)
                }
            };
            self.cotangent_tangent((v, vd), (ybar, ybar_dot), zb, zbd);
            (zb, zbd)
        };
        let (pw, pb) = pbar_dot.split_at_mut(self.out_dim * self.in_dim);
        ger_acc(zbar_dot, (self.out_dim, self.in_dim), inp.x, pw);
        ger_acc(zbar, (self.out_dim, self.in_dim), xdot, pw);
        if self.bias {
            colsum_acc(zbar_dot, self.out_dim, pb);
        }
        if !xbar.is_empty() {
            self.linear_tr(w, zbar, &mut xbar[..nin], wt);
        }
        self.linear_tr(w, zbar_dot, &mut xbar_dot[..nin], wt);
    }
    fn accepts_empty_xbar(&self) -> bool {
        true
    }
    fn dirs_workspace_len(&self, batch: usize, ndir: usize) -> usize {
        let (n, nw) = (self.out_dim * batch, self.out_dim * batch * ndir);
        self.workspace_len(batch)
            .max(2 * nw + 4 * n + self.in_dim * self.out_dim)
    }
    fn jvp_dirs<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        let b = inp.batch;
        let (n, nw) = (self.out_dim * b, self.out_dim * b * ndir);
        assert_x_len(inp.x.len(), self.in_dim * b);
        assert_x_len(xdot.len(), self.in_dim * b * ndir);
        let (w, bias) = self.split(inp.p);
        let (y, ydot) = (&mut y[..n], &mut ydot[..nw]);
        let (zdot, rest) = ws.split_at_mut(nw);
        let nz = if self.act.needs_preactivation() { n } else { 0 };
        let (z, wt) = rest.split_at_mut(nz);
        self.linear_as(b, w, inp.x, y, bias.map_or(Init::Zero, Init::Bias), wt);
        if self.act == Activation::Identity {
            self.linear_as(b, w, xdot, ydot, Init::Zero, wt);
            return;
        }
        // All the directions' tangents in one product; the activation once.
        self.linear_as(b, w, xdot, zdot, Init::Zero, wt);
        z.copy_from_slice(&y[..nz]);
        self.act.apply_slice(y);
        for (zd, yd) in zdot.chunks_exact(n).zip(ydot.chunks_exact_mut(n)) {
            self.act.mul_derivative(z, y, zd, yd);
        }
    }
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
        if ndir == 1 {
            // One direction is the plain pass (its own scratch fits in this one).
            return self.vjp_tangent(inp, xdot, fwd, ybar, ybar_dot, xbar, xbar_dot, pbar_dot, ws);
        }
        let b = inp.batch;
        let (n, nin) = (self.out_dim * b, self.in_dim * b);
        let (nw, niw) = (n * ndir, nin * ndir);
        assert_x_len(inp.x.len(), nin);
        assert_x_len(xdot.len(), niw);
        let (w, bias) = self.split(inp.p);
        let (zb, rest) = ws.split_at_mut(nw);
        let (zbd, rest) = rest.split_at_mut(n);
        let (tmp, rest) = rest.split_at_mut(n);
        let (zeros, rest) = rest.split_at_mut(n);
        let (v, rest) = rest.split_at_mut(n);
        let (vd, wt) = rest.split_at_mut(nw);
        let (ybar, ybar_dot) = (&ybar[..nw], &ybar_dot[..n]);
        let (zbar, zbar_dot): (&[S], &[S]) = if self.act == Activation::Identity {
            (ybar, ybar_dot)
        } else {
            let given = fwd.filter(|_| !self.act.needs_preactivation());
            let (v, vd): (&[S], &[S]) = match given {
                Some((y, yd)) => (&y[..n], &yd[..nw]),
                None => {
                    // As in `vjp_tangent`, with every direction's tangent in one product.
                    self.linear_as(b, w, inp.x, v, bias.map_or(Init::Zero, Init::Bias), wt);
                    self.linear_as(b, w, xdot, vd, Init::Zero, wt);
                    if !self.act.needs_preactivation() {
                        self.act.apply_slice(v);
                        for vdd in vd.chunks_exact_mut(n) {
                            for (t, &y) in vdd.iter_mut().zip(v.iter()) {
                                *t *= self.act.derivative_from_output(y);
                            }
                        }
                    }
                    (v, vd)
                }
            };
            // zbar_d = σ' ybar_d; zbar_dot = σ' ybar_dot + Σ_d σ'' zdot_d ybar_d, the later
            // directions' terms with a zero cotangent tangent.
            zeros.iter_mut().for_each(|z| *z = S::zero());
            for d in 0..ndir {
                let o = d * n..(d + 1) * n;
                let (ybd, zbd_d): (&[S], &mut [S]) = if d == 0 {
                    (ybar_dot, &mut *zbd)
                } else {
                    (&*zeros, &mut *tmp)
                };
                let vd = &vd[o.clone()];
                self.cotangent_tangent((v, vd), (&ybar[o.clone()], ybd), &mut zb[o], zbd_d);
                if d > 0 {
                    for (s, t) in zbd.iter_mut().zip(tmp.iter()) {
                        *s += *t;
                    }
                }
            }
            (zb, zbd)
        };
        // J_pᵀ ybar_dot's and the second-order terms of every direction: two products.
        let (pw, pb) = pbar_dot.split_at_mut(self.out_dim * self.in_dim);
        ger_acc(zbar_dot, (self.out_dim, self.in_dim), inp.x, pw);
        ger_acc(zbar, (self.out_dim, self.in_dim), xdot, pw);
        if self.bias {
            colsum_acc(zbar_dot, self.out_dim, pb);
        }
        if !xbar.is_empty() {
            self.linear_tr_as(b, w, zbar, &mut xbar[..niw], wt);
        }
        self.linear_tr_as(b, w, zbar_dot, &mut xbar_dot[..nin], wt);
    }
    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        let n = self.out_dim * inp.batch;
        assert_x_len(inp.x.len(), self.in_dim * inp.batch);
        assert_x_len(xdot.len(), self.in_dim * inp.batch);
        let (w, b) = self.split(inp.p);
        let (y, ydot) = (&mut y[..n], &mut ydot[..n]);
        let (zdot, rest) = ws.split_at_mut(n);
        let nz = if self.act.needs_preactivation() { n } else { 0 };
        let (z, wt) = rest.split_at_mut(nz);
        self.linear(w, inp.x, y, b.map_or(Init::Zero, Init::Bias), wt);
        if self.act == Activation::Identity {
            self.linear_tangent(w, pdot, (inp.x, xdot), ydot, wt);
        } else {
            self.linear_tangent(w, pdot, (inp.x, xdot), zdot, wt);
            z.copy_from_slice(&y[..nz]);
            self.act.apply_slice(y);
            self.act.mul_derivative(z, y, zdot, ydot);
        }
    }
}
