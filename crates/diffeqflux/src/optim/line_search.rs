//! A line search satisfying the strong Wolfe conditions (Nocedal & Wright 2006, algorithms 3.5
//! and 3.6, with cubic interpolation, eq. 3.59).

use super::{check_positive, OptimError};
use serde::{Deserialize, Serialize};

/// Line search for the strong Wolfe conditions along a descent direction `d` from `x`, with
/// `φ(α) = f(x + α d)`:
///
/// ```text
/// φ(α) ≤ φ(0) + c₁ α φ'(0)        (sufficient decrease)
/// |φ'(α)| ≤ c₂ |φ'(0)|             (curvature)
/// ```
///
/// Nocedal & Wright's bracketing phase (algorithm 3.5: double the step until the bracket
/// holds a Wolfe point) followed by `zoom` (algorithm 3.6) with safeguarded cubic (eq. 3.59),
/// then quadratic, then bisection trial steps. A trial point whose loss or directional
/// derivative is not finite counts as an infinitely bad point: it becomes the upper end of
/// the bracket and the next trial bisects towards the last good step, which is how the search
/// backtracks out of a region where the objective blows up.
///
/// If the evaluation budget runs out before the curvature condition holds, the best point
/// found that satisfies sufficient decrease is accepted; if there is none, the search fails
/// and the minimiser restarts from steepest descent or stops with
/// [`Termination::LineSearchFailed`](super::Termination::LineSearchFailed).
///
/// Defaults: `c₁ = 1e-4`, `c₂ = 0.9` (the usual quasi-Newton values), 40 evaluations per
/// search, steps up to `α = 1e10`.
///
/// ```
/// use diffeqflux::optim::StrongWolfe;
/// let ls = StrongWolfe::default().with_constants(1e-4, 0.5)?.with_max_evals(20)?;
/// assert_eq!(ls.constants(), (1e-4, 0.5));
/// assert!(StrongWolfe::default().with_constants(0.5, 0.1).is_err()); // needs c₁ < c₂
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StrongWolfeRepr")]
pub struct StrongWolfe {
    c1: f64,
    c2: f64,
    max_evals: usize,
    alpha_max: f64,
}

#[derive(Deserialize)]
struct StrongWolfeRepr {
    c1: f64,
    c2: f64,
    max_evals: usize,
    alpha_max: f64,
}

impl TryFrom<StrongWolfeRepr> for StrongWolfe {
    type Error = OptimError;
    fn try_from(r: StrongWolfeRepr) -> Result<Self, OptimError> {
        StrongWolfe::default()
            .with_constants(r.c1, r.c2)?
            .with_max_evals(r.max_evals)?
            .with_alpha_max(r.alpha_max)
    }
}

impl Default for StrongWolfe {
    /// `c₁ = 1e-4`, `c₂ = 0.9`, 40 evaluations, `α_max = 1e10`.
    ///
    /// ```
    /// let ls = diffeqflux::optim::StrongWolfe::default();
    /// assert_eq!(ls.constants(), (1e-4, 0.9));
    /// assert_eq!(ls.max_evals(), 40);
    /// ```
    fn default() -> Self {
        StrongWolfe {
            c1: 1e-4,
            c2: 0.9,
            max_evals: 40,
            alpha_max: 1e10,
        }
    }
}

/// One evaluated point on the line.
#[derive(Clone, Copy, Debug)]
struct Point {
    alpha: f64,
    f: f64,
    d: f64,
}

/// What a line search found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LsOutcome {
    /// A step to take.
    Accepted {
        /// The step length.
        alpha: f64,
        /// `φ(α)`.
        f: f64,
        /// Whether `α` was the last point evaluated (so the caller's trial buffers hold it).
        last: bool,
    },
    /// No step decreases the loss enough.
    Failed,
}

impl StrongWolfe {
    /// Sets the sufficient-decrease and curvature constants.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless `0 < c₁ < c₂ < 1`.
    ///
    /// ```
    /// use diffeqflux::optim::StrongWolfe;
    /// assert!(StrongWolfe::default().with_constants(1e-4, 0.1).is_ok());
    /// assert!(StrongWolfe::default().with_constants(0.0, 0.9).is_err());
    /// ```
    pub fn with_constants(self, c1: f64, c2: f64) -> Result<Self, OptimError> {
        if !(c1 > 0.0 && c1 < 1.0) {
            return Err(OptimError::InvalidHyperparameter {
                name: "c1",
                value: c1,
                reason: "must lie in (0, 1)",
            });
        }
        if !(c2 > c1 && c2 < 1.0) {
            return Err(OptimError::InvalidHyperparameter {
                name: "c2",
                value: c2,
                reason: "must lie in (c1, 1)",
            });
        }
        Ok(StrongWolfe { c1, c2, ..self })
    }

