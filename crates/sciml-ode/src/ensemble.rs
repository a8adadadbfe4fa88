//! Ensembles: many independent solves in parallel, and statistics over them.
//!
//! [`solve_each`] is the one parallel driver every family uses: ODE ensembles over initial
//! states and parameters ([`solve_ensemble`]), SDE trajectories (`sciml_sde::solve_trajectories`,
//! one Brownian path each), or any solve through the stepping loop, since the closure builds and
//! runs the `i`-th solve. [`EnsembleSummary`] gives mean, variance and quantiles over time of
//! trajectories saved at the same times, whichever family produced them.

use crate::method::OdeMethod;
use crate::options::SolveOptions;
use crate::problem::OdeProblem;
use rayon::prelude::*;
use sciml_core::{Error, Re, Real, Solution, SolveError, VectorField};

/// Runs `solve(i)` for `i = 0 … count − 1` on rayon's thread pool; the results come back in index
/// order, so an ensemble whose `i`-th solve depends only on `i` is the same on any number of
/// threads.
///
/// ```
/// use sciml_core::FnField;
/// use sciml_ode::ensemble::solve_each;
/// use sciml_ode::{OdeProblem, SolveOptions, Tsit5};
/// let f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = -p[0] * u[0]);
/// let ends = solve_each(4, |i| {
///     let mut prob = OdeProblem::new(f.clone(), vec![1.0], (0.0, 1.0), vec![i as f64])?;
///     let sol = prob.solve(Tsit5, &SolveOptions::default())?;
///     Ok::<f64, sciml_core::SolveError<Vec<f64>>>(sol.u[sol.u.len() - 1][0])
/// });
/// assert!((ends[2].as_ref().unwrap() - (-2.0f64).exp()).abs() < 1e-5);
/// ```
pub fn solve_each<T, G>(count: usize, solve: G) -> Vec<T>
where
    T: Send,
    G: Fn(usize) -> T + Sync + Send,
{
    (0..count).into_par_iter().map(solve).collect()
}

/// One variant of an ensemble: initial state and parameters.
pub type Variant<F> = (<F as VectorField>::V, <F as VectorField>::P);

/// The outcome of one solve.
pub type SolveResult<V> = Result<Solution<V>, SolveError<V>>;

/// Solves `problem` once per `(u0, p)` variant on rayon's thread pool; results come back in the
/// order of `variants`. Each variant is validated like a problem of its own.
///
/// ```
/// use sciml_core::FnField;
/// use sciml_ode::{solve_ensemble, OdeProblem, SolveOptions, Tsit5};
/// let f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = -p[0] * u[0]);
/// let prob = OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![1.0]).unwrap();
/// let variants = (1..=4).map(|k| (vec![1.0], vec![k as f64])).collect();
/// let sols = solve_ensemble(&prob, variants, Tsit5, &SolveOptions::default());
/// let ends: Vec<f64> = sols.iter().map(|s| s.as_ref().unwrap().u.last().unwrap()[0]).collect();
/// assert!(ends.windows(2).all(|w| w[0] > w[1]));
/// ```
pub fn solve_ensemble<F, M>(
    problem: &OdeProblem<F>,
    variants: Vec<Variant<F>>,
    method: M,
    opts: &SolveOptions<Re<F::V>>,
) -> Vec<SolveResult<F::V>>
where
    F: VectorField + Clone + Send + Sync,
    F::P: Send,
    M: OdeMethod<F>,
{
    solve_each(variants.len(), |i| {
        let (u0, p) = &variants[i];
        let mut prob = OdeProblem::new(problem.f.clone(), u0.clone(), problem.tspan, p.clone())?;
        // Everything but (u0, p) comes from the problem, the mass matrix included.
        prob.mass.clone_from(&problem.mass);
        prob.solve(method.clone(), opts)
    })
}

/// Mean, variance and quantiles of an ensemble at each saved time (of any family: ODE
/// variants, SDE trajectories).
///
/// ```
/// use sciml_core::Solution;
/// use sciml_ode::ensemble::EnsembleSummary;
/// let path = |x: f64| Solution { t: vec![0.0, 1.0], u: vec![vec![0.0], vec![x]], ..Solution::empty() };
/// let s = EnsembleSummary::new(&[path(1.0), path(3.0)], &[0.5]).unwrap();
/// assert_eq!(s.mean[1], vec![2.0]);
/// assert_eq!(s.variance[1], vec![2.0]);
/// assert_eq!(s.quantiles[0].1[1], vec![2.0]);
/// ```
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
    pub fn new(sols: &[Solution<Vec<R>>], levels: &[f64]) -> Result<Self, Error> {
        let first = sols.first().ok_or(Error::InvalidOption {
            option: "ensemble",
            reason: "no trajectories to summarise".into(),
        })?;
        if let Some(q) = levels.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(Error::InvalidOption {
                option: "levels",
                reason: format!("quantile levels must lie in [0, 1], got {q}"),
            });
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
                });
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
