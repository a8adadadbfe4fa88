//! The stepping loop: step control, tstops, saving, dense output and callbacks around any
//! [`Stepper`] (a problem with its method). Users can drive it by hand (`init`, `step`) as
//! SciML's integrator interface allows, or run it to the end (`solve`).
//!
//! The loop is split into parts with one job each:
//! - [`validate`](self): the options against the span and the method, once, at the start;
//! - `schedule`: the save times, the tstops and the fixed-step grid;
//! - `recorder`: the solution, its dense output and the tape;
//! - `events`: continuous callbacks located on the step's interpolant, discrete ones after it;
//! - [`stepper`]: the seam to the equation family ([`Stepper`], [`OdeStepper`] for ODEs);
//! - this module: the step loop itself (attempt, accept or reject, hand the step to the parts).

mod events;
mod recorder;
mod schedule;
pub mod stepper;
mod validate;

pub use recorder::{SaveRecord, SolutionWithTape, StepRecord, StepSpan, Tape};
pub use stepper::{OdeStepper, StepInput, Stepper};

use crate::callbacks::Callbacks;
use crate::controller::PiController;
use crate::method::{MethodInfo, OdeMethod, StepFailure};
use crate::options::SolveOptions;
use crate::problem::OdeProblem;
use events::{Events, SearchedStep};
use recorder::Recorder;
use schedule::Schedule;
use sciml_core::dense::PolyTable;
use sciml_core::{
    DenseOutput, Error, One, Re, Real, ReturnCode, Scalar, Solution, SolveError, State, Tolerance,
    VectorField, Zero, MAX_LINCOMB,
};
use validate::Limits;

/// A solve in progress, driving any [`Stepper`]. For ODEs it is [`Integrator`], built by
/// [`OdeProblem::init`]; other families build it with [`StepLoop::new`] around their stepper.
pub struct StepLoop<S: Stepper> {
    stepper: S,
    ctrl: PiController<Re<S::V>>,
    tol: Tolerance<Re<S::V>>,
    lim: Limits<Re<S::V>>,
    schedule: Schedule<Re<S::V>>,
    rec: Recorder<S::V>,
    events: Events<S::V>,
    poly: PolyTable<Re<S::V>>,
    t: Re<S::V>,
    u: S::V,
    unew: S::V,
    h: Re<S::V>,
    scratch: S::V,
    /// `(t0, h)` of the step just taken, while its interpolant is still in the stepper.
    last_step: Option<StepSpan<Re<S::V>>>,
    /// The stepper's `advance` is deferred to the next step, so the last step can still be
    /// interpolated in between.
    advance_pending: bool,
    /// The last rejected attempt failed on a NaN or infinite value.
    nonfinite_reject: bool,
    /// The last rejected attempt failed in a linear solve.
    linear_reject: bool,
    /// A callback that lands on its root located one at this time: the steps aim there, and
    /// the affect runs on the end state of the step that lands.
    landing: Option<(usize, Re<S::V>)>,
    done: bool,
}

/// An ODE solve in progress. Built by [`OdeProblem::init`].
///
/// ```
/// use sciml_core::FnField;
/// use sciml_ode::{OdeProblem, SolveOptions, Tsit5};
/// let f = FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -u[0]);
/// let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![]).unwrap();
/// let mut integ = prob.init(Tsit5, &SolveOptions::default()).unwrap();
/// while integ.step().unwrap() {
///     assert!(integ.t() > 0.0);
/// }
/// assert!((integ.u()[0] - (-1.0_f64).exp()).abs() < 1e-5);
/// ```
pub type Integrator<'a, F, M> = StepLoop<OdeStepper<'a, F, M>>;

