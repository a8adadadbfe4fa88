//! Discrete-adjoint gradients against central finite differences on the same Brownian path (the
//! continuous adjoints are checked in `sde_continuous_adjoint.rs`).

#![allow(clippy::unwrap_used)]

// The SDE test systems are sciml-sde's own (one copy, shared with its tests).
#[path = "../../sciml-sde/tests/common/mod.rs"]
mod common;
use common::{general_noise, Diffusion, Drift};
use sciml_core::{ForwardAd, ReturnCode};
use sciml_sde::{
    solve, FieldSde, FnSde, Method, Noise, SdeError, SdeFunction, SdeOptions, SdeProblem, SdeVjp,
};
use sciml_sensitivity::sde::discrete_adjoint;

/// GBM `du = p0 u dt + p1 u dW` with its VJPs, for the discrete adjoint.
fn gbm_vjp() -> impl SdeVjp<f64> + Clone {
    FnSde::new(
        1,
        2,
        Noise::Diagonal,
        |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0],
        |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| g[0] = p[1] * u[0],
    )
    .with_vjp(
        |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
            gu[0] += p[0] * w[0];
            gp[0] += u[0] * w[0];
        },
        |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
            gu[0] += p[1] * w[0];
            gp[1] += u[0] * w[0];
        },
    )
}

const SAVES: [f64; 3] = [0.25, 0.5, 1.0];

/// L = Σ_k (k+1) Σ_i u_i(t_k)².
fn loss_of(sol: &sciml_core::Solution<Vec<f64>>) -> f64 {
    sol.u
        .iter()
        .enumerate()
        .map(|(k, u)| (k + 1) as f64 * u.iter().map(|x| x * x).sum::<f64>())
        .sum()
}

fn check_gradient<F: SdeVjp<f64> + Clone>(f: F, u0: Vec<f64>, p: Vec<f64>, method: Method) {
    let opts = SdeOptions::fixed(1.0 / 64.0)
        .saveat(SAVES.to_vec())
        .seed(42);
    let prob = SdeProblem::new(f.clone(), u0.clone(), (0.0, 1.0), p.clone()).unwrap();
    let r = discrete_adjoint(&prob, method, &opts, |_ts, us| {
        let l = us
            .iter()
            .enumerate()
            .map(|(k, u)| (k + 1) as f64 * u.iter().map(|x| x * x).sum::<f64>())
            .sum();
        let g = us
            .iter()
            .enumerate()
            .map(|(k, u)| u.iter().map(|x| 2.0 * (k + 1) as f64 * x).collect())
            .collect();
        (l, g)
    })
    .unwrap();
    assert_eq!(r.loss, loss_of(&r.sol));
    let loss = |u0: &[f64], p: &[f64]| {
        let prob = SdeProblem::new(f.clone(), u0.to_vec(), (0.0, 1.0), p.to_vec()).unwrap();
        loss_of(&solve(&prob, method, &opts).unwrap())
    };
    // The adjoint's forward pass is the ordinary solve.
    assert_eq!(loss_of(&r.sol), loss(&u0, &p));
    let fd = |x: &[f64], i: usize, eval: &dyn Fn(&[f64]) -> f64| {
        let h = 1e-6 * x[i].abs().max(1.0);
        let (mut a, mut b) = (x.to_vec(), x.to_vec());
        a[i] += h;
        b[i] -= h;
        (eval(&a) - eval(&b)) / (2.0 * h)
    };
    let mut worst: f64 = 0.0;
    for i in 0..u0.len() {
        let d = fd(&u0, i, &|x| loss(x, &p));
        let rel = (r.du0[i] - d).abs() / d.abs().max(1e-3);
        worst = worst.max(rel);
        assert!(
            rel < 1e-5,
            "{method:?} du0[{i}]: adjoint {} fd {d}",
            r.du0[i]
        );
    }
    for i in 0..p.len() {
        let d = fd(&p, i, &|x| loss(&u0, x));
        let rel = (r.dp[i] - d).abs() / d.abs().max(1e-3);
        worst = worst.max(rel);
        assert!(rel < 1e-5, "{method:?} dp[{i}]: adjoint {} fd {d}", r.dp[i]);
    }
    eprintln!("{method:?}: worst relative gradient error {worst:.2e}");
}

