//! Solves over a backward span (`t1 < t0`), as SUNDIALS IDA and DifferentialEquations.jl allow,
//! against the exact solution of `u1′ = −a u1`, `0 = u2 − b u1²` (`u1 = c e^{−a t}`,
//! `u2 = b c² e^{−2at}`): plain solves with each initialisation, saves, events, and the forward
//! sensitivities and the discrete adjoint against the exact derivatives.
#![allow(clippy::unwrap_used)]

use sciml_core::linalg::SparsityPattern;
use sciml_core::{ReturnCode, Scalar};
use sciml_dae::init::SHAMPINE_DEFAULT_DT;
use sciml_dae::{
    sensitivity, DaeBdf, DaeColoured, DaeForwardAd, DaeInit, DaeProblem, GenericResidual,
};
use sciml_ode::stiff::{KrylovSolve, SparseSolve};
use sciml_ode::{Callbacks, ContinuousCallback, SaveAt, SolveOptions};

struct Decay;

impl GenericResidual for Decay {
    fn len(&self) -> usize {
        2
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        r[0] = du[0] + p[0] * u[0];
        r[1] = u[1] - p[1] * u[0] * u[0];
    }
}

const A: f64 = 0.7;
const B: f64 = 1.5;
const T0: f64 = 2.0;

/// The exact state at `t` of the solution through `u1(T0) = c`.
fn exact_through(c: f64, t: f64) -> [f64; 2] {
    let u1 = c * (-A * (t - T0)).exp();
    [u1, B * u1 * u1]
}

/// The exact state at `t` of the solution through `u1(T0) = 1`.
fn exact(t: f64) -> [f64; 2] {
    exact_through(1.0, t)
}

fn problem(u2: f64, du: [f64; 2]) -> DaeProblem<DaeForwardAd<Decay>> {
    DaeProblem::new(
        DaeForwardAd::new(Decay),
        du.to_vec(),
        vec![1.0, u2],
        (T0, 0.0),
        vec![A, B],
        Some(vec![true, false]),
    )
    .unwrap()
}

fn consistent() -> DaeProblem<DaeForwardAd<Decay>> {
    problem(B, [-A, -2.0 * A * B])
}

fn opts() -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Times(vec![1.5, 1.0, 0.0]))
}

fn max_error(sol: &sciml_core::Solution<Vec<f64>>, c: f64) -> f64 {
    let mut worst: f64 = 0.0;
    for (t, u) in sol.t.iter().zip(&sol.u) {
        let e = exact_through(c, *t);
        for i in 0..2 {
            worst = worst.max((u[i] - e[i]).abs() / e[i].abs());
        }
    }
    worst
}

#[test]
fn backward_solves_meet_the_tolerance_with_every_initialisation() {
    // Shampine's implicit Euler step, back from T0 by dt = 1e-6·T0, moves u1 to 1/(1 − a·dt).
    let dt = SHAMPINE_DEFAULT_DT * T0;
    for (name, mut prob, init, c) in [
        ("check", consistent(), DaeInit::CheckInit, 1.0),
        (
            "brown",
            problem(0.3, [-A, 5.0]),
            DaeInit::BrownFullBasicInit,
            1.0,
        ),
        (
            "shampine",
            problem(0.3, [2.0, 5.0]),
            DaeInit::ShampineCollocationInit { dt: None },
            1.0 / (1.0 - A * dt),
        ),
    ] {
        let sol = prob.solve(DaeBdf::new(), init, &opts()).unwrap();
        assert_eq!(sol.retcode, ReturnCode::Success);
        assert_eq!(
            sol.t,
            vec![1.5, 1.0, 0.0],
            "{name}: saves in the solve's direction"
        );
        let err = max_error(&sol, c);
        println!(
            "{name}: {} steps, largest relative error {err:e}",
            sol.stats.steps
        );
        assert!(err < 1e-7, "{name}: {err:e}");
    }
}

#[test]
fn a_backward_event_lands_on_its_crossing() {
    // u1 = e^{−a(t − T0)} grows backward in time; it crosses 2 at t = T0 − ln 2 / a.
    let hit = T0 - 2f64.ln() / A;
    let mut prob = consistent();
    let cb = ContinuousCallback::new(|_t, u: &Vec<f64>| u[0] - 2.0, |ctx| ctx.terminate());
    let every_step = SolveOptions::default().tolerances(1e-10, 1e-12);
    let sol = prob
        .solve_with_callbacks(
            DaeBdf::new(),
            DaeInit::CheckInit,
            &every_step,
            Callbacks::new().with_continuous(cb),
        )
        .unwrap();
    let t_end = *sol.t.last().unwrap();
    println!("terminated at {t_end} (exact {hit})");
    assert!((t_end - hit).abs() < 1e-8, "{t_end} vs {hit}");
}

