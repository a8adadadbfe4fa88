//! Variable-order, variable-step BDF (orders 1 to 5) with a simplified Newton iteration.
//!
//! The formulation is the quasi-constant-step one of Shampine and Reichelt ("The MATLAB ODE
//! suite", SIAM J. Sci. Comput. 18, 1997, section 2.3; also L. F. Shampine, *Numerical Solution of
//! Ordinary Differential Equations*, 1994): the method keeps the modified divided (backward)
//! differences `D_0 … D_{k+2}` of the solution on an equally spaced grid of spacing `h`, and a
//! change of step size maps them onto the new spacing by the matrix product `R(ρ)·U`, where
//! `R(ρ)_{ij} = Π_{l=1}^{i} (l − 1 − ρ j)/l` and `U = R(1)`. A step of order `k` predicts
//! `y⁽⁰⁾ = Σ_{i≤k} D_i`, then solves
//!
//! `M (d + ψ) − (h/α_k) f(t + h, y⁽⁰⁾ + d) = 0`, `ψ = (1/α_k) Σ_{j=1}^{k} γ_j D_j`,
//!
//! with `γ_j = Σ_{i≤j} 1/i`, `α_k = γ_k` (plain BDF: the NDF parameter κ is zero), by simplified
//! Newton with `W = M − (h/α_k) J`. The local error estimate is `d/(k + 1)`; the estimates of
//! orders `k − 1` (`D_k`) and `k + 1` (`D_{k+2}`) after the update choose the next order once
//! `k + 1` steps have been taken with the same `h`. The step size is otherwise held fixed, which
//! keeps `W` factorised across steps.
//!
//! # Newton iteration and Jacobian reuse
//!
//! The convergence test is Hairer and Wanner's (*Solving ODEs II*, IV.8), as in CVODE and
//! diffsol: with the contraction rate `θ = ‖Δ_m‖/‖Δ_{m−1}‖` and `η = θ/(1 − θ)` the iteration
//! stops once `η‖Δ_m‖ < 0.2` (weighted RMS norm, tolerance units), and `η` carries over from one
//! step to the next (raised to 0.8), so a step whose prediction is already good takes a single
//! iteration. After `J` was re-evaluated or `h` changed, `η` is at least 20. `J` is
//! re-evaluated at the prediction when Newton fails to converge with a Jacobian from an earlier
//! step (the same step is then retried), and after 50 accepted steps with the same one (CVODE's
//! `MSBJ`); `W` is refactorised whenever `h/α_k` changes.
//!
//! The dense output of a step is the interpolating polynomial of the order used, written in the
//! monomial basis in `θ = (t − t_n)/h` each step: `u(θ) = u_n + h Σ_{j=1}^{5} θ^j v_j`.

use super::linear::{DenseSolve, LinearStrategy, WSpec};
use super::mass_mul_state;
use super::newton::{iterate, NewtonConvergence, Rate, Residual};
use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure, StepMemory};
use sciml_core::{One, Re, Real, Scalar, State, Stats, VectorField, Zero};
use std::sync::Arc;

/// Highest order.
pub const MAX_ORDER: usize = 5;
/// Newton iterations per attempt before the attempt counts as not converging (the default of
/// [`BdfNewton::max_iter`]).
const NEWTON_MAXITER: usize = 4;
/// The Newton iteration stops once its estimated remaining error `η‖Δ‖` (weighted RMS norm, in
/// tolerance units) is below this (diffsol's default; Hairer's codes use 0.03–0.1; the default
/// of [`BdfNewton::kappa`]).
const NEWTON_KAPPA: f64 = 0.2;
/// The least `η` (before the `^0.8`) the first iteration assumes after `J` was re-evaluated or
/// `h` changed, when the rate carried over from the previous step says little.
const ETA_RESET: f64 = 20.0;
/// `J` is re-evaluated after this many accepted steps with the same one (CVODE's `MSBJ`).
const JAC_MAX_AGE: usize = 50;
/// Bounds of the step-size factor after an error-test failure and after an accepted step.
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;

/// Variable-order (1–5), variable-step backward differentiation formulas in Shampine and
/// Reichelt's divided-difference form (see the module docs), with a simplified Newton iteration
/// that keeps `J` across steps (re-evaluating it after a convergence failure or 50 steps) and
/// refactorises `W = M − (h/α_k) J` only when `h/α_k` changes.
/// Integrates `M u' = f(t, u)` with a mass matrix.
///
/// The method chooses its own step size and order (through [`OdeMethod::suggest_step`]); the
/// integrator's PI controller is not used. [`OdeMethod::f_start`] holds `f(t0, u0)` from
/// `initialize` only: it is not re-evaluated after each step (the integrator only needs it for
/// the initial step size).
///
/// ```
/// use sciml_core::{ForwardAd, GenericRhs, Scalar};
/// use sciml_ode::{Bdf, OdeProblem, SolveOptions, Tolerance};
/// // A stiff linear decay: u' = -1000 (u - cos t).
/// struct Stiff;
/// impl GenericRhs for Stiff {
///     fn dims(&self) -> (usize, usize) { (1, 0) }
///     fn eval<S: Scalar>(&self, t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = (u[0] - S::from_re(t.cos())) * S::cst(-1000.0);
///     }
/// }
/// let mut prob = OdeProblem::new(ForwardAd::new(Stiff), vec![1.0], (0.0, 1.0), vec![]).unwrap();
/// let opts = SolveOptions { tol: Tolerance::new(1e-6, 1e-8).unwrap(), ..SolveOptions::default() };
/// let sol = prob.solve(Bdf::new(), &opts).unwrap();
/// // u ≈ cos t + sin t / 1000 once the transient has decayed.
/// let exact = 1f64.cos() + 1f64.sin() / 1000.0;
/// assert!((sol.u.last().unwrap()[0] - exact).abs() < 1e-5);
/// assert!(sol.stats.accepted < 200);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Bdf<L = DenseSolve> {
    /// How `W = M − (h/α_k) J` is formed and solved.
    pub linear: L,
    /// Use Klopfenstein–Shampine numerical differentiation formulas (NDF, as MATLAB's `ode15s`
    /// and scipy's `BDF`) instead of plain BDF.
    pub ndf: bool,
    /// When the corrector's Newton iteration stops.
    pub newton: BdfNewton,
}

