//! Multiple shooting (DiffEqFlux's `multiple_shoot`): the trajectory cut into windows that share
//! their end points, each solved from its own initial state, with a penalty on the jumps between
//! consecutive windows.
//!
//! A long trajectory makes single shooting's loss landscape rough: a small change of the
//! parameters early on moves every later state. Each window here is short, so its loss is well
//! behaved; the continuity penalty `continuity_term · C(û_end of window k, u₀ of window k+1)`
//! joins them into one trajectory as training proceeds. Every window is solved and
//! differentiated through the layer's own method and sensitivity; with the crate's `rayon`
//! feature the windows run in parallel.
//!
//! ```
//! use diffeqflux::multiple_shooting::MultipleShooting;
//! use diffeqflux::nn::{Activation, Dense};
//! use diffeqflux::NeuralOde;
//! use sciml_ode::Tsit5;
//! // Data from u' = -u; a linear model with weight w, bias b.
//! let t: Vec<f64> = (0..9).map(|i| i as f64 * 0.25).collect();
//! let data: Vec<Vec<f64>> = t.iter().map(|s| vec![(-s).exp()]).collect();
//! let node = NeuralOde::new(Dense::new(1, 1, Activation::Identity), (0.0, 2.0), Tsit5, t.clone())?
//!     .tolerances(1e-10, 1e-12);
//! let ms = MultipleShooting::new(node, t, data.clone(), 3)?.continuity_term(100.0)?;
//! assert_eq!(ms.ranges().len(), 4);
//! let starts = ms.data_starts(); // each window starts at its first data point
//! // The true field w = -1, b = 0 fits every window and joins them: the loss is ~0.
//! let g = ms.loss_and_gradient(&[-1.0, 0.0], &starts)?;
//! assert!(g.failure.is_none() && g.loss < 1e-6);
//! let g = ms.loss_and_gradient(&[0.0, 0.0], &starts)?;
//! assert!(g.loss > 0.1 && g.dp[0] > 0.0); // descent lowers w towards -1
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod continuity;
mod ranges;

pub use continuity::{Continuity, ContinuityFn};
pub use ranges::{group_ranges, windows_by_count};

use crate::{ModelField, NeuralOde};
use sciml_core::{Error, SolveError};
use sciml_ode::{MethodInfo, OdeProblem, SaveAt};
use sciml_sensitivity::Sensitivity;
use std::ops::Range;
use std::sync::Arc;

/// A window's data loss: given the data and the prediction at the window's samples, returns the
/// loss and its gradient with respect to each predicted state.
pub type WindowLossFn = dyn Fn(&[Vec<f64>], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) + Send + Sync;

/// `Σ (û − u)²` over a window, DiffEqFlux's usual `loss_function(data, pred)`.
///
/// ```
/// use diffeqflux::multiple_shooting::squared_error;
/// let (l, g) = squared_error(&[vec![1.0, 2.0]], &[vec![1.5, 2.0]]);
/// assert_eq!((l, g), (0.25, vec![vec![1.0, 0.0]]));
/// ```
pub fn squared_error(data: &[Vec<f64>], pred: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let mut loss = 0.0;
    let grads = data
        .iter()
        .zip(pred)
        .map(|(d, u)| {
            u.iter()
                .zip(d)
                .map(|(a, b)| {
                    loss += (a - b) * (a - b);
                    2.0 * (a - b)
                })
                .collect()
        })
        .collect();
    (loss, grads)
}

