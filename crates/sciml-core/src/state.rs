//! State containers the solvers are generic over.
//!
//! The engine needs two hot operations from a state: [`State::lincomb`] (`y + Σ cⱼ kⱼ`, which is
//! every Runge–Kutta stage, update, error estimate and interpolant) and the scaled error sums behind
//! [`State::err_norm`]. Implementations: `Vec<S>`, [`Batch<S>`] (features × batch, one step size for
//! the whole batch) and [`Pair<A, B>`] (the adjoint's `(λ, μ)`, forward sensitivities' `(u, S)`).

use crate::error::Error;
use crate::scalar::{Real, Scalar, Zero};
use crate::tolerance::Tolerance;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// The real type behind a state's scalars.
pub type Re<V> = <<V as State>::S as Scalar>::Re;

/// The most vectors one [`State::lincomb`] call may combine (Vern9 with its lazy stages fits).
pub const MAX_LINCOMB: usize = 32;

/// A vector the solvers can step.
pub trait State: Clone + Debug + Send + Sync + 'static {
    /// The scalar of every component.
    type S: Scalar;
    /// Number of scalar components.
    fn len(&self) -> usize;
    /// Whether there are no components.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A zero state of the same shape.
    fn zeros_like(&self) -> Self;
    /// Copies `x` into `self` (same shape).
    fn copy_from(&mut self, x: &Self);
    /// Sets every component to zero.
    fn fill_zero(&mut self);
    /// `self = y + Σ c[j]·ks[j]` in one pass, allocation-free. `c.len() == ks.len() <= MAX_LINCOMB`.
    fn lincomb(&mut self, y: &Self, c: &[Re<Self>], ks: &[&Self]);
    /// `self += a·x` in place (rounded as `lincomb(self, [a], [x])` would be).
    ///
    /// ```
    /// use sciml_core::State;
    /// let mut y = vec![1.0, 2.0];
    /// y.axpy(0.5, &vec![4.0, -2.0]);
    /// assert_eq!(y, vec![3.0, 1.0]);
    /// ```
    fn axpy(&mut self, a: Re<Self>, x: &Self);
    /// `self *= a` in place.
    ///
    /// ```
    /// use sciml_core::State;
    /// let mut y = vec![1.0, -2.0];
    /// y.scale(-3.0);
    /// assert_eq!(y, vec![-3.0, 6.0]);
    /// ```
    fn scale(&mut self, a: Re<Self>);
    /// `Σ (e_i / (atol_i + rtol_i max(|y0_i|, |y1_i|)))²` over the components `i < limit`, the
    /// tolerance of component `i` taken at index `offset + i`; returns the sum and the count.
    fn scaled_sq_sum(
        e: &Self,
        y0: &Self,
        y1: &Self,
        tol: &Tolerance<Re<Self>>,
        offset: usize,
        limit: usize,
    ) -> (Re<Self>, usize);
    /// Weighted RMS norm of the value parts (see [`Tolerance`]); a seminorm when
    /// `tol.norm_len` is set.
    fn err_norm(e: &Self, y0: &Self, y1: &Self, tol: &Tolerance<Re<Self>>) -> Re<Self> {
        let limit = tol.norm_len.unwrap_or(usize::MAX);
        let (s, n) = Self::scaled_sq_sum(e, y0, y1, tol, 0, limit);
        if n == 0 {
            return Re::<Self>::zero();
        }
        (s / Re::<Self>::from_usize(n)).sqrt()
    }
    /// Index of the first component with a NaN or infinite part, if any.
    fn first_non_finite(&self) -> Option<usize>;
    /// Whether every component (value and derivative parts) is finite.
    fn all_finite(&self) -> bool {
        self.first_non_finite().is_none()
    }
    /// The components as one slice in host memory, where the state stores them so (`Vec`,
    /// arrays, [`Batch`]); `None` (the default) otherwise ([`Pair`], a device vector). A mass
    /// matrix and a Krylov preconditioner read states through it.
    fn host_slice(&self) -> Option<&[Self::S]> {
        None
    }
    /// [`State::host_slice`], mutably.
    fn host_slice_mut(&mut self) -> Option<&mut [Self::S]> {
        None
    }
}