/// Settings of BDF's Newton iteration on the corrector (module docs).
///
/// The defaults (`κ = 0.2`, 4 iterations) stop as soon as the corrector's remaining error is a
/// fraction of the tolerance. Gradients by dual numbers through the solver differentiate the
/// iterations actually taken; they agree with the discrete adjoint (which differentiates the
/// converged corrector, DESIGN decision 7) only as far as the iteration has converged, so
/// comparisons to rounding run the iteration to near rounding (a small `kappa`, more
/// iterations).
///
/// ```
/// use sciml_ode::stiff::BdfNewton;
/// use sciml_ode::Bdf;
/// let tight = Bdf::new().with_newton(BdfNewton { kappa: 1e-6, max_iter: 30 });
/// assert_eq!(Bdf::new().newton, BdfNewton::default());
/// # let _ = tight;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BdfNewton {
    /// Stop when the estimated remaining error `η‖Δ‖` (in tolerance units) is below `kappa`.
    pub kappa: f64,
    /// Most iterations per attempt.
    pub max_iter: usize,
}

impl Default for BdfNewton {
    fn default() -> Self {
        BdfNewton {
            kappa: NEWTON_KAPPA,
            max_iter: NEWTON_MAXITER,
        }
    }
}

impl<L: Default> Default for Bdf<L> {
    fn default() -> Self {
        Bdf {
            linear: L::default(),
            ndf: false,
            newton: BdfNewton::default(),
        }
    }
}

impl Bdf<DenseSolve> {
    /// Plain BDF with a dense Jacobian and dense LU.
    pub fn new() -> Self {
        Bdf::default()
    }

    /// The NDF variant (`κ_k` of Shampine and Reichelt) with a dense Jacobian and dense LU.
    pub fn ndf() -> Self {
        Bdf {
            ndf: true,
            ..Bdf::default()
        }
    }
}

impl<L> Bdf<L> {
    /// The method with another linear-solve strategy (sparse LU, Jacobian-free GMRES).
    pub fn with_linear<L2>(self, linear: L2) -> Bdf<L2> {
        Bdf {
            linear,
            ndf: self.ndf,
            newton: self.newton,
        }
    }

    /// The method with other Newton settings.
    pub fn with_newton(self, newton: BdfNewton) -> Self {
        Bdf { newton, ..self }
    }
}

/// BDF taking a recorded sequence of orders instead of choosing them: the `n`-th accepted step
/// uses `orders[n]` (the first must be 1, the order every solve starts at; past the end of the
/// list the method chooses again). Run in fixed-step mode with the recorded step ends as
/// `tstops`, it replays a solve on its frozen mesh (DESIGN decision 7: the step sizes and the
/// orders are constants), for instance to check the discrete adjoint by differences; the orders
/// of a recorded solve are its tape's [`StepMemory::order`]s.
///
/// ```
/// use std::sync::Arc;
/// use sciml_core::{ForwardAd, GenericRhs, Scalar};
/// use sciml_ode::stiff::BdfFrozenOrders;
/// use sciml_ode::{Bdf, OdeProblem, SolveOptions};
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (1, 0) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -u[0];
///     }
/// }
/// let mut prob = OdeProblem::new(ForwardAd::new(Decay), vec![1.0], (0.0, 1.0), vec![]).unwrap();
/// let mut integ = prob.init(Bdf::new(), &SolveOptions::default()).unwrap();
/// integ.record_tape(1, false).unwrap();
/// let (sol, tape) = integ.solve_with_tape().unwrap();
/// let tape = tape.unwrap();
/// let orders: Arc<[usize]> = tape.steps.iter().map(|s| s.memory.as_ref().unwrap().order).collect();
/// let ends: Vec<f64> = tape.steps.iter().map(|s| s.t0 + s.h).collect();
/// let frozen = SolveOptions {
///     adaptive: Some(false),
///     dt: Some(10.0),
///     tstops: ends[..ends.len() - 1].to_vec(),
///     ..SolveOptions::default()
/// };
/// let again = prob.solve(BdfFrozenOrders::new(Bdf::new(), orders), &frozen).unwrap();
/// let (a, b) = (sol.u.last().unwrap()[0], again.u.last().unwrap()[0]);
/// assert!((a - b).abs() < 1e-12, "{a} {b}");
/// ```
#[derive(Clone, Debug)]
pub struct BdfFrozenOrders<L = DenseSolve> {
    /// The method (its Newton settings and linear strategy apply).
    pub bdf: Bdf<L>,
    /// The order of each accepted step.
    pub orders: Arc<[usize]>,
}

impl<L> BdfFrozenOrders<L> {
    /// `bdf` on the given order sequence.
    pub fn new(bdf: Bdf<L>, orders: Arc<[usize]>) -> Self {
        BdfFrozenOrders { bdf, orders }
    }
}

impl<L: Clone + Send + Sync + std::fmt::Debug> MethodInfo for BdfFrozenOrders<L> {
    fn name(&self) -> &'static str {
        self.bdf.name()
    }
    fn order(&self) -> u8 {
        self.bdf.order()
    }
    fn is_adaptive(&self) -> bool {
        self.bdf.is_adaptive()
    }
    fn error_order(&self) -> u8 {
        self.bdf.error_order()
    }
    fn interp_order(&self) -> u8 {
        self.bdf.interp_order()
    }
    fn interp_poly<T: Real>(&self) -> Vec<Vec<T>> {
        self.bdf.interp_poly()
    }
    fn supports_mass_matrix(&self) -> bool {
        true
    }
}

