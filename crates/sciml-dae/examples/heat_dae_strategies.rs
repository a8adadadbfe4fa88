//! When the sparse and Jacobian-free strategies pay: the heat equation `u_t = u_xx` on `[0, 1]`,
//! `n` interior points, with the boundary values as algebraic unknowns (`u_0 = u_{n+1} = 0`),
//! solved on `[0, 0.1]` at rtol 1e-6, atol 1e-8 by `DaeBdf` with the dense LU (Jacobians by
//! dual numbers), the sparse LU (Jacobians by three coloured pairs of dual passes) and GMRES
//! (products by dual numbers) preconditioned by the diagonal of `W` (Jacobi) or by `W`'s own
//! tridiagonal solve. The error is against the exact semi-discrete solution `sin(πx_i)·e^{λt}`,
//! `λ = −(4/Δx²)·sin²(πΔx/2)`.
//!
//! `cargo run --release -p sciml-dae --example heat_dae_strategies` prints one JSON line per
//! (size, strategy): median time over `HEAT_REPS` solves (default 5), error and work counters.
//! `HEAT_SIZES=100,400` picks the sizes (default 100, 400, 1000).

use sciml_dae::{DaeBdf, DaeColoured, DaeForwardAd, DaeInit, DaePreconditioner};
use sciml_ode::stiff::{KrylovSolve, SparseSolve};
use sciml_ode::{SaveAt, SolveOptions};
use std::time::Instant;

#[path = "common/heat.rs"]
mod heat;
use heat::{Heat, UNIT};

/// The diagonal of `W = ∂F/∂u + α·∂F/∂u′`: `2/Δx² + α` inside, 1 on the boundary rows.
#[derive(Clone, Debug)]
struct Jacobi {
    n: usize,
    inv_dx2: f64,
    d: f64,
}

impl DaePreconditioner for Jacobi {
    fn setup(&mut self, _t: f64, _du: &[f64], _u: &[f64], alpha: f64) {
        self.d = 2.0 * self.inv_dx2 + alpha;
    }
    fn apply(&mut self, v: &mut [f64]) {
        let m = self.n + 1;
        for x in &mut v[1..m] {
            *x /= self.d;
        }
    }
}

/// `W` itself, which is tridiagonal here: rows `(1)` on the boundary and `(−c, 2c + α, −c)`
/// inside, `c = 1/Δx²`. Solved by the Thomas algorithm in `O(n)`, it makes GMRES converge in one
/// or two iterations: what a user with a banded or otherwise structured approximation of `W`
/// gives (as IDA's band-block preconditioner).
#[derive(Clone, Debug)]
struct Tridiagonal {
    n: usize,
    c: f64,
    /// Sub-diagonal, the eliminated super-diagonal and the pivots of the Thomas algorithm.
    sub: Vec<f64>,
    cp: Vec<f64>,
    piv: Vec<f64>,
}

impl Tridiagonal {
    fn new(n: usize, c: f64) -> Self {
        Tridiagonal {
            n,
            c,
            sub: vec![0.0; n + 2],
            cp: vec![0.0; n + 2],
            piv: vec![1.0; n + 2],
        }
    }
}

impl DaePreconditioner for Tridiagonal {
    fn setup(&mut self, _t: f64, _du: &[f64], _u: &[f64], alpha: f64) {
        let (m, c) = (self.n + 1, self.c);
        // (sub, diag, super) of each row; rows 0 and m are the boundary's identity rows.
        let row = |i: usize| {
            if i == 0 || i == m {
                (0.0, 1.0, 0.0)
            } else {
                (-c, 2.0 * c + alpha, -c)
            }
        };
        for i in 0..=m {
            let (a, b, sup) = row(i);
            let prev = if i == 0 { 0.0 } else { self.cp[i - 1] };
            self.sub[i] = a;
            self.piv[i] = b - a * prev;
            self.cp[i] = sup / self.piv[i];
        }
    }
    fn apply(&mut self, v: &mut [f64]) {
        let m = self.n + 1;
        v[0] /= self.piv[0];
        for i in 1..=m {
            v[i] = (v[i] - self.sub[i] * v[i - 1]) / self.piv[i];
        }
        for i in (0..m).rev() {
            v[i] -= self.cp[i] * v[i + 1];
        }
    }
}

fn pc_c(heat: &Heat) -> f64 {
    1.0 / (heat.dx() * heat.dx())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = match std::env::var("HEAT_SIZES") {
        Ok(s) => s
            .split(',')
            .map(|x| x.trim().parse())
            .collect::<Result<_, _>>()?,
        Err(_) => vec![100, 400, 1000],
    };
    let reps: usize = std::env::var("HEAT_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(vec![0.1]));
    for n in sizes {
        let heat = Heat { n };
        let exact = heat.exact(&UNIT, 0.1);
        let scale = exact.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
        let pc = Jacobi {
            n,
            inv_dx2: 1.0 / (heat.dx() * heat.dx()),
            d: 1.0,
        };
        let jacobi = KrylovSolve::default().with_preconditioner(pc);
        let tri = KrylovSolve::default().with_preconditioner(Tridiagonal::new(n, pc_c(&heat)));
        let pattern = heat.pattern()?;
        let strategies = [
            "dense LU",
            "sparse LU (coloured AD)",
            "GMRES + Jacobi",
            "GMRES + tridiagonal",
        ];
        for strategy in strategies {
            let mut times = Vec::with_capacity(reps);
            let mut last = None;
            for _ in 0..reps {
                let ad = DaeForwardAd::new(heat.clone());
                let mut prob = heat.problem(ad.clone(), &UNIT, 0.1)?;
                let mut coloured =
                    heat.problem(DaeColoured::new(ad, pattern.clone())?, &UNIT, 0.1)?;
                let start = Instant::now();
                let sol = match strategy {
                    "dense LU" => prob.solve(DaeBdf::new(), DaeInit::CheckInit, &opts)?,
                    "sparse LU (coloured AD)" => coloured.solve(
                        DaeBdf::new().linear_solver(SparseSolve),
                        DaeInit::CheckInit,
                        &opts,
                    )?,
                    "GMRES + Jacobi" => prob.solve(
                        DaeBdf::new().linear_solver(jacobi.clone()),
                        DaeInit::CheckInit,
                        &opts,
                    )?,
                    _ => prob.solve(
                        DaeBdf::new().linear_solver(tri.clone()),
                        DaeInit::CheckInit,
                        &opts,
                    )?,
                };
                times.push(start.elapsed().as_secs_f64());
                last = Some(sol);
            }
            let sol = last.ok_or("no solve")?;
            let u = sol.u.last().ok_or("no save")?;
            let err = u
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
                / scale;
            let st = &sol.stats;
            println!(
                "{{\"n\": {}, \"strategy\": \"{strategy}\", \"median_s\": {:.6e}, \
                 \"rel_error\": {err:.3e}, \"steps\": {}, \"nf_and_products\": {}, \
                 \"linear_solves\": {}, \"matrix_bytes\": {}}}",
                n + 2,
                median(times),
                st.accepted,
                st.nf,
                st.nlinsolve,
                if strategy == "dense LU" {
                    // ∂F/∂u, ∂F/∂u′, W and its LU.
                    4 * 8 * (n + 2) * (n + 2)
                } else {
                    0
                }
            );
        }
    }
    Ok(())
}
