//! Automatic stiffness detection: Tsit5 while the problem is not stiff, Rodas5P while it is (as
//! OrdinaryDiffEq's `AutoTsit5(Rodas5P())`).
//!
//! Non-stiff → stiff: after each accepted Tsit5 step, `ρ = ‖k₇ − k₆‖ / ‖u₁ − Y₆‖` estimates the
//! dominant eigenvalue along the step (Tsit5's last two stages are both at `t + h`; the test of
//! Hairer and Wanner, *Solving ODEs II*, IV.2, for DOPRI5). When `h·ρ` exceeds the size of the
//! stability region on the negative real axis (about 3.5) for `stiff_steps` consecutive steps,
//! the solve switches to Rodas5P.
//!
//! Stiff → non-stiff: at each Rodas5P step, two power iterations with the step's Jacobian
//! (through the linear strategy's `J·v`) estimate `‖J‖`; when `h·ρ` would be stable for Tsit5
//! with a margin for `nonstiff_steps` consecutive steps, the solve switches back.
//!
//! Both methods' dense outputs are kept in one representation: the interpolation vectors are
//! Tsit5's followed by Rodas5P's, the inactive method's weights multiplying zero vectors.

use super::linear::{DenseSolve, LinearStrategy};
use super::rosenbrock::Rodas5P;
use crate::explicit_rk::Tsit5;
use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure};
use sciml_core::linalg::LinalgReal;
use sciml_core::{Real, Scalar, State, Stats, VectorField};

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
    /// `h·ρ` above which a Tsit5 step counts as stiff (Tsit5's real stability boundary is
    /// about 3.5).
    pub stiffness_bound: f64,
}

impl AutoTsit5Rodas5P<DenseSolve> {
    /// The default switcher with a dense Jacobian for the stiff phases.
    pub fn new() -> Self {
        AutoTsit5Rodas5P {
            stiff: Rodas5P::new(),
            stiff_steps: 10,
            nonstiff_steps: 25,
            stiffness_bound: 3.5,
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
    iv: Vec<V>,
    n_ns: usize,
    v: V,
    jv: V,
}

fn diff_norm<R: Real>(a: &[R], b: &[R]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (*x - *y).to_f64_lossy();
            d * d
        })
        .sum::<f64>()
        .sqrt()
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

impl<L, R, F> OdeMethod<F> for AutoTsit5Rodas5P<L>
where
    L: LinearStrategy<F>,
    R: LinalgReal + Scalar<Re = R>,
    F: VectorField<V = Vec<R>>,
{
    type Cache = AutoCache<Vec<R>, <Rodas5P<L> as OdeMethod<F>>::Cache>;

    fn cache(&self, f: &F, u0: &Vec<R>) -> Self::Cache {
        let ns = <Tsit5 as OdeMethod<F>>::cache(&Tsit5, f, u0);
        let n_ns = MethodInfo::interp_poly::<f64>(&Tsit5).len();
        let n_st = MethodInfo::interp_poly::<f64>(&self.stiff).len();
        // A fixed, sign-varying start vector for the power iteration.
        let v = (0..u0.len())
            .map(|i| {
                R::c(1.0 + 0.5 * ((i * 7 + 3) % 11) as f64 / 11.0)
                    * if i % 2 == 0 { R::one() } else { -R::one() }
            })
            .collect();
        AutoCache {
            ns,
            st: self.stiff.cache(f, u0),
            stiff: false,
            pending: false,
            count: 0,
            h: 0.0,
            rho: 0.0,
            iv: vec![u0.zeros_like(); n_ns + n_st],
            n_ns,
            v,
            jv: u0.zeros_like(),
        }
    }

    fn initialize(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t: R,
        u: &Vec<R>,
        stats: &mut Stats,
    ) {
        if c.stiff {
            self.stiff.initialize(&mut c.st, f, p, t, u, stats);
        } else {
            Tsit5.initialize(&mut c.ns, f, p, t, u, stats);
        }
        c.pending = false;
        c.count = 0;
    }

    fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a Vec<R> {
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
        u1: &mut Vec<R>,
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
                    let nv = norm(&c.v);
                    let njv = norm(&c.jv);
                    if nv == 0.0 || njv == 0.0 || !njv.is_finite() {
                        break;
                    }
                    rho = njv / nv;
                    let s = R::c(1.0 / njv);
                    for (vi, ji) in c.v.iter_mut().zip(c.jv.iter()) {
                        *vi = *ji * s;
                    }
                }
                c.rho = rho;
            }
            res
        } else {
            Tsit5.try_step(&mut c.ns, f, ctx, u1)
        }
    }

    fn finish_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        t1: R,
        u1: &Vec<R>,
        stats: &mut Stats,
    ) {
        if c.stiff {
            self.stiff.finish_step(&mut c.st, f, p, t1, u1, stats);
            let stable = c.h * c.rho < 0.5 * self.stiffness_bound;
            c.count = if stable { c.count + 1 } else { 0 };
            if c.count >= self.nonstiff_steps {
                c.pending = true;
            }
        } else {
            Tsit5.finish_step(&mut c.ns, f, p, t1, u1, stats);
            // Stages 6 and 7 of Tsit5 are both at t + h: k6 at Y6 (kept in tmp), k7 at u1.
            let num = diff_norm(&c.ns.ks[6], &c.ns.ks[5]);
            let den = diff_norm(u1, &c.ns.tmp);
            let rho = if den > 0.0 { num / den } else { 0.0 };
            let stiff = c.h * rho > self.stiffness_bound;
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

    fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [Vec<R>] {
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
