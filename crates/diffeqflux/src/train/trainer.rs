//! The first-order training loop.

use super::checkpoint::{check_views, load_checkpoint, save_checkpoint, CheckpointError};
use super::lossless_f64;
use super::progress::Progress;
use super::{OnNonFinite, TrainError, TrainOptions};
use crate::optim::{BoxError, Lbfgs, MinimiseReport, Minimiser, OptimError, Optimiser};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a step was rejected.
///
/// ```
/// use diffeqflux::train::RejectReason;
/// let r = RejectReason::NonFiniteGradient { index: 3, value: f64::NAN };
/// assert!(r.to_string().contains("index 3"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The loss was NaN or infinite.
    NonFiniteLoss {
        /// The loss.
        #[serde(with = "lossless_f64")]
        loss: f64,
    },
    /// The loss was finite but the gradient was not.
    NonFiniteGradient {
        /// The first offending index.
        index: usize,
        /// Its value.
        #[serde(with = "lossless_f64")]
        value: f64,
    },
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::NonFiniteLoss { loss } => write!(f, "the loss is {loss}"),
            RejectReason::NonFiniteGradient { index, value } => {
                write!(f, "the gradient is {value} at index {index}")
            }
        }
    }
}

/// A rejected step: the iteration (1-based) and the reason.
///
/// ```
/// use diffeqflux::train::{RejectReason, RejectedStep};
/// let r = RejectedStep { iteration: 7, reason: RejectReason::NonFiniteLoss { loss: f64::INFINITY } };
/// assert_eq!(r.to_string(), "step 7 rejected: the loss is inf; parameters kept");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedStep {
    /// The iteration whose step was rejected (1-based).
    pub iteration: usize,
    /// Why.
    pub reason: RejectReason,
}

impl std::fmt::Display for RejectedStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} rejected: {}; parameters kept",
            self.iteration, self.reason
        )
    }
}

/// Why training stopped.
///
/// ```
/// use diffeqflux::train::StopReason;
/// assert_ne!(StopReason::Callback, StopReason::MaxIterations);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// `max_iters` iterations were done.
    MaxIterations,
    /// The callback returned `true`.
    Callback,
    /// The early-stopping rule fired.
    EarlyStopping,
    /// A non-finite loss or gradient under [`OnNonFinite::Stop`].
    NonFinite,
    /// Too many rejections in a row under [`OnNonFinite::Skip`].
    TooManyRejections,
}

/// The trainer's own state: what a checkpoint stores besides the parameters and the
/// optimiser.
///
/// ```
/// use diffeqflux::train::TrainProgress;
/// let p = TrainProgress::default();
/// assert_eq!(p.iteration, 0);
/// assert!(p.loss_history.is_empty());
/// assert_eq!(p.best_loss, f64::INFINITY);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Iterations done.
    pub iteration: usize,
    /// The loss evaluated at iteration `k` is `loss_history[k − 1]` (non-finite values of
    /// rejected steps included).
    #[serde(with = "lossless_f64::vec")]
    pub loss_history: Vec<f64>,
    /// The lowest finite loss seen (`+∞` before any).
    #[serde(with = "lossless_f64")]
    pub best_loss: f64,
    /// `best_params` are the parameters after this many iterations.
    pub best_iteration: usize,
    /// The parameters with the lowest loss (empty before any finite loss). Not in the JSON:
    /// checkpoints store them as the safetensors tensor `best_params`.
    #[serde(skip)]
    pub best_params: Vec<f64>,
    /// Every rejected step so far.
    pub rejected: Vec<RejectedStep>,
    consecutive_rejections: usize,
    stale_iterations: usize,
    #[serde(with = "lossless_f64")]
    early_stopping_best: f64,
}

impl Default for TrainProgress {
    fn default() -> Self {
        TrainProgress {
            iteration: 0,
            loss_history: Vec::new(),
            best_loss: f64::INFINITY,
            best_iteration: 0,
            best_params: Vec::new(),
            rejected: Vec::new(),
            consecutive_rejections: 0,
            stale_iterations: 0,
            early_stopping_best: f64::INFINITY,
        }
    }
}

