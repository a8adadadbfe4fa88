//! Neural SDE layers: `du = drift(u; p_f) dt + diffusion(u; p_g) dW`, with a drift network and a
//! diffusion network sharing one flat parameter vector `p = [p_f; p_g]`.
//!
//! - [`NeuralDsde`]: diagonal noise, the diffusion network maps `u` to a vector of `u`'s shape.
//! - [`NeuralSde`]: general noise with `m` Brownian motions per sample, the diffusion network
//!   maps `u` (n values) to an `n × m` matrix (n·m outputs, row-major).
//!
//! A batch of `B` samples is solved as one state of `n · B` values (features × batch,
//! column-major, the layout of the [`crate::nn`] layers), so every network call is one batched
//! evaluation; each sample has its own Brownian motions. Gradients come from the discrete
//! adjoint of `sciml_sde` (Euler–Maruyama or Euler–Heun) with the layers' VJPs.

use crate::nn::{layer_hvp, Input, Layer, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Error, Real, Solution};
use sciml_sde::adjoint::{discrete_adjoint, BacksolveAdjoint, InterpolatingAdjoint};
use sciml_sde::{
    solve, ItoCorrection, Method, Noise, SdeError, SdeFunction, SdeOptions, SdeProblem, SdeVjp,
};

/// The drift and diffusion networks as an SDE system over a batch (used by [`NeuralDsde`] and
/// [`NeuralSde`]; public so it can be solved with any `sciml_sde` method).
pub struct NeuralSdeSystem<D, G, R> {
    drift: D,
    diffusion: G,
    n: usize,
    m: Option<usize>,
    batch: usize,
    nd: usize,
    ws_d: Vec<R>,
    ws_g: Vec<R>,
    xbar: Vec<R>,
    /// Drift tapes recorded for the discrete adjoint (see `SdeVjp::record_drift`): a stack of
    /// `count` records of the drift output and the layer's tape.
    recording: bool,
    tapes: Vec<R>,
    count: usize,
}

impl<D: Layer + Clone, G: Layer + Clone, R: Real> Clone for NeuralSdeSystem<D, G, R> {
    fn clone(&self) -> Self {
        NeuralSdeSystem {
            drift: self.drift.clone(),
            diffusion: self.diffusion.clone(),
            n: self.n,
            m: self.m,
            batch: self.batch,
            nd: self.nd,
            ws_d: self.ws_d.clone(),
            ws_g: self.ws_g.clone(),
            xbar: self.xbar.clone(),
            recording: false,
            tapes: Vec::new(),
            count: 0,
        }
    }
}

impl<D: Layer, G: Layer, R: Real> NeuralSdeSystem<D, G, R> {
    fn new(drift: D, diffusion: G, m: Option<usize>, batch: usize) -> Self {
        let n = drift.in_dim();
        let nd = drift.nparams();
        NeuralSdeSystem {
            ws_d: vec![R::zero(); drift.workspace_len(batch)],
            ws_g: vec![R::zero(); diffusion.workspace_len(batch)],
            xbar: vec![R::zero(); n * batch],
            recording: false,
            tapes: Vec::new(),
            count: 0,
            drift,
            diffusion,
            n,
            m,
            batch,
            nd,
        }
    }
}

impl<D: Layer, G: Layer, R: Real> SdeFunction<R> for NeuralSdeSystem<D, G, R> {
    fn dims(&self) -> (usize, usize) {
        (self.n * self.batch, self.nd + self.diffusion.nparams())
    }
    fn noise(&self) -> Noise {
        match self.m {
            None => Noise::Diagonal,
            Some(m) => Noise::Batched {
                m,
                batch: self.batch,
            },
        }
    }
    fn drift(&mut self, _t: R, u: &[R], p: &[R], du: &mut [R]) {
        let inp = Input {
            x: u,
            batch: self.batch,
            p: &p[..self.nd],
        };
        if self.recording {
            let (ny, nt) = (du.len(), self.drift.tape_len(self.batch));
            let start = self.count * (ny + nt);
            self.tapes.resize(start + ny + nt, R::zero());
            let (y, tape) = self.tapes[start..].split_at_mut(ny);
            self.drift.forward_tape(inp, y, tape, &mut self.ws_d);
            du.copy_from_slice(y);
            self.count += 1;
        } else {
            self.drift.forward(inp, du, &mut self.ws_d);
        }
    }
    fn diffusion(&mut self, _t: R, u: &[R], p: &[R], g: &mut [R]) {
        let inp = Input {
            x: u,
            batch: self.batch,
            p: &p[self.nd..],
        };
        self.diffusion.forward(inp, g, &mut self.ws_g);
    }
}

