//! The NeuralOde layer: `du/dt = model(u; p)` solved over a span, differentiable with respect to
//! the initial state and the parameters by any of the sensitivity methods.

use crate::nn::{Input, Layer};
use sciml_core::{
    rng::Xoshiro256pp, Batch, DenseMatrix, Dual64, Error, Hvp, Jacobian, Jvp, Scalar, SliceState,
    Solution, SolveError, State, Stats, VectorField, Vjp, Zero,
};
use sciml_ode::{MethodInfo, OdeMethod, OdeProblem, RkMethod, SaveAt, SolveOptions};
use sciml_sensitivity::{
    BacksolveAdjoint, DiscreteAdjoint, DualField, ForwardDiffSensitivity, ForwardSensitivity,
    GaussAdjoint, InterpolatingAdjoint, QuadratureAdjoint, Sensitivity,
};

/// A neural network as a vector field, `du/dt = model(u; p)`, over a single state (`Vec<S>`)
/// or a batch of states solved as one system (`sciml_core::Batch<S>`, one step size for all).
/// VJPs and JVPs come from the layers' hand-written passes.
pub struct NeuralField<L, V: State> {
    model: L,
    batch: usize,
    ws: Vec<V::S>,
    xbar: Vec<V::S>,
    y: Vec<V::S>,
    zx: Vec<V::S>,
}

impl<L: Layer + Clone, V: State> Clone for NeuralField<L, V> {
    fn clone(&self) -> Self {
        NeuralField {
            model: self.model.clone(),
            batch: self.batch,
            ws: self.ws.clone(),
            xbar: self.xbar.clone(),
            y: self.y.clone(),
            zx: self.zx.clone(),
        }
    }
}

impl<L: Layer, V: SliceState> NeuralField<L, V> {
    /// Wraps `model` (whose input and output sizes must agree) for `batch` samples per state.
    pub fn new(model: L, batch: usize) -> Result<Self, Error> {
        if model.in_dim() != model.out_dim() {
            return Err(Error::InvalidOption {
                option: "model",
                reason: format!(
                    "a vector field maps the state to its derivative, so input and output sizes must agree (got {} -> {})",
                    model.in_dim(),
                    model.out_dim()
                ),
            });
        }
        if batch == 0 {
            return Err(Error::InvalidOption {
                option: "batch",
                reason: "must be at least 1".into(),
            });
        }
        let n = model.in_dim() * batch;
        let z = V::S::zero();
        Ok(NeuralField {
            ws: vec![z; model.workspace_len(batch)],
            xbar: vec![z; n],
            y: vec![z; n],
            zx: vec![z; n],
            batch,
            model,
        })
    }
    /// The model.
    pub fn model(&self) -> &L {
        &self.model
    }
}

impl<L: Layer, V: SliceState> VectorField for NeuralField<L, V> {
    type V = V;
    type P = Vec<V::S>;
    fn dims(&self) -> (usize, usize) {
        (self.model.in_dim() * self.batch, self.model.nparams())
    }
    #[inline]
    fn rhs(&mut self, _t: <V::S as Scalar>::Re, u: &V, p: &Vec<V::S>, du: &mut V) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model.forward(inp, du.as_mut_slice(), &mut self.ws);
    }
}

impl<L: Layer, V: SliceState> Vjp for NeuralField<L, V> {
    const EXACT: bool = true;
    fn vjp(
        &mut self,
        _t: <V::S as Scalar>::Re,
        u: &V,
        p: &Vec<V::S>,
        w: &V,
        gu: &mut V,
        gp: &mut Vec<V::S>,
    ) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model
            .vjp(inp, w.as_slice(), &mut self.xbar, gp, &mut self.ws);
        for (g, x) in gu.as_mut_slice().iter_mut().zip(&self.xbar) {
            *g += *x;
        }
    }
}

