//! The collocation loss: a network fitted to derivative estimates, with no solve.

use super::{Collocation, CollocationError};
use crate::nn::{Input, Layer};

/// `L(p) = Σ_i ‖model(u_i; p) − u′_i‖²` over the pairs `(u_i, u′_i)` of a [`Collocation`]
/// (DiffEqFlux's collocation tutorial): training a vector field on smoothed data without
/// solving it. The states are one batch (`dim × n`, column-major) for the layer.
///
/// ```
/// use diffeqflux::collocation::{collocate_data, CollocationLoss, Kernel};
/// use diffeqflux::nn::{Activation, Dense};
/// // u' = -u sampled exactly: the linear model with weight -1, bias 0 fits it.
/// let t: Vec<f64> = (0..40).map(|i| i as f64 / 39.0).collect();
/// let data: Vec<Vec<f64>> = t.iter().map(|s| vec![(-s).exp()]).collect();
/// let c = collocate_data(&data, &t, Kernel::Epanechnikov, Some(0.1))?;
/// let loss = CollocationLoss::new(&c)?;
/// let model = Dense::new(1, 1, Activation::Identity);
/// let (good, grad) = loss.loss_and_gradient(&model, &[-1.0, 0.0])?;
/// let (bad, _) = loss.loss_and_gradient(&model, &[0.0, 0.0])?;
/// assert!(good < 1e-4 * bad);
/// assert_eq!(grad.len(), 2);
/// # Ok::<(), diffeqflux::collocation::CollocationError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CollocationLoss {
    dim: usize,
    /// States, `dim × n` column-major.
    u: Vec<f64>,
    /// Derivatives, `dim × n` column-major.
    du: Vec<f64>,
}

impl CollocationLoss {
    /// The loss on the pairs of a collocation.
    ///
    /// # Errors
    /// As [`CollocationLoss::from_pairs`].
    pub fn new(c: &Collocation) -> Result<Self, CollocationError> {
        Self::from_pairs(&c.u, &c.du)
    }

    /// The loss on given pairs `(u[i], du[i])` (for example derivatives measured directly).
    ///
    /// # Errors
    /// [`CollocationError`] when there are no pairs, `u` and `du` differ in count, or the states
    /// differ in length or hold non-finite values.
    pub fn from_pairs(u: &[Vec<f64>], du: &[Vec<f64>]) -> Result<Self, CollocationError> {
        if u.is_empty() {
            return Err(CollocationError::TooFewSamples(0));
        }
        if du.len() != u.len() {
            return Err(CollocationError::Length {
                what: "du",
                expected: u.len(),
                found: du.len(),
            });
        }
        let dim = u[0].len();
        if dim == 0 {
            return Err(CollocationError::Length {
                what: "state 0 of u",
                expected: 1,
                found: 0,
            });
        }
        for (i, (a, b)) in u.iter().zip(du).enumerate() {
            for len in [a.len(), b.len()] {
                if len != dim {
                    return Err(CollocationError::StateLength {
                        index: i,
                        expected: dim,
                        found: len,
                    });
                }
            }
            if a.iter().chain(b).any(|v| !v.is_finite()) {
                return Err(CollocationError::NonFinite {
                    what: "collocation pairs",
                    index: i,
                });
            }
        }
        Ok(CollocationLoss {
            dim,
            u: u.concat(),
            du: du.concat(),
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.u.len() / self.dim.max(1)
    }

    /// Whether there are no pairs (never, for a loss that was built).
    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    /// The loss on the pairs whose indices are in `batch` (a minibatch), as a new loss.
    ///
    /// # Errors
    /// [`CollocationError::Length`] for an index out of range; `TooFewSamples` for an empty batch.
    pub fn subset(&self, batch: &[usize]) -> Result<Self, CollocationError> {
        if batch.is_empty() {
            return Err(CollocationError::TooFewSamples(0));
        }
        let n = self.len();
        let mut u = Vec::with_capacity(batch.len() * self.dim);
        let mut du = Vec::with_capacity(batch.len() * self.dim);
        for &i in batch {
            if i >= n {
                return Err(CollocationError::Length {
                    what: "minibatch index bound",
                    expected: n,
                    found: i + 1,
                });
            }
            u.extend_from_slice(&self.u[i * self.dim..(i + 1) * self.dim]);
            du.extend_from_slice(&self.du[i * self.dim..(i + 1) * self.dim]);
        }
        Ok(CollocationLoss {
            dim: self.dim,
            u,
            du,
        })
    }

    /// The loss and its gradient with respect to the model's parameters `p` (one forward pass
    /// and one VJP over the whole batch of states).
    ///
    /// # Errors
    /// [`CollocationError::Model`] when the model does not map states of this dimension to
    /// derivatives of it, or `p` has the wrong length.
    pub fn loss_and_gradient<L: Layer>(
        &self,
        model: &L,
        p: &[f64],
    ) -> Result<(f64, Vec<f64>), CollocationError> {
        let batch = self.len();
        let residual = self.residual(model, p)?;
        let loss = residual.iter().map(|r| r * r).sum();
        let ybar: Vec<f64> = residual.iter().map(|r| 2.0 * r).collect();
        let mut xbar = vec![0.0; self.u.len()];
        let mut pbar = vec![0.0; p.len()];
        let mut ws = vec![0.0; model.workspace_len(batch)];
        let inp = Input {
            x: &self.u,
            batch,
            p,
        };
        model.try_vjp(inp, &ybar, &mut xbar, &mut pbar, &mut ws)?;
        Ok((loss, pbar))
    }

    /// The loss alone.
    ///
    /// # Errors
    /// As [`CollocationLoss::loss_and_gradient`].
    pub fn loss<L: Layer>(&self, model: &L, p: &[f64]) -> Result<f64, CollocationError> {
        Ok(self.residual(model, p)?.iter().map(|r| r * r).sum())
    }

    /// `model(u_i; p) − u′_i` for every pair, column-major.
    fn residual<L: Layer>(&self, model: &L, p: &[f64]) -> Result<Vec<f64>, CollocationError> {
        if model.in_dim() != self.dim || model.out_dim() != self.dim {
            return Err(CollocationError::ModelShape {
                dim: self.dim,
                in_dim: model.in_dim(),
                out_dim: model.out_dim(),
            });
        }
        let mut y = model.apply(&self.u, self.len(), p)?;
        y.iter_mut().zip(&self.du).for_each(|(a, b)| *a -= b);
        Ok(y)
    }
}
