//! The step loop's seams, shown with toy families that are not plain ODEs (the framework issue;
//! the real DDE and DAE crates come in their own issues). Each toy is a [`Stepper`] run by the
//! same [`StepLoop`] as the ODE solvers, with the same options, saves and dense output.

use sciml_core::{DenseMatrix, DenseOutput, Jacobian, Real, State, Stats, Tolerance, VectorField};
use sciml_ode::stiff::newton::iterate;
use sciml_ode::stiff::{DenseSolveCache, NewtonConvergence, Rate, Residual, WSpec};
use sciml_ode::{
    Callbacks, DenseSolve, LinearStrategy, MethodInfo, OdeMethod, RkCache, RkMethod, SaveAt,
    SolveOptions, StepFailure, StepInput, StepLoop, Stepper, Tsit5, Vern7,
};

/// `u'(t) = -u(t - τ)` with the history `u = 1` before `t0`: the field reads the solve's own
/// dense output (random access into earlier steps), lent to it for one step at a time.
struct DelayedField<'h> {
    history: Option<&'h DenseOutput<Vec<f64>>>,
    t0: f64,
    lag: f64,
    buf: Vec<f64>,
}

impl VectorField for DelayedField<'_> {
    type V = Vec<f64>;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        (1, 0)
    }
    fn rhs(&mut self, t: f64, _u: &Vec<f64>, _p: &Vec<f64>, du: &mut Vec<f64>) {
        let tl = t - self.lag;
        let lagged = if tl <= self.t0 {
            1.0
        } else {
            let hist = self.history.expect("the toy records dense output");
            hist.evaluate_to(tl, &mut self.buf)
                .expect("steps no longer than the lag read only the past");
            self.buf[0]
        };
        du[0] = -lagged;
    }
}

/// The method of steps in its simplest form: any explicit Runge–Kutta method, with steps no
/// longer than the lag (so every delayed value lies in an earlier step) and the derivative
/// discontinuities `t0 + kτ` as tstops.
struct DelayStepper<M> {
    method: M,
    cache: RkCache<Vec<f64>>,
    t0: f64,
    lag: f64,
    p: Vec<f64>,
    buf: Vec<f64>,
}

impl<M: RkMethod> DelayStepper<M> {
    fn new(method: M, t0: f64, lag: f64, u0: &Vec<f64>) -> Self {
        let f = DelayedField {
            history: None,
            t0,
            lag,
            buf: vec![0.0],
        };
        let cache = OdeMethod::<DelayedField<'_>>::cache(&method, &f, u0);
        DelayStepper {
            method,
            cache,
            t0,
            lag,
            p: Vec::new(),
            buf: vec![0.0],
        }
    }

    fn field<'h>(&mut self, history: Option<&'h DenseOutput<Vec<f64>>>) -> DelayedField<'h> {
        DelayedField {
            history,
            t0: self.t0,
            lag: self.lag,
            buf: std::mem::take(&mut self.buf),
        }
    }
}

