//! `NeuralCdde`: a neural delay differential equation, as DiffEqFlux's
//! `NeuralCDDE(model, tspan, hist, lags, alg)`. The network sees `[u(t); u(t−τ₁); …; u(t−τₖ)]`
//! and returns `u'(t)`; the history before `t0` is a constant or a function of time. Solved by
//! the method of steps (`sciml_dde`). Gradients by the sensitivity chosen with
//! [`NeuralCdde::with_sensitivity`]: forward mode ([`sciml_sensitivity::dde::DdeForwardDiff`],
//! one dual solve per state and parameter) or the discrete adjoint
//! ([`sciml_sensitivity::dde::DdeDiscreteAdjoint`], one backward sweep with the network's
//! reverse pass). A batch of `B` trajectories is one state of `B·n` values, sample after sample,
//! stepped together with one step size (as torchdiffeq and diffrax batch).

use super::memo::{PassMemo, DEFAULT_FORWARD_MEMORY};
use super::{LossGradient, TrajectoryLoss};
use crate::nn::{Input, Layer, LayerTape};
use sciml_core::{rng::Xoshiro256pp, Dual64, Error, Real, Scalar, Solution, Stats};
use sciml_dde::{DdeError, DdeField, DdeFunction, History, MethodOfSteps};
use sciml_ode::{OdeMethod, RkMethod, SaveAt, SolveOptions};
use sciml_sensitivity::dde::{
    DdeDiscreteAdjoint, DdeForwardDiff, DdeRealProblem, DdeVjp, DdeVjpArgs, DdeVjpBars, DualDde,
    ScalarHistory,
};
use std::sync::{Arc, Mutex};

/// Why a [`NeuralCdde`] could not be built or differentiated. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CddeError {
    /// The network's input is not `(1 + number of lags) ×` its output.
    #[error("the network takes {got} inputs; with {nlags} lags and {n} states it must take (1 + {nlags}) × {n} = {expected} ([u(t); u(t-τ1); ...])")]
    InputSize {
        /// `(1 + nlags) · n`.
        expected: usize,
        /// The network's input size.
        got: usize,
        /// The state's length (the network's output size).
        n: usize,
        /// The number of lags.
        nlags: usize,
    },
    /// No lags were given.
    #[error("a NeuralCdde needs at least one lag (without lags use NeuralOde)")]
    NoLags,
    /// A lag is not a positive finite number.
    #[error("lag {index} is {value}; lags must be finite and positive")]
    InvalidLag {
        /// Position in the list.
        index: usize,
        /// The value given.
        value: f64,
    },
    /// The history has a length other than the state's (or, for a batch, a whole number of
    /// states).
    #[error("the history gives {got} values at t = {t}; it must give {expected} (the network's output size), or one state per sample of a batch")]
    HistoryLength {
        /// The state's length.
        expected: usize,
        /// The length given.
        got: usize,
        /// Where it was evaluated.
        t: f64,
    },
    /// The start state's length is not a multiple of the network's output size.
    #[error(
        "u0 has {got} values; it must hold whole states of {n} values (B·{n} for a batch of B)"
    )]
    BatchLength {
        /// The length given.
        got: usize,
        /// The state's length (the network's output size).
        n: usize,
    },
    /// The history gives states for a batch of another size than `u0`'s.
    #[error("the history gives {got} values: one state of {n} values for every sample, or one per sample ({expected} for the {batch} samples of u0)")]
    BatchHistoryLength {
        /// `B·n`, for the batch `u0` holds.
        expected: usize,
        /// The history's length.
        got: usize,
        /// The state's length (the network's output size).
        n: usize,
        /// The number of samples in `u0`.
        batch: usize,
    },
    /// The loss is NaN or infinite.
    #[error("the loss is {0}; a finite loss is needed for a gradient")]
    NonFiniteLoss(f64),
    /// The loss returned a NaN or infinite cotangent.
    #[error("the loss's cotangent of saved state {save} is not finite at component {index}; a finite gradient of the loss is needed")]
    NonFiniteCotangent {
        /// Which saved state.
        save: usize,
        /// The first bad component.
        index: usize,
    },
    /// The delay equation could not be set up or solved.
    #[error(transparent)]
    Dde(#[from] DdeError<Vec<f64>>),
    /// The delay equation in a scalar other than `f64` (from [`NeuralCdde::new_in`]) could not be
    /// set up or solved; the message is `sciml_dde`'s.
    #[error("{0}")]
    DdeInScalar(String),
}

