//! Bad input, reported before any work. (A failed integration, which carries what was computed,
//! is [`crate::SolveError`], beside the solution it holds.)

/// Bad input, reported before any work is done. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    DimensionMismatch {
        /// What was given.
        what: String,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("{what} contains a NaN or infinite value at index {index}; give finite values")]
    NonFinite {
        /// What was given.
        what: String,
        /// The first offending index.
        index: usize,
    },
    /// The time span cannot be integrated over.
    #[error("invalid time span ({t0}, {t1}): {reason}")]
    InvalidSpan {
        /// Start.
        t0: f64,
        /// End.
        t1: f64,
        /// What is wrong with it.
        reason: String,
    },
    /// An option has a value it cannot take.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A time outside the range a solution covers.
    #[error("t = {t} lies outside the solution's range [{start}, {end}]")]
    OutOfRange {
        /// The requested time.
        t: f64,
        /// First time covered.
        start: f64,
        /// Last time covered.
        end: f64,
    },
    /// The solution was computed without dense output.
    #[error(
        "this solution has no dense output; solve with `dense: true` to interpolate at any time"
    )]
    NoDenseOutput,
    /// A recorded step could not be carried out again when a sensitivity method replayed it
    /// (the tape does not belong to this problem and method, or the field is not
    /// deterministic).
    #[error("replaying step {step} (t = {t}) failed: {reason}")]
    Replay {
        /// The step's index on the tape.
        step: usize,
        /// Its start.
        t: f64,
        /// What went wrong.
        reason: String,
    },
    /// A method cannot do what was asked of it.
    #[error("{method} cannot {what}")]
    Unsupported {
        /// The method.
        method: &'static str,
        /// What it was asked.
        what: String,
    },
}
