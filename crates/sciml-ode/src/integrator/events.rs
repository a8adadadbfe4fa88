//! Events: the continuous callbacks' roots located on a step's interpolant, and the discrete
//! callbacks checked after each step.

use crate::callbacks::{crosses, CallbackContext, Callbacks};
use sciml_core::{Re, Real, Scalar, State, Zero};

/// The callbacks of a solve and the continuous conditions' values at the current point.
pub(crate) struct Events<V: State> {
    pub callbacks: Callbacks<V>,
    /// Each continuous condition at the start of the current step.
    gprev: Vec<Re<V>>,
}

/// The step whose interpolant is searched: `(t, h, tnew)`, with `unew` the state at `tnew` and
/// `dir` the direction of integration.
pub(crate) struct SearchedStep<'a, V: State> {
    pub t: Re<V>,
    pub h: Re<V>,
    pub tnew: Re<V>,
    pub unew: &'a V,
    pub dir: Re<V>,
}

impl<V: State> Events<V> {
    pub fn new(callbacks: Callbacks<V>) -> Self {
        Events {
            callbacks,
            gprev: Vec::new(),
        }
    }

    /// Whether there are continuous callbacks to locate.
    #[inline]
    pub fn has_continuous(&self) -> bool {
        !self.callbacks.continuous.is_empty()
    }

    /// Whether continuous callback `k` retakes the step to land on its root.
    pub fn lands(&self, k: usize) -> bool {
        self.callbacks.continuous.get(k).is_some_and(|cb| cb.land)
    }

    /// Evaluates the continuous conditions at `(t, u)`, the start of the next step.
    pub fn refresh(&mut self, t: Re<V>, u: &V) {
        self.gprev.clear();
        self.gprev.extend(
            self.callbacks
                .continuous
                .iter_mut()
                .map(|cb| (cb.condition)(t, u)),
        );
    }

    /// Finds the earliest event inside the step `(t, tnew]`: `(callback index, time)`.
    /// `interp(tq, out)` evaluates the step's interpolant; `buf` is scratch.
    pub fn locate(
        &mut self,
        step: SearchedStep<'_, V>,
        buf: &mut V,
        mut interp: impl FnMut(Re<V>, &mut V),
    ) -> Option<(usize, Re<V>)> {
        type R<V> = Re<V>;
        let SearchedStep {
            t,
            h,
            tnew,
            unew,
            dir,
        } = step;
        let mut best: Option<(usize, R<V>)> = None;
        for k in 0..self.callbacks.continuous.len() {
            let cb = &mut self.callbacks.continuous[k];
            let npts = cb.interp_points;
            let dirn = cb.direction;
            let (mut ta, mut ga) = (t, self.gprev[k]);
            let mut bracket = None;
            for i in 1..=npts {
                let tb = if i == npts {
                    tnew
                } else {
                    t + h * R::<V>::from_usize(i) / R::<V>::from_usize(npts)
                };
                if let Some((_, tbest)) = best {
                    if (ta - tbest) * dir >= R::<V>::zero() {
                        break;
                    }
                }
                let gb = if i == npts {
                    (cb.condition)(tnew, unew)
                } else {
                    interp(tb, buf);
                    (cb.condition)(tb, buf)
                };
                if crosses(ga, gb, dirn) {
                    bracket = Some((ta, ga, tb, gb));
                    break;
                }
                ta = tb;
                ga = gb;
            }
            let Some((mut l, mut gl, mut r, mut gr)) = bracket else {
                continue;
            };
            // Illinois method on the dense output, keeping [l, r] a bracket with sign(gl) the old sign.
            let tol = R::<V>::c(cb.time_tol);
            let mut side = 0i8;
            for _ in 0..200 {
                if (r - l).abs() <= tol {
                    break;
                }
                let mut m = (l * gr - r * gl) / (gr - gl);
                if !m.is_finite()
                    || (m - l) * dir <= R::<V>::zero()
                    || (m - r) * dir >= R::<V>::zero()
                {
                    m = l + (r - l) * R::<V>::c(0.5);
                }
                interp(m, buf);
                let gm = (cb.condition)(m, buf);
                let same_as_left =
                    (gm > R::<V>::zero()) == (gl > R::<V>::zero()) && gm != R::<V>::zero();
                if same_as_left {
                    l = m;
                    gl = gm;
                    if side == -1 {
                        gr *= R::<V>::c(0.5);
                    }
                    side = -1;
                } else {
                    r = m;
                    gr = gm;
                    if side == 1 {
                        gl *= R::<V>::c(0.5);
                    }
                    side = 1;
                }
            }
            let tev = if gr == R::<V>::zero() { r } else { l };
            if best.is_none_or(|(_, tb)| (tev - tb) * dir < R::<V>::zero()) {
                best = Some((k, tev));
            }
        }
        best
    }

    /// Runs continuous callback `k`'s affect at `(t, u)`; returns whether it terminates the
    /// solve.
    pub fn affect(&mut self, k: usize, t: Re<V>, u: &mut V) -> bool {
        let mut ctx = CallbackContext {
            t,
            u,
            terminate: false,
        };
        (self.callbacks.continuous[k].affect)(&mut ctx);
        ctx.terminate
    }

    /// Runs the discrete callbacks whose condition holds at `(t, u)`: `(changed, terminate)`.
    pub fn run_discrete(&mut self, t: Re<V>, u: &mut V) -> (bool, bool) {
        let (mut changed, mut terminate) = (false, false);
        for cb in self.callbacks.discrete.iter_mut() {
            if (cb.condition)(t, u) {
                let mut ctx = CallbackContext {
                    t,
                    u: &mut *u,
                    terminate: false,
                };
                (cb.affect)(&mut ctx);
                changed = true;
                terminate |= ctx.terminate;
            }
        }
        (changed, terminate)
    }
}
