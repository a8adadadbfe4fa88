//! The spline layer (Boltz's `SplineLayer`): a spline through trainable values on a fixed grid,
//! one per feature.

use super::{assert_x_len, Input, Layer, LayerError};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The degree of a [`SplineLayer`]'s pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplineKind {
    /// Straight lines between the values.
    Linear,
    /// C¹ quadratic pieces; the first piece is a straight line (its end slope starts the
    /// recurrence `s_{k+1} = 2 (v_{k+1} − v_k) − s_k`).
    Quadratic,
    /// The natural cubic spline (C², zero second derivative at both ends).
    Cubic,
}

/// `y_i = s_i(x_i)` for each feature `i`, where `s_i` is the spline of [`SplineKind`] through the
/// trainable values `v_{i,0..m}` at the `m` equally spaced grid points from `grid_min` to
/// `grid_max`. Outside the grid the end pieces are extended.
///
/// Parameters: `values`, `dim × m` (feature `i`'s values at `i·m .. (i+1)·m`), initialised to 0.
/// Every spline is linear in its values: each pass first computes every feature's slopes
/// (quadratic, by their recurrence) or curvatures (cubic, by one tridiagonal solve) in the
/// workspace, `O(dim·m)` work and memory, then evaluates each sample in `O(1)`.
///
/// ```
/// use diffeqflux::nn::{Layer, SplineKind, SplineLayer};
/// let s = SplineLayer::new(1, (0.0, 2.0), 3, SplineKind::Linear)?;
/// // Values 0, 1, 4 at x = 0, 1, 2: at 1.5 the line from 1 to 4 gives 2.5.
/// assert_eq!(s.apply(&[1.5], 1, &[0.0, 1.0, 4.0])?, vec![2.5]);
/// let c = SplineLayer::new(1, (0.0, 2.0), 3, SplineKind::Cubic)?;
/// let y: Vec<f64> = c.apply(&[1.0], 1, &[0.0, 1.0, 4.0])?;
/// assert!((y[0] - 1.0).abs() < 1e-15); // interpolates
/// # Ok::<(), diffeqflux::nn::LayerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplineLayer {
    dim: usize,
    grid_min: f64,
    step: f64,
    len: usize,
    kind: SplineKind,
}

/// The weights of `v_k`, `v_{k+1}`, `(A v)_k`, `(A v)_{k+1}` at `θ`, and their `θ`-derivatives.
struct PieceWeights<S> {
    w: [S; 4],
    dw: [S; 4],
}

/// A pass's workspace: the values' slopes or curvatures `A v` (`dim × m`), a second block of
/// the same size (cotangents of `A v`, or `A` of the parameter tangents), and the Thomas
/// factors of the cubic's tridiagonal system (`m`).
struct Blocks<'w, S> {
    av: &'w mut [S],
    aux: &'w mut [S],
    thomas: &'w mut [S],
}

