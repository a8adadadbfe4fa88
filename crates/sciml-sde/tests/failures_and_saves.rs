//! Failed solves carry the solution saved up to the failure, fixed steps honour `maxiters`, and
//! save times are sorted. (The same for the discrete adjoint: sciml-sensitivity's
//! `sde_discrete_adjoint.rs`.)

#![allow(clippy::unwrap_used)]

mod common;
use common::gbm;
use sciml_core::{ReturnCode, Solution};
use sciml_sde::{
    solve, solve_trajectories, solve_with_brownian, BrownianTree, FnSde, Method, Noise, SaveAt,
    SdeError, SdeFunction, SdeOptions, SdeProblem,
};

/// `du = -u dt + 0.3 dW` whose drift turns NaN for `t > t_nan`.
fn nan_after(t_nan: f64) -> impl SdeFunction<f64> + Clone {
    FnSde::new(
        1,
        0,
        Noise::Diagonal,
        move |t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
            du[0] = if t > t_nan { f64::NAN } else { -u[0] }
        },
        |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 0.3,
    )
}

/// The code, time and partial solution of a failed solve.
fn failure(e: &SdeError) -> (ReturnCode, f64, &Solution<Vec<f64>>) {
    match e {
        SdeError::Failed { code, t, .. } => (*code, *t, e.partial::<f64>().unwrap()),
        _ => panic!("expected a failed integration, got {e}"),
    }
}