impl<M: RkMethod> Stepper for DelayStepper<M> {
    type V = Vec<f64>;
    type Method = M;
    fn method(&self) -> &M {
        &self.method
    }
    fn initialize(
        &mut self,
        t: f64,
        u: &Vec<f64>,
        history: Option<&DenseOutput<Vec<f64>>>,
        stats: &mut Stats,
    ) {
        let mut f = self.field(history);
        OdeMethod::initialize(&self.method, &mut self.cache, &mut f, &self.p, t, u, stats);
        self.buf = f.buf;
    }
    fn f_start(&self) -> &Vec<f64> {
        OdeMethod::<DelayedField<'_>>::f_start(&self.method, &self.cache)
    }
    fn rhs(&mut self, t: f64, u: &Vec<f64>, out: &mut Vec<f64>, stats: &mut Stats) {
        let mut f = self.field(None);
        f.rhs(t, u, &self.p, out);
        self.buf = f.buf;
        stats.nf += 1;
    }
    fn try_step(
        &mut self,
        step: StepInput<'_, Vec<f64>>,
        u1: &mut Vec<f64>,
    ) -> Result<f64, StepFailure> {
        let mut f = self.field(step.history);
        let ctx = step.context(&self.p, None);
        let res = self.method.try_step(&mut self.cache, &mut f, ctx, u1);
        self.buf = f.buf;
        res
    }
    fn finish_step(
        &mut self,
        t1: f64,
        u1: &Vec<f64>,
        history: Option<&DenseOutput<Vec<f64>>>,
        stats: &mut Stats,
    ) {
        // Methods without FSAL evaluate `f(t1, u1)` here; with steps no longer than the lag,
        // `t1 - τ` lies at or before the step's start, which the history covers.
        let mut f = self.field(history);
        OdeMethod::finish_step(
            &self.method,
            &mut self.cache,
            &mut f,
            &self.p,
            t1,
            u1,
            stats,
        );
        self.buf = f.buf;
    }
    fn prepare_interp(&mut self, step: StepInput<'_, Vec<f64>>) {
        let mut f = self.field(step.history);
        let ctx = step.context(&self.p, None);
        self.method.prepare_interp(&mut self.cache, &mut f, ctx);
        self.buf = f.buf;
    }
    fn interp_vectors(&self) -> &[Vec<f64>] {
        OdeMethod::<DelayedField<'_>>::interp_vectors(&self.method, &self.cache)
    }
    fn advance(&mut self) {
        OdeMethod::<DelayedField<'_>>::advance(&self.method, &mut self.cache);
    }
}

/// The exact solution of `u' = -u(t - 1)`, `u = 1` for `t <= 0`, by the method of steps
/// (integrating each unit interval by hand):
/// - on [0, 1]: `u = 1 - t`;
/// - on [1, 2]: `u = t²/2 - 2t + 3/2`, so `u(2) = -1/2`;
/// - on [2, 3]: `u = -1/2 - ∫_1^{t-1} (s²/2 - 2s + 3/2) ds`, so `u(3) = -1/6`.
fn exact(t: f64) -> f64 {
    if t <= 1.0 {
        1.0 - t
    } else if t <= 2.0 {
        t * t / 2.0 - 2.0 * t + 1.5
    } else {
        let s = t - 1.0;
        let anti = |s: f64| s * s * s / 6.0 - s * s + 1.5 * s;
        -0.5 - (anti(s) - anti(1.0))
    }
}

fn solve_delay<M: RkMethod>(method: M) -> sciml_core::Solution<Vec<f64>> {
    let u0 = vec![1.0];
    let stepper = DelayStepper::new(method, 0.0, 1.0, &u0);
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .dtmax(1.0)
        .tstops(vec![1.0, 2.0])
        .dense(true)
        .saveat(SaveAt::Times(vec![0.5, 1.5, 2.5, 3.0]));
    StepLoop::new(stepper, &u0, (0.0, 3.0), &opts, Callbacks::new())
        .expect("valid options")
        .solve()
        .expect("the toy solves")
}

#[test]
fn delay_equation_reads_the_history_through_the_loop() {
    let tsit5 = solve_delay(Tsit5);
    // Vern7's extra interpolation stages are evaluated lazily, through the history as well.
    let vern7 = solve_delay(Vern7);
    for sol in [&tsit5, &vern7] {
        assert_eq!(sol.t, vec![0.5, 1.5, 2.5, 3.0]);
        for (t, u) in sol.iter() {
            assert!(
                (u[0] - exact(t)).abs() < 1e-9,
                "u({t}) = {} against the exact {}",
                u[0],
                exact(t)
            );
        }
        // The dense output covers the span and is the history the field read.
        let mut out = vec![0.0];
        sol.dense
            .as_ref()
            .expect("dense output was recorded")
            .evaluate_to(1.75, &mut out)
            .expect("in range");
        assert!((out[0] - exact(1.75)).abs() < 1e-9);
    }
    // Ignoring the delay (u' = -u) would give e^{-3} at t = 3, far from the exact -1/6.
    assert!((tsit5.u[3][0] + 1.0 / 6.0).abs() < 1e-9);
}

