//! Workload W2b: the 2-D Brusselator on a periodic 32 × 32 grid (2048 unknowns,
//! `sciml_ode::problems::Brusselator2d`) on [0, 11.5] at rtol 1e-6, atol 1e-8, only the final
//! state saved. Prints one JSON row per configuration: BDF with a sparse LU of the Jacobian
//! (coloured dual numbers over the problem's sparsity pattern), BDF with Jacobian-free GMRES, and
//! Rodas5P and KenCarp4 with the sparse LU. `rel_err_vs_reference` is the max-norm error
//! relative to the largest component of the reference end state in
//! `benches/peers/w2b_reference.json` (scipy Radau at rtol 1e-11). `cargo xtask bench W2b` runs
//! it.

use sciml_core::{ForwardAd, SparseAd, SparsityPattern, VectorField};
use sciml_ode::problems::{Brusselator2d, TestProblem};
use sciml_ode::{
    Bdf, KenCarp4, KrylovSolve, OdeMethod, OdeProblem, Rodas5P, SaveAt, SolveOptions, SparseSolve,
};
use std::time::Instant;

const REFERENCE: &str = include_str!("../../../benches/peers/w2b_reference.json");

/// Times `m` on `prob` (inner loop sized to about 0.2 s, median of 5 repeats, as the peer script
/// does, after one untimed solve) and prints its row.
fn run<F, M>(
    name: &str,
    m: M,
    mut prob: OdeProblem<F>,
    opts: &SolveOptions<f64>,
    reference: &[f64],
) -> Result<(), Box<dyn std::error::Error>>
where
    F: VectorField<V = Vec<f64>, P = Vec<f64>>,
    M: OdeMethod<F> + Clone,
{
    let t = Instant::now();
    let sol = prob.solve(m.clone(), opts)?;
    let per = t.elapsed().as_secs_f64();
    let inner = ((0.2 / per) as u32).max(1);
    // A configuration slower than 5 s per solve is timed once, so the workload stays minutes.
    let repeats = if per > 5.0 { 1 } else { 5 };
    let mut samples = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..inner {
            std::hint::black_box(prob.solve(m.clone(), opts)?);
        }
        samples.push(t.elapsed().as_secs_f64() / f64::from(inner));
    }
    samples.sort_by(f64::total_cmp);
    let last = sol.u.last().ok_or("empty solution")?;
    let scale = reference.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
    let err = last
        .iter()
        .zip(reference)
        .fold(0.0_f64, |a, (x, r)| a.max((x - r).abs()))
        / scale;
    let s = &sol.stats;
    let state: Vec<String> = last.iter().map(|x| format!("{x:.17e}")).collect();
    println!(
        "{{\"system\": \"sciml-rs {name}\", \"median_s\": {:e}, \"repeats\": {repeats}, \"nfe\": {}, \"njac\": {}, \"nfactor\": {}, \"nlinsolve\": {}, \"steps\": {}, \"accepted_steps\": {}, \"rejected_steps\": {}, \"rel_err_vs_reference\": {:e}, \"final_state\": [{}]}}",
        samples[samples.len() / 2], s.nf, s.njac, s.nfactor, s.nlinsolve, s.steps, s.accepted, s.rejected, err, state.join(", ")
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reference: Vec<f64> = serde_json::from_str::<serde_json::Value>(REFERENCE)?["final_state"]
        .as_array()
        .ok_or("reference file has no final_state")?
        .iter()
        .map(|x| x.as_f64().ok_or("non-numeric reference value"))
        .collect::<Result<_, _>>()?;
    let b = Brusselator2d::new(32)?;
    let (t1, n) = (b.tspan().1, 2 * 32 * 32);
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(vec![t1]));
    let pattern = SparsityPattern::from_triplets(n, n, &b.sparsity())?;
    let sparse = || -> Result<_, Box<dyn std::error::Error>> {
        Ok(OdeProblem::new(
            SparseAd::new(b, pattern.clone())?,
            b.u0(),
            b.tspan(),
            b.params(),
        )?)
    };
    // The first row is the reference for the ratios in the table.
    run(
        "Bdf + sparse LU",
        Bdf::new().with_linear(SparseSolve),
        sparse()?,
        &opts,
        &reference,
    )?;
    let dual = OdeProblem::new(ForwardAd::new(b), b.u0(), b.tspan(), b.params())?;
    run(
        "Bdf + GMRES (Jacobian-free)",
        Bdf::new().with_linear(KrylovSolve::default()),
        dual,
        &opts,
        &reference,
    )?;
    run(
        "Rodas5P + sparse LU",
        Rodas5P::new().with_linear(SparseSolve),
        sparse()?,
        &opts,
        &reference,
    )?;
    run(
        "KenCarp4 + sparse LU",
        KenCarp4::new().with_linear(SparseSolve),
        sparse()?,
        &opts,
        &reference,
    )?;
    Ok(())
}
