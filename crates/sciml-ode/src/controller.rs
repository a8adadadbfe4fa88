//! Step-size control. The controller is never differentiated (DESIGN decision 7).

use sciml_core::{Error, Real};
use serde::{Deserialize, Serialize};

/// Proportional-integral step-size controller with SciML's (OrdinaryDiffEq) defaults.
///
/// With the error norm `E` of the current step and `E_old` of the last accepted one, the new step
/// is `h · clamp(γ / (E^β₁ / E_old^β₂), qmin, qmax)`; a rejected step shrinks by
/// `max(qmin, γ / E^β₁)`. Defaults are the stabilised controller of Hairer's DOPRI codes
/// (Hairer, Nørsett & Wanner, *Solving ODEs I*, II.4 and the DOPRI5 code's `beta = 0.04`):
/// `β₂ = 0.04`, `β₁ = 1/q − 0.75 β₂` with `q` the order of the local error estimate (5 for
/// Tsit5 and DP5, where this is OrdinaryDiffEq's DP5 default too), `γ = 0.9`, `qmin = 0.2`,
/// `qmax = 10`. Setting `beta2 = Some(0.0)` gives the classic integral ("I") controller, and
/// `qmin_accepted = Some(1.0)` with `beta1 = Some(1/q)` reproduces diffrax's default
/// `PIDController`.
///
/// ```
/// use sciml_ode::PiController;
/// let mut c = PiController::<f64>::default().for_order(5);
/// let (accept, h) = c.decide(0.1, 0.01);
/// assert!(accept && h > 0.1);
/// let (accept, h) = c.decide(0.1, 4.0);
/// assert!(!accept && h < 0.1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PiController<R> {
    /// Exponent of the current error (`None`: `1/q − 0.75 β₂`).
    pub beta1: Option<R>,
    /// Exponent of the previous error (`None`: `0.04`).
    pub beta2: Option<R>,
    /// Safety factor.
    pub gamma: R,
    /// Smallest step ratio.
    pub qmin: R,
    /// Largest step ratio.
    pub qmax: R,
    /// Smallest step ratio after an accepted step (`None`: `qmin`; diffrax uses 1, never
    /// shrinking after an accepted step).
    pub qmin_accepted: Option<R>,
    #[serde(skip)]
    state: ControllerState<R>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ControllerState<R> {
    b1: R,
    b2: R,
    ln_err_old: R,
}

impl<R: Real> Default for PiController<R> {
    fn default() -> Self {
        PiController {
            beta1: None,
            beta2: None,
            gamma: R::c(0.9),
            qmin: R::c(0.2),
            qmax: R::c(10.0),
            qmin_accepted: None,
            state: ControllerState {
                b1: R::zero(),
                b2: R::zero(),
                ln_err_old: R::c(1e-4).ln(),
            },
        }
    }
}

impl<R: Real> PiController<R> {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| {
            Err(Error::InvalidOption {
                option: "controller",
                reason,
            })
        };
        if !(self.gamma > R::zero() && self.gamma <= R::one()) {
            return bad(format!("gamma = {} must lie in (0, 1]", self.gamma));
        }
        if !(self.qmin > R::zero()
            && self.qmin < R::one()
            && self.qmax > R::one()
            && self.qmax.is_finite())
        {
            return bad(format!(
                "need 0 < qmin < 1 < qmax < ∞, got qmin = {}, qmax = {}",
                self.qmin, self.qmax
            ));
        }
        for b in [self.beta1, self.beta2].into_iter().flatten() {
            if !(b >= R::zero() && b.is_finite()) {
                return bad(format!("beta = {b} must be finite and non-negative"));
            }
        }
        Ok(())
    }

    /// Resolves the default exponents for an error estimate whose local error is of order `q`
    /// (embedded order + 1) and resets the memory.
    pub fn for_order(mut self, q: u8) -> Self {
        let q = R::from_usize(usize::from(q.max(1)));
        let b2 = self.beta2.unwrap_or(R::c(0.04));
        self.state = ControllerState {
            b1: self.beta1.unwrap_or(R::one() / q - R::c(0.75) * b2),
            b2,
            ln_err_old: R::c(1e-4).ln(),
        };
        self
    }

    /// Whether a step with scaled error `err` is accepted, as [`PiController::decide`] judges
    /// it: a finite error of at most 1.
    #[inline]
    pub(crate) fn accepts(err: R) -> bool {
        err.is_finite() && err <= R::one()
    }

    /// Given the step `h` just tried and its error norm, says whether to accept it and proposes
    /// the next step size (signed like `h`).
    pub fn decide(&mut self, h: R, err: R) -> (bool, R) {
        let st = &mut self.state;
        if !err.is_finite() {
            return (false, h * self.qmin);
        }
        // err^β₁ and err_old^β₂ through one logarithm each (err_old's is kept), in a fast
        // approximation: a step-size factor needs a few digits, not libm's 16.
        let ln_err = R::c(fast_ln(err.max(R::c(1e-300)).to_f64_lossy()));
        if err <= R::one() {
            let q = R::c(fast_exp(
                (st.b1 * ln_err - st.b2 * st.ln_err_old).to_f64_lossy(),
            ));
            let lo = self.qmin_accepted.unwrap_or(self.qmin);
            let ratio = (self.gamma / q).max(lo).min(self.qmax);
            st.ln_err_old = ln_err.max(R::c(1e-4).ln());
            (true, h * ratio)
        } else {
            let q11 = R::c(fast_exp((st.b1 * ln_err).to_f64_lossy()));
            let ratio = (self.gamma / q11).max(self.qmin).min(R::one());
            (false, h * ratio)
        }
    }
}