impl<L, S, V, F> OdeMethod<F> for BdfFrozenOrders<L>
where
    L: LinearStrategy<F>,
    S: Scalar,
    V: State<S = S>,
    F: VectorField<V = V>,
{
    type Cache = BdfCache<V, L::Cache>;

    fn validate(&self) -> Result<(), sciml_core::Error> {
        OdeMethod::<F>::validate(&self.bdf)
    }

    fn cache(&self, f: &F, u0: &V) -> Self::Cache {
        self.bdf.cache(f, u0)
    }
    fn initialize(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t: S::Re,
        u: &V,
        stats: &mut Stats,
    ) {
        self.bdf.initialize(c, f, p, t, u, stats);
    }
    fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a V {
        &c.f0
    }
    fn try_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        ctx: StepContext<'_, F>,
        u1: &mut V,
    ) -> Result<S::Re, StepFailure> {
        self.bdf.try_step(c, f, ctx, u1)
    }
    fn finish_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t1: S::Re,
        u1: &V,
        stats: &mut Stats,
    ) {
        self.bdf.finish_step(c, f, p, t1, u1, stats);
        if let Some(&k) = self.orders.get(c.accepted) {
            if (1..=MAX_ORDER).contains(&k) && k != c.order {
                c.order = k;
                c.n_equal = 0;
            }
        }
    }
    fn prepare_interp(&self, c: &mut Self::Cache, f: &mut F, ctx: StepContext<'_, F>) {
        self.bdf.prepare_interp(c, f, ctx);
    }
    fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [V] {
        &c.iv
    }
    fn advance(&self, c: &mut Self::Cache) {
        c.interp_ready = false;
    }
    fn suggest_step(&self, c: &Self::Cache) -> Option<S::Re> {
        c.suggest
    }
    fn step_memory(&self, c: &Self::Cache, u1: &V) -> Option<StepMemory<V>> {
        self.bdf.step_memory(c, u1)
    }
}

/// `γ_j = Σ_{i=1}^{j} 1/i` for `j = 0 … MAX_ORDER + 1`.
const GAMMA: [f64; MAX_ORDER + 2] = [
    0.0,
    1.0,
    1.5,
    11.0 / 6.0,
    25.0 / 12.0,
    137.0 / 60.0,
    49.0 / 20.0,
];

/// `γ_j = Σ_{i=1}^{j} 1/i` (`γ_0 = 0`, `j ≤ MAX_ORDER + 1`); for plain BDF also `α_j`. Shared
/// with the residual (DAE) BDF of sciml-dae.
pub fn gamma(j: usize) -> f64 {
    GAMMA[j]
}

/// Shampine and Reichelt's NDF parameters κ_k (their Table 1; orders 1–4, κ_5 = 0): they give up
/// a little of the stability angle of BDF2–4 for about 26% smaller truncation error constants
/// at orders 1 and 2.
const NDF_KAPPA: [f64; MAX_ORDER + 1] = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];

fn kappa(k: usize, ndf: bool) -> f64 {
    if ndf {
        NDF_KAPPA[k]
    } else {
        0.0
    }
}

/// `α_k = (1 − κ_k) γ_k`, the leading coefficient (`γ_k` for plain BDF).
pub(crate) fn alpha(k: usize, ndf: bool) -> f64 {
    (1.0 - kappa(k, ndf)) * gamma(k)
}

/// Constant of the local error estimate of order `k`: `κ_k γ_k + 1/(k + 1)`.
fn error_const(k: usize, ndf: bool) -> f64 {
    kappa(k, ndf) * gamma(k) + 1.0 / (k + 1) as f64
}

/// `R(ρ)` of the module docs for order `k`, `(k + 1) × (k + 1)`.
#[allow(clippy::needless_range_loop)] // matrix indices read as in the formula
fn r_matrix(k: usize, rho: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let mut r = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    for j in 0..=k {
        r[0][j] = 1.0;
    }
    for i in 1..=k {
        let (a, inv) = ((i - 1) as f64, 1.0 / i as f64);
        for j in 0..=k {
            r[i][j] = r[i - 1][j] * (a - rho * j as f64) * inv;
        }
    }
    r
}

/// `(R(ρ)·U)_{ij}` for `i, j = 1 … k` (row and column 0 are left zero: `D_0` maps onto itself,
/// as row and column 0 of `R·U` are `(1, 0, …)`): the change of spacing `D_j ← Σ_i D_i (R·U)_{ij}`.
#[allow(clippy::needless_range_loop)] // matrix indices read as in the formula
pub fn rescale_matrix(k: usize, rho: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let r = r_matrix(k, rho);
    let mut ru = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    for i in 1..=k {
        for j in 1..=k {
            ru[i][j] = (1..=k).map(|l| r[i][l] * U[l][j]).sum();
        }
    }
    ru
}

/// `U = R(1)` (row `i`, column `j`); the matrix of order `k` is its leading `(k + 1) × (k + 1)`
/// block.
const U: [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] = {
    let mut u = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    let mut j = 0;
    while j <= MAX_ORDER {
        u[0][j] = 1.0;
        let mut i = 1;
        while i <= MAX_ORDER {
            u[i][j] = u[i - 1][j] * ((i - 1) as f64 - j as f64) / i as f64;
            i += 1;
        }
        j += 1;
    }
    u
};

