//! NeuralOdeMm: a network for the differential rows, algebraic constraints under a singular mass
//! matrix. Forward-mode gradients against central differences, the discrete adjoint against
//! forward mode, bad input, and DiffEqFlux's
//! neural_ode_mm test (Robertson with u1 + u2 + u3 = 1) as an acceptance case.

#![allow(clippy::unwrap_used)]

use diffeqflux::neural_de::{Constraints, NeuralOdeMm};
use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::optim::{Bfgs, Convergence, Minimiser};
use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, Scalar};
use sciml_ode::{OdeProblem, Rodas5P, SaveAt, SolveOptions};

/// u1 + u2 + u3 − 1 = 0: Robertson's conservation law.
#[derive(Clone)]
struct Conservation;
impl Constraints for Conservation {
    fn len(&self) -> usize {
        1
    }
    fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
        out[0] = u[0] + u[1] + u[2] - S::cst(1.0);
    }
}

/// diag(1, 1, 0): two differential rows, one algebraic.
fn mass() -> DenseMatrix<f64> {
    let mut m = DenseMatrix::zeros(3, 3);
    m[(0, 0)] = 1.0;
    m[(1, 1)] = 1.0;
    m
}

fn model(hidden: usize) -> Chain<(Dense, Dense)> {
    Chain::new((
        Dense::new(3, hidden, Activation::Tanh),
        Dense::new(hidden, 2, Activation::Identity),
    ))
    .unwrap()
}

fn sum_squares(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let loss = us.iter().flatten().map(|x| x * x).sum();
    (
        loss,
        us.iter()
            .map(|u| u.iter().map(|x| 2.0 * x).collect())
            .collect(),
    )
}

#[test]
fn forward_mode_gradient_matches_central_differences() {
    let layer = NeuralOdeMm::new(
        model(4),
        Conservation,
        (0.0, 1.0),
        mass(),
        Rodas5P::new(),
        vec![0.25, 0.5, 1.0],
    )
    .unwrap()
    .tolerances(1e-10, 1e-12);
    let p = layer.init_params(3);
    let u0 = [0.6, 0.3, 0.1];
    let g = layer.loss_and_gradient(&u0, &p, sum_squares).unwrap();
    let loss_at = |u0: &[f64], p: &[f64]| {
        let sol = layer.solve(u0, p).unwrap();
        sum_squares(&sol.t, &sol.u).0
    };
    assert!((g.loss - loss_at(&u0, &p)).abs() < 1e-14);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for i in 0..p.len() {
        let (mut pp, mut pm) = (p.clone(), p.clone());
        pp[i] += h;
        pm[i] -= h;
        let fd = (loss_at(&u0, &pp) - loss_at(&u0, &pm)) / (2.0 * h);
        let err = (g.dp[i] - fd).abs() / fd.abs().max(1.0);
        worst = worst.max(err);
    }
    // The differential components: a perturbed start is off the constraint by h, and the first
    // Rodas5P step puts u3 back on it, in the dual solves as in the perturbed ones.
    for i in 0..2 {
        let (mut up, mut um) = (u0, u0);
        up[i] += h;
        um[i] -= h;
        let fd = (loss_at(&up, &p) - loss_at(&um, &p)) / (2.0 * h);
        let err = (g.du0[i] - fd).abs() / fd.abs().max(1.0);
        worst = worst.max(err);
    }
    eprintln!("worst relative gradient error vs central differences: {worst:.2e}");
    assert!(worst < 1e-5, "worst relative error {worst:.2e}");
    assert!(g.dp.iter().any(|x| x.abs() > 1e-3));
}

#[test]
fn discrete_adjoint_equals_forward_mode_on_the_layer() {
    // The same derivative of the same computed solution (same mesh, saves inside steps), once
    // by one reverse sweep through the Rodas5P steps with M = diag(1, 1, 0) and once by dual
    // numbers: agreement to rounding, relative to the gradient's size.
    use sciml_sensitivity::DiscreteAdjoint;
    let layer = NeuralOdeMm::new(
        model(4),
        Conservation,
        (0.0, 1.0),
        mass(),
        Rodas5P::new(),
        vec![0.25, 0.5, 1.0],
    )
    .unwrap()
    .tolerances(1e-8, 1e-10);
    let p = layer.init_params(5);
    let u0 = [0.6, 0.3, 0.1];
    let fwd = layer.loss_and_gradient(&u0, &p, sum_squares).unwrap();
    let adjoint = layer.sensitivity(DiscreteAdjoint::default());
    let adj = adjoint.loss_and_gradient(&u0, &p, sum_squares).unwrap();
    let (a, f): (Vec<f64>, Vec<f64>) = (
        adj.du0.iter().chain(&adj.dp).copied().collect(),
        fwd.du0.iter().chain(&fwd.dp).copied().collect(),
    );
    assert!(a.iter().all(|x| x.is_finite()), "{a:?}");
    let scale = f.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let diff = a
        .iter()
        .zip(&f)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()));
    eprintln!(
        "adjoint vs forward mode: max |difference| / max |gradient| = {:.2e} ({} steps)",
        diff / scale,
        fwd.forward.accepted
    );
    assert!(scale > 1e-3);
    assert!(diff / scale < 1e-10, "{:e}", diff / scale);
    assert_eq!(adj.loss, fwd.loss);
    // The ESDIRK methods have no mass-matrix reverse step: a clear error, not a wrong gradient.
    let esdirk = NeuralOdeMm::new(
        model(4),
        Conservation,
        (0.0, 1.0),
        mass(),
        sciml_ode::KenCarp4::new(),
        vec![1.0],
    )
    .unwrap()
    .sensitivity(DiscreteAdjoint::default());
    let err = esdirk
        .loss_and_gradient(&u0, &p, sum_squares)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("mass matrix"), "{err}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let layer = |m: DenseMatrix<f64>, hidden_out: usize| {
        NeuralOdeMm::new(
            Chain::new((
                Dense::new(3, 4, Activation::Tanh),
                Dense::new(4, hidden_out, Activation::Identity),
            ))
            .unwrap(),
            Conservation,
            (0.0, 1.0),
            m,
            Rodas5P::new(),
            vec![1.0],
        )
    };
    let err = layer(DenseMatrix::zeros(2, 2), 2)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("mass_matrix") && err.contains("3×3"), "{err}");
    let err = layer(mass(), 3).err().unwrap().to_string();
    assert!(
        err.contains("3 outputs") && err.contains("state size 3"),
        "{err}"
    );
    let mut m = mass();
    m[(2, 0)] = 1.0;
    let err = layer(m, 2).err().unwrap().to_string();
    assert!(
        err.contains("row 2") && err.contains("must be zero"),
        "{err}"
    );
    assert!(layer(mass(), 2).is_ok());
}