/// What the callback sees after every iteration, rejected ones included.
///
/// `loss` and `grad` were evaluated at the parameters *before* this iteration's step;
/// `params` are the parameters *after* it (equal to those before if the step was rejected).
///
/// ```
/// use diffeqflux::optim::Sgd;
/// use diffeqflux::train::{TrainOptions, TrainState, Trainer};
/// let mut trainer = Trainer::new(Sgd::new(0.25)?, TrainOptions::new(10)?.with_progress(false));
/// let mut p = vec![1.0];
/// let mut seen = Vec::new();
/// trainer.train_with_callback(
///     &mut p,
///     |x, g| { g[0] = 2.0 * x[0]; Ok(x[0] * x[0]) },
///     |s: &TrainState<'_>| { seen.push((s.iteration, s.loss, s.params[0])); false },
/// )?;
/// // Iteration 1 evaluates the loss at p = 1 and steps to p = 1 − 0.25·2 = 0.5.
/// assert_eq!(seen[0], (1, 1.0, 0.5));
/// assert_eq!(seen[1], (2, 0.25, 0.25));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TrainState<'a> {
    /// The iteration just done (1-based).
    pub iteration: usize,
    /// The loss evaluated this iteration.
    pub loss: f64,
    /// The gradient evaluated this iteration.
    pub grad: &'a [f64],
    /// The parameters after this iteration's step.
    pub params: &'a [f64],
    /// The lowest finite loss so far.
    pub best_loss: f64,
    /// Set when this iteration's step was rejected.
    pub rejected: Option<&'a RejectedStep>,
}

/// The outcome of [`Trainer::train`].
///
/// ```
/// use diffeqflux::optim::Adam;
/// use diffeqflux::train::{StopReason, TrainOptions, Trainer};
/// let mut trainer = Trainer::new(Adam::new(0.1)?, TrainOptions::new(200)?.with_progress(false));
/// let mut p = vec![2.0];
/// let report = trainer.train(&mut p, |x, g| { g[0] = 2.0 * (x[0] - 1.0); Ok((x[0] - 1.0).powi(2)) })?;
/// assert_eq!(report.stop_reason, StopReason::MaxIterations);
/// assert_eq!(report.iterations, 200);
/// assert_eq!(report.loss_history.len(), 200);
/// assert_eq!(report.params, p);
/// assert!(report.best_loss <= report.loss_history[0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The final parameters (also left in the slice passed to `train`).
    pub params: Vec<f64>,
    /// The loss at the final parameters if [`TrainOptions::final_evaluation`] is on, else NaN.
    #[serde(with = "lossless_f64")]
    pub final_loss: f64,
    /// The parameters with the lowest loss seen.
    pub best_params: Vec<f64>,
    /// The lowest finite loss seen (`+∞` if none was finite).
    #[serde(with = "lossless_f64")]
    pub best_loss: f64,
    /// `best_params` are the parameters after this many iterations.
    pub best_iteration: usize,
    /// The loss evaluated at each iteration (`loss_history[k − 1]` at iteration `k`), since
    /// the start of training (a resumed run includes the iterations before the checkpoint).
    #[serde(with = "lossless_f64::vec")]
    pub loss_history: Vec<f64>,
    /// Iterations done in total.
    pub iterations: usize,
    /// Number of rejected steps in total.
    pub rejected_steps: usize,
    /// The rejected steps.
    pub rejections: Vec<RejectedStep>,
    /// Why training stopped.
    pub stop_reason: StopReason,
    /// Wall-clock time of this call.
    pub wall_time: Duration,
}