/// Buffers of a BDF solve, for states in the scalar `S` (reals or dual numbers).
#[derive(Clone, Debug)]
pub struct BdfCache<V: State, L> {
    lin: L,
    /// Modified divided differences `D_0 … D_{MAX_ORDER+2}` at spacing `h`.
    d: Vec<V>,
    /// Scratch for the change of spacing.
    dtmp: Vec<V>,
    /// The spacing `D` is written for.
    h: Re<V>,
    /// The spacing `D` was written for after the last accepted step (1 after `initialize`).
    h_accepted: Re<V>,
    /// `D` was started afresh by `initialize` and no step has been accepted since.
    restarted: bool,
    /// Of the last accepted step, for [`StepMemory`]: `h` over `h_accepted` before it, and
    /// whether it started from a fresh history.
    mem_rescale: Re<V>,
    mem_restart: bool,
    /// Current order.
    order: usize,
    /// Accepted steps since the last change of step size or order.
    n_equal: usize,
    f0: V,
    ypred: V,
    psi: V,
    /// Accumulated Newton correction `d = y − y⁽⁰⁾`.
    corr: V,
    dy: V,
    /// Newton iterate `y⁽⁰⁾ + d`.
    y: V,
    /// `M·v` scratch.
    mv: V,
    fy: V,
    tmp: V,
    /// Inverse weights of the weighted RMS norm (see `inv_weights`).
    wt: Vec<Re<V>>,
    zero: V,
    /// Dense-output vectors `v_1 … v_5`.
    iv: Vec<V>,
    /// `η = θ/(1 − θ)` of the last converged Newton iteration (θ its contraction rate), which
    /// the next iteration's first convergence test uses.
    eta: Re<V>,
    /// Accepted steps since `J` was evaluated.
    jac_age: usize,
    /// Whether a Jacobian has been evaluated since `initialize`.
    jac_ok: bool,
    /// Whether the Jacobian was evaluated during the current step (after its last acceptance).
    jac_current: bool,
    /// `h/α_k` that `W` is factorised for (NaN: none).
    w_for: f64,
    /// Decisions of the last `try_step`, applied by `finish_step` if it was accepted.
    step_order: usize,
    next_order: usize,
    order_chosen: bool,
    suggest: Option<Re<V>>,
    interp_ready: bool,
    /// No attempt since `initialize` yet.
    fresh: bool,
    /// Steps accepted since `initialize` (the index into [`BdfFrozenOrders::orders`]).
    accepted: usize,
}

impl<V: State, L> BdfCache<V, L> {
    /// Maps `D_0 … D_k` onto the spacing `h_new` (Shampine and Reichelt's `R(ρ)·U`).
    #[allow(clippy::needless_range_loop)] // matrix indices read as in the formula
    fn rescale(&mut self, h_new: Re<V>) {
        let k = self.order;
        let rho = (h_new / self.h).to_f64_lossy();
        let ru64 = rescale_matrix(k, rho);
        let mut ru = [[Re::<V>::zero(); MAX_ORDER + 1]; MAX_ORDER + 1];
        for i in 1..=k {
            for j in 1..=k {
                ru[i][j] = Re::<V>::c(ru64[i][j]);
            }
        }
        // D_j ← Σ_{i ≥ 1} D_i (R·U)_{ij} for j = 1 … k: one combination per j, each component
        // summed over i in the formula's order from zero.
        for j in 1..=k {
            let mut w = [Re::<V>::zero(); MAX_ORDER];
            for (i, wi) in w.iter_mut().enumerate().take(k) {
                *wi = ru[i + 1][j];
            }
            let mut refs: [&V; MAX_ORDER] = [&self.zero; MAX_ORDER];
            for (r, d) in refs.iter_mut().zip(self.d[1..].iter()) {
                *r = d;
            }
            self.dtmp[j].lincomb(&self.zero, &w[..k], &refs[..k]);
        }
        for j in 1..=k {
            std::mem::swap(&mut self.d[j], &mut self.dtmp[j]);
        }
        self.h = h_new;
        self.n_equal = 0;
        self.eta = self.eta.max(Re::<V>::c(ETA_RESET));
    }
}

