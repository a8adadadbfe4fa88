//! The vector field `du/dt = f(t, u, p)` and its derivative capabilities.
//!
//! One trait is required ([`VectorField`]); derivatives are separate capability traits ([`Jvp`],
//! [`Vjp`], [`Jacobian`]) with no default bodies, so a solver or sensitivity method that needs one
//! names it in its bounds and a field without it is a compile error, never a silent fallback. Which
//! provider supplies a capability is chosen by wrapping the field in an adaptor
//! (`crate::providers`): forward-mode AD over a [`GenericRhs`], user-supplied closures, or finite
//! differences. Each capability states whether it is exact (`EXACT`), so a sensitivity method can
//! refuse or warn on finite differences.
//!
//! Methods take `&mut self`: scratch lives in the field, so fields stay `Sync` and ensembles can
//! clone them.

use crate::linalg::{SparseMatrix, SparsityPattern};
use crate::matrix::DenseMatrix;
use crate::scalar::Scalar;
use crate::state::Re;
use crate::state::State;

/// An in-place vector field: writes `du = f(t, u, p)`.
pub trait VectorField {
    /// The state type.
    type V: State;
    /// The (flat) parameter type, with the same scalar as the state.
    type P: State<S = <Self::V as State>::S>;
    /// `(number of state components, number of parameters)`, validated when a problem is built.
    fn dims(&self) -> (usize, usize);
    /// `du = f(t, u, p)`.
    fn rhs(&mut self, t: Re<Self::V>, u: &Self::V, p: &Self::P, du: &mut Self::V);
}

/// Jacobian-vector products.
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no Jacobian-vector products (`Jvp`)",
    label = "this field has no exact `Jvp`",
    note = "a closure field (`FnField::new`) has no derivatives: write the right-hand side with `sciml_core::ad_field!` (closure syntax, exact derivatives by dual numbers), wrap a `GenericRhs` in `ForwardAd`, add one with `FnField::with_jvp`, or use `FiniteDiff` (approximate)"
)]
pub trait Jvp: VectorField {
    /// Whether the products are exact (not finite differences).
    const EXACT: bool;
    /// `out = ∂f/∂u · v`.
    fn jvp_u(&mut self, t: Re<Self::V>, u: &Self::V, p: &Self::P, v: &Self::V, out: &mut Self::V);
    /// `out = ∂f/∂p · v`.
    fn jvp_p(&mut self, t: Re<Self::V>, u: &Self::V, p: &Self::P, v: &Self::P, out: &mut Self::V);
}

/// Vector-Jacobian products (reverse mode), accumulating into both gradients.
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no vector-Jacobian products (`Vjp`), which gradients need",
    label = "this field has no exact `Vjp`",
    note = "a closure field (`FnField::new`) has no derivatives: write the right-hand side with `sciml_core::ad_field!` (closure syntax, exact derivatives by dual numbers), wrap a `GenericRhs` in `ForwardAd`, add one with `FnField::with_vjp`, or use `FiniteDiff` (approximate)"
)]
pub trait Vjp: VectorField {
    /// Whether the products are exact (not finite differences).
    const EXACT: bool;
    /// `gu += (∂f/∂u)ᵀ w` and `gp += (∂f/∂p)ᵀ w`.
    fn vjp(
        &mut self,
        t: Re<Self::V>,
        u: &Self::V,
        p: &Self::P,
        w: &Self::V,
        gu: &mut Self::V,
        gp: &mut Self::P,
    );
}

/// Second derivatives: gradients of `wᵀ (∂f/∂u) v` with respect to the state and the
/// parameters. The exact discrete adjoint of a Rosenbrock step needs them, because the Jacobian
/// appears inside the step.
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no Hessian-vector products (`Hvp`), which the discrete adjoint of a Rosenbrock step needs",
    label = "this field has no `Hvp`",
    note = "write the right-hand side with `sciml_core::ad_field!` or wrap a `GenericRhs` in `ForwardAd` (exact second derivatives by nested dual numbers)"
)]
pub trait Hvp: Vjp {
    /// Whether the products are exact (not finite differences).
    const EXACT: bool;
    /// `gu += ∇_u (wᵀ J(u, p) v)` and `gp += ∇_p (wᵀ J(u, p) v)`, `J = ∂f/∂u`.
    #[allow(clippy::too_many_arguments)]
    fn hvp(
        &mut self,
        t: Re<Self::V>,
        u: &Self::V,
        p: &Self::P,
        w: &Self::V,
        v: &Self::V,
        gu: &mut Self::V,
        gp: &mut Self::P,
    );
}

/// The dense Jacobian `∂f/∂u`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no Jacobian (`Jacobian`), which implicit methods with `DenseSolve` need",
    label = "this field has no `Jacobian`",
    note = "a closure field (`FnField::new`) has no derivatives: write the right-hand side with `sciml_core::ad_field!` (closure syntax, exact Jacobians by dual numbers), wrap a `GenericRhs` in `ForwardAd`, add one with `FnField::with_jacobian`, or use `FiniteDiff` (approximate)"
)]
pub trait Jacobian: VectorField {
    /// Whether the Jacobian is exact (not finite differences).
    const EXACT: bool;
    /// Writes `∂f/∂u` into `j` (`n × n`).
    fn jacobian(
        &mut self,
        t: Re<Self::V>,
        u: &Self::V,
        p: &Self::P,
        j: &mut DenseMatrix<<Self::V as State>::S>,
    );
}

