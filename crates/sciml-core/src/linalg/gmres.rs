//! Restarted GMRES(m) with right preconditioning (Saad and Schultz, SIAM J. Sci. Stat. Comput. 7,
//! 1986; Saad, "Iterative Methods for Sparse Linear Systems", 2nd ed., SIAM 2003, Alg. 9.5).
//!
//! One implementation, [`StateGmres`], over any state with an inner product
//! ([`InnerProduct`]: host slices, [`crate::Pair`]s of them, a device vector); [`Gmres`] is its
//! face for slices.

use super::LinearError;
use crate::scalar::Real;
use crate::scalar::{One, Scalar, Zero};
use crate::state::{InnerProduct, Re};

/// A right preconditioner for [`Gmres::solve`]: applies `M⁻¹` to a vector in place.
pub type Preconditioner<'a, R> = &'a mut dyn FnMut(&mut [R]);

/// A right preconditioner for [`StateGmres::solve`]: applies `M⁻¹` to a state in place.
pub type StatePreconditioner<'a, V> = &'a mut dyn FnMut(&mut V);

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

/// Restarted GMRES(m) over states: solves `A x = b` given only `v ↦ A v`, minimising the
/// residual over a Krylov space of dimension at most `restart` before restarting from the
/// current iterate.
///
/// Right preconditioning (`A M⁻¹ y = b`, `x = M⁻¹ y`) keeps the residual that is minimised and
/// tested the true one. The Arnoldi basis is orthogonalised by modified Gram–Schmidt with one
/// reorthogonalisation pass when cancellation is detected (‖w‖ drops below 0.7 of its size before
/// orthogonalisation, the Daniel–Gragg–Kaufman–Stewart criterion); the Hessenberg least-squares
/// problem is reduced by Givens rotations, so the residual norm of each iteration is known
/// without forming `x`. The basis and all work states are allocated in [`StateGmres::new`];
/// a solve allocates nothing. Every vector operation is the state's own (`dot`, `axpy`,
/// `scale`, `copy_from`), so states that live elsewhere (a device) never leave it.
///
/// Convergence: `‖b − A x‖₂ ≤ max(rtol · ‖b‖₂, atol)`.
///
/// ```
/// use sciml_core::linalg::StateGmres;
/// use sciml_core::Pair;
/// // A = [[4, 1], [2, 3]] on a state split in two halves; b = A · [1, 2] = [6, 8].
/// let b = Pair(vec![6.0], vec![8.0]);
/// let mut gm = StateGmres::new(&b, 2);
/// gm.rtol = 1e-12;
/// let mut x = Pair(vec![0.0], vec![0.0]);
/// let mut av = |v: &Pair<Vec<f64>, Vec<f64>>, out: &mut Pair<Vec<f64>, Vec<f64>>| {
///     out.0[0] = 4.0 * v.0[0] + v.1[0];
///     out.1[0] = 2.0 * v.0[0] + 3.0 * v.1[0];
/// };
/// gm.solve(&mut av, None, &b, &mut x).unwrap();
/// assert!((x.0[0] - 1.0).abs() < 1e-10 && (x.1[0] - 2.0).abs() < 1e-10);
/// ```
#[derive(Clone, Debug)]
pub struct StateGmres<V: InnerProduct> {
    m: usize,
    /// Most Krylov iterations in total, over all restarts (default 1000).
    pub max_iters: usize,
    /// Relative tolerance on the residual, against `‖b‖₂` (default `√ε`).
    pub rtol: Re<V>,
    /// Absolute tolerance on the residual (default 0).
    pub atol: Re<V>,
    /// Arnoldi basis, `m + 1` states.
    v: Vec<V>,
    /// Hessenberg matrix, column-major `(m + 1) × m`.
    h: Vec<Re<V>>,
    cs: Vec<Re<V>>,
    sn: Vec<Re<V>>,
    g: Vec<Re<V>>,
    y: Vec<Re<V>>,
    w: V,
    z: V,
}

impl<V: InnerProduct> StateGmres<V> {
    /// GMRES for states shaped like `like`, restarting every `restart` iterations (at least 1).
    pub fn new(like: &V, restart: usize) -> Self {
        let m = restart.max(1);
        let zero = Re::<V>::zero();
        let z = like.zeros_like();
        StateGmres {
            m,
            max_iters: 1000,
            rtol: Re::<V>::epsilon().sqrt(),
            atol: zero,
            v: vec![z.clone(); m + 1],
            h: vec![zero; (m + 1) * m],
            cs: vec![zero; m],
            sn: vec![zero; m],
            g: vec![zero; m + 1],
            y: vec![zero; m],
            w: z.clone(),
            z,
        }
    }
    /// The system size.
    pub fn n(&self) -> usize {
        self.w.len()
    }
    /// The restart length `m`.
    pub fn restart(&self) -> usize {
        self.m
    }

