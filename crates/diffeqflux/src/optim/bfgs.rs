//! BFGS with a dense inverse-Hessian approximation.

use super::quasi_newton::{dot, run, Direction, Settings};
use super::{BoxError, Convergence, IterState, MinimiseReport, Minimiser, OptimError, StrongWolfe};
use serde::{Deserialize, Serialize};

/// BFGS (Broyden, Fletcher, Goldfarb, Shanno 1970) keeping the dense `n × n` inverse-Hessian
/// approximation `H` and updating it after each step (Nocedal & Wright 2006, eq. 6.17):
///
/// ```text
/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ,   ρ = 1 / (yᵀ s)
/// ```
///
/// computed as `H − ρ (s (Hy)ᵀ + (Hy) sᵀ) + (ρ² yᵀHy + ρ) s sᵀ` in `O(n²)`. Before the first
/// update `H` is set to `(yᵀs / yᵀy) I` (N&W eq. 6.20); pairs with `yᵀs ≤ ε‖s‖‖y‖` are
/// skipped. Line search, restarts and stopping are as for [`Lbfgs`](super::Lbfgs).
///
/// Memory: `n²` values, so BFGS suits up to a few thousand parameters; use L-BFGS beyond.
///
/// ```
/// use diffeqflux::optim::{Bfgs, Minimiser};
/// // A badly scaled quadratic: f = x₀² + 1000 x₁².
/// let r = Bfgs::new().minimise(&[1.0, 1.0], |x, g| {
///     g[0] = 2.0 * x[0];
///     g[1] = 2000.0 * x[1];
///     Ok(x[0] * x[0] + 1000.0 * x[1] * x[1])
/// })?;
/// assert!(r.params.iter().all(|v| v.abs() < 1e-10));
/// assert!(r.iterations < 20);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bfgs {
    convergence: Convergence,
    line_search: StrongWolfe,
}

impl Bfgs {
    /// BFGS with default convergence and line search.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Bfgs::new(), diffeqflux::optim::Bfgs::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the stopping rules.
    ///
    /// ```
    /// use diffeqflux::optim::{Bfgs, Convergence};
    /// let c = Convergence::default().with_grad_tol(1e-6)?;
    /// assert_eq!(Bfgs::new().with_convergence(c).convergence().grad_tol(), 1e-6);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_convergence(self, convergence: Convergence) -> Self {
        Bfgs {
            convergence,
            ..self
        }
    }

    /// Sets the line search.
    ///
    /// ```
    /// use diffeqflux::optim::{Bfgs, StrongWolfe};
    /// let ls = StrongWolfe::default().with_constants(1e-3, 0.5)?;
    /// assert_eq!(Bfgs::new().with_line_search(ls).line_search().constants(), (1e-3, 0.5));
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_line_search(self, line_search: StrongWolfe) -> Self {
        Bfgs {
            line_search,
            ..self
        }
    }

    /// The stopping rules.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Bfgs::new().convergence().max_iters(), 1000);
    /// ```
    pub fn convergence(&self) -> &Convergence {
        &self.convergence
    }

    /// The line search.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Bfgs::new().line_search().max_evals(), 40);
    /// ```
    pub fn line_search(&self) -> &StrongWolfe {
        &self.line_search
    }
}

impl Minimiser for Bfgs {
    fn minimise_with_callback<F, C>(
        &self,
        x0: &[f64],
        f: F,
        callback: C,
    ) -> Result<MinimiseReport, OptimError>
    where
        F: FnMut(&[f64], &mut [f64]) -> Result<f64, BoxError>,
        C: FnMut(&IterState<'_>) -> bool,
    {
        let mut h = InverseHessian::new(x0.len());
        let settings = Settings {
            convergence: &self.convergence,
            line_search: &self.line_search,
        };
        run(&mut h, settings, x0, f, callback)
    }
}

/// Dense row-major inverse-Hessian approximation.
struct InverseHessian {
    n: usize,
    h: Vec<f64>,
    hy: Vec<f64>,
    initialised: bool,
}

impl InverseHessian {
    fn new(n: usize) -> Self {
        InverseHessian {
            n,
            h: vec![0.0; n * n],
            hy: vec![0.0; n],
            initialised: false,
        }
    }
}

impl Direction for InverseHessian {
    fn direction(&mut self, g: &[f64], d: &mut [f64]) {
        if !self.initialised {
            for (di, gi) in d.iter_mut().zip(g) {
                *di = -gi;
            }
            return;
        }
        for (i, di) in d.iter_mut().enumerate() {
            *di = -dot(&self.h[i * self.n..(i + 1) * self.n], g);
        }
    }

    fn update(&mut self, s: &[f64], y: &[f64]) {
        let n = self.n;
        let sy = dot(s, y);
        let yy = dot(y, y);
        let bound = f64::EPSILON * dot(s, s).sqrt() * yy.sqrt();
        if !(sy > bound && sy.is_finite()) {
            return;
        }
        if !self.initialised {
            let gamma = sy / yy;
            self.h.fill(0.0);
            for i in 0..n {
                self.h[i * n + i] = gamma;
            }
            self.initialised = true;
        }
        for i in 0..n {
            self.hy[i] = dot(&self.h[i * n..(i + 1) * n], y);
        }
        let rho = 1.0 / sy;
        let yhy = dot(y, &self.hy);
        let c = rho * rho * yhy + rho;
        for i in 0..n {
            let row = &mut self.h[i * n..(i + 1) * n];
            let (si, hyi) = (s[i], self.hy[i]);
            for (j, hij) in row.iter_mut().enumerate() {
                *hij += c * si * s[j] - rho * (si * self.hy[j] + hyi * s[j]);
            }
        }
    }

    fn reset(&mut self) {
        self.initialised = false;
    }

    fn is_empty(&self) -> bool {
        !self.initialised
    }
}
