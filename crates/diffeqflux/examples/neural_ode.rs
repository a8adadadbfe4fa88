//! The DiffEqFlux README tutorial: learn the spiral du/dt = ((u.^3)ᵀ A)ᵀ with a neural ODE.
//!
//! Data: the true system with A = [[-0.1, 2.0], [-2.0, -0.1]], u0 = [2, 0], tspan (0, 1.5), 30
//! saved points. Model: x -> x.^3 -> Dense(2, 50, tanh) -> Dense(50, 2) (252 parameters). Loss:
//! the sum of squared errors. Training: Adam(0.05) for 300 iterations, then L-BFGS.
//!
//! `cargo run --release -p diffeqflux --example neural_ode` prints the loss every 10 iterations,
//! then `final loss: <value>` and the wall time, and writes `neural_ode.png` (data as markers,
//! prediction as lines; loss curve on the right).

use diffeqflux::nn::{Activation, Chain, Dense, WrappedFunction};
use diffeqflux::optim::{Adam, Convergence, Lbfgs, Minimiser, Optimiser};
use diffeqflux::{plot, NeuralOde};
use sciml_ode::Tsit5;
#[path = "common/spiral.rs"]
mod spiral;
use spiral::{spiral_data, Cube};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    // The data: the true system, solved tightly.
    let (ts, data) = spiral_data(1.5, 30)?;

    let model = Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))?;
    let node = NeuralOde::new(model.clone(), (0.0, 1.5), Tsit5, ts.clone())?;
    // L-BFGS's line search needs a smooth loss: at SciML's default tolerances the adaptive mesh
    // makes the loss jump by ~1e-3 between nearby parameters, so the second stage solves tighter.
    let fine = NeuralOde::new(model, (0.0, 1.5), Tsit5, ts.clone())?.tolerances(1e-6, 1e-8);
    let u0 = [2.0, 0.0];
    let mut p = node.init_params(0);
    println!("{} parameters", p.len());

    let loss_fn = |_t: &[f64], us: &[Vec<f64>]| {
        let mut loss = 0.0;
        let mut bars = Vec::with_capacity(us.len());
        for (u, d) in us.iter().zip(&data) {
            let r: Vec<f64> = u.iter().zip(d).map(|(a, b)| a - b).collect();
            loss += r.iter().map(|x| x * x).sum::<f64>();
            bars.push(r.iter().map(|x| 2.0 * x).collect());
        }
        (loss, bars)
    };

    // Adam, 300 iterations.
    let mut adam = Adam::new(0.05)?;
    let mut losses = Vec::new();
    for iter in 0..300 {
        let g = node.loss_and_gradient(&u0, &p, loss_fn)?;
        losses.push(g.loss);
        if iter % 10 == 0 {
            println!("iteration {iter:4}: loss {:.6}", g.loss);
        }
        adam.step(&mut p, &g.dp)?;
    }
    let adam_loss = node.loss_and_gradient(&u0, &p, loss_fn)?.loss;
    println!("after Adam: loss {adam_loss:.6}");

    // Then L-BFGS; a trial point whose solve fails counts as an infinitely bad step.
    let lbfgs = Lbfgs::new().with_convergence(Convergence::default().with_max_iters(100)?);
    let report = lbfgs.minimise(&p, |x, grad| {
        Ok(match fine.loss_and_gradient(&u0, x, loss_fn) {
            Ok(g) => {
                grad.copy_from_slice(&g.dp);
                losses.push(g.loss);
                g.loss
            }
            Err(_) => f64::INFINITY,
        })
    })?;
    println!(
        "L-BFGS: {:?} after {} iterations, loss {:.6}",
        report.termination, report.iterations, report.loss
    );
    p = report.params;
    let sol = fine.solve(&u0, &p)?;
    let final_loss = loss_fn(&sol.t, &sol.u).0;
    let png = std::path::Path::new("neural_ode.png");
    plot::training_figure(png, &ts, &data, &sol.u, &losses)?;
    println!("wrote {}", png.display());
    println!("final loss: {final_loss:.6}");
    println!("wall time: {:.3} s", start.elapsed().as_secs_f64());
    Ok(())
}
