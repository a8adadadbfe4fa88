//! Linear algebra for implicit solvers: dense and sparse LU, sparsity patterns, column colouring
//! and compressed Jacobians, and restarted GMRES.
//!
//! Everything here preallocates in its constructor, so the Newton iterations of a stiff solver
//! factor and solve without touching the allocator. Failures (a singular or non-finite matrix, a
//! shape mismatch, GMRES not converging) are reported as [`LinearError`], never as NaN results.
//!
//! | item | what |
//! |---|---|
//! | [`DenseLu`] | partial-pivoting LU: a simple in-crate kernel for small `n`, faer's blocked in-place factorisation for large `n` |
//! | [`SparsityPattern`], [`SparseMatrix`] | compressed sparse column storage |
//! | [`SparseLu`] | faer's sparse LU, symbolic analysis done once per pattern |
//! | [`colour_columns`] | distance-2 colouring for compressed Jacobians |
//! | [`fd_jacobian_coloured`], [`dual_jacobian_coloured`], [`detect_sparsity`] | sparse Jacobians |
//! | [`Gmres`] | restarted GMRES(m) with right preconditioning |

mod colouring;
mod dense_lu;
mod gmres;
mod jacobian;
mod sparse;
mod sparse_lu;

pub use colouring::{colour_columns, Colouring};
pub use dense_lu::{DenseLu, DenseLuBackend, DENSE_LU_FAER_MIN_N};
pub use gmres::{Gmres, GmresStats, Preconditioner, StateGmres, StatePreconditioner};
pub use jacobian::{
    detect_sparsity, dual_jacobian_coloured, fd_jacobian_coloured, DualJacobianScratch, FdJvp,
    FdScheme, JacobianScratch, DETECT_SPARSITY_SAMPLES,
};
pub use sparse::{SparseMatrix, SparsityPattern};
pub use sparse_lu::{SparseLu, SparseLuMethod};

use crate::scalar::Real;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
}

/// The reals the linear solvers work in: `f64` and `f32` (sealed).
///
/// The bound on faer's real-field trait is what its factorisations need; it is an implementation
/// detail, so the trait cannot be implemented outside this crate.
pub trait LinalgReal: Real + faer::traits::RealField + sealed::Sealed {
    /// nalgebra's partial-pivoting elimination of the column-major `n × n` array `a` in place,
    /// interchanges recorded LAPACK-style in `piv`. Hidden: `DenseLu`'s small-system kernel.
    #[doc(hidden)]
    fn lu_nalgebra(a: &mut [Self], n: usize, piv: &mut [usize]) -> Result<(), LinearError>;
}
impl LinalgReal for f64 {
    fn lu_nalgebra(a: &mut [f64], n: usize, piv: &mut [usize]) -> Result<(), LinearError> {
        dense_lu::lu_nalgebra(a, n, piv)
    }
}
impl LinalgReal for f32 {
    fn lu_nalgebra(a: &mut [f32], n: usize, piv: &mut [usize]) -> Result<(), LinearError> {
        dense_lu::lu_nalgebra(a, n, piv)
    }
}

/// A linear solve that could not be carried out. Each message says what went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LinearError {
    /// The matrix is singular: elimination found no nonzero pivot in this column.
    #[error("matrix is singular: no nonzero pivot in column {column}")]
    Singular {
        /// The (0-based) column of the zero pivot, in the factorisation's elimination order.
        column: usize,
    },
    /// A matrix or vector has the wrong size.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    Dimension {
        /// The size required.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// An iterative solver stopped before reaching its tolerance.
    #[error("linear solver did not converge in {iterations} iterations (residual {residual:e})")]
    NotConverged {
        /// Iterations carried out.
        iterations: usize,
        /// The last residual norm `‖b − A x‖`.
        residual: f64,
    },
    /// The matrix, right-hand side or result contains a NaN or infinite value.
    #[error("matrix, right-hand side or solution contains a NaN or infinite value")]
    NonFinite,
    /// A sparse matrix does not have the sparsity pattern the solver was built for.
    #[error("sparse matrix has a different sparsity pattern from the one analysed")]
    PatternMismatch,
    /// A sparse factorisation met a zero (or non-finite) pivot in numeric elimination: the
    /// matrix is singular or too ill-conditioned to solve with (faer does not report the column).
    #[error(
        "sparse matrix is numerically singular: the LU factors have a zero or non-finite pivot"
    )]
    NumericallySingular,
    /// An entry lies outside the matrix or the sparsity pattern.
    #[error(
        "entry ({row}, {col}) is outside the {nrows} × {ncols} matrix or its sparsity pattern"
    )]
    IndexOutOfBounds {
        /// Row of the entry.
        row: usize,
        /// Column of the entry.
        col: usize,
        /// Rows of the matrix.
        nrows: usize,
        /// Columns of the matrix.
        ncols: usize,
    },
    /// `solve` was called before a successful `factor`.
    #[error("no factorisation available: call `factor` successfully before `solve`")]
    NotFactored,
    /// The sparse backend failed for a reason other than singularity (e.g. out of memory).
    #[error("sparse LU backend failed: {0}")]
    Backend(String),
}

/// Whether every value is finite. `0·v` is 0 for finite `v` and NaN otherwise; the sum over a
/// block is then NaN exactly when the block has a non-finite value. Blocks of eight independent
/// lanes, without early exit, let this vectorise (it runs on every matrix a solver factors).
#[inline]
pub(crate) fn all_finite<R: Real>(x: &[R]) -> bool {
    let mut acc = [R::zero(); 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += *v * R::zero();
        }
    }
    let rest = chunks
        .remainder()
        .iter()
        .fold(R::zero(), |s, v| s + *v * R::zero());
    acc.iter().fold(rest, |s, a| s + *a) == R::zero()
}
