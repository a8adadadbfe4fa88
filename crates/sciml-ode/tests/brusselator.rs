//! The 2-D Brusselator on a 32 × 32 periodic grid (2048 unknowns): BDF with a sparse LU of the
//! coloured-dual Jacobian, and BDF with Jacobian-free GMRES, against a tight reference (scipy's
//! Radau at rtol 1e-11 with the analytic sparse Jacobian, `benches/peers/w2b_reference.json`,
//! produced by `benches/peers/w2b_brusselator.py`).
#![allow(clippy::unwrap_used)]

use sciml_core::{ForwardAd, SparseAd, SparsityPattern};
use sciml_ode::problems::{Brusselator2d, TestProblem};
use sciml_ode::{Bdf, KrylovSolve, OdeProblem, SaveAt, SolveOptions, SparseSolve, Tolerance};

const REFERENCE: &str = include_str!("../../../benches/peers/w2b_reference.json");

fn reference() -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    v["final_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn opts() -> SolveOptions<f64> {
    SolveOptions {
        tol: Tolerance::new(1e-8, 1e-10).unwrap(),
        saveat: SaveAt::Times(vec![11.5]),
        tstops: vec![Brusselator2d::T_FORCING],
        ..SolveOptions::default()
    }
}

fn rel_err(u: &[f64], r: &[f64]) -> f64 {
    let scale = r.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
    u.iter()
        .zip(r)
        .fold(0.0_f64, |a, (x, y)| a.max((x - y).abs()))
        / scale
}

#[test]
fn bdf_with_sparse_lu_and_with_gmres_match_the_reference() {
    let b = Brusselator2d::new(32).unwrap();
    let n = b.u0().len();
    assert_eq!(n, 2048);
    let r = reference();
    assert_eq!(r.len(), n);

    let pattern = SparsityPattern::from_triplets(n, n, &b.sparsity()).unwrap();
    let field = SparseAd::new(b, pattern).unwrap();
    let mut prob = OdeProblem::new(field, b.u0(), b.tspan(), Brusselator2d::P.to_vec()).unwrap();
    let sparse = prob
        .solve(Bdf::new().with_linear(SparseSolve), &opts())
        .unwrap();
    let e_sparse = rel_err(&sparse.u[0], &r);
    eprintln!("BDF + sparse LU: error {e_sparse:.2e}, {:?}", sparse.stats);

    let mut prob = OdeProblem::new(
        ForwardAd::new(b),
        b.u0(),
        b.tspan(),
        Brusselator2d::P.to_vec(),
    )
    .unwrap();
    let krylov = prob
        .solve(Bdf::new().with_linear(KrylovSolve::default()), &opts())
        .unwrap();
    let e_krylov = rel_err(&krylov.u[0], &r);
    eprintln!("BDF + GMRES: error {e_krylov:.2e}, {:?}", krylov.stats);

    assert!(e_sparse < 1e-5, "sparse LU: {e_sparse:e}");
    assert!(e_krylov < 1e-5, "GMRES: {e_krylov:e}");
}
