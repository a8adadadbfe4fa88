//! `Chain`: layers applied one after another, and the tuple machinery that containers of
//! heterogeneous layers share ([`LayerTuple`], [`LayerVisitor`]).

use super::{prefixed, vjp_via_tape, Input, Layer, LayerError, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// An operation on one layer of a [`LayerTuple`], whatever its type (closures cannot be generic,
/// so each operation is a small struct).
///
/// ```
/// use diffeqflux::nn::{Activation, Dense, Layer, LayerTuple, LayerVisitor};
/// struct Params;
/// impl LayerVisitor for Params {
///     type Output = usize;
///     fn visit<L: Layer>(self, layer: &L) -> usize { layer.nparams() }
/// }
/// let t = (Dense::new(2, 3, Activation::Tanh), Dense::new(3, 1, Activation::Identity));
/// assert_eq!(t.visit(1, Params), 4);
/// ```
pub trait LayerVisitor {
    /// What the operation returns.
    type Output;
    /// Applies the operation to `layer`.
    fn visit<L: Layer>(self, layer: &L) -> Self::Output;
}

/// A tuple of 1 to 8 layers of any types, as held by [`Chain`] and [`crate::nn::Parallel`].
///
/// ```
/// use diffeqflux::nn::{Activation, Dense, LayerTuple, Scale};
/// type T = (Dense, Scale, Dense);
/// assert_eq!(<T as LayerTuple>::LEN, 3);
/// ```
pub trait LayerTuple: Send + Sync {
    /// Number of layers.
    const LEN: usize;
    /// Applies `v` to layer `k` (`k ≥ LEN` visits the last layer).
    fn visit<V: LayerVisitor>(&self, k: usize, v: V) -> V::Output;
}

macro_rules! layer_tuple {
    ($len:expr; $($idx:tt $t:ident),+; $last:tt) => {
        impl<$($t: Layer),+> LayerTuple for ($($t,)+) {
            const LEN: usize = $len;
            #[inline]
            fn visit<V: LayerVisitor>(&self, k: usize, v: V) -> V::Output {
                match k {
                    $($idx => v.visit(&self.$idx),)+
                    _ => v.visit(&self.$last),
                }
            }
        }
    };
}
layer_tuple!(1; 0 A; 0);
layer_tuple!(2; 0 A, 1 B; 1);
layer_tuple!(3; 0 A, 1 B, 2 C; 2);
layer_tuple!(4; 0 A, 1 B, 2 C, 3 D; 3);
layer_tuple!(5; 0 A, 1 B, 2 C, 3 D, 4 E; 4);
layer_tuple!(6; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F; 5);
layer_tuple!(7; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G; 6);
layer_tuple!(8; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H; 7);

/// Shapes and sizes of one layer for a batch size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Info {
    pub(crate) in_dim: usize,
    pub(crate) out_dim: usize,
    pub(crate) nparams: usize,
    pub(crate) ws: usize,
    pub(crate) tape: usize,
    /// Scratch of [`Layer::vjp_tangent`].
    pub(crate) tws: usize,
    /// [`Layer::accepts_empty_xbar`].
    pub(crate) empty_xbar: bool,
}

pub(crate) struct InfoV(pub(crate) usize);
impl LayerVisitor for InfoV {
    type Output = Info;
    #[inline]
    fn visit<L: Layer>(self, l: &L) -> Info {
        Info {
            in_dim: l.in_dim(),
            out_dim: l.out_dim(),
            nparams: l.nparams(),
            ws: l.workspace_len(self.0),
            tape: l.tape_len(self.0),
            tws: l.tangent_workspace_len(self.0),
            empty_xbar: l.accepts_empty_xbar(),
        }
    }
}

pub(crate) struct InitV<'a>(pub(crate) &'a mut Xoshiro256pp, pub(crate) &'a mut [f64]);
impl LayerVisitor for InitV<'_> {
    type Output = ();
    fn visit<L: Layer>(self, l: &L) {
        l.init_params(self.0, self.1);
    }
}

