//! Sparse Jacobians: compressed finite differences and dual numbers over a column colouring,
//! sparsity detection, and finite-difference Jacobian-vector products for Jacobian-free Krylov.

use super::{colour_columns, Colouring, LinearError, SparseMatrix, SparsityPattern};
use crate::dual::Dual;
use crate::field::{GenericRhs, VectorField};
use crate::rng::Xoshiro256pp;
use crate::scalar::Real;
use std::sync::Arc;

/// The finite-difference formula of [`fd_jacobian_coloured`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FdScheme {
    /// `(f(u + h e) − f(u)) / h` with `h = √ε · max(|u_j|, 1)`: one evaluation per colour
    /// (plus `f(u)` if not given), error `O(√ε)` relative.
    #[default]
    Forward,
    /// `(f(u + h e) − f(u − h e)) / 2h` with `h = ε^(1/3) · max(|u_j|, 1)`: two evaluations per
    /// colour, error `O(ε^(2/3))` relative.
    Central,
}

/// The columns of each colour, grouped: colour `c` owns `cols[ptr[c]..ptr[c + 1]]`.
#[derive(Clone, Debug)]
struct Groups {
    ptr: Vec<usize>,
    cols: Vec<usize>,
}

impl Groups {
    fn new(c: &Colouring) -> Self {
        let mut ptr = vec![0usize; c.n_colours + 1];
        for &k in &c.colour {
            ptr[k + 1] += 1;
        }
        for k in 0..c.n_colours {
            ptr[k + 1] += ptr[k];
        }
        let mut next = ptr.clone();
        let mut cols = vec![0usize; c.colour.len()];
        for (j, &k) in c.colour.iter().enumerate() {
            cols[next[k]] = j;
            next[k] += 1;
        }
        Groups { ptr, cols }
    }
    fn of(&self, c: usize) -> &[usize] {
        &self.cols[self.ptr[c]..self.ptr[c + 1]]
    }
}

fn check_square(p: &SparsityPattern, n: usize) -> Result<(), LinearError> {
    if p.nrows() != n || p.ncols() != n {
        return Err(LinearError::Dimension {
            expected: n,
            got: if p.nrows() != n { p.nrows() } else { p.ncols() },
        });
    }
    Ok(())
}

fn check_len(len: usize, n: usize) -> Result<(), LinearError> {
    if len != n {
        return Err(LinearError::Dimension {
            expected: n,
            got: len,
        });
    }
    Ok(())
}