/// A history function of time, `u(t)` for `t < t0`.
pub type CddeHistoryFn = Arc<dyn Fn(f64) -> Vec<f64> + Send + Sync>;

/// The history of a [`NeuralCdde`] before `t0`. It does not depend on the network's parameters
/// (DiffEqFlux passes them to `hist(p, t)`, but its examples ignore them). It gives one state
/// (`n` values), the same for every sample of a batch, or one state per sample (`B·n` values,
/// sample after sample, for a `u0` of `B` samples).
#[derive(Clone)]
pub enum CddeHistory {
    /// The same state at every earlier time.
    Constant(Vec<f64>),
    /// `u(t)` as a function of `t`.
    Function(CddeHistoryFn),
}

impl CddeHistory {
    /// A history given by a function of time.
    pub fn function(h: impl Fn(f64) -> Vec<f64> + Send + Sync + 'static) -> Self {
        CddeHistory::Function(Arc::new(h))
    }
    fn at(&self, t: f64) -> Vec<f64> {
        match self {
            CddeHistory::Constant(u) => u.clone(),
            CddeHistory::Function(h) => h(t),
        }
    }
}

impl ScalarHistory for CddeHistory {
    fn eval<S: Scalar<Re = f64>>(&self, _p: &[S], t: f64, out: &mut [S]) {
        let h = self.at(t);
        if h.len() == out.len() {
            for (o, x) in out.iter_mut().zip(&h) {
                *o = S::cst(*x);
            }
        } else {
            // A wrong length during the solve ends it with `DdeError::HistoryNonFinite`.
            out.iter_mut().for_each(|o| *o = S::cst(f64::NAN));
        }
    }
    fn depends_on_params(&self) -> bool {
        false
    }
}

/// The layer's history for a whole batch (`out` holds whole states): one state repeated for
/// every sample, or one state per sample as given.
#[derive(Clone)]
struct TiledHistory {
    history: CddeHistory,
    n: usize,
}

impl TiledHistory {
    fn fill<S: Scalar>(&self, h: &[f64], out: &mut [S]) {
        if (h.len() == self.n && out.len() % self.n == 0) || h.len() == out.len() {
            for (o, x) in out.iter_mut().zip(h.iter().cycle()) {
                *o = S::cst(*x);
            }
        } else {
            // A wrong length during the solve ends it with `DdeError::HistoryNonFinite`.
            out.iter_mut().for_each(|o| *o = S::cst(f64::NAN));
        }
    }
}

impl ScalarHistory for TiledHistory {
    fn eval<S: Scalar<Re = f64>>(&self, _p: &[S], t: f64, out: &mut [S]) {
        match &self.history {
            // Read in place: the adjoint reads the history once per stage before t0 + lag.
            CddeHistory::Constant(u) => self.fill(u, out),
            CddeHistory::Function(h) => self.fill(&h(t), out),
        }
    }
    fn eval_real<R: Real>(&self, _p: &[R], t: R, out: &mut [R]) {
        match &self.history {
            CddeHistory::Constant(u) => self.fill(u, out),
            CddeHistory::Function(h) => self.fill(&h(t.to_f64_lossy()), out),
        }
    }
    fn depends_on_params(&self) -> bool {
        false
    }
}

/// Which gradient [`NeuralCdde::loss_and_gradient`] computes; both are exact for the computed
/// solution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CddeSensitivity {
    /// Dual numbers through the solve: one solve per state component and parameter (cheap for
    /// few parameters; the solve's own steps).
    #[default]
    ForwardDiff,
    /// The discrete adjoint: one forward solve with steps capped at the smallest lag, then one
    /// backward sweep through the network's reverse pass (cheap for many parameters).
    DiscreteAdjoint,
}

