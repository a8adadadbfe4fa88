//! Callbacks: discrete ones, checked after every step, and continuous ones, whose events are
//! located by root finding on the dense output.

use sciml_core::{Re, State};

/// What a callback's `affect` sees and may change.
pub struct CallbackContext<'a, V: State> {
    /// The time of the event.
    pub t: Re<V>,
    /// The state, which the callback may change.
    pub u: &'a mut V,
    pub(crate) terminate: bool,
}

impl<V: State> CallbackContext<'_, V> {
    /// Stops the integration here (return code `Terminated`).
    pub fn terminate(&mut self) {
        self.terminate = true;
    }
}

type Affect<V> = Box<dyn FnMut(&mut CallbackContext<'_, V>) + Send>;
type Condition<V, T> = Box<dyn FnMut(Re<V>, &V) -> T + Send>;

/// A callback whose condition is checked after every accepted step.
///
/// ```
/// use sciml_ode::DiscreteCallback;
/// // stop as soon as the first component exceeds 2
/// let cb = DiscreteCallback::<Vec<f64>>::new(|_t, u| u[0] > 2.0, |ctx| ctx.terminate());
/// # let _ = cb;
/// ```
pub struct DiscreteCallback<V: State> {
    pub(crate) condition: Condition<V, bool>,
    pub(crate) affect: Affect<V>,
}

impl<V: State> DiscreteCallback<V> {
    /// `affect` runs after every accepted step at which `condition(t, u)` holds.
    pub fn new(
        condition: impl FnMut(Re<V>, &V) -> bool + Send + 'static,
        affect: impl FnMut(&mut CallbackContext<'_, V>) + Send + 'static,
    ) -> Self {
        DiscreteCallback {
            condition: Box::new(condition),
            affect: Box::new(affect),
        }
    }
}

/// Which sign changes of a continuous callback's condition are events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// From negative to non-negative.
    Up,
    /// From positive to non-positive.
    Down,
    /// Either.
    Both,
}

/// An event at a root of `condition(t, u)`, located on the dense output.
///
/// The sign of the condition is checked at the step's end and at `interp_points - 1` interior
/// points, so an even number of crossings inside one step is still seen; the root is then
/// bracketed and found by the Illinois method to `time_tol` in time. The integration is cut at
/// the root (on the side of the condition's old sign), `affect` runs, and the next step starts
/// from the changed state.
///
/// ```
/// use sciml_ode::{ContinuousCallback, Crossing};
/// // bouncing ball: u = [height, velocity]
/// let cb = ContinuousCallback::<Vec<f64>>::new(|_t, u| u[0], |ctx| ctx.u[1] = -0.9 * ctx.u[1])
///     .direction(Crossing::Down);
/// # let _ = cb;
/// ```
pub struct ContinuousCallback<V: State> {
    pub(crate) condition: Condition<V, Re<V>>,
    pub(crate) affect: Affect<V>,
    pub(crate) direction: Crossing,
    pub(crate) interp_points: usize,
    pub(crate) time_tol: f64,
    pub(crate) land: bool,
}

impl<V: State> ContinuousCallback<V> {
    /// An event when `condition(t, u)` crosses zero; `affect` runs there.
    pub fn new(
        condition: impl FnMut(Re<V>, &V) -> Re<V> + Send + 'static,
        affect: impl FnMut(&mut CallbackContext<'_, V>) + Send + 'static,
    ) -> Self {
        ContinuousCallback {
            condition: Box::new(condition),
            affect: Box::new(affect),
            direction: Crossing::Both,
            interp_points: 10,
            time_tol: 1e-12,
            land: false,
        }
    }
    /// Retakes the step so that it ends exactly at the located time, and runs the affect on
    /// that step's end state, instead of interpolating the state there. For conditions whose
    /// root is a discontinuity of the right-hand side (a delay equation's propagated
    /// discontinuities), where the interpolant of a step across the root is inaccurate. Only
    /// for one-step methods (a multistep method's history would have moved on).
    pub fn land_on_root(mut self, on: bool) -> Self {
        self.land = on;
        self
    }
    /// Only these crossings are events.
    pub fn direction(mut self, d: Crossing) -> Self {
        self.direction = d;
        self
    }
    /// Sign checks per step (at least 1: the step's end only).
    pub fn interp_points(mut self, n: usize) -> Self {
        self.interp_points = n.max(1);
        self
    }
    /// Absolute tolerance on the event time.
    pub fn time_tol(mut self, tol: f64) -> Self {
        self.time_tol = tol;
        self
    }
}

/// The callbacks of one solve.
pub struct Callbacks<V: State> {
    pub(crate) continuous: Vec<ContinuousCallback<V>>,
    pub(crate) discrete: Vec<DiscreteCallback<V>>,
}

impl<V: State> Default for Callbacks<V> {
    fn default() -> Self {
        Callbacks {
            continuous: Vec::new(),
            discrete: Vec::new(),
        }
    }
}

impl<V: State> Callbacks<V> {
    /// No callbacks.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a continuous callback.
    pub fn with_continuous(mut self, cb: ContinuousCallback<V>) -> Self {
        self.continuous.push(cb);
        self
    }
    /// Adds a discrete callback.
    pub fn with_discrete(mut self, cb: DiscreteCallback<V>) -> Self {
        self.discrete.push(cb);
        self
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.continuous.is_empty() && self.discrete.is_empty()
    }
}

/// Whether going from `ga` to `gb` is an event in direction `d`.
pub(crate) fn crosses<R: sciml_core::Real>(ga: R, gb: R, d: Crossing) -> bool {
    let z = R::zero();
    let up = ga < z && gb >= z;
    let down = ga > z && gb <= z;
    match d {
        Crossing::Up => up,
        Crossing::Down => down,
        Crossing::Both => up || down,
    }
}
