//! The NeuralDae layer: a neural DAE in residual form, `F(u′, u, p, t) = 0`, whose differential
//! rows are `u′_i − model(u)_i` ([`DaeModelForm::Explicit`]) or DiffEqFlux's `model([u; u′])_i`
//! ([`DaeModelForm::Implicit`]) and whose algebraic rows are the user's constraints
//! `g(u, p_g, t) = 0`; solved by sciml-dae's BDF and differentiated by its staggered forward
//! sensitivities or its discrete adjoint ([`DaeSensitivity`]; both the exact derivative of the
//! computed solution on its mesh).

use super::{check_loss, LossGradient, NeuralDe, NeuralParams, TrajectoryLoss};
use crate::neural_de::Constraints;
use crate::nn::{Input, Layer};
use sciml_core::{rng::Xoshiro256pp, DenseMatrix, Dual64, Error, Scalar, Solution, Stats};
use sciml_dae::{sensitivity, DaeBdf, DaeError, DaeFunction, DaeInit, DaeJacobian, DaeProblem};
use sciml_ode::{SaveAt, SolveOptions};

/// The algebraic rows of a [`NeuralDae`]: `g(u, p_g, t) = 0`, DiffEqFlux's `constraints(u, p,
/// t)`, with its own trainable parameters `p_g` (none by default). Written once for any scalar
/// so that the layer differentiates it with dual numbers. Every [`Constraints`] (the
/// parameter-free constraints of `NeuralOdeMm`) is one.
///
/// ```
/// use diffeqflux::neural_de::DaeConstraints;
/// use sciml_core::Scalar;
/// // u1 + u2 + u3 = c with a trainable total c.
/// struct Total;
/// impl DaeConstraints for Total {
///     fn len(&self) -> usize { 1 }
///     fn nparams(&self) -> usize { 1 }
///     fn init_params(&self, p: &mut [f64]) { p[0] = 1.0; }
///     fn residual<S: Scalar<Re = f64>>(&self, _t: f64, u: &[S], p: &[S], out: &mut [S]) {
///         out[0] = u[0] + u[1] + u[2] - p[0];
///     }
/// }
/// let mut r = [0.0];
/// Total.residual(0.0, &[0.5, 0.25, 0.25], &[1.0], &mut r);
/// assert_eq!(r[0], 0.0);
/// ```
pub trait DaeConstraints: Send + Sync {
    /// Number of constraints (the algebraic rows, one per algebraic variable).
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of trainable parameters of the constraints (after the network's in `p`).
    fn nparams(&self) -> usize {
        0
    }
    /// Writes the constraints' initial parameters (`nparams()` values; the default leaves the
    /// zeros it is given).
    fn init_params(&self, _p: &mut [f64]) {}
    /// Writes `g(u, p_g, t)` (`len()` values) into `out`.
    fn residual<S: Scalar<Re = f64>>(&self, t: f64, u: &[S], p: &[S], out: &mut [S]);
}

impl<C: Constraints> DaeConstraints for C {
    fn len(&self) -> usize {
        Constraints::len(self)
    }
    fn residual<S: Scalar<Re = f64>>(&self, _t: f64, u: &[S], _p: &[S], out: &mut [S]) {
        Constraints::residual(self, u, out);
    }
}

/// How a [`NeuralDae`]'s network makes the differential rows of the residual.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DaeModelForm {
    /// The network gives the derivatives: row `u′_i − model(u)_k` (network input `n`). The
    /// differential rows can always be solved for `u′`.
    #[default]
    Explicit,
    /// DiffEqFlux's `NeuralDAE`: the network sees `[u; u′]` and its output is the row itself,
    /// `model([u; u′])_k` (network input `2n`).
    Implicit,
}

