//! Right-hand sides against hand evaluations, and exact Jacobians against central differences.
#![allow(clippy::unwrap_used)]

use super::*;
use sciml_core::{DenseMatrix, Jacobian};

/// `f(t, u)` of a test problem.
fn rhs<P: TestProblem>(prob: &P, t: f64, u: &[f64]) -> Vec<f64> {
    let mut du = vec![f64::NAN; u.len()];
    let mut ws = vec![0.0; prob.scratch_len()];
    prob.eval(t, u, &prob.params(), &mut du, &mut ws);
    du
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1e-300) || (g - w).abs() <= 1e-300,
            "component {i}: got {g:e}, want {w:e}"
        );
    }
}

#[test]
fn robertson_rhs_by_hand() {
    assert_close(
        &rhs(&Robertson, 0.0, &Robertson.u0()),
        &[-0.04, 0.04, 0.0],
        1e-15,
    );
    // r1 = 0.04·0.5 = 0.02, r2 = 3e7·1e-8 = 0.3, r3 = 1e4·1e-4·0.3 = 0.3.
    let du = rhs(&Robertson, 0.0, &[0.5, 1e-4, 0.3]);
    assert_close(&du, &[0.28, -0.58, 0.3], 1e-13);
}

#[test]
fn vdpol_rhs_by_hand() {
    assert_close(&rhs(&VanDerPol, 0.0, &VanDerPol.u0()), &[0.0, -2e6], 1e-15);
    // ((1 − 0.25)·3 − 0.5)/1e-6 = 1.75e6
    assert_close(&rhs(&VanDerPol, 0.0, &[0.5, 3.0]), &[3.0, 1.75e6], 1e-14);
}

