//! Published and independent references: Mackey–Glass and Hutchinson's equation.
#![allow(clippy::ptr_arg)]

use sciml_dde::{DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{SaveAt, SolveOptions, Tsit5, Vern9};

type Field = DdeFn<
    Vec<f64>,
    Vec<f64>,
    fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64),
>;

/// Mackey–Glass: `u' = β u(t-τ) / (1 + u(t-τ)^n) - γ u`, with `p = [β, γ, n, τ]`.
fn mackey_glass(
    du: &mut Vec<f64>,
    u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    p: &Vec<f64>,
    t: f64,
) {
    let ud = h.value(t - p[3])[0];
    du[0] = p[0] * ud / (1.0 + ud.powf(p[2])) - p[1] * u[0];
}

fn mackey_glass_problem(t1: f64) -> DdeProblem<Field> {
    let f: Field = DdeFn::new(1, 4, mackey_glass);
    DdeProblem::new(
        f,
        vec![0.5],
        InitialHistory::constant(vec![0.5]),
        (0.0, t1),
        vec![0.2, 0.1, 10.0, 17.0],
    )
    .expect("valid")
    .with_lags(vec![17.0])
    .expect("valid")
}

#[test]
fn mackey_glass_on_the_first_interval_is_a_linear_ode() {
    // On [0, 17] the delayed value is the history 0.5, so u' = c - γu with c = β·0.5/(1+0.5^10):
    // u = A + (0.5 - A) e^{-γt}, A = c/γ (as shared/peers/w7_dde.py checks its peers at t = 17).
    let (beta, gamma) = (0.2, 0.1);
    let a = beta * 0.5 / (1.0 + 0.5f64.powi(10)) / gamma;
    let exact = |t: f64| a + (0.5 - a) * (-gamma * t).exp();
    let mut prob = mackey_glass_problem(17.0);
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(vec![5.0, 17.0]));
    let sol = prob
        .solve(MethodOfSteps::new(Tsit5), &opts)
        .expect("solves");
    for (t, u) in sol.iter() {
        assert!(
            (u[0] - exact(t)).abs() < 1e-11,
            "u({t}) = {} against {}",
            u[0],
            exact(t)
        );
    }
}

#[test]
fn mackey_glass_at_500_matches_the_peer_reference() {
    // Reference u(500) = 1.1539058555 (±1e-9) from shared/peers/w7_dde.py: a method of steps
    // with scipy's DOP853 per 17-interval at rtol = atol = 1e-11, 1e-12, 1e-13, agreeing to
    // 5e-10. The problem is chaotic (Lyapunov exponent about 0.008 per unit time), so the
    // comparison measures the whole integration.
    let reference = 1.153_905_855_5;
    let mut prob = mackey_glass_problem(500.0);
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(vec![500.0]));
    let sol = prob
        .solve(MethodOfSteps::new(Vern9), &opts)
        .expect("solves");
    let err = (sol.u[0][0] - reference).abs();
    eprintln!(
        "Vern9: u(500) = {:.12}, |error| {err:.2e}, {} steps",
        sol.u[0][0], sol.stats.accepted
    );
    assert!(err < 2e-9, "u(500) = {} against {reference}", sol.u[0][0]);
}

/// Hutchinson's delayed logistic equation `u' = r u (1 - u(t - τ)/K)`, `p = [r, K, τ]`.
fn hutchinson(
    du: &mut Vec<f64>,
    u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    p: &Vec<f64>,
    t: f64,
) {
    du[0] = p[0] * u[0] * (1.0 - h.value(t - p[2])[0] / p[1]);
}

fn hutchinson_problem(t1: f64) -> DdeProblem<Field> {
    let f: Field = DdeFn::new(1, 3, hutchinson);
    // r τ = 1.8 > π/2: the equilibrium K is unstable and the solution settles on a limit cycle.
    DdeProblem::new(
        f,
        vec![0.5],
        InitialHistory::constant(vec![0.5]),
        (0.0, t1),
        vec![1.8, 1.0, 1.0],
    )
    .expect("valid")
    .with_lags(vec![1.0])
    .expect("valid")
}

#[test]
fn hutchinson_first_interval_is_exponential_and_methods_agree_later() {
    // On [0, τ] the delayed value is the history 0.5: u = 0.5 e^{r (1 - 0.5/K) t}.
    let exact = |t: f64| 0.5 * (1.8 * 0.5 * t).exp();
    let times = vec![0.5, 1.0, 5.0, 10.0, 20.0];
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(times));
    let vern9 = hutchinson_problem(20.0)
        .solve(MethodOfSteps::new(Vern9), &opts)
        .expect("solves");
    for (t, u) in vern9.iter().take(2) {
        assert!((u[0] - exact(t)).abs() < 1e-11, "u({t})");
    }
    // Beyond the first interval: a tight Vern9 solve against a tight Tsit5 solve (different
    // tableaus, interpolants and step sequences).
    let tsit5 = hutchinson_problem(20.0)
        .solve(MethodOfSteps::new(Tsit5), &opts)
        .expect("solves");
    for ((t, a), (_, b)) in vern9.iter().zip(tsit5.iter()).skip(2) {
        assert!(
            (a[0] - b[0]).abs() < 1e-8,
            "u({t}): Vern9 {} Tsit5 {}",
            a[0],
            b[0]
        );
    }
    // The limit cycle: the solution keeps oscillating around K = 1.
    let late: Vec<f64> = vern9.u.iter().skip(2).map(|u| u[0]).collect();
    assert!(
        late.iter().any(|u| *u > 1.2) || late.iter().any(|u| *u < 0.8),
        "{late:?}"
    );
}