pub(crate) struct NamesV;
impl LayerVisitor for NamesV {
    type Output = Vec<(String, Range<usize>)>;
    fn visit<L: Layer>(self, l: &L) -> Self::Output {
        l.param_names()
    }
}

pub(crate) struct ForwardV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) y: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for ForwardV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        l.forward(self.inp, self.y, self.ws);
    }
}

pub(crate) struct ForwardTapeV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) y: &'b mut [S],
    pub(crate) tape: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for ForwardTapeV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        l.forward_tape(self.inp, self.y, self.tape, self.ws);
    }
}

pub(crate) struct BackwardV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) tape: LayerTape<'a, S>,
    pub(crate) ybar: &'a [S],
    pub(crate) xbar: &'b mut [S],
    pub(crate) pbar: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for BackwardV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        l.backward(
            self.inp, self.tape, self.ybar, self.xbar, self.pbar, self.ws,
        );
    }
}

pub(crate) struct JvpV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) xdot: &'a [S],
    pub(crate) pdot: Option<&'a [S]>,
    pub(crate) y: &'b mut [S],
    pub(crate) ydot: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for JvpV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        l.jvp(self.inp, self.xdot, self.pdot, self.y, self.ydot, self.ws);
    }
}

pub(crate) struct VjpTangentV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) xdot: &'a [S],
    pub(crate) fwd: Option<(&'a [S], &'a [S])>,
    pub(crate) ybar: (&'a [S], &'a [S]),
    pub(crate) xbar: &'b mut [S],
    pub(crate) xbar_dot: &'b mut [S],
    pub(crate) pbar_dot: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for VjpTangentV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        let (yb, ybd) = self.ybar;
        l.vjp_tangent(
            self.inp,
            self.xdot,
            self.fwd,
            yb,
            ybd,
            self.xbar,
            self.xbar_dot,
            self.pbar_dot,
            self.ws,
        );
    }
}

/// Helpers shared by the tuple containers.
/// [`Layer::dirs_workspace_len`] of one layer.
pub(crate) struct DirsWsV(pub(crate) usize, pub(crate) usize);
impl LayerVisitor for DirsWsV {
    type Output = usize;
    #[inline]
    fn visit<L: Layer>(self, l: &L) -> usize {
        l.dirs_workspace_len(self.0, self.1)
    }
}

/// [`Layer::jvp_dirs`] of one layer.
pub(crate) struct JvpDirsV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) ndir: usize,
    pub(crate) xdot: &'a [S],
    pub(crate) y: &'b mut [S],
    pub(crate) ydot: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for JvpDirsV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        l.jvp_dirs(self.inp, self.ndir, self.xdot, self.y, self.ydot, self.ws);
    }
}

/// [`Layer::vjp_tangent_dirs`] of one layer.
pub(crate) struct VjpTangentDirsV<'a, 'b, S> {
    pub(crate) inp: Input<'a, S>,
    pub(crate) ndir: usize,
    pub(crate) xdot: &'a [S],
    pub(crate) fwd: Option<(&'a [S], &'a [S])>,
    pub(crate) ybar: (&'a [S], &'a [S]),
    pub(crate) xbar: &'b mut [S],
    pub(crate) xbar_dot: &'b mut [S],
    pub(crate) pbar_dot: &'b mut [S],
    pub(crate) ws: &'b mut [S],
}
impl<S: Scalar> LayerVisitor for VjpTangentDirsV<'_, '_, S> {
    type Output = ();
    #[inline]
    fn visit<L: Layer>(self, l: &L) {
        l.vjp_tangent_dirs(
            self.inp,
            self.ndir,
            self.xdot,
            self.fwd,
            self.ybar,
            self.xbar,
            self.xbar_dot,
            self.pbar_dot,
            self.ws,
        );
    }
}

