//! HIRES, the "High Irradiance RESponse" of photomorphogenesis (`hires`).

use super::TestProblem;
use sciml_core::{GenericRhs, Scalar};

/// HIRES, problem HIRES of the IVP test set (Mazzia and Magherini, release 2.4, "Problem HIRES";
/// from Schäfer 1975, used in Hairer and Wanner, *Solving ODEs II*, section IV.10):
///
/// ```text
/// y1' = −1.71 y1 + 0.43 y2 + 8.32 y3 + 0.0007
/// y2' =  1.71 y1 − 8.75 y2
/// y3' = −10.03 y3 + 0.43 y4 + 0.035 y5
/// y4' =  8.32 y2 + 1.71 y3 − 1.12 y4
/// y5' = −1.745 y5 + 0.43 y6 + 0.43 y7
/// y6' = −280 y6 y8 + 0.69 y4 + 1.71 y5 − 0.43 y6 + 0.69 y7
/// y7' =  280 y6 y8 − 1.81 y7
/// y8' = −y7'
/// ```
///
/// with `y(0) = (1, 0, 0, 0, 0, 0, 0, 0.0057)` and t in [0, 321.8122]. No parameters.
///
/// ```
/// use sciml_ode::problems::{Hires, TestProblem};
/// use sciml_ode::GenericRhs;
/// let mut du = [0.0; 8];
/// Hires.eval(0.0, &Hires.u0(), &[], &mut du, &mut []);
/// assert_eq!(du[1], 1.71);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Hires;

impl Hires {
    /// Reference solution at `t = 321.8122`: the `solut` routine of the test set's `hires.f`
    /// (Mazzia and Magherini, release 2.4, "Problem HIRES"). scipy Radau at rtol 1e-13 agrees to
    /// 5.8e-14 relative (componentwise maximum; `tests/testset_reference.py`).
    #[allow(clippy::excessive_precision)] // the digits as published
    pub const REF: [f64; 8] = [
        0.737_131_257_332_566_8e-3,
        0.144_248_572_631_618_5e-3,
        0.588_872_974_096_757_5e-4,
        0.117_565_134_328_314_9e-2,
        0.238_635_619_883_133_1e-2,
        0.623_896_825_274_279_6e-2,
        0.284_999_839_518_576_9e-2,
        0.285_000_160_481_423_1e-2,
    ];
}

impl GenericRhs for Hires {
    fn dims(&self) -> (usize, usize) {
        (8, 0)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, y: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        let c = S::cst;
        du[0] = c(-1.71) * y[0] + c(0.43) * y[1] + c(8.32) * y[2] + c(0.0007);
        du[1] = c(1.71) * y[0] - c(8.75) * y[1];
        du[2] = c(-10.03) * y[2] + c(0.43) * y[3] + c(0.035) * y[4];
        du[3] = c(8.32) * y[1] + c(1.71) * y[2] - c(1.12) * y[3];
        du[4] = c(-1.745) * y[4] + c(0.43) * y[5] + c(0.43) * y[6];
        let r = c(280.0) * y[5] * y[7];
        du[5] = -r + c(0.69) * y[3] + c(1.71) * y[4] - c(0.43) * y[5] + c(0.69) * y[6];
        du[6] = r - c(1.81) * y[6];
        du[7] = -du[6];
    }
}

impl TestProblem for Hires {
    fn name(&self) -> &'static str {
        "hires"
    }
    fn u0(&self) -> Vec<f64> {
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057]
    }
    fn params(&self) -> Vec<f64> {
        Vec::new()
    }
    fn tspan(&self) -> (f64, f64) {
        (0.0, 321.8122)
    }
    fn reference(&self) -> Option<Vec<f64>> {
        Some(Self::REF.to_vec())
    }
}