impl SplineLayer {
    /// `dim` features, each with a spline on `len` grid points spanning `grid`.
    ///
    /// # Errors
    /// [`LayerError::Invalid`] for no features, fewer than 2 grid points, or a grid that is not
    /// finite and increasing.
    pub fn new(
        dim: usize,
        grid: (f64, f64),
        len: usize,
        kind: SplineKind,
    ) -> Result<Self, LayerError> {
        let (lo, hi) = grid;
        if dim == 0 || len < 2 || !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return Err(LayerError::Invalid(format!(
                "a SplineLayer needs at least one feature, at least 2 grid points and a finite \
                 grid with min < max (got dim {dim}, {len} points on ({lo}, {hi}))"
            )));
        }
        // The workspace, (2·dim + 1)·len scalars, must be addressable.
        if dim
            .checked_mul(2)
            .and_then(|d| d.checked_add(1))
            .and_then(|d| d.checked_mul(len))
            .is_none()
        {
            return Err(LayerError::Invalid(format!(
                "a SplineLayer of {dim} features on {len} grid points has more values than \
                 memory can address"
            )));
        }
        let step = (hi - lo) / (len - 1) as f64;
        if !(step.is_finite() && step > 0.0 && (1.0 / step).is_finite()) {
            return Err(LayerError::Invalid(format!(
                "the grid ({lo}, {hi}) with {len} points has spacing {step}; give a grid whose \
                 spacing and its reciprocal are finite and positive"
            )));
        }
        Ok(SplineLayer {
            dim,
            grid_min: lo,
            step,
            len,
            kind,
        })
    }

    /// The grid points.
    pub fn grid(&self) -> Vec<f64> {
        (0..self.len)
            .map(|i| self.grid_min + self.step * i as f64)
            .collect()
    }

    /// Splits the workspace (at least [`Layer::workspace_len`] scalars) and fills its first two
    /// parts: the Thomas factors and `A v` of every feature of the values `p`.
    fn prepare<'w, S: Scalar>(&self, p: &[S], ws: &'w mut [S]) -> Blocks<'w, S> {
        let n = self.dim * self.len;
        let (av, rest) = ws.split_at_mut(n);
        let (aux, rest) = rest.split_at_mut(n);
        let b = Blocks {
            av,
            aux,
            thomas: &mut rest[..self.len],
        };
        self.thomas_factors(b.thomas);
        self.apply_a_all(p, b.thomas, b.av);
        b
    }

    /// The piece `k` that `x` falls in (end pieces extended) and `θ = (x − x_k)/h`.
    fn locate<S: Scalar>(&self, x: S) -> (usize, S) {
        let u = (x - S::cst(self.grid_min)) * S::cst(1.0 / self.step);
        let uf: f64 = sciml_core::Real::to_f64_lossy(u.re());
        let k = if uf.is_finite() && uf > 0.0 {
            (uf.floor() as usize).min(self.len - 2)
        } else {
            0
        };
        (k, u - S::cst(k as f64))
    }

    fn weights<S: Scalar>(&self, t: S) -> PieceWeights<S> {
        let (zero, one, two, three) = (S::cst(0.0), S::cst(1.0), S::cst(2.0), S::cst(3.0));
        let s = one - t;
        match self.kind {
            SplineKind::Linear => PieceWeights {
                w: [s, t, zero, zero],
                dw: [zero - one, one, zero, zero],
            },
            // v_k + s_k θ + (v_{k+1} − v_k − s_k) θ².
            SplineKind::Quadratic => PieceWeights {
                w: [one - t * t, t * t, t - t * t, zero],
                dw: [zero - two * t, two * t, one - two * t, zero],
            },
            // (1−θ) v_k + θ v_{k+1} + [((1−θ)³ − (1−θ)) μ_k + (θ³ − θ) μ_{k+1}] / 6.
            SplineKind::Cubic => {
                let sixth = S::cst(1.0 / 6.0);
                PieceWeights {
                    w: [s, t, (s * s * s - s) * sixth, (t * t * t - t) * sixth],
                    dw: [
                        zero - one,
                        one,
                        (one - three * s * s) * sixth,
                        (three * t * t - one) * sixth,
                    ],
                }
            }
        }
    }

    /// The Thomas factors `c_j = 1/(4 − c_{j−1})` of the cubic's tridiagonal `(1, 4, 1)`
    /// system over the `m − 2` interior points (nothing for the other kinds). The recurrence
    /// contracts by `(2 − √3)² ≈ 0.07` per step onto `2 − √3`: once a factor repeats, every
    /// later one is the same value, so the rest is filled instead of run through a chain of
    /// dependent divisions (bitwise the factors the whole recurrence gives).
    fn thomas_factors<S: Scalar>(&self, c: &mut [S]) {
        if self.kind != SplineKind::Cubic {
            return;
        }
        let c = &mut c[..self.len.saturating_sub(2)];
        let mut prev = S::cst(0.0);
        for j in 0..c.len() {
            let cj = S::cst(1.0) / (S::cst(4.0) - prev);
            c[j] = cj;
            if cj == prev {
                c[j + 1..].fill(cj);
                return;
            }
            prev = cj;
        }
    }

    /// `out = A v` for one feature (`m` values): the quadratic's slopes per unit θ, `s_0 = v_1 −
    /// v_0`, `s_{k+1} = 2 (v_{k+1} − v_k) − s_k`; or the natural cubic's `μ_i = h² s''(x_i)`,
    /// `μ_0 = μ_{m−1} = 0` and `μ_{i−1} + 4 μ_i + μ_{i+1} = 6 (v_{i−1} − 2 v_i + v_{i+1})`
    /// inside (Thomas algorithm with the factors `c`). Nothing for the linear kind.
    fn apply_a<S: Scalar>(&self, v: &[S], c: &[S], out: &mut [S]) {
        let m = self.len;
        match self.kind {
            SplineKind::Linear => {}
            SplineKind::Quadratic => {
                out[0] = v[1] - v[0];
                for k in 0..m - 1 {
                    out[k + 1] = S::cst(2.0) * (v[k + 1] - v[k]) - out[k];
                }
            }
            SplineKind::Cubic => {
                out[0] = S::cst(0.0);
                out[m - 1] = S::cst(0.0);
                // Forward sweep into out[1..m−1], then back substitution in place.
                let mut prev = S::cst(0.0);
                for i in 1..m - 1 {
                    let r = S::cst(6.0) * (v[i - 1] - S::cst(2.0) * v[i] + v[i + 1]);
                    prev = (r - prev) * c[i - 1];
                    out[i] = prev;
                }
                for i in (1..m - 1).rev() {
                    let next = out[i + 1];
                    out[i] -= c[i - 1] * next;
                }
            }
        }
    }

    /// `out += Aᵀ w` for one feature; `w` (the cotangents of `A v`) is overwritten.
    fn add_a_transpose<S: Scalar>(&self, w: &mut [S], c: &[S], out: &mut [S]) {
        let m = self.len;
        match self.kind {
            SplineKind::Linear => {}
            SplineKind::Quadratic => {
                // The recurrence run backwards.
                for k in (0..m - 1).rev() {
                    let wk1 = w[k + 1];
                    out[k + 1] += S::cst(2.0) * wk1;
                    out[k] -= S::cst(2.0) * wk1;
                    w[k] -= wk1;
                }
                out[1] += w[0];
                out[0] -= w[0];
            }
            SplineKind::Cubic => {
                // A = T⁻¹ D with T symmetric: Aᵀ w = Dᵀ (T⁻¹ w) over the interior points.
                let mut prev = S::cst(0.0);
                for i in 1..m - 1 {
                    prev = (w[i] - prev) * c[i - 1];
                    w[i] = prev;
                }
                w[m - 1] = S::cst(0.0);
                for i in (1..m - 1).rev() {
                    let next = w[i + 1];
                    w[i] -= c[i - 1] * next;
                }
                for i in 1..m - 1 {
                    let z = S::cst(6.0) * w[i];
                    out[i - 1] += z;
                    out[i] -= S::cst(2.0) * z;
                    out[i + 1] += z;
                }
            }
        }
    }

    /// `A v` of every feature of `p` into `av`.
    fn apply_a_all<S: Scalar>(&self, p: &[S], c: &[S], av: &mut [S]) {
        if self.kind == SplineKind::Linear {
            return;
        }
        let m = self.len;
        for (v, out) in p.chunks_exact(m).zip(av.chunks_exact_mut(m)) {
            self.apply_a(v, c, out);
        }
    }

    /// `Σ_j w_j v_j` over the piece's four terms (`a = A v` of the feature), and its
    /// θ-derivative.
    fn eval_piece<S: Scalar>(&self, k: usize, pw: &PieceWeights<S>, v: &[S], a: &[S]) -> (S, S) {
        let (y, dy) = (
            pw.w[0] * v[k] + pw.w[1] * v[k + 1],
            pw.dw[0] * v[k] + pw.dw[1] * v[k + 1],
        );
        if self.kind == SplineKind::Linear {
            return (y, dy);
        }
        (
            y + pw.w[2] * a[k] + pw.w[3] * a[k + 1],
            dy + pw.dw[2] * a[k] + pw.dw[3] * a[k + 1],
        )
    }
}

