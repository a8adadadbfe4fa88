//! The crate's error type: bad input before any work, and failed integrations with what was
//! computed up to the failure.

use sciml_core::{ReturnCode, Solution, SolveError, State};

/// Why a delay equation could not be set up or solved. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DdeError<V: State> {
    /// Input rejected by the shared checks (lengths, finite values, span, options).
    #[error(transparent)]
    Input(#[from] sciml_core::Error),
    /// A constant lag is not a positive finite number.
    #[error("lag {index} is {value}; lags must be finite and positive (a zero lag is an ODE term: read `u` instead)")]
    InvalidLag {
        /// Position in the list of constant lags.
        index: usize,
        /// The value given.
        value: f64,
    },
    /// The history function (or constant) has the wrong length.
    #[error("the history before t0 has length {got}, expected {expected} (the length of u0)")]
    HistoryLength {
        /// The state's length.
        expected: usize,
        /// The length the history wrote or was given.
        got: usize,
    },
    /// The history before `t0` gave a NaN or infinite value.
    #[error("the history before t0 is not finite at t = {t}; give a finite history")]
    HistoryNonFinite {
        /// Where it was evaluated.
        t: f64,
    },
    /// A state-dependent lag returned zero, a negative value or NaN during the solve.
    #[error("state-dependent lag {index} returned {value} at t = {t}; lags must stay positive (a neutral or advanced equation is out of scope)")]
    LagNotPositive {
        /// Position in the list of state-dependent lags.
        index: usize,
        /// Where.
        t: f64,
        /// What it returned.
        value: f64,
        /// The solution up to the last accepted step.
        partial: Box<Solution<V>>,
    },
    /// The right-hand side read the history at a time later than the stage it was evaluating.
    #[error("the right-hand side read the history at t = {query} while evaluating t = {t}; only earlier times can be read (lags must be positive)")]
    FutureHistory {
        /// The stage's time.
        t: f64,
        /// The time that was read.
        query: f64,
        /// The solution up to the last accepted step.
        partial: Box<Solution<V>>,
    },
    /// The right-hand side read the solution further back than the kept window
    /// (`MethodOfSteps::history_window`).
    #[error("the right-hand side read u at t = {query} while evaluating t = {t}, older than the kept history window; widen `history_window` to cover the largest lag")]
    HistoryDropped {
        /// The stage's time.
        t: f64,
        /// The time that was read.
        query: f64,
        /// The solution up to the last accepted step.
        partial: Box<Solution<V>>,
    },
    /// A step longer than a lag needed the fixed-point iteration on its own interpolant, and
    /// it did not converge (and the step could not be shrunk: fixed steps, or the step size
    /// fell below its minimum). Raise `MethodOfSteps::fixed_point_iters`, loosen
    /// `fixed_point_tol`, or allow adaptive steps.
    #[error("the fixed-point iteration of the step at t = {t} did not converge in {iterations} iterations (return code: {code})")]
    FixedPointNotConverged {
        /// Start of the step.
        t: f64,
        /// Iterations tried.
        iterations: usize,
        /// The loop's return code at the stop.
        code: ReturnCode,
        /// The solution up to the failure.
        partial: Box<Solution<V>>,
    },
    /// The integration failed as an ODE solve can (too many steps, step size too small,
    /// non-finite state); `partial` inside holds the solution so far.
    #[error(transparent)]
    Solve(SolveError<V>),
}

impl<V: State> From<SolveError<V>> for DdeError<V> {
    fn from(e: SolveError<V>) -> Self {
        match e {
            SolveError::Input(e) => DdeError::Input(e),
            other => DdeError::Solve(other),
        }
    }
}