#[test]
fn backward_forward_sensitivities_match_the_exact_derivatives() {
    // ∂u1/∂a = −(t − T0) u1, ∂u2/∂a = −2(t − T0) u2, ∂u2/∂b = u1².
    let mut prob = consistent();
    let sol = prob
        .solve_forward_sensitivity(DaeBdf::new(), DaeInit::CheckInit, &opts())
        .unwrap();
    for (t, y) in sol.t.iter().zip(&sol.u) {
        let [u1, u2] = exact(*t);
        let (sa, sb) = (sensitivity(y, 2, 0), sensitivity(y, 2, 1));
        let want = [[-(t - T0) * u1, -2.0 * (t - T0) * u2], [0.0, u1 * u1]];
        for (got, want) in [sa, sb].iter().zip(want) {
            for i in 0..2 {
                assert!(
                    (got[i] - want[i]).abs() < 1e-6 * (1.0 + want[i].abs()),
                    "t = {t}: {got:?} vs {want:?}"
                );
            }
        }
    }
}

#[test]
fn backward_discrete_adjoint_matches_the_exact_gradient() {
    // L = u1(0): ∂L/∂a = T0·e^{a T0}, ∂L/∂u1(T0) = e^{a T0}.
    let mut prob = consistent();
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Times(vec![0.0]));
    let (sol, tape) = prob
        .solve_with_tape(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .unwrap();
    let g = prob.discrete_adjoint(&tape, &[vec![1.0, 0.0]]).unwrap();
    let e = (A * T0).exp();
    println!(
        "u1(0) = {} (exact {e}), dL/dp = {:?}, dL/du0 = {:?}",
        sol.u[0][0], g.p, g.u0
    );
    assert!((sol.u[0][0] - e).abs() < 1e-8 * e);
    assert!((g.p[0] - T0 * e).abs() < 1e-6 * T0 * e, "{:?}", g.p);
    assert!(g.p[1].abs() < 1e-9, "{:?}", g.p);
    assert!((g.u0[0] - e).abs() < 1e-6 * e, "{:?}", g.u0);
}

#[test]
fn an_empty_or_non_finite_span_is_still_refused() {
    for span in [(1.0, 1.0), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
        let p = DaeProblem::new(
            DaeForwardAd::new(Decay),
            vec![-A, -2.0 * A * B],
            vec![1.0, B],
            span,
            vec![A, B],
            Some(vec![true, false]),
        );
        assert!(p.is_err(), "{span:?}");
    }
}

/// `ShampineCollocationInit` away from `t = 0`, in either direction: its implicit Euler step
/// jumps the algebraic `u2` onto the constraint, and the jump over `dt` used to stand as `u2′`
/// (6e5 here), so the starting-step heuristic proposed a step below the floor at `t0 = 2` and
/// every such solve ended `DtLessThanMin` at its start. The algebraic `u′` is now zeroed: where
/// `differential_vars` marks it, and, without `differential_vars`, where the column of `∂F/∂u′`
/// is zero at the start (the dense and the sparse strategies keep that matrix). The Jacobian-free
/// strategy keeps none: without `differential_vars` it still fails at the start, as documented.
#[test]
fn shampine_initialisation_away_from_zero_solves_in_either_direction() {
    let pattern = SparsityPattern::full(2, 2);
    for span in [(T0, 4.0), (T0, 0.0)] {
        for marks in [Some(vec![true, false]), None] {
            let opts = SolveOptions::default()
                .tolerances(1e-10, 1e-12)
                .saveat(SaveAt::Times(vec![span.1]));
            let init = DaeInit::ShampineCollocationInit { dt: None };
            let new = |f| {
                DaeProblem::new(
                    f,
                    vec![2.0, 5.0],
                    vec![1.0, 0.3],
                    span,
                    vec![A, B],
                    marks.clone(),
                )
            };
            let dense = new(DaeForwardAd::new(Decay))
                .unwrap()
                .solve(DaeBdf::new(), init, &opts)
                .unwrap();
            let coloured = DaeColoured::new(DaeForwardAd::new(Decay), pattern.clone()).unwrap();
            let sparse = DaeProblem::new(
                coloured,
                vec![2.0, 5.0],
                vec![1.0, 0.3],
                span,
                vec![A, B],
                marks.clone(),
            )
            .unwrap()
            .solve(DaeBdf::new().linear_solver(SparseSolve), init, &opts)
            .unwrap();
            let dt = SHAMPINE_DEFAULT_DT * T0 * (span.1 - span.0).signum();
            for (name, sol) in [("dense", &dense), ("sparse", &sparse)] {
                let err = max_error(sol, 1.0 / (1.0 + A * dt));
                println!(
                    "{span:?} {marks:?} {name}: {} steps, error {err:e}",
                    sol.stats.steps
                );
                assert!(err < 1e-7, "{span:?} {marks:?} {name}: {err:e}");
            }
        }
        let krylov = DaeProblem::new(
            DaeForwardAd::new(Decay),
            vec![2.0, 5.0],
            vec![1.0, 0.3],
            span,
            vec![A, B],
            None,
        )
        .unwrap()
        .solve(
            DaeBdf::new().linear_solver(KrylovSolve::default()),
            DaeInit::ShampineCollocationInit { dt: None },
            &SolveOptions::default().tolerances(1e-10, 1e-12),
        );
        assert!(
            krylov.is_err(),
            "{span:?}: the matrix-free start without marks now solves; update the docs"
        );
    }
}
