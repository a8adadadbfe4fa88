//! DiffEqFlux's neural SDE tutorial: fit the mean and variance of a noisy spiral with a NeuralDSDE.
//!
//! Data: du = ((u.^3)ᵀ A)ᵀ dt + 0.2 u ⊙ dW (Itô), A = [[-0.1, 2.0], [-2.0, -0.1]], u0 = [2, 0],
//! tspan (0, 1), 30 saved points; the targets are the mean and variance over 10,000 paths
//! (SRIW1, dt = 1/232). Model: drift u -> u.^3 -> Dense(2, 50, tanh) -> Dense(50, 2), diffusion
//! Dense(2, 2); Euler–Maruyama with dt = 1/116. Loss: Σ (mean − target mean)² + Σ (var − target
//! var)² over the saved points, with moments over 100 paths (fresh paths every iteration);
//! gradients by the discrete adjoint. Training: Adam(0.025), 300 iterations.
//!
//! `cargo run --release -p diffeqflux --example neural_sde` prints the training loss every 20
//! iterations and, at the end, the loss of the initial and the trained model on the same 1,000
//! evaluation paths, their ratio and the wall time.

use diffeqflux::nn::{Activation, Chain, Dense, ElementwiseFn, WrappedFunction};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::NeuralDsde;
use sciml_core::Scalar;
use sciml_sde::{
    solve_trajectories, EnsembleSummary, FnSde, Method, Noise, SdeOptions, SdeProblem,
};
use std::time::Instant;

/// `x ↦ x³`, elementwise, with its derivative.
#[derive(Clone, Copy, Debug)]
struct Cube;
impl ElementwiseFn for Cube {
    fn f<S: Scalar>(&self, x: S) -> S {
        x * x * x
    }
    fn df<S: Scalar>(&self, x: S) -> S {
        x * x * S::cst(3.0)
    }
}

const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];

/// Moment-matching loss over a batch and its cotangents.
fn moment_loss(
    us: &[Vec<f64>],
    batch: usize,
    mean: &[Vec<f64>],
    var: &[Vec<f64>],
) -> (f64, Vec<Vec<f64>>) {
    let n = 2;
    let bf = batch as f64;
    let mut loss = 0.0;
    let mut cot = Vec::with_capacity(us.len());
    for (k, u) in us.iter().enumerate() {
        let mut c = vec![0.0; u.len()];
        for i in 0..n {
            let m = (0..batch).map(|b| u[b * n + i]).sum::<f64>() / bf;
            let v = (0..batch).map(|b| (u[b * n + i] - m).powi(2)).sum::<f64>() / (bf - 1.0);
            let (em, ev) = (m - mean[k][i], v - var[k][i]);
            loss += em * em + ev * ev;
            for b in 0..batch {
                c[b * n + i] = 2.0 * em / bf + 2.0 * ev * 2.0 * (u[b * n + i] - m) / (bf - 1.0);
            }
        }
        cot.push(c);
    }
    (loss, cot)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let ts: Vec<f64> = (0..30).map(|i| i as f64 / 29.0).collect();

    // Targets: mean and variance of the true SDE over 10,000 paths.
    let truth = FnSde::new(
        2,
        0,
        Noise::Diagonal,
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
            let (a, b) = (u[0].powi(3), u[1].powi(3));
            du[0] = a * A[0][0] + b * A[1][0];
            du[1] = a * A[0][1] + b * A[1][1];
        },
        |_t: f64, u: &[f64], _p: &[f64], g: &mut [f64]| {
            g[0] = 0.2 * u[0];
            g[1] = 0.2 * u[1];
        },
    );
    let prob = SdeProblem::new(truth, vec![2.0, 0.0], (0.0, 1.0), vec![])?;
    let opts = SdeOptions::fixed(1.0 / 232.0).saveat(ts.clone()).seed(1);
    let sols = solve_trajectories(&prob, Method::Sriw1, &opts, 10_000)?;
    let target = EnsembleSummary::new(&sols, &[])?;
    println!(
        "targets from 10,000 paths in {:.2} s; final mean {:?}, variance {:?}",
        start.elapsed().as_secs_f64(),
        target.mean[29],
        target.variance[29]
    );

    let drift = Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))?;
    let diffusion = Dense::new(2, 2, Activation::Identity);
    let sde = NeuralDsde::new(drift, diffusion, (0.0, 1.0), 1.0 / 116.0, ts.clone())?;
    let mut p = sde.init_params(0);
    println!("{} parameters", p.len());

    let batch = 100;
    let u0 = [2.0, 0.0].repeat(batch);
    let (mean, var) = (&target.mean, &target.variance);
    // The same 1,000 evaluation paths before and after training.
    let eval_batch = 1000;
    let u0_eval = [2.0, 0.0].repeat(eval_batch);
    let evaluate = |p: &[f64]| -> Result<f64, Box<dyn std::error::Error>> {
        let sol = sde.solve_batch(&u0_eval, eval_batch, p, 999_999)?;
        Ok(moment_loss(&sol.u, eval_batch, mean, var).0)
    };
    let initial = evaluate(&p)?;

    let mut adam = Adam::new(0.025)?;
    for iter in 0..300 {
        let g = sde.loss_and_gradient_batch(&u0, batch, &p, iter as u64, |_ts, us| {
            moment_loss(us, batch, mean, var)
        })?;
        if iter % 20 == 0 {
            println!("iteration {iter:4}: loss {:.6}", g.loss);
        }
        adam.step(&mut p, &g.dp)?;
    }
    let fin = evaluate(&p)?;
    println!("evaluation loss (1,000 paths): initial {initial:.6}, trained {fin:.6}");
    println!("loss reduced {:.1}x", initial / fin);
    println!("final loss: {fin:.6}");
    println!("wall time: {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
