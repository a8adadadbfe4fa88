//! The quasi-Newton driver shared by [`Lbfgs`](super::Lbfgs) and [`Bfgs`](super::Bfgs):
//! direction, strong-Wolfe line search, curvature update, stopping rules.

use super::line_search::LsOutcome;
use super::{BoxError, Convergence, OptimError, StrongWolfe};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Why a minimisation stopped.
///
/// ```
/// use diffeqflux::optim::{Lbfgs, Minimiser, Termination};
/// let r = Lbfgs::new().minimise(&[1.0], |x, g| { g[0] = 2.0 * x[0]; Ok(x[0] * x[0]) })?;
/// assert_eq!(r.termination, Termination::GradientTolerance);
/// assert!(r.termination.converged());
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Termination {
    /// `‖∇f‖∞ ≤ grad_tol`.
    GradientTolerance,
    /// The relative change of the loss fell below `f_rel_tol`.
    LossTolerance,
    /// The step fell below `x_tol`.
    StepTolerance,
    /// `max_iters` iterations were done.
    MaxIterations,
    /// No step along steepest descent decreased the loss (usually: converged as far as
    /// floating point allows, or the gradient is wrong).
    LineSearchFailed,
    /// The callback asked to stop.
    Callback,
}

impl Termination {
    /// Whether a convergence test (gradient, loss change or step) stopped the run.
    ///
    /// ```
    /// use diffeqflux::optim::Termination;
    /// assert!(Termination::LossTolerance.converged());
    /// assert!(!Termination::MaxIterations.converged());
    /// ```
    pub fn converged(self) -> bool {
        matches!(
            self,
            Termination::GradientTolerance
                | Termination::LossTolerance
                | Termination::StepTolerance
        )
    }
}

/// The outcome of a minimisation.
///
/// ```
/// use diffeqflux::optim::{Bfgs, Minimiser};
/// let r = Bfgs::new().minimise(&[3.0, 4.0], |x, g| {
///     g.copy_from_slice(x);
///     Ok(0.5 * (x[0] * x[0] + x[1] * x[1]))
/// })?;
/// assert!(r.loss < 1e-12);
/// assert_eq!(r.loss_history.len(), r.iterations + 1);
/// assert!(r.evaluations >= r.iterations);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinimiseReport {
    /// The final parameters (the best point found: every accepted step decreases the loss).
    pub params: Vec<f64>,
    /// The loss at `params`.
    pub loss: f64,
    /// `‖∇f‖∞` at `params`.
    pub grad_norm: f64,
    /// Iterations done (accepted steps).
    pub iterations: usize,
    /// Objective evaluations, line searches included.
    pub evaluations: usize,
    /// Why it stopped.
    pub termination: Termination,
    /// The loss at the start and after every iteration (`iterations + 1` values).
    pub loss_history: Vec<f64>,
    /// Wall-clock time of the run.
    pub wall_time: Duration,
}

/// What a minimiser's callback sees after each iteration.
///
/// ```
/// use diffeqflux::optim::{IterState, Lbfgs, Minimiser, Termination};
/// let r = Lbfgs::new().minimise_with_callback(
///     &[5.0, 5.0],
///     |x, g| { g[0] = 2.0 * x[0]; g[1] = 8.0 * x[1]; Ok(x[0] * x[0] + 4.0 * x[1] * x[1]) },
///     |s: &IterState<'_>| s.iteration >= 1, // stop after the first iteration
/// )?;
/// assert_eq!(r.termination, Termination::Callback);
/// assert_eq!(r.iterations, 1);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct IterState<'a> {
    /// Iterations done.
    pub iteration: usize,
    /// The loss at `params`.
    pub loss: f64,
    /// `‖∇f‖∞` at `params`.
    pub grad_norm: f64,
    /// The current parameters.
    pub params: &'a [f64],
}