impl TrainReport {
    /// Refines the best parameters with a quasi-Newton minimiser, as the DiffEqFlux tutorials
    /// follow Adam with L-BFGS or BFGS.
    ///
    /// # Errors
    /// Those of [`Minimiser::minimise`].
    ///
    /// ```
    /// use diffeqflux::optim::{Adam, Bfgs};
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let loss = |x: &[f64], g: &mut [f64]| {
    ///     g[0] = 4.0 * (x[0] - 1.0).powi(3) + 2.0 * (x[0] - 1.0);
    ///     Ok((x[0] - 1.0).powi(4) + (x[0] - 1.0).powi(2))
    /// };
    /// let mut trainer = Trainer::new(Adam::new(0.05)?, TrainOptions::new(50)?.with_progress(false));
    /// let mut p = vec![3.0];
    /// let adam = trainer.train(&mut p, loss)?;
    /// let bfgs = adam.then_minimise(&Bfgs::new(), loss)?;
    /// assert!((bfgs.params[0] - 1.0).abs() < 1e-8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn then_minimise<M, F>(&self, minimiser: &M, f: F) -> Result<MinimiseReport, OptimError>
    where
        M: Minimiser,
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
    {
        let start = if self.best_loss.is_finite() && !self.best_params.is_empty() {
            &self.best_params
        } else {
            &self.params
        };
        minimiser.minimise(start, f)
    }

    /// [`then_minimise`](TrainReport::then_minimise) with the default [`Lbfgs`].
    ///
    /// # Errors
    /// Those of [`Minimiser::minimise`].
    ///
    /// ```
    /// use diffeqflux::optim::Adam;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let loss = |x: &[f64], g: &mut [f64]| {
    ///     g[0] = 2.0 * (x[0] - 2.0);
    ///     g[1] = 200.0 * (x[1] + 1.0);
    ///     Ok((x[0] - 2.0).powi(2) + 100.0 * (x[1] + 1.0).powi(2))
    /// };
    /// let mut trainer = Trainer::new(Adam::new(0.1)?, TrainOptions::new(100)?.with_progress(false));
    /// let mut p = vec![0.0, 0.0];
    /// let lbfgs = trainer.train(&mut p, loss)?.then_lbfgs(loss)?;
    /// assert!((lbfgs.params[0] - 2.0).abs() < 1e-8 && (lbfgs.params[1] + 1.0).abs() < 1e-8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn then_lbfgs<F>(&self, f: F) -> Result<MinimiseReport, OptimError>
    where
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
    {
        self.then_minimise(&Lbfgs::new(), f)
    }
}

/// Runs a first-order [`Optimiser`] on a loss-and-gradient closure.
///
/// Each iteration `k = 1, 2, …` evaluates `f(params, grad)` (the gradient buffer is zeroed
/// first), records the loss, and — if the loss and the gradient are finite — calls the
/// optimiser's step. A NaN or infinite loss or gradient rejects the step: the optimiser is
/// not called, the parameters stay as they are, the rejection goes into the report and the
/// callback's [`TrainState::rejected`], a line is printed above the progress bar if one is
/// shown, and the run goes on or stops as [`TrainOptions::with_on_non_finite`] says.
///
/// The trainer keeps the optimiser's state and a [`TrainProgress`], so calling
/// [`train`](Trainer::train) again continues where the last call stopped (up to
/// `max_iters` in total), and [`save_checkpoint`](Trainer::save_checkpoint) /
/// [`resume`](Trainer::resume) carry a run across processes. Training needs the optimiser
/// to be `serde::Serialize` (all of this crate's are) so that scheduled checkpoints can
/// store it.
///
/// ```
/// use diffeqflux::optim::Adam;
/// use diffeqflux::train::{EarlyStopping, StopReason, TrainOptions, Trainer};
/// // Fit y = a·x + b to four points.
/// let data = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)];
/// let loss = |p: &[f64], g: &mut [f64]| {
///     let mut l = 0.0;
///     for &(x, y) in &data {
///         let r = p[0] * x + p[1] - y;
///         l += r * r;
///         g[0] += 2.0 * r * x;
///         g[1] += 2.0 * r;
///     }
///     Ok(l)
/// };
/// let opts = TrainOptions::new(5000)?
///     .with_progress(false)
///     .with_early_stopping(EarlyStopping::new(50, 1e-12)?);
/// let mut trainer = Trainer::new(Adam::new(0.05)?, opts);
/// let mut p = vec![0.0, 0.0];
/// let report = trainer.train(&mut p, loss)?;
/// assert!((report.best_params[0] - 2.0).abs() < 1e-3);
/// assert!((report.best_params[1] - 1.0).abs() < 1e-3);
/// assert_eq!(report.rejected_steps, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Trainer<O> {
    optimiser: O,
    options: TrainOptions,
    progress: TrainProgress,
    param_names: Vec<(String, Range<usize>)>,
}

