//! Ensembles of delay equations: many solves (other starts, parameters or histories) on rayon's
//! thread pool, through the same driver as ODE and SDE ensembles
//! ([`sciml_ode::ensemble::solve_each`]).
//!
//! A `DdeProblem` owns its history function (a boxed `FnMut`), so it cannot be cloned per
//! variant as an ODE problem is; instead the caller says how to build the `i`-th problem.

use crate::error::DdeError;
use crate::field::DdeField;
use crate::function::DdeFunction;
use crate::method_of_steps::MethodOfSteps;
use crate::problem::DdeProblem;
use sciml_core::{Re, Solution};
use sciml_ode::{OdeMethod, SolveOptions};

/// The outcome of one member of a DDE ensemble: its solution, or why it could not be built or
/// solved (the other members are unaffected).
pub type DdeEnsembleResult<V> = Result<Solution<V>, DdeError<V>>;

/// Builds and solves `count` delay problems in parallel: `build(i)` gives the `i`-th problem
/// (its start, parameters, history and lags), each is solved with `alg` and `opts`, and the
/// results come back in index order, so the ensemble is the same on any number of threads.
/// A member whose problem is invalid (`build` returns an `Err`) or whose solve fails gives its
/// `Err` in its slot.
///
/// ```
/// use sciml_dde::{solve_dde_ensemble, DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
/// use sciml_ode::{SaveAt, SolveOptions, Tsit5};
/// // u'(t) = -p u(t - 1), u = 1 before 0: on [0, 1] the solution is 1 - p t.
/// let build = |i: usize| {
///     let f = DdeFn::new(1, 1, |du: &mut Vec<f64>, _u: &Vec<f64>, h: &mut History<'_, Vec<f64>, Vec<f64>>, p: &Vec<f64>, t: f64| {
///         du[0] = -p[0] * h.value(t - 1.0)[0];
///     });
///     DdeProblem::new(f, vec![1.0], InitialHistory::constant(vec![1.0]), (0.0, 1.0), vec![0.1 * i as f64])?
///         .with_lags(vec![1.0])
/// };
/// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![1.0]));
/// let sols = solve_dde_ensemble(4, build, MethodOfSteps::new(Tsit5), &opts);
/// for (i, sol) in sols.iter().enumerate() {
///     let u1 = sol.as_ref().unwrap().u[0][0];
///     assert!((u1 - (1.0 - 0.1 * i as f64)).abs() < 1e-10);
/// }
/// ```
pub fn solve_dde_ensemble<F, M, C, B>(
    count: usize,
    build: B,
    alg: MethodOfSteps<M>,
    opts: &SolveOptions<Re<F::V>>,
) -> Vec<DdeEnsembleResult<F::V>>
where
    F: DdeFunction,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C> + Sync,
    C: Clone + Send,
    B: Fn(usize) -> Result<DdeProblem<F>, DdeError<F::V>> + Sync + Send,
    SolveOptions<Re<F::V>>: Sync,
    DdeEnsembleResult<F::V>: Send,
{
    sciml_ode::ensemble::solve_each(count, |i| {
        let mut prob = build(i)?;
        prob.solve(alg.clone(), opts)
    })
}
