#![allow(dead_code)]
use sciml_sde::{FnSde, Noise, SdeFunction};

/// Geometric Brownian motion du = μ u dt + σ u dW (diagonal noise), p = [μ, σ].
pub fn gbm(n: usize) -> impl SdeFunction<f64> + Clone + Send + Sync {
    FnSde::new(
        n,
        2,
        Noise::Diagonal,
        |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
            for (d, x) in du.iter_mut().zip(u) {
                *d = p[0] * x;
            }
        },
        |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| {
            for (d, x) in g.iter_mut().zip(u) {
                *d = p[1] * x;
            }
        },
    )
}

/// Least-squares slope of log(err) against log(dt).
pub fn fitted_order(dts: &[f64], errs: &[f64]) -> f64 {
    let xs: Vec<f64> = dts.iter().map(|x| x.ln()).collect();
    let ys: Vec<f64> = errs.iter().map(|x| x.ln()).collect();
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}
