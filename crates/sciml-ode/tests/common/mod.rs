//! Test problems that carry their own answers.
#![allow(dead_code)]

use sciml_core::{FnField, GenericRhs, Scalar, VectorField};

/// The attracting limit cycle  u1' = -u2 + u1 (1 - r²),  u2' = u1 + u2 (1 - r²),  r² = u1² + u2².
/// In polar form r' = r (1 - r²), θ' = 1, so
/// r(t) = 1 / sqrt(1 + (1/r0² - 1) e^{-2t}),  θ(t) = θ0 + t: a nonlinear system with an exact
/// solution, so convergence orders are not limited to the linear order conditions.
pub fn limit_cycle() -> impl VectorField<V = Vec<f64>, P = Vec<f64>> + Clone {
    FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let s = 1.0 - (u[0] * u[0] + u[1] * u[1]);
        du[0] = -u[1] + u[0] * s;
        du[1] = u[0] + u[1] * s;
    })
}

pub const LC_U0: [f64; 2] = [0.5, 0.0];

pub fn limit_cycle_exact(t: f64) -> [f64; 2] {
    let r0: f64 = 0.5;
    let r = 1.0 / (1.0 + (1.0 / (r0 * r0) - 1.0) * (-2.0 * t).exp()).sqrt();
    [r * t.cos(), r * t.sin()]
}

/// Lotka–Volterra with parameters, written once for every scalar type.
#[derive(Clone, Copy)]
pub struct LotkaVolterra;
impl GenericRhs for LotkaVolterra {
    fn dims(&self) -> (usize, usize) {
        (2, 4)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
        du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
    }
}

pub const LV_P: [f64; 4] = [1.5, 1.0, 3.0, 1.0];

/// The Lotka–Volterra as a plain closure.
pub fn lotka_volterra() -> impl VectorField<V = Vec<f64>, P = Vec<f64>> + Clone {
    FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = 1.5 * u[0] - u[0] * u[1];
        du[1] = -3.0 * u[1] + u[0] * u[1];
    })
}

/// Least-squares slope of log(err) against log(h).
pub fn fitted_slope(hs: &[f64], errs: &[f64]) -> f64 {
    let xs: Vec<f64> = hs.iter().map(|h| h.ln()).collect();
    let ys: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// The Kepler two-body problem q'' = -q / |q|³ with eccentricity `KEPLER_E`, started at the
/// pericentre: q = (1 - e, 0), p = (0, sqrt((1 + e)/(1 - e))). The exact solution follows from
/// Kepler's equation E - e sin E = t (Hairer, Nørsett & Wanner, *Solving ODEs I*, II.10):
/// q = (cos E - e, sqrt(1 - e²) sin E), p = (-sin E, sqrt(1 - e²) cos E) / (1 - e cos E).
pub fn kepler() -> impl VectorField<V = Vec<f64>, P = Vec<f64>> + Clone {
    FnField::new(4, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let r2 = u[0] * u[0] + u[1] * u[1];
        let r3 = r2 * r2.sqrt();
        du[0] = u[2];
        du[1] = u[3];
        du[2] = -u[0] / r3;
        du[3] = -u[1] / r3;
    })
}

pub const KEPLER_E: f64 = 0.5;

pub fn kepler_u0() -> Vec<f64> {
    let e = KEPLER_E;
    vec![1.0 - e, 0.0, 0.0, ((1.0 + e) / (1.0 - e)).sqrt()]
}

pub fn kepler_exact(t: f64) -> Vec<f64> {
    let e = KEPLER_E;
    // Newton on E - e sin E - t = 0 from E = t (converges for e < 1).
    let mut ea = t;
    for _ in 0..50 {
        let d = (ea - e * ea.sin() - t) / (1.0 - e * ea.cos());
        ea -= d;
        if d.abs() < 1e-16 {
            break;
        }
    }
    let w = (1.0 - e * e).sqrt();
    let den = 1.0 - e * ea.cos();
    vec![
        ea.cos() - e,
        w * ea.sin(),
        -ea.sin() / den,
        w * ea.cos() / den,
    ]
}

/// u' = 2 t u², u(0) = 1: exactly u = 1 / (1 - t²), which blows up at t = 1. Non-autonomous and
/// nonlinear, with derivatives growing like k!/(1 - t)^k, so truncation errors dominate rounding
/// over a wide range of step sizes even for ninth-order methods.
pub fn riccati() -> impl VectorField<V = Vec<f64>, P = Vec<f64>> + Clone {
    FnField::new(1, 0, |t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = 2.0 * t * u[0] * u[0];
    })
}

pub fn riccati_exact(t: f64) -> f64 {
    1.0 / (1.0 - t * t)
}

/// u' = (sin(3t) - 1/2) u, u(0) = 1: exactly u = exp(-t/2 + (1 - cos 3t)/3). Linear but with a
/// time-dependent coefficient, so the quadrature-type order conditions in `c` are exercised.
pub fn modulated_decay() -> impl VectorField<V = Vec<f64>, P = Vec<f64>> + Clone {
    FnField::new(1, 0, |t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = ((3.0 * t).sin() - 0.5) * u[0];
    })
}

pub fn modulated_decay_exact(t: f64) -> f64 {
    (-0.5 * t + (1.0 - (3.0 * t).cos()) / 3.0).exp()
}

/// Robertson's kinetics (`sciml_ode::problems::Robertson`, exact Jacobians by dual numbers)
/// solved by `m` on [0, 1e5] at `(rtol, atol)`: the end state and the solver statistics.
pub fn robertson_end<M>(m: M, rtol: f64, atol: f64) -> (Vec<f64>, sciml_core::Stats)
where
    M: sciml_ode::OdeMethod<sciml_core::ForwardAd<sciml_ode::problems::Robertson>>,
{
    use sciml_ode::problems::Robertson;
    use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tolerance};
    let mut prob = OdeProblem::new(
        sciml_core::ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 1e5),
        Robertson::P.to_vec(),
    )
    .expect("a valid problem");
    let opts = SolveOptions {
        tol: Tolerance::new(rtol, atol).expect("positive tolerances"),
        saveat: SaveAt::Times(vec![1e5]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(m, &opts).expect("Robertson solves");
    (sol.u[0].clone(), sol.stats)
}
