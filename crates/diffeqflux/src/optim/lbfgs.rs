//! Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989), two-loop recursion.

use super::quasi_newton::{dot, run, Direction, Settings};
use super::{BoxError, Convergence, IterState, MinimiseReport, Minimiser, OptimError, StrongWolfe};
use serde::{Deserialize, Serialize};

/// L-BFGS: the inverse Hessian is represented by the last `m` step and gradient-change pairs
/// `(sᵢ, yᵢ)` and applied with the two-loop recursion (Nocedal & Wright 2006, algorithm 7.4),
/// with the initial scaling `H₀ = (sᵀy / yᵀy) I` of the newest pair (N&W eq. 7.20). Pairs
/// that fail the curvature condition `sᵀy > ε‖s‖‖y‖` are skipped. Steps come from a
/// [`StrongWolfe`] line search; the first step (no curvature yet) is steepest descent of
/// length `min(1, 1/‖∇f‖₂)`. If a line search fails, the memory is dropped and steepest
/// descent is tried once more before the run stops with
/// [`Termination::LineSearchFailed`](super::Termination::LineSearchFailed).
///
/// Memory: `2 m n` values. Default `m = 10`, [`Convergence::default`],
/// [`StrongWolfe::default`].
///
/// ```
/// use diffeqflux::optim::{Convergence, Lbfgs, Minimiser};
/// // Rosenbrock from the classic start (−1.2, 1).
/// let lbfgs = Lbfgs::new()
///     .with_memory(5)?
///     .with_convergence(Convergence::default().with_grad_tol(1e-10)?);
/// let r = lbfgs.minimise(&[-1.2, 1.0], |x, g| {
///     let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
///     g[0] = -2.0 * a - 400.0 * x[0] * b;
///     g[1] = 200.0 * b;
///     Ok(a * a + 100.0 * b * b)
/// })?;
/// assert!(r.termination.converged());
/// assert!((r.params[0] - 1.0).abs() < 1e-8 && (r.params[1] - 1.0).abs() < 1e-8);
/// # Ok::<(), diffeqflux::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lbfgs {
    memory: usize,
    convergence: Convergence,
    line_search: StrongWolfe,
}

impl Default for Lbfgs {
    /// `m = 10` with default convergence and line search.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Lbfgs::default().memory(), 10);
    /// ```
    fn default() -> Self {
        Lbfgs {
            memory: 10,
            convergence: Convergence::default(),
            line_search: StrongWolfe::default(),
        }
    }
}

impl Lbfgs {
    /// L-BFGS with the defaults (`m = 10`).
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Lbfgs::new(), diffeqflux::optim::Lbfgs::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of stored pairs `m`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] if `m` is 0.
    ///
    /// ```
    /// use diffeqflux::optim::Lbfgs;
    /// assert_eq!(Lbfgs::new().with_memory(20)?.memory(), 20);
    /// assert!(Lbfgs::new().with_memory(0).is_err());
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_memory(self, m: usize) -> Result<Self, OptimError> {
        if m == 0 {
            return Err(OptimError::InvalidHyperparameter {
                name: "memory",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        Ok(Lbfgs { memory: m, ..self })
    }

    /// Sets the stopping rules.
    ///
    /// ```
    /// use diffeqflux::optim::{Convergence, Lbfgs};
    /// let c = Convergence::default().with_max_iters(10)?;
    /// assert_eq!(Lbfgs::new().with_convergence(c).convergence().max_iters(), 10);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_convergence(self, convergence: Convergence) -> Self {
        Lbfgs {
            convergence,
            ..self
        }
    }

    /// Sets the line search.
    ///
    /// ```
    /// use diffeqflux::optim::{Lbfgs, StrongWolfe};
    /// let ls = StrongWolfe::default().with_max_evals(10)?;
    /// assert_eq!(Lbfgs::new().with_line_search(ls).line_search().max_evals(), 10);
    /// # Ok::<(), diffeqflux::optim::OptimError>(())
    /// ```
    pub fn with_line_search(self, line_search: StrongWolfe) -> Self {
        Lbfgs {
            line_search,
            ..self
        }
    }

    /// The number of stored pairs `m`.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Lbfgs::new().memory(), 10);
    /// ```
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// The stopping rules.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Lbfgs::new().convergence().grad_tol(), 1e-8);
    /// ```
    pub fn convergence(&self) -> &Convergence {
        &self.convergence
    }

    /// The line search.
    ///
    /// ```
    /// assert_eq!(diffeqflux::optim::Lbfgs::new().line_search().constants(), (1e-4, 0.9));
    /// ```
    pub fn line_search(&self) -> &StrongWolfe {
        &self.line_search
    }
}

impl Minimiser for Lbfgs {
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
        let mut memory = Memory::new(self.memory.max(1), x0.len());
        let settings = Settings {
            convergence: &self.convergence,
            line_search: &self.line_search,
        };
        run(&mut memory, settings, x0, f, callback)
    }
}

/// The `(s, y)` pairs in a ring buffer, newest at `(start + len − 1) % m`.
struct Memory {
    m: usize,
    n: usize,
    s: Vec<f64>,
    y: Vec<f64>,
    rho: Vec<f64>,
    alpha: Vec<f64>,
    start: usize,
    len: usize,
}

impl Memory {
    fn new(m: usize, n: usize) -> Self {
        Memory {
            m,
            n,
            s: vec![0.0; m * n],
            y: vec![0.0; m * n],
            rho: vec![0.0; m],
            alpha: vec![0.0; m],
            start: 0,
            len: 0,
        }
    }

    fn slot(&self, k: usize) -> usize {
        (self.start + k) % self.m
    }

    fn pair(&self, slot: usize) -> (&[f64], &[f64]) {
        let r = slot * self.n..(slot + 1) * self.n;
        (&self.s[r.clone()], &self.y[r])
    }
}

impl Direction for Memory {
    fn direction(&mut self, g: &[f64], d: &mut [f64]) {
        // q = g; first loop newest → oldest.
        d.copy_from_slice(g);
        for k in (0..self.len).rev() {
            let slot = self.slot(k);
            let (s, y) = self.pair(slot);
            let a = self.rho[slot] * dot(s, d);
            for (di, yi) in d.iter_mut().zip(y) {
                *di -= a * yi;
            }
            self.alpha[slot] = a;
        }
        if self.len > 0 {
            let (s, y) = self.pair(self.slot(self.len - 1));
            let gamma = dot(s, y) / dot(y, y);
            for di in d.iter_mut() {
                *di *= gamma;
            }
        }
        // Second loop oldest → newest.
        for k in 0..self.len {
            let slot = self.slot(k);
            let (s, y) = self.pair(slot);
            let beta = self.rho[slot] * dot(y, d);
            let a = self.alpha[slot];
            for (di, si) in d.iter_mut().zip(s) {
                *di += (a - beta) * si;
            }
        }
        for di in d.iter_mut() {
            *di = -*di;
        }
    }

    fn update(&mut self, s: &[f64], y: &[f64]) {
        let sy = dot(s, y);
        let bound = f64::EPSILON * dot(s, s).sqrt() * dot(y, y).sqrt();
        if !(sy > bound && sy.is_finite()) {
            return;
        }
        let slot = if self.len < self.m {
            self.len += 1;
            self.slot(self.len - 1)
        } else {
            let slot = self.start;
            self.start = (self.start + 1) % self.m;
            slot
        };
        let r = slot * self.n..(slot + 1) * self.n;
        self.s[r.clone()].copy_from_slice(s);
        self.y[r].copy_from_slice(y);
        self.rho[slot] = 1.0 / sy;
    }

    fn reset(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}
