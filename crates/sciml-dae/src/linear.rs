//! How the DAE solver solves with its iteration matrices: sciml-ode's linear strategies, seen
//! through a residual's two Jacobians.
//!
//! Every matrix the crate solves with is `W = ∂F/∂u·D_u + ∂F/∂u′·D_u′` at a linearisation point
//! `(t, u′, u)`, with diagonal column weights given by a [`DaeW`]:
//!
//! * a BDF step, and Shampine's initialisation step, `W = ∂F/∂u + α·∂F/∂u′` ([`DaeW::bdf`]);
//! * Brown's initialisation, column `i` of `∂F/∂u′` for a differential variable and of `∂F/∂u`
//!   for an algebraic one ([`DaeW::mixed`]).
//!
//! Strategies ([`DaeLinearSolver`]):
//!
//! * [`DenseSolve`]: both Jacobians as dense matrices ([`DaeJacobian`]) and sciml-ode's dense
//!   strategy, which forms `W` through its `WSpec` and factorises it. The discrete adjoint's
//!   transposed solves read the matrices, so it takes this strategy.
//! * sciml-ode's `SparseSolve`: both Jacobians on one sparse pattern
//!   ([`crate::DaeSparseJacobian`], by coloured products through [`crate::DaeColoured`]) and a
//!   sparse LU of `W` (module [`crate::sparse`]).
//! * [`KrylovSolve`]: Jacobian-free. `W v` is one directional derivative of the residual
//!   ([`DaeJvp`]: `∂F/∂u′·(D_u′ v) + ∂F/∂u·(D_u v)`, dual numbers through [`crate::DaeForwardAd`]
//!   or differences through [`crate::DaeFiniteDiff`]) and `W x = b` is solved by sciml-core's
//!   restarted GMRES, right-preconditioned by a [`DaePreconditioner`] if one is given (as IDA's
//!   SPGMR). No `n × n` matrix is formed, so memory stays linear in the size of the system.

use crate::function::{DaeFunction, DaeJacobian, DaeJvp};
use sciml_core::linalg::{Gmres, Preconditioner};
use sciml_core::{DenseMatrix, Jacobian, Stats, VectorField};
use sciml_ode::stiff::{
    DenseSolve, DenseSolveCache, KrylovSolve, LinearStrategy, NoPreconditioner, WSpec,
};
use sciml_ode::StepFailure;

/// The column weights of an iteration matrix `W = ∂F/∂u·D_u + ∂F/∂u′·D_u′` (module docs).
///
/// ```
/// use sciml_dae::linear::DaeW;
/// let w = DaeW::bdf(250.0);
/// assert_eq!((w.alpha, w.differential), (250.0, None));
/// let mask = [true, false];
/// assert!(DaeW::mixed(&mask).differential.is_some());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DaeW<'a> {
    /// The weight of `∂F/∂u′` (`D_u′ = α·I` when `differential` is `None`).
    pub alpha: f64,
    /// `Some(mask)`: column `i` is `∂F/∂u′·e_i` where `mask[i]`, else `∂F/∂u·e_i` (Brown's
    /// matrix; `alpha` is then not read).
    pub differential: Option<&'a [bool]>,
}

impl<'a> DaeW<'a> {
    /// `W = ∂F/∂u + α·∂F/∂u′`: a BDF step of coefficient `α = γ_k/h`.
    pub fn bdf(alpha: f64) -> Self {
        DaeW {
            alpha,
            differential: None,
        }
    }
    /// Brown's initialisation matrix: `∂F/∂u′` columns for the differential variables, `∂F/∂u`
    /// columns for the algebraic ones.
    pub fn mixed(differential: &'a [bool]) -> Self {
        DaeW {
            alpha: 1.0,
            differential: Some(differential),
        }
    }
}

