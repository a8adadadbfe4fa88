//! Stiff test problems with their reference solutions.
//!
//! The small problems are those of the IVP test set: F. Mazzia and C. Magherini, *Test Set for
//! Initial Value Problem Solvers*, release 2.4, Department of Mathematics, University of Bari
//! and INdAM, Research Unit of Bari, February 2008 (<https://archimede.dm.uniba.it/~testset/>).
//! Each is written once for every scalar type ([`GenericRhs`]), so [`ForwardAd`] gives its exact
//! Jacobian, and carries the test set's initial values, time span and reference solution at the
//! end point (the `solut` routine of the problem's Fortran file, computed there with RADAU5 in
//! extended precision). Every reference value was checked again independently with scipy's
//! Radau IIA at rtol 1e-13 (`crates/sciml-ode/tests/testset_reference.py`); the largest relative
//! disagreement is quoted next to each value.
//!
//! | problem | n | span | stiffness |
//! |---|---:|---|---|
//! | [`Robertson`] (`rober`) | 3 | [0, 1e11] (and [0, 1e5] for benchmark W2) | rate constants 0.04 to 3e7 |
//! | [`VanDerPol`] (`vdpol`) | 2 | [0, 2] | ε = 1e-6 |
//! | [`Hires`] (`hires`) | 8 | [0, 321.8122] | rate constants 0.035 to 280 |
//! | [`Pollution`] (`pollu`) | 20 | [0, 60] | rate constants 1.3e-4 to 4.4e11 |
//! | [`Oregonator`] (`orego`) | 3 | [0, 360] | 77.27 and 1/77.27 |
//!
//! [`Brusselator2d`] is the reaction–diffusion Brusselator on a periodic N × N grid (2N²
//! unknowns), with its sparsity pattern, for sparse and matrix-free linear algebra.
//!
//! ```
//! use sciml_ode::problems::{Robertson, TestProblem};
//! let prob = Robertson.problem().unwrap();
//! assert_eq!(prob.tspan(), (0.0, 1e11));
//! assert_eq!(Robertson.reference().unwrap().len(), 3);
//! ```

mod brusselator;
mod hires;
mod orego;
mod pollution;
mod robertson;
mod vdpol;

pub use brusselator::Brusselator2d;
pub use hires::Hires;
pub use orego::Oregonator;
pub use pollution::Pollution;
pub use robertson::{Robertson, RobertsonDae};
pub use vdpol::VanDerPol;

use crate::problem::OdeProblem;
use sciml_core::{Error, ForwardAd, GenericRhs};

/// A test problem: a generic right-hand side together with its initial state, parameters, time
/// span and (where known) reference solution at the end of the span.
pub trait TestProblem: GenericRhs + Clone + Sized {
    /// The problem's name in the test set (`rober`, `vdpol`, ...).
    fn name(&self) -> &'static str;
    /// The initial state `u(t0)`.
    fn u0(&self) -> Vec<f64>;
    /// The parameters (empty where the test set fixes every constant).
    fn params(&self) -> Vec<f64>;
    /// `(t0, t1)`.
    fn tspan(&self) -> (f64, f64);
    /// The reference solution at `t1`, where one is published or has been computed.
    fn reference(&self) -> Option<Vec<f64>>;
    /// The problem with exact (forward-mode AD) Jacobians.
    fn problem(&self) -> Result<OdeProblem<ForwardAd<Self>>, Error> {
        OdeProblem::new(
            ForwardAd::new(self.clone()),
            self.u0(),
            self.tspan(),
            self.params(),
        )
    }
}

#[cfg(test)]
mod tests;
