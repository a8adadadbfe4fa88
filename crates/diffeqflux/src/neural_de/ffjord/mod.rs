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

use super::{check_loss, NeuralDe, DEFAULT_FORWARD_MEMORY};
use crate::nn::Layer;
use field::augmented_features;
use sciml_core::{rng::Xoshiro256pp, Batch, Error, Real, SolveError, Stats};
use sciml_ode::{MethodInfo, OdeMethod, OdeProblem, SaveAt, SolveOptions};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};
use std::sync::Mutex;

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
/// The state, the parameters and the network run in the scalar `R`: `f64` from
/// [`Ffjord::new`], `f32` (or `f64`) from [`Ffjord::new_in`]. Losses are summed in `f64`.
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
pub struct Ffjord<L, M, S = DiscreteAdjoint, R: Real = f64> {
    core: NeuralDe<FfjordField<L, Batch<R>>, M, S, SolveOptions<R>>,
    base: DiagonalNormal,
    /// Loss weights of the kinetic energy and the Jacobian Frobenius norm (`None`: the
    /// regularisers are not integrated).
    weights: Option<(f64, f64)>,
    /// Parts the batch is split into for the field's evaluations (see [`Ffjord::batch_parts`]).
    parts: usize,
    /// Bytes of forward passes a gradient keeps for its reverse pass
    /// ([`Ffjord::forward_memory`]).
    memory: usize,
    /// The last gradient's field, whose scratch and kept passes the next one reuses (fresh
    /// buffers of that size would cost a page fault per page on every iteration).
    spare: Mutex<Option<FfjordField<L, Batch<R>>>>,
}

impl<L: Layer + Clone, M: Clone, S: Clone, R: Real> Clone for Ffjord<L, M, S, R> {
    fn clone(&self) -> Self {
        Ffjord {
            core: self.core.clone(),
            base: self.base.clone(),
            weights: self.weights,
            parts: self.parts,
            memory: self.memory,
            spare: Mutex::new(None),
        }
    }
}

/// What a forward solve of [`Ffjord`] gives, per sample, in the flow's scalar `R`.
#[derive(Clone, Debug)]
pub struct FfjordOutput<R: Real = f64> {
    /// `log p(x)` of each sample.
    pub logpx: Vec<R>,
    /// The samples mapped to the base space, `z(t1)`.
    pub z: Batch<R>,
    /// `∫ ‖f‖² dt` of each sample (when regularised).
    pub kinetic: Option<Vec<R>>,
    /// `∫ ‖∂f/∂z‖²_F dt` of each sample (its Hutchinson estimate with that trace), when
    /// regularised.
    pub frobenius: Option<Vec<R>>,
    /// Solve statistics.
    pub stats: Stats,
}

/// The loss of [`Ffjord::loss_and_gradient`] (summed in `f64`) and its gradients (in the
/// flow's scalar `R`).
#[derive(Clone, Debug)]
pub struct FfjordGradient<R: Real = f64> {
    /// `nll + λ₁ kinetic + λ₂ frobenius`.
    pub loss: f64,
    /// The mean negative log-likelihood, `−mean log p(x)`.
    pub nll: f64,
    /// The mean kinetic energy (zero unless regularised).
    pub kinetic: f64,
    /// The mean Jacobian Frobenius integral (zero unless regularised).
    pub frobenius: f64,
    /// `∂loss/∂p`.
    pub dp: Vec<R>,
    /// `∂loss/∂x` (`n × batch`).
    pub dx: Batch<R>,
    /// Forward solve statistics.
    pub forward: Stats,
    /// Backward pass statistics.
    pub backward: Stats,
}

impl<L: Layer + Clone, M> Ffjord<L, M> {
    /// A flow of `model` over `tspan` (`t0 < t1`) with `method`, in `f64`: exact trace, standard
    /// normal base, no regularisers, the discrete adjoint, tolerances `rtol = 1e-3`,
    /// `atol = 1e-6` (change them with the builder methods).
    pub fn new(model: L, tspan: (f64, f64), method: M) -> Result<Self, Error> {
        Self::new_in::<f64>(model, tspan, method)
    }

