//! One engine for every explicit Runge–Kutta tableau.

use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure};
use crate::tableaus::{self, Interp, Tableau};
use sciml_core::{Re, Real, State, Stats, VectorField, Zero, MAX_LINCOMB};

/// A method given by an explicit Runge–Kutta [`Tableau`]. Implement it to run a tableau of your
/// own; every implementor is an [`OdeMethod`] for every field.
pub trait RkMethod: Clone + Send + Sync {
    /// The coefficients.
    fn tableau(&self) -> &'static Tableau;
}

/// Buffers of an explicit Runge–Kutta solve.
#[derive(Clone, Debug)]
pub struct RkCache<V: State> {
    /// Stages, then `f(t1, u1)` (non-FSAL methods), then lazy interpolation stages.
    pub(crate) ks: Vec<V>,
    pub(crate) tmp: V,
    err: V,
    zero: V,
    interp_ready: bool,
}

impl<V: State> RkCache<V> {
    /// Marks the lazy interpolation stages stale (after the state was changed from outside).
    pub(crate) fn interp_ready_reset(&mut self) {
        self.interp_ready = false;
    }
}

/// Most vectors a stage, update or error combination uses (Vern9: 16 stages).
const MAX_STAGE_TERMS: usize = 16;

/// Gathers the non-zero `h·coef[j]` with their vectors, so sparse tableau rows cost nothing.
#[inline]
fn gather<'a, V: State, const N: usize>(
    h: Re<V>,
    coef: &[f64],
    ks: &'a [V],
    w: &mut [Re<V>; N],
    refs: &mut [&'a V; N],
) -> usize {
    let mut m = 0;
    for (cj, k) in coef.iter().zip(ks) {
        if *cj != 0.0 {
            w[m] = h * Re::<V>::c(*cj);
            refs[m] = k;
            m += 1;
        }
    }
    m
}

/// Stage `i >= 1` of a step: `k_i = f(t + c_i h, u0 + h Σ_{j<i} a_ij k_j)`, the FSAL stage
/// evaluated at (and writing) `u1`. `N >= i` sizes the term buffers: exactly `i` when unrolled,
/// so no unused slots are initialised.
#[inline(always)]
fn rk_stage<F: VectorField, const N: usize>(
    tab: &Tableau,
    i: usize,
    c: &mut RkCache<F::V>,
    f: &mut F,
    ctx: &StepContext<'_, F>,
    u1: &mut F::V,
) {
    let (t, h, u0) = (ctx.t, ctx.h, ctx.u0);
    let s = tab.c.len();
    let row = i * (i - 1) / 2;
    let mut w = [Re::<F::V>::zero(); N];
    let (done, rest) = c.ks.split_at_mut(i);
    let mut refs: [&F::V; N] = [u0; N];
    let m = gather(h, &tab.a[row..row + i], done, &mut w, &mut refs);
    let ti = t + h * Re::<F::V>::c(tab.c[i]);
    if tab.fsal && i == s - 1 {
        // The FSAL stage is evaluated at the new state itself.
        u1.lincomb(u0, &w[..m], &refs[..m]);
        f.rhs(ti, u1, ctx.p, &mut rest[0]);
    } else {
        c.tmp.lincomb(u0, &w[..m], &refs[..m]);
        f.rhs(ti, &c.tmp, ctx.p, &mut rest[0]);
    }
}

fn nbase(t: &Tableau) -> usize {
    if t.fsal {
        t.c.len()
    } else {
        t.c.len() + 1
    }
}

fn n_extra(t: &Tableau) -> usize {
    match &t.interp {
        Interp::Hermite => 0,
        Interp::Free { extra_c, .. } => extra_c.len(),
    }
}

impl<T: RkMethod> MethodInfo for T {
    fn name(&self) -> &'static str {
        self.tableau().name
    }
    fn order(&self) -> u8 {
        self.tableau().order
    }
    fn is_adaptive(&self) -> bool {
        self.tableau().btilde.is_some()
    }
    fn error_order(&self) -> u8 {
        self.tableau().error_order
    }
    fn interp_order(&self) -> u8 {
        match &self.tableau().interp {
            Interp::Hermite => 3.min(self.tableau().order),
            Interp::Free { order, .. } => *order,
        }
    }

    fn interp_poly<R: Real>(&self) -> Vec<Vec<R>> {
        let tab = self.tableau();
        match &tab.interp {
            Interp::Free { bstar, .. } => bstar
                .iter()
                .map(|row| row.iter().map(|x| R::c(*x)).collect())
                .collect(),
            Interp::Hermite => hermite_poly(tab),
        }
    }
}