impl<O: Optimiser> Trainer<O> {
    /// A trainer at iteration 0.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let t = Trainer::new(Sgd::new(0.1)?, TrainOptions::default());
    /// assert_eq!(t.progress().iteration, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(optimiser: O, options: TrainOptions) -> Self {
        Trainer {
            optimiser,
            options,
            progress: TrainProgress::default(),
            param_names: Vec::new(),
        }
    }

    /// Names blocks of the parameter vector (e.g. a layer's
    /// `param_names()`); checkpoints then also store each block as its own safetensors tensor.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let t = Trainer::new(Sgd::new(0.1)?, TrainOptions::default())
    ///     .with_param_names(vec![("weight".into(), 0..4), ("bias".into(), 4..6)]);
    /// assert_eq!(t.param_names().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_param_names(self, param_names: Vec<(String, Range<usize>)>) -> Self {
        Trainer {
            param_names,
            ..self
        }
    }

    /// The optimiser (with its current state).
    ///
    /// ```
    /// use diffeqflux::optim::{Optimiser, Sgd};
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let t = Trainer::new(Sgd::new(0.1)?, TrainOptions::default());
    /// assert_eq!(t.optimiser().name(), "sgd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn optimiser(&self) -> &O {
        &self.optimiser
    }

    /// The optimiser, mutably (to change the learning rate between calls, say).
    ///
    /// ```
    /// use diffeqflux::optim::{Optimiser, Sgd};
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let mut t = Trainer::new(Sgd::new(0.1)?, TrainOptions::default());
    /// t.optimiser_mut().set_learning_rate(0.01)?;
    /// assert_eq!(t.optimiser().learning_rate(), 0.01);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn optimiser_mut(&mut self) -> &mut O {
        &mut self.optimiser
    }

    /// The options.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let t = Trainer::new(Sgd::new(0.1)?, TrainOptions::new(5)?);
    /// assert_eq!(t.options().max_iters(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options(&self) -> &TrainOptions {
        &self.options
    }

    /// Replaces the options (to train for more iterations after a run ended, say).
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let mut t = Trainer::new(Sgd::new(0.1)?, TrainOptions::new(5)?);
    /// t.set_options(TrainOptions::new(10)?);
    /// assert_eq!(t.options().max_iters(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_options(&mut self, options: TrainOptions) {
        self.options = options;
    }

    /// The named parameter blocks.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// assert!(Trainer::new(Sgd::new(0.1)?, TrainOptions::default()).param_names().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn param_names(&self) -> &[(String, Range<usize>)] {
        &self.param_names
    }

    /// Iterations done, loss history, best loss and parameters, rejections.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let mut t = Trainer::new(Sgd::new(0.1)?, TrainOptions::new(3)?.with_progress(false));
    /// t.train(&mut [1.0], |x, g| { g[0] = x[0]; Ok(0.5 * x[0] * x[0]) })?;
    /// assert_eq!(t.progress().iteration, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn progress(&self) -> &TrainProgress {
        &self.progress
    }

    /// Starts over: iteration 0, empty history, optimiser state reset.
    ///
    /// ```
    /// use diffeqflux::optim::{Optimiser, Sgd};
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let mut t = Trainer::new(Sgd::new(0.1)?, TrainOptions::new(3)?.with_progress(false));
    /// t.train(&mut [1.0], |x, g| { g[0] = x[0]; Ok(0.5 * x[0] * x[0]) })?;
    /// t.reset();
    /// assert_eq!(t.progress().iteration, 0);
    /// assert_eq!(t.optimiser().steps(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self) {
        self.optimiser.reset();
        self.progress = TrainProgress::default();
    }

    /// Trains `params` in place until `max_iters` iterations are done in total or a stopping
    /// rule fires.
    ///
    /// # Errors
    /// [`TrainError::Optim`] for empty or non-finite initial parameters or a parameter
    /// vector whose length differs from the optimiser's state; [`TrainError::Loss`] if `f`
    /// returns an error; [`TrainError::Checkpoint`] if a scheduled checkpoint cannot be
    /// written. `params` holds the last parameters reached in every case.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let mut t = Trainer::new(Sgd::new(0.5)?, TrainOptions::new(1)?.with_progress(false));
    /// let mut p = vec![4.0];
    /// t.train(&mut p, |x, g| { g[0] = x[0]; Ok(0.5 * x[0] * x[0]) })?;
    /// assert_eq!(p, vec![2.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn train<F>(&mut self, params: &mut [f64], f: F) -> Result<TrainReport, TrainError>
    where
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
        O: Serialize,
    {
        self.train_with_callback(params, f, |_| false)
    }

    /// [`train`](Trainer::train) with a callback after every iteration; returning `true`
    /// stops the run with [`StopReason::Callback`].
    ///
    /// # Errors
    /// As [`train`](Trainer::train).
    ///
    /// ```
    /// use diffeqflux::optim::Adam;
    /// use diffeqflux::train::{StopReason, TrainOptions, Trainer};
    /// let mut t = Trainer::new(Adam::new(0.1)?, TrainOptions::new(1000)?.with_progress(false));
    /// let mut p = vec![5.0];
    /// let r = t.train_with_callback(
    ///     &mut p,
    ///     |x, g| { g[0] = 2.0 * x[0]; Ok(x[0] * x[0]) },
    ///     |s| s.loss < 1.0, // stop once the loss is below 1
    /// )?;
    /// assert_eq!(r.stop_reason, StopReason::Callback);
    /// assert!(*r.loss_history.last().unwrap() < 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn train_with_callback<F, C>(
        &mut self,
        params: &mut [f64],
        mut f: F,
        mut callback: C,
    ) -> Result<TrainReport, TrainError>
    where
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
        C: FnMut(&TrainState<'_>) -> bool,
        O: Serialize,
    {
        let start = Instant::now();
        let n = params.len();
        if n == 0 {
            return Err(OptimError::EmptyParameters.into());
        }
        if let Some((index, &value)) = params.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(OptimError::NonFinite {
                what: "initial parameters",
                index,
                value,
            }
            .into());
        }
        if !self.progress.best_params.is_empty() && self.progress.best_params.len() != n {
            return Err(OptimError::DimensionMismatch {
                what: "parameter vector (the trainer's best parameters have another length)",
                expected: self.progress.best_params.len(),
                got: n,
            }
            .into());
        }
        if self.options.checkpoints().is_some() {
            check_views(&self.param_names, n)?;
        }
        let max_iters = self.options.max_iters();
        let mut bar = Progress::new(self.options.progress(), self.progress.iteration, max_iters);
        let mut grad = vec![0.0; n];
        let mut stop = None;

        while stop.is_none() && self.progress.iteration < max_iters {
            let k = self.progress.iteration + 1;
            grad.fill(0.0);
            let loss = f(params, &mut grad).map_err(|source| TrainError::Loss {
                iteration: k,
                source,
            })?;
            let prog = &mut self.progress;
            prog.loss_history.push(loss);
            let reason = if !loss.is_finite() {
                Some(RejectReason::NonFiniteLoss { loss })
            } else {
                grad.iter()
                    .enumerate()
                    .find(|(_, g)| !g.is_finite())
                    .map(|(index, &value)| RejectReason::NonFiniteGradient { index, value })
            };
            let rejected = reason.map(|reason| RejectedStep {
                iteration: k,
                reason,
            });
            match rejected {
                None => {
                    if loss < prog.best_loss {
                        prog.best_loss = loss;
                        prog.best_iteration = k - 1;
                        prog.best_params.clear();
                        prog.best_params.extend_from_slice(params);
                    }
                    self.optimiser.step(params, &grad)?;
                    prog.consecutive_rejections = 0;
                    if let Some(es) = self.options.early_stopping() {
                        if loss < prog.early_stopping_best - es.min_delta() {
                            prog.early_stopping_best = loss;
                            prog.stale_iterations = 0;
                        } else {
                            prog.stale_iterations += 1;
                            if prog.stale_iterations >= es.patience() {
                                stop = Some(StopReason::EarlyStopping);
                            }
                        }
                    }
                }
                Some(r) => {
                    prog.rejected.push(r);
                    prog.consecutive_rejections += 1;
                    bar.warn(&r.to_string());
                    match self.options.on_non_finite() {
                        OnNonFinite::Stop => stop = Some(StopReason::NonFinite),
                        OnNonFinite::Skip { max_consecutive } => {
                            if prog.consecutive_rejections >= max_consecutive {
                                stop = Some(StopReason::TooManyRejections);
                            }
                        }
                    }
                }
            }
            prog.iteration = k;
            let state = TrainState {
                iteration: k,
                loss,
                grad: &grad,
                params,
                best_loss: prog.best_loss,
                rejected: rejected.as_ref(),
            };
            if callback(&state) {
                stop = Some(StopReason::Callback);
            }
            bar.update(k, loss, self.progress.best_loss);
            if let Some(schedule) = self.options.checkpoints() {
                // Also at the last iteration, so a finished or stopped run can be resumed.
                if k % schedule.every() == 0 || stop.is_some() || k == max_iters {
                    save_checkpoint(
                        schedule.dir(),
                        params,
                        &self.optimiser,
                        &self.progress,
                        &self.param_names,
                    )?;
                }
            }
        }

        let final_loss = if self.options.final_evaluation() {
            grad.fill(0.0);
            let loss = f(params, &mut grad).map_err(|source| TrainError::Loss {
                iteration: self.progress.iteration + 1,
                source,
            })?;
            if loss.is_finite() && loss < self.progress.best_loss {
                self.progress.best_loss = loss;
                self.progress.best_iteration = self.progress.iteration;
                self.progress.best_params.clear();
                self.progress.best_params.extend_from_slice(params);
            }
            loss
        } else {
            f64::NAN
        };
        bar.finish(self.progress.iteration, final_loss, self.progress.best_loss);

        let prog = &self.progress;
        Ok(TrainReport {
            params: params.to_vec(),
            final_loss,
            best_params: if prog.best_params.is_empty() {
                params.to_vec()
            } else {
                prog.best_params.clone()
            },
            best_loss: prog.best_loss,
            best_iteration: prog.best_iteration,
            loss_history: prog.loss_history.clone(),
            iterations: prog.iteration,
            rejected_steps: prog.rejected.len(),
            rejections: prog.rejected.clone(),
            stop_reason: stop.unwrap_or(StopReason::MaxIterations),
            wall_time: start.elapsed(),
        })
    }

    /// Saves `params`, the optimiser and the progress into the checkpoint directory `dir`
    /// (see [`save_checkpoint`]).
    ///
    /// # Errors
    /// See [`save_checkpoint`].
    ///
    /// ```
    /// use diffeqflux::optim::Adam;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// let dir = std::env::temp_dir().join(format!("dfx-doc-save-{}", std::process::id()));
    /// let mut t = Trainer::new(Adam::new(0.1)?, TrainOptions::new(5)?.with_progress(false));
    /// let mut p = vec![1.0, 2.0];
    /// t.train(&mut p, |x, g| { g.copy_from_slice(x); Ok(0.5 * (x[0] * x[0] + x[1] * x[1])) })?;
    /// t.save_checkpoint(&dir, &p)?;
    /// let (resumed, q) = Trainer::<Adam>::resume(&dir, TrainOptions::new(10)?)?;
    /// assert_eq!(q, p);
    /// assert_eq!(resumed.progress().iteration, 5);
    /// assert_eq!(resumed.optimiser(), t.optimiser());
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_checkpoint(&self, dir: &Path, params: &[f64]) -> Result<u64, CheckpointError>
    where
        O: Serialize,
    {
        save_checkpoint(
            dir,
            params,
            &self.optimiser,
            &self.progress,
            &self.param_names,
        )
    }

    /// Loads a checkpoint written by [`save_checkpoint`](Trainer::save_checkpoint) (or by a
    /// scheduled checkpoint) and returns a trainer that continues the run with `options`,
    /// together with the saved parameters.
    ///
    /// # Errors
    /// See [`load_checkpoint`].
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{CheckpointError, TrainOptions, Trainer};
    /// let missing = std::env::temp_dir().join("dfx-doc-no-such-checkpoint");
    /// let err = Trainer::<Sgd>::resume(&missing, TrainOptions::default()).unwrap_err();
    /// assert!(matches!(err, CheckpointError::NotFound { .. }));
    /// ```
    pub fn resume(dir: &Path, options: TrainOptions) -> Result<(Self, Vec<f64>), CheckpointError>
    where
        O: DeserializeOwned,
    {
        let ck = load_checkpoint::<O>(dir)?;
        let trainer = Trainer {
            optimiser: ck.optimiser,
            options,
            progress: ck.progress,
            param_names: ck.views,
        };
        Ok((trainer, ck.params))
    }
}
