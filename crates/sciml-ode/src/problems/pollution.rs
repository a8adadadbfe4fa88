//! The air pollution model of the Dutch National Institute of Public Health (`pollu`).

use super::TestProblem;
use sciml_core::{GenericRhs, Scalar};

/// Rate constants `k1..k25` of [`Pollution`] (Verwer 1994; the test set's `pollu.f`).
const K: [f64; 25] = [
    0.35, 0.266e2, 0.123e5, 0.86e-3, 0.82e-3, 0.15e5, 0.13e-3, 0.24e5, 0.165e5, 0.9e4, 0.22e-1,
    0.12e5, 0.188e1, 0.163e5, 0.48e7, 0.35e-3, 0.175e-1, 0.1e9, 0.444e12, 0.124e4, 0.21e1, 0.578e1,
    0.474e-1, 0.178e4, 0.312e1,
];

/// The chemistry of the RIVM air pollution model, problem POLLU of the IVP test set (Mazzia and
/// Magherini, release 2.4, "Problem POLLU"; J. G. Verwer, *Gauss–Seidel iteration for stiff ODEs
/// from chemical kinetics*, SIAM J. Sci. Comput. 15 (1994) 1243–1259): 20 species, 25 reactions
/// with rates
///
/// ```text
/// r1 = k1 y1        r6 = k6 y7 y6     r11 = k11 y13     r16 = k16 y4      r21 = k21 y19
/// r2 = k2 y2 y4     r7 = k7 y9        r12 = k12 y10 y2  r17 = k17 y4      r22 = k22 y19
/// r3 = k3 y5 y2     r8 = k8 y9 y6     r13 = k13 y14     r18 = k18 y16     r23 = k23 y1 y4
/// r4 = k4 y7        r9 = k9 y11 y2    r14 = k14 y1 y6   r19 = k19 y16     r24 = k24 y19 y1
/// r5 = k5 y7        r10 = k10 y11 y1  r15 = k15 y3      r20 = k20 y17 y6  r25 = k25 y20
/// ```
///
/// and
///
/// ```text
/// y1'  = −r1 − r10 − r14 − r23 − r24 + r2 + r3 + r9 + r11 + r12 + r22 + r25
/// y2'  = −r2 − r3 − r9 − r12 + r1 + r21         y11' = −r9 − r10 + r8 + r11
/// y3'  = −r15 + r1 + r17 + r19 + r22            y12' = r9
/// y4'  = −r2 − r16 − r17 − r23 + r15            y13' = −r11 + r10
/// y5'  = −r3 + 2 r4 + r6 + r7 + r13 + r20       y14' = −r13 + r12
/// y6'  = −r6 − r8 − r14 − r20 + r3 + 2 r18      y15' = r14
/// y7'  = −r4 − r5 − r6 + r13                    y16' = −r18 − r19 + r16
/// y8'  = r4 + r5 + r6 + r7                      y17' = −r20
/// y9'  = −r7 − r8                               y18' = r20
/// y10' = −r12 + r7 + r9                         y19' = −r21 − r22 − r24 + r23 + r25
///                                               y20' = −r25 + r24
/// ```
///
/// with all `y(0) = 0` except `y2 = 0.2, y4 = 0.04, y7 = 0.1, y8 = 0.3, y9 = 0.01, y17 = 0.007`,
/// on t in [0, 60] (minutes; concentrations in ppm). The rate constants (1.3e-4 to 4.4e11) are
/// fixed, as in the test set.
///
/// ```
/// use sciml_ode::problems::{Pollution, TestProblem};
/// use sciml_ode::GenericRhs;
/// let mut du = [0.0; 20];
/// Pollution.eval(0.0, &Pollution.u0(), &[], &mut du, &mut []);
/// // At t = 0 only r2 = k2 y2 y4 of y2's reactions is non-zero.
/// assert!((du[1] + 26.6 * 0.2 * 0.04).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Pollution;

