//! Options of the training loop: iteration limit, progress bar, early stopping, what to do
//! with non-finite losses, periodic checkpoints.

use super::TrainError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Stop when the loss has not improved on its best by more than `min_delta` for `patience`
/// consecutive accepted iterations (Keras' `EarlyStopping` rule: an iteration improves when
/// `loss < best − min_delta`).
///
/// ```
/// use diffeqflux::train::EarlyStopping;
/// let es = EarlyStopping::new(20, 1e-6)?;
/// assert_eq!((es.patience(), es.min_delta()), (20, 1e-6));
/// assert!(EarlyStopping::new(0, 0.0).is_err());
/// assert!(EarlyStopping::new(5, -1.0).is_err());
/// # Ok::<(), diffeqflux::train::TrainError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EarlyStoppingRepr")]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f64,
}

#[derive(Deserialize)]
struct EarlyStoppingRepr {
    patience: usize,
    min_delta: f64,
}

impl TryFrom<EarlyStoppingRepr> for EarlyStopping {
    type Error = TrainError;
    fn try_from(r: EarlyStoppingRepr) -> Result<Self, TrainError> {
        EarlyStopping::new(r.patience, r.min_delta)
    }
}

impl EarlyStopping {
    /// Early stopping after `patience` iterations without an improvement larger than
    /// `min_delta`.
    ///
    /// # Errors
    /// [`TrainError::InvalidOption`] if `patience` is 0 or `min_delta` is negative or not
    /// finite.
    ///
    /// ```
    /// assert!(diffeqflux::train::EarlyStopping::new(10, 0.0).is_ok());
    /// ```
    pub fn new(patience: usize, min_delta: f64) -> Result<Self, TrainError> {
        if patience == 0 {
            return Err(TrainError::InvalidOption {
                option: "patience",
                reason: "must be at least 1".into(),
            });
        }
        if !(min_delta.is_finite() && min_delta >= 0.0) {
            return Err(TrainError::InvalidOption {
                option: "min_delta",
                reason: format!("must be finite and non-negative, got {min_delta}"),
            });
        }
        Ok(EarlyStopping {
            patience,
            min_delta,
        })
    }

    /// Iterations without improvement before stopping.
    ///
    /// ```
    /// assert_eq!(diffeqflux::train::EarlyStopping::new(3, 0.0)?.patience(), 3);
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn patience(&self) -> usize {
        self.patience
    }

    /// The improvement that counts.
    ///
    /// ```
    /// assert_eq!(diffeqflux::train::EarlyStopping::new(3, 0.5)?.min_delta(), 0.5);
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn min_delta(&self) -> f64 {
        self.min_delta
    }
}

/// What the trainer does when the loss or its gradient is NaN or infinite. Either way the
/// step is rejected: the optimiser is not called, so the parameters stay at their last value
/// and the optimiser's state is untouched, and the rejection is recorded in the report.
///
/// ```
/// use diffeqflux::train::{OnNonFinite, TrainOptions};
/// let opts = TrainOptions::new(100)?.with_on_non_finite(OnNonFinite::Stop)?;
/// assert_eq!(opts.on_non_finite(), OnNonFinite::Stop);
/// assert_eq!(OnNonFinite::default(), OnNonFinite::Skip { max_consecutive: 10 });
/// # Ok::<(), diffeqflux::train::TrainError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnNonFinite {
    /// Skip the step and go on (a stochastic loss, e.g. over mini-batches, may be finite
    /// next time); stop with [`StopReason::TooManyRejections`](super::StopReason) after
    /// `max_consecutive` rejections in a row.
    Skip {
        /// Rejections in a row that end the run.
        max_consecutive: usize,
    },
    /// Stop at the first rejection with [`StopReason::NonFinite`](super::StopReason).
    Stop,
}

impl Default for OnNonFinite {
    /// `Skip { max_consecutive: 10 }`.
    ///
    /// ```
    /// use diffeqflux::train::OnNonFinite;
    /// assert!(matches!(OnNonFinite::default(), OnNonFinite::Skip { .. }));
    /// ```
    fn default() -> Self {
        OnNonFinite::Skip {
            max_consecutive: 10,
        }
    }
}

/// Save a checkpoint every `every` iterations into `dir` (see
/// [`save_checkpoint`](super::save_checkpoint)).
///
/// ```
/// use diffeqflux::train::CheckpointSchedule;
/// let s = CheckpointSchedule::new("runs/ckpt", 100)?;
/// assert_eq!(s.every(), 100);
/// assert_eq!(s.dir(), std::path::Path::new("runs/ckpt"));
/// assert!(CheckpointSchedule::new("runs/ckpt", 0).is_err());
/// # Ok::<(), diffeqflux::train::TrainError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CheckpointScheduleRepr")]
pub struct CheckpointSchedule {
    dir: PathBuf,
    every: usize,
}