/// A way of forming and solving the DAE's iteration matrices ([`DaeW`]) for residuals `F`.
///
/// Implemented by sciml-ode's [`DenseSolve`] (for residuals with [`DaeJacobian`]) and
/// [`KrylovSolve`] (for residuals with [`DaeJvp`]); chosen with
/// [`crate::DaeBdf::linear_solver`].
pub trait DaeLinearSolver<F: DaeFunction>: Clone + Send + Sync + std::fmt::Debug {
    /// Matrices, factorisations and scratch.
    type Cache: Send;
    /// Whether solves are iterative (a failure is then non-convergence, not necessarily a
    /// singular matrix); the default says direct.
    const ITERATIVE: bool = false;
    /// The error for a failed factorisation or solve at the start of a solve (time `t`):
    /// [`crate::DaeError::SingularIterationMatrix`] for a direct strategy,
    /// [`crate::DaeError::IterativeSolveFailed`] for an iterative one.
    fn start_failure(t: f64) -> crate::DaeError {
        if Self::ITERATIVE {
            crate::DaeError::IterativeSolveFailed { t }
        } else {
            crate::DaeError::SingularIterationMatrix { t }
        }
    }
    /// Buffers for the `n` equations of `f`.
    fn dae_cache(&self, f: &F, n: usize) -> Self::Cache;
    /// Checks the strategy's settings, once when a solve starts; the default has none.
    fn validate(&self) -> Result<(), sciml_core::Error> {
        Ok(())
    }
    /// Checks what the strategy assumes of `f` at the consistent start (the sparse strategy: its
    /// pattern); the default assumes nothing.
    fn check_start(
        &self,
        _f: &mut F,
        _t: f64,
        _du: &[f64],
        _u: &[f64],
        _p: &[f64],
    ) -> Result<(), crate::DaeError> {
        Ok(())
    }
    /// Which components' derivatives `F` reads at the point last linearised: `mask[i]` is
    /// `false` where column `i` of `∂F/∂u′` is zero there. `None` when the strategy keeps no
    /// matrix to read it from (the matrix-free strategy; the default).
    /// [`crate::DaeInit::ShampineCollocationInit`] zeroes the `u′` of those components.
    fn derivative_columns(&self, _c: &Self::Cache) -> Option<Vec<bool>> {
        None
    }
    /// Evaluates the Jacobians at `(t, du, u)` (matrix-free: records the point).
    ///
    /// # Errors
    /// `StepFailure::NonFinite` when a Jacobian entry is NaN or infinite (the caller must not
    /// keep them).
    #[allow(clippy::too_many_arguments)] // the residual's own arguments, plus the cache
    fn linearise(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// Forms `W` from the current Jacobians and factorises it (matrix-free: records `w`).
    fn factorise(
        &self,
        c: &mut Self::Cache,
        w: DaeW<'_>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// Solves `W x = b` in place.
    fn solve(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &[f64],
        b: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// Sets the 2-norm of a residual `b − W x` that counts as solved whatever the relative test
    /// (IDA's linear tolerance for the Newton iteration: a correction smaller than the error
    /// weights need not be resolved further); `0` (the start) restores the relative test alone.
    /// `KrylovSolve` stops there when its products are differences, whose noise a relative test
    /// on a tiny right-hand side cannot get under; direct strategies ignore it (the default).
    fn set_residual_floor(&self, _c: &mut Self::Cache, _floor: f64) {}
    /// Writes `∂F/∂u′·dir.0 + ∂F/∂u·dir.1` at the last linearisation point into `out`, from
    /// what the strategy holds there: the dense or sparse Jacobians, or (Krylov) one directional
    /// derivative of `f`. Forward sensitivities step with it.
    #[allow(clippy::too_many_arguments)] // the residual's parameters, a direction and the output
    fn jacobian_product(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
}

/// What the discrete adjoint's reverse sweep needs of a strategy besides [`DaeLinearSolver`]:
/// solves with `Wᵀ` and products with the transposed Jacobians at the linearisation point.
/// Implemented by the direct strategies, [`DenseSolve`] and sciml-ode's `SparseSolve`; the
/// Jacobian-free one has no transposed products, so the adjoint does not take it (a compile
/// error).
///
/// ```
/// use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
/// use sciml_ode::SolveOptions;
/// let f = DaeClosure::new(1, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0];
/// });
/// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![-1.0], vec![1.0], (0.0, 1.0),
///     vec![], None)?;
/// let (sol, tape) = prob.solve_with_tape(DaeBdf::new(), DaeInit::CheckInit, &SolveOptions::default())?;
/// let g = prob.discrete_adjoint(&tape, &vec![vec![1.0]; sol.u.len()])?;
/// assert!(g.u0[0] > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The same with GMRES does not compile:
///
/// ```compile_fail
/// use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
/// use sciml_ode::{stiff::KrylovSolve, SolveOptions};
/// let f = DaeClosure::new(1, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0];
/// });
/// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![-1.0], vec![1.0], (0.0, 1.0),
///     vec![], None)?;
/// let method = DaeBdf::new().linear_solver(KrylovSolve::default());
/// let (sol, tape) = prob.solve_with_tape(method, DaeInit::CheckInit, &SolveOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot reverse DAE steps: the discrete adjoint needs a direct strategy",
    note = "use `DenseSolve` (the default) or `SparseSolve` with a `DaeSparseJacobian` residual \
            (e.g. `DaeColoured`); GMRES has no transposed products, so take forward sensitivities \
            with it instead"
)]
pub trait DaeTransposeSolver<F: DaeFunction>: DaeLinearSolver<F> {
    /// Solves `Wᵀ x = b` in place with the last factorisation.
    fn solve_transpose(&self, c: &mut Self::Cache, b: &mut [f64]) -> Result<(), StepFailure>;
    /// Writes `∂F/∂u′ᵀ·y` into `du_bar` and `∂F/∂uᵀ·y` into `u_bar` at the last linearisation
    /// point.
    fn jacobian_transpose_products(
        &self,
        c: &Self::Cache,
        y: &[f64],
        du_bar: &mut [f64],
        u_bar: &mut [f64],
    ) -> Result<(), StepFailure>;
}

impl<F: DaeJacobian> DaeTransposeSolver<F> for DenseSolve {
    fn solve_transpose(&self, c: &mut DaeDenseCache, b: &mut [f64]) -> Result<(), StepFailure> {
        c.lc.factorisation()
            .solve_transpose_in_place(b)
            .map_err(|_| StepFailure::LinearSolve)
    }
    fn jacobian_transpose_products(
        &self,
        c: &DaeDenseCache,
        y: &[f64],
        du_bar: &mut [f64],
        u_bar: &mut [f64],
    ) -> Result<(), StepFailure> {
        check_lengths(c.dfddu.nrows(), &[y.len(), du_bar.len(), u_bar.len()])?;
        du_bar.iter_mut().for_each(|x| *x = 0.0);
        u_bar.iter_mut().for_each(|x| *x = 0.0);
        c.dfddu.tr_mul_vec_add(y, du_bar);
        c.jac.j.tr_mul_vec_add(y, u_bar);
        Ok(())
    }
}

/// The strategies' products take buffers of the system's size `n` only: `Err` otherwise.
pub(crate) fn check_lengths(n: usize, lengths: &[usize]) -> Result<(), StepFailure> {
    if lengths.iter().all(|l| *l == n) {
        Ok(())
    } else {
        Err(StepFailure::LinearSolve)
    }
}

/// `∂F/∂u` evaluated by the DAE code, lent to sciml-ode's dense strategy as the `J` of a field.
#[derive(Clone, Debug)]
pub(crate) struct HeldJacobian {
    pub(crate) j: DenseMatrix<f64>,
}

impl VectorField for HeldJacobian {
    type V = Vec<f64>;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        (self.j.nrows(), 0)
    }
    /// Not a vector field: only its Jacobian is read (by the linear strategy).
    fn rhs(&mut self, _t: f64, _u: &Vec<f64>, _p: &Vec<f64>, du: &mut Vec<f64>) {
        du.iter_mut().for_each(|x| *x = f64::NAN);
    }
}

impl Jacobian for HeldJacobian {
    const EXACT: bool = true;
    fn jacobian(&mut self, _t: f64, _u: &Vec<f64>, _p: &Vec<f64>, j: &mut DenseMatrix<f64>) {
        j.as_mut_slice().copy_from_slice(self.j.as_slice());
    }
}

/// Buffers of [`DenseSolve`] for a DAE: both Jacobians and the dense strategy's factorisation.
#[derive(Clone, Debug)]
pub struct DaeDenseCache {
    lc: DenseSolveCache<f64>,
    /// `∂F/∂u` (the `J` the dense strategy reads).
    jac: HeldJacobian,
    /// `∂F/∂u′`.
    dfddu: DenseMatrix<f64>,
    /// Brown's mixed matrix, when one is asked for (lent to the dense strategy as its `J`).
    mixed: HeldJacobian,
    no_p: Vec<f64>,
}

impl<F: DaeJacobian> DaeLinearSolver<F> for DenseSolve {
    type Cache = DaeDenseCache;
    fn dae_cache(&self, _f: &F, n: usize) -> DaeDenseCache {
        let jac = HeldJacobian {
            j: DenseMatrix::zeros(n, n),
        };
        let lc = LinearStrategy::<HeldJacobian>::cache(&DenseSolve, &jac, &vec![0.0; n]);
        DaeDenseCache {
            lc,
            jac,
            dfddu: DenseMatrix::zeros(n, n),
            mixed: HeldJacobian {
                j: DenseMatrix::zeros(0, 0),
            },
            no_p: Vec::new(),
        }
    }

