//! The NeuralOdeMm layer: a neural ODE with algebraic constraints and a singular mass matrix,
//! `M u' = [model(u; p); g(u)]`, a DAE of index 1 solved by the Rosenbrock and BDF methods and
//! differentiated in forward mode (dual numbers through the solver) or, with a Rosenbrock
//! method or BDF, by the discrete adjoint.

use super::{pullback, LossGradient, ModelField, NeuralDe, NeuralParams, TrajectoryLoss};
use crate::nn::{Input, Layer};
use sciml_core::{
    rng::Xoshiro256pp, DenseMatrix, Error, ForwardAd, GenericRhs, Scalar, Solution, SolveError,
};
use sciml_ode::{OdeMethod, OdeProblem, SaveAt, SolveOptions};
use sciml_sensitivity::{ForwardDiffSensitivity, Sensitivity};

/// Algebraic constraints `g(u) = 0` of a [`NeuralOdeMm`], DiffEqFlux's `constraints` argument.
/// Written once for any scalar type so that the layer can differentiate them with dual numbers
/// (the iteration matrix of the stiff method and the forward-mode gradient both need that).
///
/// ```
/// use diffeqflux::neural_de::Constraints;
/// use sciml_core::Scalar;
/// // Conservation of mass: u1 + u2 + u3 - 1 = 0.
/// struct Conservation;
/// impl Constraints for Conservation {
///     fn len(&self) -> usize {
///         1
///     }
///     fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
///         out[0] = u[0] + u[1] + u[2] - S::cst(1.0);
///     }
/// }
/// let mut r = [0.0];
/// Conservation.residual(&[0.5, 0.25, 0.25], &mut r);
/// assert_eq!(r[0], 0.0);
/// ```
pub trait Constraints: Send + Sync {
    /// Number of constraints (the algebraic rows of the system).
    fn len(&self) -> usize;
    /// Whether there are no constraints (then the layer is a plain neural ODE).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes `g(u)` (`len()` values) into `out`.
    fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]);
}

/// The right-hand side `[model(u; p); g(u)]`, generic over the scalar so that [`ForwardAd`]
/// gives its exact Jacobian and its dual-number copy.
#[derive(Clone, Debug)]
pub struct MmRhs<L, C> {
    model: L,
    constraints: C,
}

impl<L, C> MmRhs<L, C> {
    /// The network (the differential rows).
    pub fn model(&self) -> &L {
        &self.model
    }
    /// The constraints (the algebraic rows).
    pub fn constraints(&self) -> &C {
        &self.constraints
    }
}

impl<L: Layer, C: Constraints> GenericRhs for MmRhs<L, C> {
    fn dims(&self) -> (usize, usize) {
        (self.model.in_dim(), self.model.nparams())
    }
    fn scratch_len(&self) -> usize {
        self.model.workspace_len(1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], ws: &mut [S]) {
        let nd = self.model.out_dim();
        let (diff, alg) = du.split_at_mut(nd);
        self.model.forward(Input { x: u, batch: 1, p }, diff, ws);
        self.constraints.residual(u, alg);
    }
}

/// The field a [`NeuralOdeMm`] solves: [`MmRhs`] with exact derivatives by dual numbers.
pub type MmField<L, C> = ForwardAd<MmRhs<L, C>, f64>;

impl<L: Layer, C: Constraints> NeuralParams for MmField<L, C> {
    fn nparams(&self) -> usize {
        self.inner().model.nparams()
    }
    fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        self.inner().model.init_params(rng, p);
    }
}

impl<L: Layer + Clone, C: Constraints + Clone> ModelField for MmField<L, C> {
    type Model = L;
    fn model(&self) -> &L {
        &self.inner().model
    }
}

