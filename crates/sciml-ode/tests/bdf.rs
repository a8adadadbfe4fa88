//! Variable-order BDF: stiff reference values (Robertson, Van der Pol), global error against an
//! exact solution, dense output, and mass matrices.
#![allow(clippy::unwrap_used)]

use sciml_core::{ForwardAd, GenericRhs, Scalar};
use sciml_ode::problems::RobertsonDae;
use sciml_ode::problems::{Robertson, TestProblem, VanDerPol};
use sciml_ode::{Bdf, OdeMethod, OdeProblem, Rodas5P, SaveAt, SolveOptions, Tolerance};

fn max_rel(u: &[f64], r: &[f64]) -> f64 {
    u.iter()
        .zip(r)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

fn robertson_at<M: OdeMethod<ForwardAd<Robertson>>>(
    m: M,
    t1: f64,
    rtol: f64,
    atol: f64,
) -> (Vec<f64>, sciml_core::Stats) {
    let mut prob = Robertson.problem().unwrap();
    prob.set_tspan((0.0, t1)).unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(rtol, atol).unwrap(),
        saveat: SaveAt::Times(vec![t1]),
        // The default dtmin (16 ε max(|t0|, |t1|)) is 3.6e-4 on [0, 1e11], far above the first
        // steps Robertson needs.
        dtmin: Some(0.0),
        ..SolveOptions::default()
    };
    let sol = prob.solve(m, &opts).unwrap();
    (sol.u[0].clone(), sol.stats)
}

#[test]
fn robertson_to_1e5_matches_rodas5p_and_the_reference() {
    let (reference, st) = robertson_at(Rodas5P::new(), 1e5, 1e-10, 1e-14);
    eprintln!("Rodas5P tight: {reference:?} {st:?}");
    // The tight Rodas5P run is itself checked against the Radau reference.
    assert!(max_rel(&reference, &Robertson::REF_T1E5) < 1e-7);

    let (u, st) = robertson_at(Bdf::new(), 1e5, 1e-6, 1e-10);
    let rel = max_rel(&u, &reference);
    eprintln!(
        "BDF rtol 1e-6 atol 1e-10: rel err {rel:.2e}; accepted {} rejected {} njac {} nfactor {} \
         nnewton {} nf {} nlinsolve {}",
        st.accepted, st.rejected, st.njac, st.nfactor, st.nnewton, st.nf, st.nlinsolve
    );
    assert!(rel < 1e-3, "rel err {rel:e}");
    // Cost comparable to scipy's BDF / diffsol on this problem (a few hundred steps at most),
    // and the Jacobian and factorisation reused across steps.
    assert!(st.accepted < 400, "{st:?}");
    assert!(st.njac * 3 < st.accepted, "{st:?}");
    assert!(st.nfactor < st.accepted, "{st:?}");

    let (u, st) = robertson_at(Bdf::new(), 1e5, 1e-9, 1e-14);
    let rel = max_rel(&u, &reference);
    eprintln!(
        "BDF rtol 1e-9 atol 1e-14: rel err {rel:.2e}; accepted {} rejected {} njac {} nfactor {} \
         nnewton {} nf {}",
        st.accepted, st.rejected, st.njac, st.nfactor, st.nnewton, st.nf
    );
    assert!(rel < 1e-6, "rel err {rel:e}");

    // The NDF variant: same accuracy class, no more work.
    let (u, st_ndf) = robertson_at(Bdf::ndf(), 1e5, 1e-6, 1e-10);
    let rel = max_rel(&u, &reference);
    eprintln!("NDF rtol 1e-6 atol 1e-10: rel err {rel:.2e}; {st_ndf:?}");
    assert!(rel < 1e-3, "rel err {rel:e}");
    assert!(st_ndf.accepted < 400, "{st_ndf:?}");
}

