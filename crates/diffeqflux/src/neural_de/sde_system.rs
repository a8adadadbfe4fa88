//! The network system of the neural SDE layers: a drift network and a diffusion network as an
//! SDE over a batch (`SdeFunction`, `SdeVjp` with taped drift calls, `ItoCorrection`), apart from
//! the layer API in `sde.rs`.
//!
//! A batch of `B` samples is one state of `n · B` values (features × batch, column-major, the
//! layout of the [`crate::nn`] layers), so every network call is one batched evaluation; the
//! flat parameter vector is `p = [p_f; p_g]`, drift block first.

use super::NeuralParams;
use crate::nn::{layer_hvp, Input, Layer, LayerTape};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Error, Real};
use sciml_sde::{ItoCorrection, Noise, SdeError, SdeFunction, SdeVjp};

/// The drift and diffusion networks as an SDE system over a batch (used by
/// [`super::NeuralDsde`] and [`super::NeuralSde`]; public so it can be solved with any
/// `sciml_sde` method, see [`super::NeuralSdeLayer::problem`]).
#[derive(Debug)]
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
    /// The system of `batch` samples; `m` Brownian motions per sample (`None`: diagonal noise).
    /// The networks' shapes are checked: the drift maps `n` states to `n`, the diffusion maps
    /// them to `n` values (diagonal noise) or to an `n × m` matrix (`n·m` values, row-major).
    pub(crate) fn new(
        drift: D,
        diffusion: G,
        m: Option<usize>,
        batch: usize,
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
        if m == Some(0) {
            return Err(SdeError::NoiseShape {
                reason: "general noise needs at least one Brownian motion".into(),
            });
        }
        let want = n * m.unwrap_or(1);
        if diffusion.in_dim() != n || diffusion.out_dim() != want {
            return Err(SdeError::NoiseShape {
                reason: format!(
                    "the diffusion network must map {n} states to {want} values ({}), got {} -> {}",
                    match m {
                        None => "diagonal noise: the shape of u".to_string(),
                        Some(m) => format!("a {n} × {m} matrix"),
                    },
                    diffusion.in_dim(),
                    diffusion.out_dim()
                ),
            });
        }
        if batch == 0 {
            return Err(Error::InvalidOption {
                option: "batch",
                reason: "must be at least 1".into(),
            }
            .into());
        }
        let nd = drift.nparams();
        Ok(NeuralSdeSystem {
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
        })
    }

    /// The drift network.
    pub fn drift_network(&self) -> &D {
        &self.drift
    }
    /// The diffusion network.
    pub fn diffusion_network(&self) -> &G {
        &self.diffusion
    }
    /// Brownian motions per sample (`None`: diagonal noise, one per state).
    pub fn brownian_dim(&self) -> Option<usize> {
        self.m
    }
    /// Samples per state.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

impl<D: Layer + Clone, G: Layer + Clone, R: Real> NeuralSdeSystem<D, G, R> {
    /// The same networks over `batch` samples in the scalar `R2`.
    pub(crate) fn rebatch<R2: Real>(
        &self,
        batch: usize,
    ) -> Result<NeuralSdeSystem<D, G, R2>, SdeError> {
        NeuralSdeSystem::new(self.drift.clone(), self.diffusion.clone(), self.m, batch)
    }
}

/// Drift parameters first, then diffusion, each network's own initialisation.
impl<D: Layer, G: Layer, R: Real> NeuralParams for NeuralSdeSystem<D, G, R> {
    fn nparams(&self) -> usize {
        self.nd + self.diffusion.nparams()
    }
    fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        let (pd, pg) = p.split_at_mut(self.nd);
        self.drift.init_params(rng, pd);
        self.diffusion.init_params(rng, pg);
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
