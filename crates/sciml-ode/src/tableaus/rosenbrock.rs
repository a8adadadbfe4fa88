//! Rosenbrock methods in the transformed form of Hairer and Wanner (*Solving ODEs II*, section
//! IV.7, eq. 7.25), as data: [`RosenbrockCoefficients`] holds one method's numbers, and a
//! [`RosenbrockTableau`] (a zero-sized marker type, one per method) hands them out as a
//! `&'static` value built once. The engine that runs them, generic over the marker, is
//! [`crate::stiff::Rosenbrock`]; its module docs give the stage equations.
//!
//! Conventions (unlike the explicit tables of this folder, rows are not packed):
//!
//! * `s` stages, `s ≤` [`ROSENBROCK_MAX_STAGES`]; `c`, `d`, `b`, `btilde` and `dense` have `s`
//!   entries, `a` and `cm` have `s` rows, row `i` holding the `i` coefficients `j < i`.
//! * `u1 = u0 + Σ b_i U_i`, error estimate `Σ btilde_i U_i`.
//! * Dense output `u(t0 + θh) = u0 + Σ_j P_j(θ) U_j` with `P_j(θ) = Σ_m dense[j][m] θ^(m+1)`.

use std::sync::OnceLock;

/// The most stages a Rosenbrock tableau may have. The engine combines stages without allocating,
/// in fixed-size arrays of `ROSENBROCK_MAX_STAGES + 1` terms (a stage's right-hand side takes
/// `f_i`, the `∂f/∂t` term and up to `s − 1` earlier stages); a method with more stages is
/// refused when its cache is built. Rodas5P, the largest here, has 8.
pub const ROSENBROCK_MAX_STAGES: usize = 11;

/// The coefficients of a Rosenbrock method in transformed form (see the module docs).
#[derive(Clone, Debug)]
pub struct RosenbrockCoefficients {
    /// Name, e.g. `"Rodas5P"` (the method's [`crate::MethodInfo::name`]).
    pub name: &'static str,
    /// Order of the solution.
    pub order: u8,
    /// Order of the embedded solution.
    pub error_order: u8,
    /// Order of the dense output.
    pub interp_order: u8,
    /// The diagonal coefficient γ.
    pub gamma: f64,
    /// Stage times `c_i`.
    pub c: Vec<f64>,
    /// `a[i][j]`, `j < i`.
    pub a: Vec<Vec<f64>>,
    /// `C[i][j]`, `j < i`.
    pub cm: Vec<Vec<f64>>,
    /// Time-derivative weights `d_i`.
    pub d: Vec<f64>,
    /// Solution weights.
    pub b: Vec<f64>,
    /// Error weights.
    pub btilde: Vec<f64>,
    /// `dense[j]`: coefficients of `P_j(θ)` from `θ¹` up.
    pub dense: Vec<Vec<f64>>,
}

/// A Rosenbrock method's tableau as a type: the parameter `T` of
/// [`crate::stiff::Rosenbrock<T, L>`]. Implementors are zero-sized markers; a new method is a
/// marker whose [`coefficients`](RosenbrockTableau::coefficients) returns its numbers (typically
/// built once into a `static OnceLock`).
///
/// ```
/// use sciml_ode::stiff::Rosenbrock;
/// use sciml_ode::tableaus::{Rodas5PTableau, RosenbrockTableau};
/// use sciml_ode::{MethodInfo, Rodas5P};
/// assert_eq!(Rodas5PTableau::coefficients().stages(), 8);
/// let m: Rosenbrock<Rodas5PTableau> = Rodas5P::new();
/// assert_eq!(m.name(), "Rodas5P");
/// ```
pub trait RosenbrockTableau: Send + Sync + 'static {
    /// The coefficients, at most [`ROSENBROCK_MAX_STAGES`] stages.
    fn coefficients() -> &'static RosenbrockCoefficients;
}

/// The tableau of [`crate::Rosenbrock23`]: Shampine and Reichelt's ROS2(3) pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rosenbrock23Tableau;

/// The tableau of [`crate::Rodas4`]: Hairer and Wanner's RODAS4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rodas4Tableau;