    /// [`Ffjord::new`] in the scalar `R`: `Ffjord::new_in::<f32>(...)` trains in single
    /// precision (state, parameters, network passes and adjoint), as the W5 workload's peers do.
    ///
    /// ```
    /// use diffeqflux::neural_de::Ffjord;
    /// use diffeqflux::nn::{Activation, Chain, Dense};
    /// use sciml_core::{rng::Xoshiro256pp, Batch};
    /// use sciml_ode::Tsit5;
    /// let model = Chain::new((Dense::new(2, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
    /// let flow = Ffjord::new_in::<f32>(model, (0.0, 1.0), Tsit5)?;
    /// let p: Vec<f32> = flow.init_params(0).iter().map(|&v| v as f32).collect();
    /// let x = Batch::new(2, 2, vec![0.1f32, 0.2, -0.3, 0.4])?;
    /// let g = flow.loss_and_gradient(&x, &p, &mut Xoshiro256pp::new(1))?;
    /// assert!(g.loss.is_finite());
    /// assert_eq!(g.dp.len(), p.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_in<R: Real>(
        model: L,
        tspan: (f64, f64),
        method: M,
    ) -> Result<Ffjord<L, M, DiscreteAdjoint, R>, Error> {
        if !(tspan.0.is_finite() && tspan.1.is_finite() && tspan.0 < tspan.1) {
            return Err(Error::InvalidSpan {
                t0: tspan.0,
                t1: tspan.1,
                reason: "a flow runs from the data at t0 to the base at t1 > t0 (sampling solves it backwards); give t0 < t1".into(),
            });
        }
        let field = FfjordField::new(model, 1, Trace::Exact, false)?;
        let base = DiagonalNormal::standard(field.dim());
        let opts = SolveOptions::default().saveat(SaveAt::Times(vec![R::c(tspan.1)]));
        Ok(Ffjord {
            core: NeuralDe::new(field, tspan, method, DiscreteAdjoint::default(), opts),
            base,
            weights: None,
            parts: 1,
            memory: DEFAULT_FORWARD_MEMORY,
            spare: Mutex::new(None),
        })
    }
}