impl<T: RkMethod, F: VectorField> OdeMethod<F> for T {
    type Cache = RkCache<F::V>;

    fn cache(&self, _f: &F, u0: &F::V) -> RkCache<F::V> {
        let t = self.tableau();
        let z = u0.zeros_like();
        RkCache {
            ks: vec![z.clone(); nbase(t) + n_extra(t)],
            tmp: z.clone(),
            err: z.clone(),
            zero: z,
            interp_ready: false,
        }
    }

    fn initialize(
        &self,
        c: &mut RkCache<F::V>,
        f: &mut F,
        p: &F::P,
        t: Re<F::V>,
        u: &F::V,
        stats: &mut Stats,
    ) {
        f.rhs(t, u, p, &mut c.ks[0]);
        stats.nf += 1;
        c.interp_ready = false;
    }

    fn f_start<'a>(&self, c: &'a RkCache<F::V>) -> &'a F::V {
        &c.ks[0]
    }

    fn try_step(
        &self,
        c: &mut RkCache<F::V>,
        f: &mut F,
        ctx: StepContext<'_, F>,
        u1: &mut F::V,
    ) -> Result<Re<F::V>, StepFailure> {
        let tab = self.tableau();
        let s = tab.c.len();
        let (h, u0) = (ctx.h, ctx.u0);
        let mut w = [Re::<F::V>::zero(); MAX_STAGE_TERMS];
        // The stage loop written out, one call per stage index: with a built-in tableau (a
        // constant) LLVM then sees each stage's coefficients and drops the zero tests and the
        // loops over them; a plain loop over a runtime-length state is not unrolled (measured
        // on W1: the `Vec<f64>` Lotka–Volterra step cost ~2x the `[f64; 2]` one).
        macro_rules! stages {
            ($($i:literal)*) => {$(
                if $i < s {
                    rk_stage::<F, $i>(tab, $i, c, f, &ctx, u1);
                }
            )*};
        }
        stages!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        for i in 16..s {
            rk_stage::<F, MAX_STAGE_TERMS>(tab, i, c, f, &ctx, u1);
        }
        ctx.stats.nf += s - 1;
        if !tab.fsal {
            let mut refs: [&F::V; MAX_STAGE_TERMS] = [u0; MAX_STAGE_TERMS];
            let m = gather(h, tab.b, &c.ks[..s], &mut w, &mut refs);
            u1.lincomb(u0, &w[..m], &refs[..m]);
        }
        c.interp_ready = false;
        let Some(bt) = tab.btilde else {
            return Ok(Re::<F::V>::zero());
        };
        let mut refs: [&F::V; MAX_STAGE_TERMS] = [u0; MAX_STAGE_TERMS];
        let m = gather(h, bt, &c.ks[..s], &mut w, &mut refs);
        c.err.lincomb(&c.zero, &w[..m], &refs[..m]);
        let e = F::V::err_norm(&c.err, u0, u1, ctx.tol);
        if e.is_finite() {
            Ok(e)
        } else {
            Err(StepFailure::NonFinite)
        }
    }

    fn finish_step(
        &self,
        c: &mut RkCache<F::V>,
        f: &mut F,
        p: &F::P,
        t1: Re<F::V>,
        u1: &F::V,
        stats: &mut Stats,
    ) {
        let tab = self.tableau();
        if !tab.fsal {
            f.rhs(t1, u1, p, &mut c.ks[tab.c.len()]);
            stats.nf += 1;
        }
    }

    fn prepare_interp(&self, c: &mut RkCache<F::V>, f: &mut F, ctx: StepContext<'_, F>) {
        if c.interp_ready {
            return;
        }
        c.interp_ready = true;
        let tab = self.tableau();
        let Interp::Free {
            extra_c, extra_a, ..
        } = &tab.interp
        else {
            return;
        };
        let nb = nbase(tab);
        let mut w = [Re::<F::V>::zero(); MAX_LINCOMB];
        let mut row = 0;
        for (j, cj) in extra_c.iter().enumerate() {
            let len = nb + j;
            let (done, rest) = c.ks.split_at_mut(len);
            let mut refs: [&F::V; MAX_LINCOMB] = [ctx.u0; MAX_LINCOMB];
            let m = gather(ctx.h, &extra_a[row..row + len], done, &mut w, &mut refs);
            row += len;
            c.tmp.lincomb(ctx.u0, &w[..m], &refs[..m]);
            f.rhs(
                ctx.t + ctx.h * Re::<F::V>::c(*cj),
                &c.tmp,
                ctx.p,
                &mut rest[0],
            );
        }
        ctx.stats.nf += extra_c.len();
    }

    fn interp_vectors<'a>(&self, c: &'a RkCache<F::V>) -> &'a [F::V] {
        &c.ks
    }

    fn advance(&self, c: &mut RkCache<F::V>) {
        let tab = self.tableau();
        let last = if tab.fsal {
            tab.c.len() - 1
        } else {
            tab.c.len()
        };
        c.ks.swap(0, last);
        c.interp_ready = false;
    }
}

