//! Optimisers on flat `f64` parameter vectors.
//!
//! Two families live here:
//!
//! - **First-order, stateful optimisers** behind the [`Optimiser`] trait: one
//!   [`step`](Optimiser::step) per gradient, used by the training loop in
//!   [`crate::train`]. [`Adam`] (Kingma & Ba 2015), [`AdamW`] (Loshchilov & Hutter 2019) and
//!   [`Sgd`] (with optional heavy-ball or Nesterov momentum), each following PyTorch's
//!   (and Optimisers.jl's) update equations exactly. Each optimiser is a plain serde value:
//!   hyperparameters together with its moment buffers, so a checkpoint can store it and a
//!   resumed run continues bit for bit. [`AnyOptimiser`] chooses one at run time.
//! - **Quasi-Newton minimisers** behind the [`Minimiser`] trait: [`Lbfgs`] (two-loop recursion,
//!   Nocedal & Wright 2006, algorithm 7.4) and [`Bfgs`] (dense inverse-Hessian update, N&W
//!   eq. 6.17). Both take a loss-and-gradient closure, run a line search satisfying the strong
//!   Wolfe conditions ([`StrongWolfe`], N&W algorithms 3.5 and 3.6) and iterate until the
//!   gradient is small, the loss stops changing, the step becomes tiny or the iteration limit
//!   is reached ([`Convergence`]). A non-finite loss or gradient met during the line search is
//!   treated as an infinitely bad point: the search backtracks (bisects) towards the last good
//!   step, so a trial step that makes an ODE blow up costs evaluations, not the run.
//!
//! # The objective closure
//!
//! Minimisers and the trainer call `f(x, grad) -> Result<f64, BoxError>`: write the gradient
//! at `x` into `grad` (zeroed before every call, so accumulating VJPs may add into it) and
//! return the loss. Any error type converts with `?`; an `Err` ends the run with
//! [`OptimError::Objective`]. To make a failed solve backtrack instead, return
//! `Ok(f64::INFINITY)`.
//!
//! # Why not argmin
//!
//! argmin 0.11 has L-BFGS, BFGS and a Moré–Thuente line search, but its solvers are generic
//! over a parameter type with a family of math traits and run inside an `Executor` that owns
//! the problem, an `IterState` and observers. Fitting a flat `Vec<f64>` and one fallible
//! `FnMut(&[f64], &mut [f64])` closure into it means wrapping the closure in a `CostFunction`
//! and a `Gradient` (two calls per point, or a cache keyed on the parameters), because argmin
//! asks for the cost and the gradient separately; its line searches do not treat a non-finite
//! cost as "backtrack"; and its state types would leak into our checkpoint format. The native
//! implementation is a few hundred lines, allocates once per run, evaluates cost and gradient
//! together and reports in this crate's own serde types.
//!
//! ```
//! use diffeqflux::optim::{Adam, Lbfgs, Minimiser, Optimiser};
//!
//! // A first-order step.
//! let mut adam = Adam::new(0.1)?;
//! let mut p = vec![1.0, -2.0];
//! adam.step(&mut p, &[0.5, -0.5])?;
//! assert!((p[0] - 0.9).abs() < 1e-7 && (p[1] + 1.9).abs() < 1e-7);
//!
//! // A quasi-Newton minimisation of f(x) = (x0 - 3)^2 + 10 (x1 + 1)^2.
//! let report = Lbfgs::new().minimise(&[0.0, 0.0], |x, g| {
//!     g[0] = 2.0 * (x[0] - 3.0);
//!     g[1] = 20.0 * (x[1] + 1.0);
//!     Ok((x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2))
//! })?;
//! assert!((report.params[0] - 3.0).abs() < 1e-8 && (report.params[1] + 1.0).abs() < 1e-8);
//! # Ok::<(), diffeqflux::optim::OptimError>(())
//! ```

mod adam;
mod adamw;
mod any;
mod bfgs;
mod convergence;
mod lbfgs;
mod line_search;
mod quasi_newton;
mod sgd;

pub use adam::Adam;
pub use adamw::AdamW;
pub use any::AnyOptimiser;
pub use bfgs::Bfgs;
pub use convergence::Convergence;
pub use lbfgs::Lbfgs;
pub use line_search::StrongWolfe;
pub use quasi_newton::{IterState, MinimiseReport, Minimiser, Termination};
pub use sgd::Sgd;

/// The error type objective closures return: any error converts into it with `?`.
///
/// ```
/// use diffeqflux::optim::BoxError;
/// fn parse(s: &str) -> Result<f64, BoxError> {
///     Ok(s.parse::<f64>()?)
/// }
/// assert!(parse("x").is_err());
/// assert_eq!(parse("2.5").ok(), Some(2.5));
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the optimisers and minimisers. Each message says what to fix.
///
/// ```
/// use diffeqflux::optim::{Adam, OptimError};
/// let err = Adam::new(-1.0).unwrap_err();
/// assert!(matches!(err, OptimError::InvalidHyperparameter { name: "lr", .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// A hyperparameter has a value it cannot take.
    #[error("invalid hyperparameter `{name}` = {value}: {reason}")]
    InvalidHyperparameter {
        /// The hyperparameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What is allowed.
        reason: &'static str,
    },
    /// A vector has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    DimensionMismatch {
        /// What was given.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// An input contains a NaN or infinite value.
    #[error("{what} contains a non-finite value ({value}) at index {index}; give finite values")]
    NonFinite {
        /// What was given.
        what: &'static str,
        /// The first offending index.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The loss or gradient at the starting point is not finite, so there is nothing to
    /// backtrack to.
    #[error(
        "the loss ({loss}) or its gradient is not finite at the starting point; \
         start from parameters where the objective is finite"
    )]
    NonFiniteStart {
        /// The loss at the starting point.
        loss: f64,
    },
    /// There are no parameters to optimise.
    #[error("the parameter vector is empty; give at least one parameter")]
    EmptyParameters,
    /// The objective closure returned an error.
    #[error("the objective failed after {evaluations} evaluation(s): {source}")]
    Objective {
        /// Number of successful evaluations before the failing one.
        evaluations: usize,
        /// The closure's error.
        #[source]
        source: BoxError,
    },
}