/// States with a real inner product: what GMRES needs (`sciml_core::linalg::StateGmres`, the
/// Jacobian-free Krylov strategy of the stiff solvers). Every host slice state of reals has one
/// (the components' sum of products, in order), and a [`Pair`] of them the sum of its parts'.
///
/// ```
/// use sciml_core::{InnerProduct, Pair};
/// assert_eq!(vec![1.0, 2.0].dot(&vec![3.0, -1.0]), 1.0);
/// let p = Pair(vec![1.0], [2.0, 2.0]);
/// assert_eq!(p.dot(&p), 9.0);
/// ```
pub trait InnerProduct: State {
    /// `Σ xᵢ·yᵢ`.
    fn dot(&self, other: &Self) -> Re<Self>;
    /// `√(x·x)`.
    fn norm2(&self) -> Re<Self> {
        self.dot(self).sqrt()
    }
}

impl<R: Real, V: SliceState<S = R>> InnerProduct for V {
    fn dot(&self, other: &Self) -> R {
        self.as_slice()
            .iter()
            .zip(other.as_slice())
            .fold(R::zero(), |s, (x, y)| s + *x * *y)
    }
}

impl<A: InnerProduct, B: InnerProduct<S = A::S>> InnerProduct for Pair<A, B> {
    fn dot(&self, other: &Self) -> Re<Self> {
        self.0.dot(&other.0) + self.1.dot(&other.1)
    }
}

/// Host states whose components can be read and written as a slice.
pub trait SliceState: State {
    /// The components.
    fn as_slice(&self) -> &[Self::S];
    /// The components, mutably.
    fn as_mut_slice(&mut self) -> &mut [Self::S];
}

/// `out = y + Σ c[j] ks[j]` over slices. Small arities are unrolled so the inner loop is
/// branch-free and vectorisable; longer combinations go four vectors per pass over `out`.
#[inline(always)]
fn lincomb_slice<S: Scalar, K: AsRef<[S]>>(out: &mut [S], y: &[S], c: &[S::Re], ks: &[&K]) {
    // Tiny states (what a 2-state ODE spends its time on) are combined inline at the call site,
    // the components in registers while the vectors stream past, each checked once. The sums run
    // in the same order as the general loops, so the result is bitwise the same.
    match y.len() {
        1 => lincomb_tiny::<S, K, 1>(out, y, c, ks),
        2 => lincomb_tiny::<S, K, 2>(out, y, c, ks),
        3 => lincomb_tiny::<S, K, 3>(out, y, c, ks),
        4 => lincomb_tiny::<S, K, 4>(out, y, c, ks),
        _ => lincomb_general(out, y, c, ks),
    }
}

#[inline(never)]
fn lincomb_general<S: Scalar, K: AsRef<[S]>>(out: &mut [S], y: &[S], c: &[S::Re], ks: &[&K]) {
    let n = y.len();
    let out = &mut out[..n];
    let k = |j: usize| &ks[j].as_ref()[..n];
    if (5..=8).contains(&n) {
        for (i, o) in out.iter_mut().enumerate() {
            let mut a = y[i];
            for (kj, cj) in ks.iter().zip(c) {
                a += kj.as_ref()[i] * *cj;
            }
            *o = a;
        }
        return;
    }
    match ks.len() {
        0 => out.copy_from_slice(y),
        1 => {
            let (k0, c0) = (k(0), c[0]);
            for i in 0..n {
                out[i] = y[i] + k0[i] * c0;
            }
        }
        2 => {
            let (k0, k1) = (k(0), k(1));
            for i in 0..n {
                out[i] = y[i] + k0[i] * c[0] + k1[i] * c[1];
            }
        }
        3 => {
            let (k0, k1, k2) = (k(0), k(1), k(2));
            for i in 0..n {
                out[i] = y[i] + k0[i] * c[0] + k1[i] * c[1] + k2[i] * c[2];
            }
        }
        m => {
            let (k0, k1, k2, k3) = (k(0), k(1), k(2), k(3));
            let (c0, c1, c2, c3) = (c[0], c[1], c[2], c[3]);
            for i in 0..n {
                out[i] = y[i] + k0[i] * c0 + k1[i] * c1 + k2[i] * c2 + k3[i] * c3;
            }
            let mut j = 4;
            while j + 4 <= m {
                let (k0, k1, k2, k3) = (k(j), k(j + 1), k(j + 2), k(j + 3));
                let (c0, c1, c2, c3) = (c[j], c[j + 1], c[j + 2], c[j + 3]);
                for i in 0..n {
                    out[i] += k0[i] * c0 + k1[i] * c1 + k2[i] * c2 + k3[i] * c3;
                }
                j += 4;
            }
            while j < m {
                let (k0, c0) = (k(j), c[j]);
                for i in 0..n {
                    out[i] += k0[i] * c0;
                }
                j += 1;
            }
        }
    }
}

