//! A sweep of bad inputs through the public API: each gives an `Err` naming what is wrong,
//! never a panic or a silent result (complements `bad_input.rs`).
#![allow(clippy::ptr_arg)]

use sciml_dde::{
    solve_dde_ensemble, DdeError, DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps,
};
use sciml_ode::{SaveAt, SolveOptions, Tsit5};

type Rhs = fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64);
type Field = DdeFn<Vec<f64>, Vec<f64>, Rhs>;

fn delayed(
    du: &mut Vec<f64>,
    _u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    _p: &Vec<f64>,
    t: f64,
) {
    du[0] = -h.value(t - 1.0)[0];
}

fn prob(history: InitialHistory<Vec<f64>, Vec<f64>>) -> DdeProblem<Field> {
    DdeProblem::new(
        DdeFn::new(1, 0, delayed as Rhs),
        vec![1.0],
        history,
        (0.0, 2.0),
        vec![],
    )
    .expect("valid")
    .with_lags(vec![1.0])
    .expect("valid")
}

fn one() -> InitialHistory<Vec<f64>, Vec<f64>> {
    InitialHistory::constant(vec![1.0])
}

#[test]
fn a_u0_of_the_wrong_length_is_refused() {
    let err = DdeProblem::new(
        DdeFn::new(1, 0, delayed as Rhs),
        vec![1.0, 2.0],
        InitialHistory::constant(vec![1.0, 2.0]),
        (0.0, 1.0),
        vec![],
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("u0"), "{err}");
}

#[test]
fn set_p_of_the_wrong_length_is_refused() {
    let mut p = prob(one());
    let err = p.set_p(vec![1.0]).expect_err("refused");
    assert!(err.to_string().contains('p'), "{err}");
}

#[test]
fn a_history_function_that_changes_length_before_t0_is_refused() {
    // Right at t0 the length is right (checked before the first step); further back it is not.
    for len in [0usize, 3] {
        let history = InitialHistory::function(move |_p: &Vec<f64>, t: f64, out: &mut Vec<f64>| {
            if t < -0.5 {
                *out = vec![1.0; len];
            } else {
                out[0] = 1.0;
            }
        });
        let err = prob(history)
            .solve(MethodOfSteps::new(Tsit5), &SolveOptions::default())
            .expect_err("refused");
        assert!(
            matches!(err, DdeError::HistoryLength { expected: 1, got } if got == len),
            "{err}"
        );
    }
}

#[test]
fn bad_fixed_point_tolerances_are_refused() {
    for (r, a) in [
        (f64::NAN, 1e-8),
        (1e-6, f64::NAN),
        (0.0, 0.0),
        (1e-6, -1.0),
        (f64::INFINITY, 1e-8),
    ] {
        let err = prob(one())
            .solve(
                MethodOfSteps::new(Tsit5).fixed_point_tol(r, a),
                &SolveOptions::default(),
            )
            .expect_err("refused");
        assert!(matches!(err, DdeError::Input(_)), "({r}, {a}): {err}");
    }
}

#[test]
fn bad_history_windows_are_refused() {
    for w in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
        let err = prob(one())
            .solve(
                MethodOfSteps::new(Tsit5).history_window(w),
                &SolveOptions::default(),
            )
            .expect_err("refused");
        assert!(err.to_string().contains("history_window"), "{w}: {err}");
    }
}

#[test]
fn non_finite_and_out_of_span_tstops_are_refused() {
    // Discontinuity tracking rewrites the tstops; bad ones are refused, not dropped.
    for (track, x) in [
        (true, f64::NAN),
        (true, 5.0),
        (true, -1.0),
        (false, f64::NAN),
    ] {
        let err = prob(one())
            .solve(
                MethodOfSteps::new(Tsit5).track_discontinuities(track),
                &SolveOptions::default().tstops(vec![0.5, x]),
            )
            .expect_err("refused");
        assert!(err.to_string().contains("tstops"), "{x}: {err}");
    }
}

#[test]
fn bad_step_options_are_refused() {
    for (what, opts) in [
        ("dtmax", SolveOptions::default().dtmax(0.0)),
        ("dtmax", SolveOptions::default().dtmax(f64::NAN)),
        ("dt", SolveOptions::default().fixed_step(-0.1)),
        (
            "saveat",
            SolveOptions::default().saveat(SaveAt::Times(vec![f64::NAN])),
        ),
    ] {
        let err = prob(one())
            .solve(MethodOfSteps::new(Tsit5), &opts)
            .expect_err("refused");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
}

#[test]
fn an_empty_ensemble_is_empty() {
    let sols = solve_dde_ensemble(
        0,
        |_i| Ok(prob(one())),
        MethodOfSteps::new(Tsit5),
        &SolveOptions::default(),
    );
    assert!(sols.is_empty());
}
