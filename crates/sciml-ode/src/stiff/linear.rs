//! How an implicit method solves with its iteration matrix `W = α·A + β·J`.
//!
//! `J = ∂f/∂u` at a linearisation point (for a residual problem `F(u′, u, t) = 0`, `∂F/∂u`), and
//! `A` the mass matrix (the identity when the problem has none) or, for a residual problem,
//! `∂F/∂u′`. The stiff ODE methods use `W = M − γJ` (`α = 1`, `β = −γ`, `γ = h·γ_method`; see
//! [`WSpec::ode`]); a BDF step of a residual problem uses `W = (α_k/h)·∂F/∂u′ + ∂F/∂u` (Hairer and
//! Wanner, *Solving ODEs II*, IV.8 and VI.2, and DASSL's iteration matrix). A strategy says where
//! `J` comes from and how `W` is solved with, and its implementation names the capability of the
//! field it needs: a dense Jacobian ([`DenseSolve`]), a sparse one ([`SparseSolve`]),
//! Jacobian-vector products for Jacobian-free GMRES ([`KrylovSolve`]).
//! A field without that capability is a compile error; wrap it in a provider
//! (`sciml_core::ForwardAd` for exact derivatives, `sciml_core::FiniteDiff` for differences).

use crate::method::StepFailure;
use sciml_core::linalg::StateGmres;
use sciml_core::linalg::{DenseLu, LinalgReal, SparseLu, SparseMatrix, StatePreconditioner};
use sciml_core::{
    DenseMatrix, Dual, InnerProduct, Jacobian, Jvp, Re, Scalar, SliceState, SparseJacobian, Stats,
    VectorField, Zero,
};
use std::sync::Arc;

/// The iteration matrix `W = α·A + β·J` a [`LinearStrategy`] forms from its current `J`: `A` is
/// the identity (`a: None`) or a given matrix (the mass matrix `M`, or `∂F/∂u′` of a residual
/// problem).
///
/// For the ODE methods' `W = M − γJ` ([`WSpec::ode`]) every strategy forms exactly the floating
/// point values it formed when it took `(γ, M)`: `J·(−γ) = −(J·γ)` and `1·m = m` are exact.
///
/// ```
/// use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, Scalar, Stats};
/// use sciml_ode::stiff::{DenseSolve, LinearStrategy, WSpec};
/// #[derive(Clone)]
/// struct Lin;
/// impl GenericRhs for Lin {
///     fn dims(&self) -> (usize, usize) { (2, 0) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = u[0] * S::cst(-2.0) + u[1];
///         du[1] = u[1] * S::cst(-3.0);
///     }
/// }
/// let mut f = ForwardAd::new(Lin);
/// let (u, mut stats) = (vec![1.0, 1.0], Stats::default());
/// let mut c = LinearStrategy::<ForwardAd<Lin>>::cache(&DenseSolve, &f, &u);
/// DenseSolve.update_jacobian(&mut c, &mut f, 0.0, &u, &vec![], &mut stats);
/// // W = 10·I + 1·J = [[8, 1], [0, 7]]: solve W x = (9, 7).
/// let w = WSpec { alpha: 10.0, a: None, beta: 1.0 };
/// LinearStrategy::<ForwardAd<Lin>>::factorise(&DenseSolve, &mut c, w, &mut stats).unwrap();
/// let mut b = vec![9.0, 7.0];
/// DenseSolve.solve(&mut c, &mut f, &vec![], &mut b, &mut stats).unwrap();
/// assert!((b[0] - 1.0).abs() < 1e-15 && (b[1] - 1.0).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct WSpec<'a, R> {
    /// Weight of `A`.
    pub alpha: R,
    /// `A`: `None` for the identity.
    pub a: Option<&'a DenseMatrix<R>>,
    /// Weight of `J`.
    pub beta: R,
}

impl<'a, R: sciml_core::Real> WSpec<'a, R> {
    /// `W = M − γ·J` (`M = I` when `mass` is `None`): the iteration matrix of the stiff ODE
    /// methods, `γ = h·γ_method` (Rosenbrock, ESDIRK) or `h/α_k` (BDF).
    pub fn ode(gamma: R, mass: Option<&'a DenseMatrix<R>>) -> Self {
        WSpec {
            alpha: R::one(),
            a: mass,
            beta: -gamma,
        }
    }
}

