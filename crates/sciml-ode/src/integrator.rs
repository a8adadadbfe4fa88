//! The stepping loop: step control, tstops, saving, dense output and callbacks around any
//! [`OdeMethod`]. Users can drive it by hand (`init`, `step`) as SciML's integrator interface
//! allows, or run it to the end (`solve`).

use crate::callbacks::{crosses, CallbackContext, Callbacks};
use crate::controller::PiController;
use crate::method::{OdeMethod, StepContext, StepFailure, StepMemory};
use crate::options::{SaveAt, SolveOptions};
use crate::problem::OdeProblem;
use sciml_core::dense::PolyTable;
use sciml_core::{
    DenseMatrix, DenseOutput, Error, One, Re, Real, ReturnCode, Scalar, Segment, Solution,
    SolveError, State, Tolerance, VectorField, Zero, MAX_LINCOMB,
};

/// One accepted step, as a sensitivity method replays it: start, size and starting state.
#[derive(Clone, Debug)]
pub struct StepRecord<V: State> {
    /// Start of the step.
    pub t0: Re<V>,
    /// Its (signed) size, exactly as stepped.
    pub h: Re<V>,
    /// The state at `t0`, kept for every `stride`-th step only (a checkpoint); the others are
    /// recomputed from the last checkpoint when needed.
    pub u0: Option<V>,
    /// The step's stage derivatives and interpolation vectors (when the tape keeps them), so a
    /// reverse sweep needs no re-evaluation of the field.
    pub stages: Option<Vec<V>>,
    /// What a multistep method records of the step (`OdeMethod::step_memory`), kept for every
    /// step; `None` for one-step methods.
    pub memory: Option<StepMemory<V>>,
}

/// How one saved point was produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SaveRecord<R> {
    /// The step it lies in (`None`: the initial state itself).
    pub step: Option<usize>,
    /// `(t - t0) / h` inside that step.
    pub theta: R,
    /// The saved state is the step's end state exactly (not interpolated).
    pub exact_end: bool,
}

/// Everything needed to replay a solve backwards on its frozen mesh: the accepted steps and how
/// each saved point came from them (one `SaveRecord` per entry of `Solution::u`).
#[derive(Clone, Debug)]
pub struct Tape<V: State> {
    /// Accepted steps in order.
    pub steps: Vec<StepRecord<V>>,
    /// Every `stride`-th step keeps its starting state.
    pub stride: usize,
    /// Whether every step keeps its stages.
    pub keep_stages: bool,
    /// One record per saved point.
    pub saves: Vec<SaveRecord<Re<V>>>,
}

/// `(t0, h)`: where a step starts and its signed size.
pub type StepSpan<R> = (R, R);

/// A solution and the tape recorded with it (if recording was on).
pub type SolutionWithTape<V> = (Solution<V>, Option<Tape<V>>);

/// A solve in progress. Built by [`OdeProblem::init`].
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
pub struct Integrator<'a, F: VectorField, M: OdeMethod<F>> {
    f: &'a mut F,
    p: &'a F::P,
    mass: Option<&'a DenseMatrix<Re<F::V>>>,
    method: M,
    cache: M::Cache,
    ctrl: PiController<Re<F::V>>,
    tol: Tolerance<Re<F::V>>,
    callbacks: Callbacks<F::V>,
    t: Re<F::V>,
    u: F::V,
    unew: F::V,
    h: Re<F::V>,
    dir: Re<F::V>,
    t1: Re<F::V>,
    adaptive: bool,
    dtmin: Re<F::V>,
    /// `dtmin` was not given: the floor is 16 ε max(|t|, ε·span) at the current `t`.
    dtmin_relative: bool,
    span: Re<F::V>,
    dtmax: Re<F::V>,
    maxiters: usize,
    save_steps: bool,
    save_end_steps: bool,
    save_times: Vec<Re<F::V>>,
    save_idx: usize,
    tstops: Vec<Re<F::V>>,
    tstop_idx: usize,
    poly: PolyTable<Re<F::V>>,
    sol: Solution<F::V>,
    gprev: Vec<Re<F::V>>,
    scratch: F::V,
    /// Fixed-step mode: times are `anchor + k·h`, not accumulated sums, so `n` steps of
    /// `span / n` land on the end without a sliver of a step.
    anchor: (Re<F::V>, usize),
    tape: Option<Tape<F::V>>,
    /// `(t0, h)` of the step just taken, while its interpolant is still in the cache.
    last_step: Option<StepSpan<Re<F::V>>>,
    /// The method's `advance` is deferred to the next step, so the last step can still be
    /// interpolated in between.
    advance_pending: bool,
    /// The last rejected attempt failed on a NaN or infinite value.
    nonfinite_reject: bool,
    done: bool,
}