/// Cubic Hermite interpolation through `u0, u1, f0, f1`, written in the stage form
/// `u0 + h Σ P_j(θ) k_j` using `u1 - u0 = h Σ b_j k_j`:
/// `P_j = b_j (3θ² − 2θ³) + [j = 0] (θ − 2θ² + θ³) + [j = f1] (θ³ − θ²)`.
fn hermite_poly<R: Real>(tab: &Tableau) -> Vec<Vec<R>> {
    let s = tab.c.len();
    let f1 = if tab.fsal { s - 1 } else { s };
    (0..nbase(tab))
        .map(|j| {
            let b = tab.b.get(j).copied().unwrap_or(0.0);
            let mut p = [0.0, 3.0 * b, -2.0 * b];
            if j == 0 {
                p[0] += 1.0;
                p[1] -= 2.0;
                p[2] += 1.0;
            }
            if j == f1 {
                p[1] -= 1.0;
                p[2] += 1.0;
            }
            p.iter().map(|x| R::c(*x)).collect()
        })
        .collect()
}

macro_rules! rk_methods {
    ($($(#[$doc:meta])* $name:ident => $tab:path;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;
        impl RkMethod for $name {
            #[inline]
            fn tableau(&self) -> &'static Tableau {
                &$tab
            }
        }
    )*};
}

rk_methods! {
    /// Forward Euler, order 1, fixed step only.
    Euler => tableaus::EULER;
    /// Explicit midpoint rule, order 2, fixed step only.
    Midpoint => tableaus::MIDPOINT;
    /// Heun's method (explicit trapezoid), order 2 with an embedded Euler error estimate.
    Heun => tableaus::HEUN;
    /// Ralston's second-order method, with an embedded Euler error estimate.
    Ralston => tableaus::RALSTON;
    /// The classic fourth-order Runge–Kutta method, fixed step only.
    Rk4 => tableaus::RK4;
    /// Bogacki–Shampine 3(2), FSAL, Hermite dense output.
    Bs3 => tableaus::BS3;
    /// Dormand–Prince 5(4) with its free fourth-order dense output.
    Dp5 => tableaus::DP5;
    /// Tsitouras 5(4) with its free fourth-order dense output: the default non-stiff method.
    Tsit5 => tableaus::TSIT5;
    /// Verner's efficient 6(5) pair with a sixth-order lazy interpolant.
    Vern6 => tableaus::VERN6;
    /// Verner's efficient 7(6) pair with a seventh-order lazy interpolant.
    Vern7 => tableaus::VERN7;
    /// Verner's efficient 8(7) pair with an eighth-order lazy interpolant.
    Vern8 => tableaus::VERN8;
    /// Verner's efficient 9(8) pair with a ninth-order lazy interpolant.
    Vern9 => tableaus::VERN9;
    /// Dormand–Prince 8(5,3) (DOP853's coefficients).
    Dp8 => tableaus::DP8;
}
