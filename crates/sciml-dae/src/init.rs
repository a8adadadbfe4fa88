//! Consistent initialisation: making `(u0, u0′)` satisfy `F(u0′, u0, p, t0) = 0` before the
//! first step.
//!
//! * [`DaeInit::CheckInit`] only verifies: `‖F(du0, u0, p, t0)‖₂ ≤ abstol`, else a clear `Err`.
//! * [`DaeInit::BrownFullBasicInit`] keeps the differential values and solves for the algebraic
//!   values and the derivatives of the differential ones (Brown, Hindmarsh and Petzold,
//!   "Consistent initial condition calculation for differential-algebraic systems", SIAM J. Sci.
//!   Comput. 19, 1998, the first of their two cases, as IDA's `IDA_YA_YDP_INIT`): the unknowns
//!   are `x_i = u′_i` (differential `i`) and `x_i = u_i` (algebraic `i`), solved by sciml-ode's
//!   shared Newton iteration, run to rounding, with the Jacobian columns `∂F/∂u′_i` and
//!   `∂F/∂u_i` (`DaeW::mixed`, solved by the solve's linear strategy).
//! * [`DaeInit::ShampineCollocationInit`] moves every component: one implicit Euler step of
//!   length `dt` taken *at* `t0` from `u0`, solving `F((u − u0)/dt, u, p, t0) = 0` for `u`, then
//!   `u0 ← u` and `u0′ ← (u − u0)/dt` (the collocation idea of Shampine, "Solving
//!   0 = F(t, y(t), y′(t)) in Matlab", J. Numer. Math. 10, 2002, as OrdinaryDiffEq's
//!   `ShampineCollocationInit`). The result satisfies `F(u0′, u0, p, t0) = 0` to rounding; the
//!   differential values move by about `dt·u′`, so it needs no knowledge of which components
//!   are differential and works when both `u0` and `u0′` are rough guesses. The algebraic
//!   components' `u0′`, which `F` does not read, are then set to 0 rather than left at their jump
//!   over `dt`: those `differential_vars` marks, and, with the dense or sparse strategy, those
//!   whose column of `∂F/∂u′` is zero at the start (so a problem given without
//!   `differential_vars` starts well too; the Jacobian-free strategy keeps no matrix to read
//!   that from, and needs `differential_vars` away from `t = 0`). The iteration matrix is the BDF's
//!   `∂F/∂u + (1/dt)·∂F/∂u′`; a backward span steps back (`dt < 0`).

use crate::error::DaeError;
use crate::function::DaeFunction;
use crate::linear::{DaeLinearSolver, DaeW};
use sciml_core::Stats;
use sciml_ode::stiff::newton::iterate;
use sciml_ode::stiff::{NewtonConvergence, Rate, Residual};
use sciml_ode::StepFailure;

/// How a solve makes its start consistent.
///
/// ```
/// use sciml_dae::{DaeBdf, DaeClosure, DaeError, DaeFiniteDiff, DaeInit, DaeProblem};
/// use sciml_ode::SolveOptions;
/// // u1′ = −u1, 0 = u2 − u1²; the start (u1, u2) = (1, 3) breaks the constraint.
/// let f = || DaeFiniteDiff::new(DaeClosure::new(2, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0];
///     r[1] = u[1] - u[0] * u[0];
/// }));
/// let new = |f| DaeProblem::new(f, vec![-1.0, 0.0], vec![1.0, 3.0], (0.0, 1.0), vec![], Some(vec![true, false]));
/// let opts = SolveOptions::default().tolerances(1e-8, 1e-10);
/// let err = new(f())?.solve(DaeBdf::new(), DaeInit::CheckInit, &opts).unwrap_err();
/// assert!(matches!(err, DaeError::Inconsistent { .. }));
/// let sol = new(f())?.solve(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)?;
/// assert!((sol.u[0][1] - 1.0).abs() < 1e-12); // u2 repaired to u1² = 1
/// # Ok::<(), DaeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum DaeInit {
    /// Verify `‖F(du0, u0, p, t0)‖₂ ≤ abstol`; an inconsistent start is an `Err`.
    #[default]
    CheckInit,
    /// Solve for the algebraic values and the differential derivatives (module docs).
    BrownFullBasicInit,
    /// One implicit Euler step of length `dt` at `t0` (backward for a backward span) moves every
    /// component onto the constraint (module docs); the algebraic components' `u′` (those
    /// `differential_vars` marks, and with a dense or sparse strategy those `F` does not read at
    /// the start) are set to 0. `dt: None` takes [`SHAMPINE_DEFAULT_DT`] × max(1, |t0|).
    ShampineCollocationInit {
        /// The step; finite and positive.
        dt: Option<f64>,
    },
}