#[test]
fn delay_toy_fails_like_an_ode_with_a_partial_solution() {
    // Too few steps allowed: the same return code and partial solution as an ODE solve.
    let u0 = vec![1.0];
    let stepper = DelayStepper::new(Tsit5, 0.0, 1.0, &u0);
    let opts = SolveOptions::default()
        .dtmax(1.0)
        .tstops(vec![1.0, 2.0])
        .dense(true)
        .saveat(SaveAt::Steps)
        .maxiters(2);
    let err = StepLoop::new(stepper, &u0, (0.0, 3.0), &opts, Callbacks::new())
        .expect("valid options")
        .solve()
        .expect_err("two steps cannot reach t = 3");
    let sciml_core::SolveError::Failed { code, partial, .. } = err else {
        panic!("a failed integration, not an input error: {err}");
    };
    assert_eq!(code, sciml_core::ReturnCode::MaxIters);
    assert_eq!(partial.retcode, sciml_core::ReturnCode::MaxIters);
    assert_eq!(partial.len(), 3, "the start and two accepted steps");
}

// ---------------------------------------------------------------------------------------------
// A residual (DAE) problem through the shared Newton iteration and the step loop.

/// The semi-explicit index-1 DAE in residual form `F(u′, u, t) = 0`:
///
/// `F_1 = u_1′ + u_1`, `F_2 = u_2 − u_1²`,
///
/// with `u(0) = (1, 1)`; its solution is `u_1 = e^{−t}`, `u_2 = e^{−2t}`.
fn dae_residual(up: &[f64], u: &[f64], out: &mut [f64]) {
    out[0] = up[0] + u[0];
    out[1] = u[1] - u[0] * u[0];
}

/// `∂F/∂u′` of [`dae_residual`] (constant): the `A` of the iteration matrix.
fn dae_dfdup() -> DenseMatrix<f64> {
    let mut a = DenseMatrix::zeros(2, 2);
    a[(0, 0)] = 1.0;
    a
}

/// A consistent derivative at `u` on the constraint manifold: `u_1′ = −u_1` and, differentiating
/// the constraint, `u_2′ = 2u_1 u_1′`.
fn dae_consistent_derivative(u: &[f64], up: &mut [f64]) {
    up[0] = -u[0];
    up[1] = 2.0 * u[0] * up[0];
}

/// `F` with `u′` frozen, seen as a field of `u`, so that a linear strategy's `J` is `∂F/∂u`.
struct FrozenDerivative {
    up: Vec<f64>,
}

impl VectorField for FrozenDerivative {
    type V = Vec<f64>;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        (2, 0)
    }
    fn rhs(&mut self, _t: f64, u: &Vec<f64>, _p: &Vec<f64>, out: &mut Vec<f64>) {
        dae_residual(&self.up, u, out);
    }
}

impl Jacobian for FrozenDerivative {
    const EXACT: bool = true;
    fn jacobian(&mut self, _t: f64, u: &Vec<f64>, _p: &Vec<f64>, j: &mut DenseMatrix<f64>) {
        j[(0, 0)] = 1.0;
        j[(0, 1)] = 0.0;
        j[(1, 0)] = -2.0 * u[0];
        j[(1, 1)] = 1.0;
    }
}

/// Backward Euler on a residual problem, as a method the loop can describe: first order, an
/// error estimate of the same order (below), linear dense output `u0 + hθ·(u1 − u0)/h`.
#[derive(Clone, Copy, Debug)]
struct ResidualEuler;

impl MethodInfo for ResidualEuler {
    fn name(&self) -> &'static str {
        "backward Euler (residual form)"
    }
    fn order(&self) -> u8 {
        1
    }
    fn is_adaptive(&self) -> bool {
        true
    }
    fn error_order(&self) -> u8 {
        1
    }
    fn interp_order(&self) -> u8 {
        1
    }
    fn interp_poly<R: Real>(&self) -> Vec<Vec<R>> {
        vec![vec![R::one()]]
    }
}

/// One backward Euler step as a [`Residual`]: `G(y) = F((y − u0)/h, y, t + h)`, so `−G` at the
/// iterate, with `W = ∂G/∂y = (1/h)·∂F/∂u′ + ∂F/∂u` factorised by the dense strategy.
struct EulerStepResidual<'a> {
    lc: &'a mut DenseSolveCache<f64>,
    field: &'a mut FrozenDerivative,
    p: &'a Vec<f64>,
    u0: &'a Vec<f64>,
    h: f64,
    tol: &'a Tolerance<f64>,
    /// `(y − u0)/h` at the iterate.
    up: &'a mut Vec<f64>,
}