impl<L, S, V, F> OdeMethod<F> for Bdf<L>
where
    L: LinearStrategy<F>,
    S: Scalar,
    V: State<S = S>,
    F: VectorField<V = V>,
{
    type Cache = BdfCache<V, L::Cache>;

    fn validate(&self) -> Result<(), sciml_core::Error> {
        self.linear.validate()
    }

    fn cache(&self, f: &F, u0: &V) -> Self::Cache {
        type R<S> = <S as Scalar>::Re;
        let z = u0.zeros_like();
        BdfCache {
            lin: self.linear.cache(f, u0),
            d: vec![z.clone(); MAX_ORDER + 3],
            dtmp: vec![z.clone(); MAX_ORDER + 1],
            h: R::<S>::one(),
            h_accepted: R::<S>::one(),
            restarted: true,
            mem_rescale: R::<S>::one(),
            mem_restart: true,
            order: 1,
            n_equal: 0,
            f0: z.clone(),
            ypred: z.clone(),
            psi: z.clone(),
            corr: z.clone(),
            dy: z.clone(),
            y: z.clone(),
            mv: z.clone(),
            fy: z.clone(),
            tmp: z.clone(),
            wt: vec![R::<S>::zero(); u0.len()],
            iv: vec![z.clone(); MAX_ORDER],
            zero: z,
            eta: R::<S>::c(ETA_RESET),
            jac_age: 0,
            jac_ok: false,
            jac_current: false,
            w_for: f64::NAN,
            step_order: 1,
            next_order: 1,
            order_chosen: false,
            suggest: None,
            interp_ready: false,
            fresh: true,
            accepted: 0,
        }
    }

    fn initialize(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t: S::Re,
        u: &V,
        stats: &mut Stats,
    ) {
        type R<S> = <S as Scalar>::Re;
        f.rhs(t, u, p, &mut c.f0);
        stats.nf += 1;
        // Order 1 from (t, u): D_0 = u, D_1 = h f(t, u), written here for h = 1 and rescaled by
        // the first attempt.
        c.d[0].copy_from(u);
        c.d[1].copy_from(&c.f0);
        for v in c.d[2..].iter_mut() {
            v.copy_from(&c.zero);
        }
        c.h = R::<S>::one();
        c.h_accepted = R::<S>::one();
        c.restarted = true;
        c.order = 1;
        c.n_equal = 0;
        c.eta = R::<S>::c(ETA_RESET);
        c.jac_age = 0;
        c.jac_ok = false;
        c.jac_current = false;
        c.w_for = f64::NAN;
        c.suggest = None;
        c.interp_ready = false;
        c.fresh = true;
        c.accepted = 0;
    }

    fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a V {
        &c.f0
    }

    fn try_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        ctx: StepContext<'_, F>,
        u1: &mut V,
    ) -> Result<S::Re, StepFailure> {
        type R<S> = <S as Scalar>::Re;
        let lin = &self.linear;
        let (t, h, u0, p) = (ctx.t, ctx.h, ctx.u0, ctx.p);
        // Until the attempt says otherwise (a Newton or linear-solve failure): halve.
        c.suggest = Some(h * R::<S>::c(0.5));
        c.order_chosen = false;
        c.interp_ready = false;
        if c.fresh && ctx.mass.is_some() {
            // With a (possibly singular) mass matrix u'(t0) is not f(t0, u0): start from a
            // constant predictor and let the first error estimates size the step.
            c.d[1].copy_from(&c.zero);
        }
        c.fresh = false;
        if h != c.h {
            c.rescale(h);
        }
        let k = c.order;
        let t_new = t + h;
        {
            // y⁽⁰⁾ = Σ_{j≤k} D_j and ψ = (1/α_k) Σ_{j=1}^{k} γ_j D_j, in one pass.
            let alpha = alpha(k, self.ndf);
            let mut w = [R::<S>::zero(); MAX_ORDER + 1];
            for (j, wj) in w.iter_mut().enumerate().take(k + 1).skip(1) {
                *wj = R::<S>::c(gamma(j) / alpha);
            }
            // Whole vectors at a time, each component summed over j in the formula's order
            // (fused over host slices; two combinations with the same sums otherwise).
            let d = &c.d;
            // The differences as host slices, all of them or none.
            let mut ds: [&[S]; MAX_ORDER] = [&[]; MAX_ORDER];
            let sliced = d[1..=k]
                .iter()
                .zip(ds.iter_mut())
                .all(|(dj, s)| dj.host_slice().map(|x| *s = x).is_some());
            match (
                sliced,
                c.ypred.host_slice_mut(),
                c.psi.host_slice_mut(),
                d[0].host_slice(),
            ) {
                (true, Some(ypred), Some(psi), Some(d0)) => {
                    ypred.copy_from_slice(d0);
                    psi.iter_mut().for_each(|q| *q = S::zero());
                    for (dj, &wj) in ds[..k].iter().zip(&w[1..=k]) {
                        for ((yp, ps), v) in ypred.iter_mut().zip(psi.iter_mut()).zip(*dj) {
                            *yp += *v;
                            *ps += *v * wj;
                        }
                    }
                }
                _ => {
                    let ones = [R::<S>::one(); MAX_ORDER];
                    let mut refs: [&V; MAX_ORDER] = [&c.zero; MAX_ORDER];
                    for (r, dj) in refs.iter_mut().zip(d[1..=k].iter()) {
                        *r = dj;
                    }
                    c.ypred.lincomb(&d[0], &ones[..k], &refs[..k]);
                    c.psi.lincomb(&c.zero, &w[1..=k], &refs[..k]);
                }
            }
        }
        let cgam = h / R::<S>::c(alpha(k, self.ndf));
        let iters = loop {
            if !c.jac_ok || (c.jac_age >= JAC_MAX_AGE && !c.jac_current) {
                lin.update_jacobian(&mut c.lin, f, t_new, &c.ypred, p, ctx.stats);
                c.jac_ok = true;
                c.jac_current = true;
                c.jac_age = 0;
                c.w_for = f64::NAN;
                c.eta = c.eta.max(R::<S>::c(ETA_RESET));
            }
            if c.w_for != cgam.to_f64_lossy() {
                c.w_for = f64::NAN;
                lin.factorise(&mut c.lin, WSpec::ode(cgam, ctx.mass), ctx.stats)?;
                c.w_for = cgam.to_f64_lossy();
            }
            match newton(
                &self.newton,
                lin,
                c,
                f,
                p,
                t_new,
                cgam,
                ctx.mass,
                ctx.tol,
                ctx.stats,
            )? {
                Some(n) => break n,
                None if !c.jac_current => {
                    // Slow convergence with a Jacobian from an earlier step: refresh it at the
                    // prediction and retry the same step.
                    c.jac_ok = false;
                }
                None => return Err(StepFailure::NewtonFailure),
            }
        };
        u1.lincomb(&c.ypred, &[R::<S>::one()], &[&c.corr]);
        if !u1.all_finite() {
            return Err(StepFailure::NonFinite);
        }
        // The order this step used; `finish_step` updates the differences for it (also in
        // fixed-step mode, where the step is accepted whatever its error estimate).
        c.step_order = k;
        // scipy's (and diffsol's) safety factor, lower after slow Newton convergence. It was
        // made for iterations of at least two (the first rate estimate needs two): one that
        // stops after one on the η carried over from the last step does not earn bolder steps.
        let maxit = self.newton.max_iter;
        let safety = R::<S>::c(0.9 * (2 * maxit + 1) as f64 / (2 * maxit + iters.max(2)) as f64);
        // The error norms of this step weigh with max(|u0|, |u1|), as `State::err_norm`; the
        // norm is homogeneous, ‖C d‖ = C ‖d‖.
        let weights = Weights::new(&mut c.wt, u0, u1, ctx.tol);
        let err = R::<S>::c(error_const(k, self.ndf)) * weights.norm(&c.corr);
        if !err.is_finite() {
            return Err(StepFailure::NonFinite);
        }
        if err > R::<S>::one() {
            let factor = (safety * err.powf(-R::<S>::one() / R::<S>::from_usize(k + 1)))
                .max(R::<S>::c(MIN_FACTOR));
            c.suggest = Some(h * factor);
            return Ok(err);
        }
        c.next_order = k;
        c.suggest = Some(h);
        if c.n_equal + 1 < k + 1 {
            // Keep h (and W) until k + 1 steps of this size have been taken.
            return Ok(err);
        }
        // Error estimates of orders k − 1 and k + 1 from the updated differences
        // (D_k + d and d − D_{k+1}), without updating D yet.
        let one = R::<S>::one();
        let err_m = if k > 1 {
            c.tmp.lincomb(&c.d[k], &[one], &[&c.corr]);
            R::<S>::c(error_const(k - 1, self.ndf)) * weights.norm(&c.tmp)
        } else {
            R::<S>::infinity()
        };
        let err_p = if k < MAX_ORDER {
            c.tmp.lincomb(&c.corr, &[-one], &[&c.d[k + 1]]);
            R::<S>::c(error_const(k + 1, self.ndf)) * weights.norm(&c.tmp)
        } else {
            R::<S>::infinity()
        };
        // The step-size factor of order q is e^(−1/q); compared through its logarithm
        // −ln(e)/q (one `exp` for the winner instead of three powers).
        let log_factor = |e: R<S>, q: usize| -> R<S> {
            if e.is_finite() {
                -e.max(R::<S>::c(1e-300)).ln() / R::<S>::from_usize(q)
            } else {
                -R::<S>::infinity()
            }
        };
        let lfs = [
            log_factor(err_m, k),
            log_factor(err, k + 1),
            log_factor(err_p, k + 2),
        ];
        let mut best = 1;
        for (i, fi) in lfs.iter().enumerate() {
            if *fi > lfs[best] {
                best = i;
            }
        }
        let factor = (safety * lfs[best].exp()).min(R::<S>::c(MAX_FACTOR));
        c.next_order = k + best - 1;
        c.order_chosen = true;
        c.suggest = Some(h * factor);
        Ok(err)
    }

    fn finish_step(
        &self,
        c: &mut Self::Cache,
        _f: &mut F,
        _p: &F::P,
        _t1: S::Re,
        _u1: &V,
        _stats: &mut Stats,
    ) {
        // What the step's reverse pass needs to know of how it used the history.
        c.mem_rescale = c.h / c.h_accepted;
        c.mem_restart = c.restarted;
        c.h_accepted = c.h;
        c.restarted = false;
        // Difference update for the accepted correction d (Shampine and Reichelt):
        // D_{k+2} = d − D_{k+1}, D_{k+1} = d, D_i += D_{i+1} for i = k … 0.
        let k = c.step_order;
        let one = <S::Re as One>::one();
        {
            let (lo, hi) = c.d.split_at_mut(k + 2);
            hi[0].lincomb(&c.corr, &[-one], &[&lo[k + 1]]);
        }
        c.d[k + 1].copy_from(&c.corr);
        for i in (0..=k).rev() {
            let (lo, hi) = c.d.split_at_mut(i + 1);
            lo[i].axpy(one, &hi[0]);
        }
        c.n_equal += 1;
        c.accepted += 1;
        if c.order_chosen {
            c.order = c.next_order;
            c.n_equal = 0;
        }
        c.jac_current = false;
        c.jac_age += 1;
        c.interp_ready = false;
    }

    fn prepare_interp(&self, c: &mut Self::Cache, _f: &mut F, _ctx: StepContext<'_, F>) {
        if c.interp_ready {
            return;
        }
        // u(θ) = D_0 + Σ_j D_j p_j(θ), p_j(θ) = Π_{m<j} (θ − 1 + m)/(m + 1), on the step's
        // spacing h = c.h (D is rescaled only by the next attempt); the constant term is u_n.
        let k = c.step_order;
        let coef = interp_coefficients(k);
        let hinv = c.h.recip();
        for (i, v) in c.iv.iter_mut().enumerate() {
            let pow = i + 1;
            if pow > k {
                v.copy_from(&c.zero);
                continue;
            }
            let mut w = [S::Re::zero(); MAX_ORDER];
            for (j, wj) in w.iter_mut().enumerate().take(k) {
                *wj = S::Re::c(coef[j + 1][pow]) * hinv;
            }
            let mut refs: [&V; MAX_ORDER] = [&c.zero; MAX_ORDER];
            for (r, d) in refs.iter_mut().zip(c.d[1..].iter()) {
                *r = d;
            }
            v.lincomb(&c.zero, &w[..k], &refs[..k]);
        }
        c.interp_ready = true;
    }

    fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [V] {
        &c.iv
    }

    fn advance(&self, c: &mut Self::Cache) {
        c.interp_ready = false;
    }

    fn suggest_step(&self, c: &Self::Cache) -> Option<S::Re> {
        c.suggest
    }

    fn step_memory(&self, c: &Self::Cache, u1: &V) -> Option<StepMemory<V>> {
        Some(StepMemory {
            order: c.step_order,
            rescale: c.mem_rescale,
            restart: c.mem_restart,
            end: u1.clone(),
        })
    }
}

