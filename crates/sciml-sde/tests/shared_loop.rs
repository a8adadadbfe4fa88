//! SDE solves run through the shared stepping loop (`sciml_ode::StepLoop`): adaptive saves land
//! on steps exactly, and a step shrunk below `dtmin` fails as ODE solves do. (That fixed steps
//! are the adjoints' grid replay bitwise is checked with the adjoints, in
//! `sciml-sensitivity/tests/sde_replay.rs`.)

#![allow(clippy::unwrap_used)]

use sciml_core::ReturnCode;
use sciml_sde::{solve, FnSde, Method, Noise, SdeError, SdeOptions, SdeProblem};

#[test]
fn adaptive_saves_land_on_steps() {
    let f = FnSde::new(
        1,
        0,
        Noise::Scalar,
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -u[0],
        |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 0.5,
    );
    let prob = SdeProblem::new(f, vec![1.0], (0.0, 2.0), vec![]).unwrap();
    let ts = vec![0.1, 0.7, 1.3333, 2.0];
    let opts = SdeOptions::adaptive(1e-3, 1e-3).seed(4);
    let saved = solve(&prob, Method::Sra1, &opts.clone().saveat(ts.clone())).unwrap();
    // The save times are stops: saved exactly, never interpolated.
    assert_eq!(saved.t, ts);
    // Saving every step instead: no stops, the steps end at the span's end.
    let mut steps = opts;
    steps.saveat = sciml_sde::SaveAt::Steps;
    let every = solve(&prob, Method::Sra1, &steps).unwrap();
    assert_eq!(every.len(), every.stats.accepted + 1);
    assert!(every.t.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*every.t.last().unwrap(), 2.0);
}

#[test]
fn a_step_below_dtmin_fails_with_dt_less_than_min() {
    // A stiff drift with a tight tolerance and a large floor: the controller wants steps
    // below dtmin, and the solve stops with the code and the states accepted so far.
    let f = FnSde::new(
        1,
        0,
        Noise::Diagonal,
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -1e4 * u[0],
        |_t: f64, u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = u[0],
    );
    let prob = SdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![]).unwrap();
    let mut opts = SdeOptions::adaptive(1e-6, 1e-6).seed(1);
    opts.dtmin = Some(1e-3);
    let e = solve(&prob, Method::LambaEm, &opts).unwrap_err();
    match &e {
        SdeError::Failed { code, t, .. } => {
            assert_eq!(*code, ReturnCode::DtLessThanMin, "{e}");
            let partial = e.partial::<f64>().unwrap();
            assert_eq!(*partial.t.last().unwrap(), *t);
            assert_eq!(partial.stats.accepted, partial.len() - 1);
        }
        _ => panic!("expected a failed solve, got {e}"),
    }
}