/// A way of forming and solving `W = α·A + β·J` ([`WSpec`]).
pub trait LinearStrategy<F: VectorField>: Clone + Send + Sync + std::fmt::Debug {
    /// Matrices, factorisations and scratch.
    type Cache: Clone + Send;
    /// Builds the buffers for states shaped like `u0`.
    fn cache(&self, f: &F, u0: &F::V) -> Self::Cache;
    /// Checks the strategy's settings (called once when a solve starts); the default has none.
    fn validate(&self) -> Result<(), sciml_core::Error> {
        Ok(())
    }
    /// Evaluates (or, matrix-free, records the point of) `J` at `(t, u)`.
    fn update_jacobian(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        t: Re<F::V>,
        u: &F::V,
        p: &F::P,
        stats: &mut Stats,
    );
    /// Forms `W = α·A + β·J` with the current `J` and factorises it.
    fn factorise(
        &self,
        c: &mut Self::Cache,
        w: WSpec<'_, Re<F::V>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// Solves `W x = b` in place.
    fn solve(
        &self,
        c: &mut Self::Cache,
        f: &mut F,
        p: &F::P,
        b: &mut F::V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// `out = J·v` with the current `J` (Newton's convergence tests and the BDF predictor use it
    /// rarely; matrix-free strategies call the field's JVP).
    fn jac_mul(&self, c: &mut Self::Cache, f: &mut F, p: &F::P, v: &F::V, out: &mut F::V);
}

/// Scalars the dense strategy can factorise in: `f64` and `f32` (through
/// `sciml_core::linalg::DenseLu`), and dual numbers (a partial-pivoting LU in dual arithmetic,
/// pivoting on value parts, so an implicit method can run "dual numbers through the solver").
pub trait LuScalar: Scalar {
    /// The factorisation.
    type Lu: Clone + Send + std::fmt::Debug;
    /// Preallocates a factorisation of an `n × n` matrix.
    fn lu_new(n: usize) -> Self::Lu;
    /// Factorises `a`.
    fn lu_factor(lu: &mut Self::Lu, a: &DenseMatrix<Self>) -> Result<(), StepFailure>;
    /// Solves `A x = b` in place.
    fn lu_solve(lu: &Self::Lu, b: &mut [Self]) -> Result<(), StepFailure>;
}

macro_rules! real_lu {
    ($t:ty) => {
        impl LuScalar for $t {
            type Lu = DenseLu<$t>;
            fn lu_new(n: usize) -> DenseLu<$t> {
                DenseLu::new(n)
            }
            fn lu_factor(lu: &mut DenseLu<$t>, a: &DenseMatrix<$t>) -> Result<(), StepFailure> {
                lu.factor(a).map_err(|_| StepFailure::LinearSolve)
            }
            fn lu_solve(lu: &DenseLu<$t>, b: &mut [$t]) -> Result<(), StepFailure> {
                lu.solve_in_place(b).map_err(|_| StepFailure::LinearSolve)
            }
        }
    };
}
real_lu!(f64);
real_lu!(f32);

/// Partial-pivoting LU in any scalar arithmetic (column-major, pivots chosen on value parts).
#[derive(Clone, Debug)]
pub struct GenericLu<S> {
    n: usize,
    lu: Vec<S>,
    piv: Vec<usize>,
}

impl<T: Scalar<Re = R>, R: sciml_core::Real> LuScalar for Dual<T, R> {
    type Lu = GenericLu<Dual<T, R>>;
    fn lu_new(n: usize) -> Self::Lu {
        GenericLu {
            n,
            lu: vec![Self::zero(); n * n],
            piv: vec![0; n],
        }
    }
    fn lu_factor(lu: &mut Self::Lu, a: &DenseMatrix<Self>) -> Result<(), StepFailure> {
        let n = lu.n;
        lu.lu.copy_from_slice(a.as_slice());
        let m = &mut lu.lu;
        for k in 0..n {
            let (mut p, mut best) = (k, -1.0);
            for r in k..n {
                let v = m[k * n + r].re().to_f64_lossy().abs();
                if v > best {
                    best = v;
                    p = r;
                }
            }
            if !(best > 0.0 && best.is_finite()) {
                return Err(StepFailure::LinearSolve);
            }
            lu.piv[k] = p;
            if p != k {
                for c in 0..n {
                    m.swap(c * n + k, c * n + p);
                }
            }
            let d = m[k * n + k];
            for r in k + 1..n {
                m[k * n + r] /= d;
            }
            for c in k + 1..n {
                let f = m[c * n + k];
                for r in k + 1..n {
                    let l = m[k * n + r];
                    m[c * n + r] -= l * f;
                }
            }
        }
        Ok(())
    }
    fn lu_solve(lu: &Self::Lu, b: &mut [Self]) -> Result<(), StepFailure> {
        let n = lu.n;
        let m = &lu.lu;
        for k in 0..n {
            b.swap(k, lu.piv[k]);
        }
        for c in 0..n {
            let bc = b[c];
            for r in c + 1..n {
                b[r] -= m[c * n + r] * bc;
            }
        }
        for c in (0..n).rev() {
            b[c] /= m[c * n + c];
            let bc = b[c];
            for r in 0..c {
                b[r] -= m[c * n + r] * bc;
            }
        }
        Ok(())
    }
}

/// A dense Jacobian from the field (`sciml_core::Jacobian`) and a dense LU of `W`
/// (`sciml_core::linalg::DenseLu` for reals: a small in-crate kernel for small systems, faer's
/// blocked factorisation for large ones; a generic LU for dual numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DenseSolve;

/// Buffers of [`DenseSolve`].
#[derive(Clone, Debug)]
pub struct DenseSolveCache<S: LuScalar> {
    j: DenseMatrix<S>,
    w: DenseMatrix<S>,
    lu: S::Lu,
}

impl<S: LuScalar> DenseSolveCache<S> {
    /// The factorisation of the last `W` (e.g. for transposed solves in a reverse sweep).
    pub fn factorisation(&self) -> &S::Lu {
        &self.lu
    }
}

impl<S, V, F> LinearStrategy<F> for DenseSolve
where
    S: LuScalar,
    V: SliceState<S = S>,
    F: Jacobian<V = V>,
{
    type Cache = DenseSolveCache<S>;

    fn cache(&self, _f: &F, u0: &V) -> DenseSolveCache<S> {
        let n = u0.len();
        DenseSolveCache {
            j: DenseMatrix::zeros(n, n),
            w: DenseMatrix::zeros(n, n),
            lu: S::lu_new(n),
        }
    }

    fn update_jacobian(
        &self,
        c: &mut DenseSolveCache<S>,
        f: &mut F,
        t: S::Re,
        u: &V,
        p: &F::P,
        stats: &mut Stats,
    ) {
        f.jacobian(t, u, p, &mut c.j);
        stats.njac += 1;
    }

    fn factorise(
        &self,
        c: &mut DenseSolveCache<S>,
        spec: WSpec<'_, S::Re>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let n = c.j.nrows();
        if spec.a.is_some_and(|a| a.nrows() != n || a.ncols() != n) {
            return Err(StepFailure::LinearSolve);
        }
        let (alpha, beta) = (spec.alpha, spec.beta);
        match spec.a {
            // One pass over the three column-major arrays (the same sums as column by column).
            Some(a) => {
                let terms = c.j.as_slice().iter().zip(a.as_slice());
                for (w, (j, aa)) in c.w.as_mut_slice().iter_mut().zip(terms) {
                    *w = *j * beta + S::from_re(alpha * *aa);
                }
            }
            None => {
                for (w, j) in c.w.as_mut_slice().iter_mut().zip(c.j.as_slice()) {
                    *w = *j * beta;
                }
                for col in 0..n {
                    c.w.col_mut(col)[col] += S::from_re(alpha);
                }
            }
        }
        stats.nfactor += 1;
        S::lu_factor(&mut c.lu, &c.w)
    }

    fn solve(
        &self,
        c: &mut DenseSolveCache<S>,
        _f: &mut F,
        _p: &F::P,
        b: &mut V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        stats.nlinsolve += 1;
        S::lu_solve(&c.lu, b.as_mut_slice())
    }

    fn jac_mul(&self, c: &mut DenseSolveCache<S>, _f: &mut F, _p: &F::P, v: &V, out: &mut V) {
        c.j.mul_vec_to(v.as_slice(), out.as_mut_slice());
    }
}

/// A preconditioner for the Krylov strategy: an approximation of `W⁻¹`, `W = M − γJ(t, u)`.
///
/// `setup` is called whenever the iteration matrix changes (a new linearisation point or a new
/// `γ`); `apply` then replaces `v` by `P⁻¹ v` (right preconditioning) inside every GMRES solve.
/// For a general [`WSpec`] `W = α·A + β·J` it is set up with `γ = −β/α` and approximates `W/α`
/// (right preconditioning is blind to the scalar factor).
pub trait KrylovPreconditioner<R>: Clone + Send + Sync + std::fmt::Debug {
    /// Prepares `P ≈ M − γ J(t, u)`.
    fn setup(&mut self, t: R, u: &[R], gamma: R);
    /// `v ← P⁻¹ v`.
    fn apply(&mut self, v: &mut [R]);
}

/// No preconditioning.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPreconditioner;

impl<R> KrylovPreconditioner<R> for NoPreconditioner {
    fn setup(&mut self, _t: R, _u: &[R], _gamma: R) {}
    fn apply(&mut self, _v: &mut [R]) {}
}

/// Jacobian-free Newton–Krylov: `W v = M v − γ J v` with `J v` from the field's JVP (dual numbers
/// through `sciml_core::ForwardAd`, or differences through `sciml_core::FiniteDiff`), solved by
/// restarted GMRES, optionally right-preconditioned ([`KrylovPreconditioner`]). No matrix is
/// formed, so memory stays linear in the state size. `Stats::nf` counts the JVPs.
#[derive(Clone, Debug)]
pub struct KrylovSolve<P = NoPreconditioner> {
    /// Krylov dimension before a restart.
    pub restart: usize,
    /// Most GMRES iterations per solve.
    pub max_iters: usize,
    /// Relative residual tolerance of each linear solve (a loose solve is enough inside Newton).
    pub rtol: f64,
    /// The preconditioner, if any.
    pub preconditioner: Option<P>,
}

impl Default for KrylovSolve<NoPreconditioner> {
    fn default() -> Self {
        KrylovSolve {
            restart: 30,
            max_iters: 300,
            rtol: 1e-6,
            preconditioner: None,
        }
    }
}

impl<P> KrylovSolve<P> {
    /// Checks the settings: `restart` and `max_iters` at least 1, `rtol` in `(0, 1)`.
    ///
    /// ```
    /// use sciml_ode::stiff::KrylovSolve;
    /// assert!(KrylovSolve::default().validate().is_ok());
    /// let bad = KrylovSolve { rtol: f64::NAN, ..KrylovSolve::default() };
    /// assert!(bad.validate().unwrap_err().to_string().contains("rtol"));
    /// ```
    pub fn validate(&self) -> Result<(), sciml_core::Error> {
        let bad = |option: &'static str, reason: String| {
            Err(sciml_core::Error::InvalidOption { option, reason })
        };
        if self.restart == 0 {
            return bad(
                "KrylovSolve::restart",
                "is 0; give a Krylov dimension of at least 1".into(),
            );
        }
        if self.max_iters == 0 {
            return bad(
                "KrylovSolve::max_iters",
                "is 0; allow at least one GMRES iteration".into(),
            );
        }
        if !(self.rtol > 0.0 && self.rtol < 1.0) {
            let r = self.rtol;
            return bad(
                "KrylovSolve::rtol",
                format!("is {r}; give a relative residual tolerance in (0, 1)"),
            );
        }
        Ok(())
    }

    /// The same settings with a preconditioner.
    pub fn with_preconditioner<Q>(self, preconditioner: Q) -> KrylovSolve<Q> {
        KrylovSolve {
            restart: self.restart,
            max_iters: self.max_iters,
            rtol: self.rtol,
            preconditioner: Some(preconditioner),
        }
    }
}

/// Buffers of [`KrylovSolve`].
#[derive(Clone, Debug)]
pub struct KrylovCache<V: InnerProduct, P> {
    t: Re<V>,
    u: V,
    /// `α` and `β` of the current `W = α·A + β·J`.
    alpha: Re<V>,
    beta: Re<V>,
    /// `A` (`None`: the identity).
    a: Option<DenseMatrix<Re<V>>>,
    gmres: StateGmres<V>,
    x: V,
    /// The field's JVP.
    jv: V,
    precond: Option<P>,
    /// Whether `precond` was set up for the current `(t, u, γ)`.
    fresh: bool,
}

/// Any state with an inner product: host slices, `Pair`s of them, a device vector. A mass matrix
/// and a preconditioner read the state as one host slice ([`sciml_core::State::host_slice`]); a state
/// without one takes neither (the factorisation refuses them).
impl<R, V, F, P> LinearStrategy<F> for KrylovSolve<P>
where
    R: LinalgReal + Scalar<Re = R>,
    V: InnerProduct<S = R>,
    F: Jvp<V = V>,
    P: KrylovPreconditioner<R>,
{
    type Cache = KrylovCache<V, P>;

    fn validate(&self) -> Result<(), sciml_core::Error> {
        KrylovSolve::validate(self)
    }

    fn cache(&self, _f: &F, u0: &V) -> KrylovCache<V, P> {
        let mut gmres = StateGmres::new(u0, self.restart.max(1));
        gmres.max_iters = self.max_iters;
        gmres.rtol = R::c(self.rtol);
        gmres.atol = R::zero();
        KrylovCache {
            t: R::zero(),
            u: u0.clone(),
            alpha: R::one(),
            beta: R::zero(),
            a: None,
            gmres,
            x: u0.zeros_like(),
            jv: u0.zeros_like(),
            precond: self.preconditioner.clone(),
            fresh: false,
        }
    }

    fn update_jacobian(
        &self,
        c: &mut KrylovCache<V, P>,
        _f: &mut F,
        t: R,
        u: &V,
        _p: &F::P,
        stats: &mut Stats,
    ) {
        c.t = t;
        c.u.copy_from(u);
        c.fresh = false;
        stats.njac += 1;
    }

    fn factorise(
        &self,
        c: &mut KrylovCache<V, P>,
        spec: WSpec<'_, R>,
        _stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let n = c.u.len();
        if spec.a.is_some_and(|a| a.nrows() != n || a.ncols() != n) {
            return Err(StepFailure::LinearSolve);
        }
        // A mass matrix and a preconditioner act on host slices.
        let sliced = c.u.host_slice().is_some();
        if !sliced && (spec.a.is_some() || c.precond.is_some()) {
            return Err(StepFailure::LinearSolve);
        }
        if spec.alpha != c.alpha || spec.beta != c.beta {
            c.fresh = false;
        }
        c.alpha = spec.alpha;
        c.beta = spec.beta;
        match (spec.a, c.a.as_mut()) {
            (Some(a), Some(own)) => {
                if own.as_slice() != a.as_slice() {
                    own.as_mut_slice().copy_from_slice(a.as_slice());
                    c.fresh = false;
                }
            }
            (Some(a), None) => {
                c.a = Some(a.clone());
                c.fresh = false;
            }
            (None, Some(_)) => {
                c.a = None;
                c.fresh = false;
            }
            (None, None) => {}
        }
        if !c.fresh {
            if let (Some(pc), Some(u)) = (c.precond.as_mut(), c.u.host_slice()) {
                // γ = −β/α: exactly the ODE methods' γ when α = 1.
                pc.setup(c.t, u, -(spec.beta / spec.alpha));
            }
            c.fresh = true;
        }
        Ok(())
    }

    fn solve(
        &self,
        c: &mut KrylovCache<V, P>,
        f: &mut F,
        p: &F::P,
        b: &mut V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let KrylovCache {
            t,
            u,
            alpha,
            beta,
            a,
            gmres,
            x,
            jv,
            precond,
            ..
        } = c;
        x.fill_zero();
        let mut njvp = 0usize;
        let mut matvec = |v: &V, out: &mut V| {
            f.jvp_u(*t, u, p, v, jv);
            njvp += 1;
            match (a.as_ref(), v.host_slice(), out.host_slice_mut()) {
                (None, _, _) => out.copy_from(v),
                (Some(m), Some(vs), Some(os)) => m.mul_vec_to(vs, os),
                // Refused by `factorise`; a NaN product makes GMRES fail if it were reached.
                (Some(_), _, _) => {
                    out.copy_from(v);
                    out.scale(R::c(f64::NAN));
                }
            }
            if *alpha != R::one() {
                out.scale(*alpha);
            }
            // o + β·Jv, β = −γ: the same rounding as the ODE methods' o − γ·Jv.
            out.axpy(*beta, jv);
        };
        let mut apply = |v: &mut V| {
            if let (Some(pc), Some(s)) = (precond.as_mut(), v.host_slice_mut()) {
                pc.apply(s);
            }
        };
        let pc: Option<StatePreconditioner<'_, V>> = if self.preconditioner.is_some() {
            Some(&mut apply)
        } else {
            None
        };
        let res = gmres.solve(&mut matvec, pc, b, x);
        stats.nlinsolve += 1;
        stats.nf += njvp;
        match res {
            Ok(_) => {
                b.copy_from(x);
                Ok(())
            }
            Err(_) => Err(StepFailure::LinearSolve),
        }
    }