pub(crate) fn info<T: LayerTuple>(t: &T, k: usize, batch: usize) -> Info {
    t.visit(k, InfoV(batch))
}
pub(crate) fn total_params<T: LayerTuple>(t: &T) -> usize {
    (0..T::LEN).map(|k| info(t, k, 0).nparams).sum()
}
pub(crate) fn max_ws<T: LayerTuple>(t: &T, batch: usize) -> usize {
    (0..T::LEN).map(|k| info(t, k, batch).ws).max().unwrap_or(0)
}
pub(crate) fn init_all<T: LayerTuple>(t: &T, rng: &mut Xoshiro256pp, p: &mut [f64]) {
    let mut off = 0;
    for k in 0..T::LEN {
        let np = info(t, k, 0).nparams;
        t.visit(k, InitV(rng, &mut p[off..off + np]));
        off += np;
    }
}
pub(crate) fn names_all<T: LayerTuple>(t: &T) -> Vec<(String, Range<usize>)> {
    let mut v = Vec::new();
    let mut off = 0;
    for k in 0..T::LEN {
        v.extend(prefixed(
            &format!("layer_{}", k + 1),
            off,
            t.visit(k, NamesV),
        ));
        off += info(t, k, 0).nparams;
    }
    v
}

/// Layers applied in turn: `y = L_n(… L_2(L_1(x)))`, for a tuple of 1 to 8 layers of any types.
///
/// Parameters are the layers' blocks one after another, named `layer_1.*`, `layer_2.*`, … (as
/// Lux names them). Reverse mode runs each layer's `forward_tape` once and keeps the
/// intermediate activations in the workspace, so no activation is computed twice.
///
/// ```
/// use diffeqflux::nn::{Activation, Chain, Dense, Input, Layer, Scale};
/// use sciml_core::rng::Xoshiro256pp;
/// let net = Chain::new((
///     Dense::new(3, 8, Activation::Relu),
///     Scale::new(8, Activation::Identity),
///     Dense::new(8, 1, Activation::Sigmoid),
/// ))?;
/// assert_eq!((net.in_dim(), net.out_dim()), (3, 1));
/// let names: Vec<String> = net.param_names().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, [
///     "layer_1.weight", "layer_1.bias", "layer_2.weight", "layer_2.bias",
///     "layer_3.weight", "layer_3.bias",
/// ]);
/// let p = net.initial_params(&mut Xoshiro256pp::new(3));
/// let mut y = [0.0; 2];
/// let mut ws = vec![0.0; net.workspace_len(2)];
/// net.forward(Input { x: &[0.1, 0.2, 0.3, -0.1, -0.2, -0.3], batch: 2, p: &p }, &mut y, &mut ws);
/// assert!(y.iter().all(|v| *v > 0.0 && *v < 1.0));
/// # Ok::<(), diffeqflux::nn::LayerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain<T> {
    layers: T,
}

impl<T: LayerTuple> Chain<T> {
    /// Chains the layers of the tuple, checking that each takes as many features as the one before
    /// it gives.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense, Layer};
    /// let c = Chain::new((Dense::new(2, 3, Activation::Tanh), Activation::Relu.layer(3)))?;
    /// assert_eq!(c.nparams(), 9);
    /// assert!(Chain::new((Dense::new(2, 3, Activation::Tanh), Activation::Relu.layer(4))).is_err());
    /// # Ok::<(), diffeqflux::nn::LayerError>(())
    /// ```
    pub fn new(layers: T) -> Result<Self, LayerError> {
        for k in 1..T::LEN {
            let (prev, cur) = (info(&layers, k - 1, 0), info(&layers, k, 0));
            if cur.in_dim != prev.out_dim {
                return Err(LayerError::ChainMismatch {
                    index: k,
                    expected: cur.in_dim,
                    found: prev.out_dim,
                });
            }
        }
        Ok(Chain { layers })
    }

    /// The layers.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense, Layer};
    /// let c = Chain::new((Dense::new(2, 4, Activation::Tanh), Dense::new(4, 1, Activation::Identity)))?;
    /// assert_eq!(c.layers().1.nparams(), 5);
    /// # Ok::<(), diffeqflux::nn::LayerError>(())
    /// ```
    pub fn layers(&self) -> &T {
        &self.layers
    }