fn opt_err(option: &'static str, reason: String) -> Error {
    Error::InvalidOption { option, reason }
}

fn check_positive<R: Real>(option: &'static str, x: R) -> Result<(), Error> {
    if x.is_finite() && x > R::zero() {
        Ok(())
    } else {
        Err(opt_err(
            option,
            format!("is {x}; give a finite positive value"),
        ))
    }
}

/// `out = y0 + h Σ P_j(θ) k_j` at `θ = (tq - t0) / h`, with at most `N` vectors.
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

impl<F: VectorField> OdeProblem<F> {
    /// Starts a solve with `method`: validates the options, evaluates `f(t0, u0)` and picks the
    /// initial step. Nothing is integrated until [`Integrator::step`] or [`Integrator::solve`].
    pub fn init<M: OdeMethod<F>>(
        &mut self,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> Result<Integrator<'_, F, M>, Error> {
        Integrator::new(self, method, opts, Callbacks::new())
    }

    /// Starts a solve with callbacks.
    pub fn init_with_callbacks<M: OdeMethod<F>>(
        &mut self,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
        callbacks: Callbacks<F::V>,
    ) -> Result<Integrator<'_, F, M>, Error> {
        Integrator::new(self, method, opts, callbacks)
    }

    /// Solves over the whole span.
    ///
    /// ```
    /// use sciml_core::FnField;
    /// use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
    /// let f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0]);
    /// let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![-2.0]).unwrap();
    /// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![0.5, 1.0]));
    /// let sol = prob.solve(Tsit5, &opts).unwrap();
    /// assert_eq!(sol.t, vec![0.5, 1.0]);
    /// assert!((sol.u[1][0] - (-2.0_f64).exp()).abs() < 1e-9);
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

