//! Rosenbrock (linearly implicit) methods: one Jacobian and one factorisation per step, no
//! Newton iteration.
//!
//! Every method here runs in one engine, the generic type [`Rosenbrock<T, L>`] over a tableau
//! marker `T` (coefficients in [`crate::tableaus::rosenbrock`]) and a linear strategy `L`, in
//! the transformed form of Hairer and Wanner (*Solving ODEs II*, section IV.7, eq. 7.25),
//! written for a mass matrix `M`, with `W = M − hγ·J`:
//!
//! `W U_i = hγ·( f(t + c_i h, u0 + Σ_{j<i} a_ij U_j) + h d_i ∂f/∂t + M Σ_{j<i} (C_ij / h) U_j )`,
//! `u1 = u0 + Σ b_i U_i`, error estimate `Σ b̃_i U_i`.
//!
//! `J` is evaluated once per step at `(t, u0)` and kept when a step is rejected; `∂f/∂t` is a
//! forward difference taken at the same time. The dense output is the method's own continuous
//! extension, stored as `u0 + h Σ P_j(θ) (U_j / h)`.

use super::linear::{DenseSolve, LinearStrategy, WSpec};
use super::mass_mul_state;
use crate::method::{MethodInfo, OdeMethod, StepContext, StepFailure};
use crate::tableaus::{
    Rodas4Tableau, Rodas5PTableau, Rosenbrock23Tableau, RosenbrockCoefficients, RosenbrockTableau,
    ROSENBROCK_MAX_STAGES,
};
use sciml_core::{One, Re, Real, Scalar, State, Stats, VectorField, Zero};
use std::marker::PhantomData;

/// A Rosenbrock method: the tableau `T` (a marker type, see [`RosenbrockTableau`]) and the
/// linear-solve strategy `L`. One engine for every tableau; the methods are the aliases
/// [`Rosenbrock23`], [`Rodas4`] and [`Rodas5P`]. It is an [`OdeMethod`] for the fields its
/// strategy accepts.
///
/// ```
/// use sciml_ode::stiff::{KrylovSolve, Rosenbrock};
/// use sciml_ode::tableaus::Rodas4Tableau;
/// use sciml_ode::Rodas4;
/// let m: Rosenbrock<Rodas4Tableau, KrylovSolve> = Rodas4::new().with_linear(KrylovSolve::default());
/// assert_eq!(m.tableau().name, "Rodas4");
/// ```
pub struct Rosenbrock<T, L = DenseSolve> {
    /// How `W = M − hγJ` is formed and solved.
    pub linear: L,
    tableau: PhantomData<T>,
}

impl<T: RosenbrockTableau, L: Clone> Clone for Rosenbrock<T, L> {
    fn clone(&self) -> Self {
        Rosenbrock {
            linear: self.linear.clone(),
            tableau: PhantomData,
        }
    }
}

impl<T: RosenbrockTableau, L: Copy> Copy for Rosenbrock<T, L> {}

impl<T: RosenbrockTableau, L: Default> Default for Rosenbrock<T, L> {
    fn default() -> Self {
        Rosenbrock {
            linear: L::default(),
            tableau: PhantomData,
        }
    }
}

/// Prints as the method, e.g. `Rodas5P { linear: DenseSolve }`.
impl<T: RosenbrockTableau, L: std::fmt::Debug> std::fmt::Debug for Rosenbrock<T, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(T::coefficients().name)
            .field("linear", &self.linear)
            .finish()
    }
}

impl<T: RosenbrockTableau> Rosenbrock<T, DenseSolve> {
    /// The method with a dense Jacobian and dense LU.
    pub fn new() -> Self {
        Rosenbrock {
            linear: DenseSolve,
            tableau: PhantomData,
        }
    }
}

impl<T: RosenbrockTableau, L> Rosenbrock<T, L> {
    /// The method with another linear-solve strategy (sparse LU, Jacobian-free GMRES).
    pub fn with_linear<L2>(self, linear: L2) -> Rosenbrock<T, L2> {
        Rosenbrock {
            linear,
            tableau: PhantomData,
        }
    }
    /// The coefficients.
    pub fn tableau(&self) -> &'static RosenbrockCoefficients {
        T::coefficients()
    }
}

