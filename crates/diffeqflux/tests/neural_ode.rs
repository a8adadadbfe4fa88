//! The NeuralOde layer: gradients through every sensitivity method against central finite
//! differences and against each other, batching, and bad input.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use diffeqflux::nn::{Activation, Chain, Dense, Layer};
use diffeqflux::{AutoSensitivity, LossGradient, NeuralField, NeuralOde};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Batch, VectorField};
use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5, Vern7};
use sciml_sensitivity::{
    BacksolveAdjoint, Checkpointing, DiscreteAdjoint, ForwardDiffSensitivity, ForwardSensitivity,
    GaussAdjoint, InterpolatingAdjoint, QuadratureAdjoint, Sensitivity,
};

type Net = Chain<(Dense, Dense)>;

fn net() -> Net {
    Chain::new((
        Dense::new(2, 8, Activation::Tanh),
        Dense::new(8, 2, Activation::Identity),
    ))
    .unwrap()
}

fn ts() -> Vec<f64> {
    (0..=10).map(|k| 0.1 * k as f64).collect()
}

/// L = Σ_k Σ_i sin(k + i) u_i(t_k) + ½ Σ u², a loss that weighs every saved value differently.
fn loss(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let mut l = 0.0;
    let bars = us
        .iter()
        .enumerate()
        .map(|(k, u)| {
            u.iter()
                .enumerate()
                .map(|(i, x)| {
                    let w = ((k + i) as f64).sin();
                    l += w * x + 0.5 * x * x;
                    w + x
                })
                .collect()
        })
        .collect();
    (l, bars)
}

fn node<S>(sensitivity: S) -> NeuralOde<Net, Tsit5, S> {
    NeuralOde::new(net(), (0.0, 1.0), Tsit5, ts())
        .unwrap()
        .tolerances(1e-10, 1e-12)
        .sensitivity(sensitivity)
}

/// The reference every sensitivity method is checked against: forward-mode gradients and central
/// differences of the loss in a few parameters and in `u0`.
struct Reference {
    p: Vec<f64>,
    u0: [f64; 2],
    exact: LossGradient,
    fd_p: Vec<f64>,
    fd_u: Vec<f64>,
}

/// The sensitivity `sensitivity` (a type parameter of the layer) against the reference.
fn check<S: Sensitivity<NeuralField<Net, Vec<f64>>, Tsit5>>(
    r: &Reference,
    name: &str,
    sensitivity: S,
    tol: f64,
) {
    let (p, u0, exact) = (&r.p, r.u0, &r.exact);
    let g = node(sensitivity).loss_and_gradient(&u0, p, loss).unwrap();
    // The forward sensitivity system steps on its own mesh: losses agree to tolerance.
    assert!(
        (g.loss - exact.loss).abs() < 1e-8 * exact.loss.abs(),
        "{name}: loss {} vs {}",
        g.loss,
        exact.loss
    );
    let scale = exact.dp.iter().fold(1.0_f64, |m, x| m.max(x.abs()));
    for (a, b) in
        g.dp.iter()
            .zip(&exact.dp)
            .chain(g.du0.iter().zip(&exact.du0))
    {
        assert!((a - b).abs() < tol * scale, "{name}: {a} vs {b}");
    }
    for (j, fd) in [0, 7, 20, 35, p.len() - 1].iter().zip(&r.fd_p) {
        assert!(
            (g.dp[*j] - fd).abs() < 1e-6 * scale,
            "{name}: dp[{j}] = {} vs fd {fd}",
            g.dp[*j]
        );
    }
    for i in 0..2 {
        assert!(
            (g.du0[i] - r.fd_u[i]).abs() < 1e-6 * scale,
            "{name}: du0[{i}] = {} vs fd {}",
            g.du0[i],
            r.fd_u[i]
        );
    }
}

