//! Discrete-adjoint gradients against central finite differences on the same Brownian path (the
//! continuous adjoints are checked in `continuous_adjoint.rs`).

#![allow(clippy::unwrap_used)]

mod common;
use common::{general_noise, Diffusion, Drift};
use sciml_core::ForwardAd;
use sciml_sde::adjoint::discrete_adjoint;
use sciml_sde::{solve, FieldSde, Method, Noise, SdeFunction, SdeOptions, SdeProblem, SdeVjp};

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
