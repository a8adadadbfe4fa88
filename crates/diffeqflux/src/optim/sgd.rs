//! Stochastic gradient descent with optional heavy-ball or Nesterov momentum.

use super::{
    check_lr, check_non_negative, check_state_buffer, check_step_input, OptimError, Optimiser,
};
use serde::{Deserialize, Serialize};

/// Gradient descent with momentum as `torch.optim.SGD` computes it (no dampening, no weight
/// decay). With momentum `μ` and velocity buffer `b` (zero before the first step):
///
/// ```text
/// b ← μ b + g
/// p ← p − lr · b            (heavy ball, Polyak 1964)
/// p ← p − lr · (g + μ b)    (nesterov = true, Sutskever et al. 2013)
/// ```
///
/// With `μ = 0` this is plain gradient descent `p ← p − lr · g` and keeps no buffer.
///
/// ```
/// use diffeqflux::optim::{Optimiser, Sgd};
/// let mut sgd = Sgd::new(0.1)?.with_momentum(0.9)?;
/// let mut p = vec![1.0];
/// sgd.step(&mut p, &[1.0])?; // b = 1,   p = 1 − 0.1 = 0.9
/// sgd.step(&mut p, &[1.0])?; // b = 1.9, p = 0.9 − 0.19 = 0.71
/// assert!((p[0] - 0.71).abs() < 1e-15);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SgdRepr")]
pub struct Sgd {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    t: u64,
    velocity: Vec<f64>,
}

/// The serde form of [`Sgd`], validated on the way in.
#[derive(Deserialize)]
struct SgdRepr {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    t: u64,
    velocity: Vec<f64>,
}

impl TryFrom<SgdRepr> for Sgd {
    type Error = OptimError;
    fn try_from(r: SgdRepr) -> Result<Self, OptimError> {
        let sgd = Sgd::new(r.lr)?
            .with_momentum(r.momentum)?
            .with_nesterov(r.nesterov)?;
        check_state_buffer("SGD's velocity", &r.velocity, r.velocity.len())?;
        Ok(Sgd {
            t: r.t,
            velocity: r.velocity,
            ..sgd
        })
    }
}

impl Sgd {
    /// Plain gradient descent with learning rate `lr` (momentum 0).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `lr` is finite and positive.
    ///
    /// ```
    /// use diffeqflux::optim::{Optimiser, Sgd};
    /// let mut sgd = Sgd::new(0.5)?;
    /// let mut p = vec![1.0, 2.0];
    /// sgd.step(&mut p, &[1.0, -2.0])?;
    /// assert_eq!(p, vec![0.5, 3.0]);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Ok(Sgd {
            lr: check_lr(lr)?,
            momentum: 0.0,
            nesterov: false,
            t: 0,
            velocity: Vec::new(),
        })
    }

    /// Sets the momentum `μ`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `0 ≤ μ < 1`, or if `μ = 0` while Nesterov
    /// momentum is on.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// assert_eq!(Sgd::new(0.1)?.with_momentum(0.9)?.momentum(), 0.9);
    /// assert!(Sgd::new(0.1)?.with_momentum(1.5).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_momentum(self, momentum: f64) -> Result<Self, OptimError> {
        let momentum = check_non_negative("momentum", momentum)?;
        if momentum >= 1.0 {
            return Err(OptimError::InvalidHyperparameter {
                name: "momentum",
                value: momentum,
                reason: "must lie in [0, 1)",
            });
        }
        if self.nesterov && momentum == 0.0 {
            return Err(OptimError::InvalidHyperparameter {
                name: "momentum",
                value: momentum,
                reason: "Nesterov momentum needs a positive momentum",
            });
        }
        Ok(Sgd { momentum, ..self })
    }

    /// Turns Nesterov momentum on or off.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] when turning it on with momentum 0 (as PyTorch
    /// refuses it): set the momentum first.
    ///
    /// ```
    /// use diffeqflux::optim::Sgd;
    /// assert!(Sgd::new(0.1)?.with_momentum(0.9)?.with_nesterov(true)?.nesterov());
    /// assert!(Sgd::new(0.1)?.with_nesterov(true).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_nesterov(self, nesterov: bool) -> Result<Self, OptimError> {
        if nesterov && self.momentum == 0.0 {
            return Err(OptimError::InvalidHyperparameter {
                name: "momentum",
                value: self.momentum,
                reason: "Nesterov momentum needs a positive momentum; call with_momentum first",
            });
        }
        Ok(Sgd { nesterov, ..self })
    }

    /// The momentum `μ`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Sgd::new(0.1)?.momentum(), 0.0);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// Whether Nesterov momentum is on.
    ///
    /// ```
    /// assert!(!diffeqflux::optim::Sgd::new(0.1)?.nesterov());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn nesterov(&self) -> bool {
        self.nesterov
    }

    /// The velocity buffer `b` (empty before the first step or without momentum).
    ///
    /// ```
    /// use diffeqflux::optim::{Optimiser, Sgd};
    /// let mut sgd = Sgd::new(0.1)?.with_momentum(0.5)?;
    /// sgd.step(&mut [0.0], &[2.0])?;
    /// assert_eq!(sgd.velocity(), &[2.0]);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn velocity(&self) -> &[f64] {
        &self.velocity
    }
}

impl Optimiser for Sgd {
    fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<(), OptimError> {
        check_step_input(params, grad, self.velocity.len())?;
        self.t += 1;
        if self.momentum == 0.0 {
            for (p, &g) in params.iter_mut().zip(grad) {
                *p -= self.lr * g;
            }
            return Ok(());
        }
        if self.velocity.is_empty() {
            self.velocity = vec![0.0; params.len()];
        }
        let mu = self.momentum;
        for ((p, &g), b) in params.iter_mut().zip(grad).zip(self.velocity.iter_mut()) {
            *b = mu * *b + g;
            let d = if self.nesterov { g + mu * *b } else { *b };
            *p -= self.lr * d;
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.velocity.clear();
    }

    fn name(&self) -> &'static str {
        "sgd"
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
