//! Options of a solve.

use crate::controller::PiController;
use sciml_core::{Real, Tolerance};
use serde::{Deserialize, Serialize};

/// Where the solution is saved: the one type every family's solves share.
pub use sciml_core::SaveAt;

/// Options of a solve. Defaults follow SciML: `reltol = 1e-3`, `abstol = 1e-6`, adaptive steps
/// when the method has an error estimate, saving at every step with dense output.
///
/// ```
/// use sciml_ode::{SaveAt, SolveOptions};
/// let opts = SolveOptions::default()
///     .tolerances(1e-8, 1e-10)
///     .saveat(SaveAt::Every(0.1));
/// assert_eq!(opts.tol.rtol_at(0), 1e-8);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct SolveOptions<R: Real> {
    /// Error tolerances.
    pub tol: Tolerance<R>,
    /// Where to save.
    pub saveat: SaveAt<R>,
    /// Save the initial point (`None`: yes for `Steps`/`Every`, and for `Times` when listed).
    pub save_start: Option<bool>,
    /// Save the final point (`None`: yes for `Steps`/`Every`, and for `Times` when listed).
    pub save_end: Option<bool>,
    /// Keep dense output over the whole span (`None`: yes when saving at every step).
    pub dense: Option<bool>,
    /// Times the integrator must step onto exactly.
    pub tstops: Vec<R>,
    /// Initial step (adaptive) or the step (fixed-step mode): a positive size; the direction
    /// comes from the span, and a negative or zero value is refused when the solve starts.
    pub dt: Option<R>,
    /// Adapt the step (`None`: when the method has an error estimate).
    pub adaptive: Option<bool>,
    /// Smallest step before giving up (`None`: 16 ε max(|t|, ε·|t1 − t0|) at the current time `t`,
    /// so long spans that start at 0 can still take tiny first steps).
    pub dtmin: Option<R>,
    /// Largest step (`None`: the length of the span).
    pub dtmax: Option<R>,
    /// Most steps attempted.
    pub maxiters: usize,
    /// The step-size controller.
    pub controller: PiController<R>,
}

impl<R: Real> Default for SolveOptions<R> {
    fn default() -> Self {
        SolveOptions {
            tol: Tolerance::default(),
            saveat: SaveAt::Steps,
            save_start: None,
            save_end: None,
            dense: None,
            tstops: Vec::new(),
            dt: None,
            adaptive: None,
            dtmin: None,
            dtmax: None,
            maxiters: 100_000,
            controller: PiController::default(),
        }
    }
}

impl<R: Real> SolveOptions<R> {
    /// Scalar relative and absolute tolerances, checked when the solve starts (finite,
    /// non-negative, not both zero).
    pub fn tolerances(mut self, rtol: R, atol: R) -> Self {
        self.tol = Tolerance::scalar(rtol, atol);
        self
    }
    /// Where to save.
    pub fn saveat(mut self, s: SaveAt<R>) -> Self {
        self.saveat = s;
        self
    }
    /// Fixed steps of size `dt`.
    pub fn fixed_step(mut self, dt: R) -> Self {
        self.dt = Some(dt);
        self.adaptive = Some(false);
        self
    }
    /// Keep (or drop) dense output.
    pub fn dense(mut self, on: bool) -> Self {
        self.dense = Some(on);
        self
    }
    /// Times to step onto exactly.
    pub fn tstops(mut self, ts: Vec<R>) -> Self {
        self.tstops = ts;
        self
    }
    /// Largest number of steps.
    pub fn maxiters(mut self, n: usize) -> Self {
        self.maxiters = n;
        self
    }
    /// Initial step size of an adaptive solve (the step itself with `adaptive(false)`). A size,
    /// not a signed step: the direction comes from the span.
    pub fn dt(mut self, dt: R) -> Self {
        self.dt = Some(dt);
        self
    }
    /// Adapt the step (`true`) or take fixed steps of size `dt` (`false`).
    pub fn adaptive(mut self, on: bool) -> Self {
        self.adaptive = Some(on);
        self
    }
    /// Smallest step before the solve gives up with `DtLessThanMin`.
    pub fn dtmin(mut self, dtmin: R) -> Self {
        self.dtmin = Some(dtmin);
        self
    }
    /// Largest step.
    pub fn dtmax(mut self, dtmax: R) -> Self {
        self.dtmax = Some(dtmax);
        self
    }
    /// Save (or not) the initial point.
    pub fn save_start(mut self, on: bool) -> Self {
        self.save_start = Some(on);
        self
    }
    /// Save (or not) the final point.
    pub fn save_end(mut self, on: bool) -> Self {
        self.save_end = Some(on);
        self
    }
    /// Per-component (or scalar) tolerances given as a [`Tolerance`].
    pub fn tolerance(mut self, tol: Tolerance<R>) -> Self {
        self.tol = tol;
        self
    }
    /// The step-size controller.
    pub fn controller(mut self, ctrl: PiController<R>) -> Self {
        self.controller = ctrl;
        self
    }
}