#[test]
fn every_sensitivity_method_matches_finite_differences() {
    let base = node(ForwardDiffSensitivity);
    let p = base.init_params(3);
    let u0 = [0.8, -0.4];
    // Central differences of the loss in a few parameters and in u0 (tight solves).
    let h = 1e-6;
    let value = |u0: &[f64], p: &[f64]| {
        let sol = base.solve(u0, p).unwrap();
        loss(&sol.t, &sol.u).0
    };
    let fd_p: Vec<f64> = [0, 7, 20, 35, p.len() - 1]
        .iter()
        .map(|&j| {
            let (mut a, mut b) = (p.clone(), p.clone());
            a[j] += h;
            b[j] -= h;
            (value(&u0, &a) - value(&u0, &b)) / (2.0 * h)
        })
        .collect();
    let fd_u: Vec<f64> = (0..2)
        .map(|i| {
            let (mut a, mut b) = (u0, u0);
            a[i] += h;
            b[i] -= h;
            (value(&a, &p) - value(&b, &p)) / (2.0 * h)
        })
        .collect();
    let exact = base.loss_and_gradient(&u0, &p, loss).unwrap();
    let r = Reference {
        p,
        u0,
        exact,
        fd_p,
        fd_u,
    };
    check(&r, "discrete", DiscreteAdjoint::default(), 1e-11);
    let every_3 = DiscreteAdjoint {
        checkpointing: Checkpointing::Every(3),
    };
    check(&r, "discrete, checkpointed", every_3, 1e-11);
    check(&r, "forward", ForwardSensitivity, 1e-7);
    check(&r, "interpolating", InterpolatingAdjoint::default(), 1e-7);
    let checkpointed = InterpolatingAdjoint {
        checkpointing: true,
        ..Default::default()
    };
    check(&r, "interpolating, checkpointed", checkpointed, 1e-7);
    check(&r, "backsolve", BacksolveAdjoint, 1e-7);
    check(&r, "quadrature", QuadratureAdjoint, 1e-7);
    check(&r, "gauss", GaussAdjoint, 1e-7);
    check(&r, "auto", AutoSensitivity, 1e-11);
}

#[test]
fn a_batch_solved_as_one_system_matches_single_solves() {
    let m = net();
    let p = m.initial_params(&mut Xoshiro256pp::new(5));
    let u0s = [[0.5, -0.2], [1.0, 0.3], [-0.7, 0.9]];
    let data: Vec<f64> = u0s.iter().flatten().copied().collect();
    let opts = SolveOptions::default()
        .fixed_step(0.01)
        .saveat(SaveAt::Times(vec![1.0]));
    let field = NeuralField::<Net, Batch<f64>>::new(m.clone(), 3).unwrap();
    assert_eq!(field.dims(), (6, p.len()));
    let mut prob = OdeProblem::new(
        field,
        Batch::new(2, 3, data).unwrap(),
        (0.0, 1.0),
        p.clone(),
    )
    .unwrap();
    let end = prob.solve(Vern7, &opts).unwrap().u.pop().unwrap();
    for (j, u0) in u0s.iter().enumerate() {
        let single = NeuralField::<Net, Vec<f64>>::new(m.clone(), 1).unwrap();
        let mut prob = OdeProblem::new(single, u0.to_vec(), (0.0, 1.0), p.clone()).unwrap();
        let want = prob.solve(Vern7, &opts).unwrap().u.pop().unwrap();
        for i in 0..2 {
            assert!((end.column(j)[i] - want[i]).abs() < 1e-14, "sample {j}");
        }
    }
}

#[test]
fn bad_input_is_rejected() {
    assert!(NeuralOde::new(net(), (0.0, 1.0), Tsit5, vec![]).is_err());
    let wide = Chain::new((
        Dense::new(2, 3, Activation::Tanh),
        Dense::new(3, 1, Activation::Identity),
    ))
    .unwrap();
    let e = NeuralOde::new(wide, (0.0, 1.0), Tsit5, ts()).err().unwrap();
    assert!(
        e.to_string().contains("input and output sizes must agree"),
        "{e}"
    );
    let n = node(AutoSensitivity);
    let p = n.init_params(0);
    assert!(n.solve(&[1.0], &p).is_err());
    assert!(n.solve(&[1.0, 0.0], &p[1..]).is_err());
    assert!(n.solve(&[f64::NAN, 0.0], &p).is_err());
    let e = n
        .loss_and_gradient(&[1.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
            (f64::NAN, us.to_vec())
        })
        .err()
        .unwrap();
    assert!(e.to_string().contains("loss"), "{e}");
}

