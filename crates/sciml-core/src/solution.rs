//! What a solve returns.

use crate::dense::DenseOutput;
use crate::error::Error;
use crate::scalar::{Real, Scalar};
use crate::state::{Re, State};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Counters of the work a solve did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Right-hand-side evaluations.
    pub nf: usize,
    /// Jacobian evaluations.
    pub njac: usize,
    /// Matrix factorisations.
    pub nfactor: usize,
    /// Linear solves.
    pub nlinsolve: usize,
    /// Nonlinear (Newton) iterations.
    pub nnewton: usize,
    /// Attempted steps.
    pub steps: usize,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
}

impl std::ops::AddAssign<&Stats> for Stats {
    /// Adds another solve's counters (e.g. a backward pass's inner solves) to these.
    ///
    /// ```
    /// use sciml_core::Stats;
    /// let mut total = Stats { nf: 3, ..Stats::default() };
    /// total += &Stats { nf: 4, njac: 1, ..Stats::default() };
    /// assert_eq!((total.nf, total.njac), (7, 1));
    /// ```
    fn add_assign(&mut self, s: &Stats) {
        let Stats {
            nf,
            njac,
            nfactor,
            nlinsolve,
            nnewton,
            steps,
            accepted,
            rejected,
        } = s;
        self.nf += nf;
        self.njac += njac;
        self.nfactor += nfactor;
        self.nlinsolve += nlinsolve;
        self.nnewton += nnewton;
        self.steps += steps;
        self.accepted += accepted;
        self.rejected += rejected;
    }
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, s: Stats) {
        *self += &s;
    }
}

/// How a solve ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ReturnCode {
    /// Reached the end of the span.
    Success,
    /// A callback stopped the integration.
    Terminated,
    /// `maxiters` steps were attempted before the end of the span.
    MaxIters,
    /// The step size fell below `dtmin`.
    DtLessThanMin,
    /// The state or an error estimate became NaN or infinite.
    NonFinite,
    /// A step could not be carried out (e.g. a singular or divergent implicit stage).
    StepFailed,
    /// The step size collapsed (or the step budget ran out) while the linear solves with the
    /// iteration matrix kept failing: a singular matrix, or an iterative solver (GMRES) that does
    /// not converge within its settings.
    LinearSolveFailed,
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ReturnCode::Success => "success",
            ReturnCode::Terminated => "terminated by a callback",
            ReturnCode::MaxIters => {
                "maximum number of steps reached (raise `maxiters`, or the problem may be stiff)"
            }
            ReturnCode::DtLessThanMin => {
                "step size fell below dtmin (the solution may blow up, or the problem is stiff)"
            }
            ReturnCode::NonFinite => "the state became NaN or infinite",
            ReturnCode::StepFailed => "a step could not be carried out",
            ReturnCode::LinearSolveFailed => {
                "the linear solves with the iteration matrix kept failing as the step shrank \
                 (a singular matrix, or GMRES not converging: check its restart, max_iters and \
                 preconditioner, and that its rtol is above what the products can resolve: \
                 products by differences often reach only about 1e-6)"
            }
        };
        f.write_str(s)
    }
}

/// A computed trajectory: saved times and states, statistics, a return code, and optionally a
/// dense interpolant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>"))]
pub struct Solution<V: State> {
    /// Saved times.
    pub t: Vec<Re<V>>,
    /// Saved states, one per time.
    pub u: Vec<V>,
    /// Work counters.
    pub stats: Stats,
    /// How the solve ended.
    pub retcode: ReturnCode,
    /// Dense output over the whole solve, when requested.
    pub dense: Option<DenseOutput<V>>,
}

impl<V: State> Solution<V> {
    /// An empty solution.
    pub fn empty() -> Self {
        Solution {
            t: Vec::new(),
            u: Vec::new(),
            stats: Stats::default(),
            retcode: ReturnCode::Success,
            dense: None,
        }
    }
    /// The same saved points with every state mapped by `f` (e.g. the state part of an augmented
    /// system, or the value part of dual numbers); times, counters and return code are kept, the
    /// dense output (of the other state type) is dropped.
    ///
    /// ```
    /// use sciml_core::{Pair, Solution};
    /// let mut aug: Solution<Pair<Vec<f64>, Vec<f64>>> = Solution::empty();
    /// aug.t.push(0.5);
    /// aug.u.push(Pair(vec![1.0], vec![2.0, 3.0]));
    /// let sol: Solution<Vec<f64>> = aug.map_states(|p| p.0);
    /// assert_eq!((sol.t, sol.u), (vec![0.5], vec![vec![1.0]]));
    /// ```
    pub fn map_states<W>(self, f: impl FnMut(V) -> W) -> Solution<W>
    where
        W: State,
        W::S: Scalar<Re = Re<V>>,
    {
        Solution {
            t: self.t,
            u: self.u.into_iter().map(f).collect(),
            stats: self.stats,
            retcode: self.retcode,
            dense: None,
        }
    }
    /// Number of saved points.
    pub fn len(&self) -> usize {
        self.t.len()
    }
    /// Whether nothing was saved.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
    /// `(t, u)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (Re<V>, &V)> + '_ {
        self.t.iter().copied().zip(self.u.iter())
    }
    /// The last saved state.
    pub fn last(&self) -> Option<&V> {
        self.u.last()
    }
    /// The state at any time of the span, from the dense output.
    pub fn interpolate(&self, t: Re<V>) -> Result<V, Error> {
        let dense = self.dense.as_ref().ok_or(Error::NoDenseOutput)?;
        let mut out = dense
            .segment(0)
            .ok_or(Error::NoDenseOutput)?
            .y0
            .zeros_like();
        dense.evaluate_to(t, &mut out)?;
        Ok(out)
    }
}

impl<V: State> std::ops::Index<usize> for Solution<V> {
    type Output = V;
    fn index(&self, i: usize) -> &V {
        &self.u[i]
    }
}

/// Why a solve did not return a full solution.
#[derive(Debug, thiserror::Error)]
pub enum SolveError<V: State> {
    /// The input was rejected before any work.
    #[error(transparent)]
    Input(#[from] Error),
    /// The integration stopped early; `partial` holds everything computed up to `t`.
    #[error("integration failed at t = {t}: {code}")]
    Failed {
        /// Why it stopped.
        code: ReturnCode,
        /// Where it stopped.
        t: f64,
        /// The solution up to `t`.
        partial: Box<Solution<V>>,
    },
}

impl<V: State> SolveError<V> {
    /// A failed integration at time `t`.
    pub fn failed(code: ReturnCode, t: Re<V>, partial: Solution<V>) -> Self {
        SolveError::Failed {
            code,
            t: t.to_f64_lossy(),
            partial: Box::new(partial),
        }
    }
}
