//! [`DaeProblem`]: a residual `F(u′, u, p, t) = 0` with its start, span, parameters and which
//! variables are differential; validated on construction, solved by [`DaeProblem::solve`].

use crate::bdf::{DaeBdf, DaeBdfStepper, StepOp};
use crate::error::DaeError;
use crate::function::{DaeFunction, DaeJacobian};
use crate::init::{initialise, DaeInit};
use crate::linear::{DaeLinearSolver, DaeW};
use sciml_core::{DenseMatrix, Solution};
use sciml_ode::{Callbacks, SolveOptions, StepLoop};

/// A DAE `F(u′, u, p, t) = 0` (the argument order of DifferentialEquations.jl's `DAEProblem`:
/// `du0` before `u0`).
///
/// ```
/// use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
/// use sciml_ode::SolveOptions;
/// // u1′ = −u1 and the algebraic u2 = u1²: u1 = e^{−t}, u2 = e^{−2t}.
/// let f = DaeClosure::new(2, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0];
///     r[1] = u[1] - u[0] * u[0];
/// });
/// // An inconsistent start (u2 and u1′ wrong), repaired by BrownFullBasicInit.
/// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![0.0, 0.0], vec![1.0, 0.5],
///     (0.0, 1.0), vec![], Some(vec![true, false]))?;
/// let opts = SolveOptions::default().tolerances(1e-8, 1e-10);
/// let sol = prob.solve(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)?;
/// let u = sol.u.last().unwrap();
/// assert!((u[0] - (-1f64).exp()).abs() < 1e-6);
/// assert!((u[1] - (-2f64).exp()).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DaeProblem<F> {
    pub(crate) f: F,
    pub(crate) du0: Vec<f64>,
    pub(crate) u0: Vec<f64>,
    pub(crate) tspan: (f64, f64),
    pub(crate) p: Vec<f64>,
    pub(crate) differential_vars: Vec<bool>,
}

fn check(what: &'static str, v: &[f64], n: usize) -> Result<(), DaeError> {
    if v.len() != n {
        return Err(DaeError::Length {
            what,
            got: v.len(),
            expected: n,
        });
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(DaeError::NotFinite { what, index }),
        None => Ok(()),
    }
}

impl<F: DaeFunction> DaeProblem<F> {
    /// The problem `f` from `(du0, u0)` over `tspan` (forward, `t0 < t1`, or backward, `t1 < t0`)
    /// with parameters `p`;
    /// `differential_vars[i]` says whether `u_i′` appears in `F` (all `true` when `None`).
    /// `du0` may be inconsistent when the solve initialises with `BrownFullBasicInit`.
    pub fn new(
        f: F,
        du0: Vec<f64>,
        u0: Vec<f64>,
        tspan: (f64, f64),
        p: Vec<f64>,
        differential_vars: Option<Vec<bool>>,
    ) -> Result<Self, DaeError> {
        let n = f.len();
        if n == 0 {
            return Err(DaeError::NoStates);
        }
        check("u0", &u0, n)?;
        check("du0", &du0, n)?;
        check("p", &p, f.n_params().unwrap_or(p.len()))?;
        let (t0, t1) = tspan;
        if !(t0.is_finite() && t1.is_finite() && t0 != t1) {
            return Err(DaeError::Span { t0, t1 });
        }
        let differential_vars = differential_vars.unwrap_or_else(|| vec![true; n]);
        if differential_vars.len() != n {
            return Err(DaeError::Length {
                what: "differential_vars",
                got: differential_vars.len(),
                expected: n,
            });
        }
        Ok(DaeProblem {
            f,
            du0,
            u0,
            tspan,
            p,
            differential_vars,
        })
    }

