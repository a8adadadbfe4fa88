//! One simplified Newton iteration for every implicit solver: the ESDIRK stages, the BDF
//! corrector, the discrete adjoint's replay of ESDIRK stages, and residual (DAE) problems.
//!
//! # The shared iteration
//!
//! A nonlinear system `G(z) = 0` is seen through the [`Residual`] trait: the Newton right-hand
//! side `−G(z)` at an iterate (in whatever scaling the iteration matrix has), the solve with the
//! current iteration matrix `W ≈ ∂G/∂z` (formed by a [`LinearStrategy`] from a [`WSpec`]), the
//! norm of an increment in tolerance units, and the update of the iterate (and of anything that
//! follows it, such as BDF's predicted value). [`iterate`] runs
//!
//! `W Δ_k = −G(z_k)`,  `z_{k+1} = z_k + Δ_k`
//!
//! and a [`NewtonConvergence`] value says when it stops:
//!
//! * Hairer and Wanner, *Solving ODEs II*, section IV.8 ("Implementation of implicit Runge–Kutta
//!   methods", eqs. 8.10–8.15): the contraction rate is estimated as
//!   `θ_k = ‖Δ_k‖ / ‖Δ_{k−1}‖`, the remaining error as `η_k ‖Δ_k‖` with `η_k = θ_k / (1 − θ_k)`,
//!   and the iteration stops once `η_k ‖Δ_k‖ ≤ κ`. It fails when `θ_k ≥ 1`, when the predicted
//!   error after the remaining iterations, `θ_k^{k_max − k} / (1 − θ_k) ‖Δ_k‖`, still exceeds
//!   `κ`, or after `k_max` iterations. For the first iteration, where no rate is known yet, `η`
//!   is carried over from the previous solve ([`Rate`]). [`NewtonConvergence::Stage`] is the rule of
//!   Hairer's SDIRK4/RADAU5 codes (`η_0 = max(η_old, ε)^0.8`, their eq. 8.15);
//!   [`NewtonConvergence::Corrector`] the variant of CVODE and diffsol that BDF uses (module docs of
//!   `bdf`).
//! * [`NewtonConvergence::Rounding`]: a full Newton iteration (the residual refactorises `W` at every
//!   iterate) run until the increment is below `rtol` times the iterate's size, and then once
//!   more — with quadratic convergence that one lands at rounding (the discrete adjoint's replay,
//!   DESIGN decision 7).
//!
//! The residual counts its own work in [`Stats`] (evaluations, iterations, solves), so each
//! family keeps the counts it has always reported.
//!
//! # ESDIRK stages
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
//! The norm is the solver's weighted RMS norm (`State::err_norm`, so `1` means "one tolerance")
//! of the change of the stage value `γΔ_k`; `κ` defaults to `0.03`, the value of Hairer's
//! SDIRK4/RADAU5 codes (`FNEWT`). A failure is a [`StepFailure::NewtonFailure`].
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

use super::linear::{LinearStrategy, WSpec};
use super::mass_mul_state;
use crate::method::StepFailure;
use sciml_core::{DenseMatrix, One, Re, Real, Scalar, State, Stats, Tolerance, VectorField, Zero};

