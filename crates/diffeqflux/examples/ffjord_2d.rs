//! A continuous normalizing flow (FFJORD) learns the two-moons density of the W5 workload.
//!
//! Data: two moons (noise 0.1, shifted by (0.5, 0.25) and scaled by (0.87, 0.5), as
//! `shared/peers/w5_ffjord.py` makes them), a fresh batch of 512 samples per iteration. Model:
//! dz/dt = MLP([z, t]), Dense(3, 64, tanh)-Dense(64, 64, tanh)-Dense(64, 2); exact trace by
//! default (`--hutchinson` for Gaussian probes); Dp5 at rtol = atol = 1e-5; gradients by the
//! discrete adjoint; Adam.
//!
//! `cargo run --release -p diffeqflux --example ffjord_2d -- [iterations] [--hutchinson]`
//! (default 300 iterations, learning rate 5e-3) prints the negative log-likelihood every 25
//! iterations, the final one on a held-out batch of 2048, and writes `ffjord_2d.png`: that
//! batch (left), the learned density on a grid (middle) and samples from the flow (right).

use diffeqflux::neural_de::{Ffjord, FfjordDistribution, ProbeKind, Trace};
use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::plot::{colors, Canvas, Panel};
use sciml_core::{rng::Xoshiro256pp, Batch};
use sciml_ode::Dp5;
use std::f64::consts::PI;
use std::path::Path;
use std::time::Instant;

/// `n` two-moons samples, standardised as the W5 workload does.
fn two_moons(rng: &mut Xoshiro256pp, n: usize) -> Result<Batch<f64>, sciml_core::Error> {
    let mut x = Vec::with_capacity(2 * n);
    for i in 0..n {
        let a = rng.uniform_range(0.0, PI);
        let (px, py) = if i < n / 2 {
            (a.cos(), a.sin())
        } else {
            (1.0 - a.cos(), 0.5 - a.sin())
        };
        x.push((px + 0.1 * rng.normal() - 0.5) / 0.87);
        x.push((py + 0.1 * rng.normal() - 0.25) / 0.5);
    }
    Batch::new(2, n, x)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iters: usize = match args.iter().find(|a| !a.starts_with("--")) {
        Some(a) => a.parse()?,
        None => 300,
    };
    let trace = if args.iter().any(|a| a == "--hutchinson") {
        Trace::Hutchinson(ProbeKind::Gaussian)
    } else {
        Trace::Exact
    };
    let net = Chain::new((
        Dense::new(3, 64, Activation::Tanh),
        Dense::new(64, 64, Activation::Tanh),
        Dense::new(64, 2, Activation::Identity),
    ))?;
    let flow = Ffjord::new(net, (0.0, 1.0), Dp5)?
        .trace(trace)
        .tolerances(1e-5, 1e-5);
    let mut p = flow.init_params(0);
    let mut adam = Adam::new(5e-3)?;
    let mut data_rng = Xoshiro256pp::new(0);
    let mut probe_rng = Xoshiro256pp::new(1);
    let start = Instant::now();
    for it in 0..iters {
        let x = two_moons(&mut data_rng, 512)?;
        let g = flow.loss_and_gradient(&x, &p, &mut probe_rng)?;
        adam.step(&mut p, &g.dp)?;
        if it % 25 == 0 || it + 1 == iters {
            println!(
                "iteration {it:4}: nll {:.4} (forward nfe {}, backward nfe {})",
                g.nll, g.forward.nf, g.backward.nf
            );
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let held_out = two_moons(&mut Xoshiro256pp::new(99), 2048)?;
    let dist = FfjordDistribution::new(flow, p)?;
    let nll = -dist.log_pdf(&held_out)?.iter().sum::<f64>() / 2048.0;
    println!("final negative log-likelihood (held-out, exact trace): {nll:.4}");
    println!(
        "{iters} iterations in {elapsed:.1} s ({:.1} ms per iteration)",
        1e3 * elapsed / iters.max(1) as f64
    );

    // Figure: data, density on a 60 × 60 grid, samples.
    let lim = (-3.0, 3.0);
    let cells = 60;
    let mut grid = Vec::with_capacity(2 * cells * cells);
    for j in 0..cells {
        for i in 0..cells {
            let c = |k: usize| lim.0 + (lim.1 - lim.0) * (k as f64 + 0.5) / cells as f64;
            grid.push(c(i));
            grid.push(c(j));
        }
    }
    let dens = dist.pdf(&Batch::new(2, cells * cells, grid.clone())?)?;
    let dmax = dens.iter().cloned().fold(1e-12, f64::max);
    let samples = dist.sample(1000, &mut Xoshiro256pp::new(5))?;
    let mut canvas = Canvas::new(1200, 420);
    let left = Panel::new(&mut canvas, (20.0, 20.0, 370.0, 370.0), lim, lim, false);
    for b in 0..held_out.batch_size() {
        let s = held_out.column(b);
        canvas.dot(left.map(s[0], s[1]), 1.5, colors::BLUE);
    }
    let mid = Panel::new(&mut canvas, (415.0, 20.0, 370.0, 370.0), lim, lim, false);
    // Cells overlap a little so the grid leaves no white gaps (the panel pads its limits 5%).
    let half_cell = 0.75 * 370.0 / 1.1 / cells as f64;
    for (k, d) in dens.iter().enumerate() {
        let shade = (255.0 * (1.0 - (d / dmax).sqrt())) as u8;
        canvas.dot(
            mid.map(grid[2 * k], grid[2 * k + 1]),
            half_cell,
            [shade, shade, 255],
        );
    }
    let right = Panel::new(&mut canvas, (810.0, 20.0, 370.0, 370.0), lim, lim, false);
    for b in 0..samples.batch_size() {
        let s = samples.column(b);
        canvas.dot(right.map(s[0], s[1]), 1.5, colors::ORANGE);
    }
    canvas.save_png(Path::new("ffjord_2d.png"))?;
    println!("wrote ffjord_2d.png (data, learned density, samples)");
    Ok(())
}
