//! Continuous adjoints of SDEs: [`BacksolveAdjoint`] and [`InterpolatingAdjoint`] (the ODE
//! adjoints' types, through [`ContinuousSdeAdjoint`]), for
//! Stratonovich SDEs and, through the Itô–Stratonovich drift correction ([`ItoCorrection`]), for
//! Itô SDEs.
//!
//! In forward time the adjoint of the Stratonovich SDE `dz = f dt + g ∘ dW` (Li, Wong, Chen &
//! Duvenaud, "Scalable gradients for stochastic differential equations", AISTATS 2020, eq. 9) is
//!
//! `da = −(∂f/∂z)ᵀ a dt − (∂(g ∘ dW)/∂z)ᵀ a`, `dμ = −(∂f/∂θ)ᵀ a dt − (∂(g ∘ dW)/∂θ)ᵀ a`,
//!
//! whose diffusion terms are VJPs of the diffusion with the cotangent `a ⊗ dW`, so no Jacobian is
//! formed. It is stepped from `T` to `t0` by Euler–Heun (Stratonovich) with step `−h` and
//! increments `−ΔW` on the forward grid, on the forward Brownian path replayed from the tree,
//! through the shared step loop (`sciml_ode::StepLoop`, like the forward pass): a non-finite
//! adjoint fails with `ReturnCode::NonFinite` where the steps stood. The two adjoints differ in
//! where the state `z(t)` comes from:
//!
//! - [`BacksolveAdjoint`] integrates `z` backward together with `(a, μ)`: `O(n + n_p)` memory,
//!   but the reversed state drifts from the forward one where the dynamics contract.
//! - [`InterpolatingAdjoint`] takes `z` at the grid times from the forward solve: stored at every
//!   step, or at every `k`-th step with each segment recomputed on the same path (bitwise the
//!   same states), for `O((N/k + k) n)` memory.
//!
//! Both give the gradient of the continuous problem with an error of the scheme's order (the
//! forward method's strong order and Euler–Heun's), not the exact derivative of the computed
//! solution: [`super::discrete_adjoint`] gives that.
//!
//! Itô SDEs (`gradient_ito`, forward solve by Euler–Maruyama) are adjoined in their Stratonovich
//! form `dz = (f − c) dt + g ∘ dW`, as in Li et al. §3; the VJP of the correction `c` needs
//! second derivatives of the diffusion, which the system supplies through [`ItoCorrection`].

use super::backward::{BackwardSetup, BackwardStepper, Forward, ForwardStates};
use super::{check_cotangents, SdeAdjoint};
use crate::{BacksolveAdjoint, InterpolatingAdjoint};
use sciml_core::{Error, Real, SaveAt, Solution, Stats};
use sciml_ode::{Callbacks, SolveOptions, StepLoop};
use sciml_sde::replay::{fixed_setup, replay_error, GridPath, GridReplay, Nodes, StratonovichForm};
use sciml_sde::{ItoCorrection, Method, SdeError, SdeFunction, SdeOptions, SdeProblem, SdeVjp};

/// Where the backward pass gets the forward state.
#[derive(Clone, Copy, Debug)]
enum StateSource {
    Backsolve,
    Stored { every: Option<usize> },
}

impl BacksolveAdjoint {
    fn source(&self) -> Result<StateSource, SdeError> {
        Ok(StateSource::Backsolve)
    }
}

impl InterpolatingAdjoint {
    /// SDEs read `checkpointing` with the spacing `checkpoint_every` (the ODE adjoint's
    /// checkpoints are the save times instead).
    fn source(&self) -> Result<StateSource, SdeError> {
        if !self.checkpointing {
            return Ok(StateSource::Stored { every: None });
        }
        match self.checkpoint_every {
            Some(0) => Err(Error::InvalidOption {
                option: "checkpoint_every",
                reason: "checkpoints must be at least one step apart".into(),
            }
            .into()),
            None => Err(Error::InvalidOption {
                option: "checkpoint_every",
                reason:
                    "SDE checkpoints are every k steps: use InterpolatingAdjoint::checkpointed(k)"
                        .into(),
            }
            .into()),
            every => Ok(StateSource::Stored { every }),
        }
    }
}