fn same_pattern(a: &Arc<SparsityPattern>, b: &Arc<SparsityPattern>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

/// The colouring and buffers of [`fd_jacobian_coloured`] for one pattern, allocated once.
#[derive(Clone, Debug)]
pub struct JacobianScratch<R> {
    pattern: Arc<SparsityPattern>,
    colouring: Colouring,
    groups: Groups,
    scheme: FdScheme,
    up: Vec<R>,
    f0: Vec<R>,
    f1: Vec<R>,
    f2: Vec<R>,
    h: Vec<R>,
}

impl<R: Real> JacobianScratch<R> {
    /// Colours `pattern` (square, `n × n`) and allocates the buffers.
    pub fn new(pattern: Arc<SparsityPattern>, scheme: FdScheme) -> Self {
        let colouring = colour_columns(&pattern);
        let groups = Groups::new(&colouring);
        let n = pattern.ncols();
        JacobianScratch {
            pattern,
            colouring,
            groups,
            scheme,
            up: vec![R::zero(); n],
            f0: vec![R::zero(); n],
            f1: vec![R::zero(); n],
            f2: vec![R::zero(); n],
            h: vec![R::zero(); n],
        }
    }
    /// The pattern the Jacobian is evaluated on.
    pub fn pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    /// The column colouring.
    pub fn colouring(&self) -> &Colouring {
        &self.colouring
    }
    /// The difference formula.
    pub fn scheme(&self) -> FdScheme {
        self.scheme
    }
    /// Changes the difference formula.
    pub fn set_scheme(&mut self, scheme: FdScheme) {
        self.scheme = scheme;
    }
}

/// The sparse Jacobian `∂f/∂u` by finite differences compressed with a column colouring: all
/// columns of one colour are perturbed at once (one evaluation per colour for forward
/// differences, two for central), and each difference quotient is scattered into the columns of
/// that colour through the pattern. Increments are `h_j = √ε · max(|u_j|, 1)` (forward) or
/// `ε^(1/3) · max(|u_j|, 1)` (central), rounded so that `u_j + h_j` is exact.
///
/// `fu`, if given, must be `f(t, u, p)` (saves one evaluation for forward differences). Writes
/// every stored value of `j`, whose pattern must be `ws.pattern()`. Returns the number of
/// evaluations of `f`.
///
/// The pattern must contain every nonzero of the Jacobian: a missing entry is not just dropped,
/// it corrupts the entries of the other columns of its colour in that row.
///
/// # Errors
/// [`LinearError::Dimension`] on size mismatches, [`LinearError::PatternMismatch`] if `j` has a
/// different pattern from `ws`.
///
/// ```
/// use sciml_core::linalg::{fd_jacobian_coloured, FdScheme, JacobianScratch};
/// use sciml_core::{FnField, SparseMatrix, SparsityPattern};
/// use std::sync::Arc;
/// // du_i = u_{i-1} - 2 u_i + u_{i+1} + u_i²: tridiagonal.
/// let n = 5;
/// let mut f = FnField::new(n, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
///     for i in 0..u.len() {
///         let l = if i > 0 { u[i - 1] } else { 0.0 };
///         let r = if i + 1 < u.len() { u[i + 1] } else { 0.0 };
///         du[i] = l - 2.0 * u[i] + r + u[i] * u[i];
///     }
/// });
/// let mut e = vec![];
/// for i in 0..n { for j in i.saturating_sub(1)..(i + 2).min(n) { e.push((i, j)); } }
/// let p = Arc::new(SparsityPattern::from_triplets(n, n, &e).unwrap());
/// let mut ws = JacobianScratch::new(p.clone(), FdScheme::Central);
/// let mut j = SparseMatrix::zeros(p);
/// let u = vec![0.1, 0.2, 0.3, 0.4, 0.5];
/// let evals = fd_jacobian_coloured(&mut f, 0.0, &u, &vec![], None, &mut ws, &mut j).unwrap();
/// assert_eq!(evals, 6); // 3 colours × 2
/// assert!((j.get(2, 2) - (-2.0 + 0.6)).abs() < 1e-9 && (j.get(1, 2) - 1.0).abs() < 1e-9);
/// ```
pub fn fd_jacobian_coloured<R, F>(
    f: &mut F,
    t: R,
    u: &F::V,
    p: &F::P,
    fu: Option<&[R]>,
    ws: &mut JacobianScratch<R>,
    j: &mut SparseMatrix<R>,
) -> Result<usize, LinearError>
where
    R: Real,
    F: VectorField<V = Vec<R>, P = Vec<R>>,
{
    let n = u.len();
    check_square(&ws.pattern, n)?;
    check_len(ws.up.len(), n)?;
    if !same_pattern(j.pattern(), &ws.pattern) {
        return Err(LinearError::PatternMismatch);
    }
    let mut evals = 0;
    let central = ws.scheme == FdScheme::Central;
    let scale = if central {
        R::epsilon().cbrt()
    } else {
        R::epsilon().sqrt()
    };
    for (h, &x) in ws.h.iter_mut().zip(u.iter()) {
        let raw = scale * x.abs().max(R::one());
        *h = (x + raw) - x;
    }
    if !central {
        match fu {
            Some(v) => {
                check_len(v.len(), n)?;
                ws.f0.copy_from_slice(v);
            }
            None => {
                f.rhs(t, u, p, &mut ws.f0);
                evals += 1;
            }
        }
    }
    ws.up.copy_from_slice(u);
    let pat = Arc::clone(&ws.pattern);
    for c in 0..ws.colouring.n_colours {
        let cols = ws.groups.of(c);
        for &k in cols {
            ws.up[k] = u[k] + ws.h[k];
        }
        f.rhs(t, &ws.up, p, &mut ws.f1);
        evals += 1;
        if central {
            for &k in cols {
                ws.up[k] = u[k] - ws.h[k];
            }
            f.rhs(t, &ws.up, p, &mut ws.f2);
            evals += 1;
        }
        for &k in cols {
            ws.up[k] = u[k];
            let lo = pat.col_ptr()[k];
            let (inv, base) = if central {
                (R::one() / (ws.h[k] + ws.h[k]), &ws.f2)
            } else {
                (R::one() / ws.h[k], &ws.f0)
            };
            for (v, &r) in j.values_mut()[lo..].iter_mut().zip(pat.col(k)) {
                *v = (ws.f1[r] - base[r]) * inv;
            }
        }
    }
    Ok(evals)
}

type D<R> = Dual<R, R>;

/// The colouring and dual-number buffers of [`dual_jacobian_coloured`], allocated once.
#[derive(Clone, Debug)]
pub struct DualJacobianScratch<R: Real> {
    pattern: Arc<SparsityPattern>,
    colouring: Colouring,
    groups: Groups,
    ud: Vec<D<R>>,
    pd: Vec<D<R>>,
    dud: Vec<D<R>>,
    wsd: Vec<D<R>>,
}

impl<R: Real> DualJacobianScratch<R> {
    /// Colours `pattern` and allocates buffers for `g`'s sizes.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `pattern` is not `n × n` for `g`'s `n`.
    pub fn new<G: GenericRhs>(g: &G, pattern: Arc<SparsityPattern>) -> Result<Self, LinearError> {
        let (n, np) = g.dims();
        check_square(&pattern, n)?;
        let colouring = colour_columns(&pattern);
        let groups = Groups::new(&colouring);
        let z = D::constant(R::zero());
        Ok(DualJacobianScratch {
            pattern,
            colouring,
            groups,
            ud: vec![z; n],
            pd: vec![z; np],
            dud: vec![z; n],
            wsd: vec![z; g.scratch_len()],
        })
    }
    /// The pattern the Jacobian is evaluated on.
    pub fn pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    /// The column colouring.
    pub fn colouring(&self) -> &Colouring {
        &self.colouring
    }
}

/// The exact sparse Jacobian `∂f/∂u` of a [`GenericRhs`] by forward-mode dual numbers, one
/// dual evaluation per colour: the columns of a colour are seeded together and the tangent of
/// each row is the entry of the one column of that colour present in the row.
///
/// As for [`fd_jacobian_coloured`], the pattern must contain every nonzero of the Jacobian.
///
/// # Errors
/// [`LinearError::Dimension`] on size mismatches, [`LinearError::PatternMismatch`] if `j` has a
/// different pattern from `ws`.
pub fn dual_jacobian_coloured<G: GenericRhs, R: Real>(
    g: &G,
    t: R,
    u: &[R],
    p: &[R],
    ws: &mut DualJacobianScratch<R>,
    j: &mut SparseMatrix<R>,
) -> Result<(), LinearError> {
    check_len(u.len(), ws.ud.len())?;
    check_len(p.len(), ws.pd.len())?;
    if !same_pattern(j.pattern(), &ws.pattern) {
        return Err(LinearError::PatternMismatch);
    }
    for (d, &x) in ws.ud.iter_mut().zip(u) {
        *d = D::constant(x);
    }
    for (d, &x) in ws.pd.iter_mut().zip(p) {
        *d = D::constant(x);
    }
    let pat = Arc::clone(&ws.pattern);
    for c in 0..ws.colouring.n_colours {
        let cols = ws.groups.of(c);
        for &k in cols {
            ws.ud[k] = D::new(u[k], R::one());
        }
        g.eval(t, &ws.ud, &ws.pd, &mut ws.dud, &mut ws.wsd);
        for &k in cols {
            ws.ud[k] = D::constant(u[k]);
            let lo = pat.col_ptr()[k];
            for (v, &r) in j.values_mut()[lo..].iter_mut().zip(pat.col(k)) {
                *v = ws.dud[r].eps();
            }
        }
    }
    Ok(())
}

/// Number of random points [`detect_sparsity`] samples besides the given one.
pub const DETECT_SPARSITY_SAMPLES: usize = 3;

/// The sparsity pattern of `∂f/∂u` of a [`GenericRhs`], detected numerically: the union of the
/// nonzeros (and non-finite entries) of exact dual-number Jacobians at `(u, p)` and at
/// [`DETECT_SPARSITY_SAMPLES`] seeded random perturbations of `u` and `p` (each component moved
/// by up to 20% of `max(|x|, 1)`).
///
/// Limitation: this samples values, it does not trace the code. An entry that happens to be zero
/// at every sample point (e.g. `∂(u_i u_j)/∂u_j` when `u_i = 0` at all of them, or a branch never
/// taken) is missed, and a compressed Jacobian on the resulting pattern is then wrong. Give the
/// pattern by hand when in doubt (it is cheap: [`SparsityPattern::from_triplets`]). Cost: `n`
/// dual evaluations per sample point.
///
/// # Errors
/// [`LinearError::Dimension`] if `u` or `p` do not match `g.dims()`.
///
/// ```
/// use sciml_core::{detect_sparsity, GenericRhs, Scalar};
/// struct Chain;
/// impl GenericRhs for Chain {
///     fn dims(&self) -> (usize, usize) { (3, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -p[0] * u[0];
///         du[1] = p[0] * u[0] - u[1] * u[1];
///         du[2] = u[1];
///     }
/// }
/// let pat = detect_sparsity(&Chain, 0.0, &[1.0, 0.0, 0.0], &[0.5]).unwrap();
/// assert_eq!(pat.nnz(), 4);
/// assert!(pat.contains(1, 1)); // found although ∂du₁/∂u₁ = −2u₁ = 0 at the given point
/// ```
pub fn detect_sparsity<G: GenericRhs, R: Real>(
    g: &G,
    t: R,
    u: &[R],
    p: &[R],
) -> Result<SparsityPattern, LinearError> {
    let (n, np) = g.dims();
    check_len(u.len(), n)?;
    check_len(p.len(), np)?;
    let z = D::constant(R::zero());
    let (mut ud, mut pd, mut dud, mut wsd) = (
        vec![z; n],
        vec![z; np],
        vec![z; n],
        vec![z; g.scratch_len()],
    );
    let mut us = u.to_vec();
    let mut ps = p.to_vec();
    let mut rng = Xoshiro256pp::new(0x5eed_5ba5);
    let mut entries = Vec::new();
    for sample in 0..=DETECT_SPARSITY_SAMPLES {
        if sample > 0 {
            let mut jiggle = |x: R| {
                let d = R::c(0.2 * rng.uniform_range(-1.0, 1.0));
                x + d * x.abs().max(R::one())
            };
            for (s, &x) in us.iter_mut().zip(u) {
                *s = jiggle(x);
            }
            for (s, &x) in ps.iter_mut().zip(p) {
                *s = jiggle(x);
            }
        }
        for (d, &x) in pd.iter_mut().zip(&ps) {
            *d = D::constant(x);
        }
        for (d, &x) in ud.iter_mut().zip(&us) {
            *d = D::constant(x);
        }
        for col in 0..n {
            ud[col] = D::new(us[col], R::one());
            g.eval(t, &ud, &pd, &mut dud, &mut wsd);
            ud[col] = D::constant(us[col]);
            for (row, d) in dud.iter().enumerate() {
                let e = d.eps();
                if e != R::zero() || !e.is_finite() {
                    entries.push((row, col));
                }
            }
        }
        // Keep memory proportional to the pattern, not to the number of samples.
        let p = SparsityPattern::from_triplets(n, n, &entries)?;
        entries.clear();
        for c in 0..n {
            entries.extend(p.col(c).iter().map(|&r| (r, c)));
        }
    }
    SparsityPattern::from_triplets(n, n, &entries)
}

/// Forward-difference Jacobian-vector products `J v ≈ (f(u + h v) − f(u)) / h` at a fixed
/// linearisation point, for Jacobian-free Newton–Krylov (the point and `f(u)` are stored once per
/// Newton iteration, then each product costs one evaluation).
///
/// `h = √ε · (1 + ‖u‖₂) / ‖v‖₂` (Knoll and Keyes, J. Comput. Phys. 193, 2004, §2.2), relative
/// error `O(√ε)`. Prefer exact dual-number JVPs ([`crate::Jvp`] of [`crate::ForwardAd`]) when the
/// field is a [`GenericRhs`].
///
/// ```
/// use sciml_core::linalg::FdJvp;
/// use sciml_core::FnField;
/// let mut f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
///     du[0] = u[0] * u[1];
///     du[1] = -u[0];
/// });
/// let mut jv = FdJvp::new(2);
/// jv.set_point(&mut f, 0.0, &vec![2.0, 3.0], &vec![]).unwrap();
/// let mut out = [0.0; 2];
/// jv.apply(&mut f, 0.0, &vec![], &[1.0, 0.0], &mut out).unwrap();
/// assert!((out[0] - 3.0).abs() < 1e-6 && (out[1] + 1.0).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct FdJvp<R> {
    u: Vec<R>,
    f0: Vec<R>,
    up: Vec<R>,
    fp: Vec<R>,
    unorm: R,
}

