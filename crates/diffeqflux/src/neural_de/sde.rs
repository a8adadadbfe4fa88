//! Neural SDE layers: `du = drift(u; p_f) dt + diffusion(u; p_g) dW`, with a drift network and a
//! diffusion network sharing one flat parameter vector `p = [p_f; p_g]`.
//!
//! One layer, [`NeuralSdeLayer`], on the neural-DE core; its two noise shapes are two thin
//! constructors:
//!
//! - [`NeuralDsde`]: diagonal noise, the diffusion network maps `u` to a vector of `u`'s shape.
//! - [`NeuralSde`]: general noise with `m` Brownian motions per sample, the diffusion network
//!   maps `u` (n values) to an `n × m` matrix (n·m outputs, row-major).
//!
//! A batch of `B` samples is solved as one state of `n · B` values ([`NeuralSdeSystem`]), so
//! every network call is one batched evaluation; each sample has its own Brownian motions.
//! Gradients come from any [`SdePullback`]: the SDE discrete adjoint of `sciml_sensitivity`
//! (Euler–Maruyama or Euler–Heun) with the layers' VJPs, or its backsolve and interpolating
//! adjoints (the same [`BacksolveAdjoint`] and [`InterpolatingAdjoint`] as for ODEs).

use super::{NeuralDe, NeuralSdeSystem};
use crate::nn::Layer;
use sciml_core::{Error, Real, Solution};
use sciml_sde::{solve, ItoCorrection, Method, SdeError, SdeOptions, SdeProblem};
use sciml_sensitivity::sde::{ContinuousSdeAdjoint, SdeAdjoint};
use sciml_sensitivity::{BacksolveAdjoint, DiscreteAdjoint, InterpolatingAdjoint};
use std::marker::PhantomData;

/// How a neural SDE layer differentiates a loss of its trajectory: solve, loss, pullback in one
/// call. Implemented by the sensitivity types of `sciml_sensitivity` that ODE layers use too:
/// [`DiscreteAdjoint`] (through `DiscreteAdjoint::sde_gradient`), [`BacksolveAdjoint`] and
/// [`InterpolatingAdjoint`] (through [`ContinuousSdeAdjoint`]); and by [`SdeSensitivity`], the
/// choice made at run time.
pub trait SdePullback {
    /// Solves `prob` with `method` (Euler–Maruyama: Itô; Euler–Heun: Stratonovich) and `opts`,
    /// calls `loss` on the saved states and pulls its cotangents back to `u0` and `p`.
    fn pullback<R, F, L>(
        &self,
        prob: &SdeProblem<R, F>,
        method: Method,
        opts: &SdeOptions<R>,
        loss: L,
    ) -> Result<SdeAdjoint<R>, SdeError>
    where
        R: Real,
        F: ItoCorrection<R> + Clone,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>);
}

/// Whether `method` solves the Itô SDE (Euler–Maruyama) or the Stratonovich one (Euler–Heun);
/// other methods cannot be differentiated.
fn is_ito(method: Method) -> Result<bool, SdeError> {
    match method {
        Method::EulerMaruyama => Ok(true),
        Method::EulerHeun => Ok(false),
        other => Err(Error::Unsupported {
            method: other.name(),
            what: "be differentiated (use EulerMaruyama or EulerHeun)".into(),
        }
        .into()),
    }
}

/// The continuous adjoint of the SDE the method solves: Itô through the drift correction, or
/// Stratonovich.
macro_rules! continuous_pullback {
    ($ty:ty) => {
        impl SdePullback for $ty {
            fn pullback<R, F, L>(
                &self,
                prob: &SdeProblem<R, F>,
                method: Method,
                opts: &SdeOptions<R>,
                loss: L,
            ) -> Result<SdeAdjoint<R>, SdeError>
            where
                R: Real,
                F: ItoCorrection<R> + Clone,
                L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
            {
                if is_ito(method)? {
                    self.gradient_ito(prob, opts, loss)
                } else {
                    self.gradient(prob, opts, loss)
                }
            }
        }
    };
}
continuous_pullback!(BacksolveAdjoint);
continuous_pullback!(InterpolatingAdjoint);

/// The discrete adjoint through the Euler–Maruyama or Euler–Heun steps (the same as
/// [`SdeSensitivity::Discrete`]).
impl SdePullback for DiscreteAdjoint {
    fn pullback<R, F, L>(
        &self,
        prob: &SdeProblem<R, F>,
        method: Method,
        opts: &SdeOptions<R>,
        loss: L,
    ) -> Result<SdeAdjoint<R>, SdeError>
    where
        R: Real,
        F: ItoCorrection<R> + Clone,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        self.sde_gradient(prob, method, opts, loss)
    }
}

