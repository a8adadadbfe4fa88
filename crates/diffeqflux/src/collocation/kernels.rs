//! The smoothing kernels of collocation, each a probability density on the real line.

use serde::{Deserialize, Serialize};
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, PI};

/// A smoothing kernel `K(x)`: non-negative, symmetric, integrating to 1. The first seven have
/// support `[-1, 1]`; the last four are positive everywhere. The formulas are the standard
/// ones (Wand and Jones, *Kernel Smoothing*, 1995; Silverman's kernel from Silverman, *Density
/// Estimation*, 1986), the set DiffEqFlux's collocation offers.
///
/// ```
/// use diffeqflux::collocation::Kernel;
/// assert_eq!(Kernel::Epanechnikov.value(0.0), 0.75);
/// assert_eq!(Kernel::Epanechnikov.value(1.5), 0.0);
/// assert!(Kernel::Gaussian.value(3.0) > 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kernel {
    /// `3/4 (1 − x²)` on `|x| ≤ 1`.
    Epanechnikov,
    /// `1/2` on `|x| ≤ 1`.
    Uniform,
    /// `1 − |x|` on `|x| ≤ 1` (DiffEqFlux's default).
    Triangular,
    /// `15/16 (1 − x²)²` on `|x| ≤ 1` (the biweight).
    Quartic,
    /// `35/32 (1 − x²)³` on `|x| ≤ 1`.
    Triweight,
    /// `70/81 (1 − |x|³)³` on `|x| ≤ 1`.
    Tricube,
    /// `π/4 cos(πx/2)` on `|x| ≤ 1`.
    Cosine,
    /// `exp(−x²/2) / √(2π)`.
    Gaussian,
    /// `1 / (eˣ + 2 + e⁻ˣ)`.
    Logistic,
    /// `2/π · 1 / (eˣ + e⁻ˣ)`.
    Sigmoid,
    /// `1/2 exp(−|x|/√2) sin(|x|/√2 + π/4)`.
    Silverman,
}

impl Kernel {
    /// Every kernel, in the order of the enum.
    pub const ALL: [Kernel; 11] = [
        Kernel::Epanechnikov,
        Kernel::Uniform,
        Kernel::Triangular,
        Kernel::Quartic,
        Kernel::Triweight,
        Kernel::Tricube,
        Kernel::Cosine,
        Kernel::Gaussian,
        Kernel::Logistic,
        Kernel::Sigmoid,
        Kernel::Silverman,
    ];

    /// Whether the kernel is zero outside `[-1, 1]`.
    ///
    /// ```
    /// use diffeqflux::collocation::Kernel;
    /// assert!(Kernel::Cosine.bounded_support());
    /// assert!(!Kernel::Logistic.bounded_support());
    /// ```
    pub fn bounded_support(self) -> bool {
        !matches!(
            self,
            Kernel::Gaussian | Kernel::Logistic | Kernel::Sigmoid | Kernel::Silverman
        )
    }

    /// `K(x)`.
    ///
    /// ```
    /// use diffeqflux::collocation::Kernel;
    /// assert!((Kernel::Sigmoid.value(0.0) - 1.0 / std::f64::consts::PI).abs() < 1e-16);
    /// ```
    pub fn value(self, x: f64) -> f64 {
        let a = x.abs();
        if self.bounded_support() && a > 1.0 {
            return 0.0;
        }
        match self {
            Kernel::Epanechnikov => 0.75 * (1.0 - x * x),
            Kernel::Uniform => 0.5,
            Kernel::Triangular => 1.0 - a,
            Kernel::Quartic => 15.0 / 16.0 * (1.0 - x * x).powi(2),
            Kernel::Triweight => 35.0 / 32.0 * (1.0 - x * x).powi(3),
            Kernel::Tricube => 70.0 / 81.0 * (1.0 - a * a * a).powi(3),
            Kernel::Cosine => FRAC_PI_4 * (FRAC_PI_2 * x).cos(),
            Kernel::Gaussian => (-0.5 * x * x).exp() / (2.0 * PI).sqrt(),
            // Written with e^{-|x|} so that large |x| underflows to 0 instead of overflowing.
            Kernel::Logistic => {
                let e = (-a).exp();
                e / (1.0 + e).powi(2)
            }
            Kernel::Sigmoid => {
                let e = (-a).exp();
                2.0 / PI * e / (1.0 + e * e)
            }
            Kernel::Silverman => {
                let s = a * FRAC_1_SQRT_2;
                0.5 * (-s).exp() * (s + FRAC_PI_4).sin()
            }
        }
    }
}
