//! Stochastic differential equations: problems, replayable Brownian paths and solvers.
//!
//! `du = f(u, p, t) dt + g(u, p, t) dW` with diagonal, scalar, general (`n × m`) or commutative
//! noise ([`Noise`]), solved by fixed-step or adaptive stochastic Runge–Kutta methods
//! ([`Method`]), driven by a [`BrownianTree`] grown from a seed so that every path can be replayed
//! exactly (rejected steps, adjoints, ensembles on any number of threads).
//!
//! - Noise shapes: [`Noise::Diagonal`], [`Noise::Scalar`], [`Noise::General`] (`n × m`),
//!   [`Noise::Commutative`], and [`Noise::Batched`] (independent general-noise samples stacked in
//!   one state). The diffusion is applied matrix-free as `g · dW` in its native shape.
//! - Methods and what they support: see [`Method`] (Itô or Stratonovich, strong order, noise
//!   shapes, fixed or adaptive). Adaptive methods: SRIW1 (diagonal, scalar), SRA1 (additive noise,
//!   any shape), LambaEM (any shape).
//! - Ensembles: [`solve_trajectories`] on rayon, trajectory `i` driven by the path seeded from
//!   `(seed, i)`, results in input order and bitwise the same on any number of threads;
//!   [`EnsembleSummary`] gives mean, variance and quantiles over time.
//! - Sensitivities: the SDE adjoints (the discrete adjoint of Euler–Maruyama and Euler–Heun, the
//!   backsolve and interpolating adjoints for Stratonovich SDEs and for Itô SDEs through the drift
//!   correction, [`ItoCorrection`]) live in `sciml-sensitivity` with the ODE ones, on this
//!   crate's fixed-grid replay ([`replay`]). Drift and diffusion VJPs come from [`SdeVjp`]
//!   (closures via [`FnSde::with_vjp`], `sciml_core` fields with exact VJPs via [`FieldSde`],
//!   which also supplies the Itô correction from its diffusion's HVPs).
//!
//! ```
//! use sciml_sde::{solve, FnSde, Method, Noise, SdeOptions, SdeProblem};
//! // Geometric Brownian motion, Itô: du = μ u dt + σ u dW.
//! let f = FnSde::new(1, 2, Noise::Diagonal,
//!     |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0],
//!     |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| g[0] = p[1] * u[0]);
//! let prob = SdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![0.5, 0.2]).unwrap();
//! let sol = solve(&prob, Method::EulerMaruyama, &SdeOptions::fixed(1.0 / 64.0).seed(3)).unwrap();
//! assert_eq!(sol.t.len(), 65);
//! assert!(sol.u[64][0] > 0.0);
//! ```

mod brownian;
#[cfg(feature = "ensemble")]
pub mod ensemble;
mod error;
mod field_sde;
mod grid;
mod methods;
mod problem;
pub mod replay;
mod solver;
mod stepper;

pub use brownian::{BrownianTree, DEFAULT_DEPTH};
#[cfg(feature = "ensemble")]
pub use ensemble::{solve_trajectories, trajectory_seed, EnsembleSummary};
pub use error::{PartialSolution, SdeError};
pub use field_sde::FieldSde;
pub use methods::{Interpretation, Method};
pub use problem::{
    FnSde, FnSdeIto, FnSdeVjp, ItoCorrection, Noise, SdeFunction, SdeProblem, SdeVjp,
};
pub use solver::{solve, solve_with_brownian, SaveAt, SdeOptions};