/// A nonlinear system `G(z) = 0` as a simplified Newton iteration sees it (module docs). The
/// implementation holds the system's data, its buffers and the linear strategy's cache; the
/// iterate and the increment are [`iterate`]'s.
pub trait Residual {
    /// The iterate's type.
    type V: State;
    /// Writes Newton's right-hand side `−G(z)` at the iterate `z` into `out` (scaled as the
    /// iteration matrix is: `W·Δ = out` gives the Newton increment). A non-finite value is an
    /// error ([`StepFailure::NonFinite`] unless the family says otherwise).
    fn neg_residual(
        &mut self,
        z: &Self::V,
        out: &mut Self::V,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>;
    /// Solves `W·x = b` in place with the current iteration matrix.
    fn solve(&mut self, b: &mut Self::V, stats: &mut Stats) -> Result<(), StepFailure>;
    /// The norm of the increment `dz` in tolerance units (`1` is one tolerance), called right
    /// after [`Residual::update`] (which may prepare it).
    fn norm(&mut self, dz: &Self::V) -> Re<Self::V>;
    /// `z += dz`, and whatever follows the iterate (BDF's predicted value plus correction);
    /// called right after [`Residual::solve`].
    fn update(&mut self, z: &mut Self::V, dz: &Self::V) {
        z.axpy(Re::<Self::V>::one(), dz);
    }
    /// The iterate's size in the norm's units, for [`NewtonConvergence::Rounding`]'s relative test (as
    /// of the last [`Residual::neg_residual`]); one unless the residual says otherwise.
    fn magnitude(&self) -> Re<Self::V> {
        Re::<Self::V>::one()
    }
}

/// When [`iterate`] stops (module docs; Hairer and Wanner II, IV.8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NewtonConvergence {
    /// Hairer and Wanner's test `η‖Δ‖ ≤ κ`, with `η_0 = max(η_old, ε)^0.8` for the first
    /// iteration (their eq. 8.15) and a failure when even the remaining iterations at the
    /// current rate could not reach `κ` (and `η‖Δ‖ > κ`): the ESDIRK stages ([`Newton`]).
    Stage {
        /// Bound on the estimated remaining error `η‖Δ‖`, in tolerance units.
        kappa: f64,
        /// Most iterations.
        max_iter: usize,
    },
    /// The variant of CVODE and diffsol that BDF's corrector uses: `η‖Δ‖ < κ`; the first
    /// iteration takes `η_old` (at least `10⁴ε`), raised to 0.8 unless `η_old ≤ 1` and
    /// `η_old‖Δ‖ ≥ κ` (`η^0.8 ≥ η` there, so the power would not change the verdict).
    Corrector {
        /// Bound on the estimated remaining error `η‖Δ‖`, in tolerance units.
        kappa: f64,
        /// Most iterations.
        max_iter: usize,
    },
    /// Until `‖Δ‖ ≤ rtol·‖z‖` ([`Residual::magnitude`]), then one iteration more: a full Newton
    /// iteration (fresh `W` at every iterate) ends at rounding. The adjoint's replay.
    Rounding {
        /// Relative size of the increment after which one more iteration is taken.
        rtol: f64,
        /// Most iterations.
        max_iter: usize,
    },
}

/// What one solve passes to the next: `η = θ/(1 − θ)` of the last converged solve (written only
/// on success), and the largest contraction rate `θ` seen (raised, never lowered, by every
/// iteration after the first; [`Newton`] refreshes `J` when it grows too large).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate<R> {
    /// `η` of the last converged solve.
    pub eta: R,
    /// Largest `θ` seen since the caller last reset it.
    pub max_theta: R,
}

