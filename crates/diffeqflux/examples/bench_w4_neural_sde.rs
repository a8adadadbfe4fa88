//! Workload W4: forward solve plus gradient of a 2-D diagonal-noise neural SDE, batch of 100
//! trajectories, against torchsde (`benches/peers/w4_neural_sde.py`).
//!
//! Drift Dense(2, 50, tanh) -> Dense(50, 2), diffusion Dense(2, 2) (diagonal noise, Itô),
//! u0 = [2, 0] for each of 100 trajectories, t in [0, 1], Euler–Maruyama with dt = 0.01, saved
//! at the 101 grid points. Loss: the mean over (time, trajectory, state) of (u − target)², the
//! target being the W3 true ODE du/dt = ((u.^3)ᵀ A)ᵀ at the same times. A fresh Brownian sample
//! every iteration (seed = iteration). Timed: forward solve + loss + gradient (no optimiser
//! step), single thread, in f32 and in f64, by the discrete adjoint and by the backsolve adjoint
//! (Itô, through the drift correction; torchsde's `sdeint_adjoint` is its peer).
//!
//! Prints one JSON line per precision and gradient; the first (discrete, f32) is the reference
//! row of `cargo xtask bench W4`.

use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::{NeuralDsde, SdeSensitivity};
use sciml_core::Real;
use sciml_ode::{FnField, OdeProblem, SaveAt, SolveOptions, Vern9};
use std::time::Instant;

const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];
const BATCH: usize = 100;

/// CPU time of this thread in seconds (Linux `schedstat`), to report alongside wall time on a
/// shared machine.
fn thread_cpu_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run<R: Real>(
    name: &str,
    sensitivity: SdeSensitivity,
    target: &[Vec<f64>],
    ts: &[f64],
    iters: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let drift = Chain::new((
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))?;
    let diffusion = Dense::new(2, 2, Activation::Identity);
    let sde = NeuralDsde::new(drift, diffusion, (0.0, 1.0), 0.01, ts.to_vec())?;
    let p: Vec<R> = sde.init_params(0).into_iter().map(R::c).collect();
    let u0: Vec<R> = [R::c(2.0), R::zero()].repeat(BATCH);
    let tgt: Vec<Vec<R>> = target
        .iter()
        .map(|d| d.iter().map(|&x| R::c(x)).collect())
        .collect();
    let count = R::from_usize(ts.len() * BATCH * 2);
    let loss_fn = |_ts: &[R], us: &[Vec<R>]| {
        let mut loss = R::zero();
        let mut cot = Vec::with_capacity(us.len());
        for (u, d) in us.iter().zip(&tgt) {
            let mut c = vec![R::zero(); u.len()];
            for (k, (ci, ui)) in c.iter_mut().zip(u).enumerate() {
                let r = *ui - d[k % 2];
                loss += r * r;
                *ci = R::c(2.0) * r / count;
            }
            cot.push(c);
        }
        (loss / count, cot)
    };
    let warmup = 3;
    let (mut times, mut last, mut nf) = (Vec::new(), f64::NAN, 0);
    let (mut cpu, mut wall, mut cpus) = (0.0, 0.0, Vec::new());
    for it in 0..warmup + iters {
        let c0 = thread_cpu_s();
        let t = Instant::now();
        let g =
            sde.loss_and_gradient_batch_with(sensitivity, &u0, BATCH, &p, it as u64, loss_fn)?;
        let dt = t.elapsed().as_secs_f64();
        if it >= warmup {
            times.push(dt);
            wall += dt;
            let c = thread_cpu_s().zip(c0).map_or(f64::NAN, |(a, b)| a - b);
            cpu += c;
            cpus.push(c);
        }
        last = g.loss.to_f64_lossy();
        nf = g.sol.stats.nf;
    }
    // Discrete adjoint, per iteration: nf drift and nf diffusion evaluations forward, as many
    // VJPs backward. The continuous adjoint's backward pass also evaluates the drift, the
    // diffusion and the Itô correction's derivatives, counted by no one: "n/a".
    let nfe = match sensitivity {
        SdeSensitivity::Discrete => format!("{}", 4 * nf),
        _ => "null".into(),
    };
    println!(
        "{{\"system\": \"{name}\", \"median_s\": {:e}, \"nfe\": {}, \"nfe_forward\": {}, \"final_loss\": {last}, \"batch\": {BATCH}, \"dt\": 0.01, \"iterations\": {iters}, \"cpu_over_wall\": {:.3}, \"median_cpu_s\": {:e}}}",
        median(times),
        nfe,
        2 * nf,
        cpu / wall,
        median(cpus)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ts: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
    let truth = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let (a, b) = (u[0].powi(3), u[1].powi(3));
        du[0] = a * A[0][0] + b * A[1][0];
        du[1] = a * A[0][1] + b * A[1][1];
    });
    let target = OdeProblem::new(truth, vec![2.0, 0.0], (0.0, 1.0), vec![])?
        .solve(
            Vern9,
            &SolveOptions::default()
                .tolerances(1e-12, 1e-12)
                .saveat(SaveAt::Times(ts.clone())),
        )?
        .u;
    let iters: usize = std::env::var("W4_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let discrete = SdeSensitivity::Discrete;
    let backsolve = SdeSensitivity::Backsolve;
    run::<f32>(
        "sciml-rs EulerMaruyama discrete adjoint f32",
        discrete,
        &target,
        &ts,
        iters,
    )?;
    run::<f64>(
        "sciml-rs EulerMaruyama discrete adjoint f64",
        discrete,
        &target,
        &ts,
        iters,
    )?;
    run::<f32>(
        "sciml-rs EulerMaruyama BacksolveAdjoint (Ito) f32",
        backsolve,
        &target,
        &ts,
        iters,
    )?;
    run::<f64>(
        "sciml-rs EulerMaruyama BacksolveAdjoint (Ito) f64",
        backsolve,
        &target,
        &ts,
        iters,
    )?;
    Ok(())
}
