//! Wrong or swallowed results found by writing small programs against the public API, as a new
//! user would; each test failed before its fix.
#![allow(clippy::unwrap_used)]

use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, ReturnCode, Scalar, SolveError};
use sciml_ode::*;

/// `u' = -p0 u`, generic so that implicit methods get exact Jacobians.
#[derive(Clone)]
struct Decay;
impl GenericRhs for Decay {
    fn dims(&self) -> (usize, usize) {
        (1, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = -p[0] * u[0];
    }
}

#[test]
fn an_ensemble_keeps_the_mass_matrix() {
    // 2u' = -u: u(1) = exp(-1/2), where the mass matrix dropped would give exp(-1).
    let mut m = DenseMatrix::zeros(1, 1);
    m[(0, 0)] = 2.0;
    let prob = OdeProblem::new(ForwardAd::new(Decay), vec![1.0], (0.0, 1.0), vec![1.0])
        .unwrap()
        .with_mass_matrix(m)
        .unwrap();
    let mut opts = SolveOptions::default().saveat(SaveAt::Times(vec![1.0]));
    opts.tol = sciml_core::Tolerance::new(1e-10, 1e-12).unwrap();
    let variants = vec![(vec![1.0], vec![1.0]), (vec![2.0], vec![1.0])];
    let sols = solve_ensemble(&prob, variants, Rodas5P::new(), &opts);
    for (sol, u0) in sols.iter().zip([1.0, 2.0]) {
        let end = sol.as_ref().unwrap().u[0][0];
        let exact = u0 * (-0.5f64).exp();
        assert!((end - exact).abs() < 1e-8, "{end} vs {exact}");
    }
}

fn nan_after(t_bad: f64) -> impl sciml_core::VectorField<V = Vec<f64>, P = Vec<f64>> + Clone {
    sciml_core::FnField::new(
        1,
        0,
        move |t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
            du[0] = if t > t_bad { f64::NAN } else { -u[0] };
        },
    )
}

fn failure_code(r: Result<Solution<Vec<f64>>, SolveError<Vec<f64>>>) -> (ReturnCode, f64) {
    match r {
        Err(SolveError::Failed { code, t, partial }) => {
            assert_eq!(partial.retcode, code);
            (code, t)
        }
        other => panic!("expected a failure, got {:?}", other.map(|s| s.retcode)),
    }
}

#[test]
fn a_field_that_returns_nan_fails_as_non_finite() {
    // Adaptive: the controller shrinks the step on NaN, but the cause is NaN, not a tiny step.
    let mut prob = OdeProblem::new(nan_after(0.5), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    for (code, t) in [
        failure_code(prob.solve(Tsit5, &SolveOptions::default())),
        failure_code(prob.solve(Vern9, &SolveOptions::default())),
        failure_code(prob.solve(Bs3, &SolveOptions::default())),
    ] {
        assert_eq!(code, ReturnCode::NonFinite);
        assert!(t <= 0.5 && t > 0.4, "{t}");
    }
    // NaN already at t0: the initial step is NaN.
    let mut prob = OdeProblem::new(nan_after(-1.0), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    let (code, t) = failure_code(prob.solve(Tsit5, &SolveOptions::default()));
    assert_eq!((code, t), (ReturnCode::NonFinite, 0.0));
    // A genuinely too-small step still says so.
    let f = sciml_core::FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = u[0] * u[0];
    });
    let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 2.0), vec![]).unwrap();
    let (code, _) = failure_code(prob.solve(Tsit5, &SolveOptions::default()));
    assert_ne!(code, ReturnCode::MaxIters);
}

#[test]
fn a_negative_dt_is_refused() {
    let mut prob = OdeProblem::new(nan_after(9.0), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    for opts in [
        SolveOptions::default().fixed_step(-0.1),
        SolveOptions::default().dt(-1e-3),
    ] {
        match prob.solve(Tsit5, &opts) {
            Err(SolveError::Input(e)) => {
                let m = e.to_string();
                assert!(m.contains("`dt`") && m.contains("positive"), "{m}");
            }
            other => panic!(
                "expected an input error, got {:?}",
                other.map(|s| s.retcode)
            ),
        }
    }
    // Backwards in time, dt is still a size.
    let mut back = OdeProblem::new(nan_after(9.0), vec![1.0], (1.0, 0.0), vec![]).unwrap();
    let sol = back
        .solve(Rk4, &SolveOptions::default().fixed_step(0.1))
        .unwrap();
    assert_eq!(sol.stats.accepted, 10);
    assert!((sol.u.last().unwrap()[0] - 1f64.exp()).abs() < 1e-5);
}

#[test]
fn every_option_has_a_builder() {
    let opts = SolveOptions::default()
        .dt(0.01)
        .adaptive(false)
        .dtmin(1e-9)
        .dtmax(0.5)
        .save_start(false)
        .save_end(true)
        .tolerance(sciml_core::Tolerance::per_component(vec![1e-6], vec![1e-8, 1e-9]).unwrap())
        .controller(PiController::default())
        .maxiters(500);
    assert_eq!(opts.dt, Some(0.01));
    assert_eq!(opts.adaptive, Some(false));
    assert_eq!((opts.dtmin, opts.dtmax), (Some(1e-9), Some(0.5)));
    assert_eq!((opts.save_start, opts.save_end), (Some(false), Some(true)));
    assert_eq!(opts.tol.atol_at(1), 1e-9);
    assert_eq!(opts.maxiters, 500);
    let f = sciml_core::FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = -u[0];
        du[1] = -u[1];
    });
    let mut prob = OdeProblem::new(f, vec![1.0, 1.0], (0.0, 1.0), vec![]).unwrap();
    let sol = prob.solve(Rk4, &opts).unwrap();
    assert_eq!(sol.len(), 100, "steps saved without the start");
    assert!((sol.u[99][0] - (-1f64).exp()).abs() < 1e-9);
}

#[test]
fn a_nan_save_time_or_tstop_is_called_not_finite() {
    let mut prob = OdeProblem::new(nan_after(9.0), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    for (opts, option) in [
        (
            SolveOptions::default().saveat(SaveAt::Times(vec![0.5, f64::NAN])),
            "saveat",
        ),
        (SolveOptions::default().tstops(vec![f64::NAN]), "tstops"),
    ] {
        match prob.solve(Tsit5, &opts) {
            Err(SolveError::Input(e)) => {
                let m = e.to_string();
                assert!(m.contains(option) && m.contains("is not finite"), "{m}");
            }
            other => panic!(
                "expected an input error, got {:?}",
                other.map(|s| s.retcode)
            ),
        }
    }
}