#[test]
fn robertson_to_1e11() {
    let (u, st) = robertson_at(Bdf::new(), Robertson::T1E11, 1e-7, 1e-16);
    let rel = max_rel(&u, &Robertson::REF_T1E11);
    eprintln!("BDF Robertson 1e11: {u:?} rel err {rel:.2e} {st:?}");
    assert!(rel < 1e-3, "rel err {rel:e}");
    assert!(st.accepted < 2000, "{st:?}");
}

#[test]
fn van_der_pol_stiff() {
    // The test set's vdpol: ε = 1e-6 in scaled time, i.e. μ = 1e3 in the classical form.
    let mut prob = VanDerPol.problem().unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-7, 1e-7).unwrap(),
        saveat: SaveAt::Times(vec![2.0]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(Bdf::new(), &opts).unwrap();
    let rel = max_rel(&sol.u[0], &VanDerPol::REF);
    eprintln!(
        "BDF vdpol: {:?} rel err {rel:.2e} {:?}",
        sol.u[0], sol.stats
    );
    assert!(rel < 1e-3, "rel err {rel:e}");
}

/// `u' = −1000 (u − cos t) − sin t`, `u(0) = 2`: `u = cos t + e^{−1000 t}`; and `v' = −v`,
/// `v(0) = 1`: `v = e^{−t}`.
#[derive(Clone)]
struct StiffLinear;
impl GenericRhs for StiffLinear {
    fn dims(&self) -> (usize, usize) {
        (2, 0)
    }
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        let (s, c) = (S::from_re(t).sin(), S::from_re(t).cos());
        du[0] = (u[0] - c) * S::cst(-1000.0) - s;
        du[1] = -u[1];
    }
}

fn exact(t: f64) -> [f64; 2] {
    [t.cos() + (-1000.0 * t).exp(), (-t).exp()]
}

fn stiff_linear(rtol: f64, saveat: SaveAt<f64>) -> sciml_core::Solution<Vec<f64>> {
    let mut prob = OdeProblem::new(
        ForwardAd::new(StiffLinear),
        vec![2.0, 1.0],
        (0.0, 3.0),
        vec![],
    )
    .unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(rtol, rtol * 1e-2).unwrap(),
        saveat,
        ..SolveOptions::default()
    };
    prob.solve(Bdf::new(), &opts).unwrap()
}

/// Workload W2 (Robertson to 1e5 at rtol 1e-6, atol 1e-10): the Newton iteration carries its
/// convergence-rate estimate from step to step, so most steps take one iteration.
#[test]
fn robertson_w2_takes_few_newton_iterations_per_step() {
    let (u, st) = robertson_at(Bdf::new(), 1e5, 1e-6, 1e-10);
    let rel = max_rel(&u, &Robertson::REF_T1E5);
    eprintln!("rel err {rel:.2e}, {st:?}");
    assert!(rel < 1e-5, "rel err {rel:e}");
    assert!(st.nnewton * 10 < st.steps * 18, "{st:?}");
    assert!(st.nf < 700, "{st:?}");
}

#[test]
fn global_error_shrinks_with_the_tolerance() {
    let mut errs = Vec::new();
    for rtol in [1e-4, 1e-6, 1e-8] {
        let sol = stiff_linear(rtol, SaveAt::Times(vec![3.0]));
        let e = exact(3.0);
        let err = (sol.u[0][0] - e[0]).abs().max((sol.u[0][1] - e[1]).abs());
        eprintln!("rtol {rtol:e}: error {err:.3e}, {:?}", sol.stats);
        errs.push(err);
    }
    // Tolerance proportionality: 100× tighter tolerance, at least 10× smaller error.
    assert!(errs[1] < errs[0] / 10.0, "{errs:?}");
    assert!(errs[2] < errs[1] / 10.0, "{errs:?}");
    assert!(errs[2] < 1e-6, "{errs:?}");
}

