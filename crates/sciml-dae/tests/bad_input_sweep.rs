//! A sweep of bad inputs through the public API: each gives an `Err` naming what is wrong,
//! never a panic or a silent result (complements `init_and_input.rs` and `adjoint.rs`).

use sciml_core::{DenseMatrix, Tolerance};
use sciml_dae::{DaeBdf, DaeClosure, DaeError, DaeFiniteDiff, DaeInit, DaeProblem};
use sciml_ode::SolveOptions;

/// `u1′ = −p u1`, `0 = u2 − u1`, `u3′ = u1` (three states, one parameter).
fn residual(_t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]) {
    let k = p.first().copied().unwrap_or(1.0);
    r[0] = du[0] + k * u[0];
    r[1] = u[1] - u[0];
    r[2] = du[2] - u[0];
}

fn problem() -> DaeProblem<impl sciml_dae::DaeJacobian + Clone> {
    DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(3, residual)),
        vec![-1.0, 0.0, 1.0],
        vec![1.0, 1.0, 0.0],
        (0.0, 0.1),
        vec![1.0],
        Some(vec![true, false, true]),
    )
    .expect("valid problem")
}

fn opts() -> SolveOptions<f64> {
    SolveOptions::default()
}

/// Per-component tolerances for two states on a three-state system.
fn short_tolerances() -> SolveOptions<f64> {
    let tol = Tolerance::per_component(vec![1e-6; 2], vec![1e-8; 2]).expect("valid values");
    opts().tolerance(tol)
}

fn is_tol_error(e: &DaeError) -> bool {
    let msg = e.to_string();
    msg.contains("rtol") || msg.contains("atol")
}

#[test]
fn per_component_tolerances_of_the_wrong_length_are_refused() {
    let o = short_tolerances();
    let e = problem()
        .solve(DaeBdf::new(), DaeInit::CheckInit, &o)
        .expect_err("refused");
    assert!(is_tol_error(&e), "{e}");
    let e = problem()
        .solve_with_tape(DaeBdf::new(), DaeInit::CheckInit, &o)
        .expect_err("refused");
    assert!(is_tol_error(&e), "{e}");
    let e = problem()
        .solve_forward_sensitivity(DaeBdf::new(), DaeInit::CheckInit, &o)
        .expect_err("refused");
    assert!(is_tol_error(&e), "{e}");
    let e = problem()
        .solve_forward_sensitivity_u0(DaeBdf::new(), DaeInit::CheckInit, &o)
        .expect_err("refused");
    assert!(is_tol_error(&e), "{e}");
    // The sensitivity solve needs one entry per component of the augmented state: 3(1 + 1).
    let tol = Tolerance::per_component(vec![1e-6; 3], vec![1e-8; 3]).expect("valid values");
    let e = problem()
        .solve_forward_sensitivity(DaeBdf::new(), DaeInit::CheckInit, &opts().tolerance(tol))
        .expect_err("refused");
    assert!(is_tol_error(&e), "{e}");
}

