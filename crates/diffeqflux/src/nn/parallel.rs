//! `Parallel`: the same input through several layers, their outputs summed or concatenated.

use super::chain::{
    info, init_all, max_ws, names_all, total_params, BackwardV, ForwardTapeV, ForwardV, JvpV,
};
use super::kernels::{add_assign, gather_rows, scatter_rows};
use super::{vjp_via_tape, Input, Layer, LayerError, LayerTape, LayerTuple};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How a container combines outputs: summed (all of one size) or concatenated feature-wise (the
/// first output's features first).
///
/// ```
/// use diffeqflux::nn::Combine;
/// assert_ne!(Combine::Sum, Combine::Concat);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Combine {
    /// `y = Σ_k y_k` (Lux's `Parallel(+, …)`, `SkipConnection(…, +)`).
    Sum,
    /// `y = [y_1; y_2; …]` per sample (Lux's `Parallel(vcat, …)`).
    Concat,
}

/// The same input through every layer of a tuple (1 to 8 layers of any types), the outputs
/// combined by [`Combine`]. All layers take the same number of features; for `Sum` they also
/// give the same number.
///
/// Parameters are the layers' blocks in turn, named `layer_1.*`, `layer_2.*`, ….
///
/// ```
/// use diffeqflux::nn::{Activation, Combine, Dense, Input, Layer, Parallel};
/// let par = Parallel::new(Combine::Concat, (
///     Dense::new(2, 1, Activation::Identity).use_bias(false),
///     Dense::new(2, 2, Activation::Identity).use_bias(false),
/// ))?;
/// assert_eq!(par.out_dim(), 3);
/// let p = [1.0, 1.0, /* second */ 1.0, 0.0, 0.0, 1.0];
/// let mut y = [0.0; 3];
/// let mut ws = vec![0.0; par.workspace_len(1)];
/// par.forward(Input { x: &[2.0, 3.0], batch: 1, p: &p }, &mut y, &mut ws);
/// assert_eq!(y, [5.0, 2.0, 3.0]);
/// # Ok::<(), diffeqflux::nn::LayerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parallel<T> {
    combine: Combine,
    layers: T,
}

impl<T: LayerTuple> Parallel<T> {
    /// Combines the layers of the tuple, checking their dimensions.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Combine, Dense, LayerError, Parallel};
    /// let e = Parallel::new(Combine::Sum, (
    ///     Dense::new(2, 3, Activation::Tanh),
    ///     Dense::new(2, 4, Activation::Tanh),
    /// ));
    /// assert!(matches!(e, Err(LayerError::ConnectionMismatch { index: 1, .. })));
    /// ```
    pub fn new(combine: Combine, layers: T) -> Result<Self, LayerError> {
        let first = info(&layers, 0, 0);
        for k in 1..T::LEN {
            let li = info(&layers, k, 0);
            let mismatch = |what, expected, found| LayerError::ConnectionMismatch {
                what,
                index: k,
                expected,
                found,
            };
            if li.in_dim != first.in_dim {
                return Err(mismatch("Parallel input", first.in_dim, li.in_dim));
            }
            if combine == Combine::Sum && li.out_dim != first.out_dim {
                return Err(mismatch("Parallel sum output", first.out_dim, li.out_dim));
            }
        }
        Ok(Parallel { combine, layers })
    }

    /// The layers.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Combine, Dense, Parallel, Scale};
    /// let p = Parallel::new(Combine::Sum, (Dense::new(2, 2, Activation::Tanh), Scale::new(2, Activation::Identity)))?;
    /// assert_eq!(p.layers().1, Scale::new(2, Activation::Identity));
    /// # Ok::<(), diffeqflux::nn::LayerError>(())
    /// ```
    pub fn layers(&self) -> &T {
        &self.layers
    }

    /// How the outputs are combined.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Combine, Dense, Parallel};
    /// let p = Parallel::new(Combine::Concat, (Dense::new(2, 2, Activation::Tanh),))?;
    /// assert_eq!(p.combine(), Combine::Concat);
    /// # Ok::<(), diffeqflux::nn::LayerError>(())
    /// ```
    pub fn combine(&self) -> Combine {
        self.combine
    }

    fn outs(&self, batch: usize) -> impl Iterator<Item = usize> + '_ {
        (0..T::LEN).map(move |k| info(&self.layers, k, batch).out_dim * batch)
    }

    /// Writes (`k = 0`) or adds (`Sum`) or places (`Concat`, at feature `off`) output `k`.
    fn combine_into<S: Scalar>(
        &self,
        k: usize,
        yk: &[S],
        (rows, off): (usize, usize),
        y: &mut [S],
    ) {
        match self.combine {
            Combine::Sum if k == 0 => y.copy_from_slice(yk),
            Combine::Sum => add_assign(y, yk),
            Combine::Concat => scatter_rows(yk, rows, y, (self.out_dim(), off)),
        }
    }
}

