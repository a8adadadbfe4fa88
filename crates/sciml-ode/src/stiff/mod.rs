//! Implicit methods for stiff problems: Rosenbrock methods (`Rosenbrock23`, `Rodas4`,
//! `Rodas5P`), ESDIRK methods with Newton (`Trbdf2`, `KenCarp4`, `Kvaerno5`), variable-order BDF (`Bdf`),
//! automatic stiffness switching (`AutoTsit5Rodas5P`), the linear-solve strategies they share
//! (dense LU, sparse LU, Jacobian-free GMRES), and the exact discrete adjoints of Rosenbrock and
//! ESDIRK steps.

/// `MethodInfo` of an implicit method generic over its linear strategy, read from its
/// tableau (`name`, `order`, `error_order`, `interp_order`, `dense`), which the Rosenbrock and
/// ESDIRK tableaus share; both families accept mass matrices.
macro_rules! tableau_method_info {
    ($name:ident) => {
        impl<L: Clone + Send + Sync + std::fmt::Debug> MethodInfo for $name<L> {
            fn name(&self) -> &'static str {
                self.tableau().name
            }
            fn order(&self) -> u8 {
                self.tableau().order
            }
            fn is_adaptive(&self) -> bool {
                true
            }
            fn error_order(&self) -> u8 {
                self.tableau().error_order.min(self.tableau().order)
            }
            fn interp_order(&self) -> u8 {
                self.tableau().interp_order
            }
            fn interp_poly<T: Real>(&self) -> Vec<Vec<T>> {
                self.tableau()
                    .dense
                    .iter()
                    .map(|row| row.iter().map(|x| T::c(*x)).collect())
                    .collect()
            }
            fn supports_mass_matrix(&self) -> bool {
                true
            }
        }
    };
}
use tableau_method_info;

/// `y += a·x` on slices: the cotangent updates of the Rosenbrock and ESDIRK adjoints.
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

pub mod auto;
pub mod bdf;
pub mod linear;
pub mod newton;
pub mod rosenbrock;
pub mod rosenbrock_vjp;
pub mod sdirk;
pub mod sdirk_vjp;

pub use auto::{AutoCache, AutoTsit5Rodas5P};
pub use bdf::{Bdf, BdfCache};
pub use linear::{
    DenseSolve, DenseSolveCache, GenericLu, KrylovCache, KrylovPreconditioner, KrylovSolve,
    LinearStrategy, LuScalar, NoPreconditioner, SparseSolve, SparseSolveCache,
};
pub use newton::{Newton, NewtonCache};
pub use rosenbrock::{
    Rodas4, Rodas5P, Rosenbrock23, RosenbrockCache, RosenbrockMethod, RosenbrockTableau,
};
pub use sdirk::{EsdirkCache, EsdirkMethod, EsdirkTableau, KenCarp4, Kvaerno5, Trbdf2};
