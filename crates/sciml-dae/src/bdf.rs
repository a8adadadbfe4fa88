//! Variable-order (1–5), variable-step BDF for `F(u′, u, p, t) = 0` with a fixed leading
//! coefficient, as a [`Stepper`] of sciml-ode's step loop.
//!
//! The method keeps the modified backward differences `D_0 … D_{k+2}` of the solution on an
//! equally spaced grid of spacing `h` and maps them onto a new spacing by `R(ρ)·U` when the step
//! changes (Shampine and Reichelt, "The MATLAB ODE suite", SIAM J. Sci. Comput. 18, 1997, §2.3;
//! sciml-ode's `Bdf` shares the coefficients). Interpolating the history onto an equally spaced
//! grid is what Brenan, Campbell and Petzold (*Numerical Solution of Initial-Value Problems in
//! DAEs*, SIAM 1996, §3.2) call the fixed-coefficient strategy: every coefficient, the leading
//! `γ_k = Σ_{j≤k} 1/j` included, is that of the constant-step formula. DASSL and IDA (Hindmarsh
//! et al., ACM TOMS 31, 2005) use their fixed-leading-coefficient strategy instead, which freezes
//! only `γ_k` and builds the predictor from variable-step divided differences; both keep the
//! iteration matrix's `α = γ_k/h` free of the step history. A step of
//! order `k` predicts `y⁽⁰⁾ = Σ_{j≤k} D_j`, and with the correction `d = y − y⁽⁰⁾` the BDF
//! derivative is `h·u′ = γ_k d + ψ`, `ψ = Σ_{j=1}^{k} γ_j D_j`; it solves
//!
//! `G(d) = F((γ_k d + ψ)/h, y⁽⁰⁾ + d, p, t + h) = 0`
//!
//! by sciml-ode's simplified Newton iteration (`NewtonConvergence::Corrector`) with
//! `W = (γ_k/h)·∂F/∂u′ + ∂F/∂u`, evaluated at the prediction and solved by the method's linear
//! strategy ([`crate::linear`]: dense LU, sparse LU, or Jacobian-free GMRES).
//! The local error estimate is `d/(k + 1)`; with `suppress_alg` its norm leaves out the
//! algebraic components (IDA's `suppressalg`). Order and step selection follow sciml-ode's
//! `Bdf`: after `k + 1` steps of one size, the estimates of orders `k − 1` and `k + 1` choose the
//! next order. Dense output is the interpolating polynomial of the step's order.

use crate::error::DaeError;
use crate::function::{DaeFunction, DaeJacobian};
use crate::linear::{DaeLinearSolver, DaeW};
use sciml_core::{DenseMatrix, DenseOutput, Real, State, Stats, Tolerance};
use sciml_ode::stiff::bdf::{gamma, interp_coefficients, rescale_matrix, MAX_ORDER};
use sciml_ode::stiff::newton::iterate;
use sciml_ode::stiff::{DenseSolve, NewtonConvergence, Rate, Residual};
use sciml_ode::{MethodInfo, StepFailure, StepInput, Stepper};

/// After a new Jacobian the first Newton iteration assumes at least this `η` (as sciml-ode's Bdf).
const ETA_RESET: f64 = 20.0;
/// The Jacobians are re-evaluated after this many accepted steps with the same ones (CVODE's
/// `MSBJ`, as sciml-ode's Bdf).
const JAC_MAX_AGE: usize = 50;
/// Bounds of the step-size factor after an error-test failure and after an accepted step.
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;

/// The DAE BDF's settings (module docs of [`crate::bdf`]), with its linear strategy `L`
/// ([`crate::linear`]): sciml-ode's `DenseSolve` by default, `SparseSolve` (sparse LU) or
/// `KrylovSolve` (Jacobian-free GMRES) through [`DaeBdf::linear_solver`].
///
/// ```
/// use sciml_dae::DaeBdf;
/// use sciml_ode::stiff::KrylovSolve;
/// let m = DaeBdf::new().suppress_alg(true).max_order(3);
/// assert_eq!(m.max_order, 3);
/// assert!(m.suppress_alg);
/// let k = m.linear_solver(KrylovSolve::default());
/// assert_eq!((k.max_order, k.linear.restart), (3, 30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DaeBdf<L = DenseSolve> {
    /// Highest order (1 to 5).
    pub max_order: usize,
    /// Leave the algebraic variables out of the local error test (IDA's `suppressalg`).
    pub suppress_alg: bool,
    /// Raise the order by one per accepted step up to `max_order` and keep it there, instead of
    /// choosing it from error estimates (for convergence studies on fixed steps).
    pub fixed_order: bool,
    /// The Newton iteration stops once its estimated remaining error is below `kappa`
    /// (tolerance units; IDA's `epcon` is 0.33).
    pub kappa: f64,
    /// Most Newton iterations per attempt (IDA's `maxcor` is 4).
    pub max_iter: usize,
    /// How the iteration matrix is solved with.
    pub linear: L,
}