impl<D: Layer, G: Layer, R: Real> SdeVjp<R> for NeuralSdeSystem<D, G, R> {
    fn drift_vjp(&mut self, _t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        let inp = Input {
            x: u,
            batch: self.batch,
            p: &p[..self.nd],
        };
        if self.recording && self.count > 0 {
            // The adjoint asks in reverse order of the recorded drift calls.
            self.count -= 1;
            let (ny, nt) = (w.len(), self.drift.tape_len(self.batch));
            let start = self.count * (ny + nt);
            let (y, saved) = self.tapes[start..start + ny + nt].split_at(ny);
            self.drift.backward(
                inp,
                LayerTape { y, saved },
                w,
                &mut self.xbar,
                &mut gp[..self.nd],
                &mut self.ws_d,
            );
        } else {
            self.drift
                .vjp(inp, w, &mut self.xbar, &mut gp[..self.nd], &mut self.ws_d);
        }
        for (g, x) in gu.iter_mut().zip(&self.xbar) {
            *g += *x;
        }
    }
    fn diffusion_vjp(&mut self, _t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        let inp = Input {
            x: u,
            batch: self.batch,
            p: &p[self.nd..],
        };
        self.diffusion
            .vjp(inp, w, &mut self.xbar, &mut gp[self.nd..], &mut self.ws_g);
        for (g, x) in gu.iter_mut().zip(&self.xbar) {
            *g += *x;
        }
    }
    fn record_drift(&mut self, steps: Option<usize>) {
        self.recording = steps.is_some();
        self.count = 0;
        self.tapes = Vec::new();
        if let Some(k) = steps {
            let rec = self.n * self.batch + self.drift.tape_len(self.batch);
            self.tapes.reserve_exact(k * rec);
        }
    }
}

impl<D: Layer, G: Layer, R: Real> NeuralSdeSystem<D, G, R> {
    fn diffusion_input<'a>(&self, u: &'a [R], p: &'a [R]) -> Input<'a, R> {
        Input {
            x: u,
            batch: self.batch,
            p: &p[self.nd..],
        }
    }

    /// `g(u)` and `(∂g/∂u) xdot`, batched.
    fn diffusion_jvp(&mut self, u: &[R], p: &[R], xdot: &[R], g: &mut [R], gdot: &mut [R]) {
        let inp = self.diffusion_input(u, p);
        self.diffusion.jvp(inp, xdot, None, g, gdot, &mut self.ws_g);
    }

    /// `gu += ∇_u (wᵀ (∂g/∂u) v)`, `gp += ∇_p (wᵀ (∂g/∂u) v)`: the diffusion's VJP in dual numbers
    /// with the input seeded `u + εv` (forward over reverse).
    #[allow(clippy::too_many_arguments)]
    fn diffusion_hvp(&self, u: &[R], p: &[R], w: &[R], v: &[R], gu: &mut [R], gp: &mut [R]) {
        let (nd, batch) = (self.nd, self.batch);
        layer_hvp(&self.diffusion, batch, u, &p[nd..], w, v, gu, &mut gp[nd..]);
    }

    /// Diagonal noise: `g` and `D_i = ∂g_i/∂u_i` for every sample, one batched JVP per state
    /// component (the samples are independent, so one seed per component serves the batch).
    fn diagonal_derivative(&mut self, u: &[R], p: &[R]) -> (Vec<R>, Vec<R>) {
        let (n, len) = (self.n, u.len());
        let (mut g, mut gdot, mut e) = (
            vec![R::zero(); len],
            vec![R::zero(); len],
            vec![R::zero(); len],
        );
        let mut d = vec![R::zero(); len];
        for i in 0..n {
            for b in 0..self.batch {
                e[b * n + i] = R::one();
            }
            self.diffusion_jvp(u, p, &e, &mut g, &mut gdot);
            for b in 0..self.batch {
                d[b * n + i] = gdot[b * n + i];
                e[b * n + i] = R::zero();
            }
        }
        (g, d)
    }
}

