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
    // Rows of one common degree (every tableau's interpolant but a few Hermite rows) take the
    // fixed-length path; the Horner order is the same either way.
    let len = poly.first().map_or(0, Vec::len);
    if poly.iter().all(|p| p.len() == len) {
        rows_weights(len, poly.iter().map(Vec::as_slice), theta, h, w);
    } else {
        for (wj, pj) in w.iter_mut().zip(poly) {
            *wj = horner(pj, theta) * theta * h;
        }
    }
}

/// The polynomial weights of an interpolant as one row-major table, each row padded with zeros
/// at the high-degree end to a common length: evaluating them reads no pointer per row and runs
/// a Horner loop of fixed length. The weights are bitwise those of [`interp_weights`] (leading
/// zero coefficients keep Horner's sum at zero). For hot loops that evaluate one interpolant
/// many times (a solve's saves).
///
/// ```
/// use sciml_core::dense::{interp_weights, PolyTable};
/// let poly = vec![vec![1.0, -0.5], vec![0.0, 0.5, 0.25]];
/// let table = PolyTable::new(&poly);
/// let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
/// table.weights(0.3, 0.1, &mut a);
/// interp_weights(&poly, 0.3, 0.1, &mut b);
/// assert_eq!((table.rows(), a), (2, b));
/// ```
#[derive(Clone, Debug)]
pub struct PolyTable<R> {
    coefs: Vec<R>,
    rows: usize,
    len: usize,
}

impl<R: Real> PolyTable<R> {
    /// The table of `poly` (rows `[p_1, p_2, ...]` as [`interp_weights`] takes them).
    pub fn new(poly: &[Vec<R>]) -> Self {
        let len = poly.iter().map(Vec::len).max().unwrap_or(0);
        let mut coefs = vec![R::zero(); len * poly.len()];
        for (row, p) in coefs.chunks_exact_mut(len.max(1)).zip(poly) {
            row[..p.len()].copy_from_slice(p);
        }
        PolyTable {
            coefs,
            rows: poly.len(),
            len,
        }
    }
    /// The number of polynomials.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// `w_j = h P_j(θ)` for the first `w.len()` polynomials.
    #[inline]
    pub fn weights(&self, theta: R, h: R, w: &mut [R]) {
        rows_weights(
            self.len,
            self.coefs.chunks_exact(self.len.max(1)),
            theta,
            h,
            w,
        );
    }
}

/// `w_j = h P_j(θ)` for rows all of length `len`, dispatched once to a loop of fixed length.
#[inline(always)]
fn rows_weights<'a, R: Real>(
    len: usize,
    rows: impl Iterator<Item = &'a [R]>,
    theta: R,
    h: R,
    w: &mut [R],
) {
    match len {
        3 => fixed_rows_weights::<R, 3>(rows, theta, h, w),
        4 => fixed_rows_weights::<R, 4>(rows, theta, h, w),
        5 => fixed_rows_weights::<R, 5>(rows, theta, h, w),
        6 => fixed_rows_weights::<R, 6>(rows, theta, h, w),
        7 => fixed_rows_weights::<R, 7>(rows, theta, h, w),
        8 => fixed_rows_weights::<R, 8>(rows, theta, h, w),
        9 => fixed_rows_weights::<R, 9>(rows, theta, h, w),
        _ => {
            for (wj, row) in w.iter_mut().zip(rows) {
                *wj = horner(row, theta) * theta * h;
            }
        }
    }
}

#[inline(always)]
fn fixed_rows_weights<'a, R: Real, const L: usize>(
    rows: impl Iterator<Item = &'a [R]>,
    theta: R,
    h: R,
    w: &mut [R],
) {
    for (wj, row) in w.iter_mut().zip(rows) {
        let row = &row[..L];
        let mut acc = R::zero();
        for k in (0..L).rev() {
            acc = acc * theta + row[k];
        }
        *wj = acc * theta * h;
    }
}

