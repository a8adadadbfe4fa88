//! [`FfjordDistribution`]: a trained flow as a distribution (density and sampling).

use super::{Ffjord, FfjordField, Trace};
use crate::nn::Layer;
use sciml_core::{rng::Xoshiro256pp, Batch, Error, SolveError};
use sciml_ode::{OdeMethod, OdeProblem, SaveAt, SolveOptions};

/// A flow with fixed parameters as a distribution, DiffEqFlux's `FFJORDDistribution`:
/// `log_pdf` and `pdf` solve forward from the data (always with the exact trace, so the density
/// is deterministic), `sample` draws from the base and solves backwards from `t1` to `t0`.
///
/// ```
/// use diffeqflux::neural_de::{Ffjord, FfjordDistribution};
/// use diffeqflux::nn::{Activation, Dense};
/// use sciml_core::rng::Xoshiro256pp;
/// use sciml_ode::Tsit5;
/// // Zero weights: the flow is the identity and the density the standard normal's.
/// let flow = Ffjord::new(Dense::new(1, 1, Activation::Tanh), (0.0, 1.0), Tsit5)?;
/// let dist = FfjordDistribution::new(flow, vec![0.0, 0.0])?;
/// let samples = dist.sample(4, &mut Xoshiro256pp::new(0))?;
/// let lp = dist.log_pdf(&samples)?;
/// let x = samples.column(0)[0];
/// assert!((lp[0] - (-0.5 * x * x - 0.5 * (2.0 * std::f64::consts::PI).ln())).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FfjordDistribution<L, M, S> {
    flow: Ffjord<L, M, S>,
    p: Vec<f64>,
}

impl<L: Layer + Clone, M, S> FfjordDistribution<L, M, S> {
    /// The distribution of `flow` with parameters `p` (`flow.nparams()` finite values).
    pub fn new(flow: Ffjord<L, M, S>, p: Vec<f64>) -> Result<Self, Error> {
        if p.len() != flow.nparams() {
            return Err(Error::DimensionMismatch {
                what: "parameters of the flow".into(),
                expected: flow.nparams(),
                got: p.len(),
            });
        }
        if let Some(i) = p.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "parameters of the flow".into(),
                index: i,
            });
        }
        let flow = flow.trace(Trace::Exact);
        Ok(FfjordDistribution { flow, p })
    }

    /// The flow.
    pub fn flow(&self) -> &Ffjord<L, M, S> {
        &self.flow
    }
    /// The parameters.
    pub fn params(&self) -> &[f64] {
        &self.p
    }

    /// `log p(x)` of each sample of `x` (`n × batch`).
    pub fn log_pdf(&self, x: &Batch<f64>) -> Result<Vec<f64>, SolveError<Batch<f64>>>
    where
        M: OdeMethod<FfjordField<L, Batch<f64>>>,
    {
        // The exact trace draws no probes, so this generator is never used.
        let mut rng = Xoshiro256pp::new(0);
        Ok(self.flow.forward(x, &self.p, &mut rng)?.logpx)
    }

    /// `p(x)` of each sample of `x` (`n × batch`).
    pub fn pdf(&self, x: &Batch<f64>) -> Result<Vec<f64>, SolveError<Batch<f64>>>
    where
        M: OdeMethod<FfjordField<L, Batch<f64>>>,
    {
        Ok(self.log_pdf(x)?.into_iter().map(f64::exp).collect())
    }

    /// `count` samples (`n × count`): base draws from `rng` carried from `t1` back to `t0`.
    pub fn sample(
        &self,
        count: usize,
        rng: &mut Xoshiro256pp,
    ) -> Result<Batch<f64>, SolveError<Batch<f64>>>
    where
        M: OdeMethod<FfjordField<L, Batch<f64>>>,
    {
        if count == 0 {
            return Err(Error::InvalidOption {
                option: "count",
                reason: "draw at least one sample".into(),
            }
            .into());
        }
        let n = self.flow.dim();
        // Only z is needed; the exact-trace field without regularisers is the cheapest one
        // that shares the forward pass's code.
        let field = FfjordField::new(self.flow.model().clone(), count, Trace::Exact, false)?;
        let m = field.features();
        let mut u0 = Batch::zeros(m, count);
        let base = self.flow.base_distribution();
        for b in 0..count {
            base.sample_to(rng, &mut u0.column_mut(b)[..n]);
        }
        let (t0, t1) = self.flow.core().tspan();
        let mut prob = OdeProblem::new(field, u0, (t1, t0), self.p.clone())?;
        let mut opts: SolveOptions<f64> = self.flow.core().options().clone();
        opts.saveat = SaveAt::Times(vec![t0]);
        let sol = prob.solve(self.flow.core().method().clone(), &opts)?;
        let end = sol.u.last().ok_or_else(|| Error::InvalidOption {
            option: "saveat",
            reason: "the solve saved no state".into(),
        })?;
        let mut x = Batch::zeros(n, count);
        for b in 0..count {
            x.column_mut(b).copy_from_slice(&end.column(b)[..n]);
        }
        Ok(x)
    }
}