/// Read from the tableau; the method accepts mass matrices.
impl<T: RosenbrockTableau, L: Clone + Send + Sync + std::fmt::Debug> MethodInfo
    for Rosenbrock<T, L>
{
    fn name(&self) -> &'static str {
        T::coefficients().name
    }
    fn order(&self) -> u8 {
        T::coefficients().order
    }
    fn is_adaptive(&self) -> bool {
        true
    }
    fn error_order(&self) -> u8 {
        T::coefficients().error_order.min(T::coefficients().order)
    }
    fn interp_order(&self) -> u8 {
        T::coefficients().interp_order
    }
    fn interp_poly<R: Real>(&self) -> Vec<Vec<R>> {
        super::interp_poly(&T::coefficients().dense)
    }
    fn supports_mass_matrix(&self) -> bool {
        true
    }
}

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
pub type Rosenbrock23<L = DenseSolve> = Rosenbrock<Rosenbrock23Tableau, L>;

/// Hairer and Wanner's RODAS4: order 4, stiffly accurate, L-stable, order-3 dense output.
pub type Rodas4<L = DenseSolve> = Rosenbrock<Rodas4Tableau, L>;

/// Steinebach's Rodas5P: order 5, stiffly accurate, L-stable, order-4 dense output; the
/// default stiff method, also for index-1 DAEs in mass-matrix form.
pub type Rodas5P<L = DenseSolve> = Rosenbrock<Rodas5PTableau, L>;

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

impl<T, L, V, F> OdeMethod<F> for Rosenbrock<T, L>
where
    T: RosenbrockTableau,
    L: LinearStrategy<F>,
    V: State,
    F: VectorField<V = V>,
{
    type Cache = RosenbrockCache<V, L::Cache>;

    fn validate(&self) -> Result<(), sciml_core::Error> {
        self.linear.validate()
    }

    fn cache(&self, f: &F, u0: &V) -> Self::Cache {
        let tab = T::coefficients();
        let s = tab.stages();
        assert!(
            s <= ROSENBROCK_MAX_STAGES,
            "{}: {s} stages, more than ROSENBROCK_MAX_STAGES = {ROSENBROCK_MAX_STAGES}",
            tab.name
        );
        let z = u0.zeros_like();
        RosenbrockCache {
            lin: self.linear.cache(f, u0),
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
        u: &V,
        stats: &mut Stats,
    ) {
        f.rhs(t, u, p, &mut c.f0);
        stats.nf += 1;
        c.jac_ok = false;
        c.interp_ready = false;
    }

    fn f_start<'a>(&self, c: &'a Self::Cache) -> &'a V {
        &c.f0
    }

    fn try_step(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        ctx: StepContext<'_, F>,
        u1: &mut V,
    ) -> Result<Re<F::V>, StepFailure> {
        let tab = T::coefficients();
        let lin = &self.linear;
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
            lin.factorise(&mut c.lin, WSpec::ode(hg, ctx.mass), ctx.stats)?;
            c.w_for = hg.to_f64_lossy();
        }
        // Most terms of one combination: f_i, the ∂f/∂t term and s − 1 earlier stages.
        const TERMS: usize = ROSENBROCK_MAX_STAGES + 1;
        let mut w = [Re::<F::V>::zero(); TERMS];
        for i in 0..s {
            let (done, rest) = c.us.split_at_mut(i);
            let ui = &mut rest[0];
            if i > 0 {
                let mut refs: [&V; TERMS] = [u0; TERMS];
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
            let mut refs: [&V; TERMS] = [u0; TERMS];
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
                    let mut w2 = [Re::<F::V>::zero(); TERMS];
                    let mut r2: [&V; TERMS] = [u0; TERMS];
                    let mut m2 = 0;
                    for (cij, uj) in tab.cm[i].iter().zip(done.iter()) {
                        if *cij != 0.0 {
                            w2[m2] = hg * Re::<F::V>::c(*cij) / h;
                            r2[m2] = uj;
                            m2 += 1;
                        }
                    }
                    c.err.lincomb(&c.zero, &w2[..m2], &r2[..m2]);
                    mass_mul_state(mass, &c.err, &mut c.msum)?;
                    w[m] = Re::<F::V>::one();
                    refs[m] = &c.msum;
                    m += 1;
                    ui.lincomb(&c.zero, &w[..m], &refs[..m]);
                }
            }
            lin.solve(&mut c.lin, f, p, ui, ctx.stats)?;
        }
        let mut refs: [&V; TERMS] = [u0; TERMS];
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
        let e = V::err_norm(&c.err, u0, u1, ctx.tol);
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
        u1: &V,
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

    fn interp_vectors<'a>(&self, c: &'a Self::Cache) -> &'a [V] {
        &c.iv
    }

    fn advance(&self, c: &mut Self::Cache) {
        std::mem::swap(&mut c.f0, &mut c.f1);
        c.jac_ok = false;
        c.interp_ready = false;
    }
}