#[test]
fn batched_gradient_equals_the_sum_of_single_gradients_on_fixed_steps() {
    // With fixed steps the mesh is shared, so the batch solve is exactly the single solves side by
    // side and the batched gradient of a sum of per-sample losses is the sum of their gradients.
    let mut n = NeuralOde::new(net(), (0.0, 1.0), Tsit5, ts())
        .unwrap()
        .sensitivity(DiscreteAdjoint::default());
    *n.options_mut() = n.options_mut().clone().fixed_step(0.05);
    let p = n.init_params(11);
    let u0s = [[0.5, -0.2], [1.0, 0.3]];
    let batch = Batch::new(2, 2, u0s.iter().flatten().copied().collect()).unwrap();
    let g = n
        .loss_and_gradient_batch(&batch, &p, |t: &[f64], us: &[Batch<f64>]| {
            let mut total = 0.0;
            let mut bars = Vec::new();
            for u in us {
                let mut b = Batch::zeros(2, 2);
                for j in 0..2 {
                    let (l, bj) = loss(t, &[u.column(j).to_vec()]);
                    total += l;
                    b.column_mut(j).copy_from_slice(&bj[0]);
                }
                bars.push(b);
            }
            (total, bars)
        })
        .unwrap();
    let mut dp = vec![0.0; p.len()];
    for (j, u0) in u0s.iter().enumerate() {
        // Per-sample losses weigh save k by sin(k + i), as `loss` does for each sample alone.
        let gj = n
            .loss_and_gradient(u0, &p, |t: &[f64], us: &[Vec<f64>]| {
                let mut total = 0.0;
                let bars = us
                    .iter()
                    .map(|u| {
                        let (l, b) = loss(t, std::slice::from_ref(u));
                        total += l;
                        b.into_iter().next().unwrap()
                    })
                    .collect();
                (total, bars)
            })
            .unwrap();
        for (a, b) in dp.iter_mut().zip(&gj.dp) {
            *a += b;
        }
        for i in 0..2 {
            assert!((g.du0.column(j)[i] - gj.du0[i]).abs() < 1e-12);
        }
    }
    for (a, b) in g.dp.iter().zip(&dp) {
        assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let bad = Batch::new(3, 1, vec![0.0; 3]).unwrap();
    assert!(n.solve_batch(&bad, &p).is_err());
}

/// A non-default explicit method with the sensitivity as a type parameter of the layer
/// (`NeuralOde<Net, Vern7, GaussAdjoint>`): the continuous adjoint's gradient agrees with central
/// differences of the loss (step 1e-6, tight solves) in a few parameters and in `u0`.
#[test]
fn an_explicit_method_with_a_typed_sensitivity_matches_central_differences() {
    let node: NeuralOde<Net, Vern7, GaussAdjoint> = NeuralOde::new(net(), (0.0, 1.0), Vern7, ts())
        .unwrap()
        .tolerances(1e-10, 1e-12)
        .sensitivity(GaussAdjoint);
    let p = node.init_params(5);
    let u0 = [0.3, 0.6];
    let g = node.loss_and_gradient(&u0, &p, loss).unwrap();
    let value = |u0: &[f64], p: &[f64]| {
        let sol = node.solve(u0, p).unwrap();
        loss(&sol.t, &sol.u).0
    };
    let h = 1e-6;
    let scale = g.dp.iter().fold(1.0_f64, |m, x| m.max(x.abs()));
    for j in [0, 7, 20, 35, p.len() - 1] {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[j] += h;
        b[j] -= h;
        let fd = (value(&u0, &a) - value(&u0, &b)) / (2.0 * h);
        assert!(
            (g.dp[j] - fd).abs() < 1e-6 * scale,
            "dp[{j}] = {} vs fd {fd}",
            g.dp[j]
        );
    }
    for i in 0..2 {
        let (mut a, mut b) = (u0, u0);
        a[i] += h;
        b[i] -= h;
        let fd = (value(&a, &p) - value(&b, &p)) / (2.0 * h);
        assert!(
            (g.du0[i] - fd).abs() < 1e-6 * scale,
            "du0[{i}] = {} vs fd {fd}",
            g.du0[i]
        );
    }
}
