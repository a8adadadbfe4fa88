//! Forward sensitivities of a large DAE with each linear strategy: the heat equation
//! `u_t = κ·u_xx − μ·u` on `[0, 1]`, `n` interior points, the boundary values as algebraic
//! unknowns, `p = (κ, μ) = (1, 0.5)`, on `[0, 0.1]` at rtol 1e-6, atol 1e-8, with the two parameter
//! sensitivities (`DaeProblem::solve_forward_sensitivity`): the dense LU (dual-number Jacobians),
//! the sparse LU (Jacobians by coloured dual passes) and GMRES (dual-number products) with `W`'s
//! own tridiagonal solve as preconditioner. The error is that of `∂u/∂κ` at the middle point
//! against the exact semi-discrete derivative `λt·sin(πx)·e^{(κλ − μ)t}`,
//! `λ = −(4/Δx²)·sin²(πΔx/2)`.
//!
//! `cargo run --release -p sciml-dae --example heat_dae_sensitivities` prints one line per (size,
//! strategy): the median time of 5 solves and the error. The dense strategy runs up to 402
//! unknowns.

use sciml_core::Solution;
use sciml_dae::{DaeBdf, DaeColoured, DaeForwardAd, DaeInit, DaePreconditioner};
use sciml_ode::stiff::{KrylovSolve, SparseSolve};
use sciml_ode::{SaveAt, SolveOptions};
use std::time::Instant;

const P: [f64; 2] = [1.0, 0.5];
const T1: f64 = 0.1;

#[path = "common/heat.rs"]
mod heat;
use heat::Heat;

/// The relative error of `∂u/∂κ` at the middle point at `T1`.
fn error(heat: &Heat, sol: &Solution<Vec<f64>>) -> f64 {
    let mid = heat.n.div_ceil(2);
    let exact = heat.exact_sensitivities(&P, T1)[0][mid];
    let got = sol
        .u
        .last()
        .and_then(|u| u.get(heat.n + 2 + mid))
        .copied()
        .unwrap_or(f64::NAN);
    ((got - exact) / exact).abs()
}

/// `W = ∂F/∂u + α·∂F/∂u′` is tridiagonal here: its own Thomas solve.
#[derive(Clone, Debug)]
struct Tridiagonal {
    c: f64,
    diag: Vec<f64>,
    scratch: Vec<(f64, f64)>,
}

impl DaePreconditioner for Tridiagonal {
    fn setup(&mut self, _t: f64, _du: &[f64], _u: &[f64], alpha: f64) {
        let last = self.diag.len() - 1;
        for (i, d) in self.diag.iter_mut().enumerate() {
            *d = if i == 0 || i == last {
                1.0
            } else {
                alpha + 2.0 * P[0] * self.c + P[1]
            };
        }
    }
    fn apply(&mut self, v: &mut [f64]) {
        let n = v.len();
        let last = n - 1;
        let off = |i: usize| {
            if i == 0 || i == last {
                0.0
            } else {
                -P[0] * self.c
            }
        };
        // Forward sweep: (c′_i, d′_i), then back substitution.
        let (mut cp, mut dp) = (off(0) / self.diag[0], v[0] / self.diag[0]);
        self.scratch[0] = (cp, dp);
        #[allow(clippy::needless_range_loop)] // the three diagonals at row i, as in the formula
        for i in 1..n {
            let den = self.diag[i] - off(i) * cp;
            cp = off(i) / den;
            dp = (v[i] - off(i) * dp) / den;
            self.scratch[i] = (cp, dp);
        }
        v[last] = self.scratch[last].1;
        for i in (0..last).rev() {
            v[i] = self.scratch[i].1 - self.scratch[i].0 * v[i + 1];
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The median of five timed solves, and the last solution.
fn timed(
    mut solve: impl FnMut() -> Result<Solution<Vec<f64>>>,
) -> Result<(f64, Solution<Vec<f64>>)> {
    let mut times = Vec::new();
    let mut last = solve()?;
    for _ in 0..5 {
        let t = Instant::now();
        last = solve()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[2], last))
}

fn main() -> Result<()> {
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(vec![T1]));
    let init = DaeInit::CheckInit;
    for n in [100, 400, 1000] {
        let heat = Heat { n };
        let mut rows = Vec::new();
        if n <= 400 {
            let f = DaeForwardAd::new(heat.clone());
            rows.push((
                "dense LU",
                timed(|| {
                    Ok(heat.problem(f.clone(), &P, T1)?.solve_forward_sensitivity(
                        DaeBdf::new(),
                        init,
                        &opts,
                    )?)
                })?,
            ));
        }
        let coloured = DaeColoured::new(DaeForwardAd::new(heat.clone()), heat.pattern()?)?;
        rows.push((
            "sparse LU",
            timed(|| {
                Ok(heat
                    .problem(coloured.clone(), &P, T1)?
                    .solve_forward_sensitivity(
                        DaeBdf::new().linear_solver(SparseSolve),
                        init,
                        &opts,
                    )?)
            })?,
        ));
        let pc = Tridiagonal {
            c: 1.0 / (heat.dx() * heat.dx()),
            diag: vec![1.0; n + 2],
            scratch: vec![(0.0, 0.0); n + 2],
        };
        let gmres = KrylovSolve {
            rtol: 1e-8,
            ..KrylovSolve::default()
        }
        .with_preconditioner(pc);
        let f = DaeForwardAd::new(heat.clone());
        rows.push((
            "GMRES + tridiagonal",
            timed(|| {
                Ok(heat.problem(f.clone(), &P, T1)?.solve_forward_sensitivity(
                    DaeBdf::new().linear_solver(gmres.clone()),
                    init,
                    &opts,
                )?)
            })?,
        ));
        for (name, (median, sol)) in rows {
            println!(
                "{} unknowns, {name}: {:.3} ms, {} steps, ∂u/∂κ error {:.1e}",
                n + 2,
                median * 1e3,
                sol.stats.accepted,
                error(&heat, &sol)
            );
        }
    }
    Ok(())
}
