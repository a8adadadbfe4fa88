//! Stopping rules of the quasi-Newton minimisers.

use super::{check_non_negative, OptimError};
use serde::{Deserialize, Serialize};

/// When a quasi-Newton minimiser stops. Checked after every iteration, in this order:
///
/// 1. `‖∇f‖∞ ≤ grad_tol` ([`Termination::GradientTolerance`](super::Termination));
/// 2. `|f_k − f_{k+1}| ≤ f_rel_tol · max(|f_k|, |f_{k+1}|)`
///    ([`Termination::LossTolerance`](super::Termination)); off when `f_rel_tol = 0`;
/// 3. `‖x_{k+1} − x_k‖∞ ≤ x_tol` ([`Termination::StepTolerance`](super::Termination)); off
///    when `x_tol = 0`;
/// 4. `max_iters` iterations done ([`Termination::MaxIterations`](super::Termination)).
///
/// Defaults follow Optim.jl: `grad_tol = 1e-8`, `f_rel_tol = 0`, `x_tol = 0`,
/// `max_iters = 1000`. The gradient test is also applied at the starting point.
///
/// ```
/// use diffeqflux::optim::Convergence;
/// let c = Convergence::default().with_grad_tol(1e-6)?.with_max_iters(50)?;
/// assert_eq!(c.grad_tol(), 1e-6);
/// assert_eq!(c.max_iters(), 50);
/// assert!(Convergence::default().with_f_rel_tol(-1.0).is_err());
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConvergenceRepr")]
pub struct Convergence {
    grad_tol: f64,
    f_rel_tol: f64,
    x_tol: f64,
    max_iters: usize,
}

#[derive(Deserialize)]
struct ConvergenceRepr {
    grad_tol: f64,
    f_rel_tol: f64,
    x_tol: f64,
    max_iters: usize,
}

impl TryFrom<ConvergenceRepr> for Convergence {
    type Error = OptimError;
    fn try_from(r: ConvergenceRepr) -> Result<Self, OptimError> {
        Convergence::default()
            .with_grad_tol(r.grad_tol)?
            .with_f_rel_tol(r.f_rel_tol)?
            .with_x_tol(r.x_tol)?
            .with_max_iters(r.max_iters)
    }
}

impl Default for Convergence {
    /// `grad_tol = 1e-8`, `f_rel_tol = 0` (off), `x_tol = 0` (off), `max_iters = 1000`.
    ///
    /// ```
    /// let c = diffeqflux::optim::Convergence::default();
    /// assert_eq!((c.grad_tol(), c.f_rel_tol(), c.x_tol(), c.max_iters()), (1e-8, 0.0, 0.0, 1000));
    /// ```
    fn default() -> Self {
        Convergence {
            grad_tol: 1e-8,
            f_rel_tol: 0.0,
            x_tol: 0.0,
            max_iters: 1000,
        }
    }
}

impl Convergence {
    /// Sets the gradient tolerance (infinity norm).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless finite and non-negative.
    ///
    /// ```
    /// use diffeqflux::optim::Convergence;
    /// assert!(Convergence::default().with_grad_tol(f64::NAN).is_err());
    /// ```
    pub fn with_grad_tol(self, grad_tol: f64) -> Result<Self, OptimError> {
        Ok(Convergence {
            grad_tol: check_non_negative("grad_tol", grad_tol)?,
            ..self
        })
    }

    /// Sets the relative loss-change tolerance (0 turns the test off).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless finite and non-negative.
    ///
    /// ```
    /// use diffeqflux::optim::Convergence;
    /// assert_eq!(Convergence::default().with_f_rel_tol(1e-10)?.f_rel_tol(), 1e-10);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_f_rel_tol(self, f_rel_tol: f64) -> Result<Self, OptimError> {
        Ok(Convergence {
            f_rel_tol: check_non_negative("f_rel_tol", f_rel_tol)?,
            ..self
        })
    }

    /// Sets the step tolerance (infinity norm of `x_{k+1} − x_k`; 0 turns the test off).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless finite and non-negative.
    ///
    /// ```
    /// use diffeqflux::optim::Convergence;
    /// assert_eq!(Convergence::default().with_x_tol(1e-12)?.x_tol(), 1e-12);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_x_tol(self, x_tol: f64) -> Result<Self, OptimError> {
        Ok(Convergence {
            x_tol: check_non_negative("x_tol", x_tol)?,
            ..self
        })
    }

    /// Sets the iteration limit.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] if `max_iters` is 0.
    ///
    /// ```
    /// use diffeqflux::optim::Convergence;
    /// assert!(Convergence::default().with_max_iters(0).is_err());
    /// ```
    pub fn with_max_iters(self, max_iters: usize) -> Result<Self, OptimError> {
        if max_iters == 0 {
            return Err(OptimError::InvalidHyperparameter {
                name: "max_iters",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        Ok(Convergence { max_iters, ..self })
    }

    /// The gradient tolerance.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Convergence::default().grad_tol(), 1e-8);
    /// ```
    pub fn grad_tol(&self) -> f64 {
        self.grad_tol
    }

    /// The relative loss-change tolerance.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Convergence::default().f_rel_tol(), 0.0);
    /// ```
    pub fn f_rel_tol(&self) -> f64 {
        self.f_rel_tol
    }

    /// The step tolerance.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Convergence::default().x_tol(), 0.0);
    /// ```
    pub fn x_tol(&self) -> f64 {
        self.x_tol
    }

    /// The iteration limit.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Convergence::default().max_iters(), 1000);
    /// ```
    pub fn max_iters(&self) -> usize {
        self.max_iters
    }
}
