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
/// Every spline is linear in its values, so the layer keeps the (fixed) map from values to the
/// slopes or curvatures, computed once.
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
    /// `m × m`, row-major: slopes (quadratic, per unit θ) or `h²·s''` (cubic) from the values;
    /// empty for linear.
    coef: Vec<f64>,
}

/// The weights of `v_k`, `v_{k+1}`, `(A v)_k`, `(A v)_{k+1}` at `θ`, and their `θ`-derivatives.
struct PieceWeights<S> {
    w: [S; 4],
    dw: [S; 4],
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
        let step = (hi - lo) / (len - 1) as f64;
        if !(step.is_finite() && step > 0.0 && (1.0 / step).is_finite()) {
            return Err(LayerError::Invalid(format!(
                "the grid ({lo}, {hi}) with {len} points has spacing {step}; give a grid whose \
                 spacing and its reciprocal are finite and positive"
            )));
        }
        let coef = match kind {
            SplineKind::Linear => Vec::new(),
            SplineKind::Quadratic => quadratic_slopes(len),
            SplineKind::Cubic => natural_curvatures(len),
        };
        Ok(SplineLayer {
            dim,
            grid_min: lo,
            step,
            len,
            kind,
            coef,
        })
    }

    /// The grid points.
    pub fn grid(&self) -> Vec<f64> {
        (0..self.len)
            .map(|i| self.grid_min + self.step * i as f64)
            .collect()
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

    /// `(A v)_row`, the slope or curvature at grid point `row`.
    fn coef_dot<S: Scalar>(&self, row: usize, v: &[S]) -> S {
        if self.coef.is_empty() || row >= self.len {
            return S::cst(0.0);
        }
        self.coef[row * self.len..(row + 1) * self.len]
            .iter()
            .zip(v)
            .fold(S::cst(0.0), |a, (c, x)| a + S::cst(*c) * *x)
    }

    /// `Σ_j w_j v_j` over the piece's four terms, and its θ-derivative.
    fn eval_piece<S: Scalar>(&self, k: usize, pw: &PieceWeights<S>, v: &[S]) -> (S, S) {
        let terms = [v[k], v[k + 1], self.coef_dot(k, v), self.coef_dot(k + 1, v)];
        let (mut y, mut dy) = (S::cst(0.0), S::cst(0.0));
        for ((w, dw), x) in pw.w.iter().zip(&pw.dw).zip(terms) {
            y += *w * x;
            dy += *dw * x;
        }
        (y, dy)
    }

    /// Adds `scale · ∂y/∂v` to `out` (the transpose of [`SplineLayer::eval_piece`] in `v`).
    fn add_value_weights<S: Scalar>(
        &self,
        k: usize,
        pw: &PieceWeights<S>,
        scale: S,
        out: &mut [S],
    ) {
        out[k] += scale * pw.w[0];
        out[k + 1] += scale * pw.w[1];
        if !self.coef.is_empty() {
            for (r, w) in [(k, pw.w[2]), (k + 1, pw.w[3])] {
                let row = &self.coef[r * self.len..(r + 1) * self.len];
                for (o, c) in out.iter_mut().zip(row) {
                    *o += scale * w * S::cst(*c);
                }
            }
        }
    }
}

/// The quadratic spline's slopes per unit θ as a matrix of the values: `s_0 = v_1 − v_0`,
/// `s_{k+1} = 2 (v_{k+1} − v_k) − s_k`.
fn quadratic_slopes(m: usize) -> Vec<f64> {
    let mut a = vec![0.0; m * m];
    a[0] = -1.0;
    a[1] = 1.0;
    for k in 0..m - 1 {
        for j in 0..m {
            let dv = if j == k + 1 {
                1.0
            } else if j == k {
                -1.0
            } else {
                0.0
            };
            a[(k + 1) * m + j] = 2.0 * dv - a[k * m + j];
        }
    }
    a
}

/// The natural cubic spline's `μ_i = h² s''(x_i)` as a matrix of the values: `μ_0 = μ_{m−1} = 0`
/// and `μ_{i−1} + 4 μ_i + μ_{i+1} = 6 (v_{i−1} − 2 v_i + v_{i+1})` inside, solved by the Thomas
/// algorithm for each unit vector of values.
fn natural_curvatures(m: usize) -> Vec<f64> {
    let mut a = vec![0.0; m * m];
    if m < 3 {
        return a;
    }
    let n = m - 2; // interior unknowns μ_1 .. μ_{m−2}
    for j in 0..m {
        // Right-hand side for v = e_j.
        let rhs: Vec<f64> = (1..m - 1)
            .map(|i| {
                6.0 * if j == i {
                    -2.0
                } else if j + 1 == i || j == i + 1 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        // Thomas algorithm on the constant tridiagonal (1, 4, 1).
        let (mut c, mut d) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let denom = 4.0 - if i > 0 { c[i - 1] } else { 0.0 };
            c[i] = 1.0 / denom;
            d[i] = (rhs[i] - if i > 0 { d[i - 1] } else { 0.0 }) / denom;
        }
        for i in (0..n).rev() {
            let next = if i + 1 < n { a[(i + 2) * m + j] } else { 0.0 };
            a[(i + 1) * m + j] = d[i] - c[i] * next;
        }
    }
    a
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
        0
    }
    fn init_params(&self, _rng: &mut Xoshiro256pp, p: &mut [f64]) {
        p.iter_mut().for_each(|v| *v = 0.0);
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        vec![("values".into(), 0..self.nparams())]
    }

    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], _ws: &mut [S]) {
        assert_x_len(inp.x.len(), self.dim * inp.batch);
        for (idx, (x, yo)) in inp.x.iter().zip(y.iter_mut()).enumerate() {
            let i = idx % self.dim;
            let v = &inp.p[i * self.len..(i + 1) * self.len];
            let (k, t) = self.locate(*x);
            *yo = self.eval_piece(k, &self.weights(t), v).0;
        }
    }

    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        _ws: &mut [S],
    ) {
        assert_x_len(inp.x.len(), self.dim * inp.batch);
        let inv_h = S::cst(1.0 / self.step);
        for (idx, x) in inp.x.iter().enumerate() {
            let i = idx % self.dim;
            let range = i * self.len..(i + 1) * self.len;
            let (k, t) = self.locate(*x);
            let pw = self.weights(t);
            let dy = self.eval_piece(k, &pw, &inp.p[range.clone()]).1;
            xbar[idx] = ybar[idx] * dy * inv_h;
            self.add_value_weights(k, &pw, ybar[idx], &mut pbar[range]);
        }
    }

    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        _ws: &mut [S],
    ) {
        assert_x_len(inp.x.len(), self.dim * inp.batch);
        let inv_h = S::cst(1.0 / self.step);
        for (idx, x) in inp.x.iter().enumerate() {
            let i = idx % self.dim;
            let range = i * self.len..(i + 1) * self.len;
            let (k, t) = self.locate(*x);
            let pw = self.weights(t);
            let (yv, dy) = self.eval_piece(k, &pw, &inp.p[range.clone()]);
            y[idx] = yv;
            ydot[idx] = dy * inv_h * xdot[idx];
            if let Some(pd) = pdot {
                // The spline is linear in its values: its tangent is the spline of pdot.
                ydot[idx] += self.eval_piece(k, &pw, &pd[range]).0;
            }
        }
    }
}