/// `out = y0 + h Σ P_j(θ) k_j` at `θ = (tq - t0) / h`, with at most `N` vectors.
#[inline]
fn interp_from<V: State, const N: usize>(
    ks: &[V],
    poly: &PolyTable<Re<V>>,
    (t0, h, y0): (Re<V>, Re<V>, &V),
    tq: Re<V>,
    out: &mut V,
) {
    let m = ks.len().min(poly.rows()).min(N);
    let mut w = [Re::<V>::zero(); N];
    poly.weights((tq - t0) / h, h, &mut w[..m]);
    let mut refs: [&V; N] = [y0; N];
    for (r, k) in refs.iter_mut().zip(ks) {
        *r = k;
    }
    out.lincomb(y0, &w[..m], &refs[..m]);
}

/// Interpolates the step from `(t0, y0)` of size `h` at `tq`, with the fewest stack slots.
#[inline]
fn interp<V: State>(
    ks: &[V],
    poly: &PolyTable<Re<V>>,
    step: (Re<V>, Re<V>, &V),
    tq: Re<V>,
    out: &mut V,
) {
    // Small stack buffers for the common case (up to 16 vectors: everything but the Verner
    // interpolants), so a save does not initialise 32-entry arrays.
    if ks.len() <= 16 {
        interp_from::<V, 16>(ks, poly, step, tq, out)
    } else {
        interp_from::<V, MAX_LINCOMB>(ks, poly, step, tq, out)
    }
}

impl<F: VectorField> OdeProblem<F> {
    /// Starts a solve with `method`: validates the options, evaluates `f(t0, u0)` and picks the
    /// initial step. Nothing is integrated until [`StepLoop::step`] or [`StepLoop::solve`].
    pub fn init<M: OdeMethod<F>>(
        &mut self,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> Result<Integrator<'_, F, M>, Error> {
        self.init_with_callbacks(method, opts, Callbacks::new())
    }

    /// Starts a solve with callbacks.
    pub fn init_with_callbacks<M: OdeMethod<F>>(
        &mut self,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
        callbacks: Callbacks<F::V>,
    ) -> Result<Integrator<'_, F, M>, Error> {
        let n = self.u0.len();
        // The fields are validated on construction, but the field's own scratch may have been
        // resized through `f_mut` since: check the state against what the field declares.
        if self.f.dims().0 != n {
            return Err(Error::DimensionMismatch {
                what: "u0 (against the field's declared dimension)".into(),
                expected: self.f.dims().0,
                got: n,
            });
        }
        if self.mass.is_some() && !method.supports_mass_matrix() {
            return Err(Error::Unsupported {
                method: method.name(),
                what:
                    "integrate M·u' = f with a mass matrix; use an implicit method such as Rodas5P"
                        .into(),
            });
        }
        let OdeProblem {
            f,
            u0,
            p,
            mass,
            tspan,
        } = self;
        let stepper = OdeStepper::new(f, p, mass.as_ref(), method, u0);
        StepLoop::new(stepper, u0, *tspan, opts, callbacks)
    }

    /// Solves over the whole span.
    ///
    /// It takes `&mut self` because the field evaluates through `&mut self` (its scratch
    /// buffers live in it, so a solve allocates nothing per evaluation). A one-off solve needs
    /// no `let mut`: call it on the new problem directly.
    ///
    /// ```
    /// use sciml_core::FnField;
    /// use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
    /// let f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0]);
    /// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![0.5, 1.0]));
    /// let sol = OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![-2.0])?.solve(Tsit5, &opts)?;
    /// assert_eq!(sol.t, vec![0.5, 1.0]);
    /// assert!((sol.u[1][0] - (-2.0_f64).exp()).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn solve<M: OdeMethod<F>>(
        &mut self,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> Result<Solution<F::V>, SolveError<F::V>> {
        self.init(method, opts)?.solve()
    }

    /// Solves over the whole span with callbacks.
    pub fn solve_with_callbacks<M: OdeMethod<F>>(
        &mut self,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
        callbacks: Callbacks<F::V>,
    ) -> Result<Solution<F::V>, SolveError<F::V>> {
        self.init_with_callbacks(method, opts, callbacks)?.solve()
    }
}

impl<F: VectorField, M: OdeMethod<F>> StepLoop<OdeStepper<'_, F, M>> {
    /// The vector field being integrated (e.g. to evaluate a quadrature alongside the solve).
    pub fn field_mut(&mut self) -> &mut F {
        self.stepper.f
    }
}