#[derive(Deserialize)]
struct CheckpointScheduleRepr {
    dir: PathBuf,
    every: usize,
}

impl TryFrom<CheckpointScheduleRepr> for CheckpointSchedule {
    type Error = TrainError;
    fn try_from(r: CheckpointScheduleRepr) -> Result<Self, TrainError> {
        CheckpointSchedule::new(r.dir, r.every)
    }
}

impl CheckpointSchedule {
    /// Checkpoints into `dir` (created if missing) every `every` iterations.
    ///
    /// # Errors
    /// [`TrainError::InvalidOption`] if `every` is 0.
    ///
    /// ```
    /// assert!(diffeqflux::train::CheckpointSchedule::new("ckpt", 1).is_ok());
    /// ```
    pub fn new(dir: impl Into<PathBuf>, every: usize) -> Result<Self, TrainError> {
        if every == 0 {
            return Err(TrainError::InvalidOption {
                option: "every",
                reason: "checkpoint interval must be at least 1".into(),
            });
        }
        Ok(CheckpointSchedule {
            dir: dir.into(),
            every,
        })
    }

    /// The checkpoint directory.
    ///
    /// ```
    /// let s = diffeqflux::train::CheckpointSchedule::new("c", 5)?;
    /// assert_eq!(s.dir().to_str(), Some("c"));
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The interval in iterations.
    ///
    /// ```
    /// assert_eq!(diffeqflux::train::CheckpointSchedule::new("c", 5)?.every(), 5);
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn every(&self) -> usize {
        self.every
    }
}

/// Options of [`Trainer`](super::Trainer).
///
/// Defaults: 1000 iterations, progress bar on (drawn only when standard error is a
/// terminal), no early stopping, [`OnNonFinite::default`], one extra loss evaluation at the
/// final parameters, no checkpoints.
///
/// ```
/// use diffeqflux::train::{EarlyStopping, TrainOptions};
/// let opts = TrainOptions::new(300)?
///     .with_progress(false)
///     .with_early_stopping(EarlyStopping::new(25, 1e-8)?);
/// assert_eq!(opts.max_iters(), 300);
/// assert!(!opts.progress());
/// assert!(opts.early_stopping().is_some());
/// # Ok::<(), diffeqflux::train::TrainError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TrainOptionsRepr")]
pub struct TrainOptions {
    max_iters: usize,
    progress: bool,
    early_stopping: Option<EarlyStopping>,
    on_non_finite: OnNonFinite,
    evaluate_final: bool,
    checkpoints: Option<CheckpointSchedule>,
}

#[derive(Deserialize)]
struct TrainOptionsRepr {
    max_iters: usize,
    progress: bool,
    early_stopping: Option<EarlyStopping>,
    on_non_finite: OnNonFinite,
    evaluate_final: bool,
    checkpoints: Option<CheckpointSchedule>,
}

impl TryFrom<TrainOptionsRepr> for TrainOptions {
    type Error = TrainError;
    fn try_from(r: TrainOptionsRepr) -> Result<Self, TrainError> {
        let mut o = TrainOptions::new(r.max_iters)?
            .with_progress(r.progress)
            .with_on_non_finite(r.on_non_finite)?
            .with_final_evaluation(r.evaluate_final);
        o.early_stopping = r.early_stopping;
        o.checkpoints = r.checkpoints;
        Ok(o)
    }
}

impl Default for TrainOptions {
    /// 1000 iterations and the other defaults.
    ///
    /// ```
    /// assert_eq!(diffeqflux::train::TrainOptions::default().max_iters(), 1000);
    /// ```
    fn default() -> Self {
        TrainOptions {
            max_iters: 1000,
            progress: true,
            early_stopping: None,
            on_non_finite: OnNonFinite::default(),
            evaluate_final: true,
            checkpoints: None,
        }
    }
}

impl TrainOptions {
    /// Train for at most `max_iters` iterations in total (a resumed run counts the
    /// iterations before the checkpoint).
    ///
    /// # Errors
    /// [`TrainError::InvalidOption`] if `max_iters` is 0.
    ///
    /// ```
    /// use diffeqflux::train::TrainOptions;
    /// assert!(TrainOptions::new(0).is_err());
    /// ```
    pub fn new(max_iters: usize) -> Result<Self, TrainError> {
        if max_iters == 0 {
            return Err(TrainError::InvalidOption {
                option: "max_iters",
                reason: "must be at least 1".into(),
            });
        }
        Ok(TrainOptions {
            max_iters,
            ..TrainOptions::default()
        })
    }

