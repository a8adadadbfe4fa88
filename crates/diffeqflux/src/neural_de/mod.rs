//! The neural-DE core: what every neural differential-equation layer shares, and the layers on it.
//!
//! A layer is a field (or an SDE system) built from networks, a time span, a method, a
//! sensitivity and the solve's options. [`NeuralDe`] holds those five and is generic over each;
//! the shared plumbing (parameter initialisation, solve → loss → pullback, the check of the loss
//! value) lives here once. A layer is then one thin file:
//!
//! - [`NeuralOde`] (`ode.rs`): any [`ModelField`] (by default a [`NeuralField`]), any ODE method
//!   (explicit or stiff) and any [`sciml_sensitivity::Sensitivity`] as a type parameter
//!   (default [`AutoSensitivity`]);
//! - [`NeuralDsde`] and [`NeuralSde`] (`sde.rs`): the two noise shapes of one SDE layer over the
//!   network system of `sde_system.rs` ([`NeuralSdeSystem`]), differentiated by any
//!   [`SdePullback`];
//! - [`NeuralOdeMm`] (`ode_mm.rs`): a network for the differential rows and algebraic
//!   [`Constraints`] under a singular mass matrix, differentiated in forward mode;
//! - [`NeuralDae`] (`dae.rs`, feature `dae`): a residual-form DAE, network rows `u′ − model(u)`
//!   or DiffEqFlux's `model([u; u′])`
//!   and [`DaeConstraints`] rows, solved by sciml-dae's BDF and differentiated by its forward
//!   sensitivities;
//! - [`AugmentedNde`] (`augmented.rs`): a [`NeuralOde`] on inputs padded with zeros;
//! - [`Ffjord`] (`ffjord/`): a continuous normalizing flow, its augmented field
//!   ([`FfjordField`]) on a batch, and the trained flow as a distribution
//!   ([`FfjordDistribution`]);
//! - [`NeuralCdde`] (`cdde.rs`, feature `dde`): a network reading the state at constant lags,
//!   solved by the method of steps, differentiated in forward mode or by the discrete adjoint.
//!
//! A new layer (augmented, Hamiltonian, a DAE, ...) brings its field (a type implementing
//! [`ModelField`]) and a constructor; solving, gradients, options and parameter initialisation
//! come from the core.

mod augmented;
mod auto;
#[cfg(feature = "dde")]
mod cdde;
#[cfg(feature = "dae")]
mod dae;
mod ffjord;
mod field;
mod memo;
mod ode;
mod ode_mm;
#[cfg(feature = "sde")]
mod sde;
#[cfg(feature = "sde")]
mod sde_system;

pub use augmented::{augment_batch, AugmentedNde};
pub use auto::{AutoSensitivity, AutoTape};
#[cfg(feature = "dde")]
pub use cdde::{
    CddeError, CddeField, CddeHistory, CddeHistoryFn, CddeLossGradient, CddeSensitivity, NeuralCdde,
};
#[cfg(feature = "dae")]
pub use dae::{DaeConstraints, DaeModelForm, DaeSensitivity, NeuralDae, NeuralDaeResidual};
pub use ffjord::{
    DiagonalNormal, Ffjord, FfjordDistribution, FfjordField, FfjordGradient, FfjordOutput,
    ProbeKind, Trace,
};
pub use field::NeuralField;
pub use memo::DEFAULT_FORWARD_MEMORY;
pub use ode::NeuralOde;
pub use ode_mm::{Constraints, MmField, MmRhs, NeuralOdeMm};
#[cfg(feature = "sde")]
pub use sde::{
    DiagonalNoise, GeneralNoise, NeuralDsde, NeuralSde, NeuralSdeLayer, SdeGrid, SdeLossGradient,
    SdePullback, SdeSensitivity,
};
#[cfg(feature = "sde")]
pub use sde_system::NeuralSdeSystem;

use sciml_core::{rng::Xoshiro256pp, Error, SolveError, State, Stats, VectorField};
use sciml_ode::{MethodInfo, OdeProblem, SolveOptions};
use sciml_sensitivity::Sensitivity;

/// What the core needs from a layer's field beyond solving it: the number of parameters and
/// their initial values (each network's own initialiser, in order).
pub trait NeuralParams {
    /// Number of parameters.
    fn nparams(&self) -> usize;
    /// Writes initial parameters drawn from `rng` into `p` (`nparams` values).
    fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]);
}

