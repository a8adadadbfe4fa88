//! Automatic stiffness detection: Tsit5 while the problem is not stiff, Rodas5P while it is (as
//! OrdinaryDiffEq's `AutoTsit5(Rodas5P())`).
//!
//! Non-stiff → stiff: each Tsit5 step estimates the dominant eigenvalue along the step,
//! `ρ = ‖k₇ − k₆‖ / ‖u₁ − Y₆‖` (Tsit5's last two stages are both at `t + h`; the test of Hairer
//! and Wanner, *Solving ODEs II*, IV.2, for DOPRI5), in the error estimate's tolerance-weighted
//! norm: the component that limits the step is the one that dominates that norm. (In the plain
//! Euclidean norm the large, smooth components swamp a stiff mode held at the tolerance's level:
//! on Robertson at rtol 1e-8 the estimate read `h·ρ ≈ 0.3` while the true `h·|λ|` was 3.)
//! `h·ρ` is compared with a bound (below); after `stiff_steps` consecutive stiff-looking steps
//! the solve switches to Rodas5P.
//!
//! The bound is the smaller of two. One is OrdinaryDiffEq's `AutoSwitch` test, `h·ρ > stifftol ×
//! stability size` with `stifftol = 0.9` and Tsit5's real stability boundary 3.5068: the step sits
//! at the edge of the stability region. The controller holds a stability-limited step *at* the
//! edge, not past it, so a bound equal to the edge is crossed only now and then; hence the 0.9.
//! The other holds at tight tolerances, where Tsit5's error estimate limits the step well inside
//! the region (on Robertson at rtol 1e-10, `h·|λ|` between 1.8 and 3.5 for thousands of steps):
//! a mode of the solution's own size that Tsit5 resolves to relative accuracy `rtol` has
//! `|E(hλ)| ≲ rtol`, where `E(z) ≈ C z⁵` is the error estimate's amplification (`C ≈ 4.4e-4`,
//! from the tableau), so `|hλ| ≲ z_rtol = (rtol / C)^{1/5}`. A mode that dominates an accepted
//! step's error with `h·ρ` far above `z_rtol` (`RESOLVED` = 8 times: an error 8⁵ ≈ 3e4 times the
//! tolerance for a solution-sized mode) is a decayed transient held down by stability: stiffness.
//! (Measured on Lotka–Volterra, resolved modes stay below 2 `z_rtol` at rtol 1e-3 to 1e-10.)
//!
//! Stiff → non-stiff: at each Rodas5P step, two power iterations with the step's Jacobian
//! (through the linear strategy's `J·v`) estimate `‖J‖`; when `h·ρ` is below half the bound for
//! `nonstiff_steps` consecutive steps, Tsit5 would be stable with a margin at Rodas5P's step and
//! accurate there (the tolerance-dependent part of the bound), so the solve switches back.
//!
//! Both methods' dense outputs are kept in one representation: the interpolation vectors are
//! Tsit5's followed by Rodas5P's, the inactive method's weights multiplying zero vectors.

use super::linear::{DenseSolve, LinearStrategy};
use super::rosenbrock::Rodas5P;
use crate::explicit_rk::Tsit5;
use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure};
use crate::tableaus::{Tableau, TSIT5};
use sciml_core::linalg::LinalgReal;
use sciml_core::{InnerProduct, Real, Scalar, State, Stats, VectorField};