/// Robertson's kinetics in the mass-matrix form of DiffEqFlux's neural_ode_mm test
/// (k1 = 0.04, k2 = 3e7, k3 = 1e4; Robertson 1966), the source of the training data.
struct RobertsonMm;
impl GenericRhs for RobertsonMm {
    fn dims(&self) -> (usize, usize) {
        (3, 0)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        let (k1, k2, k3) = (S::cst(0.04), S::cst(3e7), S::cst(1e4));
        du[0] = -k1 * u[0] + k3 * u[1] * u[2];
        du[1] = k1 * u[0] - k3 * u[1] * u[2] - k2 * u[1] * u[1];
        du[2] = u[0] + u[1] + u[2] - S::cst(1.0);
    }
}

/// DiffEqFlux's neural_ode_mm test: Robertson on (0, 1) saved every 0.1, model
/// Dense(3,64,tanh)-Dense(64,2), constraint u1 + u2 + u3 − 1 = 0, trained by BFGS on the squared
/// error to the data, at most 100 BFGS iterations as there (each gradient is 3 + 386 dual-number
/// solves; BFGS stops after 41 iterations at a loss of 6e-9, where its line search no longer
/// finds a decrease, some 12 s in the test profile).
/// The loss must fall by three orders of magnitude and the constraint hold at every saved point
/// of every solve to the solver's tolerance.
#[test]
fn robertson_acceptance_loss_decreases_and_constraint_holds() {
    let saveat: Vec<f64> = (0..=10).map(|i| 0.1 * i as f64).collect();
    let u0 = [1.0, 0.0, 0.0];
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(saveat.clone()));
    let data = OdeProblem::new(ForwardAd::new(RobertsonMm), u0.to_vec(), (0.0, 1.0), vec![])
        .unwrap()
        .with_mass_matrix(mass())
        .unwrap()
        .solve(Rodas5P::new(), &opts)
        .unwrap()
        .u;
    let (rtol, atol) = (1e-6, 1e-8);
    let layer = NeuralOdeMm::new(
        model(64),
        Conservation,
        (0.0, 1.0),
        mass(),
        Rodas5P::new(),
        saveat,
    )
    .unwrap()
    .tolerances(rtol, atol);
    let p0 = layer.init_params(0);
    let mut worst_violation: f64 = 0.0;
    let bfgs = Bfgs::new().with_convergence(Convergence::default().with_max_iters(100).unwrap());
    let report = bfgs
        .minimise(&p0, |p, grad| {
            let g = layer.loss_and_gradient(&u0, p, |_t: &[f64], us: &[Vec<f64>]| {
                for u in us {
                    worst_violation = worst_violation.max((u[0] + u[1] + u[2] - 1.0).abs());
                }
                let loss = us
                    .iter()
                    .zip(&data)
                    .flat_map(|(u, d)| u.iter().zip(d).map(|(a, b)| (a - b) * (a - b)))
                    .sum();
                let ubar = us
                    .iter()
                    .zip(&data)
                    .map(|(u, d)| u.iter().zip(d).map(|(a, b)| 2.0 * (a - b)).collect())
                    .collect();
                (loss, ubar)
            })?;
            grad.copy_from_slice(&g.dp);
            Ok(g.loss)
        })
        .unwrap();
    let (first, last) = (report.loss_history[0], report.loss);
    eprintln!(
        "loss {first:.4e} -> {last:.4e} in {} iterations; worst constraint violation {worst_violation:.2e}",
        report.iterations
    );
    assert!(last < 1e-3 * first, "loss {first} -> {last}");
    // The constraint is a row of the system the method solves at every step: it holds to the
    // solver's absolute tolerance at every saved point (interpolated ones included).
    assert!(
        worst_violation < atol,
        "constraint violation {worst_violation:.2e}"
    );
}
