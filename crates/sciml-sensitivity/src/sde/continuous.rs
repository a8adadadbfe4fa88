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
//! increments `−ΔW` on the forward grid, on the forward Brownian path replayed from the tree. The
//! two adjoints differ in where the state `z(t)` comes from:
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

use super::{check_cotangents, SdeAdjoint};
use crate::{BacksolveAdjoint, InterpolatingAdjoint};
use sciml_core::{Error, Real, ReturnCode, Solution, Stats};
use sciml_sde::replay::{fixed_setup, increments, GridPath, GridReplay, Nodes, StratonovichForm};
use sciml_sde::{
    ItoCorrection, Method, Noise, SdeError, SdeFunction, SdeOptions, SdeProblem, SdeVjp,
};

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

/// Scratch of the adjoint increments.
struct Scratch<R> {
    g: Vec<R>,
    wg: Vec<R>,
    wa: Vec<R>,
}

/// Where one backward Euler–Heun stage is evaluated (DESIGN decision 11): time, (negative) step,
/// the increments `dW` of the step, the forward state and the parameters.
#[derive(Clone, Copy)]
struct Stage<'a, R> {
    t: R,
    dt: R,
    dw: &'a [R],
    z: &'a [R],
    p: &'a [R],
}

/// `ka = −(∂f/∂z)ᵀ a dt − (∂g/∂z)ᵀ (a ⊗ dW)` and the same with `∂/∂θ` into `kmu`, both
/// overwritten. The VJPs accumulate, so the cotangents are negated.
fn adjoint_increment<R: Real, B: SdeVjp<R>>(
    f: &mut B,
    noise: Noise,
    st: Stage<'_, R>,
    a: &[R],
    (ka, kmu): (&mut [R], &mut [R]),
    s: &mut Scratch<R>,
) {
    let Stage { t, dt, dw, z, p } = st;
    ka.iter_mut().for_each(|x| *x = R::zero());
    kmu.iter_mut().for_each(|x| *x = R::zero());
    for (w, x) in s.wa.iter_mut().zip(a) {
        *w = -*x * dt;
    }
    f.drift_vjp(t, z, p, &s.wa, ka, kmu);
    noise.outer_to(a, dw, -R::one(), &mut s.wg);
    f.diffusion_vjp(t, z, p, &s.wg, ka, kmu);
}

/// `kz = f dt + g dW`.
fn state_increment<R: Real, B: SdeFunction<R>>(
    f: &mut B,
    noise: Noise,
    st: Stage<'_, R>,
    kz: &mut [R],
    s: &mut Scratch<R>,
) {
    let Stage { t, dt, dw, z, p } = st;
    f.drift(t, z, p, kz);
    for x in kz.iter_mut() {
        *x *= dt;
    }
    f.diffusion(t, z, p, &mut s.g);
    noise.apply_add(&s.g, dw, R::one(), kz);
}

/// The forward states the backward pass reads, by step index.
enum ForwardStates<R> {
    /// The final state only (backsolve).
    End(Vec<R>),
    /// Every state, `(nsteps + 1) · n` values.
    All(Vec<R>),
    /// The states at steps `0, k, 2k, …`, and the segment last recomputed.
    Checkpoints {
        every: usize,
        at: Vec<Vec<R>>,
        segment: usize,
        states: Vec<R>,
    },
}

