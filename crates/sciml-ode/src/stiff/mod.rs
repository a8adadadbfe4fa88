//! Implicit methods for stiff problems: Rosenbrock methods (`Rosenbrock23`, `Rodas4`,
//! `Rodas5P`), ESDIRK methods with Newton (`Trbdf2`, `KenCarp4`), variable-order BDF (`Bdf`),
//! automatic stiffness switching (`AutoTsit5Rodas5P`), the linear-solve strategies they share
//! (dense LU, sparse LU, Jacobian-free GMRES), and the exact discrete adjoints of Rosenbrock and
//! ESDIRK steps.

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
pub use sdirk::{EsdirkCache, EsdirkMethod, EsdirkTableau, KenCarp4, Trbdf2};
