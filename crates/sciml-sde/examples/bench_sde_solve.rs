//! Times `sciml_sde::solve` on small problems, fixed and adaptive steps (the stepping loop, the
//! Brownian tree and the method's arithmetic, with cheap closures for drift and diffusion).
//!
//! `SDE_ITERS` sets the solves per round (default 200), `SDE_ROUNDS` the rounds (default 5) and
//! `SDE_CASE` a substring of the cases to run (default all);
//! prints one line per case with the smallest over the rounds of the median wall time per solve
//! (the minimum over rounds is robust to a busy machine).

use sciml_sde::{solve, FnSde, Method, Noise, SdeOptions, SdeProblem};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters: usize = std::env::var("SDE_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let rounds: usize = std::env::var("SDE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // A 4-D system: damped linear drift, diagonal multiplicative noise.
    let n = 4;
    let f = FnSde::new(
        n,
        2,
        Noise::Diagonal,
        |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
            for (d, x) in du.iter_mut().zip(u) {
                *d = p[0] * x;
            }
        },
        |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| {
            for (gi, x) in g.iter_mut().zip(u) {
                *gi = p[1] * x;
            }
        },
    );
    let prob = SdeProblem::new(f, vec![1.0; n], (0.0, 1.0), vec![-0.5, 0.3])?;
    // Additive scalar noise for SRA1.
    let ou = FnSde::new(
        n,
        0,
        Noise::Scalar,
        |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
            for (d, x) in du.iter_mut().zip(u) {
                *d = -x;
            }
        },
        |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g.fill(0.4),
    );
    let prob_ou = SdeProblem::new(ou, vec![1.0; n], (0.0, 2.0), vec![])?;
    let cases: Vec<(&str, Method, SdeOptions<f64>, bool)> = vec![
        (
            "EM fixed 1e-3",
            Method::EulerMaruyama,
            SdeOptions::fixed(1e-3),
            false,
        ),
        (
            "EulerHeun fixed 1e-3, 11 saves",
            Method::EulerHeun,
            SdeOptions::fixed(1e-3).saveat((0..=10).map(|k| k as f64 * 0.1).collect()),
            false,
        ),
        (
            "SRIW1 adaptive 1e-4",
            Method::Sriw1,
            SdeOptions::adaptive(1e-4, 1e-4),
            false,
        ),
        (
            "LambaEM adaptive 1e-3",
            Method::LambaEm,
            SdeOptions::adaptive(1e-3, 1e-3),
            false,
        ),
        (
            "SRA1 adaptive 1e-5 (OU)",
            Method::Sra1,
            SdeOptions::adaptive(1e-5, 1e-5),
            true,
        ),
    ];
    let only = std::env::var("SDE_CASE").unwrap_or_default();
    for (name, method, opts, use_ou) in cases {
        if !name.contains(only.as_str()) {
            continue;
        }
        let (mut best_wall, mut steps) = (f64::INFINITY, 0);
        for _ in 0..rounds {
            let mut wall = Vec::with_capacity(iters);
            steps = 0;
            for it in 0..iters + 5 {
                let o = opts.clone().seed(it as u64);
                let t = Instant::now();
                let sol = if use_ou {
                    solve(&prob_ou, method, &o)?
                } else {
                    solve(&prob, method, &o)?
                };
                let dt = t.elapsed().as_secs_f64();
                if it >= 5 {
                    wall.push(dt);
                    steps += sol.stats.steps;
                }
            }
            best_wall = best_wall.min(median(wall));
        }
        println!(
            "{name:34} median {:9.2} µs  (mean {:.0} steps)",
            best_wall * 1e6,
            steps as f64 / iters as f64
        );
    }
    Ok(())
}
