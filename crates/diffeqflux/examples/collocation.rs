//! Collocation on the DiffEqFlux spiral: fit the neural ODE's vector field to derivative
//! estimates without solving, then refine by a few solver-based (single-shooting) iterations.
//! Against it: single shooting alone from the same start, timed until it reaches the loss the
//! collocation stage reached.
//!
//! Data: du/dt = ((u.^3)ᵀ A)ᵀ, A = [[-0.1, 2.0], [-2.0, -0.1]], u0 = [2, 0], tspan (0, 1.5), 30
//! points (the `neural_ode` example). Model: x -> x.^3 -> Dense(2, 50, tanh) -> Dense(50, 2).
//! Losses are sums of squared errors over the trajectory (single-shooting loss). The printed
//! speed-up is one run's wall-time ratio, not a benchmark.
//!
//! `cargo run --release -p diffeqflux --example collocation`

use diffeqflux::collocation::{collocate_data, CollocationLoss, Kernel};
use diffeqflux::nn::{Activation, Chain, Dense, WrappedFunction};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::NeuralOde;
use sciml_ode::Tsit5;
#[path = "common/spiral.rs"]
mod spiral;
use spiral::{spiral_data, Cube};
use std::time::Instant;

/// Collocation iterations: a warm start, not a fit to convergence. Tried 100, 300, 600 and
/// 2000 (debug build): the refined loss and the speed-up over single shooting alone depend
/// strongly on this number (6.4x, 2.2x, ~1x, 0.5x); more collocation iterations fit the
/// derivative estimates' errors too.
const COLLOCATION_ITERS: usize = 100;
const REFINE_ITERS: usize = 100;
const MAX_SINGLE: usize = 5000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ts, data) = spiral_data(1.5, 30)?;
    let model = Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))?;
    let node = NeuralOde::new(model.clone(), (0.0, 1.5), Tsit5, ts.clone())?;
    let u0 = [2.0, 0.0];
    let p0 = node.init_params(0);
    let trajectory = |p: &[f64]| {
        node.loss_and_gradient(&u0, p, |_t: &[f64], us: &[Vec<f64>]| {
            diffeqflux::multiple_shooting::squared_error(&data, us)
        })
    };

    // Stage 1: collocation (no solve), Adam(0.05). The bandwidth is smaller than the default
    // rule's (0.36 of the span at 30 points, made for noisy data): these data are exact.
    let start = Instant::now();
    let c = collocate_data(&data, &ts, Kernel::Epanechnikov, Some(0.08))?;
    let loss = CollocationLoss::new(&c)?;
    let mut p = p0.clone();
    let mut adam = Adam::new(0.05)?;
    for _ in 0..COLLOCATION_ITERS {
        let (_, g) = loss.loss_and_gradient(&model, &p)?;
        adam.step(&mut p, &g)?;
    }
    let t_colloc = start.elapsed().as_secs_f64();
    let colloc_fit = loss.loss(&model, &p)?;
    let l_colloc = trajectory(&p).map_or(f64::INFINITY, |g| g.loss);
    println!(
        "stage 1, collocation: {COLLOCATION_ITERS} iterations in {t_colloc:.4} s; collocation loss {colloc_fit:.6}, \
         trajectory loss {l_colloc:.6}"
    );

    // Stage 2: 100 single-shooting iterations from the collocation result.
    let start = Instant::now();
    let mut adam = Adam::new(0.01)?;
    for _ in 0..REFINE_ITERS {
        let g = trajectory(&p)?;
        adam.step(&mut p, &g.dp)?;
    }
    let t_refine = start.elapsed().as_secs_f64();
    let l_refine = trajectory(&p)?.loss;
    println!(
        "stage 2, single shooting: {REFINE_ITERS} iterations in {t_refine:.4} s; trajectory loss \
         {l_refine:.6}"
    );

    // Single shooting alone, Adam(0.05) from the same start, until it reaches the loss of the
    // two stages together.
    let target = l_refine;
    let t_both = t_colloc + t_refine;
    let start = Instant::now();
    let mut q = p0;
    let mut adam = Adam::new(0.05)?;
    let mut reached = None;
    for iter in 0..MAX_SINGLE {
        let g = trajectory(&q)?;
        if g.loss <= target {
            reached = Some((iter, start.elapsed().as_secs_f64()));
            break;
        }
        adam.step(&mut q, &g.dp)?;
    }
    match reached {
        Some((iters, t)) => println!(
            "single shooting alone reached trajectory loss {target:.6} after {iters} iterations \
             in {t:.4} s; collocation + refinement took {t_both:.4} s ({:.1}x faster)",
            t / t_both
        ),
        None => println!(
            "single shooting alone did not reach trajectory loss {target:.6} in {MAX_SINGLE} \
             iterations ({:.4} s, final loss {:.6}); collocation + refinement took {t_both:.4} s",
            start.elapsed().as_secs_f64(),
            trajectory(&q)?.loss
        ),
    }
    Ok(())
}