/// The monomial coefficients of the dense output's basis polynomials for order `k`:
/// `p_j(θ) = Π_{m<j} (θ − 1 + m)/(m + 1) = Σ_i coef[j][i] θ^i` for `j = 1 … k` (rows `0` and
/// above `k` are zero), so that `u(θ) = D_0 + Σ_j p_j(θ) D_j` with the updated differences.
pub fn interp_coefficients(k: usize) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let mut coef = [[0.0f64; MAX_ORDER + 1]; MAX_ORDER + 1];
    let mut q = [0.0f64; MAX_ORDER + 1];
    q[0] = 1.0;
    for (j, row) in coef.iter_mut().enumerate().take(k + 1).skip(1) {
        // q ← q · (θ + m − 1)/(m + 1) with m = j − 1.
        let m = (j - 1) as f64;
        let mut next = [0.0f64; MAX_ORDER + 1];
        for i in 0..j {
            next[i + 1] += q[i] / (m + 1.0);
            next[i] += q[i] * (m - 1.0) / (m + 1.0);
        }
        q = next;
        *row = q;
    }
    coef
}

/// The inverse weights `w_i = 1/(atol_i + rtol_i max(|a_i|, |b_i|))` of the weighted RMS norm
/// `State::err_norm(·, a, b, tol)` (its first `tol.norm_len` components: a seminorm when that
/// is set), so that a state's several norms take no divisions. Returns the number of weighted
/// components.
fn inv_weights<S: Scalar>(
    w: &mut [S::Re],
    a: &[S],
    b: &[S],
    tol: &sciml_core::Tolerance<S::Re>,
) -> usize {
    let n = w.len().min(tol.norm_len.unwrap_or(usize::MAX));
    if let Some((rtol, atol)) = tol.scalars() {
        for ((wi, ai), bi) in w[..n].iter_mut().zip(a).zip(b) {
            *wi = (atol + rtol * ai.re().abs().max(bi.re().abs())).recip();
        }
    } else {
        for (i, ((wi, ai), bi)) in w[..n].iter_mut().zip(a).zip(b).enumerate() {
            *wi = (tol.atol_at(i) + tol.rtol_at(i) * ai.re().abs().max(bi.re().abs())).recip();
        }
    }
    n
}