/// The right-hand side of a [`NeuralCdde`]: `u' = model([u(t); u(t−τ₁); …]; p)`, over any scalar
/// (`f32`, `f64`, dual numbers).
/// A batch of `B` samples is one state of `B·n` values, sample after sample.
pub struct CddeField<L, S: Scalar> {
    model: L,
    n: usize,
    batch: usize,
    lags: Vec<f64>,
    /// The lags in the scalar's real type (time's type).
    lags_re: Vec<S::Re>,
    x: Vec<S>,
    xbar: Vec<S>,
    ws: Vec<S>,
    /// The network's forward passes, shared by the clones a discrete adjoint makes (its forward
    /// solve's and its reverse sweep's): the output and the layers' tape per evaluation, keyed by
    /// the network's input ([`NeuralCdde::forward_memory`]).
    passes: Option<Arc<Mutex<PassMemo<S>>>>,
}

impl<L: Layer + Clone, S: Scalar> CddeField<L, S> {
    fn build(model: &L, lags: &[f64], batch: usize) -> Self {
        let n = model.out_dim();
        let inputs = n * (1 + lags.len()) * batch;
        CddeField {
            model: model.clone(),
            n,
            batch,
            lags: lags.to_vec(),
            lags_re: lags.iter().map(|l| <S::Re as Real>::c(*l)).collect(),
            x: vec![S::cst(0.0); inputs],
            xbar: vec![S::cst(0.0); inputs],
            ws: vec![S::cst(0.0); model.workspace_len(batch)],
            passes: None,
        }
    }

    /// Scalars of one kept pass: the output and the layers' tape.
    fn record_len(model: &L, batch: usize) -> usize {
        model.out_dim() * batch + model.tape_len(batch)
    }
}

impl<L, S: Scalar> CddeField<L, S> {
    /// Places the state in the network's input `[u; u(t−τ₁); …]`, per sample.
    fn put_state(&mut self, u: &[S]) {
        let (n, width) = (self.n, self.n * (1 + self.lags.len()));
        for (col, ub) in self.x.chunks_exact_mut(width).zip(u.chunks_exact(n)) {
            col[..n].copy_from_slice(ub);
        }
    }
    /// Places the read at lag `k` in the network's input, per sample.
    fn put_read(&mut self, k: usize, past: &[S]) {
        let (n, width) = (self.n, self.n * (1 + self.lags.len()));
        for (col, hb) in self.x.chunks_exact_mut(width).zip(past.chunks_exact(n)) {
            col[(k + 1) * n..(k + 2) * n].copy_from_slice(hb);
        }
    }
}

impl<L: Layer + Clone, S: Scalar> Clone for CddeField<L, S> {
    /// Fresh scratch; the kept forward passes are shared.
    fn clone(&self) -> Self {
        CddeField {
            passes: self.passes.clone(),
            ..CddeField::build(&self.model, &self.lags, self.batch)
        }
    }
}

impl<L: Layer, S: Scalar> DdeFunction for CddeField<L, S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (self.n * self.batch, self.model.nparams())
    }
    fn rhs(
        &mut self,
        du: &mut Vec<S>,
        u: &Vec<S>,
        h: &mut History<'_, Vec<S>, Vec<S>>,
        p: &Vec<S>,
        t: S::Re,
    ) {
        self.put_state(u);
        for k in 0..self.lags_re.len() {
            let past = h.value(t - self.lags_re[k]);
            self.put_read(k, past);
        }
        let inp = Input {
            x: &self.x,
            batch: self.batch,
            p,
        };
        match self.passes.as_ref().map(|m| m.lock()) {
            Some(Ok(mut memo)) if memo.enabled() => {
                // The same pass, recorded for a VJP at this point.
                let (model, ws) = (&self.model, &mut self.ws);
                memo.record(t, &self.x, p, |rec| {
                    let (y, tape) = rec.split_at_mut(du.len());
                    model.forward_tape(inp, y, tape, ws);
                    du.copy_from_slice(y);
                });
            }
            _ => self.model.forward(inp, du, &mut self.ws),
        }
    }
}