impl<S: Stepper> StepLoop<S> {
    /// Starts a solve of `stepper` from `u0` over `tspan`: validates the options against the
    /// span and the stepper's method, prepares the first step and picks its size. Nothing is
    /// integrated until [`StepLoop::step`] or [`StepLoop::solve`].
    ///
    /// This is how an equation family other than plain ODEs runs through the loop; ODE users
    /// call [`OdeProblem::init`].
    pub fn new(
        mut stepper: S,
        u0: &S::V,
        tspan: (Re<S::V>, Re<S::V>),
        opts: &SolveOptions<Re<S::V>>,
        callbacks: Callbacks<S::V>,
    ) -> Result<Self, Error> {
        // A custom stepper's start is checked here; `OdeProblem` has checked its own already.
        sciml_core::check_state("u0", u0, u0.len())?;
        stepper.validate()?;
        let lim = Limits::new(opts, tspan, u0.len(), stepper.method())?;
        let schedule = Schedule::new(opts, &lim)?;
        let t0 = lim.t0;
        let info = stepper.method();
        let poly: Vec<Vec<Re<S::V>>> = info.interp_poly();
        let dense = opts
            .dense
            .unwrap_or(schedule.save_steps)
            .then(|| DenseOutput::new(poly.clone(), info.interp_order()));
        let ctrl = opts.controller.clone().for_order(info.error_order() + 1);
        let mut rec = Recorder::new(dense, schedule.listed_saves());
        stepper.initialize(t0, u0, None, &mut rec.sol.stats);
        let mut integ = StepLoop {
            stepper,
            ctrl,
            tol: opts.tol.clone(),
            lim,
            schedule,
            rec,
            events: Events::new(callbacks),
            poly: PolyTable::new(&poly),
            t: t0,
            u: u0.clone(),
            unew: u0.zeros_like(),
            h: Re::<S::V>::zero(),
            scratch: u0.zeros_like(),
            last_step: None,
            advance_pending: false,
            nonfinite_reject: false,
            linear_reject: false,
            landing: None,
            done: false,
        };
        if integ.schedule.save_steps && opts.save_start != Some(false) {
            integ.rec.save_untaped(t0, u0.clone());
        }
        while integ.schedule.next_save_upto(t0).is_some() {
            integ.rec.save_untaped(t0, u0.clone());
            integ.schedule.saved();
        }
        integ.h = match integ.lim.dt {
            Some(dt) => integ.lim.dir * dt.abs().min(integ.lim.dtmax),
            None => integ.lim.dir * integ.initial_step(),
        };
        integ.events.refresh(t0, &integ.u);
        Ok(integ)
    }

    /// Hairer–Wanner's starting step (*Solving ODEs I*, II.4): balances `‖u0‖`, `‖f0‖` and a
    /// finite-difference estimate of the second derivative.
    fn initial_step(&mut self) -> Re<S::V> {
        type R<V> = Re<V>;
        let (dir, dtmax) = (self.lim.dir, self.lim.dtmax);
        let u0 = &self.u;
        let f0 = self.stepper.f_start();
        let d0 = S::V::err_norm(u0, u0, u0, &self.tol);
        let d1 = S::V::err_norm(f0, u0, u0, &self.tol);
        let small = R::<S::V>::c(1e-5);
        let mut h0 = if d0 < small || d1 < small {
            R::<S::V>::c(1e-6)
        } else {
            R::<S::V>::c(0.01) * d0 / d1
        };
        h0 = h0.min(dtmax);
        // Explicit Euler step and the change in f it causes.
        self.scratch.lincomb(u0, &[dir * h0], &[f0]);
        self.stepper.rhs(
            self.t + dir * h0,
            &self.scratch,
            &mut self.unew,
            &mut self.rec.sol.stats,
        );
        let f0 = self.stepper.f_start();
        self.scratch
            .lincomb(&self.unew, &[-R::<S::V>::one()], &[f0]);
        let d2 = S::V::err_norm(&self.scratch, u0, u0, &self.tol) / h0;
        let m = d1.max(d2);
        let order = R::<S::V>::from_usize(usize::from(self.stepper.method().order()));
        let h1 = if m <= R::<S::V>::c(1e-15) {
            (h0 * R::<S::V>::c(1e-3)).max(R::<S::V>::c(1e-6))
        } else {
            (R::<S::V>::c(0.01) / m).powf(R::<S::V>::one() / (order + R::<S::V>::one()))
        };
        (R::<S::V>::c(100.0) * h0).min(h1).min(dtmax)
    }