/// A neural ODE with a mass matrix, DiffEqFlux's `NeuralODEMM(model, constraints, tspan,
/// mass_matrix; saveat)`: `M u' = [model(u; p); g(u)]`, where the network gives the first
/// `model.out_dim()` components of the right-hand side (the differential rows) and the
/// [`Constraints`] the last `g.len()` (the algebraic rows, whose rows of `M` are zero).
///
/// The method must handle a singular mass matrix (an index-1 DAE): a Rosenbrock method such
/// as `Rodas5P` or BDF; the initial state must satisfy the constraints. Gradients come from
/// the sensitivity `S`: by default [`ForwardDiffSensitivity`] (one dual-number solve per state
/// component and parameter, any method), or `sciml_sensitivity::DiscreteAdjoint` with a
/// Rosenbrock method or BDF (one reverse sweep, the same derivative to rounding; with BDF, to
/// the corrector's convergence; it refuses the ESDIRK methods here). The continuous adjoints
/// refuse mass matrices.
///
/// ```
/// use diffeqflux::neural_de::{Constraints, NeuralOdeMm};
/// use diffeqflux::nn::{Activation, Dense};
/// use sciml_core::{DenseMatrix, Scalar};
/// use sciml_ode::Rodas5P;
/// #[derive(Clone)]
/// struct Sum;
/// impl Constraints for Sum {
///     fn len(&self) -> usize { 1 }
///     fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
///         out[0] = u[0] + u[1] - S::cst(1.0);
///     }
/// }
/// let mut m = DenseMatrix::zeros(2, 2);
/// m[(0, 0)] = 1.0; // u1' = model(u); 0 = u1 + u2 - 1
/// let layer = NeuralOdeMm::new(Dense::new(2, 1, Activation::Tanh), Sum, (0.0, 1.0), m,
///                              Rodas5P::new(), vec![0.5, 1.0])?
///     .tolerances(1e-8, 1e-10);
/// let p = layer.init_params(0);
/// let sol = layer.solve(&[0.3, 0.7], &p)?;
/// assert!(sol.u.iter().all(|u| (u[0] + u[1] - 1.0).abs() < 1e-8));
/// let g = layer.loss_and_gradient(&[0.3, 0.7], &p, |_t: &[f64], us: &[Vec<f64>]| {
///     (us[1][0], vec![vec![0.0; 2], vec![1.0, 0.0]])
/// })?;
/// assert_eq!(g.dp.len(), p.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NeuralOdeMm<L, C, M, S = ForwardDiffSensitivity> {
    core: NeuralDe<MmField<L, C>, M, S, SolveOptions<f64>>,
    mass: DenseMatrix<f64>,
}

impl<L: Layer + Clone, C: Constraints + Clone, M> NeuralOdeMm<L, C, M> {
    /// The layer over `tspan` with `method`, saved at `saveat` (interpolated). Checks that
    /// the mass matrix is `n × n` with `n = model.in_dim()`, that the network's outputs and the
    /// constraints together give `n` rows, and that the constraints' rows of `M` are zero.
    /// Tolerances default to SciML's (`reltol = 1e-3`, `abstol = 1e-6`).
    pub fn new(
        model: L,
        constraints: C,
        tspan: (f64, f64),
        mass_matrix: DenseMatrix<f64>,
        method: M,
        saveat: Vec<f64>,
    ) -> Result<Self, Error> {
        let n = model.in_dim();
        if mass_matrix.nrows() != n || mass_matrix.ncols() != n {
            return Err(Error::InvalidOption {
                option: "mass_matrix",
                reason: format!(
                    "must be {n}×{n} (the model's input size), got {}×{}",
                    mass_matrix.nrows(),
                    mass_matrix.ncols()
                ),
            });
        }
        if let Some(i) = mass_matrix.as_slice().iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "mass_matrix (column-major)".into(),
                index: i,
            });
        }
        let nd = model.out_dim();
        if nd + constraints.len() != n {
            return Err(Error::InvalidOption {
                option: "model",
                reason: format!(
                    "the model's {nd} outputs (the differential rows) and the {} constraints \
                     must add up to the state size {n}",
                    constraints.len()
                ),
            });
        }
        for r in nd..n {
            if (0..n).any(|c| mass_matrix[(r, c)] != 0.0) {
                return Err(Error::InvalidOption {
                    option: "mass_matrix",
                    reason: format!(
                        "row {r} belongs to a constraint (rows {nd}..{n} after the model's \
                         outputs) and must be zero"
                    ),
                });
            }
        }
        if saveat.is_empty() {
            return Err(Error::InvalidOption {
                option: "saveat",
                reason: "give at least one save time".into(),
            });
        }
        let field = ForwardAd::new(MmRhs { model, constraints });
        let opts = SolveOptions::default().saveat(SaveAt::Times(saveat));
        Ok(NeuralOdeMm {
            core: NeuralDe::new(field, tspan, method, ForwardDiffSensitivity, opts),
            mass: mass_matrix,
        })
    }
}

