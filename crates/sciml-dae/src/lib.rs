//! Differential-algebraic equations `F(u′, u, p, t) = 0`.
//!
//! * [`DaeProblem`]: the residual, `du0`, `u0`, the span, the parameters and
//!   `differential_vars`, validated on construction.
//! * [`DaeFunction`] / [`DaeJacobian`]: the residual and its Jacobians `∂F/∂u`, `∂F/∂u′`, from
//!   closures ([`DaeClosure`]), forward differences ([`DaeFiniteDiff`]) or dual numbers over a
//!   residual written generically ([`DaeForwardAd`] over a [`GenericResidual`]).
//! * [`DaeBdf`]: variable-order (1–5), variable-step BDF with fixed (leading) coefficients,
//!   a [`sciml_ode::Stepper`] on sciml-ode's step loop with its shared Newton iteration and
//!   dense linear strategy (module [`bdf`]); `suppress_alg` leaves the algebraic variables out of
//!   the error test.
//! * [`MassMatrixDae`]: a mass-matrix DAE `M u′ = f(t, u, p)` as a residual, so one crate takes
//!   every DAE.
//! * [`DaeInit`]: `CheckInit` and `BrownFullBasicInit` (module [`init`]).
//! * Forward sensitivities ([`DaeProblem::solve_forward_sensitivity`], staggered direct as
//!   IDAS), with `∂F/∂p` from [`DaeJacobian::param_jacobian`]; with respect to the differential
//!   start values too ([`DaeProblem::solve_forward_sensitivity_u0`]).
//! * The discrete adjoint through the BDF steps ([`DaeProblem::solve_with_tape`], then
//!   [`DaeProblem::discrete_adjoint`]; module [`adjoint`]): exact on the computed mesh.
//!
//! Events: [`DaeProblem::solve_with_callbacks`] (a state-changing event must leave a consistent
//! state; it is not checked).
//!
//! Not yet here: sparse and Krylov linear strategies for DAEs, dual numbers through the
//! solver, `ShampineCollocationInit`, the adjoint with events. The neural layer on this crate
//! is `diffeqflux::neural_de::NeuralDae`.

pub mod adjoint;
pub mod bdf;
pub mod error;
pub mod forward_ad;
pub mod function;
pub mod init;
pub mod mass;
pub mod problem;

pub use adjoint::{DaeGradient, DaeTape};
pub use bdf::{DaeBdf, DaeBdfStepper};
pub use error::DaeError;
pub use forward_ad::{DaeForwardAd, GenericResidual};
pub use function::{DaeClosure, DaeFiniteDiff, DaeFunction, DaeJacobian, NoJacobians};
pub use init::DaeInit;
pub use mass::MassMatrixDae;
pub use problem::{sensitivity, DaeProblem};