/// A minimiser that iterates a loss-and-gradient closure to convergence.
///
/// The closure `f(x, grad)` writes `∇f(x)` into `grad` (zeroed before each call) and
/// returns `f(x)`; see the [module documentation](super) for error handling.
///
/// ```
/// use diffeqflux::optim::{Bfgs, Lbfgs, MinimiseReport, Minimiser, OptimError};
/// fn solve(m: &impl Minimiser) -> Result<MinimiseReport, OptimError> {
///     m.minimise(&[0.0], |x, g| { g[0] = 2.0 * (x[0] - 1.0); Ok((x[0] - 1.0).powi(2)) })
/// }
/// assert!((solve(&Lbfgs::new())?.params[0] - 1.0).abs() < 1e-10);
/// assert!((solve(&Bfgs::new())?.params[0] - 1.0).abs() < 1e-10);
/// # Ok::<(), OptimError>(())
/// ```
pub trait Minimiser {
    /// Minimises `f` from `x0`, calling `callback` after every iteration (returning `true`
    /// stops the run with [`Termination::Callback`]).
    ///
    /// # Errors
    /// [`OptimError::EmptyParameters`], [`OptimError::NonFinite`] for a non-finite `x0`,
    /// [`OptimError::NonFiniteStart`] if the loss or gradient at `x0` is not finite,
    /// [`OptimError::Objective`] if the closure returns an error.
    fn minimise_with_callback<F, C>(
        &self,
        x0: &[f64],
        f: F,
        callback: C,
    ) -> Result<MinimiseReport, OptimError>
    where
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
        C: FnMut(&IterState<'_>) -> bool;

    /// Minimises `f` from `x0`.
    ///
    /// # Errors
    /// As [`minimise_with_callback`](Minimiser::minimise_with_callback).
    fn minimise<F>(&self, x0: &[f64], f: F) -> Result<MinimiseReport, OptimError>
    where
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
    {
        self.minimise_with_callback(x0, f, |_| false)
    }
}

/// How a quasi-Newton method turns gradients into search directions.
pub(crate) trait Direction {
    /// Writes `d = −H g` (`H` the current inverse-Hessian approximation).
    fn direction(&mut self, g: &[f64], d: &mut [f64]);
    /// Feeds the step `s = x₊ − x` and gradient change `y = g₊ − g`.
    fn update(&mut self, s: &[f64], y: &[f64]);
    /// Forgets all curvature information.
    fn reset(&mut self);
    /// Whether there is no curvature information yet (the direction is steepest descent).
    fn is_empty(&self) -> bool;
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0_f64, |m, x| m.max(x.abs()))
}

/// Calls the objective with a zeroed gradient, counting evaluations.
fn call<F>(f: &mut F, x: &[f64], g: &mut [f64], evals: &mut usize) -> Result<f64, OptimError>
where
    F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
{
    g.fill(0.0);
    let v = f(x, g).map_err(|source| OptimError::Objective {
        evaluations: *evals,
        source,
    })?;
    *evals += 1;
    Ok(v)
}

/// Settings of one quasi-Newton run.
pub(crate) struct Settings<'a> {
    pub convergence: &'a Convergence,
    pub line_search: &'a StrongWolfe,
}