impl Residual for EulerStepResidual<'_> {
    type V = Vec<f64>;
    fn neg_residual(
        &mut self,
        y: &Vec<f64>,
        out: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        for ((d, yi), ui) in self.up.iter_mut().zip(y).zip(self.u0) {
            *d = (yi - ui) / self.h;
        }
        dae_residual(self.up, y, out);
        out.iter_mut().for_each(|r| *r = -*r);
        stats.nf += 1;
        if out.all_finite() {
            Ok(())
        } else {
            Err(StepFailure::NonFinite)
        }
    }
    fn solve(&mut self, b: &mut Vec<f64>, stats: &mut Stats) -> Result<(), StepFailure> {
        DenseSolve.solve(self.lc, self.field, self.p, b, stats)?;
        stats.nnewton += 1;
        Ok(())
    }
    fn norm(&mut self, dy: &Vec<f64>) -> f64 {
        <Vec<f64>>::err_norm(dy, self.u0, self.u0, self.tol)
    }
}

/// The stepper: each step solves `G(y) = 0` by the shared simplified Newton iteration (the
/// ESDIRK stages' convergence test, Hairer and Wanner II, IV.8) from the explicit Euler
/// predictor `u0 + h u0′`, with `J = ∂F/∂u` at the predictor. The error estimate is Milne's
/// device for the pair: backward Euler's local error is `−h²u″/2 + O(h³)` and the predictor's
/// `+h²u″/2`, so `(y − y_pred)/2` estimates it.
struct ResidualEulerStepper {
    field: FrozenDerivative,
    lc: DenseSolveCache<f64>,
    dfdup: DenseMatrix<f64>,
    p: Vec<f64>,
    /// `u′` at the current point (the step's start).
    up: Vec<f64>,
    /// `u′ = (u1 − u0)/h` of the last attempt.
    up_new: Vec<f64>,
    /// The dense output's vector: `u′` of the last accepted step.
    iv: Vec<Vec<f64>>,
    dy: Vec<f64>,
    est: Vec<f64>,
    rate: Rate<f64>,
    conv: NewtonConvergence,
}

impl ResidualEulerStepper {
    fn new(u0: &Vec<f64>) -> Self {
        let field = FrozenDerivative {
            up: u0.zeros_like(),
        };
        let lc = LinearStrategy::<FrozenDerivative>::cache(&DenseSolve, &field, u0);
        ResidualEulerStepper {
            field,
            lc,
            dfdup: dae_dfdup(),
            p: Vec::new(),
            up: u0.zeros_like(),
            up_new: u0.zeros_like(),
            iv: vec![u0.zeros_like()],
            dy: u0.zeros_like(),
            est: u0.zeros_like(),
            rate: Rate {
                eta: 1.0,
                max_theta: 0.0,
            },
            conv: NewtonConvergence::Stage {
                kappa: 0.03,
                max_iter: 10,
            },
        }
    }
}