    fn derivative_columns(&self, c: &DaeDenseCache) -> Option<Vec<bool>> {
        let n = c.dfddu.ncols();
        Some(
            (0..n)
                .map(|j| c.dfddu.col(j).iter().any(|x| *x != 0.0))
                .collect(),
        )
    }

    fn linearise(
        &self,
        c: &mut DaeDenseCache,
        f: &mut F,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        f.jacobians(t, du, u, p, &mut c.jac.j, &mut c.dfddu);
        // The held point is not read: `HeldJacobian` hands over the matrix just evaluated.
        LinearStrategy::<HeldJacobian>::update_jacobian(
            &DenseSolve,
            &mut c.lc,
            &mut c.jac,
            t,
            &c.no_p,
            &c.no_p,
            stats,
        );
        let finite = |m: &DenseMatrix<f64>| m.as_slice().iter().all(|x| x.is_finite());
        if finite(&c.jac.j) && finite(&c.dfddu) {
            Ok(())
        } else {
            Err(StepFailure::NonFinite)
        }
    }

    fn factorise(
        &self,
        c: &mut DaeDenseCache,
        w: DaeW<'_>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        match w.differential {
            None => {
                let spec = WSpec {
                    alpha: w.alpha,
                    a: Some(&c.dfddu),
                    beta: 1.0,
                };
                LinearStrategy::<HeldJacobian>::factorise(&DenseSolve, &mut c.lc, spec, stats)
            }
            Some(mask) => {
                // The mixed matrix goes in as `J` of `W = 0·I + 1·J` (exact: `J·1 + 0`); then
                // the strategy's `J` is `∂F/∂u` again for whatever comes next. The two copies
                // are not Jacobian evaluations: they count in a scratch `Stats`.
                let n = c.dfddu.nrows();
                if mask.len() != n {
                    return Err(StepFailure::LinearSolve);
                }
                if c.mixed.j.nrows() != n {
                    c.mixed.j = DenseMatrix::zeros(n, n);
                }
                for (i, d) in mask.iter().enumerate() {
                    let src = if *d { &c.dfddu } else { &c.jac.j };
                    c.mixed.j.col_mut(i).copy_from_slice(src.col(i));
                }
                let (no_p, mut copies) = (&c.no_p, Stats::default());
                let ds = &DenseSolve;
                LinearStrategy::<HeldJacobian>::update_jacobian(
                    ds,
                    &mut c.lc,
                    &mut c.mixed,
                    0.0,
                    no_p,
                    no_p,
                    &mut copies,
                );
                let spec = WSpec {
                    alpha: 0.0,
                    a: None,
                    beta: 1.0,
                };
                let res = LinearStrategy::<HeldJacobian>::factorise(ds, &mut c.lc, spec, stats);
                LinearStrategy::<HeldJacobian>::update_jacobian(
                    ds,
                    &mut c.lc,
                    &mut c.jac,
                    0.0,
                    no_p,
                    no_p,
                    &mut copies,
                );
                res
            }
        }
    }

