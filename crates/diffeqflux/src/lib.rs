//! Neural differential equations: explicit-parameter neural layers ([`nn`]), optimisers
//! ([`optim`]) and the training loop ([`train`]).
//!
//! Layers hold only shapes and choices; their parameters live in one flat vector that the
//! optimiser and the adjoint both see (Lux's explicit-parameter style).
//!
//! ```
//! use diffeqflux::nn::{Activation, Chain, Dense};
//! use diffeqflux::optim::{Adam, Optimiser};
//! use diffeqflux::NeuralOde;
//! use sciml_ode::Tsit5;
//!
//! let ts: Vec<f64> = (0..30).map(|i| 1.5 * i as f64 / 29.0).collect();
//! let model = Chain::new((Dense::new(2, 50, Activation::Tanh), Dense::new(50, 2, Activation::Identity)))?;
//! let node = NeuralOde::new(model, (0.0, 1.5), Tsit5, ts)?; // AutoSensitivity: here the discrete adjoint
//! let mut p = node.init_params(0);
//! let mut adam = Adam::new(0.05)?;
//! let mut first = None;
//! for _ in 0..20 {
//!     // the loss on the trajectory and its cotangents (one per saved state)
//!     let g = node.loss_and_gradient(&[2.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
//!         let loss = us.iter().flatten().map(|x| x * x).sum::<f64>();
//!         (loss, us.iter().map(|u| u.iter().map(|x| 2.0 * x).collect()).collect())
//!     })?;
//!     first.get_or_insert(g.loss);
//!     adam.step(&mut p, &g.dp)?;
//! }
//! let sol = node.solve(&[2.0, 0.0], &p)?;
//! let last: f64 = sol.u.iter().flatten().map(|x| x * x).sum();
//! assert!(last < first.unwrap_or(f64::INFINITY));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "candle")]
pub mod candle;
pub mod collocation;
pub mod data;
pub mod multiple_shooting;
pub mod neural_de;
pub mod nn;
pub mod optim;
#[cfg(feature = "plot")]
pub mod plot;
pub mod train;

#[cfg(feature = "dae")]
pub use neural_de::NeuralDae;
pub use neural_de::{
    AugmentedNde, AutoSensitivity, DiagonalNormal, Ffjord, FfjordDistribution, LossGradient,
    ModelField, NeuralDe, NeuralField, NeuralOde, NeuralParams, TrajectoryLoss,
};
#[cfg(feature = "dde")]
pub use neural_de::{CddeHistory, CddeSensitivity, NeuralCdde};
#[cfg(feature = "sde")]
pub use neural_de::{
    NeuralDsde, NeuralSde, NeuralSdeLayer, NeuralSdeSystem, SdeLossGradient, SdePullback,
    SdeSensitivity,
};

/// The neural ODE layer's former module: its items live in [`neural_de`] now.
pub mod neural_ode {
    pub use crate::neural_de::{LossGradient, NeuralField, NeuralOde, TrajectoryLoss};
}

/// The neural SDE layers' former module: their items live in [`neural_de`] now.
#[cfg(feature = "sde")]
pub mod neural_sde {
    pub use crate::neural_de::{
        NeuralDsde, NeuralSde, NeuralSdeSystem, SdeLossGradient, SdeSensitivity,
    };
}
