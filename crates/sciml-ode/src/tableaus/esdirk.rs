//! Stiffly accurate ESDIRK methods (explicit first stage, singly diagonally implicit), run in
//! "z form" by [`crate::stiff::Esdirk`] (see its module docs), as data: [`EsdirkCoefficients`]
//! holds one method's numbers, and an [`EsdirkTableau`] (a zero-sized marker type, one per
//! method) hands them out as a `&'static` value built once.
//!
//! Conventions (unlike the explicit tables of this folder, rows are not packed):
//!
//! * `s` stages, `s ≤` [`ESDIRK_MAX_STAGES`]; `c_1 = 0`, `c_s = 1`; `a` has `s` rows, row `i`
//!   holding the `i` coefficients `j < i` (row 0 empty); the diagonal is `gamma` from the second
//!   stage on.
//! * Stiffly accurate: the solution weights `b` are the last row of `A` (see
//!   [`EsdirkCoefficients::b`]); `btilde = b̂ − b` weights the error estimate.
//! * Dense output `u(t0 + θh) = u0 + h Σ_j P_j(θ) k_j` with `P_j(θ) = Σ_m dense[j][m] θ^(m+1)`.

use std::sync::OnceLock;

/// The most stages an ESDIRK tableau may have. The engine combines stages without allocating, in
/// fixed-size arrays of `ESDIRK_MAX_STAGES` terms (a stage's `ψ_i` takes up to `s − 1` earlier
/// stages, the error estimate `s`); a method with more stages is refused when its cache is built.
/// Kvaerno5, the largest here, has 7.
pub const ESDIRK_MAX_STAGES: usize = 8;

/// The coefficients of a stiffly accurate ESDIRK method (see the module docs).
#[derive(Clone, Debug)]
pub struct EsdirkCoefficients {
    /// Name, e.g. `"KenCarp4"` (the method's [`crate::MethodInfo::name`]).
    pub name: &'static str,
    /// Order of the solution.
    pub order: u8,
    /// Order of the embedded solution.
    pub error_order: u8,
    /// Order of the dense output.
    pub interp_order: u8,
    /// The diagonal coefficient γ.
    pub gamma: f64,
    /// Stage times `c_i` (`c_1 = 0`, `c_s = 1`).
    pub c: Vec<f64>,
    /// `a[i][j]` for `j < i` (the diagonal is `gamma`, row 0 empty).
    pub a: Vec<Vec<f64>>,
    /// Error weights `b̂_j − b_j`.
    pub btilde: Vec<f64>,
    /// `dense[j]`: coefficients of `P_j(θ)` from `θ¹` up, `u(t + θh) = u0 + h Σ P_j(θ) k_j`.
    pub dense: Vec<Vec<f64>>,
}

/// An ESDIRK method's tableau as a type: the parameter `T` of [`crate::stiff::Esdirk<T, L>`].
/// Implementors are zero-sized markers; a new method is a marker whose
/// [`coefficients`](EsdirkTableau::coefficients) returns its numbers (typically built once into a
/// `static OnceLock`).
///
/// ```
/// use sciml_ode::stiff::Esdirk;
/// use sciml_ode::tableaus::{EsdirkTableau, KenCarp4Tableau};
/// use sciml_ode::{KenCarp4, MethodInfo};
/// assert_eq!(KenCarp4Tableau::coefficients().stages(), 6);
/// let m: Esdirk<KenCarp4Tableau> = KenCarp4::new();
/// assert_eq!(m.name(), "KenCarp4");
/// ```
pub trait EsdirkTableau: Send + Sync + 'static {
    /// The coefficients, at most [`ESDIRK_MAX_STAGES`] stages.
    fn coefficients() -> &'static EsdirkCoefficients;
}

/// The tableau of [`crate::Trbdf2`]: TR-BDF2 in ESDIRK form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Trbdf2Tableau;

/// The tableau of [`crate::KenCarp4`]: Kennedy and Carpenter's ESDIRK4(3)6L\[2\]SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KenCarp4Tableau;

