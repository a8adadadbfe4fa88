//! Local polynomial regression at each sample time: a weighted least-squares line for the
//! state, a weighted least-squares parabola for its derivative (Fan and Gijbels, *Local
//! Polynomial Modelling and Its Applications*, 1996, §3.1).

use super::{CollocationError, Kernel};

/// DiffEqFlux's default bandwidth for `n` samples, on times scaled to `[0, 1]`:
/// `h = n^(−1/5) · n^(−3/35) · (log n)^(−1/16)`.
///
/// ```
/// use diffeqflux::collocation::default_bandwidth;
/// let h = default_bandwidth(100);
/// let expected = 100f64.powf(-0.2) * 100f64.powf(-3.0 / 35.0) * 100f64.ln().powf(-1.0 / 16.0);
/// assert_eq!(h, expected);
/// ```
pub fn default_bandwidth(n: usize) -> f64 {
    let n = n as f64;
    n.powf(-1.0 / 5.0) * n.powf(-3.0 / 35.0) * n.ln().powf(-1.0 / 16.0)
}

/// Smoothed states and estimated derivatives at the sample times.
///
/// ```
/// use diffeqflux::collocation::{collocate_data, Kernel};
/// // u(t) = t² sampled on 0, 0.1, ..., 1: a local parabola reproduces u' = 2t exactly.
/// let t: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
/// let data: Vec<Vec<f64>> = t.iter().map(|s| vec![s * s]).collect();
/// let c = collocate_data(&data, &t, Kernel::Epanechnikov, Some(0.35))?;
/// for (s, du) in t.iter().zip(&c.du) {
///     assert!((du[0] - 2.0 * s).abs() < 1e-10);
/// }
/// # Ok::<(), diffeqflux::collocation::CollocationError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Collocation {
    /// The smoothed state at each sample time (local linear regression).
    pub u: Vec<Vec<f64>>,
    /// The estimated derivative `du/dt` at each sample time (slope of a local quadratic).
    pub du: Vec<Vec<f64>>,
    /// The bandwidth used, on times scaled to `[0, 1]`.
    pub bandwidth: f64,
}

/// Below this, a moment matrix's determinant relative to the product of its diagonal (moments
/// of `|w|`) counts as singular: the samples inside the bandwidth cannot determine the local
/// polynomial.
const SINGULAR: f64 = 1e-10;

