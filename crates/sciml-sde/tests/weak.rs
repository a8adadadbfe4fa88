//! Weak errors over many paths, the Ornstein–Uhlenbeck stationary variance, and reproducibility
//! of ensembles across thread counts.

#![allow(clippy::unwrap_used)]

mod common;
use common::gbm;
use sciml_sde::{
    solve_trajectories, EnsembleSummary, FnSde, Method, Noise, SdeOptions, SdeProblem,
};

/// Sample mean and variance at T with their standard errors.
fn moments(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    (m, v, (v / n).sqrt(), ((m4 - v * v) / n).sqrt())
}

fn check_gbm_weak(method: Method, dt: f64, paths: usize) {
    let (mu, sigma) = (0.5, 0.3);
    let prob = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![mu, sigma]).unwrap();
    let opts = SdeOptions::fixed(dt).saveat(vec![1.0]).seed(2024);
    let sols = solve_trajectories(&prob, method, &opts, paths).unwrap();
    let xs: Vec<f64> = sols.iter().map(|s| s.u[0][0]).collect();
    let (m, v, se_m, se_v) = moments(&xs);
    // Exact: E X = e^{μT}, Var X = e^{2μT}(e^{σ²T} − 1).
    let em = mu.exp();
    let ev = (2.0 * mu).exp() * ((sigma * sigma).exp() - 1.0);
    let zm = (m - em) / se_m;
    let zv = (v - ev) / se_v;
    eprintln!("{method:?} dt={dt}: mean {m} ({zm:.2} SE), variance {v} ({zv:.2} SE)");
    assert!(
        zm.abs() < 3.0,
        "{method:?} mean off by {zm} standard errors"
    );
    assert!(
        zv.abs() < 3.0,
        "{method:?} variance off by {zv} standard errors"
    );
}

#[test]
fn weak_moments_of_gbm_over_1e5_paths() {
    // SRIW1 has weak order 2: the bias at dt = 1/32 is far below the standard error.
    check_gbm_weak(Method::Sriw1, 1.0 / 32.0, 100_000);
    // Euler–Maruyama has weak order 1. Its exact discrete moments are E X_N = (1 + μh)^N and
    // E X_N² = ((1 + μh)² + σ²h)^N; at dt = 1/256 the biases are −8e-4 (0.5 standard errors) in
    // the mean and −1.3e-3 (about 1.1 standard errors) in the variance.
    check_gbm_weak(Method::EulerMaruyama, 1.0 / 256.0, 100_000);
}

#[test]
fn ornstein_uhlenbeck_reaches_its_stationary_variance() {
    // dX = −θ X dt + σ dW: Var X(T) = σ²/(2θ) (1 − e^{−2θT}) → σ²/(2θ).
    let (theta, sigma) = (1.5, 0.8);
    let f = FnSde::new(
        1,
        2,
        Noise::Scalar,
        |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = -p[0] * u[0],
        |_t: f64, _u: &[f64], p: &[f64], g: &mut [f64]| g[0] = p[1],
    );
    let prob = SdeProblem::new(f, vec![2.0], (0.0, 6.0), vec![theta, sigma]).unwrap();
    let opts = SdeOptions::adaptive(1e-3, 1e-3).saveat(vec![6.0]).seed(9);
    let sols = solve_trajectories(&prob, Method::Sra1, &opts, 20_000).unwrap();
    let xs: Vec<f64> = sols.iter().map(|s| s.u[0][0]).collect();
    let (m, v, se_m, se_v) = moments(&xs);
    let stationary = sigma * sigma / (2.0 * theta);
    let ev = stationary * (1.0 - (-2.0 * theta * 6.0f64).exp());
    let em = 2.0 * (-theta * 6.0f64).exp();
    eprintln!(
        "OU: mean {m} ({:.2} SE), variance {v} vs {stationary} ({:.2} SE)",
        (m - em) / se_m,
        (v - ev) / se_v
    );
    assert!(((m - em) / se_m).abs() < 3.0);
    assert!(((v - ev) / se_v).abs() < 3.0);
}

#[test]
fn ensembles_are_bitwise_identical_on_one_and_two_threads() {
    let prob = SdeProblem::new(gbm(2), vec![1.0, 0.5], (0.0, 1.0), vec![0.3, 0.6]).unwrap();
    for (method, opts) in [
        (Method::EulerMaruyama, SdeOptions::fixed(0.01).seed(5)),
        (Method::Sriw1, SdeOptions::adaptive(1e-3, 1e-3).seed(5)),
    ] {
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| solve_trajectories(&prob, method, &opts, 64).unwrap())
        };
        let a = run(1);
        let b = run(2);
        assert_eq!(a.len(), 64);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.t, y.t);
            for (ux, uy) in x.u.iter().zip(&y.u) {
                let bx: Vec<u64> = ux.iter().map(|v| v.to_bits()).collect();
                let by: Vec<u64> = uy.iter().map(|v| v.to_bits()).collect();
                assert_eq!(bx, by);
            }
        }
        // Different trajectories are different paths.
        assert_ne!(a[0].u.last(), a[1].u.last());
    }
}

#[test]
fn summary_statistics_over_time() {
    let prob = SdeProblem::new(gbm(1), vec![1.0], (0.0, 1.0), vec![0.5, 0.3]).unwrap();
    let sols =
        solve_trajectories(&prob, Method::Sriw1, &SdeOptions::fixed(0.05).seed(1), 4000).unwrap();
    let s = EnsembleSummary::new(&sols, &[0.05, 0.5, 0.95]).unwrap();
    assert_eq!(s.t.len(), 21);
    for (k, t) in s.t.iter().enumerate() {
        let em = (0.5 * t).exp();
        let ev = (2.0 * 0.5 * t).exp() * ((0.09 * t).exp() - 1.0);
        let se = (ev / 4000.0).sqrt().max(1e-12);
        assert!((s.mean[k][0] - em).abs() < 4.0 * se + 1e-12, "t={t}");
        // Log-normal quantiles: exp((μ − σ²/2)t + σ √t z_q).
        let median = ((0.5 - 0.045) * t).exp();
        assert!(
            (s.quantiles[1].1[k][0] - median).abs() < 0.03,
            "median at t={t}"
        );
        assert!(s.quantiles[0].1[k][0] <= s.quantiles[1].1[k][0]);
        assert!(s.quantiles[1].1[k][0] <= s.quantiles[2].1[k][0]);
        if k > 0 {
            assert!(
                (s.variance[k][0] / ev - 1.0).abs() < 0.15,
                "variance at t={t}"
            );
        }
    }
}
