//! Simplified Newton iteration for the stage equations of diagonally implicit methods.
//!
//! A stage of an (E)SDIRK method in "z form" (`z = h·k`, the stage derivative times the step)
//! solves
//!
//! `M z − h f(t_i, ψ + γ z) = 0`,
//!
//! where `ψ = u0 + Σ_{j<i} a_ij z_j` is the explicit part and `γ` the method's diagonal
//! coefficient. Its Jacobian is `W = M − hγ·J` with `J = ∂f/∂u`; the simplified iteration keeps one
//! `W` (a Jacobian from some earlier point, factorised once) for every iteration, stage and — as
//! long as it works — step:
//!
//! `W Δ_k = h f(t_i, ψ + γ z_k) − M z_k`,  `z_{k+1} = z_k + Δ_k`.
//!
//! # Convergence monitoring
//!
//! Hairer and Wanner, *Solving ODEs II*, section IV.8 ("Implementation of implicit Runge–Kutta
//! methods", eqs. 8.10–8.15): the contraction rate is estimated as `θ_k = ‖Δ_k‖ / ‖Δ_{k−1}‖`,
//! the remaining error as `η_k ‖Δ_k‖` with `η_k = θ_k / (1 − θ_k)`, and the iteration stops once
//! `η_k ‖Δ_k‖ ≤ κ`. The norm is the solver's weighted RMS norm (`State::err_norm`, so `1` means
//! "one tolerance") of the change of the stage value `γΔ_k`; `κ` defaults to `0.03`, the value
//! of Hairer's SDIRK4/RADAU5 codes (`FNEWT`). For the first iteration, where no rate is known
//! yet, `η` is carried over from the previous solve as `max(η_old, ε)^0.8` (their eq. 8.15).
//! The iteration fails (→ [`StepFailure::NewtonFailure`]) when `θ_k ≥ 1`, when the predicted
//! error after the remaining iterations, `θ_k^{k_max − k} / (1 − θ_k) ‖Δ_k‖`, still exceeds `κ`,
//! or after `k_max` iterations.
//!
//! # Reuse of the Jacobian and of the factorisation
//!
//! * `J` is evaluated on the first step, and afterwards only when needed: after a Newton failure
//!   with a Jacobian from an earlier point (then `J` is refreshed at the current step's start and
//!   the step retried at once, without shrinking it), or at the start of the step after one whose
//!   iterations converged slowly (largest rate above [`Newton::slow_rate`]).
//! * `W = M − hγJ` is refactorised when `J` changed, or when `hγ` differs from the value `W` was
//!   formed with by more than [`Newton::refactor_rtol`] relatively. A `W` with a slightly wrong
//!   `hγ` is still a valid iteration matrix (the residual uses the true `h`), only converging a
//!   little slower; a failure with such a `W` first refactorises at the true `hγ` and retries.
//! * Only a failure with a fresh `J` and an exact `W` is reported, so the integrator shrinks the
//!   step (the policy of Hairer's codes and OrdinaryDiffEq.jl's `NLNewton`).

use super::linear::LinearStrategy;
use super::mass_mul;
use crate::method::StepFailure;
use sciml_core::{DenseMatrix, One, Real, Scalar, State, Stats, Tolerance, VectorField, Zero};

/// Settings of the simplified Newton iteration (see the module docs for the policy).
///
/// ```
/// use sciml_ode::stiff::Newton;
/// let n = Newton { kappa: 0.01, ..Newton::default() };
/// assert_eq!(n.max_iter, 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Newton {
    /// Stop when the estimated remaining error `η‖Δ‖` (in tolerance units) is below `kappa`.
    pub kappa: f64,
    /// Most iterations per stage.
    pub max_iter: usize,
    /// A step whose largest contraction rate exceeds this refreshes `J` before the next step.
    pub slow_rate: f64,
    /// Refactorise `W` when `hγ` moved by more than this relative amount.
    pub refactor_rtol: f64,
}

impl Default for Newton {
    fn default() -> Self {
        Newton {
            kappa: 0.03,
            max_iter: 10,
            slow_rate: 0.2,
            refactor_rtol: 0.2,
        }
    }
}

