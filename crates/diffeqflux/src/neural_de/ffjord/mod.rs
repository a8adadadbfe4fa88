//! Continuous normalizing flows: the FFJORD layer ([`Ffjord`]), its augmented field
//! ([`FfjordField`]), its base distribution ([`DiagonalNormal`]) and the trained flow as a
//! distribution ([`FfjordDistribution`]).
//!
//! A flow maps a data point `x` at `t0` to `z = z(t1)` by `z' = f(z, t)`; by the instantaneous
//! change of variables (Chen et al. 2018, theorem 1), `log p(x) = log p₀(z(t1)) − l(t1)` with
//! `l' = −tr(∂f/∂z)`, `l(t0) = 0`.

mod base;
mod distribution;
mod field;

pub use base::DiagonalNormal;
pub use distribution::FfjordDistribution;
pub use field::{FfjordField, ProbeKind, Trace};

use super::{pullback, NeuralDe};
use crate::nn::Layer;
use field::augmented_features;
use sciml_core::{rng::Xoshiro256pp, Batch, Error, SolveError, Stats};
use sciml_ode::{MethodInfo, OdeMethod, OdeProblem, SaveAt, SolveOptions};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};

/// A continuous normalizing flow, DiffEqFlux's `FFJORD(model, tspan, input_dims; basedist)`
/// (Grathwohl et al. 2019): log-densities of a batch of samples by solving the augmented
/// dynamics of [`FfjordField`] over `tspan` with one step size for the batch, and the gradient
/// of the mean negative log-likelihood (plus optional RNODE regularisers) by any sensitivity
/// method (by default the exact discrete adjoint).
///
/// The network maps `z` (`n` features) or `[z; t]` (`n + 1`) to `dz/dt` (`n`); the trace is
/// exact or Hutchinson's estimate ([`Trace`]), whose probes are drawn from the `rng` given to
/// each call, once per forward solve, and replayed by its backward pass.
///
/// ```
/// use diffeqflux::neural_de::{DiagonalNormal, Ffjord, ProbeKind, Trace};
/// use diffeqflux::nn::{Activation, Chain, Dense};
/// use sciml_core::{rng::Xoshiro256pp, Batch};
/// use sciml_ode::Tsit5;
/// let model = Chain::new((Dense::new(3, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
/// let flow = Ffjord::new(model, (0.0, 1.0), Tsit5)?
///     .trace(Trace::Hutchinson(ProbeKind::Rademacher))
///     .base(DiagonalNormal::new(vec![0.0, 0.0], vec![1.0, 2.0])?)?;
/// let p = flow.init_params(0);
/// let x = Batch::new(2, 3, vec![0.1, 0.2, -0.3, 0.4, 1.0, -1.0])?;
/// let mut rng = Xoshiro256pp::new(1);
/// let out = flow.forward(&x, &p, &mut rng)?;
/// assert_eq!(out.logpx.len(), 3);
/// let g = flow.loss_and_gradient(&x, &p, &mut rng)?;
/// assert_eq!(g.dp.len(), p.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ffjord<L, M, S = DiscreteAdjoint> {
    core: NeuralDe<FfjordField<L, Batch<f64>>, M, S, SolveOptions<f64>>,
    base: DiagonalNormal,
    /// Loss weights of the kinetic energy and the Jacobian Frobenius norm (`None`: the
    /// regularisers are not integrated).
    weights: Option<(f64, f64)>,
}

impl<L: Layer + Clone, M: Clone, S: Clone> Clone for Ffjord<L, M, S> {
    fn clone(&self) -> Self {
        Ffjord {
            core: self.core.clone(),
            base: self.base.clone(),
            weights: self.weights,
        }
    }
}

/// What a forward solve of [`Ffjord`] gives, per sample.
#[derive(Clone, Debug)]
pub struct FfjordOutput {
    /// `log p(x)` of each sample.
    pub logpx: Vec<f64>,
    /// The samples mapped to the base space, `z(t1)`.
    pub z: Batch<f64>,
    /// `∫ ‖f‖² dt` of each sample (when regularised).
    pub kinetic: Option<Vec<f64>>,
    /// `∫ ‖∂f/∂z‖²_F dt` of each sample (its Hutchinson estimate with that trace), when
    /// regularised.
    pub frobenius: Option<Vec<f64>>,
    /// Solve statistics.
    pub stats: Stats,
}