impl Default for DaeBdf {
    fn default() -> Self {
        DaeBdf {
            max_order: MAX_ORDER,
            suppress_alg: false,
            fixed_order: false,
            kappa: 0.2,
            max_iter: 4,
            linear: DenseSolve,
        }
    }
}

impl DaeBdf {
    /// Orders 1–5 chosen by the error estimates, all variables in the error test, the dense
    /// linear strategy.
    pub fn new() -> Self {
        DaeBdf::default()
    }
    /// Order `k` (1–5; another is refused when the solve starts) once the start has built up
    /// the history (orders 1, 2, … on the first steps).
    pub fn fixed_order(k: usize) -> Self {
        DaeBdf {
            max_order: k,
            fixed_order: true,
            ..DaeBdf::default()
        }
    }
}

impl<L> DaeBdf<L> {
    /// The same settings with the linear strategy `linear`: sciml-ode's `SparseSolve` (for
    /// residuals with [`crate::DaeSparseJacobian`]) or `KrylovSolve` (for residuals with
    /// [`crate::DaeJvp`]).
    pub fn linear_solver<M>(self, linear: M) -> DaeBdf<M> {
        DaeBdf {
            max_order: self.max_order,
            suppress_alg: self.suppress_alg,
            fixed_order: self.fixed_order,
            kappa: self.kappa,
            max_iter: self.max_iter,
            linear,
        }
    }
    /// With the highest order `k` (1–5; another is refused when the solve starts, by
    /// [`DaeBdf::validate`]).
    pub fn max_order(self, k: usize) -> Self {
        DaeBdf {
            max_order: k,
            ..self
        }
    }
    /// With or without the algebraic variables in the error test.
    pub fn suppress_alg(self, on: bool) -> Self {
        DaeBdf {
            suppress_alg: on,
            ..self
        }
    }
}

impl<L> DaeBdf<L> {
    /// Checks the settings, once when a solve starts: `max_order` in 1–5, `max_iter` at least 1,
    /// `kappa` finite and positive.
    pub fn validate(&self) -> Result<(), DaeError> {
        let bad = |option: &'static str, reason: String| -> Result<(), DaeError> {
            Err(sciml_core::Error::InvalidOption { option, reason }.into())
        };
        if !(1..=MAX_ORDER).contains(&self.max_order) {
            let k = self.max_order;
            return bad(
                "max_order",
                format!("is {k}; give an order from 1 to {MAX_ORDER}"),
            );
        }
        if self.max_iter == 0 {
            return bad(
                "max_iter",
                "is 0; allow at least one Newton iteration".into(),
            );
        }
        if !(self.kappa.is_finite() && self.kappa > 0.0) {
            let k = self.kappa;
            return bad("kappa", format!("is {k}; give a finite positive value"));
        }
        Ok(())
    }
}

impl<L: Clone + Send + Sync> MethodInfo for DaeBdf<L> {
    fn name(&self) -> &'static str {
        "DAE BDF (fixed coefficient, quasi-constant step)"
    }
    fn order(&self) -> u8 {
        self.max_order as u8
    }
    fn is_adaptive(&self) -> bool {
        true
    }
    fn error_order(&self) -> u8 {
        self.max_order as u8
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
}

/// The weighted RMS norm `sqrt(Σ_{i∈mask} (e_i/(atol_i + rtol_i·max(|a_i|, |b_i|)))² / m)`.
fn wrms(e: &[f64], a: &[f64], b: &[f64], tol: &Tolerance<f64>, mask: Option<&[bool]>) -> f64 {
    // Scalar tolerances without a mask (the common case): the same arithmetic, in the same
    // order, without the per-component tolerance and mask look-ups.
    if let (Some((rtol, atol)), None) = (tol.scalars(), mask) {
        let n = e.len().min(a.len()).min(b.len());
        let mut s = 0.0;
        for ((ei, ai), bi) in e[..n].iter().zip(&a[..n]).zip(&b[..n]) {
            let r = ei / (atol + rtol * ai.abs().max(bi.abs()));
            s += r * r;
        }
        return if n == 0 { 0.0 } else { (s / n as f64).sqrt() };
    }
    let (mut s, mut m) = (0.0, 0usize);
    for i in 0..e.len() {
        if mask.is_some_and(|mk| !mk[i]) {
            continue;
        }
        let w = tol.atol_at(i) + tol.rtol_at(i) * a[i].abs().max(b[i].abs());
        let r = e[i] / w;
        s += r * r;
        m += 1;
    }
    if m == 0 {
        0.0
    } else {
        (s / m as f64).sqrt()
    }
}

