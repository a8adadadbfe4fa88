//! Differential-algebraic equations `F(u′, u, p, t) = 0`.
//!
//! * [`DaeProblem`]: the residual, `du0`, `u0`, the span, the parameters and
//!   `differential_vars`, validated on construction.
//! * [`DaeFunction`] / [`DaeJacobian`]: the residual and its Jacobians `∂F/∂u`, `∂F/∂u′`, from
//!   closures ([`DaeClosure`]), forward differences ([`DaeFiniteDiff`]) or dual numbers over a
//!   residual written generically ([`DaeForwardAd`] over a [`GenericResidual`]); [`DaeJvp`]:
//!   its directional derivatives, for the Jacobian-free strategy (dual numbers or differences).
//! * [`DaeBdf`]: variable-order (1–5), variable-step BDF with fixed (leading) coefficients,
//!   a [`sciml_ode::Stepper`] on sciml-ode's step loop with its shared Newton iteration and
//!   linear strategies (module [`bdf`]); `suppress_alg` leaves the algebraic variables out of
//!   the error test.
//! * Linear strategies ([`DaeLinearSolver`], module [`linear`]): sciml-ode's `DenseSolve` (the
//!   default), `SparseSolve` (sparse LU; Jacobians on a pattern by coloured products,
//!   [`DaeColoured`], module [`sparse`]) and `KrylovSolve` (Jacobian-free GMRES, optionally with
//!   a [`DaePreconditioner`]), chosen by [`DaeBdf::linear_solver`].
//! * [`MassMatrixDae`]: a mass-matrix DAE `M u′ = f(t, u, p)` as a residual, so one crate takes
//!   every DAE.
//! * [`DaeInit`]: `CheckInit`, `BrownFullBasicInit` and `ShampineCollocationInit` (module
//!   [`init`]), with the solve's linear strategy.
//! * Forward sensitivities ([`DaeProblem::solve_forward_sensitivity`], staggered direct as
//!   IDAS), with `∂F/∂p` from [`DaeJacobian::param_jacobian`]; with respect to the differential
//!   start values too ([`DaeProblem::solve_forward_sensitivity_u0`]); with any linear strategy.
//! * The discrete adjoint through the BDF steps ([`DaeProblem::solve_with_tape`], then
//!   [`DaeProblem::discrete_adjoint`]; module [`adjoint`]): exact on the computed mesh; with the
//!   dense or the sparse LU ([`DaeTransposeSolver`]).
//!
//! Events: [`DaeProblem::solve_with_callbacks`] (a state-changing event must leave a consistent
//! state; it is not checked).
//!
//! Not yet here: dual numbers through the solver, the adjoint with events or with the
//! Jacobian-free strategy. The neural layer on this crate
//! is `diffeqflux::neural_de::NeuralDae`.

pub mod adjoint;
pub mod bdf;
pub mod error;
pub mod forward_ad;
pub mod function;
pub mod init;
pub mod linear;
pub mod mass;
pub mod problem;
pub mod sparse;

pub use adjoint::{DaeGradient, DaeTape};
pub use bdf::{DaeBdf, DaeBdfStepper};
pub use error::DaeError;
pub use forward_ad::{DaeForwardAd, GenericResidual};
pub use function::{DaeClosure, DaeFiniteDiff, DaeFunction, DaeJacobian, DaeJvp, NoJacobians};
pub use init::DaeInit;
pub use linear::{DaeLinearSolver, DaePreconditioner, DaeTransposeSolver, DaeW};
pub use mass::MassMatrixDae;
pub use problem::{sensitivity, DaeProblem};
pub use sparse::{DaeColoured, DaeSparseJacobian};
