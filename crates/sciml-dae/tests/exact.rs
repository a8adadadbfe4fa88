//! The DAE BDF against exact solutions: convergence orders on fixed steps, accuracy of the
//! adaptive variable-order solve and of its dense output, and an index-2 problem with the
//! algebraic variable left out of the error test.

use sciml_core::{DenseMatrix, ReturnCode};
use sciml_dae::{DaeBdf, DaeClosure, DaeFunction, DaeInit, DaeJacobian, DaeProblem};
use sciml_ode::{SaveAt, SolveOptions};

/// Semi-explicit index 1: `u1′ = −u1 + u2`, `0 = u2 − cos t`, `u(0) = (1, 1)`; exactly
/// `u1 = (cos t + sin t)/2 + e^{−t}/2`, `u2 = cos t`, and `u′(0) = (0, 0)`.
fn forced() -> impl DaeJacobian {
    DaeClosure::new(
        2,
        |t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
            r[0] = du[0] + u[0] - u[1];
            r[1] = u[1] - t.cos();
        },
    )
    .with_jacobians(
        |_t: f64,
         _du: &[f64],
         _u: &[f64],
         _p: &[f64],
         dfdu: &mut DenseMatrix<f64>,
         dfddu: &mut DenseMatrix<f64>| {
            dfdu.fill_zero();
            dfddu.fill_zero();
            dfdu[(0, 0)] = 1.0;
            dfdu[(0, 1)] = -1.0;
            dfdu[(1, 1)] = 1.0;
            dfddu[(0, 0)] = 1.0;
        },
    )
}

fn forced_exact(t: f64) -> [f64; 2] {
    [0.5 * (t.cos() + t.sin()) + 0.5 * (-t).exp(), t.cos()]
}

fn forced_problem() -> DaeProblem<impl DaeJacobian> {
    DaeProblem::new(
        forced(),
        vec![0.0, 0.0],
        vec![1.0, 1.0],
        (0.0, 2.0),
        vec![],
        Some(vec![true, false]),
    )
    .expect("valid problem")
}

/// Largest error against the exact solution over the saved points.
fn max_error(sol: &sciml_core::Solution<Vec<f64>>, exact: impl Fn(f64) -> [f64; 2]) -> f64 {
    sol.iter()
        .map(|(t, u)| {
            let ex = exact(t);
            (u[0] - ex[0]).abs().max((u[1] - ex[1]).abs())
        })
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

#[test]
fn fixed_order_fixed_step_converges_at_orders_one_and_two() {
    for (k, lo, hi) in [(1usize, 1.9, 2.1), (2, 3.7, 4.3)] {
        let mut errs = Vec::new();
        for h in [0.02, 0.01] {
            let opts = SolveOptions::default()
                .tolerances(1e-12, 1e-12)
                .fixed_step(h)
                .saveat(SaveAt::Steps);
            let sol = forced_problem()
                .solve(DaeBdf::fixed_order(k), DaeInit::CheckInit, &opts)
                .expect("solves");
            assert_eq!(sol.retcode, ReturnCode::Success);
            assert_eq!(sol.len(), (2.0 / h).round() as usize + 1);
            let err = max_error(&sol, forced_exact);
            errs.push(err);
        }
        let ratio = errs[0] / errs[1];
        println!("order {k}: errors {errs:?}, ratio {ratio}");
        assert!(
            (lo..=hi).contains(&ratio),
            "order {k}: errors {errs:?}, ratio {ratio}"
        );
    }
}

#[test]
fn adaptive_variable_order_meets_the_tolerance() {
    let mut last = f64::INFINITY;
    for rtol in [1e-5, 1e-8] {
        let opts = SolveOptions::default()
            .tolerances(rtol, rtol)
            .saveat(SaveAt::Steps);
        let sol = forced_problem()
            .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
            .expect("solves");
        assert_eq!(sol.retcode, ReturnCode::Success);
        assert!((sol.t.last().copied().unwrap_or(0.0) - 2.0).abs() < 1e-12);
        let err = max_error(&sol, forced_exact);
        println!("rtol {rtol}: error {err:e}, {} steps", sol.stats.accepted);
        // Global error of a few tolerances (local error control, |u| ≤ 1.3).
        assert!(err < 20.0 * rtol, "rtol {rtol}: error {err:e}");
        assert!(
            err < last / 100.0,
            "rtol {rtol}: error {err:e} after {last:e}"
        );
        last = err;
    }
}

#[test]
fn saveat_reads_the_dense_output() {
    let times = vec![0.05, 0.333, 0.7, 1.234, 1.9];
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-8)
        .saveat(SaveAt::Times(times.clone()));
    let sol = forced_problem()
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("solves");
    assert_eq!(sol.t, times);
    let err = max_error(&sol, forced_exact);
    println!("saveat: error {err:e} over {} steps", sol.stats.accepted);
    assert!(err < 2e-7, "interpolated error {err:e}");
}