    /// Sets the number of objective evaluations one search may use.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] if `max_evals` is 0.
    ///
    /// ```
    /// use diffeqflux::optim::StrongWolfe;
    /// assert!(StrongWolfe::default().with_max_evals(0).is_err());
    /// ```
    pub fn with_max_evals(self, max_evals: usize) -> Result<Self, OptimError> {
        if max_evals == 0 {
            return Err(OptimError::InvalidHyperparameter {
                name: "max_evals",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        Ok(StrongWolfe { max_evals, ..self })
    }

    /// Sets the largest step length the bracketing phase may try.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] unless finite and positive.
    ///
    /// ```
    /// use diffeqflux::optim::StrongWolfe;
    /// assert_eq!(StrongWolfe::default().with_alpha_max(10.0)?.alpha_max(), 10.0);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_alpha_max(self, alpha_max: f64) -> Result<Self, OptimError> {
        Ok(StrongWolfe {
            alpha_max: check_positive("alpha_max", alpha_max)?,
            ..self
        })
    }

    /// `(c₁, c₂)`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::StrongWolfe::default().constants(), (1e-4, 0.9));
    /// ```
    pub fn constants(&self) -> (f64, f64) {
        (self.c1, self.c2)
    }

    /// Evaluations per search.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::StrongWolfe::default().max_evals(), 40);
    /// ```
    pub fn max_evals(&self) -> usize {
        self.max_evals
    }

    /// The largest step length tried.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::StrongWolfe::default().alpha_max(), 1e10);
    /// ```
    pub fn alpha_max(&self) -> f64 {
        self.alpha_max
    }

    /// Searches along a descent direction. `phi(α)` returns `(φ(α), φ'(α))`; `f0 = φ(0)` and
    /// `d0 = φ'(0) < 0`; the first trial step is `alpha_init`.
    pub(crate) fn search<P>(
        &self,
        mut phi: P,
        f0: f64,
        d0: f64,
        alpha_init: f64,
    ) -> Result<LsOutcome, OptimError>
    where
        P: FnMut(f64) -> Result<(f64, f64), OptimError>,
    {
        let mut ev = Evaluator {
            phi: &mut phi,
            evals: 0,
            last_alpha: f64::NAN,
        };
        let armijo = |p: &Point| p.f <= f0 + self.c1 * p.alpha * d0;
        let curvature = |p: &Point| p.d.abs() <= -self.c2 * d0;

        let origin = Point {
            alpha: 0.0,
            f: f0,
            d: d0,
        };
        let mut prev = origin;
        let mut alpha = alpha_init.min(self.alpha_max);
        if !(alpha.is_finite() && alpha > 0.0) {
            alpha = 1.0_f64.min(self.alpha_max);
        }
        let mut first = true;
        // Bracketing phase (N&W algorithm 3.5).
        let (lo, hi) = loop {
            if ev.evals >= self.max_evals {
                return Ok(fallback(&prev, ev.last_alpha));
            }
            let cur = ev.eval(alpha)?;
            if !armijo(&cur) || (!first && cur.f >= prev.f) {
                break (prev, cur);
            }
            if curvature(&cur) {
                return Ok(LsOutcome::Accepted {
                    alpha: cur.alpha,
                    f: cur.f,
                    last: true,
                });
            }
            if cur.d >= 0.0 {
                break (cur, prev);
            }
            if alpha >= self.alpha_max {
                // Sufficient decrease holds but the step cannot grow further.
                return Ok(LsOutcome::Accepted {
                    alpha: cur.alpha,
                    f: cur.f,
                    last: true,
                });
            }
            prev = cur;
            alpha = (2.0 * alpha).min(self.alpha_max);
            first = false;
        };

        // Zoom phase (N&W algorithm 3.6). Invariants: `lo` satisfies sufficient decrease and
        // has the lowest loss seen among such points; the bracket holds a Wolfe point.
        let (mut lo, mut hi) = (lo, hi);
        while ev.evals < self.max_evals {
            let width = (hi.alpha - lo.alpha).abs();
            if width <= f64::EPSILON * lo.alpha.abs().max(hi.alpha.abs()) {
                break;
            }
            let alpha = trial_step(&lo, &hi);
            let cur = ev.eval(alpha)?;
            if !armijo(&cur) || cur.f >= lo.f {
                hi = cur;
            } else {
                if curvature(&cur) {
                    return Ok(LsOutcome::Accepted {
                        alpha: cur.alpha,
                        f: cur.f,
                        last: true,
                    });
                }
                if cur.d * (hi.alpha - lo.alpha) >= 0.0 {
                    hi = lo;
                }
                lo = cur;
            }
        }
        Ok(fallback(&lo, ev.last_alpha))
    }
}

/// Evaluates `φ`, counting calls and mapping non-finite results to `(+∞, NaN)`.
struct Evaluator<'p, P> {
    phi: &'p mut P,
    evals: usize,
    last_alpha: f64,
}

impl<P> Evaluator<'_, P>
where
    P: FnMut(f64) -> Result<(f64, f64), OptimError>,
{
    fn eval(&mut self, alpha: f64) -> Result<Point, OptimError> {
        self.evals += 1;
        self.last_alpha = alpha;
        let (f, d) = (self.phi)(alpha)?;
        Ok(if f.is_finite() && d.is_finite() {
            Point { alpha, f, d }
        } else {
            Point {
                alpha,
                f: f64::INFINITY,
                d: f64::NAN,
            }
        })
    }
}

/// The best sufficient-decrease point if it is a real step, else failure.
fn fallback(lo: &Point, last_alpha: f64) -> LsOutcome {
    if lo.alpha > 0.0 {
        LsOutcome::Accepted {
            alpha: lo.alpha,
            f: lo.f,
            last: lo.alpha == last_alpha,
        }
    } else {
        LsOutcome::Failed
    }
}

/// A trial step inside the bracket `[lo, hi]`: the minimiser of the cubic through both
/// points and slopes (N&W eq. 3.59) if it lies well inside, else the minimiser of the
/// quadratic through `lo`'s value and slope and `hi`'s value, else the midpoint. Points with
/// non-finite values always give the midpoint.
fn trial_step(lo: &Point, hi: &Point) -> f64 {
    let (a, b) = (lo.alpha, hi.alpha);
    let mid = 0.5 * (a + b);
    let (left, right) = if a < b { (a, b) } else { (b, a) };
    let width = right - left;
    if !hi.f.is_finite() {
        return mid;
    }
    let inside = |t: f64, margin: f64| {
        t.is_finite() && t >= left + margin * width && t <= right - margin * width
    };
    if hi.d.is_finite() {
        let d1 = lo.d + hi.d - 3.0 * (lo.f - hi.f) / (a - b);
        let rad = d1 * d1 - lo.d * hi.d;
        if rad >= 0.0 {
            let d2 = (b - a).signum() * rad.sqrt();
            let t = b - (b - a) * (hi.d + d2 - d1) / (hi.d - lo.d + 2.0 * d2);
            if inside(t, 0.1) {
                return t;
            }
        }
    }
    let h = b - a;
    let denom = 2.0 * (hi.f - lo.f - lo.d * h);
    let t = a - lo.d * h * h / denom;
    if denom > 0.0 && inside(t, 0.1) {
        return t;
    }
    mid
}

#[cfg(test)]
mod tests {
    use super::*;

