//! The penalty that ties each window's end to the next window's start.

use std::fmt;
use std::sync::Arc;

/// A user's continuity loss: given the end of one window's prediction and the next window's
/// initial state, returns the loss and its gradients with respect to both.
pub type ContinuityFn = dyn Fn(&[f64], &[f64]) -> (f64, Vec<f64>, Vec<f64>) + Send + Sync;

/// How the mismatch between a window's last predicted state `û_end` and the next window's
/// initial state `u₀` is measured; multiplied by the continuity term.
///
/// ```
/// use diffeqflux::multiple_shooting::Continuity;
/// let (l, d_end, d_start) = Continuity::Abs.eval(&[1.0, 2.0], &[0.5, 3.0]);
/// assert_eq!((l, d_end, d_start), (1.5, vec![1.0, -1.0], vec![-1.0, 1.0]));
/// assert_eq!(Continuity::Squared.eval(&[1.0], &[0.5]).0, 0.25);
/// ```
#[derive(Clone, Default)]
pub enum Continuity {
    /// `Σ |û_end − u₀|`, DiffEqFlux's default continuity loss.
    #[default]
    Abs,
    /// `Σ (û_end − u₀)²`: smooth, for quasi-Newton optimisers.
    Squared,
    /// A user's loss.
    Custom(Arc<ContinuityFn>),
}

impl fmt::Debug for Continuity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Continuity::Abs => f.write_str("Abs"),
            Continuity::Squared => f.write_str("Squared"),
            Continuity::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Continuity {
    /// The loss and its gradients with respect to `end` and `start`. The gradient of `|x|` at 0
    /// is taken as 0.
    pub fn eval(&self, end: &[f64], start: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let diff = end.iter().zip(start).map(|(a, b)| a - b);
        match self {
            Continuity::Abs => {
                let loss = diff.clone().map(f64::abs).sum();
                let d_end: Vec<f64> = diff
                    .map(|d| if d == 0.0 { 0.0 } else { d.signum() })
                    .collect();
                let d_start = d_end.iter().map(|d| -d).collect();
                (loss, d_end, d_start)
            }
            Continuity::Squared => {
                let loss = diff.clone().map(|d| d * d).sum();
                let d_end: Vec<f64> = diff.map(|d| 2.0 * d).collect();
                let d_start = d_end.iter().map(|d| -d).collect();
                (loss, d_end, d_start)
            }
            Continuity::Custom(f) => f(end, start),
        }
    }
}
