//! Fixtures shared by the stiff-solver gradient tests: Robertson's kinetics with a weighted
//! loss, and Van der Pol on a fixed mesh with Richardson-extrapolated differences.
#![allow(dead_code)]

use sciml_core::{ForwardAd, GenericRhs, Scalar};
use sciml_ode::problems::Robertson;
use sciml_ode::{MethodInfo, OdeMethod, OdeProblem, SaveAt, SolveOptions, StepVjp, Tolerance};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};

/// Largest relative difference of `a` from `b` (relative to `|b|`, floored at 1e-8).
pub fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-8))
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

/// `(∂L/∂u0, ∂L/∂p)` concatenated, and the backward statistics, for sensitivity method `s` and
/// the loss cotangents `ubar(us)`.
pub fn pullback<F, S, M>(
    s: &S,
    m: &M,
    prob: &mut OdeProblem<F>,
    o: &SolveOptions<f64>,
    ubar: impl FnOnce(&[Vec<f64>]) -> Vec<Vec<f64>>,
) -> (Vec<f64>, sciml_core::Stats)
where
    F: sciml_core::VectorField<V = Vec<f64>, P = Vec<f64>>,
    S: Sensitivity<F, M>,
    M: MethodInfo,
{
    let (sol, tape) = s.forward(prob, m, o).unwrap();
    let g = s.backward(prob, m, tape, &ubar(&sol.u)).unwrap();
    (g.du0.into_iter().chain(g.dp).collect(), g.stats)
}

pub type Rober = ForwardAd<Robertson>;

/// Robertson's rate constants.
pub const P: [f64; 3] = [0.04, 3e7, 1e4];
pub const SAVES: [f64; 4] = [0.4, 4.0, 40.0, 400.0];
/// Loss weights per saved state: emphasise y2 (~1e-5), whose scale differs by 1e5.
pub const WEIGHTS: [f64; 3] = [1.0, 1e4, 1.0];

/// `(u0, p)` of the Robertson problem, concatenated.
pub fn rober_x0() -> Vec<f64> {
    [1.0, 0.0, 0.0].iter().chain(P.iter()).copied().collect()
}

pub fn rober_opts() -> SolveOptions<f64> {
    SolveOptions {
        tol: Tolerance::new(1e-8, 1e-12).unwrap(),
        saveat: SaveAt::Times(SAVES.to_vec()),
        ..SolveOptions::default()
    }
}

/// Robertson on [0, 400] from `x = (u0, p)`.
pub fn rober_problem(x: &[f64]) -> OdeProblem<Rober> {
    OdeProblem::new(
        ForwardAd::new(Robertson),
        x[..3].to_vec(),
        (0.0, 400.0),
        x[3..].to_vec(),
    )
    .unwrap()
}

/// L = Σ_k Σ_i w_i u_i(t_k)², and its cotangents.
pub fn rober_loss(us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
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

/// `(∂L/∂u0, ∂L/∂p)` and the backward statistics of the Robertson loss, solved by `m` with
/// sensitivity method `s`.
pub fn rober_gradient<S, M>(s: &S, m: &M) -> (Vec<f64>, sciml_core::Stats)
where
    S: Sensitivity<Rober, M>,
    M: MethodInfo,
{
    let mut prob = rober_problem(&rober_x0());
    pullback(s, m, &mut prob, &rober_opts(), |us| rober_loss(us).1)
}

/// The mesh an adaptive solve takes, to be replayed with fixed steps (`tstops` at every step
/// end and a step larger than the span, so each step lands on the next stop).
pub fn frozen_mesh_opts<M: OdeMethod<Rober>>(m: &M, x0: &[f64]) -> SolveOptions<f64> {
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

/// Central differences of `loss_at` at `x0`, component by component, with the relative step
/// `1e-4 · max(|x0_i|, floor)`.
pub fn central_differences(x0: &[f64], floor: f64, loss_at: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    (0..x0.len())
        .map(|i| {
            let h = 1e-4 * x0[i].abs().max(floor);
            let eval = |d: f64| {
                let mut x = x0.to_vec();
                x[i] += d;
                loss_at(&x)
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        })
        .collect()
}

/// The adjoint of the adaptive Robertson solve differentiates the computed solution on its own
/// mesh; central differences of the same mesh replayed with fixed steps are an independent
/// check of exactly that derivative (differences of adaptive solves would also move the mesh).
/// Asserts the largest relative difference is below `bound`.
pub fn check_on_the_adaptive_mesh<M>(m: M, bound: f64)
where
    M: OdeMethod<Rober> + StepVjp<Rober>,
{
    let x0 = rober_x0();
    let frozen = frozen_mesh_opts(&m, &x0);
    let (adj, _) = rober_gradient(&DiscreteAdjoint::default(), &m);
    let fd = central_differences(&x0, 1e-4, |x| {
        rober_loss(&rober_problem(x).solve(m.clone(), &frozen).unwrap().u).0
    });
    let e = max_rel(&adj, &fd);
    eprintln!(
        "{}: {} steps; adjoint {adj:?}\n  frozen-mesh differences {fd:?}\n  max rel {e:.2e}",
        m.name(),
        frozen.tstops.len() + 1
    );
    assert!(e < bound, "{}: {e:e}", m.name());
}

/// Van der Pol, `p = [μ]`.
#[derive(Clone)]
pub struct VanDerPol;
impl GenericRhs for VanDerPol {
    fn dims(&self) -> (usize, usize) {
        (2, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = u[1];
        du[1] = p[0] * (S::cst(1.0) - u[0] * u[0]) * u[1] - u[0];
    }
}

pub type Vdp = ForwardAd<VanDerPol>;

/// Van der Pol on [0, 2] from `x = (u0, μ)`.
pub fn vdp_problem(x: &[f64]) -> OdeProblem<Vdp> {
    OdeProblem::new(
        ForwardAd::new(VanDerPol),
        x[..2].to_vec(),
        (0.0, 2.0),
        x[2..].to_vec(),
    )
    .unwrap()
}

/// Fixed steps of 0.01, saves inside steps (dense output) and at step ends; the tolerances only
/// steer a Newton iteration, if the method has one.
pub fn vdp_opts(tol: Tolerance<f64>) -> SolveOptions<f64> {
    SolveOptions {
        adaptive: Some(false),
        dt: Some(0.01),
        saveat: SaveAt::Times(vec![0.5, 1.375, 2.0]),
        tol,
        ..SolveOptions::default()
    }
}

/// L = Σ_k u_1(t_k)² + 3 u_2(t_k).
pub fn vdp_loss(us: &[Vec<f64>]) -> f64 {
    us.iter().map(|u| u[0] * u[0] + 3.0 * u[1]).sum()
}

/// Richardson-extrapolated central differences (steps 1e-3 and 5e-4) of the fixed-mesh loss.
pub fn vdp_differences<M: OdeMethod<Vdp>>(m: &M, o: &SolveOptions<f64>, x0: [f64; 3]) -> Vec<f64> {
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

/// The gradient of [`vdp_loss`] by the discrete adjoint `s`.
pub fn vdp_adjoint<M>(m: &M, o: &SolveOptions<f64>, x0: [f64; 3], s: DiscreteAdjoint) -> Vec<f64>
where
    M: OdeMethod<Vdp> + StepVjp<Vdp>,
{
    let mut prob = vdp_problem(&x0);
    let ubar = |us: &[Vec<f64>]| us.iter().map(|u| vec![2.0 * u[0], 3.0]).collect();
    pullback(&s, m, &mut prob, o, ubar).0
}
