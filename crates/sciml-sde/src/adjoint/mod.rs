//! Sensitivities of SDE solutions, with the Brownian increments replayed from the solve's
//! [`crate::BrownianTree`]:
//!
//! - [`discrete_adjoint`]: reverse-mode differentiation through the Euler–Maruyama or Euler–Heun
//!   steps, the exact derivative of the computed solution;
//! - [`BacksolveAdjoint`] and [`InterpolatingAdjoint`]: continuous adjoints of Stratonovich SDEs
//!   (`gradient`) and of Itô SDEs through the drift correction (`gradient_ito`, with
//!   [`crate::ItoCorrection`]); backsolve in `O(1)` memory in the number of steps, interpolating
//!   on the stored or checkpointed forward states.

mod continuous;
mod discrete;
mod forward;

pub use continuous::{BacksolveAdjoint, InterpolatingAdjoint};
pub use discrete::{discrete_adjoint, SdeAdjoint};