/// The part of the Newton iteration's tolerance its linear solves must resolve (IDA's
/// `epslin = 0.05·epsNewt`, with `κ` for `epsNewt`).
const LINEAR_FRACTION: f64 = 0.05;

/// The residual 2-norm below which an iterative solve of the corrector's `W x = b` counts as
/// solved, as IDA bounds its Krylov residual in the weighted RMS norm (Brown, Hindmarsh and
/// Petzold, SIAM J. Sci. Comput. 15, 1994, §2): `0.05·κ` times the smallest error scale
/// `atol_i/p̄ + rtol_i·|u_i|`, times `√n` (RMS to 2-norm), and times `α = γ_k/h` when that is
/// below 1 (a differential row's error is its residual over about `α`). `p̄ = 1` for the solution;
/// a sensitivity to a parameter of size `p̄` takes the solution's absolute tolerances over `p̄`,
/// as IDAS scales them. Without it a relative test alone asks near-converged Newton iterations,
/// whose right-hand sides are tiny, for accuracy that difference products cannot give.
fn residual_floor(u: &[f64], tol: &Tolerance<f64>, pbar: f64, kappa: f64, alpha: f64) -> f64 {
    let scale = u
        .iter()
        .enumerate()
        .map(|(i, x)| tol.atol_at(i) / pbar + tol.rtol_at(i) * x.abs())
        .fold(f64::INFINITY, f64::min);
    let floor = LINEAR_FRACTION * kappa * (u.len() as f64).sqrt() * scale * alpha.min(1.0);
    if floor.is_finite() {
        floor
    } else {
        0.0
    }
}

/// The staggered sensitivity step, where the stepper solves sensitivities.
type SensitivityStep<'a, F, L> = fn(
    &mut DaeBdfStepper<'a, F, L>,
    SensitivityAt,
    &mut [f64],
    &Tolerance<f64>,
    &mut Stats,
) -> Result<(), StepFailure>;

/// Where a sensitivity step is taken: the step's end `t_new`, its size `h` and `γ_k`.
#[derive(Clone, Copy, Debug)]
struct SensitivityAt {
    t_new: f64,
    h: f64,
    gk: f64,
}

/// A DAE with the BDF, as the step loop drives it.
pub struct DaeBdfStepper<'a, F: DaeFunction, L: DaeLinearSolver<F> = DenseSolve> {
    f: &'a mut F,
    p: &'a [f64],
    /// Equations of the system; the state holds the solution and `n_params` sensitivities.
    n: usize,
    n_params: usize,
    /// `∂F/∂p` (`n × p.len()`), for the sensitivities: the first `p.len()` sensitivity
    /// directions are the parameters, any further ones start values (`∂F/∂p = 0` there).
    dfdp: DenseMatrix<f64>,
    /// The Newton correction of the system (length `n`).
    corr_n: Vec<f64>,
    /// Right-hand side of a sensitivity solve (length `n`).
    sens_rhs: Vec<f64>,
    method: DaeBdf<L>,
    /// Differential components (`true`), for `suppress_alg`.
    differential: Vec<bool>,
    lc: L::Cache,
    /// How sensitivities are stepped (`Some` exactly when `n_params > 0`).
    sens: Option<SensitivityStep<'a, F, L>>,
    /// Modified differences `D_0 … D_{MAX_ORDER+2}` at spacing `h`.
    d: Vec<Vec<f64>>,
    dtmp: Vec<Vec<f64>>,
    h: f64,
    order: usize,
    n_equal: usize,
    /// `u′` at the current step's start.
    du_start: Vec<f64>,
    /// `u′` at the end of the last attempt.
    du_new: Vec<f64>,
    ypred: Vec<f64>,
    psi: Vec<f64>,
    corr: Vec<f64>,
    dy: Vec<f64>,
    y: Vec<f64>,
    tmp: Vec<f64>,
    iv: Vec<Vec<f64>>,
    eta: f64,
    /// Jacobians are held (`jac_ok`), were evaluated during the current step (`jac_current`),
    /// and have served `jac_age` accepted steps; `W` is factorised for `γ_k/h = w_for` (NaN:
    /// none).
    jac_ok: bool,
    jac_current: bool,
    /// Where the held Jacobians were evaluated (`t + h` of that attempt).
    jac_t: f64,
    jac_age: usize,
    w_for: f64,
    step_order: usize,
    next_order: usize,
    order_chosen: bool,
    suggest: Option<f64>,
    interp_ready: bool,
    /// `t + h` of the last attempt: where its corrector evaluated `F`.
    t_new_last: f64,
    /// Where the discrete adjoint's record goes (`None`: nothing is recorded).
    record: Option<&'a mut Vec<StepOp>>,
}

