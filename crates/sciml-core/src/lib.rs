//! Core types of the sciml stack: scalars (reals and dual numbers), state vectors, the vector-field
//! trait with its derivative capabilities and providers, tolerances, solutions and errors.
//!
//! ```
//! use sciml_core::{FnField, VectorField};
//! let mut f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
//!     du[0] = u[1];
//!     du[1] = -u[0];
//! });
//! let mut du = vec![0.0; 2];
//! f.rhs(0.0, &vec![1.0, 0.0], &vec![], &mut du);
//! assert_eq!(du, vec![0.0, -1.0]);
//! ```

pub mod dense;
pub mod dual;
pub mod error;
pub mod field;
pub mod linalg;
pub mod matrix;
pub mod providers;
pub mod rng;
pub mod save_at;
pub mod scalar;
pub mod simd;
pub mod solution;
pub mod state;
pub mod tolerance;

pub use dense::{DenseOutput, Segment};
pub use dual::{Dual, Dual64};
pub use error::Error;
pub use field::{GenericRhs, Hvp, Jacobian, Jvp, SparseJacobian, VectorField, Vjp};
pub use linalg::{
    colour_columns, detect_sparsity, dual_jacobian_coloured, fd_jacobian_coloured, Colouring,
    DenseLu, Gmres, GmresStats, LinalgReal, LinearError, SparseLu, SparseMatrix, SparsityPattern,
};
pub use matrix::DenseMatrix;
pub use providers::{FiniteDiff, FnField, ForwardAd, Missing, SparseAd, SparseFd, SparseFn};
pub use save_at::SaveAt;
pub use scalar::{One, Real, Scalar, Zero};
pub use solution::{ReturnCode, Solution, SolveError, Stats};
pub use state::{
    check_finite_slice, check_state, Batch, InnerProduct, Pair, Re, SliceState, State, MAX_LINCOMB,
};
pub use tolerance::Tolerance;
