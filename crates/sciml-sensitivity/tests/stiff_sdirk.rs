//! Gradients through ESDIRK solvers (TRBDF2, KenCarp4, Kvaerno5): the discrete adjoint differentiates the
//! converged stage equations (transposed solves with `W = I − hγJ` at each stage value), so it
//! matches differences of the computed solution up to the effect of the Newton tolerance.
#![allow(clippy::unwrap_used)]

use sciml_ode::{KenCarp4, Kvaerno5, Newton, OdeMethod, SolveOptions, StepVjp, Tolerance, Trbdf2};
use sciml_sensitivity::{Checkpointing, DiscreteAdjoint};

mod common;
use common::{
    check_on_the_adaptive_mesh, max_rel, pullback, vdp_adjoint, vdp_differences, vdp_opts,
    vdp_problem, VanDerPol, Vdp,
};

/// A Newton iteration run to (near) rounding: a small `kappa` in units of tolerances of 1e-13,
/// and room for the iterations that takes. The forward map is then smooth to about 1e-15.
fn tight_newton() -> Newton {
    Newton {
        kappa: 1e-2,
        max_iter: 50,
        ..Newton::default()
    }
}

/// The fixed-mesh options with Newton tolerances `rtol` (absolute and relative).
fn newton_opts(rtol: f64) -> SolveOptions<f64> {
    vdp_opts(Tolerance::new(rtol, rtol).unwrap())
}

#[test]
fn sdirk_discrete_adjoint_is_exact_on_a_fixed_mesh() {
    // Van der Pol (μ = 10), fixed steps, saves inside steps (dense output) and at step ends.
    // With the Newton iteration converged to near rounding the computed map is smooth and equal
    // to the map of the converged stage equations, so the adjoint must match the differences
    // (themselves accurate to ~1e-11) far below any method error.
    // Measured: 4.7e-11 (TRBDF2), 1.9e-10 (KenCarp4), 4.9e-10 (Kvaerno5; deterministic).
    fn check<M>(m: M, bound: f64)
    where
        M: OdeMethod<Vdp> + StepVjp<Vdp>,
    {
        let x0 = [2.0, 0.0, 10.0];
        let o = newton_opts(1e-13);
        let fd = vdp_differences(&m, &o, x0);
        let adj = vdp_adjoint(&m, &o, x0, DiscreteAdjoint::default());
        let e = max_rel(&adj, &fd);
        eprintln!(
            "{} (tight Newton): adjoint {adj:?}, differences {fd:?}, max rel {e:.2e}",
            m.name()
        );
        assert!(e < bound, "{}: {e:e}", m.name());
    }
    check(Trbdf2::new().with_newton(tight_newton()), 1e-9);
    check(KenCarp4::new().with_newton(tight_newton()), 1e-9);
    check(Kvaerno5::new().with_newton(tight_newton()), 1e-9);
}

#[test]
fn sdirk_adjoint_with_the_default_newton_is_limited_by_its_tolerance() {
    // With the default κ = 0.03 the stage values carry Newton errors of about κ·tol: the
    // adjoint (the derivative of the converged equations at those values) and differences of
    // the computed map then agree only to about the Newton tolerance's effect, and better as the
    // tolerance tightens.
    fn check<M>(m: M)
    where
        M: OdeMethod<Vdp> + StepVjp<Vdp>,
    {
        let x0 = [2.0, 0.0, 10.0];
        // Measured: TRBDF2 1.6e-6 and 2.3e-8, KenCarp4 3.4e-7 and 6.9e-8, Kvaerno5 3.9e-6 and
        // 1.8e-8.
        for (rtol, bound) in [(1e-6, 1e-5), (1e-9, 5e-7)] {
            let o = newton_opts(rtol);
            let fd = vdp_differences(&m, &o, x0);
            let adj = vdp_adjoint(&m, &o, x0, DiscreteAdjoint::default());
            let e = max_rel(&adj, &fd);
            eprintln!(
                "{} (default Newton, tol {rtol:e}): max rel {e:.2e}",
                m.name()
            );
            assert!(e < bound, "{} tol {rtol:e}: {e:e}", m.name());
        }
    }
    check(Trbdf2::new());
    check(KenCarp4::new());
    check(Kvaerno5::new());
}