/// The loss of [`Ffjord::loss_and_gradient`] and its gradients.
#[derive(Clone, Debug)]
pub struct FfjordGradient {
    /// `nll + λ₁ kinetic + λ₂ frobenius`.
    pub loss: f64,
    /// The mean negative log-likelihood, `−mean log p(x)`.
    pub nll: f64,
    /// The mean kinetic energy (zero unless regularised).
    pub kinetic: f64,
    /// The mean Jacobian Frobenius integral (zero unless regularised).
    pub frobenius: f64,
    /// `∂loss/∂p`.
    pub dp: Vec<f64>,
    /// `∂loss/∂x` (`n × batch`).
    pub dx: Batch<f64>,
    /// Forward solve statistics.
    pub forward: Stats,
    /// Backward pass statistics.
    pub backward: Stats,
}

impl<L: Layer + Clone, M> Ffjord<L, M> {
    /// A flow of `model` over `tspan` (`t0 < t1`) with `method`: exact trace, standard normal
    /// base, no regularisers, the discrete adjoint, tolerances `rtol = 1e-3`, `atol = 1e-6`
    /// (change them with the builder methods).
    pub fn new(model: L, tspan: (f64, f64), method: M) -> Result<Self, Error> {
        if !(tspan.0.is_finite() && tspan.1.is_finite() && tspan.0 < tspan.1) {
            return Err(Error::InvalidSpan {
                t0: tspan.0,
                t1: tspan.1,
                reason: "a flow runs from the data at t0 to the base at t1 > t0 (sampling solves it backwards); give t0 < t1".into(),
            });
        }
        let field = FfjordField::new(model, 1, Trace::Exact, false)?;
        let base = DiagonalNormal::standard(field.dim());
        let opts = SolveOptions::default().saveat(SaveAt::Times(vec![tspan.1]));
        Ok(Ffjord {
            core: NeuralDe::new(field, tspan, method, DiscreteAdjoint::default(), opts),
            base,
            weights: None,
        })
    }
}

