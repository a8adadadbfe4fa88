//! Bad input returns an `Err` whose message names what to fix; nothing panics.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod common;
use common::*;
use proptest::prelude::*;
use sciml_core::{Error, FnField, SolveError};
use sciml_ode::*;

fn lv(
    u0: Vec<f64>,
    span: (f64, f64),
) -> Result<OdeProblem<impl sciml_core::VectorField<V = Vec<f64>, P = Vec<f64>>>, Error> {
    OdeProblem::new(lotka_volterra(), u0, span, vec![])
}

fn msg<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn solve_msg(opts: SolveOptions<f64>) -> String {
    let mut prob = lv(vec![1.0, 1.0], (0.0, 1.0)).unwrap();
    match prob.solve(Tsit5, &opts) {
        Ok(_) => panic!("expected an error"),
        Err(SolveError::Input(e)) => e.to_string(),
        Err(e) => panic!("expected an input error, got {e}"),
    }
}

#[test]
fn wrong_lengths() {
    assert!(msg(lv(vec![1.0], (0.0, 1.0))).contains("u0 has length 1, expected 2"));
    let f = FnField::new(2, 1, |_t: f64, _u: &[f64], _p: &[f64], _du: &mut [f64]| {});
    let m = msg(OdeProblem::new(f, vec![1.0, 1.0], (0.0, 1.0), vec![]));
    assert!(m.contains("p has length 0, expected 1"), "{m}");
    let mut o = SolveOptions::default();
    o.tol = sciml_core::Tolerance::per_component(vec![1e-3], vec![1e-6, 1e-6, 1e-6]).unwrap();
    assert!(solve_msg(o).contains("atol has length 3, expected 2"));
}

#[test]
fn non_finite_values() {
    assert!(msg(lv(vec![1.0, f64::NAN], (0.0, 1.0)))
        .contains("u0 contains a NaN or infinite value at index 1"));
    assert!(msg(lv(vec![f64::INFINITY, 1.0], (0.0, 1.0))).contains("index 0"));
    let f = FnField::new(1, 1, |_t: f64, _u: &[f64], _p: &[f64], _du: &mut [f64]| {});
    let m = msg(OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![f64::NAN]));
    assert!(m.contains("p contains a NaN"), "{m}");
}

#[test]
fn bad_spans() {
    assert!(msg(lv(vec![1.0, 1.0], (1.0, 1.0))).contains("t0 == t1"));
    assert!(msg(lv(vec![1.0, 1.0], (0.0, f64::NAN))).contains("finite"));
    assert!(msg(lv(vec![1.0, 1.0], (f64::NEG_INFINITY, 0.0))).contains("finite"));
}

#[test]
fn bad_tolerances() {
    for (r, a) in [(0.0, 0.0), (-1e-3, 1e-6), (1e-3, -1.0), (f64::NAN, 1e-6)] {
        let m = solve_msg(SolveOptions::<f64>::default().tolerances(r, a));
        assert!(m.contains("rtol") || m.contains("atol"), "{m}");
    }
}

#[test]
fn bad_steps_and_counts() {
    let m = solve_msg(SolveOptions::default().fixed_step(0.0));
    assert!(m.contains("`dt`") && m.contains("positive"), "{m}");
    let m = solve_msg(SolveOptions::default().fixed_step(f64::NAN));
    assert!(m.contains("`dt`"), "{m}");
    let mut o = SolveOptions::default();
    o.adaptive = Some(false);
    assert!(solve_msg(o).contains("fixed-step mode needs a step size"));
    assert!(solve_msg(SolveOptions::default().maxiters(0)).contains("maxiters"));
    let mut o = SolveOptions::default();
    o.dtmax = Some(-1.0);
    assert!(solve_msg(o).contains("dtmax"));
    // A method without an error estimate cannot adapt.
    let mut prob = lv(vec![1.0, 1.0], (0.0, 1.0)).unwrap();
    let e = prob
        .solve(Rk4, &SolveOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("RK4 has no error estimate") && e.contains("`dt`"),
        "{e}"
    );
    let mut o = SolveOptions::default();
    o.adaptive = Some(true);
    o.dt = Some(0.1);
    let e = prob.solve(Rk4, &o).unwrap_err().to_string();
    assert!(e.contains("RK4 cannot adapt its step"), "{e}");
}

#[test]
fn save_times_and_tstops_outside_the_span() {
    let m = solve_msg(SolveOptions::default().saveat(SaveAt::Times(vec![0.5, 2.0])));
    assert!(
        m.contains("saveat") && m.contains("outside the span"),
        "{m}"
    );
    let m = solve_msg(SolveOptions::default().saveat(SaveAt::Times(vec![f64::NAN])));
    assert!(m.contains("saveat"), "{m}");
    let m = solve_msg(SolveOptions::default().saveat(SaveAt::Every(-0.1)));
    assert!(m.contains("saveat"), "{m}");
    let m = solve_msg(SolveOptions::default().tstops(vec![-1.0]));
    assert!(m.contains("tstops"), "{m}");
}

#[test]
fn failures_carry_the_partial_solution() {
    // u' = u² from 1 blows up at t = 1.
    let f = FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = u[0] * u[0]
    });
    let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 2.0), vec![]).unwrap();
    match prob.solve(Tsit5, &SolveOptions::default()) {
        Err(SolveError::Failed { code, t, partial }) => {
            assert!(t > 0.99 && t < 1.0, "{t}");
            assert!(!partial.is_empty());
            assert_eq!(partial.retcode, code);
        }
        other => panic!("expected a failure, got {:?}", other.map(|s| s.retcode)),
    }
    // Too few steps allowed.
    let mut prob = lv(vec![1.0, 1.0], (0.0, 10.0)).unwrap();
    let e = prob
        .solve(Tsit5, &SolveOptions::default().maxiters(5))
        .unwrap_err();
    assert!(e.to_string().contains("maximum number of steps"), "{e}");
    // A field that produces NaN in fixed-step mode.
    let f = FnField::new(1, 0, |t: f64, _u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = if t > 0.5 { f64::NAN } else { 1.0 }
    });
    let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![]).unwrap();
    let e = prob
        .solve(Euler, &SolveOptions::default().fixed_step(0.1))
        .unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(1e300),
        Just(-1e-300),
        -10.0..10.0_f64,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Random, mostly malformed input: every call returns (Ok or Err) without panicking.
    #[test]
    fn malformed_input_never_panics(
        u0 in prop::collection::vec(any_f64(), 0..4),
        t0 in any_f64(), t1 in any_f64(),
        rtol in any_f64(), atol in any_f64(),
        dt in prop::option::of(any_f64()),
        adaptive in prop::option::of(any::<bool>()),
        saves in prop::collection::vec(any_f64(), 0..4),
        every in any_f64(),
        tstops in prop::collection::vec(any_f64(), 0..3),
        maxiters in 0usize..200,
        which in 0usize..3,
    ) {
        let Ok(mut prob) = lv(u0, (t0, t1)) else { return Ok(()); };
        let mut opts = SolveOptions::default().tolerances(rtol, atol);
        opts.dt = dt;
        opts.adaptive = adaptive;
        opts.maxiters = maxiters;
        opts.tstops = tstops;
        opts.saveat = match which { 0 => SaveAt::Steps, 1 => SaveAt::Times(saves), _ => SaveAt::Every(every) };
        let _ = prob.solve(Tsit5, &opts);
        let _ = prob.solve(Euler, &opts);
    }
}