/// One operation on the history `D_0 … D_{k+2}` of a recorded solve, in the order the forward
/// solve performed it (the discrete adjoint, [`crate::adjoint`], reverses them).
#[derive(Clone, Debug)]
pub(crate) enum StepOp {
    /// `initialize`: `D_0 = u0`, `D_1 = u′(t0)` at spacing 1, the rest zero.
    Start,
    /// A change of spacing `D_j ← Σ_{i=1}^{k} D_i (R(ρ)U)_{ij}`, `j = 1 … k` (rejected attempts
    /// change the spacing too).
    Rescale {
        /// The order.
        k: usize,
        /// `h_new / h_old`.
        rho: f64,
    },
    /// An accepted step of order `k` and size `h`, converged to `(u, u′)` at `t_f = t + h`,
    /// ending (for the step loop's saves) at `t_end`.
    Step {
        k: usize,
        h: f64,
        t_f: f64,
        t_end: f64,
        u: Vec<f64>,
        du: Vec<f64>,
    },
}

impl<'a, F: DaeJacobian, L: DaeLinearSolver<F>> DaeBdfStepper<'a, F, L> {
    /// The stepper for `f` with parameters `p` from a consistent `du0`, with the linear strategy
    /// of `method`; `differential` marks the differential components. `du0` is `u′(t0)`
    /// (length `n = f.len()`), or, to solve forward sensitivities with respect to the `m`
    /// parameters as well, `u′(t0)` followed by the `m` sensitivities' derivatives (length
    /// `n(1 + m)`, the layout of the state), `m` the number of parameters (`∂F/∂p` from
    /// [`DaeJacobian::param_jacobian`]). Other lengths are an `Err`.
    pub fn new(
        f: &'a mut F,
        p: &'a [f64],
        method: DaeBdf<L>,
        differential: &[bool],
        du0: &[f64],
    ) -> Result<Self, DaeError> {
        Self::with_start_directions(f, p, method, differential, du0, 0)
    }

    /// [`DaeBdfStepper::new`] with `extra` sensitivity directions after the parameters on which
    /// `F` does not depend (the start values of a sensitivity solve): `du0` has length
    /// `n(1 + m + extra)`.
    pub(crate) fn with_start_directions(
        f: &'a mut F,
        p: &'a [f64],
        method: DaeBdf<L>,
        differential: &[bool],
        du0: &[f64],
        extra: usize,
    ) -> Result<Self, DaeError> {
        let sens: SensitivityStep<'a, F, L> = Self::sensitivity_step;
        Self::build(f, p, method, differential, du0, Some((sens, extra)), None)
    }
}

impl<'a, F: DaeFunction, L: DaeLinearSolver<F>> DaeBdfStepper<'a, F, L> {
    /// The stepper for `f` with parameters `p` from a consistent `du0` (`u′(t0)`, length
    /// `n = f.len()`) with the linear strategy of `method`; `differential` marks the
    /// differential components. (Forward sensitivities take [`DaeBdfStepper::new`].)
    pub fn with_linear_solver(
        f: &'a mut F,
        p: &'a [f64],
        method: DaeBdf<L>,
        differential: &[bool],
        du0: &[f64],
    ) -> Result<Self, DaeError> {
        Self::build(f, p, method, differential, du0, None, None)
    }

    /// [`DaeBdfStepper::with_linear_solver`] with the strategy's buffers already built (by the
    /// solve's initialisation), so they are not built twice.
    pub(crate) fn with_cache(
        f: &'a mut F,
        p: &'a [f64],
        method: DaeBdf<L>,
        differential: &[bool],
        du0: &[f64],
        lc: L::Cache,
    ) -> Result<Self, DaeError> {
        Self::build(f, p, method, differential, du0, None, Some(lc))
    }

