//! The training loop, early stopping, progress reporting and checkpoints.
//!
//! [`Trainer`] runs a first-order [`Optimiser`](crate::optim::Optimiser) on a
//! loss-and-gradient closure `f(params, grad) -> Result<f64, BoxError>` (the gradient buffer
//! is zeroed before each call) for a number of iterations, with
//!
//! - a callback after every iteration ([`TrainState`]; returning `true` stops),
//! - early stopping ([`EarlyStopping`]: patience and minimum improvement),
//! - an indicatif progress bar, drawn only when standard error is a terminal and
//!   [`TrainOptions::with_progress`] leaves it on,
//! - rejection of steps whose loss or gradient is NaN or infinite: the parameters keep their
//!   last value, the optimiser's state is untouched, the rejection is reported
//!   ([`TrainReport::rejections`], [`TrainState::rejected`], a warning line above the
//!   progress bar) and the run goes on or stops as [`OnNonFinite`] says,
//! - a [`TrainReport`]: final and best parameters, best loss, loss history, iterations,
//!   rejected steps, wall time,
//! - checkpoints ([`save_checkpoint`], [`load_checkpoint`], [`Trainer::resume`], or on a
//!   [`CheckpointSchedule`]): parameters as safetensors (tensor `"params"`, f64, shape `[n]`,
//!   plus named views), optimiser and progress as JSON, each file written to a temporary file
//!   and renamed, so an interrupted save never damages the previous checkpoint.
//!
//! [`Trainer::train_batches`] draws a minibatch from a [`DataLoader`](crate::data::DataLoader)
//! before each iteration.
//!
//! A quasi-Newton stage follows with [`TrainReport::then_lbfgs`] or
//! [`TrainReport::then_minimise`], as the DiffEqFlux tutorials follow Adam with (L-)BFGS.
//!
//! ```
//! use diffeqflux::optim::Adam;
//! use diffeqflux::train::{StopReason, TrainOptions, Trainer};
//! // Rosenbrock: Adam gets close, L-BFGS finishes.
//! let rosenbrock = |x: &[f64], g: &mut [f64]| {
//!     let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
//!     g[0] = -2.0 * a - 400.0 * x[0] * b;
//!     g[1] = 200.0 * b;
//!     Ok(a * a + 100.0 * b * b)
//! };
//! let mut trainer = Trainer::new(Adam::new(0.01)?, TrainOptions::new(300)?.with_progress(false));
//! let mut p = vec![-1.2, 1.0];
//! let adam = trainer.train(&mut p, rosenbrock)?;
//! assert_eq!(adam.stop_reason, StopReason::MaxIterations);
//! assert!(adam.best_loss < adam.loss_history[0]);
//! let lbfgs = adam.then_lbfgs(rosenbrock)?;
//! assert!((lbfgs.params[0] - 1.0).abs() < 1e-6 && (lbfgs.params[1] - 1.0).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Checkpoint layout
//!
//! ```text
//! state.json                    format, generation, the optimiser (serde JSON), the trainer's
//!                               progress (iteration, loss history, rejections), the name of
//!                               the parameter file and the named views
//! params-<generation>.safetensors
//!                               tensor "params" (f64, shape [n]), "best_params" (f64, [n])
//!                               once a finite loss was seen, and one f64 tensor per named view
//! ```
//!
//! A save writes the new parameter file (a new name, so the old one is untouched), then
//! replaces `state.json` by renaming a fully written and synced temporary file over it, then
//! deletes parameter files of older generations. The rename of `state.json` is the commit
//! point: a save interrupted at any moment leaves either the old checkpoint or the new one,
//! never a mixture and never a half-written file under a final name.

mod batches;
mod checkpoint;
mod lossless_f64;
mod options;
mod progress;
mod trainer;

pub use checkpoint::{
    load_checkpoint, load_json, load_named_params, load_params, save_checkpoint, save_json,
    save_params, temp_path, write_atomically, Checkpoint, CheckpointError, BEST_PARAMS_TENSOR,
    PARAMS_TENSOR, STATE_FILE,
};
pub use options::{CheckpointSchedule, EarlyStopping, OnNonFinite, TrainOptions};
pub use trainer::{
    RejectReason, RejectedStep, StopReason, TrainProgress, TrainReport, TrainState, Trainer,
};

use crate::optim::{BoxError, OptimError};

/// Errors of the training loop.
///
/// ```
/// use diffeqflux::train::{TrainError, TrainOptions};
/// let err = TrainOptions::new(0).unwrap_err();
/// assert!(matches!(err, TrainError::InvalidOption { option: "max_iters", .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// An option has a value it cannot take.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The optimiser refused the input (empty or non-finite parameters, a length that does
    /// not match its state).
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// The loss closure returned an error.
    #[error("the loss failed at iteration {iteration}: {source}")]
    Loss {
        /// The iteration (1-based).
        iteration: usize,
        /// The closure's error.
        #[source]
        source: BoxError,
    },
    /// A scheduled checkpoint could not be written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}