impl Pollution {
    /// Reference solution at `t = 60`: the `solut` routine of the test set's `pollu.f` (Mazzia
    /// and Magherini, release 2.4, "Problem POLLU"; RADAU5 in extended precision,
    /// rtol = atol = 1.1e-18). scipy Radau at rtol 1e-13 agrees to 4.6e-14 relative
    /// (componentwise maximum; `tests/testset_reference.py`).
    #[allow(clippy::excessive_precision)] // the digits as published
    pub const REF: [f64; 20] = [
        0.564_625_548_002_276_9e-1,
        0.134_248_413_042_233_9,
        0.413_973_433_109_942_7e-8,
        0.552_314_020_748_435_9e-2,
        0.201_897_726_230_219_6e-6,
        0.146_454_186_349_396_6e-6,
        0.778_424_911_899_796_4e-1,
        0.324_507_535_339_601_8,
        0.749_401_338_388_040_6e-2,
        0.162_229_315_730_156_1e-7,
        0.113_586_383_325_707_5e-7,
        0.223_050_597_572_135_9e-2,
        0.208_716_288_279_863_0e-3,
        0.139_692_101_684_015_8e-4,
        0.896_488_485_689_829_5e-2,
        0.435_284_636_933_010_3e-17,
        0.689_921_969_626_340_5e-2,
        0.100_780_303_736_594_6e-3,
        0.177_214_651_396_998_4e-5,
        0.568_294_329_231_639_2e-4,
    ];
}

impl GenericRhs for Pollution {
    fn dims(&self) -> (usize, usize) {
        (20, 0)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, y: &[S], _p: &[S], f: &mut [S], _ws: &mut [S]) {
        let k = |i: usize| S::cst(K[i - 1]);
        // r[j] is reaction j + 1 (0-based storage, 1-based names as in the test set).
        let r = [
            k(1) * y[0],
            k(2) * y[1] * y[3],
            k(3) * y[4] * y[1],
            k(4) * y[6],
            k(5) * y[6],
            k(6) * y[6] * y[5],
            k(7) * y[8],
            k(8) * y[8] * y[5],
            k(9) * y[10] * y[1],
            k(10) * y[10] * y[0],
            k(11) * y[12],
            k(12) * y[9] * y[1],
            k(13) * y[13],
            k(14) * y[0] * y[5],
            k(15) * y[2],
            k(16) * y[3],
            k(17) * y[3],
            k(18) * y[15],
            k(19) * y[15],
            k(20) * y[16] * y[5],
            k(21) * y[18],
            k(22) * y[18],
            k(23) * y[0] * y[3],
            k(24) * y[18] * y[0],
            k(25) * y[19],
        ];
        let r = |j: usize| r[j - 1];
        f[0] = -r(1) - r(10) - r(14) - r(23) - r(24)
            + r(2)
            + r(3)
            + r(9)
            + r(11)
            + r(12)
            + r(22)
            + r(25);
        f[1] = -r(2) - r(3) - r(9) - r(12) + r(1) + r(21);
        f[2] = -r(15) + r(1) + r(17) + r(19) + r(22);
        f[3] = -r(2) - r(16) - r(17) - r(23) + r(15);
        f[4] = -r(3) + r(4) + r(4) + r(6) + r(7) + r(13) + r(20);
        f[5] = -r(6) - r(8) - r(14) - r(20) + r(3) + r(18) + r(18);
        f[6] = -r(4) - r(5) - r(6) + r(13);
        f[7] = r(4) + r(5) + r(6) + r(7);
        f[8] = -r(7) - r(8);
        f[9] = -r(12) + r(7) + r(9);
        f[10] = -r(9) - r(10) + r(8) + r(11);
        f[11] = r(9);
        f[12] = -r(11) + r(10);
        f[13] = -r(13) + r(12);
        f[14] = r(14);
        f[15] = -r(18) - r(19) + r(16);
        f[16] = -r(20);
        f[17] = r(20);
        f[18] = -r(21) - r(22) - r(24) + r(23) + r(25);
        f[19] = -r(25) + r(24);
    }
}

impl TestProblem for Pollution {
    fn name(&self) -> &'static str {
        "pollu"
    }
    fn u0(&self) -> Vec<f64> {
        let mut y = vec![0.0; 20];
        y[1] = 0.2;
        y[3] = 0.04;
        y[6] = 0.1;
        y[7] = 0.3;
        y[8] = 0.01;
        y[16] = 0.007;
        y
    }
    fn params(&self) -> Vec<f64> {
        Vec::new()
    }
    fn tspan(&self) -> (f64, f64) {
        (0.0, 60.0)
    }
    fn reference(&self) -> Option<Vec<f64>> {
        Some(Self::REF.to_vec())
    }
}