/// The Itô correction `c_i = ½ Σ_j Σ_k g_kj ∂g_ij/∂u_k` of each sample, for the continuous adjoints
/// of Euler–Maruyama solves, from the diffusion network's JVP and forward-over-reverse HVPs.
///
/// Diagonal noise: `c = ½ g ⊙ D` with `D` the Jacobian's diagonal (`n` batched JVPs); its VJP is
/// `Jᵀ(½ w ⊙ D)` plus one HVP per state component. General noise with `m` Brownian motions:
/// `c = ½ Σ_j J_j g_j` over the columns `g_j` (`m` batched JVPs); its VJP takes two VJPs and one
/// HVP per column.
impl<D: Layer, G: Layer, R: Real> ItoCorrection<R> for NeuralSdeSystem<D, G, R> {
    fn ito_correction(&mut self, _t: R, u: &[R], p: &[R], c: &mut [R]) {
        let half = R::c(0.5);
        match self.m {
            None => {
                let (g, d) = self.diagonal_derivative(u, p);
                for ((ci, gi), di) in c.iter_mut().zip(&g).zip(&d) {
                    *ci = half * *gi * *di;
                }
            }
            Some(m) => {
                let len = u.len();
                let mut g = vec![R::zero(); len * m];
                let inp = self.diffusion_input(u, p);
                self.diffusion.forward(inp, &mut g, &mut self.ws_g);
                let (mut col, mut y, mut gdot) = (
                    vec![R::zero(); len],
                    vec![R::zero(); len * m],
                    vec![R::zero(); len * m],
                );
                c.iter_mut().for_each(|x| *x = R::zero());
                for j in 0..m {
                    for (k, x) in col.iter_mut().enumerate() {
                        *x = g[k * m + j];
                    }
                    self.diffusion_jvp(u, p, &col, &mut y, &mut gdot);
                    for (k, ci) in c.iter_mut().enumerate() {
                        *ci += half * gdot[k * m + j];
                    }
                }
            }
        }
    }

    fn ito_correction_vjp(&mut self, _t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        let half = R::c(0.5);
        let len = u.len();
        match self.m {
            None => {
                let (g, d) = self.diagonal_derivative(u, p);
                let r: Vec<R> = w.iter().zip(&d).map(|(wi, di)| half * *wi * *di).collect();
                let inp = self.diffusion_input(u, p);
                self.diffusion
                    .vjp(inp, &r, &mut self.xbar, &mut gp[self.nd..], &mut self.ws_g);
                for (a, x) in gu.iter_mut().zip(&self.xbar) {
                    *a += *x;
                }
                // ∇ Σ_b (½ w g)_{b,i} ∂g_{b,i}/∂u_{b,i}, the weights held fixed.
                let n = self.n;
                let (mut wi, mut e) = (vec![R::zero(); len], vec![R::zero(); len]);
                for i in 0..n {
                    for b in 0..self.batch {
                        let k = b * n + i;
                        wi[k] = half * w[k] * g[k];
                        e[k] = R::one();
                    }
                    self.diffusion_hvp(u, p, &wi, &e, gu, gp);
                    for b in 0..self.batch {
                        wi[b * n + i] = R::zero();
                        e[b * n + i] = R::zero();
                    }
                }
            }
            Some(m) => {
                let mut g = vec![R::zero(); len * m];
                let inp = self.diffusion_input(u, p);
                self.diffusion.forward(inp, &mut g, &mut self.ws_g);
                let mut col = vec![R::zero(); len];
                let mut wj = vec![R::zero(); len * m];
                let mut scratch_p = vec![R::zero(); p.len() - self.nd];
                for j in 0..m {
                    for (k, x) in col.iter_mut().enumerate() {
                        *x = g[k * m + j];
                    }
                    // W_j = ½ w ⊗ e_j: the HVP in the direction g_j (g_j held fixed) ...
                    for (k, wk) in w.iter().enumerate() {
                        wj[k * m + j] = half * *wk;
                    }
                    self.diffusion_hvp(u, p, &wj, &col, gu, gp);
                    // ... and the derivative of the factor g_j: Jᵀ(r ⊗ e_j), r = Jᵀ W_j.
                    let inp = self.diffusion_input(u, p);
                    self.diffusion
                        .vjp(inp, &wj, &mut self.xbar, &mut scratch_p, &mut self.ws_g);
                    for (k, wk) in wj.iter_mut().enumerate() {
                        *wk = if k % m == j {
                            self.xbar[k / m]
                        } else {
                            R::zero()
                        };
                    }
                    let inp = self.diffusion_input(u, p);
                    self.diffusion.vjp(
                        inp,
                        &wj,
                        &mut self.xbar,
                        &mut gp[self.nd..],
                        &mut self.ws_g,
                    );
                    for (a, x) in gu.iter_mut().zip(&self.xbar) {
                        *a += *x;
                    }
                    wj.iter_mut().for_each(|x| *x = R::zero());
                }
            }
        }
    }
}

