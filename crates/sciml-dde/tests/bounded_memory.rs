//! Long integrations with bounded lags keep bounded memory: the dense output older than the
//! history window is dropped, with bitwise the same solution.

mod common;

use common::linear_problem;
use sciml_dde::{DdeError, MethodOfSteps};
use sciml_ode::{SaveAt, SolveOptions, Tsit5};

#[test]
fn a_history_window_bounds_the_dense_output_and_changes_nothing_else() {
    let t1 = 200.0;
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Every(10.0));
    let full = linear_problem(t1)
        .solve(MethodOfSteps::new(Tsit5), &opts)
        .expect("solves");
    let windowed = linear_problem(t1)
        .solve(MethodOfSteps::new(Tsit5).history_window(1.0), &opts)
        .expect("solves");
    // The same steps and the same values: only memory differs.
    assert_eq!(full.t, windowed.t);
    assert_eq!(full.u, windowed.u);
    assert_eq!(full.stats.accepted, windowed.stats.accepted);
    let kept = windowed.dense.as_ref().expect("dense").segments().len();
    let all = full.dense.as_ref().expect("dense").segments().len();
    let per_unit = all as f64 / t1;
    assert!(all > 200, "{all} steps in the full solve");
    assert!(
        (kept as f64) < 3.0 * per_unit + 3.0,
        "kept {kept} of {all} segments"
    );
    let (start, end) = windowed
        .dense
        .as_ref()
        .expect("dense")
        .range()
        .expect("steps");
    // The kept steps cover the window (late steps are long, several lags, by the fixed-point
    // iteration).
    assert!(end == t1 && start <= t1 - 1.0, "kept [{start}, {end}]");
}

#[test]
fn a_window_shorter_than_a_lag_is_refused_and_reads_beyond_it_are_errors() {
    let err = linear_problem(5.0)
        .solve(
            MethodOfSteps::new(Tsit5).history_window(0.5),
            &SolveOptions::default(),
        )
        .expect_err("shorter than the lag");
    assert!(err.to_string().contains("history_window"), "{err}");

    // A state-dependent lag is not bounded by the declared constant ones: a read further back
    // than the window is an error, not a silent value.
    let mut prob = common::linear_problem(5.0);
    let err = prob
        .solve(
            MethodOfSteps::new(Tsit5).history_window(1.0),
            &SolveOptions::default(),
        )
        .map(|_| ())
        .err();
    assert!(err.is_none(), "reads at t - 1 stay inside a window of 1");
    let f = sciml_dde::DdeFn::new(
        1,
        0,
        |du: &mut Vec<f64>,
         _u: &Vec<f64>,
         h: &mut sciml_dde::History<'_, Vec<f64>, Vec<f64>>,
         _p: &Vec<f64>,
         t: f64| {
            du[0] = -h.value(t - 3.0)[0];
        },
    );
    let mut prob = sciml_dde::DdeProblem::new(
        f,
        vec![1.0],
        sciml_dde::InitialHistory::constant(vec![1.0]),
        (0.0, 6.0),
        vec![],
    )
    .expect("valid")
    .with_lags(vec![1.0])
    .expect("valid");
    let err = prob
        .solve(
            MethodOfSteps::new(Tsit5).history_window(1.0),
            &SolveOptions::default(),
        )
        .expect_err("reads three units back");
    assert!(
        matches!(err, DdeError::HistoryDropped { query, t, .. } if t - query > 1.0),
        "{err}"
    );
}