/// The residual a [`NeuralDae`] solves, with its exact Jacobians: `∂F/∂u`, `∂F/∂u′` and `∂F/∂p`
/// of the network rows from the layers' JVPs and VJPs (in the explicit form `∂F/∂u′` is the
/// 0/1 diagonal of `differential_vars`), those of the constraints from dual numbers.
#[derive(Clone, Debug)]
pub struct NeuralDaeResidual<L, C> {
    model: L,
    constraints: C,
    form: DaeModelForm,
    differential: Vec<bool>,
    /// Row `i`'s index among the network's outputs (differential `i`) or the constraints.
    slot: Vec<usize>,
    ws: Vec<f64>,
    /// Network outputs, their tangents and a unit cotangent (length `n_d`).
    y: Vec<f64>,
    ydot: Vec<f64>,
    ybar: Vec<f64>,
    /// Constraint values (length `n_a`).
    g: Vec<f64>,
    /// The network input (`u`, or `[u; u′]` in the implicit form), a unit input tangent and an
    /// input cotangent (length of the network's input).
    x: Vec<f64>,
    e: Vec<f64>,
    xbar: Vec<f64>,
    /// A network parameter cotangent (length of the network's parameters).
    pbar: Vec<f64>,
    /// Dual copies of `u`, `p_g` and `g` for the constraints' derivatives.
    u_d: Vec<Dual64>,
    p_d: Vec<Dual64>,
    g_d: Vec<Dual64>,
}

impl<L: Layer, C: DaeConstraints> NeuralDaeResidual<L, C> {
    /// Checks the sizes (see [`NeuralDae::new`] and [`NeuralDae::implicit`]) and allocates the
    /// scratch.
    fn new(
        model: L,
        constraints: C,
        differential_vars: Vec<bool>,
        form: DaeModelForm,
    ) -> Result<Self, DaeError> {
        let n = match form {
            DaeModelForm::Explicit => model.in_dim(),
            DaeModelForm::Implicit => differential_vars.len(),
        };
        if form == DaeModelForm::Implicit && model.in_dim() != 2 * n {
            return Err(Error::InvalidOption {
                option: "model",
                reason: format!(
                    "the implicit form feeds [u; u′] to the model, so it needs 2n = {} inputs \
                     (differential_vars has {n} entries), got {}",
                    2 * n,
                    model.in_dim()
                ),
            }
            .into());
        }
        if differential_vars.len() != n {
            return Err(DaeError::Length {
                what: "differential_vars",
                got: differential_vars.len(),
                expected: n,
            });
        }
        let nd = differential_vars.iter().filter(|d| **d).count();
        if model.out_dim() != nd {
            return Err(Error::InvalidOption {
                option: "model",
                reason: format!(
                    "the model gives one row per differential variable, so it needs \
                     {nd} outputs (differential_vars has {nd} true entries), got {}",
                    model.out_dim()
                ),
            }
            .into());
        }
        if constraints.len() != n - nd {
            return Err(Error::InvalidOption {
                option: "constraints",
                reason: format!(
                    "one constraint per algebraic variable: differential_vars has {} false \
                     entries, the constraints give {} rows",
                    n - nd,
                    constraints.len()
                ),
            }
            .into());
        }
        let (mut kd, mut ka) = (0, 0);
        let slot = differential_vars
            .iter()
            .map(|d| {
                let k = if *d { &mut kd } else { &mut ka };
                *k += 1;
                *k - 1
            })
            .collect();
        let z = Dual64::constant(0.0);
        Ok(NeuralDaeResidual {
            ws: vec![0.0; model.workspace_len(1)],
            y: vec![0.0; nd],
            ydot: vec![0.0; nd],
            ybar: vec![0.0; nd],
            g: vec![0.0; n - nd],
            x: vec![0.0; model.in_dim()],
            e: vec![0.0; model.in_dim()],
            xbar: vec![0.0; model.in_dim()],
            pbar: vec![0.0; model.nparams()],
            u_d: vec![z; n],
            p_d: vec![z; constraints.nparams()],
            g_d: vec![z; n - nd],
            model,
            constraints,
            form,
            differential: differential_vars,
            slot,
        })
    }

