//! Adaptors that give a field a sparse Jacobian ([`SparseJacobian`]) on a fixed pattern.

use super::ForwardAd;
use crate::field::{GenericRhs, Jacobian, Jvp, SparseJacobian, VectorField, Vjp};
use crate::linalg::{
    detect_sparsity, dual_jacobian_coloured, fd_jacobian_coloured, DualJacobianScratch, FdScheme,
    JacobianScratch, LinearError, SparseMatrix, SparsityPattern,
};
use crate::matrix::DenseMatrix;
use crate::scalar::{Real, Scalar};
use std::sync::Arc;

fn check_pattern(p: &SparsityPattern, n: usize) -> Result<(), LinearError> {
    if p.nrows() != n || p.ncols() != n {
        return Err(LinearError::Dimension {
            expected: n,
            got: if p.nrows() != n { p.nrows() } else { p.ncols() },
        });
    }
    Ok(())
}

/// Poisons a Jacobian whose pattern is not the provider's (see [`SparseJacobian`]).
fn poison<S: Scalar>(j: &mut SparseMatrix<S>) {
    j.values_mut()
        .iter_mut()
        .for_each(|v| *v = S::cst(f64::NAN));
}

/// Exact sparse Jacobians of a [`GenericRhs`] by dual numbers compressed with a column colouring
/// (one dual evaluation per colour), plus everything [`ForwardAd`] provides (exact `Jvp`, `Vjp`,
/// dense `Jacobian`).
///
/// ```
/// use sciml_core::providers::SparseAd;
/// use sciml_core::{GenericRhs, Scalar, SparseJacobian, SparseMatrix};
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (3, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -p[0] * u[0];
///         du[1] = p[0] * u[0] - u[1];
///         du[2] = u[1] * u[1];
///     }
/// }
/// let (u, p) = (vec![1.0, 2.0, 3.0], vec![0.5]);
/// let mut f = SparseAd::detect(Decay, 0.0, &u, &p).unwrap();
/// assert_eq!(f.jacobian_pattern().nnz(), 4);
/// let mut j = SparseMatrix::zeros(f.jacobian_pattern().clone());
/// f.sparse_jacobian(0.0, &u, &p, &mut j);
/// assert_eq!((j.get(1, 0), j.get(2, 1)), (0.5, 4.0));
/// ```
pub struct SparseAd<G, R: Real = f64> {
    f: ForwardAd<G, R>,
    pattern: Arc<SparsityPattern>,
    ws: DualJacobianScratch<R>,
}

impl<G: Clone, R: Real> Clone for SparseAd<G, R> {
    fn clone(&self) -> Self {
        SparseAd {
            f: self.f.clone(),
            pattern: Arc::clone(&self.pattern),
            ws: self.ws.clone(),
        }
    }
}

impl<G: GenericRhs> SparseAd<G, f64> {
    /// Wraps `g` for `f64` states with the given Jacobian pattern (which must contain every
    /// nonzero of `∂f/∂u`).
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if the pattern is not `n × n`.
    pub fn new(g: G, pattern: impl Into<Arc<SparsityPattern>>) -> Result<Self, LinearError> {
        Self::with_scalar(g, pattern)
    }
}

impl<G: GenericRhs, R: Real> SparseAd<G, R> {
    /// Wraps `g` for states in the real `R` with the given Jacobian pattern.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if the pattern is not `n × n`.
    pub fn with_scalar(
        g: G,
        pattern: impl Into<Arc<SparsityPattern>>,
    ) -> Result<Self, LinearError> {
        let pattern = pattern.into();
        check_pattern(&pattern, g.dims().0)?;
        let ws = DualJacobianScratch::new(&g, Arc::clone(&pattern))?;
        Ok(SparseAd {
            f: ForwardAd::with_scalar(g),
            pattern,
            ws,
        })
    }
    /// Wraps `g` with the pattern found by [`detect_sparsity`] around `(t, u, p)` (read its
    /// limitation).
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `u` or `p` do not match `g.dims()`.
    pub fn detect(g: G, t: R, u: &[R], p: &[R]) -> Result<Self, LinearError> {
        let pattern = detect_sparsity(&g, t, u, p)?;
        Self::with_scalar(g, pattern)
    }
    /// The wrapped function.
    pub fn inner(&self) -> &G {
        self.f.inner()
    }
}

impl<G: GenericRhs, R: Real> VectorField for SparseAd<G, R> {
    type V = Vec<R>;
    type P = Vec<R>;
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    #[inline]
    fn rhs(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, du: &mut Vec<R>) {
        self.f.rhs(t, u, p, du)
    }
}

impl<G: GenericRhs, R: Real> SparseJacobian for SparseAd<G, R> {
    const EXACT: bool = true;
    fn jacobian_pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    fn sparse_jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut SparseMatrix<R>) {
        if dual_jacobian_coloured(self.f.inner(), t, u, p, &mut self.ws, j).is_err() {
            poison(j);
        }
    }
}