impl<L: Layer + Clone, M, S, R: Real> Ffjord<L, M, S, R> {
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
    /// Evaluates the field in `parts` parts of the batch (at most one per sample), each with
    /// its own scratch: with the crate's `rayon` feature they run on rayon's pool, so one
    /// training iteration uses all cores ([`FfjordField::split_batch`]). Default 1.
    ///
    /// ```
    /// use diffeqflux::neural_de::Ffjord;
    /// use diffeqflux::nn::{Activation, Dense};
    /// use sciml_ode::Tsit5;
    /// let flow = Ffjord::new(Dense::new(2, 2, Activation::Tanh), (0.0, 1.0), Tsit5)?;
    /// assert!(flow.clone().batch_parts(0).is_err());
    /// let flow = flow.batch_parts(4)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch_parts(mut self, parts: usize) -> Result<Self, Error> {
        if parts == 0 {
            return Err(Error::InvalidOption {
                option: "batch_parts",
                reason: "the batch splits into at least 1 part".into(),
            });
        }
        self.parts = parts;
        Ok(self)
    }
    /// Bytes of the network's forward passes that a gradient keeps from its forward solve for
    /// its reverse pass ([`FfjordField::forward_memory`]; default
    /// [`DEFAULT_FORWARD_MEMORY`], 0 keeps none). With the discrete adjoint every VJP of the
    /// reverse sweep is at a point of the forward solve, and reading the kept pass saves about
    /// a third of its cost; the gradients are bitwise the same. Only the gradients
    /// ([`Ffjord::loss_and_gradient`]) keep passes; their buffers stay with the flow for the
    /// next gradient (fresh ones would cost a page fault per page every iteration) and go with
    /// it. When the passes need more than `bytes`, the reverse sweep repeats the oldest ones.
    /// A continuous adjoint evaluates its VJPs at other points: with one
    /// ([`Sensitivity::reads_forward_evaluations`] false) no pass is kept.
    ///
    /// ```
    /// use diffeqflux::neural_de::Ffjord;
    /// use diffeqflux::nn::{Activation, Dense};
    /// use sciml_ode::Tsit5;
    /// let flow = Ffjord::new(Dense::new(2, 2, Activation::Tanh), (0.0, 1.0), Tsit5)?.forward_memory(0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward_memory(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
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
    /// Relative and absolute tolerances of the solves (checked when a solve starts; rounded to
    /// `R`).
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        let opts = self
            .core
            .options()
            .clone()
            .tolerances(R::c(rtol), R::c(atol));
        *self.core.options_mut() = opts;
        self
    }
    /// The sensitivity method of the gradients (any [`Sensitivity`] for the batched field:
    /// `DiscreteAdjoint`, `InterpolatingAdjoint`, `BacksolveAdjoint`, `GaussAdjoint`, ...).
    pub fn sensitivity<S2>(self, sensitivity: S2) -> Ffjord<L, M, S2, R> {
        Ffjord {
            core: self.core.with_sensitivity(sensitivity),
            base: self.base,
            weights: self.weights,
            parts: self.parts,
            memory: self.memory,
            spare: Mutex::new(None),
        }
    }
    /// The solve's options (`maxiters`, `dtmax`, ...). The save times are the flow's own: every
    /// solve saves at `t1`, whatever is set here.
    pub fn options_mut(&mut self) -> &mut SolveOptions<R> {
        self.core.options_mut()
    }
    /// The shared core.
    pub fn core(&self) -> &NeuralDe<FfjordField<L, Batch<R>>, M, S, SolveOptions<R>> {
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
    fn solve_options(&self) -> SolveOptions<R> {
        let mut opts = self.core.options().clone();
        opts.saveat = SaveAt::Times(vec![R::c(self.core.tspan().1)]);
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
        x: &Batch<R>,
        p: &[R],
        rng: &mut Xoshiro256pp,
        memory: usize,
    ) -> Result<OdeProblem<FfjordField<L, Batch<R>>>, Error> {
        let n = self.dim();
        if x.features() != n {
            return Err(Error::DimensionMismatch {
                what: "features of the samples x (the flow's data dimension)".into(),
                expected: n,
                got: x.features(),
            });
        }
        if let Some(index) = x.as_ref().iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "the sample batch x".into(),
                index,
            });
        }
        let tmpl = self.core.field();
        let parts = self.parts.min(x.batch_size());
        // The field of the last gradient, when it fits (taken only then: a loss-only call
        // leaves a gradient's field to the next gradient).
        let fits = |f: &FfjordField<L, Batch<R>>| {
            f.batch() == x.batch_size()
                && f.part_len() == x.batch_size().div_ceil(parts)
                && f.trace() == tmpl.trace()
                && f.regularised() == tmpl.regularised()
                && f.memory() == memory
        };
        let spare = match self.spare.lock() {
            Ok(mut s) if s.as_ref().is_some_and(fits) => s.take(),
            _ => None,
        };
        let mut field = match spare {
            Some(mut f) => {
                f.forget_passes();
                f
            }
            None => FfjordField::new(
                self.model().clone(),
                x.batch_size(),
                tmpl.trace(),
                tmpl.regularised(),
            )?
            .split_batch(parts)?
            .forward_memory(memory),
        };
        field.draw_probes(rng);
        let m = field.features();
        let mut u0 = Batch::zeros(m, x.batch_size());
        for b in 0..x.batch_size() {
            u0.column_mut(b)[..n].copy_from_slice(x.column(b));
        }
        let (t0, t1) = self.core.tspan();
        OdeProblem::new(field, u0, (R::c(t0), R::c(t1)), p.to_vec())
    }

    /// `log p(x)` (and the regularisers' integrals) of each sample of `x` (`n × batch`).
    pub fn forward(
        &self,
        x: &Batch<R>,
        p: &[R],
        rng: &mut Xoshiro256pp,
    ) -> Result<FfjordOutput<R>, SolveError<Batch<R>>>
    where
        M: OdeMethod<FfjordField<L, Batch<R>>>,
    {
        let mut prob = self.problem(x, p, rng, 0)?;
        let sol = prob.solve(self.core.method().clone(), &self.solve_options())?;
        // The field's buffers for the next call, unless a gradient's are kept.
        if let Ok(mut spare) = self.spare.lock() {
            if spare.is_none() {
                *spare = Some(prob.into_parts().0);
            }
        }
        let end = sol.u.last().ok_or_else(|| Error::InvalidOption {
            option: "saveat",
            reason: "the solve saved no state".into(),
        })?;
        Ok(self.read_end(end, sol.stats))
    }

    /// Splits final columns `[z; l; e; j]` into `log p(x)`, `z` and the regularisers.
    fn read_end(&self, end: &Batch<R>, stats: Stats) -> FfjordOutput<R> {
        let (n, nb) = (self.dim(), end.batch_size());
        let mut z = Batch::zeros(n, nb);
        let mut logpx = Vec::with_capacity(nb);
        let reg = self.weights.is_some();
        let (mut ke, mut fro) = (Vec::new(), Vec::new());
        let mut z64 = vec![0.0; n];
        for b in 0..nb {
            let col = end.column(b);
            z.column_mut(b).copy_from_slice(&col[..n]);
            to_f64(&col[..n], &mut z64);
            logpx.push(R::c(self.base.log_pdf_unchecked(&z64)) - col[n]);
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
        x: &Batch<R>,
        p: &[R],
        rng: &mut Xoshiro256pp,
    ) -> Result<FfjordGradient<R>, SolveError<Batch<R>>>
    where
        M: MethodInfo,
        S: Sensitivity<FfjordField<L, Batch<R>>, M>,
    {
        self.loss_and_gradient_with(self.core.sensitivity(), x, p, rng)
    }

    /// [`Ffjord::loss_and_gradient`] through another sensitivity method `sens`.
    pub fn loss_and_gradient_with<S2>(
        &self,
        sens: &S2,
        x: &Batch<R>,
        p: &[R],
        rng: &mut Xoshiro256pp,
    ) -> Result<FfjordGradient<R>, SolveError<Batch<R>>>
    where
        M: MethodInfo,
        S2: Sensitivity<FfjordField<L, Batch<R>>, M>,
    {
        // Kept forward passes serve only a backward pass that replays the forward evaluations.
        let memory = if sens.reads_forward_evaluations() {
            self.memory
        } else {
            0
        };
        let mut prob = self.problem(x, p, rng, memory)?;
        let (n, nb) = (self.dim(), x.batch_size());
        let m = augmented_features(n, self.weights.is_some());
        let (wk, wf) = self.weights.unwrap_or((0.0, 0.0));
        let inv = 1.0 / nb as f64;
        let (mut nll, mut ke, mut fro) = (0.0, 0.0, 0.0);
        let method = self.core.method();
        let (sol, tape) = sens.forward(&mut prob, method, &self.solve_options())?;
        // Cotangents: zero at every saved state but the last (the flow saves only at t1).
        let mut ubar: Vec<Batch<R>> = sol
            .u
            .iter()
            .map(|u| Batch::zeros(m, u.batch_size()))
            .collect();
        let (Some(end), Some(bar)) = (sol.u.last(), ubar.last_mut()) else {
            return Err(Error::InvalidOption {
                option: "saveat",
                reason: "the solve saved no state".into(),
            }
            .into());
        };
        let (mut z64, mut g64) = (vec![0.0; n], vec![0.0; n]);
        for b in 0..nb {
            let col = end.column(b);
            to_f64(&col[..n], &mut z64);
            nll -= inv * (self.base.log_pdf_unchecked(&z64) - col[n].to_f64_lossy());
            self.base.grad_log_pdf_to(&z64, &mut g64);
            let gb = bar.column_mut(b);
            for (g, v) in gb[..n].iter_mut().zip(&g64) {
                *g = R::c(-inv * v);
            }
            gb[n] = R::c(inv);
            if m > n + 1 {
                ke += inv * col[n + 1].to_f64_lossy();
                fro += inv * col[n + 2].to_f64_lossy();
                gb[n + 1] = R::c(wk * inv);
                gb[n + 2] = R::c(wf * inv);
            }
        }
        let loss = check_loss(nll + wk * ke + wf * fro)?;
        let forward = sol.stats;
        let g = sens.backward(&mut prob, method, tape, &ubar)?;
        if let Ok(mut spare) = self.spare.lock() {
            *spare = Some(prob.into_parts().0);
        }
        let mut dx = Batch::zeros(n, nb);
        for b in 0..nb {
            dx.column_mut(b).copy_from_slice(&g.du0.column(b)[..n]);
        }
        Ok(FfjordGradient {
            loss,
            nll,
            kinetic: ke,
            frobenius: fro,
            dp: g.dp,
            dx,
            forward,
            backward: g.stats,
        })
    }
}

