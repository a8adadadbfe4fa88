//! [`DiagonalNormal`]: the base distribution of a continuous normalizing flow.

use sciml_core::{rng::Xoshiro256pp, Error};

/// `ln √(2π)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

/// A normal distribution with independent components, `N(μ, diag(σ²))`: the base distribution
/// of [`super::Ffjord`] (standard normal by default).
///
/// ```
/// use diffeqflux::neural_de::DiagonalNormal;
/// let base = DiagonalNormal::new(vec![0.0, 1.0], vec![1.0, 2.0])?;
/// // log N(0 | 0, 1) + log N(1 | 1, 4) = −ln(2π) − ln 2
/// let lp = base.log_pdf(&[0.0, 1.0])?;
/// assert!((lp + (2.0 * std::f64::consts::PI).ln() + 2f64.ln()).abs() < 1e-14);
/// assert!(DiagonalNormal::new(vec![0.0], vec![0.0]).is_err()); // σ must be positive
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalNormal {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl DiagonalNormal {
    /// The standard normal in `dim` dimensions.
    pub fn standard(dim: usize) -> Self {
        DiagonalNormal {
            mean: vec![0.0; dim],
            std: vec![1.0; dim],
        }
    }

    /// Means `mean` and standard deviations `std` (positive, finite, as many as the means).
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Self, Error> {
        if mean.len() != std.len() || mean.is_empty() {
            return Err(Error::DimensionMismatch {
                what: "standard deviations of the base distribution (one per mean, at least one)"
                    .into(),
                expected: mean.len().max(1),
                got: std.len(),
            });
        }
        if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::NonFinite {
                what: "mean of the base distribution".into(),
                index: i,
            });
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::InvalidOption {
                option: "std",
                reason: format!(
                    "standard deviation {i} of the base distribution is {}; give a positive finite scale",
                    std[i]
                ),
            });
        }
        Ok(DiagonalNormal { mean, std })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    /// The means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }
    /// The standard deviations.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// `log p(z)`; a point of the wrong dimension is an `Err`.
    pub fn log_pdf(&self, z: &[f64]) -> Result<f64, Error> {
        if z.len() != self.dim() {
            return Err(Error::DimensionMismatch {
                what: "point of the base distribution".into(),
                expected: self.dim(),
                got: z.len(),
            });
        }
        if let Some(index) = z.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "point of the base distribution".into(),
                index,
            });
        }
        Ok(self.log_pdf_unchecked(z))
    }

    pub(crate) fn log_pdf_unchecked(&self, z: &[f64]) -> f64 {
        z.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(x, (m, s))| {
                let r = (x - m) / s;
                -0.5 * r * r - s.ln() - LN_SQRT_2PI
            })
            .sum()
    }

    /// `out = ∇ log p(z) = −(z − μ)/σ²`.
    pub(crate) fn grad_log_pdf_to(&self, z: &[f64], out: &mut [f64]) {
        for (o, (x, (m, s))) in out
            .iter_mut()
            .zip(z.iter().zip(self.mean.iter().zip(&self.std)))
        {
            *o = -(x - m) / (s * s);
        }
    }

    /// One draw into `out` (`dim` values).
    pub(crate) fn sample_to(&self, rng: &mut Xoshiro256pp, out: &mut [f64]) {
        for (o, (m, s)) in out.iter_mut().zip(self.mean.iter().zip(&self.std)) {
            *o = m + s * rng.normal();
        }
    }
}