    fn jac_mul(&self, c: &mut KrylovCache<V, P>, f: &mut F, p: &F::P, v: &V, out: &mut V) {
        f.jvp_u(c.t, &c.u, p, v, out);
    }
}

/// A sparse Jacobian from the field (`sciml_core::SparseJacobian`: coloured dual numbers through
/// `sciml_core::SparseAd`, coloured differences through `sciml_core::SparseFd`, or the user's)
/// and a sparse LU of `W` through faer, whose symbolic analysis is done once per solve and
/// reused by every factorisation. Mass matrices must be diagonal (or absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct SparseSolve;

/// Buffers of [`SparseSolve`].
#[derive(Debug)]
pub struct SparseSolveCache<R: LinalgReal> {
    j: SparseMatrix<R>,
    w: SparseMatrix<R>,
    /// `None` when the symbolic analysis failed (reported at the first factorisation).
    lu: Option<SparseLu<R>>,
}

impl<R: LinalgReal> Clone for SparseSolveCache<R> {
    /// A copy with the same matrices and a fresh symbolic analysis; the numeric factorisation is
    /// not copied (faer's scratch is not shareable), so the copy refactorises before solving.
    fn clone(&self) -> Self {
        SparseSolveCache {
            j: self.j.clone(),
            w: self.w.clone(),
            lu: SparseLu::new(self.w.pattern()).ok(),
        }
    }
}