    /// The initial state.
    pub fn u0(&self) -> &[f64] {
        &self.u0
    }
    /// The initial derivative (as given; the solve's initialisation may correct it).
    pub fn du0(&self) -> &[f64] {
        &self.du0
    }
    /// The time span.
    pub fn tspan(&self) -> (f64, f64) {
        self.tspan
    }
    /// The parameters.
    pub fn p(&self) -> &[f64] {
        &self.p
    }
    /// Which variables are differential.
    pub fn differential_vars(&self) -> &[bool] {
        &self.differential_vars
    }
    /// Replaces the parameters (same length).
    pub fn set_p(&mut self, p: Vec<f64>) -> Result<(), DaeError> {
        check("p", &p, self.p.len())?;
        self.p = p;
        Ok(())
    }

    /// Makes the start consistent by `init` and integrates with `method` under `opts` (saves,
    /// tstops, dense output, fixed or adaptive steps: sciml-ode's step loop). The consistency
    /// bound of the initialisation is the absolute tolerance of `opts` (its largest entry), for
    /// `ShampineCollocationInit` at least the rounding its difference quotient `(u − u0)/dt`
    /// leaves in the residual.
    pub fn solve<L: DaeLinearSolver<F>>(
        &mut self,
        method: DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
    ) -> Result<Solution<Vec<f64>>, DaeError> {
        self.solve_with_callbacks(method, init, opts, Callbacks::new())
    }

    /// [`DaeProblem::solve`] with event handling: continuous callbacks are located on the
    /// step's interpolating polynomial and discrete ones run after each step, as for ODEs.
    /// An event that stops the solve or only reads the state works as for ODEs. An event that
    /// changes the state restarts the method at order 1 from the changed state; the changed
    /// state must be consistent (the algebraic values satisfy their equations), which is not
    /// checked: the first step's corrector then solves for consistent values at its end.
    ///
    /// ```
    /// use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
    /// use sciml_ode::{Callbacks, ContinuousCallback, SolveOptions};
    /// // u1 = e^{−t}, u2 = u1²: stop where u2 = 1/4, at t = ln 2.
    /// let f = DaeClosure::new(2, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
    ///     r[0] = du[0] + u[0];
    ///     r[1] = u[1] - u[0] * u[0];
    /// });
    /// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![-1.0, -2.0], vec![1.0, 1.0],
    ///     (0.0, 5.0), vec![], Some(vec![true, false]))?;
    /// let stop = ContinuousCallback::new(|_t, u: &Vec<f64>| u[1] - 0.25, |ctx| ctx.terminate());
    /// let opts = SolveOptions::default().tolerances(1e-9, 1e-11);
    /// let sol = prob.solve_with_callbacks(DaeBdf::new(), DaeInit::CheckInit, &opts,
    ///     Callbacks::new().with_continuous(stop))?;
    /// assert!((sol.t.last().unwrap() - 2f64.ln()).abs() < 1e-7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn solve_with_callbacks<L: DaeLinearSolver<F>>(
        &mut self,
        method: DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
        callbacks: Callbacks<Vec<f64>>,
    ) -> Result<Solution<Vec<f64>>, DaeError> {
        let n = self.u0.len();
        let (u0, du0, mut lc) = self.consistent_start(&method, init, opts, n)?;
        let t0 = self.tspan.0;
        // A structurally singular (index above one) problem has a singular W for every α:
        // say so now rather than after the step size has shrunk to nothing (a strategy that
        // forms W; a Jacobian-free one meets it as failed linear solves).
        let alpha = 1e3 / (self.tspan.1 - t0);
        let (linear, mut stats) = (&method.linear, sciml_core::Stats::default());
        if linear
            .linearise(&mut lc, &mut self.f, t0, &du0, &u0, &self.p, &mut stats)
            .is_err()
        {
            return Err(DaeError::NonFiniteJacobian { t: t0 });
        }
        if linear
            .factorise(&mut lc, DaeW::bdf(alpha), &mut stats)
            .is_err()
        {
            return Err(L::start_failure(t0));
        }
        // The stepper takes over the buffers (it linearises afresh at its first step).
        let stepper = DaeBdfStepper::with_cache(
            &mut self.f,
            &self.p,
            method,
            &self.differential_vars,
            &du0,
            lc,
        )?;
        let sol = StepLoop::new(stepper, &u0, self.tspan, opts, callbacks)?.solve()?;
        Ok(sol)
    }

    /// The start every solve shares: the settings of `method` and its strategy and the
    /// tolerances (`n_tol` components) checked, what the strategy assumes of the residual (a
    /// sparse pattern) checked at the given start before the initialisation relies on it, and
    /// `(u0, u′(t0))` made consistent by `init` in the strategy's buffers, which are returned
    /// with them. The consistency bound is the largest absolute tolerance of the solution.
    pub(crate) fn consistent_start<L: DaeLinearSolver<F>>(
        &mut self,
        method: &DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
        n_tol: usize,
    ) -> Result<ConsistentStart<L::Cache>, DaeError> {
        let (mut u0, mut du0) = (self.u0.clone(), self.du0.clone());
        let n = u0.len();
        method.validate()?;
        method.linear.validate()?;
        opts.tol.validate_len(n_tol)?;
        let abstol = (0..n).map(|i| opts.tol.atol_at(i)).fold(0.0, f64::max);
        let t0 = self.tspan.0;
        method
            .linear
            .check_start(&mut self.f, t0, &du0, &u0, &self.p)?;
        let mut lc = method.linear.dae_cache(&self.f, n);
        initialise(
            init,
            &method.linear,
            &mut lc,
            &mut self.f,
            &self.p,
            self.tspan,
            &self.differential_vars,
            &mut u0,
            &mut du0,
            abstol,
        )?;
        Ok((u0, du0, lc))
    }
}