#[test]
fn dense_output_between_steps() {
    let rtol = 1e-7;
    let sol = stiff_linear(rtol, SaveAt::Steps);
    // Step-end errors set the scale the interpolant should match.
    let step_err = sol
        .t
        .iter()
        .zip(&sol.u)
        .map(|(t, u)| (u[0] - exact(*t)[0]).abs().max((u[1] - exact(*t)[1]).abs()))
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    let mut dense_err: f64 = 0.0;
    for w in sol.t.windows(2).skip(20) {
        for frac in [0.13, 0.5, 0.77] {
            let tq = w[0] + frac * (w[1] - w[0]);
            let u = sol.interpolate(tq).unwrap();
            let e = exact(tq);
            dense_err = dense_err.max((u[0] - e[0]).abs().max((u[1] - e[1]).abs()));
        }
    }
    eprintln!(
        "steps {}, max step-end error {step_err:.2e}, max dense error {dense_err:.2e}",
        sol.t.len()
    );
    assert!(step_err < 1e-6, "{step_err:e}");
    assert!(
        dense_err < 3.0 * step_err.max(rtol),
        "{dense_err:e} vs {step_err:e}"
    );
}

#[test]
fn tstops_and_saveat_every() {
    // Steps cut short at stops change the spacing of the differences (the R·U rescaling) both
    // ways; the saved values come from the dense output.
    let mut prob = OdeProblem::new(
        ForwardAd::new(StiffLinear),
        vec![2.0, 1.0],
        (0.0, 3.0),
        vec![],
    )
    .unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-7, 1e-9).unwrap(),
        saveat: SaveAt::Every(0.05),
        tstops: vec![0.0101, 0.5, 0.5003, 1.7, 2.9999],
        ..SolveOptions::default()
    };
    let sol = prob.solve(Bdf::new(), &opts).unwrap();
    assert_eq!(sol.len(), 61);
    let mut worst: f64 = 0.0;
    for (t, u) in sol.iter() {
        let e = exact(t);
        worst = worst.max((u[0] - e[0]).abs().max((u[1] - e[1]).abs()));
    }
    eprintln!("tstops/saveat: max error {worst:.2e} {:?}", sol.stats);
    assert!(worst < 2e-6, "{worst:e}");
}

#[test]
fn mass_matrix_dae_matches_the_reference() {
    let mut mass = sciml_core::DenseMatrix::zeros(3, 3);
    mass[(0, 0)] = 1.0;
    mass[(1, 1)] = 1.0;
    let mut prob = OdeProblem::new(
        ForwardAd::new(RobertsonDae),
        vec![1.0, 0.0, 0.0],
        (0.0, 1e5),
        Robertson::P.to_vec(),
    )
    .unwrap()
    .with_mass_matrix(mass)
    .unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-7, 1e-11).unwrap(),
        saveat: SaveAt::Times(vec![1e5]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(Bdf::new(), &opts).unwrap();
    let u = &sol.u[0];
    let rel = max_rel(u, &Robertson::REF_T1E5);
    eprintln!("BDF Robertson DAE: {u:?} rel err {rel:.2e} {:?}", sol.stats);
    assert!(rel < 1e-3, "rel err {rel:e}");
    assert!((u[0] + u[1] + u[2] - 1.0).abs() < 1e-12);
}

#[test]
fn jacobian_free_krylov_matches_dense_lu() {
    use sciml_ode::KrylovSolve;
    // Newton only needs W⁻¹ applied to residuals: GMRES on exact JVPs gives the dense-LU answer
    // to within the tolerances.
    let krylov = KrylovSolve {
        rtol: 1e-10,
        ..KrylovSolve::default()
    };
    let (dense, _) = robertson_at(Bdf::new(), 1e5, 1e-8, 1e-12);
    let (kry, st) = robertson_at(Bdf::new().with_linear(krylov), 1e5, 1e-8, 1e-12);
    let rel = max_rel(&kry, &dense);
    eprintln!("BDF Krylov Robertson: rel diff {rel:.2e} {st:?}");
    assert!(rel < 1e-5, "{rel:e}");
}