/// Horner on `p_1 + θ(p_2 + ...)` (the caller multiplies by θ).
#[inline(always)]
fn horner<R: Real>(row: &[R], theta: R) -> R {
    let mut acc = R::zero();
    for &c in row.iter().rev() {
        acc = acc * theta + c;
    }
    acc
}

/// One step's worth of dense output, borrowed from a [`DenseOutput`].
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a, V: State> {
    /// Start of the step.
    pub t0: Re<V>,
    /// Step size of the step (signed).
    pub h: Re<V>,
    /// Where this segment stops being used (the step's end, or an event inside it).
    pub t_end: Re<V>,
    /// State at `t0`.
    pub y0: &'a V,
    /// The interpolation vectors.
    pub ks: &'a [V],
}

/// Where a step's vectors sit in the store.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct StepHead<R> {
    t0: R,
    h: R,
    t_end: R,
    /// Index of the step's `y0` in `vectors`; its interpolation vectors follow.
    start: usize,
    /// Number of interpolation vectors.
    len: usize,
}

/// Piecewise-polynomial dense output over the accepted steps of a solve.
///
/// The steps' vectors are kept one after the other in a single store, so recording a step
/// allocates nothing beyond the store's own growth (and the stored copies, for heap states).
///
/// ```
/// use sciml_core::DenseOutput;
/// // Linear interpolation: u(t0 + θh) = y0 + h θ k.
/// let mut d = DenseOutput::<Vec<f64>>::new(vec![vec![1.0]], 1);
/// d.push_step(0.0, 1.0, 1.0, &vec![1.0], &[vec![2.0]]);
/// d.push_step(1.0, 1.0, 2.0, &vec![3.0], &[vec![-1.0]]);
/// let mut u = vec![0.0];
/// d.evaluate_to(1.5, &mut u).unwrap();
/// assert_eq!(u, vec![2.5]);
/// assert_eq!(d.segments().len(), 2);
/// assert_eq!(d.segments().last().unwrap().y0, &vec![3.0]);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>"))]
pub struct DenseOutput<V: State> {
    poly: Vec<Vec<Re<V>>>,
    order: u8,
    /// The stored steps; those before `first` were dropped (`drop_before`) and await
    /// compaction.
    heads: Vec<StepHead<Re<V>>>,
    vectors: Vec<V>,
    #[serde(default)]
    first: usize,
    /// Vectors of compacted-away steps, reused by later pushes (`clone_from` keeps a heap
    /// state's allocation), so a solve that drops its old history allocates nothing per step
    /// once the store has reached its size.
    #[serde(skip)]
    spare: Vec<V>,
}