impl<R: Real> FdJvp<R> {
    /// Buffers for `n` states.
    pub fn new(n: usize) -> Self {
        FdJvp {
            u: vec![R::zero(); n],
            f0: vec![R::zero(); n],
            up: vec![R::zero(); n],
            fp: vec![R::zero(); n],
            unorm: R::zero(),
        }
    }

    /// Sets the linearisation point `u` and evaluates `f(t, u, p)` there.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `u.len()` is not the `n` given to [`FdJvp::new`].
    pub fn set_point<F: VectorField<V = Vec<R>, P = Vec<R>>>(
        &mut self,
        f: &mut F,
        t: R,
        u: &F::V,
        p: &F::P,
    ) -> Result<(), LinearError> {
        check_len(u.len(), self.u.len())?;
        f.rhs(t, u, p, &mut self.f0);
        self.u.copy_from_slice(u);
        self.unorm = norm2(u);
        Ok(())
    }

    /// Sets the linearisation point `u` with its known value `fu = f(t, u, p)`.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] on a length mismatch.
    pub fn set_point_with_value(&mut self, u: &[R], fu: &[R]) -> Result<(), LinearError> {
        check_len(u.len(), self.u.len())?;
        check_len(fu.len(), self.u.len())?;
        self.u.copy_from_slice(u);
        self.f0.copy_from_slice(fu);
        self.unorm = norm2(u);
        Ok(())
    }

