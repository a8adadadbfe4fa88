//! Butcher tableaus as plain data: one engine (`crate::explicit_rk`) runs them all, and the GPU
//! crate can generate kernels from the same numbers.
//!
//! The implicit families keep their coefficients here too, each with its own layout and one
//! engine: the Rosenbrock methods in [`rosenbrock`] (run by [`crate::stiff::Rosenbrock`]) and
//! the ESDIRK methods in [`esdirk`] (run by [`crate::stiff::Esdirk`]). There a method's
//! tableau is a marker type ([`RosenbrockTableau`], [`EsdirkTableau`]) that hands out its
//! coefficients, so that each method is the family's type with that marker as parameter.
//!
//! Conventions shared by every explicit table in this folder:
//!
//! * `c` has one entry per stage (`s` stages, `c[0] = 0`).
//! * `a` is the strictly lower-triangular part, packed row by row: row `i` (stage `i`, 0-based)
//!   has `i` entries `a[i][0..i]`, so `a.len() == s (s - 1) / 2`.
//! * `b` are the weights of the propagated solution, `u1 = u0 + h Σ b_i k_i`.
//! * `btilde` are the weights of the error estimate, `err = h Σ btilde_i k_i` (that is `b - bhat`
//!   for an embedded pair). When `fsal` is true the last stage is evaluated at `(t0 + h, u1)`, so
//!   it is `f(t1, u1)` and becomes the next step's first stage.
//! * Dense output: `u(t0 + θh) = u0 + h Σ_j P_j(θ) k_j`. The vectors `k_j` are the `s` stages,
//!   then `f(t1, u1)` when the method is not FSAL, then the extra (lazy) interpolation stages.
//!   `P_j(θ) = Σ_m bstar[j][m] θ^(m+1)` (ascending powers, starting at θ¹).

mod bs3;
mod dp5;
mod dp8;
pub mod esdirk;
mod low_order;
pub mod rosenbrock;
mod tsit5;
mod vern6;
mod vern7;
mod vern8;
mod vern9;

pub use bs3::BS3;
pub use dp5::DP5;
pub use dp8::DP8;
pub use esdirk::{
    EsdirkCoefficients, EsdirkTableau, KenCarp4Tableau, Kvaerno5Tableau, Trbdf2Tableau,
    ESDIRK_MAX_STAGES,
};
pub use low_order::{EULER, HEUN, MIDPOINT, RALSTON, RK4};
pub use rosenbrock::{
    Rodas4Tableau, Rodas5PTableau, Rosenbrock23Tableau, RosenbrockCoefficients, RosenbrockTableau,
    ROSENBROCK_MAX_STAGES,
};
pub use tsit5::TSIT5;
pub use vern6::VERN6;
pub use vern7::VERN7;
pub use vern8::VERN8;
pub use vern9::VERN9;

/// An explicit Runge–Kutta method as numbers. See the module docs for the layout.
#[derive(Debug)]
pub struct Tableau {
    /// Human-readable name, e.g. `"Tsit5"`.
    pub name: &'static str,
    /// Order of the propagated solution.
    pub order: u8,
    /// Order of the embedded solution used for the error estimate (0 when there is none).
    pub error_order: u8,
    /// First-same-as-last: the last stage is `f(t1, u1)`.
    pub fsal: bool,
    /// Nodes, one per stage.
    pub c: &'static [f64],
    /// Strictly lower-triangular coefficients, packed by rows.
    pub a: &'static [f64],
    /// Solution weights.
    pub b: &'static [f64],
    /// Error-estimate weights (`b - bhat`), `None` for methods without an embedded pair.
    pub btilde: Option<&'static [f64]>,
    /// How dense output is produced.
    pub interp: Interp,
}

/// Dense-output description of a tableau.
#[derive(Debug)]
pub enum Interp {
    /// Cubic Hermite interpolation from `u0, u1, f(t0, u0), f(t1, u1)` (third order).
    Hermite,
    /// A continuous extension of the method ("free" interpolant), possibly with extra stages.
    Free {
        /// Order of the interpolant.
        order: u8,
        /// Nodes of the extra stages (empty when none are needed).
        extra_c: &'static [f64],
        /// Coefficients of the extra stages, packed by rows. Extra stage `j` (0-based) combines
        /// all earlier interpolation vectors: `nbase + j` entries, where `nbase = s` for FSAL
        /// methods and `s + 1` otherwise (the `+1` being `f(t1, u1)`).
        extra_a: &'static [f64],
        /// Polynomial weights, one per interpolation vector (`nbase + extra_c.len()` rows).
        bstar: &'static [&'static [f64]],
    },
}
