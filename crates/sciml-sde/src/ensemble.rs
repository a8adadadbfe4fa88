//! Ensembles of trajectories, on the framework's parallel driver (`sciml_ode::ensemble`); their
//! summary statistics over time are the framework's [`EnsembleSummary`].

use crate::error::SdeError;
use crate::methods::Method;
use crate::problem::{SdeFunction, SdeProblem};
use crate::solver::{solve, SdeOptions};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Real, Solution};
use sciml_ode::ensemble::solve_each;
pub use sciml_ode::ensemble::EnsembleSummary;

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
    solve_each(trajectories, |i| {
        let o = opts.clone().seed(trajectory_seed(opts.seed, i));
        solve(prob, method, &o)
    })
    .into_iter()
    .collect()
}