#[test]
fn a_fixed_step_failure_holds_the_states_saved_before_it() {
    let opts = SdeOptions::fixed(0.05).seed(7);
    let prob = SdeProblem::new(nan_after(0.52), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    let e = solve(&prob, Method::EulerMaruyama, &opts).unwrap_err();
    let (code, t, partial) = failure(&e);
    assert_eq!(code, ReturnCode::NonFinite);
    // The step from t = 0.55 is the first to see the NaN drift.
    assert!((t - 0.55).abs() < 1e-12, "{t}");
    assert_eq!(partial.retcode, ReturnCode::NonFinite);
    assert_eq!(partial.len(), 12);
    assert_eq!(*partial.t.last().unwrap(), t);
    assert!(partial.u.iter().flatten().all(|x| x.is_finite()));
    assert_eq!(partial.stats.accepted, 12);
    // The type-erased holder: its summary, and errors compare by their partial solutions.
    let SdeError::Failed {
        partial: Some(held),
        ..
    } = &e
    else {
        panic!("no partial solution in {e}");
    };
    assert_eq!((held.len(), held.last_t()), (12, Some(t)));
    assert!(!held.is_empty());
    assert_eq!(e.clone(), e);
    let again = solve(&prob, Method::EulerMaruyama, &opts.clone().seed(8)).unwrap_err();
    assert_ne!(again, e);
    // The saved states are those of the same solve with a drift that never fails.
    let clean = SdeProblem::new(nan_after(f64::INFINITY), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    let full = solve(&clean, Method::EulerMaruyama, &opts).unwrap();
    assert_eq!(partial.t[..], full.t[..12]);
    assert_eq!(partial.u[..], full.u[..12]);
    // Save times: only those reached are in the partial solution.
    let e = solve(
        &prob,
        Method::EulerMaruyama,
        &opts.clone().saveat(vec![0.25, 0.5, 0.75]),
    )
    .unwrap_err();
    let (_, _, partial) = failure(&e);
    assert_eq!(partial.t, vec![0.25, 0.5]);
    assert_eq!(partial.u[..], [full.u[5].clone(), full.u[10].clone()]);
    // Another real type finds no partial solution; the error's Display is unchanged.
    assert!(e.partial::<f32>().is_none());
    assert!(e.to_string().contains("failed at t = 0.55"), "{e}");
    // Ensembles and solves on a user's path carry it too.
    let e = solve_trajectories(&prob, Method::EulerHeun, &opts, 4).unwrap_err();
    assert!(failure(&e).2.len() > 1);
    let mut w = BrownianTree::new(3, 0.0, 1.0, 1).unwrap();
    let e = solve_with_brownian(&prob, Method::EulerMaruyama, &opts, &mut w).unwrap_err();
    let (_, t, partial) = failure(&e);
    assert_eq!(*partial.t.last().unwrap(), t);
}

#[test]
fn a_blow_up_keeps_the_solution_up_to_it() {
    // du = u³ dt + u dW from u0 = 10 blows up before t = 1 (u(t) = 1/sqrt(0.01 − 2t) without
    // noise: t* = 0.005).
    let f = FnSde::new(
        1,
        0,
        Noise::Diagonal,
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = u[0] * u[0] * u[0],
        |_t: f64, u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = u[0],
    );
    let prob = SdeProblem::new(f, vec![10.0], (0.0, 1.0), vec![]).unwrap();
    for (method, opts) in [
        (Method::EulerMaruyama, SdeOptions::fixed(1e-3)),
        (Method::LambaEm, SdeOptions::adaptive(1e-3, 1e-3)),
    ] {
        let e = solve(&prob, method, &opts).unwrap_err();
        let (code, t, partial) = failure(&e);
        assert!(
            matches!(code, ReturnCode::NonFinite | ReturnCode::DtLessThanMin),
            "{e}"
        );
        assert!(t < 1.0, "{e}");
        assert!(partial.len() > 1, "{e}");
        assert_eq!(partial.t[0], 0.0);
        assert_eq!(partial.u[0], vec![10.0]);
        assert!(*partial.t.last().unwrap() <= t);
        assert!(partial.t.windows(2).all(|w| w[0] < w[1]));
        assert!(partial.u.iter().flatten().all(|x| x.is_finite()));
        assert_eq!(partial.retcode, code);
    }
}

#[test]
fn an_adaptive_failure_holds_the_accepted_states() {
    let prob = SdeProblem::new(nan_after(0.5), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    for method in [Method::LambaEm, Method::Sriw1, Method::Sra1] {
        let opts = SdeOptions::adaptive(1e-3, 1e-3).seed(2);
        let e = solve(&prob, method, &opts).unwrap_err();
        let (code, t, partial) = failure(&e);
        assert_eq!(code, ReturnCode::NonFinite, "{e}");
        assert!((0.4..1.0).contains(&t), "{e}");
        assert!(partial.len() > 2);
        assert_eq!(*partial.t.last().unwrap(), t);
        assert!(partial.u.iter().flatten().all(|x| x.is_finite()));
        assert_eq!(partial.stats.accepted, partial.len() - 1);
        assert!(partial.stats.rejected > 0);
        // With save times, the partial solution holds those reached.
        let e = solve(&prob, method, &opts.clone().saveat(vec![0.0, 0.25, 0.75])).unwrap_err();
        assert_eq!(failure(&e).2.t, vec![0.0, 0.25]);
    }
}

#[test]
fn fixed_steps_honour_maxiters() {
    let prob = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    let full_opts = SdeOptions::fixed(0.01).seed(5);
    let full = solve(&prob, Method::EulerMaruyama, &full_opts).unwrap();
    assert_eq!(full.len(), 101);
    // Exactly enough steps.
    let mut o = full_opts.clone();
    o.maxiters = 100;
    assert_eq!(solve(&prob, Method::EulerMaruyama, &o).unwrap().u, full.u);
    // One too few: MaxIters after 99 steps, with the 100 states saved so far.
    o.maxiters = 99;
    let e = solve(&prob, Method::EulerMaruyama, &o).unwrap_err();
    let (code, t, partial) = failure(&e);
    assert_eq!(code, ReturnCode::MaxIters);
    assert_eq!(t, full.t[99]);
    assert_eq!(partial.retcode, ReturnCode::MaxIters);
    assert_eq!(partial.t[..], full.t[..100]);
    assert_eq!(partial.u[..], full.u[..100]);
    assert_eq!(partial.stats.steps, 99);
    o.maxiters = 10;
    let e = solve(&prob, Method::Milstein, &o).unwrap_err();
    let (code, t, partial) = failure(&e);
    assert_eq!(code, ReturnCode::MaxIters);
    assert_eq!(partial.len(), 11);
    assert_eq!(*partial.t.last().unwrap(), t);
}

#[test]
fn unsorted_save_times_are_sorted() {
    let prob = SdeProblem::new(gbm(2), vec![1.0, 0.5], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    let sorted = vec![0.0, 0.1, 0.4, 0.7, 1.0];
    let unsorted = vec![0.7, 0.1, 1.0, 0.0, 0.4];
    for (method, base) in [
        (Method::EulerMaruyama, SdeOptions::fixed(0.05)),
        (Method::EulerHeun, SdeOptions::fixed(0.1)),
        (Method::Sriw1, SdeOptions::adaptive(1e-3, 1e-3)),
        (Method::LambaEm, SdeOptions::adaptive(1e-2, 1e-2)),
    ] {
        let base = base.seed(11);
        let a = solve(&prob, method, &base.clone().saveat(sorted.clone())).unwrap();
        let b = solve(&prob, method, &base.clone().saveat(unsorted.clone())).unwrap();
        // Fixed steps save the grid times (0.7 is 14 · 0.05 in floating point).
        assert_eq!(a.t.len(), sorted.len());
        assert!(a.t.iter().zip(&sorted).all(|(x, y)| (x - y).abs() < 1e-12));
        assert_eq!(a.t, b.t);
        assert_eq!(a.u, b.u, "{method:?}");
        assert_eq!(a.stats, b.stats);
        // Without t0 and t1 among them.
        let a = solve(&prob, method, &base.clone().saveat(vec![0.4, 0.7])).unwrap();
        let b = solve(&prob, method, &base.clone().saveat(vec![0.7, 0.4])).unwrap();
        assert_eq!(a.t, b.t);
        assert_eq!(b.t.len(), 2);
        assert!(b.t[0] < b.t[1]);
        assert_eq!(a.u, b.u);
    }
    // On a user's path (and through the discrete adjoint: sciml-sensitivity's
    // `sde_discrete_adjoint.rs`).
    let opts = SdeOptions::fixed(0.1);
    let mut w = BrownianTree::new(9, 0.0, 1.0, 2).unwrap();
    let a = solve_with_brownian(
        &prob,
        Method::EulerMaruyama,
        &opts.clone().saveat(sorted.clone()),
        &mut w,
    )
    .unwrap();
    let b = solve_with_brownian(
        &prob,
        Method::EulerMaruyama,
        &opts.clone().saveat(unsorted.clone()),
        &mut w,
    )
    .unwrap();
    assert_eq!(a.t, b.t);
    assert_eq!(a.u, b.u);
    assert!(b.t.windows(2).all(|w| w[0] < w[1]));
}

/// `SaveAt::Every` (the type ODE solves use too) saves the grid `t0 + k·dt` and the end, the
/// same states as listing those times.
#[test]
fn save_every_is_the_listed_grid() {
    let prob = SdeProblem::new(gbm(2), vec![1.0, 0.5], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    let grid = vec![0.0, 0.25, 0.5, 0.75, 1.0];
    for (method, base) in [
        (Method::EulerMaruyama, SdeOptions::fixed(0.05)),
        (Method::Sriw1, SdeOptions::adaptive(1e-3, 1e-3)),
    ] {
        let base = base.seed(5);
        let listed = solve(&prob, method, &base.clone().saveat(grid.clone())).unwrap();
        let mut every = base.clone();
        every.saveat = SaveAt::Every(0.25);
        let every = solve(&prob, method, &every).unwrap();
        assert_eq!(every.t.len(), grid.len());
        assert_eq!(every.u, listed.u, "{method:?}");
    }
}