    fn solve(
        &self,
        c: &mut DaeDenseCache,
        _f: &mut F,
        _p: &[f64],
        b: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        LinearStrategy::<HeldJacobian>::solve(&DenseSolve, &mut c.lc, &mut c.jac, &c.no_p, b, stats)
    }

    fn jacobian_product(
        &self,
        c: &mut DaeDenseCache,
        _f: &mut F,
        _p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
        _stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        check_lengths(c.dfddu.nrows(), &[dir.0.len(), dir.1.len(), out.len()])?;
        c.dfddu.mul_vec_to(dir.0, out);
        c.jac.j.mul_vec_add(dir.1, out);
        Ok(())
    }
}

/// A preconditioner for [`KrylovSolve`] on a DAE: an approximation of `W⁻¹` for the BDF's
/// `W = ∂F/∂u + α·∂F/∂u′` (IDA's `psetup`/`psolve` pair).
///
/// `setup` is called whenever the iteration matrix changes (a new linearisation point or a new
/// `α`); `apply` then replaces `v` by `P⁻¹ v` (right preconditioning) inside every GMRES solve.
/// The consistent initialisation's matrices are solved unpreconditioned.
///
/// ```
/// use sciml_dae::linear::DaePreconditioner;
/// /// Jacobi for u′ = −k·u written as u′ + k·u = 0: W = (k + α)·I.
/// #[derive(Clone, Debug)]
/// struct Jacobi { k: f64, d: f64 }
/// impl DaePreconditioner for Jacobi {
///     fn setup(&mut self, _t: f64, _du: &[f64], _u: &[f64], alpha: f64) { self.d = self.k + alpha; }
///     fn apply(&mut self, v: &mut [f64]) { v.iter_mut().for_each(|x| *x /= self.d); }
/// }
/// let mut pc = Jacobi { k: 2.0, d: 1.0 };
/// pc.setup(0.0, &[0.0], &[1.0], 3.0);
/// let mut v = [10.0];
/// pc.apply(&mut v);
/// assert_eq!(v, [2.0]);
/// ```
pub trait DaePreconditioner: Clone + Send + Sync + std::fmt::Debug {
    /// Prepares `P ≈ ∂F/∂u + α·∂F/∂u′` at `(t, du, u)`.
    fn setup(&mut self, t: f64, du: &[f64], u: &[f64], alpha: f64);
    /// `v ← P⁻¹ v`.
    fn apply(&mut self, v: &mut [f64]);
}

