//! Gradients through variable-order BDF: the discrete adjoint reverses the multistep method
//! (the cotangents of the whole history travel backwards from step to step) and differentiates
//! the converged corrector (transposed solves with `W = I − (h/α_k) J` at the corrector's
//! value). It is checked against dual numbers through the same solver on the same mesh, and
//! against central differences of the solve replayed on its frozen mesh (the recorded step
//! sizes and orders).
#![allow(clippy::unwrap_used)]

use sciml_core::{ForwardAd, GenericRhs, Scalar};
use sciml_ode::stiff::{BdfFrozenOrders, BdfNewton};
use sciml_ode::{Bdf, MethodInfo, OdeProblem, SaveAt, SolveOptions, Tolerance};
use sciml_sensitivity::{Checkpointing, DiscreteAdjoint, ForwardDiffSensitivity};
use std::sync::Arc;

mod common;
use common::{
    central_differences, max_rel, pullback, rober_gradient, rober_loss, rober_opts, rober_problem,
    rober_x0,
};

/// The corrector's Newton iteration run to near rounding (κ = 1e-6 in units of the solve's
/// tolerances, as many iterations as that takes): the computed solution is then the solution of
/// the converged corrector equations, which is what the adjoint differentiates.
fn tight(bdf: Bdf) -> Bdf {
    bdf.with_newton(BdfNewton {
        kappa: 1e-6,
        max_iter: 30,
    })
}

/// The orders of the Robertson solve's accepted steps, and options that replay its mesh with
/// fixed steps (a stop at every step end, a step larger than the span).
fn frozen_mesh(m: &Bdf, x0: &[f64]) -> (Arc<[usize]>, SolveOptions<f64>) {
    let mut prob = rober_problem(x0);
    let mut integ = prob.init(*m, &rober_opts()).unwrap();
    integ.record_tape(1, false).unwrap();
    let (_, tape) = integ.solve_with_tape().unwrap();
    let tape = tape.unwrap();
    let orders: Arc<[usize]> = tape
        .steps
        .iter()
        .map(|s| s.memory.as_ref().unwrap().order)
        .collect();
    let ends: Vec<f64> = tape.steps.iter().map(|s| s.t0 + s.h).collect();
    let mut fixed = rober_opts();
    fixed.adaptive = Some(false);
    fixed.dt = Some(1e3);
    fixed.tstops = ends[..ends.len() - 1].to_vec();
    (orders, fixed)
}

#[test]
fn bdf_discrete_adjoint_matches_dual_numbers_on_robertson() {
    // Dual numbers through BDF (the dense LU in dual arithmetic; step control and order
    // selection see value parts, so the dual solve takes the real solve's steps and orders) and
    // the discrete adjoint differentiate the same computed solution. With the corrector converged
    // to near rounding they agree to rounding.
    for m in [tight(Bdf::new()), tight(Bdf::ndf())] {
        let (adj, st) = rober_gradient(&DiscreteAdjoint::default(), &m);
        let (fwd, _) = rober_gradient(&ForwardDiffSensitivity, &m);
        let e = max_rel(&adj, &fwd);
        eprintln!(
            "{}: adjoint {adj:?}\n  dual numbers {fwd:?}\n  max rel {e:.2e}; backward {st:?}",
            m.name()
        );
        // Measured: 4.2e-11 (BDF), 4.7e-11 (NDF).
        assert!(e < 1e-10, "{}: {e:e}", m.name());
    }
}

#[test]
fn bdf_adjoint_with_the_default_newton_is_limited_by_its_tolerance() {
    // With the default κ = 0.2 dual numbers differentiate the Newton iterations actually taken,
    // the adjoint the converged corrector: they differ by about the iteration's remaining error.
    let m = Bdf::new();
    let (adj, _) = rober_gradient(&DiscreteAdjoint::default(), &m);
    let (fwd, _) = rober_gradient(&ForwardDiffSensitivity, &m);
    let e = max_rel(&adj, &fwd);
    eprintln!("default Newton: adjoint {adj:?}\n  dual numbers {fwd:?}\n  max rel {e:.2e}");
    // Measured: 7.3e-4 (against 4.2e-11 with the tight iteration).
    assert!(e < 5e-3, "{e:e}");
}

