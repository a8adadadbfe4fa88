//! Dense output: a solution that can be evaluated at any time in its span.
//!
//! Every interpolant the library uses (a method's free continuous extension, or cubic Hermite) has
//! the form `u(t0 + θh) = u0 + h Σ_j P_j(θ) k_j` with polynomial weights `P_j` and stored vectors
//! `k_j` (stages and `f(t1, u1)`), so one representation serves every method.

use crate::error::Error;
use crate::scalar::{Real, Zero};
use crate::state::Re;
use crate::state::{State, MAX_LINCOMB};
use serde::{Deserialize, Serialize};

/// Writes `w_j = h P_j(θ)` for the polynomial weights `poly[j] = [p_1, p_2, ...]`
/// (`P_j(θ) = Σ_m p_m θ^m`, starting at `θ¹`).
#[inline]
pub fn interp_weights<R: Real>(poly: &[Vec<R>], theta: R, h: R, w: &mut [R]) {
    // Rows of one common degree (every tableau's interpolant but a few Hermite rows) run
    // through a loop of fixed length, unrolled; the Horner order is the same either way.
    if let Some(first) = poly.first() {
        let len = first.len();
        if poly.iter().all(|p| p.len() == len) {
            match len {
                3 => return horner_rows::<R, 3>(poly, theta, h, w),
                4 => return horner_rows::<R, 4>(poly, theta, h, w),
                5 => return horner_rows::<R, 5>(poly, theta, h, w),
                _ => {}
            }
        }
    }
    for (wj, pj) in w.iter_mut().zip(poly) {
        // Horner on θ(p_1 + θ(p_2 + ...)).
        let mut acc = R::zero();
        for &c in pj.iter().rev() {
            acc = acc * theta + c;
        }
        *wj = acc * theta * h;
    }
}

#[inline(always)]
fn horner_rows<R: Real, const L: usize>(poly: &[Vec<R>], theta: R, h: R, w: &mut [R]) {
    for (wj, pj) in w.iter_mut().zip(poly) {
        let pj = &pj[..L];
        let mut acc = R::zero();
        for m in (0..L).rev() {
            acc = acc * theta + pj[m];
        }
        *wj = acc * theta * h;
    }
}

/// One step's worth of dense output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>"))]
pub struct Segment<V: State> {
    /// Start of the step.
    pub t0: Re<V>,
    /// Step size of the step (signed).
    pub h: Re<V>,
    /// Where this segment stops being used (the step's end, or an event inside it).
    pub t_end: Re<V>,
    /// State at `t0`.
    pub y0: V,
    /// The interpolation vectors.
    pub ks: Vec<V>,
}

/// Piecewise-polynomial dense output over the accepted steps of a solve.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>"))]
pub struct DenseOutput<V: State> {
    poly: Vec<Vec<Re<V>>>,
    order: u8,
    segments: Vec<Segment<V>>,
}

impl<V: State> DenseOutput<V> {
    /// An empty dense output for an interpolant with weights `poly` of the given order.
    pub fn new(poly: Vec<Vec<Re<V>>>, order: u8) -> Self {
        DenseOutput {
            poly,
            order,
            segments: Vec::new(),
        }
    }
    /// Order of the interpolant.
    pub fn order(&self) -> u8 {
        self.order
    }
    /// Appends one step (steps must be pushed in order of integration).
    pub fn push(&mut self, seg: Segment<V>) {
        self.segments.push(seg);
    }
    /// The stored steps.
    pub fn segments(&self) -> &[Segment<V>] {
        &self.segments
    }
    /// Drops segments beyond time `t` (in the direction of integration) and clips the last one.
    pub fn truncate_after(&mut self, t: Re<V>) {
        let Some(first) = self.segments.first() else {
            return;
        };
        let dir = first.h.signum();
        self.segments.retain(|s| (s.t0 - t) * dir < Re::<V>::zero());
        if let Some(last) = self.segments.last_mut() {
            if (last.t_end - t) * dir > Re::<V>::zero() {
                last.t_end = t;
            }
        }
    }
    /// The covered range `(start, end)`, if any step is stored.
    pub fn range(&self) -> Option<(Re<V>, Re<V>)> {
        Some((self.segments.first()?.t0, self.segments.last()?.t_end))
    }

    /// Evaluates the interpolant at `t` into `out`.
    pub fn evaluate_to(&self, t: Re<V>, out: &mut V) -> Result<(), Error> {
        let (start, end) = self.range().ok_or(Error::NoDenseOutput)?;
        let dir = (end - start).signum();
        if !t.is_finite()
            || (t - start) * dir < Re::<V>::zero()
            || (t - end) * dir > Re::<V>::zero()
        {
            return Err(Error::OutOfRange {
                t: t.to_f64_lossy(),
                start: start.to_f64_lossy(),
                end: end.to_f64_lossy(),
            });
        }
        // First segment whose end reaches t.
        let idx = self
            .segments
            .partition_point(|s| (s.t_end - t) * dir < Re::<V>::zero())
            .min(self.segments.len() - 1);
        let seg = &self.segments[idx];
        let theta = if seg.h == Re::<V>::zero() {
            Re::<V>::zero()
        } else {
            (t - seg.t0) / seg.h
        };
        let m = seg.ks.len().min(self.poly.len()).min(MAX_LINCOMB);
        let mut w = [Re::<V>::zero(); MAX_LINCOMB];
        interp_weights(&self.poly[..m], theta, seg.h, &mut w[..m]);
        let mut refs: [&V; MAX_LINCOMB] = [&seg.y0; MAX_LINCOMB];
        for (r, k) in refs.iter_mut().zip(&seg.ks[..m]) {
            *r = k;
        }
        out.lincomb(&seg.y0, &w[..m], &refs[..m]);
        Ok(())
    }
}