/// The tableau of [`crate::Rodas5P`]: Steinebach's Rodas5P.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rodas5PTableau;

impl RosenbrockTableau for Rosenbrock23Tableau {
    fn coefficients() -> &'static RosenbrockCoefficients {
        static TAB: OnceLock<RosenbrockCoefficients> = OnceLock::new();
        TAB.get_or_init(rosenbrock23_tableau)
    }
}

impl RosenbrockTableau for Rodas4Tableau {
    fn coefficients() -> &'static RosenbrockCoefficients {
        static TAB: OnceLock<RosenbrockCoefficients> = OnceLock::new();
        TAB.get_or_init(rodas4_tableau)
    }
}

impl RosenbrockTableau for Rodas5PTableau {
    fn coefficients() -> &'static RosenbrockCoefficients {
        static TAB: OnceLock<RosenbrockCoefficients> = OnceLock::new();
        TAB.get_or_init(rodas5p_tableau)
    }
}

impl RosenbrockCoefficients {
    /// The number of stages `s` (at most [`ROSENBROCK_MAX_STAGES`]).
    pub fn stages(&self) -> usize {
        self.c.len()
    }

    /// Builds a stiffly accurate Rodas-type tableau in the layout of Hairer and Wanner's RODAS
    /// code: rows of `a` up to the first stage at `t + h`, after which every stage evaluates at
    /// the previous stage's argument plus its increment, the last increment being the error
    /// estimate; the dense output is `(1 − θ) u0 + θ (u1 + (1 − θ)(D1 + θ (D2 + θ D3)))` with
    /// `D_r = Σ_j H[r][j] U_j`.
    #[allow(clippy::too_many_arguments)]
    fn rodas(
        name: &'static str,
        (order, error_order, interp_order): (u8, u8, u8),
        gamma: f64,
        c_explicit: &[f64],
        a_rows: &[&[f64]],
        c_rows: &[&[f64]],
        d_given: &[f64],
        h_rows: &[&[f64]],
    ) -> Self {
        let s = c_rows.len() + 1;
        let mut a: Vec<Vec<f64>> = vec![Vec::new()];
        for row in a_rows {
            a.push(row.to_vec());
        }
        while a.len() < s {
            let mut next = a[a.len() - 1].clone();
            next.push(1.0);
            a.push(next);
        }
        let mut b = a[s - 1].clone();
        b.push(1.0);
        let mut btilde = vec![0.0; s];
        btilde[s - 1] = 1.0;
        let mut c = c_explicit.to_vec();
        c.resize(s, 1.0);
        let mut d = d_given.to_vec();
        d.resize(s, 0.0);
        let mut cm: Vec<Vec<f64>> = vec![Vec::new()];
        for row in c_rows {
            cm.push(row.to_vec());
        }
        // P_j(θ) = b_j θ + H1j (θ − θ²) + H2j (θ² − θ³) + H3j (θ³ − θ⁴).
        let dense = (0..s)
            .map(|j| {
                let hr: Vec<f64> = h_rows.iter().map(|r| r[j]).collect();
                let mut p = vec![b[j] + hr[0]];
                for r in 1..hr.len() {
                    p.push(hr[r] - hr[r - 1]);
                }
                p.push(-hr[hr.len() - 1]);
                p
            })
            .collect();
        RosenbrockCoefficients {
            name,
            order,
            error_order,
            interp_order,
            gamma,
            c,
            a,
            cm,
            d,
            b,
            btilde,
            dense,
        }
    }
}

/// Inverse of a lower-triangular matrix (small, exact enough in f64 for tableau conversion).
#[allow(clippy::needless_range_loop)]
fn lower_inverse(g: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = g.len();
    let mut inv = vec![vec![0.0; n]; n];
    for col in 0..n {
        for i in col..n {
            let mut s = if i == col { 1.0 } else { 0.0 };
            for k in col..i {
                s -= g[i][k] * inv[k][col];
            }
            inv[i][col] = s / g[i][i];
        }
    }
    inv
}

