//! The step loop's seams, shown with toy families that are not plain ODEs (the framework issue;
//! the real DDE and DAE crates come in their own issues). Each toy is a [`Stepper`] run by the
//! same [`StepLoop`] as the ODE solvers, with the same options, saves and dense output.

use sciml_core::{DenseOutput, Stats, VectorField};
use sciml_ode::{
    Callbacks, OdeMethod, RkCache, RkMethod, SaveAt, SolveOptions, StepContext, StepFailure,
    StepInput, StepLoop, Stepper, Tsit5, Vern7,
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
        let ctx = StepContext {
            p: &self.p,
            t: step.t,
            h: step.h,
            u0: step.u0,
            tol: step.tol,
            mass: None,
            stats: step.stats,
        };
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
        let ctx = StepContext {
            p: &self.p,
            t: step.t,
            h: step.h,
            u0: step.u0,
            tol: step.tol,
            mass: None,
            stats: step.stats,
        };
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
