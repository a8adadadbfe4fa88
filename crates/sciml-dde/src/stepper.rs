//! The method of steps as a [`Stepper`] of the shared step loop: an ODE method stepping the
//! right-hand side with the history bound ([`DdeField`]); steps that read inside themselves
//! iterate on their own interpolant.

use crate::field::DdeField;
use crate::function::DdeFunction;
use crate::history::{InitialHistory, Reader};
use crate::lags::{first_nonpositive, LagFn};
use sciml_core::{DenseOutput, One, Re, Real, Scalar, State, Stats, Tolerance, VectorField};
use sciml_ode::{OdeMethod, StepContext, StepFailure, StepInput, StepMemory, Stepper};

/// What the stepper noticed that the loop cannot report: the solve ends with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum StepperFault {
    /// A state-dependent lag was not positive after an accepted step.
    Lag { index: usize, t: f64, value: f64 },
}

/// The method of steps over the method `M` (with its cache `C`), for the shared loop.
pub(crate) struct DdeStepper<'s, F: DdeFunction, M, C> {
    pub(crate) f: &'s mut F,
    pub(crate) initial: &'s mut InitialHistory<F::V, F::P>,
    pub(crate) p: &'s F::P,
    pub(crate) dependent: &'s [LagFn<F::V, F::P>],
    pub(crate) constant: &'s [Re<F::V>],
    pub(crate) t0: Re<F::V>,
    pub(crate) reader: Reader<F::V>,
    pub(crate) scratch: F::V,
    pub(crate) method: M,
    pub(crate) cache: C,
    pub(crate) fp_iters: usize,
    pub(crate) fp_tol: Tolerance<Re<F::V>>,
    /// The previous iterate's end state, and the change between iterates.
    pub(crate) prev: F::V,
    pub(crate) diff: F::V,
    /// `(t, iterations)` of the last step whose fixed-point iteration did not converge.
    pub(crate) fp_failure: Option<(Re<F::V>, usize)>,
    pub(crate) fault: Option<StepperFault>,
    /// The step just accepted ended at `t0 + τᵢ` and `u` jumps at `t0`: the next step starts
    /// from the derivative with the solution's value at `t0`, not the history's.
    pub(crate) reinit_pending: bool,
    /// Work counters of the fixed-point iteration.
    pub(crate) fp_stats: FixedPointStats,
}

/// Work done by the fixed-point iteration over a solve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixedPointStats {
    /// Step attempts that read inside themselves (longer than a lag) and iterated.
    pub iterated_steps: usize,
    /// Iterations over all such attempts (each one attempt of the step).
    pub iterations: usize,
    /// Attempts whose iteration did not converge (rejected and retried smaller).
    pub failures: usize,
}

/// Builds the field for one call: the stepper's parts with the history lent for the call.
macro_rules! field {
    ($s:expr, $dense:expr) => {
        DdeField {
            f: &mut *$s.f,
            initial: &mut *$s.initial,
            reader: &mut $s.reader,
            dense: $dense,
            scratch: &mut $s.scratch,
        }
    };
}

fn context<'a, F: VectorField>(
    p: &'a F::P,
    (t, h, u0): (Re<F::V>, Re<F::V>, &'a F::V),
    tol: &'a Tolerance<Re<F::V>>,
    stats: &'a mut Stats,
) -> StepContext<'a, F> {
    StepContext {
        p,
        t,
        h,
        u0,
        tol,
        mass: None,
        stats,
    }
}

