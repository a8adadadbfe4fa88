//! Van der Pol's oscillator in the test set's scaled, stiff form (`vdpol`).

use super::TestProblem;
use sciml_core::{GenericRhs, Scalar};

/// Van der Pol's equation in Liénard-scaled form, problem VDPOL of the IVP test set (Mazzia and
/// Magherini, release 2.4, "Problem VAN DER POL"; also Hairer and Wanner, *Solving ODEs II*,
/// section IV.10):
///
/// ```text
/// y1' = y2
/// y2' = ((1 − y1²) y2 − y1) / ε,     ε = 1e-6,   y(0) = (2, 0),   t in [0, 2]
/// ```
///
/// ε is the single parameter. The solution has relaxation oscillations of period about
/// `3 − 2 ln 2` with sharp transitions, the hard part for step control.
///
/// ```
/// use sciml_ode::problems::{TestProblem, VanDerPol};
/// use sciml_ode::GenericRhs;
/// let mut du = [0.0; 2];
/// VanDerPol.eval(0.0, &VanDerPol.u0(), &VanDerPol.params(), &mut du, &mut []);
/// assert_eq!(du[0], 0.0);
/// assert!((du[1] + 2e6).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct VanDerPol;

impl VanDerPol {
    /// The test set's stiffness parameter ε.
    pub const EPS: f64 = 1e-6;
    /// Reference solution at `t = 2`: the `solut` routine of the test set's `vdpol.f` (Mazzia and
    /// Magherini, release 2.4, "Problem VAN DER POL"). scipy Radau at rtol 1e-13 agrees to 1.2e-14
    /// relative (`tests/testset_reference.py`).
    #[allow(clippy::excessive_precision)] // the digits as published
    pub const REF: [f64; 2] = [0.170_616_773_217_048_3e1, -0.892_809_701_024_797_5];
}

impl GenericRhs for VanDerPol {
    fn dims(&self) -> (usize, usize) {
        (2, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = u[1];
        du[1] = ((S::one() - u[0] * u[0]) * u[1] - u[0]) / p[0];
    }
}

impl TestProblem for VanDerPol {
    fn name(&self) -> &'static str {
        "vdpol"
    }
    fn u0(&self) -> Vec<f64> {
        vec![2.0, 0.0]
    }
    fn params(&self) -> Vec<f64> {
        vec![Self::EPS]
    }
    fn tspan(&self) -> (f64, f64) {
        (0.0, 2.0)
    }
    fn reference(&self) -> Option<Vec<f64>> {
        Some(Self::REF.to_vec())
    }
}