/// The sparse Jacobian `∂f/∂u` on a fixed sparsity pattern, for sparse LU in implicit solvers.
///
/// Provided by the adaptors `crate::providers::SparseAd` (exact, coloured dual numbers over a
/// [`GenericRhs`]), `crate::providers::SparseFd` (coloured finite differences of any field) and
/// `crate::providers::SparseFn` (the user's closure).
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no sparse Jacobian (`SparseJacobian`), which `SparseSolve` needs",
    label = "this field has no `SparseJacobian`",
    note = "wrap a `GenericRhs` (or an `ad_field!`) in `SparseAd` with its sparsity pattern, use `SparseFd` (coloured differences) or `SparseFn` (your own closure)"
)]
pub trait SparseJacobian: VectorField {
    /// Whether the Jacobian is exact (not finite differences).
    const EXACT: bool;
    /// The pattern of `∂f/∂u` (`n × n`). Build the Jacobian matrix from this `Arc`
    /// (`SparseMatrix::zeros(f.jacobian_pattern().clone())`) so pattern checks are pointer
    /// comparisons; it derefs to `&SparsityPattern`.
    fn jacobian_pattern(&self) -> &std::sync::Arc<SparsityPattern>;
    /// Writes `∂f/∂u` into `j`, whose pattern must be [`SparseJacobian::jacobian_pattern`]. On a
    /// matrix with another pattern every value is set to NaN, so the factorisation that follows
    /// fails with `LinearError::NonFinite` instead of solving with a wrong matrix.
    fn sparse_jacobian(
        &mut self,
        t: Re<Self::V>,
        u: &Self::V,
        p: &Self::P,
        j: &mut SparseMatrix<<Self::V as State>::S>,
    );
}

/// A vector field written once for every scalar type, so dual numbers can pass through it.
///
/// Closures cannot be generic over the scalar; implement this trait instead and wrap the value in
/// [`crate::ForwardAd`] to get exact JVPs, VJPs and Jacobians. Scratch space of `scratch_len()`
/// scalars is provided by the adaptor, so an evaluation allocates nothing.
///
/// ```
/// use sciml_core::{GenericRhs, Scalar};
/// struct LotkaVolterra;
/// impl GenericRhs for LotkaVolterra {
///     fn dims(&self) -> (usize, usize) { (2, 4) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
///         du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
///     }
/// }
/// let mut du = [0.0; 2];
/// LotkaVolterra.eval(0.0, &[1.0, 1.0], &[1.5, 1.0, 3.0, 1.0], &mut du, &mut []);
/// assert_eq!(du, [0.5, -2.0]);
/// ```
pub trait GenericRhs: Send + Sync {
    /// `(number of state components, number of parameters)`.
    fn dims(&self) -> (usize, usize);
    /// Scalars of scratch space `eval` needs.
    fn scratch_len(&self) -> usize {
        0
    }
    /// `du = f(t, u, p)` for any scalar type.
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], p: &[S], du: &mut [S], ws: &mut [S]);
}

/// A vector field from closure syntax with exact derivatives: writes the [`GenericRhs`] for the
/// body and wraps it in [`crate::ForwardAd`], so the field has exact `Jvp`, `Vjp`, `Hvp` and
/// `Jacobian` by dual numbers and works with every implicit method and sensitivity method (a
/// plain [`crate::FnField`] closure has none of them).
///
/// `ad_field!(n, np, |t, u, p, du| { ... })`: `n` state components and `np` parameters
/// (constant expressions). The body is generic over the scalar type, named `S`
/// (`S: Scalar`), so numeric constants are written `S::cst(1.5)` and `t` has the type `S::Re`.
/// Like a `fn` item, the body cannot capture local variables: pass data through `p`, or
/// implement [`GenericRhs`] on a struct of your own.
///
/// ```
/// use sciml_core::{ad_field, Jacobian};
/// // Lotka–Volterra with its constants inline.
/// let mut f = ad_field!(2, 0, |t, u, p, du| {
///     du[0] = S::cst(1.5) * u[0] - u[0] * u[1];
///     du[1] = S::cst(-3.0) * u[1] + u[0] * u[1];
/// });
/// let mut jac = sciml_core::DenseMatrix::zeros(2, 2);
/// f.jacobian(0.0, &vec![1.0, 2.0], &vec![], &mut jac);
/// assert_eq!((jac[(0, 0)], jac[(0, 1)], jac[(1, 0)], jac[(1, 1)]), (-0.5, -1.0, 2.0, -2.0));
/// ```
#[macro_export]
macro_rules! ad_field {
    ($n:expr, $np:expr, |$t:ident, $u:ident, $p:ident, $du:ident| $body:block) => {{
        #[derive(Clone, Copy, Debug)]
        struct AdField;
        impl $crate::GenericRhs for AdField {
            fn dims(&self) -> (usize, usize) {
                ($n, $np)
            }
            #[allow(unused_variables)]
            fn eval<S: $crate::Scalar>(
                &self,
                $t: S::Re,
                $u: &[S],
                $p: &[S],
                $du: &mut [S],
                _ws: &mut [S],
            ) $body
        }
        $crate::ForwardAd::new(AdField)
    }};
}