/// The continuous adjoints of SDEs, on fixed grids: [`BacksolveAdjoint`] integrates the state
/// backward with the adjoint, `O(1)` memory in the number of steps; [`InterpolatingAdjoint`]
/// reads the state from the forward solve, stored at every step or, with
/// [`InterpolatingAdjoint::checkpointed`], recomputed segment by segment from checkpoints on the
/// same Brownian path.
///
/// ```
/// use sciml_sensitivity::sde::ContinuousSdeAdjoint;
/// use sciml_sensitivity::{BacksolveAdjoint, InterpolatingAdjoint};
/// use sciml_sde::{FnSde, Noise, SdeOptions, SdeProblem};
/// // du = p0 u dt + p1 u ∘ dW (Stratonovich), L = u(1) = u0 exp(p0 + p1 W(1)).
/// let f = FnSde::new(1, 2, Noise::Diagonal,
///     |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0],
///     |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| g[0] = p[1] * u[0])
///     .with_vjp(
///         |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
///             gu[0] += p[0] * w[0];
///             gp[0] += u[0] * w[0];
///         },
///         |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
///             gu[0] += p[1] * w[0];
///             gp[1] += u[0] * w[0];
///         });
/// let prob = SdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![0.5, 0.2]).unwrap();
/// let opts = SdeOptions::fixed(1.0 / 256.0).saveat(vec![1.0]).seed(1);
/// let loss = |_ts: &[f64], us: &[Vec<f64>]| (us[0][0], vec![vec![1.0]]);
/// let b = BacksolveAdjoint.gradient(&prob, &opts, loss).unwrap();
/// // dL/dp0 = u(1) exactly; the backsolve gradient is within the scheme's error.
/// assert!((b.dp[0] - b.sol.u[0][0]).abs() < 1e-2);
/// let r = InterpolatingAdjoint::new().gradient(&prob, &opts, loss).unwrap();
/// assert!((r.dp[0] - r.sol.u[0][0]).abs() < 1e-2);
/// // Checkpoints every 16 steps: the same states are recomputed, so the same gradient.
/// let c = InterpolatingAdjoint::checkpointed(16).gradient(&prob, &opts, loss).unwrap();
/// assert_eq!(c.dp, r.dp);
/// ```
pub trait ContinuousSdeAdjoint {
    /// Gradients of a loss of the saved states for a **Stratonovich** SDE, solved forward with
    /// fixed Euler–Heun steps (`opts` as for [`sciml_sde::solve`]; adaptive steps are refused).
    /// `loss(ts, us)` returns the loss and its cotangents, one per saved state; the forward
    /// solution is returned too.
    fn gradient<R, F, L>(
        &self,
        prob: &SdeProblem<R, F>,
        opts: &SdeOptions<R>,
        loss: L,
    ) -> Result<SdeAdjoint<R>, SdeError>
    where
        R: Real,
        F: SdeVjp<R> + Clone,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>);

    /// Gradients of a loss of the saved states for an **Itô** SDE, solved forward with fixed
    /// Euler–Maruyama steps; the adjoint runs on the Stratonovich form, whose drift correction
    /// the system supplies ([`ItoCorrection`]).
    fn gradient_ito<R, F, L>(
        &self,
        prob: &SdeProblem<R, F>,
        opts: &SdeOptions<R>,
        loss: L,
    ) -> Result<SdeAdjoint<R>, SdeError>
    where
        R: Real,
        F: ItoCorrection<R> + Clone,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>);
}

macro_rules! continuous_sde_adjoint {
    ($ty:ty) => {
        impl ContinuousSdeAdjoint for $ty {
            fn gradient<R, F, L>(
                &self,
                prob: &SdeProblem<R, F>,
                opts: &SdeOptions<R>,
                loss: L,
            ) -> Result<SdeAdjoint<R>, SdeError>
            where
                R: Real,
                F: SdeVjp<R> + Clone,
                L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
            {
                let back = prob.f.clone();
                continuous(prob, Method::EulerHeun, back, self.source()?, opts, loss)
            }

            fn gradient_ito<R, F, L>(
                &self,
                prob: &SdeProblem<R, F>,
                opts: &SdeOptions<R>,
                loss: L,
            ) -> Result<SdeAdjoint<R>, SdeError>
            where
                R: Real,
                F: ItoCorrection<R> + Clone,
                L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
            {
                let back = StratonovichForm::new(prob.f.clone());
                continuous(
                    prob,
                    Method::EulerMaruyama,
                    back,
                    self.source()?,
                    opts,
                    loss,
                )
            }
        }
    };
}

continuous_sde_adjoint!(BacksolveAdjoint);
continuous_sde_adjoint!(InterpolatingAdjoint);