impl Stepper for ResidualEulerStepper {
    type V = Vec<f64>;
    type Method = ResidualEuler;
    fn method(&self) -> &ResidualEuler {
        &ResidualEuler
    }
    fn initialize(
        &mut self,
        _t: f64,
        u: &Vec<f64>,
        _history: Option<&DenseOutput<Vec<f64>>>,
        _stats: &mut Stats,
    ) {
        dae_consistent_derivative(u, &mut self.up);
    }
    fn f_start(&self) -> &Vec<f64> {
        &self.up
    }
    fn rhs(&mut self, _t: f64, u: &Vec<f64>, out: &mut Vec<f64>, _stats: &mut Stats) {
        dae_consistent_derivative(u, out);
    }
    fn try_step(
        &mut self,
        step: StepInput<'_, Vec<f64>>,
        u1: &mut Vec<f64>,
    ) -> Result<f64, StepFailure> {
        let (t, h, u0) = (step.t, step.h, step.u0);
        // Predictor, the Newton guess and the reference of the error estimate.
        u1.lincomb(u0, &[h], &[&self.up]);
        self.field.up.copy_from(&self.up);
        DenseSolve.update_jacobian(
            &mut self.lc,
            &mut self.field,
            t + h,
            u1,
            &self.p,
            step.stats,
        );
        let w = WSpec {
            alpha: 1.0 / h,
            a: Some(&self.dfdup),
            beta: 1.0,
        };
        LinearStrategy::<FrozenDerivative>::factorise(&DenseSolve, &mut self.lc, w, step.stats)?;
        self.est.copy_from(u1);
        // A fresh J: the rate carried from the last step says nothing about this one, so the
        // first iteration may not stop on it (BDF's rule after a new Jacobian, η ≥ 20).
        self.rate.eta = self.rate.eta.max(20.0);
        let mut g = EulerStepResidual {
            lc: &mut self.lc,
            field: &mut self.field,
            p: &self.p,
            u0,
            h,
            tol: step.tol,
            up: &mut self.up_new,
        };
        iterate(
            &mut g,
            u1,
            &mut self.dy,
            self.conv,
            &mut self.rate,
            step.stats,
        )?;
        for (((up, y), u), e) in self
            .up_new
            .iter_mut()
            .zip(u1.iter())
            .zip(u0)
            .zip(&mut self.est)
        {
            *up = (y - u) / h;
            *e = 0.5 * (y - *e);
        }
        Ok(<Vec<f64>>::err_norm(&self.est, u0, u1, step.tol))
    }
    fn finish_step(
        &mut self,
        _t1: f64,
        _u1: &Vec<f64>,
        _history: Option<&DenseOutput<Vec<f64>>>,
        _stats: &mut Stats,
    ) {
        self.up.copy_from(&self.up_new);
        self.iv[0].copy_from(&self.up_new);
    }
    fn prepare_interp(&mut self, _step: StepInput<'_, Vec<f64>>) {}
    fn interp_vectors(&self) -> &[Vec<f64>] {
        &self.iv
    }
    fn advance(&mut self) {}
}

fn dae_exact(t: f64) -> [f64; 2] {
    [(-t).exp(), (-2.0 * t).exp()]
}

fn solve_dae(opts: &SolveOptions<f64>) -> sciml_core::Solution<Vec<f64>> {
    let u0 = vec![1.0, 1.0];
    StepLoop::new(
        ResidualEulerStepper::new(&u0),
        &u0,
        (0.0, 2.0),
        opts,
        Callbacks::new(),
    )
    .expect("valid options")
    .solve()
    .expect("the toy DAE solves")
}

/// The largest error against the exact solution over the saved points, after checking that the
/// algebraic constraint holds at each of them to Newton's tolerance.
fn dae_max_error(sol: &sciml_core::Solution<Vec<f64>>, rtol: f64, atol: f64) -> f64 {
    // Newton stops once its estimate of the iterate's remaining error, in the weighted RMS norm
    // over n = 2 components, is below κ = 0.03: each component is then within
    // √2·κ·(atol + rtol·|u|) ≤ √2·0.03·(atol + rtol) of the exact root (|u| ≤ 1), and
    // |u_2 − u_1²| changes by at most |δu_2| + 2|u_1||δu_1| ≤ 3 max|δu| from its zero there.
    let bound = 3.0 * 2f64.sqrt() * 0.03 * (atol + rtol);
    let mut max_err: f64 = 0.0;
    for (t, u) in sol.iter() {
        let constraint = u[1] - u[0] * u[0];
        assert!(
            constraint.abs() <= bound,
            "u2 - u1² = {constraint:e} at t = {t} (bound {bound:e})"
        );
        let ex = dae_exact(t);
        max_err = max_err.max((u[0] - ex[0]).abs()).max((u[1] - ex[1]).abs());
    }
    max_err
}

#[test]
fn residual_dae_steps_through_the_loop_at_first_order() {
    let (rtol, atol) = (1e-10, 1e-12);
    let mut errs = Vec::new();
    for h in [0.02, 0.01] {
        let opts = SolveOptions::default()
            .tolerances(rtol, atol)
            .fixed_step(h)
            .saveat(SaveAt::Steps);
        let sol = solve_dae(&opts);
        assert_eq!(sol.retcode, sciml_core::ReturnCode::Success);
        let n = (2.0 / h).round() as usize;
        assert_eq!(sol.len(), n + 1, "the start and every step");
        assert!((sol.t[n] - 2.0).abs() < 1e-12);
        // One Jacobian and one factorisation of W = (1/h)·∂F/∂u′ + ∂F/∂u per step.
        assert_eq!(sol.stats.njac, n);
        assert_eq!(sol.stats.nfactor, n);
        assert!(sol.stats.nnewton >= n);
        // Backward Euler on u1' = -u1: u1(t_n) = (1 + h)^{-n}, whose error is
        // (h/2)·t·e^{-t} + O(h²) ≤ h/(2e) ≈ 0.184h; u2 = u1² inherits 2u1 times it,
        // h·t·e^{-2t} ≤ h/(2e) as well.
        let err = dae_max_error(&sol, rtol, atol);
        assert!(err <= 0.2 * h && err >= 0.15 * h, "h = {h}: error {err:e}");
        errs.push(err);
    }
    // First order: halving h halves the error.
    let ratio = errs[0] / errs[1];
    assert!((1.9..=2.1).contains(&ratio), "error ratio {ratio}");
}

#[test]
fn residual_dae_saves_through_the_dense_output() {
    let h = 0.01;
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .fixed_step(h)
        .saveat(SaveAt::Times(vec![0.25, 0.5, 1.0, 1.5, 2.0]));
    let sol = solve_dae(&opts);
    assert_eq!(sol.t, vec![0.25, 0.5, 1.0, 1.5, 2.0]);
    // Step error ≤ 0.184h (above) plus the linear interpolant's h²/8·max|u″| ≤ h²/2 (|u″| ≤ 4).
    for (t, u) in sol.iter() {
        let ex = dae_exact(t);
        for (a, b) in u.iter().zip(ex) {
            assert!(
                (a - b).abs() <= 0.2 * h + 0.5 * h * h,
                "u({t}) = {u:?} vs {ex:?}"
            );
        }
    }
}

#[test]
fn residual_dae_adapts_its_step_through_the_controller() {
    let (rtol, atol) = (1e-6, 1e-8);
    let opts = SolveOptions::default()
        .tolerances(rtol, atol)
        .saveat(SaveAt::Steps);
    let sol = solve_dae(&opts);
    assert_eq!(sol.retcode, sciml_core::ReturnCode::Success);
    assert_eq!(*sol.t.last().expect("saved the end"), 2.0);
    // Steps grow as the solution decays (the estimate ~ h²|u″|/2 with |u″| ~ e^{-t}).
    let steps: Vec<f64> = sol.t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.len() > 10, "{} steps", steps.len());
    assert!(steps[steps.len() / 2] > steps[1], "{steps:?}");
    // A first-order method whose local error h²|u″|/2 is held near ε = 1e-6 takes steps of
    // about √(2ε/|u″|) and ends with a global error of about 0.184 such h: below 1e-3.
    let err = dae_max_error(&sol, rtol, atol);
    assert!(err < 1e-3, "error {err:e}");
}