/// How [`NeuralSdeCore::loss_and_gradient_batch_with`] computes the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdeSensitivity {
    /// The discrete adjoint through the steps: the exact derivative of the computed solution;
    /// stores the states (and the drift network's activations) of every step.
    Discrete,
    /// The backsolve adjoint: the state is solved backward with the adjoint, `O(1)` memory in
    /// the number of steps (torchsde's `sdeint_adjoint`).
    Backsolve,
    /// The interpolating adjoint: the backward pass reads the stored or checkpointed forward
    /// states.
    Interpolating(InterpolatingAdjoint),
}

/// A loss, its gradients and the trajectory it was computed on.
#[derive(Clone, Debug)]
pub struct SdeLossGradient<R: Real> {
    /// The loss.
    pub loss: R,
    /// `dL/dp` (drift block first, then diffusion).
    pub dp: Vec<R>,
    /// `dL/du0` (`n · batch` values).
    pub du0: Vec<R>,
    /// The forward solution (states of `n · batch` values at the save times).
    pub sol: Solution<Vec<R>>,
}

/// What the two layers share: networks, time grid and method.
#[derive(Clone, Debug)]
pub struct NeuralSdeCore<D, G> {
    drift: D,
    diffusion: G,
    m: Option<usize>,
    tspan: (f64, f64),
    dt: f64,
    saveat: Vec<f64>,
    method: Method,
}

impl<D: Layer + Clone, G: Layer + Clone> NeuralSdeCore<D, G> {
    fn build(
        drift: D,
        diffusion: G,
        m: Option<usize>,
        tspan: (f64, f64),
        dt: f64,
        saveat: Vec<f64>,
    ) -> Result<Self, SdeError> {
        let n = drift.in_dim();
        if drift.out_dim() != n {
            return Err(Error::InvalidOption {
                option: "drift",
                reason: format!(
                    "the drift maps u to du, so its input and output sizes must agree (got {} -> {})",
                    n,
                    drift.out_dim()
                ),
            }
            .into());
        }
        let want = n * m.unwrap_or(1);
        if diffusion.in_dim() != n || diffusion.out_dim() != want {
            return Err(SdeError::NoiseShape {
                reason: format!(
                    "the diffusion network must map {n} states to {want} values ({}), got {} -> {}",
                    match m {
                        None => "diagonal noise: the shape of u".to_string(),
                        Some(m) => format!("an {n} × {m} matrix"),
                    },
                    diffusion.in_dim(),
                    diffusion.out_dim()
                ),
            });
        }
        if m == Some(0) {
            return Err(SdeError::NoiseShape {
                reason: "general noise needs at least one Brownian motion".into(),
            });
        }
        Ok(NeuralSdeCore {
            drift,
            diffusion,
            m,
            tspan,
            dt,
            saveat,
            method: Method::EulerMaruyama,
        })
    }

