//! Collocation: fitting a vector field to smoothed data without solving it (DiffEqFlux's
//! `collocate_data`).
//!
//! [`collocate_data`] estimates the state and its derivative at every sample time by local
//! polynomial regression with a smoothing [`Kernel`]: a weighted line for `u`, a weighted
//! parabola whose slope is `u′`. [`CollocationLoss`] then trains a network `f` on the pairs
//! `(u, u′)` through `Σ ‖f(u) − u′‖²`, which costs one batched network pass per iteration instead
//! of an ODE solve and its adjoint. The result is a good start for a few iterations of
//! solver-based training (example `collocation`).
//!
//! ```
//! use diffeqflux::collocation::{collocate_data, Kernel};
//! // u = (sin t, cos t) on an irregular grid: u' = (cos t, -sin t).
//! let t: Vec<f64> = (0..200).map(|i| { let s = i as f64 / 199.0; 3.0 * s * s }).collect();
//! let data: Vec<Vec<f64>> = t.iter().map(|s| vec![s.sin(), s.cos()]).collect();
//! let c = collocate_data(&data, &t, Kernel::Triangular, None)?;
//! let err = t.iter().zip(&c.du).map(|(s, d)| (d[0] - s.cos()).abs()).fold(0.0, f64::max);
//! assert!(err < 0.05);
//! # Ok::<(), diffeqflux::collocation::CollocationError>(())
//! ```

mod kernels;
mod loss;
mod regression;

pub use kernels::Kernel;
pub use loss::CollocationLoss;
pub use regression::{collocate_data, default_bandwidth, Collocation};

use crate::nn::LayerError;

/// What went wrong in collocation.
///
/// ```
/// use diffeqflux::collocation::{collocate_data, CollocationError, Kernel};
/// let e = collocate_data(&[vec![1.0], vec![2.0]], &[0.0, 1.0], Kernel::Uniform, None);
/// assert!(matches!(e, Err(CollocationError::TooFewSamples(2))));
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CollocationError {
    /// Fewer samples than a local quadratic fit needs.
    #[error("collocation needs at least 3 samples, got {0}")]
    TooFewSamples(usize),
    /// A sequence has the wrong length.
    #[error("{what} has {found} entries; {expected} are needed")]
    Length {
        /// Which argument.
        what: &'static str,
        /// The length needed.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A state differs in length from the first.
    #[error("state {index} has {found} values but the first has {expected}")]
    StateLength {
        /// The sample.
        index: usize,
        /// The first state's length.
        expected: usize,
        /// This state's length.
        found: usize,
    },
    /// A NaN or infinite value.
    #[error("{what} holds a non-finite value at sample {index}")]
    NonFinite {
        /// Which argument.
        what: &'static str,
        /// The sample.
        index: usize,
    },
    /// The sample times do not strictly increase.
    #[error("sample times must strictly increase; t[{index}] is not above t[{}]", index - 1)]
    NotIncreasing {
        /// The first offending sample.
        index: usize,
    },
    /// The bandwidth is not a positive number.
    #[error("the bandwidth must be positive and finite, got {0}")]
    Bandwidth(f64),
    /// Too few samples inside the kernel's window around one time for a local quadratic.
    #[error(
        "collocation at t = {t} failed with bandwidth {bandwidth}: too few samples inside the \
         kernel's window for a local quadratic fit; choose a larger bandwidth"
    )]
    TooFewNeighbours {
        /// The sample time.
        t: f64,
        /// The bandwidth.
        bandwidth: f64,
    },
    /// The model does not map states to derivatives of the same dimension.
    #[error("the model maps {in_dim} features to {out_dim}; the states have {dim}")]
    ModelShape {
        /// The states' dimension.
        dim: usize,
        /// The model's input features.
        in_dim: usize,
        /// The model's output features.
        out_dim: usize,
    },
    /// The model rejected its input (for example the parameter vector's length).
    #[error(transparent)]
    Model(#[from] LayerError),
}
