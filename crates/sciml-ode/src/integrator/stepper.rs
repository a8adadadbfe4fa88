//! The seam between the step loop and an equation family: a [`Stepper`] is a problem together
//! with the method that steps it. The loop owns time, step control, the schedule, events and
//! recording; the stepper owns the field, its parameters and the method's buffers, and attempts
//! one step when asked.
//!
//! ODEs run through [`OdeStepper`] (any [`VectorField`] with any [`OdeMethod`]). Other families
//! bring their own stepper and get the same options, callbacks, saving, dense output and return
//! codes: a delay equation's stepper reads the history ([`StepInput::history`], the solve's own
//! dense output), a residual problem's stepper solves its residual inside `try_step`, and a
//! stochastic one draws its Brownian increment over `(t, t + h)` as a control.

use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure, StepMemory};
use sciml_core::{DenseMatrix, DenseOutput, Re, State, Stats, Tolerance, VectorField};

/// One attempted step, as the loop hands it to a [`Stepper`].
pub struct StepInput<'a, V: State> {
    /// Start of the step.
    pub t: Re<V>,
    /// Signed step size.
    pub h: Re<V>,
    /// State at `t`.
    pub u0: &'a V,
    /// Tolerances for the error estimate.
    pub tol: &'a Tolerance<Re<V>>,
    /// Work counters.
    pub stats: &'a mut Stats,
    /// The dense output of the steps accepted so far (when the solve records it; `dense(true)`
    /// in the options): random access into the past, what a delay equation reads. It covers
    /// the span from the start up to `t`.
    pub history: Option<&'a DenseOutput<V>>,
}

impl<'a, V: State> StepInput<'a, V> {
    /// The method-level context of this step for a field of type `F` with parameters `p` and an
    /// optional mass matrix: what [`OdeMethod::try_step`] takes.
    #[inline]
    pub fn context<F: VectorField<V = V>>(
        self,
        p: &'a F::P,
        mass: Option<&'a DenseMatrix<Re<V>>>,
    ) -> StepContext<'a, F> {
        StepContext {
            p,
            t: self.t,
            h: self.h,
            u0: self.u0,
            tol: self.tol,
            mass,
            stats: self.stats,
        }
    }
}

/// A problem and its method, as the step loop drives them (see the module docs).
///
/// The loop calls `initialize` at the start and after a callback changed the state, then per
/// attempt `try_step`; after an accepted step `finish_step`, then (between steps, as the saves
/// and the dense output need) `prepare_interp` and `interp_vectors`, and `advance` before the
/// next step. Dense output of a step is `u0 + h Σ P_j(θ) k_j` with the method's `interp_poly`
/// and the vectors `interp_vectors` returns.
///
/// A family of its own in a few lines: explicit Euler on `u' = -u` (with linear dense output),
/// run by the same loop, options and saves as the ODE solvers.
///
/// ```
/// use sciml_core::{DenseOutput, Stats};
/// use sciml_ode::{Callbacks, Euler, SaveAt, SolveOptions, StepFailure, StepInput, StepLoop, Stepper};
///
/// struct Decay { f0: Vec<f64>, ks: Vec<Vec<f64>> }
///
/// impl Stepper for Decay {
///     type V = Vec<f64>;
///     type Method = Euler; // name, orders and dense-output weights: first order, linear
///     fn method(&self) -> &Euler { &Euler }
///     fn initialize(&mut self, _t: f64, u: &Vec<f64>, _h: Option<&DenseOutput<Vec<f64>>>, _s: &mut Stats) {
///         self.f0 = vec![-u[0]];
///     }
///     fn f_start(&self) -> &Vec<f64> { &self.f0 }
///     fn rhs(&mut self, _t: f64, u: &Vec<f64>, out: &mut Vec<f64>, _s: &mut Stats) { out[0] = -u[0]; }
///     fn try_step(&mut self, step: StepInput<'_, Vec<f64>>, u1: &mut Vec<f64>) -> Result<f64, StepFailure> {
///         self.ks[0].copy_from_slice(&self.f0);
///         u1[0] = step.u0[0] + step.h * self.f0[0];
///         Ok(0.0) // no error estimate: fixed steps
///     }
///     fn finish_step(&mut self, _t1: f64, u1: &Vec<f64>, _h: Option<&DenseOutput<Vec<f64>>>, _s: &mut Stats) {
///         self.f0 = vec![-u1[0]];
///     }
///     fn prepare_interp(&mut self, _step: StepInput<'_, Vec<f64>>) {}
///     fn interp_vectors(&self) -> &[Vec<f64>] { &self.ks }
///     fn advance(&mut self) {}
/// }
///
/// let u0 = vec![1.0];
/// let stepper = Decay { f0: vec![0.0], ks: vec![vec![0.0]] };
/// let opts = SolveOptions::default().dt(0.25).saveat(SaveAt::Times(vec![0.5, 1.0]));
/// let sol = StepLoop::new(stepper, &u0, (0.0, 1.0), &opts, Callbacks::new())?.solve()?;
/// assert_eq!(sol.t, vec![0.5, 1.0]);
/// assert!((sol.u[1][0] - 0.75_f64.powi(4)).abs() < 1e-15); // (1 - h)^4
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Stepper {
    /// The state.
    type V: State;
    /// The method: name, orders, dense-output weights.
    type Method: MethodInfo;
    /// The method that steps the problem.
    fn method(&self) -> &Self::Method;
    /// Checks the method's own settings, once when the step loop is built ([`StepLoop::new`]
    /// refuses a solve whose settings are invalid); the default has none to check.
    ///
    /// [`StepLoop::new`]: crate::StepLoop::new
    fn validate(&self) -> Result<(), sciml_core::Error> {
        Ok(())
    }
    /// Prepares a step from `(t, u)` (at the start, and after a callback changed the state);
    /// `history` is the dense output so far, as in [`StepInput::history`].
    fn initialize(
        &mut self,
        t: Re<Self::V>,
        u: &Self::V,
        history: Option<&DenseOutput<Self::V>>,
        stats: &mut Stats,
    );
    /// The derivative at the current step's start (valid after `initialize` or `advance`).
    fn f_start(&self) -> &Self::V;
    /// The derivative at `(t, u)`, for the starting-step heuristic.
    fn rhs(&mut self, t: Re<Self::V>, u: &Self::V, out: &mut Self::V, stats: &mut Stats);
    /// One attempted step: writes `u1` and returns the scaled error norm (`<= 1` accepts).
    fn try_step(
        &mut self,
        step: StepInput<'_, Self::V>,
        u1: &mut Self::V,
    ) -> Result<Re<Self::V>, StepFailure>;
    /// After acceptance: makes the derivative at `(t1, u1)` available. `history` is the dense
    /// output up to the accepted step's start (the step itself is recorded after this).
    fn finish_step(
        &mut self,
        t1: Re<Self::V>,
        u1: &Self::V,
        history: Option<&DenseOutput<Self::V>>,
        stats: &mut Stats,
    );
    /// Computes whatever the dense output of the step `step` describes still needs.
    fn prepare_interp(&mut self, step: StepInput<'_, Self::V>);
    /// The vectors the dense output of the last accepted step combines.
    fn interp_vectors(&self) -> &[Self::V];
    /// Moves on to the next step from the accepted state.
    fn advance(&mut self);
    /// The size of the next attempt, for methods that control their own step (BDF); `None`
    /// leaves it to the step-size controller.
    fn suggest_step(&self) -> Option<Re<Self::V>> {
        None
    }
    /// After `finish_step` of an accepted step that ended at `u1`: what a multistep method's
    /// discrete adjoint needs of it; `None` for one-step methods. Asked only while a tape is
    /// recorded.
    fn step_memory(&self, _u1: &Self::V) -> Option<StepMemory<Self::V>> {
        None
    }
}

/// An ODE `M u' = f(t, u, p)` with its method: the [`Stepper`] behind
/// [`OdeProblem::init`](crate::OdeProblem::init).
pub struct OdeStepper<'a, F: VectorField, M: OdeMethod<F>> {
    pub(crate) f: &'a mut F,
    pub(crate) p: &'a F::P,
    pub(crate) mass: Option<&'a DenseMatrix<Re<F::V>>>,
    pub(crate) method: M,
    pub(crate) cache: M::Cache,
}