impl<F, M, C> Stepper for DdeStepper<'_, F, M, C>
where
    F: DdeFunction,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
    C: Clone + Send,
{
    type V = F::V;
    type Method = M;

    fn method(&self) -> &M {
        &self.method
    }

    fn initialize(
        &mut self,
        t: Re<F::V>,
        u: &F::V,
        history: Option<&DenseOutput<F::V>>,
        stats: &mut Stats,
    ) {
        self.reader.restart(t);
        self.reinit_pending = false;
        let mut fld = field!(self, history);
        self.method
            .initialize(&mut self.cache, &mut fld, self.p, t, u, stats);
    }

    fn f_start(&self) -> &F::V {
        OdeMethod::<DdeField<'_, F>>::f_start(&self.method, &self.cache)
    }

    fn rhs(&mut self, t: Re<F::V>, u: &F::V, out: &mut F::V, stats: &mut Stats) {
        // The starting-step heuristic only: before the first step, with no recorded history.
        let p = self.p;
        let mut fld = field!(self, None);
        fld.rhs(t, u, p, out);
        stats.nf += 1;
    }

    fn try_step(
        &mut self,
        step: StepInput<'_, F::V>,
        u1: &mut F::V,
    ) -> Result<Re<F::V>, StepFailure> {
        let StepInput {
            t,
            h,
            u0,
            tol,
            stats,
            history,
        } = step;
        let p = self.p;
        self.reader.begin_step(t);
        if self.reinit_pending {
            let mut fld = field!(self, history);
            self.method
                .initialize(&mut self.cache, &mut fld, p, t, u0, stats);
            self.reinit_pending = false;
        }
        let mut res = {
            let mut fld = field!(self, history);
            let ctx = context(p, (t, h, u0), tol, stats);
            self.method.try_step(&mut self.cache, &mut fld, ctx, u1)
        };
        if !self.reader.read_ahead {
            return res;
        }
        // The step read inside itself: iterate on its own interpolant until the end state
        // settles (DelayDiffEq's MethodOfSteps, a functional iteration).
        self.fp_stats.iterated_steps += 1;
        for _ in 0..self.fp_iters {
            res?;
            {
                let mut fld = field!(self, history);
                self.method
                    .finish_step(&mut self.cache, &mut fld, p, t + h, u1, stats);
                let ctx = context(p, (t, h, u0), tol, stats);
                self.method.prepare_interp(&mut self.cache, &mut fld, ctx);
            }
            let ks = OdeMethod::<DdeField<'_, F>>::interp_vectors(&self.method, &self.cache);
            self.reader.set_current(t, h, u0, ks);
            self.prev.copy_from(u1);
            self.fp_stats.iterations += 1;
            res = {
                let mut fld = field!(self, history);
                let ctx = context(p, (t, h, u0), tol, stats);
                self.method.try_step(&mut self.cache, &mut fld, ctx, u1)
            };
            self.diff.lincomb(u1, &[-Re::<F::V>::one()], &[&self.prev]);
            let change = F::V::err_norm(&self.diff, u0, u1, &self.fp_tol);
            if change <= Re::<F::V>::one() {
                self.fp_failure = None;
                return res;
            }
        }
        self.fp_stats.failures += 1;
        self.fp_failure = Some((t, self.fp_iters));
        Err(StepFailure::NewtonFailure)
    }

    fn finish_step(
        &mut self,
        t1: Re<F::V>,
        u1: &F::V,
        history: Option<&DenseOutput<F::V>>,
        stats: &mut Stats,
    ) {
        let p = self.p;
        {
            let mut fld = field!(self, history);
            self.method
                .finish_step(&mut self.cache, &mut fld, p, t1, u1, stats);
        }
        if self.fault.is_none() {
            if let Some((index, value)) = first_nonpositive(self.dependent, u1, p, t1) {
                self.fault = Some(StepperFault::Lag {
                    index,
                    t: t1.to_f64_lossy(),
                    value: value.to_f64_lossy(),
                });
            }
        }
        if self.reader.jump {
            let slack = Re::<F::V>::c(100.0)
                * Re::<F::V>::epsilon()
                * t1.abs().max(self.t0.abs()).max(Re::<F::V>::one());
            self.reinit_pending = self
                .constant
                .iter()
                .any(|&tau| (t1 - tau - self.t0).abs() <= slack);
        }
    }

    fn prepare_interp(&mut self, step: StepInput<'_, F::V>) {
        let p = self.p;
        let mut fld = field!(self, step.history);
        let ctx = context(p, (step.t, step.h, step.u0), step.tol, step.stats);
        self.method.prepare_interp(&mut self.cache, &mut fld, ctx);
    }

    fn interp_vectors(&self) -> &[F::V] {
        OdeMethod::<DdeField<'_, F>>::interp_vectors(&self.method, &self.cache)
    }

    fn advance(&mut self) {
        OdeMethod::<DdeField<'_, F>>::advance(&self.method, &mut self.cache);
    }

    fn suggest_step(&self) -> Option<Re<F::V>> {
        OdeMethod::<DdeField<'_, F>>::suggest_step(&self.method, &self.cache)
    }

    fn step_memory(&self, u1: &F::V) -> Option<StepMemory<F::V>> {
        OdeMethod::<DdeField<'_, F>>::step_memory(&self.method, &self.cache, u1)
    }
}
