//! Restarted GMRES(m) with right preconditioning (Saad and Schultz, SIAM J. Sci. Stat. Comput. 7,
//! 1986; Saad, "Iterative Methods for Sparse Linear Systems", 2nd ed., SIAM 2003, Alg. 9.5).

use super::LinearError;
use crate::scalar::Real;

/// A right preconditioner for [`Gmres::solve`]: applies `M⁻¹` to a vector in place.
pub type Preconditioner<'a, R> = &'a mut dyn FnMut(&mut [R]);

/// What a [`Gmres::solve`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GmresStats<R> {
    /// Krylov iterations (one matrix-vector product and one preconditioner application each).
    pub iterations: usize,
    /// Restarts carried out.
    pub restarts: usize,
    /// Matrix-vector products, including the one per cycle for the true residual.
    pub matvecs: usize,
    /// The final true residual `‖b − A x‖₂`.
    pub residual: R,
}

/// Restarted GMRES(m): solves `A x = b` given only `v ↦ A v`, minimising the residual over a
/// Krylov space of dimension at most `restart` before restarting from the current iterate.
///
/// Right preconditioning (`A M⁻¹ y = b`, `x = M⁻¹ y`) keeps the residual that is minimised and
/// tested the true one. The Arnoldi basis is orthogonalised by modified Gram–Schmidt with one
/// reorthogonalisation pass when cancellation is detected (‖w‖ drops below 0.7 of its size before
/// orthogonalisation, the Daniel–Gragg–Kaufman–Stewart criterion); the Hessenberg least-squares
/// problem is reduced by Givens rotations, so the residual norm of each iteration is known
/// without forming `x`. The basis and all work arrays are allocated in [`Gmres::new`].
///
/// Convergence: `‖b − A x‖₂ ≤ max(rtol · ‖b‖₂, atol)`.
///
/// ```
/// use sciml_core::Gmres;
/// // A = [[4, 1], [2, 3]], b = A · [1, 2] = [6, 8].
/// let mut gm = Gmres::<f64>::new(2, 2);
/// gm.rtol = 1e-12;
/// let mut x = [0.0, 0.0];
/// let mut av = |v: &[f64], out: &mut [f64]| {
///     out[0] = 4.0 * v[0] + v[1];
///     out[1] = 2.0 * v[0] + 3.0 * v[1];
/// };
/// let st = gm.solve(&mut av, None, &[6.0, 8.0], &mut x).unwrap();
/// assert!(st.iterations <= 2);
/// assert!((x[0] - 1.0).abs() < 1e-10 && (x[1] - 2.0).abs() < 1e-10);
/// ```
#[derive(Clone, Debug)]
pub struct Gmres<R: Real> {
    n: usize,
    m: usize,
    /// Most Krylov iterations in total, over all restarts (default 1000).
    pub max_iters: usize,
    /// Relative tolerance on the residual, against `‖b‖₂` (default `√ε`).
    pub rtol: R,
    /// Absolute tolerance on the residual (default 0).
    pub atol: R,
    /// Arnoldi basis, `m + 1` vectors of length `n`, one after the other.
    v: Vec<R>,
    /// Hessenberg matrix, column-major `(m + 1) × m`.
    h: Vec<R>,
    cs: Vec<R>,
    sn: Vec<R>,
    g: Vec<R>,
    y: Vec<R>,
    w: Vec<R>,
    z: Vec<R>,
}

impl<R: Real> Gmres<R> {
    /// GMRES for systems of size `n`, restarting every `restart` iterations (at least 1).
    pub fn new(n: usize, restart: usize) -> Self {
        let m = restart.max(1);
        Gmres {
            n,
            m,
            max_iters: 1000,
            rtol: R::epsilon().sqrt(),
            atol: R::zero(),
            v: vec![R::zero(); (m + 1) * n],
            h: vec![R::zero(); (m + 1) * m],
            cs: vec![R::zero(); m],
            sn: vec![R::zero(); m],
            g: vec![R::zero(); m + 1],
            y: vec![R::zero(); m],
            w: vec![R::zero(); n],
            z: vec![R::zero(); n],
        }
    }
    /// The system size.
    pub fn n(&self) -> usize {
        self.n
    }
    /// The restart length `m`.
    pub fn restart(&self) -> usize {
        self.m
    }
    /// Sets the total iteration limit.
    pub fn set_max_iters(&mut self, max_iters: usize) -> &mut Self {
        self.max_iters = max_iters;
        self
    }
    /// Sets the relative tolerance.
    pub fn set_rtol(&mut self, rtol: R) -> &mut Self {
        self.rtol = rtol;
        self
    }
    /// Sets the absolute tolerance.
    pub fn set_atol(&mut self, atol: R) -> &mut Self {
        self.atol = atol;
        self
    }

