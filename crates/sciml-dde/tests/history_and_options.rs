//! A history that jumps at t0, and the ODE solvers' options (saves, dense output, callbacks)
//! on a delay equation.
#![allow(clippy::ptr_arg)]

mod common;

use common::{linear_problem, LinearExact};
use sciml_core::ReturnCode;
use sciml_dde::{DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{Callbacks, ContinuousCallback, SaveAt, SolveOptions, Tsit5, Vern7, Vern9};

type Field = DdeFn<
    Vec<f64>,
    Vec<f64>,
    fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64),
>;

fn delayed(
    du: &mut Vec<f64>,
    _u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    _p: &Vec<f64>,
    t: f64,
) {
    du[0] = -h.value(t - 1.0)[0];
}

/// `u' = -u(t - 1)` with the history 0 before t0 but `u(0) = 1`: `u` itself jumps at t0, so
/// `u'` jumps at t = 1. By hand: `u = 1` on [0, 1]; `u = 2 - t` on [1, 2];
/// `u = -(3t - t²/2 - 4)` on [2, 3].
fn jump_exact(t: f64) -> f64 {
    if t <= 1.0 {
        1.0
    } else if t <= 2.0 {
        2.0 - t
    } else {
        -(3.0 * t - t * t / 2.0 - 4.0)
    }
}

#[test]
fn a_history_that_jumps_at_t0() {
    let times = vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0];
    for name in ["Tsit5", "Vern7", "Vern9"] {
        let f: Field = DdeFn::new(1, 0, delayed);
        let mut prob = DdeProblem::new(
            f,
            vec![1.0],
            InitialHistory::constant(vec![0.0]),
            (0.0, 3.0),
            vec![],
        )
        .expect("valid")
        .with_lags(vec![1.0])
        .expect("valid");
        let opts = SolveOptions::default()
            .tolerances(1e-10, 1e-12)
            .saveat(SaveAt::Times(times.clone()));
        let sol = match name {
            "Tsit5" => prob.solve(MethodOfSteps::new(Tsit5), &opts),
            "Vern7" => prob.solve(MethodOfSteps::new(Vern7), &opts),
            _ => prob.solve(MethodOfSteps::new(Vern9), &opts),
        }
        .expect("solves");
        for (t, u) in sol.iter() {
            assert!(
                (u[0] - jump_exact(t)).abs() < 1e-9,
                "{name}: u({t}) = {} against {}",
                u[0],
                jump_exact(t)
            );
        }
    }
}

#[test]
fn dense_output_and_saveat_cover_the_solution() {
    let exact = LinearExact::new(4);
    let mut prob = linear_problem(4.0);
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Every(0.25));
    let sol = prob
        .solve(MethodOfSteps::new(Tsit5), &opts)
        .expect("solves");
    assert_eq!(sol.t.len(), 17);
    for (t, u) in sol.iter() {
        assert!((u[0] - exact.at(t)).abs() < 1e-9, "u({t})");
    }
    let dense = sol
        .dense
        .as_ref()
        .expect("dense output is the history, always kept");
    let mut out = vec![0.0];
    for t in [0.1, 1.37, 2.99, 3.5] {
        dense.evaluate_to(t, &mut out).expect("in range");
        assert!((out[0] - exact.at(t)).abs() < 1e-9, "dense u({t})");
    }
}

#[test]
fn a_continuous_callback_locates_and_terminates() {
    // u = t²/2 - 2t + 3/2 on [1, 2] equals -1/4 where t² - 4t + 7/2 = 0: t = 2 - √(1/2).
    let mut prob = linear_problem(4.0);
    let cb = ContinuousCallback::new(|_t: f64, u: &Vec<f64>| u[0] + 0.25, |ctx| ctx.terminate());
    let opts = SolveOptions::default().tolerances(1e-10, 1e-12);
    let sol = prob
        .solve_with_callbacks(
            MethodOfSteps::new(Tsit5),
            &opts,
            Callbacks::new().with_continuous(cb),
        )
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Terminated);
    let (t, u) = sol.iter().last().expect("saved");
    let want = 2.0 - 0.5f64.sqrt();
    assert!((t - want).abs() < 1e-9, "event at {t}, want {want}");
    assert!((u[0] + 0.25).abs() < 1e-9);
}
