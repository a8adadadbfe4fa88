//! ODE solvers: explicit Runge–Kutta methods (Euler to Vern9) run by one tableau-driven engine,
//! with adaptive steps, dense output, saving options, callbacks and parallel ensembles.
//!
//! ```
//! use sciml_core::FnField;
//! use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
//!
//! // Lotka–Volterra
//! let f = FnField::new(2, 4, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
//!     du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
//!     du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
//! });
//! let mut prob = OdeProblem::new(f, vec![1.0, 1.0], (0.0, 10.0), vec![1.5, 1.0, 3.0, 1.0]).unwrap();
//! let opts = SolveOptions::default().tolerances(1e-6, 1e-8).saveat(SaveAt::Every(0.1));
//! let sol = prob.solve(Tsit5, &opts).unwrap();
//! assert_eq!(sol.len(), 101);
//! ```

pub mod callbacks;
pub mod controller;
#[cfg(feature = "ensemble")]
pub mod ensemble;
pub mod explicit_rk;
pub mod integrator;
pub mod method;
pub mod options;
pub mod problem;
#[cfg(feature = "problems")]
pub mod problems;
pub mod step_vjp;
pub mod stiff;
pub mod tableaus;

pub use callbacks::{CallbackContext, Callbacks, ContinuousCallback, Crossing, DiscreteCallback};
pub use controller::PiController;
#[cfg(feature = "ensemble")]
pub use ensemble::{solve_each, solve_ensemble, EnsembleSummary};
pub use explicit_rk::{
    Bs3, Dp5, Dp8, Euler, Heun, Midpoint, Ralston, Rk4, RkCache, RkMethod, Tsit5, Vern6, Vern7,
    Vern8, Vern9,
};
pub use integrator::{
    Integrator, OdeStepper, SaveRecord, StepInput, StepLoop, StepRecord, StepSpan, Stepper, Tape,
};
pub use method::{MethodInfo, OdeMethod, StepContext, StepFailure, StepMemory};
pub use options::{SaveAt, SolveOptions};
pub use problem::{OdeProblem, ProblemParts};
pub use step_vjp::{RkVjpCache, StepVjp, StepVjpContext};
pub use stiff::Bdf;
pub use stiff::{
    AutoTsit5Rodas5P, DenseSolve, KrylovSolve, LinearStrategy, Rodas4, Rodas5P, Rosenbrock23,
    SparseSolve,
};
pub use stiff::{Esdirk, KenCarp4, Kvaerno5, Newton, Rosenbrock, Trbdf2};

// What an ODE user needs from the core, so depending on `sciml-ode` alone is enough.
pub use sciml_core;
pub use sciml_core::{
    Batch, Dual, Dual64, Error, FiniteDiff, FnField, ForwardAd, GenericRhs, Jacobian, Jvp, Pair,
    Real, ReturnCode, Scalar, Solution, SolveError, State, Stats, Tolerance, VectorField, Vjp,
};
