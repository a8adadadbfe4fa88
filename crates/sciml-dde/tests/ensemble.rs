//! DDE ensembles: `u'(t) = -p u(t - 1)`, `u = 1` before 0, for several `p`. By the method of
//! steps by hand, `u = 1 - p t` on [0, 1] and `u(t) = 1 - p t + p²(t - 1)²/2` on [1, 2], so
//! `u(2) = 1 - 2p + p²/2`.
#![allow(clippy::ptr_arg)]

use sciml_dde::{
    solve_dde_ensemble, DdeError, DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps,
};
use sciml_ode::{EnsembleSummary, SaveAt, SolveOptions, Tsit5};

type Rhs = fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64);

fn rhs(
    du: &mut Vec<f64>,
    _u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    p: &Vec<f64>,
    t: f64,
) {
    du[0] = -p[0] * h.value(t - 1.0)[0];
}

type Problem = DdeProblem<DdeFn<Vec<f64>, Vec<f64>, Rhs>>;

fn problem(p: f64, lag: f64) -> Result<Problem, DdeError<Vec<f64>>> {
    let f = DdeFn::new(1, 1, rhs as Rhs);
    DdeProblem::new(
        f,
        vec![1.0],
        InitialHistory::constant(vec![1.0]),
        (0.0, 2.0),
        vec![p],
    )?
    .with_lags(vec![lag])
}

fn p_of(i: usize) -> f64 {
    0.25 * (i + 1) as f64
}

fn opts() -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Times(vec![0.5, 1.0, 1.5, 2.0]))
}

#[test]
fn members_match_the_exact_solution_and_their_single_solves_bitwise() {
    let sols = solve_dde_ensemble(
        6,
        |i| problem(p_of(i), 1.0),
        MethodOfSteps::new(Tsit5),
        &opts(),
    );
    assert_eq!(sols.len(), 6);
    for (i, sol) in sols.iter().enumerate() {
        let sol = sol.as_ref().expect("every member solves");
        let p = p_of(i);
        let exact = 1.0 - 2.0 * p + 0.5 * p * p;
        assert!(
            (sol.u[3][0] - exact).abs() < 1e-9,
            "member {i}: {} vs {exact}",
            sol.u[3][0]
        );
        // The same solve alone: the ensemble changes nothing but where it runs.
        let alone = problem(p, 1.0)
            .expect("valid")
            .solve(MethodOfSteps::new(Tsit5), &opts())
            .expect("solves");
        assert_eq!(sol.u, alone.u);
        assert_eq!(sol.t, alone.t);
    }
}

#[test]
fn an_invalid_member_fails_alone() {
    let sols = solve_dde_ensemble(
        4,
        |i| problem(p_of(i), if i == 2 { -1.0 } else { 1.0 }),
        MethodOfSteps::new(Tsit5),
        &opts(),
    );
    for (i, sol) in sols.iter().enumerate() {
        if i == 2 {
            let err = sol.as_ref().expect_err("a negative lag is refused");
            assert!(matches!(err, DdeError::InvalidLag { .. }), "{err}");
        } else {
            assert!(sol.is_ok(), "member {i} is unaffected");
        }
    }
}

#[test]
fn the_summary_mean_is_the_mean_of_the_exact_solutions() {
    let sols: Vec<_> = solve_dde_ensemble(
        5,
        |i| problem(p_of(i), 1.0),
        MethodOfSteps::new(Tsit5),
        &opts(),
    )
    .into_iter()
    .map(|s| s.expect("solves"))
    .collect();
    let summary = EnsembleSummary::new(&sols, &[0.5]).expect("summary");
    let mean_exact: f64 = (0..5)
        .map(|i| {
            let p = p_of(i);
            1.0 - 2.0 * p + 0.5 * p * p
        })
        .sum::<f64>()
        / 5.0;
    assert!((summary.mean[3][0] - mean_exact).abs() < 1e-9);
}