/// The simplified Newton iteration on `g` from the guess in `z` (module docs): `dz` is the
/// increment's buffer. Returns the number of iterations taken on convergence;
/// [`StepFailure::NewtonFailure`] when the convergence test gives up,
/// [`StepFailure::NonFinite`] for a non-finite increment norm, and the residual's and the
/// linear solve's errors as they come.
///
/// ```
/// use sciml_core::{Stats, State};
/// use sciml_ode::stiff::newton::{iterate, NewtonConvergence, Rate, Residual};
/// use sciml_ode::StepFailure;
/// // z² = 2 by full Newton (W = 2z at every iterate).
/// struct Sqrt2 { w: f64 }
/// impl Residual for Sqrt2 {
///     type V = Vec<f64>;
///     fn neg_residual(&mut self, z: &Vec<f64>, out: &mut Vec<f64>, _s: &mut Stats)
///         -> Result<(), StepFailure> {
///         self.w = 2.0 * z[0];
///         out[0] = 2.0 - z[0] * z[0];
///         Ok(())
///     }
///     fn solve(&mut self, b: &mut Vec<f64>, _s: &mut Stats) -> Result<(), StepFailure> {
///         b[0] /= self.w;
///         Ok(())
///     }
///     fn norm(&mut self, dz: &Vec<f64>) -> f64 { dz[0].abs() }
/// }
/// let (mut z, mut dz) = (vec![1.0], vec![0.0]);
/// let mut rate = Rate { eta: 1.0, max_theta: 0.0 };
/// let conv = NewtonConvergence::Rounding { rtol: 1e-12, max_iter: 20 };
/// let n = iterate(&mut Sqrt2 { w: 0.0 }, &mut z, &mut dz, conv, &mut rate, &mut Stats::default())
///     .unwrap();
/// assert!((z[0] - 2f64.sqrt()).abs() <= f64::EPSILON && n < 10);
/// ```
#[inline]
pub fn iterate<G: Residual>(
    g: &mut G,
    z: &mut G::V,
    dz: &mut G::V,
    conv: NewtonConvergence,
    rate: &mut Rate<Re<G::V>>,
    stats: &mut Stats,
) -> Result<usize, StepFailure> {
    type R<G> = Re<<G as Residual>::V>;
    let one = R::<G>::one();
    let zero = R::<G>::zero();
    let (kappa, max_iter) = match conv {
        NewtonConvergence::Stage { kappa, max_iter }
        | NewtonConvergence::Corrector { kappa, max_iter } => (R::<G>::c(kappa), max_iter),
        NewtonConvergence::Rounding { rtol, max_iter } => (R::<G>::c(rtol), max_iter),
    };
    // η of the first iteration, before anything is known of this solve's rate.
    let eta_first = match conv {
        NewtonConvergence::Stage { .. } => rate.eta.max(R::<G>::epsilon()).powf(R::<G>::c(0.8)),
        NewtonConvergence::Corrector { .. } => rate.eta.max(R::<G>::c(1e4) * R::<G>::epsilon()),
        NewtonConvergence::Rounding { .. } => zero,
    };
    let mut eta = eta_first;
    let mut prev = zero;
    let mut small = false;
    for k in 0..max_iter {
        g.neg_residual(z, dz, stats)?;
        g.solve(dz, stats)?;
        // The iterate moves before the tests: a failed solve's iterate is discarded anyway.
        g.update(z, dz);
        let ndz = g.norm(dz);
        if !ndz.is_finite() {
            return Err(StepFailure::NonFinite);
        }
        let left = max_iter - 1 - k;
        match conv {
            NewtonConvergence::Stage { .. } => {
                if k > 0 {
                    let theta = ndz / prev;
                    rate.max_theta = rate.max_theta.max(theta);
                    if theta >= one {
                        return Err(StepFailure::NewtonFailure);
                    }
                    eta = theta / (one - theta);
                    if left > 0
                        && theta.powf(R::<G>::from_usize(left)) / (one - theta) * ndz > kappa
                        && eta * ndz > kappa
                    {
                        // Even at this rate the remaining iterations cannot reach κ.
                        return Err(StepFailure::NewtonFailure);
                    }
                }
                if eta * ndz <= kappa || ndz == zero {
                    rate.eta = eta;
                    return Ok(k + 1);
                }
            }
            NewtonConvergence::Corrector { .. } => {
                if k > 0 {
                    let theta = ndz / prev;
                    rate.max_theta = rate.max_theta.max(theta);
                    if theta >= one
                        || (left > 0 && theta.powi(left as i32) / (one - theta) * ndz > kappa)
                    {
                        return Err(StepFailure::NewtonFailure);
                    }
                    eta = theta / (one - theta);
                }
                // For η ≤ 1, η^0.8 ≥ η, so when `η ‖Δ‖ ≥ κ` already the power is not needed.
                if k == 0 && (eta_first > one || eta_first * ndz < kappa) {
                    eta = (R::<G>::c(0.8) * eta_first.ln()).exp();
                }
                if eta * ndz < kappa || ndz == zero {
                    rate.eta = eta;
                    return Ok(k + 1);
                }
            }
            NewtonConvergence::Rounding { .. } => {
                if small || ndz == zero {
                    return Ok(k + 1);
                }
                small = ndz <= kappa * g.magnitude();
            }
        }
        prev = ndz;
    }
    Err(StepFailure::NewtonFailure)
}

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
        Self::new_like(lin, &vec![S::zero(); n])
    }
}