    fn build(
        f: &'a mut F,
        p: &'a [f64],
        method: DaeBdf<L>,
        differential: &[bool],
        du0: &[f64],
        sens: Option<(SensitivityStep<'a, F, L>, usize)>,
        lc: Option<L::Cache>,
    ) -> Result<Self, DaeError> {
        method.validate()?;
        method.linear.validate()?;
        let (naug, n) = (du0.len(), f.len());
        let sens_len = match sens {
            Some((_, extra)) => n * (1 + p.len() + extra),
            None => n,
        };
        if naug != n && naug != sens_len || n == 0 {
            return Err(DaeError::Length {
                what: "du0 (u′, then the sensitivities' derivatives)",
                got: naug,
                expected: n,
            });
        }
        if differential.len() != n {
            return Err(DaeError::Length {
                what: "differential_vars",
                got: differential.len(),
                expected: n,
            });
        }
        let n_params = naug / n - 1;
        let z = vec![0.0; n];
        let zaug = vec![0.0; naug];
        let lc = match lc {
            Some(lc) => lc,
            None => method.linear.dae_cache(f, n),
        };
        Ok(DaeBdfStepper {
            f,
            p,
            n,
            n_params,
            dfdp: DenseMatrix::zeros(n, p.len().min(n_params)),
            corr_n: z.clone(),
            sens_rhs: z.clone(),
            method,
            differential: differential.to_vec(),
            lc,
            sens: sens.map(|(step, _)| step).filter(|_| n_params > 0),
            d: vec![zaug.clone(); MAX_ORDER + 3],
            dtmp: vec![zaug.clone(); MAX_ORDER + 1],
            h: 1.0,
            order: 1,
            n_equal: 0,
            du_start: du0.to_vec(),
            du_new: zaug.clone(),
            ypred: zaug.clone(),
            psi: zaug.clone(),
            corr: zaug.clone(),
            dy: z.clone(),
            y: z.clone(),
            tmp: z,
            iv: vec![zaug; MAX_ORDER],
            eta: ETA_RESET,
            jac_ok: false,
            jac_current: false,
            jac_t: f64::NAN,
            jac_age: 0,
            w_for: f64::NAN,
            step_order: 1,
            next_order: 1,
            order_chosen: false,
            suggest: None,
            interp_ready: false,
            t_new_last: f64::NAN,
            record: None,
        })
    }

    /// Records what the discrete adjoint needs into `record` (solution only; for a stepper
    /// without sensitivities).
    pub(crate) fn with_record(mut self, record: &'a mut Vec<StepOp>) -> Self {
        self.record = Some(record);
        self
    }

    /// Maps `D_1 … D_k` onto the spacing `h_new`.
    #[allow(clippy::needless_range_loop)] // matrix indices read as in the formula
    fn rescale(&mut self, h_new: f64) {
        let k = self.order;
        let rho = h_new / self.h;
        if let Some(rec) = self.record.as_mut() {
            rec.push(StepOp::Rescale { k, rho });
        }
        let ru = rescale_matrix(k, rho);
        for j in 1..=k {
            for m in 0..self.dtmp[j].len() {
                self.dtmp[j][m] = (1..=k).map(|i| self.d[i][m] * ru[i][j]).sum();
            }
        }
        for j in 1..=k {
            std::mem::swap(&mut self.d[j], &mut self.dtmp[j]);
        }
        self.h = h_new;
        self.n_equal = 0;
    }
}

impl<F: DaeJacobian, L: DaeLinearSolver<F>> DaeBdfStepper<'_, F, L> {
    /// The staggered direct sensitivity step (as IDAS): with the system's step converged, each
    /// sensitivity `s_j = ∂u/∂p_j` takes the same BDF step of the linear sensitivity DAE
    /// `∂F/∂u·s + ∂F/∂u′·s′ + ∂F/∂p_j = 0`, with `s′ = (γ_k d_s + ψ_s)/h`, solved with `W` at the
    /// converged point: `W d_s = −(∂F/∂u·s⁽⁰⁾ + ∂F/∂u′·ψ_s/h + ∂F/∂p_j)`, the product with the
    /// strategy's Jacobians (or, Jacobian-free, one directional derivative). With a direct
    /// strategy the result is the derivative of the converged discrete solution on the step's
    /// mesh; GMRES solves it to its own tolerance.
    fn sensitivity_step(
        &mut self,
        at: SensitivityAt,
        u1: &mut [f64],
        tol: &Tolerance<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let SensitivityAt { t_new, h, gk } = at;
        let n = self.n;
        let linear = &self.method.linear;
        let (du_n, u_n) = (&self.du_new[..n], &u1[..n]);
        self.jac_ok = false;
        linear.linearise(&mut self.lc, self.f, t_new, du_n, u_n, self.p, stats)?;
        if self.dfdp.ncols() > 0 {
            self.f
                .param_jacobian(t_new, du_n, u_n, self.p, &mut self.dfdp);
        }
        // The step's W is now this fresh one (same γ_k/h), which later steps may keep.
        self.w_for = f64::NAN;
        linear.factorise(&mut self.lc, DaeW::bdf(gk / h), stats)?;
        self.w_for = gk / h;
        self.jac_ok = true;
        self.jac_current = true;
        self.jac_t = t_new;
        self.jac_age = 0;
        for j in 0..self.n_params {
            let off = n * (j + 1);
            for (d, ps) in self.dy.iter_mut().zip(&self.psi[off..off + n]) {
                *d = ps / h;
            }
            let s_pred = &self.ypred[off..off + n];
            if L::ITERATIVE {
                // The floor in the sensitivity's own scale, with IDAS's default absolute
                // tolerance atol/|p_j| for a parameter (a start value's direction has scale 1).
                let pbar = match self.p.get(j) {
                    Some(pj) if *pj != 0.0 && pj.is_finite() => pj.abs(),
                    _ => 1.0,
                };
                let floor = residual_floor(s_pred, tol, pbar, self.method.kappa, gk / h);
                linear.set_residual_floor(&mut self.lc, floor);
            }
            linear.jacobian_product(
                &mut self.lc,
                self.f,
                self.p,
                (&self.dy, s_pred),
                &mut self.tmp,
                stats,
            )?;
            if j < self.dfdp.ncols() {
                for ((b, jv), dp) in self
                    .sens_rhs
                    .iter_mut()
                    .zip(&self.tmp)
                    .zip(self.dfdp.col(j))
                {
                    *b = -dp - jv;
                }
            } else {
                for (b, jv) in self.sens_rhs.iter_mut().zip(&self.tmp) {
                    *b = -jv;
                }
            }
            linear.solve(&mut self.lc, self.f, self.p, &mut self.sens_rhs, stats)?;
            for (i, b) in self.sens_rhs.iter().enumerate() {
                self.corr[off + i] = *b;
                u1[off + i] = self.ypred[off + i] + b;
                self.du_new[off + i] = (gk * b + self.psi[off + i]) / h;
            }
        }
        Ok(())
    }
}