    /// The network.
    pub fn model(&self) -> &L {
        &self.model
    }
    /// The constraints.
    pub fn constraints(&self) -> &C {
        &self.constraints
    }
    /// Which variables are differential.
    pub fn differential_vars(&self) -> &[bool] {
        &self.differential
    }
    /// How the network makes the differential rows.
    pub fn form(&self) -> DaeModelForm {
        self.form
    }

    /// Loads the network input: `u`, or `[u; u′]` in the implicit form.
    fn load_input(&mut self, du: &[f64], u: &[f64]) {
        let n = u.len();
        self.x[..n].copy_from_slice(u);
        if self.form == DaeModelForm::Implicit {
            self.x[n..].copy_from_slice(du);
        }
    }

    /// The sign of the network's output in its rows: `−model(u)` or `+model([u; u′])`.
    fn sign(&self) -> f64 {
        match self.form {
            DaeModelForm::Explicit => -1.0,
            DaeModelForm::Implicit => 1.0,
        }
    }

    /// Loads `u` and `p_g` as dual constants.
    fn load_duals(&mut self, u: &[f64], pg: &[f64]) {
        for (d, x) in self.u_d.iter_mut().zip(u) {
            *d = Dual64::constant(*x);
        }
        for (d, x) in self.p_d.iter_mut().zip(pg) {
            *d = Dual64::constant(*x);
        }
    }

    /// Writes `sign · ∂model/∂x_input` (the network at its loaded input, one JVP) into column
    /// `col` of `out`'s differential rows.
    fn network_column(
        &mut self,
        pn: &[f64],
        input: usize,
        sign: f64,
        out: &mut DenseMatrix<f64>,
        col: usize,
    ) {
        self.e[input] = 1.0;
        let inp = Input {
            x: &self.x,
            batch: 1,
            p: pn,
        };
        self.model.jvp(
            inp,
            &self.e,
            None,
            &mut self.y,
            &mut self.ydot,
            &mut self.ws,
        );
        self.e[input] = 0.0;
        for (i, d) in self.differential.iter().enumerate() {
            if *d {
                out[(i, col)] = sign * self.ydot[self.slot[i]];
            }
        }
    }

    /// Writes the tangents of the constraints (as loaded) into column `col` of `out`'s
    /// algebraic rows.
    fn constraint_column(&mut self, t: f64, out: &mut DenseMatrix<f64>, col: usize) {
        self.constraints
            .residual(t, &self.u_d, &self.p_d, &mut self.g_d);
        for (i, d) in self.differential.iter().enumerate() {
            if !*d {
                out[(i, col)] = self.g_d[self.slot[i]].eps();
            }
        }
    }
}

impl<L: Layer, C: DaeConstraints> DaeFunction for NeuralDaeResidual<L, C> {
    fn len(&self) -> usize {
        self.differential.len()
    }
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]) {
        let (pn, pg) = p.split_at(self.model.nparams());
        self.load_input(du, u);
        let inp = Input {
            x: &self.x,
            batch: 1,
            p: pn,
        };
        self.model.forward(inp, &mut self.y, &mut self.ws);
        self.constraints.residual(t, u, pg, &mut self.g);
        let implicit = self.form == DaeModelForm::Implicit;
        for (i, d) in self.differential.iter().enumerate() {
            let k = self.slot[i];
            out[i] = match (*d, implicit) {
                (true, true) => self.y[k],
                (true, false) => du[i] - self.y[k],
                (false, _) => self.g[k],
            };
        }
    }
}