/// The sensitivity of a neural SDE layer chosen at run time (the default is
/// [`SdeSensitivity::Discrete`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SdeSensitivity {
    /// The discrete adjoint through the steps: the exact derivative of the computed solution;
    /// stores the states (and the drift network's activations) of every step.
    #[default]
    Discrete,
    /// The backsolve adjoint: the state is solved backward with the adjoint, `O(1)` memory in
    /// the number of steps (torchsde's `sdeint_adjoint`).
    Backsolve,
    /// The interpolating adjoint: the backward pass reads the stored or checkpointed forward
    /// states.
    Interpolating(InterpolatingAdjoint),
}

impl SdePullback for SdeSensitivity {
    fn pullback<R, F, L>(
        &self,
        prob: &SdeProblem<R, F>,
        method: Method,
        opts: &SdeOptions<R>,
        loss: L,
    ) -> Result<SdeAdjoint<R>, SdeError>
    where
        R: Real,
        F: ItoCorrection<R> + Clone,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        is_ito(method)?;
        match self {
            SdeSensitivity::Discrete => {
                DiscreteAdjoint::default().pullback(prob, method, opts, loss)
            }
            SdeSensitivity::Backsolve => BacksolveAdjoint.pullback(prob, method, opts, loss),
            SdeSensitivity::Interpolating(a) => a.pullback(prob, method, opts, loss),
        }
    }
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

/// The fixed time grid of a neural SDE layer: the step and the save times (on the step's grid).
#[derive(Clone, Debug, PartialEq)]
pub struct SdeGrid {
    /// The fixed step.
    pub dt: f64,
    /// The save times.
    pub saveat: Vec<f64>,
}

impl SdeGrid {
    fn options<R: Real>(&self, seed: u64) -> SdeOptions<R> {
        SdeOptions::fixed(R::c(self.dt))
            .saveat(self.saveat.iter().map(|&t| R::c(t)).collect())
            .seed(seed)
    }
}

/// Diagonal noise: the diffusion network has `u`'s shape ([`NeuralDsde`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiagonalNoise;

/// General noise: the diffusion network gives an `n × m` matrix ([`NeuralSde`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneralNoise;

/// The neural SDE layer, generic over the networks `D` (drift) and `G` (diffusion), the noise
/// shape `K` ([`DiagonalNoise`] or [`GeneralNoise`]) and the sensitivity `S` (any
/// [`SdePullback`]). The method is Euler–Maruyama (Itô, the default) or Euler–Heun
/// (Stratonovich) on a fixed step. Build it as [`NeuralDsde`] or [`NeuralSde`].
#[derive(Debug)]
pub struct NeuralSdeLayer<D, G, K, S = SdeSensitivity> {
    core: NeuralDe<NeuralSdeSystem<D, G, f64>, Method, S, SdeGrid>,
    noise: PhantomData<K>,
}