/// The shared engine: forward solve with `method`, loss, backward Euler–Heun on the Stratonovich
/// system `back`.
fn continuous<R, F, B, L>(
    prob: &SdeProblem<R, F>,
    method: Method,
    back: B,
    source: StateSource,
    opts: &SdeOptions<R>,
    loss: L,
) -> Result<SdeAdjoint<R>, SdeError>
where
    R: Real,
    F: SdeFunction<R> + Clone,
    B: SdeVjp<R>,
    L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
{
    let (mut tree, grid, saves) = fixed_setup(prob, method, opts, "a continuous SDE adjoint")?;
    let (t0, t1) = prob.tspan;
    let n = prob.u0.len();
    let np = prob.p.len();
    let nsteps = grid.nsteps;
    let mut path = GridPath::new(grid, t1);

    // Forward pass: the saved states, and what the backward pass needs.
    let mut f = prob.f.clone();
    let mut stats = Stats::default();
    let mut sol = Solution::empty();
    // Checkpoints every `every` steps (backsolve keeps only the final state).
    let every = match source {
        StateSource::Backsolve => nsteps,
        StateSource::Stored { every: None } => nsteps,
        StateSource::Stored { every: Some(k) } => k,
    };
    let store_all = matches!(source, StateSource::Stored { every: None });
    let mut checkpoints: Vec<Vec<R>> = vec![prob.u0.clone()];
    let mut all = Vec::new();
    if store_all {
        all.reserve((nsteps + 1) * n);
        all.extend_from_slice(&prob.u0);
    }
    let mut si = 0;
    while si < saves.len() && saves[si] == 0 {
        sol.t.push(t0);
        sol.u.push(prob.u0.clone());
        si += 1;
    }
    GridReplay {
        f: &mut f,
        method,
        prob,
        grid: &grid,
        tree: &mut tree,
        nodes: Nodes::Blocks(&mut path),
    }
    .steps((0, nsteps), &prob.u0, &mut stats, |j, u| {
        while si < saves.len() && saves[si] == j {
            sol.t.push(grid.time(t0, t1, j));
            sol.u.push(u.to_vec());
            si += 1;
        }
        if j % every == 0 || j == nsteps {
            checkpoints.push(u.to_vec());
        }
        if store_all {
            all.extend_from_slice(u);
        }
    })?;
    sol.stats = stats;
    // The final state: the backward pass starts from it (checkpoints always end with it).
    let last = checkpoints
        .last()
        .cloned()
        .unwrap_or_else(|| prob.u0.clone());
    let states = match source {
        StateSource::Backsolve => ForwardStates::Backsolve,
        StateSource::Stored { every: None } => ForwardStates::All(all),
        StateSource::Stored { every: Some(k) } => ForwardStates::Checkpoints {
            every: k,
            at: checkpoints,
            segment: usize::MAX,
            states: Vec::new(),
        },
    };

    let (loss, cot) = loss(&sol.t, &sol.u);
    check_cotangents(&cot, saves.len(), n)?;

    // Backward pass on the shared loop: y = (z, a, μ) from t1 to t0 on the forward grid; the
    // stepper adds the cotangents of the saves at a node as the step from it starts.
    let mut y = vec![R::zero(); 2 * n + np];
    y[..n].copy_from_slice(&last);
    let setup = BackwardSetup {
        grid,
        tree: &mut tree,
        path,
        forward: Forward { f, method, prob },
        states,
        saves: &saves,
        cot: &cot,
    };
    let stepper = BackwardStepper::new(back, setup);
    let opts = SolveOptions {
        dt: Some(grid.dt),
        adaptive: Some(false),
        // Nothing saved: the driver reads the state at t0.
        saveat: SaveAt::Times(Vec::new()),
        dense: Some(false),
        // A short last step of the grid is the backward pass's first: land on the node before it,
        // so that the fixed steps after it fall on the grid's nodes.
        tstops: if grid.last_exact || nsteps < 2 {
            Vec::new()
        } else {
            vec![grid.time(t0, t1, nsteps - 1)]
        },
        // The grid was checked against `maxiters` before the forward pass.
        maxiters: usize::MAX,
        ..SolveOptions::default()
    };
    let mut integ = StepLoop::new(stepper, &y, (t1, t0), &opts, Callbacks::new())?;
    while integ.step().map_err(replay_error)? {}
    debug_assert_eq!(
        integ.stepper_mut().node(),
        0,
        "the backward pass ends on node 0"
    );
    y.copy_from_slice(integ.u());
    integ.stepper_mut().add_first_node(&mut y[n..2 * n]);
    let dp = y.split_off(2 * n);
    let du0 = y.split_off(n);
    Ok(SdeAdjoint { sol, loss, du0, dp })
}