/// Shampine and Reichelt's ROS2(3) pair of MATLAB's `ode23s` ("The MATLAB ODE suite", SIAM J.
/// Sci. Comput. 18, 1997): `d = 1/(2 + √2)`, `e32 = 6 + √2`. Written here in standard Rosenbrock
/// form (α, Γ) — `α21 = 1/2`, `α32 = 1`, `γ21 = −d`, `γ31 = d(e32 − 2)`, `γ32 = −d·e32`,
/// `b = (0, 1, 0)`, error `(K1 − 2K2 + K3)/6` — and converted to the transformed form
/// (`a = αΓ⁻¹`, `C = diag(Γ)⁻¹ − Γ⁻¹`, `m = bΓ⁻¹`, `d_i = Σ_j Γ_ij`).
fn rosenbrock23_tableau() -> RosenbrockCoefficients {
    let d = 1.0 / (2.0 + 2f64.sqrt());
    let e32 = 6.0 + 2f64.sqrt();
    let gam = vec![
        vec![d, 0.0, 0.0],
        vec![-d, d, 0.0],
        vec![d * (e32 - 2.0), -d * e32, d],
    ];
    let alpha = [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let ginv = lower_inverse(&gam);
    let mul_row = |r: &[f64]| -> Vec<f64> {
        (0..3)
            .map(|j| (0..3).map(|k| r[k] * ginv[k][j]).sum())
            .collect()
    };
    let a: Vec<Vec<f64>> = (0..3).map(|i| mul_row(&alpha[i])[..i].to_vec()).collect();
    let cm: Vec<Vec<f64>> = (0..3)
        .map(|i| (0..i).map(|j| -ginv[i][j]).collect())
        .collect();
    let b = mul_row(&[0.0, 1.0, 0.0]);
    let btilde = mul_row(&[1.0 / 6.0, -1.0 / 3.0, 1.0 / 6.0]);
    // u(θ) = u0 + q1(θ) K1 + q2(θ) K2, q1 = θ(1−θ)/(1−2d), q2 = θ(θ−2d)/(1−2d); K = Γ⁻¹ U.
    let s = 1.0 / (1.0 - 2.0 * d);
    let q = [[s, -s], [-2.0 * d * s, s]];
    let dense = (0..3)
        .map(|j| {
            vec![
                q[0][0] * ginv[0][j] + q[1][0] * ginv[1][j],
                q[0][1] * ginv[0][j] + q[1][1] * ginv[1][j],
            ]
        })
        .collect();
    RosenbrockCoefficients {
        name: "Rosenbrock23",
        order: 2,
        error_order: 2,
        interp_order: 2,
        gamma: d,
        c: vec![0.0, 0.5, 1.0],
        a,
        cm,
        d: (0..3).map(|i| gam[i].iter().sum()).collect(),
        b,
        btilde,
        dense,
    }
}

/// RODAS4 of Hairer and Wanner (*Solving ODEs II*, 2nd ed., section VI.4, and their Fortran code
/// RODAS), with its order-3 dense output; coefficients in transformed form as tabulated there
/// (also in OrdinaryDiffEq.jl's `Rodas4Tableau`).
fn rodas4_tableau() -> RosenbrockCoefficients {
    RosenbrockCoefficients::rodas(
        "Rodas4",
        (4, 3, 3),
        0.25,
        &[0.0, 0.386, 0.21, 0.63],
        &[
            &[1.544],
            &[0.9466785280815826, 0.2557011698983284],
            &[3.314825187068521, 2.896124015972201, 0.9986419139977817],
            &[
                1.221224509226641,
                6.019134481288629,
                12.53708332932087,
                -0.687886036105895,
            ],
        ],
        &[
            &[-5.6688],
            &[-2.430093356833875, -0.2063599157091915],
            &[-0.1073529058151375, -9.594562251023355, -20.47028614809616],
            &[
                7.496443313967647,
                -10.24680431464352,
                -33.99990352819905,
                11.7089089320616,
            ],
            &[
                8.083246795921522,
                -7.981132988064893,
                -31.52159432874371,
                16.31930543123136,
                -6.058818238834054,
            ],
        ],
        &[0.25, -0.1043, 0.1035, -0.03620000000000023],
        &[
            &[
                10.12623508344586,
                -7.487995877610167,
                -34.80091861555747,
                -7.992771707568823,
                1.025137723295662,
                0.0,
            ],
            &[
                -0.6762803392801253,
                6.087714651680015,
                16.43084320892478,
                24.76722511418386,
                -6.594389125716872,
                0.0,
            ],
        ],
    )
}

/// Rodas5P of G. Steinebach, "Construction of Rosenbrock–Wanner method Rodas5P and numerical
/// benchmarks within the Julia Differential Equations package", BIT Numer. Math. 63 (2023):
/// order 5, embedded order 4, order-4 dense output; coefficients in transformed form as
/// published with the paper (OrdinaryDiffEq.jl's `Rodas5PTableau`).
fn rodas5p_tableau() -> RosenbrockCoefficients {
    RosenbrockCoefficients::rodas(
        "Rodas5P",
        (5, 4, 4),
        0.21193756319429014,
        &[
            0.0,
            0.6358126895828704,
            0.4095798393397535,
            0.9769306725060716,
            0.4288403609558664,
        ],
        &[
            &[3.0],
            &[2.849394379747939, 0.45842242204463923],
            &[-6.954028509809101, 2.489845061869568, -10.358996098473584],
            &[
                2.8029986275628964,
                0.5072464736228206,
                -0.3988312541770524,
                -0.04721187230404641,
            ],
            &[
                -7.502846399306121,
                2.561846144803919,
                -11.627539656261098,
                -0.18268767659942256,
                0.030198172008377946,
            ],
        ],
        &[
            &[-14.155112264123755],
            &[-17.97296035885952, -2.859693295451294],
            &[147.12150275711716, -1.41221402718213, 71.68940251302358],
            &[
                165.43517024871676,
                -0.4592823456491126,
                42.90938336958603,
                -5.961986721573306,
            ],
            &[
                24.854864614690072,
                -3.0009227002832186,
                47.4931110020768,
                5.5814197821558125,
                -0.6610691825249471,
            ],
            &[
                30.91273214028599,
                -3.1208243349937974,
                77.79954646070892,
                34.28646028294783,
                -19.097331116725623,
                -28.087943162872662,
            ],
            &[
                37.80277123390563,
                -3.2571969029072276,
                112.26918849496327,
                66.9347231244047,
                -40.06618937091002,
                -54.66780262877968,
                -9.48861652309627,
            ],
        ],
        &[
            0.21193756319429014,
            -0.42387512638858027,
            -0.3384627126235924,
            1.8046452872882734,
            2.325825639765069,
        ],
        &[
            &[
                25.948786856663858,
                -2.5579724845846235,
                10.433815404888879,
                -2.3679251022685204,
                0.524948541321073,
                1.1241088310450404,
                0.4272876194431874,
                -0.17202221070155493,
            ],
            &[
                -9.91568850695171,
                -0.9689944594115154,
                3.0438037242978453,
                -24.495224566215796,
                20.176138334709044,
                15.98066361424651,
                -6.789040303419874,
                -6.710236069923372,
            ],
            &[
                11.419903575922262,
                2.8879645146136994,
                72.92137995996029,
                80.12511834622643,
                -52.072871366152654,
                -59.78993625266729,
                -0.15582684282751913,
                4.883087185713722,
            ],
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_stage_limit() {
        for tab in [
            Rosenbrock23Tableau::coefficients(),
            Rodas4Tableau::coefficients(),
            Rodas5PTableau::coefficients(),
        ] {
            let s = tab.stages();
            assert!(s <= ROSENBROCK_MAX_STAGES, "{}", tab.name);
            for v in [&tab.d, &tab.b, &tab.btilde] {
                assert_eq!(v.len(), s, "{}", tab.name);
            }
            assert_eq!(tab.dense.len(), s, "{}", tab.name);
            for i in 0..s {
                assert_eq!(tab.a[i].len(), i, "{}", tab.name);
                assert_eq!(tab.cm[i].len(), i, "{}", tab.name);
            }
        }
    }
}