/// What went wrong setting up multiple shooting (a failed solve is not an error: see
/// [`ShootingGradient::failure`]).
///
/// ```
/// use diffeqflux::multiple_shooting::{group_ranges, ShootingError};
/// let e = group_ranges(10, 11).unwrap_err();
/// assert_eq!(e, ShootingError::GroupSize { group_size: 11, n: 10 });
/// assert!(e.to_string().contains("between 2 and 10"));
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShootingError {
    /// A group size out of `2..=n`.
    #[error("group size {group_size} does not fit {n} samples: choose one between 2 and {n}")]
    GroupSize {
        /// The group size given.
        group_size: usize,
        /// The number of samples.
        n: usize,
    },
    /// A window count out of `1..=n-1`.
    #[error(
        "{windows} windows do not fit {n} samples: every window needs 2 samples and windows \
         share their end points, so choose between 1 and n − 1"
    )]
    WindowCount {
        /// The number of windows asked for.
        windows: usize,
        /// The number of samples.
        n: usize,
    },
    /// A sequence has the wrong length.
    #[error("{what} has {found} entries; {expected} are needed")]
    Length {
        /// Which argument.
        what: String,
        /// The length needed.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The sample times do not strictly increase or are not finite.
    #[error("sample times must be finite and strictly increasing; t[{index}] is not")]
    Times {
        /// The first offending sample.
        index: usize,
    },
    /// The continuity term is negative or not finite.
    #[error("the continuity term must be finite and non-negative, got {0}")]
    ContinuityTerm(f64),
    /// The problem could not be set up (for example the model's state dimension).
    #[error(transparent)]
    Problem(#[from] Error),
}

/// A window whose solve (or loss) failed: the total loss is then infinite.
#[derive(Debug)]
pub struct WindowFailure {
    /// The (0-based) window.
    pub window: usize,
    /// What failed: the solve's error (its return code and partial solution) or a loss value
    /// that was not finite.
    pub error: SolveError<Vec<f64>>,
}

/// The multiple-shooting loss and its gradients.
#[derive(Debug)]
pub struct ShootingGradient {
    /// Data loss plus weighted continuity loss; infinite when a window failed.
    pub loss: f64,
    /// The data part (sum of the windows' losses).
    pub data_loss: f64,
    /// The continuity part, already multiplied by the continuity term.
    pub continuity_loss: f64,
    /// `∂loss/∂p` (zero when a window failed).
    pub dp: Vec<f64>,
    /// `∂loss/∂starts[k]` for every window (zero when a window failed).
    pub dstarts: Vec<Vec<f64>>,
    /// Each window's predicted states at its samples (empty for a failed window).
    pub predictions: Vec<Vec<Vec<f64>>>,
    /// The first window that failed, if any.
    pub failure: Option<WindowFailure>,
}

/// `Sync` when the windows run on rayon's pool (feature `rayon`), nothing otherwise: the bound
/// on the layer's parts that parallel windows need.
#[cfg(feature = "rayon")]
pub trait MaybeSync: Sync {}
#[cfg(feature = "rayon")]
impl<T: Sync> MaybeSync for T {}
/// `Sync` when the windows run on rayon's pool (feature `rayon`), nothing otherwise: the bound
/// on the layer's parts that parallel windows need.
#[cfg(not(feature = "rayon"))]
pub trait MaybeSync {}
#[cfg(not(feature = "rayon"))]
impl<T> MaybeSync for T {}

/// DiffEqFlux's `multiple_shoot` over a [`NeuralOde`]: its field, method, sensitivity and solve
/// options are used for every window (its own span and save times are not: each window spans
/// its samples and saves at them).
///
/// The variables are the parameters `p` and one initial state per window (`starts`), which may
/// be trained too ([`ShootingGradient::dstarts`]); [`MultipleShooting::data_starts`] gives
/// DiffEqFlux's choice, the data at each window's first sample.
pub struct MultipleShooting<L, M, S, F> {
    node: NeuralOde<L, M, S, F>,
    t: Vec<f64>,
    data: Vec<Vec<f64>>,
    ranges: Vec<Range<usize>>,
    continuity_term: f64,
    continuity: Continuity,
    window_loss: Arc<WindowLossFn>,
}

/// What one window's forward and backward passes give.
struct WindowResult {
    data_loss: f64,
    continuity_loss: f64,
    du0: Vec<f64>,
    dp: Vec<f64>,
    /// The gradient with respect to the next window's start.
    dnext: Option<Vec<f64>>,
    pred: Vec<Vec<f64>>,
}

impl<L, M, S, F: ModelField<Model = L>> MultipleShooting<L, M, S, F> {
    /// Multiple shooting of `node` on `data` (`data[i]` the state at `t[i]`) in windows of
    /// `group_size` samples ([`group_ranges`]); continuity term 100 (DiffEqFlux's default),
    /// [`Continuity::Abs`] and [`squared_error`] per window.
    ///
    /// # Errors
    /// [`ShootingError`] for a group size out of `2..=n`, times that do not increase, or data
    /// whose length differs from the times' or whose states differ from the model's dimension.
    pub fn new(
        node: NeuralOde<L, M, S, F>,
        t: Vec<f64>,
        data: Vec<Vec<f64>>,
        group_size: usize,
    ) -> Result<Self, ShootingError> {
        let ranges = group_ranges(t.len(), group_size)?;
        Self::with_ranges(node, t, data, ranges)
    }

    /// As [`MultipleShooting::new`] with `windows` windows ([`windows_by_count`]).
    ///
    /// # Errors
    /// As [`MultipleShooting::new`], and [`ShootingError::WindowCount`] for a count out of
    /// `1..=n-1`.
    pub fn with_windows(
        node: NeuralOde<L, M, S, F>,
        t: Vec<f64>,
        data: Vec<Vec<f64>>,
        windows: usize,
    ) -> Result<Self, ShootingError> {
        let ranges = windows_by_count(t.len(), windows)?;
        Self::with_ranges(node, t, data, ranges)
    }

    fn with_ranges(
        node: NeuralOde<L, M, S, F>,
        t: Vec<f64>,
        data: Vec<Vec<f64>>,
        ranges: Vec<Range<usize>>,
    ) -> Result<Self, ShootingError> {
        if let Some(i) = (0..t.len()).find(|&i| !t[i].is_finite() || (i > 0 && t[i] <= t[i - 1])) {
            return Err(ShootingError::Times { index: i });
        }
        if data.len() != t.len() {
            return Err(ShootingError::Length {
                what: "data".into(),
                expected: t.len(),
                found: data.len(),
            });
        }
        let dim = node.core().field().dims().0;
        if let Some((i, d)) = data.iter().enumerate().find(|(_, d)| d.len() != dim) {
            return Err(ShootingError::Length {
                what: format!("data[{i}]"),
                expected: dim,
                found: d.len(),
            });
        }
        if let Some(i) = data.iter().position(|d| d.iter().any(|x| !x.is_finite())) {
            return Err(Error::NonFinite {
                what: format!("data[{i}]"),
                index: i,
            }
            .into());
        }
        Ok(MultipleShooting {
            node,
            t,
            data,
            ranges,
            continuity_term: 100.0,
            continuity: Continuity::default(),
            window_loss: Arc::new(squared_error),
        })
    }

    /// The weight of the continuity penalty (DiffEqFlux's `continuity_term`).
    ///
    /// # Errors
    /// [`ShootingError::ContinuityTerm`] for a negative or non-finite weight.
    pub fn continuity_term(mut self, weight: f64) -> Result<Self, ShootingError> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(ShootingError::ContinuityTerm(weight));
        }
        self.continuity_term = weight;
        Ok(self)
    }

    /// How the jump between windows is measured (DiffEqFlux's `continuity_loss`).
    pub fn continuity(mut self, continuity: Continuity) -> Self {
        self.continuity = continuity;
        self
    }

    /// Each window's data loss (DiffEqFlux's `loss_function(data, pred)`), returning the loss
    /// and its gradient with respect to each predicted state.
    pub fn window_loss(
        mut self,
        loss: impl Fn(&[Vec<f64>], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) + Send + Sync + 'static,
    ) -> Self {
        self.window_loss = Arc::new(loss);
        self
    }

    /// The windows, as 0-based half-open ranges of sample indices.
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// The data at each window's first sample: DiffEqFlux's initial states.
    pub fn data_starts(&self) -> Vec<Vec<f64>> {
        self.ranges
            .iter()
            .map(|r| self.data[r.start].clone())
            .collect()
    }

    /// The loss over every window, each solved from `starts[k]` with parameters `p`, and its
    /// gradients through the layer's sensitivity method. A window whose solve fails makes the
    /// loss infinite and is reported in [`ShootingGradient::failure`]; it is not an `Err`.
    ///
    /// # Errors
    /// [`ShootingError::Length`] when `starts` does not hold one state of the model's dimension
    /// per window.
    pub fn loss_and_gradient(
        &self,
        p: &[f64],
        starts: &[Vec<f64>],
    ) -> Result<ShootingGradient, ShootingError>
    where
        M: MethodInfo + MaybeSync,
        S: Sensitivity<F, M> + MaybeSync,
        F: MaybeSync,
        L: MaybeSync,
    {
        self.check_starts(starts)?;
        self.check_params(p)?;
        let results = self.run_windows(p, starts);
        let dim = self.node.core().field().dims().0;
        let mut g = ShootingGradient {
            loss: 0.0,
            data_loss: 0.0,
            continuity_loss: 0.0,
            dp: vec![0.0; p.len()],
            dstarts: vec![vec![0.0; dim]; starts.len()],
            predictions: Vec::with_capacity(starts.len()),
            failure: None,
        };
        for (k, r) in results.into_iter().enumerate() {
            match r {
                Ok(w) => {
                    g.data_loss += w.data_loss;
                    g.continuity_loss += w.continuity_loss;
                    add(&mut g.dp, &w.dp);
                    add(&mut g.dstarts[k], &w.du0);
                    if let Some(d) = w.dnext {
                        add(&mut g.dstarts[k + 1], &d);
                    }
                    g.predictions.push(w.pred);
                }
                Err(error) => {
                    g.predictions.push(Vec::new());
                    if g.failure.is_none() {
                        g.failure = Some(WindowFailure { window: k, error });
                    }
                }
            }
        }
        if g.failure.is_some() {
            g.loss = f64::INFINITY;
            g.dp.iter_mut().for_each(|x| *x = 0.0);
            g.dstarts.iter_mut().flatten().for_each(|x| *x = 0.0);
        } else {
            g.loss = g.data_loss + g.continuity_loss;
        }
        Ok(g)
    }

    fn check_starts(&self, starts: &[Vec<f64>]) -> Result<(), ShootingError> {
        if starts.len() != self.ranges.len() {
            return Err(ShootingError::Length {
                what: "starts (one initial state per window)".into(),
                expected: self.ranges.len(),
                found: starts.len(),
            });
        }
        let dim = self.node.core().field().dims().0;
        if let Some((k, s)) = starts.iter().enumerate().find(|(_, s)| s.len() != dim) {
            return Err(ShootingError::Length {
                what: format!("starts[{k}]"),
                expected: dim,
                found: s.len(),
            });
        }
        if let Some(k) = starts.iter().position(|s| s.iter().any(|x| !x.is_finite())) {
            return Err(Error::NonFinite {
                what: format!("starts[{k}]"),
                index: k,
            }
            .into());
        }
        Ok(())
    }

    /// Parameters of the network's length, all finite: a wrong `p` is the caller's error, not a
    /// failure of every window.
    fn check_params(&self, p: &[f64]) -> Result<(), ShootingError> {
        let np = self.node.core().field().dims().1;
        if p.len() != np {
            return Err(ShootingError::Length {
                what: "p (the network's parameters)".into(),
                expected: np,
                found: p.len(),
            });
        }
        if let Some(i) = p.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "p".into(),
                index: i,
            }
            .into());
        }
        Ok(())
    }

    #[cfg(feature = "rayon")]
    fn run_windows(
        &self,
        p: &[f64],
        starts: &[Vec<f64>],
    ) -> Vec<Result<WindowResult, SolveError<Vec<f64>>>>
    where
        M: MethodInfo + MaybeSync,
        S: Sensitivity<F, M> + MaybeSync,
        F: MaybeSync,
        L: MaybeSync,
    {
        use rayon::prelude::*;
        (0..self.ranges.len())
            .into_par_iter()
            .map(|k| self.window(k, p, starts))
            .collect()
    }

    #[cfg(not(feature = "rayon"))]
    fn run_windows(
        &self,
        p: &[f64],
        starts: &[Vec<f64>],
    ) -> Vec<Result<WindowResult, SolveError<Vec<f64>>>>
    where
        M: MethodInfo,
        S: Sensitivity<F, M>,
    {
        (0..self.ranges.len())
            .map(|k| self.window(k, p, starts))
            .collect()
    }

    /// Window `k`: solve from `starts[k]`, the data loss, the continuity penalty against
    /// `starts[k + 1]`, and the pullback of both.
    fn window(
        &self,
        k: usize,
        p: &[f64],
        starts: &[Vec<f64>],
    ) -> Result<WindowResult, SolveError<Vec<f64>>>
    where
        M: MethodInfo,
        S: Sensitivity<F, M>,
    {
        let r = self.ranges[k].clone();
        let ts = &self.t[r.clone()];
        let core = self.node.core();
        let opts = core.options().clone().saveat(SaveAt::Times(ts.to_vec()));
        let mut prob = OdeProblem::new(
            core.field().clone(),
            starts[k].clone(),
            (ts[0], ts[ts.len() - 1]),
            p.to_vec(),
        )?;
        let (sol, tape) = core
            .sensitivity()
            .forward(&mut prob, core.method(), &opts)?;
        let not_finite = |what: &str| {
            SolveError::Input(Error::NonFinite {
                what: what.into(),
                index: k,
            })
        };
        let (data_loss, mut ubar) = (self.window_loss)(&self.data[r], &sol.u);
        if !data_loss.is_finite() {
            return Err(not_finite("window loss"));
        }
        if ubar.len() != sol.u.len() || ubar.iter().any(|b| b.len() != starts[k].len()) {
            return Err(SolveError::Input(Error::DimensionMismatch {
                what: "gradients returned by the window loss".into(),
                expected: sol.u.len(),
                got: ubar.len(),
            }));
        }
        let (mut continuity_loss, mut dnext) = (0.0, None);
        if let (Some(next), Some(end)) = (starts.get(k + 1), sol.u.last()) {
            let w = self.continuity_term;
            let (c, d_end, d_start) = self.continuity.eval(end, next);
            if !c.is_finite() || d_end.len() != end.len() || d_start.len() != next.len() {
                return Err(not_finite("continuity loss (or its gradients' lengths)"));
            }
            continuity_loss = w * c;
            if let Some(last) = ubar.last_mut() {
                last.iter_mut().zip(&d_end).for_each(|(b, d)| *b += w * d);
            }
            dnext = Some(d_start.iter().map(|d| w * d).collect());
        }
        let g = core
            .sensitivity()
            .backward(&mut prob, core.method(), tape, &ubar)?;
        Ok(WindowResult {
            data_loss,
            continuity_loss,
            du0: g.du0,
            dp: g.dp,
            dnext,
            pred: sol.u,
        })
    }
}

fn add(acc: &mut [f64], x: &[f64]) {
    acc.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}
