//! The NeuralOde layer: `du/dt = model(u; p)` solved over a span, differentiable with respect to
//! the initial state and the parameters by any sensitivity method.

use super::{
    pullback, AutoSensitivity, LossGradient, ModelField, NeuralDe, NeuralField, TrajectoryLoss,
};
use crate::nn::Layer;
use sciml_core::{Batch, Error, Solution, SolveError};
use sciml_ode::{MethodInfo, OdeMethod, OdeProblem, SaveAt, SolveOptions};
use sciml_sensitivity::Sensitivity;
use std::marker::PhantomData;

/// A neural ODE layer, DiffEqFlux's `NeuralODE(model, tspan, solver; saveat, sensealg)`: called
/// with an initial state and parameters it returns the trajectory at `saveat`; it also gives the
/// gradient of a loss on that trajectory with respect to the parameters and the initial state.
///
/// Generic over the model `L`, the method `M` (any ODE method: explicit Runge–Kutta, Rosenbrock,
/// ESDIRK, ...), the sensitivity `S` (any [`Sensitivity`] the method supports; by default
/// [`AutoSensitivity`]) and the field `F` (by default a [`NeuralField`] of the model; any
/// [`ModelField`] through [`NeuralOde::with_field`]). A sensitivity the method cannot
/// differentiate, or one that needs a capability the field lacks, fails to compile.
///
/// ```
/// use diffeqflux::nn::{Activation, Chain, Dense};
/// use diffeqflux::NeuralOde;
/// use sciml_ode::Rodas5P;
/// use sciml_sensitivity::DiscreteAdjoint;
/// let model = Chain::new((Dense::new(2, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
/// // A stiff method, differentiated by the discrete adjoint (a type parameter of the layer).
/// let node = NeuralOde::new(model, (0.0, 1.0), Rodas5P::new(), vec![0.5, 1.0])?
///     .sensitivity(DiscreteAdjoint::default());
/// let p = node.init_params(0);
/// let g = node.loss_and_gradient(&[1.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
///     let loss = us.iter().flatten().map(|x| x * x).sum::<f64>();
///     (loss, us.iter().map(|u| u.iter().map(|x| 2.0 * x).collect()).collect())
/// })?;
/// assert_eq!(g.dp.len(), p.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NeuralOde<L, M, S = AutoSensitivity, F = NeuralField<L, Vec<f64>>> {
    core: NeuralDe<F, M, S, SolveOptions<f64>>,
    model: PhantomData<fn() -> L>,
}

impl<L, M: Clone, S: Clone, F: Clone> Clone for NeuralOde<L, M, S, F> {
    fn clone(&self) -> Self {
        NeuralOde {
            core: self.core.clone(),
            model: PhantomData,
        }
    }
}

impl<L: Layer + Clone, M> NeuralOde<L, M> {
    /// `du/dt = model(u; p)` over `tspan` with `method`, saved at `saveat` (interpolated, never
    /// stepped to). Tolerances default to SciML's (`reltol = 1e-3`, `abstol = 1e-6`); the
    /// sensitivity to [`AutoSensitivity`] (change it with [`NeuralOde::sensitivity`]).
    pub fn new(model: L, tspan: (f64, f64), method: M, saveat: Vec<f64>) -> Result<Self, Error> {
        Self::with_field(NeuralField::new(model, 1)?, tspan, method, saveat)
    }
}

impl<L, M, F: ModelField<Model = L>> NeuralOde<L, M, AutoSensitivity, F> {
    /// A layer on any field built from a model (an augmented state, a Hamiltonian, ...); the
    /// rest as in [`NeuralOde::new`].
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense};
    /// use diffeqflux::{NeuralField, NeuralOde};
    /// use sciml_ode::Tsit5;
    /// let field = NeuralField::<_, Vec<f64>>::new(Dense::new(2, 2, Activation::Tanh), 1)?;
    /// let node = NeuralOde::with_field(field, (0.0, 1.0), Tsit5, vec![1.0])?;
    /// assert_eq!(node.init_params(0).len(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_field(
        field: F,
        tspan: (f64, f64),
        method: M,
        saveat: Vec<f64>,
    ) -> Result<Self, Error> {
        if saveat.is_empty() {
            return Err(Error::InvalidOption {
                option: "saveat",
                reason: "give at least one save time".into(),
            });
        }
        let opts = SolveOptions::default().saveat(SaveAt::Times(saveat));
        Ok(NeuralOde {
            core: NeuralDe::new(field, tspan, method, AutoSensitivity, opts),
            model: PhantomData,
        })
    }
}

