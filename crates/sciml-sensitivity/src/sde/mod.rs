//! Sensitivities of SDE solutions (`sciml_sde`), with the Brownian increments replayed from the
//! solve's Brownian tree on its fixed grid ([`sciml_sde::replay`]):
//!
//! - [`discrete_adjoint`]: reverse-mode differentiation through the Euler–Maruyama or Euler–Heun
//!   steps, the exact derivative of the computed solution;
//! - [`crate::BacksolveAdjoint`] and [`crate::InterpolatingAdjoint`], the ODE adjoints' types,
//!   through [`ContinuousSdeAdjoint`]: continuous adjoints of Stratonovich SDEs (`gradient`) and
//!   of Itô SDEs through the drift correction (`gradient_ito`, with
//!   [`sciml_sde::ItoCorrection`]); backsolve in `O(1)` memory in the number of steps,
//!   interpolating on the stored or checkpointed forward states.

mod backward;
mod continuous;
mod discrete;

pub use continuous::ContinuousSdeAdjoint;
pub use discrete::discrete_adjoint;

use sciml_core::{Error, Real, Solution};
use sciml_sde::SdeError;

/// The solution and the gradients of a loss with respect to `u0` and `p`.
#[derive(Clone, Debug)]
pub struct SdeAdjoint<R: Real> {
    /// The forward solution (saved as `opts.saveat` asks).
    pub sol: Solution<Vec<R>>,
    /// The loss.
    pub loss: R,
    /// `dL/du0`.
    pub du0: Vec<R>,
    /// `dL/dp`.
    pub dp: Vec<R>,
}

/// Checks that a loss returned one finite cotangent of length `n` per saved state (as the ODE
/// adjoints check theirs).
fn check_cotangents<R: Real>(cot: &[Vec<R>], saves: usize, n: usize) -> Result<(), SdeError> {
    if cot.len() != saves || cot.iter().any(|c| c.len() != n) {
        return Err(Error::DimensionMismatch {
            what: "loss cotangents (one per saved state, each of the state's length)".into(),
            expected: saves * n,
            got: cot.iter().map(|c| c.len()).sum(),
        }
        .into());
    }
    for (k, c) in cot.iter().enumerate() {
        sciml_core::check_state(format_args!("loss cotangent {k}"), c, n)?;
    }
    Ok(())
}
