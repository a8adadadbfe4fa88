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

use sciml_core::linalg::SparsityPattern;
use sciml_core::{Scalar, Solution};
use sciml_dae::{
    DaeBdf, DaeColoured, DaeError, DaeForwardAd, DaeInit, DaePreconditioner, DaeProblem,
    GenericResidual,
};
use sciml_ode::stiff::{KrylovSolve, SparseSolve};
use sciml_ode::{SaveAt, SolveOptions};
use std::time::Instant;

const P: [f64; 2] = [1.0, 0.5];
const T1: f64 = 0.1;

#[derive(Clone, Debug)]
struct Heat {
    n: usize,
}

impl Heat {
    fn dx(&self) -> f64 {
        1.0 / (self.n + 1) as f64
    }
    fn lambda(&self) -> f64 {
        let dx = self.dx();
        -4.0 / (dx * dx) * (std::f64::consts::PI * dx / 2.0).sin().powi(2)
    }
    fn mode(&self, i: usize) -> f64 {
        (std::f64::consts::PI * i as f64 * self.dx()).sin()
    }
    fn problem<F: sciml_dae::DaeFunction>(
        &self,
        f: F,
    ) -> std::result::Result<DaeProblem<F>, DaeError> {
        let rate = P[0] * self.lambda() - P[1];
        let u0: Vec<f64> = (0..self.n + 2).map(|i| self.mode(i)).collect();
        let du0 = u0.iter().map(|u| rate * u).collect();
        let mut diff = vec![true; self.n + 2];
        diff[0] = false;
        diff[self.n + 1] = false;
        DaeProblem::new(f, du0, u0, (0.0, T1), P.to_vec(), Some(diff))
    }
    fn pattern(&self) -> Result<SparsityPattern> {
        let m = self.n + 1;
        let mut e = vec![(0, 0), (m, m)];
        for i in 1..m {
            e.extend([(i, i - 1), (i, i), (i, i + 1)]);
        }
        Ok(SparsityPattern::from_triplets(m + 1, m + 1, &e)?)
    }
    /// The relative error of `∂u/∂κ` at the middle point.
    fn error(&self, sol: &Solution<Vec<f64>>) -> f64 {
        let mid = self.n.div_ceil(2);
        let rate = P[0] * self.lambda() - P[1];
        let exact = self.lambda() * T1 * self.mode(mid) * (rate * T1).exp();
        let got = sol
            .u
            .last()
            .and_then(|u| u.get(self.n + 2 + mid))
            .copied()
            .unwrap_or(f64::NAN);
        ((got - exact) / exact).abs()
    }
}

impl GenericResidual for Heat {
    fn len(&self) -> usize {
        self.n + 2
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        let m = self.n + 1;
        let c = S::cst(1.0 / (self.dx() * self.dx()));
        r[0] = u[0];
        r[m] = u[m];
        for i in 1..m {
            r[i] = du[i] - p[0] * (u[i - 1] - S::cst(2.0) * u[i] + u[i + 1]) * c + p[1] * u[i];
        }
    }
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
                    Ok(heat.problem(f.clone())?.solve_forward_sensitivity(
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
                Ok(heat.problem(coloured.clone())?.solve_forward_sensitivity(
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
                Ok(heat.problem(f.clone())?.solve_forward_sensitivity(
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
                heat.error(&sol)
            );
        }
    }
    Ok(())
}