impl<L: Layer, C: DaeConstraints> DaeJacobian for NeuralDaeResidual<L, C> {
    fn jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    ) {
        let n = u.len();
        let (pn, pg) = p.split_at(self.model.nparams());
        let sign = self.sign();
        dfddu.as_mut_slice().fill(0.0);
        self.load_input(du, u);
        match self.form {
            DaeModelForm::Explicit => {
                for (i, d) in self.differential.iter().enumerate() {
                    if *d {
                        dfddu[(i, i)] = 1.0;
                    }
                }
            }
            // Network rows against u′: ∂model/∂u′ · e_c, one JVP per column.
            DaeModelForm::Implicit => {
                for c in 0..n {
                    self.network_column(pn, n + c, sign, dfddu, c);
                }
            }
        }
        self.load_duals(u, pg);
        for (c, uc) in u.iter().enumerate() {
            // Network rows against u: ∓∂model/∂u · e_c, one JVP per column.
            self.network_column(pn, c, sign, dfdu, c);
            // Constraint rows: one dual pass per column.
            self.u_d[c] = Dual64::new(*uc, 1.0);
            self.constraint_column(t, dfdu, c);
            self.u_d[c] = Dual64::constant(*uc);
        }
    }

    /// `∂F/∂p`: the network rows by one VJP per network output (row `∓∂model_k/∂p` against the
    /// network's parameters, zero against the constraints'), the constraint rows by one dual
    /// pass per constraint parameter (zero against the network's).
    fn param_jacobian(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdp: &mut DenseMatrix<f64>,
    ) -> bool {
        let npn = self.model.nparams();
        let (pn, pg) = p.split_at(npn);
        let sign = self.sign();
        dfdp.as_mut_slice().fill(0.0);
        self.load_input(du, u);
        for (i, d) in self.differential.iter().enumerate() {
            if !*d {
                continue;
            }
            let k = self.slot[i];
            self.ybar[k] = 1.0;
            self.pbar.fill(0.0);
            let inp = Input {
                x: &self.x,
                batch: 1,
                p: pn,
            };
            self.model.vjp(
                inp,
                &self.ybar,
                &mut self.xbar,
                &mut self.pbar,
                &mut self.ws,
            );
            self.ybar[k] = 0.0;
            for (j, pb) in self.pbar.iter().enumerate() {
                dfdp[(i, j)] = sign * pb;
            }
        }
        self.load_duals(u, pg);
        for (c, x) in pg.iter().enumerate() {
            self.p_d[c] = Dual64::new(*x, 1.0);
            self.constraint_column(t, dfdp, npn + c);
            self.p_d[c] = Dual64::constant(*x);
        }
        true
    }
}

impl<L: Layer, C: DaeConstraints> NeuralParams for NeuralDaeResidual<L, C> {
    fn nparams(&self) -> usize {
        self.model.nparams() + self.constraints.nparams()
    }
    fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        let (pn, pg) = p.split_at_mut(self.model.nparams());
        self.model.init_params(rng, pn);
        self.constraints.init_params(pg);
    }
}

/// Which gradient [`NeuralDae::loss_and_gradient`] computes; both are the exact derivative of the
/// computed solution on its mesh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DaeSensitivity {
    /// Staggered forward sensitivities: one sensitivity DAE per parameter and per differential
    /// start value, stepped with the solution (cheap for few parameters).
    #[default]
    Forward,
    /// The discrete adjoint through the BDF steps: the solve records its steps, then one
    /// reverse sweep of transposed solves with each step's converged iteration matrix (cheap
    /// for many parameters: its cost does not grow with their number).
    DiscreteAdjoint,
}