impl Layer for SplineLayer {
    fn in_dim(&self) -> usize {
        self.dim
    }
    fn out_dim(&self) -> usize {
        self.dim
    }
    fn nparams(&self) -> usize {
        self.dim * self.len
    }
    fn workspace_len(&self, _batch: usize) -> usize {
        // `A v` and a second block of the same size, and the Thomas factors.
        (2 * self.dim + 1) * self.len
    }
    fn init_params(&self, _rng: &mut Xoshiro256pp, p: &mut [f64]) {
        p.iter_mut().for_each(|v| *v = 0.0);
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        vec![("values".into(), 0..self.nparams())]
    }

    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]) {
        assert_x_len(inp.x.len(), self.dim * inp.batch);
        let m = self.len;
        let b = self.prepare(inp.p, ws);
        for (idx, (x, yo)) in inp.x.iter().zip(y.iter_mut()).enumerate() {
            let r = (idx % self.dim) * m..(idx % self.dim + 1) * m;
            let (k, t) = self.locate(*x);
            *yo = self
                .eval_piece(k, &self.weights(t), &inp.p[r.clone()], &b.av[r])
                .0;
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
        assert_x_len(inp.x.len(), self.dim * inp.batch);
        let m = self.len;
        let inv_h = S::cst(1.0 / self.step);
        let b = self.prepare(inp.p, ws);
        b.aux.iter_mut().for_each(|w| *w = S::cst(0.0));
        for (idx, x) in inp.x.iter().enumerate() {
            let r = (idx % self.dim) * m..(idx % self.dim + 1) * m;
            let (k, t) = self.locate(*x);
            let pw = self.weights(t);
            let dy = self
                .eval_piece(k, &pw, &inp.p[r.clone()], &b.av[r.clone()])
                .1;
            xbar[idx] = ybar[idx] * dy * inv_h;
            let (g, a) = (&mut pbar[r.clone()], &mut b.aux[r]);
            g[k] += ybar[idx] * pw.w[0];
            g[k + 1] += ybar[idx] * pw.w[1];
            a[k] += ybar[idx] * pw.w[2];
            a[k + 1] += ybar[idx] * pw.w[3];
        }
        if self.kind != SplineKind::Linear {
            for (w, g) in b.aux.chunks_exact_mut(m).zip(pbar.chunks_exact_mut(m)) {
                self.add_a_transpose(w, b.thomas, g);
            }
        }
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
        assert_x_len(inp.x.len(), self.dim * inp.batch);
        let m = self.len;
        let inv_h = S::cst(1.0 / self.step);
        let b = self.prepare(inp.p, ws);
        if let Some(pd) = pdot {
            self.apply_a_all(pd, b.thomas, b.aux);
        }
        for (idx, x) in inp.x.iter().enumerate() {
            let r = (idx % self.dim) * m..(idx % self.dim + 1) * m;
            let (k, t) = self.locate(*x);
            let pw = self.weights(t);
            let (yv, dy) = self.eval_piece(k, &pw, &inp.p[r.clone()], &b.av[r.clone()]);
            y[idx] = yv;
            ydot[idx] = dy * inv_h * xdot[idx];
            if let Some(pd) = pdot {
                // The spline is linear in its values: its tangent is the spline of pdot.
                ydot[idx] += self.eval_piece(k, &pw, &pd[r.clone()], &b.aux[r]).0;
            }
        }
    }
}
