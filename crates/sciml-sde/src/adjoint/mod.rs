//! Sensitivities of SDE solutions, with the Brownian increments replayed from the solve's
//! [`crate::BrownianTree`]: the discrete adjoint through the steps (exact derivative of the
//! computed solution) and the backsolve adjoint of Stratonovich SDEs (continuous, `O(1)` memory).

mod backsolve;
mod discrete;

pub use backsolve::backsolve_adjoint;
pub use discrete::{discrete_adjoint, SdeAdjoint};
