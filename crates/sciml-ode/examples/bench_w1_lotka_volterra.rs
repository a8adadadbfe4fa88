//! Workload W1: Lotka–Volterra with Tsit5 at rtol 1e-6, atol 1e-8, 100 saved points.
//! Prints one JSON row per state type (median time, RHS evaluations, final state): the closure
//! field on `Vec<f64>` states, then a field on `[f64; 2]` stack states (nothing allocated per
//! step or save). `cargo xtask bench W1` runs it.

use sciml_core::{FnField, Solution, State, VectorField};
use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};

#[path = "common/timing.rs"]
mod timing;
use timing::median_time;

/// Lotka–Volterra on a fixed-size state.
struct LotkaVolterra;

impl VectorField for LotkaVolterra {
    type V = [f64; 2];
    type P = [f64; 0];
    fn dims(&self) -> (usize, usize) {
        (2, 0)
    }
    #[inline]
    fn rhs(&mut self, _t: f64, u: &[f64; 2], _p: &[f64; 0], du: &mut [f64; 2]) {
        du[0] = 1.5 * u[0] - u[0] * u[1];
        du[1] = -3.0 * u[1] + u[0] * u[1];
    }
}

fn row<V: State<S = f64> + AsRef<[f64]>>(
    system: &str,
    median: f64,
    sol: &Solution<V>,
) -> Result<(), String> {
    let last = sol.u.last().ok_or("empty solution")?.as_ref();
    println!(
        "{{\"system\": \"{system}\", \"median_s\": {median:e}, \"nfe\": {}, \"steps\": {}, \"accepted_steps\": {}, \"rejected_steps\": {}, \"nsaved\": {}, \"final_state\": [{:.17e}, {:.17e}]}}",
        sol.stats.nf, sol.stats.steps, sol.stats.accepted, sol.stats.rejected, sol.len(), last[0], last[1]
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = 1.5 * u[0] - u[0] * u[1];
        du[1] = -3.0 * u[1] + u[0] * u[1];
    });
    let mut prob = OdeProblem::new(f, vec![1.0, 1.0], (0.0, 10.0), vec![])?;
    let mut prob_array = OdeProblem::new(LotkaVolterra, [1.0, 1.0], (0.0, 10.0), [])?;
    let times: Vec<f64> = (0..100).map(|i| 10.0 * i as f64 / 99.0).collect();
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(times));
    // `W1_FIXED=N`: exactly N solves and nothing else, for instruction counts (`perf stat`,
    // callgrind); `W1_STATE=array` counts the `[f64; 2]` variant.
    if let Some(n) = std::env::var("W1_FIXED")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        let array = std::env::var("W1_STATE").is_ok_and(|s| s == "array");
        for _ in 0..n {
            if array {
                std::hint::black_box(prob_array.solve(Tsit5, &opts)?);
            } else {
                std::hint::black_box(prob.solve(Tsit5, &opts)?);
            }
        }
        return Ok(());
    }
    let sol = prob.solve(Tsit5, &opts)?;
    let median = median_time(|| prob.solve(Tsit5, &opts))?;
    row("sciml-rs Tsit5", median, &sol)?;
    let sol = prob_array.solve(Tsit5, &opts)?;
    let median = median_time(|| prob_array.solve(Tsit5, &opts))?;
    row("sciml-rs Tsit5, [f64; 2] state", median, &sol)?;
    Ok(())
}