impl<D: Layer + Clone, G: Layer + Clone, K, S: Clone> Clone for NeuralSdeLayer<D, G, K, S> {
    fn clone(&self) -> Self {
        NeuralSdeLayer {
            core: self.core.clone(),
            noise: PhantomData,
        }
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
pub type NeuralDsde<D, G, S = SdeSensitivity> = NeuralSdeLayer<D, G, DiagonalNoise, S>;

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
pub type NeuralSde<D, G, S = SdeSensitivity> = NeuralSdeLayer<D, G, GeneralNoise, S>;

impl<D: Layer + Clone, G: Layer + Clone> NeuralSdeLayer<D, G, DiagonalNoise> {
    /// Drift `n → n`, diffusion `n → n`, fixed step `dt` (the save times must be on its grid).
    pub fn new(
        drift: D,
        diffusion: G,
        tspan: (f64, f64),
        dt: f64,
        saveat: Vec<f64>,
    ) -> Result<Self, SdeError> {
        Self::build(
            NeuralSdeSystem::new(drift, diffusion, None, 1)?,
            tspan,
            dt,
            saveat,
        )
    }
}

impl<D: Layer + Clone, G: Layer + Clone> NeuralSdeLayer<D, G, GeneralNoise> {
    /// Drift `n → n`, diffusion `n → n·m`, `m` Brownian motions, fixed step `dt`.
    pub fn new(
        drift: D,
        diffusion: G,
        m: usize,
        tspan: (f64, f64),
        dt: f64,
        saveat: Vec<f64>,
    ) -> Result<Self, SdeError> {
        Self::build(
            NeuralSdeSystem::new(drift, diffusion, Some(m), 1)?,
            tspan,
            dt,
            saveat,
        )
    }
}

impl<D, G, K> NeuralSdeLayer<D, G, K> {
    fn build(
        system: NeuralSdeSystem<D, G, f64>,
        tspan: (f64, f64),
        dt: f64,
        saveat: Vec<f64>,
    ) -> Result<Self, SdeError> {
        let grid = SdeGrid { dt, saveat };
        Ok(NeuralSdeLayer {
            core: NeuralDe::new(
                system,
                tspan,
                Method::EulerMaruyama,
                SdeSensitivity::Discrete,
                grid,
            ),
            noise: PhantomData,
        })
    }
}

impl<D: Layer + Clone, G: Layer + Clone, K, S> NeuralSdeLayer<D, G, K, S> {
    /// Number of parameters (drift then diffusion).
    pub fn nparams(&self) -> usize {
        self.core.nparams()
    }
    /// Number of states per sample.
    pub fn state_dim(&self) -> usize {
        self.core.field().drift_network().in_dim()
    }
    /// The save times.
    pub fn saveat(&self) -> &[f64] {
        &self.core.options().saveat
    }
    /// The shared core (system, span, method, sensitivity, time grid).
    pub fn core(&self) -> &NeuralDe<NeuralSdeSystem<D, G, f64>, Method, S, SdeGrid> {
        &self.core
    }
    /// Splits a flat parameter vector into its drift and diffusion blocks.
    pub fn split<'a, R>(&self, p: &'a [R]) -> (&'a [R], &'a [R]) {
        p.split_at(self.core.field().drift_network().nparams().min(p.len()))
    }
    /// Fresh parameters from `seed` (each network's own initialisation).
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        self.core.init_params(seed)
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
        *self.core.method_mut() = method;
        Ok(())
    }
    /// The sensitivity method of [`NeuralSdeLayer::loss_and_gradient_batch`]: any
    /// [`SdePullback`] (its type becomes the layer's `S`).
    ///
    /// ```
    /// use diffeqflux::nn::{Activation, Dense};
    /// use diffeqflux::NeuralDsde;
    /// use sciml_sensitivity::BacksolveAdjoint;
    /// let d = Dense::new(2, 2, Activation::Tanh);
    /// let sde = NeuralDsde::new(d, d, (0.0, 1.0), 0.1, vec![1.0])?;
    /// let exact = sde.clone();
    /// let sde = sde.sensitivity(BacksolveAdjoint);
    /// let p = sde.init_params(0);
    /// let loss = |_ts: &[f64], us: &[Vec<f64>]| (us[0][0], vec![vec![1.0, 0.0]]);
    /// let b = sde.loss_and_gradient_batch(&[1.0, 0.0], 1, &p, 3, loss)?;
    /// let d = exact.loss_and_gradient_batch(&[1.0, 0.0], 1, &p, 3, loss)?;
    /// assert_eq!(b.loss, d.loss);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sensitivity<S2: SdePullback>(self, sensitivity: S2) -> NeuralSdeLayer<D, G, K, S2> {
        NeuralSdeLayer {
            core: self.core.with_sensitivity(sensitivity),
            noise: PhantomData,
        }
    }

    /// The SDE problem of a batch (`u0` holds `batch` samples, column-major), to solve or
    /// differentiate with any `sciml_sde` method or adjoint.
    pub fn problem<R: Real>(
        &self,
        u0: &[R],
        batch: usize,
        p: &[R],
    ) -> Result<SdeProblem<R, NeuralSdeSystem<D, G, R>>, SdeError> {
        let sys = self.core.field().rebatch(batch)?;
        let (t0, t1) = self.core.tspan();
        SdeProblem::new(sys, u0.to_vec(), (R::c(t0), R::c(t1)), p.to_vec())
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
        solve(
            &prob,
            *self.core.method(),
            &self.core.options().options(seed),
        )
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

    /// A loss of the batch trajectory and its gradients by the layer's sensitivity (by default
    /// the discrete adjoint). `loss(ts, us)` gets the save times and the batch states there and
    /// returns the loss and `∂L/∂u` at each.
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
        S: SdePullback,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        self.pullback(self.core.sensitivity(), u0, batch, p, seed, loss)
    }

    /// [`NeuralSdeLayer::loss_and_gradient_batch`] with another sensitivity: the discrete
    /// adjoint (exact for the computed solution), or a continuous adjoint of the SDE the method
    /// solves (Euler–Maruyama: Itô, through the drift correction; Euler–Heun: Stratonovich).
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
    pub fn loss_and_gradient_batch_with<R, S2, L>(
        &self,
        sensitivity: S2,
        u0: &[R],
        batch: usize,
        p: &[R],
        seed: u64,
        loss: L,
    ) -> Result<SdeLossGradient<R>, SdeError>
    where
        R: Real,
        S2: SdePullback,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        self.pullback(&sensitivity, u0, batch, p, seed, loss)
    }

    fn pullback<R, S2, L>(
        &self,
        sensitivity: &S2,
        u0: &[R],
        batch: usize,
        p: &[R],
        seed: u64,
        loss: L,
    ) -> Result<SdeLossGradient<R>, SdeError>
    where
        R: Real,
        S2: SdePullback,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        let prob = self.problem(u0, batch, p)?;
        let opts = self.core.options().options(seed);
        let r = sensitivity.pullback(&prob, *self.core.method(), &opts, loss)?;
        Ok(SdeLossGradient {
            loss: r.loss,
            dp: r.dp,
            du0: r.du0,
            sol: r.sol,
        })
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