    /// The largest intermediate activation (`out_dim·batch` of every layer but the last).
    fn mid_max(&self, batch: usize) -> usize {
        (0..T::LEN - 1)
            .map(|k| info(&self.layers, k, batch).out_dim * batch)
            .max()
            .unwrap_or(0)
    }

    /// All intermediate activations together.
    fn mid_total(&self, batch: usize) -> usize {
        (0..T::LEN - 1)
            .map(|k| info(&self.layers, k, batch).out_dim * batch)
            .sum()
    }
    /// The forward pass of the multi-direction passes: every layer's output `h_k` (one batch,
    /// into `hs`) and its `ndir` tangents (into `hds`), the last layer's too; `inner` is the
    /// layers' scratch.
    fn forward_dirs<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        hs: &mut [S],
        hds: &mut [S],
        inner: &mut [S],
    ) {
        let b = inp.batch;
        let (mut off, mut poff) = (0, 0);
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let (ni, no) = (li.in_dim * b, li.out_dim * b);
            let (done, out) = hs.split_at_mut(off);
            let (ddone, dout) = hds.split_at_mut(off * ndir);
            let v = JvpDirsV {
                inp: Input {
                    x: if k == 0 { inp.x } else { &done[off - ni..] },
                    batch: b,
                    p: &inp.p[poff..poff + li.nparams],
                },
                ndir,
                xdot: if k == 0 {
                    xdot
                } else {
                    &ddone[(off - ni) * ndir..]
                },
                y: &mut out[..no],
                ydot: &mut dout[..no * ndir],
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            off += no;
            poff += li.nparams;
        }
    }

    /// The reverse pass of [`Layer::vjp_tangent_dirs`] from the forward pass's `(hs, hds)`
    /// ([`Chain::forward_dirs`]): every direction's cotangent and the summed tangent through
    /// each layer in one call; `ws` holds the cotangents and the layers' scratch.
    #[allow(clippy::too_many_arguments)]
    fn reverse_dirs<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        (hs, hds): (&[S], &[S]),
        (ybar, ybar_dot): (&[S], &[S]),
        (xbar, xbar_dot, pbar_dot): (&mut [S], &mut [S], &mut [S]),
        ws: &mut [S],
    ) {
        let b = inp.batch;
        let mid = self.mid_max(b);
        let (mut ga, rest) = ws.split_at_mut(mid * ndir);
        let (mut gb, rest) = rest.split_at_mut(mid * ndir);
        let (mut gda, rest) = rest.split_at_mut(mid);
        let (mut gdb, inner) = rest.split_at_mut(mid);
        let mut off = self.mid_total(b) + self.out_dim() * b;
        let mut pend = self.nparams();
        let mut scratch = Vec::new();
        for k in (0..T::LEN).rev() {
            let li = info(&self.layers, k, b);
            let (ni, no) = (li.in_dim * b, li.out_dim * b);
            let pr = pend - li.nparams..pend;
            pend = pr.start;
            let yk = off - no..off;
            off = yk.start;
            let (x, xd): (&[S], &[S]) = if k == 0 {
                (inp.x, xdot)
            } else {
                (&hs[off - ni..off], &hds[(off - ni) * ndir..off * ndir])
            };
            let yb: (&[S], &[S]) = if k + 1 == T::LEN {
                (ybar, ybar_dot)
            } else {
                (&ga[..no * ndir], &gda[..no])
            };
            let (xb, xbd): (&mut [S], &mut [S]) = if k == 0 {
                if xbar.is_empty() && !li.empty_xbar {
                    // The first layer cannot skip the input cotangents: into scratch.
                    scratch.resize(ni * ndir, S::zero());
                    (&mut scratch[..], &mut *xbar_dot)
                } else {
                    (&mut *xbar, &mut *xbar_dot)
                }
            } else {
                (&mut gb[..ni * ndir], &mut gdb[..ni])
            };
            let v = VjpTangentDirsV {
                inp: Input {
                    x,
                    batch: b,
                    p: &inp.p[pr.clone()],
                },
                ndir,
                xdot: xd,
                fwd: Some((&hs[yk.clone()], &hds[yk.start * ndir..yk.end * ndir])),
                ybar: yb,
                xbar: xb,
                xbar_dot: xbd,
                pbar_dot: &mut pbar_dot[pr],
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            std::mem::swap(&mut ga, &mut gb);
            std::mem::swap(&mut gda, &mut gdb);
        }
    }
}