impl<'a, F: VectorField, M: OdeMethod<F>> Integrator<'a, F, M> {
    fn new(
        prob: &'a mut OdeProblem<F>,
        method: M,
        opts: &SolveOptions<Re<F::V>>,
        callbacks: Callbacks<F::V>,
    ) -> Result<Self, Error> {
        type R<F> = Re<<F as VectorField>::V>;
        let (t0, t1) = prob.tspan;
        crate::problem::check_span(t0, t1)?;
        let n = prob.u0.len();
        // The fields are validated on construction, but the field's own scratch may have been
        // resized through `f_mut` since: check the state against what the field declares.
        if prob.f.dims().0 != n {
            return Err(Error::DimensionMismatch {
                what: "u0 (against the field's declared dimension)".into(),
                expected: prob.f.dims().0,
                got: n,
            });
        }
        opts.tol.validate_len(n)?;
        opts.controller.validate()?;
        if prob.mass.is_some() && !method.supports_mass_matrix() {
            return Err(Error::Unsupported {
                method: method.name(),
                what:
                    "integrate M·u' = f with a mass matrix; use an implicit method such as Rodas5P"
                        .into(),
            });
        }
        let dir = (t1 - t0).signum();
        let span = (t1 - t0).abs();
        let adaptive = opts.adaptive.unwrap_or(method.is_adaptive());
        if adaptive && !method.is_adaptive() {
            return Err(Error::Unsupported {
                method: method.name(),
                what: "adapt its step (it has no error estimate); set `adaptive: Some(false)` and give `dt`".into(),
            });
        }
        if let Some(dt) = opts.dt {
            // A size, not a signed step: the span gives the direction.
            check_positive("dt", dt)?;
        } else if !adaptive {
            let reason = if method.is_adaptive() {
                "fixed-step mode needs a step size; set `dt`".to_string()
            } else {
                format!(
                    "{} has no error estimate and takes fixed steps; set `dt`",
                    method.name()
                )
            };
            return Err(opt_err("dt", reason));
        }
        if opts.maxiters == 0 {
            return Err(opt_err("maxiters", "is 0; allow at least one step".into()));
        }
        let dtmax = match opts.dtmax {
            Some(x) => {
                check_positive("dtmax", x)?;
                x
            }
            None => span,
        };
        let dtmin = match opts.dtmin {
            Some(x) => {
                if !(x.is_finite() && x >= R::<F>::zero() && x <= dtmax) {
                    return Err(opt_err(
                        "dtmin",
                        format!("is {x}; need 0 <= dtmin <= dtmax"),
                    ));
                }
                x
            }
            // Relative to the current time (see `step`): a span like Robertson's [0, 1e11]
            // needs steps far below ε·1e11 near t = 0.
            None => R::<F>::zero(),
        };
        let dtmin_relative = opts.dtmin.is_none();
        let in_span =
            |x: R<F>| (x - t0) * dir >= R::<F>::zero() && (x - t1) * dir <= R::<F>::zero();
        // Save times and tstops: finite and inside the span.
        let check_times = |option: &'static str, ts: &[R<F>]| -> Result<(), Error> {
            for (i, x) in ts.iter().enumerate() {
                if !x.is_finite() {
                    return Err(opt_err(
                        option,
                        format!("time {x} (index {i}) is not finite; give times in the span ({t0}, {t1})"),
                    ));
                }
                if !in_span(*x) {
                    return Err(opt_err(
                        option,
                        format!("time {x} (index {i}) lies outside the span ({t0}, {t1})"),
                    ));
                }
            }
            Ok(())
        };
        let sort_dir = |v: &mut Vec<R<F>>| {
            // Lists usually come sorted; checking is cheaper than sorting.
            if v.windows(2).all(|w| (w[1] - w[0]) * dir >= R::<F>::zero()) {
                return;
            }
            v.sort_by(|a, b| {
                ((*a - *b) * dir)
                    .partial_cmp(&R::<F>::zero())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        };
        // Save times, as one sorted list (start and end included as the options say).
        let (save_steps, mut save_times) = match &opts.saveat {
            SaveAt::Steps => (true, Vec::new()),
            SaveAt::Every(_) => {
                let v = opts
                    .saveat
                    .listed_times(t0, t1, opts.save_end != Some(false))?
                    .unwrap_or_default();
                (false, v)
            }
            SaveAt::Times(ts) => {
                check_times("saveat", ts)?;
                let mut v = ts.clone();
                if opts.save_start == Some(true) && !v.contains(&t0) {
                    v.push(t0);
                }
                if opts.save_end == Some(true) && !v.contains(&t1) {
                    v.push(t1);
                }
                (false, v)
            }
        };
        if opts.save_start == Some(false) {
            save_times.retain(|x| *x != t0);
        }
        if opts.save_end == Some(false) {
            save_times.retain(|x| *x != t1);
        }
        sort_dir(&mut save_times);
        let mut tstops = Vec::with_capacity(opts.tstops.len());
        check_times("tstops", &opts.tstops)?;
        for x in &opts.tstops {
            if (*x - t0) * dir > R::<F>::zero() && (*x - t1) * dir < R::<F>::zero() {
                tstops.push(*x);
            }
        }
        sort_dir(&mut tstops);

        let dense = opts.dense.unwrap_or(save_steps);
        let poly: Vec<Vec<R<F>>> = method.interp_poly();
        let OdeProblem { f, u0, p, mass, .. } = prob;
        let mut cache = method.cache(f, u0);
        let mut sol = Solution::empty();
        if dense {
            sol.dense = Some(DenseOutput::new(poly.clone(), method.interp_order()));
        }
        method.initialize(&mut cache, f, p, t0, u0, &mut sol.stats);
        let mut integ = Integrator {
            ctrl: opts.controller.clone().for_order(method.error_order() + 1),
            tol: opts.tol.clone(),
            callbacks,
            t: t0,
            u: u0.clone(),
            unew: u0.zeros_like(),
            h: R::<F>::zero(),
            dir,
            t1,
            adaptive,
            dtmin,
            dtmin_relative,
            span,
            dtmax,
            maxiters: opts.maxiters,
            save_steps,
            save_end_steps: opts.save_end != Some(false),
            save_times,
            save_idx: 0,
            tstops,
            tstop_idx: 0,
            poly: PolyTable::new(&poly),
            sol,
            gprev: Vec::new(),
            scratch: u0.zeros_like(),
            anchor: (t0, 0),
            tape: None,
            last_step: None,
            advance_pending: false,
            nonfinite_reject: false,
            done: false,
            method,
            cache,
            f,
            p,
            mass: mass.as_ref(),
        };
        integ.sol.t.reserve(integ.save_times.len());
        integ.sol.u.reserve(integ.save_times.len());
        if save_steps && opts.save_start != Some(false) {
            integ.sol.t.push(t0);
            integ.sol.u.push(u0.clone());
        }
        while integ.save_idx < integ.save_times.len() && integ.save_times[integ.save_idx] == t0 {
            integ.sol.t.push(t0);
            integ.sol.u.push(u0.clone());
            integ.save_idx += 1;
        }
        integ.h = match opts.dt {
            Some(dt) => dir * dt.abs().min(dtmax),
            None => dir * integ.initial_step(),
        };
        integ.refresh_event_values();
        Ok(integ)
    }

    /// Hairer–Wanner's starting step (*Solving ODEs I*, II.4): balances `‖u0‖`, `‖f0‖` and a
    /// finite-difference estimate of the second derivative.
    fn initial_step(&mut self) -> Re<F::V> {
        type R<V> = Re<V>;
        let u0 = &self.u;
        let f0 = self.method.f_start(&self.cache);
        let d0 = F::V::err_norm(u0, u0, u0, &self.tol);
        let d1 = F::V::err_norm(f0, u0, u0, &self.tol);
        let small = R::<F::V>::c(1e-5);
        let mut h0 = if d0 < small || d1 < small {
            R::<F::V>::c(1e-6)
        } else {
            R::<F::V>::c(0.01) * d0 / d1
        };
        h0 = h0.min(self.dtmax);
        // Explicit Euler step and the change in f it causes.
        self.scratch.lincomb(u0, &[self.dir * h0], &[f0]);
        self.f.rhs(
            self.t + self.dir * h0,
            &self.scratch,
            self.p,
            &mut self.unew,
        );
        self.sol.stats.nf += 1;
        let f0 = self.method.f_start(&self.cache);
        self.scratch
            .lincomb(&self.unew, &[-R::<F::V>::one()], &[f0]);
        let d2 = F::V::err_norm(&self.scratch, u0, u0, &self.tol) / h0;
        let m = d1.max(d2);
        let order = R::<F::V>::from_usize(usize::from(self.method.order()));
        let h1 = if m <= R::<F::V>::c(1e-15) {
            (h0 * R::<F::V>::c(1e-3)).max(R::<F::V>::c(1e-6))
        } else {
            (R::<F::V>::c(0.01) / m).powf(R::<F::V>::one() / (order + R::<F::V>::one()))
        };
        (R::<F::V>::c(100.0) * h0).min(h1).min(self.dtmax)
    }

    /// `(t0, h)` of the step just taken, while its interpolant is available
    /// ([`Integrator::interpolate_last_step`]).
    pub fn last_step(&self) -> Option<StepSpan<Re<F::V>>> {
        self.last_step
    }
    /// The vector field being integrated (e.g. to evaluate a quadrature alongside the solve).
    pub fn field_mut(&mut self) -> &mut F {
        self.f
    }
    /// Current time.
    pub fn t(&self) -> Re<F::V> {
        self.t
    }
    /// Current state.
    pub fn u(&self) -> &F::V {
        &self.u
    }
    /// The step size the next step will try.
    pub fn dt(&self) -> Re<F::V> {
        self.h
    }
    /// The solution saved so far.
    pub fn solution(&self) -> &Solution<F::V> {
        &self.sol
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
        if !self.callbacks.is_empty() {
            return Err(Error::Unsupported {
                method: "the tape",
                what: "record a solve with callbacks".into(),
            });
        }
        if self.sol.stats.accepted > 0 {
            return Err(Error::Unsupported {
                method: "the tape",
                what: "start after steps were taken; call record_tape before stepping".into(),
            });
        }
        let zero = Re::<F::V>::zero();
        let initial = SaveRecord {
            step: None,
            theta: zero,
            exact_end: true,
        };
        self.tape = Some(Tape {
            steps: Vec::new(),
            stride,
            keep_stages,
            saves: vec![initial; self.sol.len()],
        });
        Ok(())
    }

    /// Runs to the end and returns the solution with the recorded tape (if recording).
    pub fn solve_with_tape(mut self) -> Result<SolutionWithTape<F::V>, SolveError<F::V>> {
        while self.step()? {}
        Ok((self.sol, self.tape))
    }

    /// Replaces the state (a discontinuous change): the method restarts from it.
    pub fn set_u(&mut self, u: &F::V) -> Result<(), Error> {
        sciml_core::check_state("u", u, self.u.len())?;
        self.u.copy_from(u);
        self.restart();
        Ok(())
    }

    fn fail(&mut self, code: ReturnCode) -> SolveError<F::V> {
        self.done = true;
        self.sol.retcode = code;
        let mut partial = std::mem::replace(&mut self.sol, Solution::empty());
        if let Some(d) = partial.dense.as_mut() {
            d.truncate_after(self.t);
        }
        SolveError::failed(code, self.t, partial)
    }

    fn refresh_event_values(&mut self) {
        let (t, u) = (self.t, &self.u);
        self.gprev = self
            .callbacks
            .continuous
            .iter_mut()
            .map(|cb| (cb.condition)(t, u))
            .collect();
    }

    fn next_stop(&self) -> Re<F::V> {
        self.tstops.get(self.tstop_idx).copied().unwrap_or(self.t1)
    }

    /// Interpolates the step just taken (from `self.t`, size `h`) at `tq` into `out`.
    fn interp_into(&self, tq: Re<F::V>, h: Re<F::V>, out: &mut F::V) {
        // Small stack buffers for the common case (up to 16 vectors: everything but the Verner
        // interpolants), so a save does not initialise 32-entry arrays.
        if self.method.interp_vectors(&self.cache).len() <= 16 {
            self.interp_into_n::<16>(tq, h, out)
        } else {
            self.interp_into_n::<MAX_LINCOMB>(tq, h, out)
        }
    }

    fn interp_into_n<const N: usize>(&self, tq: Re<F::V>, h: Re<F::V>, out: &mut F::V) {
        interp_from::<F::V, N>(
            self.method.interp_vectors(&self.cache),
            &self.poly,
            (self.t, h, &self.u),
            tq,
            out,
        );
    }

    /// Evaluates the interpolant of the step just taken at `tq` (inside that step), e.g. to
    /// integrate a quadrature alongside the solve. Available between one `step` and the next.
    pub fn interpolate_last_step(&mut self, tq: Re<F::V>, out: &mut F::V) -> Result<(), Error> {
        let (t0, h) = self.last_step.ok_or(Error::NoDenseOutput)?;
        let t1 = t0 + h;
        let dir = h.signum();
        let slack = Re::<F::V>::c(100.0) * Re::<F::V>::epsilon() * t0.abs().max(t1.abs());
        if !tq.is_finite() || (tq - t0) * dir < -slack || (tq - t1) * dir > slack {
            return Err(Error::OutOfRange {
                t: tq.to_f64_lossy(),
                start: t0.to_f64_lossy(),
                end: t1.to_f64_lossy(),
            });
        }
        let ctx = StepContext {
            p: self.p,
            t: t0,
            h,
            u0: &self.unew,
            tol: &self.tol,
            mass: self.mass,
            stats: &mut self.sol.stats,
        };
        self.method.prepare_interp(&mut self.cache, self.f, ctx);
        interp_from::<F::V, MAX_LINCOMB>(
            self.method.interp_vectors(&self.cache),
            &self.poly,
            (t0, h, &self.unew),
            tq,
            out,
        );
        Ok(())
    }

    fn prepare_interp(&mut self, h: Re<F::V>) {
        let ctx = StepContext {
            p: self.p,
            t: self.t,
            h,
            u0: &self.u,
            tol: &self.tol,
            mass: self.mass,
            stats: &mut self.sol.stats,
        };
        self.method.prepare_interp(&mut self.cache, self.f, ctx);
    }

    /// Finds the earliest event inside the step `(t, t + h]`: `(callback index, time)`.
    fn locate_event(&mut self, h: Re<F::V>, tnew: Re<F::V>) -> Option<(usize, Re<F::V>)> {
        type R<V> = Re<V>;
        if self.callbacks.continuous.is_empty() {
            return None;
        }
        self.prepare_interp(h);
        let mut best: Option<(usize, R<F::V>)> = None;
        let mut buf = self.scratch.clone();
        for k in 0..self.callbacks.continuous.len() {
            let npts = self.callbacks.continuous[k].interp_points;
            let dirn = self.callbacks.continuous[k].direction;
            let (mut ta, mut ga) = (self.t, self.gprev[k]);
            let mut bracket = None;
            for i in 1..=npts {
                let tb = if i == npts {
                    tnew
                } else {
                    self.t + h * R::<F::V>::from_usize(i) / R::<F::V>::from_usize(npts)
                };
                if let Some((_, tbest)) = best {
                    if (ta - tbest) * self.dir >= R::<F::V>::zero() {
                        break;
                    }
                }
                let gb = if i == npts {
                    (self.callbacks.continuous[k].condition)(tnew, &self.unew)
                } else {
                    self.interp_into(tb, h, &mut buf);
                    (self.callbacks.continuous[k].condition)(tb, &buf)
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
            let tol = R::<F::V>::c(self.callbacks.continuous[k].time_tol);
            let mut side = 0i8;
            for _ in 0..200 {
                if (r - l).abs() <= tol {
                    break;
                }
                let mut m = (l * gr - r * gl) / (gr - gl);
                if !m.is_finite()
                    || (m - l) * self.dir <= R::<F::V>::zero()
                    || (m - r) * self.dir >= R::<F::V>::zero()
                {
                    m = l + (r - l) * R::<F::V>::c(0.5);
                }
                self.interp_into(m, h, &mut buf);
                let gm = (self.callbacks.continuous[k].condition)(m, &buf);
                let same_as_left =
                    (gm > R::<F::V>::zero()) == (gl > R::<F::V>::zero()) && gm != R::<F::V>::zero();
                if same_as_left {
                    l = m;
                    gl = gm;
                    if side == -1 {
                        gr *= R::<F::V>::c(0.5);
                    }
                    side = -1;
                } else {
                    r = m;
                    gr = gm;
                    if side == 1 {
                        gl *= R::<F::V>::c(0.5);
                    }
                    side = 1;
                }
            }
            let tev = if gr == R::<F::V>::zero() { r } else { l };
            if best.is_none_or(|(_, tb)| (tev - tb) * self.dir < R::<F::V>::zero()) {
                best = Some((k, tev));
            }
        }
        best
    }

    /// Saves the `saveat` points in `(t, upto]` of the step of size `h`; `exact_end` says the
    /// state at `upto` is `self.unew` exactly.
    fn save_in_step(&mut self, h: Re<F::V>, upto: Re<F::V>, exact_end: bool) {
        while let Some(&ts) = self.save_times.get(self.save_idx) {
            if (ts - upto) * self.dir > Re::<F::V>::zero() {
                break;
            }
            // A copy, not zeros: every component is overwritten, and malloc is cheaper than calloc.
            let mut out = self.u.clone();
            let exact = ts == upto && exact_end;
            if exact {
                out.copy_from(&self.unew);
            } else {
                self.prepare_interp(h);
                self.interp_into(ts, h, &mut out);
            }
            if let Some(tape) = self.tape.as_mut() {
                tape.saves.push(SaveRecord {
                    step: tape.steps.len().checked_sub(1),
                    theta: (ts - self.t) / h,
                    exact_end: exact,
                });
            }
            self.sol.t.push(ts);
            self.sol.u.push(out);
            self.save_idx += 1;
        }
    }

    fn push_segment(&mut self, h: Re<F::V>, t_end: Re<F::V>) {
        if self.sol.dense.is_none() {
            return;
        }
        self.prepare_interp(h);
        let seg = Segment {
            t0: self.t,
            h,
            t_end,
            y0: self.u.clone(),
            ks: self.method.interp_vectors(&self.cache).to_vec(),
        };
        if let Some(d) = self.sol.dense.as_mut() {
            d.push(seg);
        }
    }

    /// Takes one accepted step (trying as many step sizes as the controller asks). Returns
    /// `Ok(false)` once the integration is over.
    pub fn step(&mut self) -> Result<bool, SolveError<F::V>> {
        type R<V> = Re<V>;
        if self.done {
            return Ok(false);
        }
        if self.advance_pending {
            self.method.advance(&mut self.cache);
            self.advance_pending = false;
        }
        self.last_step = None;
        loop {
            if self.sol.stats.steps >= self.maxiters {
                return Err(self.fail(ReturnCode::MaxIters));
            }
            let target = self.next_stop();
            let remaining = target - self.t;
            let mut h = self.h;
            if !self.adaptive {
                // Next grid point from the anchor, not t + h.
                let next = self.anchor.0 + self.h * R::<F::V>::from_usize(self.anchor.1 + 1);
                h = next - self.t;
            }
            let slack = R::<F::V>::c(100.0) * R::<F::V>::epsilon() * target.abs().max(self.t.abs());
            let hit = (h - remaining) * self.dir >= -slack;
            if hit {
                h = remaining;
            }
            let floor = if self.dtmin_relative {
                let eps = R::<F::V>::epsilon();
                R::<F::V>::c(16.0) * eps * self.t.abs().max(eps * self.span)
            } else {
                self.dtmin
            };
            if !h.is_finite() {
                // The initial step is NaN when f(t0, u0) is.
                return Err(self.fail(ReturnCode::NonFinite));
            }
            if self.adaptive && h.abs() < floor && !hit {
                // Steps shrunk away because the field kept producing NaN or infinite values are
                // a non-finite failure, not a stiff problem.
                let code = if self.nonfinite_reject {
                    ReturnCode::NonFinite
                } else {
                    ReturnCode::DtLessThanMin
                };
                return Err(self.fail(code));
            }
            self.sol.stats.steps += 1;
            let ctx = StepContext {
                p: self.p,
                t: self.t,
                h,
                u0: &self.u,
                tol: &self.tol,
                mass: self.mass,
                stats: &mut self.sol.stats,
            };
            let res = self
                .method
                .try_step(&mut self.cache, self.f, ctx, &mut self.unew);
            if self.adaptive {
                let err = match res {
                    Ok(e) if e.is_finite() => e,
                    Ok(_) | Err(StepFailure::NonFinite) => {
                        self.nonfinite_reject = true;
                        R::<F::V>::infinity()
                    }
                    Err(_) => {
                        self.nonfinite_reject = false;
                        R::<F::V>::infinity()
                    }
                };
                let (accept, hctrl) = self.ctrl.decide(h, err);
                // A method that controls its own step (BDF's order selection) overrides the PI
                // controller's proposal, after accepted and rejected steps alike.
                let hnext = self.method.suggest_step(&self.cache).unwrap_or(hctrl);
                let hnext = hnext.abs().min(self.dtmax) * self.dir;
                if !accept {
                    self.sol.stats.rejected += 1;
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
            self.sol.stats.accepted += 1;
            self.nonfinite_reject = false;
            let tnew = if hit { target } else { self.t + h };
            self.method.finish_step(
                &mut self.cache,
                self.f,
                self.p,
                tnew,
                &self.unew,
                &mut self.sol.stats,
            );
            if let Some((k, tev)) = self.locate_event(h, tnew) {
                self.handle_event(k, tev, h);
                return Ok(!self.done);
            }
            if let Some(tape) = self.tape.as_mut() {
                let keep = tape.steps.len() % tape.stride == 0;
                tape.steps.push(StepRecord {
                    t0: self.t,
                    h,
                    u0: keep.then(|| self.u.clone()),
                    stages: None,
                    memory: self.method.step_memory(&self.cache, &self.unew),
                });
            }
            self.save_in_step(h, tnew, true);
            self.push_segment(h, tnew);
            if let Some(tape) = self.tape.as_mut() {
                if tape.keep_stages {
                    // After the saves: lazy interpolation stages are in place if a save used them.
                    let ks = self.method.interp_vectors(&self.cache).to_vec();
                    if let Some(last) = tape.steps.last_mut() {
                        last.stages = Some(ks);
                    }
                }
            }
            let at_end = hit && target == self.t1;
            if self.save_steps && (!at_end || self.save_end_steps) {
                if let Some(tape) = self.tape.as_mut() {
                    tape.saves.push(SaveRecord {
                        step: tape.steps.len().checked_sub(1),
                        theta: Re::<F::V>::one(),
                        exact_end: true,
                    });
                }
                self.sol.t.push(tnew);
                self.sol.u.push(self.unew.clone());
            }
            std::mem::swap(&mut self.u, &mut self.unew);
            self.last_step = Some((self.t, h));
            self.t = tnew;
            self.anchor.1 += 1;
            self.advance_pending = true;
            if hit && !at_end {
                self.tstop_idx += 1;
                self.anchor = (tnew, 0);
            }
            self.run_discrete_callbacks();
            if !self.callbacks.continuous.is_empty() {
                self.refresh_event_values();
            }
            if at_end {
                self.done = true;
            }
            if self.done && self.sol.retcode == ReturnCode::Success && !at_end {
                self.sol.retcode = ReturnCode::Terminated;
            }
            return Ok(!self.done);
        }
    }

    fn handle_event(&mut self, k: usize, tev: Re<F::V>, h: Re<F::V>) {
        self.save_in_step(h, tev, false);
        self.push_segment(h, tev);
        let mut uev = self.u.zeros_like();
        self.interp_into(tev, h, &mut uev);
        if self.save_steps {
            self.sol.t.push(tev);
            self.sol.u.push(uev.clone());
        }
        let mut ctx = CallbackContext {
            t: tev,
            u: &mut uev,
            terminate: false,
        };
        (self.callbacks.continuous[k].affect)(&mut ctx);
        let terminate = ctx.terminate;
        if self.save_steps {
            self.sol.t.push(tev);
            self.sol.u.push(uev.clone());
        }
        self.t = tev;
        self.u = uev;
        self.anchor = (tev, 0);
        while self
            .tstops
            .get(self.tstop_idx)
            .is_some_and(|ts| (*ts - tev) * self.dir <= Re::<F::V>::zero())
        {
            self.tstop_idx += 1;
        }
        if terminate {
            self.done = true;
            self.sol.retcode = ReturnCode::Terminated;
            return;
        }
        self.restart();
    }

    fn run_discrete_callbacks(&mut self) {
        let mut changed = false;
        for cb in self.callbacks.discrete.iter_mut() {
            if (cb.condition)(self.t, &self.u) {
                let mut ctx = CallbackContext {
                    t: self.t,
                    u: &mut self.u,
                    terminate: false,
                };
                (cb.affect)(&mut ctx);
                changed = true;
                if ctx.terminate {
                    self.done = true;
                    self.sol.retcode = ReturnCode::Terminated;
                }
            }
        }
        if changed && self.save_steps {
            // As SciML saves around an affect: the step's end was saved, now the changed state.
            self.sol.t.push(self.t);
            self.sol.u.push(self.u.clone());
        }
        if changed && !self.done {
            self.restart();
        }
    }

    /// Restarts the method from the current `(t, u)` after a discontinuous change of the state.
    fn restart(&mut self) {
        self.method.initialize(
            &mut self.cache,
            self.f,
            self.p,
            self.t,
            &self.u,
            &mut self.sol.stats,
        );
        self.advance_pending = false;
        self.last_step = None;
        self.refresh_event_values();
    }

    /// Runs to the end of the span and returns the solution.
    pub fn solve(mut self) -> Result<Solution<F::V>, SolveError<F::V>> {
        while self.step()? {}
        Ok(self.sol)
    }
}