    /// Number of parameters (drift then diffusion).
    pub fn nparams(&self) -> usize {
        self.drift.nparams() + self.diffusion.nparams()
    }
    /// Number of states per sample.
    pub fn state_dim(&self) -> usize {
        self.drift.in_dim()
    }
    /// The save times.
    pub fn saveat(&self) -> &[f64] {
        &self.saveat
    }
    /// Splits a flat parameter vector into its drift and diffusion blocks.
    pub fn split<'a, R>(&self, p: &'a [R]) -> (&'a [R], &'a [R]) {
        p.split_at(self.drift.nparams().min(p.len()))
    }
    /// Fresh parameters from `seed` (each network's own initialisation).
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        let mut rng = Xoshiro256pp::new(seed);
        let mut p = self.drift.initial_params(&mut rng);
        p.extend(self.diffusion.initial_params(&mut rng));
        p
    }
    /// Chooses the method (Euler–Maruyama, Itô, is the default; Euler–Heun is Stratonovich).
    pub fn set_method(&mut self, method: Method) -> Result<(), SdeError> {
        if !matches!(method, Method::EulerMaruyama | Method::EulerHeun) {
            return Err(Error::Unsupported {
                method: method.name(),
                what: "train a neural SDE (use EulerMaruyama or EulerHeun)".into(),
            }
            .into());
        }
        self.method = method;
        Ok(())
    }

    /// The SDE problem of a batch (`u0` holds `batch` samples, column-major), to solve or
    /// differentiate with any `sciml_sde` method or adjoint.
    pub fn problem<R: Real>(
        &self,
        u0: &[R],
        batch: usize,
        p: &[R],
    ) -> Result<SdeProblem<R, NeuralSdeSystem<D, G, R>>, SdeError> {
        if batch == 0 {
            return Err(Error::InvalidOption {
                option: "batch",
                reason: "must be at least 1".into(),
            }
            .into());
        }
        let sys = NeuralSdeSystem::new(self.drift.clone(), self.diffusion.clone(), self.m, batch);
        let tspan = (R::c(self.tspan.0), R::c(self.tspan.1));
        SdeProblem::new(sys, u0.to_vec(), tspan, p.to_vec())
    }

    fn options<R: Real>(&self, seed: u64) -> SdeOptions<R> {
        SdeOptions::fixed(R::c(self.dt))
            .saveat(self.saveat.iter().map(|&t| R::c(t)).collect())
            .seed(seed)
    }

    /// Solves a batch: `u0` holds `batch` samples of `n` states (column-major), the Brownian
    /// motions come from `seed`.
    pub fn solve_batch<R: Real>(
        &self,
        u0: &[R],
        batch: usize,
        p: &[R],
        seed: u64,
    ) -> Result<Solution<Vec<R>>, SdeError> {
        let prob = self.problem(u0, batch, p)?;
        solve(&prob, self.method, &self.options(seed))
    }

    /// Solves one sample.
    pub fn solve<R: Real>(
        &self,
        u0: &[R],
        p: &[R],
        seed: u64,
    ) -> Result<Solution<Vec<R>>, SdeError> {
        self.solve_batch(u0, 1, p, seed)
    }

    /// A loss of the batch trajectory and its gradients by the discrete adjoint. `loss(ts, us)`
    /// gets the save times and the batch states there and returns the loss and `∂L/∂u` at each.
    pub fn loss_and_gradient_batch<R, L>(
        &self,
        u0: &[R],
        batch: usize,
        p: &[R],
        seed: u64,
        loss: L,
    ) -> Result<SdeLossGradient<R>, SdeError>
    where
        R: Real,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        self.loss_and_gradient_batch_with(SdeSensitivity::Discrete, u0, batch, p, seed, loss)
    }

    /// [`NeuralSdeCore::loss_and_gradient_batch`] with a chosen gradient: the discrete adjoint
    /// (exact for the computed solution), or a continuous adjoint of the SDE the method solves
    /// (Euler–Maruyama: Itô, through the drift correction; Euler–Heun: Stratonovich).
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Chain, Dense};
    /// use diffeqflux::{NeuralDsde, SdeSensitivity};
    /// let drift = Chain::new((Dense::new(2, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
    /// let sde = NeuralDsde::new(drift, Dense::new(2, 2, Activation::Identity), (0.0, 1.0), 0.01, vec![1.0])?;
    /// let p = sde.init_params(0);
    /// let u0 = [1.0, 0.0].repeat(4);
    /// let loss = |_ts: &[f64], us: &[Vec<f64>]| {
    ///     (us[0].iter().sum::<f64>(), vec![vec![1.0; us[0].len()]])
    /// };
    /// let d = sde.loss_and_gradient_batch(&u0, 4, &p, 7, loss)?;
    /// let b = sde.loss_and_gradient_batch_with(SdeSensitivity::Backsolve, &u0, 4, &p, 7, loss)?;
    /// assert_eq!(b.loss, d.loss);
    /// // The continuous gradient agrees with the exact one up to the discretisation error.
    /// let diff: f64 = b.dp.iter().zip(&d.dp).map(|(x, y)| (x - y).abs()).sum();
    /// let size: f64 = d.dp.iter().map(|y| y.abs()).sum();
    /// assert!(diff < 0.1 * size);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loss_and_gradient_batch_with<R, L>(
        &self,
        sensitivity: SdeSensitivity,
        u0: &[R],
        batch: usize,
        p: &[R],
        seed: u64,
        loss: L,
    ) -> Result<SdeLossGradient<R>, SdeError>
    where
        R: Real,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        let prob = self.problem(u0, batch, p)?;
        let opts = self.options(seed);
        let ito = match self.method {
            Method::EulerMaruyama => true,
            Method::EulerHeun => false,
            other => {
                return Err(Error::Unsupported {
                    method: other.name(),
                    what: "be differentiated (use EulerMaruyama or EulerHeun)".into(),
                }
                .into())
            }
        };
        let r = match (sensitivity, ito) {
            (SdeSensitivity::Discrete, _) => discrete_adjoint(&prob, self.method, &opts, loss)?,
            (SdeSensitivity::Backsolve, true) => {
                BacksolveAdjoint.gradient_ito(&prob, &opts, loss)?
            }
            (SdeSensitivity::Backsolve, false) => BacksolveAdjoint.gradient(&prob, &opts, loss)?,
            (SdeSensitivity::Interpolating(a), true) => a.gradient_ito(&prob, &opts, loss)?,
            (SdeSensitivity::Interpolating(a), false) => a.gradient(&prob, &opts, loss)?,
        };
        Ok(SdeLossGradient {
            loss: r.loss,
            dp: r.dp,
            du0: r.du0,
            sol: r.sol,
        })
    }
}