/// A vector field built on one network (the model): what a [`NeuralOde`] solves. The field is
/// cloned into each solve, so it keeps only the model and its scratch.
///
/// A new layer is a field implementing this trait (with the derivatives its methods and
/// sensitivities ask for) and [`NeuralOde::with_field`]:
///
/// ```
/// use diffeqflux::nn::{Activation, Dense};
/// use diffeqflux::{ModelField, NeuralField, NeuralOde, NeuralParams};
/// use sciml_core::{rng::Xoshiro256pp, VectorField, Vjp};
/// use sciml_ode::Tsit5;
/// use sciml_sensitivity::DiscreteAdjoint;
/// // du/dt = model(u) - u: a network with linear damping.
/// #[derive(Clone)]
/// struct Damped(NeuralField<Dense, Vec<f64>>);
/// impl VectorField for Damped {
///     type V = Vec<f64>;
///     type P = Vec<f64>;
///     fn dims(&self) -> (usize, usize) {
///         self.0.dims()
///     }
///     fn rhs(&mut self, t: f64, u: &Vec<f64>, p: &Vec<f64>, du: &mut Vec<f64>) {
///         self.0.rhs(t, u, p, du);
///         du.iter_mut().zip(u).for_each(|(d, x)| *d -= x);
///     }
/// }
/// impl Vjp for Damped {
///     const EXACT: bool = true;
///     fn vjp(&mut self, t: f64, u: &Vec<f64>, p: &Vec<f64>, w: &Vec<f64>,
///            gu: &mut Vec<f64>, gp: &mut Vec<f64>) {
///         self.0.vjp(t, u, p, w, gu, gp);
///         gu.iter_mut().zip(w).for_each(|(g, wi)| *g -= wi);
///     }
/// }
/// impl NeuralParams for Damped {
///     fn nparams(&self) -> usize {
///         self.0.nparams()
///     }
///     fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
///         self.0.init_params_with(rng, p)
///     }
/// }
/// impl ModelField for Damped {
///     type Model = Dense;
///     fn model(&self) -> &Dense {
///         self.0.model()
///     }
/// }
/// let field = Damped(NeuralField::new(Dense::new(2, 2, Activation::Tanh), 1)?);
/// let node = NeuralOde::with_field(field, (0.0, 1.0), Tsit5, vec![1.0])?
///     .tolerances(1e-8, 1e-10)
///     .sensitivity(DiscreteAdjoint::default());
/// // Zero weights: du/dt = -u, so u(1) = u0 / e and ∂u1(1)/∂u0 = (1/e, 0).
/// let g = node.loss_and_gradient(&[1.0, 0.0], &vec![0.0; 6], |_t: &[f64], us: &[Vec<f64>]| {
///     (us[0][0], vec![vec![1.0, 0.0]])
/// })?;
/// let e = 1.0f64.exp();
/// assert!((g.loss - 1.0 / e).abs() < 1e-7);
/// assert!((g.du0[0] - 1.0 / e).abs() < 1e-7 && g.du0[1].abs() < 1e-12);
/// assert_eq!(g.dp.len(), node.init_params(0).len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ModelField: VectorField<V = Vec<f64>, P = Vec<f64>> + NeuralParams + Clone {
    /// The network.
    type Model;
    /// The network.
    fn model(&self) -> &Self::Model;
}

/// The shared core of the neural-DE layers: a field `F` (or SDE system), the time span, a
/// method `M`, a sensitivity `S` and the solve's options `O`, each a type parameter.
///
/// ```
/// use diffeqflux::neural_de::NeuralDe;
/// use diffeqflux::nn::{Activation, Dense};
/// use diffeqflux::NeuralField;
/// use sciml_ode::Tsit5;
/// use sciml_sensitivity::{DiscreteAdjoint, GaussAdjoint};
/// let field = NeuralField::<_, Vec<f64>>::new(Dense::new(2, 2, Activation::Tanh), 1)?;
/// let core = NeuralDe::new(field, (0.0, 1.0), Tsit5, DiscreteAdjoint::default(), ());
/// assert_eq!(core.init_params(0).len(), 6);
/// // The sensitivity is a type: changing it changes the core's type.
/// let core: NeuralDe<_, Tsit5, GaussAdjoint, ()> = core.with_sensitivity(GaussAdjoint);
/// assert_eq!(core.tspan(), (0.0, 1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NeuralDe<F, M, S, O> {
    field: F,
    tspan: (f64, f64),
    method: M,
    sensitivity: S,
    options: O,
}