#[test]
fn diagonal_noise_gradients_match_finite_differences() {
    let sde = FieldSde::new(
        ForwardAd::new(Drift),
        ForwardAd::new(Diffusion),
        Noise::Diagonal,
    )
    .unwrap();
    let p = vec![1.0, 0.3, 1.2, 0.4, 0.3, 0.5];
    for method in [Method::EulerMaruyama, Method::EulerHeun] {
        check_gradient(sde.clone(), vec![0.8, -0.4], p.clone(), method);
    }
}

#[test]
fn scalar_noise_gradients_match_finite_differences() {
    let sde = FieldSde::new(
        ForwardAd::new(Drift),
        ForwardAd::new(Diffusion),
        Noise::Scalar,
    )
    .unwrap();
    let p = vec![1.0, 0.3, 1.2, 0.4, 0.3, 0.5];
    for method in [Method::EulerMaruyama, Method::EulerHeun] {
        check_gradient(sde.clone(), vec![0.8, -0.4], p.clone(), method);
    }
}

#[test]
fn general_noise_gradients_match_finite_differences() {
    let f = general_noise();
    assert_eq!(SdeFunction::<f64>::noise(&f), Noise::General { m: 3 });
    for method in [Method::EulerMaruyama, Method::EulerHeun] {
        check_gradient(f.clone(), vec![1.0, 0.5], vec![0.4, 0.2, 0.3, 0.7], method);
    }
}

#[test]
fn adjoint_rejects_what_it_cannot_differentiate() {
    let sde = FieldSde::new(
        ForwardAd::new(Drift),
        ForwardAd::new(Diffusion),
        Noise::Diagonal,
    )
    .unwrap();
    let prob = SdeProblem::new(sde, vec![0.8, -0.4], (0.0, 1.0), vec![1.0; 6]).unwrap();
    let g = |_: &[f64], us: &[Vec<f64>]| (0.0, vec![vec![0.0; 2]; us.len()]);
    assert!(discrete_adjoint(&prob, Method::Sriw1, &SdeOptions::fixed(0.1), g).is_err());
    assert!(discrete_adjoint(
        &prob,
        Method::EulerMaruyama,
        &SdeOptions::adaptive(1e-3, 1e-3),
        g
    )
    .is_err());
}

/// Fixed steps honour `maxiters` (sciml-sde's `failures_and_saves.rs`), and so does the adjoint.
#[test]
fn discrete_adjoint_honours_maxiters() {
    let mut o = SdeOptions::fixed(0.01).seed(5);
    o.maxiters = 10;
    // The fixed-step adjoints refuse a grid longer than maxiters before any work.
    let prob = SdeProblem::new(gbm_vjp(), vec![1.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    let e = discrete_adjoint(&prob, Method::EulerMaruyama, &o, |_, us| {
        (us[0][0], vec![vec![1.0]; us.len()])
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            SdeError::Failed {
                code: ReturnCode::MaxIters,
                ..
            }
        ),
        "{e}"
    );
}

/// Save times in any order are sorted (sciml-sde's `failures_and_saves.rs`), and the discrete
/// adjoint's loss sees the sorted times.
#[test]
fn discrete_adjoint_sorts_save_times() {
    let sorted = vec![0.0, 0.1, 0.4, 0.7, 1.0];
    let unsorted = vec![0.7, 0.1, 1.0, 0.0, 0.4];
    let opts = SdeOptions::fixed(0.1);
    // The loss weighs the k-th saved state by k + 1, so it tells the order apart.
    let prob = SdeProblem::new(gbm_vjp(), vec![1.0], (0.0, 1.0), vec![1.0, 0.5]).unwrap();
    let adjoint = |ts: Vec<f64>| {
        let o = opts.clone().seed(4).saveat(ts);
        discrete_adjoint(&prob, Method::EulerMaruyama, &o, |ts, us| {
            let l = us.iter().enumerate().map(|(k, u)| (k + 1) as f64 * u[0]);
            let cot = (0..us.len()).map(|k| vec![(k + 1) as f64]).collect();
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
            (l.sum(), cot)
        })
        .unwrap()
    };
    let (a, b) = (adjoint(sorted.clone()), adjoint(unsorted.clone()));
    assert_eq!(a.sol.t, b.sol.t);
    assert_eq!(a.sol.u, b.sol.u);
    assert_eq!((a.loss, &a.du0, &a.dp), (b.loss, &b.du0, &b.dp));
}