/// Buffers and bookkeeping of the Newton iteration, including the linear strategy's cache.
#[derive(Clone, Debug)]
pub struct NewtonCache<V, LC> {
    pub(crate) lin: LC,
    /// `J` has been evaluated at least once.
    jac_valid: bool,
    /// `J` was evaluated at the start of the current step.
    jac_fresh: bool,
    /// Refresh `J` at the start of the next step (slow convergence in the last one).
    jac_refresh: bool,
    /// `hγ` that `W` was formed with (NaN: no valid `W`).
    w_hg: f64,
    /// η carried between solves (eq. 8.15).
    eta: f64,
    /// Largest contraction rate seen in the current step.
    max_theta: f64,
    y: V,
    fy: V,
    dz: V,
    mz: V,
}

impl<S: Scalar, LC> NewtonCache<Vec<S>, LC> {
    /// Buffers for states of length `n` around a linear-strategy cache.
    pub fn new(lin: LC, n: usize) -> Self {
        let z = vec![S::zero(); n];
        NewtonCache {
            lin,
            jac_valid: false,
            jac_fresh: false,
            jac_refresh: false,
            w_hg: f64::NAN,
            eta: 1.0,
            max_theta: 0.0,
            y: z.clone(),
            fy: z.clone(),
            dz: z.clone(),
            mz: z,
        }
    }

    /// The stage value `ψ + γz` of the last solve.
    pub fn stage_value(&self) -> &Vec<S> {
        &self.y
    }

    /// Forgets that `J` belongs to the current point (call when a new step starts).
    pub fn new_point(&mut self) {
        self.jac_fresh = false;
    }

    /// Marks `W` as unusable (after the linear strategy was used for something else).
    pub fn invalidate_w(&mut self) {
        self.w_hg = f64::NAN;
    }

    /// Records that the caller evaluated `J` at the current step's start through the linear
    /// strategy (so the next step start need not), which leaves no valid `W`.
    pub fn jacobian_updated(&mut self) {
        self.jac_valid = true;
        self.jac_fresh = true;
        self.jac_refresh = false;
        self.w_hg = f64::NAN;
    }
}

impl Newton {
    /// Before a step from `(t, u0)` with `hγ = hg`: evaluates `J` if there is none (or a refresh
    /// was asked for) and factorises `W` unless the current one is close enough.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_step<S, F, L>(
        &self,
        c: &mut NewtonCache<Vec<S>, L::Cache>,
        lin: &L,
        f: &mut F,
        p: &F::P,
        (t, u0): (S::Re, &Vec<S>),
        hg: S::Re,
        mass: Option<&DenseMatrix<S::Re>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>
    where
        S: Scalar,
        F: VectorField<V = Vec<S>>,
        L: LinearStrategy<F>,
    {
        c.max_theta = 0.0;
        if !c.jac_valid || (c.jac_refresh && !c.jac_fresh) {
            lin.update_jacobian(&mut c.lin, f, t, u0, p, stats);
            c.jac_valid = true;
            c.jac_fresh = true;
            c.jac_refresh = false;
            c.w_hg = f64::NAN;
        }
        let hgf = hg.to_f64_lossy();
        let close = (hgf - c.w_hg).abs() <= self.refactor_rtol * c.w_hg.abs();
        if !close {
            lin.factorise(&mut c.lin, hg, mass, stats)?;
            c.w_hg = hgf;
        }
        Ok(())
    }

    /// After a failed stage solve: makes the iteration matrix better if it can (a fresh `J` at
    /// `(t, u0)`, or `W` for the exact `hγ`) and returns `Ok(true)` when the step is worth
    /// retrying at the same size, `Ok(false)` when nothing is left to improve.
    #[allow(clippy::too_many_arguments)]
    pub fn recover<S, F, L>(
        &self,
        c: &mut NewtonCache<Vec<S>, L::Cache>,
        lin: &L,
        f: &mut F,
        p: &F::P,
        (t, u0): (S::Re, &Vec<S>),
        hg: S::Re,
        mass: Option<&DenseMatrix<S::Re>>,
        stats: &mut Stats,
    ) -> Result<bool, StepFailure>
    where
        S: Scalar,
        F: VectorField<V = Vec<S>>,
        L: LinearStrategy<F>,
    {
        let hgf = hg.to_f64_lossy();
        if !c.jac_fresh {
            lin.update_jacobian(&mut c.lin, f, t, u0, p, stats);
            c.jac_valid = true;
            c.jac_fresh = true;
            c.jac_refresh = false;
        } else if c.w_hg == hgf {
            return Ok(false);
        }
        lin.factorise(&mut c.lin, hg, mass, stats)?;
        c.w_hg = hgf;
        c.max_theta = 0.0;
        Ok(true)
    }

