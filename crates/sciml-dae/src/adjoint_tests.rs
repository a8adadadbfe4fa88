//! The adjoint reversing exactly the steps of a forward-sensitivity solve (same mesh, orders and
//! converged points, adaptive steps included): the two are transposes of one linearisation, so
//! they agree to rounding. The public tests compare separate solves.

use crate::adjoint::DaeTape;
use crate::{sensitivity, DaeBdf, DaeForwardAd, DaeInit, DaeProblem, GenericResidual};
use sciml_core::Scalar;
use sciml_ode::{SaveAt, SolveOptions};

/// `u1′ = −a u1 + u2`, `0 = u2 − b cos t + c u1²`.
struct Nonlinear;

impl GenericResidual for Nonlinear {
    fn len(&self) -> usize {
        2
    }
    fn eval<S: Scalar<Re = f64>>(&self, t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        r[0] = du[0] + p[0] * u[0] - u[1];
        r[1] = u[1] - p[1] * S::from_re(t.cos()) + p[2] * u[0] * u[0];
    }
}

/// Robertson's kinetics with the conservation law.
struct Robertson;

impl GenericResidual for Robertson {
    fn len(&self) -> usize {
        3
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        r[0] = du[0] + p[0] * u[0] - p[2] * u[1] * u[2];
        r[1] = du[1] - p[0] * u[0] + p[2] * u[1] * u[2] + p[1] * u[1] * u[1];
        r[2] = u[0] + u[1] + u[2] - S::from_re(1.0);
    }
}

/// Largest relative difference, per component, between the adjoint's gradient
/// `(∂L/∂p, ∂L/∂u0 on the differential components)` and the forward sensitivities' one, for
/// `L = Σ_i w_i·u(t_i)` over the saves of one adaptive forward-sensitivity solve.
fn adjoint_vs_forward<R: GenericResidual>(
    mut prob: DaeProblem<DaeForwardAd<R>>,
    times: Vec<f64>,
) -> f64 {
    let n = prob.u0().len();
    let m = prob.p().len();
    let diff: Vec<usize> = (0..n).filter(|i| prob.differential_vars()[*i]).collect();
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(times));
    let mut ops = Vec::new();
    let (sol, u0, du0) = prob
        .sensitivity_solve(
            DaeBdf::new(),
            DaeInit::BrownFullBasicInit,
            &opts,
            true,
            Some(&mut ops),
        )
        .expect("solves");
    let orders: std::collections::BTreeSet<usize> = ops
        .iter()
        .filter_map(|o| match o {
            crate::bdf::StepOp::Step { k, .. } => Some(*k),
            _ => None,
        })
        .collect();
    assert!(
        orders.len() >= 3,
        "a variable-order mesh: orders {orders:?}"
    );
    let t0 = prob.tspan().0;
    let tape = DaeTape::new(
        sciml_ode::stiff::DenseSolve,
        t0,
        u0,
        du0,
        prob.p().to_vec(),
        ops,
        &sol.t,
    )
    .expect("tape");
    let w: Vec<Vec<f64>> = (0..sol.u.len())
        .map(|i| {
            (0..n)
                .map(|c| 0.3 + 0.7 * ((i * n + c) as f64 * 1.3).sin())
                .collect()
        })
        .collect();
    let g = prob.discrete_adjoint(&tape, &w).expect("adjoint");
    let fwd: Vec<f64> = (0..m + diff.len())
        .map(|j| {
            sol.u
                .iter()
                .zip(&w)
                .map(|(u, wi)| {
                    sensitivity(u, n, j)
                        .iter()
                        .zip(wi)
                        .map(|(s, x)| s * x)
                        .sum::<f64>()
                })
                .sum()
        })
        .collect();
    let adj: Vec<f64> =
        g.p.iter()
            .copied()
            .chain(diff.iter().map(|i| g.u0[*i]))
            .collect();
    println!("adjoint {adj:?}\nforward {fwd:?}");
    adj.iter()
        .zip(&fwd)
        .map(|(a, f)| (a - f).abs() / f.abs())
        .fold(0.0, f64::max)
}

#[test]
fn adjoint_reverses_an_adaptive_sensitivity_solve_to_rounding() {
    let p = vec![1.0, 1.0, 0.3];
    let prob = DaeProblem::new(
        DaeForwardAd::new(Nonlinear),
        vec![0.0, 0.0],
        vec![1.0, p[1] - p[2]],
        (0.0, 2.0),
        p,
        Some(vec![true, false]),
    )
    .expect("valid");
    let d = adjoint_vs_forward(prob, vec![0.0, 0.7, 1.3, 2.0]);
    println!("nonlinear: largest relative difference {d:e}");
    assert!(d < 1e-10, "{d:e}");
}

#[test]
fn adjoint_reverses_an_adaptive_robertson_sensitivity_solve_to_rounding() {
    let prob = DaeProblem::new(
        DaeForwardAd::new(Robertson),
        vec![0.0; 3],
        vec![1.0, 0.0, 0.0],
        (0.0, 1.0),
        vec![0.04, 3e7, 1e4],
        Some(vec![true, true, false]),
    )
    .expect("valid");
    let d = adjoint_vs_forward(prob, vec![1e-3, 0.2, 1.0]);
    println!("robertson: largest relative difference {d:e}");
    assert!(d < 1e-10, "{d:e}");
}