/// Copies values of the flow's scalar into `f64` (the base distribution works in `f64`).
fn to_f64<R: Real>(src: &[R], dst: &mut [f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f64_lossy();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Dense};
    use sciml_sensitivity::InterpolatingAdjoint;

    /// The memory of the field kept for the next call (`None`: no field kept).
    fn kept<L: Layer + Clone, M: Clone, S, R: Real>(f: &Ffjord<L, M, S, R>) -> Option<usize> {
        f.spare.lock().ok()?.as_ref().map(|f| f.memory())
    }

    /// A discrete adjoint's gradient keeps forward passes; a continuous adjoint's keeps none
    /// (it would read none); a loss-only call leaves a gradient's field to the next gradient.
    #[test]
    fn passes_are_kept_only_for_a_backward_pass_that_reads_them(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let x = Batch::new(2, 3, vec![0.1, -0.2, 0.5, 0.3, -0.4, 0.8])?;
        let flow = Ffjord::new(
            Dense::new(2, 2, Activation::Tanh),
            (0.0, 1.0),
            sciml_ode::Tsit5,
        )?;
        let p = flow.init_params(1);
        let mut rng = Xoshiro256pp::new(2);
        flow.loss_and_gradient(&x, &p, &mut rng)?;
        assert_eq!(kept(&flow), Some(DEFAULT_FORWARD_MEMORY));
        flow.forward(&x, &p, &mut rng)?;
        assert_eq!(kept(&flow), Some(DEFAULT_FORWARD_MEMORY));
        let flow = flow.sensitivity(InterpolatingAdjoint::default());
        flow.loss_and_gradient(&x, &p, &mut rng)?;
        assert_eq!(kept(&flow), Some(0));
        Ok(())
    }
}
