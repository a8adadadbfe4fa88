#![allow(dead_code)]
use sciml_core::{GenericRhs, Scalar};
use sciml_sde::{FnSde, ItoCorrection, Noise, SdeFunction};

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

/// A nonlinear 2-D drift for the adjoint tests (6 parameters, shared with [`Diffusion`]).
#[derive(Clone)]
pub struct Drift;
impl GenericRhs for Drift {
    fn dims(&self) -> (usize, usize) {
        (2, 6)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = p[0] * u[1] - p[1] * u[0] * u[0] * u[0];
        du[1] = -p[2] * u[0] + p[3] * u[1].sin();
    }
}

/// The diffusion paired with [`Drift`]; its second component depends on both states, so the
/// diagonal noise is not commutative.
#[derive(Clone)]
pub struct Diffusion;
impl GenericRhs for Diffusion {
    fn dims(&self) -> (usize, usize) {
        (2, 6)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], g: &mut [S], _ws: &mut [S]) {
        g[0] = p[4] * (S::one() + u[0] * u[0]).sqrt();
        g[1] = p[5] * u[0] * u[1];
    }
}

/// General noise, 2 states and 3 Brownian motions: drift −p3 u,
/// `g = [[p0 u0, p1, 0], [0, p2 u1, p0 u0 u1]]`, with hand-written VJPs and Itô correction
/// `c = ½ Σ_jk g_kj ∂g_ij/∂u_k = ½ [p0² u0, p2² u1 + p0² u0² u1]`.
pub fn general_noise() -> impl ItoCorrection<f64> + Clone {
    FnSde::new(
        2,
        4,
        Noise::General { m: 3 },
        |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
            du[0] = -p[3] * u[0];
            du[1] = -p[3] * u[1];
        },
        |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| {
            g.copy_from_slice(&[p[0] * u[0], p[1], 0.0, 0.0, p[2] * u[1], p[0] * u[0] * u[1]]);
        },
    )
    .with_vjp(
        |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
            gu[0] -= p[3] * w[0];
            gu[1] -= p[3] * w[1];
            gp[3] -= u[0] * w[0] + u[1] * w[1];
        },
        |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
            gu[0] += p[0] * w[0] + p[0] * u[1] * w[5];
            gu[1] += p[2] * w[4] + p[0] * u[0] * w[5];
            gp[0] += u[0] * w[0] + u[0] * u[1] * w[5];
            gp[1] += w[1];
            gp[2] += u[1] * w[4];
        },
    )
    .with_ito_correction(
        |_t: f64, u: &[f64], p: &[f64], c: &mut [f64]| {
            c[0] = 0.5 * p[0] * p[0] * u[0];
            c[1] = 0.5 * (p[2] * p[2] * u[1] + p[0] * p[0] * u[0] * u[0] * u[1]);
        },
        |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
            gu[0] += 0.5 * w[0] * p[0] * p[0] + w[1] * p[0] * p[0] * u[0] * u[1];
            gu[1] += 0.5 * w[1] * (p[2] * p[2] + p[0] * p[0] * u[0] * u[0]);
            gp[0] += w[0] * p[0] * u[0] + w[1] * p[0] * u[0] * u[0] * u[1];
            gp[2] += w[1] * p[2] * u[1];
        },
    )
}
