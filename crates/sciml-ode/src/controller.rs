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
    /// `log2` of the last accepted step's error (floored at 1e-4).
    log2_err_old: R,
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
                log2_err_old: R::c(1e-4_f64.log2()),
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
            log2_err_old: R::c(1e-4_f64.log2()),
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
        // err^β₁ and err_old^β₂ through one base-2 logarithm each (err_old's is kept) and one
        // power of two, in fast approximations: a step-size factor needs a few digits, not
        // libm's 16, and these sit on the solve's critical path (the next step waits for `h`).
        let l = R::c(fast_log2(err.max(R::c(1e-300)).to_f64_lossy()));
        if err <= R::one() {
            // γ / (err^β₁ / err_old^β₂) = γ · 2^(β₂ log2 err_old − β₁ log2 err): no division.
            let q = R::c(fast_exp2(
                (st.b2 * st.log2_err_old - st.b1 * l).to_f64_lossy(),
            ));
            let lo = self.qmin_accepted.unwrap_or(self.qmin);
            let ratio = (self.gamma * q).max(lo).min(self.qmax);
            st.log2_err_old = l.max(R::c(1e-4_f64.log2()));
            (true, h * ratio)
        } else {
            let q = R::c(fast_exp2((-st.b1 * l).to_f64_lossy()));
            let ratio = (self.gamma * q).max(self.qmin).min(R::one());
            (false, h * ratio)
        }
    }
}

/// `log2(x)` to about 1e-9 absolute, for positive normal `x`: the exponent from the bits, and
/// `log2(m)` for the mantissa reduced to `m ∈ [√2/2, √2]` from the series `2 atanh(z) / ln 2`,
/// `|z| = |m − 1|/(m + 1) ≤ 0.172`, to `z⁹` (remainder `2 z¹¹ / (11 ln 2) ≈ 1e-9`), evaluated by
/// Estrin's scheme (a shorter dependency chain than Horner's).
#[inline]
fn fast_log2(x: f64) -> f64 {
    const L: f64 = std::f64::consts::LOG2_E;
    let bits = x.to_bits();
    let mut exp = (((bits >> 52) & 0x7ff) as i64 - 1023) as f64;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        exp += 1.0;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let z4 = z2 * z2;
    let a = 2.0 * L + z2 * (2.0 / 3.0 * L);
    let b = 2.0 / 5.0 * L + z2 * (2.0 / 7.0 * L);
    z * (a + z4 * (b + z4 * (2.0 / 9.0 * L))) + exp
}

/// `2^x` to about 3e-10 relative (clamped to |x| ≤ 1000): `2^k · 2^r` with `k` the nearest
/// integer and `|r| ≤ 1/2`, and the degree-8 Taylor polynomial of `2^r = e^(r ln 2)` (remainder
/// `(ln 2 / 2)⁹ / 9! ≈ 2e-10`), evaluated by Estrin's scheme.
#[inline]
fn fast_exp2(x: f64) -> f64 {
    // (ln 2)^j / j!, j = 0..=8.
    const C: [f64; 9] = [
        1.0,
        std::f64::consts::LN_2,
        0.240_226_506_959_100_7,
        0.055_504_108_664_821_576,
        0.009_618_129_107_628_477,
        0.001_333_355_814_642_844_1,
        0.000_154_035_303_933_816_06,
        1.525_273_380_405_983_8e-5,
        1.321_548_679_014_430_5e-6,
    ];
    // Adding and subtracting 1.5·2^52 rounds to the nearest integer (ties to even) for
    // |x| < 2^51, without a libm call or a branch.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-1000.0, 1000.0);
    let k = (x + ROUND) - ROUND;
    let r = x - k;
    let r2 = r * r;
    let r4 = r2 * r2;
    let p03 = (C[0] + C[1] * r) + (C[2] + C[3] * r) * r2;
    let p47 = (C[4] + C[5] * r) + (C[6] + C[7] * r) * r2;
    let p = p03 + (p47 + C[8] * r4) * r4;
    // 2^k from its exponent bits (normal for |k| ≤ 1000).
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log2_and_exp2_are_accurate_enough_for_step_control() {
        // Against libm's log2 and exp2 over the range the controller meets (errors from 1e-300
        // up; exponents of a step ratio within [2^-1000, 2^1000]), including mantissas near
        // 1 and 2 and exact powers of two.
        let mut x = 1e-300_f64;
        while x < 1e300 {
            for v in [
                x,
                x * 1.999_999,
                x * 1.000_001,
                x * std::f64::consts::SQRT_2 * 1.000_001,
            ] {
                let want = v.log2();
                assert!((fast_log2(v) - want).abs() <= 2e-9, "log2 {v}");
            }
            x *= 3.7;
        }
        assert_eq!(fast_log2(1.0), 0.0);
        assert_eq!(fast_log2(0.25), -2.0);
        let mut x = -1000.0_f64;
        while x <= 1000.0 {
            for v in [x, x.round() + 0.5, x.round() - 0.5] {
                let v = v.clamp(-1000.0, 1000.0);
                let rel = fast_exp2(v) / v.exp2() - 1.0;
                assert!(rel.abs() < 3e-10, "exp2 {v}: {rel}");
            }
            x += 0.0137;
        }
        assert_eq!(fast_exp2(0.0), 1.0);
        assert_eq!(fast_exp2(-3.0), 0.125);
    }
}