/// `y += a·x` over slices, each component rounded as `y + x·a` (as `lincomb` rounds it).
#[inline]
fn axpy_slice<S: Scalar>(y: &mut [S], a: S::Re, x: &[S]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += *xi * a;
    }
}

/// [`lincomb_slice`] for exactly `N` components, accumulated in a fixed-size array.
#[inline(always)]
fn lincomb_tiny<S: Scalar, K: AsRef<[S]>, const N: usize>(
    out: &mut [S],
    y: &[S],
    c: &[S::Re],
    ks: &[&K],
) {
    let mut acc = [S::zero(); N];
    acc.copy_from_slice(&y[..N]);
    for (kj, cj) in ks.iter().zip(c) {
        let k = &kj.as_ref()[..N];
        for i in 0..N {
            acc[i] += k[i] * *cj;
        }
    }
    out[..N].copy_from_slice(&acc);
}

#[inline]
fn scaled_sq_sum_slice<S: Scalar>(
    e: &[S],
    y0: &[S],
    y1: &[S],
    tol: &Tolerance<S::Re>,
    offset: usize,
    limit: usize,
) -> (S::Re, usize) {
    let n = e.len().min(limit);
    let mut s = S::Re::zero();
    if let Some((rtol, atol)) = tol.scalars() {
        for i in 0..n {
            let sc = atol + rtol * y0[i].re().abs().max(y1[i].re().abs());
            let r = e[i].re() / sc;
            s += r * r;
        }
    } else {
        for i in 0..n {
            let sc = tol.atol_at(offset + i)
                + tol.rtol_at(offset + i) * y0[i].re().abs().max(y1[i].re().abs());
            let r = e[i].re() / sc;
            s += r * r;
        }
    }
    (s, n)
}

