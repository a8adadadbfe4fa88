//! How an implicit method solves with its iteration matrix `W = M − γ·J`.
//!
//! `J = ∂f/∂u` at a linearisation point, `M` the mass matrix (the identity when the problem has
//! none) and `γ = h·γ_method`. A strategy says where `J` comes from and how `W` is solved with,
//! and its implementation names the capability of the field it needs: a dense Jacobian
//! ([`DenseSolve`]), a sparse one ([`SparseSolve`]), Jacobian-vector products for Jacobian-free GMRES ([`KrylovSolve`]).
//! A field without that capability is a compile error; wrap it in a provider
//! (`sciml_core::ForwardAd` for exact derivatives, `sciml_core::FiniteDiff` for differences).

use crate::method::StepFailure;
use sciml_core::linalg::{DenseLu, Gmres, LinalgReal, SparseLu, SparseMatrix};
use sciml_core::{DenseMatrix, Jacobian, Jvp, Re, Scalar, SparseJacobian, Stats, VectorField};
use std::sync::Arc;

/// A way of forming and solving `W = M − γ·J`.
pub trait LinearStrategy<F: VectorField>: Clone + Send + Sync + std::fmt::Debug {
    /// Matrices, factorisations and scratch.
    type Cache: Clone + Send;
    /// Builds the buffers for states shaped like `u0`.
    fn cache(&self, f: &F, u0: &F::V) -> Self::Cache;
    /// Evaluates (or, matrix-free, records the point of) `J` at `(t, u)`.
    fn update_jacobian(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        t: Re<F::V>,
        u: &F::V,
        p: &F::P,
        stats: &mut Stats,
    );
    /// Forms `W = M − γ·J` with the current `J` and factorises it.
    fn factorise(
        &self,
        c: &mut Self::Cache,
        gamma: Re<F::V>,
        mass: Option<&DenseMatrix<Re<F::V>>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// Solves `W x = b` in place.
    fn solve(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        b: &mut F::V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// `out = J·v` with the current `J` (Newton's convergence tests and the BDF predictor use it
    /// rarely; matrix-free strategies call the field's JVP).
    fn jac_mul(&self, c: &mut Self::Cache, f: &mut F, p: &F::P, v: &F::V, out: &mut F::V);
}

/// A dense Jacobian from the field (`sciml_core::Jacobian`) and a dense LU of `W`
/// (`sciml_core::linalg::DenseLu`: a small in-crate kernel for small systems, faer's blocked
/// factorisation for large ones).
#[derive(Clone, Copy, Debug, Default)]
pub struct DenseSolve;

/// Buffers of [`DenseSolve`].
#[derive(Clone, Debug)]
pub struct DenseSolveCache<R: LinalgReal> {
    j: DenseMatrix<R>,
    w: DenseMatrix<R>,
    lu: DenseLu<R>,
}

impl<R, F> LinearStrategy<F> for DenseSolve
where
    R: LinalgReal + Scalar<Re = R>,
    F: Jacobian<V = Vec<R>>,
{
    type Cache = DenseSolveCache<R>;

    fn cache(&self, _f: &F, u0: &Vec<R>) -> DenseSolveCache<R> {
        let n = u0.len();
        DenseSolveCache {
            j: DenseMatrix::zeros(n, n),
            w: DenseMatrix::zeros(n, n),
            lu: DenseLu::new(n),
        }
    }

    fn update_jacobian(
        &self,
        c: &mut DenseSolveCache<R>,
        f: &mut F,
        t: R,
        u: &Vec<R>,
        p: &F::P,
        stats: &mut Stats,
    ) {
        f.jacobian(t, u, p, &mut c.j);
        stats.njac += 1;
    }

    fn factorise(
        &self,
        c: &mut DenseSolveCache<R>,
        gamma: R,
        mass: Option<&DenseMatrix<R>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let n = c.j.nrows();
        for col in 0..n {
            let jc = c.j.col(col);
            let wc = c.w.col_mut(col);
            for (w, j) in wc.iter_mut().zip(jc) {
                *w = -gamma * *j;
            }
            match mass {
                Some(m) => {
                    for (w, mm) in wc.iter_mut().zip(m.col(col)) {
                        *w += *mm;
                    }
                }
                None => wc[col] += R::one(),
            }
        }
        stats.nfactor += 1;
        c.lu.factor(&c.w).map_err(|_| StepFailure::LinearSolve)
    }

    fn solve(
        &self,
        c: &mut DenseSolveCache<R>,
        _f: &mut F,
        _p: &F::P,
        b: &mut Vec<R>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        stats.nlinsolve += 1;
        c.lu.solve_in_place(b).map_err(|_| StepFailure::LinearSolve)
    }

    fn jac_mul(
        &self,
        c: &mut DenseSolveCache<R>,
        _f: &mut F,
        _p: &F::P,
        v: &Vec<R>,
        out: &mut Vec<R>,
    ) {
        c.j.mul_vec_to(v, out);
    }
}

/// Jacobian-free Newton–Krylov: `W v = M v − γ J v` with `J v` from the field's JVP (dual numbers
/// through `sciml_core::ForwardAd`, or differences through `sciml_core::FiniteDiff`), solved by
/// restarted GMRES. No matrix is formed, so memory stays linear in the state size.
#[derive(Clone, Debug)]
pub struct KrylovSolve {
    /// Krylov dimension before a restart.
    pub restart: usize,
    /// Most GMRES iterations per solve.
    pub max_iters: usize,
    /// Relative residual tolerance of each linear solve (a loose solve is enough inside Newton).
    pub rtol: f64,
}

impl Default for KrylovSolve {
    fn default() -> Self {
        KrylovSolve {
            restart: 30,
            max_iters: 300,
            rtol: 1e-6,
        }
    }
}

/// Buffers of [`KrylovSolve`].
#[derive(Clone, Debug)]
pub struct KrylovCache<R: LinalgReal> {
    t: R,
    u: Vec<R>,
    gamma: R,
    mass: Option<DenseMatrix<R>>,
    gmres: Gmres<R>,
    x: Vec<R>,
    vin: Vec<R>,
    vout: Vec<R>,
}

impl<R, F> LinearStrategy<F> for KrylovSolve
where
    R: LinalgReal + Scalar<Re = R>,
    F: Jvp<V = Vec<R>>,
{
    type Cache = KrylovCache<R>;

    fn cache(&self, _f: &F, u0: &Vec<R>) -> KrylovCache<R> {
        let n = u0.len();
        let mut gmres = Gmres::new(n, self.restart.max(1));
        gmres.max_iters = self.max_iters;
        gmres.rtol = R::c(self.rtol);
        gmres.atol = R::zero();
        KrylovCache {
            t: R::zero(),
            u: u0.clone(),
            gamma: R::zero(),
            mass: None,
            gmres,
            x: vec![R::zero(); n],
            vin: vec![R::zero(); n],
            vout: vec![R::zero(); n],
        }
    }

    fn update_jacobian(
        &self,
        c: &mut KrylovCache<R>,
        _f: &mut F,
        t: R,
        u: &Vec<R>,
        _p: &F::P,
        stats: &mut Stats,
    ) {
        c.t = t;
        c.u.copy_from_slice(u);
        stats.njac += 1;
    }

    fn factorise(
        &self,
        c: &mut KrylovCache<R>,
        gamma: R,
        mass: Option<&DenseMatrix<R>>,
        _stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        c.gamma = gamma;
        if c.mass.is_none() && mass.is_some() {
            c.mass = mass.cloned();
        }
        Ok(())
    }

    fn solve(
        &self,
        c: &mut KrylovCache<R>,
        f: &mut F,
        p: &F::P,
        b: &mut Vec<R>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let KrylovCache {
            t,
            u,
            gamma,
            mass,
            gmres,
            x,
            vin,
            vout,
        } = c;
        x.iter_mut().for_each(|v| *v = R::zero());
        let mut njvp = 0usize;
        let mut matvec = |v: &[R], out: &mut [R]| {
            vin.copy_from_slice(v);
            f.jvp_u(*t, u, p, vin, vout);
            njvp += 1;
            match mass.as_ref() {
                Some(m) => m.mul_vec_to(v, out),
                None => out.copy_from_slice(v),
            }
            for (o, jv) in out.iter_mut().zip(vout.iter()) {
                *o -= *gamma * *jv;
            }
        };
        let res = gmres.solve(&mut matvec, None, b, x);
        stats.nlinsolve += 1;
        stats.nf += njvp;
        match res {
            Ok(_) => {
                b.copy_from_slice(x);
                Ok(())
            }
            Err(_) => Err(StepFailure::LinearSolve),
        }
    }

    fn jac_mul(&self, c: &mut KrylovCache<R>, f: &mut F, p: &F::P, v: &Vec<R>, out: &mut Vec<R>) {
        f.jvp_u(c.t, &c.u, p, v, out);
    }
}

/// A sparse Jacobian from the field (`sciml_core::SparseJacobian`: coloured dual numbers through
/// `sciml_core::SparseAd`, coloured differences through `sciml_core::SparseFd`, or the user's)
/// and a sparse LU of `W` through faer, whose symbolic analysis is done once per solve and
/// reused by every factorisation. Mass matrices must be diagonal (or absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct SparseSolve;

/// Buffers of [`SparseSolve`].
#[derive(Debug)]
pub struct SparseSolveCache<R: LinalgReal> {
    j: SparseMatrix<R>,
    w: SparseMatrix<R>,
    /// `None` when the symbolic analysis failed (reported at the first factorisation).
    lu: Option<SparseLu<R>>,
}

impl<R: LinalgReal> Clone for SparseSolveCache<R> {
    /// A copy with the same matrices and a fresh symbolic analysis; the numeric factorisation is
    /// not copied (faer's scratch is not shareable), so the copy refactorises before solving.
    fn clone(&self) -> Self {
        SparseSolveCache {
            j: self.j.clone(),
            w: self.w.clone(),
            lu: SparseLu::new(self.w.pattern()).ok(),
        }
    }
}

impl<R, F> LinearStrategy<F> for SparseSolve
where
    R: LinalgReal + Scalar<Re = R>,
    F: SparseJacobian<V = Vec<R>>,
{
    type Cache = SparseSolveCache<R>;

    fn cache(&self, f: &F, _u0: &Vec<R>) -> SparseSolveCache<R> {
        let jp = f.jacobian_pattern().clone();
        let wp = Arc::new(jp.with_diagonal());
        let lu = SparseLu::new(&wp).ok();
        SparseSolveCache {
            j: SparseMatrix::zeros(jp),
            w: SparseMatrix::zeros(wp),
            lu,
        }
    }

    fn update_jacobian(
        &self,
        c: &mut SparseSolveCache<R>,
        f: &mut F,
        t: R,
        u: &Vec<R>,
        p: &F::P,
        stats: &mut Stats,
    ) {
        f.sparse_jacobian(t, u, p, &mut c.j);
        stats.njac += 1;
    }

    fn factorise(
        &self,
        c: &mut SparseSolveCache<R>,
        gamma: R,
        mass: Option<&DenseMatrix<R>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        c.w.set_identity_minus_scaled(gamma, &c.j)
            .map_err(|_| StepFailure::LinearSolve)?;
        if let Some(m) = mass {
            let n = m.nrows();
            for col in 0..n {
                for (row, v) in m.col(col).iter().enumerate() {
                    if row != col && *v != R::zero() {
                        return Err(StepFailure::LinearSolve);
                    }
                }
                let d = c.w.get(col, col) - R::one() + m[(col, col)];
                c.w.set(col, col, d).map_err(|_| StepFailure::LinearSolve)?;
            }
        }
        stats.nfactor += 1;
        match c.lu.as_mut() {
            Some(lu) => lu.factor(&c.w).map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }

    fn solve(
        &self,
        c: &mut SparseSolveCache<R>,
        _f: &mut F,
        _p: &F::P,
        b: &mut Vec<R>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        stats.nlinsolve += 1;
        match c.lu.as_ref() {
            Some(lu) => lu.solve_in_place(b).map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }

    fn jac_mul(
        &self,
        c: &mut SparseSolveCache<R>,
        _f: &mut F,
        _p: &F::P,
        v: &Vec<R>,
        out: &mut Vec<R>,
    ) {
        c.j.mul_vec_to(v, out);
    }
}