/// The default relative step of [`DaeInit::ShampineCollocationInit`]: small enough that the
/// differential values move little, large enough that `(u − u0)/dt` is not all rounding.
pub const SHAMPINE_DEFAULT_DT: f64 = 1e-6;

/// `G(x) = F(u′(x), u(x), p, t0)` with `x` mixing derivatives and algebraic values.
struct BrownResidual<'b, F: DaeFunction, L: DaeLinearSolver<F>> {
    f: &'b mut F,
    p: &'b [f64],
    t0: f64,
    differential: &'b [bool],
    u: &'b mut Vec<f64>,
    du: &'b mut Vec<f64>,
    linear: &'b L,
    lc: &'b mut L::Cache,
    magnitude: f64,
}

impl<F: DaeFunction, L: DaeLinearSolver<F>> BrownResidual<'_, F, L> {
    fn place(&mut self, x: &[f64]) {
        for (i, xi) in x.iter().enumerate() {
            if self.differential[i] {
                self.du[i] = *xi;
            } else {
                self.u[i] = *xi;
            }
        }
    }
}

impl<F: DaeFunction, L: DaeLinearSolver<F>> Residual for BrownResidual<'_, F, L> {
    type V = Vec<f64>;
    fn neg_residual(
        &mut self,
        x: &Vec<f64>,
        out: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        self.place(x);
        self.f.residual(self.t0, self.du, self.u, self.p, out);
        stats.nf += 1;
        out.iter_mut().for_each(|r| *r = -*r);
        if !out.iter().all(|r| r.is_finite()) {
            return Err(StepFailure::NonFinite);
        }
        self.magnitude = x.iter().map(|v| v.abs()).fold(1.0, f64::max);
        // A full Newton iteration: a fresh matrix at every iterate.
        let (t0, p) = (self.t0, self.p);
        let lc = &mut *self.lc;
        self.linear
            .linearise(lc, self.f, t0, self.du, self.u, p, stats)?;
        self.linear
            .factorise(lc, DaeW::mixed(self.differential), stats)
    }
    fn solve(&mut self, b: &mut Vec<f64>, stats: &mut Stats) -> Result<(), StepFailure> {
        stats.nnewton += 1;
        self.linear.solve(self.lc, self.f, self.p, b, stats)
    }
    fn norm(&mut self, dz: &Vec<f64>) -> f64 {
        dz.iter().map(|v| v.abs()).fold(0.0, f64::max)
    }
    fn magnitude(&self) -> f64 {
        self.magnitude
    }
}

/// `G(u) = F((u − start)/dt, u, p, t0)`: Shampine's implicit Euler step taken at `t0`.
struct ShampineResidual<'b, F: DaeFunction, L: DaeLinearSolver<F>> {
    f: &'b mut F,
    p: &'b [f64],
    t0: f64,
    dt: f64,
    start: &'b [f64],
    du: Vec<f64>,
    linear: &'b L,
    lc: &'b mut L::Cache,
    magnitude: f64,
}

