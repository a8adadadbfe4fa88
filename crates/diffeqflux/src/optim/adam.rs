//! Adam (Kingma & Ba 2015), bias-corrected, as in PyTorch and Optimisers.jl.

use super::{
    check_beta, check_lr, check_positive, check_state_buffer, check_step_input, OptimError,
    Optimiser,
};
use serde::{Deserialize, Serialize};

/// Adam: adaptive moment estimation (Kingma & Ba, *Adam: A method for stochastic
/// optimization*, ICLR 2015, algorithm 1), with PyTorch's placement of `eps`.
///
/// At step `t = 1, 2, ...` with gradient `g`:
///
/// ```text
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// which is `p − lr · m̂ / (√v̂ + ε)` with `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`
/// (`torch.optim.Adam`, `Optimisers.Adam`). Defaults: `lr = 1e-3`, `β₁ = 0.9`,
/// `β₂ = 0.999`, `ε = 1e-8`.
///
/// ```
/// use diffeqflux::optim::{Adam, Optimiser};
/// let mut adam = Adam::new(0.01)?.with_betas(0.8, 0.99)?.with_eps(1e-6)?;
/// let mut p = vec![0.0];
/// adam.step(&mut p, &[2.0])?;
/// // First step: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
/// assert!((p[0] + 0.01).abs() < 1e-8);
/// assert_eq!(adam.steps(), 1);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AdamRepr")]
pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

/// The serde form of [`Adam`], validated on the way in.
#[derive(Deserialize)]
struct AdamRepr {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl TryFrom<AdamRepr> for Adam {
    type Error = OptimError;
    fn try_from(r: AdamRepr) -> Result<Self, OptimError> {
        let adam = Adam::new(r.lr)?
            .with_betas(r.beta1, r.beta2)?
            .with_eps(r.eps)?;
        check_state_buffer("Adam's second moment v", &r.v, r.m.len())?;
        check_state_buffer("Adam's first moment m", &r.m, r.m.len())?;
        Ok(Adam {
            t: r.t,
            m: r.m,
            v: r.v,
            ..adam
        })
    }
}

impl Default for Adam {
    /// `lr = 1e-3`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`.
    ///
    /// ```
    /// use diffeqflux::optim::{Adam, Optimiser};
    /// assert_eq!(Adam::default().learning_rate(), 1e-3);
    /// ```
    fn default() -> Self {
        Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl Adam {
    /// Adam with learning rate `lr` and the default `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `lr` is finite and positive.
    ///
    /// ```
    /// use diffeqflux::optim::Adam;
    /// assert!(Adam::new(0.01).is_ok());
    /// assert!(Adam::new(0.0).is_err());
    /// assert!(Adam::new(f64::NAN).is_err());
    /// ```
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Ok(Adam {
            lr: check_lr(lr)?,
            ..Adam::default()
        })
    }

    /// Sets the moment decay rates `β₁`, `β₂`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless both lie in `[0, 1)`.
    ///
    /// ```
    /// use diffeqflux::optim::Adam;
    /// assert_eq!(Adam::new(0.1)?.with_betas(0.5, 0.9)?.betas(), (0.5, 0.9));
    /// assert!(Adam::new(0.1)?.with_betas(1.0, 0.9).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_betas(self, beta1: f64, beta2: f64) -> Result<Self, OptimError> {
        Ok(Adam {
            beta1: check_beta("beta1", beta1)?,
            beta2: check_beta("beta2", beta2)?,
            ..self
        })
    }

    /// Sets `ε`, the denominator's guard.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `eps` is finite and positive.
    ///
    /// ```
    /// use diffeqflux::optim::Adam;
    /// assert_eq!(Adam::new(0.1)?.with_eps(1e-6)?.eps(), 1e-6);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_eps(self, eps: f64) -> Result<Self, OptimError> {
        Ok(Adam {
            eps: check_positive("eps", eps)?,
            ..self
        })
    }

    /// `(β₁, β₂)`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Adam::default().betas(), (0.9, 0.999));
    /// ```
    pub fn betas(&self) -> (f64, f64) {
        (self.beta1, self.beta2)
    }

    /// `ε`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Adam::default().eps(), 1e-8);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The first-moment estimate `m` (empty before the first step).
    ///
    /// ```
    /// use diffeqflux::optim::{Adam, Optimiser};
    /// let mut adam = Adam::new(0.1)?;
    /// adam.step(&mut [0.0], &[1.0])?;
    /// assert!((adam.first_moment()[0] - 0.1).abs() < 1e-15); // (1 − β₁)·g
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn first_moment(&self) -> &[f64] {
        &self.m
    }

    /// The second-moment estimate `v` (empty before the first step).
    ///
    /// ```
    /// use diffeqflux::optim::{Adam, Optimiser};
    /// let mut adam = Adam::new(0.1)?;
    /// adam.step(&mut [0.0], &[2.0])?;
    /// assert!((adam.second_moment()[0] - 0.004).abs() < 1e-15); // (1 − β₂)·g²
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn second_moment(&self) -> &[f64] {
        &self.v
    }
}

/// One bias-corrected Adam update of `params` (shared with [`super::AdamW`]).
pub(crate) struct AdamCore<'a> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub t: u64,
    pub m: &'a mut [f64],
    pub v: &'a mut [f64],
}

impl AdamCore<'_> {
    /// `m`, `v` updated with `grad`, then `params -= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
    pub fn apply(self, params: &mut [f64], grad: &[f64]) {
        let t = self.t as f64;
        let bc1 = 1.0 - self.beta1.powf(t);
        let bc2_sqrt = (1.0 - self.beta2.powf(t)).sqrt();
        let step_size = self.lr / bc1;
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let denom = v.sqrt() / bc2_sqrt + self.eps;
            *p -= step_size * *m / denom;
        }
    }
}

impl Optimiser for Adam {
    fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<(), OptimError> {
        check_step_input(params, grad, self.m.len())?;
        if self.m.is_empty() {
            self.m = vec![0.0; params.len()];
            self.v = vec![0.0; params.len()];
        }
        self.t += 1;
        AdamCore {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            t: self.t,
            m: &mut self.m,
            v: &mut self.v,
        }
        .apply(params, grad);
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.m.clear();
        self.v.clear();
    }

    fn name(&self) -> &'static str {
        "adam"
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError> {
        self.lr = check_lr(lr)?;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.t
    }
}