    /// Shows or hides the progress bar. Even when on, it is drawn only if standard error is
    /// a terminal.
    ///
    /// ```
    /// assert!(!diffeqflux::train::TrainOptions::default().with_progress(false).progress());
    /// ```
    pub fn with_progress(self, progress: bool) -> Self {
        TrainOptions { progress, ..self }
    }

    /// Turns on early stopping.
    ///
    /// ```
    /// use diffeqflux::train::{EarlyStopping, TrainOptions};
    /// let es = EarlyStopping::new(5, 0.0)?;
    /// assert_eq!(TrainOptions::default().with_early_stopping(es).early_stopping(), Some(es));
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn with_early_stopping(self, early_stopping: EarlyStopping) -> Self {
        TrainOptions {
            early_stopping: Some(early_stopping),
            ..self
        }
    }

    /// Sets what happens on a non-finite loss or gradient.
    ///
    /// # Errors
    /// [`TrainError::InvalidOption`] for `Skip { max_consecutive: 0 }`.
    ///
    /// ```
    /// use diffeqflux::train::{OnNonFinite, TrainOptions};
    /// let skip = OnNonFinite::Skip { max_consecutive: 0 };
    /// assert!(TrainOptions::default().with_on_non_finite(skip).is_err());
    /// ```
    pub fn with_on_non_finite(self, on_non_finite: OnNonFinite) -> Result<Self, TrainError> {
        if on_non_finite == (OnNonFinite::Skip { max_consecutive: 0 }) {
            return Err(TrainError::InvalidOption {
                option: "max_consecutive",
                reason: "must be at least 1".into(),
            });
        }
        Ok(TrainOptions {
            on_non_finite,
            ..self
        })
    }

    /// Whether to evaluate the loss once more at the final parameters (so that the report's
    /// `final_loss` and best parameters include them). On by default; turn off for a loss
    /// whose calls have side effects (a mini-batch iterator, say).
    ///
    /// ```
    /// use diffeqflux::train::TrainOptions;
    /// assert!(!TrainOptions::default().with_final_evaluation(false).final_evaluation());
    /// ```
    pub fn with_final_evaluation(self, evaluate_final: bool) -> Self {
        TrainOptions {
            evaluate_final,
            ..self
        }
    }

    /// Saves a checkpoint on a schedule.
    ///
    /// ```
    /// use diffeqflux::train::{CheckpointSchedule, TrainOptions};
    /// let opts = TrainOptions::default().with_checkpoints(CheckpointSchedule::new("ckpt", 50)?);
    /// assert_eq!(opts.checkpoints().map(|c| c.every()), Some(50));
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn with_checkpoints(self, schedule: CheckpointSchedule) -> Self {
        TrainOptions {
            checkpoints: Some(schedule),
            ..self
        }
    }

    /// The iteration limit.
    ///
    /// ```
    /// assert_eq!(diffeqflux::train::TrainOptions::new(7)?.max_iters(), 7);
    /// # Ok::<(), diffeqflux::train::TrainError>(())
    /// ```
    pub fn max_iters(&self) -> usize {
        self.max_iters
    }

    /// Whether the progress bar is on.
    ///
    /// ```
    /// assert!(diffeqflux::train::TrainOptions::default().progress());
    /// ```
    pub fn progress(&self) -> bool {
        self.progress
    }

    /// The early-stopping rule, if any.
    ///
    /// ```
    /// assert!(diffeqflux::train::TrainOptions::default().early_stopping().is_none());
    /// ```
    pub fn early_stopping(&self) -> Option<EarlyStopping> {
        self.early_stopping
    }

    /// What happens on a non-finite loss or gradient.
    ///
    /// ```
    /// use diffeqflux::train::{OnNonFinite, TrainOptions};
    /// assert_eq!(TrainOptions::default().on_non_finite(), OnNonFinite::default());
    /// ```
    pub fn on_non_finite(&self) -> OnNonFinite {
        self.on_non_finite
    }

    /// Whether the loss is evaluated once more at the final parameters.
    ///
    /// ```
    /// assert!(diffeqflux::train::TrainOptions::default().final_evaluation());
    /// ```
    pub fn final_evaluation(&self) -> bool {
        self.evaluate_final
    }

    /// The checkpoint schedule, if any.
    ///
    /// ```
    /// assert!(diffeqflux::train::TrainOptions::default().checkpoints().is_none());
    /// ```
    pub fn checkpoints(&self) -> Option<&CheckpointSchedule> {
        self.checkpoints.as_ref()
    }
}