impl<L, S: Scalar> CddeField<L, S> {
    /// The reads `rhs` makes, in its order: one per lag, at times that do not depend on `u`.
    fn read_lags(&self, h: &mut History<'_, Vec<S>, Vec<S>>, t: S::Re) {
        for lag in &self.lags_re {
            h.value(t - *lag);
        }
    }
}

impl<L: Layer + Clone> DualDde for CddeField<L, f64> {
    type Dual = CddeField<L, Dual64>;
    fn to_dual(&self) -> CddeField<L, Dual64> {
        CddeField::build(&self.model, &self.lags, self.batch)
    }
}

/// The network's reverse pass: one evaluation per VJP, whatever the number of parameters.
impl<L: Layer + Clone, R: Real> DdeVjp<R> for CddeField<L, R> {
    fn vjp(&mut self, a: DdeVjpArgs<'_, R>, b: DdeVjpBars<'_, R>) -> Result<(), Error> {
        if a.reads.len() != self.lags.len() {
            return Err(Error::DimensionMismatch {
                what: "history reads of a NeuralCdde field (one per lag)".into(),
                expected: self.lags.len(),
                got: a.reads.len(),
            });
        }
        self.put_state(a.u);
        for (k, r) in a.reads.iter().enumerate() {
            self.put_read(k, r);
        }
        let inp = Input {
            x: &self.x,
            batch: self.batch,
            p: a.p,
        };
        let mut memo = self.passes.as_ref().and_then(|m| m.lock().ok());
        match memo.as_mut().and_then(|m| m.find(a.t, &self.x, a.p)) {
            Some(rec) => {
                let (y, saved) = rec.split_at(a.v.len());
                let tape = LayerTape { y, saved };
                let (xbar, ws) = (&mut self.xbar, &mut self.ws);
                self.model.backward(inp, tape, a.v, xbar, b.pbar, ws);
            }
            None => self
                .model
                .vjp(inp, a.v, &mut self.xbar, b.pbar, &mut self.ws),
        }
        drop(memo);
        let (n, width) = (self.n, self.n * (1 + self.lags.len()));
        for (s, col) in self.xbar.chunks_exact(width).enumerate() {
            for (x, y) in b.ubar[s * n..(s + 1) * n].iter_mut().zip(&col[..n]) {
                *x += *y;
            }
            for (k, hb) in b.hbar.iter_mut().enumerate() {
                let part = &col[(k + 1) * n..(k + 2) * n];
                for (x, y) in hb[s * n..(s + 1) * n].iter_mut().zip(part) {
                    *x += *y;
                }
            }
        }
        Ok(())
    }

    /// The lags are constant: the reads need no network evaluation.
    fn replay_reads(
        &mut self,
        _du: &mut Vec<R>,
        _u: &Vec<R>,
        h: &mut History<'_, Vec<R>, Vec<R>>,
        _p: &Vec<R>,
        t: R,
    ) -> bool {
        self.read_lags(h, t);
        false
    }
}