impl<G: GenericRhs, R: Real> Jvp for SparseAd<G, R> {
    const EXACT: bool = true;
    fn jvp_u(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.f.jvp_u(t, u, p, v, out)
    }
    fn jvp_p(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.f.jvp_p(t, u, p, v, out)
    }
}

impl<G: GenericRhs, R: Real> Vjp for SparseAd<G, R> {
    const EXACT: bool = true;
    fn vjp(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, w: &Vec<R>, gu: &mut Vec<R>, gp: &mut Vec<R>) {
        self.f.vjp(t, u, p, w, gu, gp)
    }
}

impl<G: GenericRhs, R: Real> Jacobian for SparseAd<G, R> {
    const EXACT: bool = true;
    fn jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut DenseMatrix<R>) {
        self.f.jacobian(t, u, p, j)
    }
}

/// Sparse Jacobians of any field over `Vec<R>` by finite differences compressed with a column
/// colouring ([`fd_jacobian_coloured`]; marked inexact). The wrapped field's own `Jvp`, `Vjp` and
/// `Jacobian`, if it has them, are passed through unchanged.
///
/// ```
/// use sciml_core::linalg::FdScheme;
/// use sciml_core::providers::SparseFd;
/// use sciml_core::{FnField, SparseJacobian, SparseMatrix, SparsityPattern};
/// let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
///     du[0] = -u[0];
///     du[1] = u[0] * u[1];
/// });
/// let pat = SparsityPattern::from_triplets(2, 2, &[(0, 0), (1, 0), (1, 1)]).unwrap();
/// let mut f = SparseFd::new(f, pat, FdScheme::Central).unwrap();
/// let mut j = SparseMatrix::zeros(f.jacobian_pattern().clone());
/// f.sparse_jacobian(0.0, &vec![2.0, 3.0], &vec![], &mut j);
/// assert!((j.get(1, 0) - 3.0).abs() < 1e-9 && (j.get(1, 1) - 2.0).abs() < 1e-9);
/// ```
#[derive(Clone)]
pub struct SparseFd<F: VectorField> {
    f: F,
    pattern: Arc<SparsityPattern>,
    ws: JacobianScratch<<F::V as crate::State>::S>,
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> SparseFd<F> {
    /// Wraps `f` with the given Jacobian pattern (which must contain every nonzero of `∂f/∂u`)
    /// and difference formula.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if the pattern is not `n × n`.
    pub fn new(
        f: F,
        pattern: impl Into<Arc<SparsityPattern>>,
        scheme: FdScheme,
    ) -> Result<Self, LinearError> {
        let pattern = pattern.into();
        check_pattern(&pattern, f.dims().0)?;
        let ws = JacobianScratch::new(Arc::clone(&pattern), scheme);
        Ok(SparseFd { f, pattern, ws })
    }
    /// The wrapped field.
    pub fn inner(&mut self) -> &mut F {
        &mut self.f
    }
    /// The column colouring in use (its `n_colours` is the number of evaluations per forward
    /// Jacobian).
    pub fn colouring(&self) -> &crate::linalg::Colouring {
        self.ws.colouring()
    }
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> VectorField for SparseFd<F> {
    type V = Vec<R>;
    type P = Vec<R>;
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    #[inline]
    fn rhs(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, du: &mut Vec<R>) {
        self.f.rhs(t, u, p, du)
    }
}

impl<R: Real, F: VectorField<V = Vec<R>, P = Vec<R>>> SparseJacobian for SparseFd<F> {
    const EXACT: bool = false;
    fn jacobian_pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    fn sparse_jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut SparseMatrix<R>) {
        if fd_jacobian_coloured(&mut self.f, t, u, p, None, &mut self.ws, j).is_err() {
            poison(j);
        }
    }
}

impl<R: Real, F: Jvp + VectorField<V = Vec<R>, P = Vec<R>>> Jvp for SparseFd<F> {
    const EXACT: bool = F::EXACT;
    fn jvp_u(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.f.jvp_u(t, u, p, v, out)
    }
    fn jvp_p(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.f.jvp_p(t, u, p, v, out)
    }
}

impl<R: Real, F: Vjp + VectorField<V = Vec<R>, P = Vec<R>>> Vjp for SparseFd<F> {
    const EXACT: bool = F::EXACT;
    fn vjp(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, w: &Vec<R>, gu: &mut Vec<R>, gp: &mut Vec<R>) {
        self.f.vjp(t, u, p, w, gu, gp)
    }
}

impl<R: Real, F: Jacobian + VectorField<V = Vec<R>, P = Vec<R>>> Jacobian for SparseFd<F> {
    const EXACT: bool = F::EXACT;
    fn jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut DenseMatrix<R>) {
        self.f.jacobian(t, u, p, j)
    }
}