#[test]
fn bdf_discrete_adjoint_matches_differences_on_the_frozen_mesh() {
    // The mesh and the orders of the adaptive solve, replayed in fixed-step mode: central
    // differences of that map are an independent check of the adjoint's derivative.
    for m in [tight(Bdf::new()), tight(Bdf::ndf())] {
        let x0 = rober_x0();
        let (orders, frozen) = frozen_mesh(&m, &x0);
        let replay = BdfFrozenOrders::new(m, orders);
        // The replay reproduces the adaptive solve.
        let base = rober_problem(&x0).solve(m, &rober_opts()).unwrap().u;
        let again = rober_problem(&x0).solve(replay.clone(), &frozen).unwrap().u;
        let drift =
            base.iter()
                .zip(&again)
                .map(|(a, b)| max_rel(a, b))
                .fold(
                    0.0,
                    |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
                );
        eprintln!("{}: replay drift {drift:.2e}", m.name());
        let (adj, _) = rober_gradient(&DiscreteAdjoint::default(), &m);
        // Relative steps; 1e-6 for the zero initial values (smaller steps drown in the rounding
        // of the loss).
        let fd = central_differences(&x0, 1e-2, |x| {
            rober_loss(&rober_problem(x).solve(replay.clone(), &frozen).unwrap().u).0
        });
        let e = max_rel(&adj, &fd);
        eprintln!(
            "{}: {} steps; adjoint {adj:?}\n  frozen-mesh differences {fd:?}\n  max rel {e:.2e}",
            m.name(),
            frozen.tstops.len() + 1
        );
        // Measured: drift 5.9e-16 (BDF), 6.2e-16 (NDF); max rel 1.7e-8 and 1.6e-8, about the
        // truncation error of the differences.
        assert!(drift < 1e-10, "{}: replay drift {drift:e}", m.name());
        assert!(e < 1e-6, "{}: {e:e}", m.name());
    }
}

#[test]
fn bdf_adjoint_with_checkpoints_agrees_with_store_all() {
    // A multistep method records every step's end state, so checkpointing needs no replay; the
    // gradients are the same.
    let m = tight(Bdf::new());
    let (all, _) = rober_gradient(&DiscreteAdjoint::default(), &m);
    let every = DiscreteAdjoint {
        checkpointing: Checkpointing::Every(5),
    };
    let (ck, _) = rober_gradient(&every, &m);
    let e = max_rel(&ck, &all);
    eprintln!("checkpoints every 5: max rel {e:.2e}");
    assert!(e == 0.0, "{e:e}");
}

/// `u' = A(p) u` with `A = [[−p0, p1], [p1·1e-3, −p2]]`: stiff for large `p0`, linear.
#[derive(Clone)]
struct Linear;
impl GenericRhs for Linear {
    fn dims(&self) -> (usize, usize) {
        (2, 3)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = -(p[0] * u[0]) + p[1] * u[1];
        du[1] = p[1] * u[0] * S::cst(1e-3) - p[2] * u[1];
    }
}

#[test]
fn linear_problem_gradients_agree_to_rounding_with_the_default_newton() {
    // On a linear problem the corrector is linear: Newton with the (constant) Jacobian solves it
    // in one iteration to rounding, so even the default settings give the converged corrector,
    // in real and in dual arithmetic alike. Saves inside steps exercise the dense output.
    let x0 = [1.0, 0.5, 500.0, 2.0, 1.0];
    let opts = SolveOptions {
        tol: Tolerance::new(1e-6, 1e-9).unwrap(),
        saveat: SaveAt::Times(vec![0.01, 0.3, 1.0, 2.5, 4.0]),
        ..SolveOptions::default()
    };
    let problem = |x: &[f64]| {
        OdeProblem::new(
            ForwardAd::new(Linear),
            x[..2].to_vec(),
            (0.0, 4.0),
            x[2..].to_vec(),
        )
        .unwrap()
    };
    let loss =
        |us: &[Vec<f64>]| -> Vec<Vec<f64>> { us.iter().map(|u| vec![2.0 * u[0], 1.0]).collect() };
    for m in [Bdf::new(), Bdf::ndf()] {
        let (adj, st) = pullback(
            &DiscreteAdjoint::default(),
            &m,
            &mut problem(&x0),
            &opts,
            loss,
        );
        let (fwd, _) = pullback(&ForwardDiffSensitivity, &m, &mut problem(&x0), &opts, loss);
        let e = max_rel(&adj, &fwd);
        eprintln!(
            "{} linear: adjoint {adj:?}\n  dual numbers {fwd:?}\n  max rel {e:.2e}; {st:?}",
            m.name()
        );
        // Measured: 1.7e-13 (BDF), 1.2e-13 (NDF).
        assert!(e < 1e-12, "{}: {e:e}", m.name());
    }
}