/// A neural delay differential equation: `u'(t) = model([u(t); u(t−τ₁); …; u(t−τₖ)]; p)` on
/// `tspan`, with a history before `t0`, saved at `saveat`, solved by the method of steps around
/// `method`. Gradients are exact for the computed solution, by the [`CddeSensitivity`] chosen
/// with [`NeuralCdde::with_sensitivity`]: forward mode (the default; `n + np` dual solves, for
/// small networks) or the discrete adjoint (one backward sweep; `method` must then be an
/// explicit Runge–Kutta method, and its steps are capped at the smallest lag).
///
/// A batch: `u0` of `B·n` values (sample after sample) solves `B` trajectories as one system
/// with one step size; the saved states then hold `B·n` values too, and `du0` has one block
/// per sample. The history is the same for every sample, or one per sample
/// ([`CddeHistory`] of `B·n` values).
///
/// ```
/// use diffeqflux::nn::{Activation, Chain, Dense};
/// use diffeqflux::neural_de::{CddeHistory, NeuralCdde};
/// use sciml_ode::Tsit5;
/// // Two states, lags 0.1 and 0.2: the network sees 6 values.
/// let model = Chain::new((Dense::new(6, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
/// let cdde = NeuralCdde::new(model, (0.0, 1.0), CddeHistory::Constant(vec![1.0, 0.0]),
///     vec![0.1, 0.2], Tsit5, vec![0.5, 1.0])?;
/// let p = cdde.init_params(0);
/// let g = cdde.loss_and_gradient(&[1.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
///     (us.iter().flatten().map(|x| x * x).sum(), us.iter().map(|u| u.iter().map(|x| 2.0 * x).collect()).collect())
/// })?;
/// assert_eq!(g.dp.len(), p.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NeuralCdde<L, M, R: Real = f64> {
    field: CddeField<L, R>,
    tspan: (f64, f64),
    history: CddeHistory,
    alg: MethodOfSteps<M>,
    opts: SolveOptions<R>,
    sensitivity: CddeSensitivity,
    /// Bytes of forward passes the discrete adjoint keeps ([`NeuralCdde::forward_memory`]).
    memory: usize,
    /// The passes, kept from one gradient to the next for their buffers.
    passes: Arc<Mutex<PassMemo<R>>>,
}

/// What [`NeuralCdde::adjoint_loss_and_gradient`] returns, in the layer's scalar `R`.
#[derive(Clone, Debug)]
pub struct CddeLossGradient<R> {
    /// The loss.
    pub loss: f64,
    /// `∂loss/∂u0`.
    pub du0: Vec<R>,
    /// `∂loss/∂p`.
    pub dp: Vec<R>,
    /// Forward solve statistics.
    pub forward: Stats,
    /// Backward pass statistics.
    pub backward: Stats,
}

impl<L: Layer + Clone, M: Clone> NeuralCdde<L, M> {
    /// The layer `model` on `tspan` with `history` before `tspan.0`, constant `lags`, the ODE
    /// method `method` (wrapped in the method of steps) and the save times `saveat` (empty:
    /// every step). The network must map `(1 + lags.len()) · n` inputs to `n` outputs.
    pub fn new(
        model: L,
        tspan: (f64, f64),
        history: CddeHistory,
        lags: Vec<f64>,
        method: M,
        saveat: Vec<f64>,
    ) -> Result<Self, CddeError> {
        Self::new_in::<f64>(model, tspan, history, lags, method, saveat)
    }

    /// [`NeuralCdde::new`] in the real scalar `R`: `NeuralCdde::new_in::<f32>(...)` solves and
    /// differentiates in single precision (state, parameters, time, network passes and the
    /// discrete adjoint), as PyTorch peers do; train it with
    /// [`NeuralCdde::adjoint_loss_and_gradient`]. The span, lags, history and save times are
    /// given in `f64` and rounded to `R`.
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense};
    /// use diffeqflux::neural_de::{CddeHistory, NeuralCdde};
    /// use sciml_ode::Rk4;
    /// let model = Chain::new((Dense::new(4, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
    /// let mut cdde = NeuralCdde::new_in::<f32>(model, (0.0, 1.0), CddeHistory::Constant(vec![1.0, 0.0]),
    ///     vec![0.5], Rk4, vec![1.0])?;
    /// cdde.options_mut().dt = Some(0.1);
    /// let p: Vec<f32> = cdde.init_params(0).iter().map(|x| *x as f32).collect();
    /// let g = cdde.adjoint_loss_and_gradient(&[1.0, 0.0], &p, |_t: &[f32], us: &[Vec<f32>]| {
    ///     let loss = us.iter().flatten().map(|x| f64::from(x * x)).sum();
    ///     (loss, us.iter().map(|u| u.iter().map(|x| 2.0 * x).collect()).collect())
    /// })?;
    /// assert_eq!(g.dp.len(), p.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_in<R: Real>(
        model: L,
        tspan: (f64, f64),
        history: CddeHistory,
        lags: Vec<f64>,
        method: M,
        saveat: Vec<f64>,
    ) -> Result<NeuralCdde<L, M, R>, CddeError> {
        if lags.is_empty() {
            return Err(CddeError::NoLags);
        }
        if let Some((index, &value)) = lags
            .iter()
            .enumerate()
            .find(|(_, l)| !(l.is_finite() && **l > 0.0))
        {
            return Err(CddeError::InvalidLag { index, value });
        }
        let n = model.out_dim();
        let expected = n * (1 + lags.len());
        if model.in_dim() != expected {
            return Err(CddeError::InputSize {
                expected,
                got: model.in_dim(),
                n,
                nlags: lags.len(),
            });
        }
        let largest = lags.iter().copied().fold(0.0, f64::max);
        for t in [tspan.0 - largest, tspan.0] {
            let got = history.at(t).len();
            // One state, or whole states for a batch (its size is checked against `u0`'s).
            if got == 0 || got.checked_rem(n) != Some(0) {
                return Err(CddeError::HistoryLength {
                    expected: n,
                    got,
                    t,
                });
            }
        }
        let mut opts = SolveOptions::<R>::default();
        if !saveat.is_empty() {
            opts = opts.saveat(SaveAt::Times(saveat.iter().map(|t| R::c(*t)).collect()));
        }
        Ok(NeuralCdde {
            field: CddeField::build(&model, &lags, 1),
            tspan,
            history,
            alg: MethodOfSteps::new(method),
            opts,
            sensitivity: CddeSensitivity::default(),
            memory: DEFAULT_FORWARD_MEMORY,
            passes: Arc::new(Mutex::new(PassMemo::new(0, 0, 0))),
        })
    }
}