impl<L: Layer, V: SliceState> Jvp for NeuralField<L, V> {
    const EXACT: bool = true;
    fn jvp_u(&mut self, _t: <V::S as Scalar>::Re, u: &V, p: &Vec<V::S>, v: &V, out: &mut V) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model.jvp(
            inp,
            v.as_slice(),
            None,
            &mut self.y,
            out.as_mut_slice(),
            &mut self.ws,
        );
    }
    fn jvp_p(
        &mut self,
        _t: <V::S as Scalar>::Re,
        u: &V,
        p: &Vec<V::S>,
        v: &Vec<V::S>,
        out: &mut V,
    ) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model.jvp(
            inp,
            &self.zx,
            Some(v),
            &mut self.y,
            out.as_mut_slice(),
            &mut self.ws,
        );
    }
}

impl<L: Layer> Jacobian for NeuralField<L, Vec<f64>> {
    const EXACT: bool = true;
    /// Column by column from the layers' forward-mode JVPs (`n` JVPs): what implicit solvers
    /// with a dense linear solve need.
    fn jacobian(&mut self, _t: f64, u: &Vec<f64>, p: &Vec<f64>, j: &mut DenseMatrix<f64>) {
        let n = u.len();
        let mut e = vec![0.0; n];
        for c in 0..n {
            e[c] = 1.0;
            let inp = Input {
                x: u,
                batch: self.batch,
                p,
            };
            self.model
                .jvp(inp, &e, None, &mut self.y, j.col_mut(c), &mut self.ws);
            e[c] = 0.0;
        }
    }
}

impl<L: Layer> Hvp for NeuralField<L, Vec<f64>> {
    const EXACT: bool = true;
    /// Dual numbers through the layers' hand-written VJP (`nn::layer_hvp`): with the input
    /// seeded `u + εv`, the tangents of `(∂y/∂x)ᵀ w` and `(∂y/∂p)ᵀ w` are `∇_u (wᵀ J v)` and
    /// `∇_p (wᵀ J v)`. One VJP in dual numbers per call (its buffers are allocated per call).
    fn hvp(
        &mut self,
        _t: f64,
        u: &Vec<f64>,
        p: &Vec<f64>,
        w: &Vec<f64>,
        v: &Vec<f64>,
        gu: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        crate::nn::layer_hvp(&self.model, self.batch, u, p, w, v, gu, gp);
    }
}

impl<L: Layer + Clone> DualField for NeuralField<L, Vec<f64>> {
    type Dual = NeuralField<L, Vec<Dual64>>;
    fn to_dual(&self) -> Self::Dual {
        let n = self.model.in_dim() * self.batch;
        let z = Dual64::constant(0.0);
        NeuralField {
            model: self.model.clone(),
            batch: self.batch,
            ws: vec![z; self.model.workspace_len(self.batch)],
            xbar: vec![z; n],
            y: vec![z; n],
            zx: vec![z; n],
        }
    }
}

