//! The Oregonator, Field and Noyes' model of the Belousov–Zhabotinskii reaction (`orego`).

use super::TestProblem;
use sciml_core::{GenericRhs, Scalar};

/// The Oregonator, problem OREGO of the IVP test set (Mazzia and Magherini, release 2.4,
/// "Problem OREGO"; Field and Noyes 1974, Hairer and Wanner, *Solving ODEs II*, section IV.10):
///
/// ```text
/// y1' = s (y2 + y1 (1 − q y1 − y2))
/// y2' = (y3 − (1 + y1) y2) / s
/// y3' = w (y1 − y3),        s = 77.27, w = 0.161, q = 8.375e-6,   y(0) = (1, 2, 3)
/// ```
///
/// on t in [0, 360]. No parameters (the constants are the test set's).
///
/// ```
/// use sciml_ode::problems::{Oregonator, TestProblem};
/// use sciml_ode::GenericRhs;
/// let mut du = [0.0; 3];
/// Oregonator.eval(0.0, &Oregonator.u0(), &[], &mut du, &mut []);
/// assert!((du[2] - 0.161 * (1.0 - 3.0)).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Oregonator;

impl Oregonator {
    /// Reference solution at `t = 360`: the `solut` routine of the test set's `orego.f` (Mazzia
    /// and Magherini, release 2.4, "Problem OREGO"). scipy Radau at rtol 1e-13 agrees to 1.1e-13
    /// relative (componentwise maximum; `tests/testset_reference.py`).
    #[allow(clippy::excessive_precision)] // the digits as published
    pub const REF: [f64; 3] = [
        0.100_081_487_031_852_3e1,
        0.122_817_852_154_991_7e4,
        0.132_055_494_284_670_6e3,
    ];
}

impl GenericRhs for Oregonator {
    fn dims(&self) -> (usize, usize) {
        (3, 0)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, y: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        let s = S::cst(77.27);
        let q = S::cst(8.375e-6);
        let w = S::cst(0.161);
        du[0] = s * (y[1] + y[0] * (S::one() - q * y[0] - y[1]));
        du[1] = (y[2] - (S::one() + y[0]) * y[1]) / s;
        du[2] = w * (y[0] - y[2]);
    }
}

impl TestProblem for Oregonator {
    fn name(&self) -> &'static str {
        "orego"
    }
    fn u0(&self) -> Vec<f64> {
        vec![1.0, 2.0, 3.0]
    }
    fn params(&self) -> Vec<f64> {
        Vec::new()
    }
    fn tspan(&self) -> (f64, f64) {
        (0.0, 360.0)
    }
    fn reference(&self) -> Option<Vec<f64>> {
        Some(Self::REF.to_vec())
    }
}