impl<T: LayerTuple> Layer for Parallel<T> {
    fn in_dim(&self) -> usize {
        info(&self.layers, 0, 0).in_dim
    }
    fn out_dim(&self) -> usize {
        match self.combine {
            Combine::Sum => info(&self.layers, 0, 0).out_dim,
            Combine::Concat => self.outs(1).sum(),
        }
    }
    fn nparams(&self) -> usize {
        total_params(&self.layers)
    }
    fn workspace_len(&self, batch: usize) -> usize {
        let max_out = self.outs(batch).max().unwrap_or(0);
        self.out_dim() * batch
            + self.tape_len(batch)
            + 2 * max_out
            + self.in_dim() * batch
            + max_ws(&self.layers, batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.outs(batch).sum::<usize>()
            + (0..T::LEN)
                .map(|k| info(&self.layers, k, batch).tape)
                .sum::<usize>()
    }
    fn init_params(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        init_all(&self.layers, rng, p);
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        names_all(&self.layers)
    }

    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]) {
        let b = inp.batch;
        let y = &mut y[..self.out_dim() * b];
        let (tmp, inner) = ws.split_at_mut(self.outs(b).max().unwrap_or(0));
        let (mut poff, mut off) = (0, 0);
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let sub = inp.with_p(&inp.p[poff..poff + li.nparams]);
            poff += li.nparams;
            let yk = &mut tmp[..li.out_dim * b];
            self.layers.visit(
                k,
                ForwardV {
                    inp: sub,
                    y: &mut *yk,
                    ws: &mut *inner,
                },
            );
            self.combine_into(k, yk, (li.out_dim, off), y);
            off += li.out_dim;
        }
    }

    fn forward_tape<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        y: &mut [S],
        tape: &mut [S],
        ws: &mut [S],
    ) {
        let b = inp.batch;
        let y = &mut y[..self.out_dim() * b];
        let (mut ys, mut ts) = tape.split_at_mut(self.outs(b).sum());
        let (mut poff, mut off) = (0, 0);
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let sub = inp.with_p(&inp.p[poff..poff + li.nparams]);
            poff += li.nparams;
            let (yk, rest) = std::mem::take(&mut ys).split_at_mut(li.out_dim * b);
            ys = rest;
            let (tk, rest) = std::mem::take(&mut ts).split_at_mut(li.tape);
            ts = rest;
            let v = ForwardTapeV {
                inp: sub,
                y: &mut *yk,
                tape: tk,
                ws: &mut *ws,
            };
            self.layers.visit(k, v);
            self.combine_into(k, yk, (li.out_dim, off), y);
            off += li.out_dim;
        }
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
        let ni = self.in_dim() * b;
        let (gy, rest) = ws.split_at_mut(self.outs(b).max().unwrap_or(0));
        let (gx, inner) = rest.split_at_mut(ni);
        let (ys, ts) = tape.saved.split_at(self.outs(b).sum());
        let (mut poff, mut off, mut yoff, mut toff) = (0, 0, 0, 0);
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let pr = poff..poff + li.nparams;
            poff = pr.end;
            let no = li.out_dim * b;
            let yk = &ys[yoff..yoff + no];
            yoff += no;
            let tk = &ts[toff..toff + li.tape];
            toff += li.tape;
            let ybk: &[S] = match self.combine {
                Combine::Sum => ybar,
                Combine::Concat => {
                    gather_rows(ybar, (self.out_dim(), off), gy, li.out_dim, false);
                    &gy[..no]
                }
            };
            off += li.out_dim;
            let xbk: &mut [S] = if k == 0 { &mut xbar[..ni] } else { &mut gx[..] };
            let v = BackwardV {
                inp: inp.with_p(&inp.p[pr.clone()]),
                tape: LayerTape { y: yk, saved: tk },
                ybar: ybk,
                xbar: xbk,
                pbar: &mut pbar[pr],
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            if k > 0 {
                add_assign(&mut xbar[..ni], gx);
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
        let b = inp.batch;
        let no_all = self.out_dim() * b;
        let (y, ydot) = (&mut y[..no_all], &mut ydot[..no_all]);
        let max_out = self.outs(b).max().unwrap_or(0);
        let (ty, rest) = ws.split_at_mut(max_out);
        let (td, inner) = rest.split_at_mut(max_out);
        let (mut poff, mut off) = (0, 0);
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let pr = poff..poff + li.nparams;
            poff = pr.end;
            let no = li.out_dim * b;
            let (yk, ydk) = (&mut ty[..no], &mut td[..no]);
            let v = JvpV {
                inp: inp.with_p(&inp.p[pr.clone()]),
                xdot,
                pdot: pdot.map(|pd| &pd[pr]),
                y: &mut *yk,
                ydot: &mut *ydk,
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            self.combine_into(k, yk, (li.out_dim, off), y);
            self.combine_into(k, ydk, (li.out_dim, off), ydot);
            off += li.out_dim;
        }
    }
}
