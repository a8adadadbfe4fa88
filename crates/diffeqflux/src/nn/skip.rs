//! `SkipConnection`: a layer's output combined with its own input.

use super::kernels::{add_assign, gather_rows, scatter_rows};
use super::{prefixed, vjp_via_tape, Combine, Input, Layer, LayerError, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// `y = L(x) + x` ([`Combine::Sum`], a residual block) or `y = [L(x); x]` ([`Combine::Concat`]),
/// as Lux's `SkipConnection(layers, connection)`.
///
/// The inner layer's parameters are the whole parameter vector, named `layers.*`.
///
/// ```
/// use diffeqflux::nn::{Activation, Combine, Dense, Input, Layer, SkipConnection};
/// let res = SkipConnection::new(Dense::new(2, 2, Activation::Identity).use_bias(false), Combine::Sum)?;
/// let p = [0.0, 1.0, 1.0, 0.0]; // swaps the two features
/// let mut y = [0.0; 2];
/// let mut ws = vec![0.0; res.workspace_len(1)];
/// res.forward(Input { x: &[1.0, 10.0], batch: 1, p: &p }, &mut y, &mut ws);
/// assert_eq!(y, [11.0, 11.0]);
/// assert_eq!(res.param_names()[0].0, "layers.weight");
/// # Ok::<(), diffeqflux::nn::LayerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkipConnection<L> {
    layer: L,
    combine: Combine,
}

impl<L: Layer> SkipConnection<L> {
    /// Wraps `layer`; `Sum` needs as many output features as input features.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Combine, Dense, Layer, SkipConnection};
    /// assert!(SkipConnection::new(Dense::new(2, 3, Activation::Tanh), Combine::Sum).is_err());
    /// let s = SkipConnection::new(Dense::new(2, 3, Activation::Tanh), Combine::Concat)?;
    /// assert_eq!(s.out_dim(), 5);
    /// # Ok::<(), diffeqflux::nn::LayerError>(())
    /// ```
    pub fn new(layer: L, combine: Combine) -> Result<Self, LayerError> {
        if combine == Combine::Sum && layer.out_dim() != layer.in_dim() {
            return Err(LayerError::ConnectionMismatch {
                what: "SkipConnection sum output",
                index: 0,
                expected: layer.in_dim(),
                found: layer.out_dim(),
            });
        }
        Ok(SkipConnection { layer, combine })
    }

    /// The inner layer.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Combine, Scale, SkipConnection};
    /// let s = SkipConnection::new(Scale::new(2, Activation::Tanh), Combine::Sum)?;
    /// assert_eq!(s.layer(), &Scale::new(2, Activation::Tanh));
    /// # Ok::<(), diffeqflux::nn::LayerError>(())
    /// ```
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// Features of the inner layer's output for a batch.
    fn nl(&self, batch: usize) -> usize {
        self.layer.out_dim() * batch
    }

    /// `y = L(x) + x` or `[L(x); x]` from `yl = L(x)`.
    fn combine_into<S: Scalar>(&self, yl: &[S], x: &[S], y: &mut [S]) {
        let (lo, d) = (self.layer.out_dim(), self.layer.in_dim());
        match self.combine {
            Combine::Sum => {
                y.copy_from_slice(yl);
                add_assign(y, x);
            }
            Combine::Concat => {
                scatter_rows(yl, lo, y, (lo + d, 0));
                scatter_rows(x, d, y, (lo + d, lo));
            }
        }
    }
}

impl<L: Layer> Layer for SkipConnection<L> {
    fn in_dim(&self) -> usize {
        self.layer.in_dim()
    }
    fn out_dim(&self) -> usize {
        match self.combine {
            Combine::Sum => self.layer.in_dim(),
            Combine::Concat => self.layer.out_dim() + self.layer.in_dim(),
        }
    }
    fn nparams(&self) -> usize {
        self.layer.nparams()
    }
    fn workspace_len(&self, batch: usize) -> usize {
        self.out_dim() * batch
            + self.tape_len(batch)
            + 2 * self.nl(batch)
            + self.layer.workspace_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.nl(batch) + self.layer.tape_len(batch)
    }
    fn init_params(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        self.layer.init_params(rng, p);
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        prefixed("layers", 0, self.layer.param_names()).collect()
    }

    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]) {
        let (yl, inner) = ws.split_at_mut(self.nl(inp.batch));
        self.layer.forward(inp, yl, inner);
        self.combine_into(yl, inp.x, &mut y[..self.out_dim() * inp.batch]);
    }

    fn forward_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        y: &mut [S],
        tape: &mut [S],
        ws: &mut [S],
    ) {
        let (yl, tl) = tape.split_at_mut(self.nl(inp.batch));
        self.layer.forward_tape(inp, yl, tl, ws);
        self.combine_into(yl, inp.x, &mut y[..self.out_dim() * inp.batch]);
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
        let b = inp.batch;
        let (lo, d) = (self.layer.out_dim(), self.layer.in_dim());
        let (yl, tl) = tape.saved.split_at(self.nl(b));
        let tl = LayerTape { y: yl, saved: tl };
        let xbar = &mut xbar[..d * b];
        match self.combine {
            Combine::Sum => {
                self.layer.backward(inp, tl, ybar, xbar, pbar, ws);
                add_assign(xbar, ybar);
            }
            Combine::Concat => {
                let (gy, inner) = ws.split_at_mut(self.nl(b));
                gather_rows(ybar, (lo + d, 0), gy, lo, false);
                self.layer.backward(inp, tl, gy, xbar, pbar, inner);
                gather_rows(ybar, (lo + d, lo), xbar, d, true);
            }
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
        let n = self.nl(inp.batch);
        let no = self.out_dim() * inp.batch;
        let (yl, rest) = ws.split_at_mut(n);
        let (ydl, inner) = rest.split_at_mut(n);
        self.layer.jvp(inp, xdot, pdot, yl, ydl, inner);
        self.combine_into(yl, inp.x, &mut y[..no]);
        self.combine_into(ydl, xdot, &mut ydot[..no]);
    }
}
