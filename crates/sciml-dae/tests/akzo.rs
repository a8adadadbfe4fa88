//! The Chemical Akzo Nobel problem (index 1) of the IVP test set (F. Mazzia and C. Magherini,
//! *Test Set for Initial Value Problem Solvers*, release 2.4, 2008, problem CHEMAKZO), in residual
//! form, against its published reference solution at `t = 180` (computed there with PSIDE at
//! rtol = atol = 1e-19).

use sciml_core::ReturnCode;
use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
use sciml_ode::{SaveAt, SolveOptions};

const KS: f64 = 115.83;

/// The reference solution at `t = 180` (the test set's `solut`).
#[allow(clippy::excessive_precision)] // the digits as published
const REF_T180: [f64; 6] = [
    0.1150794920661702,
    0.1203831471567715e-2,
    0.1611562887407974,
    0.3656156421249283e-3,
    0.1708010885264404e-1,
    0.4873531310307455e-2,
];

/// `F = y′ − f(y)` for the five differential equations and `Ks y1 y4 − y6` for the algebraic
/// one (the test set's formulation, `M = diag(1, 1, 1, 1, 1, 0)`).
fn residual(_t: f64, du: &[f64], y: &[f64], _p: &[f64], r: &mut [f64]) {
    let (k1, k2, k3, k4) = (18.7, 0.58, 0.09, 0.42);
    let (kbig, kla, pco2, h) = (34.4, 3.3, 0.9, 737.0);
    let sq = y[1].sqrt();
    let r1 = k1 * y[0].powi(4) * sq;
    let r2 = k2 * y[2] * y[3];
    let r3 = k2 / kbig * y[0] * y[4];
    let r4 = k3 * y[0] * y[3] * y[3];
    let r5 = k4 * y[5] * y[5] * sq;
    let fin = kla * (pco2 / h - y[1]);
    r[0] = du[0] - (-2.0 * r1 + r2 - r3 - r4);
    r[1] = du[1] - (-0.5 * r1 - r4 - 0.5 * r5 + fin);
    r[2] = du[2] - (r1 - r2 + r3);
    r[3] = du[3] - (-r2 + r3 - 2.0 * r4);
    r[4] = du[4] - (r2 - r3 + r5);
    r[5] = KS * y[0] * y[3] - y[5];
}

#[test]
fn akzo_nobel_matches_the_test_set_reference() {
    let y0 = vec![0.444, 0.00123, 0.0, 0.007, 0.0, KS * 0.444 * 0.007];
    // The derivatives are inconsistent (zero); BrownFullBasicInit computes them (and keeps the
    // consistent y6).
    let mut prob = DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(6, residual)),
        vec![0.0; 6],
        y0,
        (0.0, 180.0),
        vec![],
        Some(vec![true, true, true, true, true, false]),
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![180.0]));
    let sol = prob
        .solve(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    let y = &sol.u[0];
    let rel: Vec<f64> = y
        .iter()
        .zip(&REF_T180)
        .map(|(a, b)| ((a - b) / b).abs())
        .collect();
    println!("y(180) = {y:?}\nrelative errors {rel:?}\n{:?}", sol.stats);
    // The target at rtol 1e-8: relative error at most 1e-6 in every component.
    for (i, e) in rel.iter().enumerate() {
        assert!(*e < 1e-6, "y{}: relative error {e:e}", i + 1);
    }
}
