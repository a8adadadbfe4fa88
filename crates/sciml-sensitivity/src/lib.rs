//! Sensitivities of ODE and SDE solutions; for ODEs, as pullbacks (DESIGN decision 8): a method's `forward` solves
//! and returns the solution with a tape; `backward` takes the cotangents of the saved states and
//! returns the gradients with respect to the initial state and the parameters. The method, not
//! the user's options, decides what the forward solve keeps.
//!
//! | method | what it differentiates | needs |
//! |---|---|---|
//! | [`DiscreteAdjoint`] | the computed solution, exactly (reverse through the steps taken) | `Vjp`, a `StepVjp` method |
//! | [`ForwardDiffSensitivity`] | the computed solution, exactly (dual numbers through the solver) | a field that lifts to dual numbers |
//! | [`ForwardSensitivity`] | the exact solution, to tolerance (sensitivity equations alongside) | `Jvp` |
//! | [`InterpolatingAdjoint`] | the exact solution, to tolerance (`u` from dense output or recomputed) | `Vjp` |
//! | [`BacksolveAdjoint`] | the exact solution, to tolerance (`u` solved backwards) | `Vjp` |
//! | [`QuadratureAdjoint`] | the exact solution, to tolerance (`μ` by quadrature after `λ`) | `Vjp` |
//! | [`GaussAdjoint`] | the exact solution, to tolerance (`μ` by quadrature while `λ` is solved) | `Vjp` |
//!
//! SDE solutions (`sciml_sde`, with the `sde` feature) are differentiated by the same
//! [`BacksolveAdjoint`] and [`InterpolatingAdjoint`] (continuous adjoints on the forward
//! Brownian path) and by the SDE discrete adjoint; see [`sde`].
//!
//! Delay-equation solutions (`sciml_dde`, with the `dde` feature) are differentiated in forward
//! mode by [`dde::DdeForwardDiff`] and by the discrete adjoint [`dde::DdeDiscreteAdjoint`].
//!
//! Gradients are of the computed solution on a frozen mesh: the step-size controller is never
//! differentiated (DESIGN decision 7), so the discrete adjoint and dual numbers agree to rounding.

mod continuous;
#[cfg(feature = "dde")]
pub mod dde;
mod discrete;
mod forward;
mod forward_diff;
mod gradient;
#[cfg(feature = "sde")]
pub mod sde;

pub use continuous::{
    BacksolveAdjoint, BacksolveTape, GaussAdjoint, GaussTape, InterpolatedAdjoint,
    InterpolatingAdjoint, InterpolatingAdjointWith, InterpolatingTape, LambdaAdjoint, NoCost,
    PackedAdjoint, QuadratureAdjoint, QuadratureTape,
};
pub use discrete::{Checkpointing, DiscreteAdjoint, DiscreteTape};
pub use forward::{ForwardSensitivity, ForwardSensitivityTape};
pub use forward_diff::{DualField, ForwardDiffSensitivity, ForwardDiffTape};
pub use gradient::{BackwardResult, ForwardResult, Gradient, Sensitivity};