/// A neural SDE with diagonal noise: `du = f(u; p_f) dt + g(u; p_g) ⊙ dW`, `g` of `u`'s shape.
///
/// ```
/// use diffeqflux::nn::{Activation, Chain, Dense};
/// use diffeqflux::NeuralDsde;
/// let drift = Chain::new((Dense::new(2, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
/// let diffusion = Dense::new(2, 2, Activation::Identity);
/// let ts: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
/// let sde = NeuralDsde::new(drift, diffusion, (0.0, 1.0), 0.05, ts)?;
/// let p = sde.init_params(0);
/// // 4 samples from u0 = [1, 0], solved as one batch.
/// let u0 = [1.0, 0.0].repeat(4);
/// let g = sde.loss_and_gradient_batch(&u0, 4, &p, 7, |_ts, us: &[Vec<f64>]| {
///     let loss = us.iter().flatten().map(|x| x * x).sum::<f64>();
///     (loss, us.iter().map(|u| u.iter().map(|x| 2.0 * x).collect()).collect())
/// })?;
/// assert_eq!(g.dp.len(), p.len());
/// assert_eq!(g.sol.u.len(), 11);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NeuralDsde<D, G>(NeuralSdeCore<D, G>);

impl<D: Layer + Clone, G: Layer + Clone> NeuralDsde<D, G> {
    /// Drift `n → n`, diffusion `n → n`, fixed step `dt` (the save times must be on its grid).
    pub fn new(
        drift: D,
        diffusion: G,
        tspan: (f64, f64),
        dt: f64,
        saveat: Vec<f64>,
    ) -> Result<Self, SdeError> {
        NeuralSdeCore::build(drift, diffusion, None, tspan, dt, saveat).map(NeuralDsde)
    }
}

