//! One-dimensional function bases for [`super::TensorLayer`]: values and derivatives of the
//! first `n` functions at a point.

use sciml_core::Scalar;
use serde::{Deserialize, Serialize};

/// A basis of `n` functions of one variable (Boltz's `Basis` module).
///
/// | basis | functions, `k = 0..n` |
/// |---|---|
/// | `Chebyshev(n)` | `T_k(x)`, `T_0 = 1`, `T_1 = x`, `T_{k+1} = 2x T_k − T_{k−1}` |
/// | `Legendre(n)` | `P_k(x)`, `(k+1) P_{k+1} = (2k+1) x P_k − k P_{k−1}` |
/// | `Polynomial(n)` | `x^k` |
/// | `Sin(n)` | `sin((k+1) x)` |
/// | `Cos(n)` | `cos((k+1) x)` |
/// | `Fourier(n)` | `1, sin x, cos x, sin 2x, cos 2x, …` (the first `n`) |
///
/// ```
/// use diffeqflux::nn::Basis;
/// let (mut v, mut d) = ([0.0; 4], [0.0; 4]);
/// Basis::Chebyshev(4).eval(0.5, &mut v, &mut d);
/// assert_eq!(v, [1.0, 0.5, -0.5, -1.0]); // T_3(x) = 4x³ − 3x
/// assert_eq!(d, [0.0, 1.0, 2.0, 0.0]);   // T_3'(x) = 12x² − 3
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    /// Chebyshev polynomials of the first kind `T_0 .. T_{n−1}`.
    Chebyshev(usize),
    /// `sin(x), sin(2x), …, sin(n x)`.
    Sin(usize),
    /// `cos(x), cos(2x), …, cos(n x)`.
    Cos(usize),
    /// `1, sin x, cos x, sin 2x, cos 2x, …` (`n` functions).
    Fourier(usize),
    /// Legendre polynomials `P_0 .. P_{n−1}`.
    Legendre(usize),
    /// Monomials `1, x, …, x^{n−1}`.
    Polynomial(usize),
}

impl Basis {
    /// Number of functions.
    pub fn len(&self) -> usize {
        match *self {
            Basis::Chebyshev(n)
            | Basis::Sin(n)
            | Basis::Cos(n)
            | Basis::Fourier(n)
            | Basis::Legendre(n)
            | Basis::Polynomial(n) => n,
        }
    }

    /// Whether the basis has no functions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the `n` values into `v` and their derivatives in `x` into `d` (each `len()` long).
    pub fn eval<S: Scalar>(&self, x: S, v: &mut [S], d: &mut [S]) {
        let n = self.len();
        let (v, d) = (&mut v[..n], &mut d[..n]);
        let (zero, one) = (S::cst(0.0), S::cst(1.0));
        match *self {
            Basis::Chebyshev(_) | Basis::Legendre(_) | Basis::Polynomial(_) => {
                if n == 0 {
                    return;
                }
                v[0] = one;
                d[0] = zero;
                if n > 1 {
                    v[1] = x;
                    d[1] = one;
                }
                for k in 1..n.saturating_sub(1) {
                    let kf = k as f64;
                    match self {
                        Basis::Chebyshev(_) => {
                            v[k + 1] = S::cst(2.0) * x * v[k] - v[k - 1];
                            d[k + 1] = S::cst(2.0) * v[k] + S::cst(2.0) * x * d[k] - d[k - 1];
                        }
                        Basis::Legendre(_) => {
                            v[k + 1] = (S::cst(2.0 * kf + 1.0) * x * v[k] - S::cst(kf) * v[k - 1])
                                * S::cst(1.0 / (kf + 1.0));
                            // P'_{k+1} = P'_{k−1} + (2k+1) P_k.
                            d[k + 1] = d[k - 1] + S::cst(2.0 * kf + 1.0) * v[k];
                        }
                        _ => {
                            v[k + 1] = v[k] * x;
                            d[k + 1] = S::cst(kf + 1.0) * v[k];
                        }
                    }
                }
            }
            Basis::Sin(_) | Basis::Cos(_) => {
                for k in 0..n {
                    let w = S::cst((k + 1) as f64);
                    let (s, c) = ((w * x).sin(), (w * x).cos());
                    if matches!(self, Basis::Sin(_)) {
                        v[k] = s;
                        d[k] = w * c;
                    } else {
                        v[k] = c;
                        d[k] = zero - w * s;
                    }
                }
            }
            Basis::Fourier(_) => {
                for k in 0..n {
                    // k = 0: 1; odd k: sin(((k+1)/2) x); even k > 0: cos((k/2) x).
                    let w = S::cst(k.div_ceil(2) as f64);
                    let (s, c) = ((w * x).sin(), (w * x).cos());
                    if k % 2 == 1 {
                        v[k] = s;
                        d[k] = w * c;
                    } else {
                        v[k] = c;
                        d[k] = zero - w * s;
                    }
                }
            }
        }
    }
}
