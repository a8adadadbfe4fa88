//! Adaptors that turn a user's function into a [`crate::VectorField`] with derivative
//! capabilities.
//!
//! | adaptor | from | `Jvp` | `Vjp` | `Jacobian` |
//! |---|---|---|---|---|
//! | [`ForwardAd`] | a [`crate::GenericRhs`] | exact, one dual pass | exact, `n + np` dual passes | exact, `n` dual passes |
//! | [`FnField`] | closures | the user's, if given | the user's, if given | the user's, if given |
//! | [`FiniteDiff`] | any field over `Vec<R>` | central differences | central differences | central differences |
//!
//! Sparse Jacobians ([`crate::SparseJacobian`]) on a fixed pattern: [`SparseAd`] (a
//! [`crate::GenericRhs`], coloured dual numbers, exact), [`SparseFd`] (any field, coloured finite
//! differences), [`SparseFn`] (the user's closure). Each passes the wrapped field's other
//! capabilities through.

mod closures;
mod finite_diff;
mod forward_ad;
mod sparse;

pub use closures::{FnField, Missing};
pub use finite_diff::FiniteDiff;
pub use forward_ad::ForwardAd;
pub use sparse::{SparseAd, SparseFd, SparseFn};
