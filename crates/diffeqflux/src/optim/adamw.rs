//! AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), PyTorch semantics.

use super::adam::AdamCore;
use super::{
    check_beta, check_lr, check_non_negative, check_positive, check_state_buffer, check_step_input,
    OptimError, Optimiser,
};
use serde::{Deserialize, Serialize};

/// AdamW (Loshchilov & Hutter, *Decoupled weight decay regularization*, ICLR 2019,
/// algorithm 2) as `torch.optim.AdamW` computes it: the parameters first shrink by the
/// learning rate times the decay, then take an ordinary bias-corrected [`Adam`](super::Adam)
/// step on the unmodified gradient:
///
/// ```text
/// p ← p · (1 − lr · λ)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Defaults (PyTorch's): `lr = 1e-3`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`, `λ = 0.01`.
///
/// ```
/// use diffeqflux::optim::{AdamW, Optimiser};
/// let mut opt = AdamW::new(0.1)?.with_weight_decay(0.5)?;
/// let mut p = vec![2.0];
/// opt.step(&mut p, &[0.0])?; // zero gradient: only the decay acts
/// assert!((p[0] - 2.0 * (1.0 - 0.1 * 0.5)).abs() < 1e-15);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AdamWRepr")]
pub struct AdamW {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

/// The serde form of [`AdamW`], validated on the way in.
#[derive(Deserialize)]
struct AdamWRepr {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl TryFrom<AdamWRepr> for AdamW {
    type Error = OptimError;
    fn try_from(r: AdamWRepr) -> Result<Self, OptimError> {
        let opt = AdamW::new(r.lr)?
            .with_betas(r.beta1, r.beta2)?
            .with_eps(r.eps)?
            .with_weight_decay(r.weight_decay)?;
        check_state_buffer("AdamW's first moment m", &r.m, r.m.len())?;
        check_state_buffer("AdamW's second moment v", &r.v, r.m.len())?;
        Ok(AdamW {
            t: r.t,
            m: r.m,
            v: r.v,
            ..opt
        })
    }
}

impl Default for AdamW {
    /// `lr = 1e-3`, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`, `λ = 0.01`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::AdamW::default().weight_decay(), 0.01);
    /// ```
    fn default() -> Self {
        AdamW {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl AdamW {
    /// AdamW with learning rate `lr` and the other hyperparameters at their defaults.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `lr` is finite and positive.
    ///
    /// ```
    /// use diffeqflux::optim::{AdamW, Optimiser};
    /// assert_eq!(AdamW::new(0.01)?.learning_rate(), 0.01);
    /// assert!(AdamW::new(-0.01).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Ok(AdamW {
            lr: check_lr(lr)?,
            ..AdamW::default()
        })
    }

    /// Sets the moment decay rates `β₁`, `β₂`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless both lie in `[0, 1)`.
    ///
    /// ```
    /// use diffeqflux::optim::AdamW;
    /// assert!(AdamW::new(0.1)?.with_betas(0.9, -0.1).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_betas(self, beta1: f64, beta2: f64) -> Result<Self, OptimError> {
        Ok(AdamW {
            beta1: check_beta("beta1", beta1)?,
            beta2: check_beta("beta2", beta2)?,
            ..self
        })
    }

    /// Sets `ε`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `eps` is finite and positive.
    ///
    /// ```
    /// use diffeqflux::optim::AdamW;
    /// assert_eq!(AdamW::new(0.1)?.with_eps(1e-7)?.eps(), 1e-7);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_eps(self, eps: f64) -> Result<Self, OptimError> {
        Ok(AdamW {
            eps: check_positive("eps", eps)?,
            ..self
        })
    }

    /// Sets the decoupled weight decay `λ` (0 turns AdamW into Adam).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `weight_decay` is finite and non-negative.
    ///
    /// ```
    /// use diffeqflux::optim::AdamW;
    /// assert_eq!(AdamW::new(0.1)?.with_weight_decay(0.0)?.weight_decay(), 0.0);
    /// assert!(AdamW::new(0.1)?.with_weight_decay(-1.0).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_weight_decay(self, weight_decay: f64) -> Result<Self, OptimError> {
        Ok(AdamW {
            weight_decay: check_non_negative("weight_decay", weight_decay)?,
            ..self
        })
    }

    /// `(β₁, β₂)`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::AdamW::default().betas(), (0.9, 0.999));
    /// ```
    pub fn betas(&self) -> (f64, f64) {
        (self.beta1, self.beta2)
    }

    /// `ε`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::AdamW::default().eps(), 1e-8);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The decoupled weight decay `λ`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::AdamW::default().weight_decay(), 0.01);
    /// ```
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    /// The first-moment estimate `m` (empty before the first step).
    ///
    /// ```
    /// use diffeqflux::optim::{AdamW, Optimiser};
    /// let mut opt = AdamW::new(0.1)?;
    /// opt.step(&mut [1.0], &[1.0])?;
    /// assert!((opt.first_moment()[0] - 0.1).abs() < 1e-15);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn first_moment(&self) -> &[f64] {
        &self.m
    }

    /// The second-moment estimate `v` (empty before the first step).
    ///
    /// ```
    /// use diffeqflux::optim::{AdamW, Optimiser};
    /// let mut opt = AdamW::new(0.1)?;
    /// opt.step(&mut [1.0], &[1.0])?;
    /// assert!((opt.second_moment()[0] - 0.001).abs() < 1e-15);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn second_moment(&self) -> &[f64] {
        &self.v
    }
}

impl Optimiser for AdamW {
    fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<(), OptimError> {
        check_step_input(params, grad, self.m.len())?;
        if self.m.is_empty() {
            self.m = vec![0.0; params.len()];
            self.v = vec![0.0; params.len()];
        }
        self.t += 1;
        let shrink = 1.0 - self.lr * self.weight_decay;
        for p in params.iter_mut() {
            *p *= shrink;
        }
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
        "adamw"
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
