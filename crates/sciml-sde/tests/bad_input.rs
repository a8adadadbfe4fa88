//! Bad input gives a clear `Err`, never a panic.

#![allow(clippy::unwrap_used)]

mod common;
use common::gbm;
use sciml_core::Error;
use sciml_sde::{
    solve, solve_with_brownian, BrownianTree, FnSde, Method, Noise, SdeError, SdeOptions,
    SdeProblem,
};

fn general() -> impl sciml_sde::SdeFunction<f64> + Clone {
    FnSde::new(
        2,
        0,
        Noise::General { m: 3 },
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du.copy_from_slice(u),
        |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g.fill(0.1),
    )
}

#[test]
fn wrong_noise_shape_is_an_error() {
    let prob = SdeProblem::new(general(), vec![1.0, 1.0], (0.0, 1.0), vec![]).unwrap();
    for m in [Method::Milstein, Method::Sriw1] {
        let e = solve(&prob, m, &SdeOptions::fixed(0.1)).unwrap_err();
        assert!(matches!(e, SdeError::NoiseShape { .. }), "{e}");
        assert!(e.to_string().contains("general"), "{e}");
    }
    // A Brownian path of the wrong dimension.
    let mut w = BrownianTree::new(1, 0.0, 1.0, 2).unwrap();
    let e = solve_with_brownian(
        &prob,
        Method::EulerMaruyama,
        &SdeOptions::fixed(0.1),
        &mut w,
    )
    .unwrap_err();
    assert!(matches!(e, SdeError::NoiseShape { .. }), "{e}");
    // General noise with m = 0.
    let zero = FnSde::new(
        1,
        0,
        Noise::General { m: 0 },
        |_t: f64, _u: &[f64], _p: &[f64], _du: &mut [f64]| {},
        |_t: f64, _u: &[f64], _p: &[f64], _g: &mut [f64]| {},
    );
    assert!(matches!(
        SdeProblem::new(zero, vec![1.0], (0.0, 1.0), vec![]),
        Err(SdeError::NoiseShape { .. })
    ));
    // The right dimension works, and general noise is applied as g · dW.
    let mut w = BrownianTree::new(1, 0.0, 1.0, 3).unwrap();
    let sol = solve_with_brownian(
        &prob,
        Method::EulerMaruyama,
        &SdeOptions::fixed(0.1),
        &mut w,
    )
    .unwrap();
    assert_eq!(sol.u.len(), 11);
}

#[test]
fn bad_step_sizes_are_errors() {
    let prob = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    for dt in [-0.1, 0.0, f64::NAN, f64::INFINITY] {
        let e = solve(&prob, Method::EulerMaruyama, &SdeOptions::fixed(dt)).unwrap_err();
        assert!(
            matches!(
                e,
                SdeError::Input(Error::InvalidOption { option: "dt", .. })
            ),
            "{e}"
        );
    }
    let mut o = SdeOptions::fixed(0.1);
    o.dt = None;
    assert!(solve(&prob, Method::EulerMaruyama, &o).is_err());
    // Adaptive stepping with a method that has no error estimate.
    let e = solve(&prob, Method::Milstein, &SdeOptions::adaptive(1e-3, 1e-3)).unwrap_err();
    assert!(e.to_string().contains("error estimate"), "{e}");
    // Save times off the fixed grid, outside the span, non-finite or repeated (unsorted times
    // are sorted: see `unsorted_save_times_are_sorted`).
    for ts in [
        vec![0.05],
        vec![1.5],
        vec![0.5, f64::NAN],
        vec![-0.1, 0.5],
        vec![0.5, 0.2, 0.5],
    ] {
        let e = solve(
            &prob,
            Method::EulerMaruyama,
            &SdeOptions::fixed(0.1).saveat(ts),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                SdeError::Input(Error::InvalidOption {
                    option: "saveat",
                    ..
                })
            ),
            "{e}"
        );
    }
}

#[test]
fn nan_and_bad_lengths_are_errors() {
    let e = SdeProblem::new(gbm(1), vec![f64::NAN], (0.0, 1.0), vec![1.0, 0.5]).unwrap_err();
    assert!(matches!(e, SdeError::Input(Error::NonFinite { .. })), "{e}");
    let e = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![1.0, f64::NAN]).unwrap_err();
    assert!(matches!(e, SdeError::Input(Error::NonFinite { .. })), "{e}");
    let e = SdeProblem::new(gbm(1), vec![1.0, 2.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap_err();
    assert!(
        matches!(e, SdeError::Input(Error::DimensionMismatch { .. })),
        "{e}"
    );
    let e = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![1.0]).unwrap_err();
    assert!(
        matches!(e, SdeError::Input(Error::DimensionMismatch { .. })),
        "{e}"
    );
}

#[test]
fn reversed_or_empty_spans_are_errors() {
    for span in [(1.0, 0.0), (0.5, 0.5), (0.0, f64::NAN)] {
        let e = SdeProblem::new(gbm(1), vec![1.0], span, vec![1.0, 0.5]).unwrap_err();
        assert!(
            matches!(e, SdeError::Input(Error::InvalidSpan { .. })),
            "{e}"
        );
    }
}

#[test]
fn a_blow_up_is_reported_not_returned() {
    // du = u³ dt + u dW from u0 = 10 blows up before t = 1.
    let f = FnSde::new(
        1,
        0,
        Noise::Diagonal,
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = u[0] * u[0] * u[0],
        |_t: f64, u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = u[0],
    );
    let prob = SdeProblem::new(f, vec![10.0], (0.0, 1.0), vec![]).unwrap();
    let e = solve(&prob, Method::EulerMaruyama, &SdeOptions::fixed(0.1)).unwrap_err();
    assert!(matches!(e, SdeError::Failed { .. }), "{e}");
    let e = solve(&prob, Method::LambaEm, &SdeOptions::adaptive(1e-3, 1e-3)).unwrap_err();
    assert!(matches!(e, SdeError::Failed { .. }), "{e}");
}

