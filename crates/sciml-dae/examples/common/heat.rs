//! The heat equation `u_t = κ u_xx − μ u` on `[0, 1]` with `n` interior points and the boundary
//! values as algebraic unknowns (`u_0 = u_{n+1} = 0`), as IDA's `idaHeat1D`-style examples pose
//! it; `p = (κ, μ)`, and [`UNIT`] is plain `u_t = u_xx`. Shared by the heat examples and tests
//! (`#[path]`), each of which uses part of it.
#![allow(dead_code)]

use sciml_core::linalg::{LinearError, SparsityPattern};
use sciml_core::Scalar;
use sciml_dae::{DaeError, DaeFunction, DaeProblem, GenericResidual};

/// `κ = 1`, `μ = 0`: `u_t = u_xx`.
pub const UNIT: [f64; 2] = [1.0, 0.0];

/// The semi-discrete heat equation with `n` interior points.
#[derive(Clone, Debug)]
pub struct Heat {
    pub n: usize,
}

impl Heat {
    pub fn dx(&self) -> f64 {
        1.0 / (self.n + 1) as f64
    }
    /// `sin(πx_i)` is an eigenvector of the second-difference matrix with eigenvalue
    /// `λ = −(4/Δx²)·sin²(πΔx/2)`, so the semi-discrete solution from it is
    /// `sin(πx_i)·e^{(κλ − μ)t}` exactly (a reference with no spatial error to hide behind), and
    /// `∂u/∂κ = λt·u`, `∂u/∂μ = −t·u`.
    pub fn lambda(&self) -> f64 {
        let dx = self.dx();
        -4.0 / (dx * dx) * (std::f64::consts::PI * dx / 2.0).sin().powi(2)
    }
    /// The exponential rate `κλ − μ`.
    pub fn rate(&self, p: &[f64]) -> f64 {
        p[0] * self.lambda() - p[1]
    }
    /// The exact semi-discrete solution from `sin(πx_i)` at `t`.
    pub fn exact(&self, p: &[f64], t: f64) -> Vec<f64> {
        let dx = self.dx();
        (0..self.n + 2)
            .map(|i| (std::f64::consts::PI * i as f64 * dx).sin() * (self.rate(p) * t).exp())
            .collect()
    }
    /// `(∂u/∂κ, ∂u/∂μ)` at `t`.
    pub fn exact_sensitivities(&self, p: &[f64], t: f64) -> [Vec<f64>; 2] {
        let u = self.exact(p, t);
        [
            u.iter().map(|x| self.lambda() * t * x).collect(),
            u.iter().map(|x| -t * x).collect(),
        ]
    }
    /// The residual's pattern: the boundary rows' diagonal and the interior's three points.
    pub fn pattern(&self) -> Result<SparsityPattern, LinearError> {
        let m = self.n + 1;
        let mut e = vec![(0, 0), (m, m)];
        for i in 1..m {
            e.extend([(i, i - 1), (i, i), (i, i + 1)]);
        }
        SparsityPattern::from_triplets(m + 1, m + 1, &e)
    }
    /// The problem with residual `f` (this one, wrapped) from the exact start over `(0, t1)`.
    pub fn problem<F: DaeFunction>(
        &self,
        f: F,
        p: &[f64],
        t1: f64,
    ) -> Result<DaeProblem<F>, DaeError> {
        let u0 = self.exact(p, 0.0);
        let du0 = u0.iter().map(|u| self.rate(p) * u).collect();
        let mut diff = vec![true; self.n + 2];
        diff[0] = false;
        diff[self.n + 1] = false;
        DaeProblem::new(f, du0, u0, (0.0, t1), p.to_vec(), Some(diff))
    }
}

impl GenericResidual for Heat {
    fn len(&self) -> usize {
        self.n + 2
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        let m = self.n + 1;
        let c = S::cst(1.0 / (self.dx() * self.dx()));
        r[0] = u[0];
        r[m] = u[m];
        for i in 1..m {
            r[i] = du[i] - p[0] * (u[i - 1] - S::cst(2.0) * u[i] + u[i + 1]) * c + p[1] * u[i];
        }
    }
}