    /// Solves `A x = b` with `matvec(v, out)` writing `out = A v` and `precond(v)` applying `M⁻¹`
    /// in place (`None`: no preconditioner). `x` holds the initial guess on input and the
    /// solution on output. Allocation-free.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `b` or `x` is not of length `n`; [`LinearError::NonFinite`]
    /// if `b`, the initial guess or a product is not finite; [`LinearError::NotConverged`] after
    /// `max_iters` iterations (`x` then holds the last iterate, whose residual is reported).
    pub fn solve(
        &mut self,
        matvec: &mut impl FnMut(&[R], &mut [R]),
        mut precond: Option<Preconditioner<'_, R>>,
        b: &[R],
        x: &mut [R],
    ) -> Result<GmresStats<R>, LinearError> {
        let (n, m) = (self.n, self.m);
        for len in [b.len(), x.len()] {
            if len != n {
                return Err(LinearError::Dimension {
                    expected: n,
                    got: len,
                });
            }
        }
        let bnorm = norm(b);
        if !bnorm.is_finite() || !norm(x).is_finite() {
            return Err(LinearError::NonFinite);
        }
        let tol = (self.rtol * bnorm).max(self.atol);
        let mut st = GmresStats {
            iterations: 0,
            restarts: 0,
            matvecs: 0,
            residual: R::zero(),
        };
        loop {
            // True residual r = b − A x into v₀.
            let (v0, _) = self.v.split_at_mut(n);
            matvec(x, v0);
            st.matvecs += 1;
            for (r, bi) in v0.iter_mut().zip(b) {
                *r = *bi - *r;
            }
            let beta = norm(v0);
            st.residual = beta;
            if !beta.is_finite() {
                return Err(LinearError::NonFinite);
            }
            if beta <= tol {
                return Ok(st);
            }
            if st.iterations >= self.max_iters {
                return Err(LinearError::NotConverged {
                    iterations: st.iterations,
                    residual: beta.to_f64_lossy(),
                });
            }
            if st.iterations > 0 {
                st.restarts += 1;
            }
            let inv = R::one() / beta;
            v0.iter_mut().for_each(|r| *r *= inv);
            self.g.iter_mut().for_each(|g| *g = R::zero());
            self.g[0] = beta;
            let mut k_used = 0;
            for k in 0..m {
                // w = A M⁻¹ v_k.
                self.z.copy_from_slice(&self.v[k * n..(k + 1) * n]);
                if let Some(pc) = precond.as_mut() {
                    pc(&mut self.z);
                }
                matvec(&self.z, &mut self.w);
                st.matvecs += 1;
                st.iterations += 1;
                k_used = k + 1;
                let hcol = &mut self.h[k * (m + 1)..(k + 1) * (m + 1)];
                hcol.iter_mut().for_each(|h| *h = R::zero());
                let w0 = norm(&self.w);
                for pass in 0..2 {
                    for (i, hi) in hcol.iter_mut().enumerate().take(k + 1) {
                        let vi = &self.v[i * n..(i + 1) * n];
                        let c = dot(&self.w, vi);
                        *hi += c;
                        for (wj, vj) in self.w.iter_mut().zip(vi) {
                            *wj -= c * *vj;
                        }
                    }
                    // Reorthogonalise only if the first pass cancelled heavily.
                    if pass == 0 && norm(&self.w) > R::c(0.7) * w0 {
                        break;
                    }
                }
                let hn = norm(&self.w);
                if !hn.is_finite() {
                    return Err(LinearError::NonFinite);
                }
                hcol[k + 1] = hn;
                if hn > R::zero() {
                    let inv = R::one() / hn;
                    for (vj, wj) in self.v[(k + 1) * n..(k + 2) * n].iter_mut().zip(&self.w) {
                        *vj = *wj * inv;
                    }
                }
                // Previous rotations, then a new one zeroing h[k+1, k].
                for i in 0..k {
                    let (a, b) = (hcol[i], hcol[i + 1]);
                    hcol[i] = self.cs[i] * a + self.sn[i] * b;
                    hcol[i + 1] = -self.sn[i] * a + self.cs[i] * b;
                }
                let (c, s) = givens(hcol[k], hcol[k + 1]);
                self.cs[k] = c;
                self.sn[k] = s;
                hcol[k] = c * hcol[k] + s * hcol[k + 1];
                hcol[k + 1] = R::zero();
                self.g[k + 1] = -s * self.g[k];
                self.g[k] *= c;
                let res = self.g[k + 1].abs();
                // Stop the cycle on convergence of the estimate, the iteration limit, or a
                // (lucky) breakdown where the Krylov space is invariant and the solution exact.
                if res <= tol || st.iterations >= self.max_iters || hn == R::zero() {
                    break;
                }
            }
            // y = H⁻¹ g (upper triangular k_used × k_used), then x += M⁻¹ V y.
            for i in (0..k_used).rev() {
                let mut s = self.g[i];
                for j in i + 1..k_used {
                    s -= self.h[j * (m + 1) + i] * self.y[j];
                }
                let d = self.h[i * (m + 1) + i];
                self.y[i] = if d == R::zero() { R::zero() } else { s / d };
            }
            self.z.iter_mut().for_each(|z| *z = R::zero());
            for (j, &yj) in self.y.iter().enumerate().take(k_used) {
                for (zi, vi) in self.z.iter_mut().zip(&self.v[j * n..(j + 1) * n]) {
                    *zi += yj * *vi;
                }
            }
            if let Some(pc) = precond.as_mut() {
                pc(&mut self.z);
            }
            for (xi, zi) in x.iter_mut().zip(&self.z) {
                *xi += *zi;
            }
        }
    }
}

/// A rotation `[c s; −s c]` taking `(a, b)` to `(r, 0)`, without overflow.
fn givens<R: Real>(a: R, b: R) -> (R, R) {
    if b == R::zero() {
        (R::one(), R::zero())
    } else if b.abs() > a.abs() {
        let t = a / b;
        let s = R::one() / (R::one() + t * t).sqrt();
        (s * t, s)
    } else {
        let t = b / a;
        let c = R::one() / (R::one() + t * t).sqrt();
        (c, c * t)
    }
}

fn dot<R: Real>(a: &[R], b: &[R]) -> R {
    a.iter().zip(b).fold(R::zero(), |s, (x, y)| s + *x * *y)
}

fn norm<R: Real>(a: &[R]) -> R {
    dot(a, a).sqrt()
}