#[test]
fn hires_rhs_by_hand() {
    let want = [-1.71 + 0.0007, 1.71, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert_close(&rhs(&Hires, 0.0, &Hires.u0()), &want, 1e-15);
    // y6 = y8 = 1, the rest 0: the 280 y6 y8 term and −0.43 y6.
    let mut y = [0.0; 8];
    y[5] = 1.0;
    y[7] = 1.0;
    let want = [0.0007, 0.0, 0.0, 0.0, 0.43, -280.43, 280.0, -280.0];
    assert_close(&rhs(&Hires, 0.0, &y), &want, 1e-15);
}

#[test]
fn orego_rhs_by_hand() {
    let want = [77.27 * (1.0 - 8.375e-6), -1.0 / 77.27, -0.322];
    assert_close(&rhs(&Oregonator, 0.0, &Oregonator.u0()), &want, 1e-14);
}

#[test]
fn pollution_rhs_by_hand() {
    // At u0 only r2 = 26.6·0.2·0.04, r4 = 0.86e-3·0.1, r5 = 0.82e-3·0.1, r7 = 0.13e-3·0.01,
    // r16 = 0.35e-3·0.04 and r17 = 0.0175·0.04 are non-zero.
    let (r2, r4, r5, r7, r16, r17) = (0.2128, 8.6e-5, 8.2e-5, 1.3e-6, 1.4e-5, 7e-4);
    let mut want = [0.0; 20];
    want[0] = r2;
    want[1] = -r2;
    want[2] = r17;
    want[3] = -r2 - r16 - r17;
    want[4] = 2.0 * r4 + r7;
    want[6] = -r4 - r5;
    want[7] = r4 + r5 + r7;
    want[8] = -r7;
    want[9] = r7;
    want[15] = r16;
    assert_close(&rhs(&Pollution, 0.0, &Pollution.u0()), &want, 1e-13);
}

#[test]
fn brusselator_rhs_by_hand() {
    let b = Brusselator2d::new(4).unwrap();
    let u0 = b.u0();
    let du = rhs(&b, 0.0, &u0);
    // Point (i, j) = (1, 2): x = 0.25, y = 0.5. u depends on y only, v on x only.
    let (u, v) = (22.0 * 0.25_f64.powf(1.5), 27.0 * 0.1875_f64.powf(1.5));
    assert_eq!(u0[b.index_u(1, 2)], u);
    assert_eq!(u0[b.index_u(1, 2) + 1], v);
    let u_ns = 22.0 * 0.1875_f64.powf(1.5); // y = 0.75 and y = 0.25
    let v_ew = [27.0 * 0.0, 27.0 * 0.25_f64.powf(1.5)]; // x = 0 and x = 0.5
    let lap_u = 16.0 * (2.0 * u_ns - 2.0 * u);
    let lap_v = 16.0 * (v_ew[0] + v_ew[1] - 2.0 * v);
    let k = b.index_u(1, 2);
    assert_close(
        &du[k..k + 2],
        &[
            1.0 + u * u * v - 4.4 * u + 10.0 * lap_u,
            3.4 * u - u * u * v + 10.0 * lap_v,
        ],
        1e-13,
    );
    // The forcing: +5 in u inside the disc around (0.3, 0.6) from t = 1.1 on, nothing elsewhere.
    let b = Brusselator2d::new(10).unwrap();
    let u0 = b.u0();
    let before = rhs(&b, 1.0, &u0);
    let after = rhs(&b, 1.1, &u0);
    for j in 0..10 {
        for i in 0..10 {
            let k = b.index_u(i, j);
            let (x, y) = (i as f64 / 10.0, j as f64 / 10.0);
            let inside = (x - 0.3).powi(2) + (y - 0.6).powi(2) <= 0.01;
            let jump = after[k] - before[k];
            assert_eq!(jump, if inside { 5.0 } else { 0.0 }, "point ({i}, {j})");
            assert_eq!(after[k + 1], before[k + 1]);
        }
    }
    // (0.3, 0.6) itself is inside (its neighbours at distance 0.1 are on the rounded edge).
    let k = b.index_u(3, 6);
    assert_eq!(after[k] - before[k], 5.0);
}

/// Central differences of `f` at `u`. Every component of these fields is at most quadratic in
/// any single unknown, so central differences are exact up to rounding for any step; a large
/// step (1e-3) keeps the rounding small against the derivative.
fn central_jacobian<P: TestProblem>(prob: &P, t: f64, u: &[f64]) -> Vec<Vec<f64>> {
    let n = u.len();
    let mut cols = Vec::with_capacity(n);
    for j in 0..n {
        let h = 1e-3;
        let (mut up, mut um) = (u.to_vec(), u.to_vec());
        up[j] += h;
        um[j] -= h;
        let (fp, fm) = (rhs(prob, t, &up), rhs(prob, t, &um));
        cols.push(
            fp.iter()
                .zip(&fm)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect(),
        );
    }
    cols
}

fn check_jacobian<P: TestProblem>(prob: &P, u: &[f64]) -> f64 {
    let n = u.len();
    let mut f = ForwardAd::new(prob.clone());
    let mut jac = DenseMatrix::zeros(n, n);
    f.jacobian(0.0, &u.to_vec(), &prob.params(), &mut jac);
    let fd = central_jacobian(prob, 0.0, u);
    let mut worst = 0.0_f64;
    for (j, col) in fd.iter().enumerate() {
        let scale = col.iter().fold(0.0_f64, |m, x| m.max(x.abs())).max(1e-300);
        for (i, x) in col.iter().enumerate() {
            worst = worst.max((jac[(i, j)] - x).abs() / scale);
        }
    }
    worst
}

/// A state with every component positive and of the size the reference solution has, so every
/// reaction is active.
fn perturbed(reference: &[f64]) -> Vec<f64> {
    reference
        .iter()
        .enumerate()
        .map(|(i, r)| r.abs() * (1.0 + 0.1 * (i as f64).sin()))
        .collect()
}

#[test]
fn exact_jacobians_match_central_differences() {
    // Rounding in the differences is below 1e-9 of each column's largest entry here.
    let e = check_jacobian(&Pollution, &perturbed(&Pollution::REF));
    assert!(e < 1e-9, "pollu: {e:e}");
    let e = check_jacobian(&Hires, &perturbed(&Hires::REF));
    assert!(e < 1e-9, "hires: {e:e}");
    let e = check_jacobian(&Robertson, &[0.5, 1e-4, 0.3]);
    assert!(e < 1e-9, "rober: {e:e}");
    let e = check_jacobian(&Oregonator, &[2.0, 300.0, 50.0]);
    assert!(e < 1e-9, "orego: {e:e}");
    let e = check_jacobian(&VanDerPol, &[1.5, -0.7]);
    assert!(e < 1e-9, "vdpol: {e:e}");
}

#[test]
fn brusselator_sparsity_is_the_jacobians_structure() {
    let b = Brusselator2d::new(5).unwrap();
    let n = 50;
    let u: Vec<f64> = (0..n).map(|i| 1.0 + 0.3 * (i as f64 * 0.7).sin()).collect();
    let mut f = ForwardAd::new(b);
    let mut jac = DenseMatrix::zeros(n, n);
    f.jacobian(0.5, &u, &b.params(), &mut jac);
    let pattern = b.sparsity();
    assert_eq!(pattern.len(), 12 * 25);
    let mut expected = Vec::new();
    for i in 0..n {
        for j in 0..n {
            if jac[(i, j)] != 0.0 {
                expected.push((i, j));
            }
        }
    }
    assert_eq!(pattern, expected);
    assert!(check_jacobian(&b, &u) < 1e-9);
}

#[test]
fn problems_validate_and_carry_references() {
    let probs: [(&str, usize, usize); 5] = [
        (
            Robertson.name(),
            Robertson.u0().len(),
            Robertson.reference().unwrap().len(),
        ),
        (
            VanDerPol.name(),
            VanDerPol.u0().len(),
            VanDerPol.reference().unwrap().len(),
        ),
        (
            Hires.name(),
            Hires.u0().len(),
            Hires.reference().unwrap().len(),
        ),
        (
            Pollution.name(),
            Pollution.u0().len(),
            Pollution.reference().unwrap().len(),
        ),
        (
            Oregonator.name(),
            Oregonator.u0().len(),
            Oregonator.reference().unwrap().len(),
        ),
    ];
    for (name, n, nref) in probs {
        assert_eq!(n, nref, "{name}");
    }
    assert!(Robertson.problem().is_ok());
    assert!(Pollution.problem().is_ok());
    assert!(Brusselator2d::new(32).unwrap().problem().is_ok());
    let err = Brusselator2d::new(1).unwrap_err();
    assert!(err.to_string().contains("at least 3"), "{err}");
    // Conservation built into the equations: Robertson's and HIRES's y7 + y8 rates cancel.
    let du = rhs(&Robertson, 0.0, &[0.3, 2e-5, 0.7]);
    assert!((du[0] + du[1] + du[2]).abs() < 1e-15);
}

#[test]
fn brusselator_matches_the_w2b_peer_script() {
    // f(0, u0) and f(2, u0) of the 32 × 32 problem as computed by the vectorised numpy version in
    // benches/peers/w2b_brusselator.py (np.roll Laplacian), an independent implementation.
    let b = Brusselator2d::new(32).unwrap();
    let du = rhs(&b, 0.0, &b.u0());
    let want = [
        2374.259559656297,
        2912.636732305455,
        2374.259559656297,
        1008.7589057295543,
    ];
    assert_close(&du[..4], &want, 1e-13);
    assert_close(
        &du[1000..1002],
        &[-315.868811632448, -379.13438171997126],
        1e-13,
    );
    // Point (9, 19) = (0.28125, 0.59375) lies in the forcing disc.
    let k = b.index_u(9, 19);
    assert_close(&du[k..k + 1], &[-305.7822582718639], 1e-13);
    let du2 = rhs(&b, 2.0, &b.u0());
    assert_close(&du2[k..k + 1], &[-300.7822582718639], 1e-13);
}
