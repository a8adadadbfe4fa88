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
    /// Drops the steps that end before `t` (in the direction of integration), keeping the one
    /// that covers `t`: what a solve whose right-hand side reads only a bounded distance into
    /// the past (a delay equation with bounded lags) keeps to bound its memory. Returns how
    /// many were dropped.
    ///
    /// ```
    /// use sciml_core::{DenseOutput, Segment};
    /// let mut d = DenseOutput::<Vec<f64>>::new(vec![vec![1.0]], 1);
    /// for k in 0..4 {
    ///     let t0 = f64::from(k);
    ///     d.push(Segment { t0, h: 1.0, t_end: t0 + 1.0, y0: vec![t0], ks: vec![vec![1.0]] });
    /// }
    /// assert_eq!(d.drop_before(2.5), 2);
    /// assert_eq!(d.range(), Some((2.0, 4.0)));
    /// let mut out = vec![0.0];
    /// d.evaluate_to(2.5, &mut out).unwrap();
    /// assert_eq!(out[0], 2.5);
    /// assert!(d.evaluate_to(1.5, &mut out).is_err());
    /// ```
    pub fn drop_before(&mut self, t: Re<V>) -> usize {
        let Some(first) = self.segments.first() else {
            return 0;
        };
        let dir = first.h.signum();
        let k = self
            .segments
            .partition_point(|s| (s.t_end - t) * dir < Re::<V>::zero());
        self.segments.drain(..k);
        k
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
