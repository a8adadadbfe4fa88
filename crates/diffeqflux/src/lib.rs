//! Neural differential equations: explicit-parameter neural layers ([`nn`]), optimisers
//! ([`optim`]) and the training loop ([`train`]).
//!
//! Layers hold only shapes and choices; their parameters live in one flat vector that the
//! optimiser and the adjoint both see (Lux's explicit-parameter style).

pub mod neural_ode;
pub mod nn;
pub mod optim;
pub mod plot;
pub mod train;

pub use neural_ode::{LossGradient, NeuralField, NeuralOde, SensitivityChoice, TrajectoryLoss};