impl<F: DaeFunction, L: DaeLinearSolver<F>> ShampineResidual<'_, F, L> {
    fn place(&mut self, u: &[f64]) {
        for ((d, ui), si) in self.du.iter_mut().zip(u).zip(self.start) {
            *d = (ui - si) / self.dt;
        }
    }
}

impl<F: DaeFunction, L: DaeLinearSolver<F>> Residual for ShampineResidual<'_, F, L> {
    type V = Vec<f64>;
    fn neg_residual(
        &mut self,
        u: &Vec<f64>,
        out: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        self.place(u);
        self.f.residual(self.t0, &self.du, u, self.p, out);
        stats.nf += 1;
        out.iter_mut().for_each(|r| *r = -*r);
        if !out.iter().all(|r| r.is_finite()) {
            return Err(StepFailure::NonFinite);
        }
        self.magnitude = u.iter().map(|v| v.abs()).fold(1.0, f64::max);
        let (t0, p) = (self.t0, self.p);
        self.linear
            .linearise(self.lc, self.f, t0, &self.du, u, p, stats)?;
        let inv_dt = 1.0 / self.dt;
        self.linear.factorise(self.lc, DaeW::bdf(inv_dt), stats)
    }
    fn solve(&mut self, b: &mut Vec<f64>, stats: &mut Stats) -> Result<(), StepFailure> {
        stats.nnewton += 1;
        self.linear.solve(self.lc, self.f, self.p, b, stats)
    }
    fn norm(&mut self, dz: &Vec<f64>) -> f64 {
        dz.iter().map(|v| v.abs()).fold(0.0, f64::max)
    }
    fn magnitude(&self) -> f64 {
        self.magnitude
    }
}