    /// `(t0, h)` of the step just taken, while its interpolant is available
    /// ([`StepLoop::interpolate_last_step`]).
    pub fn last_step(&self) -> Option<StepSpan<Re<S::V>>> {
        self.last_step
    }
    /// The problem and its method.
    pub fn stepper_mut(&mut self) -> &mut S {
        &mut self.stepper
    }
    /// Current time.
    pub fn t(&self) -> Re<S::V> {
        self.t
    }
    /// Current state.
    pub fn u(&self) -> &S::V {
        &self.u
    }
    /// The step size the next step will try.
    pub fn dt(&self) -> Re<S::V> {
        self.h
    }
    /// The solution saved so far.
    pub fn solution(&self) -> &Solution<S::V> {
        &self.rec.sol
    }
    /// Drops the dense output of the steps that end before `t` (see
    /// [`DenseOutput::drop_before`]): for solves whose history reads reach only a bounded
    /// distance back, so that long integrations keep bounded memory. The solution's dense output
    /// then covers only what is kept.
    pub fn forget_dense_before(&mut self, t: Re<S::V>) -> usize {
        self.rec.sol.dense.as_mut().map_or(0, |d| d.drop_before(t))
    }
    /// Whether the end of the span (or a terminating callback) was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }
    /// Starts recording the [`Tape`] a sensitivity method needs, keeping the state of every
    /// `stride`-th step (1: all) and, with `keep_stages`, every step's stage derivatives. Call
    /// before the first step; not available with callbacks (events change the state outside the
    /// steps).
    pub fn record_tape(&mut self, stride: usize, keep_stages: bool) -> Result<(), Error> {
        if stride == 0 {
            return Err(Error::InvalidOption {
                option: "checkpoint stride",
                reason: "must be at least 1".into(),
            });
        }
        if !self.events.callbacks.is_empty() {
            return Err(Error::Unsupported {
                method: "the tape",
                what: "record a solve with callbacks".into(),
            });
        }
        if self.rec.sol.stats.accepted > 0 {
            return Err(Error::Unsupported {
                method: "the tape",
                what: "start after steps were taken; call record_tape before stepping".into(),
            });
        }
        self.rec.start_tape(stride, keep_stages);
        Ok(())
    }

    /// Runs to the end and returns the solution with the recorded tape (if recording).
    pub fn solve_with_tape(mut self) -> Result<SolutionWithTape<S::V>, SolveError<S::V>> {
        while self.step()? {}
        Ok((self.rec.sol, self.rec.tape))
    }

    /// Replaces the state (a discontinuous change): the method restarts from it.
    pub fn set_u(&mut self, u: &S::V) -> Result<(), Error> {
        sciml_core::check_state("u", u, self.u.len())?;
        self.u.copy_from(u);
        self.restart();
        Ok(())
    }

    fn fail(&mut self, code: ReturnCode) -> SolveError<S::V> {
        self.done = true;
        self.rec.fail(code, self.t)
    }