/// A neural DAE, DiffEqFlux's `NeuralDAE(model, constraints, tspan; differential_vars)` called
/// with `(u0, du0)`: the residual
///
/// ```text
/// F_i = u′_i − model(u; p_net)_k   (differential i, the k-th of them)
/// F_i = g(u, p_g, t)_k             (algebraic i, the k-th of them)
/// ```
///
/// with the trainable parameters `p = [p_net; p_g]` ([`NeuralDae::new`]: the differential rows
/// can always be solved for `u′` and the DAE has index 1 wherever `∂g/∂u_alg` is regular), or
/// DiffEqFlux's own form, where the network sees `[u; u′]` and its output is the row,
/// `F_i = model([u; u′]; p_net)_k` ([`NeuralDae::implicit`]). It is solved by [`DaeBdf`] after the initialisation of choice
/// ([`DaeInit::CheckInit`] by default), and differentiated by sciml-dae's staggered forward
/// sensitivities (`∂u/∂p` for every parameter and `∂u/∂u0_i` for every differential variable)
/// or by its discrete adjoint ([`NeuralDae::sensitivity`]): the exact derivative of the
/// computed solution on its mesh either way.
///
/// ```
/// use diffeqflux::neural_de::{Constraints, NeuralDae};
/// use diffeqflux::nn::{Activation, Dense};
/// use sciml_core::Scalar;
/// #[derive(Clone)]
/// struct Sum;
/// impl Constraints for Sum {
///     fn len(&self) -> usize { 1 }
///     fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
///         out[0] = u[0] + u[1] - S::cst(1.0);
///     }
/// }
/// // u1′ = model(u), 0 = u1 + u2 − 1.
/// let layer = NeuralDae::new(Dense::new(2, 1, Activation::Tanh), Sum, (0.0, 1.0),
///                            vec![true, false], vec![0.5, 1.0])?
///     .tolerances(1e-8, 1e-10)
///     .init(sciml_dae::DaeInit::BrownFullBasicInit);
/// let p = layer.init_params(0);
/// let sol = layer.solve(&[0.3, 0.7], &[0.0, 0.0], &p)?;
/// assert!(sol.u.iter().all(|u| (u[0] + u[1] - 1.0).abs() < 1e-8));
/// let g = layer.loss_and_gradient(&[0.3, 0.7], &[0.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
///     (us[1][0], vec![vec![0.0; 2], vec![1.0, 0.0]])
/// })?;
/// assert_eq!((g.dp.len(), g.du0.len()), (p.len(), 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NeuralDae<L, C> {
    core: NeuralDe<NeuralDaeResidual<L, C>, DaeBdf, DaeSensitivity, SolveOptions<f64>>,
    init: DaeInit,
}

impl<L: Layer + Clone, C: DaeConstraints + Clone> NeuralDae<L, C> {
    /// The layer over `tspan`, saved at `saveat` (interpolated). `differential_vars[i]` says
    /// whether `u_i` is differential; it must have one entry per state (`model.in_dim()`), the
    /// model one output per differential variable and the constraints one row per algebraic
    /// one, or the call is an `Err` naming the mismatch. Tolerances default to SciML's
    /// (`reltol = 1e-3`, `abstol = 1e-6`), the method to `DaeBdf::new()`.
    pub fn new(
        model: L,
        constraints: C,
        tspan: (f64, f64),
        differential_vars: Vec<bool>,
        saveat: Vec<f64>,
    ) -> Result<Self, DaeError> {
        Self::with_form(
            model,
            constraints,
            tspan,
            differential_vars,
            saveat,
            DaeModelForm::Explicit,
        )
    }