/// The tableau of [`crate::Kvaerno5`]: Kværnø's ESDIRK 5(4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Kvaerno5Tableau;

impl EsdirkTableau for Trbdf2Tableau {
    fn coefficients() -> &'static EsdirkCoefficients {
        static TAB: OnceLock<EsdirkCoefficients> = OnceLock::new();
        TAB.get_or_init(trbdf2_tableau)
    }
}

impl EsdirkTableau for KenCarp4Tableau {
    fn coefficients() -> &'static EsdirkCoefficients {
        static TAB: OnceLock<EsdirkCoefficients> = OnceLock::new();
        TAB.get_or_init(kencarp4_tableau)
    }
}

impl EsdirkTableau for Kvaerno5Tableau {
    fn coefficients() -> &'static EsdirkCoefficients {
        static TAB: OnceLock<EsdirkCoefficients> = OnceLock::new();
        TAB.get_or_init(kvaerno5_tableau)
    }
}

impl EsdirkCoefficients {
    /// The number of stages `s` (at most [`ESDIRK_MAX_STAGES`]).
    pub fn stages(&self) -> usize {
        self.c.len()
    }
    /// Solution weights `b` (the last row of `A`, with `γ`).
    pub fn b(&self) -> Vec<f64> {
        let mut b = self.a[self.stages() - 1].clone();
        b.push(self.gamma);
        b
    }
}

/// TR-BDF2 of Bank, Coughran, Fichtner, Grosse, Rose and Smith ("Transient simulation of silicon
/// devices and circuits", IEEE Trans. CAD 4, 1985) in the ESDIRK form analysed by Hosea and
/// Shampine ("Analysis and implementation of TR-BDF2", Appl. Numer. Math. 20, 1996): a
/// trapezoidal stage to `t + γh`, `γ = 2 − √2`, then BDF2, i.e. `d = γ/2` on the diagonal,
/// `w = √2/4`, rows `(d, d)` and `(w, w, d)`; their third-order companion
/// `b̂ = ((1 − w)/3, (3w + 1)/3, d/3)` gives the estimate. Dense output: the cubic Hermite
/// interpolant through `(u0, k_1)` and `(u1, k_3)` (`k_3` is the derivative at `u1`, the method
/// being stiffly accurate): as a continuous extension it has order 2, that of the solution, written in the stage vectors as
/// `P_1 = θ + (3w − 2)θ² + (1 − 2w)θ³`, `P_2 = w(3θ² − 2θ³)`, `P_3 = (3d − 1)θ² + (1 − 2d)θ³`.
fn trbdf2_tableau() -> EsdirkCoefficients {
    let s2 = 2f64.sqrt();
    let gam = 2.0 - s2;
    let d = gam / 2.0;
    let w = s2 / 4.0;
    let bhat = [(1.0 - w) / 3.0, (3.0 * w + 1.0) / 3.0, d / 3.0];
    let b = [w, w, d];
    EsdirkCoefficients {
        name: "TRBDF2",
        order: 2,
        error_order: 3,
        interp_order: 2,
        gamma: d,
        c: vec![0.0, gam, 1.0],
        a: vec![vec![], vec![d], vec![w, w]],
        btilde: (0..3).map(|j| bhat[j] - b[j]).collect(),
        dense: vec![
            vec![1.0, 3.0 * w - 2.0, 1.0 - 2.0 * w],
            vec![0.0, 3.0 * w, -2.0 * w],
            vec![0.0, 3.0 * d - 1.0, 1.0 - 2.0 * d],
        ],
    }
}

