//! Workload W2: Robertson's stiff chemical kinetics on [0, 1e5] at rtol 1e-6, atol 1e-10, only
//! the final state saved. Prints one JSON row per stiff method (median time, RHS evaluations,
//! Jacobians, factorisations, final state, relative error against the reference);
//! `cargo xtask bench W2` runs it. The Jacobian comes from forward-mode dual numbers
//! (`ForwardAd`), dense LU; the SDIRK methods use a simplified Newton iteration that reuses the
//! Jacobian and its factorisation across steps.
//!
//! Profiling mode: `W2_ONLY=Bdf` runs only the named method (its row as usual), and
//! `W2_FIXED=N` replaces the timing by exactly `N` solves (for `valgrind --tool=callgrind`;
//! the row then reports the mean time of those solves).

use sciml_core::ForwardAd;
use sciml_ode::problems::{Robertson, TestProblem};
use sciml_ode::{
    Bdf, KenCarp4, Kvaerno5, OdeMethod, OdeProblem, Rodas4, Rodas5P, Rosenbrock23, SaveAt,
    SolveOptions, Trbdf2,
};
use std::time::Instant;

#[path = "common/timing.rs"]
mod timing;

type Field = ForwardAd<Robertson>;

/// Times `m` on the problem (inner loop sized to about 0.2 s, median of 15 repeats, as the peers
/// do) and prints its row.
fn run<M: OdeMethod<Field> + Copy>(
    name: &str,
    m: M,
    prob: &mut OdeProblem<Field>,
    opts: &SolveOptions<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("W2_ONLY").is_ok_and(|only| only != name) {
        return Ok(());
    }
    let sol = prob.solve(m, opts)?;
    let fixed = std::env::var("W2_FIXED")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    if let Some(n) = fixed {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(prob.solve(m, opts)?);
        }
        let per = t.elapsed().as_secs_f64() / f64::from(n.max(1));
        return print_row(name, per, &sol);
    }
    let median = timing::median_time(|| prob.solve(m, opts))?;
    print_row(name, median, &sol)
}

/// Prints the JSON row of a method: `median` seconds per solve, the counters and the error of
/// `sol`.
fn print_row(
    name: &str,
    median: f64,
    sol: &sciml_ode::Solution<Vec<f64>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let last = sol.u.last().ok_or("empty solution")?;
    let err = last
        .iter()
        .zip(&Robertson::REF_T1E5)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max);
    let s = &sol.stats;
    println!(
        "{{\"system\": \"sciml-rs {name}\", \"median_s\": {:e}, \"nfe\": {}, \"njac\": {}, \"nfactor\": {}, \"steps\": {}, \"accepted_steps\": {}, \"rejected_steps\": {}, \"jacobian\": \"forward-mode AD, dense LU\", \"final_state\": [{:.17e}, {:.17e}, {:.17e}], \"rel_err_vs_reference\": {:e}}}",
        median, s.nf, s.njac, s.nfactor, s.steps, s.accepted, s.rejected, last[0], last[1], last[2], err
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut prob = Robertson.problem()?;
    prob.set_tspan((0.0, Robertson::T1E5))?;
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-10)
        .saveat(SaveAt::Times(vec![Robertson::T1E5]));
    // The first row is the reference for the ratios in the table.
    run("Rodas5P", Rodas5P::new(), &mut prob, &opts)?;
    run("Bdf", Bdf::new(), &mut prob, &opts)?;
    run("Rodas4", Rodas4::new(), &mut prob, &opts)?;
    run("Rosenbrock23", Rosenbrock23::new(), &mut prob, &opts)?;
    run("KenCarp4", KenCarp4::new(), &mut prob, &opts)?;
    // Like for like with the peers' diffrax Kvaerno5.
    run("Kvaerno5", Kvaerno5::new(), &mut prob, &opts)?;
    run("Trbdf2", Trbdf2::new(), &mut prob, &opts)?;
    Ok(())
}
