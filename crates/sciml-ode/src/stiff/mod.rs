//! Implicit methods for stiff problems: Rosenbrock methods, and the linear-solve strategies they
//! share (dense LU, Jacobian-free GMRES).

pub mod auto;
pub mod linear;
pub mod rosenbrock;

pub use auto::{AutoCache, AutoTsit5Rodas5P};
pub use linear::{DenseSolve, DenseSolveCache, LinearStrategy};
pub use rosenbrock::{
    Rodas4, Rodas5P, Rosenbrock23, RosenbrockCache, RosenbrockMethod, RosenbrockTableau,
};
