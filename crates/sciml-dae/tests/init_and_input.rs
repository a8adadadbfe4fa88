//! Consistent initialisation (`CheckInit`, `BrownFullBasicInit`, `ShampineCollocationInit`) and
//! refused input.

use sciml_core::DenseMatrix;
use sciml_dae::{DaeBdf, DaeClosure, DaeError, DaeFiniteDiff, DaeInit, DaeProblem};
use sciml_ode::SolveOptions;

/// `u1′ = −u1·u2`, `0 = u2 − (1 + u1²)`: from `u1 = 2`, the consistent `u2 = 5`, `u1′ = −10`.
fn residual(_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]) {
    r[0] = du[0] + u[0] * u[1];
    r[1] = u[1] - (1.0 + u[0] * u[0]);
}

fn problem(du0: Vec<f64>, u0: Vec<f64>) -> DaeProblem<impl sciml_dae::DaeJacobian> {
    DaeProblem::new(
        DaeFiniteDiff::new(DaeClosure::new(2, residual)),
        du0,
        u0,
        (0.0, 0.1),
        vec![],
        Some(vec![true, false]),
    )
    .expect("valid problem")
}

#[test]
fn brown_full_basic_init_repairs_algebraic_values_and_derivatives() {
    let mut prob = problem(vec![0.0, 0.0], vec![2.0, -3.0]);
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(sciml_ode::SaveAt::Times(vec![0.0, 0.1]));
    let sol = prob
        .solve(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    // The differential value is kept, the algebraic one solved for.
    assert_eq!(sol.u[0][0], 2.0);
    assert!((sol.u[0][1] - 5.0).abs() < 1e-12, "u2(0) = {}", sol.u[0][1]);
    // Along the solution u1′ = −u1(1 + u1²): exactly u1² = c e^{−2t}/(1 − c e^{−2t}) with
    // c = u1(0)²/(1 + u1(0)²) = 4/5.
    let t: f64 = 0.1;
    let c = 0.8 * (-2.0 * t).exp();
    let u1 = (c / (1.0 - c)).sqrt();
    let u = &sol.u[1];
    println!("u(0.1) = {u:?}, exact u1 = {u1}");
    assert!((u[0] - u1).abs() < 1e-6, "u1 error {:e}", (u[0] - u1).abs());
    assert!((u[1] - (1.0 + u[0] * u[0])).abs() < 1e-9);
    // The problem keeps what was given.
    assert_eq!(prob.du0(), &[0.0, 0.0]);
}

#[test]
fn shampine_collocation_init_moves_a_rough_start_onto_the_constraint() {
    // Both u1′ and u2 are wrong; Shampine's step moves every component by about dt·u′.
    let dt = 1e-6;
    let mut prob = problem(vec![0.0, 0.0], vec![2.0, -3.0]);
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(sciml_ode::SaveAt::Times(vec![0.0, 0.1]));
    let sol = prob
        .solve(
            DaeBdf::new(),
            DaeInit::ShampineCollocationInit { dt: Some(dt) },
            &opts,
        )
        .expect("solves");
    let (u1, u2) = (sol.u[0][0], sol.u[0][1]);
    // On the constraint, and u1 moved by one implicit Euler step of length dt at the
    // consistent slope −u1(1 + u1²) ≈ −10 (so by about 1e-5).
    assert!((u2 - (1.0 + u1 * u1)).abs() < 1e-12, "u2(0) = {u2}");
    let moved = 2.0 - u1;
    assert!(
        moved > 0.5 * 10.0 * dt && moved < 2.0 * 10.0 * dt,
        "u1 moved by {moved:e}"
    );
    // From the moved start the exact solution is u1² = c e^{−2t}/(1 − c e^{−2t}) with
    // c = u1(0)²/(1 + u1(0)²) (the same closed form as the Brown test above).
    let c0 = u1 * u1 / (1.0 + u1 * u1);
    let c = c0 * (-0.2f64).exp();
    let exact = (c / (1.0 - c)).sqrt();
    assert!(
        (sol.u[1][0] - exact).abs() < 1e-6,
        "u1(0.1) error {:e}",
        (sol.u[1][0] - exact).abs()
    );
}

#[test]
fn shampine_collocation_init_refuses_a_bad_step_and_sensitivity_solves() {
    let opts = SolveOptions::default().tolerances(1e-8, 1e-10);
    for dt in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
        let err = problem(vec![0.0, 0.0], vec![2.0, -3.0])
            .solve(
                DaeBdf::new(),
                DaeInit::ShampineCollocationInit { dt: Some(dt) },
                &opts,
            )
            .expect_err("a bad dt is refused");
        assert!(matches!(err, DaeError::InvalidInit { .. }), "{err}");
    }
    // The default step works from the rough start.
    let ok = problem(vec![0.0, 0.0], vec![2.0, -3.0]).solve(
        DaeBdf::new(),
        DaeInit::ShampineCollocationInit { dt: None },
        &opts,
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    // Sensitivities differentiate through the Brown map, which Shampine's step is not.
    let err = problem(vec![0.0, 0.0], vec![2.0, -3.0])
        .solve_with_tape(
            DaeBdf::new(),
            DaeInit::ShampineCollocationInit { dt: None },
            &opts,
        )
        .expect_err("refused");
    assert!(err.to_string().contains("BrownFullBasicInit"), "{err}");
}

#[test]
fn check_init_refuses_an_inconsistent_start_and_accepts_a_consistent_one() {
    let opts = SolveOptions::default().tolerances(1e-8, 1e-10);
    let err = problem(vec![0.0, 0.0], vec![2.0, 5.0])
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect_err("u1′ = 0 is inconsistent");
    assert!(matches!(err, DaeError::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("BrownFullBasicInit"), "{err}");
    let ok =
        problem(vec![-10.0, 0.0], vec![2.0, 5.0]).solve(DaeBdf::new(), DaeInit::CheckInit, &opts);
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn bad_input_is_a_clear_error() {
    let f = || DaeClosure::new(2, residual);
    let e = DaeProblem::new(f(), vec![0.0; 2], vec![0.0; 3], (0.0, 1.0), vec![], None)
        .expect_err("u0 too long");
    assert!(
        matches!(
            e,
            DaeError::Length {
                what: "u0",
                got: 3,
                expected: 2
            }
        ),
        "{e}"
    );
    let e = DaeProblem::new(
        f(),
        vec![0.0; 2],
        vec![0.0; 2],
        (0.0, 1.0),
        vec![],
        Some(vec![true]),
    )
    .expect_err("differential_vars too short");
    assert!(
        matches!(
            e,
            DaeError::Length {
                what: "differential_vars",
                ..
            }
        ),
        "{e}"
    );
    let e = DaeProblem::new(
        f(),
        vec![0.0, f64::NAN],
        vec![0.0; 2],
        (0.0, 1.0),
        vec![],
        None,
    )
    .expect_err("NaN du0");
    assert!(
        matches!(
            e,
            DaeError::NotFinite {
                what: "du0",
                index: 1
            }
        ),
        "{e}"
    );
    // A backward span is a valid problem (`tests/backward_span.rs`); an empty one is not.
    let e = DaeProblem::new(f(), vec![0.0; 2], vec![0.0; 2], (1.0, 1.0), vec![], None)
        .expect_err("empty span");
    assert!(matches!(e, DaeError::Span { .. }), "{e}");
    // A residual that is NaN at the start.
    let nan = DaeFiniteDiff::new(DaeClosure::new(
        1,
        |_t: f64, _du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| r[0] = u[0].sqrt(),
    ));
    let mut prob = DaeProblem::new(
        nan,
        vec![0.0],
        vec![-1.0],
        (0.0, 1.0),
        vec![],
        Some(vec![false]),
    )
    .expect("valid shapes");
    let e = prob
        .solve(DaeBdf::new(), DaeInit::CheckInit, &SolveOptions::default())
        .expect_err("NaN residual");
    assert!(matches!(e, DaeError::NonFiniteResidual { index: 0 }), "{e}");
}

#[test]
fn structurally_singular_problem_is_refused() {
    // The second equation, 0 = t − 1, involves no unknown: every W = ∂F/∂u + α·∂F/∂u′ has a
    // zero row, whatever the step (no index at all: the problem is ill-posed).
    let f = DaeClosure::new(
        2,
        |t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
            r[0] = du[0] + u[0];
            r[1] = t - 1.0;
        },
    )
    .with_jacobians(
        |_t: f64,
         _du: &[f64],
         _u: &[f64],
         _p: &[f64],
         dfdu: &mut DenseMatrix<f64>,
         dfddu: &mut DenseMatrix<f64>| {
            dfdu.fill_zero();
            dfddu.fill_zero();
            dfdu[(0, 0)] = 1.0;
            dfddu[(0, 0)] = 1.0;
        },
    );
    let mut prob = DaeProblem::new(
        f,
        vec![-1.0, 0.0],
        vec![1.0, 0.0],
        (1.0, 2.0),
        vec![],
        Some(vec![true, false]),
    )
    .expect("valid shapes");
    let e = prob
        .solve(DaeBdf::new(), DaeInit::CheckInit, &SolveOptions::default())
        .expect_err("singular");
    assert!(matches!(e, DaeError::SingularIterationMatrix { .. }), "{e}");
    assert!(e.to_string().contains("index"), "{e}");
}

#[test]
fn mass_matrix_of_the_wrong_shape_is_refused() {
    use sciml_core::ForwardAd;
    use sciml_dae::MassMatrixDae;
    use sciml_ode::problems::RobertsonDae;
    let e = MassMatrixDae::new(ForwardAd::new(RobertsonDae), DenseMatrix::zeros(3, 2))
        .expect_err("3 × 2 for 3 states");
    assert!(
        matches!(
            e,
            DaeError::MassShape {
                rows: 3,
                cols: 2,
                n: 3
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("3 × 3"), "{e}");
}

#[test]
fn stepper_refuses_a_state_layout_it_cannot_read() {
    use sciml_dae::DaeBdfStepper;
    let mut f = DaeFiniteDiff::new(DaeClosure::new(2, residual));
    let p = [1.0];
    // Two states and one parameter: u′ has 2 entries, or 4 with the sensitivity's derivative.
    for len in [2, 4] {
        let ok = DaeBdfStepper::new(&mut f, &p, DaeBdf::new(), &[true, false], &vec![0.0; len]);
        assert!(ok.is_ok(), "length {len}");
    }
    let e = DaeBdfStepper::new(&mut f, &p, DaeBdf::new(), &[true, false], &[0.0; 3])
        .err()
        .expect("3 entries fit no layout");
    assert!(matches!(e, DaeError::Length { got: 3, .. }), "{e}");
    let e = DaeBdfStepper::new(&mut f, &p, DaeBdf::new(), &[true], &[0.0; 2])
        .err()
        .expect("differential_vars too short");
    assert!(
        matches!(
            e,
            DaeError::Length {
                what: "differential_vars",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_residual_that_turns_nan_mid_solve_fails_with_the_partial_solution() {
    // Finite until t = 0.5, NaN after: the solve stops there with an error, not garbage.
    let f = DaeClosure::new(
        1,
        |t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
            r[0] = du[0] + u[0] + if t > 0.5 { f64::NAN } else { 0.0 };
        },
    )
    .with_jacobians(
        |_t: f64,
         _du: &[f64],
         _u: &[f64],
         _p: &[f64],
         dfdu: &mut DenseMatrix<f64>,
         dfddu: &mut DenseMatrix<f64>| {
            dfdu[(0, 0)] = 1.0;
            dfddu[(0, 0)] = 1.0;
        },
    );
    let mut prob =
        DaeProblem::new(f, vec![-1.0], vec![1.0], (0.0, 1.0), vec![], None).expect("valid");
    let e = prob
        .solve(DaeBdf::new(), DaeInit::CheckInit, &SolveOptions::default())
        .expect_err("NaN after t = 0.5");
    println!("{e}");
    match e {
        DaeError::Solve(sciml_core::SolveError::Failed { t, partial, .. }) => {
            assert!((0.4..=0.5).contains(&t), "stopped at {t}");
            assert!(partial.u.iter().all(|u| u[0].is_finite()));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn shampine_collocation_init_meets_a_tight_atol_up_to_the_rounding_of_its_quotient() {
    // u′ = (u − u0)/dt carries a rounding error of about ε·|u|/dt (2e-10 here, dt = 1e-6), which
    // no Newton iteration removes: at atol 1e-12 the start used to be refused with
    // InitNotConverged. The bound is now the larger of atol and that floor.
    let mut prob = problem(vec![0.0, 0.0], vec![2.0, -3.0]);
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(sciml_ode::SaveAt::Times(vec![0.0, 0.1]));
    let sol = prob
        .solve(
            DaeBdf::new(),
            DaeInit::ShampineCollocationInit { dt: None },
            &opts,
        )
        .expect("a consistent start at atol 1e-12");
    let (u1, u2) = (sol.u[0][0], sol.u[0][1]);
    assert!((u2 - (1.0 + u1 * u1)).abs() < 1e-12, "u2(0) = {u2}");
    // The same closed form as above from the moved start.
    let c = u1 * u1 / (1.0 + u1 * u1) * (-0.2f64).exp();
    let exact = (c / (1.0 - c)).sqrt();
    assert!((sol.u[1][0] - exact).abs() < 1e-8);
}

#[test]
fn an_algebraic_equation_without_a_real_solution_is_init_not_converged() {
    // 0 = u2² + 1 has no real root: both repairs end with the residual's norm in the Err.
    let f = DaeFiniteDiff::new(DaeClosure::new(
        2,
        |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
            r[0] = du[0] + u[0];
            r[1] = u[1] * u[1] + 1.0;
        },
    ));
    let opts = SolveOptions::default().tolerances(1e-8, 1e-10);
    for init in [
        DaeInit::BrownFullBasicInit,
        DaeInit::ShampineCollocationInit { dt: None },
    ] {
        let mut prob = DaeProblem::new(
            f.clone(),
            vec![-1.0, 0.0],
            vec![1.0, 0.5],
            (0.0, 1.0),
            vec![],
            Some(vec![true, false]),
        )
        .expect("valid problem");
        match prob.solve(DaeBdf::new(), init, &opts) {
            Err(DaeError::InitNotConverged { norm }) => assert!(norm >= 1.0, "{init:?}: {norm}"),
            other => panic!("{init:?}: expected InitNotConverged, got {other:?}"),
        }
    }
}