/// `sqrt(Σ_{i<n} (e_i w_i)² / n)` with the weights of `inv_weights` (`0` when `n = 0`).
fn wnorm<S: Scalar>(e: &[S], w: &[S::Re], n: usize) -> S::Re {
    if n == 0 {
        return S::Re::zero();
    }
    let s = e[..n]
        .iter()
        .zip(&w[..n])
        .fold(S::Re::zero(), |s, (ei, wi)| {
            let r = ei.re() * *wi;
            s + r * r
        });
    (s / S::Re::from_usize(n)).sqrt()
}

/// The weighted RMS norm of one step: over host slices, inverse weights computed once from
/// `(a, b)` and multiplied in ([`inv_weights`], [`wnorm`]); for a state that is not one slice,
/// `State::err_norm` against `(a, b)` (the same norm, dividing by each weight).
struct Weights<'a, V: State> {
    /// The first `n` inverse weights, over host slices (`None`: the fallback).
    wt: Option<(&'a [Re<V>], usize)>,
    a: &'a V,
    b: &'a V,
    tol: &'a sciml_core::Tolerance<Re<V>>,
}

impl<'a, V: State> Weights<'a, V> {
    fn new(wt: &'a mut [Re<V>], a: &'a V, b: &'a V, tol: &'a sciml_core::Tolerance<Re<V>>) -> Self {
        let wt = match (a.host_slice(), b.host_slice()) {
            (Some(x), Some(y)) => {
                let n = inv_weights(wt, x, y, tol);
                Some((&*wt, n))
            }
            _ => None,
        };
        Weights { wt, a, b, tol }
    }
    fn norm(&self, e: &V) -> Re<V> {
        match (self.wt, e.host_slice()) {
            (Some((wt, n)), Some(es)) => wnorm(es, wt, n),
            _ => V::err_norm(e, self.a, self.b, self.tol),
        }
    }
}

/// Simplified Newton on `M (d + ψ) − c f(t, y⁽⁰⁾ + d) = 0` with the factorised `W = M − cJ`,
/// through the shared iteration ([`iterate`] with [`NewtonConvergence::Corrector`]). Returns the
/// number of iterations when converged, `None` when the convergence-rate test says it will not
/// converge in `max_iter` iterations (or `f` or an increment is not finite).
///
/// The convergence test is Hairer and Wanner's (*Solving ODEs II*, IV.8, eqs. 8.10–8.15), as in
/// CVODE and diffsol: with the contraction rate `θ_m = ‖Δ_m‖/‖Δ_{m−1}‖` and `η = θ/(1 − θ)`,
/// the iteration stops once `η ‖Δ_m‖ < κ`. The first iteration uses `η` of the previous solve
/// (as `η^0.8`), so a step whose prediction is already good takes one iteration.
#[allow(clippy::too_many_arguments)]
fn newton<L, S, V, F>(
    settings: &BdfNewton,
    lin: &L,
    c: &mut BdfCache<V, L::Cache>,
    f: &mut F,
    p: &F::P,
    t_new: S::Re,
    cgam: S::Re,
    mass: Option<&sciml_core::DenseMatrix<S::Re>>,
    tol: &sciml_core::Tolerance<S::Re>,
    stats: &mut Stats,
) -> Result<Option<usize>, StepFailure>
where
    L: LinearStrategy<F>,
    S: Scalar,
    V: State<S = S>,
    F: VectorField<V = V>,
{
    c.corr.copy_from(&c.zero);
    c.y.copy_from(&c.ypred);
    // Increments are measured in the norm at the prediction.
    let weights = Weights::new(&mut c.wt, &c.ypred, &c.ypred, tol);
    let BdfCache {
        lin: lc,
        psi,
        corr,
        dy,
        y,
        mv,
        fy,
        zero,
        eta,
        ..
    } = c;
    let mut g = CorrectorResidual {
        lin,
        lc,
        f,
        p,
        t_new,
        cgam,
        mass,
        psi,
        y,
        fy,
        mv,
        zero,
        weights,
    };
    let mut rate = Rate {
        eta: *eta,
        max_theta: S::Re::zero(),
    };
    let conv = NewtonConvergence::Corrector {
        kappa: settings.kappa,
        max_iter: settings.max_iter,
    };
    match iterate(&mut g, corr, dy, conv, &mut rate, stats) {
        Ok(n) => {
            *eta = rate.eta;
            Ok(Some(n))
        }
        Err(StepFailure::NewtonFailure | StepFailure::NonFinite) => Ok(None),
        Err(e) => Err(e),
    }
}

/// BDF's corrector as a [`Residual`]: the iterate is the correction `d`, `−G(d)` is
/// `c f(t, y) − M (ψ + d)` at `y = y⁽⁰⁾ + d` (kept up to date by `update`), and increments are
/// measured in the weighted RMS norm at the prediction.
struct CorrectorResidual<'a, V: State, F: VectorField<V = V>, L: LinearStrategy<F>> {
    lin: &'a L,
    lc: &'a mut L::Cache,
    f: &'a mut F,
    p: &'a F::P,
    t_new: Re<V>,
    cgam: Re<V>,
    mass: Option<&'a sciml_core::DenseMatrix<Re<V>>>,
    psi: &'a V,
    /// The iterate's value `y⁽⁰⁾ + d`.
    y: &'a mut V,
    fy: &'a mut V,
    mv: &'a mut V,
    zero: &'a V,
    /// The norm of increments (at the prediction).
    weights: Weights<'a, V>,
}