/// Semi-explicit index 2: `y′ = z`, `0 = y − sin t`; exactly `y = sin t`, `z = cos t`.
fn index2() -> impl DaeJacobian {
    DaeClosure::new(
        2,
        |t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
            r[0] = du[0] - u[1];
            r[1] = u[0] - t.sin();
        },
    )
    .with_jacobians(
        |_t: f64,
         _du: &[f64],
         _u: &[f64],
         _p: &[f64],
         dfdu: &mut DenseMatrix<f64>,
         dfddu: &mut DenseMatrix<f64>| {
            dfdu.fill_zero();
            dfddu.fill_zero();
            dfdu[(0, 1)] = -1.0;
            dfdu[(1, 0)] = 1.0;
            dfddu[(0, 0)] = 1.0;
        },
    )
}

#[test]
fn index_two_with_suppressed_algebraic_error_test() {
    let f = index2();
    assert_eq!(f.len(), 2);
    let mut prob = DaeProblem::new(
        f,
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        (0.0, 3.0),
        vec![],
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerances(1e-7, 1e-7)
        .saveat(SaveAt::Steps);
    let sol = prob
        .solve(DaeBdf::new().suppress_alg(true), DaeInit::CheckInit, &opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    let (mut ey, mut ez) = (0.0f64, 0.0f64);
    for (t, u) in sol.iter().skip(1) {
        ey = ey.max((u[0] - t.sin()).abs());
        ez = ez.max((u[1] - t.cos()).abs());
    }
    println!(
        "index 2: y error {ey:e}, z error {ez:e}, {} steps",
        sol.stats.accepted
    );
    // y is fixed by the linear constraint (one Newton iteration solves it exactly); z = y′ by
    // differentiation, one order less accurate than a differential variable (index 2).
    assert!(ey < 1e-12, "y error {ey:e}");
    assert!(ez < 1e-3, "z error {ez:e}");
}

#[test]
fn a_terminating_event_is_located_on_the_interpolant() {
    use sciml_ode::{Callbacks, ContinuousCallback};
    // The algebraic u2 = cos t crosses zero at π/2.
    let stop = ContinuousCallback::new(|_t, u: &Vec<f64>| u[1], |ctx| ctx.terminate());
    let opts = SolveOptions::default().tolerances(1e-8, 1e-8);
    let sol = forced_problem()
        .solve_with_callbacks(
            DaeBdf::new(),
            DaeInit::CheckInit,
            &opts,
            Callbacks::new().with_continuous(stop),
        )
        .expect("solves");
    let t_end = sol.t.last().copied().unwrap_or(f64::NAN);
    let dt = (t_end - std::f64::consts::FRAC_PI_2).abs();
    println!("event at {t_end}, error {dt:e}");
    assert!(dt < 1e-6, "event at {t_end}");
    let u = sol.u.last().expect("saved at the event");
    assert!((u[0] - forced_exact(t_end)[0]).abs() < 1e-6);
}
