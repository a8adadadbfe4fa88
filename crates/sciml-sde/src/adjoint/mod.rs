//! Sensitivities of SDE solutions: the discrete adjoint through the steps, with the Brownian
//! increments replayed from the solve's [`crate::BrownianTree`].

mod discrete;

pub use discrete::{discrete_adjoint, SdeAdjoint};