    /// After an accepted or rejected step: asks for a fresh `J` next time if this step's
    /// iterations converged slowly.
    pub fn end_step<V, LC>(&self, c: &mut NewtonCache<V, LC>) {
        if c.max_theta > self.slow_rate {
            c.jac_refresh = true;
        }
    }

    /// Solves `M z − h f(t_i, ψ + γ z) = 0` for `z`, starting from the guess in `z`; on success
    /// the stage value `ψ + γz` is left in the cache ([`NewtonCache::stage_value`]). `u0` scales
    /// the norm together with the stage value.
    #[allow(clippy::too_many_arguments)]
    pub fn solve_stage<S, F, L>(
        &self,
        c: &mut NewtonCache<Vec<S>, L::Cache>,
        lin: &L,
        f: &mut F,
        p: &F::P,
        (ti, h, gamma): (S::Re, S::Re, S::Re),
        psi: &Vec<S>,
        z: &mut Vec<S>,
        (u0, tol): (&Vec<S>, &Tolerance<S::Re>),
        mass: Option<&DenseMatrix<S::Re>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>
    where
        S: Scalar,
        F: VectorField<V = Vec<S>>,
        L: LinearStrategy<F>,
    {
        type R<S> = <S as Scalar>::Re;
        let kappa = R::<S>::c(self.kappa);
        let one = R::<S>::one();
        let mut eta = R::<S>::c(c.eta).max(R::<S>::epsilon()).powf(R::<S>::c(0.8));
        let mut prev = R::<S>::zero();
        for k in 0..self.max_iter {
            c.y.lincomb(psi, &[gamma], &[&*z]);
            f.rhs(ti, &c.y, p, &mut c.fy);
            stats.nf += 1;
            // Residual h f − M z, then Δ = W⁻¹ (h f − M z).
            match mass {
                None => {
                    for ((d, fy), zi) in c.dz.iter_mut().zip(&c.fy).zip(z.iter()) {
                        *d = *fy * h - *zi;
                    }
                }
                Some(m) => {
                    mass_mul(m, z, &mut c.mz);
                    for ((d, fy), mz) in c.dz.iter_mut().zip(&c.fy).zip(&c.mz) {
                        *d = *fy * h - *mz;
                    }
                }
            }
            if !c.dz.all_finite() {
                return Err(StepFailure::NonFinite);
            }
            lin.solve(&mut c.lin, f, p, &mut c.dz, stats)?;
            stats.nnewton += 1;
            // z += Δ; the norm measures the stage value's change γΔ, weighted by u0 and the
            // stage value before the update (close enough for a weight).
            for ((zi, di), mi) in z.iter_mut().zip(&c.dz).zip(c.mz.iter_mut()) {
                *zi += *di;
                *mi = *di * gamma;
            }
            let ndz = Vec::<S>::err_norm(&c.mz, u0, &c.y, tol);
            if !ndz.is_finite() {
                return Err(StepFailure::NonFinite);
            }
            if k > 0 {
                let theta = ndz / prev;
                c.max_theta = c.max_theta.max(theta.to_f64_lossy());
                if theta >= one {
                    return Err(StepFailure::NewtonFailure);
                }
                eta = theta / (one - theta);
                let left = self.max_iter - 1 - k;
                if left > 0
                    && theta.powf(R::<S>::from_usize(left)) / (one - theta) * ndz > kappa
                    && eta * ndz > kappa
                {
                    // Even at this rate the remaining iterations cannot reach κ.
                    return Err(StepFailure::NewtonFailure);
                }
            }
            if eta * ndz <= kappa || ndz == R::<S>::zero() {
                c.y.lincomb(psi, &[gamma], &[&*z]);
                c.eta = eta.to_f64_lossy();
                return Ok(());
            }
            prev = ndz;
        }
        Err(StepFailure::NewtonFailure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stiff::DenseSolve;
    use sciml_core::{ForwardAd, GenericRhs};

    /// `u' = A u + b(t)` with a stiff, non-normal `A`.
    #[derive(Clone)]
    struct Linear;
    impl GenericRhs for Linear {
        fn dims(&self) -> (usize, usize) {
            (2, 0)
        }
        fn eval<S: Scalar>(&self, t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
            du[0] = u[0] * S::cst(-1000.0) + u[1] * S::cst(10.0) + S::from_re(t);
            du[1] = u[1] * S::cst(-1.0) + S::cst(1.0);
        }
    }

    #[test]
    fn linear_stage_converges_at_once_to_the_exact_solution() {
        let mut f = ForwardAd::new(Linear);
        let lin = DenseSolve;
        let u0 = vec![1.0, 2.0];
        let mut c = NewtonCache::new(LinearStrategy::<ForwardAd<Linear>>::cache(&lin, &f, &u0), 2);
        let newton = Newton::default();
        let tol = Tolerance::new(1e-8, 1e-10).unwrap();
        let mut stats = Stats::default();
        let (h, gamma, ti) = (0.1, 0.25, 0.3);
        newton
            .begin_step(
                &mut c,
                &lin,
                &mut f,
                &vec![],
                (0.0, &u0),
                h * gamma,
                None,
                &mut stats,
            )
            .unwrap();
        let psi = vec![0.9, 2.1];
        let mut z = vec![0.0, 0.0];
        newton
            .solve_stage(
                &mut c,
                &lin,
                &mut f,
                &vec![],
                (ti, h, gamma),
                &psi,
                &mut z,
                (&u0, &tol),
                None,
                &mut stats,
            )
            .unwrap();
        // Exact: (I − hγA) z = h (A ψ + b(ti)), solved by hand (A is upper triangular).
        let hg: f64 = h * gamma;
        let z1 = h * (-psi[1] + 1.0) / (1.0 + hg);
        let z0 =
            (h * (-1000.0 * psi[0] + 10.0 * psi[1] + ti) + hg * 10.0 * z1) / (1.0 + 1000.0 * hg);
        assert!(
            (z[0] - z0).abs() < 1e-12 && (z[1] - z1).abs() < 1e-12,
            "{z:?} vs {z0} {z1}"
        );
        // One exact step, one to confirm the increment vanished.
        assert!(stats.nnewton <= 2, "{stats:?}");
        assert_eq!(stats.njac, 1);
        assert_eq!(stats.nfactor, 1);
        // The same hγ again reuses J and W.
        newton
            .begin_step(
                &mut c,
                &lin,
                &mut f,
                &vec![],
                (0.0, &u0),
                h * gamma,
                None,
                &mut stats,
            )
            .unwrap();
        assert_eq!((stats.njac, stats.nfactor), (1, 1));
        // A 10 % change of hγ keeps W, a 50 % one refactorises.
        newton
            .begin_step(
                &mut c,
                &lin,
                &mut f,
                &vec![],
                (0.0, &u0),
                1.1 * h * gamma,
                None,
                &mut stats,
            )
            .unwrap();
        assert_eq!(stats.nfactor, 1);
        newton
            .begin_step(
                &mut c,
                &lin,
                &mut f,
                &vec![],
                (0.0, &u0),
                1.5 * h * gamma,
                None,
                &mut stats,
            )
            .unwrap();
        assert_eq!(stats.nfactor, 2);
    }

    #[test]
    fn divergence_is_a_newton_failure() {
        // v' = −v³ from v = 10 with a huge step: the simplified iteration with J at the start
        // diverges (θ ≥ 1) from a far-off guess.
        #[derive(Clone)]
        struct Cubic;
        impl GenericRhs for Cubic {
            fn dims(&self) -> (usize, usize) {
                (1, 0)
            }
            fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
                du[0] = -(u[0] * u[0] * u[0]);
            }
        }
        let mut f = ForwardAd::new(Cubic);
        let lin = DenseSolve;
        let u0 = vec![0.01];
        let mut c = NewtonCache::new(LinearStrategy::<ForwardAd<Cubic>>::cache(&lin, &f, &u0), 1);
        let newton = Newton::default();
        let tol = Tolerance::new(1e-6, 1e-8).unwrap();
        let mut stats = Stats::default();
        let (h, gamma) = (100.0, 0.25);
        newton
            .begin_step(
                &mut c,
                &lin,
                &mut f,
                &vec![],
                (0.0, &u0),
                h * gamma,
                None,
                &mut stats,
            )
            .unwrap();
        let psi = vec![10.0];
        let mut z = vec![0.0];
        let r = newton.solve_stage(
            &mut c,
            &lin,
            &mut f,
            &vec![],
            (0.0, h, gamma),
            &psi,
            &mut z,
            (&u0, &tol),
            None,
            &mut stats,
        );
        assert_eq!(r, Err(StepFailure::NewtonFailure));
    }
}