/// The implicit (ESDIRK) part of ARK4(3)6L\[2\]SA of C. A. Kennedy and M. H. Carpenter,
/// "Additive Runge–Kutta schemes for convection–diffusion–reaction equations", Appl. Numer.
/// Math. 44 (2003) 139–181 (Table 5 for `A`, `b`, `b̂`; the appendix's order-3 dense output
/// `b*_j(θ)`): `γ = 1/4`, L-stable, stiffly accurate, stage order 2, embedded order 3.
/// The unit tests check every order condition of `b` (4), `b̂` (3) and `b*(θ)` (3) in exact
/// rational arithmetic's stead to 1e-15.
#[allow(clippy::excessive_precision)]
fn kencarp4_tableau() -> EsdirkCoefficients {
    let a = vec![
        vec![],
        vec![0.25],
        vec![8611.0 / 62500.0, -1743.0 / 31250.0],
        vec![
            5012029.0 / 34652500.0,
            -654441.0 / 2922500.0,
            174375.0 / 388108.0,
        ],
        vec![
            15267082809.0 / 155376265600.0,
            -71443401.0 / 120774400.0,
            730878875.0 / 902184768.0,
            2285395.0 / 8070912.0,
        ],
        vec![
            82889.0 / 524892.0,
            0.0,
            15625.0 / 83664.0,
            69875.0 / 102672.0,
            -2260.0 / 8211.0,
        ],
    ];
    let bhat = [
        4586570599.0 / 29645900160.0,
        0.0,
        178811875.0 / 945068544.0,
        814220225.0 / 1159782912.0,
        -3700637.0 / 11593932.0,
        61727.0 / 225920.0,
    ];
    let mut b = a[5].clone();
    b.push(0.25);
    EsdirkCoefficients {
        name: "KenCarp4",
        order: 4,
        error_order: 3,
        interp_order: 3,
        gamma: 0.25,
        c: vec![0.0, 0.5, 83.0 / 250.0, 31.0 / 50.0, 17.0 / 20.0, 1.0],
        a,
        btilde: (0..6).map(|j| bhat[j] - b[j]).collect(),
        dense: vec![
            vec![
                6943876665148.0 / 7220017795957.0,
                -54480133.0 / 30881146.0,
                6818779379841.0 / 7100303317025.0,
            ],
            vec![0.0, 0.0, 0.0],
            vec![
                7640104374378.0 / 9702883013639.0,
                -11436875.0 / 14766696.0,
                2173542590792.0 / 12501825683035.0,
            ],
            vec![
                -20649996744609.0 / 7521556579894.0,
                174696575.0 / 18121608.0,
                -31592104683404.0 / 5083833661969.0,
            ],
            vec![
                8854892464581.0 / 2390941311638.0,
                -12120380.0 / 966161.0,
                61146701046299.0 / 7138195549469.0,
            ],
            vec![
                -11397109935349.0 / 6675773540249.0,
                3843.0 / 706.0,
                -17219254887155.0 / 4939391667607.0,
            ],
        ],
    }
}

