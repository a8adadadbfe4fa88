//! Work statistics, recorded as insta snapshots so a change in the work a solver does shows in
//! review, and compared with diffrax (a well-tuned reference implementation).
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod common;
use common::*;
use sciml_ode::*;

fn lv_stats<M: RkMethod>(m: M, controller: PiController<f64>) -> sciml_core::Stats {
    let mut prob = OdeProblem::new(lotka_volterra(), vec![1.0, 1.0], (0.0, 10.0), vec![]).unwrap();
    let times: Vec<f64> = (0..100).map(|i| 10.0 * i as f64 / 99.0).collect();
    let mut opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(times));
    opts.controller = controller;
    prob.solve(m, &opts).unwrap().stats
}

/// diffrax 0.7 Tsit5 with `PIDController(rtol=1e-6, atol=1e-8)` on this problem: 108 steps, 91
/// accepted, 649 RHS evaluations (measured with benches/peers/w1_lotka_volterra.py).
const DIFFRAX: (f64, f64, f64) = (108.0, 91.0, 649.0);

fn within(x: usize, reference: f64, frac: f64) -> bool {
    ((x as f64) - reference).abs() <= frac * reference
}

#[test]
fn tsit5_stats_on_lotka_volterra() {
    let s = lv_stats(Tsit5, PiController::default());
    insta::assert_yaml_snapshot!(s);
    assert!(within(s.steps, DIFFRAX.0, 0.10), "{s:?}");
    assert!(within(s.accepted, DIFFRAX.1, 0.10), "{s:?}");
    assert!(within(s.nf, DIFFRAX.2, 0.10), "{s:?}");
}

#[test]
fn dp5_stats_on_lotka_volterra() {
    let s = lv_stats(Dp5, PiController::default());
    insta::assert_yaml_snapshot!(s);
    // Dormand–Prince's error constants differ from Tsitouras', so the count differs a little.
    assert!(within(s.steps, DIFFRAX.0, 0.15), "{s:?}");
    assert!(within(s.nf, DIFFRAX.2, 0.15), "{s:?}");
}

#[test]
fn diffrax_controller_reproduces_diffrax_counts() {
    // diffrax's default: an integral controller with exponent 1/5, no shrinking after an
    // accepted step. With the same controller the engines should agree closely.
    let mut c = PiController::default();
    c.beta1 = Some(0.2);
    c.beta2 = Some(0.0);
    c.qmin_accepted = Some(1.0);
    let s = lv_stats(Tsit5, c);
    insta::assert_yaml_snapshot!(s);
    assert!(within(s.steps, DIFFRAX.0, 0.05), "{s:?}");
    assert!(within(s.accepted, DIFFRAX.1, 0.05), "{s:?}");
    assert!(within(s.nf, DIFFRAX.2, 0.05), "{s:?}");
}