impl<L: Layer + Clone, C: Constraints + Clone, M, S> NeuralOdeMm<L, C, M, S> {
    /// The sensitivity method for gradients, DiffEqFlux's `sensealg`:
    /// [`ForwardDiffSensitivity`] (the default) or `DiscreteAdjoint` with a Rosenbrock method
    /// or BDF.
    /// Its type becomes the layer's `S`.
    ///
    /// ```
    /// use diffeqflux::neural_de::{Constraints, NeuralOdeMm};
    /// use diffeqflux::nn::{Activation, Dense};
    /// use sciml_core::{DenseMatrix, Scalar};
    /// use sciml_ode::Rodas5P;
    /// use sciml_sensitivity::DiscreteAdjoint;
    /// #[derive(Clone)]
    /// struct Sum;
    /// impl Constraints for Sum {
    ///     fn len(&self) -> usize { 1 }
    ///     fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
    ///         out[0] = u[0] + u[1] - S::cst(1.0);
    ///     }
    /// }
    /// let mut m = DenseMatrix::zeros(2, 2);
    /// m[(0, 0)] = 1.0;
    /// let layer = NeuralOdeMm::new(Dense::new(2, 1, Activation::Tanh), Sum, (0.0, 1.0), m,
    ///                              Rodas5P::new(), vec![1.0])?
    ///     .sensitivity(DiscreteAdjoint::default());
    /// let p = layer.init_params(0);
    /// let g = layer.loss_and_gradient(&[0.3, 0.7], &p, |_t: &[f64], us: &[Vec<f64>]| {
    ///     (us[0][0], vec![vec![1.0, 0.0]])
    /// })?;
    /// assert_eq!(g.dp.len(), p.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sensitivity<S2>(self, sensitivity: S2) -> NeuralOdeMm<L, C, M, S2> {
        NeuralOdeMm {
            core: self.core.with_sensitivity(sensitivity),
            mass: self.mass,
        }
    }

    /// Relative and absolute tolerances (checked when a solve starts).
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        let opts = self.core.options().clone().tolerances(rtol, atol);
        *self.core.options_mut() = opts;
        self
    }
    /// The options of the forward solve (for finer control: `maxiters`, `dtmax`, ...).
    pub fn options_mut(&mut self) -> &mut SolveOptions<f64> {
        self.core.options_mut()
    }
    /// The shared core (field, span, method, sensitivity, options).
    pub fn core(&self) -> &NeuralDe<MmField<L, C>, M, S, SolveOptions<f64>> {
        &self.core
    }
    /// The mass matrix.
    pub fn mass_matrix(&self) -> &DenseMatrix<f64> {
        &self.mass
    }
    /// The model.
    pub fn model(&self) -> &L {
        self.core.field().model()
    }
    /// Initial parameters drawn from `seed` by the layers' initialisers.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        self.core.init_params(seed)
    }

    fn problem(&self, u0: &[f64], p: &[f64]) -> Result<OdeProblem<MmField<L, C>>, Error> {
        OdeProblem::new(
            self.core.field().clone(),
            u0.to_vec(),
            self.core.tspan(),
            p.to_vec(),
        )?
        .with_mass_matrix(self.mass.clone())
    }

    /// The trajectory at the save times.
    pub fn solve(&self, u0: &[f64], p: &[f64]) -> Result<Solution<Vec<f64>>, SolveError<Vec<f64>>>
    where
        M: OdeMethod<MmField<L, C>>,
    {
        self.problem(u0, p)?
            .solve(self.core.method().clone(), self.core.options())
    }

    /// The loss on the trajectory and its gradients with respect to `u0` and `p`, through the
    /// layer's sensitivity method (both choices give the exact derivative of the computed
    /// solution).
    pub fn loss_and_gradient(
        &self,
        u0: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>>
    where
        M: OdeMethod<MmField<L, C>>,
        S: Sensitivity<MmField<L, C>, M>,
    {
        self.loss_and_gradient_with(self.core.sensitivity(), u0, p, loss)
    }

    /// The loss and its gradients through another sensitivity method `sens`, without changing
    /// the layer's (e.g. to compare the discrete adjoint with forward mode).
    pub fn loss_and_gradient_with<S2>(
        &self,
        sens: &S2,
        u0: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>>
    where
        M: OdeMethod<MmField<L, C>>,
        S2: Sensitivity<MmField<L, C>, M>,
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