/// Which sensitivity method a [`NeuralOde`] uses for its gradients.
#[derive(Clone, Copy, Debug, Default)]
pub enum SensitivityChoice {
    /// Forward mode ([`ForwardDiffSensitivity`]) when states plus parameters number at most 100
    /// (SciMLSensitivity's rule), otherwise the exact discrete adjoint.
    #[default]
    Auto,
    /// The exact gradient of the computed solution through the solver's steps.
    Discrete(DiscreteAdjoint),
    /// Dual numbers through the solver.
    ForwardDiff,
    /// The forward sensitivity equations.
    Forward,
    /// Continuous adjoint with interpolated state.
    Interpolating(InterpolatingAdjoint),
    /// Continuous adjoint solving the state backwards.
    Backsolve,
    /// Continuous adjoint with the parameter gradient by quadrature.
    Quadrature,
    /// Continuous adjoint with the parameter gradient integrated step by step.
    Gauss,
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

/// A neural ODE layer, DiffEqFlux's `NeuralODE(model, tspan, solver; saveat)`: called with an
/// initial state and parameters it returns the trajectory at `saveat`; it also gives the gradient
/// of a loss on that trajectory with respect to the parameters and the initial state.
pub struct NeuralOde<L: Layer + Clone, M: MethodInfo> {
    field: NeuralField<L, Vec<f64>>,
    tspan: (f64, f64),
    method: M,
    opts: SolveOptions<f64>,
    sensitivity: SensitivityChoice,
}

/// A loss on a trajectory: given the saved times and states, returns the loss and its cotangent
/// with respect to each saved state.
pub trait TrajectoryLoss: FnMut(&[f64], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {}
impl<T: FnMut(&[f64], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>)> TrajectoryLoss for T {}

impl<L: Layer + Clone, M: MethodInfo> NeuralOde<L, M> {
    /// `du/dt = model(u; p)` over `tspan` with `method`, saved at `saveat` (interpolated, never
    /// stepped to). Tolerances default to SciML's (`reltol = 1e-3`, `abstol = 1e-6`).
    pub fn new(model: L, tspan: (f64, f64), method: M, saveat: Vec<f64>) -> Result<Self, Error> {
        if saveat.is_empty() {
            return Err(Error::InvalidOption {
                option: "saveat",
                reason: "give at least one save time".into(),
            });
        }
        Ok(NeuralOde {
            field: NeuralField::new(model, 1)?,
            tspan,
            method,
            opts: SolveOptions::default().saveat(SaveAt::Times(saveat)),
            sensitivity: SensitivityChoice::Auto,
        })
    }
    /// Relative and absolute tolerances (checked when a solve starts).
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        self.opts = self.opts.tolerances(rtol, atol);
        self
    }
    /// The sensitivity method for gradients.
    pub fn sensitivity(mut self, s: SensitivityChoice) -> Self {
        self.sensitivity = s;
        self
    }
    /// The options of the forward solve (for finer control: `maxiters`, `dtmax`, ...).
    pub fn options_mut(&mut self) -> &mut SolveOptions<f64> {
        &mut self.opts
    }
    /// The model.
    pub fn model(&self) -> &L {
        self.field.model()
    }
    /// Initial parameters drawn from `seed` by the layers' initialisers.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut p = vec![0.0; self.model().nparams()];
        self.model()
            .init_params(&mut Xoshiro256pp::new(seed), &mut p);
        p
    }

    fn problem(
        &self,
        u0: &[f64],
        p: &[f64],
    ) -> Result<OdeProblem<NeuralField<L, Vec<f64>>>, Error> {
        OdeProblem::new(self.field.clone(), u0.to_vec(), self.tspan, p.to_vec())
    }

    /// The trajectory at the save times.
    pub fn solve(&self, u0: &[f64], p: &[f64]) -> Result<Solution<Vec<f64>>, SolveError<Vec<f64>>>
    where
        M: OdeMethod<NeuralField<L, Vec<f64>>>,
    {
        self.problem(u0, p)?.solve(self.method.clone(), &self.opts)
    }