impl<'a, F: VectorField, M: OdeMethod<F>> OdeStepper<'a, F, M> {
    /// Binds `method` to a field, its parameters and an optional mass matrix, with buffers for
    /// states shaped like `u0`.
    pub fn new(
        f: &'a mut F,
        p: &'a F::P,
        mass: Option<&'a DenseMatrix<Re<F::V>>>,
        method: M,
        u0: &F::V,
    ) -> Self {
        let cache = method.cache(f, u0);
        OdeStepper {
            f,
            p,
            mass,
            method,
            cache,
        }
    }

    /// The vector field.
    pub fn field_mut(&mut self) -> &mut F {
        self.f
    }
}

impl<F: VectorField, M: OdeMethod<F>> Stepper for OdeStepper<'_, F, M> {
    type V = F::V;
    type Method = M;

    #[inline]
    fn method(&self) -> &M {
        &self.method
    }

    fn validate(&self) -> Result<(), sciml_core::Error> {
        self.method.validate()
    }

    #[inline]
    fn initialize(
        &mut self,
        t: Re<F::V>,
        u: &F::V,
        _history: Option<&DenseOutput<F::V>>,
        stats: &mut Stats,
    ) {
        self.method
            .initialize(&mut self.cache, self.f, self.p, t, u, stats);
    }

    #[inline]
    fn f_start(&self) -> &F::V {
        self.method.f_start(&self.cache)
    }

    #[inline]
    fn rhs(&mut self, t: Re<F::V>, u: &F::V, out: &mut F::V, stats: &mut Stats) {
        self.f.rhs(t, u, self.p, out);
        stats.nf += 1;
    }

    #[inline]
    fn try_step(
        &mut self,
        step: StepInput<'_, F::V>,
        u1: &mut F::V,
    ) -> Result<Re<F::V>, StepFailure> {
        let ctx = step.context(self.p, self.mass);
        self.method.try_step(&mut self.cache, self.f, ctx, u1)
    }

    #[inline]
    fn finish_step(
        &mut self,
        t1: Re<F::V>,
        u1: &F::V,
        _history: Option<&DenseOutput<F::V>>,
        stats: &mut Stats,
    ) {
        self.method
            .finish_step(&mut self.cache, self.f, self.p, t1, u1, stats);
    }

    #[inline]
    fn prepare_interp(&mut self, step: StepInput<'_, F::V>) {
        let ctx = step.context(self.p, self.mass);
        self.method.prepare_interp(&mut self.cache, self.f, ctx);
    }

    #[inline]
    fn interp_vectors(&self) -> &[F::V] {
        self.method.interp_vectors(&self.cache)
    }

    #[inline]
    fn advance(&mut self) {
        self.method.advance(&mut self.cache);
    }

    #[inline]
    fn suggest_step(&self) -> Option<Re<F::V>> {
        self.method.suggest_step(&self.cache)
    }

    #[inline]
    fn step_memory(&self, u1: &F::V) -> Option<StepMemory<F::V>> {
        self.method.step_memory(&self.cache, u1)
    }
}