    /// Evaluates the interpolant of the step just taken at `tq` (inside that step), e.g. to
    /// integrate a quadrature alongside the solve. Available between one `step` and the next.
    pub fn interpolate_last_step(&mut self, tq: Re<S::V>, out: &mut S::V) -> Result<(), Error> {
        let (t0, h) = self.last_step.ok_or(Error::NoDenseOutput)?;
        let t1 = t0 + h;
        let dir = h.signum();
        let slack = Re::<S::V>::c(100.0) * Re::<S::V>::epsilon() * t0.abs().max(t1.abs());
        if !tq.is_finite() || (tq - t0) * dir < -slack || (tq - t1) * dir > slack {
            return Err(Error::OutOfRange {
                t: tq.to_f64_lossy(),
                start: t0.to_f64_lossy(),
                end: t1.to_f64_lossy(),
            });
        }
        // After the step, `unew` holds the state at its start.
        self.stepper.prepare_interp(StepInput {
            t: t0,
            h,
            u0: &self.unew,
            tol: &self.tol,
            stats: &mut self.rec.sol.stats,
            history: self.rec.sol.dense.as_ref(),
        });
        interp(
            self.stepper.interp_vectors(),
            &self.poly,
            (t0, h, &self.unew),
            tq,
            out,
        );
        Ok(())
    }

    /// Lets the stepper finish the dense output of the step of size `h` from the current point.
    #[inline]
    fn prepare_interp(&mut self, h: Re<S::V>) {
        self.stepper.prepare_interp(StepInput {
            t: self.t,
            h,
            u0: &self.u,
            tol: &self.tol,
            stats: &mut self.rec.sol.stats,
            history: self.rec.sol.dense.as_ref(),
        });
    }

    /// Interpolates the step of size `h` from the current point at `tq` into `out`.
    #[inline]
    fn interp_into(&self, tq: Re<S::V>, h: Re<S::V>, out: &mut S::V) {
        interp(
            self.stepper.interp_vectors(),
            &self.poly,
            (self.t, h, &self.u),
            tq,
            out,
        );
    }

    /// Finds the earliest event inside the step `(t, t + h]`: `(callback index, time)`.
    fn locate_event(&mut self, h: Re<S::V>, tnew: Re<S::V>) -> Option<(usize, Re<S::V>)> {
        if !self.events.has_continuous() {
            return None;
        }
        self.prepare_interp(h);
        let step = SearchedStep {
            t: self.t,
            h,
            tnew,
            unew: &self.unew,
            dir: self.lim.dir,
        };
        let (ks, poly, y0, t) = (self.stepper.interp_vectors(), &self.poly, &self.u, self.t);
        self.events.locate(step, &mut self.scratch, |tq, out| {
            interp(ks, poly, (t, h, y0), tq, out)
        })
    }

    /// Saves the `saveat` points in `(t, upto]` of the step of size `h`; `exact_end` says the
    /// state at `upto` is `self.unew` exactly.
    #[inline]
    fn save_in_step(&mut self, h: Re<S::V>, upto: Re<S::V>, exact_end: bool) {
        while let Some(ts) = self.schedule.next_save_upto(upto) {
            // A copy, not zeros: every component is overwritten, and malloc is cheaper than calloc.
            let mut out = self.u.clone();
            let exact = ts == upto && exact_end;
            if exact {
                out.copy_from(&self.unew);
            } else {
                self.prepare_interp(h);
                self.interp_into(ts, h, &mut out);
            }
            self.rec.save(ts, out, (ts - self.t) / h, exact);
            self.schedule.saved();
        }
    }

    fn push_segment(&mut self, h: Re<S::V>, t_end: Re<S::V>) {
        if !self.rec.wants_dense() {
            return;
        }
        self.prepare_interp(h);
        self.rec
            .push_segment(self.t, h, t_end, &self.u, self.stepper.interp_vectors());
    }