/// Natural logarithm to about 1e-7 relative, for positive normal `x`: the exponent from the bits,
/// `ln(m)` for the mantissa `m ∈ [1, 2)` from the series of `atanh((m - 1)/(m + 1))`.
fn fast_ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let series =
        z * (2.0 + z2 * (2.0 / 3.0 + z2 * (2.0 / 5.0 + z2 * (2.0 / 7.0 + z2 * (2.0 / 9.0)))));
    series + exp as f64 * std::f64::consts::LN_2
}

/// `e^x` to about 1e-10 relative for |x| <= 600: `2^k · e^r` with `|r| <= ln2/2` and a degree-8
/// Taylor polynomial for `e^r`.
fn fast_exp(x: f64) -> f64 {
    fast_exp_rounding(x, round_half_away)
}

/// [`fast_exp`] with the rounding of `x / ln 2` given (the test compares `round_half_away`
/// with `f64::round`).
#[inline]
fn fast_exp_rounding(x: f64, round: impl Fn(f64) -> f64) -> f64 {
    let x = x.clamp(-600.0, 600.0);
    let k = round(x / std::f64::consts::LN_2);
    let r = x - k * std::f64::consts::LN_2;
    let mut p = 1.0 / 40320.0;
    for c in [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// `y.round()` for `|y| < 2^62`, without the libm call `round` is on baseline x86-64 (no
/// SSE4.1): truncate, then step away from zero when the (exact) remainder is at least one half.
/// NaN gives 0, which `fast_exp` maps to the same NaN result as `round`'s NaN.
#[inline]
fn round_half_away(y: f64) -> f64 {
    let t = y as i64 as f64;
    let d = y - t;
    if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_matches_round() {
        for v in [
            0.5,
            -0.5,
            0.49999999999999994,
            -0.49999999999999994,
            2.5,
            -2.5,
            1e15 + 0.5,
        ] {
            assert_eq!(round_half_away(v), v.round(), "{v}");
        }
        // fast_exp's results are bitwise those it gave with `round` (step sizes are compared
        // bitwise against stored references elsewhere).
        let reference = |x: f64| fast_exp_rounding(x, f64::round);
        let mut x = -700.0_f64;
        while x <= 700.0 {
            let k = (x / std::f64::consts::LN_2).round();
            for v in [
                x,
                (k + 0.5) * std::f64::consts::LN_2,
                (k - 0.5) * std::f64::consts::LN_2,
            ] {
                assert_eq!(fast_exp(v).to_bits(), reference(v).to_bits(), "{v}");
            }
            x += 0.0137;
        }
    }

    #[test]
    fn fast_ln_and_exp_are_accurate_enough_for_step_control() {
        for &x in &[1e-300, 1e-12, 1e-4, 0.3, 1.0, 1.7, 2.0, 10.0, 1e5, 1e300] {
            let l: f64 = x;
            assert!(
                (fast_ln(x) - l.ln()).abs() <= 1e-7 * (1.0 + l.ln().abs()),
                "ln {x}"
            );
        }
        for &x in &[-600.0, -20.0, -1.0, -0.1, 0.0, 0.2, 1.0, 3.3, 50.0, 600.0] {
            let e: f64 = x;
            assert!((fast_exp(x) / e.exp() - 1.0).abs() < 1e-10, "exp {x}");
        }
    }
}
