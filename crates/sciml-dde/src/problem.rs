//! `DdeProblem`: the right-hand side, the start, the history before it, the lags; and its
//! solve through the shared step loop.

use crate::dependent::{self, SharedTracked, Tracked};
use crate::error::DdeError;
use crate::field::DdeField;
use crate::function::DdeFunction;
use crate::history::{Fault, InitialHistory, Reader};
use crate::lags::{dedup_sorted, first_invalid, first_nonpositive, propagated, LagFn};
use crate::method_of_steps::{MethodOfSteps, FIXED_POINT_TOL_FACTOR};
use crate::stepper::{DdeStepper, FixedPointStats, StepperFault};
use sciml_core::{
    check_state, Error, One, Re, Real, ReturnCode, Solution, SolveError, State, Tolerance, Zero,
};
use sciml_ode::{Callbacks, OdeMethod, SolveOptions, StepLoop};
use std::sync::{Arc, Mutex, PoisonError};

/// A delay differential equation `u'(t) = f(u(t), h, p, t)` on `[t0, t1]`, where `h` reads `u`
/// at earlier times: the history before `t0`, the solution after it.
///
/// Lags are declared for two reasons: constant lags give the derivative discontinuities the
/// solve steps to (`t0 + Σ kᵢτᵢ`), and every declared lag is checked to be positive. The
/// right-hand side reads the history wherever it needs to (`h.value(t - τ)`).
///
/// ```
/// use sciml_dde::{DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
/// use sciml_ode::{SaveAt, SolveOptions, Tsit5};
/// // u'(t) = -u(t - 1), u = 1 before 0: on [0, 1] the solution is 1 - t.
/// let f = DdeFn::new(1, 0, |du: &mut Vec<f64>, _u: &Vec<f64>, h: &mut History<'_, Vec<f64>, Vec<f64>>, _p: &Vec<f64>, t: f64| {
///     du[0] = -h.value(t - 1.0)[0];
/// });
/// let mut prob = DdeProblem::new(f, vec![1.0], InitialHistory::constant(vec![1.0]), (0.0, 2.0), vec![])?
///     .with_lags(vec![1.0])?;
/// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![0.5, 2.0]));
/// let sol = prob.solve(MethodOfSteps::new(Tsit5), &opts)?;
/// assert!((sol.u[0][0] - 0.5).abs() < 1e-10);
/// // On [1, 2]: u = t²/2 - 2t + 3/2, so u(2) = -1/2.
/// assert!((sol.u[1][0] + 0.5).abs() < 1e-9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DdeProblem<F: DdeFunction> {
    f: F,
    u0: F::V,
    p: F::P,
    tspan: (Re<F::V>, Re<F::V>),
    initial: InitialHistory<F::V, F::P>,
    constant: Vec<Re<F::V>>,
    dependent: Vec<LagFn<F::V, F::P>>,
    fp_stats: FixedPointStats,
    located: Vec<Re<F::V>>,
    assume_jump: bool,
}

impl<F: DdeFunction> DdeProblem<F> {
    /// The problem `f` from `u0` at `tspan.0` to `tspan.1` (forward in time), with the history
    /// `history` before `tspan.0` and parameters `p`. No lags yet: add them with
    /// [`DdeProblem::with_lags`] and [`DdeProblem::with_dependent_lag`].
    pub fn new(
        f: F,
        u0: F::V,
        history: InitialHistory<F::V, F::P>,
        tspan: (Re<F::V>, Re<F::V>),
        p: F::P,
    ) -> Result<Self, DdeError<F::V>> {
        let (n, np) = f.dims();
        check_state("u0", &u0, n)?;
        check_state("p", &p, np)?;
        let (t0, t1) = tspan;
        if !(t0.is_finite() && t1.is_finite()) || t1 <= t0 {
            return Err(Error::InvalidSpan {
                t0: t0.to_f64_lossy(),
                t1: t1.to_f64_lossy(),
                reason: "a delay equation integrates forward: give finite t0 < t1".into(),
            }
            .into());
        }
        if let InitialHistory::Constant(h) = &history {
            if h.len() != n {
                return Err(DdeError::HistoryLength {
                    expected: n,
                    got: h.len(),
                });
            }
            if !h.all_finite() {
                return Err(DdeError::HistoryNonFinite {
                    t: t0.to_f64_lossy(),
                });
            }
        }
        Ok(DdeProblem {
            f,
            u0,
            p,
            tspan,
            initial: history,
            constant: Vec::new(),
            dependent: Vec::new(),
            fp_stats: FixedPointStats::default(),
            located: Vec::new(),
            assume_jump: false,
        })
    }