impl DaePreconditioner for NoPreconditioner {
    fn setup(&mut self, _t: f64, _du: &[f64], _u: &[f64], _alpha: f64) {}
    fn apply(&mut self, _v: &mut [f64]) {}
}

/// Buffers of [`KrylovSolve`] for a DAE.
#[derive(Clone, Debug)]
pub struct DaeKrylovCache<P> {
    t: f64,
    du: Vec<f64>,
    u: Vec<f64>,
    alpha: f64,
    /// Brown's column mask, and whether the current matrix is the mixed one.
    mask: Vec<bool>,
    mixed: bool,
    gmres: Gmres<f64>,
    x: Vec<f64>,
    /// The directions `(D_u′ v, D_u v)` of one product.
    ddu: Vec<f64>,
    dv: Vec<f64>,
    precond: Option<P>,
    /// Whether `precond` was set up for the current `(t, u′, u, α)`.
    fresh: bool,
}

impl<F: DaeJvp, P: DaePreconditioner> DaeLinearSolver<F> for KrylovSolve<P> {
    type Cache = DaeKrylovCache<P>;
    const ITERATIVE: bool = true;

    /// Only for inexact products (differences): exact ones reach GMRES's relative test, and
    /// without a floor a solve keeps its algebraic equations to that test (to rounding when it
    /// is tight) and a singular `W` fails as before.
    fn set_residual_floor(&self, c: &mut DaeKrylovCache<P>, floor: f64) {
        c.gmres.atol = if !F::EXACT && floor.is_finite() {
            floor.max(0.0)
        } else {
            0.0
        };
    }

