//! Forward sensitivities through the DAE BDF against central differences of whole solves.
//!
//! The problem (index 1, nonlinear, with the algebraic start depending on `p`):
//! `u1′ = −a u1 + u2`, `0 = u2 − b cos t + c u1²`, `p = (a, b, c)`, `u1(0) = 1`.

use sciml_core::ReturnCode;
use sciml_dae::{sensitivity, DaeBdf, DaeClosure, DaeError, DaeFiniteDiff, DaeInit, DaeProblem};
use sciml_ode::{SaveAt, SolveOptions};

fn residual(t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]) {
    r[0] = du[0] + p[0] * u[0] - u[1];
    r[1] = u[1] - p[1] * t.cos() + p[2] * u[0] * u[0];
}

const P: [f64; 3] = [1.0, 1.0, 0.3];
const T1: f64 = 2.0;

fn problem(p: &[f64]) -> DaeProblem<impl sciml_dae::DaeJacobian> {
    // u2(0) = b − c is consistent; u′(0) is repaired by BrownFullBasicInit.
    DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(2, residual)),
        vec![0.0, 0.0],
        vec![1.0, p[1] - p[2]],
        (0.0, T1),
        p.to_vec(),
        Some(vec![true, false]),
    )
    .expect("valid problem")
}

/// `u(T1)` of a plain solve with parameters `p`.
fn end_state(p: &[f64], method: DaeBdf, opts: &SolveOptions<f64>) -> Vec<f64> {
    let sol = problem(p)
        .solve(method, DaeInit::BrownFullBasicInit, opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    sol.u.last().expect("saved end").clone()
}

/// Central differences of `u(T1)` with respect to each parameter (relative step `rel`).
fn central(method: DaeBdf, opts: &SolveOptions<f64>, rel: f64) -> Vec<[f64; 2]> {
    (0..3)
        .map(|j| {
            let d = rel * P[j].abs();
            let (mut pp, mut pm) = (P.to_vec(), P.to_vec());
            pp[j] += d;
            pm[j] -= d;
            let (a, b) = (end_state(&pp, method, opts), end_state(&pm, method, opts));
            [(a[0] - b[0]) / (2.0 * d), (a[1] - b[1]) / (2.0 * d)]
        })
        .collect()
}

fn forward(method: DaeBdf, opts: &SolveOptions<f64>) -> Vec<[f64; 2]> {
    let sol = problem(&P)
        .solve_forward_sensitivity(method, DaeInit::BrownFullBasicInit, opts)
        .expect("solves");
    assert_eq!(sol.retcode, ReturnCode::Success);
    let end = sol.u.last().expect("saved end");
    (0..3)
        .map(|j| {
            let s = sensitivity(end, 2, j);
            [s[0], s[1]]
        })
        .collect()
}

fn max_rel_diff(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let scale =
        b.iter().flatten().map(|x| x.abs()).fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

#[test]
fn sensitivities_on_a_fixed_mesh_are_the_derivative_of_the_discrete_solution() {
    // Fixed steps and orders: the mesh does not move with p, so central differences of the
    // discrete solution (step 1e-4, truncation ~1e-8) check the staggered solve itself.
    let method = DaeBdf::fixed_order(3);
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-12)
        .fixed_step(0.05)
        .saveat(SaveAt::Times(vec![T1]));
    let fwd = forward(method, &opts);
    let cd = central(method, &opts, 1e-4);
    let diff = max_rel_diff(&fwd, &cd);
    println!("fixed mesh: forward {fwd:?}\ncentral {cd:?}\nrelative difference {diff:e}");
    assert!(diff < 1e-7, "relative difference {diff:e}");
}

#[test]
fn adaptive_sensitivities_match_central_differences_to_1e_5() {
    let opts = SolveOptions::default()
        .tolerances(1e-9, 1e-11)
        .saveat(SaveAt::Times(vec![T1]));
    let fwd = forward(DaeBdf::new(), &opts);
    // The reference: central differences of tight solves (noise ~1e-12/1e-3 per component).
    let tight = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(vec![T1]));
    let cd = central(DaeBdf::new(), &tight, 1e-3);
    let diff = max_rel_diff(&fwd, &cd);
    println!("adaptive: forward {fwd:?}\ncentral {cd:?}\nrelative difference {diff:e}");
    assert!(diff < 1e-5, "relative difference {diff:e}");
}

#[test]
fn sensitivities_need_the_parameter_jacobian() {
    let f = DaeClosure::new(
        1,
        |_t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]| {
            r[0] = du[0] + p[0] * u[0];
        },
    )
    .with_jacobians(
        |_t: f64,
         _du: &[f64],
         _u: &[f64],
         p: &[f64],
         dfdu: &mut sciml_core::DenseMatrix<f64>,
         dfddu: &mut sciml_core::DenseMatrix<f64>| {
            dfdu[(0, 0)] = p[0];
            dfddu[(0, 0)] = 1.0;
        },
    );
    let mut prob =
        DaeProblem::new(f, vec![-1.0], vec![1.0], (0.0, 1.0), vec![1.0], None).expect("valid");
    let e = prob
        .solve_forward_sensitivity(DaeBdf::new(), DaeInit::CheckInit, &SolveOptions::default())
        .expect_err("no dF/dp");
    assert!(matches!(e, DaeError::NoParamJacobian), "{e}");
}

/// The same residual, written once for reals and dual numbers.
struct Generic;

