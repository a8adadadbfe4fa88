//! Workload W5: time per training iteration of the FFJORD two-moons flow of
//! `shared/peers/w5_ffjord.py` (batch 512, MLP [z, t] 3-64-64-2 tanh, Dp5 at rtol = atol = 1e-5,
//! discrete adjoint, Adam(1e-3)), for the exact trace and Hutchinson's estimator (Gaussian
//! probes), in f32 (the peers' dtype; the first row is the reference of `cargo xtask bench W5`)
//! and in f64.
//!
//! Each configuration trains from the same initial parameters on the same data stream. Prints
//! one JSON line per configuration: median and spread (min, max) of the seconds per iteration
//! after one warm-up iteration, function evaluations per iteration (`nfe`: forward RHS
//! evaluations plus the backward pass's VJPs and replayed stages; `nfe_forward` alone), the loss
//! of the last iteration (`final_loss`, before its Adam step) and the time of one VJP of the
//! augmented field at batch 512 (best of 30). One thread; built with the `rayon` feature
//! (`--features rayon`) and more than one rayon thread, two more f32 rows split the batch over
//! every thread (`Ffjord::batch_parts`).
//!
//! `cargo run --release -p diffeqflux --example bench_w5_ffjord` (`W5_ITERS`, default 10;
//! `W5_ONLY=f32` or `W5_ONLY=f64` runs the rows of one scalar type, `W5_TRACE=exact` or
//! `W5_TRACE=hutchinson` those of one trace; `W5_MEM=bytes` sets
//! `Ffjord::forward_memory`, default 64 MiB, `W5_MEM=0` repeats the forward passes in the reverse
//! sweep as before it existed).

use diffeqflux::neural_de::{Ffjord, FfjordField, ProbeKind, Trace};
use diffeqflux::nn::{Activation, Chain, Dense, Layer};
use diffeqflux::optim::{Adam, Optimiser};
use sciml_core::{rng::Xoshiro256pp, Batch, Real, Vjp};
use sciml_ode::Dp5;
use std::f64::consts::PI;
use std::time::Instant;

type Mlp = Chain<(Dense, Dense, Dense)>;

/// `n` two-moons samples, standardised as the W5 workload does.
fn two_moons<R: Real>(rng: &mut Xoshiro256pp, n: usize) -> Result<Batch<R>, sciml_core::Error> {
    let mut x = Vec::with_capacity(2 * n);
    for i in 0..n {
        let a = rng.uniform_range(0.0, PI);
        let (px, py) = if i < n / 2 {
            (a.cos(), a.sin())
        } else {
            (1.0 - a.cos(), 0.5 - a.sin())
        };
        x.push(R::c((px + 0.1 * rng.normal() - 0.5) / 0.87));
        x.push(R::c((py + 0.1 * rng.normal() - 0.25) / 0.5));
    }
    Batch::new(2, n, x)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        })
}

/// Seconds of one VJP of the augmented field at batch 512, in `R` (best of 30 pairs).
fn field_vjp_seconds<L: Layer, R: Real>(
    net: L,
    trace: Trace,
    p: &[R],
    threads: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let batch = 512;
    let mut field =
        FfjordField::<_, Batch<R>>::new(net, batch, trace, false)?.split_batch(threads)?;
    field.draw_probes(&mut Xoshiro256pp::new(3));
    let mut rng = Xoshiro256pp::new(4);
    let m = field.features();
    let mut col = || -> Vec<R> { (0..m * batch).map(|_| R::c(rng.normal())).collect() };
    let (u, w) = (Batch::new(m, batch, col())?, Batch::new(m, batch, col())?);
    let mut gu = Batch::new(m, batch, vec![R::c(0.0); m * batch])?;
    let mut gp = vec![R::c(0.0); p.len()];
    let p = p.to_vec();
    let mut samples = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        for _ in 0..2 {
            field.vjp(R::c(0.3), &u, &p, &w, &mut gu, &mut gp);
        }
        samples.push(t.elapsed().as_secs_f64() / 2.0);
    }
    // The best of 30: on a shared machine the minimum is the repeatable statistic.
    Ok(spread(&samples).0)
}

