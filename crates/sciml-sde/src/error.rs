//! Errors of the SDE crate.

use sciml_core::{Error, ReturnCode};

/// Why an SDE solve or sensitivity computation did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SdeError {
    /// Bad input, reported before any work (lengths, NaN, span, options).
    #[error(transparent)]
    Input(#[from] Error),
    /// The noise shape does not fit the method, the Brownian path or the system.
    #[error("noise shape: {reason}")]
    NoiseShape {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The integration stopped early.
    #[error("SDE integration failed at t = {t}: {code}")]
    Failed {
        /// Why it stopped.
        code: ReturnCode,
        /// Where it stopped.
        t: f64,
    },
}