    /// Declares the constant lags `τᵢ > 0`.
    pub fn with_lags(mut self, lags: Vec<Re<F::V>>) -> Result<Self, DdeError<F::V>> {
        if let Some((index, value)) = first_invalid(&lags) {
            return Err(DdeError::InvalidLag {
                index,
                value: value.to_f64_lossy(),
            });
        }
        self.constant = lags;
        Ok(self)
    }

    /// Declares a state-dependent lag `τ(u, p, t)`, checked to be positive at the start and
    /// after every step (a zero or negative value ends the solve with
    /// [`DdeError::LagNotPositive`]).
    pub fn with_dependent_lag(
        mut self,
        lag: impl Fn(&F::V, &F::P, Re<F::V>) -> Re<F::V> + Send + Sync + 'static,
    ) -> Self {
        self.dependent.push(Arc::new(lag));
        self
    }

    /// Treats `u` as discontinuous at `t0` even where the history's value there equals `u0`:
    /// stages later in a step that ends at `t0 + τ` read the history's left limit at `t0`, and
    /// the tracked discontinuities start at order 0. The values do not change; what does is
    /// the derivative parts of dual numbers seeded in `u0` (or in parameters the history uses),
    /// which differ at `t0` even where the values agree. Forward-mode gradients set it, so that
    /// they are the derivatives of what perturbed solves compute.
    pub fn assume_jump_at_t0(mut self) -> Self {
        self.assume_jump = true;
        self
    }

    /// The constant lags.
    pub fn lags(&self) -> &[Re<F::V>] {
        &self.constant
    }
    /// The start state.
    pub fn u0(&self) -> &F::V {
        &self.u0
    }
    /// The parameters.
    pub fn p(&self) -> &F::P {
        &self.p
    }
    /// The span.
    pub fn tspan(&self) -> (Re<F::V>, Re<F::V>) {
        self.tspan
    }
    /// Replaces the parameters.
    pub fn set_p(&mut self, p: F::P) -> Result<(), DdeError<F::V>> {
        check_state("p", &p, self.f.dims().1)?;
        self.p = p;
        Ok(())
    }
    /// The discontinuities of the state-dependent lags the last solve located (as events),
    /// in order.
    pub fn located_discontinuities(&self) -> &[Re<F::V>] {
        &self.located
    }
    /// The fixed-point iteration's work in the last solve.
    pub fn fixed_point_stats(&self) -> FixedPointStats {
        self.fp_stats
    }

    /// Solves over the whole span with `alg`. The options are the ODE solvers' (tolerances,
    /// saves, tstops, step limits); dense output is always recorded, since it is the history.
    pub fn solve<M, C>(
        &mut self,
        alg: MethodOfSteps<M>,
        opts: &SolveOptions<Re<F::V>>,
    ) -> Result<Solution<F::V>, DdeError<F::V>>
    where
        M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
        C: Clone + Send,
    {
        self.solve_with_callbacks(alg, opts, Callbacks::new())
    }