impl<V: State, LC> NewtonCache<V, LC> {
    /// Buffers for states shaped like `u0` around a linear-strategy cache.
    pub fn new_like(lin: LC, u0: &V) -> Self {
        let z = u0.zeros_like();
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
    pub fn stage_value(&self) -> &V {
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
    pub fn begin_step<S, V, F, L>(
        &self,
        c: &mut NewtonCache<V, L::Cache>,
        lin: &L,
        f: &mut F,
        p: &F::P,
        (t, u0): (S::Re, &V),
        hg: S::Re,
        mass: Option<&DenseMatrix<S::Re>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>
    where
        S: Scalar,
        F: VectorField<V = V>,
        V: State<S = S>,
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
            lin.factorise(&mut c.lin, WSpec::ode(hg, mass), stats)?;
            c.w_hg = hgf;
        }
        Ok(())
    }

    /// After a failed stage solve: makes the iteration matrix better if it can (a fresh `J` at
    /// `(t, u0)`, or `W` for the exact `hγ`) and returns `Ok(true)` when the step is worth
    /// retrying at the same size, `Ok(false)` when nothing is left to improve.
    #[allow(clippy::too_many_arguments)]
    pub fn recover<S, V, F, L>(
        &self,
        c: &mut NewtonCache<V, L::Cache>,
        lin: &L,
        f: &mut F,
        p: &F::P,
        (t, u0): (S::Re, &V),
        hg: S::Re,
        mass: Option<&DenseMatrix<S::Re>>,
        stats: &mut Stats,
    ) -> Result<bool, StepFailure>
    where
        S: Scalar,
        F: VectorField<V = V>,
        V: State<S = S>,
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
        lin.factorise(&mut c.lin, WSpec::ode(hg, mass), stats)?;
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

    /// The convergence test of the stage solves.
    pub fn convergence(&self) -> NewtonConvergence {
        NewtonConvergence::Stage {
            kappa: self.kappa,
            max_iter: self.max_iter,
        }
    }

    /// Solves `M z − h f(t_i, ψ + γ z) = 0` for `z`, starting from the guess in `z`; on success
    /// the stage value `ψ + γz` is left in the cache ([`NewtonCache::stage_value`]). `u0` scales
    /// the norm together with the stage value.
    #[allow(clippy::too_many_arguments)]
    pub fn solve_stage<S, V, F, L>(
        &self,
        c: &mut NewtonCache<V, L::Cache>,
        lin: &L,
        f: &mut F,
        p: &F::P,
        (ti, h, gamma): (S::Re, S::Re, S::Re),
        psi: &V,
        z: &mut V,
        (u0, tol): (&V, &Tolerance<S::Re>),
        mass: Option<&DenseMatrix<S::Re>>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure>
    where
        S: Scalar,
        F: VectorField<V = V>,
        V: State<S = S>,
        L: LinearStrategy<F>,
    {
        type R<S> = <S as Scalar>::Re;
        let NewtonCache {
            lin: lc,
            eta,
            max_theta,
            y,
            fy,
            dz,
            mz,
            ..
        } = c;
        let mut g = StageResidual {
            lin,
            lc,
            f,
            p,
            ti,
            h,
            gamma,
            psi,
            u0,
            tol,
            mass,
            y,
            fy,
            mz,
        };
        let mut rate = Rate {
            eta: R::<S>::c(*eta),
            max_theta: R::<S>::c(*max_theta),
        };
        let res = iterate(&mut g, z, dz, self.convergence(), &mut rate, stats);
        *max_theta = rate.max_theta.to_f64_lossy();
        res?;
        *eta = rate.eta.to_f64_lossy();
        y.lincomb(psi, &[gamma], &[&*z]);
        Ok(())
    }
}

/// An ESDIRK stage `M z − h f(t_i, ψ + γ z) = 0` as a [`Residual`] (module docs): `−G(z)` is
/// `h f(t_i, ψ + γz) − M z`, and the norm of an increment is that of the stage value's change
/// `γΔ`, weighted by `u0` and the stage value before the update (close enough for a weight).
struct StageResidual<'a, S: Scalar, V: State<S = S>, F: VectorField<V = V>, L: LinearStrategy<F>> {
    lin: &'a L,
    lc: &'a mut L::Cache,
    f: &'a mut F,
    p: &'a F::P,
    ti: S::Re,
    h: S::Re,
    gamma: S::Re,
    psi: &'a V,
    u0: &'a V,
    tol: &'a Tolerance<S::Re>,
    mass: Option<&'a DenseMatrix<S::Re>>,
    /// Stage value `ψ + γz` at the iterate.
    y: &'a mut V,
    fy: &'a mut V,
    /// `M z`, then `γΔ`.
    mz: &'a mut V,
}

impl<S, V, F, L> Residual for StageResidual<'_, S, V, F, L>
where
    S: Scalar,
    F: VectorField<V = V>,
    V: State<S = S>,
    L: LinearStrategy<F>,
{
    type V = V;

    #[inline]
    fn neg_residual(&mut self, z: &V, out: &mut V, stats: &mut Stats) -> Result<(), StepFailure> {
        self.y.lincomb(self.psi, &[self.gamma], &[z]);
        self.f.rhs(self.ti, self.y, self.p, self.fy);
        stats.nf += 1;
        let h = self.h;
        let mz: &V = match self.mass {
            None => z,
            Some(m) => {
                mass_mul_state(m, z, self.mz)?;
                self.mz
            }
        };
        // −G = h·f − M z: fused over host slices, else by the state's operations (the same
        // rounding: −(M z) + f·h).
        match (out.host_slice_mut(), self.fy.host_slice(), mz.host_slice()) {
            (Some(o), Some(fy), Some(mz)) => {
                for ((d, fy), mzi) in o.iter_mut().zip(fy).zip(mz) {
                    *d = *fy * h - *mzi;
                }
            }
            _ => {
                out.copy_from(mz);
                out.scale(-<S::Re as One>::one());
                out.axpy(h, self.fy);
            }
        }
        if out.all_finite() {
            Ok(())
        } else {
            Err(StepFailure::NonFinite)
        }
    }

    #[inline]
    fn solve(&mut self, b: &mut V, stats: &mut Stats) -> Result<(), StepFailure> {
        self.lin.solve(self.lc, self.f, self.p, b, stats)?;
        stats.nnewton += 1;
        Ok(())
    }

    /// `z += Δ`, and the stage value's change `γΔ` for the norm, in one pass.
    #[inline]
    fn update(&mut self, z: &mut V, dz: &V) {
        match (
            z.host_slice_mut(),
            dz.host_slice(),
            self.mz.host_slice_mut(),
        ) {
            (Some(z), Some(dz), Some(mz)) => {
                for ((zi, di), mi) in z.iter_mut().zip(dz).zip(mz) {
                    *zi += *di;
                    *mi = *di * self.gamma;
                }
            }
            _ => {
                z.axpy(<S::Re as One>::one(), dz);
                self.mz.copy_from(dz);
                self.mz.scale(self.gamma);
            }
        }
    }

    /// The norm of `γΔ` (left by `update`).
    #[inline]
    fn norm(&mut self, _dz: &V) -> S::Re {
        V::err_norm(self.mz, self.u0, self.y, self.tol)
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