#[test]
fn residual_dae_fails_like_an_ode_with_a_partial_solution() {
    let opts = SolveOptions::default()
        .fixed_step(0.01)
        .saveat(SaveAt::Steps)
        .maxiters(3);
    let u0 = vec![1.0, 1.0];
    let err = StepLoop::new(
        ResidualEulerStepper::new(&u0),
        &u0,
        (0.0, 2.0),
        &opts,
        Callbacks::new(),
    )
    .expect("valid options")
    .solve()
    .expect_err("three steps cannot reach t = 2");
    let sciml_core::SolveError::Failed { code, partial, .. } = err else {
        panic!("a failed integration, not an input error: {err}");
    };
    assert_eq!(code, sciml_core::ReturnCode::MaxIters);
    assert_eq!(partial.len(), 4, "the start and three accepted steps");
}

#[test]
fn a_non_finite_start_is_refused_before_any_step() {
    let u0 = vec![f64::NAN];
    let stepper = DelayStepper::new(Tsit5, 0.0, 1.0, &u0);
    let err = StepLoop::new(
        stepper,
        &u0,
        (0.0, 1.0),
        &SolveOptions::default(),
        Callbacks::new(),
    )
    .err()
    .expect("a NaN start is bad input, not a failed integration");
    assert!(err.to_string().contains("u0"), "{err}");
}