impl<L, M, S, F: ModelField<Model = L>> NeuralOde<L, M, S, F> {
    /// Relative and absolute tolerances (checked when a solve starts).
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        let opts = self.core.options().clone().tolerances(rtol, atol);
        *self.core.options_mut() = opts;
        self
    }
    /// The sensitivity method for gradients, DiffEqFlux's `sensealg`: any
    /// [`Sensitivity`] value (`DiscreteAdjoint`, `InterpolatingAdjoint`, `GaussAdjoint`, ...).
    /// Its type becomes the layer's `S`.
    pub fn sensitivity<S2>(self, sensitivity: S2) -> NeuralOde<L, M, S2, F> {
        NeuralOde {
            core: self.core.with_sensitivity(sensitivity),
            model: PhantomData,
        }
    }
    /// The options of the forward solve (for finer control: `maxiters`, `dtmax`, ...).
    pub fn options_mut(&mut self) -> &mut SolveOptions<f64> {
        self.core.options_mut()
    }
    /// The shared core (field, span, method, sensitivity, options).
    pub fn core(&self) -> &NeuralDe<F, M, S, SolveOptions<f64>> {
        &self.core
    }
    /// The model.
    pub fn model(&self) -> &L {
        self.core.field().model()
    }
    /// Initial parameters drawn from `seed` by the layers' initialisers.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        self.core.init_params(seed)
    }

    fn problem(&self, u0: &[f64], p: &[f64]) -> Result<OdeProblem<F>, Error> {
        OdeProblem::new(
            self.core.field().clone(),
            u0.to_vec(),
            self.core.tspan(),
            p.to_vec(),
        )
    }

    /// The trajectory at the save times.
    pub fn solve(&self, u0: &[f64], p: &[f64]) -> Result<Solution<Vec<f64>>, SolveError<Vec<f64>>>
    where
        M: OdeMethod<F>,
    {
        self.problem(u0, p)?
            .solve(self.core.method().clone(), self.core.options())
    }

    /// The loss on the trajectory and its gradients through the layer's sensitivity method.
    pub fn loss_and_gradient(
        &self,
        u0: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>>
    where
        M: MethodInfo,
        S: Sensitivity<F, M>,
    {
        self.loss_and_gradient_with(self.core.sensitivity(), u0, p, loss)
    }

    /// The loss on the trajectory and its gradients through another sensitivity method `sens`,
    /// without changing the layer's.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense};
    /// use diffeqflux::NeuralOde;
    /// use sciml_ode::Rodas5P;
    /// use sciml_sensitivity::DiscreteAdjoint;
    /// let model = Chain::new((Dense::new(2, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
    /// let node = NeuralOde::new(model, (0.0, 1.0), Rodas5P::new(), vec![0.5, 1.0])?;
    /// let p = node.init_params(0);
    /// let g = node.loss_and_gradient_with(&DiscreteAdjoint::default(), &[1.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
    ///     let loss = us.iter().flatten().map(|x| x * x).sum::<f64>();
    ///     (loss, us.iter().map(|u| u.iter().map(|x| 2.0 * x).collect()).collect())
    /// })?;
    /// assert_eq!(g.dp.len(), p.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loss_and_gradient_with<S2>(
        &self,
        sens: &S2,
        u0: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>>
    where
        M: MethodInfo,
        S2: Sensitivity<F, M>,
    {
        let mut prob = self.problem(u0, p)?;
        pullback(
            sens,
            &mut prob,
            self.core.method(),
            self.core.options(),
            loss,
        )
    }
}

/// Batches solved as one system, for the default field.
impl<L: Layer + Clone, M, S> NeuralOde<L, M, S> {
    /// Solves a batch of initial states (`n × B` as [`Batch`]) as one system with one step
    /// size, as torchdiffeq and diffrax batch. For independent step control per sample, solve
    /// the samples separately (e.g. an ensemble).
    pub fn solve_batch(
        &self,
        u0: &Batch<f64>,
        p: &[f64],
    ) -> Result<Solution<Batch<f64>>, SolveError<Batch<f64>>>
    where
        M: OdeMethod<NeuralField<L, Batch<f64>>>,
    {
        self.batch_problem(u0, p)?
            .solve(self.core.method().clone(), self.core.options())
    }

    /// The loss on a batched trajectory and its gradients. Forward-mode sensitivities need
    /// single states (they do not implement [`Sensitivity`] for batches);
    /// [`AutoSensitivity`] uses the discrete adjoint here.
    pub fn loss_and_gradient_batch(
        &self,
        u0: &Batch<f64>,
        p: &[f64],
        loss: impl FnMut(&[f64], &[Batch<f64>]) -> (f64, Vec<Batch<f64>>),
    ) -> Result<LossGradient<Batch<f64>>, SolveError<Batch<f64>>>
    where
        M: MethodInfo,
        S: Sensitivity<NeuralField<L, Batch<f64>>, M>,
    {
        let mut prob = self.batch_problem(u0, p)?;
        pullback(
            self.core.sensitivity(),
            &mut prob,
            self.core.method(),
            self.core.options(),
            loss,
        )
    }

    fn batch_problem(
        &self,
        u0: &Batch<f64>,
        p: &[f64],
    ) -> Result<OdeProblem<NeuralField<L, Batch<f64>>>, Error> {
        let n = self.model().in_dim();
        if u0.features() != n {
            return Err(Error::DimensionMismatch {
                what: "features of the batched u0".into(),
                expected: n,
                got: u0.features(),
            });
        }
        let field = NeuralField::new(self.model().clone(), u0.batch_size())?;
        OdeProblem::new(field, u0.clone(), self.core.tspan(), p.to_vec())
    }
}
