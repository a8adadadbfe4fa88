use crate::field::{Jacobian, Jvp, VectorField, Vjp};
use crate::matrix::DenseMatrix;
use crate::scalar::Real;

/// Central finite-difference derivatives of any field over `Vec<R>`: a fallback for plain
/// closures, marked inexact (`EXACT = false`).
///
/// Steps follow the usual choice for central differences, `h = ε^(1/3) · max(1, |x|)` (truncation
/// error `O(h²)` balanced against rounding `O(ε/h)`), rounded so that `x + h` is representable
/// exactly. A JVP uses one directional difference with `h = ε^(1/3) · max(1, ‖u‖∞) / ‖v‖∞`. VJPs and
/// Jacobians cost two evaluations per column.
///
/// ```
/// use sciml_core::{FiniteDiff, FnField, Jvp};
/// let f = FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = u[0].sin());
/// let mut fd = FiniteDiff::new(f);
/// let mut out = vec![0.0];
/// fd.jvp_u(0.0, &vec![0.3], &vec![], &vec![1.0], &mut out);
/// assert!((out[0] - 0.3_f64.cos()).abs() < 1e-9);
/// ```
#[derive(Clone)]
pub struct FiniteDiff<F: VectorField> {
    f: F,
    up: F::V,
    pp: F::P,
    fp: F::V,
    fm: F::V,
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> FiniteDiff<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        let (n, np) = f.dims();
        FiniteDiff {
            f,
            up: vec![R::zero(); n],
            pp: vec![R::zero(); np],
            fp: vec![R::zero(); n],
            fm: vec![R::zero(); n],
        }
    }
    /// The wrapped field.
    pub fn inner(&mut self) -> &mut F {
        &mut self.f
    }

    fn step(x: R) -> R {
        let h = R::epsilon().cbrt() * x.abs().max(R::one());
        (x + h) - x
    }

    /// Central difference of `f` along coordinate `i` of `u` (`i < n`) or `p`; leaves
    /// `(f(+) - f(-)) / 2h` in `self.fp`.
    fn column(&mut self, t: R, u: &[R], p: &[R], i: usize) {
        let n = u.len();
        self.up.copy_from_slice(u);
        self.pp.copy_from_slice(p);
        let (x, h) = if i < n {
            (u[i], Self::step(u[i]))
        } else {
            (p[i - n], Self::step(p[i - n]))
        };
        let set = |s: &mut Self, v: R| {
            if i < n {
                s.up[i] = v
            } else {
                s.pp[i - n] = v
            }
        };
        set(self, x + h);
        self.f.rhs(t, &self.up, &self.pp, &mut self.fp);
        set(self, x - h);
        self.f.rhs(t, &self.up, &self.pp, &mut self.fm);
        let inv = R::one() / (h + h);
        for (a, b) in self.fp.iter_mut().zip(&self.fm) {
            *a = (*a - *b) * inv;
        }
    }

    /// Directional central difference along `(vu, vp)`, into `out`.
    fn directional(
        &mut self,
        t: R,
        u: &[R],
        p: &[R],
        vu: Option<&[R]>,
        vp: Option<&[R]>,
        out: &mut [R],
    ) {
        let inf = |x: &[R]| x.iter().fold(R::zero(), |m, v| m.max(v.abs()));
        let vnorm = vu.map_or(R::zero(), inf).max(vp.map_or(R::zero(), inf));
        if vnorm == R::zero() {
            out.iter_mut().for_each(|o| *o = R::zero());
            return;
        }
        let scale = inf(u).max(inf(p)).max(R::one());
        let h = R::epsilon().cbrt() * scale / vnorm;
        for sign in [R::one(), -R::one()] {
            for (i, x) in self.up.iter_mut().enumerate() {
                *x = u[i] + vu.map_or(R::zero(), |v| sign * h * v[i]);
            }
            for (i, x) in self.pp.iter_mut().enumerate() {
                *x = p[i] + vp.map_or(R::zero(), |v| sign * h * v[i]);
            }
            let dst = if sign > R::zero() {
                &mut self.fp
            } else {
                &mut self.fm
            };
            self.f.rhs(t, &self.up, &self.pp, dst);
        }
        let inv = R::one() / (h + h);
        for ((o, a), b) in out.iter_mut().zip(&self.fp).zip(&self.fm) {
            *o = (*a - *b) * inv;
        }
    }
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> VectorField for FiniteDiff<F> {
    type V = Vec<R>;
    type P = Vec<R>;
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    #[inline]
    fn rhs(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, du: &mut Vec<R>) {
        self.f.rhs(t, u, p, du)
    }
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> Jvp for FiniteDiff<F> {
    const EXACT: bool = false;
    fn jvp_u(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.directional(t, u, p, Some(v), None, out)
    }
    fn jvp_p(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.directional(t, u, p, None, Some(v), out)
    }
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> Vjp for FiniteDiff<F> {
    const EXACT: bool = false;
    fn vjp(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, w: &Vec<R>, gu: &mut Vec<R>, gp: &mut Vec<R>) {
        let n = u.len();
        for i in 0..n + p.len() {
            self.column(t, u, p, i);
            let s = self
                .fp
                .iter()
                .zip(w)
                .fold(R::zero(), |s, (a, b)| s + *a * *b);
            if i < n {
                gu[i] += s;
            } else {
                gp[i - n] += s;
            }
        }
    }
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> Jacobian for FiniteDiff<F> {
    const EXACT: bool = false;
    fn jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut DenseMatrix<R>) {
        for c in 0..u.len() {
            self.column(t, u, p, c);
            j.col_mut(c).copy_from_slice(&self.fp);
        }
    }
}