impl<L: Layer + Clone, M, S> Ffjord<L, M, S> {
    /// The base distribution (its dimension must be the data's).
    pub fn base(mut self, base: DiagonalNormal) -> Result<Self, Error> {
        if base.dim() != self.dim() {
            return Err(Error::DimensionMismatch {
                what: "base distribution (one component per data dimension)".into(),
                expected: self.dim(),
                got: base.dim(),
            });
        }
        self.base = base;
        Ok(self)
    }
    /// The trace computation.
    pub fn trace(mut self, trace: Trace) -> Self {
        self.rebuild_field(trace, self.weights.is_some());
        self
    }
    /// Integrates the RNODE regularisers (Finlay et al. 2020) beside `log p(x)` and adds them to
    /// the loss with weights `kinetic` (for `∫‖f‖²`) and `frobenius` (for `∫‖∂f/∂z‖²_F`),
    /// DiffEqFlux's `λ₁` and `λ₂`. Weights must be finite and non-negative; zero weights report
    /// the integrals without training on them.
    pub fn regularise(mut self, kinetic: f64, frobenius: f64) -> Result<Self, Error> {
        for (name, w) in [("kinetic", kinetic), ("frobenius", frobenius)] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::InvalidOption {
                    option: if name == "kinetic" {
                        "kinetic"
                    } else {
                        "frobenius"
                    },
                    reason: format!("regulariser weight {w}; give a finite weight ≥ 0"),
                });
            }
        }
        self.weights = Some((kinetic, frobenius));
        let trace = self.core.field().trace();
        self.rebuild_field(trace, true);
        Ok(self)
    }
    /// Relative and absolute tolerances of the solves (checked when a solve starts).
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        let opts = self.core.options().clone().tolerances(rtol, atol);
        *self.core.options_mut() = opts;
        self
    }
    /// The sensitivity method of the gradients (any [`Sensitivity`] for the batched field:
    /// `DiscreteAdjoint`, `InterpolatingAdjoint`, `BacksolveAdjoint`, `GaussAdjoint`, ...).
    pub fn sensitivity<S2>(self, sensitivity: S2) -> Ffjord<L, M, S2> {
        Ffjord {
            core: self.core.with_sensitivity(sensitivity),
            base: self.base,
            weights: self.weights,
        }
    }
    /// The solve's options (`maxiters`, `dtmax`, ...). The save times are the flow's own: every
    /// solve saves at `t1`, whatever is set here.
    pub fn options_mut(&mut self) -> &mut SolveOptions<f64> {
        self.core.options_mut()
    }
    /// The shared core.
    pub fn core(&self) -> &NeuralDe<FfjordField<L, Batch<f64>>, M, S, SolveOptions<f64>> {
        &self.core
    }
    /// The network.
    pub fn model(&self) -> &L {
        self.core.field().model()
    }
    /// The base distribution.
    pub fn base_distribution(&self) -> &DiagonalNormal {
        &self.base
    }
    /// Data dimension `n`.
    pub fn dim(&self) -> usize {
        self.core.field().dim()
    }
    /// Number of parameters.
    pub fn nparams(&self) -> usize {
        self.core.nparams()
    }
    /// Initial parameters drawn from `seed` by the network's initialisers.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        self.core.init_params(seed)
    }

    /// The layer's options, saving at `t1` whatever `options_mut` set: `log p(x)` is read off
    /// the state there.
    fn solve_options(&self) -> SolveOptions<f64> {
        let mut opts = self.core.options().clone();
        opts.saveat = SaveAt::Times(vec![self.core.tspan().1]);
        opts
    }

    fn rebuild_field(&mut self, trace: Trace, regularised: bool) {
        let model = self.model().clone();
        // The model was accepted by `new`; a field over it with one sample cannot fail.
        if let Ok(f) = FfjordField::new(model, 1, trace, regularised) {
            *self.core.field_mut() = f;
        }
    }

    /// The augmented problem for the samples `x` (`n × batch`): the field with fresh probes and
    /// the initial columns `[x; 0; (0; 0)]`.
    fn problem(
        &self,
        x: &Batch<f64>,
        p: &[f64],
        rng: &mut Xoshiro256pp,
    ) -> Result<OdeProblem<FfjordField<L, Batch<f64>>>, Error> {
        let n = self.dim();
        if x.features() != n {
            return Err(Error::DimensionMismatch {
                what: "features of the samples x (the flow's data dimension)".into(),
                expected: n,
                got: x.features(),
            });
        }
        let tmpl = self.core.field();
        let mut field = FfjordField::new(
            self.model().clone(),
            x.batch_size(),
            tmpl.trace(),
            tmpl.regularised(),
        )?;
        field.draw_probes(rng);
        let m = field.features();
        let mut u0 = Batch::zeros(m, x.batch_size());
        for b in 0..x.batch_size() {
            u0.column_mut(b)[..n].copy_from_slice(x.column(b));
        }
        OdeProblem::new(field, u0, self.core.tspan(), p.to_vec())
    }

    /// `log p(x)` (and the regularisers' integrals) of each sample of `x` (`n × batch`).
    pub fn forward(
        &self,
        x: &Batch<f64>,
        p: &[f64],
        rng: &mut Xoshiro256pp,
    ) -> Result<FfjordOutput, SolveError<Batch<f64>>>
    where
        M: OdeMethod<FfjordField<L, Batch<f64>>>,
    {
        let mut prob = self.problem(x, p, rng)?;
        let sol = prob.solve(self.core.method().clone(), &self.solve_options())?;
        let end = sol.u.last().ok_or_else(|| Error::InvalidOption {
            option: "saveat",
            reason: "the solve saved no state".into(),
        })?;
        Ok(self.read_end(end, sol.stats))
    }

    /// Splits final columns `[z; l; e; j]` into `log p(x)`, `z` and the regularisers.
    fn read_end(&self, end: &Batch<f64>, stats: Stats) -> FfjordOutput {
        let (n, nb) = (self.dim(), end.batch_size());
        let mut z = Batch::zeros(n, nb);
        let mut logpx = Vec::with_capacity(nb);
        let reg = self.weights.is_some();
        let (mut ke, mut fro) = (Vec::new(), Vec::new());
        for b in 0..nb {
            let col = end.column(b);
            z.column_mut(b).copy_from_slice(&col[..n]);
            logpx.push(self.base.log_pdf_unchecked(&col[..n]) - col[n]);
            if reg {
                ke.push(col[n + 1]);
                fro.push(col[n + 2]);
            }
        }
        FfjordOutput {
            logpx,
            z,
            kinetic: reg.then_some(ke),
            frobenius: reg.then_some(fro),
            stats,
        }
    }

    /// The loss `−mean log p(x) + λ₁ mean ∫‖f‖² + λ₂ mean ∫‖∂f/∂z‖²_F` over the samples `x` and
    /// its gradients with respect to the parameters and the samples, by the layer's sensitivity.
    pub fn loss_and_gradient(
        &self,
        x: &Batch<f64>,
        p: &[f64],
        rng: &mut Xoshiro256pp,
    ) -> Result<FfjordGradient, SolveError<Batch<f64>>>
    where
        M: MethodInfo,
        S: Sensitivity<FfjordField<L, Batch<f64>>, M>,
    {
        self.loss_and_gradient_with(self.core.sensitivity(), x, p, rng)
    }

    /// [`Ffjord::loss_and_gradient`] through another sensitivity method `sens`.
    pub fn loss_and_gradient_with<S2>(
        &self,
        sens: &S2,
        x: &Batch<f64>,
        p: &[f64],
        rng: &mut Xoshiro256pp,
    ) -> Result<FfjordGradient, SolveError<Batch<f64>>>
    where
        M: MethodInfo,
        S2: Sensitivity<FfjordField<L, Batch<f64>>, M>,
    {
        let mut prob = self.problem(x, p, rng)?;
        let (n, nb) = (self.dim(), x.batch_size());
        let m = augmented_features(n, self.weights.is_some());
        let (wk, wf) = self.weights.unwrap_or((0.0, 0.0));
        let inv = 1.0 / nb as f64;
        let (mut nll, mut ke, mut fro) = (0.0, 0.0, 0.0);
        let g = pullback(
            sens,
            &mut prob,
            self.core.method(),
            &self.solve_options(),
            |_t: &[f64], us: &[Batch<f64>]| {
                let mut ubar: Vec<Batch<f64>> =
                    us.iter().map(|u| Batch::zeros(m, u.batch_size())).collect();
                let (Some(end), Some(bar)) = (us.last(), ubar.last_mut()) else {
                    return (f64::NAN, ubar);
                };
                for b in 0..nb {
                    let col = end.column(b);
                    nll -= inv * (self.base.log_pdf_unchecked(&col[..n]) - col[n]);
                    let gb = bar.column_mut(b);
                    self.base.grad_log_pdf_to(&col[..n], &mut gb[..n]);
                    gb[..n].iter_mut().for_each(|v| *v *= -inv);
                    gb[n] = inv;
                    if m > n + 1 {
                        ke += inv * col[n + 1];
                        fro += inv * col[n + 2];
                        gb[n + 1] = wk * inv;
                        gb[n + 2] = wf * inv;
                    }
                }
                (nll + wk * ke + wf * fro, ubar)
            },
        )?;
        let mut dx = Batch::zeros(n, nb);
        for b in 0..nb {
            dx.column_mut(b).copy_from_slice(&g.du0.column(b)[..n]);
        }
        Ok(FfjordGradient {
            loss: g.loss,
            nll,
            kinetic: ke,
            frobenius: fro,
            dp: g.dp,
            dx,
            forward: g.forward,
            backward: g.backward,
        })
    }
}
