//! Errors of the SDE crate.

use sciml_core::{Error, Real, ReturnCode, Solution};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

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
        /// Where it stopped: the time of the last accepted state.
        t: f64,
        /// What the solve had saved up to `t` (read it with [`SdeError::partial`]); `None` where
        /// there is no solution to return (the backward pass of an adjoint, or a fixed-step
        /// adjoint refused before its forward pass because its grid needs more than `maxiters`
        /// steps).
        partial: Option<PartialSolution>,
    },
}

impl SdeError {
    /// The solution a failed solve saved before it stopped (its times, states, statistics, and
    /// the failure's return code as `retcode`), in the solve's real type `R`; `None` for other
    /// errors, for failures without a partial solution, or when `R` is not the solve's type.
    ///
    /// ```
    /// use sciml_core::ReturnCode;
    /// use sciml_sde::{solve, FnSde, Method, Noise, SdeError, SdeOptions, SdeProblem};
    /// // The drift turns NaN after t = 0.5.
    /// let f = FnSde::new(1, 0, Noise::Diagonal,
    ///     |t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
    ///         du[0] = if t > 0.5 { f64::NAN } else { -u[0] }
    ///     },
    ///     |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 0.1);
    /// let prob = SdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![]).unwrap();
    /// let e = solve(&prob, Method::EulerMaruyama, &SdeOptions::fixed(0.125)).unwrap_err();
    /// let partial = e.partial::<f64>().unwrap();
    /// assert_eq!(partial.t, vec![0.0, 0.125, 0.25, 0.375, 0.5, 0.625]);
    /// assert_eq!(partial.retcode, ReturnCode::NonFinite);
    /// assert!(matches!(e, SdeError::Failed { code: ReturnCode::NonFinite, t, .. } if t == 0.625));
    /// ```
    pub fn partial<R: Real>(&self) -> Option<&Solution<Vec<R>>> {
        match self {
            SdeError::Failed {
                partial: Some(p), ..
            } => p.get::<R>(),
            _ => None,
        }
    }

    /// A failed integration at `t` with the solution saved so far (its `retcode` set to `code`).
    pub(crate) fn failed<R: Real>(code: ReturnCode, t: f64, mut sol: Solution<Vec<R>>) -> Self {
        sol.retcode = code;
        SdeError::Failed {
            code,
            t,
            partial: Some(PartialSolution::new(sol)),
        }
    }
}

/// The solution a failed SDE solve saved before it stopped, kept in the solve's own real type
/// (`f64`, `f32`, dual numbers, ...) so that [`SdeError`] stays one type for every `R`; read it
/// with [`PartialSolution::get`] or [`SdeError::partial`].
#[derive(Clone)]
pub struct PartialSolution {
    sol: Arc<dyn Any + Send + Sync>,
    len: usize,
    last_t: Option<f64>,
    eq: fn(&(dyn Any + Send + Sync), &(dyn Any + Send + Sync)) -> bool,
}

fn same_solution<R: Real>(a: &(dyn Any + Send + Sync), b: &(dyn Any + Send + Sync)) -> bool {
    match (
        a.downcast_ref::<Solution<Vec<R>>>(),
        b.downcast_ref::<Solution<Vec<R>>>(),
    ) {
        (Some(a), Some(b)) => {
            a.t == b.t && a.u == b.u && a.stats == b.stats && a.retcode == b.retcode
        }
        _ => false,
    }
}

impl PartialSolution {
    pub(crate) fn new<R: Real>(sol: Solution<Vec<R>>) -> Self {
        PartialSolution {
            len: sol.t.len(),
            last_t: sol.t.last().map(|t| t.to_f64_lossy()),
            sol: Arc::new(sol),
            eq: same_solution::<R>,
        }
    }
    /// The saved times, states, statistics and return code, if `R` is the solve's real type.
    pub fn get<R: Real>(&self) -> Option<&Solution<Vec<R>>> {
        self.sol.downcast_ref::<Solution<Vec<R>>>()
    }
    /// Number of saved points.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing was saved before the failure.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The last saved time (as `f64`), if any.
    pub fn last_t(&self) -> Option<f64> {
        self.last_t
    }
}

impl fmt::Debug for PartialSolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialSolution")
            .field("len", &self.len)
            .field("last_t", &self.last_t)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PartialSolution {
    fn eq(&self, other: &Self) -> bool {
        (self.eq)(&*self.sol, &*other.sol)
    }
}