/// A sparse Jacobian supplied by the user: `jac(t, u, p, values)` writes the stored values of
/// `∂f/∂u`, column by column in the order of the pattern (`SparsityPattern::col`). Taken as
/// exact (`EXACT = true`): test it, e.g. against [`SparseFd`]. The wrapped field's `Jvp`, `Vjp`
/// and `Jacobian` are passed through.
///
/// ```
/// use sciml_core::providers::SparseFn;
/// use sciml_core::{FnField, SparseJacobian, SparseMatrix, SparsityPattern};
/// let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
///     du[0] = -u[0];
///     du[1] = u[0] * u[1];
/// });
/// let pat = SparsityPattern::from_triplets(2, 2, &[(0, 0), (1, 0), (1, 1)]).unwrap();
/// // Column 0: rows 0, 1; column 1: row 1.
/// let mut f = SparseFn::new(f, pat, |_t: f64, u: &[f64], _p: &[f64], v: &mut [f64]| {
///     v.copy_from_slice(&[-1.0, u[1], u[0]]);
/// }).unwrap();
/// let mut j = SparseMatrix::zeros(f.jacobian_pattern().clone());
/// f.sparse_jacobian(0.0, &vec![2.0, 3.0], &vec![], &mut j);
/// assert_eq!(j.get(1, 1), 2.0);
/// ```
#[derive(Clone)]
pub struct SparseFn<F, J> {
    f: F,
    pattern: Arc<SparsityPattern>,
    jac: J,
}

impl<R, F, J> SparseFn<F, J>
where
    R: Real,
    F: VectorField<V = Vec<R>, P = Vec<R>>,
    J: FnMut(R, &[R], &[R], &mut [R]),
{
    /// Wraps `f` with the user's sparse Jacobian `jac` on `pattern`.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if the pattern is not `n × n`.
    pub fn new(
        f: F,
        pattern: impl Into<Arc<SparsityPattern>>,
        jac: J,
    ) -> Result<Self, LinearError> {
        let pattern = pattern.into();
        check_pattern(&pattern, f.dims().0)?;
        Ok(SparseFn { f, pattern, jac })
    }
    /// The wrapped field.
    pub fn inner(&mut self) -> &mut F {
        &mut self.f
    }
}

impl<R, F, J> VectorField for SparseFn<F, J>
where
    R: Real,
    F: VectorField<V = Vec<R>, P = Vec<R>>,
{
    type V = Vec<R>;
    type P = Vec<R>;
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    #[inline]
    fn rhs(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, du: &mut Vec<R>) {
        self.f.rhs(t, u, p, du)
    }
}

impl<R, F, J> SparseJacobian for SparseFn<F, J>
where
    R: Real,
    F: VectorField<V = Vec<R>, P = Vec<R>>,
    J: FnMut(R, &[R], &[R], &mut [R]),
{
    const EXACT: bool = true;
    fn jacobian_pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    fn sparse_jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut SparseMatrix<R>) {
        if !Arc::ptr_eq(j.pattern(), &self.pattern) && **j.pattern() != *self.pattern {
            poison(j);
            return;
        }
        (self.jac)(t, u, p, j.values_mut())
    }
}

impl<R, F, J> Jvp for SparseFn<F, J>
where
    R: Real,
    F: Jvp + VectorField<V = Vec<R>, P = Vec<R>>,
{
    const EXACT: bool = F::EXACT;
    fn jvp_u(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.f.jvp_u(t, u, p, v, out)
    }
    fn jvp_p(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        self.f.jvp_p(t, u, p, v, out)
    }
}

impl<R, F, J> Vjp for SparseFn<F, J>
where
    R: Real,
    F: Vjp + VectorField<V = Vec<R>, P = Vec<R>>,
{
    const EXACT: bool = F::EXACT;
    fn vjp(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, w: &Vec<R>, gu: &mut Vec<R>, gp: &mut Vec<R>) {
        self.f.vjp(t, u, p, w, gu, gp)
    }
}

impl<R, F, J> Jacobian for SparseFn<F, J>
where
    R: Real,
    F: Jacobian + VectorField<V = Vec<R>, P = Vec<R>>,
{
    const EXACT: bool = F::EXACT;
    fn jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut DenseMatrix<R>) {
        self.f.jacobian(t, u, p, j)
    }
}