impl<F: DaeJacobian> DaeProblem<F> {
    /// The iteration matrix `W = ∂F/∂u + α·∂F/∂u′` at `(t, du, u)` with the problem's
    /// parameters, written into `w` (`n × n`): what a BDF step of coefficient `α = γ_k/h`
    /// factorises.
    pub fn iteration_matrix(
        &mut self,
        alpha: f64,
        t: f64,
        du: &[f64],
        u: &[f64],
        w: &mut DenseMatrix<f64>,
    ) -> Result<(), DaeError> {
        let n = self.u0.len();
        check("u", u, n)?;
        check("du", du, n)?;
        if !(alpha.is_finite() && t.is_finite()) {
            return Err(sciml_core::Error::InvalidOption {
                option: "iteration_matrix",
                reason: format!("alpha = {alpha} and t = {t} must be finite"),
            }
            .into());
        }
        if w.nrows() != n || w.ncols() != n {
            return Err(DaeError::Length {
                what: "iteration matrix rows",
                got: w.nrows().min(w.ncols()),
                expected: n,
            });
        }
        let mut a = DenseMatrix::zeros(n, n);
        self.f.jacobians(t, du, u, &self.p, w, &mut a);
        for (wi, ai) in w.as_mut_slice().iter_mut().zip(a.as_slice()) {
            *wi += alpha * ai;
        }
        Ok(())
    }