impl<T: LayerTuple> Layer for Chain<T> {
    fn in_dim(&self) -> usize {
        info(&self.layers, 0, 0).in_dim
    }
    fn out_dim(&self) -> usize {
        info(&self.layers, T::LEN - 1, 0).out_dim
    }
    fn nparams(&self) -> usize {
        total_params(&self.layers)
    }
    fn workspace_len(&self, batch: usize) -> usize {
        self.out_dim() * batch
            + self.tape_len(batch)
            + 4 * self.mid_max(batch)
            + max_ws(&self.layers, batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.mid_total(batch)
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
        let mid = self.mid_max(b);
        let (mut ha, rest) = ws.split_at_mut(mid);
        let (mut hb, inner) = rest.split_at_mut(mid);
        let mut poff = 0;
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let sub = Input {
                x: if k == 0 { inp.x } else { &ha[..li.in_dim * b] },
                batch: b,
                p: &inp.p[poff..poff + li.nparams],
            };
            poff += li.nparams;
            if k + 1 == T::LEN {
                let v = ForwardV {
                    inp: sub,
                    y: &mut *y,
                    ws: &mut *inner,
                };
                self.layers.visit(k, v);
            } else {
                let v = ForwardV {
                    inp: sub,
                    y: &mut hb[..li.out_dim * b],
                    ws: &mut *inner,
                };
                self.layers.visit(k, v);
                std::mem::swap(&mut ha, &mut hb);
            }
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
        let (mut hs, mut ts) = tape.split_at_mut(self.mid_total(b));
        let mut x: &[S] = inp.x;
        let mut poff = 0;
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let (tk, rest) = std::mem::take(&mut ts).split_at_mut(li.tape);
            ts = rest;
            let p = &inp.p[poff..poff + li.nparams];
            poff += li.nparams;
            let sub = Input { x, batch: b, p };
            if k + 1 == T::LEN {
                let v = ForwardTapeV {
                    inp: sub,
                    y: &mut *y,
                    tape: tk,
                    ws: &mut *ws,
                };
                self.layers.visit(k, v);
            } else {
                let (hk, rest) = std::mem::take(&mut hs).split_at_mut(li.out_dim * b);
                hs = rest;
                let v = ForwardTapeV {
                    inp: sub,
                    y: &mut *hk,
                    tape: tk,
                    ws: &mut *ws,
                };
                self.layers.visit(k, v);
                x = hk;
            }
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
        let mid = self.mid_max(b);
        let (mut ga, rest) = ws.split_at_mut(mid);
        let (mut gb, inner) = rest.split_at_mut(mid);
        let (hs, ts) = tape.saved.split_at(self.mid_total(b));
        let (mut pend, mut hend, mut tend) = (self.nparams(), hs.len(), ts.len());
        for k in (0..T::LEN).rev() {
            let li = info(&self.layers, k, b);
            let pr = pend - li.nparams..pend;
            pend = pr.start;
            let tk = &ts[tend - li.tape..tend];
            tend -= li.tape;
            let yk: &[S] = if k + 1 == T::LEN {
                tape.y
            } else {
                hend -= li.out_dim * b;
                &hs[hend..hend + li.out_dim * b]
            };
            let xk: &[S] = if k == 0 {
                inp.x
            } else {
                &hs[hend - li.in_dim * b..hend]
            };
            let yb: &[S] = if k + 1 == T::LEN {
                ybar
            } else {
                &ga[..li.out_dim * b]
            };
            let xb: &mut [S] = if k == 0 {
                &mut *xbar
            } else {
                &mut gb[..li.in_dim * b]
            };
            let v = BackwardV {
                inp: Input {
                    x: xk,
                    batch: b,
                    p: &inp.p[pr.clone()],
                },
                tape: LayerTape { y: yk, saved: tk },
                ybar: yb,
                xbar: xb,
                pbar: &mut pbar[pr],
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            std::mem::swap(&mut ga, &mut gb);
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

    fn tangent_workspace_len(&self, batch: usize) -> usize {
        let inner = (0..T::LEN)
            .map(|k| {
                let i = info(&self.layers, k, batch);
                i.ws.max(i.tws)
            })
            .max()
            .unwrap_or(0);
        2 * (self.mid_total(batch) + self.out_dim() * batch) + 4 * self.mid_max(batch) + inner
    }

    /// Every layer's output and tangent in one forward pass (kept), then each layer's
    /// `vjp_tangent` from the last to the first, handed its output and tangent.
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
        let _ = fwd; // the intermediate layers' outputs are needed anyway
        let b = inp.batch;
        let (mid, total) = (self.mid_max(b), self.mid_total(b) + self.out_dim() * b);
        let (hs, rest) = ws.split_at_mut(total);
        let (hds, rest) = rest.split_at_mut(total);
        let (mut ga, rest) = rest.split_at_mut(mid);
        let (mut gb, rest) = rest.split_at_mut(mid);
        let (mut gda, rest) = rest.split_at_mut(mid);
        let (mut gdb, inner) = rest.split_at_mut(mid);
        // Forward: h_k and hdot_k for every layer (the last one's too), one after another.
        let (mut off, mut poff) = (0, 0);
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let (ni, no) = (li.in_dim * b, li.out_dim * b);
            let (done, out) = hs.split_at_mut(off);
            let (ddone, dout) = hds.split_at_mut(off);
            let v = JvpV {
                inp: Input {
                    x: if k == 0 { inp.x } else { &done[off - ni..] },
                    batch: b,
                    p: &inp.p[poff..poff + li.nparams],
                },
                xdot: if k == 0 { xdot } else { &ddone[off - ni..] },
                pdot: None,
                y: &mut out[..no],
                ydot: &mut dout[..no],
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            off += no;
            poff += li.nparams;
        }
        // Reverse: layer k reads its input (the previous output) and its own output.
        let (hs, hds) = (&*hs, &*hds);
        let mut pend = self.nparams();
        for k in (0..T::LEN).rev() {
            let li = info(&self.layers, k, b);
            let (ni, no) = (li.in_dim * b, li.out_dim * b);
            let pr = pend - li.nparams..pend;
            pend = pr.start;
            let yk = off - no..off;
            off = yk.start;
            let (x, xd): (&[S], &[S]) = if k == 0 {
                (inp.x, xdot)
            } else {
                (&hs[off - ni..off], &hds[off - ni..off])
            };
            let last = k + 1 == T::LEN;
            let yb: (&[S], &[S]) = if last {
                (ybar, ybar_dot)
            } else {
                (&ga[..no], &gda[..no])
            };
            let (xb, xbd): (&mut [S], &mut [S]) = if k == 0 {
                (&mut *xbar, &mut *xbar_dot)
            } else {
                (&mut gb[..ni], &mut gdb[..ni])
            };
            let v = VjpTangentV {
                inp: Input {
                    x,
                    batch: b,
                    p: &inp.p[pr.clone()],
                },
                xdot: xd,
                fwd: Some((&hs[yk.clone()], &hds[yk])),
                ybar: yb,
                xbar: xb,
                xbar_dot: xbd,
                pbar_dot: &mut pbar_dot[pr],
                ws: &mut *inner,
            };
            self.layers.visit(k, v);
            std::mem::swap(&mut ga, &mut gb);
            std::mem::swap(&mut gda, &mut gdb);
        }
    }

    fn dirs_workspace_len(&self, batch: usize, ndir: usize) -> usize {
        let inner = (0..T::LEN)
            .map(|k| self.layers.visit(k, DirsWsV(batch, ndir)))
            .max()
            .unwrap_or(0);
        let total = self.mid_total(batch) + self.out_dim() * batch;
        // Outputs (one batch each) and tangents (`ndir` batches) of every layer, then the
        // cotangents (`ndir` batches) and summed tangents (one) of the widest intermediate layer.
        total * (1 + ndir) + 2 * self.mid_max(batch) * (ndir + 1) + inner
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
        // The taped pass with the record in scratch (`dirs_workspace_len` holds every layer's
        // outputs and tangents, as `vjp_tangent_dirs` needs them).
        let total = self.dirs_tape_len(inp.batch, ndir);
        let (tape, inner) = ws.split_at_mut(total);
        self.jvp_dirs_tape(inp, ndir, xdot, y, ydot, tape, inner);
    }

    fn vjp_tangent_dirs<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ndir: usize,
        xdot: &[S],
        fwd: Option<(&[S], &[S])>,
        ybar: (&[S], &[S]),
        xbar: &mut [S],
        xbar_dot: &mut [S],
        pbar_dot: &mut [S],
        ws: &mut [S],
    ) {
        if ndir == 1 {
            // One direction is the plain pass (its own scratch fits in this one).
            let (yb, ybd) = ybar;
            return self.vjp_tangent(inp, xdot, fwd, yb, ybd, xbar, xbar_dot, pbar_dot, ws);
        }
        let _ = fwd; // the intermediate layers' outputs are needed anyway
        let total = self.mid_total(inp.batch) + self.out_dim() * inp.batch;
        let (hs, rest) = ws.split_at_mut(total);
        let (hds, rest) = rest.split_at_mut(total * ndir);
        self.forward_dirs(inp, ndir, xdot, hs, hds, rest);
        let grads = (xbar, xbar_dot, pbar_dot);
        self.reverse_dirs(inp, ndir, xdot, (hs, hds), ybar, grads, rest);
    }

    fn dirs_tape_len(&self, batch: usize, ndir: usize) -> usize {
        (self.mid_total(batch) + self.out_dim() * batch) * (1 + ndir)
    }

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
        let b = inp.batch;
        let (total, no) = (self.dirs_tape_len(b, 0), self.out_dim() * b);
        let (hs, hds) = tape[..total * (1 + ndir)].split_at_mut(total);
        self.forward_dirs(inp, ndir, xdot, hs, hds, ws);
        y[..no].copy_from_slice(&hs[total - no..]);
        ydot[..no * ndir].copy_from_slice(&hds[(total - no) * ndir..]);
    }

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
        let total = self.dirs_tape_len(inp.batch, 0);
        let (hs, hds) = tape[..total * (1 + ndir)].split_at(total);
        let grads = (xbar, xbar_dot, pbar_dot);
        self.reverse_dirs(inp, ndir, xdot, (hs, hds), ybar, grads, ws);
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
        let mid = self.mid_max(b);
        let (mut ha, rest) = ws.split_at_mut(mid);
        let (mut hb, rest) = rest.split_at_mut(mid);
        let (mut da, rest) = rest.split_at_mut(mid);
        let (mut db, inner) = rest.split_at_mut(mid);
        let mut poff = 0;
        for k in 0..T::LEN {
            let li = info(&self.layers, k, b);
            let pr = poff..poff + li.nparams;
            poff = pr.end;
            let (ni, no) = (li.in_dim * b, li.out_dim * b);
            let sub = Input {
                x: if k == 0 { inp.x } else { &ha[..ni] },
                batch: b,
                p: &inp.p[pr.clone()],
            };
            let xd: &[S] = if k == 0 { xdot } else { &da[..ni] };
            let pd = pdot.map(|pd| &pd[pr]);
            if k + 1 == T::LEN {
                let v = JvpV {
                    inp: sub,
                    xdot: xd,
                    pdot: pd,
                    y: &mut *y,
                    ydot: &mut *ydot,
                    ws: &mut *inner,
                };
                self.layers.visit(k, v);
            } else {
                let v = JvpV {
                    inp: sub,
                    xdot: xd,
                    pdot: pd,
                    y: &mut hb[..no],
                    ydot: &mut db[..no],
                    ws: &mut *inner,
                };
                self.layers.visit(k, v);
                std::mem::swap(&mut ha, &mut hb);
                std::mem::swap(&mut da, &mut db);
            }
        }
    }
}
