//! The car axis problem of the IVP test set (F. Mazzia and C. Magherini, *Test Set for Initial
//! Value Problem Solvers*, release 2.4, 2008, problem CARAXIS; the model is from Schneider's
//! thesis via Hairer and Wanner), posed there in index-3 form, solved here in index-2 form:
//! the two position constraints are replaced by their time derivatives (the velocity
//! constraints), so the Lagrange multipliers are index-2 variables and leave the error test
//! (`suppress_alg`). The exact solution is the same (the start satisfies both levels), so the
//! differential variables are compared with the test set's reference at `t = 3`.

use sciml_core::{ReturnCode, Scalar};
use sciml_dae::{DaeBdf, DaeForwardAd, DaeInit, DaeProblem, GenericResidual};
use sciml_ode::{SaveAt, SolveOptions};

// The test set's parameters: ε = 1e-2, M = 10, L = 1, L0 = 0.5, r = 0.1, ω = 10, g = 1.
const EPS: f64 = 1e-2;
const MASS: f64 = 10.0;
const L: f64 = 1.0;
const L0: f64 = 0.5;
const R: f64 = 0.1;
const W: f64 = 10.0;
const G: f64 = 1.0;
const K: f64 = MASS * EPS * EPS / 2.0;

/// The reference solution at `t = 3` (the test set's `solut`, as published; also in the R
/// package deTestSet's `reference("caraxis")`): `xl, yl, xr, yr, xl′, yl′, xr′, yr′, λ1, λ2`.
#[allow(clippy::excessive_precision)] // the digits as published
const REF_T3: [f64; 10] = [
    0.493455784275402809122e-1,
    0.496989460230171153861,
    0.104174252488542151681e1,
    0.373911027265361256927,
    -0.770583684040972357970e-1,
    0.744686658723778553466e-2,
    0.175568157537232222276e-1,
    0.770341043779251976443,
    -0.473688659084893324729e-2,
    -0.110468033125734368808e-2,
];

/// The road: the left wheel's hub `(xb, yb)` with `yb = r sin ωt`, `xb = √(L² − yb²)`, and their
/// time derivatives.
fn hub(t: f64) -> (f64, f64, f64, f64) {
    let yb = R * (W * t).sin();
    let dyb = R * W * (W * t).cos();
    let xb = (L * L - yb * yb).sqrt();
    let dxb = -yb * dyb / xb;
    (xb, yb, dxb, dyb)
}

/// The equations of motion of the test set (rows 1–8, mass `k` on the accelerations) and the
/// derivatives of its two position constraints `xb·xl + yb·yl = 0` and
/// `(xl − xr)² + (yl − yr)² − L² = 0` (rows 9–10).
struct CarAxisIndex2;

impl GenericResidual for CarAxisIndex2 {
    fn len(&self) -> usize {
        10
    }
    fn eval<S: Scalar<Re = f64>>(&self, t: f64, du: &[S], y: &[S], _p: &[S], r: &mut [S]) {
        let (xb, yb, dxb, dyb) = hub(t);
        let c = S::from_re;
        let (xl, yl, xr, yr) = (y[0], y[1], y[2], y[3]);
        let (ul, vl, ur, vr) = (y[4], y[5], y[6], y[7]);
        let (lam1, lam2) = (y[8], y[9]);
        let ll = (xl * xl + yl * yl).sqrt();
        let lr = ((xr - c(xb)) * (xr - c(xb)) + (yr - c(yb)) * (yr - c(yb))).sqrt();
        let (l0, two, k) = (c(L0), c(2.0), c(K));
        r[0] = du[0] - ul;
        r[1] = du[1] - vl;
        r[2] = du[2] - ur;
        r[3] = du[3] - vr;
        r[4] = k * du[4] - ((l0 - ll) * xl / ll + lam1 * c(xb) + two * lam2 * (xl - xr));
        r[5] = k * du[5] - ((l0 - ll) * yl / ll + lam1 * c(yb) + two * lam2 * (yl - yr) - k * c(G));
        r[6] = k * du[6] - ((l0 - lr) * (xr - c(xb)) / lr - two * lam2 * (xl - xr));
        r[7] = k * du[7] - ((l0 - lr) * (yr - c(yb)) / lr - two * lam2 * (yl - yr) - k * c(G));
        r[8] = c(dxb) * xl + c(xb) * ul + c(dyb) * yl + c(yb) * vl;
        r[9] = two * (xl - xr) * (ul - ur) + two * (yl - yr) * (vl - vr);
    }
}

fn solve(rtol: f64, atol: f64) -> (Vec<f64>, sciml_core::Stats) {
    // The test set's consistent start: both constraint levels hold at t = 0.
    let y0 = vec![0.0, L0, L, L0, -L0 / L, 0.0, -L0 / L, 0.0, 0.0, 0.0];
    let dy0 = vec![-L0 / L, 0.0, -L0 / L, 0.0, 0.0, -G, 0.0, -G, 0.0, 0.0];
    let mut differential = vec![true; 10];
    differential[8] = false;
    differential[9] = false;
    let mut prob = DaeProblem::new(
        DaeForwardAd::new(CarAxisIndex2),
        dy0,
        y0,
        (0.0, 3.0),
        vec![],
        Some(differential),
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerances(rtol, atol)
        .saveat(SaveAt::Times(vec![3.0]))
        .maxiters(1_000_000);
    let sol = prob
        .solve(DaeBdf::new().suppress_alg(true), DaeInit::CheckInit, &opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    (sol.u.last().expect("saved end").clone(), sol.stats)
}

/// Componentwise relative errors against the reference.
fn relative_errors(y: &[f64]) -> Vec<f64> {
    y.iter()
        .zip(REF_T3)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .collect()
}

fn worst(err: &[f64]) -> f64 {
    err.iter().fold(0.0f64, |a, b| a.max(*b))
}

#[test]
fn car_axis_in_index_2_form_at_rtol_1e_8() {
    // Measured: positions within 3.7e-7 relative, velocities within 2.8e-5 (yl′ = 7.4e-3 and
    // xr′ = 1.8e-2 are small against the others: absolute errors 1.4e-7 and 4.9e-7, about 50
    // times the tolerance, the global error of some 3000 steps through the axle's fast
    // oscillation). The 1e-6 is not reached at this tolerance; it is at 1e-10 (below).
    let (y, stats) = solve(1e-8, 1e-10);
    let err = relative_errors(&y);
    println!("car axis, rtol 1e-8: relative errors {err:?}; {stats:?}");
    assert!(worst(&err[..4]) <= 1e-6, "positions {:?}", &err[..4]);
    assert!(
        worst(&err[..8]) <= 5e-5,
        "differential variables {:?}",
        &err[..8]
    );
}

#[test]
fn car_axis_in_index_2_form_reaches_1e_6_at_rtol_1e_10() {
    // Measured 6.9e-7 on the differential variables and 2.4e-8 on the multipliers, which are
    // outside the error test; the error falls about 6.5 times per decade of tolerance.
    let (y, stats) = solve(1e-10, 1e-12);
    let err = relative_errors(&y);
    println!("car axis, rtol 1e-10: relative errors {err:?}; {stats:?}");
    assert!(worst(&err) <= 1e-6, "relative errors {err:?}");
}