    /// DiffEqFlux's form of the layer: the differential rows are `model([u; u′])_k`, so the
    /// model takes `2n` inputs (`n = differential_vars.len()`) and gives one output per
    /// differential variable; the other checks and defaults are those of [`NeuralDae::new`].
    /// Whether the rows can be solved for `u′` (`∂model/∂u′` regular on the differential
    /// variables) depends on the trained network; a singular iteration matrix is a Newton
    /// failure (`Err`).
    ///
    /// ```
    /// use diffeqflux::neural_de::{Constraints, DaeModelForm, NeuralDae};
    /// use diffeqflux::nn::{Activation, Dense};
    /// use sciml_core::Scalar;
    /// #[derive(Clone)]
    /// struct Sum;
    /// impl Constraints for Sum {
    ///     fn len(&self) -> usize { 1 }
    ///     fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
    ///         out[0] = u[0] + u[1] - S::cst(1.0);
    ///     }
    /// }
    /// // 0 = model([u1, u2, u1′, u2′]), 0 = u1 + u2 − 1.
    /// let layer = NeuralDae::implicit(Dense::new(4, 1, Activation::Identity), Sum, (0.0, 1.0),
    ///                                 vec![true, false], vec![1.0])?;
    /// assert_eq!(layer.core().field().form(), DaeModelForm::Implicit);
    /// // A network with n (not 2n) inputs is refused.
    /// assert!(NeuralDae::implicit(Dense::new(2, 1, Activation::Identity), Sum, (0.0, 1.0),
    ///                             vec![true, false], vec![1.0]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn implicit(
        model: L,
        constraints: C,
        tspan: (f64, f64),
        differential_vars: Vec<bool>,
        saveat: Vec<f64>,
    ) -> Result<Self, DaeError> {
        Self::with_form(
            model,
            constraints,
            tspan,
            differential_vars,
            saveat,
            DaeModelForm::Implicit,
        )
    }

    fn with_form(
        model: L,
        constraints: C,
        tspan: (f64, f64),
        differential_vars: Vec<bool>,
        saveat: Vec<f64>,
        form: DaeModelForm,
    ) -> Result<Self, DaeError> {
        let field = NeuralDaeResidual::new(model, constraints, differential_vars, form)?;
        if saveat.is_empty() {
            return Err(Error::InvalidOption {
                option: "saveat",
                reason: "give at least one save time".into(),
            }
            .into());
        }
        let opts = SolveOptions::default().saveat(SaveAt::Times(saveat));
        Ok(NeuralDae {
            core: NeuralDe::new(field, tspan, DaeBdf::new(), DaeSensitivity::default(), opts),
            init: DaeInit::CheckInit,
        })
    }

    /// Relative and absolute tolerances (checked when a solve starts). `CheckInit` accepts a
    /// start whose residual norm is within `atol`.
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        let opts = self.core.options().clone().tolerances(rtol, atol);
        *self.core.options_mut() = opts;
        self
    }
    /// The BDF's settings (order, `suppress_alg`, ...).
    pub fn method(mut self, method: DaeBdf) -> Self {
        *self.core.method_mut() = method;
        self
    }
    /// How [`NeuralDae::loss_and_gradient`] differentiates (forward sensitivities by default).
    pub fn sensitivity(self, sensitivity: DaeSensitivity) -> Self {
        NeuralDae {
            core: self.core.with_sensitivity(sensitivity),
            init: self.init,
        }
    }
    /// How a solve makes `(u0, du0)` consistent (`CheckInit` by default: an inconsistent
    /// start is an `Err`).
    pub fn init(mut self, init: DaeInit) -> Self {
        self.init = init;
        self
    }
    /// The options of the forward solve (for finer control: `maxiters`, `dtmax`, fixed steps).
    /// Tolerances given per component are refused by the gradient (give scalars).
    pub fn options_mut(&mut self) -> &mut SolveOptions<f64> {
        self.core.options_mut()
    }
    /// The shared core (residual, span, method, options).
    pub fn core(
        &self,
    ) -> &NeuralDe<NeuralDaeResidual<L, C>, DaeBdf, DaeSensitivity, SolveOptions<f64>> {
        &self.core
    }
    /// The model.
    pub fn model(&self) -> &L {
        self.core.field().model()
    }
    /// Number of parameters (the network's, then the constraints').
    pub fn nparams(&self) -> usize {
        self.core.nparams()
    }
    /// Initial parameters: the network's drawn from `seed`, then the constraints'.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        self.core.init_params(seed)
    }

    fn problem(
        &self,
        u0: &[f64],
        du0: &[f64],
        p: &[f64],
    ) -> Result<DaeProblem<NeuralDaeResidual<L, C>>, DaeError> {
        if p.len() != self.nparams() {
            return Err(DaeError::Length {
                what: "p (the network's parameters, then the constraints')",
                got: p.len(),
                expected: self.nparams(),
            });
        }
        let field = self.core.field();
        DaeProblem::new(
            field.clone(),
            du0.to_vec(),
            u0.to_vec(),
            self.core.tspan(),
            p.to_vec(),
            Some(field.differential_vars().to_vec()),
        )
    }

    /// The trajectory at the save times, from `(u0, du0)` made consistent by the layer's
    /// initialisation.
    pub fn solve(
        &self,
        u0: &[f64],
        du0: &[f64],
        p: &[f64],
    ) -> Result<Solution<Vec<f64>>, DaeError> {
        self.problem(u0, du0, p)?
            .solve(*self.core.method(), self.init, self.core.options())
    }

    /// The loss on the trajectory and its gradients with respect to `p` and `u0`, by the
    /// layer's [`DaeSensitivity`]: forward sensitivities through the DAE BDF (one sensitivity per
    /// parameter and per differential variable) or the discrete adjoint (one reverse sweep).
    /// `du0` of the result is `∂loss/∂u0`; its algebraic entries are zero, as the algebraic
    /// start values follow from the differential ones.
    pub fn loss_and_gradient(
        &self,
        u0: &[f64],
        du0: &[f64],
        p: &[f64],
        mut loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, DaeError> {
        if self.core.options().tol.scalars().is_none() {
            return Err(Error::InvalidOption {
                option: "tolerances",
                reason: "the sensitivity solve needs scalar tolerances".into(),
            }
            .into());
        }
        let (method, opts) = (*self.core.method(), self.core.options());
        let mut prob = self.problem(u0, du0, p)?;
        if *self.core.sensitivity() == DaeSensitivity::DiscreteAdjoint {
            let (sol, tape) = prob.solve_with_tape(method, self.init, opts)?;
            let (value, ubar) = checked_loss(&mut loss, &sol.t, &sol.u, u0.len())?;
            let g = prob.discrete_adjoint(&tape, &ubar)?;
            return Ok(LossGradient {
                loss: value,
                du0: g.u0,
                dp: g.p,
                forward: sol.stats,
                backward: Stats::default(),
            });
        }
        let sol = prob.solve_forward_sensitivity_u0(method, self.init, opts)?;
        let n = u0.len();
        let m = p.len();
        let us: Vec<Vec<f64>> = sol.u.iter().map(|s| s[..n].to_vec()).collect();
        let (value, ubar) = checked_loss(&mut loss, &sol.t, &us, n)?;
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut dp = vec![0.0; m];
        let mut grad_u0 = vec![0.0; n];
        let differential = self.core.field().differential_vars();
        for (state, b) in sol.u.iter().zip(&ubar) {
            for (j, g) in dp.iter_mut().enumerate() {
                *g += dot(b, sensitivity(state, n, j));
            }
            let diff_idx = (0..n).filter(|i| differential[*i]);
            for (r, i) in diff_idx.enumerate() {
                grad_u0[i] += dot(b, sensitivity(state, n, m + r));
            }
        }
        Ok(LossGradient {
            loss: value,
            du0: grad_u0,
            dp,
            forward: sol.stats,
            backward: Stats::default(),
        })
    }
}

/// The loss and its cotangents on the saved states `us` (each of length `n`), checked: a finite
/// value and one cotangent of length `n` per saved state.
fn checked_loss(
    loss: &mut impl TrajectoryLoss,
    t: &[f64],
    us: &[Vec<f64>],
    n: usize,
) -> Result<(f64, Vec<Vec<f64>>), DaeError> {
    let (value, ubar) = loss(t, us);
    let value = check_loss(value)?;
    if ubar.len() != us.len() || ubar.iter().any(|b| b.len() != n) {
        return Err(Error::InvalidOption {
            option: "loss",
            reason: format!(
                "the loss must return one cotangent of length {n} per saved state ({} saves)",
                us.len()
            ),
        }
        .into());
    }
    for (k, b) in ubar.iter().enumerate() {
        if let Some(index) = b.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("the loss's cotangent of saved state {k}"),
                index,
            }
            .into());
        }
    }
    Ok((value, ubar))
}