    /// Solves with callbacks (continuous and discrete, as for ODEs).
    pub fn solve_with_callbacks<M, C>(
        &mut self,
        alg: MethodOfSteps<M>,
        opts: &SolveOptions<Re<F::V>>,
        callbacks: Callbacks<F::V>,
    ) -> Result<Solution<F::V>, DdeError<F::V>>
    where
        M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
        C: Clone + Send,
    {
        type R<V> = Re<V>;
        let (t0, t1) = self.tspan;
        let n = self.u0.len();
        if alg.fp_iters == 0 {
            return Err(Error::InvalidOption {
                option: "fixed_point_iters",
                reason: "must be at least 1".into(),
            }
            .into());
        }
        let window = match alg.window {
            None => None,
            Some(w) => {
                let w = R::<F::V>::c(w);
                let largest = self
                    .constant
                    .iter()
                    .copied()
                    .fold(R::<F::V>::zero(), |a, b| a.max(b));
                if !(w.is_finite() && w >= largest && w > R::<F::V>::zero()) {
                    return Err(Error::InvalidOption {
                        option: "history_window",
                        reason: format!(
                            "is {}; give a finite window at least the largest lag ({})",
                            w.to_f64_lossy(),
                            largest.to_f64_lossy()
                        ),
                    }
                    .into());
                }
                Some(w)
            }
        };
        if let Some((index, value)) = first_nonpositive(&self.dependent, &self.u0, &self.p, t0) {
            return Err(DdeError::LagNotPositive {
                index,
                t: t0.to_f64_lossy(),
                value: value.to_f64_lossy(),
                partial: Box::new(Solution::empty()),
            });
        }
        // The history at t0: its length, and whether u jumps there.
        let mut h0 = self.u0.zeros_like();
        self.initial.eval(&self.p, t0, &mut h0);
        if h0.len() != n {
            return Err(DdeError::HistoryLength {
                expected: n,
                got: h0.len(),
            });
        }
        if !h0.all_finite() {
            return Err(DdeError::HistoryNonFinite {
                t: t0.to_f64_lossy(),
            });
        }
        let mut diff = h0.clone();
        diff.lincomb(&h0, &[-R::<F::V>::one()], &[&self.u0]);
        let exact = Tolerance::scalar(R::<F::V>::zero(), R::<F::V>::epsilon());
        let jump = self.assume_jump
            || F::V::err_norm(&diff, &self.u0, &self.u0, &exact) > R::<F::V>::zero();

        let method = alg.method;
        let mut opts = opts.clone();
        opts.tol.validate_len(n)?;
        opts.dense = Some(true);
        // Checked here, since the tracking below keeps only the tstops inside the span.
        check_tstops(&opts.tstops, t0, t1)?;
        if alg.track {
            // A jump at t0 is a discontinuity of order 0, otherwise of order 1.
            let depth = usize::from(method.order()) + usize::from(jump);
            let mut stops = propagated(t0, t1, &self.constant, depth);
            stops.extend(opts.tstops.iter().copied().filter(|x| *x > t0 && *x < t1));
            dedup_sorted(&mut stops, t0, t1);
            opts.tstops = stops;
        }
        let mut callbacks = callbacks;
        let tracked: Option<SharedTracked<R<F::V>>> = (alg.track && !self.dependent.is_empty())
            .then(|| {
                let order0 = u8::from(!jump);
                let max_order = method.order().saturating_add(1);
                let tr = Tracked::new(t0, order0, self.dependent.len(), max_order);
                Arc::new(Mutex::new(tr))
            });
        if let Some(tr) = &tracked {
            for cb in dependent::callbacks(&self.dependent, &self.p, &self.u0, t0, tr) {
                callbacks = callbacks.with_continuous(cb);
            }
        }
        let fp_tol = match alg.fp_tol {
            Some((r, a)) => Tolerance::new(R::<F::V>::c(r), R::<F::V>::c(a))?,
            None => scaled(&opts.tol, R::<F::V>::c(FIXED_POINT_TOL_FACTOR))?,
        };
        let mut reader = Reader::new(t0, &self.u0, &method.interp_poly::<R<F::V>>());
        reader.jump = jump;
        let mut scratch = self.u0.zeros_like();
        let cache = {
            let fld = DdeField {
                f: &mut self.f,
                initial: &mut self.initial,
                reader: &mut reader,
                dense: None,
                scratch: &mut scratch,
            };
            method.cache(&fld, &self.u0)
        };
        let stepper = DdeStepper {
            f: &mut self.f,
            initial: &mut self.initial,
            p: &self.p,
            dependent: &self.dependent,
            constant: &self.constant,
            t0,
            reader,
            scratch,
            method,
            cache,
            fp_iters: alg.fp_iters,
            fp_tol,
            prev: self.u0.zeros_like(),
            diff,
            fp_failure: None,
            fault: None,
            reinit_pending: false,
            fp_stats: FixedPointStats::default(),
        };
        let mut integ = StepLoop::new(stepper, &self.u0, self.tspan, &opts, callbacks)?;
        let outcome = loop {
            let r = integ.step();
            if let Some(e) = fault_error(&mut integ) {
                break Err(e);
            }
            if let Some(w) = window {
                // The next step's stages read no further back than t - w.
                let t = integ.t();
                integ.forget_dense_before(t - w);
            }
            match r {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(failure(&mut integ, e)),
            }
        };
        self.fp_stats = integ.stepper_mut().fp_stats;
        self.located = tracked
            .map(|tr| {
                let tr = tr.lock().unwrap_or_else(PoisonError::into_inner);
                tr.located.clone()
            })
            .unwrap_or_default();
        outcome?;
        let mut sol = integ.solve()?;
        drop_event_duplicates(&mut sol, &self.located);
        Ok(sol)
    }
}