#[test]
fn batched_noise_with_one_block_is_general_noise() {
    let mk = |noise: Noise| {
        FnSde::new(
            2,
            0,
            noise,
            |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
                du[0] = -u[1];
                du[1] = u[0];
            },
            |_t: f64, u: &[f64], _p: &[f64], g: &mut [f64]| {
                g.copy_from_slice(&[0.1 * u[0], 0.2, -0.3, 0.0, 0.5 * u[1], 0.1]);
            },
        )
    };
    let opts = SdeOptions::fixed(0.05).seed(4);
    let a = solve(
        &SdeProblem::new(
            mk(Noise::General { m: 3 }),
            vec![1.0, 0.0],
            (0.0, 1.0),
            vec![],
        )
        .unwrap(),
        Method::EulerHeun,
        &opts,
    )
    .unwrap();
    let b = solve(
        &SdeProblem::new(
            mk(Noise::Batched { m: 3, batch: 1 }),
            vec![1.0, 0.0],
            (0.0, 1.0),
            vec![],
        )
        .unwrap(),
        Method::EulerHeun,
        &opts,
    )
    .unwrap();
    assert_eq!(a.u, b.u);
    // A batch that does not divide the state is a shape error.
    let e = SdeProblem::new(
        mk(Noise::Batched { m: 3, batch: 3 }),
        vec![1.0, 0.0],
        (0.0, 1.0),
        vec![],
    );
    assert!(matches!(e, Err(SdeError::NoiseShape { .. })));
}

/// `InvalidOption` naming `option`, whose message says what to give.
fn assert_option_error(e: &SdeError, option: &str, hint: &str) {
    match e {
        SdeError::Input(Error::InvalidOption { option: o, reason }) => {
            assert_eq!(*o, option, "{e}");
            assert!(reason.contains(hint), "{e}");
        }
        _ => panic!("expected an invalid `{option}`, got {e}"),
    }
}

#[test]
fn bad_dtmin_and_dtmax_are_errors_naming_the_option() {
    let prob = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    let adaptive = SdeOptions::adaptive(1e-3, 1e-3).seed(1);
    let fixed = SdeOptions::fixed(0.1);
    for base in [&adaptive, &fixed] {
        let method = if base.adaptive {
            Method::LambaEm
        } else {
            Method::EulerMaruyama
        };
        // A negative, zero or non-finite largest step.
        for dtmax in [-0.1, 0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut o = base.clone();
            o.dtmax = Some(dtmax);
            let e = solve(&prob, method, &o).unwrap_err();
            assert_option_error(&e, "dtmax", "finite positive");
        }
        // A negative or non-finite smallest step, or one above dtmax (the span by default).
        for (dtmin, dtmax) in [
            (f64::NAN, None),
            (-1e-3, None),
            (f64::INFINITY, None),
            (0.5, Some(0.1)),
            (2.0, None),
        ] {
            let mut o = base.clone();
            o.dtmin = Some(dtmin);
            o.dtmax = dtmax;
            let e = solve(&prob, method, &o).unwrap_err();
            assert_option_error(&e, "dtmin", "0 <= dtmin <= dtmax");
        }
        // Sound bounds are accepted (set through the builders, which set the same fields).
        let o = base.clone().dtmin(0.0).dtmax(0.05);
        assert_eq!((o.dtmin, o.dtmax), (Some(0.0), Some(0.05)));
        let sol = solve(&prob, method, &o).unwrap();
        assert_eq!(*sol.t.last().unwrap(), 1.0);
        if base.adaptive {
            assert!(sol.t.windows(2).all(|w| w[1] - w[0] <= 0.05 + 1e-15));
        }
    }
    // The same checks guard the solve on a user's path.
    let mut w = BrownianTree::new(1, 0.0, 1.0, 1).unwrap();
    let mut o = fixed.clone();
    o.dtmax = Some(-1.0);
    let e = solve_with_brownian(&prob, Method::EulerMaruyama, &o, &mut w).unwrap_err();
    assert_option_error(&e, "dtmax", "finite positive");
}

#[test]
fn bad_first_steps_and_maxiters_are_errors() {
    let prob = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    // A negative or non-finite (first) step is refused, not read as |dt|: adaptive solves, the
    // solve on a user's path and ensembles included.
    for dt in [-0.1, -f64::INFINITY, f64::NAN, f64::INFINITY, 0.0] {
        let o = SdeOptions::adaptive(1e-3, 1e-3).dt(dt);
        let e = solve(&prob, Method::LambaEm, &o).unwrap_err();
        assert_option_error(&e, "dt", "positive and finite");
        let mut w = BrownianTree::new(1, 0.0, 1.0, 1).unwrap();
        let o = SdeOptions::fixed(dt);
        let e = solve_with_brownian(&prob, Method::EulerMaruyama, &o, &mut w).unwrap_err();
        assert_option_error(&e, "dt", "positive and finite");
        let e = sciml_sde::solve_trajectories(&prob, Method::EulerMaruyama, &o, 3).unwrap_err();
        assert_option_error(&e, "dt", "positive and finite");
    }
    // maxiters = 0 allows no step at all.
    for o in [SdeOptions::fixed(0.1), SdeOptions::adaptive(1e-3, 1e-3)] {
        let mut o = o;
        o.maxiters = 0;
        let method = if o.adaptive {
            Method::Sriw1
        } else {
            Method::EulerHeun
        };
        let e = solve(&prob, method, &o).unwrap_err();
        assert_option_error(&e, "maxiters", "at least one step");
    }
}
