//! Where a solve saves its solution: one type for every equation family.

use crate::error::Error;
use crate::scalar::Real;
use serde::{Deserialize, Serialize};

/// Where the solution is saved. The same options serve ODE and SDE solves.
///
/// ```
/// use sciml_core::SaveAt;
/// let grid = SaveAt::Every(0.25).listed_times(0.0, 1.0, true).unwrap().unwrap();
/// assert_eq!(grid, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
/// assert_eq!(SaveAt::<f64>::Steps.listed_times(0.0, 1.0, true).unwrap(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SaveAt<R> {
    /// At every accepted step (SciML's `save_everystep`), the initial point included.
    Steps,
    /// Every `dt` from the start of the span (the end included when it falls on the grid, and
    /// otherwise added unless the solve's `save_end` says no).
    Every(R),
    /// At these times, which must lie in the span. They may come in any order: the solution
    /// holds them sorted in the direction of integration. ODE solves interpolate them (never
    /// step to them); SDE solves step onto them (adaptive) or need them on the step grid (fixed).
    /// The ends are saved only when listed or asked for (`save_start`/`save_end` set to
    /// `true`): an empty list saves nothing (a solve run for its callbacks or final statistics;
    /// unlike SciML's `saveat = []`, which means every step, as [`SaveAt::Steps`] does here).
    Times(Vec<R>),
}

impl<R: Real> SaveAt<R> {
    /// The times this option lists over the span `(t0, t1)` (`None` for [`SaveAt::Steps`]):
    /// `Times` as given, `Every(dt)` as its grid `t0 + k·dt` (a point within `1e-10·dt` of the end
    /// is the end), with `t1` appended when `with_end` and the grid misses it. `dt` must be
    /// finite and positive, and the grid at most 10⁸ points.
    pub fn listed_times(&self, t0: R, t1: R, with_end: bool) -> Result<Option<Vec<R>>, Error> {
        match self {
            SaveAt::Steps => Ok(None),
            SaveAt::Times(ts) => Ok(Some(ts.clone())),
            SaveAt::Every(dt) => {
                let dt = *dt;
                if !(dt.is_finite() && dt > R::zero()) {
                    return Err(Error::InvalidOption {
                        option: "saveat",
                        reason: format!("is {dt}; give a finite positive value"),
                    });
                }
                let span = (t1 - t0).abs();
                let count = (span / dt).to_f64_lossy();
                if count > 1e8 {
                    return Err(Error::InvalidOption {
                        option: "saveat",
                        reason: format!("would save {count:.0} points; use a larger interval"),
                    });
                }
                let dir = (t1 - t0).signum();
                let near = R::c(1e-10) * dt;
                let mut v = Vec::with_capacity(count as usize + 2);
                let mut k = 0usize;
                loop {
                    let tk = t0 + dir * dt * R::from_usize(k);
                    if (tk - t1) * dir > near {
                        break;
                    }
                    v.push(if (tk - t1).abs() <= near { t1 } else { tk });
                    k += 1;
                }
                if with_end && v.last() != Some(&t1) {
                    v.push(t1);
                }
                Ok(Some(v))
            }
        }
    }
}
