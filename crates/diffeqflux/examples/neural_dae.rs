//! A neural DAE in mass-matrix form (`NeuralOdeMm`) trained on Robertson's kinetics, the setting
//! of DiffEqFlux's neural_ode_mm test: data from Robertson (k1 = 0.04, k2 = 3e7, k3 = 1e4) with
//! the conservation law as its algebraic row, saved every 0.1 on (0, 1); the model
//! Dense(3,64,tanh)-Dense(64,2) gives u1′ and u2′, and the constraint u1 + u2 + u3 − 1 = 0 gives
//! u3; BFGS (at most 100 iterations) on the squared error, with forward-mode gradients.
//!
//! Then the same training with `NeuralDae`, the residual form `[u′_1,2 − model(u); u1 + u2 +
//! u3 − 1]` solved by sciml-dae's BDF (the start made consistent by BrownFullBasicInit), with
//! gradients by its forward sensitivities.
//!
//! `cargo run --release -p diffeqflux --example neural_dae` prints, for each layer, the loss
//! before and after, the iterations, and the worst violation of the constraint over every solve
//! of the training.

use diffeqflux::neural_de::{Constraints, NeuralDae, NeuralOdeMm};
use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::optim::{Bfgs, Convergence, Minimiser};
use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, Scalar};
use sciml_dae::DaeInit;
use sciml_ode::{OdeProblem, Rodas5P, SaveAt, SolveOptions};

/// u1 + u2 + u3 − 1 = 0.
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

/// Robertson's kinetics with the conservation law as the third row (mass matrix diag(1, 1, 0)).
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mass = DenseMatrix::zeros(3, 3);
    mass[(0, 0)] = 1.0;
    mass[(1, 1)] = 1.0;
    let saveat: Vec<f64> = (0..=10).map(|i| 0.1 * i as f64).collect();
    let u0 = [1.0, 0.0, 0.0];
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(saveat.clone()));
    let data = OdeProblem::new(ForwardAd::new(RobertsonMm), u0.to_vec(), (0.0, 1.0), vec![])?
        .with_mass_matrix(mass.clone())?
        .solve(Rodas5P::new(), &opts)?
        .u;
    let model = Chain::new((
        Dense::new(3, 64, Activation::Tanh),
        Dense::new(64, 2, Activation::Identity),
    ))?;
    let layer = NeuralOdeMm::new(
        model,
        Conservation,
        (0.0, 1.0),
        mass,
        Rodas5P::new(),
        saveat,
    )?
    .tolerances(1e-6, 1e-8);
    let mut worst_violation: f64 = 0.0;
    let bfgs = Bfgs::new().with_convergence(Convergence::default().with_max_iters(100)?);
    let report = bfgs.minimise(&layer.init_params(0), |p, grad| {
        let g = layer.loss_and_gradient(&u0, p, |_t: &[f64], us: &[Vec<f64>]| {
            squared_error(us, &data, &mut worst_violation)
        })?;
        grad.copy_from_slice(&g.dp);
        Ok(g.loss)
    })?;
    print_report("NeuralOdeMm (Rodas5P)", &report, worst_violation);

    // The same model as a residual-form neural DAE.
    let model = Chain::new((
        Dense::new(3, 64, Activation::Tanh),
        Dense::new(64, 2, Activation::Identity),
    ))?;
    let saveat: Vec<f64> = (0..=10).map(|i| 0.1 * i as f64).collect();
    let dae = NeuralDae::new(
        model,
        Conservation,
        (0.0, 1.0),
        vec![true, true, false],
        saveat,
    )?
    .tolerances(1e-6, 1e-8)
    .init(DaeInit::BrownFullBasicInit);
    let mut worst_violation: f64 = 0.0;
    let report = bfgs.minimise(&dae.init_params(0), |p, grad| {
        let g = dae.loss_and_gradient(&u0, &[0.0; 3], p, |_t: &[f64], us: &[Vec<f64>]| {
            squared_error(us, &data, &mut worst_violation)
        })?;
        grad.copy_from_slice(&g.dp);
        Ok(g.loss)
    })?;
    print_report("NeuralDae (DaeBdf)", &report, worst_violation);
    Ok(())
}

/// The squared error against the data and its cotangents; records the worst violation of the
/// conservation law among the saved states.
fn squared_error(us: &[Vec<f64>], data: &[Vec<f64>], worst: &mut f64) -> (f64, Vec<Vec<f64>>) {
    for u in us {
        *worst = worst.max((u[0] + u[1] + u[2] - 1.0).abs());
    }
    let loss = us
        .iter()
        .zip(data)
        .flat_map(|(u, d)| u.iter().zip(d).map(|(a, b)| (a - b) * (a - b)))
        .sum();
    let ubar = us
        .iter()
        .zip(data)
        .map(|(u, d)| u.iter().zip(d).map(|(a, b)| 2.0 * (a - b)).collect())
        .collect();
    (loss, ubar)
}

fn print_report(name: &str, report: &diffeqflux::optim::MinimiseReport, worst: f64) {
    println!(
        "{name}: loss {:.4e} -> {:.4e} in {} BFGS iterations ({:?}, {:.2?})",
        report.loss_history[0],
        report.loss,
        report.iterations,
        report.termination,
        report.wall_time
    );
    println!("{name}: worst constraint violation over all solves: {worst:.2e} (atol 1e-8)");
}
