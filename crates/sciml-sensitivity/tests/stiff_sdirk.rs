//! Gradients through ESDIRK solvers (TRBDF2, KenCarp4, Kvaerno5): the discrete adjoint differentiates the
//! converged stage equations (transposed solves with `W = I − hγJ` at each stage value), so it
//! matches differences of the computed solution up to the effect of the Newton tolerance.
#![allow(clippy::unwrap_used)]

use sciml_core::{ForwardAd, GenericRhs, Scalar};
use sciml_ode::problems::Robertson;
use sciml_ode::{
    KenCarp4, Kvaerno5, Newton, OdeMethod, OdeProblem, SaveAt, SolveOptions, StepVjp, Tolerance,
    Trbdf2,
};
use sciml_sensitivity::{Checkpointing, DiscreteAdjoint, Sensitivity};

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-8))
        .fold(0.0, f64::max)
}

/// A Newton iteration run to (near) rounding: a small `kappa` in units of tolerances of 1e-13,
/// and room for the iterations that takes. The forward map is then smooth to about 1e-15.
fn tight_newton() -> Newton {
    Newton {
        kappa: 1e-2,
        max_iter: 50,
        ..Newton::default()
    }
}

#[derive(Clone)]
struct VanDerPol;
impl GenericRhs for VanDerPol {
    fn dims(&self) -> (usize, usize) {
        (2, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = u[1];
        du[1] = p[0] * (S::cst(1.0) - u[0] * u[0]) * u[1] - u[0];
    }
}

type Vdp = ForwardAd<VanDerPol>;

fn vdp_problem(x: &[f64]) -> OdeProblem<Vdp> {
    OdeProblem::new(
        ForwardAd::new(VanDerPol),
        x[..2].to_vec(),
        (0.0, 2.0),
        x[2..].to_vec(),
    )
    .unwrap()
}

fn vdp_opts(rtol: f64) -> SolveOptions<f64> {
    SolveOptions {
        adaptive: Some(false),
        dt: Some(0.01),
        saveat: SaveAt::Times(vec![0.5, 1.375, 2.0]),
        tol: Tolerance::new(rtol, rtol).unwrap(),
        ..SolveOptions::default()
    }
}

/// L = Σ_k u_1(t_k)² + 3 u_2(t_k).
fn vdp_loss(us: &[Vec<f64>]) -> f64 {
    us.iter().map(|u| u[0] * u[0] + 3.0 * u[1]).sum()
}

/// Richardson-extrapolated central differences (steps 1e-3 and 5e-4) of the fixed-mesh loss.
fn vdp_differences<M: OdeMethod<Vdp>>(m: &M, o: &SolveOptions<f64>, x0: [f64; 3]) -> Vec<f64> {
    let val = |x: &[f64]| vdp_loss(&vdp_problem(x).solve(m.clone(), o).unwrap().u);
    let cd = |i: usize, h: f64| {
        let (mut a, mut b) = (x0, x0);
        a[i] += h;
        b[i] -= h;
        (val(&a) - val(&b)) / (2.0 * h)
    };
    (0..3)
        .map(|i| (4.0 * cd(i, 5e-4) - cd(i, 1e-3)) / 3.0)
        .collect()
}

fn vdp_adjoint<M>(m: &M, o: &SolveOptions<f64>, x0: [f64; 3], s: DiscreteAdjoint) -> Vec<f64>
where
    M: OdeMethod<Vdp> + StepVjp<Vdp>,
{
    let mut prob = vdp_problem(&x0);
    let (sol, tape) = s.forward(&mut prob, m, o).unwrap();
    let ubar: Vec<Vec<f64>> = sol.u.iter().map(|u| vec![2.0 * u[0], 3.0]).collect();
    let g = s.backward(&mut prob, m, tape, &ubar).unwrap();
    g.du0.into_iter().chain(g.dp).collect()
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
        let o = vdp_opts(1e-13);
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
            let o = vdp_opts(rtol);
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
        let o = vdp_opts(1e-13);
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

type Rober = ForwardAd<Robertson>;

const P: [f64; 3] = [0.04, 3e7, 1e4];
const SAVES: [f64; 4] = [0.4, 4.0, 40.0, 400.0];
/// Loss weights per saved state: emphasise y2 (~1e-5), whose scale differs by 1e5.
const WEIGHTS: [f64; 3] = [1.0, 1e4, 1.0];

fn rober_opts() -> SolveOptions<f64> {
    SolveOptions {
        tol: Tolerance::new(1e-8, 1e-12).unwrap(),
        saveat: SaveAt::Times(SAVES.to_vec()),
        ..SolveOptions::default()
    }
}

fn rober_problem(x: &[f64]) -> OdeProblem<Rober> {
    OdeProblem::new(
        ForwardAd::new(Robertson),
        x[..3].to_vec(),
        (0.0, 400.0),
        x[3..].to_vec(),
    )
    .unwrap()
}

/// L = Σ_k Σ_i w_i u_i(t_k)², and its cotangents.
fn rober_loss(us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let mut l = 0.0;
    let mut bars = Vec::new();
    for u in us {
        let mut b = vec![0.0; 3];
        for i in 0..3 {
            l += WEIGHTS[i] * u[i] * u[i];
            b[i] = 2.0 * WEIGHTS[i] * u[i];
        }
        bars.push(b);
    }
    (l, bars)
}

/// The mesh an adaptive solve takes, to be replayed with fixed steps (`tstops` at every step
/// end and a step larger than the span, so each step lands on the next stop).
fn frozen_mesh_opts<M: OdeMethod<Rober>>(m: &M, x0: &[f64]) -> SolveOptions<f64> {
    let o = SolveOptions {
        saveat: SaveAt::Steps,
        ..rober_opts()
    };
    let sol = rober_problem(x0).solve(m.clone(), &o).unwrap();
    let mut fixed = rober_opts();
    fixed.adaptive = Some(false);
    fixed.dt = Some(1e3);
    fixed.tstops = sol.t[1..sol.t.len() - 1].to_vec();
    fixed
}

#[test]
fn robertson_gradients_on_the_adaptive_mesh() {
    // The adjoint of the adaptive solve differentiates the computed solution on its own mesh;
    // central differences of the same mesh replayed with fixed steps check that derivative.
    fn check<M>(m: M, bound: f64)
    where
        M: OdeMethod<Rober> + StepVjp<Rober>,
    {
        let x0: Vec<f64> = [1.0, 0.0, 0.0].iter().chain(P.iter()).copied().collect();
        let frozen = frozen_mesh_opts(&m, &x0);
        let s = DiscreteAdjoint::default();
        let mut prob = rober_problem(&x0);
        let (sol, tape) = s.forward(&mut prob, &m, &rober_opts()).unwrap();
        let (_, ubar) = rober_loss(&sol.u);
        let g = s.backward(&mut prob, &m, tape, &ubar).unwrap();
        let adj: Vec<f64> = g.du0.into_iter().chain(g.dp).collect();
        let fd: Vec<f64> = (0..6)
            .map(|i| {
                let h = 1e-4 * x0[i].abs().max(1e-4);
                let eval = |d: f64| {
                    let mut x = x0.clone();
                    x[i] += d;
                    rober_loss(&rober_problem(&x).solve(m.clone(), &frozen).unwrap().u).0
                };
                (eval(h) - eval(-h)) / (2.0 * h)
            })
            .collect();
        let e = max_rel(&adj, &fd);
        eprintln!(
            "{}: {} steps; adjoint {adj:?}\n  frozen-mesh differences {fd:?}\n  max rel {e:.2e}",
            m.name(),
            sol.stats.accepted
        );
        assert!(e < bound, "{}: {e:e}", m.name());
    }
    // Measured: 5.5e-8 (KenCarp4, 124 steps), 1.6e-7 (TRBDF2, 1177 steps), 1.1e-7 (Kvaerno5, 90
    // steps), about the truncation error of the unextrapolated differences; a tight Newton
    // changes neither noticeably.
    check(KenCarp4::new(), 1e-6);
    check(Trbdf2::new(), 1e-6);
    check(Kvaerno5::new(), 1e-6);
}
