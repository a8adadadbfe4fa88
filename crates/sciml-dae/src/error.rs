//! The crate's error type.

use sciml_core::SolveError;

/// Why a DAE problem, its initialisation or its solve was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaeError {
    /// A vector has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Length {
        /// What was given.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The number of states.
        expected: usize,
    },
    /// The system has no equations (`f.len()` is 0).
    #[error("the residual has no equations (f.len() = 0); a DAE needs at least one state")]
    NoStates,
    /// A start value is NaN or infinite.
    #[error("{what}[{index}] is not finite; give finite start values")]
    NotFinite {
        /// Which vector.
        what: &'static str,
        /// The first bad component.
        index: usize,
    },
    /// The time span is empty or not finite (a backward span is valid).
    #[error("tspan = ({t0}, {t1}) must be finite with t0 != t1 (either direction)")]
    Span {
        /// Start.
        t0: f64,
        /// End.
        t1: f64,
    },
    /// The residual is NaN or infinite at the start.
    #[error("the residual F(du0, u0, p, t0) is not finite at component {index}")]
    NonFiniteResidual {
        /// The first bad component.
        index: usize,
    },
    /// `CheckInit` found `(u0, du0)` inconsistent.
    #[error(
        "u0 and du0 are inconsistent: ‖F(du0, u0, p, t0)‖₂ = {norm:e} > abstol = {abstol:e}; \
         correct them or initialise with BrownFullBasicInit"
    )]
    Inconsistent {
        /// The residual's 2-norm.
        norm: f64,
        /// The bound (the absolute tolerance).
        abstol: f64,
    },
    /// The matrix of the initialisation or of the first step is singular.
    #[error(
        "the iteration matrix ∂F/∂u + α·∂F/∂u′ is singular at t = {t}: the DAE is structurally \
         singular or of index above 1 (reformulate it, or check differential_vars)"
    )]
    SingularIterationMatrix {
        /// Where.
        t: f64,
    },
    /// An iterative (Krylov) solve with the matrix of the initialisation, of the start's check or
    /// of the sensitivities' start did not converge (a direct strategy reports
    /// [`DaeError::SingularIterationMatrix`] instead).
    #[error(
        "the iterative solve with the iteration matrix did not converge at t = {t}: raise \
         KrylovSolve::max_iters or restart, loosen KrylovSolve::rtol (products by differences \
         often resolve a relative residual of only about 1e-6), give a preconditioner, or check \
         that the DAE is of index 1"
    )]
    IterativeSolveFailed {
        /// Where.
        t: f64,
    },
    /// A sparsity pattern that misses nonzeros of the Jacobians.
    #[error(
        "the sparsity pattern misses entries of row {row} of ∂F/∂u or ∂F/∂u′ at the start: the \
         compressed Jacobians give {got:e} where the residual's directional derivative gives \
         {want:e}; add the row's missing columns to the pattern"
    )]
    Pattern {
        /// The first row found wrong.
        row: usize,
        /// The row of the product from the compressed Jacobians.
        got: f64,
        /// The row of the residual's own product.
        want: f64,
    },
    /// The Jacobians at the start hold a NaN or an infinity.
    #[error(
        "the Jacobians ∂F/∂u and ∂F/∂u′ at t = {t} are not finite (the residual's derivatives \
         are NaN or overflow at the consistent start)"
    )]
    NonFiniteJacobian {
        /// Where.
        t: f64,
    },
    /// `BrownFullBasicInit`'s Newton iteration did not converge.
    #[error("consistent initialisation did not converge: ‖F‖₂ = {norm:e} after Newton")]
    InitNotConverged {
        /// The residual's 2-norm at the last iterate.
        norm: f64,
    },
    /// A mass matrix that is not `n × n`.
    #[error(
        "the mass matrix is {rows} × {cols}; the system has {n} states, so it must be {n} × {n}"
    )]
    MassShape {
        /// Its rows.
        rows: usize,
        /// Its columns.
        cols: usize,
        /// The number of states.
        n: usize,
    },
    /// Forward sensitivities need `∂F/∂p`, which the system does not give.
    #[error(
        "forward sensitivities need ∂F/∂p: implement DaeJacobian::param_jacobian or wrap the \
         residual in DaeFiniteDiff"
    )]
    NoParamJacobian,
    /// The discrete adjoint was given a different number of cotangents than the solve saved.
    #[error(
        "got {got} cotangents, but the recorded solve saved {expected} states: give one \
         cotangent ∂L/∂u(t_i) per saved state"
    )]
    CotangentCount {
        /// Cotangents given.
        got: usize,
        /// States saved.
        expected: usize,
    },
    /// The recorded solve cannot be reversed.
    #[error("the recorded solve cannot be reversed: {why}")]
    TapeMismatch {
        /// Why.
        why: &'static str,
    },
    /// The consistent-initialisation choice cannot be used here, or its option is invalid.
    #[error("consistent initialisation: {why}")]
    InvalidInit {
        /// Why, and what to use instead.
        why: &'static str,
    },
    /// The options or the solve failed (the partial solution is inside).
    #[error(transparent)]
    Solve(#[from] SolveError<Vec<f64>>),
}

impl From<sciml_core::Error> for DaeError {
    fn from(e: sciml_core::Error) -> Self {
        DaeError::Solve(SolveError::Input(e))
    }
}