    fn validate(&self) -> Result<(), sciml_core::Error> {
        KrylovSolve::validate(self)
    }
    fn dae_cache(&self, _f: &F, n: usize) -> DaeKrylovCache<P> {
        let mut gmres = Gmres::new(n, self.restart.max(1));
        gmres.max_iters = self.max_iters;
        gmres.rtol = self.rtol;
        gmres.atol = 0.0;
        DaeKrylovCache {
            t: 0.0,
            du: vec![0.0; n],
            u: vec![0.0; n],
            alpha: f64::NAN,
            mask: vec![false; n],
            mixed: false,
            gmres,
            x: vec![0.0; n],
            ddu: vec![0.0; n],
            dv: vec![0.0; n],
            precond: self.preconditioner.clone(),
            fresh: false,
        }
    }

    fn linearise(
        &self,
        c: &mut DaeKrylovCache<P>,
        _f: &mut F,
        t: f64,
        du: &[f64],
        u: &[f64],
        _p: &[f64],
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        c.t = t;
        c.du.copy_from_slice(du);
        c.u.copy_from_slice(u);
        c.fresh = false;
        stats.njac += 1;
        Ok(())
    }

    fn factorise(
        &self,
        c: &mut DaeKrylovCache<P>,
        w: DaeW<'_>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        match w.differential {
            Some(mask) => {
                if mask.len() != c.mask.len() {
                    return Err(StepFailure::LinearSolve);
                }
                c.mask.copy_from_slice(mask);
                c.mixed = true;
            }
            None => {
                if std::mem::take(&mut c.mixed) || w.alpha != c.alpha {
                    c.fresh = false;
                }
                c.alpha = w.alpha;
                if !c.fresh {
                    if let Some(pc) = c.precond.as_mut() {
                        pc.setup(c.t, &c.du, &c.u, w.alpha);
                    }
                    c.fresh = true;
                }
            }
        }
        stats.nfactor += 1;
        Ok(())
    }

    fn solve(
        &self,
        c: &mut DaeKrylovCache<P>,
        f: &mut F,
        p: &[f64],
        b: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let DaeKrylovCache {
            t,
            du,
            u,
            alpha,
            mask,
            mixed,
            gmres,
            x,
            ddu,
            dv,
            precond,
            ..
        } = c;
        x.iter_mut().for_each(|v| *v = 0.0);
        let mut njvp = 0usize;
        let mut matvec = |v: &[f64], out: &mut [f64]| {
            if *mixed {
                for (((a, b), vi), d) in ddu.iter_mut().zip(dv.iter_mut()).zip(v).zip(&*mask) {
                    (*a, *b) = if *d { (*vi, 0.0) } else { (0.0, *vi) };
                }
            } else {
                for ((a, b), vi) in ddu.iter_mut().zip(dv.iter_mut()).zip(v) {
                    (*a, *b) = (*alpha * vi, *vi);
                }
            }
            f.jvp(*t, du, u, p, (ddu, dv), out);
            njvp += 1;
        };
        let preconditioned = !*mixed && precond.is_some();
        let mut apply = |v: &mut [f64]| {
            if let Some(pc) = precond.as_mut() {
                pc.apply(v);
            }
        };
        let pc: Option<Preconditioner<'_, f64>> = if preconditioned {
            Some(&mut apply)
        } else {
            None
        };
        let res = gmres.solve(&mut matvec, pc, b, x);
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

    fn jacobian_product(
        &self,
        c: &mut DaeKrylovCache<P>,
        f: &mut F,
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        check_lengths(c.u.len(), &[dir.0.len(), dir.1.len(), out.len()])?;
        f.jvp(c.t, &c.du, &c.u, p, dir, out);
        stats.nf += 1;
        if out.iter().all(|x| x.is_finite()) {
            Ok(())
        } else {
            Err(StepFailure::NonFinite)
        }
    }
}
