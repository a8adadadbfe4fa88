//! The elementwise affine layer `y = σ.(w .* x .+ b)`.

use super::kernels::colsum_acc;
use super::{assert_x_len, vjp_via_tape, Activation, Input, Layer, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// `y = σ.(w .* x .+ b)` on `dim` features, as Lux's `Scale`.
///
/// Parameters: `weight` (`dim`), then `bias` (`dim`, absent without bias). Initialisation as Lux:
/// weight ones, bias zeros (so a fresh `Scale` with the identity is the identity).
///
/// ```
/// use diffeqflux::nn::{Activation, Input, Layer, Scale};
/// let s = Scale::new(2, Activation::Identity);
/// let p = [2.0, 3.0, 0.5, 0.0]; // w = [2, 3], b = [0.5, 0]
/// let mut y = [0.0; 4];
/// s.forward(Input { x: &[1.0, 1.0, 2.0, 2.0], batch: 2, p: &p }, &mut y, &mut []);
/// assert_eq!(y, [2.5, 3.0, 4.5, 6.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    dim: usize,
    act: Activation,
    bias: bool,
}

impl Scale {
    /// An elementwise scale with a bias.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Layer, Scale};
    /// assert_eq!(Scale::new(3, Activation::Tanh).nparams(), 6);
    /// ```
    pub fn new(dim: usize, act: Activation) -> Self {
        Scale {
            dim,
            act,
            bias: true,
        }
    }

    /// With or without the bias (Lux's `use_bias`).
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Layer, Scale};
    /// assert_eq!(Scale::new(3, Activation::Tanh).use_bias(false).nparams(), 3);
    /// ```
    pub fn use_bias(self, bias: bool) -> Self {
        Scale { bias, ..self }
    }

    /// `z = w .* x (+ b)` into `z`.
    #[inline]
    fn affine<S: Scalar>(&self, p: &[S], x: &[S], z: &mut [S]) {
        let d = self.dim;
        assert_x_len(x.len(), z.len());
        if d == 0 {
            return;
        }
        let w = &p[..d];
        for (zc, xc) in z.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
            for ((o, &xi), &wi) in zc.iter_mut().zip(xc).zip(w) {
                *o = wi * xi;
            }
            if self.bias {
                for (o, &bi) in zc.iter_mut().zip(&p[d..2 * d]) {
                    *o += bi;
                }
            }
        }
    }
}

impl Layer for Scale {
    fn in_dim(&self) -> usize {
        self.dim
    }
    fn out_dim(&self) -> usize {
        self.dim
    }
    fn nparams(&self) -> usize {
        if self.bias {
            2 * self.dim
        } else {
            self.dim
        }
    }
    fn workspace_len(&self, batch: usize) -> usize {
        let n = self.dim * batch;
        n + self.tape_len(batch) + n * (1 + usize::from(self.act.needs_preactivation()))
    }
    fn tape_len(&self, batch: usize) -> usize {
        if self.act.needs_preactivation() {
            self.dim * batch
        } else {
            0
        }
    }
    fn init_params(&self, _rng: &mut Xoshiro256pp, p: &mut [f64]) {
        let (w, b) = p[..self.nparams()].split_at_mut(self.dim);
        w.fill(1.0);
        b.fill(0.0);
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        let d = self.dim;
        let mut v = vec![("weight".to_string(), 0..d)];
        if self.bias {
            v.push(("bias".to_string(), d..2 * d));
        }
        v
    }
    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], _ws: &mut [S]) {
        let y = &mut y[..self.dim * inp.batch];
        self.affine(inp.p, inp.x, y);
        self.act.apply_slice(y);
    }
    fn forward_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        y: &mut [S],
        tape: &mut [S],
        _ws: &mut [S],
    ) {
        let n = self.dim * inp.batch;
        let y = &mut y[..n];
        self.affine(inp.p, inp.x, y);
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
        let d = self.dim;
        let n = d * inp.batch;
        if d == 0 {
            return;
        }
        let zb = &mut ws[..n];
        self.act.mul_derivative(tape.saved, tape.y, ybar, zb);
        let zbar: &[S] = zb;
        let (pw, pb) = pbar.split_at_mut(d);
        let w = &inp.p[..d];
        for ((xbc, zc), xc) in xbar[..n]
            .chunks_exact_mut(d)
            .zip(zbar.chunks_exact(d))
            .zip(inp.x.chunks_exact(d))
        {
            for ((((o, &z), &xi), &wi), g) in
                xbc.iter_mut().zip(zc).zip(xc).zip(w).zip(pw.iter_mut())
            {
                *o = wi * z;
                *g += z * xi;
            }
        }
        if self.bias {
            colsum_acc(zbar, d, pb);
        }
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
    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        let d = self.dim;
        let n = d * inp.batch;
        let (y, ydot) = (&mut y[..n], &mut ydot[..n]);
        let (zdot, z) = ws.split_at_mut(n);
        self.affine(inp.p, inp.x, y);
        // zdot = w .* xdot + wdot .* x + bdot
        let w = &inp.p[..d];
        for ((zc, xdc), xc) in zdot
            .chunks_exact_mut(d.max(1))
            .zip(xdot.chunks_exact(d.max(1)))
            .zip(inp.x.chunks_exact(d.max(1)))
        {
            for ((o, &xd), &wi) in zc.iter_mut().zip(xdc).zip(w) {
                *o = wi * xd;
            }
            if let Some(pd) = pdot {
                for ((o, &xi), &wd) in zc.iter_mut().zip(xc).zip(&pd[..d]) {
                    *o += wd * xi;
                }
                if self.bias {
                    for (o, &bd) in zc.iter_mut().zip(&pd[d..2 * d]) {
                        *o += bd;
                    }
                }
            }
        }
        let nz = if self.act.needs_preactivation() { n } else { 0 };
        z[..nz].copy_from_slice(&y[..nz]);
        self.act.apply_slice(y);
        self.act.mul_derivative(&z[..nz], y, zdot, ydot);
    }
}