#[test]
fn sdirk_adjoint_replay_without_stored_stages_agrees() {
    // With checkpoints every few steps the tape keeps no stages: each stage equation is solved
    // again by a full Newton iteration to rounding (and the first stage is f(t, u0)). With a
    // tight forward Newton that is the same map, so both gradients agree to rounding-level noise.
    fn check<M>(m: M)
    where
        M: OdeMethod<Vdp> + StepVjp<Vdp>,
    {
        let x0 = [2.0, 0.0, 10.0];
        let o = newton_opts(1e-13);
        let all = vdp_adjoint(&m, &o, x0, DiscreteAdjoint::default());
        let every = vdp_adjoint(
            &m,
            &o,
            x0,
            DiscreteAdjoint {
                checkpointing: Checkpointing::Every(7),
            },
        );
        let e = max_rel(&every, &all);
        eprintln!(
            "{}: stored stages {all:?}, replayed {every:?}, max rel {e:.2e}",
            m.name()
        );
        // Measured: 4.9e-15 (TRBDF2), 2.2e-14 (KenCarp4), 1.2e-15 (Kvaerno5).
        assert!(e < 1e-12, "{}: {e:e}", m.name());
    }
    check(Trbdf2::new().with_newton(tight_newton()));
    check(KenCarp4::new().with_newton(tight_newton()));
    check(Kvaerno5::new().with_newton(tight_newton()));
}

#[test]
fn robertson_gradients_on_the_adaptive_mesh() {
    // Measured: 5.5e-8 (KenCarp4, 124 steps), 1.6e-7 (TRBDF2, 1177 steps), 1.1e-7 (Kvaerno5, 90
    // steps), about the truncation error of the unextrapolated differences; a tight Newton
    // changes neither noticeably.
    check_on_the_adaptive_mesh(KenCarp4::new(), 1e-6);
    check_on_the_adaptive_mesh(Trbdf2::new(), 1e-6);
    check_on_the_adaptive_mesh(Kvaerno5::new(), 1e-6);
}

#[test]
fn sdirk_dual_numbers_agree_with_the_discrete_adjoint() {
    // Dual numbers pass through ESDIRK (the Newton iteration and the dense LU run in dual
    // arithmetic; its convergence test sees value parts). With the iteration converged to near
    // rounding, they differentiate the converged stage equations, as the adjoint does.
    use sciml_core::{Dual64, ForwardAd};
    use sciml_sensitivity::ForwardDiffSensitivity;
    fn check<M>(m: M)
    where
        M: OdeMethod<Vdp> + OdeMethod<ForwardAd<VanDerPol, Dual64>> + StepVjp<Vdp>,
    {
        let x0 = [2.0, 0.0, 10.0];
        let o = newton_opts(1e-13);
        let adj = vdp_adjoint(&m, &o, x0, DiscreteAdjoint::default());
        let ubar = |us: &[Vec<f64>]| us.iter().map(|u| vec![2.0 * u[0], 3.0]).collect();
        let (fwd, _) = pullback(&ForwardDiffSensitivity, &m, &mut vdp_problem(&x0), &o, ubar);
        let e = max_rel(&adj, &fwd);
        eprintln!(
            "{}: adjoint {adj:?}, dual numbers {fwd:?}, max rel {e:.2e}",
            m.name()
        );
        // Measured: 1.0e-12 (TRBDF2), 1.1e-11 (KenCarp4), 2.9e-11 (Kvaerno5).
        assert!(e < 1e-10, "{}: {e:e}", m.name());
    }
    check(Trbdf2::new().with_newton(tight_newton()));
    check(KenCarp4::new().with_newton(tight_newton()));
    check(Kvaerno5::new().with_newton(tight_newton()));
}
