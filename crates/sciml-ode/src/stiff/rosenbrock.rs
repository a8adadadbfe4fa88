//! Rosenbrock (linearly implicit) methods: one Jacobian and one factorisation per step, no
//! Newton iteration.
//!
//! Every method here runs in the transformed form of Hairer and Wanner (*Solving ODEs II*,
//! section IV.7, eq. 7.25), written for a mass matrix `M`, with `W = M − hγ·J`:
//!
//! `W U_i = hγ·( f(t + c_i h, u0 + Σ_{j<i} a_ij U_j) + h d_i ∂f/∂t + M Σ_{j<i} (C_ij / h) U_j )`,
//! `u1 = u0 + Σ b_i U_i`, error estimate `Σ b̃_i U_i`.
//!
//! `J` is evaluated once per step at `(t, u0)` and kept when a step is rejected; `∂f/∂t` is a
//! forward difference taken at the same time. The dense output is the method's own continuous
//! extension, stored as `u0 + h Σ P_j(θ) (U_j / h)`.

use super::linear::{DenseSolve, LinearStrategy};
use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure};
use sciml_core::{One, Re, Real, Scalar, State, Stats, VectorField, Zero};
use std::sync::OnceLock;

/// The coefficients of a Rosenbrock method in transformed form (see the module docs).
#[derive(Clone, Debug)]
pub struct RosenbrockTableau {
    /// Name, e.g. `"Rodas5P"`.
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

impl RosenbrockTableau {
    pub(crate) fn stages(&self) -> usize {
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
        RosenbrockTableau {
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
fn rosenbrock23_tableau() -> RosenbrockTableau {
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
    RosenbrockTableau {
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
fn rodas4_tableau() -> RosenbrockTableau {
    RosenbrockTableau::rodas(
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
fn rodas5p_tableau() -> RosenbrockTableau {
    RosenbrockTableau::rodas(
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

/// `out = M v` for a real mass matrix and a state in any scalar.
fn mass_mul<S: Scalar>(m: &sciml_core::DenseMatrix<S::Re>, v: &[S], out: &mut [S]) {
    out.iter_mut().for_each(|x| *x = S::zero());
    for (j, vj) in v.iter().enumerate() {
        for (o, a) in out.iter_mut().zip(m.col(j)) {
            *o += *vj * *a;
        }
    }
}

/// A Rosenbrock method: its tableau and the linear-solve strategy it uses. Every implementor is
/// an [`OdeMethod`] for the fields its strategy accepts.
pub trait RosenbrockMethod: Clone + Send + Sync {
    /// How `W = M − hγJ` is formed and solved.
    type Linear: Clone + Send + Sync + std::fmt::Debug;
    /// The coefficients.
    fn tableau(&self) -> &'static RosenbrockTableau;
    /// The linear-solve strategy.
    fn linear(&self) -> &Self::Linear;
}

macro_rules! rosenbrock_method {
    ($(#[$doc:meta])* $name:ident, $tab:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name<L = DenseSolve> {
            /// How `W = M − hγJ` is formed and solved.
            pub linear: L,
        }

        impl $name<DenseSolve> {
            /// The method with a dense Jacobian and dense LU.
            pub fn new() -> Self {
                $name { linear: DenseSolve }
            }
        }

        impl<L> $name<L> {
            /// The method with another linear-solve strategy (sparse LU, Jacobian-free GMRES).
            pub fn with_linear<L2>(self, linear: L2) -> $name<L2> {
                $name { linear }
            }
        }

        impl<L: Clone + Send + Sync + std::fmt::Debug> RosenbrockMethod for $name<L> {
            type Linear = L;
            fn tableau(&self) -> &'static RosenbrockTableau {
                static TAB: OnceLock<RosenbrockTableau> = OnceLock::new();
                TAB.get_or_init($tab)
            }
            fn linear(&self) -> &L {
                &self.linear
            }
        }
    };
}

rosenbrock_method!(
    /// Shampine and Reichelt's order-2(3) Rosenbrock–W pair (MATLAB's `ode23s`): cheap, robust
    /// at loose tolerances, L-stable.
    ///
    /// ```
    /// use sciml_core::{ForwardAd, GenericRhs, Scalar};
    /// use sciml_ode::{OdeProblem, Rosenbrock23, SolveOptions};
    /// // A stiff linear decay: u' = -1000 (u - cos t).
    /// struct Stiff;
    /// impl GenericRhs for Stiff {
    ///     fn dims(&self) -> (usize, usize) { (1, 0) }
    ///     fn eval<S: Scalar>(&self, t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
    ///         du[0] = (u[0] - S::from_re(t.cos())) * S::cst(-1000.0);
    ///     }
    /// }
    /// let mut prob = OdeProblem::new(ForwardAd::new(Stiff), vec![1.0], (0.0, 1.0), vec![]).unwrap();
    /// let sol = prob.solve(Rosenbrock23::new(), &SolveOptions::default()).unwrap();
    /// assert!((sol.u.last().unwrap()[0] - 1f64.cos()).abs() < 1e-3);
    /// assert!(sol.stats.accepted < 100);
    /// ```
    Rosenbrock23,
    rosenbrock23_tableau
);
rosenbrock_method!(
    /// Hairer and Wanner's RODAS4: order 4, stiffly accurate, L-stable, order-3 dense output.
    Rodas4,
    rodas4_tableau
);
rosenbrock_method!(
    /// Steinebach's Rodas5P: order 5, stiffly accurate, L-stable, order-4 dense output; the
    /// default stiff method, also for index-1 DAEs in mass-matrix form.
    Rodas5P,
    rodas5p_tableau
);

/// Buffers of a Rosenbrock solve.
#[derive(Clone, Debug)]
pub struct RosenbrockCache<V, L> {
    pub(crate) lin: L,
    /// Stage increments `U_i`.
    pub(crate) us: Vec<V>,
    /// `U_i / h`, the dense-output vectors.
    pub(crate) iv: Vec<V>,
    pub(crate) f0: V,
    pub(crate) f1: V,
    pub(crate) fi: V,
    pub(crate) arg: V,
    pub(crate) dt: V,
    pub(crate) err: V,
    pub(crate) zero: V,
    pub(crate) msum: V,
    pub(crate) jac_ok: bool,
    pub(crate) w_for: f64,
    pub(crate) interp_ready: bool,
}

macro_rules! rosenbrock_impls {
    ($name:ident) => {
        impl<L, S, F> OdeMethod<F> for $name<L>
        where
            L: LinearStrategy<F>,
            S: Scalar,
            F: VectorField<V = Vec<S>>,
        {
            type Cache = RosenbrockCache<Vec<S>, L::Cache>;

            fn cache(&self, f: &F, u0: &Vec<S>) -> Self::Cache {
                let s = self.tableau().stages();
                let z = u0.zeros_like();
                RosenbrockCache {
                    lin: self.linear().cache(f, u0),
                    us: vec![z.clone(); s],
                    iv: vec![z.clone(); s],
                    f0: z.clone(),
                    f1: z.clone(),
                    fi: z.clone(),
                    arg: z.clone(),
                    dt: z.clone(),
                    err: z.clone(),
                    msum: z.clone(),
                    zero: z,
                    jac_ok: false,
                    w_for: f64::NAN,
                    interp_ready: false,
                }
            }

            fn initialize(
                &self,
                c: &mut Self::Cache,
                f: &mut F,
                p: &F::P,
                t: Re<F::V>,
                u: &Vec<S>,
                stats: &mut Stats,
            ) {
                f.rhs(t, u, p, &mut c.f0);
                stats.nf += 1;
                c.jac_ok = false;
                c.interp_ready = false;
            }

            fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a Vec<S> {
                &c.f0
            }

            fn try_step(
                &self,
                c: &mut Self::Cache,
                f: &mut F,
                ctx: StepContext<'_, F>,
                u1: &mut Vec<S>,
            ) -> Result<Re<F::V>, StepFailure> {
                let tab = self.tableau();
                let lin = self.linear();
                let s = tab.stages();
                let (t, h, u0, p) = (ctx.t, ctx.h, ctx.u0, ctx.p);
                let hg = h * Re::<F::V>::c(tab.gamma);
                if !c.jac_ok {
                    lin.update_jacobian(&mut c.lin, f, t, u0, p, ctx.stats);
                    // ∂f/∂t by a forward difference at the same point.
                    let dtau = Re::<F::V>::epsilon().sqrt() * t.abs().max(Re::<F::V>::one());
                    f.rhs(t + dtau, u0, p, &mut c.fi);
                    ctx.stats.nf += 1;
                    c.dt.lincomb(&c.zero, &[dtau.recip(), -dtau.recip()], &[&c.fi, &c.f0]);
                    c.jac_ok = true;
                    c.w_for = f64::NAN;
                }
                if c.w_for != hg.to_f64_lossy() {
                    lin.factorise(&mut c.lin, hg, ctx.mass, ctx.stats)?;
                    c.w_for = hg.to_f64_lossy();
                }
                let mut w = [Re::<F::V>::zero(); 12];
                for i in 0..s {
                    let (done, rest) = c.us.split_at_mut(i);
                    let ui = &mut rest[0];
                    if i > 0 {
                        let mut refs: [&Vec<S>; 12] = [u0; 12];
                        let mut m = 0;
                        for (aij, uj) in tab.a[i].iter().zip(done.iter()) {
                            if *aij != 0.0 {
                                w[m] = Re::<F::V>::c(*aij);
                                refs[m] = uj;
                                m += 1;
                            }
                        }
                        c.arg.lincomb(u0, &w[..m], &refs[..m]);
                        f.rhs(t + h * Re::<F::V>::c(tab.c[i]), &c.arg, p, &mut c.fi);
                        ctx.stats.nf += 1;
                    }
                    let fi = if i == 0 { &c.f0 } else { &c.fi };
                    // hγ (f_i + h d_i f_t + M Σ C_ij/h U_j)
                    let mut refs: [&Vec<S>; 12] = [u0; 12];
                    w[0] = hg;
                    refs[0] = fi;
                    let mut m = 1;
                    if tab.d[i] != 0.0 {
                        w[m] = hg * h * Re::<F::V>::c(tab.d[i]);
                        refs[m] = &c.dt;
                        m += 1;
                    }
                    match ctx.mass {
                        None => {
                            for (cij, uj) in tab.cm[i].iter().zip(done.iter()) {
                                if *cij != 0.0 {
                                    w[m] = hg * Re::<F::V>::c(*cij) / h;
                                    refs[m] = uj;
                                    m += 1;
                                }
                            }
                            ui.lincomb(&c.zero, &w[..m], &refs[..m]);
                        }
                        Some(mass) => {
                            let mut w2 = [Re::<F::V>::zero(); 12];
                            let mut r2: [&Vec<S>; 12] = [u0; 12];
                            let mut m2 = 0;
                            for (cij, uj) in tab.cm[i].iter().zip(done.iter()) {
                                if *cij != 0.0 {
                                    w2[m2] = hg * Re::<F::V>::c(*cij) / h;
                                    r2[m2] = uj;
                                    m2 += 1;
                                }
                            }
                            c.err.lincomb(&c.zero, &w2[..m2], &r2[..m2]);
                            mass_mul(mass, &c.err, &mut c.msum);
                            w[m] = Re::<F::V>::one();
                            refs[m] = &c.msum;
                            m += 1;
                            ui.lincomb(&c.zero, &w[..m], &refs[..m]);
                        }
                    }
                    lin.solve(&mut c.lin, f, p, ui, ctx.stats)?;
                }
                let mut refs: [&Vec<S>; 12] = [u0; 12];
                let mut m = 0;
                for (bj, uj) in tab.b.iter().zip(c.us.iter()) {
                    if *bj != 0.0 {
                        w[m] = Re::<F::V>::c(*bj);
                        refs[m] = uj;
                        m += 1;
                    }
                }
                u1.lincomb(u0, &w[..m], &refs[..m]);
                let mut m = 0;
                for (bj, uj) in tab.btilde.iter().zip(c.us.iter()) {
                    if *bj != 0.0 {
                        w[m] = Re::<F::V>::c(*bj);
                        refs[m] = uj;
                        m += 1;
                    }
                }
                c.err.lincomb(&c.zero, &w[..m], &refs[..m]);
                c.interp_ready = false;
                let e = Vec::<S>::err_norm(&c.err, u0, u1, ctx.tol);
                if e.is_finite() && u1.all_finite() {
                    Ok(e)
                } else {
                    Err(StepFailure::NonFinite)
                }
            }

            fn finish_step(
                &self,
                c: &mut Self::Cache,
                f: &mut F,
                p: &F::P,
                t1: Re<F::V>,
                u1: &Vec<S>,
                stats: &mut Stats,
            ) {
                f.rhs(t1, u1, p, &mut c.f1);
                stats.nf += 1;
            }

            fn prepare_interp(&self, c: &mut Self::Cache, _f: &mut F, ctx: StepContext<'_, F>) {
                if c.interp_ready {
                    return;
                }
                let hinv = ctx.h.recip();
                for (v, u) in c.iv.iter_mut().zip(c.us.iter()) {
                    v.lincomb(&c.zero, &[hinv], &[u]);
                }
                c.interp_ready = true;
            }

            fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [Vec<S>] {
                &c.iv
            }

            fn advance(&self, c: &mut Self::Cache) {
                std::mem::swap(&mut c.f0, &mut c.f1);
                c.jac_ok = false;
                c.interp_ready = false;
            }
        }

        super::tableau_method_info!($name);
    };
}

rosenbrock_impls!(Rosenbrock23);
rosenbrock_impls!(Rodas4);
rosenbrock_impls!(Rodas5P);
