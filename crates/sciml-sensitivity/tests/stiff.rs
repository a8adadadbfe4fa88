//! Gradients through stiff solvers: the discrete adjoint of Rosenbrock steps (with
//! Hessian-vector products for the Jacobian inside each step) on Robertson's kinetics.
#![allow(clippy::unwrap_used)]

use sciml_core::ForwardAd;
use sciml_ode::problems::Robertson;
use sciml_ode::{
    OdeMethod, OdeProblem, Rodas4, Rodas5P, Rosenbrock23, SolveOptions, StepVjp, Tolerance,
};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};

mod common;
use common::{
    check_on_the_adaptive_mesh, max_rel, rober_gradient, rober_loss, rober_opts, rober_problem,
    rober_x0, vdp_adjoint, vdp_differences, vdp_opts, P,
};

/// The exact discrete adjoint's gradient.
fn adjoint<M>(m: &M) -> Vec<f64>
where
    M: OdeMethod<ForwardAd<Robertson>> + StepVjp<ForwardAd<Robertson>>,
{
    rober_gradient(&DiscreteAdjoint::default(), m).0
}

#[test]
fn robertson_gradients_on_the_adaptive_mesh() {
    check_on_the_adaptive_mesh(Rodas5P::new(), 1e-6);
    check_on_the_adaptive_mesh(Rodas4::new(), 1e-6);
}