/// Runs the quasi-Newton iteration with direction rule `dir`.
pub(crate) fn run<D, F, C>(
    dir: &mut D,
    settings: Settings<'_>,
    x0: &[f64],
    mut f: F,
    mut callback: C,
) -> Result<MinimiseReport, OptimError>
where
    D: Direction,
    F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
    C: FnMut(&IterState<'_>) -> bool,
{
    let start = Instant::now();
    let conv = settings.convergence;
    let n = x0.len();
    if n == 0 {
        return Err(OptimError::EmptyParameters);
    }
    if let Some((index, &value)) = x0.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(OptimError::NonFinite {
            what: "starting point",
            index,
            value,
        });
    }
    let mut evals = 0usize;
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut fx = call(&mut f, &x, &mut g, &mut evals)?;
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Err(OptimError::NonFiniteStart { loss: fx });
    }
    let mut gnorm = inf_norm(&g);
    let mut history = vec![fx];
    let mut d = vec![0.0; n];
    let mut x_trial = vec![0.0; n];
    let mut g_trial = vec![0.0; n];
    let mut s = vec![0.0; n];
    let mut y = vec![0.0; n];
    let mut iterations = 0usize;

    let termination = if gnorm <= conv.grad_tol() {
        Termination::GradientTolerance
    } else {
        loop {
            if iterations >= conv.max_iters() {
                break Termination::MaxIterations;
            }
            dir.direction(&g, &mut d);
            let mut d0 = dot(&g, &d);
            if !(d0 < 0.0 && d0.is_finite()) {
                // Not a descent direction (rounding in H): restart from steepest descent.
                dir.reset();
                for (di, gi) in d.iter_mut().zip(&g) {
                    *di = -gi;
                }
                d0 = -dot(&g, &g);
            }
            let alpha_init = if dir.is_empty() {
                (1.0 / dot(&g, &g).sqrt()).min(1.0)
            } else {
                1.0
            };
            let outcome = {
                let (x, d) = (&x, &d);
                let (x_trial, g_trial) = (&mut x_trial, &mut g_trial);
                let (f, evals) = (&mut f, &mut evals);
                let phi = |alpha: f64| -> Result<(f64, f64), OptimError> {
                    for ((xt, xi), di) in x_trial.iter_mut().zip(x).zip(d) {
                        *xt = xi + alpha * di;
                    }
                    let v = call(f, x_trial, g_trial, evals)?;
                    Ok((v, dot(g_trial, d)))
                };
                settings.line_search.search(phi, fx, d0, alpha_init)?
            };
            let f_new = match outcome {
                LsOutcome::Accepted {
                    alpha,
                    f: f_alpha,
                    last,
                } => {
                    if last {
                        f_alpha
                    } else {
                        // The accepted step was not the last one tried: evaluate it again so
                        // the trial buffers hold its gradient.
                        for ((xt, xi), di) in x_trial.iter_mut().zip(&x).zip(&d) {
                            *xt = xi + alpha * di;
                        }
                        call(&mut f, &x_trial, &mut g_trial, &mut evals)?
                    }
                }
                LsOutcome::Failed => {
                    if dir.is_empty() {
                        break Termination::LineSearchFailed;
                    }
                    dir.reset();
                    continue;
                }
            };
            // A re-evaluation of a non-deterministic objective may disagree; never accept a
            // non-finite or worse point.
            if !(f_new.is_finite() && f_new <= fx) || g_trial.iter().any(|v| !v.is_finite()) {
                if dir.is_empty() {
                    break Termination::LineSearchFailed;
                }
                dir.reset();
                continue;
            }
            for i in 0..n {
                s[i] = x_trial[i] - x[i];
                y[i] = g_trial[i] - g[i];
            }
            dir.update(&s, &y);
            std::mem::swap(&mut x, &mut x_trial);
            std::mem::swap(&mut g, &mut g_trial);
            let f_prev = fx;
            fx = f_new;
            gnorm = inf_norm(&g);
            iterations += 1;
            history.push(fx);
            let state = IterState {
                iteration: iterations,
                loss: fx,
                grad_norm: gnorm,
                params: &x,
            };
            if callback(&state) {
                break Termination::Callback;
            }
            if gnorm <= conv.grad_tol() {
                break Termination::GradientTolerance;
            }
            if conv.f_rel_tol() > 0.0
                && (f_prev - fx).abs() <= conv.f_rel_tol() * f_prev.abs().max(fx.abs())
            {
                break Termination::LossTolerance;
            }
            if conv.x_tol() > 0.0 && inf_norm(&s) <= conv.x_tol() {
                break Termination::StepTolerance;
            }
        }
    };
    Ok(MinimiseReport {
        params: x,
        loss: fx,
        grad_norm: gnorm,
        iterations,
        evaluations: evals,
        termination,
        loss_history: history,
        wall_time: start.elapsed(),
    })
}
