//! Forward-mode gradients of a delay-equation solution (dual numbers through the method of
//! steps) against central differences of tight `f64` solves, on a problem with two lags and a
//! history that depends on the parameters.
#![allow(clippy::ptr_arg)]

use sciml_core::{Dual64, Scalar};
use sciml_dde::{DdeError, DdeFunction, History, MethodOfSteps};
use sciml_ode::{SaveAt, SolveOptions, Tsit5, Vern9};
use sciml_sensitivity::dde::{ConstantHistory, DdeForwardDiff, DualDde, ScalarHistory};
use std::marker::PhantomData;

const TAU1: f64 = 0.3;
const TAU2: f64 = 0.7;

#[derive(Clone)]
/// u1' = -p0 u1(t-τ1) + p1 u2(t-τ2),  u2' = -p2 u2 + p3 u1(t-τ2) u2(t-τ1).
struct TwoLags<S>(PhantomData<S>);

impl<S: Scalar<Re = f64>> DdeFunction for TwoLags<S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (2, 4)
    }
    fn rhs(
        &mut self,
        du: &mut Vec<S>,
        u: &Vec<S>,
        h: &mut History<'_, Vec<S>, Vec<S>>,
        p: &Vec<S>,
        t: f64,
    ) {
        let a = h.value(t - TAU1).clone();
        let b = h.value(t - TAU2).clone();
        du[0] = -(p[0] * a[0]) + p[1] * b[1];
        du[1] = -(p[2] * u[1]) + p[3] * b[0] * a[1];
    }
}

impl DualDde for TwoLags<f64> {
    type Dual = TwoLags<Dual64>;
    fn to_dual(&self) -> TwoLags<Dual64> {
        TwoLags(PhantomData)
    }
}

/// u(t) = [cos(p0 t), 1 + p1 t / 4] before 0: the parameters' tangents flow through it.
#[derive(Clone)]
struct Hist;

impl ScalarHistory for Hist {
    fn eval<S: Scalar<Re = f64>>(&self, p: &[S], t: f64, out: &mut [S]) {
        out[0] = (p[0] * S::cst(t)).cos();
        out[1] = S::cst(1.0) + p[1] * S::cst(t / 4.0);
    }
}

const U0: [f64; 2] = [1.0, 0.5];
const P: [f64; 4] = [1.3, 0.6, 0.4, 0.9];
const SAVES: [f64; 3] = [0.5, 1.6, 3.0];

fn opts() -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(SAVES.to_vec()))
}

fn problem(u0: &[f64], p: &[f64]) -> DdeForwardDiff<TwoLags<f64>, Hist> {
    DdeForwardDiff::new(
        TwoLags(PhantomData),
        u0.to_vec(),
        p.to_vec(),
        Hist,
        (0.0, 3.0),
        vec![TAU1, TAU2],
    )
    .expect("valid problem")
}

/// L = Σ_k Σ_i w_i u_i(t_k)², weights so that both components matter.
fn loss(us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let w = [1.0, 2.0];
    let l = us
        .iter()
        .map(|u| w[0] * u[0] * u[0] + w[1] * u[1] * u[1])
        .sum();
    let bar = us
        .iter()
        .map(|u| vec![2.0 * w[0] * u[0], 2.0 * w[1] * u[1]])
        .collect();
    (l, bar)
}

fn loss_at(u0: &[f64], p: &[f64]) -> f64 {
    let sol = problem(u0, p)
        .solve(&MethodOfSteps::new(Vern9), &opts())
        .expect("solves");
    loss(&sol.u).0
}

#[test]
fn two_lag_gradient_matches_central_differences() {
    let prob = problem(&U0, &P);
    let (sol, g) = prob
        .loss_and_gradient(&MethodOfSteps::new(Vern9), &opts(), |s| loss(&s.u))
        .expect("gradient");
    assert_eq!(sol.len(), SAVES.len());
    let d = 1e-5;
    let mut worst: f64 = 0.0;
    for i in 0..2 {
        let (mut up, mut dn) = (U0, U0);
        up[i] += d;
        dn[i] -= d;
        let fd = (loss_at(&up, &P) - loss_at(&dn, &P)) / (2.0 * d);
        worst = worst.max((g.du0[i] - fd).abs());
        assert!(
            (g.du0[i] - fd).abs() <= 1e-5,
            "du0[{i}]: dual {} vs central {fd}",
            g.du0[i]
        );
    }
    for i in 0..4 {
        let (mut up, mut dn) = (P, P);
        up[i] += d;
        dn[i] -= d;
        let fd = (loss_at(&U0, &up) - loss_at(&U0, &dn)) / (2.0 * d);
        worst = worst.max((g.dp[i] - fd).abs());
        assert!(
            (g.dp[i] - fd).abs() <= 1e-5,
            "dp[{i}]: dual {} vs central {fd}",
            g.dp[i]
        );
        // Every parameter matters here (p0 and p1 through the history too).
        assert!(g.dp[i].abs() > 1e-3, "dp[{i}] = {}", g.dp[i]);
    }
    eprintln!("worst |dual - central| = {worst:.2e}");
}