    /// The loss on the trajectory and its gradients through the sensitivity method `sens`,
    /// given as a value whose type says what it needs: any method the sensitivity supports,
    /// explicit or stiff (for example `Rodas5P` with `DiscreteAdjoint`, whose reverse pass uses
    /// the network's Hessian-vector products, or `KenCarp4` with `ForwardDiffSensitivity`).
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
    pub fn loss_and_gradient_with<S>(
        &self,
        sens: &S,
        u0: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>>
    where
        S: Sensitivity<NeuralField<L, Vec<f64>>, M>,
    {
        let mut prob = self.problem(u0, p)?;
        run(sens, &mut prob, &self.method, &self.opts, loss)
    }
}

/// The sensitivity chosen by value ([`SensitivityChoice`]) needs a method every choice supports:
/// the explicit Runge–Kutta methods. For a stiff method, pass the sensitivity as a type
/// ([`NeuralOde::loss_and_gradient_with`]).
impl<L: Layer + Clone, M: RkMethod> NeuralOde<L, M> {
    /// The loss on the trajectory and its gradients, through the chosen sensitivity method.
    pub fn loss_and_gradient(
        &self,
        u0: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>> {
        let mut prob = self.problem(u0, p)?;
        let choice = match self.sensitivity {
            SensitivityChoice::Auto if u0.len() + p.len() <= 100 => SensitivityChoice::ForwardDiff,
            SensitivityChoice::Auto => SensitivityChoice::Discrete(DiscreteAdjoint::default()),
            c => c,
        };
        match choice {
            SensitivityChoice::Discrete(a) => run(&a, &mut prob, &self.method, &self.opts, loss),
            SensitivityChoice::ForwardDiff => run(
                &ForwardDiffSensitivity,
                &mut prob,
                &self.method,
                &self.opts,
                loss,
            ),
            SensitivityChoice::Forward => run(
                &ForwardSensitivity,
                &mut prob,
                &self.method,
                &self.opts,
                loss,
            ),
            SensitivityChoice::Interpolating(a) => {
                run(&a, &mut prob, &self.method, &self.opts, loss)
            }
            SensitivityChoice::Backsolve => {
                run(&BacksolveAdjoint, &mut prob, &self.method, &self.opts, loss)
            }
            SensitivityChoice::Quadrature => run(
                &QuadratureAdjoint,
                &mut prob,
                &self.method,
                &self.opts,
                loss,
            ),
            SensitivityChoice::Gauss | SensitivityChoice::Auto => {
                run(&GaussAdjoint, &mut prob, &self.method, &self.opts, loss)
            }
        }
    }

    /// Solves a batch of initial states (`2 × B` as [`Batch`]) as one system with one step
    /// size, as torchdiffeq and diffrax batch. For independent step control per sample, solve
    /// the samples separately (e.g. an ensemble).
    pub fn solve_batch(
        &self,
        u0: &Batch<f64>,
        p: &[f64],
    ) -> Result<Solution<Batch<f64>>, SolveError<Batch<f64>>> {
        self.batch_problem(u0, p)?
            .solve(self.method.clone(), &self.opts)
    }

    /// The loss on a batched trajectory and its gradients. Forward-mode choices
    /// (`ForwardDiff`, `Forward`) need single states; `Auto` uses the discrete adjoint here.
    pub fn loss_and_gradient_batch(
        &self,
        u0: &Batch<f64>,
        p: &[f64],
        loss: impl FnMut(&[f64], &[Batch<f64>]) -> (f64, Vec<Batch<f64>>),
    ) -> Result<LossGradient<Batch<f64>>, SolveError<Batch<f64>>> {
        let mut prob = self.batch_problem(u0, p)?;
        let (m, o) = (&self.method, &self.opts);
        match self.sensitivity {
            SensitivityChoice::Auto => run(&DiscreteAdjoint::default(), &mut prob, m, o, loss),
            SensitivityChoice::Discrete(a) => run(&a, &mut prob, m, o, loss),
            SensitivityChoice::Interpolating(a) => run(&a, &mut prob, m, o, loss),
            SensitivityChoice::Backsolve => run(&BacksolveAdjoint, &mut prob, m, o, loss),
            SensitivityChoice::Quadrature => run(&QuadratureAdjoint, &mut prob, m, o, loss),
            SensitivityChoice::Gauss => run(&GaussAdjoint, &mut prob, m, o, loss),
            SensitivityChoice::ForwardDiff | SensitivityChoice::Forward => {
                Err(Error::Unsupported {
                    method: "forward-mode sensitivities",
                    what: "differentiate a batch solved as one system; choose an adjoint".into(),
                }
                .into())
            }
        }
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
        OdeProblem::new(field, u0.clone(), self.tspan, p.to_vec())
    }
}

fn run<V, F, M, S>(
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
    if !value.is_finite() {
        return Err(Error::NonFinite {
            what: "loss".into(),
            index: 0,
        }
        .into());
    }
    let g = s.backward(prob, method, tape, &ubar)?;
    Ok(LossGradient {
        loss: value,
        du0: g.du0,
        dp: g.dp,
        forward: sol.stats,
        backward: g.stats,
    })
}