/// A neural SDE with general noise: `du = f(u; p_f) dt + G(u; p_g) dW`, `G` an `n × m` matrix
/// (the diffusion network's `n·m` outputs, row-major), `m` Brownian motions per sample.
///
/// ```
/// use diffeqflux::nn::{Activation, Dense};
/// use diffeqflux::NeuralSde;
/// let sde = NeuralSde::new(
///     Dense::new(2, 2, Activation::Tanh),
///     Dense::new(2, 6, Activation::Identity), // 2 × 3 matrix
///     3,
///     (0.0, 1.0),
///     0.1,
///     vec![1.0],
/// )?;
/// let p = sde.init_params(1);
/// let sol = sde.solve_batch(&[1.0, 0.0, 0.5, 0.5], 2, &p, 3)?;
/// assert_eq!(sol.u[0].len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NeuralSde<D, G>(NeuralSdeCore<D, G>);

impl<D: Layer + Clone, G: Layer + Clone> NeuralSde<D, G> {
    /// Drift `n → n`, diffusion `n → n·m`, `m` Brownian motions, fixed step `dt`.
    pub fn new(
        drift: D,
        diffusion: G,
        m: usize,
        tspan: (f64, f64),
        dt: f64,
        saveat: Vec<f64>,
    ) -> Result<Self, SdeError> {
        NeuralSdeCore::build(drift, diffusion, Some(m), tspan, dt, saveat).map(NeuralSde)
    }
}

impl<D, G> std::ops::Deref for NeuralDsde<D, G> {
    type Target = NeuralSdeCore<D, G>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
impl<D, G> std::ops::DerefMut for NeuralDsde<D, G> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
impl<D, G> std::ops::Deref for NeuralSde<D, G> {
    type Target = NeuralSdeCore<D, G>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
impl<D, G> std::ops::DerefMut for NeuralSde<D, G> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Chain, Dense};

    fn fd_check<F: Fn(&[f64]) -> f64>(p: &[f64], dp: &[f64], f: F) -> f64 {
        let mut worst: f64 = 0.0;
        for i in (0..p.len()).step_by(3) {
            let h = 1e-6 * p[i].abs().max(1.0);
            let (mut a, mut b) = (p.to_vec(), p.to_vec());
            a[i] += h;
            b[i] -= h;
            let d = (f(&a) - f(&b)) / (2.0 * h);
            let rel = (dp[i] - d).abs() / d.abs().max(1e-4);
            worst = worst.max(rel);
        }
        worst
    }

    fn moment_loss(us: &[Vec<f64>], batch: usize) -> (f64, Vec<Vec<f64>>) {
        // Σ_t Σ_i mean² + var (unbiased) over the batch.
        let n = us[0].len() / batch;
        let mut loss = 0.0;
        let mut cot = Vec::new();
        for u in us {
            let mut c = vec![0.0; u.len()];
            for i in 0..n {
                let mean = (0..batch).map(|b| u[b * n + i]).sum::<f64>() / batch as f64;
                let var = (0..batch)
                    .map(|b| (u[b * n + i] - mean).powi(2))
                    .sum::<f64>()
                    / (batch - 1) as f64;
                loss += mean * mean + var;
                for b in 0..batch {
                    c[b * n + i] = 2.0 * mean / batch as f64
                        + 2.0 * (u[b * n + i] - mean) / (batch - 1) as f64;
                }
            }
            cot.push(c);
        }
        (loss, cot)
    }