#[test]
fn on_a_fixed_mesh_the_gradient_is_that_of_the_computed_solution() {
    // Fixed steps of 0.1 (shorter than both lags): perturbed solves take the same mesh, so the
    // dual gradient of the coarse Tsit5 solution equals central differences of coarse solves
    // to the differences' own error (d² truncation, rounding / d), far below the coarse
    // solution's error.
    let o = SolveOptions::default()
        .fixed_step(0.1)
        .saveat(SaveAt::Times(SAVES.to_vec()));
    let alg = MethodOfSteps::new(Tsit5);
    let build = |u0: &[f64], p: &[f64]| {
        DdeForwardDiff::new(
            TwoLags(PhantomData),
            u0.to_vec(),
            p.to_vec(),
            // The history equals `u0` in value: perturbing `u0` makes `u` jump at 0, which dual
            // numbers see only in their derivative parts (`assume_jump_at_t0`).
            ConstantHistory(U0.to_vec()),
            (0.0, 3.0),
            vec![TAU1, TAU2],
        )
        .expect("valid")
    };
    let coarse = |u0: &[f64], p: &[f64]| loss(&build(u0, p).solve(&alg, &o).expect("solves").u).0;
    let (_, g) = build(&U0, &P)
        .loss_and_gradient(&alg, &o, |s| loss(&s.u))
        .expect("gradient");
    let d = 1e-6;
    for i in 0..4 {
        let (mut up, mut dn) = (P, P);
        up[i] += d;
        dn[i] -= d;
        let fd = (coarse(&U0, &up) - coarse(&U0, &dn)) / (2.0 * d);
        assert!(
            (g.dp[i] - fd).abs() <= 1e-8 * fd.abs().max(1.0),
            "dp[{i}]: dual {} vs central {fd}",
            g.dp[i]
        );
    }
    for i in 0..2 {
        let (mut up, mut dn) = (U0, U0);
        up[i] += d;
        dn[i] -= d;
        let fd = (coarse(&up, &P) - coarse(&dn, &P)) / (2.0 * d);
        assert!(
            (g.du0[i] - fd).abs() <= 1e-8 * fd.abs().max(1.0),
            "du0[{i}]: dual {} vs central {fd}",
            g.du0[i]
        );
    }
}

#[test]
fn a_constant_history_of_the_wrong_length_is_an_error() {
    let e = DdeForwardDiff::new(
        TwoLags(PhantomData),
        U0.to_vec(),
        P.to_vec(),
        ConstantHistory(vec![1.0; 3]),
        (0.0, 3.0),
        vec![TAU1, TAU2],
    )
    .err()
    .expect("history of length 3 for 2 states");
    assert!(
        matches!(
            e,
            DdeError::HistoryLength {
                expected: 2,
                got: 3
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_cotangents_are_errors() {
    let prob = problem(&U0, &P);
    let alg = MethodOfSteps::new(Tsit5);
    let e = prob
        .gradient(&alg, &opts(), &[vec![1.0, 0.0]])
        .expect_err("one cotangent for three saves");
    assert!(e.to_string().contains("cotangents"), "{e}");
    let e = prob
        .gradient(&alg, &opts(), &[vec![1.0], vec![1.0], vec![1.0]])
        .expect_err("wrong length");
    assert!(matches!(e, DdeError::Input(_)), "{e}");
    let bad = DdeForwardDiff::new(
        TwoLags(PhantomData),
        U0.to_vec(),
        P.to_vec(),
        Hist,
        (0.0, 3.0),
        vec![TAU1, -1.0],
    );
    let e = bad.err().expect("negative lag");
    assert!(matches!(e, DdeError::InvalidLag { index: 1, .. }), "{e}");
    let build = |u0: Vec<f64>, span: (f64, f64)| {
        DdeForwardDiff::new(
            TwoLags(PhantomData),
            u0,
            P.to_vec(),
            Hist,
            span,
            vec![TAU1, TAU2],
        )
    };
    let e = build(vec![1.0], (0.0, 3.0)).err().expect("u0 of length 1");
    assert!(matches!(e, DdeError::Input(_)), "{e}");
    let e = build(U0.to_vec(), (3.0, 0.0)).err().expect("reversed span");
    assert!(matches!(e, DdeError::Input(_)), "{e}");
}
