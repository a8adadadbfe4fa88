//! Robertson's chemical kinetics (`rober` in the test set).

use super::TestProblem;
use sciml_core::{GenericRhs, Scalar};

/// Robertson's autocatalytic reaction (H. H. Robertson, 1966), problem ROBER of the IVP test set
/// (Mazzia and Magherini, release 2.4, "Problem ROBER"):
///
/// ```text
/// y1' = −k1 y1 + k3 y2 y3
/// y2' =  k1 y1 − k3 y2 y3 − k2 y2²
/// y3' =  k2 y2²,            y(0) = (1, 0, 0),   p = (k1, k2, k3) = (0.04, 3e7, 1e4)
/// ```
///
/// The rate constants are the parameters (so their sensitivities can be taken); the test set's
/// span is [0, 1e11]. [`Robertson::T1E5`] and [`Robertson::REF_T1E5`] give the shorter span of
/// benchmark W2 and its reference. The sum `y1 + y2 + y3` is conserved.
///
/// ```
/// use sciml_ode::problems::{Robertson, TestProblem};
/// use sciml_ode::GenericRhs;
/// let mut du = [0.0; 3];
/// Robertson.eval(0.0, &Robertson.u0(), &Robertson.params(), &mut du, &mut []);
/// assert_eq!(du, [-0.04, 0.04, 0.0]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Robertson;

impl Robertson {
    /// The rate constants `(k1, k2, k3)`.
    pub const P: [f64; 3] = [0.04, 3e7, 1e4];
    /// End of the test set's span.
    pub const T1E11: f64 = 1e11;
    /// End of benchmark W2's span.
    pub const T1E5: f64 = 1e5;
    /// Reference solution at `t = 1e11`: the `solut` routine of the test set's `rober.f`
    /// (Mazzia and Magherini, release 2.4, "Problem ROBER"). scipy Radau at rtol 1e-13 agrees to
    /// 5.1e-13 relative (componentwise maximum; `tests/testset_reference.py`).
    #[allow(clippy::excessive_precision)] // the digits as published
    pub const REF_T1E11: [f64; 3] = [
        0.208_334_014_970_125_5e-7,
        0.833_336_077_033_471_3e-13,
        0.999_999_979_166_505_0,
    ];
    /// Reference solution at `t = 1e5`. Not published in the test set; computed here with scipy's
    /// Radau IIA (order 5) with the analytic Jacobian at rtol 1e-13, atol 1e-22
    /// (`tests/testset_reference.py`). It agrees with Radau at rtol 1e-12 to 8e-15 and with
    /// LSODA at rtol 1e-12 to 2.6e-11 (relative, componentwise maximum), and `y1 + y2 + y3 − 1`
    /// is 2e-15.
    #[allow(clippy::excessive_precision)] // the digits as published
    pub const REF_T1E5: [f64; 3] = [
        1.786_592_114_209_994_3e-2,
        7.274_751_468_436_533_3e-8,
        9.821_340_061_103_832_6e-1,
    ];
}

impl GenericRhs for Robertson {
    fn dims(&self) -> (usize, usize) {
        (3, 3)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        let (k1, k2, k3) = (p[0], p[1], p[2]);
        let r1 = k1 * u[0];
        let r2 = k2 * u[1] * u[1];
        let r3 = k3 * u[1] * u[2];
        du[0] = r3 - r1;
        du[1] = r1 - r3 - r2;
        du[2] = r2;
    }
}

impl TestProblem for Robertson {
    fn name(&self) -> &'static str {
        "rober"
    }
    fn u0(&self) -> Vec<f64> {
        vec![1.0, 0.0, 0.0]
    }
    fn params(&self) -> Vec<f64> {
        Self::P.to_vec()
    }
    fn tspan(&self) -> (f64, f64) {
        (0.0, Self::T1E11)
    }
    fn reference(&self) -> Option<Vec<f64>> {
        Some(Self::REF_T1E11.to_vec())
    }
}

/// Robertson as an index-1 DAE in mass-matrix form: the third equation replaced by the
/// conservation law, `0 = y1 + y2 + y3 − 1`, with `M = diag(1, 1, 0)` ([`RobertsonDae::mass`]);
/// the form of Hairer and Wanner (*Solving ODEs II*, VI.1) and of SciML's DAE tutorial. Its
/// solution is [`Robertson`]'s.
///
/// ```
/// use sciml_ode::problems::RobertsonDae;
/// use sciml_ode::GenericRhs;
/// let mut du = [0.0; 3];
/// RobertsonDae.eval(0.0, &[1.0, 0.0, 0.0], &[0.04, 3e7, 1e4], &mut du, &mut []);
/// assert_eq!(du, [-0.04, 0.04, 0.0]);
/// assert_eq!(RobertsonDae::mass()[(2, 2)], 0.0);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RobertsonDae;

impl RobertsonDae {
    /// The mass matrix `diag(1, 1, 0)`.
    pub fn mass() -> sciml_core::DenseMatrix<f64> {
        let mut m = sciml_core::DenseMatrix::zeros(3, 3);
        m[(0, 0)] = 1.0;
        m[(1, 1)] = 1.0;
        m
    }
}

impl GenericRhs for RobertsonDae {
    fn dims(&self) -> (usize, usize) {
        (3, 3)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        let (k1, k2, k3) = (p[0], p[1], p[2]);
        du[0] = k3 * u[1] * u[2] - k1 * u[0];
        du[1] = k1 * u[0] - k3 * u[1] * u[2] - k2 * u[1] * u[1];
        du[2] = u[0] + u[1] + u[2] - S::one();
    }
}