impl<L: Layer + Clone, M: Clone, R: Real> NeuralCdde<L, M, R> {
    /// Sets the solve's tolerances.
    pub fn tolerances(mut self, rtol: R, atol: R) -> Self {
        self.opts = self.opts.tolerances(rtol, atol);
        self
    }
    /// The same layer differentiated by `sensitivity`.
    pub fn with_sensitivity(mut self, sensitivity: CddeSensitivity) -> Self {
        self.sensitivity = sensitivity;
        self
    }
    /// Bytes of the network's forward passes that the discrete adjoint
    /// ([`NeuralCdde::adjoint_loss_and_gradient`], and [`NeuralCdde::loss_and_gradient`] with
    /// [`CddeSensitivity::DiscreteAdjoint`]) keeps from its forward solve for its reverse
    /// sweep (default [`DEFAULT_FORWARD_MEMORY`], 0 keeps none): every VJP of the sweep is at a
    /// stage of the forward solve, and with the pass kept it runs only the network's reverse
    /// pass. A pass is read only where time, the network's input and the parameters equal the
    /// evaluation's, so the gradients are bitwise the same; when the passes need more memory,
    /// the oldest are dropped and repeated. The buffers stay with the layer for the next
    /// gradient.
    ///
    /// ```
    /// use diffeqflux::neural_de::{CddeHistory, NeuralCdde};
    /// use diffeqflux::nn::{Activation, Dense};
    /// use sciml_ode::Tsit5;
    /// let net = Dense::new(2, 1, Activation::Tanh);
    /// let hist = CddeHistory::Constant(vec![1.0]);
    /// let layer = NeuralCdde::new(net, (0.0, 1.0), hist, vec![0.5], Tsit5, vec![1.0])?;
    /// let sq = |_t: &[f64], us: &[Vec<f64>]| (us[0][0] * us[0][0], vec![vec![2.0 * us[0][0]]]);
    /// let p = layer.init_params(0);
    /// let g = layer.adjoint_loss_and_gradient(&[1.0], &p, sq)?;
    /// // Dense is one layer, whose pass `NeuralCdde` keeps: every VJP but at most one read one.
    /// assert!(layer.forward_reuses() + 1 >= g.backward.nf);
    /// let repeated = layer.forward_memory(0);
    /// assert_eq!(repeated.adjoint_loss_and_gradient(&[1.0], &p, sq)?.dp, g.dp);
    /// assert_eq!(repeated.forward_reuses(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward_memory(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
    }
    /// The field for `batch` samples, keeping its forward passes for a discrete adjoint when
    /// `keep_passes`.
    fn field_for(&self, batch: usize, keep_passes: bool) -> CddeField<L, R> {
        let mut field = CddeField::build(&self.field.model, &self.field.lags, batch);
        if keep_passes {
            field.passes = self.kept_passes(batch);
        }
        field
    }
    /// The memo of forward passes for a discrete adjoint over `batch` samples, emptied (none
    /// when [`NeuralCdde::forward_memory`] is 0).
    fn kept_passes(&self, batch: usize) -> Option<Arc<Mutex<PassMemo<R>>>> {
        let mut memo = self.passes.lock().ok()?;
        if self.memory == 0 {
            memo.forget();
            return None;
        }
        let len = CddeField::<L, R>::record_len(&self.field.model, batch);
        let key_len = self.field.x.len() / self.field.batch * batch;
        if memo.fits(self.memory, len, key_len) {
            memo.forget();
        } else {
            *memo = PassMemo::new(self.memory, len, key_len);
        }
        Some(self.passes.clone())
    }
    /// How many VJPs of the latest discrete-adjoint gradient read a kept
    /// forward pass ([`NeuralCdde::forward_memory`]).
    pub fn forward_reuses(&self) -> usize {
        self.passes.lock().map_or(0, |m| m.hits())
    }
    /// The sensitivity [`NeuralCdde::loss_and_gradient`] uses.
    pub fn sensitivity(&self) -> CddeSensitivity {
        self.sensitivity
    }
    /// The solve's options (tolerances, saves, step limits).
    pub fn options_mut(&mut self) -> &mut SolveOptions<R> {
        &mut self.opts
    }
    /// The model.
    pub fn model(&self) -> &L {
        &self.field.model
    }
    /// The lags.
    pub fn lags(&self) -> &[f64] {
        &self.field.lags
    }
    /// Initial parameters drawn from `seed` by the layers' initialisers.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut p = vec![0.0; self.field.model.nparams()];
        self.field
            .model
            .init_params(&mut Xoshiro256pp::new(seed), &mut p);
        p
    }

    /// Checks `u0` against the network's output size and the history's batch.
    fn check_batch(&self, u0_len: usize) -> Result<(), CddeError> {
        let n = self.field.n;
        if u0_len == 0 || u0_len % n != 0 {
            return Err(CddeError::BatchLength { got: u0_len, n });
        }
        let got = self.history.at(self.tspan.0).len();
        if got != n && got != u0_len {
            return Err(CddeError::BatchHistoryLength {
                expected: u0_len,
                got,
                n,
                batch: u0_len / n,
            });
        }
        Ok(())
    }

    /// The loss and its gradients by the discrete adjoint, in the layer's scalar `R` whatever
    /// [`NeuralCdde::sensitivity`] says (forward mode is `f64` only): `loss(t, us)` returns the
    /// value (in `f64`) and its cotangents of the saved states. `method` must be an explicit
    /// Runge–Kutta method; its steps are capped at the smallest lag.
    pub fn adjoint_loss_and_gradient<C>(
        &self,
        u0: &[R],
        p: &[R],
        mut loss: impl FnMut(&[R], &[Vec<R>]) -> (f64, Vec<Vec<R>>),
    ) -> Result<CddeLossGradient<R>, CddeError>
    where
        M: RkMethod + for<'h> OdeMethod<DdeField<'h, CddeField<L, R>>, Cache = C>,
        C: Clone + Send,
    {
        self.check_batch(u0.len())?;
        let n = self.field.n;
        let history = TiledHistory {
            history: self.history.clone(),
            n,
        };
        let fail = |e: DdeError<Vec<R>>| CddeError::DdeInScalar(e.to_string());
        let prob = DdeRealProblem::new(
            self.field_for(u0.len() / n, true),
            u0.to_vec(),
            p.to_vec(),
            history,
            (R::c(self.tspan.0), R::c(self.tspan.1)),
            self.field.lags_re.clone(),
        )
        .map_err(fail)?;
        let adjoint = DdeDiscreteAdjoint;
        let (sol, tape) = adjoint
            .forward(&prob, &self.alg, &self.opts)
            .map_err(fail)?;
        let (value, ubar) = loss(&sol.t, &sol.u);
        if !value.is_finite() {
            return Err(CddeError::NonFiniteLoss(value));
        }
        check_cotangents(&ubar)?;
        let g = adjoint
            .backward(&prob, &self.alg, &tape, &ubar)
            .map_err(fail)?;
        Ok(CddeLossGradient {
            loss: value,
            du0: g.du0,
            dp: g.dp,
            forward: sol.stats,
            backward: g.stats,
        })
    }
}

