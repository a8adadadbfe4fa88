//! A right-hand side written in closure syntax (`ad_field!`) runs through an implicit method and
//! the sensitivity methods, which a plain `FnField` closure cannot (it has no derivatives).
#![allow(clippy::unwrap_used)]

use sciml_core::{ad_field, Tolerance};
use sciml_ode::{OdeProblem, Rodas5P, SaveAt, SolveOptions, Tsit5};
use sciml_sensitivity::{DiscreteAdjoint, ForwardDiffSensitivity, Sensitivity};

fn opts() -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerance(Tolerance::new(1e-10, 1e-12).unwrap())
        .saveat(SaveAt::Times(vec![1.0, 2.0]))
}

/// L = Σ_k |u(t_k)|², and its cotangents.
fn loss(_t: &[f64], u: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let l = u.iter().flatten().map(|x| x * x).sum();
    (
        l,
        u.iter()
            .map(|v| v.iter().map(|x| 2.0 * x).collect())
            .collect(),
    )
}

#[test]
fn a_closure_syntax_field_gets_exact_gradients_through_rodas5p() {
    // Lotka–Volterra: du1 = a u1 − b u1 u2, du2 = −c u2 + d u1 u2.
    let make = |p: Vec<f64>| {
        let f = ad_field!(2, 4, |t, u, p, du| {
            du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
            du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
        });
        OdeProblem::new(f, vec![1.0, 1.0], (0.0, 2.0), p).unwrap()
    };
    let p0 = vec![1.5, 1.0, 3.0, 1.0];
    let o = opts();
    let value = |p: Vec<f64>| {
        let sol = make(p).solve(Rodas5P::new(), &o).unwrap();
        loss(&sol.t, &sol.u).0
    };
    let mut prob = make(p0.clone());
    let (l, g) = DiscreteAdjoint::default()
        .loss_and_gradient(&mut prob, &Rodas5P::new(), &o, loss)
        .unwrap();
    assert!((l - value(p0.clone())).abs() < 1e-12);
    // Dual numbers through the same solver (the same mesh): agree to rounding.
    let (_, gd) = ForwardDiffSensitivity
        .loss_and_gradient(&mut prob, &Rodas5P::new(), &o, loss)
        .unwrap();
    // Central differences of the adaptive solve: agree to the solver tolerance.
    for i in 0..4 {
        let h = 1e-6;
        let (mut a, mut b) = (p0.clone(), p0.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (value(a) - value(b)) / (2.0 * h);
        assert!(
            (g.dp[i] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
            "dp[{i}]: {} vs {fd}",
            g.dp[i]
        );
        assert!(
            (g.dp[i] - gd.dp[i]).abs() < 1e-7 * (1.0 + fd.abs()),
            "dp[{i}]"
        );
    }
    // And the explicit path.
    let (_, ge) = DiscreteAdjoint::default()
        .loss_and_gradient(&mut prob, &Tsit5, &o, loss)
        .unwrap();
    for i in 0..4 {
        assert!((ge.dp[i] - g.dp[i]).abs() < 1e-5 * (1.0 + g.dp[i].abs()));
    }
}