impl<V: State> DenseOutput<V> {
    /// An empty dense output for an interpolant with weights `poly` of the given order.
    pub fn new(poly: Vec<Vec<Re<V>>>, order: u8) -> Self {
        DenseOutput {
            poly,
            order,
            heads: Vec::new(),
            vectors: Vec::new(),
            first: 0,
            spare: Vec::new(),
        }
    }
    /// Order of the interpolant.
    pub fn order(&self) -> u8 {
        self.order
    }
    /// Appends the step `(t0, h)` from `y0` with interpolation vectors `ks`, used up to `t_end`
    /// (steps must be pushed in order of integration).
    pub fn push_step(&mut self, t0: Re<V>, h: Re<V>, t_end: Re<V>, y0: &V, ks: &[V]) {
        self.heads.push(StepHead {
            t0,
            h,
            t_end,
            start: self.vectors.len(),
            len: ks.len(),
        });
        self.stash(y0);
        for k in ks {
            self.stash(k);
        }
    }
    /// Appends a copy of `v`, in a spare vector's storage when there is one.
    fn stash(&mut self, v: &V) {
        let copy = match self.spare.pop() {
            Some(mut s) => {
                s.clone_from(v);
                s
            }
            None => v.clone(),
        };
        self.vectors.push(copy);
    }
    /// The steps kept.
    fn kept(&self) -> &[StepHead<Re<V>>] {
        &self.heads[self.first..]
    }
    /// Number of stored steps.
    pub fn len(&self) -> usize {
        self.kept().len()
    }
    /// Whether no step is stored.
    pub fn is_empty(&self) -> bool {
        self.kept().is_empty()
    }
    /// Stored step `i`, if there is one.
    pub fn segment(&self, i: usize) -> Option<Segment<'_, V>> {
        self.kept().get(i).map(|h| self.view(h))
    }
    /// The stored steps in order.
    pub fn segments(
        &self,
    ) -> impl ExactSizeIterator<Item = Segment<'_, V>> + DoubleEndedIterator + '_ {
        self.kept().iter().map(|h| self.view(h))
    }
    fn view(&self, h: &StepHead<Re<V>>) -> Segment<'_, V> {
        Segment {
            t0: h.t0,
            h: h.h,
            t_end: h.t_end,
            y0: &self.vectors[h.start],
            ks: &self.vectors[h.start + 1..h.start + 1 + h.len],
        }
    }
    /// Drops segments beyond time `t` (in the direction of integration) and clips the last one.
    pub fn truncate_after(&mut self, t: Re<V>) {
        let Some(first) = self.kept().first() else {
            return;
        };
        let dir = first.h.signum();
        // Steps are stored in order, so those starting before `t` are a prefix.
        let keep = self.first
            + self
                .kept()
                .partition_point(|s| (s.t0 - t) * dir < Re::<V>::zero());
        self.heads.truncate(keep);
        let used = self.heads.last().map_or(0, |h| h.start + 1 + h.len);
        self.vectors.truncate(used);
        if let Some(last) = self.heads[self.first..].last_mut() {
            if (last.t_end - t) * dir > Re::<V>::zero() {
                last.t_end = t;
            }
        }
    }
    /// Drops the steps that end before `t` (in the direction of integration), keeping the one
    /// that covers `t`: what a solve whose right-hand side reads only a bounded distance into
    /// the past (a delay equation with bounded lags) keeps to bound its memory. Returns how
    /// many were dropped. The store is compacted once the dropped steps outnumber the kept
    /// ones, so dropping costs amortised constant time per step.
    ///
    /// ```
    /// use sciml_core::DenseOutput;
    /// let mut d = DenseOutput::<Vec<f64>>::new(vec![vec![1.0]], 1);
    /// for k in 0..4 {
    ///     let t0 = f64::from(k);
    ///     d.push_step(t0, 1.0, t0 + 1.0, &vec![t0], &[vec![1.0]]);
    /// }
    /// assert_eq!(d.drop_before(2.5), 2);
    /// assert_eq!(d.range(), Some((2.0, 4.0)));
    /// let mut out = vec![0.0];
    /// d.evaluate_to(2.5, &mut out).unwrap();
    /// assert_eq!(out[0], 2.5);
    /// assert!(d.evaluate_to(1.5, &mut out).is_err());
    /// ```
    pub fn drop_before(&mut self, t: Re<V>) -> usize {
        let Some(first) = self.kept().first() else {
            return 0;
        };
        let dir = first.h.signum();
        let k = self
            .kept()
            .partition_point(|s| (s.t_end - t) * dir < Re::<V>::zero());
        self.first += k;
        if self.first > self.heads.len() - self.first {
            let start = self
                .heads
                .get(self.first)
                .map_or(self.vectors.len(), |h| h.start);
            self.heads.drain(..self.first);
            // No more than the store held before compaction, so memory stays bounded.
            self.spare.extend(self.vectors.drain(..start));
            for h in self.heads.iter_mut() {
                h.start -= start;
            }
            self.first = 0;
        }
        k
    }
    /// The covered range `(start, end)`, if any step is stored.
    pub fn range(&self) -> Option<(Re<V>, Re<V>)> {
        Some((self.kept().first()?.t0, self.kept().last()?.t_end))
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
        let kept = self.kept();
        let idx = kept
            .partition_point(|s| (s.t_end - t) * dir < Re::<V>::zero())
            .min(kept.len() - 1);
        let seg = self.view(&kept[idx]);
        let theta = if seg.h == Re::<V>::zero() {
            Re::<V>::zero()
        } else {
            (t - seg.t0) / seg.h
        };
        let m = seg.ks.len().min(self.poly.len()).min(MAX_LINCOMB);
        let mut w = [Re::<V>::zero(); MAX_LINCOMB];
        interp_weights(&self.poly[..m], theta, seg.h, &mut w[..m]);
        let mut refs: [&V; MAX_LINCOMB] = [seg.y0; MAX_LINCOMB];
        for (r, k) in refs.iter_mut().zip(&seg.ks[..m]) {
            *r = k;
        }
        out.lincomb(seg.y0, &w[..m], &refs[..m]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linear pieces of u(t) = t² sampled at the integers: y0 = k², k = 2k + 1 on [k, k + 1].
    fn parabola_pieces(n: usize) -> DenseOutput<Vec<f64>> {
        let mut d = DenseOutput::new(vec![vec![1.0]], 1);
        for k in 0..n {
            let t0 = k as f64;
            d.push_step(t0, 1.0, t0 + 1.0, &vec![t0 * t0], &[vec![2.0 * t0 + 1.0]]);
        }
        d
    }

    #[test]
    fn dropping_old_steps_step_by_step_keeps_the_rest_exact() {
        let mut d = parabola_pieces(200);
        let mut out = vec![0.0];
        for k in 0..190 {
            let t = k as f64 + 0.5;
            d.drop_before(t);
            // The step covering t and everything after it stay, whatever compaction did.
            assert_eq!(d.range(), Some((k as f64, 200.0)));
            assert_eq!(d.len(), 200 - k);
            for probe in [t, t + 3.25, 199.5] {
                d.evaluate_to(probe, &mut out).expect("kept");
                let (lo, hi) = (probe.floor(), probe.floor() + 1.0);
                let exact = lo * lo + (probe - lo) * (hi * hi - lo * lo);
                assert!(
                    (out[0] - exact).abs() < 1e-9,
                    "{probe}: {} vs {exact}",
                    out[0]
                );
            }
            assert!(d.evaluate_to(t - 1.0, &mut out).is_err());
        }
        // Compaction keeps the store near the kept size.
        assert!(d.vectors.len() <= 2 * 2 * d.len(), "{}", d.vectors.len());
    }

    /// Steps pushed after a compaction reuse the dropped steps' allocations, and the store
    /// then holds bitwise the same steps as one that never dropped anything.
    #[test]
    fn pushes_after_compaction_reuse_dropped_vectors() {
        let mut d = parabola_pieces(8);
        d.drop_before(6.5);
        let spare: Vec<*const f64> = d.spare.iter().map(|v| v.as_ptr()).collect();
        assert_eq!(
            spare.len(),
            2 * 6,
            "six steps of two vectors were compacted away"
        );
        let full = parabola_pieces(12);
        for k in 8..12 {
            let s = full.segment(k).expect("pushed");
            d.push_step(s.t0, s.h, s.t_end, s.y0, s.ks);
        }
        assert_eq!(d.spare.len(), 2 * 6 - 2 * 4);
        for (k, seg) in d.segments().enumerate() {
            let want = full.segment(6 + k).expect("same step");
            assert_eq!((seg.t0, seg.y0, seg.ks), (want.t0, want.y0, want.ks));
            if k >= 2 {
                assert!(spare.contains(&seg.y0.as_ptr()), "step {k} allocated anew");
            }
        }
    }

    #[test]
    fn truncating_after_dropping_keeps_the_covering_step() {
        let mut d = parabola_pieces(10);
        d.drop_before(3.5);
        d.truncate_after(6.5);
        assert_eq!(d.range(), Some((3.0, 6.5)));
        let mut out = vec![0.0];
        d.evaluate_to(6.25, &mut out).expect("kept");
        assert!((out[0] - (36.0 + 0.25 * 13.0)).abs() < 1e-12);
        assert_eq!(
            d.segments().map(|s| s.t0).collect::<Vec<_>>(),
            vec![3.0, 4.0, 5.0, 6.0]
        );
    }
}