#[test]
fn robertson_gradients_agree_with_adaptive_differences() {
    // Differences of adaptive solves also move the mesh: agreement to about the tolerance's
    // effect on the loss, not to rounding.
    let m = Rodas5P::new();
    let adj = adjoint(&m);
    let x0 = rober_x0();
    let fd: Vec<f64> = (0..6)
        .map(|i| {
            let h = 1e-6 * x0[i].abs().max(1e-3);
            let eval = |d: f64| {
                let mut x = x0.clone();
                x[i] += d;
                rober_loss(&rober_problem(&x).solve(m, &rober_opts()).unwrap().u).0
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        })
        .collect();
    let e = max_rel(&adj, &fd);
    eprintln!("adaptive differences {fd:?}, max rel {e:.2e}");
    assert!(e < 1e-3, "{e:e}");
}

#[test]
fn rosenbrock_discrete_adjoint_is_exact_on_a_fixed_mesh() {
    // Van der Pol (μ = 10), fixed steps, saves inside steps (dense output) and at step ends:
    // the map (u0, μ) ↦ loss is smooth, and Richardson-extrapolated central differences
    // (steps 1e-3 and 5e-4) are accurate to ~1e-11, so the adjoint must match to rounding.
    fn check<M>(m: M)
    where
        M: OdeMethod<common::Vdp> + StepVjp<common::Vdp>,
    {
        let x0 = [2.0, 0.0, 10.0];
        let o = vdp_opts(Tolerance::default());
        let fd = vdp_differences(&m, &o, x0);
        let adj = vdp_adjoint(&m, &o, x0, DiscreteAdjoint::default());
        let e = max_rel(&adj, &fd);
        eprintln!(
            "{}: adjoint {adj:?}, differences {fd:?}, max rel {e:.2e}",
            m.name()
        );
        assert!(e < 1e-9, "{}: {e:e}", m.name());
    }
    check(Rodas5P::new());
    check(Rodas4::new());
    check(Rosenbrock23::new());
}

#[test]
fn gauss_and_quadrature_adjoints_solve_the_stiff_adjoint_implicitly() {
    // The adjoint λ' = −Jᵀλ of a stiff problem is stiff; with Rodas5P forward and backward
    // (the adjoint field's Jacobian is −J(u(t))ᵀ) the continuous adjoints agree with the exact
    // discrete adjoint to the tolerance.
    use sciml_sensitivity::{GaussAdjoint, QuadratureAdjoint};
    let m = Rodas5P::new();
    let exact = adjoint(&m);
    for (name, (g, st)) in [
        ("GaussAdjoint", rober_gradient(&GaussAdjoint, &m)),
        ("QuadratureAdjoint", rober_gradient(&QuadratureAdjoint, &m)),
    ] {
        let e = max_rel(&g, &exact);
        eprintln!("{name}: {g:?}\n  vs discrete: max rel {e:.2e}; backward {st:?}");
        assert!(e < 1e-4, "{name}: {e:e}");
        // An explicit method would need ~1e7 steps over [0, 400] at this stiffness.
        assert!(st.steps < 5_000, "{name}: {st:?}");
    }
}

#[test]
fn robertson_gradients_match_forward_diff_sensitivity() {
    // Dual numbers through Rodas5P (the dense LU runs in dual arithmetic; step control sees value
    // parts, so the dual solve takes the real solve's steps) and the discrete adjoint compute the
    // same derivative of the same computed solution: agreement to rounding, not to tolerance.
    use sciml_sensitivity::ForwardDiffSensitivity;
    let m = Rodas5P::new();
    let adj = adjoint(&m);
    let (fwd, _) = rober_gradient(&ForwardDiffSensitivity, &m);
    let e = max_rel(&adj, &fwd);
    eprintln!("ForwardDiffSensitivity {fwd:?}\n  vs discrete adjoint: max rel {e:.2e}");
    assert!(e < 1e-9, "{e:e}");
}

#[test]
fn interpolating_adjoint_with_an_implicit_backward_method() {
    // (λ, μ) packed into one vector and solved backwards with Rodas5P, KenCarp4 and Bdf: the
    // gradient agrees with the exact discrete adjoint to the tolerance.
    use sciml_ode::{Bdf, KenCarp4};
    use sciml_sensitivity::InterpolatingAdjoint;
    let m = Rodas5P::new();
    let exact = adjoint(&m);
    let ia = InterpolatingAdjoint::default();
    for (name, (g, st), tol) in [
        (
            "Rodas5P",
            rober_gradient(&ia.with_backward(Rodas5P::new()), &m),
            1e-7,
        ),
        (
            "KenCarp4",
            rober_gradient(&ia.with_backward(KenCarp4::new()), &m),
            1e-5,
        ),
        (
            "Bdf",
            rober_gradient(&ia.with_backward(Bdf::new()), &m),
            1e-5,
        ),
    ] {
        let e = max_rel(&g, &exact);
        eprintln!("InterpolatingAdjoint backward {name}: max rel {e:.2e}; backward {st:?}");
        assert!(e < tol, "{name}: {e:e}");
        assert!(st.steps < 5_000, "{name}: {st:?}");
    }
    // Checkpointing is refused with a clear error (the recompute would need the field's
    // Jacobian through a borrowed wrapper).
    let mut prob = rober_problem(&rober_x0());
    let ck = InterpolatingAdjoint {
        checkpointing: true,
        ..Default::default()
    }
    .with_backward(Rodas5P::new());
    let err = ck.forward(&mut prob, &m, &rober_opts()).err().unwrap();
    assert!(err.to_string().contains("checkpointing"), "{err}");
}

#[test]
fn continuous_adjoints_refuse_mass_matrices_and_forward_diff_takes_them() {
    // λ′ = −Jᵀλ is not the adjoint of M u′ = f: the continuous adjoints refuse a mass matrix
    // instead of returning the gradient of another problem. ForwardDiffSensitivity solves the
    // same mass-matrix problem in dual numbers: with M = diag(1, 1, 2) (u3′ = f3 / 2) its
    // gradient matches central differences of that problem, not of the one without M.
    use sciml_ode::SaveAt;
    use sciml_sensitivity::{ForwardDiffSensitivity, GaussAdjoint, QuadratureAdjoint};
    let mut mass = sciml_core::DenseMatrix::zeros(3, 3);
    mass[(0, 0)] = 1.0;
    mass[(1, 1)] = 1.0;
    mass[(2, 2)] = 2.0;
    let problem = |p: &[f64]| {
        OdeProblem::new(
            ForwardAd::new(Robertson),
            vec![1.0, 0.0, 0.0],
            (0.0, 1.0),
            p.to_vec(),
        )
        .unwrap()
        .with_mass_matrix(mass.clone())
        .unwrap()
    };
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Times(vec![1.0]));
    let m = Rodas5P::new();
    let gauss = GaussAdjoint
        .forward(&mut problem(&P), &m, &opts)
        .err()
        .unwrap();
    assert!(gauss.to_string().contains("mass matrix"), "{gauss}");
    let quad = QuadratureAdjoint
        .forward(&mut problem(&P), &m, &opts)
        .err()
        .unwrap();
    assert!(quad.to_string().contains("mass matrix"), "{quad}");
    // Loss u3(1).
    let s = ForwardDiffSensitivity;
    let mut prob = problem(&P);
    let (_, tape) = s.forward(&mut prob, &m, &opts).unwrap();
    let g = s
        .backward(&mut prob, &m, tape, &[vec![0.0, 0.0, 1.0]])
        .unwrap();
    let u3 = |p: &[f64]| problem(p).solve(m, &opts).unwrap().u[0][2];
    for j in 0..3 {
        let h = 1e-6 * P[j];
        let (mut pp, mut pm) = (P.to_vec(), P.to_vec());
        pp[j] += h;
        pm[j] -= h;
        let fd = (u3(&pp) - u3(&pm)) / (2.0 * h);
        let err = (g.dp[j] - fd).abs() / fd.abs();
        assert!(
            err < 1e-5,
            "dp[{j}]: {} vs {fd} (relative {err:.1e})",
            g.dp[j]
        );
    }
}
