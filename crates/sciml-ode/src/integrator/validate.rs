//! Validation of the options against the span and the method, once, when a solve starts: what
//! comes out are the step-size limits the loop works within.

use crate::method::MethodInfo;
use crate::options::SolveOptions;
use sciml_core::{Error, Real};

pub(crate) fn opt_err(option: &'static str, reason: String) -> Error {
    Error::InvalidOption { option, reason }
}

fn check_positive<R: Real>(option: &'static str, x: R) -> Result<(), Error> {
    if x.is_finite() && x > R::zero() {
        Ok(())
    } else {
        Err(opt_err(
            option,
            format!("is {x}; give a finite positive value"),
        ))
    }
}

/// The span and the step-size limits of one solve.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits<R> {
    pub t0: R,
    pub t1: R,
    /// `sign(t1 - t0)`.
    pub dir: R,
    /// `|t1 - t0|`.
    pub span: R,
    pub adaptive: bool,
    /// The fixed or first step size, as given.
    pub dt: Option<R>,
    pub dtmin: R,
    /// `dtmin` was not given: the floor is 16 ε max(|t|, ε·span) at the current `t`.
    pub dtmin_relative: bool,
    pub dtmax: R,
    pub maxiters: usize,
}

impl<R: Real> Limits<R> {
    /// Checks the span, the tolerances (for states of length `n`), the controller and the
    /// step-size options against `method`.
    pub fn new(
        opts: &SolveOptions<R>,
        (t0, t1): (R, R),
        n: usize,
        method: &impl MethodInfo,
    ) -> Result<Self, Error> {
        crate::problem::check_span(t0, t1)?;
        opts.tol.validate_len(n)?;
        opts.controller.validate()?;
        let dir = (t1 - t0).signum();
        let span = (t1 - t0).abs();
        let adaptive = opts.adaptive.unwrap_or(method.is_adaptive());
        if adaptive && !method.is_adaptive() {
            return Err(Error::Unsupported {
                method: method.name(),
                what: "adapt its step (it has no error estimate); set `adaptive: Some(false)` and give `dt`".into(),
            });
        }
        if let Some(dt) = opts.dt {
            // A size, not a signed step: the span gives the direction.
            check_positive("dt", dt)?;
        } else if !adaptive {
            let reason = if method.is_adaptive() {
                "fixed-step mode needs a step size; set `dt`".to_string()
            } else {
                format!(
                    "{} has no error estimate and takes fixed steps; set `dt`",
                    method.name()
                )
            };
            return Err(opt_err("dt", reason));
        }
        if opts.maxiters == 0 {
            return Err(opt_err("maxiters", "is 0; allow at least one step".into()));
        }
        let dtmax = match opts.dtmax {
            Some(x) => {
                check_positive("dtmax", x)?;
                x
            }
            None => span,
        };
        let dtmin = match opts.dtmin {
            Some(x) => {
                if !(x.is_finite() && x >= R::zero() && x <= dtmax) {
                    return Err(opt_err(
                        "dtmin",
                        format!("is {x}; need 0 <= dtmin <= dtmax"),
                    ));
                }
                x
            }
            // Relative to the current time (see `floor`): a span like Robertson's [0, 1e11]
            // needs steps far below ε·1e11 near t = 0.
            None => R::zero(),
        };
        Ok(Limits {
            t0,
            t1,
            dir,
            span,
            adaptive,
            dt: opts.dt,
            dtmin,
            dtmin_relative: opts.dtmin.is_none(),
            dtmax,
            maxiters: opts.maxiters,
        })
    }

    /// The smallest step allowed at time `t`.
    #[inline]
    pub fn floor(&self, t: R) -> R {
        if self.dtmin_relative {
            let eps = R::epsilon();
            R::c(16.0) * eps * t.abs().max(eps * self.span)
        } else {
            self.dtmin
        }
    }

    /// Whether `x` lies in the closed span.
    pub fn in_span(&self, x: R) -> bool {
        (x - self.t0) * self.dir >= R::zero() && (x - self.t1) * self.dir <= R::zero()
    }

    /// Checks that every time of an option (save times, tstops) is finite and in the span.
    pub fn check_times(&self, option: &'static str, ts: &[R]) -> Result<(), Error> {
        let (t0, t1) = (self.t0, self.t1);
        for (i, x) in ts.iter().enumerate() {
            if !x.is_finite() {
                return Err(opt_err(
                    option,
                    format!(
                        "time {x} (index {i}) is not finite; give times in the span ({t0}, {t1})"
                    ),
                ));
            }
            if !self.in_span(*x) {
                return Err(opt_err(
                    option,
                    format!("time {x} (index {i}) lies outside the span ({t0}, {t1})"),
                ));
            }
        }
        Ok(())
    }

    /// Sorts times in the direction of integration.
    pub fn sort_dir(&self, v: &mut [R]) {
        let dir = self.dir;
        // Lists usually come sorted; checking is cheaper than sorting.
        if v.windows(2).all(|w| (w[1] - w[0]) * dir >= R::zero()) {
            return;
        }
        v.sort_by(|a, b| {
            ((*a - *b) * dir)
                .partial_cmp(&R::zero())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }
}