/// The corrector `G(d)` of the module docs as a [`Residual`] of the shared Newton iteration.
struct Corrector<'b, F, L: DaeLinearSolver<F>>
where
    F: DaeFunction,
{
    f: &'b mut F,
    p: &'b [f64],
    t_new: f64,
    h: f64,
    gk: f64,
    psi: &'b [f64],
    ypred: &'b [f64],
    y: &'b mut [f64],
    du: &'b mut [f64],
    linear: &'b L,
    lc: &'b mut L::Cache,
    tol: &'b Tolerance<f64>,
}

impl<F: DaeFunction, L: DaeLinearSolver<F>> Residual for Corrector<'_, F, L> {
    type V = Vec<f64>;
    fn neg_residual(
        &mut self,
        d: &Vec<f64>,
        out: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        for (i, di) in d.iter().enumerate() {
            self.y[i] = self.ypred[i] + di;
            self.du[i] = (self.gk * di + self.psi[i]) / self.h;
        }
        self.f.residual(self.t_new, self.du, self.y, self.p, out);
        stats.nf += 1;
        out.iter_mut().for_each(|r| *r = -*r);
        if out.all_finite() {
            Ok(())
        } else {
            Err(StepFailure::NonFinite)
        }
    }
    fn solve(&mut self, b: &mut Vec<f64>, stats: &mut Stats) -> Result<(), StepFailure> {
        self.linear.solve(self.lc, self.f, self.p, b, stats)?;
        stats.nnewton += 1;
        Ok(())
    }
    fn norm(&mut self, dz: &Vec<f64>) -> f64 {
        wrms(dz, self.ypred, self.ypred, self.tol, None)
    }
}