/// Trains `iters` iterations in `R` with the batch in `threads` parts (one per thread) and
/// prints the configuration's JSON line.
fn run<R: Real>(
    net: &Mlp,
    name: &str,
    trace: Trace,
    iters: usize,
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let flow = Ffjord::new_in::<R>(net.clone(), (0.0, 1.0), Dp5)?
        .trace(trace)
        .tolerances(1e-5, 1e-5)
        .forward_memory(
            std::env::var("W5_MEM")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(64 << 20),
        )
        .batch_parts(threads)?;
    // Adam works on f64 copies of the parameters; the flow gets them rounded to `R`.
    let mut p = flow.init_params(0);
    let mut adam = Adam::new(1e-3)?;
    let mut data_rng = Xoshiro256pp::new(0);
    let (mut times, mut nfe, mut nfe_fwd) = (vec![], vec![], vec![]);
    let mut final_loss = f64::NAN;
    let mut pr: Vec<R> = Vec::new();
    for it in 0..iters {
        let x = two_moons::<R>(&mut data_rng, 512)?;
        let t = Instant::now();
        pr = p.iter().map(|v| R::c(*v)).collect();
        let g = flow.loss_and_gradient(&x, &pr, &mut Xoshiro256pp::new(1000 + it as u64))?;
        let dp: Vec<f64> = g.dp.iter().map(|v| v.to_f64_lossy()).collect();
        adam.step(&mut p, &dp)?;
        let secs = t.elapsed().as_secs_f64();
        final_loss = g.loss;
        if it > 0 {
            times.push(secs);
            nfe.push((g.forward.nf + g.backward.nf) as f64);
            nfe_fwd.push(g.forward.nf as f64);
        }
    }
    let vjp = field_vjp_seconds::<_, R>(net.clone(), trace, &pr, threads)?;
    let (lo, hi) = spread(&times);
    println!(
        "{{\"system\": \"sciml-rs Dp5 discrete adjoint, {name} trace, {}, {}\", \"median_s\": {:e}, \"min_s\": {lo:e}, \"max_s\": {hi:e}, \"nfe\": {}, \"nfe_forward\": {}, \"iterations\": {iters}, \"iterations_timed\": {}, \"final_loss\": {final_loss}, \"field_vjp_s\": {vjp:e}}}",
        std::any::type_name::<R>(),
        if threads == 1 { "1 thread".to_string() } else { format!("{threads} threads (batch in {threads} parts)") },
        median(times.clone()),
        median(nfe),
        median(nfe_fwd),
        times.len(),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters: usize = std::env::var("W5_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(2);
    let net: Mlp = Chain::new((
        Dense::new(3, 64, Activation::Tanh),
        Dense::new(64, 64, Activation::Tanh),
        Dense::new(64, 2, Activation::Identity),
    ))?;
    let traces = [
        ("exact", Trace::Exact),
        ("hutchinson", Trace::Hutchinson(ProbeKind::Gaussian)),
    ];
    let only = std::env::var("W5_ONLY").unwrap_or_default();
    let trace_only = std::env::var("W5_TRACE").unwrap_or_default();
    let traces: Vec<_> = traces
        .into_iter()
        .filter(|(name, _)| trace_only.is_empty() || *name == trace_only)
        .collect();
    if only != "f64" {
        for &(name, trace) in &traces {
            run::<f32>(&net, name, trace, iters, 1)?;
        }
    }
    if only != "f32" {
        for &(name, trace) in &traces {
            run::<f64>(&net, name, trace, iters, 1)?;
        }
    }
    // With the `rayon` feature: the same in f32 with the batch split over every thread.
    #[cfg(feature = "rayon")]
    if rayon::current_num_threads() > 1 {
        for &(name, trace) in &traces {
            run::<f32>(&net, name, trace, iters, rayon::current_num_threads())?;
        }
    }
    Ok(())
}
