//! [`AugmentedNde`]: a neural ODE on a state padded with zeros (Dupont et al. 2019, "Augmented
//! neural ODEs"), DiffEqFlux's `AugmentedNDELayer(nde, adim)`; and [`augment_batch`], the
//! padding of a batch.

use super::{LossGradient, ModelField, NeuralOde, TrajectoryLoss};
use crate::nn::Layer;
use sciml_core::{Batch, Error, Solution, SolveError};
use sciml_ode::{MethodInfo, OdeMethod};
use sciml_sensitivity::Sensitivity;

/// A neural ODE whose state is the input padded with `adim` zeros: the flow of an ODE is a
/// homeomorphism of its state space, so in the input's own dimension it cannot, for example,
/// pull apart nested circles; in `n + adim` dimensions it can. The wrapped layer's network maps
/// `n + adim` features to `n + adim`; calls take the `n`-dimensional input, return the whole
/// augmented trajectory, and gradients with respect to the input drop the padding's components
/// (the padding is a constant, not an input).
///
/// ```
/// use diffeqflux::neural_de::AugmentedNde;
/// use diffeqflux::nn::{Activation, Dense};
/// use diffeqflux::NeuralOde;
/// use sciml_ode::Tsit5;
/// // 2-D inputs, one extra dimension: the network maps 3 -> 3.
/// let node = NeuralOde::new(Dense::new(3, 3, Activation::Tanh), (0.0, 1.0), Tsit5, vec![1.0])?;
/// let anode = AugmentedNde::new(node, 1)?;
/// let p = anode.init_params(0);
/// let sol = anode.solve(&[1.0, -1.0], &p)?;
/// assert_eq!(sol.u[0].len(), 3);
/// let g = anode.loss_and_gradient(&[1.0, -1.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
///     (us[0][2], vec![vec![0.0, 0.0, 1.0]]) // a loss on the extra component
/// })?;
/// assert_eq!(g.du0.len(), 2); // the padding is not an input
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AugmentedNde<N> {
    nde: N,
    adim: usize,
    total: usize,
}

impl<L, M, S, F: ModelField<Model = L>> AugmentedNde<NeuralOde<L, M, S, F>> {
    /// `node` (whose state has `n + adim` components, `n ≥ 1`) on inputs padded with `adim`
    /// zeros.
    pub fn new(node: NeuralOde<L, M, S, F>, adim: usize) -> Result<Self, Error> {
        let total = node.core().field().dims().0;
        if adim >= total {
            return Err(Error::InvalidOption {
                option: "adim",
                reason: format!(
                    "the layer's state has {total} components, so at most {} can be augmented (the input keeps at least one)",
                    total.saturating_sub(1)
                ),
            });
        }
        Ok(AugmentedNde {
            nde: node,
            adim,
            total,
        })
    }

    /// The wrapped layer.
    pub fn layer(&self) -> &NeuralOde<L, M, S, F> {
        &self.nde
    }
    /// Number of zeros appended to each input.
    pub fn adim(&self) -> usize {
        self.adim
    }
    /// Dimension of the input (the state's without the padding).
    pub fn input_dim(&self) -> usize {
        self.total - self.adim
    }
    /// Initial parameters drawn from `seed`.
    pub fn init_params(&self, seed: u64) -> Vec<f64> {
        self.nde.init_params(seed)
    }

    /// `[x; 0 … 0]`, after checking the input's length.
    pub fn augment(&self, x: &[f64]) -> Result<Vec<f64>, Error> {
        if x.len() != self.input_dim() {
            return Err(Error::DimensionMismatch {
                what: "input of the augmented layer (its state less the padding)".into(),
                expected: self.input_dim(),
                got: x.len(),
            });
        }
        let mut u = x.to_vec();
        u.resize(self.total, 0.0);
        Ok(u)
    }

    /// The augmented trajectory at the layer's save times.
    pub fn solve(&self, x: &[f64], p: &[f64]) -> Result<Solution<Vec<f64>>, SolveError<Vec<f64>>>
    where
        M: OdeMethod<F>,
    {
        self.nde.solve(&self.augment(x)?, p)
    }

    /// A loss on the augmented trajectory and its gradients; `du0` is with respect to the
    /// input `x` (the padding's components are dropped).
    pub fn loss_and_gradient(
        &self,
        x: &[f64],
        p: &[f64],
        loss: impl TrajectoryLoss,
    ) -> Result<LossGradient, SolveError<Vec<f64>>>
    where
        M: MethodInfo,
        S: Sensitivity<F, M>,
    {
        let mut g = self.nde.loss_and_gradient(&self.augment(x)?, p, loss)?;
        g.du0.truncate(self.input_dim());
        Ok(g)
    }
}

/// Batches solved as one system (the default field).
impl<L: Layer + Clone, M, S> AugmentedNde<NeuralOde<L, M, S>> {
    /// The augmented trajectory of a batch of inputs (`n × B`).
    pub fn solve_batch(
        &self,
        x: &Batch<f64>,
        p: &[f64],
    ) -> Result<Solution<Batch<f64>>, SolveError<Batch<f64>>>
    where
        M: OdeMethod<super::NeuralField<L, Batch<f64>>>,
    {
        self.nde
            .solve_batch(&augment_batch(x, self.input_dim(), self.adim)?, p)
    }

    /// A loss on the augmented batched trajectory and its gradients; `du0` is `n × B`, the
    /// padding's rows dropped.
    pub fn loss_and_gradient_batch(
        &self,
        x: &Batch<f64>,
        p: &[f64],
        loss: impl FnMut(&[f64], &[Batch<f64>]) -> (f64, Vec<Batch<f64>>),
    ) -> Result<LossGradient<Batch<f64>>, SolveError<Batch<f64>>>
    where
        M: MethodInfo,
        S: Sensitivity<super::NeuralField<L, Batch<f64>>, M>,
    {
        let u0 = augment_batch(x, self.input_dim(), self.adim)?;
        let g = self.nde.loss_and_gradient_batch(&u0, p, loss)?;
        let du0 = drop_rows(&g.du0, self.input_dim());
        Ok(LossGradient {
            loss: g.loss,
            du0,
            dp: g.dp,
            forward: g.forward,
            backward: g.backward,
        })
    }
}

/// Pads every sample of `x` (`n × B`, `n` checked) with `adim` zeros: `(n + adim) × B`.
///
/// ```
/// use diffeqflux::neural_de::augment_batch;
/// use sciml_core::Batch;
/// let x = Batch::new(2, 2, vec![1.0, 2.0, 3.0, 4.0])?;
/// let u = augment_batch(&x, 2, 1)?;
/// assert_eq!(u.as_ref(), &[1.0, 2.0, 0.0, 3.0, 4.0, 0.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn augment_batch(x: &Batch<f64>, n: usize, adim: usize) -> Result<Batch<f64>, Error> {
    if x.features() != n {
        return Err(Error::DimensionMismatch {
            what: "features of the batched input of the augmented layer".into(),
            expected: n,
            got: x.features(),
        });
    }
    let mut u = Batch::zeros(n + adim, x.batch_size());
    for b in 0..x.batch_size() {
        u.column_mut(b)[..n].copy_from_slice(x.column(b));
    }
    Ok(u)
}

/// The first `n` rows of every sample of `u`.
fn drop_rows(u: &Batch<f64>, n: usize) -> Batch<f64> {
    let mut out = Batch::zeros(n, u.batch_size());
    for b in 0..u.batch_size() {
        out.column_mut(b).copy_from_slice(&u.column(b)[..n]);
    }
    out
}
