//! Steps longer than the lag: the stage values inside the step come from the fixed-point
//! iteration on the step's own interpolant.
#![allow(clippy::ptr_arg)]

use sciml_dde::{
    DdeError, DdeFn, DdeProblem, FiniteDiffJacobian, History, InitialHistory, MethodOfSteps,
};
use sciml_ode::{Dp5, ReturnCode, Rodas5P, SaveAt, SolveOptions, Tsit5, Vern7, Vern9};

const TAU: f64 = 0.01;

type Field = DdeFn<
    Vec<f64>,
    Vec<f64>,
    fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64),
>;

fn rhs(
    du: &mut Vec<f64>,
    u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    p: &Vec<f64>,
    t: f64,
) {
    du[0] = p[0] * u[0] + p[1] * h.value(t - TAU)[0];
}

/// `u'(t) = a u(t) + b u(t - τ)` with `a = -2`, `b = e^{-τ}` and the history `e^{-t}`: then
/// `u = e^{-t}` for all t (`-1 = a + b e^{τ}`), smooth across t0, so the lag is the only
/// limit on the step and the tolerance allows steps far longer than τ = 0.01.
fn problem() -> DdeProblem<Field> {
    let f: Field = DdeFn::new(1, 2, rhs);
    let history = InitialHistory::function(|_p: &Vec<f64>, t: f64, out: &mut Vec<f64>| {
        out[0] = (-t).exp();
    });
    DdeProblem::new(f, vec![1.0], history, (0.0, 5.0), vec![-2.0, (-TAU).exp()])
        .expect("valid problem")
        .with_lags(vec![TAU])
        .expect("valid lag")
}

fn check_long_steps<M, C>(method: M, name: &str)
where
    M: for<'h> sciml_ode::OdeMethod<sciml_dde::DdeField<'h, Field>, Cache = C>,
    C: Clone + Send,
{
    let mut prob = problem();
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Steps);
    let sol = prob
        .solve(MethodOfSteps::new(method), &opts)
        .expect("solves");
    let longest =
        sol.t.windows(2).map(|w| w[1] - w[0]).fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    let err = sol
        .iter()
        .map(|(t, u)| ((u[0] - (-t).exp()) / (-t).exp()).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    let fp = prob.fixed_point_stats();
    eprintln!(
        "{name}: {} steps, longest {longest:.3}, max rel error {err:.2e}, {fp:?}",
        sol.stats.accepted
    );
    assert!(
        longest > 2.0 * TAU,
        "{name}: the steps stayed short ({longest})"
    );
    assert!(fp.iterated_steps > 0 && fp.iterations >= fp.iterated_steps);
    assert!(err < 1e-8, "{name}: max relative error {err:e}");
}

#[test]
fn steps_longer_than_the_lag_match_the_exact_solution() {
    check_long_steps(Tsit5, "Tsit5");
    check_long_steps(Dp5, "DP5");
    check_long_steps(Vern7, "Vern7");
    check_long_steps(Vern9, "Vern9");
}

#[test]
fn fixed_steps_longer_than_the_lag_converge_too() {
    // h = 0.25 = 25 τ: every stage reads inside the step.
    let mut prob = problem();
    let opts = SolveOptions::default().fixed_step(0.25);
    let sol = prob
        .solve(
            MethodOfSteps::new(Vern9).fixed_point_tol(1e-13, 1e-15),
            &opts,
        )
        .expect("solves");
    let (t, u) = sol.iter().last().expect("the end");
    let err = ((u[0] - (-t).exp()) / (-t).exp()).abs();
    assert!(err < 1e-9, "relative error {err:e}");
    assert_eq!(prob.fixed_point_stats().iterated_steps, 20);
}

#[test]
fn a_fixed_point_iteration_that_cannot_converge_ends_with_its_own_error() {
    // One iteration to a tolerance near rounding with fixed steps of 50 τ: the step cannot be
    // shrunk, so the solve stops with the fixed-point error and the solution so far.
    let mut prob = problem();
    let opts = SolveOptions::default().fixed_step(0.5);
    let alg = MethodOfSteps::new(Tsit5)
        .fixed_point_iters(1)
        .fixed_point_tol(1e-16, 1e-18);
    let err = prob
        .solve(alg, &opts)
        .expect_err("cannot converge in one iteration");
    let DdeError::FixedPointNotConverged {
        t,
        iterations,
        code,
        partial,
    } = err
    else {
        panic!("expected FixedPointNotConverged, got {err}");
    };
    // The tracked discontinuities t0 + kτ (k <= 5, Tsit5's order) are stepped to first, with
    // steps of τ that read only the past; the first long step starts at 5τ.
    assert!((t - 5.0 * TAU).abs() < 1e-15, "failed at t = {t}");
    assert_eq!((iterations, code), (1, ReturnCode::StepFailed));
    assert_eq!(partial.retcode, ReturnCode::StepFailed);

    // Adaptive steps recover by shrinking below the lag, where no iteration is needed.
    let mut prob = problem();
    let opts = SolveOptions::default().tolerances(1e-8, 1e-10);
    let alg = MethodOfSteps::new(Tsit5)
        .fixed_point_iters(1)
        .fixed_point_tol(1e-16, 1e-18);
    let sol = prob.solve(alg, &opts).expect("shrinks and solves");
    let (t, u) = sol.iter().last().expect("the end");
    assert!(((u[0] - (-t).exp()) / (-t).exp()).abs() < 1e-6);
    assert!(prob.fixed_point_stats().failures > 0);
}

#[test]
fn rodas5p_steps_longer_than_the_lag_converge_too() {
    // The same problem through a Rosenbrock method (its interpolant from its stages), with a
    // finite-difference Jacobian in u.
    let f: Field = DdeFn::new(1, 2, rhs);
    let history = InitialHistory::function(|_p: &Vec<f64>, t: f64, out: &mut Vec<f64>| {
        out[0] = (-t).exp();
    });
    let mut prob = DdeProblem::new(
        FiniteDiffJacobian::new(f),
        vec![1.0],
        history,
        (0.0, 5.0),
        vec![-2.0, (-TAU).exp()],
    )
    .expect("valid problem")
    .with_lags(vec![TAU])
    .expect("valid lag");
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Steps);
    let sol = prob
        .solve(MethodOfSteps::new(<Rodas5P>::new()), &opts)
        .expect("solves");
    let longest =
        sol.t.windows(2).map(|w| w[1] - w[0]).fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    let err = sol
        .iter()
        .map(|(t, u)| ((u[0] - (-t).exp()) / (-t).exp()).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    assert!(longest > 2.0 * TAU, "the steps stayed short ({longest})");
    assert!(prob.fixed_point_stats().iterated_steps > 0);
    assert!(err < 1e-6, "max relative error {err:e}");
}