    /// `out ≈ ∂f/∂u · v` at the stored point (`t` and `p` must be those of the point).
    ///
    /// # Errors
    /// [`LinearError::Dimension`] on a length mismatch.
    pub fn apply<F: VectorField<V = Vec<R>, P = Vec<R>>>(
        &mut self,
        f: &mut F,
        t: R,
        p: &F::P,
        v: &[R],
        out: &mut [R],
    ) -> Result<(), LinearError> {
        check_len(v.len(), self.u.len())?;
        check_len(out.len(), self.u.len())?;
        let vn = norm2(v);
        if vn == R::zero() {
            out.iter_mut().for_each(|o| *o = R::zero());
            return Ok(());
        }
        let h = R::epsilon().sqrt() * (R::one() + self.unorm) / vn;
        for ((x, &u), &d) in self.up.iter_mut().zip(&self.u).zip(v) {
            *x = u + h * d;
        }
        f.rhs(t, &self.up, p, &mut self.fp);
        let inv = R::one() / h;
        for ((o, &a), &b) in out.iter_mut().zip(&self.fp).zip(&self.f0) {
            *o = (a - b) * inv;
        }
        Ok(())
    }
}

fn norm2<R: Real>(x: &[R]) -> R {
    x.iter().fold(R::zero(), |s, v| s + *v * *v).sqrt()
}