impl<F, M, S, O> NeuralDe<F, M, S, O> {
    /// The core of a layer. The span and options are checked when a solve starts.
    pub fn new(field: F, tspan: (f64, f64), method: M, sensitivity: S, options: O) -> Self {
        NeuralDe {
            field,
            tspan,
            method,
            sensitivity,
            options,
        }
    }
    /// The field (or SDE system).
    pub fn field(&self) -> &F {
        &self.field
    }
    /// The field, to change (a layer's builder methods).
    pub(crate) fn field_mut(&mut self) -> &mut F {
        &mut self.field
    }
    /// The time span.
    pub fn tspan(&self) -> (f64, f64) {
        self.tspan
    }
    /// The method.
    pub fn method(&self) -> &M {
        &self.method
    }
    /// The method, to change.
    pub fn method_mut(&mut self) -> &mut M {
        &mut self.method
    }
    /// The sensitivity method.
    pub fn sensitivity(&self) -> &S {
        &self.sensitivity
    }
    /// The solve's options.
    pub fn options(&self) -> &O {
        &self.options
    }
    /// The solve's options, to change.
    pub fn options_mut(&mut self) -> &mut O {
        &mut self.options
    }
    /// The same core with another sensitivity method (a different type).
    pub fn with_sensitivity<S2>(self, sensitivity: S2) -> NeuralDe<F, M, S2, O> {
        NeuralDe {
            field: self.field,
            tspan: self.tspan,
            method: self.method,
            sensitivity,
            options: self.options,
        }
    }
}

impl<F: NeuralParams, M, S, O> NeuralDe<F, M, S, O> {
    /// Number of parameters.
    pub fn nparams(&self) -> usize {
        self.field.nparams()
    }
    /// Initial parameters drawn from `seed` by the networks' initialisers.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut p = vec![0.0; self.field.nparams()];
        self.field
            .init_params_with(&mut Xoshiro256pp::new(seed), &mut p);
        p
    }
}

/// The value and gradients of a loss on a NeuralOde's trajectory.
#[derive(Clone, Debug)]
pub struct LossGradient<V = Vec<f64>> {
    /// The loss.
    pub loss: f64,
    /// `∂loss/∂u0`.
    pub du0: V,
    /// `∂loss/∂p`.
    pub dp: Vec<f64>,
    /// Forward solve statistics.
    pub forward: Stats,
    /// Backward pass statistics.
    pub backward: Stats,
}

/// A loss on a trajectory: given the saved times and states, returns the loss and its cotangent
/// with respect to each saved state.
pub trait TrajectoryLoss: FnMut(&[f64], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {}
impl<T: FnMut(&[f64], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>)> TrajectoryLoss for T {}

/// A loss value that is not finite is an error, never a silent NaN gradient.
fn check_loss(value: f64) -> Result<f64, Error> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite {
            what: "loss".into(),
            index: 0,
        })
    }
}

/// Solve → loss → pullback through the sensitivity `s`: the forward pass keeps its tape, the
/// loss gives the cotangents of the saved states, the backward pass pulls them back.
fn pullback<V, F, M, S>(
    s: &S,
    prob: &mut OdeProblem<F>,
    method: &M,
    opts: &SolveOptions<f64>,
    mut loss: impl FnMut(&[f64], &[V]) -> (f64, Vec<V>),
) -> Result<LossGradient<V>, SolveError<V>>
where
    V: State<S = f64>,
    F: VectorField<V = V, P = Vec<f64>>,
    M: MethodInfo,
    S: Sensitivity<F, M>,
{
    let (sol, tape) = s.forward(prob, method, opts)?;
    let (value, ubar) = loss(&sol.t, &sol.u);
    let value = check_loss(value)?;
    let g = s.backward(prob, method, tape, &ubar)?;
    Ok(LossGradient {
        loss: value,
        du0: g.du0,
        dp: g.dp,
        forward: sol.stats,
        backward: g.stats,
    })
}
