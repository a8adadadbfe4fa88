//! Robertson's kinetics as a DAE (the conservation law replaces the third equation):
//!
//! `y1′ = −k1 y1 + k3 y2 y3`, `y2′ = k1 y1 − k3 y2 y3 − k2 y2²`, `0 = y1 + y2 + y3 − 1`,
//!
//! against the IVP test set's reference at `t = 1e11` (Mazzia and Magherini, release 2.4,
//! "Problem ROBER"; the values are `sciml_ode::problems::Robertson::REF_T1E11`) and against the
//! ODE form solved by sciml-ode's own BDF (another code path: mass-free ODE, no residual).

use sciml_core::{DenseMatrix, ForwardAd, ReturnCode, Scalar};
use sciml_dae::{
    DaeBdf, DaeClosure, DaeFiniteDiff, DaeForwardAd, DaeFunction, DaeInit, DaeProblem,
    GenericResidual,
};
use sciml_ode::problems::Robertson;
use sciml_ode::{Bdf, OdeProblem, SaveAt, SolveOptions, Tolerance};

const K: [f64; 3] = Robertson::P;

fn residual(_t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]) {
    let (k1, k2, k3) = (p[0], p[1], p[2]);
    r[0] = du[0] + k1 * u[0] - k3 * u[1] * u[2];
    r[1] = du[1] - k1 * u[0] + k3 * u[1] * u[2] + k2 * u[1] * u[1];
    r[2] = u[0] + u[1] + u[2] - 1.0;
}

fn jacobians(
    _t: f64,
    _du: &[f64],
    u: &[f64],
    p: &[f64],
    dfdu: &mut DenseMatrix<f64>,
    dfddu: &mut DenseMatrix<f64>,
) {
    let (k1, k2, k3) = (p[0], p[1], p[2]);
    dfdu.fill_zero();
    dfddu.fill_zero();
    dfdu[(0, 0)] = k1;
    dfdu[(0, 1)] = -k3 * u[2];
    dfdu[(0, 2)] = -k3 * u[1];
    dfdu[(1, 0)] = -k1;
    dfdu[(1, 1)] = k3 * u[2] + 2.0 * k2 * u[1];
    dfdu[(1, 2)] = k3 * u[1];
    for j in 0..3 {
        dfdu[(2, j)] = 1.0;
    }
    dfddu[(0, 0)] = 1.0;
    dfddu[(1, 1)] = 1.0;
}

fn problem<F: DaeFunction>(f: F, du0: Vec<f64>, t1: f64) -> DaeProblem<F> {
    DaeProblem::new(
        f,
        du0,
        vec![1.0, 0.0, 0.0],
        (0.0, t1),
        K.to_vec(),
        Some(vec![true, true, false]),
    )
    .expect("valid problem")
}

fn rel_err(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| ((x - y) / y).abs()).collect()
}

#[test]
fn robertson_dae_matches_the_test_set_reference_at_1e11() {
    let f = DaeClosure::new(3, residual).with_jacobians(jacobians);
    // Consistent: u′ = (−k1, k1, ·) at (1, 0, 0); the algebraic u3′ is not used.
    let mut prob = problem(f, vec![-K[0], K[0], 0.0], Robertson::T1E11);
    let opts = SolveOptions::default()
        .tolerance(Tolerance::per_component(vec![1e-8], vec![1e-14, 1e-20, 1e-14]).expect("tol"))
        .saveat(SaveAt::Times(vec![Robertson::T1E11]));
    let sol = prob
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    let u = &sol.u[0];
    let rel = rel_err(u, &Robertson::REF_T1E11);
    println!(
        "t = 1e11: {u:?}, relative errors {rel:?}, stats {:?}",
        sol.stats
    );
    // The test set's accuracy target at rtol 1e-8: relative error at most 1e-6 per component.
    for (i, e) in rel.iter().enumerate() {
        assert!(*e < 1e-6, "component {i}: relative error {e:e}");
    }
    // The conservation law holds to rounding at the end.
    assert!((u[0] + u[1] + u[2] - 1.0).abs() < 1e-14);
}

#[test]
fn robertson_dae_agrees_with_the_ode_form() {
    // From an inconsistent derivative, repaired by BrownFullBasicInit; Jacobians by differences.
    let f = DaeFiniteDiff::new(DaeClosure::new(3, residual));
    let t1 = 40.0;
    let times = vec![0.4, 4.0, 40.0];
    let mut prob = problem(f, vec![0.0, 0.0, 0.0], t1);
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-12)
        .saveat(SaveAt::Times(times.clone()));
    let sol = prob
        .solve(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    let mut ode = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, t1),
        K.to_vec(),
    )
    .expect("ode problem");
    let tight = SolveOptions::default()
        .tolerances(1e-11, 1e-16)
        .saveat(SaveAt::Times(times));
    let reference = ode.solve(Bdf::new(), &tight).expect("ode solves");
    for (u, r) in sol.u.iter().zip(&reference.u) {
        let rel = rel_err(u, r);
        println!("dae {u:?} ode {r:?} relative {rel:?}");
        for e in rel {
            assert!(e < 1e-6, "relative error {e:e}");
        }
    }
}