    #[test]
    fn diagonal_layer_gradients_match_finite_differences() {
        let drift = Chain::new((
            Dense::new(2, 6, Activation::Tanh),
            Dense::new(6, 2, Activation::Identity),
        ))
        .unwrap();
        let diffusion = Dense::new(2, 2, Activation::Tanh);
        let ts = vec![0.25, 0.5, 1.0];
        for method in [Method::EulerMaruyama, Method::EulerHeun] {
            let mut sde =
                NeuralDsde::new(drift.clone(), diffusion, (0.0, 1.0), 0.05, ts.clone()).unwrap();
            sde.set_method(method).unwrap();
            let p = sde.init_params(3);
            let batch = 5;
            let u0: Vec<f64> = (0..2 * batch).map(|i| 0.3 * i as f64 - 1.0).collect();
            let g = sde
                .loss_and_gradient_batch(&u0, batch, &p, 11, |_ts, us| moment_loss(us, batch))
                .unwrap();
            let worst = fd_check(&p, &g.dp, |q| {
                let sol = sde.solve_batch(&u0, batch, q, 11).unwrap();
                moment_loss(&sol.u, batch).0
            });
            assert!(worst < 1e-5, "{method:?}: worst relative error {worst}");
        }
    }

    #[test]
    fn general_noise_layer_gradients_match_finite_differences() {
        let sde = NeuralSde::new(
            Dense::new(2, 2, Activation::Tanh),
            Dense::new(2, 6, Activation::Tanh),
            3,
            (0.0, 1.0),
            0.1,
            vec![0.5, 1.0],
        )
        .unwrap();
        let p = sde.init_params(5);
        let batch = 4;
        let u0: Vec<f64> = (0..2 * batch).map(|i| 0.2 * i as f64 - 0.5).collect();
        let g = sde
            .loss_and_gradient_batch(&u0, batch, &p, 2, |_ts, us| moment_loss(us, batch))
            .unwrap();
        let worst = fd_check(&p, &g.dp, |q| {
            let sol = sde.solve_batch(&u0, batch, q, 2).unwrap();
            moment_loss(&sol.u, batch).0
        });
        assert!(worst < 1e-5, "worst relative error {worst}");
        // Samples of a batch have their own noise: identical starts end apart.
        let sol = sde.solve_batch(&[1.0, 0.0, 1.0, 0.0], 2, &p, 9).unwrap();
        let end = sol.u.last().unwrap();
        assert_ne!(end[0], end[2]);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let d = Dense::new(2, 2, Activation::Tanh);
        let e = NeuralDsde::new(
            d,
            Dense::new(2, 3, Activation::Identity),
            (0.0, 1.0),
            0.1,
            vec![1.0],
        );
        assert!(matches!(e, Err(SdeError::NoiseShape { .. })));
        let e = NeuralSde::new(
            d,
            Dense::new(2, 2, Activation::Identity),
            3,
            (0.0, 1.0),
            0.1,
            vec![1.0],
        );
        assert!(matches!(e, Err(SdeError::NoiseShape { .. })));
        let sde = NeuralDsde::new(d, d, (0.0, 1.0), 0.1, vec![1.0]).unwrap();
        let p = sde.init_params(0);
        assert!(sde.solve_batch(&[1.0, 0.0, 1.0], 2, &p, 0).is_err());
        assert!(sde.solve(&[1.0, f64::NAN], &p, 0).is_err());
        assert!(sde.solve(&[1.0, 0.0], &p[1..], 0).is_err());
        let bad_dt = NeuralDsde::new(d, d, (0.0, 1.0), -0.1, vec![1.0]).unwrap();
        assert!(bad_dt.solve(&[1.0, 0.0], &p, 0).is_err());
    }

    #[test]
    fn f32_and_f64_agree() {
        let sde = NeuralDsde::new(
            Dense::new(2, 2, Activation::Tanh),
            Dense::new(2, 2, Activation::Identity),
            (0.0, 1.0),
            0.01,
            vec![1.0],
        )
        .unwrap();
        let p = sde.init_params(0);
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let a = sde.solve(&[2.0f64, 0.0], &p, 4).unwrap();
        let b = sde.solve(&[2.0f32, 0.0], &p32, 4).unwrap();
        for (x, y) in a.u[0].iter().zip(&b.u[0]) {
            assert!((x - *y as f64).abs() < 1e-4, "{x} vs {y}");
        }
    }
}
