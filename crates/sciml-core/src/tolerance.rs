//! Error tolerances and the weighted RMS norm of Hairer and SciML.

use crate::error::Error;
use crate::scalar::Real;
use serde::{Deserialize, Serialize};

/// Relative and absolute tolerances, each a scalar or one value per component.
///
/// The local error estimate `e` of a step from `y0` to `y1` is accepted when
/// `sqrt(1/n Σ (e_i / (atol_i + rtol_i max(|y0_i|, |y1_i|)))²) <= 1` (Hairer, Nørsett & Wanner,
/// *Solving ODEs I*, II.4; the same norm as SciML's default). `norm_len = Some(k)` restricts the
/// norm to the first `k` components: the seminorm continuous adjoints use.
///
/// ```
/// use sciml_core::Tolerance;
/// let tol = Tolerance::new(1e-6, 1e-8).unwrap();
/// assert_eq!(tol.rtol_at(3), 1e-6);
/// assert!(Tolerance::new(-1.0, 1e-8).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance<R> {
    rtol: Vec<R>,
    atol: Vec<R>,
    /// Only the first `k` components enter the norm (a seminorm) when set.
    pub norm_len: Option<usize>,
}

impl<R: Real> Default for Tolerance<R> {
    /// SciML's defaults: `reltol = 1e-3`, `abstol = 1e-6`.
    fn default() -> Self {
        Tolerance {
            rtol: vec![R::c(1e-3)],
            atol: vec![R::c(1e-6)],
            norm_len: None,
        }
    }
}

fn check_tol<R: Real>(name: &'static str, v: &[R]) -> Result<(), Error> {
    if v.is_empty() {
        return Err(Error::InvalidOption {
            option: name,
            reason: "needs at least one value".into(),
        });
    }
    for (i, x) in v.iter().enumerate() {
        if !(x.is_finite() && *x >= R::zero()) {
            return Err(Error::InvalidOption {
                option: name,
                reason: format!("component {i} is {x}; tolerances must be finite and non-negative"),
            });
        }
    }
    Ok(())
}

impl<R: Real> Tolerance<R> {
    /// Scalar tolerances. Both must be finite and non-negative, and not both zero.
    pub fn new(rtol: R, atol: R) -> Result<Self, Error> {
        Self::per_component(vec![rtol], vec![atol])
    }

    /// Scalar tolerances, not checked yet: a solve checks them when it starts (through
    /// [`Tolerance::validate_len`]), so option builders can stay infallible.
    ///
    /// ```
    /// use sciml_core::Tolerance;
    /// let tol = Tolerance::scalar(-1.0, 1e-8);
    /// assert!(tol.validate_len(2).unwrap_err().to_string().contains("rtol"));
    /// ```
    pub fn scalar(rtol: R, atol: R) -> Self {
        Tolerance {
            rtol: vec![rtol],
            atol: vec![atol],
            norm_len: None,
        }
    }

    /// Per-component tolerances; a vector of length one applies to every component.
    pub fn per_component(rtol: Vec<R>, atol: Vec<R>) -> Result<Self, Error> {
        check_tol("rtol", &rtol)?;
        check_tol("atol", &atol)?;
        if rtol.len() == 1 && atol.len() == 1 && rtol[0] == R::zero() && atol[0] == R::zero() {
            return Err(Error::InvalidOption {
                option: "rtol/atol",
                reason: "both are zero; at least one must be positive".into(),
            });
        }
        Ok(Tolerance {
            rtol,
            atol,
            norm_len: None,
        })
    }

    /// Checks the values (finite, non-negative, not both zero) and that vector tolerances fit a
    /// state of `n` components.
    pub fn validate_len(&self, n: usize) -> Result<(), Error> {
        check_tol("rtol", &self.rtol)?;
        check_tol("atol", &self.atol)?;
        for (name, v) in [("rtol", &self.rtol), ("atol", &self.atol)] {
            if v.len() != 1 && v.len() != n {
                return Err(Error::DimensionMismatch {
                    what: name.into(),
                    expected: n,
                    got: v.len(),
                });
            }
        }
        for i in 0..n {
            if self.rtol_at(i) == R::zero() && self.atol_at(i) == R::zero() {
                return Err(Error::InvalidOption {
                    option: "rtol/atol",
                    reason: format!("both are zero for component {i}"),
                });
            }
        }
        Ok(())
    }

    /// Number of relative tolerances given (1: one for every component).
    pub fn rtol_len(&self) -> usize {
        self.rtol.len()
    }

    /// Number of absolute tolerances given (1: one for every component).
    pub fn atol_len(&self) -> usize {
        self.atol.len()
    }

    /// The relative tolerance of component `i`.
    #[inline]
    pub fn rtol_at(&self, i: usize) -> R {
        if self.rtol.len() == 1 {
            self.rtol[0]
        } else {
            self.rtol[i]
        }
    }

    /// The absolute tolerance of component `i`.
    #[inline]
    pub fn atol_at(&self, i: usize) -> R {
        if self.atol.len() == 1 {
            self.atol[0]
        } else {
            self.atol[i]
        }
    }

    /// `Some((rtol, atol))` when both are scalars (the fast path of the norm).
    #[inline]
    pub fn scalars(&self) -> Option<(R, R)> {
        (self.rtol.len() == 1 && self.atol.len() == 1).then(|| (self.rtol[0], self.atol[0]))
    }

    /// The same tolerances as a seminorm over the first `k` components.
    pub fn with_norm_len(mut self, k: Option<usize>) -> Self {
        self.norm_len = k;
        self
    }
}