/// The loop saves the state before and after an event's affect when it saves every step; the
/// discontinuity events change nothing, so their second copy goes.
fn drop_event_duplicates<V: State>(sol: &mut Solution<V>, located: &[Re<V>]) {
    if located.is_empty() {
        return;
    }
    let mut k = 0;
    while k + 1 < sol.t.len() {
        if sol.t[k] == sol.t[k + 1] && located.contains(&sol.t[k]) {
            sol.t.remove(k + 1);
            sol.u.remove(k + 1);
        } else {
            k += 1;
        }
    }
}

/// Every tstop finite and in `[t0, t1]` (as the ODE solvers check them).
fn check_tstops<R: Real>(ts: &[R], t0: R, t1: R) -> Result<(), Error> {
    for (i, x) in ts.iter().enumerate() {
        if !(x.is_finite() && *x >= t0 && *x <= t1) {
            let (x, a, b) = (x.to_f64_lossy(), t0.to_f64_lossy(), t1.to_f64_lossy());
            return Err(Error::InvalidOption {
                option: "tstops",
                reason: format!("time {x} (index {i}) is not a finite time in the span ({a}, {b})"),
            });
        }
    }
    Ok(())
}

/// `tol` scaled by `factor` (the fixed-point iteration's default).
fn scaled<R: Real>(tol: &Tolerance<R>, factor: R) -> Result<Tolerance<R>, Error> {
    let rtol = (0..tol.rtol_len())
        .map(|i| tol.rtol_at(i) * factor)
        .collect();
    let atol = (0..tol.atol_len())
        .map(|i| tol.atol_at(i) * factor)
        .collect();
    let mut out = Tolerance::per_component(rtol, atol)?;
    out.norm_len = tol.norm_len;
    Ok(out)
}

type Loop<'s, F, M, C> = StepLoop<DdeStepper<'s, F, M, C>>;

/// The solution so far, marked as a failed step.
fn partial<F, M, C>(integ: &Loop<'_, F, M, C>) -> Box<Solution<F::V>>
where
    F: DdeFunction,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
    C: Clone + Send,
{
    let mut sol = integ.solution().clone();
    sol.retcode = ReturnCode::StepFailed;
    Box::new(sol)
}

/// A fault the history reads or the lag checks recorded during the last step.
fn fault_error<F, M, C>(integ: &mut Loop<'_, F, M, C>) -> Option<DdeError<F::V>>
where
    F: DdeFunction,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
    C: Clone + Send,
{
    let s = integ.stepper_mut();
    let (read, lag) = (s.reader.fault, s.fault);
    if read.is_none() && lag.is_none() {
        return None;
    }
    let partial = partial(integ);
    Some(match (read, lag) {
        (Some(Fault::Future { t, query }), _) => DdeError::FutureHistory { t, query, partial },
        (Some(Fault::HistoryNonFinite { t }), _) => DdeError::HistoryNonFinite { t },
        (Some(Fault::HistoryLength { expected, got }), _) => {
            DdeError::HistoryLength { expected, got }
        }
        (Some(Fault::Dropped { t, query }), _) => DdeError::HistoryDropped { t, query, partial },
        (None, Some(StepperFault::Lag { index, t, value })) => DdeError::LagNotPositive {
            index,
            t,
            value,
            partial,
        },
        (None, None) => return None,
    })
}

/// The loop's failure, or the fixed-point iteration's when that is what could not go on.
fn failure<F, M, C>(integ: &mut Loop<'_, F, M, C>, e: SolveError<F::V>) -> DdeError<F::V>
where
    F: DdeFunction,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
    C: Clone + Send,
{
    let fp = integ.stepper_mut().fp_failure;
    match (e, fp) {
        (
            SolveError::Failed {
                code: code @ (ReturnCode::StepFailed | ReturnCode::DtLessThanMin),
                partial,
                ..
            },
            Some((t, iterations)),
        ) => DdeError::FixedPointNotConverged {
            t: t.to_f64_lossy(),
            iterations,
            code,
            partial,
        },
        (e, _) => e.into(),
    }
}