/// Tsit5 with automatic switching to Rodas5P on stiffness (and back).
///
/// ```
/// use sciml_core::{ForwardAd, GenericRhs, Scalar};
/// use sciml_ode::{AutoTsit5Rodas5P, OdeProblem, SolveOptions};
/// // Van der Pol with μ = 1000: stiff on the slow branches.
/// struct VdP;
/// impl GenericRhs for VdP {
///     fn dims(&self) -> (usize, usize) { (2, 0) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = u[1];
///         du[1] = (S::cst(1.0) - u[0] * u[0]) * u[1] * S::cst(1000.0) - u[0];
///     }
/// }
/// let mut prob = OdeProblem::new(ForwardAd::new(VdP), vec![2.0, 0.0], (0.0, 100.0), vec![]).unwrap();
/// let sol = prob.solve(AutoTsit5Rodas5P::new(), &SolveOptions::default()).unwrap();
/// assert!(sol.stats.accepted < 2_000);
/// ```
#[derive(Clone, Debug)]
pub struct AutoTsit5Rodas5P<L = DenseSolve> {
    /// The stiff method.
    pub stiff: Rodas5P<L>,
    /// Consecutive stiff-looking Tsit5 steps before switching to Rodas5P.
    pub stiff_steps: usize,
    /// Consecutive non-stiff-looking Rodas5P steps before switching back.
    pub nonstiff_steps: usize,
    /// `h·ρ` above which a Tsit5 step counts as stiff at any tolerance: OrdinaryDiffEq's
    /// `stifftol = 0.9` times Tsit5's real stability boundary 3.5068. At tight tolerances a
    /// smaller, tolerance-dependent bound applies (see the module documentation).
    pub stiffness_bound: f64,
}

impl AutoTsit5Rodas5P<DenseSolve> {
    /// The default switcher with a dense Jacobian for the stiff phases.
    pub fn new() -> Self {
        AutoTsit5Rodas5P {
            stiff: Rodas5P::new(),
            stiff_steps: 10,
            nonstiff_steps: 25,
            stiffness_bound: 0.9 * 3.5068,
        }
    }
}

impl Default for AutoTsit5Rodas5P<DenseSolve> {
    fn default() -> Self {
        Self::new()
    }
}

/// Buffers of [`AutoTsit5Rodas5P`].
#[derive(Clone, Debug)]
pub struct AutoCache<V: State, C> {
    ns: crate::explicit_rk::RkCache<V>,
    st: C,
    stiff: bool,
    /// Switch before the next step.
    pending: bool,
    count: usize,
    h: f64,
    rho: f64,
    /// The stiffness bound for the current tolerance.
    bound: f64,
    /// `C` of Tsit5's error-estimate amplification `|E(z)| ≈ C |z|⁵`.
    err_const: f64,
    iv: Vec<V>,
    n_ns: usize,
    v: V,
    jv: V,
    d: V,
    zero: V,
}

/// Multiple of `z_rtol` (the largest `h·|λ|` at which Tsit5 resolves a solution-sized mode to
/// the relative tolerance) beyond which a mode dominating the error counts as stiff.
const RESOLVED: f64 = 8.0;

/// `C` in `|E(z)| ≈ C |z|⁵`, `E(z) = z·b̃ᵀ(I − zA)⁻¹𝟙` the error estimate of `tab` on `u' = λu`
/// (`z = hλ`), evaluated at `z = −0.1`, where the leading term dominates (Tsit5: 4.4e-4).
fn error_constant(tab: &Tableau) -> f64 {
    let z = -0.1;
    let s = tab.c.len();
    let mut y = vec![0.0; s];
    let mut row = 0;
    for i in 0..s {
        let a = &tab.a[row..row + i];
        row += i;
        y[i] = 1.0 + z * a.iter().zip(&y).map(|(aij, yj)| aij * yj).sum::<f64>();
    }
    let bt = tab.btilde.unwrap_or(&[]);
    let e = z * bt.iter().zip(&y).map(|(b, yj)| b * yj).sum::<f64>();
    e.abs() / z.abs().powi(5)
}

fn norm<R: Real>(a: &[R]) -> f64 {
    a.iter()
        .map(|x| {
            let d = x.to_f64_lossy();
            d * d
        })
        .sum::<f64>()
        .sqrt()
}

/// The 2-norm of a state, in `f64`: over its host slice as [`norm`], else by its inner product.
fn state_norm<R: Real, V: InnerProduct<S = R>>(v: &V) -> f64 {
    match v.host_slice() {
        Some(s) => norm(s),
        None => v.norm2().to_f64_lossy(),
    }
}