impl<R, V, F> LinearStrategy<F> for SparseSolve
where
    R: LinalgReal + Scalar<Re = R>,
    V: SliceState<S = R>,
    F: SparseJacobian<V = V>,
{
    type Cache = SparseSolveCache<R>;

    fn cache(&self, f: &F, _u0: &V) -> SparseSolveCache<R> {
        let jp = f.jacobian_pattern().clone();
        let wp = Arc::new(jp.with_diagonal());
        let lu = SparseLu::new(&wp).ok();
        SparseSolveCache {
            j: SparseMatrix::zeros(jp),
            w: SparseMatrix::zeros(wp),
            lu,
        }
    }

    fn update_jacobian(
        &self,
        c: &mut SparseSolveCache<R>,
        f: &mut F,
        t: R,
        u: &V,
        p: &F::P,
        stats: &mut Stats,
    ) {
        f.sparse_jacobian(t, u, p, &mut c.j);
        stats.njac += 1;
    }

    fn factorise(
        &self,
        c: &mut SparseSolveCache<R>,
        spec: WSpec<'_, R>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let alpha = spec.alpha;
        // α·I − (−β)·J (for α = 1, β = −γ: I − γJ as the ODE methods always formed it).
        c.w.set_scaled_identity_minus_scaled(alpha, -spec.beta, &c.j)
            .map_err(|_| StepFailure::LinearSolve)?;
        if let Some(m) = spec.a {
            let n = m.nrows();
            if n != c.w.nrows() || m.ncols() != n {
                return Err(StepFailure::LinearSolve);
            }
            for col in 0..n {
                for (row, v) in m.col(col).iter().enumerate() {
                    if row != col && *v != R::zero() {
                        return Err(StepFailure::LinearSolve);
                    }
                }
                let d = c.w.get(col, col) - alpha + alpha * m[(col, col)];
                c.w.set(col, col, d).map_err(|_| StepFailure::LinearSolve)?;
            }
        }
        stats.nfactor += 1;
        match c.lu.as_mut() {
            Some(lu) => lu.factor(&c.w).map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }

    fn solve(
        &self,
        c: &mut SparseSolveCache<R>,
        _f: &mut F,
        _p: &F::P,
        b: &mut V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        stats.nlinsolve += 1;
        match c.lu.as_ref() {
            Some(lu) => lu
                .solve_in_place(b.as_mut_slice())
                .map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }

    fn jac_mul(&self, c: &mut SparseSolveCache<R>, _f: &mut F, _p: &F::P, v: &V, out: &mut V) {
        c.j.mul_vec_to(v.as_slice(), out.as_mut_slice());
    }
}