/// A stateful first-order optimiser on a flat parameter vector.
///
/// `step` applies one update `params ← update(params, grad, state)` in place. The optimiser
/// allocates its buffers on the first step (their length is then fixed until
/// [`reset`](Optimiser::reset)); later steps allocate nothing. A step with a gradient of the
/// wrong length or with a non-finite entry is refused with an `Err` before anything changes,
/// so the parameters and the optimiser's state stay as they were.
///
/// Implementations are serde values (hyperparameters and state together), which is how
/// [`crate::train`] checkpoints them.
///
/// ```
/// use diffeqflux::optim::{Optimiser, Sgd};
/// fn descend(opt: &mut dyn Optimiser, p: &mut [f64]) {
///     for _ in 0..100 {
///         let g: Vec<f64> = p.iter().map(|x| 2.0 * x).collect(); // d/dp |p|^2
///         opt.step(p, &g).unwrap();
///     }
/// }
/// let mut p = vec![1.0, -1.0];
/// descend(&mut Sgd::new(0.1)?, &mut p);
/// assert!(p.iter().all(|x| x.abs() < 1e-8));
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
pub trait Optimiser {
    /// Applies one update to `params` given the gradient `grad` of the loss at `params`.
    ///
    /// # Errors
    /// [`OptimError::DimensionMismatch`] if `grad` and `params` differ in length or differ
    /// from the length of the state; [`OptimError::NonFinite`] if `grad` holds a NaN or an
    /// infinity. Nothing is changed on error.
    ///
    /// ```
    /// use diffeqflux::optim::{Optimiser, Sgd};
    /// let mut sgd = Sgd::new(0.1)?;
    /// let mut p = vec![1.0];
    /// sgd.step(&mut p, &[2.0])?;
    /// assert!((p[0] - 0.8).abs() < 1e-15);
    /// assert!(sgd.step(&mut p, &[f64::NAN]).is_err());
    /// assert!((p[0] - 0.8).abs() < 1e-15); // unchanged
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<(), OptimError>;

    /// Forgets the state (moments, step count); hyperparameters stay.
    ///
    /// ```
    /// use diffeqflux::optim::{Adam, Optimiser};
    /// let mut adam = Adam::new(0.1)?;
    /// adam.step(&mut [1.0, 2.0], &[0.1, 0.2])?;
    /// adam.reset();
    /// assert_eq!(adam.steps(), 0);
    /// adam.step(&mut [1.0, 2.0, 3.0], &[0.1, 0.2, 0.3])?; // any length after a reset
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    fn reset(&mut self);

    /// A short lower-case name, e.g. `"adam"`.
    fn name(&self) -> &'static str;

    /// The learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (for schedules).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `lr` is finite and positive.
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError>;

    /// Number of steps taken since construction or the last reset.
    fn steps(&self) -> u64;
}

/// Checks a learning rate: finite and positive.
pub(crate) fn check_lr(lr: f64) -> Result<f64, OptimError> {
    check_positive("lr", lr)
}

/// Checks a finite, strictly positive hyperparameter.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<f64, OptimError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(OptimError::InvalidHyperparameter {
            name,
            value,
            reason: "must be finite and positive",
        })
    }
}

/// Checks a finite hyperparameter that may be zero but not negative.
pub(crate) fn check_non_negative(name: &'static str, value: f64) -> Result<f64, OptimError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(OptimError::InvalidHyperparameter {
            name,
            value,
            reason: "must be finite and non-negative",
        })
    }
}

/// Checks a decay rate in `[0, 1)`.
pub(crate) fn check_beta(name: &'static str, value: f64) -> Result<f64, OptimError> {
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(OptimError::InvalidHyperparameter {
            name,
            value,
            reason: "must lie in [0, 1)",
        })
    }
}

/// Checks `params` and `grad` against each other, against the state length `state_len`
/// (0 = no state yet), and `grad` for non-finite entries.
pub(crate) fn check_step_input(
    params: &[f64],
    grad: &[f64],
    state_len: usize,
) -> Result<(), OptimError> {
    if grad.len() != params.len() {
        return Err(OptimError::DimensionMismatch {
            what: "gradient",
            expected: params.len(),
            got: grad.len(),
        });
    }
    if state_len != 0 && state_len != params.len() {
        return Err(OptimError::DimensionMismatch {
            what:
                "parameter vector (the optimiser's state was built for another length; call reset)",
            expected: state_len,
            got: params.len(),
        });
    }
    if let Some((index, &value)) = grad.iter().enumerate().find(|(_, g)| !g.is_finite()) {
        return Err(OptimError::NonFinite {
            what: "gradient",
            index,
            value,
        });
    }
    Ok(())
}

/// Checks a deserialised state buffer: right length, finite entries.
pub(crate) fn check_state_buffer(
    what: &'static str,
    buf: &[f64],
    expected: usize,
) -> Result<(), OptimError> {
    if buf.len() != expected {
        return Err(OptimError::DimensionMismatch {
            what,
            expected,
            got: buf.len(),
        });
    }
    if let Some((index, &value)) = buf.iter().enumerate().find(|(_, g)| !g.is_finite()) {
        return Err(OptimError::NonFinite { what, index, value });
    }
    Ok(())
}