    /// Takes one accepted step (trying as many step sizes as the controller asks). Returns
    /// `Ok(false)` once the integration is over.
    pub fn step(&mut self) -> Result<bool, SolveError<S::V>> {
        type R<V> = Re<V>;
        if self.done {
            return Ok(false);
        }
        if self.advance_pending {
            self.stepper.advance();
            self.advance_pending = false;
        }
        self.last_step = None;
        let dir = self.lim.dir;
        loop {
            if self.rec.sol.stats.steps >= self.lim.maxiters {
                let code = if self.linear_reject {
                    ReturnCode::LinearSolveFailed
                } else {
                    ReturnCode::MaxIters
                };
                return Err(self.fail(code));
            }
            let stop = self.schedule.next_stop();
            let target = match self.landing {
                Some((_, tev)) if (tev - stop) * dir < R::<S::V>::zero() => tev,
                _ => stop,
            };
            let remaining = target - self.t;
            let mut h = self.h;
            if !self.lim.adaptive {
                h = self.schedule.grid_step(self.t, self.h);
            }
            let slack = R::<S::V>::c(100.0) * R::<S::V>::epsilon() * target.abs().max(self.t.abs());
            let hit = (h - remaining) * dir >= -slack;
            if hit {
                h = remaining;
            }
            if !h.is_finite() {
                // The initial step is NaN when f(t0, u0) is.
                return Err(self.fail(ReturnCode::NonFinite));
            }
            if self.lim.adaptive && h.abs() < self.lim.floor(self.t) && !hit {
                // Steps shrunk away because the field kept producing NaN or infinite values are
                // a non-finite failure, not a stiff problem.
                let code = if self.nonfinite_reject {
                    ReturnCode::NonFinite
                } else if self.linear_reject {
                    ReturnCode::LinearSolveFailed
                } else {
                    ReturnCode::DtLessThanMin
                };
                return Err(self.fail(code));
            }
            self.rec.sol.stats.steps += 1;
            let input = StepInput {
                t: self.t,
                h,
                u0: &self.u,
                tol: &self.tol,
                stats: &mut self.rec.sol.stats,
                history: self.rec.sol.dense.as_ref(),
            };
            let res = self.stepper.try_step(input, &mut self.unew);
            if self.lim.adaptive {
                self.linear_reject = matches!(res, Err(StepFailure::LinearSolve));
                let err = match res {
                    Ok(e) if e.is_finite() => e,
                    Ok(_) | Err(StepFailure::NonFinite) => {
                        self.nonfinite_reject = true;
                        R::<S::V>::infinity()
                    }
                    Err(_) => {
                        self.nonfinite_reject = false;
                        R::<S::V>::infinity()
                    }
                };
                // A method that controls its own step (BDF's order selection) overrides the PI
                // controller's proposal, after accepted and rejected steps alike: the controller
                // then only judges the error (its proposal and history would go unused).
                let (accept, hnext) = match self.stepper.suggest_step() {
                    Some(hs) => (PiController::accepts(err), hs),
                    None => self.ctrl.decide(h, err),
                };
                let hnext = hnext.abs().min(self.lim.dtmax) * dir;
                if !accept {
                    self.rec.sol.stats.rejected += 1;
                    self.h = hnext;
                    continue;
                }
                // A step cut short by a stop does not shrink the next one.
                self.h = if hit && hnext.abs() < self.h.abs() {
                    self.h
                } else {
                    hnext
                };
            } else if let Err(e) = res {
                let code = match e {
                    StepFailure::NonFinite => ReturnCode::NonFinite,
                    StepFailure::NewtonFailure | StepFailure::LinearSolve => ReturnCode::StepFailed,
                };
                return Err(self.fail(code));
            }
            if !self.unew.all_finite() {
                return Err(self.fail(ReturnCode::NonFinite));
            }
            self.rec.sol.stats.accepted += 1;
            self.nonfinite_reject = false;
            self.linear_reject = false;
            let tnew = if hit { target } else { self.t + h };
            let sol = &mut self.rec.sol;
            self.stepper
                .finish_step(tnew, &self.unew, sol.dense.as_ref(), &mut sol.stats);
            let landed = self
                .landing
                .filter(|(_, tev)| hit && tnew == *tev)
                .map(|(k, _)| k);
            if landed.is_none() {
                if let Some((k, tev)) = self.locate_event(h, tnew) {
                    if self.events.lands(k) && tev != tnew {
                        // Retake the step to end at the root (the step counts as rejected).
                        self.landing = Some((k, tev));
                        self.rec.sol.stats.accepted -= 1;
                        self.rec.sol.stats.rejected += 1;
                        continue;
                    }
                    self.landing = None;
                    self.handle_event(k, tev, h);
                    return Ok(!self.done);
                }
            }
            self.landing = None;
            let (stepper, unew) = (&self.stepper, &self.unew);
            self.rec
                .record_step(self.t, h, &self.u, || stepper.step_memory(unew));
            self.save_in_step(h, tnew, true);
            self.push_segment(h, tnew);
            if self.rec.wants_stages() {
                // After the saves: lazy interpolation stages are in place if a save used them.
                self.rec.record_stages(self.stepper.interp_vectors());
            }
            let at_end = hit && target == self.schedule.end();
            if self.schedule.save_steps && (!at_end || self.schedule.save_end_steps) {
                self.rec.save_step_end(tnew, &self.unew);
            }
            std::mem::swap(&mut self.u, &mut self.unew);
            self.last_step = Some((self.t, h));
            self.t = tnew;
            self.schedule
                .stepped(tnew, hit && tnew == self.schedule.next_stop());
            self.advance_pending = true;
            if let Some(k) = landed {
                self.land(k);
            }
            self.run_discrete_callbacks();
            if self.events.has_continuous() {
                self.events.refresh(self.t, &self.u);
            }
            if at_end {
                self.done = true;
            }
            if self.done && self.rec.sol.retcode == ReturnCode::Success && !at_end {
                self.rec.sol.retcode = ReturnCode::Terminated;
            }
            return Ok(!self.done);
        }
    }