/// The shared engine: forward solve with `method`, loss, backward Euler–Heun on the Stratonovich
/// system `back`.
fn continuous<R, F, B, L>(
    prob: &SdeProblem<R, F>,
    method: Method,
    mut back: B,
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
    let p = &prob.p;
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
    let mut states = match source {
        StateSource::Backsolve => {
            ForwardStates::End(checkpoints.pop().unwrap_or_else(|| prob.u0.clone()))
        }
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

    // Backward pass: y = (z, a, μ), z used only by backsolve.
    let noise = back.noise();
    let m = noise.brownian_dim(n);
    let gl = noise.diffusion_len(n);
    let mut s = Scratch {
        g: vec![R::zero(); gl],
        wg: vec![R::zero(); gl],
        wa: vec![R::zero(); n],
    };
    let mut z = match &states {
        ForwardStates::End(u) => u.clone(),
        _ => vec![R::zero(); n],
    };
    let mut zbar = vec![R::zero(); n];
    let mut a = vec![R::zero(); n];
    let mut abar = vec![R::zero(); n];
    let mut mu = vec![R::zero(); np];
    let (mut kz0, mut kz1) = (vec![R::zero(); n], vec![R::zero(); n]);
    let (mut ka0, mut ka1) = (vec![R::zero(); n], vec![R::zero(); n]);
    let (mut km0, mut km1) = (vec![R::zero(); np], vec![R::zero(); np]);
    let (mut wprev, mut wnext) = (vec![0.0f64; m], vec![0.0f64; m]);
    let (mut dw, mut dz) = (vec![R::zero(); m], vec![R::zero(); m]);
    let mut si = saves.len();
    let add = |j: usize, si: &mut usize, a: &mut [R]| {
        while *si > 0 && saves[*si - 1] == j {
            *si -= 1;
            for (x, c) in a.iter_mut().zip(&cot[*si]) {
                *x += *c;
            }
        }
    };
    let half = R::c(0.5);
    path.at(&mut tree, nsteps, &mut wnext);
    for j in (1..=nsteps).rev() {
        add(j, &mut si, &mut a);
        path.at(&mut tree, j - 1, &mut wprev);
        increments(&wprev, &wnext, m, &mut dw, &mut dz);
        for x in dw.iter_mut() {
            *x = -*x;
        }
        let tj = grid.time(t0, t1, j);
        let tjm = grid.time(t0, t1, j - 1);
        let dt = tjm - tj;
        // The state at t_j (stage 1) and at t_{j−1} (stage 2).
        match &mut states {
            ForwardStates::End(_) => {
                let st = Stage {
                    t: tj,
                    dt,
                    dw: &dw,
                    z: &z,
                    p,
                };
                state_increment(&mut back, noise, st, &mut kz0, &mut s);
                for i in 0..n {
                    zbar[i] = z[i] + kz0[i];
                }
            }
            ForwardStates::All(all) => {
                z.copy_from_slice(&all[j * n..(j + 1) * n]);
                zbar.copy_from_slice(&all[(j - 1) * n..j * n]);
            }
            ForwardStates::Checkpoints {
                every,
                at,
                segment,
                states,
            } => {
                let c = (j - 1) / *every;
                if *segment != c {
                    let j0 = c * *every;
                    let j1 = (j0 + *every).min(nsteps);
                    states.clear();
                    states.extend_from_slice(&at[c]);
                    let mut sink = Stats::default();
                    GridReplay {
                        f: &mut f,
                        method,
                        prob,
                        grid: &grid,
                        tree: &mut tree,
                        nodes: Nodes::Blocks(&mut path),
                    }
                    .steps((j0, j1), &at[c], &mut sink, |_, u| {
                        states.extend_from_slice(u)
                    })?;
                    *segment = c;
                }
                let o = j - c * *every;
                z.copy_from_slice(&states[o * n..(o + 1) * n]);
                zbar.copy_from_slice(&states[(o - 1) * n..o * n]);
            }
        }
        let st = Stage {
            t: tj,
            dt,
            dw: &dw,
            z: &z,
            p,
        };
        adjoint_increment(&mut back, noise, st, &a, (&mut ka0, &mut km0), &mut s);
        for i in 0..n {
            abar[i] = a[i] + ka0[i];
        }
        if matches!(states, ForwardStates::End(_)) {
            let st = Stage {
                t: tjm,
                dt,
                dw: &dw,
                z: &zbar,
                p,
            };
            state_increment(&mut back, noise, st, &mut kz1, &mut s);
        }
        let st = Stage {
            t: tjm,
            dt,
            dw: &dw,
            z: &zbar,
            p,
        };
        adjoint_increment(&mut back, noise, st, &abar, (&mut ka1, &mut km1), &mut s);
        for i in 0..n {
            a[i] += half * (ka0[i] + ka1[i]);
        }
        for i in 0..np {
            mu[i] += half * (km0[i] + km1[i]);
        }
        if matches!(states, ForwardStates::End(_)) {
            for i in 0..n {
                z[i] += half * (kz0[i] + kz1[i]);
            }
        }
        if !(a.iter().chain(&mu).chain(&z).all(|x| x.is_finite())) {
            return Err(SdeError::Failed {
                code: ReturnCode::NonFinite,
                t: tjm.to_f64_lossy(),
                partial: None,
            });
        }
        std::mem::swap(&mut wprev, &mut wnext);
    }
    add(0, &mut si, &mut a);
    Ok(SdeAdjoint {
        sol,
        loss,
        du0: a,
        dp: mu,
    })
}