    /// φ(α) = (α − 2)², from α = 0: the exact minimiser α = 2 satisfies strong Wolfe.
    #[test]
    fn quadratic_line() {
        let ls = StrongWolfe::default();
        let phi = |a: f64| Ok(((a - 2.0) * (a - 2.0), 2.0 * (a - 2.0)));
        let out = ls.search(phi, 4.0, -4.0, 1.0).ok();
        match out {
            Some(LsOutcome::Accepted { alpha, f, .. }) => {
                assert!(f <= 4.0 + 1e-4 * alpha * -4.0);
                assert!((2.0 * (alpha - 2.0)).abs() <= 0.9 * 4.0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// φ is infinite beyond α = 0.01: the search backtracks into the finite region.
    #[test]
    fn backtracks_from_non_finite() {
        let ls = StrongWolfe::default();
        let phi = |a: f64| {
            if a > 0.01 {
                Ok((f64::NAN, f64::NAN))
            } else {
                Ok((1.0 - a, -1.0))
            }
        };
        match ls.search(phi, 1.0, -1.0, 1.0).ok() {
            Some(LsOutcome::Accepted { alpha, f, .. }) => {
                assert!(alpha > 0.0 && alpha <= 0.01);
                assert!(f < 1.0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Nothing finite anywhere but at 0: the search fails cleanly.
    #[test]
    fn fails_when_everything_blows_up() {
        let ls = StrongWolfe::default().with_max_evals(10).ok();
        let ls = ls.unwrap_or_default();
        let phi = |_a: f64| Ok((f64::INFINITY, 0.0));
        assert_eq!(ls.search(phi, 1.0, -1.0, 1.0).ok(), Some(LsOutcome::Failed));
    }
}