impl<F: DaeFunction, L: DaeLinearSolver<F>> Stepper for DaeBdfStepper<'_, F, L> {
    type V = Vec<f64>;
    type Method = DaeBdf<L>;
    fn method(&self) -> &DaeBdf<L> {
        &self.method
    }
    fn initialize(
        &mut self,
        _t: f64,
        u: &Vec<f64>,
        _history: Option<&DenseOutput<Vec<f64>>>,
        _stats: &mut Stats,
    ) {
        // Order 1 from (t, u, u′): D_0 = u, D_1 = h·u′, written for h = 1 and rescaled by the
        // first attempt.
        self.d[0].copy_from_slice(u);
        self.d[1].copy_from_slice(&self.du_start);
        for v in self.d[2..].iter_mut() {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        self.h = 1.0;
        self.order = 1;
        self.n_equal = 0;
        self.eta = ETA_RESET;
        self.jac_ok = false;
        self.w_for = f64::NAN;
        self.suggest = None;
        self.interp_ready = false;
        if let Some(rec) = self.record.as_mut() {
            rec.push(StepOp::Start);
        }
    }
    fn f_start(&self) -> &Vec<f64> {
        &self.du_start
    }
    /// A DAE has no `u′ = f(u)` away from the solution: the start's `u′` stands in for the
    /// starting-step heuristic (which then sizes the first step from `u′` alone).
    fn rhs(&mut self, _t: f64, _u: &Vec<f64>, out: &mut Vec<f64>, _stats: &mut Stats) {
        out.copy_from_slice(&self.du_start);
    }
    fn try_step(
        &mut self,
        step: StepInput<'_, Vec<f64>>,
        u1: &mut Vec<f64>,
    ) -> Result<f64, StepFailure> {
        let (t, h, u0, tol) = (step.t, step.h, step.u0, step.tol);
        self.suggest = Some(0.5 * h);
        self.order_chosen = false;
        self.next_order = self.order;
        self.interp_ready = false;
        if h != self.h {
            self.rescale(h);
        }
        let k = self.order;
        let gk = gamma(k);
        for m in 0..u0.len() {
            let (mut y, mut q) = (self.d[0][m], 0.0);
            for j in 1..=k {
                y += self.d[j][m];
                q += gamma(j) * self.d[j][m];
            }
            self.ypred[m] = y;
            self.psi[m] = q;
        }
        // W = (γ_k/h)·∂F/∂u′ + ∂F/∂u with Jacobians kept from an earlier step while Newton
        // converges with them (as sciml-ode's Bdf): evaluated at the prediction (u′ = ψ/h there)
        // when there are none, after a convergence failure with old ones, and after
        // JAC_MAX_AGE steps; W is refactorised whenever γ_k/h changes.
        let t_new = t + h;
        self.t_new_last = t_new;
        let n = self.n;
        let cj = gk / h;
        if L::ITERATIVE {
            let floor = residual_floor(&u0[..n], tol, 1.0, self.method.kappa, cj);
            self.method.linear.set_residual_floor(&mut self.lc, floor);
        }
        let iters = loop {
            if !self.jac_ok || (self.jac_age >= JAC_MAX_AGE && !self.jac_current) {
                for (du, q) in self.du_new.iter_mut().zip(&self.psi) {
                    *du = q / h;
                }
                // Non-finite Jacobians (an attempt past where the residual is defined) are
                // not kept: the next attempt evaluates them again.
                self.jac_ok = false;
                self.method.linear.linearise(
                    &mut self.lc,
                    self.f,
                    t_new,
                    &self.du_new[..n],
                    &self.ypred[..n],
                    self.p,
                    step.stats,
                )?;
                self.jac_ok = true;
                self.jac_current = true;
                self.jac_t = t_new;
                self.jac_age = 0;
                self.w_for = f64::NAN;
            }
            if self.w_for != cj {
                self.w_for = f64::NAN;
                let f = self
                    .method
                    .linear
                    .factorise(&mut self.lc, DaeW::bdf(cj), step.stats);
                if let Err(e) = f {
                    // Jacobians from another attempt's point (one that went where the residual
                    // is not finite, say) are refreshed here before the step is given up.
                    if self.jac_t != t_new {
                        self.jac_ok = false;
                        continue;
                    }
                    return Err(e);
                }
                self.w_for = cj;
                self.eta = self.eta.max(ETA_RESET);
            }
            self.corr_n.iter_mut().for_each(|x| *x = 0.0);
            let mut rate = Rate {
                eta: self.eta,
                max_theta: 0.0,
            };
            let conv = NewtonConvergence::Corrector {
                kappa: self.method.kappa,
                max_iter: self.method.max_iter,
            };
            let mut g = Corrector {
                f: &mut *self.f,
                p: self.p,
                t_new,
                h,
                gk,
                psi: &self.psi[..n],
                ypred: &self.ypred[..n],
                y: &mut self.y,
                du: &mut self.du_new[..n],
                linear: &self.method.linear,
                lc: &mut self.lc,
                tol,
            };
            match iterate(
                &mut g,
                &mut self.corr_n,
                &mut self.dy,
                conv,
                &mut rate,
                step.stats,
            ) {
                Ok(it) => {
                    self.eta = rate.eta;
                    break it;
                }
                // Old Jacobians: refresh them at this prediction and retry the same step.
                Err(StepFailure::NewtonFailure | StepFailure::NonFinite) if !self.jac_current => {
                    self.jac_ok = false;
                }
                // A failed linear solve with Jacobians of another attempt's point: refresh.
                Err(StepFailure::LinearSolve) if self.jac_t != t_new => {
                    self.jac_ok = false;
                }
                Err(e) => return Err(e),
            }
        };
        self.corr[..n].copy_from_slice(&self.corr_n);
        for (m, um) in u1[..n].iter_mut().enumerate() {
            *um = self.ypred[m] + self.corr[m];
            self.du_new[m] = (gk * self.corr[m] + self.psi[m]) / h;
        }
        if let Some(sens) = self.sens {
            sens(self, SensitivityAt { t_new, h, gk }, u1, tol, step.stats)?;
        }
        if !u1.all_finite() {
            return Err(StepFailure::NonFinite);
        }
        self.step_order = k;
        let maxit = self.method.max_iter;
        let safety = 0.9 * (2 * maxit + 1) as f64 / (2 * maxit + iters.max(2)) as f64;
        let mask = self.method.suppress_alg.then_some(&self.differential[..]);
        // The error test sees the solution only (IDAS's `errconS = false`).
        let (u0n, u1n) = (&u0[..n], &u1[..n]);
        let err = wrms(&self.corr[..n], u0n, u1n, tol, mask) / (k + 1) as f64;
        if !err.is_finite() {
            return Err(StepFailure::NonFinite);
        }
        if self.method.fixed_order && k < self.method.max_order {
            // Decided before the error test: fixed steps accept whatever the estimate.
            self.next_order = k + 1;
            self.order_chosen = true;
        }
        if err > 1.0 {
            let factor = (safety * err.powf(-1.0 / (k + 1) as f64)).max(MIN_FACTOR);
            self.suggest = Some(h * factor);
            return Ok(err);
        }
        self.suggest = Some(h);
        if self.method.fixed_order {
            return Ok(err);
        }
        if self.n_equal + 1 < k + 1 {
            // Keep h until k + 1 steps of this size have been taken.
            return Ok(err);
        }
        // Error estimates of orders k − 1 (D_k + d) and k + 1 (d − D_{k+1}).
        let err_m = if k > 1 {
            for m in 0..n {
                self.tmp[m] = self.d[k][m] + self.corr[m];
            }
            wrms(&self.tmp, u0n, u1n, tol, mask) / k as f64
        } else {
            f64::INFINITY
        };
        let err_p = if k < self.method.max_order {
            for m in 0..n {
                self.tmp[m] = self.corr[m] - self.d[k + 1][m];
            }
            wrms(&self.tmp, u0n, u1n, tol, mask) / (k + 2) as f64
        } else {
            f64::INFINITY
        };
        // The step-size factor of order q is e^(−1/q), compared through its logarithm.
        let log_factor = |e: f64, q: usize| -> f64 {
            if e.is_finite() {
                -e.max(1e-300).ln() / q as f64
            } else {
                f64::NEG_INFINITY
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
        let factor = (safety * lfs[best].exp()).min(MAX_FACTOR);
        self.next_order = k + best - 1;
        self.order_chosen = true;
        self.suggest = Some(h * factor);
        Ok(err)
    }
    fn finish_step(
        &mut self,
        t1: f64,
        u1: &Vec<f64>,
        _history: Option<&DenseOutput<Vec<f64>>>,
        _stats: &mut Stats,
    ) {
        if let Some(rec) = self.record.as_mut() {
            let n = self.n;
            rec.push(StepOp::Step {
                k: self.step_order,
                h: self.h,
                t_f: self.t_new_last,
                t_end: t1,
                u: u1[..n].to_vec(),
                du: self.du_new[..n].to_vec(),
            });
        }
        // D_{k+2} = d − D_{k+1}, D_{k+1} = d, D_i += D_{i+1} for i = k … 0.
        let k = self.step_order;
        for m in 0..self.corr.len() {
            self.d[k + 2][m] = self.corr[m] - self.d[k + 1][m];
            self.d[k + 1][m] = self.corr[m];
        }
        for i in (0..=k).rev() {
            let (lo, hi) = self.d.split_at_mut(i + 1);
            for (a, b) in lo[i].iter_mut().zip(&hi[0]) {
                *a += *b;
            }
        }
        self.n_equal += 1;
        if self.order_chosen {
            if self.next_order != self.order {
                self.n_equal = 0;
            }
            self.order = self.next_order;
        }
        self.du_start.copy_from_slice(&self.du_new);
        self.jac_current = false;
        self.jac_age += 1;
        self.interp_ready = false;
    }
    fn prepare_interp(&mut self, _step: StepInput<'_, Vec<f64>>) {
        if self.interp_ready {
            return;
        }
        // u(θ) = D_0 + Σ_j D_j p_j(θ) with the updated differences (sciml-ode's Bdf), written
        // as u_n + h Σ θ^i v_i.
        let k = self.step_order;
        let coef = interp_coefficients(k);
        for (i, v) in self.iv.iter_mut().enumerate() {
            let pow = i + 1;
            for (m, vm) in v.iter_mut().enumerate() {
                *vm = if pow > k {
                    0.0
                } else {
                    (1..=k).map(|j| coef[j][pow] * self.d[j][m]).sum::<f64>() / self.h
                };
            }
        }
        self.interp_ready = true;
    }
    fn interp_vectors(&self) -> &[Vec<f64>] {
        &self.iv
    }
    fn advance(&mut self) {
        self.interp_ready = false;
    }
    fn suggest_step(&self) -> Option<f64> {
        self.suggest
    }
}