#[inline]
fn gather<'a, V: State, T: ?Sized + 'a>(
    ks: &[&'a V],
    get: impl Fn(&'a V) -> &'a T,
    default: &'a T,
) -> [&'a T; MAX_LINCOMB] {
    let mut out = [default; MAX_LINCOMB];
    for (o, k) in out.iter_mut().zip(ks) {
        *o = get(k);
    }
    out
}

/// The [`State`] operations every slice-backed state (`Vec<S>`, `[S; N]`) shares: the fused
/// combination, the in-place updates, the scaled error sums and the finiteness scan, all over
/// the components as one slice.
macro_rules! slice_state_ops {
    () => {
        #[inline(always)]
        fn lincomb(&mut self, y: &Self, c: &[S::Re], ks: &[&Self]) {
            lincomb_slice(self, y, c, ks);
        }
        #[inline]
        fn axpy(&mut self, a: S::Re, x: &Self) {
            axpy_slice(self, a, x);
        }
        #[inline]
        fn scale(&mut self, a: S::Re) {
            self.iter_mut().for_each(|v| *v = *v * a);
        }
        #[inline]
        fn scaled_sq_sum(
            e: &Self,
            y0: &Self,
            y1: &Self,
            tol: &Tolerance<S::Re>,
            offset: usize,
            limit: usize,
        ) -> (S::Re, usize) {
            scaled_sq_sum_slice(e, y0, y1, tol, offset, limit)
        }
        fn first_non_finite(&self) -> Option<usize> {
            self.iter().position(|x| !x.is_finite_all())
        }
        fn host_slice(&self) -> Option<&[S]> {
            Some(&self[..])
        }
        fn host_slice_mut(&mut self) -> Option<&mut [S]> {
            Some(&mut self[..])
        }
    };
}

impl<S: Scalar> State for Vec<S> {
    type S = S;
    #[inline]
    fn len(&self) -> usize {
        <[S]>::len(self)
    }
    fn zeros_like(&self) -> Self {
        vec![S::zero(); self.len()]
    }
    #[inline]
    fn copy_from(&mut self, x: &Self) {
        self.copy_from_slice(x)
    }
    fn fill_zero(&mut self) {
        self.iter_mut().for_each(|x| *x = S::zero());
    }
    slice_state_ops!();
}

impl<S: Scalar> SliceState for Vec<S> {
    fn as_slice(&self) -> &[S] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [S] {
        self
    }
}

/// A fixed-size state on the stack: for small systems (a 2-state Lotka–Volterra, a 3-state
/// Lorenz) the solver then allocates nothing per step or per save, and every component loop has
/// a length known at compile time.
///
/// ```
/// use sciml_core::State;
/// let mut y = [1.0, 2.0];
/// y.lincomb(&[1.0, 1.0], &[0.5, 2.0], &[&[2.0, 0.0], &[0.0, 1.0]]);
/// assert_eq!(y, [2.0, 3.0]);
/// ```
impl<S: Scalar, const N: usize> State for [S; N] {
    type S = S;
    #[inline]
    fn len(&self) -> usize {
        N
    }
    #[inline]
    fn zeros_like(&self) -> Self {
        [S::zero(); N]
    }
    #[inline]
    fn copy_from(&mut self, x: &Self) {
        *self = *x;
    }
    #[inline]
    fn fill_zero(&mut self) {
        *self = [S::zero(); N];
    }
    slice_state_ops!();
}

impl<S: Scalar, const N: usize> SliceState for [S; N] {
    fn as_slice(&self) -> &[S] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [S] {
        self
    }
}

/// A batch of states stored as a `features × batch` column-major matrix: sample `j` is the
/// contiguous column `data[j*features .. (j+1)*features]`.
///
/// The whole batch shares one step size (as torchdiffeq and diffrax batch); use an ensemble for
/// independent step control per sample.
///
/// ```
/// use sciml_core::{Batch, State};
/// let b = Batch::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(b.column(1), &[3.0, 4.0]);
/// assert_eq!(b.len(), 6);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch<S> {
    data: Vec<S>,
    features: usize,
    batch: usize,
}

impl<S: Scalar> Batch<S> {
    /// A batch from column-major data; `data.len()` must be `features * batch`.
    pub fn new(features: usize, batch: usize, data: Vec<S>) -> Result<Self, Error> {
        if data.len() != features * batch {
            return Err(Error::DimensionMismatch {
                what: format!("batch data ({features} features × {batch} samples)"),
                expected: features * batch,
                got: data.len(),
            });
        }
        Ok(Batch {
            data,
            features,
            batch,
        })
    }
    /// A zero batch.
    pub fn zeros(features: usize, batch: usize) -> Self {
        Batch {
            data: vec![S::zero(); features * batch],
            features,
            batch,
        }
    }
    /// Features per sample.
    pub fn features(&self) -> usize {
        self.features
    }
    /// Number of samples.
    pub fn batch_size(&self) -> usize {
        self.batch
    }
    /// Sample `j`.
    pub fn column(&self, j: usize) -> &[S] {
        &self.data[j * self.features..(j + 1) * self.features]
    }
    /// Sample `j`, mutably.
    pub fn column_mut(&mut self, j: usize) -> &mut [S] {
        &mut self.data[j * self.features..(j + 1) * self.features]
    }
}

impl<S> AsRef<[S]> for Batch<S> {
    fn as_ref(&self) -> &[S] {
        &self.data
    }
}

impl<S: Scalar> State for Batch<S> {
    type S = S;
    fn len(&self) -> usize {
        self.data.len()
    }
    fn zeros_like(&self) -> Self {
        Batch::zeros(self.features, self.batch)
    }
    fn copy_from(&mut self, x: &Self) {
        self.data.copy_from_slice(&x.data)
    }
    fn fill_zero(&mut self) {
        self.data.fill_zero()
    }
    fn lincomb(&mut self, y: &Self, c: &[S::Re], ks: &[&Self]) {
        lincomb_slice(&mut self.data, &y.data, c, ks);
    }
    fn axpy(&mut self, a: S::Re, x: &Self) {
        axpy_slice(&mut self.data, a, &x.data);
    }
    fn scale(&mut self, a: S::Re) {
        self.data.iter_mut().for_each(|v| *v = *v * a);
    }
    fn scaled_sq_sum(
        e: &Self,
        y0: &Self,
        y1: &Self,
        tol: &Tolerance<S::Re>,
        offset: usize,
        limit: usize,
    ) -> (S::Re, usize) {
        // Per-component tolerances refer to features; they repeat for every sample.
        if tol.scalars().is_some() {
            return scaled_sq_sum_slice(&e.data, &y0.data, &y1.data, tol, offset, limit);
        }
        let f = e.features;
        let mut s = S::Re::zero();
        let mut n = 0;
        for j in 0..e.batch {
            let start = j * f;
            if start >= limit {
                break;
            }
            let r = start..start + f;
            let (sj, nj) = scaled_sq_sum_slice(
                &e.data[r.clone()],
                &y0.data[r.clone()],
                &y1.data[r],
                tol,
                offset,
                limit - start,
            );
            s += sj;
            n += nj;
        }
        (s, n)
    }
    fn first_non_finite(&self) -> Option<usize> {
        self.data.first_non_finite()
    }
    fn host_slice(&self) -> Option<&[S]> {
        Some(&self.data)
    }
    fn host_slice_mut(&mut self) -> Option<&mut [S]> {
        Some(&mut self.data)
    }
}

impl<S: Scalar> SliceState for Batch<S> {
    fn as_slice(&self) -> &[S] {
        &self.data
    }
    fn as_mut_slice(&mut self) -> &mut [S] {
        &mut self.data
    }
}

/// Two states stepped together: the continuous adjoint's `(λ, μ)`, forward sensitivities'
/// `(u, S)`, an ODE with a quadrature.
///
/// Its error norm covers both parts, the second with tolerance indices continuing after the
/// first; `Tolerance::norm_len = Some(a.len())` turns it into the seminorm over the first part
/// that continuous adjoints use for step control.
///
/// ```
/// use sciml_core::{Pair, State, Tolerance};
/// let y = Pair(vec![1.0, 2.0], vec![3.0]);
/// let mut z = y.zeros_like();
/// z.lincomb(&y, &[2.0], &[&y]);
/// assert_eq!(z.1, vec![9.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pair<A, B>(pub A, pub B);

impl<A: State, B: State<S = A::S>> State for Pair<A, B> {
    type S = A::S;
    fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }
    fn zeros_like(&self) -> Self {
        Pair(self.0.zeros_like(), self.1.zeros_like())
    }
    fn copy_from(&mut self, x: &Self) {
        self.0.copy_from(&x.0);
        self.1.copy_from(&x.1);
    }
    fn fill_zero(&mut self) {
        self.0.fill_zero();
        self.1.fill_zero();
    }
    fn lincomb(&mut self, y: &Self, c: &[Re<Self>], ks: &[&Self]) {
        let a = gather(ks, |k: &Pair<A, B>| &k.0, &y.0);
        let b = gather(ks, |k: &Pair<A, B>| &k.1, &y.1);
        self.0.lincomb(&y.0, c, &a[..ks.len()]);
        self.1.lincomb(&y.1, c, &b[..ks.len()]);
    }
    fn axpy(&mut self, a: Re<Self>, x: &Self) {
        self.0.axpy(a, &x.0);
        self.1.axpy(a, &x.1);
    }
    fn scale(&mut self, a: Re<Self>) {
        self.0.scale(a);
        self.1.scale(a);
    }
    fn scaled_sq_sum(
        e: &Self,
        y0: &Self,
        y1: &Self,
        tol: &Tolerance<Re<Self>>,
        offset: usize,
        limit: usize,
    ) -> (Re<Self>, usize) {
        let (sa, na) = A::scaled_sq_sum(&e.0, &y0.0, &y1.0, tol, offset, limit);
        let la = e.0.len();
        if limit <= la {
            return (sa, na);
        }
        let (sb, nb) = B::scaled_sq_sum(&e.1, &y0.1, &y1.1, tol, offset + la, limit - la);
        (sa + sb, na + nb)
    }
    fn first_non_finite(&self) -> Option<usize> {
        self.0
            .first_non_finite()
            .or_else(|| self.1.first_non_finite().map(|i| i + self.0.len()))
    }
}

