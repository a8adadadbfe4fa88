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

/// The Itô correction `c_i = ½ Σ_j Σ_k g_kj ∂g_ij/∂u_k` by central differences (step `h`) of
/// the diffusion: diagonal noise `½ g_i ∂g_i/∂u_i`, scalar noise `½ (∂g/∂u) g`, general noise
/// `½ Σ_j (∂g_{·j}/∂u) g_{·j}` along each column.
pub fn correction_by_differences<F: SdeFunction<f64>>(
    f: &mut F,
    t: f64,
    u: &[f64],
    p: &[f64],
    h: f64,
) -> Vec<f64> {
    let n = u.len();
    let noise = f.noise();
    let len = noise.diffusion_len(n);
    let m = len / n;
    let mut diffusion = |x: &[f64]| {
        let mut g = vec![0.0; len];
        f.diffusion(t, x, p, &mut g);
        g
    };
    let g = diffusion(u);
    let mut c = vec![0.0; n];
    match noise {
        Noise::Diagonal => {
            for i in 0..n {
                let (mut a, mut b) = (u.to_vec(), u.to_vec());
                a[i] += h;
                b[i] -= h;
                let d = (diffusion(&a)[i] - diffusion(&b)[i]) / (2.0 * h);
                c[i] = 0.5 * g[i] * d;
            }
        }
        Noise::Scalar => {
            let a: Vec<f64> = (0..n).map(|k| u[k] + h * g[k]).collect();
            let b: Vec<f64> = (0..n).map(|k| u[k] - h * g[k]).collect();
            let (ga, gb) = (diffusion(&a), diffusion(&b));
            for i in 0..n {
                c[i] = 0.5 * (ga[i] - gb[i]) / (2.0 * h);
            }
        }
        _ => {
            for j in 0..m {
                let a: Vec<f64> = (0..n).map(|k| u[k] + h * g[k * m + j]).collect();
                let b: Vec<f64> = (0..n).map(|k| u[k] - h * g[k * m + j]).collect();
                let (ga, gb) = (diffusion(&a), diffusion(&b));
                for i in 0..n {
                    c[i] += 0.5 * (ga[i * m + j] - gb[i * m + j]) / (2.0 * h);
                }
            }
        }
    }
    c
}

/// Checks the correction against [`correction_by_differences`] and its VJP with cotangent `w`
/// against central differences of `w · c` in `u` and `p`, both to 1e-8 relative to
/// `max(|reference|, 1)`; returns the largest relative VJP error.
pub fn check_correction<F: ItoCorrection<f64>>(
    f: &mut F,
    t: f64,
    u: &[f64],
    p: &[f64],
    w: &[f64],
    h: f64,
) -> f64 {
    let n = u.len();
    let expect = correction_by_differences(f, t, u, p, h);
    let mut c = vec![0.0; n];
    f.ito_correction(t, u, p, &mut c);
    for i in 0..n {
        assert!(
            (c[i] - expect[i]).abs() < 1e-8 * expect[i].abs().max(1.0),
            "c {c:?} fd {expect:?}"
        );
    }
    let (mut gu, mut gp) = (vec![0.0; n], vec![0.0; p.len()]);
    f.ito_correction_vjp(t, u, p, w, &mut gu, &mut gp);
    let mut wc = |u: &[f64], p: &[f64]| {
        let mut c = vec![0.0; n];
        f.ito_correction(t, u, p, &mut c);
        c.iter().zip(w).map(|(a, b)| a * b).sum::<f64>()
    };
    let mut worst: f64 = 0.0;
    for k in 0..n + p.len() {
        let (mut ua, mut ub, mut pa, mut pb) = (u.to_vec(), u.to_vec(), p.to_vec(), p.to_vec());
        if k < n {
            ua[k] += h;
            ub[k] -= h;
        } else {
            pa[k - n] += h;
            pb[k - n] -= h;
        }
        let fd = (wc(&ua, &pa) - wc(&ub, &pb)) / (2.0 * h);
        let got = if k < n { gu[k] } else { gp[k - n] };
        let err = (got - fd).abs() / fd.abs().max(1.0);
        worst = worst.max(err);
        assert!(err < 1e-8, "component {k}: vjp {got} fd {fd}");
    }
    worst
}