impl sciml_dae::GenericResidual for Generic {
    fn len(&self) -> usize {
        2
    }
    fn eval<S: sciml_core::Scalar<Re = f64>>(
        &self,
        t: f64,
        du: &[S],
        u: &[S],
        p: &[S],
        r: &mut [S],
    ) {
        r[0] = du[0] + p[0] * u[0] - u[1];
        r[1] = u[1] - p[1] * S::from_re(t.cos()) + p[2] * u[0] * u[0];
    }
}

#[test]
fn forward_ad_jacobians_are_the_analytic_ones() {
    use sciml_core::DenseMatrix;
    use sciml_dae::{DaeForwardAd, DaeJacobian};
    let mut f = DaeForwardAd::new(Generic);
    let (t, du, u) = (0.7, [0.3, -0.2], [1.3, 0.4]);
    let (mut j, mut a, mut jp) = (
        DenseMatrix::zeros(2, 2),
        DenseMatrix::zeros(2, 2),
        DenseMatrix::zeros(2, 3),
    );
    f.jacobians(t, &du, &u, &P, &mut j, &mut a);
    assert!(f.param_jacobian(t, &du, &u, &P, &mut jp));
    // ∂F/∂u = [[a, −1], [2c u1, 1]], ∂F/∂u′ = [[1, 0], [0, 0]],
    // ∂F/∂p = [[u1, 0, 0], [0, −cos t, u1²]].
    let want_j = [P[0], 2.0 * P[2] * u[0], -1.0, 1.0];
    let want_a = [1.0, 0.0, 0.0, 0.0];
    let want_p = [u[0], 0.0, 0.0, -t.cos(), 0.0, u[0] * u[0]];
    assert_eq!(j.as_slice(), &want_j);
    assert_eq!(a.as_slice(), &want_a);
    assert_eq!(jp.as_slice(), &want_p);
}

#[test]
fn forward_ad_and_finite_difference_jacobians_give_the_same_sensitivities() {
    use sciml_dae::DaeForwardAd;
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-12)
        .fixed_step(0.05)
        .saveat(SaveAt::Times(vec![T1]));
    let method = DaeBdf::fixed_order(3);
    let mut prob = DaeProblem::new(
        DaeForwardAd::new(Generic),
        vec![0.0, 0.0],
        vec![1.0, P[1] - P[2]],
        (0.0, T1),
        P.to_vec(),
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let sol = prob
        .solve_forward_sensitivity(method, DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    let end = sol.u.last().expect("end");
    let ad: Vec<[f64; 2]> = (0..3)
        .map(|j| {
            let s = sensitivity(end, 2, j);
            [s[0], s[1]]
        })
        .collect();
    let cd = central(method, &opts, 1e-4);
    let diff = max_rel_diff(&ad, &cd);
    println!("forward AD on the fixed mesh: relative difference to central {diff:e}");
    assert!(diff < 1e-7, "relative difference {diff:e}");
    // Exact Jacobians against differenced ones: the sensitivities differ by the differences'
    // error (about √ε).
    let fd = forward(method, &opts);
    let d2 = max_rel_diff(&ad, &fd);
    println!("forward AD against difference Jacobians: {d2:e}");
    assert!(d2 < 1e-6, "relative difference {d2:e}");
}

/// `u(T1)` from the start value `u1(0) = x` (the algebraic start repaired by
/// BrownFullBasicInit), on the fixed mesh of `opts`.
fn end_state_from(x: f64, opts: &SolveOptions<f64>) -> Vec<f64> {
    let mut prob = DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(2, residual)),
        vec![0.0, 0.0],
        vec![x, 0.0],
        (0.0, T1),
        P.to_vec(),
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let sol = prob
        .solve(DaeBdf::fixed_order(3), DaeInit::BrownFullBasicInit, opts)
        .expect("solves");
    sol.u.last().expect("saved end").clone()
}

#[test]
fn start_value_sensitivities_match_central_differences_on_a_fixed_mesh() {
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-12)
        .fixed_step(0.05)
        .saveat(SaveAt::Times(vec![T1]));
    // The start of `problem`; the differences start from an inconsistent algebraic value (0),
    // which BrownFullBasicInit makes u2 = b − c·u1².
    let mut prob = DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(2, residual)),
        vec![0.0, 0.0],
        vec![1.0, P[1] - P[2]],
        (0.0, T1),
        P.to_vec(),
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let sol = prob
        .solve_forward_sensitivity_u0(DaeBdf::fixed_order(3), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    let end = sol.u.last().expect("saved end");
    // Three parameter sensitivities, then the one to u1(0).
    assert_eq!(end.len(), 2 * (1 + 3 + 1));
    let s = sensitivity(end, 2, 3);
    let h = 1e-4;
    let (a, b) = (
        end_state_from(1.0 + h, &opts),
        end_state_from(1.0 - h, &opts),
    );
    let cd = [(a[0] - b[0]) / (2.0 * h), (a[1] - b[1]) / (2.0 * h)];
    let scale = cd[0].abs().max(cd[1].abs());
    let diff = (s[0] - cd[0]).abs().max((s[1] - cd[1]).abs()) / scale;
    println!("∂u/∂u1(0): forward {s:?}, central {cd:?}, relative difference {diff:e}");
    assert!(diff < 1e-7, "relative difference {diff:e}");
    // The parameter sensitivities are those of the plain call, to the last bit.
    let plain = forward(DaeBdf::fixed_order(3), &opts);
    for (j, pj) in plain.iter().enumerate() {
        assert_eq!(sensitivity(end, 2, j), &pj[..]);
    }
}