fn norm2(r: &[f64]) -> f64 {
    r.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Makes `(u, du)` consistent at `t0` by `how` (module docs), solving with `linear` in its
/// buffers `lc` (the solve's, lent); `abstol` is the bound on `‖F‖₂` that counts as consistent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn initialise<F: DaeFunction, L: DaeLinearSolver<F>>(
    how: DaeInit,
    linear: &L,
    lc: &mut L::Cache,
    f: &mut F,
    p: &[f64],
    (t0, t1): (f64, f64),
    differential: &[bool],
    u: &mut Vec<f64>,
    du: &mut Vec<f64>,
    abstol: f64,
) -> Result<(), DaeError> {
    let n = u.len();
    let mut r = vec![0.0; n];
    f.residual(t0, du, u, p, &mut r);
    if let Some(index) = r.iter().position(|v| !v.is_finite()) {
        return Err(DaeError::NonFiniteResidual { index });
    }
    match how {
        DaeInit::CheckInit => {
            let norm = norm2(&r);
            if norm > abstol {
                return Err(DaeError::Inconsistent { norm, abstol });
            }
            Ok(())
        }
        DaeInit::BrownFullBasicInit => {
            let mut x: Vec<f64> = (0..n)
                .map(|i| if differential[i] { du[i] } else { u[i] })
                .collect();
            let mut g = BrownResidual {
                f,
                p,
                t0,
                differential,
                u,
                du,
                linear,
                lc,
                magnitude: 1.0,
            };
            let mut dx = vec![0.0; n];
            let mut rate = Rate {
                eta: 1.0,
                max_theta: 0.0,
            };
            let conv = NewtonConvergence::Rounding {
                rtol: 1e-12,
                max_iter: 30,
            };
            let mut stats = Stats::default();
            match iterate(&mut g, &mut x, &mut dx, conv, &mut rate, &mut stats) {
                Ok(_) => {}
                Err(StepFailure::LinearSolve) => return Err(L::start_failure(t0)),
                Err(_) => {}
            }
            g.place(&x);
            f.residual(t0, du, u, p, &mut r);
            let norm = norm2(&r);
            if !norm.is_finite() || norm > abstol {
                return Err(DaeError::InitNotConverged { norm });
            }
            Ok(())
        }
        DaeInit::ShampineCollocationInit { dt } => {
            let dt = match dt {
                None => SHAMPINE_DEFAULT_DT * t0.abs().max(1.0),
                Some(dt) if dt.is_finite() && dt > 0.0 => dt,
                Some(_) => {
                    return Err(DaeError::InvalidInit {
                        why: "ShampineCollocationInit needs a finite dt > 0 (or None for the \
                              default)",
                    })
                }
            };
            // The implicit Euler step goes the solve's way (a backward span steps back).
            let dt = if t1 < t0 { -dt } else { dt };
            let start = u.clone();
            let mut g = ShampineResidual {
                f,
                p,
                t0,
                dt,
                start: &start,
                du: vec![0.0; n],
                linear,
                lc,
                magnitude: 1.0,
            };
            let mut dx = vec![0.0; n];
            let mut rate = Rate {
                eta: 1.0,
                max_theta: 0.0,
            };
            let conv = NewtonConvergence::Rounding {
                rtol: 1e-12,
                max_iter: 30,
            };
            let mut stats = Stats::default();
            let mut x = u.clone();
            match iterate(&mut g, &mut x, &mut dx, conv, &mut rate, &mut stats) {
                Ok(_) => {}
                Err(StepFailure::LinearSolve) => return Err(L::start_failure(t0)),
                Err(_) => {}
            }
            g.place(&x);
            du.copy_from_slice(&g.du);
            // An algebraic component's quotient is its jump onto the constraint over dt, not a
            // derivative (F does not read it): zero, as a start's algebraic u′ usually is, so
            // the first step's predictor and size do not follow it. The algebraic components
            // are those `differential_vars` marks and, where the strategy keeps ∂F/∂u′, those
            // whose column is zero (a problem given without `differential_vars`).
            let reads = linear.derivative_columns(&*g.lc);
            for (i, d) in du.iter_mut().enumerate() {
                if !differential[i] || reads.as_ref().is_some_and(|r| !r[i]) {
                    *d = 0.0;
                }
            }
            u.copy_from_slice(&x);
            f.residual(t0, du, u, p, &mut r);
            let norm = norm2(&r);
            // u′ is a difference quotient over dt: its rounding, ε·(|u| + |u0|)/dt per
            // component, passes into F through ∂F/∂u′, and no Newton iteration can remove it.
            // The bound is the larger of that floor (a safety factor of 8) and abstol, so a
            // tight atol is not an error the method cannot avoid.
            let rounding: Vec<f64> = x
                .iter()
                .zip(&start)
                .map(|(a, b)| f64::EPSILON * (a.abs() + b.abs()) / dt.abs())
                .collect();
            let (zero, mut jr) = (vec![0.0; n], vec![0.0; n]);
            let floor =
                match linear.jacobian_product(lc, f, p, (&rounding, &zero), &mut jr, &mut stats) {
                    Ok(()) => 8.0 * norm2(&jr),
                    Err(_) => 0.0,
                };
            if !norm.is_finite() || norm > abstol.max(floor) {
                return Err(DaeError::InitNotConverged { norm });
            }
            Ok(())
        }
    }
}

/// Sensitivities and the discrete adjoint differentiate the consistent start through the
/// linearised Brown map (the differential values held); Shampine's step moves them too, so
/// those solves refuse it rather than return a gradient of a different map.
pub(crate) fn refuse_for_sensitivities(how: DaeInit) -> Result<(), DaeError> {
    match how {
        DaeInit::ShampineCollocationInit { .. } => Err(DaeError::InvalidInit {
            why: "sensitivities and the discrete adjoint take CheckInit or BrownFullBasicInit \
                  (ShampineCollocationInit moves the differential start values); initialise \
                  once with ShampineCollocationInit, then differentiate from the consistent \
                  start under CheckInit",
        }),
        _ => Ok(()),
    }
}