impl<S, V, F, L> Residual for CorrectorResidual<'_, V, F, L>
where
    S: Scalar,
    V: State<S = S>,
    F: VectorField<V = V>,
    L: LinearStrategy<F>,
{
    type V = V;

    fn neg_residual(
        &mut self,
        corr: &V,
        out: &mut V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        self.f.rhs(self.t_new, self.y, self.p, self.fy);
        stats.nf += 1;
        stats.nnewton += 1;
        if !self.fy.all_finite() {
            return Err(StepFailure::NonFinite);
        }
        let cgam = self.cgam;
        let one = S::Re::one();
        match self.mass {
            None => match (
                out.host_slice_mut(),
                self.fy.host_slice(),
                self.psi.host_slice(),
                corr.host_slice(),
            ) {
                (Some(o), Some(fy), Some(psi), Some(d)) => {
                    for (((o, fy), ps), d) in o.iter_mut().zip(fy).zip(psi).zip(d) {
                        *o = *fy * cgam - *ps - *d;
                    }
                }
                _ => out.lincomb(self.zero, &[cgam, -one, -one], &[&*self.fy, self.psi, corr]),
            },
            Some(m) => {
                out.lincomb(self.psi, &[one], &[corr]);
                mass_mul_state(m, out, self.mv)?;
                out.lincomb(self.zero, &[cgam, -one], &[&*self.fy, &*self.mv]);
            }
        }
        Ok(())
    }

    fn solve(&mut self, b: &mut V, stats: &mut Stats) -> Result<(), StepFailure> {
        self.lin.solve(self.lc, self.f, self.p, b, stats)
    }

    fn norm(&mut self, dy: &V) -> S::Re {
        self.weights.norm(dy)
    }

    fn update(&mut self, corr: &mut V, dy: &V) {
        match (
            self.y.host_slice_mut(),
            corr.host_slice_mut(),
            dy.host_slice(),
        ) {
            (Some(y), Some(c), Some(dy)) => {
                for ((y, d), dy) in y.iter_mut().zip(c).zip(dy) {
                    *y += *dy;
                    *d += *dy;
                }
            }
            _ => {
                let one = S::Re::one();
                self.y.axpy(one, dy);
                corr.axpy(one, dy);
            }
        }
    }
}

impl<L: Clone + Send + Sync + std::fmt::Debug> MethodInfo for Bdf<L> {
    fn name(&self) -> &'static str {
        if self.ndf {
            "NDF"
        } else {
            "BDF"
        }
    }
    /// The highest order (the method runs at orders 1 to 5).
    fn order(&self) -> u8 {
        MAX_ORDER as u8
    }
    fn is_adaptive(&self) -> bool {
        true
    }
    fn error_order(&self) -> u8 {
        MAX_ORDER as u8
    }
    fn interp_order(&self) -> u8 {
        MAX_ORDER as u8
    }
    /// `P_j(θ) = θ^(j+1)`: the step's polynomial is carried by the vectors.
    fn interp_poly<T: Real>(&self) -> Vec<Vec<T>> {
        (0..MAX_ORDER)
            .map(|j| {
                let mut v = vec![T::zero(); j + 1];
                v[j] = T::one();
                v
            })
            .collect()
    }
    fn supports_mass_matrix(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sciml_core::Tolerance;

    #[test]
    fn u_table_is_r_of_one() {
        let r = r_matrix(MAX_ORDER, 1.0);
        for (ur, rr) in U.iter().zip(&r) {
            for (a, b) in ur.iter().zip(rr) {
                assert!((a - b).abs() < 1e-15, "{U:?} vs {r:?}");
            }
        }
        // R(ρ)·U maps D_0 onto itself and D_{j ≥ 1} among themselves (rescale relies on it).
        let r = r_matrix(MAX_ORDER, 0.37);
        for j in 0..=MAX_ORDER {
            let ru0j: f64 = (0..=MAX_ORDER).map(|l| r[0][l] * U[l][j]).sum();
            let ruj0: f64 = (0..=MAX_ORDER).map(|l| r[j][l] * U[l][0]).sum();
            assert!(
                (ru0j - f64::from(u8::from(j == 0))).abs() < 1e-12,
                "{j}: {ru0j}"
            );
            assert!(
                (ruj0 - f64::from(u8::from(j == 0))).abs() < 1e-12,
                "{j}: {ruj0}"
            );
        }
    }

    #[test]
    fn gamma_table_is_the_harmonic_sums() {
        for (j, g) in GAMMA.iter().enumerate() {
            let sum: f64 = (1..=j).map(|i| 1.0 / i as f64).sum();
            assert!((g - sum).abs() < 1e-15, "{j}");
        }
    }

    #[test]
    fn weighted_norm_matches_err_norm() {
        let e = vec![1e-6, -2e-3, 0.5];
        let a = vec![0.0, 1.0, -3.0];
        let b = vec![0.5, -2.0, 1.0];
        let mut w = vec![0.0; 3];
        for tol in [
            Tolerance::new(1e-3, 1e-6).unwrap(),
            Tolerance::per_component(vec![1e-3, 1e-4, 1e-2], vec![1e-6, 1e-8, 1e-7]).unwrap(),
            Tolerance::new(1e-3, 1e-6).unwrap().with_norm_len(Some(2)),
            Tolerance::new(1e-3, 1e-6).unwrap().with_norm_len(Some(0)),
        ] {
            let n = inv_weights(&mut w, &a, &b, &tol);
            let want = <Vec<f64>>::err_norm(&e, &a, &b, &tol);
            let got = wnorm(&e, &w, n);
            assert!((got - want).abs() <= 1e-14 * want.abs(), "{got} vs {want}");
        }
    }
}