#[test]
fn robertson_in_mass_matrix_form_through_the_residual_solver() {
    use sciml_dae::MassMatrixDae;
    use sciml_ode::problems::RobertsonDae;
    let f = MassMatrixDae::new(ForwardAd::new(RobertsonDae), RobertsonDae::mass()).expect("3 × 3");
    let diff = f.differential_vars();
    assert_eq!(diff, vec![true, true, false]);
    let mut prob = DaeProblem::new(
        f,
        vec![0.0; 3],
        vec![1.0, 0.0, 0.0],
        (0.0, Robertson::T1E11),
        K.to_vec(),
        Some(diff),
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerance(Tolerance::per_component(vec![1e-8], vec![1e-14, 1e-20, 1e-14]).expect("tol"))
        .saveat(SaveAt::Times(vec![Robertson::T1E11]));
    let sol = prob
        .solve(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    let rel = rel_err(&sol.u[0], &Robertson::REF_T1E11);
    println!("mass-matrix form at 1e11: relative errors {rel:?}");
    for (i, e) in rel.iter().enumerate() {
        assert!(*e < 1e-6, "component {i}: relative error {e:e}");
    }
}

/// The residual once more, for any scalar.
struct GenericRobertson;

impl GenericResidual for GenericRobertson {
    fn len(&self) -> usize {
        3
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        let (k1, k2, k3) = (p[0], p[1], p[2]);
        r[0] = du[0] + k1 * u[0] - k3 * u[1] * u[2];
        r[1] = du[1] - k1 * u[0] + k3 * u[1] * u[2] + k2 * u[1] * u[1];
        r[2] = u[0] + u[1] + u[2] - S::one();
    }
}

/// Tolerances for Robertson as a DAE: `y3 = 1 − y1 − y2` carries the rounding of the
/// conservation law (about 1e-16), so its absolute tolerance stays well above that.
fn atol(rtol: f64) -> Tolerance<f64> {
    Tolerance::per_component(vec![rtol], vec![1e-14, 1e-20, 1e-14]).expect("tol")
}

/// [`atol`] for the state and its three sensitivities (whose entries the error test ignores).
fn atol_sens(rtol: f64) -> Tolerance<f64> {
    let mut a = vec![1e-14, 1e-20, 1e-14];
    a.extend([1.0; 9]);
    Tolerance::per_component(vec![rtol], a).expect("tol")
}

#[test]
fn robertson_rate_sensitivities_match_central_differences() {
    use sciml_dae::sensitivity;
    // Scaled sensitivities k_j ∂y/∂k_j at t = 40, forward (rtol 1e-9) against central
    // differences (relative step 1e-4) of tight solves (rtol 1e-12).
    let t1 = 40.0;
    let solve_end = |k: &[f64], rtol: f64| -> Vec<f64> {
        let f = DaeClosure::new(3, residual).with_jacobians(jacobians);
        let mut prob = DaeProblem::new(
            f,
            vec![-k[0], k[0], 0.0],
            vec![1.0, 0.0, 0.0],
            (0.0, t1),
            k.to_vec(),
            Some(vec![true, true, false]),
        )
        .expect("valid");
        let opts = SolveOptions::default()
            .tolerance(atol(rtol))
            .saveat(SaveAt::Times(vec![t1]));
        prob.solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
            .expect("solves")
            .u[0]
            .clone()
    };
    // Exact Jacobians (dual numbers): the sensitivities use them directly, and forward
    // differences with the step √ε·max(|y|, 1) are off by 1e-3 relative in ∂(k2 y2²)/∂y2 where
    // y2 ≈ 1e-5.
    let mut prob = problem(
        DaeForwardAd::new(GenericRobertson),
        vec![-K[0], K[0], 0.0],
        t1,
    );
    let opts = SolveOptions::default()
        .tolerance(atol_sens(1e-9))
        .saveat(SaveAt::Times(vec![t1]));
    let sol = prob
        .solve_forward_sensitivity(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("solves");
    let end = &sol.u[0];
    for j in 0..3 {
        let d = 1e-4 * K[j];
        let (mut kp, mut km) = (K.to_vec(), K.to_vec());
        kp[j] += d;
        km[j] -= d;
        let (a, b) = (solve_end(&kp, 1e-12), solve_end(&km, 1e-12));
        let s = sensitivity(end, 3, j);
        for i in 0..3 {
            let cd = K[j] * (a[i] - b[i]) / (2.0 * d);
            let fwd = K[j] * s[i];
            let scale = end[i].abs();
            let rel = (fwd - cd).abs() / scale;
            println!(
                "k{} y{}: forward {fwd:e}, central {cd:e}, relative to y {rel:e}",
                j + 1,
                i + 1
            );
            assert!(rel < 1e-5, "k{} y{}: {rel:e}", j + 1, i + 1);
        }
    }
}