impl<L: Layer + Clone, M: Clone> NeuralCdde<L, M> {
    fn problem(
        &self,
        u0: &[f64],
        p: &[f64],
        keep_passes: bool,
    ) -> Result<DdeForwardDiff<CddeField<L, f64>, TiledHistory>, CddeError> {
        let n = self.field.n;
        self.check_batch(u0.len())?;
        let history = TiledHistory {
            history: self.history.clone(),
            n,
        };
        Ok(DdeForwardDiff::new(
            self.field_for(u0.len() / n, keep_passes),
            u0.to_vec(),
            p.to_vec(),
            history,
            self.tspan,
            self.field.lags.clone(),
        )?)
    }

    /// The trajectory at the save times (`u0` of `B·n` values: a batch of `B`).
    pub fn solve<C>(&self, u0: &[f64], p: &[f64]) -> Result<Solution<Vec<f64>>, CddeError>
    where
        M: for<'h> OdeMethod<DdeField<'h, CddeField<L, f64>>, Cache = C>,
        C: Clone + Send,
    {
        Ok(self.problem(u0, p, false)?.solve(&self.alg, &self.opts)?)
    }

    /// The loss on the trajectory (`loss(t, us)` returns the value and its cotangents of the
    /// saved states) and its gradients with respect to `u0` and `p`, by the layer's
    /// [`CddeSensitivity`].
    pub fn loss_and_gradient<C, CD>(
        &self,
        u0: &[f64],
        p: &[f64],
        mut loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, CddeError>
    where
        M: RkMethod
            + for<'h> OdeMethod<DdeField<'h, CddeField<L, f64>>, Cache = C>
            + for<'h> OdeMethod<DdeField<'h, CddeField<L, Dual64>>, Cache = CD>,
        C: Clone + Send,
        CD: Clone + Send,
    {
        let keep = self.sensitivity == CddeSensitivity::DiscreteAdjoint;
        let prob = self.problem(u0, p, keep)?;
        let adjoint = DdeDiscreteAdjoint;
        let (sol, tape) = match self.sensitivity {
            CddeSensitivity::ForwardDiff => (prob.solve(&self.alg, &self.opts)?, None),
            CddeSensitivity::DiscreteAdjoint => {
                let (sol, tape) = adjoint.forward(&prob, &self.alg, &self.opts)?;
                (sol, Some(tape))
            }
        };
        let (value, ubar) = loss(&sol.t, &sol.u);
        if !value.is_finite() {
            return Err(CddeError::NonFiniteLoss(value));
        }
        check_cotangents(&ubar)?;
        let g = match &tape {
            None => prob.gradient(&self.alg, &self.opts, &ubar)?,
            Some(tape) => adjoint.backward(&prob, &self.alg, tape, &ubar)?,
        };
        Ok(LossGradient {
            loss: value,
            du0: g.du0,
            dp: g.dp,
            forward: sol.stats,
            backward: g.stats,
        })
    }
}

/// Every cotangent the loss returned is finite (their count and lengths are checked by the
/// solvers' pullbacks).
fn check_cotangents<R: Real>(ubar: &[Vec<R>]) -> Result<(), CddeError> {
    for (save, b) in ubar.iter().enumerate() {
        if let Some(index) = b.iter().position(|x| !x.is_finite()) {
            return Err(CddeError::NonFiniteCotangent { save, index });
        }
    }
    Ok(())
}