    /// Solves `A x = b` with `matvec(v, out)` writing `out = A v` and `precond(v)` applying `M⁻¹`
    /// in place (`None`: no preconditioner). `x` holds the initial guess on input and the
    /// solution on output. Allocation-free.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `b` or `x` is not of the size given to
    /// [`StateGmres::new`]; [`LinearError::NonFinite`] if `b`, the initial guess or a product is
    /// not finite; [`LinearError::NotConverged`] after `max_iters` iterations (`x` then holds the
    /// last iterate, whose residual is reported).
    pub fn solve(
        &mut self,
        matvec: &mut impl FnMut(&V, &mut V),
        mut precond: Option<StatePreconditioner<'_, V>>,
        b: &V,
        x: &mut V,
    ) -> Result<GmresStats<Re<V>>, LinearError> {
        let (n, m) = (self.n(), self.m);
        for len in [b.len(), x.len()] {
            if len != n {
                return Err(LinearError::Dimension {
                    expected: n,
                    got: len,
                });
            }
        }
        let one = Re::<V>::one();
        let bnorm = b.norm2();
        if !bnorm.is_finite() || !x.norm2().is_finite() {
            return Err(LinearError::NonFinite);
        }
        let tol = (self.rtol * bnorm).max(self.atol);
        let mut st = GmresStats {
            iterations: 0,
            restarts: 0,
            matvecs: 0,
            residual: Re::<V>::zero(),
        };
        loop {
            // True residual r = b − A x into v₀ (−(A x) + b: the same rounding as b − A x).
            matvec(x, &mut self.v[0]);
            st.matvecs += 1;
            self.v[0].scale(-one);
            self.v[0].axpy(one, b);
            let beta = self.v[0].norm2();
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
            self.v[0].scale(one / beta);
            self.g.iter_mut().for_each(|g| *g = Re::<V>::zero());
            self.g[0] = beta;
            let mut k_used = 0;
            for k in 0..m {
                // w = A M⁻¹ v_k.
                self.z.copy_from(&self.v[k]);
                if let Some(pc) = precond.as_mut() {
                    pc(&mut self.z);
                }
                matvec(&self.z, &mut self.w);
                st.matvecs += 1;
                st.iterations += 1;
                k_used = k + 1;
                let hcol = &mut self.h[k * (m + 1)..(k + 1) * (m + 1)];
                hcol.iter_mut().for_each(|h| *h = Re::<V>::zero());
                let w0 = self.w.norm2();
                for pass in 0..2 {
                    for (i, hi) in hcol.iter_mut().enumerate().take(k + 1) {
                        let c = self.w.dot(&self.v[i]);
                        *hi += c;
                        self.w.axpy(-c, &self.v[i]);
                    }
                    // Reorthogonalise only if the first pass cancelled heavily.
                    if pass == 0 && self.w.norm2() > Re::<V>::c(0.7) * w0 {
                        break;
                    }
                }
                let hn = self.w.norm2();
                if !hn.is_finite() {
                    return Err(LinearError::NonFinite);
                }
                hcol[k + 1] = hn;
                if hn > Re::<V>::zero() {
                    self.v[k + 1].copy_from(&self.w);
                    self.v[k + 1].scale(one / hn);
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
                hcol[k + 1] = Re::<V>::zero();
                self.g[k + 1] = -s * self.g[k];
                self.g[k] *= c;
                let res = self.g[k + 1].abs();
                // Stop the cycle on convergence of the estimate, the iteration limit, or a
                // (lucky) breakdown where the Krylov space is invariant and the solution exact.
                if res <= tol || st.iterations >= self.max_iters || hn == Re::<V>::zero() {
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
                self.y[i] = if d == Re::<V>::zero() {
                    Re::<V>::zero()
                } else {
                    s / d
                };
            }
            self.z.fill_zero();
            for (j, &yj) in self.y.iter().enumerate().take(k_used) {
                self.z.axpy(yj, &self.v[j]);
            }
            if let Some(pc) = precond.as_mut() {
                pc(&mut self.z);
            }
            x.axpy(one, &self.z);
        }
    }
}

/// Restarted GMRES(m) on slices: [`StateGmres`] over `Vec<R>` (module docs), with the right-hand
/// side and the iterate copied in and out.
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
    /// Most Krylov iterations in total, over all restarts (default 1000).
    pub max_iters: usize,
    /// Relative tolerance on the residual, against `‖b‖₂` (default `√ε`).
    pub rtol: R,
    /// Absolute tolerance on the residual (default 0).
    pub atol: R,
    inner: StateGmres<Vec<R>>,
    b: Vec<R>,
    x: Vec<R>,
}

impl<R: Real> Gmres<R> {
    /// GMRES for systems of size `n`, restarting every `restart` iterations (at least 1).
    pub fn new(n: usize, restart: usize) -> Self {
        let z = vec![R::zero(); n];
        let inner = StateGmres::new(&z, restart);
        Gmres {
            max_iters: inner.max_iters,
            rtol: inner.rtol,
            atol: inner.atol,
            inner,
            b: z.clone(),
            x: z,
        }
    }
    /// The system size.
    pub fn n(&self) -> usize {
        self.b.len()
    }
    /// The restart length `m`.
    pub fn restart(&self) -> usize {
        self.inner.restart()
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
        precond: Option<Preconditioner<'_, R>>,
        b: &[R],
        x: &mut [R],
    ) -> Result<GmresStats<R>, LinearError> {
        let n = self.n();
        for len in [b.len(), x.len()] {
            if len != n {
                return Err(LinearError::Dimension {
                    expected: n,
                    got: len,
                });
            }
        }
        self.inner.max_iters = self.max_iters;
        self.inner.rtol = self.rtol;
        self.inner.atol = self.atol;
        self.b.copy_from_slice(b);
        self.x.copy_from_slice(x);
        let mut mv = |v: &Vec<R>, out: &mut Vec<R>| matvec(v.as_slice(), out.as_mut_slice());
        let res = match precond {
            Some(pc) => {
                let mut apply = |v: &mut Vec<R>| pc(v.as_mut_slice());
                self.inner
                    .solve(&mut mv, Some(&mut apply), &self.b, &mut self.x)
            }
            None => self.inner.solve(&mut mv, None, &self.b, &mut self.x),
        };
        // The last iterate is the caller's on failure too.
        x.copy_from_slice(&self.x);
        res
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
