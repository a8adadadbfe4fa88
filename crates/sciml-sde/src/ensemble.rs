//! Ensembles of trajectories on rayon, and summary statistics over time.

use crate::error::SdeError;
use crate::methods::Method;
use crate::problem::{SdeFunction, SdeProblem};
use crate::solver::{solve, SdeOptions};
use rayon::prelude::*;
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Error, Real, Solution};

/// The seed of trajectory `i` of an ensemble seeded with `seed`.
pub fn trajectory_seed(seed: u64, i: usize) -> u64 {
    Xoshiro256pp::stream(seed, i as u64).next_u64()
}

/// Solves `trajectories` independent paths in parallel; results come back in index order, and
/// trajectory `i` is driven by the Brownian path seeded with [`trajectory_seed`]`(opts.seed, i)`,
/// so the results are bitwise the same on any number of threads. (The ODE ensembles,
/// `sciml_ode::solve_ensemble`, vary the initial state and parameters instead.)
///
/// ```
/// use sciml_sde::{solve_trajectories, EnsembleSummary, FnSde, Method, Noise, SdeOptions, SdeProblem};
/// let f = FnSde::new(1, 0, Noise::Diagonal,
///     |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -u[0],
///     |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 1.0);
/// let prob = SdeProblem::new(f, vec![0.0], (0.0, 1.0), vec![]).unwrap();
/// let sols = solve_trajectories(&prob, Method::EulerMaruyama, &SdeOptions::fixed(0.1), 100).unwrap();
/// let s = EnsembleSummary::new(&sols, &[0.5]).unwrap();
/// assert_eq!(s.mean.len(), 11);
/// ```
pub fn solve_trajectories<R, F>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
    trajectories: usize,
) -> Result<Vec<Solution<Vec<R>>>, SdeError>
where
    R: Real,
    F: SdeFunction<R> + Clone + Send + Sync,
{
    (0..trajectories)
        .into_par_iter()
        .map(|i| {
            let o = opts.clone().seed(trajectory_seed(opts.seed, i));
            solve(prob, method, &o)
        })
        .collect()
}

/// Mean, variance and quantiles of an ensemble at each saved time.
#[derive(Clone, Debug)]
pub struct EnsembleSummary<R> {
    /// The saved times (shared by every trajectory).
    pub t: Vec<R>,
    /// Mean at each time, per component.
    pub mean: Vec<Vec<R>>,
    /// Unbiased sample variance at each time, per component.
    pub variance: Vec<Vec<R>>,
    /// For each requested level `q`, the `q`-quantile at each time, per component (linear
    /// interpolation between order statistics).
    pub quantiles: Vec<(f64, Vec<Vec<R>>)>,
}

impl<R: Real> EnsembleSummary<R> {
    /// Summarises trajectories saved at the same times; `levels` are quantile levels in `[0, 1]`.
    pub fn new(sols: &[Solution<Vec<R>>], levels: &[f64]) -> Result<Self, SdeError> {
        let first = sols.first().ok_or(Error::InvalidOption {
            option: "ensemble",
            reason: "no trajectories to summarise".into(),
        })?;
        if let Some(q) = levels.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(Error::InvalidOption {
                option: "levels",
                reason: format!("quantile levels must lie in [0, 1], got {q}"),
            }
            .into());
        }
        let nt = first.t.len();
        let n = first.u.first().map_or(0, |u| u.len());
        for s in sols {
            if s.t != first.t || s.u.iter().any(|u| u.len() != n) {
                return Err(Error::InvalidOption {
                    option: "ensemble",
                    reason:
                        "trajectories must be saved at the same times (use saveat or fixed steps)"
                            .into(),
                }
                .into());
            }
        }
        let count = R::from_usize(sols.len());
        let mut mean = vec![vec![R::zero(); n]; nt];
        let mut variance = vec![vec![R::zero(); n]; nt];
        let mut quantiles: Vec<(f64, Vec<Vec<R>>)> = levels
            .iter()
            .map(|&q| (q, vec![vec![R::zero(); n]; nt]))
            .collect();
        let mut col = vec![R::zero(); sols.len()];
        for k in 0..nt {
            for i in 0..n {
                for (c, s) in col.iter_mut().zip(sols) {
                    *c = s.u[k][i];
                }
                let mu = col.iter().fold(R::zero(), |a, x| a + *x) / count;
                let ss = col.iter().fold(R::zero(), |a, x| a + (*x - mu) * (*x - mu));
                mean[k][i] = mu;
                variance[k][i] = if sols.len() > 1 {
                    ss / (count - R::one())
                } else {
                    R::zero()
                };
                if !levels.is_empty() {
                    col.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                    for (q, qv) in quantiles.iter_mut() {
                        let pos = *q * (col.len() - 1) as f64;
                        let lo = pos.floor() as usize;
                        let hi = pos.ceil() as usize;
                        let fr = R::c(pos - lo as f64);
                        qv[k][i] = col[lo] + (col[hi] - col[lo]) * fr;
                    }
                }
            }
        }
        Ok(EnsembleSummary {
            t: first.t.clone(),
            mean,
            variance,
            quantiles,
        })
    }
}