/// DiffEqFlux's `collocate_data(data, tpoints, kernel, bandwidth)`: the smoothed states and the
/// derivative estimates at the sample times `t` (increasing, regular or not). `data[i]` is the
/// state at `t[i]`. The bandwidth `h` is relative to the span `t[n-1] − t[0]` (sample `j` weighs
/// `K((t_j − t_i) / (h · span))` in the fit at `t_i`); `None` picks [`default_bandwidth`].
///
/// # Errors
/// [`CollocationError`] for fewer than 3 samples, unequal or empty states, non-finite values,
/// times that do not increase, a bandwidth that is not positive, or a bandwidth so small that
/// some sample has too few neighbours for a local quadratic fit. Silverman's kernel is of
/// fourth order (its second moment vanishes), so with many samples inside its window the local
/// line's normal equations become singular, and the parabola's are ill-conditioned even at small
/// bandwidths: its smoothed states are good (DiffEqFlux's accuracy test), its derivatives poor.
pub fn collocate_data(
    data: &[Vec<f64>],
    t: &[f64],
    kernel: Kernel,
    bandwidth: Option<f64>,
) -> Result<Collocation, CollocationError> {
    check_samples(data, t)?;
    let n = t.len();
    let h = bandwidth.unwrap_or_else(|| default_bandwidth(n));
    if !(h.is_finite() && h > 0.0) {
        return Err(CollocationError::Bandwidth(h));
    }
    let scale = h * (t[n - 1] - t[0]);
    let dim = data[0].len();
    let mut u = Vec::with_capacity(n);
    let mut du = Vec::with_capacity(n);
    let mut r = vec![[0.0; 3]; dim];
    for &tc in t {
        // Samples outside a bounded kernel's support weigh nothing: skip them.
        let (lo, hi) = if kernel.bounded_support() {
            (
                t.partition_point(|&s| s < tc - scale),
                t.partition_point(|&s| s <= tc + scale),
            )
        } else {
            (0, n)
        };
        let mut m = [0.0; 5];
        // The same moments of |w|: the scale against which a determinant counts as zero
        // (Silverman's kernel takes negative values).
        let mut a = [0.0; 5];
        r.iter_mut().for_each(|ri| *ri = [0.0; 3]);
        for j in lo..hi {
            let x = (t[j] - tc) / scale;
            let w = kernel.value(x);
            if w == 0.0 {
                continue;
            }
            let powers = [w, w * x, w * x * x, w * x * x * x, w * x * x * x * x];
            for ((mk, ak), pk) in m.iter_mut().zip(&mut a).zip(powers) {
                *mk += pk;
                *ak += pk.abs();
            }
            for (ri, y) in r.iter_mut().zip(&data[j]) {
                ri[0] += powers[0] * y;
                ri[1] += powers[1] * y;
                ri[2] += powers[2] * y;
            }
        }
        let singular = || CollocationError::TooFewNeighbours {
            t: tc,
            bandwidth: h,
        };
        // Local line a + b x: the normal equations [m0 m1; m1 m2] (a, b) = (r0, r1).
        let det2 = m[0] * m[2] - m[1] * m[1];
        // Local parabola a + b x + c x²: [m0 m1 m2; m1 m2 m3; m2 m3 m4] (a, b, c) = (r0, r1, r2).
        let d3 = det3([m[0], m[1], m[2]], [m[1], m[2], m[3]], [m[2], m[3], m[4]]);
        // By the log-convexity of the moments of |w|, |det2| ≤ 2 a0 a2 and |det3| ≤ 6 a0 a2 a4.
        if !(det2.abs() > SINGULAR * a[0] * a[2] && d3.abs() > SINGULAR * a[0] * a[2] * a[4]) {
            return Err(singular());
        }
        u.push(
            r.iter()
                .map(|ri| (ri[0] * m[2] - m[1] * ri[1]) / det2)
                .collect(),
        );
        // Cramer's rule for b; the slope in x is the derivative times `scale`.
        du.push(
            r.iter()
                .map(|ri| {
                    det3(
                        [m[0], ri[0], m[2]],
                        [m[1], ri[1], m[3]],
                        [m[2], ri[2], m[4]],
                    ) / d3
                        / scale
                })
                .collect(),
        );
    }
    Ok(Collocation {
        u,
        du,
        bandwidth: h,
    })
}

/// The determinant of the 3×3 matrix with rows `a`, `b`, `c`.
fn det3(a: [f64; 3], b: [f64; 3], c: [f64; 3]) -> f64 {
    a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
        + a[2] * (b[0] * c[1] - b[1] * c[0])
}

fn check_samples(data: &[Vec<f64>], t: &[f64]) -> Result<(), CollocationError> {
    if t.len() < 3 {
        return Err(CollocationError::TooFewSamples(t.len()));
    }
    if data.len() != t.len() {
        return Err(CollocationError::Length {
            what: "data",
            expected: t.len(),
            found: data.len(),
        });
    }
    let dim = data[0].len();
    if dim == 0 {
        return Err(CollocationError::Length {
            what: "state 0 of data",
            expected: 1,
            found: 0,
        });
    }
    for (i, y) in data.iter().enumerate() {
        if y.len() != dim {
            return Err(CollocationError::StateLength {
                index: i,
                expected: dim,
                found: y.len(),
            });
        }
        if y.iter().any(|v| !v.is_finite()) {
            return Err(CollocationError::NonFinite {
                what: "data",
                index: i,
            });
        }
    }
    if let Some(i) = t.iter().position(|v| !v.is_finite()) {
        return Err(CollocationError::NonFinite {
            what: "t",
            index: i,
        });
    }
    if let Some(i) = t.windows(2).position(|w| w[1] <= w[0]) {
        return Err(CollocationError::NotIncreasing { index: i + 1 });
    }
    Ok(())
}