#[test]
fn bdf_fields_out_of_range_are_refused() {
    for (what, m) in [
        (
            "max_order",
            DaeBdf {
                max_order: 0,
                ..DaeBdf::new()
            },
        ),
        (
            "max_order",
            DaeBdf {
                max_order: 9,
                ..DaeBdf::new()
            },
        ),
        (
            "max_order",
            DaeBdf {
                max_order: 6,
                fixed_order: true,
                ..DaeBdf::new()
            },
        ),
        (
            "max_iter",
            DaeBdf {
                max_iter: 0,
                ..DaeBdf::new()
            },
        ),
        (
            "kappa",
            DaeBdf {
                kappa: f64::NAN,
                ..DaeBdf::new()
            },
        ),
        (
            "kappa",
            DaeBdf {
                kappa: 0.0,
                ..DaeBdf::new()
            },
        ),
        (
            "kappa",
            DaeBdf {
                kappa: -1.0,
                ..DaeBdf::new()
            },
        ),
        (
            "kappa",
            DaeBdf {
                kappa: f64::INFINITY,
                ..DaeBdf::new()
            },
        ),
    ] {
        let e = problem()
            .solve(m, DaeInit::CheckInit, &opts().fixed_step(0.01))
            .expect_err("refused");
        assert!(e.to_string().contains(what), "{what}: {e}");
        let e = problem()
            .solve_forward_sensitivity(m, DaeInit::CheckInit, &opts())
            .expect_err("refused");
        assert!(e.to_string().contains(what), "{what}: {e}");
        let e = problem()
            .solve_with_tape(m, DaeInit::CheckInit, &opts())
            .expect_err("refused");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
}

#[test]
fn a_system_without_states_is_refused() {
    let e = DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(0, residual)),
        vec![],
        vec![],
        (0.0, 1.0),
        vec![],
        None,
    )
    .expect_err("refused");
    assert!(matches!(e, DaeError::NoStates), "{e}");
}

#[test]
fn a_non_finite_iteration_matrix_coefficient_is_refused() {
    let mut prob = problem();
    let mut w = DenseMatrix::zeros(3, 3);
    for (alpha, t) in [(f64::NAN, 0.0), (1.0, f64::INFINITY)] {
        let e = prob
            .iteration_matrix(alpha, t, &[0.0; 3], &[0.0; 3], &mut w)
            .expect_err("refused");
        assert!(e.to_string().contains("alpha"), "{e}");
    }
}

#[test]
fn a_mass_matrix_system_refuses_parameters_of_the_wrong_length() {
    use sciml_core::ForwardAd;
    use sciml_dae::MassMatrixDae;
    use sciml_ode::problems::RobertsonDae;
    let mut m = DenseMatrix::zeros(3, 3);
    m[(0, 0)] = 1.0;
    m[(1, 1)] = 1.0;
    let f = MassMatrixDae::new(ForwardAd::new(RobertsonDae), m).expect("3 × 3");
    let dv = f.differential_vars();
    let (du0, u0) = (vec![-0.04, 0.04, 0.0], vec![1.0, 0.0, 0.0]);
    // Robertson reads three rate constants.
    let e = DaeProblem::new(
        f.clone(),
        du0.clone(),
        u0.clone(),
        (0.0, 0.1),
        vec![0.04],
        Some(dv.clone()),
    )
    .expect_err("one parameter for three");
    assert!(
        matches!(
            e,
            DaeError::Length {
                what: "p",
                got: 1,
                expected: 3
            }
        ),
        "{e}"
    );
    let mut prob = DaeProblem::new(
        DaeFiniteDiff::new(f),
        du0,
        u0,
        (0.0, 0.1),
        vec![0.04, 3e7, 1e4],
        Some(dv),
    )
    .expect("three parameters");
    let e = prob.set_p(vec![0.04, 3e7]).expect_err("two for three");
    assert!(
        matches!(
            e,
            DaeError::Length {
                what: "p",
                got: 2,
                expected: 3
            }
        ),
        "{e}"
    );
}

#[test]
fn an_order_outside_one_to_five_is_refused_not_clamped() {
    // The builders used to clamp silently (max_order(7) ran order 5, fixed_order(0) order 1).
    for method in [
        DaeBdf::new().max_order(0),
        DaeBdf::new().max_order(7),
        DaeBdf::fixed_order(0),
        DaeBdf::fixed_order(9),
    ] {
        let e = problem()
            .solve(method, DaeInit::CheckInit, &opts())
            .expect_err("refused");
        assert!(e.to_string().contains("max_order"), "{e}");
        let e = problem()
            .solve_forward_sensitivity(method, DaeInit::CheckInit, &opts())
            .expect_err("refused");
        assert!(e.to_string().contains("max_order"), "{e}");
    }
    assert!(problem()
        .solve(DaeBdf::fixed_order(5), DaeInit::CheckInit, &opts())
        .is_ok());
}
