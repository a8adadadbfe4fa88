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
    // Save times off the fixed grid, outside the span, or unsorted.
    for ts in [vec![0.05], vec![1.5], vec![0.5, 0.2]] {
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