/// Kvaerno5: the 5(4) method of A. Kværnø, "Singly diagonally implicit Runge–Kutta methods with
/// an explicit first stage", BIT 44 (2004) 489–502 (the 7-stage order-5 method with `γ = 0.26`;
/// coefficients to double precision as listed in diffrax's `kvaerno5.py`). L-stable, stiffly
/// accurate, and so is its embedded order-4 solution (stage 6, at `c = 1`), which gives the error
/// estimate. Stage 3 sits at `c = 1.23`, so the field is evaluated slightly past the step's end.
/// Dense output: the cubic Hermite interpolant through `(u0, k_1)` and `(u1, k_7)`, as for TRBDF2
/// (order 3; diffrax uses the same). The unit tests check the order-5 conditions of `b`, the
/// order-4 ones of `b̂` and the order-3 ones of the dense output.
#[allow(clippy::excessive_precision)]
fn kvaerno5_tableau() -> EsdirkCoefficients {
    let g = 0.26;
    let a = vec![
        vec![],
        vec![g],
        vec![0.13, 0.84033320996790809],
        vec![
            0.22371961478320505,
            0.47675532319799699,
            -0.06470895363112615,
        ],
        vec![
            0.16648564323248321,
            0.10450018841591720,
            0.03631482272098715,
            -0.13090704451073998,
        ],
        vec![
            0.13855640231268224,
            0.0,
            -0.04245337201752043,
            0.02446657898003141,
            0.61943039072480676,
        ],
        vec![
            0.13659751177640291,
            0.0,
            -0.05496908796538376,
            -0.04118626728321046,
            0.62993304899016403,
            0.06962479448202728,
        ],
    ];
    let mut b = a[6].clone();
    b.push(g);
    // The embedded solution is stage 6: row 6 of A with γ on the diagonal.
    let mut bhat = a[5].clone();
    bhat.extend([g, 0.0]);
    let c: Vec<f64> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if i == 0 {
                0.0
            } else {
                row.iter().sum::<f64>() + g
            }
        })
        .collect();
    let s = b.len();
    let dense = (0..s)
        .map(|j| {
            // Hermite: u0 + h[(3θ² − 2θ³) Σ b_j k_j + (θ − 2θ² + θ³) k_1 + (θ³ − θ²) k_s].
            let mut p = vec![0.0, 3.0 * b[j], -2.0 * b[j]];
            if j == 0 {
                p[0] += 1.0;
                p[1] -= 2.0;
                p[2] += 1.0;
            }
            if j == s - 1 {
                p[1] -= 1.0;
                p[2] += 1.0;
            }
            p
        })
        .collect();
    EsdirkCoefficients {
        name: "Kvaerno5",
        order: 5,
        error_order: 4,
        interp_order: 3,
        gamma: g,
        c,
        btilde: (0..s).map(|j| bhat[j] - b[j]).collect(),
        a,
        dense,
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// Order conditions up to order `p` (trees of order ≤ 4) for weights `b` on the tableau.
    fn residuals(tab: &EsdirkCoefficients, b: &[f64], p: usize) -> Vec<f64> {
        let s = tab.stages();
        let mut a = vec![vec![0.0; s]; s];
        for i in 0..s {
            for (j, x) in tab.a[i].iter().enumerate() {
                a[i][j] = *x;
            }
            if i > 0 {
                a[i][i] = tab.gamma;
            }
        }
        let c = &tab.c;
        let mv = |v: &[f64]| -> Vec<f64> {
            (0..s)
                .map(|i| (0..s).map(|j| a[i][j] * v[j]).sum())
                .collect()
        };
        let dot = |x: &[f64], y: &[f64]| -> f64 { x.iter().zip(y).map(|(a, b)| a * b).sum() };
        let ones = vec![1.0; s];
        let c2: Vec<f64> = c.iter().map(|x| x * x).collect();
        let c3: Vec<f64> = c.iter().map(|x| x * x * x).collect();
        let ac = mv(c);
        let cac: Vec<f64> = c.iter().zip(&ac).map(|(x, y)| x * y).collect();
        let mut r = vec![dot(b, &ones) - 1.0, dot(b, c) - 0.5];
        if p >= 3 {
            r.push(dot(b, &c2) - 1.0 / 3.0);
            r.push(dot(b, &ac) - 1.0 / 6.0);
        }
        if p >= 4 {
            r.push(dot(b, &c3) - 0.25);
            r.push(dot(b, &cac) - 0.125);
            r.push(dot(b, &mv(&c2)) - 1.0 / 12.0);
            r.push(dot(b, &mv(&ac)) - 1.0 / 24.0);
        }
        if p >= 5 {
            let c4: Vec<f64> = c.iter().map(|x| x.powi(4)).collect();
            let had = |x: &[f64], y: &[f64]| -> Vec<f64> {
                x.iter().zip(y).map(|(a, b)| a * b).collect()
            };
            let ac2 = mv(&c2);
            let aac = mv(&ac);
            r.push(dot(b, &c4) - 1.0 / 5.0);
            r.push(dot(b, &had(&c2, &ac)) - 1.0 / 10.0);
            r.push(dot(b, &had(c, &ac2)) - 1.0 / 15.0);
            r.push(dot(b, &had(c, &aac)) - 1.0 / 30.0);
            r.push(dot(b, &had(&ac, &ac)) - 1.0 / 20.0);
            r.push(dot(b, &mv(&c3)) - 1.0 / 20.0);
            r.push(dot(b, &mv(&cac)) - 1.0 / 40.0);
            r.push(dot(b, &mv(&ac2)) - 1.0 / 60.0);
            r.push(dot(b, &mv(&aac)) - 1.0 / 120.0);
        }
        r
    }

    /// The embedded weights `b̂ = b + (b̂ − b)`.
    fn embedded_weights(tab: &EsdirkCoefficients) -> Vec<f64> {
        tab.b()
            .iter()
            .zip(&tab.btilde)
            .map(|(x, y)| x + y)
            .collect()
    }

    fn check(tab: &EsdirkCoefficients, bhat_order: usize) {
        let s = tab.stages();
        // Row sums equal c (with the diagonal).
        for i in 1..s {
            let sum: f64 = tab.a[i].iter().sum::<f64>() + tab.gamma;
            assert!((sum - tab.c[i]).abs() < 1e-14, "{} row {i}", tab.name);
        }
        let b = tab.b();
        for r in residuals(tab, &b, tab.order as usize) {
            assert!(r.abs() < 1e-14, "{}: b residual {r}", tab.name);
        }
        let bhat = embedded_weights(tab);
        for r in residuals(tab, &bhat, bhat_order) {
            assert!(r.abs() < 1e-14, "{}: b̂ residual {r}", tab.name);
        }
        // Dense output: P_j(1) = b_j, and order interp_order at interior θ
        // (Σ_j P_j(θ) ψ_j = θ^ρ(t) / γ(t), i.e. b(θ) satisfies the conditions scaled by θ^ρ).
        for j in 0..s {
            let p1: f64 = tab.dense[j].iter().sum();
            assert!((p1 - b[j]).abs() < 1e-14, "{}: P_{j}(1)", tab.name);
        }
        for theta in [0.3, 0.77] {
            let bt: Vec<f64> = tab
                .dense
                .iter()
                .map(|pj| pj.iter().rev().fold(0.0, |acc, x| acc * theta + x) * theta)
                .collect();
            let want = [
                theta,
                theta.powi(2) / 2.0,
                theta.powi(3) / 3.0,
                theta.powi(3) / 6.0,
            ];
            let got = residuals(tab, &bt, tab.interp_order as usize);
            let exact = [1.0, 0.5, 1.0 / 3.0, 1.0 / 6.0];
            for k in 0..got.len() {
                let r = got[k] + exact[k] - want[k];
                assert!(
                    r.abs() < 1e-14,
                    "{}: dense θ={theta} condition {k}: {r}",
                    tab.name
                );
            }
        }
    }

    #[test]
    fn stage_limit() {
        for tab in [
            Trbdf2Tableau::coefficients(),
            KenCarp4Tableau::coefficients(),
            Kvaerno5Tableau::coefficients(),
        ] {
            assert!(tab.stages() <= ESDIRK_MAX_STAGES, "{}", tab.name);
        }
    }

    #[test]
    fn trbdf2_order_conditions() {
        check(&trbdf2_tableau(), 3);
    }

    #[test]
    fn kvaerno5_order_conditions() {
        let tab = kvaerno5_tableau();
        check(&tab, 4);
        // b̂ is only fourth order: some fifth-order condition must fail.
        let bhat = embedded_weights(&tab);
        let r = residuals(&tab, &bhat, 5);
        assert!(r[8..].iter().any(|x| x.abs() > 1e-4), "{r:?}");
    }

    #[test]
    fn kencarp4_order_conditions() {
        check(&kencarp4_tableau(), 3);
        // b̂ is only third order: the fourth-order conditions must fail.
        let tab = kencarp4_tableau();
        let bhat = embedded_weights(&tab);
        let r = residuals(&tab, &bhat, 4);
        assert!(r[4..].iter().any(|x| x.abs() > 1e-4));
    }
}
