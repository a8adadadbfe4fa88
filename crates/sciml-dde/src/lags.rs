//! Lags: validation, and the derivative discontinuities that constant lags propagate.

use sciml_core::{Re, Real, State, Zero};
use std::sync::Arc;

/// A state-dependent lag `τ(u, p, t)`; it must stay positive during the solve. Shared, since
/// the events that locate its discontinuities evaluate it too.
pub type LagFn<V, P> = Arc<dyn Fn(&V, &P, Re<V>) -> Re<V> + Send + Sync>;

/// The most discontinuity points tracked as tstops (many lags and a long span can produce
/// combinatorially many; beyond this the earliest are kept).
pub const MAX_TRACKED_DISCONTINUITIES: usize = 100_000;

/// The index and value of the first lag that is not finite and positive.
pub(crate) fn first_invalid<R: Real>(lags: &[R]) -> Option<(usize, R)> {
    lags.iter()
        .enumerate()
        .find(|(_, x)| !(x.is_finite() && **x > R::zero()))
        .map(|(i, x)| (i, *x))
}

/// The points `t0 + Σ kᵢτᵢ` with `1 ≤ Σ kᵢ ≤ depth` inside `(t0, t1)`, sorted, with points
/// closer than rounding merged. A discontinuity of order `k` at `ξ` gives one of order `k + 1`
/// at `ξ + τᵢ` (the right-hand side reads `u` at `ξ` when `t = ξ + τᵢ`); past the method's
/// order the solution is smooth enough for the method not to notice.
pub(crate) fn propagated<R: Real>(t0: R, t1: R, lags: &[R], depth: usize) -> Vec<R> {
    let mut all: Vec<R> = Vec::new();
    let mut level = vec![t0];
    for _ in 0..depth {
        let mut next = Vec::new();
        for &x in &level {
            for &tau in lags {
                let y = x + tau;
                if y < t1 {
                    next.push(y);
                }
            }
        }
        dedup_sorted(&mut next, t0, t1);
        if next.is_empty() || all.len() + next.len() > MAX_TRACKED_DISCONTINUITIES {
            break;
        }
        all.extend_from_slice(&next);
        level = next;
    }
    dedup_sorted(&mut all, t0, t1);
    all
}

/// Sorts and merges points within rounding of each other.
pub(crate) fn dedup_sorted<R: Real>(v: &mut Vec<R>, t0: R, t1: R) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let slack = R::c(100.0) * R::epsilon() * t0.abs().max(t1.abs()).max(R::one());
    v.dedup_by(|b, a| (*b - *a).abs() <= slack);
}

/// Checks every state-dependent lag at `(u, p, t)`: the first one that is not positive.
pub(crate) fn first_nonpositive<V: State, P>(
    lags: &[LagFn<V, P>],
    u: &V,
    p: &P,
    t: Re<V>,
) -> Option<(usize, Re<V>)> {
    lags.iter()
        .enumerate()
        .map(|(i, l)| (i, l(u, p, t)))
        .find(|(_, x)| !(x.is_finite() && *x > Re::<V>::zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_two_lags_up_to_depth_two() {
        // 0 + {0.7, 1} and their pairwise sums {1.4, 1.7, 2}; 2.1 and beyond need depth 3.
        let got: Vec<f64> = propagated(0.0, 10.0, &[1.0, 0.7], 2);
        let want = [0.7_f64, 1.0, 1.4, 1.7, 2.0];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
    }

    #[test]
    fn points_past_the_span_and_rounding_duplicates_are_dropped() {
        // 0.1 + 0.2 and 0.2 + 0.1 differ in the last bit or not at all: one point.
        let got: Vec<f64> = propagated(0.0, 0.35, &[0.1, 0.2], 3);
        assert_eq!(got.len(), 3, "{got:?}"); // 0.1, 0.2, 0.3
        assert!(got.iter().all(|x| *x < 0.35));
    }

    #[test]
    fn invalid_lags_are_found() {
        assert_eq!(first_invalid(&[1.0, 2.0]), None);
        assert_eq!(first_invalid(&[1.0, 0.0]).map(|x| x.0), Some(1));
        assert_eq!(first_invalid(&[f64::NAN]).map(|x| x.0), Some(0));
    }
}
