//! Workload W1: Lotka–Volterra with Tsit5 at rtol 1e-6, atol 1e-8, 100 saved points.
//! Prints one JSON row (median time, RHS evaluations, final state); `cargo xtask bench W1` runs it.

use sciml_core::FnField;
use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = 1.5 * u[0] - u[0] * u[1];
        du[1] = -3.0 * u[1] + u[0] * u[1];
    });
    let mut prob = OdeProblem::new(f, vec![1.0, 1.0], (0.0, 10.0), vec![])?;
    let times: Vec<f64> = (0..100).map(|i| 10.0 * i as f64 / 99.0).collect();
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(times));
    let sol = prob.solve(Tsit5, &opts)?;
    // `W1_FIXED=N`: exactly N solves and nothing else, for instruction counts (`perf stat`).
    if let Some(n) = std::env::var("W1_FIXED")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        for _ in 0..n {
            std::hint::black_box(prob.solve(Tsit5, &opts)?);
        }
        return Ok(());
    }
    // Size the inner loop to about 0.2 s, then take the median of 15 repeats (as the peers do).
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed().as_secs_f64() < 0.05 {
        std::hint::black_box(prob.solve(Tsit5, &opts)?);
        n += 1;
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    let inner = ((0.2 / per) as u32).max(1);
    let mut samples = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..inner {
            std::hint::black_box(prob.solve(Tsit5, &opts)?);
        }
        samples.push(t.elapsed().as_secs_f64() / f64::from(inner));
    }
    samples.sort_by(f64::total_cmp);
    let last = sol.u.last().ok_or("empty solution")?;
    println!(
        "{{\"system\": \"sciml-rs Tsit5\", \"median_s\": {:e}, \"nfe\": {}, \"steps\": {}, \"accepted_steps\": {}, \"rejected_steps\": {}, \"nsaved\": {}, \"final_state\": [{:.17e}, {:.17e}]}}",
        samples[7], sol.stats.nf, sol.stats.steps, sol.stats.accepted, sol.stats.rejected, sol.len(), last[0], last[1]
    );
    Ok(())
}