impl<L: Clone + Send + Sync + std::fmt::Debug> MethodInfo for AutoTsit5Rodas5P<L> {
    fn name(&self) -> &'static str {
        "AutoTsit5Rodas5P"
    }
    fn order(&self) -> u8 {
        5
    }
    fn is_adaptive(&self) -> bool {
        true
    }
    fn error_order(&self) -> u8 {
        4
    }
    fn interp_order(&self) -> u8 {
        4
    }
    fn interp_poly<T: Real>(&self) -> Vec<Vec<T>> {
        let mut p = MethodInfo::interp_poly::<T>(&Tsit5);
        p.extend(MethodInfo::interp_poly::<T>(&self.stiff));
        p
    }
}

impl<L, R, V, F> OdeMethod<F> for AutoTsit5Rodas5P<L>
where
    L: LinearStrategy<F>,
    R: LinalgReal + Scalar<Re = R>,
    V: InnerProduct<S = R>,
    F: VectorField<V = V>,
{
    type Cache = AutoCache<V, <Rodas5P<L> as OdeMethod<F>>::Cache>;

    fn validate(&self) -> Result<(), sciml_core::Error> {
        OdeMethod::<F>::validate(&self.stiff)
    }

    fn cache(&self, f: &F, u0: &V) -> Self::Cache {
        let ns = <Tsit5 as OdeMethod<F>>::cache(&Tsit5, f, u0);
        let n_ns = MethodInfo::interp_poly::<f64>(&Tsit5).len();
        let n_st = MethodInfo::interp_poly::<f64>(&self.stiff).len();
        // A fixed, sign-varying start vector for the power iteration (a state that is not one
        // slice starts from u0, or from f(t0, u0) when u0 is zero; see `initialize`).
        let mut v = u0.zeros_like();
        match v.host_slice_mut() {
            Some(vs) => {
                for (i, vi) in vs.iter_mut().enumerate() {
                    *vi = R::c(1.0 + 0.5 * ((i * 7 + 3) % 11) as f64 / 11.0)
                        * if i % 2 == 0 { R::one() } else { -R::one() };
                }
            }
            None => v.copy_from(u0),
        }
        AutoCache {
            ns,
            st: self.stiff.cache(f, u0),
            stiff: false,
            pending: false,
            count: 0,
            h: 0.0,
            rho: 0.0,
            bound: self.stiffness_bound,
            err_const: error_constant(&TSIT5),
            iv: vec![u0.zeros_like(); n_ns + n_st],
            n_ns,
            v,
            jv: u0.zeros_like(),
            d: u0.zeros_like(),
            zero: u0.zeros_like(),
        }
    }

    fn initialize(&self, c: &mut Self::Cache, f: &mut F, p: &F::P, t: R, u: &V, stats: &mut Stats) {
        if c.stiff {
            self.stiff.initialize(&mut c.st, f, p, t, u, stats);
        } else {
            Tsit5.initialize(&mut c.ns, f, p, t, u, stats);
        }
        if state_norm(&c.v) == 0.0 {
            let f0 = OdeMethod::<F>::f_start(self, c);
            let f0 = f0.clone();
            c.v.copy_from(&f0);
        }
        c.pending = false;
        c.count = 0;
    }

    fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a V {
        if c.stiff {
            self.stiff.f_start(&c.st)
        } else {
            <Tsit5 as OdeMethod<F>>::f_start(&Tsit5, &c.ns)
        }
    }

    fn try_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        ctx: StepContext<'_, F>,
        u1: &mut V,
    ) -> Result<R, StepFailure> {
        if c.pending {
            // Hand f(t, u0) over to the other method; nothing is re-evaluated.
            if c.stiff {
                c.ns.ks[0].copy_from(&c.st.f0);
                c.ns.interp_ready_reset();
            } else {
                c.st.f0.copy_from(&c.ns.ks[0]);
                c.st.jac_ok = false;
                c.st.interp_ready = false;
            }
            c.stiff = !c.stiff;
            c.pending = false;
            c.count = 0;
        }
        c.h = ctx.h.abs().to_f64_lossy();
        // The bound for this tolerance; the loosest relative tolerance of the components, and
        // the plain bound without one (pure absolute tolerances).
        let tol = ctx.tol;
        let rtol = (0..tol.rtol_len())
            .map(|i| tol.rtol_at(i).to_f64_lossy())
            .fold(0.0, f64::max);
        c.bound = if rtol > 0.0 {
            self.stiffness_bound
                .min(RESOLVED * (rtol / c.err_const).powf(0.2))
        } else {
            self.stiffness_bound
        };
        if c.stiff {
            let had_jac = c.st.jac_ok;
            let p = ctx.p;
            let res = self.stiff.try_step(&mut c.st, f, ctx, u1);
            if !had_jac && c.st.jac_ok {
                // Two power iterations with this step's Jacobian.
                let lin = &self.stiff.linear;
                let mut rho = 0.0;
                for _ in 0..2 {
                    lin.jac_mul(&mut c.st.lin, f, p, &c.v, &mut c.jv);
                    let nv = state_norm(&c.v);
                    let njv = state_norm(&c.jv);
                    if nv == 0.0 || njv == 0.0 || !njv.is_finite() {
                        break;
                    }
                    rho = njv / nv;
                    let s = R::c(1.0 / njv);
                    c.v.copy_from(&c.jv);
                    c.v.scale(s);
                }
                c.rho = rho;
            }
            res
        } else {
            let u0 = ctx.u0;
            let res = Tsit5.try_step(&mut c.ns, f, ctx, u1);
            // Stages 6 and 7 of Tsit5 are both at t + h: k6 at Y6 (kept in tmp), k7 at u1. The
            // quotient is taken in the error norm's weights (see the module documentation).
            let one = R::one();
            c.jv.lincomb(&c.zero, &[one, -one], &[&c.ns.ks[6], &c.ns.ks[5]]);
            c.d.lincomb(&c.zero, &[one, -one], &[u1, &c.ns.tmp]);
            let num = <V as State>::err_norm(&c.jv, u0, u1, tol).to_f64_lossy();
            let den = <V as State>::err_norm(&c.d, u0, u1, tol).to_f64_lossy();
            c.rho = if den > 0.0 && num.is_finite() {
                num / den
            } else {
                0.0
            };
            res
        }
    }

    fn finish_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t1: R,
        u1: &V,
        stats: &mut Stats,
    ) {
        if c.stiff {
            self.stiff.finish_step(&mut c.st, f, p, t1, u1, stats);
            let stable = c.h * c.rho < 0.5 * c.bound;
            c.count = if stable { c.count + 1 } else { 0 };
            if c.count >= self.nonstiff_steps {
                c.pending = true;
            }
        } else {
            Tsit5.finish_step(&mut c.ns, f, p, t1, u1, stats);
            // ρ and the bound are those of the accepted attempt (the last `try_step`).
            let stiff = c.h * c.rho > c.bound;
            c.count = if stiff { c.count + 1 } else { 0 };
            if c.count >= self.stiff_steps {
                c.pending = true;
            }
        }
    }

    fn prepare_interp(&self, c: &mut Self::Cache, f: &mut F, ctx: StepContext<'_, F>) {
        let n_ns = c.n_ns;
        if c.stiff {
            self.stiff.prepare_interp(&mut c.st, f, ctx);
            for v in &mut c.iv[..n_ns] {
                v.fill_zero();
            }
            for (d, s) in c.iv[n_ns..]
                .iter_mut()
                .zip(self.stiff.interp_vectors(&c.st))
            {
                d.copy_from(s);
            }
        } else {
            Tsit5.prepare_interp(&mut c.ns, f, ctx);
            for (d, s) in c.iv[..n_ns]
                .iter_mut()
                .zip(<Tsit5 as OdeMethod<F>>::interp_vectors(&Tsit5, &c.ns))
            {
                d.copy_from(s);
            }
            for v in &mut c.iv[n_ns..] {
                v.fill_zero();
            }
        }
    }

    fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [V] {
        &c.iv
    }

    fn advance(&self, c: &mut Self::Cache) {
        if c.stiff {
            <Rodas5P<L> as OdeMethod<F>>::advance(&self.stiff, &mut c.st);
        } else {
            <Tsit5 as OdeMethod<F>>::advance(&Tsit5, &mut c.ns);
        }
    }
}
