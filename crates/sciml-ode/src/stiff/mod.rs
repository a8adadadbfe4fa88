//! Implicit methods for stiff problems: Rosenbrock methods (`Rosenbrock23`, `Rodas4`,
//! `Rodas5P`), ESDIRK methods with Newton (`Trbdf2`, `KenCarp4`, `Kvaerno5`), variable-order BDF (`Bdf`),
//! automatic stiffness switching (`AutoTsit5Rodas5P`), the linear-solve strategies they share
//! (dense LU, sparse LU, Jacobian-free GMRES), and the exact discrete adjoints of Rosenbrock,
//! ESDIRK and BDF steps.
//!
//! The Rosenbrock and ESDIRK families are each one generic type over a tableau marker and a
//! linear strategy, [`Rosenbrock<T, L>`] and [`Esdirk<T, L>`]; the methods are aliases
//! (`Rodas5P<L> = Rosenbrock<Rodas5PTableau, L>`, `KenCarp4<L> = Esdirk<KenCarp4Tableau, L>`,
//! ...), and their coefficients live in [`crate::tableaus`].

use sciml_core::{Real, Scalar};

/// The dense-output polynomials of a Rosenbrock or ESDIRK tableau in the scalar `R`
/// (`MethodInfo::interp_poly`).
fn interp_poly<R: Real>(dense: &[Vec<f64>]) -> Vec<Vec<R>> {
    dense
        .iter()
        .map(|row| row.iter().map(|x| R::c(*x)).collect())
        .collect()
}

/// `out = M v` for a real mass matrix and a state in any scalar (Rosenbrock and BDF).
fn mass_mul<S: Scalar>(m: &sciml_core::DenseMatrix<S::Re>, v: &[S], out: &mut [S]) {
    out.iter_mut().for_each(|x| *x = S::zero());
    for (j, vj) in v.iter().enumerate() {
        for (o, a) in out.iter_mut().zip(m.col(j)) {
            *o += *vj * *a;
        }
    }
}

/// `out = M v` for states: the mass matrix reads them as host slices, so a state that is not one
/// slice is a `StepFailure::LinearSolve` (`OdeProblem::with_mass_matrix` refuses a mass matrix
/// for such a state before any step).
fn mass_mul_state<V: sciml_core::State>(
    m: &sciml_core::DenseMatrix<sciml_core::Re<V>>,
    v: &V,
    out: &mut V,
) -> Result<(), crate::method::StepFailure> {
    match (v.host_slice(), out.host_slice_mut()) {
        (Some(v), Some(out)) => {
            mass_mul(m, v, out);
            Ok(())
        }
        _ => Err(crate::method::StepFailure::LinearSolve),
    }
}

/// `y += a·x` on slices: the cotangent updates of the Rosenbrock and ESDIRK adjoints.
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

pub mod auto;
pub mod bdf;
pub mod bdf_vjp;
pub mod linear;
pub mod newton;
pub mod rosenbrock;
pub mod rosenbrock_vjp;
pub mod sdirk;
pub mod sdirk_vjp;

pub use crate::tableaus::{
    EsdirkCoefficients, EsdirkTableau, RosenbrockCoefficients, RosenbrockTableau,
    ESDIRK_MAX_STAGES, ROSENBROCK_MAX_STAGES,
};
pub use auto::{AutoCache, AutoTsit5Rodas5P};
pub use bdf::{Bdf, BdfCache, BdfFrozenOrders, BdfNewton};
pub use bdf_vjp::BdfVjpCache;
pub use linear::{
    DenseSolve, DenseSolveCache, GenericLu, KrylovCache, KrylovPreconditioner, KrylovSolve,
    LinearStrategy, LuScalar, NoPreconditioner, SparseSolve, SparseSolveCache, WSpec,
};
pub use newton::{Newton, NewtonCache, NewtonConvergence, Rate, Residual};
pub use rosenbrock::{Rodas4, Rodas5P, Rosenbrock, Rosenbrock23, RosenbrockCache};
pub use sdirk::{Esdirk, EsdirkCache, KenCarp4, Kvaerno5, Trbdf2};
