//! Delay differential equations by the method of steps, on the shared step loop of
//! `sciml-ode`.
//!
//! `u'(t) = f(u(t), h, p, t)`, where `h` ([`History`]) reads `u` at earlier times: the history
//! before `t0` ([`InitialHistory`], a function or a constant), the solve's own dense output
//! after it. A [`DdeProblem`] declares its lags (constant ones for discontinuity tracking,
//! state-dependent ones checked to stay positive) and is solved by [`MethodOfSteps`] around an
//! ODE method with dense output (BS3, DP5, Tsit5, Vern6–9; Rodas5P and KenCarp4 with a
//! [`DdeJacobian`] or [`FiniteDiffJacobian`]). The method is stepped unchanged on a
//! [`DdeField`]: the right-hand side with the history lent for one step.
//!
//! - Steps may be longer than the smallest lag: the values inside the step are resolved by a
//!   fixed-point iteration on the step's own interpolant (tolerance and iteration limit in
//!   [`MethodOfSteps`]; non-convergence rejects the step, and where that cannot help the solve
//!   ends with [`DdeError::FixedPointNotConverged`]).
//! - The derivative discontinuities of constant lags, `t0 + Σ kᵢτᵢ` up to the method's order,
//!   are tstops; those of state-dependent lags are located as events and the crossing step is
//!   retaken to end on them.
//! - `MethodOfSteps::history_window` bounds the memory of long solves with bounded lags.
//! - The state may be `Vec<f32>`, `Vec<f64>` or dual numbers (forward-mode derivatives).
//! - Options, saves, dense output, callbacks and return codes are the ODE solvers'.
//!
//! Neutral equations (the right-hand side reading `u'` at earlier times) are out of scope.

mod dependent;
#[cfg(feature = "ensemble")]
mod ensemble;
mod error;
mod field;
mod function;
mod history;
mod jacobian;
mod lags;
mod method_of_steps;
mod problem;
mod stepper;

#[cfg(feature = "ensemble")]
pub use ensemble::{solve_dde_ensemble, DdeEnsembleResult};
pub use error::DdeError;
pub use field::DdeField;
pub use function::{DdeFn, DdeFunction};
pub use history::{History, HistoryFn, HistorySource, InitialHistory};
pub use jacobian::{DdeJacobian, FiniteDiffJacobian};
pub use lags::{LagFn, MAX_TRACKED_DISCONTINUITIES};
pub use method_of_steps::{MethodOfSteps, FIXED_POINT_TOL_FACTOR};
pub use problem::DdeProblem;
pub use stepper::FixedPointStats;
