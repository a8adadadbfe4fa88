//! `MethodOfSteps`: an ODE method with the settings of the delay machinery around it.

/// Runs an ODE method on a delay equation (the method of steps, as DelayDiffEq's
/// `MethodOfSteps`). The history is read from the solve's own dense output; steps longer than
/// the smallest lag resolve the values inside the step by a fixed-point iteration on the step's
/// own interpolant; the derivative discontinuities of constant lags are stepped to as tstops.
///
/// ```
/// use sciml_dde::MethodOfSteps;
/// use sciml_ode::Tsit5;
/// let alg = MethodOfSteps::new(Tsit5).fixed_point_iters(20).fixed_point_tol(1e-10, 1e-12);
/// assert_eq!(alg.max_fixed_point_iters(), 20);
/// ```
#[derive(Clone, Debug)]
pub struct MethodOfSteps<M> {
    pub(crate) method: M,
    pub(crate) fp_iters: usize,
    pub(crate) fp_tol: Option<(f64, f64)>,
    pub(crate) track: bool,
    pub(crate) window: Option<f64>,
}

/// The fixed-point iteration's default tolerance, relative to the solve's: the iteration's
/// error should stay well below the step's own local error.
pub const FIXED_POINT_TOL_FACTOR: f64 = 1e-2;

impl<M> MethodOfSteps<M> {
    /// `method` with 10 fixed-point iterations at most, a fixed-point tolerance of
    /// [`FIXED_POINT_TOL_FACTOR`] times the solve's, and discontinuity tracking on.
    pub fn new(method: M) -> Self {
        MethodOfSteps {
            method,
            fp_iters: 10,
            fp_tol: None,
            track: true,
            window: None,
        }
    }
    /// The most fixed-point iterations of one step (at least 1).
    pub fn fixed_point_iters(mut self, n: usize) -> Self {
        self.fp_iters = n;
        self
    }
    /// The tolerances the fixed-point iteration converges to: the change between two iterates
    /// of the step's end state, in the weighted RMS norm of the step's error estimate.
    pub fn fixed_point_tol(mut self, rtol: f64, atol: f64) -> Self {
        self.fp_tol = Some((rtol, atol));
        self
    }
    /// Whether the discontinuities `t0 + Σ kᵢτᵢ` of constant lags become tstops (on by
    /// default; off only to see what tracking buys).
    pub fn track_discontinuities(mut self, on: bool) -> Self {
        self.track = on;
        self
    }
    /// Keeps only the last `w` time units of the solution's dense output (at least the largest
    /// constant lag), so that long integrations with bounded lags keep bounded memory. The
    /// returned solution's dense output then covers only its last stretch; saves are kept.
    /// A read further back ends the solve with [`crate::DdeError::HistoryDropped`].
    pub fn history_window(mut self, w: f64) -> Self {
        self.window = Some(w);
        self
    }
    /// The most fixed-point iterations of one step.
    pub fn max_fixed_point_iters(&self) -> usize {
        self.fp_iters
    }
    /// The ODE method.
    pub fn method(&self) -> &M {
        &self.method
    }
}