    /// Solves the problem and its forward sensitivities `s_j = ∂u/∂p_j` for every parameter
    /// (staggered direct method, as IDAS: each accepted step of the solution is followed by the
    /// same BDF step of the sensitivity DAE `∂F/∂u·s + ∂F/∂u′·s′ + ∂F/∂p_j = 0`, solved at the
    /// converged point with the method's linear strategy: exactly with the dense or sparse LU, to
    /// GMRES's `rtol` with the Jacobian-free one; see [`crate::bdf`]). The error test sees the
    /// solution only.
    ///
    /// Each saved state has length `n(1 + m)` for `n` states and `m` parameters: the solution,
    /// then `s_1, …, s_m` (read them with [`sensitivity`]). `u0` is taken not to depend on `p`
    /// (`s_j(t0) = 0` on the differential variables); the algebraic sensitivities and the
    /// sensitivities' derivatives at `t0` are made consistent by one linear solve with the
    /// matrix of `BrownFullBasicInit`, which must be regular (index 1). Tolerances given per
    /// component need `n(1 + m)` entries (the sensitivities' are not used).
    ///
    /// ```
    /// use sciml_dae::{sensitivity, DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
    /// use sciml_ode::SolveOptions;
    /// // u′ = −p u: ∂u/∂p = −t e^{−pt}.
    /// let f = DaeClosure::new(1, |_t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]| {
    ///     r[0] = du[0] + p[0] * u[0];
    /// });
    /// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![-2.0], vec![1.0], (0.0, 1.0),
    ///     vec![2.0], None)?;
    /// let opts = SolveOptions::default().tolerances(1e-9, 1e-11);
    /// let sol = prob.solve_forward_sensitivity(DaeBdf::new(), DaeInit::CheckInit, &opts)?;
    /// let s = sensitivity(sol.u.last().unwrap(), 1, 0);
    /// assert!((s[0] + (-2f64).exp()).abs() < 1e-6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn solve_forward_sensitivity<L: DaeLinearSolver<F>>(
        &mut self,
        method: DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
    ) -> Result<Solution<Vec<f64>>, DaeError> {
        Ok(self.sensitivity_solve(method, init, opts, false, None)?.0)
    }

    /// [`DaeProblem::solve_forward_sensitivity`] with, after the `m` parameter sensitivities,
    /// one sensitivity `∂u/∂u0_i` for each differential variable `i` (in order): each saved
    /// state has length `n(1 + m + n_d)` for `n_d` differential variables, and the
    /// sensitivity to the `r`-th differential start value is `sensitivity(state, n, m + r)`.
    /// The algebraic start values are not directions: they follow from the differential ones
    /// (`BrownFullBasicInit` recomputes them; `CheckInit` needs them consistent). Each such
    /// sensitivity starts at the unit vector `e_i`; its algebraic part and its derivative at
    /// `t0` are made consistent as for the parameters. Parameters are optional here (`m = 0`
    /// needs no `∂F/∂p`).
    ///
    /// ```
    /// use sciml_dae::{sensitivity, DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
    /// use sciml_ode::SolveOptions;
    /// // u1′ = −u1, 0 = u2 − 2 u1: ∂u1/∂u1(0) = e^{−t}, ∂u2/∂u1(0) = 2 e^{−t}.
    /// let f = DaeClosure::new(2, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
    ///     r[0] = du[0] + u[0];
    ///     r[1] = u[1] - 2.0 * u[0];
    /// });
    /// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![-1.0, -2.0], vec![1.0, 2.0],
    ///     (0.0, 1.0), vec![], Some(vec![true, false]))?;
    /// let opts = SolveOptions::default().tolerances(1e-9, 1e-11);
    /// let sol = prob.solve_forward_sensitivity_u0(DaeBdf::new(), DaeInit::CheckInit, &opts)?;
    /// let s = sensitivity(sol.u.last().unwrap(), 2, 0);
    /// let e = (-1f64).exp();
    /// assert!((s[0] - e).abs() < 1e-7 && (s[1] - 2.0 * e).abs() < 1e-7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn solve_forward_sensitivity_u0<L: DaeLinearSolver<F>>(
        &mut self,
        method: DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
    ) -> Result<Solution<Vec<f64>>, DaeError> {
        Ok(self.sensitivity_solve(method, init, opts, true, None)?.0)
    }

    /// The forward-sensitivity solve: `m` parameter directions, then (with `with_u0`) one per
    /// differential start value. The start-value directions ride as extra parameters on which
    /// `F` does not depend (`∂F/∂p = 0`), with a unit start instead of a zero one. With
    /// `record`, the solution's part of the steps is recorded for the discrete adjoint (which
    /// then reverses exactly the steps the sensitivities took). Returns the solution and the
    /// consistent `(u0, u′(t0))` of the system.
    pub(crate) fn sensitivity_solve<L: DaeLinearSolver<F>>(
        &mut self,
        method: DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
        with_u0: bool,
        record: Option<&mut Vec<StepOp>>,
    ) -> Result<SensitivitySolve, DaeError> {
        crate::init::refuse_for_sensitivities(init)?;
        let (n, m) = (self.u0.len(), self.p.len());
        let start_dirs: Vec<usize> = if with_u0 {
            (0..n).filter(|i| self.differential_vars[*i]).collect()
        } else {
            Vec::new()
        };
        // Per-component tolerances cover the solution and every sensitivity. The start check
        // (a sparse pattern) matters all the more here: the sensitivities are made of the
        // Jacobians.
        let n_tol = n * (1 + m + start_dirs.len());
        let (u0, du0, mut lc) = self.consistent_start(&method, init, opts, n_tol)?;
        let t0 = self.tspan.0;
        let ns = m + start_dirs.len();
        let mut dfdp = DenseMatrix::zeros(n, m);
        if m > 0 && !self.f.param_jacobian(t0, &du0, &u0, &self.p, &mut dfdp) {
            return Err(DaeError::NoParamJacobian);
        }
        // Consistent sensitivities at t0: unknowns s′_i (differential i) and s_i (algebraic i),
        // with s_i fixed on the differential variables (0 for a parameter, e_i for a start
        // value) and s′_i = 0 on the algebraic ones. Brown's matrix (columns of ∂F/∂u′ and of
        // ∂F/∂u) through the solve's own strategy: x = −(∂F/∂p_j + ∂F/∂u·s_fixed).
        let singular = |_| L::start_failure(t0);
        let linear = &method.linear;
        let mut stats = sciml_core::Stats::default();
        linear
            .linearise(&mut lc, &mut self.f, t0, &du0, &u0, &self.p, &mut stats)
            .map_err(|_| DaeError::NonFiniteJacobian { t: t0 })?;
        linear
            .factorise(&mut lc, DaeW::mixed(&self.differential_vars), &mut stats)
            .map_err(singular)?;
        let (mut ua, mut dua) = (vec![0.0; n * (1 + ns)], vec![0.0; n * (1 + ns)]);
        ua[..n].copy_from_slice(&u0);
        dua[..n].copy_from_slice(&du0);
        let (zero, mut unit, mut x) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for j in 0..ns {
            let off = n * (1 + j);
            if j < m {
                for (xi, d) in x.iter_mut().zip(dfdp.col(j)) {
                    *xi = -d;
                }
            } else {
                let i0 = start_dirs[j - m];
                unit[i0] = 1.0;
                linear
                    .jacobian_product(
                        &mut lc,
                        &mut self.f,
                        &self.p,
                        (&zero, &unit),
                        &mut x,
                        &mut stats,
                    )
                    .map_err(singular)?;
                unit[i0] = 0.0;
                x.iter_mut().for_each(|xi| *xi = -*xi);
                ua[off + i0] = 1.0;
            }
            linear
                .solve(&mut lc, &mut self.f, &self.p, &mut x, &mut stats)
                .map_err(singular)?;
            for (i, xi) in x.iter().enumerate() {
                if self.differential_vars[i] {
                    dua[off + i] = *xi;
                } else {
                    ua[off + i] = *xi;
                }
            }
        }
        let mut stepper = DaeBdfStepper::with_start_directions(
            &mut self.f,
            &self.p,
            method,
            &self.differential_vars,
            &dua,
            start_dirs.len(),
        )?;
        if let Some(rec) = record {
            stepper = stepper.with_record(rec);
        }
        let sol = StepLoop::new(stepper, &ua, self.tspan, opts, Callbacks::new())?.solve()?;
        Ok((sol, u0, du0))
    }
}

/// A consistent `(u0, u′(t0))` and the linear strategy's buffers that made it.
pub(crate) type ConsistentStart<C> = (Vec<f64>, Vec<f64>, C);

/// A forward-sensitivity solve and the system's consistent `(u0, u′(t0))`.
pub(crate) type SensitivitySolve = (Solution<Vec<f64>>, Vec<f64>, Vec<f64>);

/// `s_j = ∂u/∂p_j` in a state of [`DaeProblem::solve_forward_sensitivity`] with `n` equations
/// (empty when `j` is out of range).
pub fn sensitivity(state: &[f64], n: usize, j: usize) -> &[f64] {
    let (a, b) = (n * (1 + j), n * (2 + j));
    if b <= state.len() {
        &state[a..b]
    } else {
        &[]
    }
}