/// Checks a state the user gave for length and finiteness before any work is done: the
/// [`State`] twin of [`check_finite_slice`]. `what` names it in the error (formatted only then).
///
/// ```
/// use sciml_core::check_state;
/// assert!(check_state("u0", &vec![1.0, 2.0], 2).is_ok());
/// let e = check_state(format_args!("cotangent {}", 3), &vec![1.0, f64::NAN], 2).unwrap_err();
/// assert!(e.to_string().starts_with("cotangent 3 contains a NaN"));
/// ```
pub fn check_state<V: State>(
    what: impl std::fmt::Display,
    v: &V,
    expected_len: usize,
) -> Result<(), Error> {
    if v.len() != expected_len {
        return Err(Error::DimensionMismatch {
            what: what.to_string(),
            expected: expected_len,
            got: v.len(),
        });
    }
    if let Some(index) = v.first_non_finite() {
        return Err(Error::NonFinite {
            what: what.to_string(),
            index,
        });
    }
    Ok(())
}

/// Checks a user-given slice for length and finiteness before any work is done.
pub fn check_finite_slice<S: Scalar>(
    what: &str,
    x: &[S],
    expected_len: Option<usize>,
) -> Result<(), Error> {
    if let Some(n) = expected_len {
        if x.len() != n {
            return Err(Error::DimensionMismatch {
                what: what.into(),
                expected: n,
                got: x.len(),
            });
        }
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite_all()) {
        return Err(Error::NonFinite {
            what: what.into(),
            index: i,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dual64;

    #[test]
    fn lincomb_all_arities_match_naive_sum() {
        for m in 0..12 {
            let n = 5;
            let y: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
            let ks: Vec<Vec<f64>> = (0..m)
                .map(|j| (0..n).map(|i| (i * 7 + j * 3) as f64 * 0.1 - 1.0).collect())
                .collect();
            let c: Vec<f64> = (0..m).map(|j| 0.3 * j as f64 - 0.7).collect();
            let refs: Vec<&Vec<f64>> = ks.iter().collect();
            let mut out = vec![0.0; n];
            out.lincomb(&y, &c, &refs);
            for i in 0..n {
                let want = y[i] + (0..m).map(|j| c[j] * ks[j][i]).sum::<f64>();
                assert!((out[i] - want).abs() < 1e-13, "m = {m}");
            }
        }
    }

    #[test]
    fn err_norm_is_weighted_rms() {
        let tol = Tolerance::new(1e-3, 1e-6).unwrap();
        let e = vec![1e-6, 2e-3];
        let y0 = vec![0.0, 1.0];
        let y1 = vec![0.0, -2.0];
        let n = <Vec<f64>>::err_norm(&e, &y0, &y1, &tol);
        let want = ((1.0_f64.powi(2) + (2e-3 / (1e-6 + 2e-3)).powi(2)) / 2.0).sqrt();
        assert!((n - want).abs() < 1e-14);
    }

    #[test]
    fn pair_norm_covers_both_parts_and_seminorm_the_first() {
        let tol = Tolerance::new(0.0, 1.0).unwrap();
        let e = Pair(vec![3.0], vec![4.0]);
        let z = e.zeros_like();
        let full: f64 = Pair::err_norm(&e, &z, &z, &tol);
        assert!((full - (25.0_f64 / 2.0).sqrt()).abs() < 1e-14);
        let semi: f64 = Pair::err_norm(&e, &z, &z, &tol.clone().with_norm_len(Some(1)));
        assert!((semi - 3.0).abs() < 1e-14);
    }

    #[test]
    fn batch_per_feature_tolerances_repeat_per_sample() {
        let tol = Tolerance::per_component(vec![0.0], vec![1.0, 2.0]).unwrap();
        let e = Batch::new(2, 2, vec![1.0, 2.0, 1.0, 2.0]).unwrap();
        let z = e.zeros_like();
        let n: f64 = Batch::err_norm(&e, &z, &z, &tol);
        assert!((n - 1.0).abs() < 1e-14);
    }

    #[test]
    fn norms_see_only_value_parts() {
        let tol = Tolerance::new(0.0, 1.0).unwrap();
        let e = vec![Dual64::new(2.0, 1e9)];
        let z = e.zeros_like();
        assert_eq!(<Vec<Dual64>>::err_norm(&e, &z, &z, &tol), 2.0);
    }
}
