//! The interface every ODE method implements for the stepping engine.
//!
//! A method is generic at the method level, not the field level: one method value steps the
//! user's field, an adjoint system, a forward-sensitivity system and dual-valued states alike.

use sciml_core::{DenseMatrix, Re, Real, State, Stats, VectorField};

/// Why one attempted step could not produce a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepFailure {
    /// A stage or the error estimate was NaN or infinite.
    NonFinite,
    /// An implicit method's Newton iteration did not converge (the step is retried smaller).
    NewtonFailure,
    /// The iteration matrix `M − γhJ` could not be factorised or solved with.
    LinearSolve,
}

/// What one attempted step needs, beyond the method's cache (DESIGN decision 11).
pub struct StepContext<'a, F: VectorField> {
    /// The parameters.
    pub p: &'a F::P,
    /// Start of the step.
    pub t: Re<F::V>,
    /// Signed step size.
    pub h: Re<F::V>,
    /// State at `t`.
    pub u0: &'a F::V,
    /// Tolerances for the error estimate.
    pub tol: &'a sciml_core::Tolerance<Re<F::V>>,
    /// The mass matrix `M` of `M u' = f(t, u, p)`; `None` is the identity.
    pub mass: Option<&'a DenseMatrix<Re<F::V>>>,
    /// Work counters.
    pub stats: &'a mut Stats,
}

/// What a multistep method records about one accepted step for its discrete adjoint (the
/// per-method part of a [`crate::StepRecord`]; DESIGN decision 8). A multistep step depends on
/// earlier steps through the method's history, so its reverse pass needs the order it used, how
/// the history was carried over to its step size, and the point its implicit equation converged
/// to. One-step methods record nothing.
#[derive(Clone, Debug)]
pub struct StepMemory<V: State> {
    /// The order the step was taken with.
    pub order: usize,
    /// The step size over the spacing the history was written for after the previous accepted
    /// step: the history was mapped onto the step size with this ratio (BDF: Shampine and
    /// Reichelt's `R(ρ)·U`) before the step; `1` when it was not.
    pub rescale: Re<V>,
    /// The history was started afresh at the step's start, from `(t0, u0)` alone (the first step
    /// of a solve).
    pub restart: bool,
    /// The step's end state as the method computed it (BDF: the converged corrector value), the
    /// point the reverse pass linearises at. It is also the next step's starting state, so the
    /// discrete adjoint of a multistep method needs no forward replay between checkpoints.
    pub end: V,
}

/// What a method is, independent of the field it steps: name, orders and dense-output weights.
pub trait MethodInfo: Clone + Send + Sync {
    /// The method's name, e.g. `"Tsit5"`.
    fn name(&self) -> &'static str;
    /// Order of the propagated solution.
    fn order(&self) -> u8;
    /// Whether the method has an error estimate (and so can adapt its step).
    fn is_adaptive(&self) -> bool;
    /// Order of the embedded solution behind the error estimate (0 when there is none); the
    /// estimate's local error is of order `error_order() + 1`.
    fn error_order(&self) -> u8;
    /// Order of the dense output.
    fn interp_order(&self) -> u8;
    /// Polynomial weights of the dense output (see `sciml_core::dense`).
    fn interp_poly<R: Real>(&self) -> Vec<Vec<R>>;
    /// Whether the method integrates `M u' = f` with a mass matrix `M` (implicit methods do).
    fn supports_mass_matrix(&self) -> bool {
        false
    }
}

/// An ODE method the integrator can drive on fields of type `F`.
///
/// Explicit methods step every [`VectorField`]; implicit ones name the derivative capability
/// their linear solver needs (a dense Jacobian, a sparse one, or Jacobian-vector products) in the
/// bounds of their implementation, so a field without it is a compile error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot step the field `{F}`",
    label = "this method cannot step this field",
    note = "implicit methods (Rosenbrock, ESDIRK, BDF) need derivatives of the field for their linear strategy (`DenseSolve`: `Jacobian`; `SparseSolve`: `SparseJacobian`; `KrylovSolve`: `Jvp`): an ODE closure gets them from `sciml_core::ad_field!`, `ForwardAd` or `FiniteDiff`; a delay equation's `DdeFn` from `sciml_dde::FiniteDiffJacobian` (or its own `DdeJacobian`)"
)]
pub trait OdeMethod<F: VectorField>: MethodInfo {
    /// Per-solve buffers (stages, scratch, Jacobians and factorisations).
    type Cache: Clone + Send;
    /// Builds the buffers for states shaped like `u0`.
    fn cache(&self, f: &F, u0: &F::V) -> Self::Cache;
    /// Checks the method's settings against the field (its linear strategy's, for the implicit
    /// methods), once when a solve starts; the default has none to check.
    fn validate(&self) -> Result<(), sciml_core::Error> {
        Ok(())
    }
    /// Prepares a step from `(t, u)`: evaluates `f(t, u)` (at the start, and after a callback
    /// changed the state).
    fn initialize(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t: Re<F::V>,
        u: &F::V,
        stats: &mut Stats,
    );
    /// `f(t, u)` at the current step's start (valid after `initialize` or `advance`).
    fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a F::V;
    /// One attempted step of size `ctx.h`, allocation-free: writes `u1` and returns the scaled
    /// error norm (`<= 1` accepts; zero for methods without an estimate).
    fn try_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        ctx: StepContext<'_, F>,
        u1: &mut F::V,
    ) -> Result<Re<F::V>, StepFailure>;
    /// After acceptance: makes `f(t1, u1)` available (free for FSAL methods).
    fn finish_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t1: Re<F::V>,
        u1: &F::V,
        stats: &mut Stats,
    );
    /// Computes whatever the dense output of the last accepted step still needs (lazy stages).
    fn prepare_interp(&self, c: &mut Self::Cache, f: &mut F, ctx: StepContext<'_, F>);
    /// The vectors the dense output of the last accepted step combines.
    fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [F::V];
    /// Moves on to the next step from the accepted state (`f(t1, u1)` becomes `f_start`).
    fn advance(&self, c: &mut Self::Cache);
    /// Suggests the size of the next attempt after `try_step` (accepted or rejected), for methods
    /// that control their own step (BDF's order selection); `None` leaves it to the PI
    /// controller. Acceptance is still decided by the returned error norm (`<= 1`).
    fn suggest_step(&self, _c: &Self::Cache) -> Option<Re<F::V>> {
        None
    }
    /// After `finish_step` of an accepted step that ended at `u1`: what a multistep method's
    /// discrete adjoint needs of it ([`StepMemory`]); `None` for one-step methods. Called only
    /// while a tape is recorded.
    fn step_memory(&self, _c: &Self::Cache, _u1: &F::V) -> Option<StepMemory<F::V>> {
        None
    }
}
