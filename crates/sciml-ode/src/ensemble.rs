//! Many solves of one problem with different initial states and parameters, in parallel.

use crate::method::OdeMethod;
use crate::options::SolveOptions;
use crate::problem::OdeProblem;
use rayon::prelude::*;
use sciml_core::{Re, Solution, SolveError, VectorField};

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
    variants
        .into_par_iter()
        .map(|(u0, p)| {
            let mut prob = OdeProblem::new(problem.f.clone(), u0, problem.tspan, p)?;
            // Everything but (u0, p) comes from the problem, the mass matrix included.
            prob.mass.clone_from(&problem.mass);
            prob.solve(method.clone(), opts)
        })
        .collect()
}
