//! The transistor amplifier (index 1, eight equations, a singular and non-diagonal `∂F/∂u′`) of
//! the IVP test set (F. Mazzia and C. Magherini, *Test Set for Initial Value Problem Solvers*,
//! release 2.4, 2008, problem TRANSAMP), against its published reference at `t = 0.2`
//! (computed there with PSIDE at rtol = atol = 1e-14).

use sciml_core::ReturnCode;
use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
use sciml_ode::{SaveAt, SolveOptions};

const UB: f64 = 6.0;
const UF: f64 = 0.026;
const ALPHA: f64 = 0.99;
const BETA: f64 = 1e-6;
const R0: f64 = 1000.0;
/// `R_1 … R_9` are all 9000.
const R: f64 = 9000.0;
/// `C_k = k·1e-6`.
const C: [f64; 5] = [1e-6, 2e-6, 3e-6, 4e-6, 5e-6];

#[allow(clippy::excessive_precision)] // the digits as published
const REF_T02: [f64; 8] = [
    -0.5562145012262709e-2,
    0.3006522471903042e1,
    0.2849958788608128e1,
    0.2926422536206241e1,
    0.2704617865010554e1,
    0.2761837778393145e1,
    0.4770927631616772e1,
    0.1236995868091548e1,
];

/// The test set's residual `M y′ − f(t, y)` (the capacitor currents against the resistor and
/// transistor currents, with the input `U_e(t) = 0.1 sin(200πt)`).
fn residual(t: f64, dy: &[f64], y: &[f64], _p: &[f64], r: &mut [f64]) {
    let ue = 0.1 * (200.0 * std::f64::consts::PI * t).sin();
    let g = |x: f64| BETA * ((x / UF).exp() - 1.0);
    let (g1, g2) = (g(y[1] - y[2]), g(y[4] - y[5]));
    let f = [
        (y[0] - ue) / R0,
        y[1] / R + (y[1] - UB) / R + (1.0 - ALPHA) * g1,
        y[2] / R - g1,
        (y[3] - UB) / R + ALPHA * g1,
        y[4] / R + (y[4] - UB) / R + (1.0 - ALPHA) * g2,
        y[5] / R - g2,
        (y[6] - UB) / R + ALPHA * g2,
        y[7] / R,
    ];
    let [c1, c2, c3, c4, c5] = C;
    let m = [
        -c1 * dy[0] + c1 * dy[1],
        c1 * dy[0] - c1 * dy[1],
        -c2 * dy[2],
        -c3 * dy[3] + c3 * dy[4],
        c3 * dy[3] - c3 * dy[4],
        -c4 * dy[5],
        -c5 * dy[6] + c5 * dy[7],
        c5 * dy[6] - c5 * dy[7],
    ];
    for i in 0..8 {
        r[i] = m[i] - f[i];
    }
}

#[test]
fn transistor_amplifier_matches_the_test_set_reference() {
    let y0 = vec![0.0, UB / 2.0, UB / 2.0, UB, UB / 2.0, UB / 2.0, UB, 0.0];
    // The test set's consistent initial derivatives.
    let dy0 = vec![
        51.338775,
        51.338775,
        -y0[1] / (C[1] * R),
        -24.9757667,
        -24.9757667,
        -y0[4] / (C[3] * R),
        -10.00564453,
        -10.00564453,
    ];
    let mut prob = DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(8, residual)),
        dy0,
        y0,
        (0.0, 0.2),
        vec![],
        None,
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![0.2]));
    let sol = prob
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    let y = &sol.u[0];
    let rel: Vec<f64> = y
        .iter()
        .zip(&REF_T02)
        .map(|(a, b)| ((a - b) / b).abs())
        .collect();
    println!("y(0.2) = {y:?}\nrelative errors {rel:?}\n{:?}", sol.stats);
    for (i, e) in rel.iter().enumerate() {
        assert!(*e < 1e-6, "y{}: relative error {e:e}", i + 1);
    }
}
