//! Bad input gives a clear `Err`, never a panic.
#![allow(clippy::ptr_arg)]

use sciml_dde::{DdeError, DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{SolveOptions, Tsit5};

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

fn ahead(
    du: &mut Vec<f64>,
    _u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    _p: &Vec<f64>,
    t: f64,
) {
    du[0] = -h.value(t + 0.1)[0];
}

fn problem(
    f: Field,
    history: InitialHistory<Vec<f64>, Vec<f64>>,
    tspan: (f64, f64),
) -> Result<DdeProblem<Field>, DdeError<Vec<f64>>> {
    DdeProblem::new(f, vec![1.0], history, tspan, vec![])
}

fn field(rhs: Rhs) -> Field {
    DdeFn::new(1, 0, rhs)
}

fn one() -> InitialHistory<Vec<f64>, Vec<f64>> {
    InitialHistory::constant(vec![1.0])
}

#[test]
fn negative_zero_and_nan_lags_are_refused() {
    for (lags, index) in [
        (vec![1.0, -0.5], 1),
        (vec![0.0], 0),
        (vec![0.5, f64::NAN], 1),
        (vec![f64::INFINITY], 0),
    ] {
        let err = problem(field(delayed), one(), (0.0, 1.0))
            .expect("valid problem")
            .with_lags(lags.clone())
            .err()
            .expect("refused");
        let msg = err.to_string();
        assert!(
            matches!(err, DdeError::InvalidLag { index: i, .. } if i == index),
            "{lags:?}: {msg}"
        );
        assert!(msg.contains("positive"), "{msg}");
    }
}

#[test]
fn a_history_of_the_wrong_length_is_refused() {
    let err = problem(
        field(delayed),
        InitialHistory::constant(vec![1.0, 2.0]),
        (0.0, 1.0),
    )
    .err()
    .expect("refused");
    assert!(
        matches!(
            err,
            DdeError::HistoryLength {
                expected: 1,
                got: 2
            }
        ),
        "{err}"
    );

    // A history function that writes a state of another length is caught before any step.
    let history = InitialHistory::function(|_p: &Vec<f64>, _t: f64, out: &mut Vec<f64>| {
        *out = vec![1.0, 2.0, 3.0];
    });
    let mut prob = problem(field(delayed), history, (0.0, 1.0)).expect("checked at solve");
    let err = prob
        .solve(MethodOfSteps::new(Tsit5), &SolveOptions::default())
        .expect_err("refused");
    assert!(
        matches!(
            err,
            DdeError::HistoryLength {
                expected: 1,
                got: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn a_non_finite_history_is_refused() {
    let err = problem(
        field(delayed),
        InitialHistory::constant(vec![f64::NAN]),
        (0.0, 1.0),
    )
    .err()
    .expect("refused");
    assert!(matches!(err, DdeError::HistoryNonFinite { .. }), "{err}");
    // A history function that is NaN further back than t0: caught when the solve reads it.
    let history = InitialHistory::function(|_p: &Vec<f64>, t: f64, out: &mut Vec<f64>| {
        out[0] = if t < -0.5 { f64::NAN } else { 1.0 };
    });
    let mut prob = problem(field(delayed), history, (0.0, 2.0))
        .expect("valid")
        .with_lags(vec![1.0])
        .expect("valid");
    let err = prob
        .solve(MethodOfSteps::new(Tsit5), &SolveOptions::default())
        .expect_err("refused");
    assert!(
        matches!(err, DdeError::HistoryNonFinite { t } if t < -0.5),
        "{err}"
    );
}

#[test]
fn reversed_empty_and_non_finite_spans_are_refused() {
    for span in [
        (1.0, 0.0),
        (0.0, 0.0),
        (0.0, f64::NAN),
        (f64::NEG_INFINITY, 1.0),
    ] {
        let err = problem(field(delayed), one(), span).err().expect("refused");
        assert!(
            matches!(err, DdeError::Input(sciml_core::Error::InvalidSpan { .. })),
            "{span:?}: {err}"
        );
        assert!(err.to_string().contains("forward"), "{err}");
    }
}

#[test]
fn a_non_finite_start_and_wrong_parameter_length_are_refused() {
    let err = DdeProblem::new(field(delayed), vec![f64::NAN], one(), (0.0, 1.0), vec![])
        .err()
        .expect("refused");
    assert!(
        matches!(err, DdeError::Input(sciml_core::Error::NonFinite { .. })),
        "{err}"
    );
    let err = DdeProblem::new(field(delayed), vec![1.0], one(), (0.0, 1.0), vec![1.0])
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            DdeError::Input(sciml_core::Error::DimensionMismatch { .. })
        ),
        "{err}"
    );
}

#[test]
fn a_state_dependent_lag_that_turns_negative_stops_the_solve() {
    // u = 1 - t on [0, 1], u = t²/2 - 2t + 3/2 on [1, 2] (u(2) = -1/2): the declared lag
    // u + 0.4 reaches zero inside [1, 2].
    let mut prob = problem(field(delayed), one(), (0.0, 3.0))
        .expect("valid")
        .with_lags(vec![1.0])
        .expect("valid")
        .with_dependent_lag(|u: &Vec<f64>, _p: &Vec<f64>, _t: f64| u[0] + 0.4);
    let err = prob
        .solve(
            MethodOfSteps::new(Tsit5),
            &SolveOptions::default().tolerances(1e-8, 1e-10),
        )
        .expect_err("the lag turns negative");
    let msg = err.to_string();
    let DdeError::LagNotPositive {
        index,
        t,
        value,
        partial,
    } = err
    else {
        panic!("expected LagNotPositive, got {msg}");
    };
    // u = -0.4 where t²/2 - 2t + 3/2 = -0.4, i.e. t = 2 - √0.2 ≈ 1.553.
    let crossing = 2.0 - 0.2f64.sqrt();
    assert_eq!(index, 0);
    // Checked at the end of each accepted step: the first one past the crossing.
    assert!(
        value <= 0.0 && t > crossing && t <= 2.0,
        "t = {t}, value {value}"
    );
    assert!(!partial.t.is_empty() && *partial.t.last().expect("saved") <= t);
    assert!(msg.contains("positive"), "{msg}");

    // Non-positive already at the start.
    let mut prob = problem(field(delayed), one(), (0.0, 1.0))
        .expect("valid")
        .with_dependent_lag(|_u: &Vec<f64>, _p: &Vec<f64>, _t: f64| -1.0);
    let err = prob
        .solve(MethodOfSteps::new(Tsit5), &SolveOptions::default())
        .expect_err("negative at t0");
    assert!(
        matches!(err, DdeError::LagNotPositive { t, .. } if t == 0.0),
        "{err}"
    );
}

#[test]
fn reading_the_future_is_refused() {
    let mut prob = problem(field(ahead), one(), (0.0, 1.0)).expect("valid");
    let err = prob
        .solve(MethodOfSteps::new(Tsit5), &SolveOptions::default())
        .expect_err("reads ahead");
    assert!(
        matches!(err, DdeError::FutureHistory { t, query, .. } if query > t),
        "{err}"
    );
    assert!(err.to_string().contains("earlier"), "{err}");
}

#[test]
fn zero_fixed_point_iterations_and_bad_tolerances_are_refused() {
    let mut prob = problem(field(delayed), one(), (0.0, 1.0)).expect("valid");
    let err = prob
        .solve(
            MethodOfSteps::new(Tsit5).fixed_point_iters(0),
            &SolveOptions::default(),
        )
        .expect_err("refused");
    assert!(err.to_string().contains("fixed_point_iters"), "{err}");
    let err = prob
        .solve(
            MethodOfSteps::new(Tsit5).fixed_point_tol(-1.0, 1e-8),
            &SolveOptions::default(),
        )
        .expect_err("refused");
    assert!(
        matches!(
            err,
            DdeError::Input(sciml_core::Error::InvalidOption { .. })
        ),
        "{err}"
    );
    let err = prob
        .solve(
            MethodOfSteps::new(Tsit5),
            &SolveOptions::default().tolerances(f64::NAN, 1e-8),
        )
        .expect_err("refused");
    assert!(matches!(err, DdeError::Input(_)), "{err}");
}