    fn handle_event(&mut self, k: usize, tev: Re<S::V>, h: Re<S::V>) {
        self.save_in_step(h, tev, false);
        self.push_segment(h, tev);
        let mut uev = self.u.zeros_like();
        self.interp_into(tev, h, &mut uev);
        if self.schedule.save_steps {
            self.rec.save_untaped(tev, uev.clone());
        }
        let terminate = self.events.affect(k, tev, &mut uev);
        if self.schedule.save_steps {
            self.rec.save_untaped(tev, uev.clone());
        }
        self.t = tev;
        self.u = uev;
        self.schedule.jumped_to(tev);
        if terminate {
            self.done = true;
            self.rec.sol.retcode = ReturnCode::Terminated;
            return;
        }
        self.restart();
    }

    /// Runs the affect of the landing callback `k` on the state the step landed with.
    fn land(&mut self, k: usize) {
        let before = self.u.clone();
        let terminate = self.events.affect(k, self.t, &mut self.u);
        if terminate {
            self.done = true;
            self.rec.sol.retcode = ReturnCode::Terminated;
            return;
        }
        self.scratch
            .lincomb(&self.u, &[-Re::<S::V>::one()], &[&before]);
        let changed = self.scratch.first_non_finite().is_some()
            || S::V::err_norm(&self.scratch, &before, &before, &self.tol) != Re::<S::V>::zero();
        if changed && self.schedule.save_steps {
            self.rec.save_untaped(self.t, self.u.clone());
        }
        self.restart();
    }

    fn run_discrete_callbacks(&mut self) {
        if self.events.callbacks.discrete.is_empty() {
            return;
        }
        let (changed, terminate) = self.events.run_discrete(self.t, &mut self.u);
        if terminate {
            self.done = true;
            self.rec.sol.retcode = ReturnCode::Terminated;
        }
        if changed && self.schedule.save_steps {
            // As SciML saves around an affect: the step's end was saved, now the changed state.
            self.rec.save_untaped(self.t, self.u.clone());
        }
        if changed && !self.done {
            self.restart();
        }
    }

    /// Restarts the method from the current `(t, u)` after a discontinuous change of the state.
    fn restart(&mut self) {
        let sol = &mut self.rec.sol;
        self.stepper
            .initialize(self.t, &self.u, sol.dense.as_ref(), &mut sol.stats);
        self.advance_pending = false;
        self.last_step = None;
        self.events.refresh(self.t, &self.u);
    }

    /// Runs to the end of the span and returns the solution.
    pub fn solve(mut self) -> Result<Solution<S::V>, SolveError<S::V>> {
        while self.step()? {}
        Ok(self.rec.sol)
    }
}
