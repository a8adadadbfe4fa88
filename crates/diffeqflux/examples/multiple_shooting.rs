//! Multiple shooting where single shooting gets stuck: the DiffEqFlux spiral over a long span.
//!
//! Data: du/dt = ((u.^3)ᵀ A)ᵀ, A = [[-0.1, 2.0], [-2.0, -0.1]], u0 = [2, 0], tspan (0, 5)
//! (several turns; the `neural_ode` example fits only (0, 1.5)), 30 points. Model:
//! x -> x.^3 -> Dense(2, 16, tanh) -> Dense(16, 2). Both trainings: Adam(0.05), 500 iterations
//! from the same parameters. Multiple shooting: groups of 3 samples, continuity term 200, each
//! window started from the data (DiffEqFlux's `multiple_shoot`). Printed: the single-shooting
//! loss (squared error over the whole trajectory) of each result.
//!
//! `cargo run --release -p diffeqflux --example multiple_shooting`

use diffeqflux::multiple_shooting::{squared_error, MultipleShooting};
use diffeqflux::nn::{Activation, Chain, Dense, WrappedFunction};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::NeuralOde;
use sciml_ode::Tsit5;
#[path = "common/spiral.rs"]
mod spiral;
use spiral::{spiral_data, Cube};
use std::time::Instant;

const ITERS: usize = 500;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ts, data) = spiral_data(5.0, 30)?;
    let model = Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 16, Activation::Tanh),
        Dense::new(16, 2, Activation::Identity),
    ))?;
    let node = NeuralOde::new(model, (0.0, 5.0), Tsit5, ts.clone())?;
    let u0 = [2.0, 0.0];
    let p0 = node.init_params(0);
    let single = |p: &[f64]| {
        node.loss_and_gradient(&u0, p, |_t: &[f64], us: &[Vec<f64>]| {
            squared_error(&data, us)
        })
    };

    // Single shooting; a step whose solve fails is skipped.
    let start = Instant::now();
    let mut p_ss = p0.clone();
    let mut adam = Adam::new(0.05)?;
    for _ in 0..ITERS {
        if let Ok(g) = single(&p_ss) {
            adam.step(&mut p_ss, &g.dp)?;
        }
    }
    let loss_ss = single(&p_ss).map_or(f64::INFINITY, |g| g.loss);
    println!(
        "single shooting:   final loss {loss_ss:.6} ({:.2} s)",
        start.elapsed().as_secs_f64()
    );

    // Multiple shooting; a failed window (infinite loss) skips the step.
    let start = Instant::now();
    let ms = MultipleShooting::new(node.clone(), ts, data.clone(), 3)?.continuity_term(200.0)?;
    let starts = ms.data_starts();
    let mut p_ms = p0;
    let mut adam = Adam::new(0.05)?;
    let mut failures = 0;
    for _ in 0..ITERS {
        let g = ms.loss_and_gradient(&p_ms, &starts)?;
        match g.failure {
            None => adam.step(&mut p_ms, &g.dp)?,
            Some(_) => failures += 1,
        }
    }
    let loss_ms = single(&p_ms).map_or(f64::INFINITY, |g| g.loss);
    println!(
        "multiple shooting: final loss {loss_ms:.6} ({:.2} s, {} windows, {failures} failed steps)",
        start.elapsed().as_secs_f64(),
        ms.ranges().len()
    );
    Ok(())
}
