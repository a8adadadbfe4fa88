//! A first-order optimiser chosen at run time.

use super::{Adam, AdamW, OptimError, Optimiser, Sgd};
use serde::{Deserialize, Serialize};

/// One of the first-order optimisers, chosen at run time (from a configuration file, say).
/// Serialises with a `"kind"` tag: `{"kind": "adam", "lr": 0.001, ...}`.
///
/// ```
/// use diffeqflux::optim::{Adam, AnyOptimiser, Optimiser};
/// let mut opt: AnyOptimiser = Adam::new(0.1)?.into();
/// assert_eq!(opt.name(), "adam");
/// let mut p = vec![1.0];
/// opt.step(&mut p, &[1.0])?;
/// let json = serde_json::to_string(&opt).unwrap();
/// assert!(json.contains(r#""kind":"adam""#));
/// let back: AnyOptimiser = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, opt);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum AnyOptimiser {
    /// [`Adam`].
    Adam(Adam),
    /// [`AdamW`].
    AdamW(AdamW),
    /// [`Sgd`].
    Sgd(Sgd),
}

impl AnyOptimiser {
    fn inner(&self) -> &dyn Optimiser {
        match self {
            AnyOptimiser::Adam(o) => o,
            AnyOptimiser::AdamW(o) => o,
            AnyOptimiser::Sgd(o) => o,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Optimiser {
        match self {
            AnyOptimiser::Adam(o) => o,
            AnyOptimiser::AdamW(o) => o,
            AnyOptimiser::Sgd(o) => o,
        }
    }
}

impl From<Adam> for AnyOptimiser {
    fn from(o: Adam) -> Self {
        AnyOptimiser::Adam(o)
    }
}

impl From<AdamW> for AnyOptimiser {
    fn from(o: AdamW) -> Self {
        AnyOptimiser::AdamW(o)
    }
}

impl From<Sgd> for AnyOptimiser {
    fn from(o: Sgd) -> Self {
        AnyOptimiser::Sgd(o)
    }
}

impl Optimiser for AnyOptimiser {
    fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<(), OptimError> {
        self.inner_mut().step(params, grad)
    }

    fn reset(&mut self) {
        self.inner_mut().reset();
    }

    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn learning_rate(&self) -> f64 {
        self.inner().learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError> {
        self.inner_mut().set_learning_rate(lr)
    }

    fn steps(&self) -> u64 {
        self.inner().steps()
    }
}
