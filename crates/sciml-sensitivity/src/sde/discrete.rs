//! The discrete adjoint: reverse-mode differentiation of the fixed-step Euler–Maruyama or
//! Euler–Heun recursion on one Brownian path.
//!
//! The forward pass stores the state after every step (`O(N n)`); the Brownian path at the grid
//! times is drawn from the tree once (each tree node once, `O(N m)` memory) and serves both
//! passes, bitwise the values a solve with the same seed uses. Each step is transposed with the
//! drift's and the diffusion's VJPs ([`SdeVjp`]); no derivative of the diffusion beyond its VJP
//! is needed, which is why only derivative-free schemes are offered (Milstein's correction would
//! need second derivatives).

use super::{check_cotangents, SdeAdjoint};
use sciml_core::{Error, Real, Solution, Stats};
use sciml_sde::replay::{fixed_setup, grid_brownian, increments, GridReplay, Nodes};
use sciml_sde::{Method, SdeError, SdeOptions, SdeProblem, SdeVjp};

/// Solves with fixed steps and back-propagates a loss of the saved states.
///
/// `loss(ts, us)` receives the saved times and states and returns the loss with its cotangents
/// `∂L/∂u_k`, one per saved state (so losses over the whole trajectory, such as moments over a
/// batch, are allowed). Supported methods: [`Method::EulerMaruyama`] (Itô) and [`Method::EulerHeun`]
/// (Stratonovich), any noise shape. The gradient is the exact derivative of the computed
/// solution on the path given by `opts.seed`.
///
/// ```
/// use sciml_sensitivity::sde::discrete_adjoint;
/// use sciml_sde::{FnSde, Method, Noise, SdeOptions, SdeProblem};
/// // du = p0 u dt + p1 u dW, L = u(1).
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
/// let opts = SdeOptions::fixed(0.01).saveat(vec![1.0]).seed(1);
/// let r = discrete_adjoint(&prob, Method::EulerMaruyama, &opts, |_ts, us| {
///     (us[0][0], vec![vec![1.0]])
/// }).unwrap();
/// // u(1) is linear in u0, so dL/du0 = u(1)/u0.
/// assert!((r.du0[0] - r.sol.u[0][0]).abs() < 1e-12);
/// ```
pub fn discrete_adjoint<R, F, L>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
    loss: L,
) -> Result<SdeAdjoint<R>, SdeError>
where
    R: Real,
    F: SdeVjp<R> + Clone,
    L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
{
    if !matches!(method, Method::EulerMaruyama | Method::EulerHeun) {
        return Err(Error::Unsupported {
            method: method.name(),
            what: "be differentiated by the discrete adjoint (use EulerMaruyama or EulerHeun)"
                .into(),
        }
        .into());
    }
    let (mut tree, grid, saves) = fixed_setup(prob, method, opts, "the discrete adjoint")?;
    let mut f = prob.f.clone();
    let n = prob.u0.len();
    let np = prob.p.len();
    let noise = f.noise();
    let m = noise.brownian_dim(n);
    let gl = noise.diffusion_len(n);
    let (t0, t1) = prob.tspan;
    let p = &prob.p;
    let nsteps = grid.nsteps;

    // W at every grid time, each tree node drawn once, for the forward and the backward pass
    // (O(N m) memory, as the stored states are O(N n)).
    let dimw = tree.dim();
    let mut path = vec![0.0f64; (nsteps + 1) * dimw];
    grid_brownian(&mut tree, &grid, t1, (0, nsteps), &mut path);
    let w_at = |j: usize| &path[j * dimw..(j + 1) * dimw];

    // Forward pass, storing every state. For Euler–Maruyama each step evaluates the drift once
    // and the backward sweep asks for its VJPs in reverse order, so the system may tape them.
    if method == Method::EulerMaruyama {
        f.record_drift(Some(nsteps));
    }
    let mut us = Vec::with_capacity((nsteps + 1) * n);
    us.extend_from_slice(&prob.u0);
    let mut stats = Stats::default();
    let forward = GridReplay {
        f: &mut f,
        method,
        prob,
        grid: &grid,
        tree: &mut tree,
        nodes: Nodes::Table(&path),
    }
    .steps((0, nsteps), &prob.u0, &mut stats, |_, u| {
        us.extend_from_slice(u)
    });
    if let Err(e) = forward {
        f.record_drift(None);
        return Err(e);
    }
    let mut sol = Solution::empty();
    for &j in &saves {
        sol.t.push(grid.time(t0, t1, j));
        sol.u.push(us[j * n..(j + 1) * n].to_vec());
    }
    sol.stats = stats;
    let (loss, cot) = loss(&sol.t, &sol.u);
    if let Err(e) = check_cotangents(&cot, saves.len(), n) {
        f.record_drift(None);
        return Err(e);
    }

    // Backward pass.
    let mut dw = vec![R::zero(); m];
    let mut dz = vec![R::zero(); m];
    let mut lambda = vec![R::zero(); n];
    let mut mu = vec![R::zero(); np];
    let mut gbuf = vec![R::zero(); n];
    let mut gu = vec![R::zero(); n];
    let mut wvec = vec![R::zero(); n];
    let mut wg = vec![R::zero(); gl];
    let mut f0 = vec![R::zero(); n];
    let mut g0 = vec![R::zero(); gl];
    let mut ubar = vec![R::zero(); n];
    let mut lbar = vec![R::zero(); n];
    let mut si = saves.len();
    let add_saves = |j: usize, si: &mut usize, lambda: &mut [R]| {
        while *si > 0 && saves[*si - 1] == j {
            *si -= 1;
            for (l, g) in lambda.iter_mut().zip(&cot[*si]) {
                *l += *g;
            }
        }
    };
    let half = R::c(0.5);
    for j in (1..=nsteps).rev() {
        add_saves(j, &mut si, &mut lambda);
        let t = grid.time(t0, t1, j - 1);
        let h = grid.time(t0, t1, j) - t;
        // Replay ΔW of step j.
        increments(w_at(j - 1), w_at(j), m, &mut dw, &mut dz);
        let u = &us[(j - 1) * n..j * n];
        gu.copy_from_slice(&lambda);
        match method {
            Method::EulerMaruyama => {
                for (w, l) in wvec.iter_mut().zip(&lambda) {
                    *w = *l * h;
                }
                f.drift_vjp(t, u, p, &wvec, &mut gu, &mut mu);
                noise.outer_to(&lambda, &dw, R::one(), &mut wg);
                f.diffusion_vjp(t, u, p, &wg, &mut gu, &mut mu);
            }
            _ => {
                // Euler–Heun: ū = u + h f(u) + g(u) ΔW, u' = u + h/2 (f(u) + f(ū))
                // + ½ (g(u) + g(ū)) ΔW.
                f.drift(t, u, p, &mut f0);
                f.diffusion(t, u, p, &mut g0);
                for i in 0..n {
                    ubar[i] = u[i] + h * f0[i];
                }
                noise.apply_add(&g0, &dw, R::one(), &mut ubar);
                lbar.iter_mut().for_each(|x| *x = R::zero());
                for (w, l) in wvec.iter_mut().zip(&lambda) {
                    *w = *l * h * half;
                }
                f.drift_vjp(t + h, &ubar, p, &wvec, &mut lbar, &mut mu);
                noise.outer_to(&lambda, &dw, half, &mut wg);
                f.diffusion_vjp(t + h, &ubar, p, &wg, &mut lbar, &mut mu);
                for i in 0..n {
                    wvec[i] = h * (half * lambda[i] + lbar[i]);
                    gbuf[i] = half * lambda[i] + lbar[i];
                }
                f.drift_vjp(t, u, p, &wvec, &mut gu, &mut mu);
                noise.outer_to(&gbuf, &dw, R::one(), &mut wg);
                f.diffusion_vjp(t, u, p, &wg, &mut gu, &mut mu);
                for i in 0..n {
                    gu[i] += lbar[i];
                }
            }
        }
        lambda.copy_from_slice(&gu);
    }
    add_saves(0, &mut si, &mut lambda);
    f.record_drift(None);
    Ok(SdeAdjoint {
        sol,
        loss,
        du0: lambda,
        dp: mu,
    })
}

impl crate::DiscreteAdjoint {
    /// [`discrete_adjoint`] through the type the ODE gradients use, so that one
    /// `DiscreteAdjoint` value serves ODE and SDE layers alike. The states of every step are
    /// stored: [`crate::Checkpointing::Every`] is not offered for SDEs yet (an `Err`).
    ///
    /// ```
    /// use sciml_sde::{FnSde, Method, Noise, SdeOptions, SdeProblem};
    /// use sciml_sensitivity::{Checkpointing, DiscreteAdjoint};
    /// // du = p0 u dt + p1 u dW, L = u(1): dL/du0 = u(1)/u0.
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
    /// let opts = SdeOptions::fixed(0.01).saveat(vec![1.0]).seed(1);
    /// let loss = |_ts: &[f64], us: &[Vec<f64>]| (us[0][0], vec![vec![1.0]]);
    /// let r = DiscreteAdjoint::default().sde_gradient(&prob, Method::EulerMaruyama, &opts, loss).unwrap();
    /// assert!((r.du0[0] - r.sol.u[0][0]).abs() < 1e-12);
    /// let every = DiscreteAdjoint { checkpointing: Checkpointing::Every(4) };
    /// assert!(every.sde_gradient(&prob, Method::EulerMaruyama, &opts, loss).is_err());
    /// ```
    pub fn sde_gradient<R, F, L>(
        &self,
        prob: &SdeProblem<R, F>,
        method: Method,
        opts: &SdeOptions<R>,
        loss: L,
    ) -> Result<SdeAdjoint<R>, SdeError>
    where
        R: Real,
        F: SdeVjp<R> + Clone,
        L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
    {
        if self.checkpointing != crate::Checkpointing::StoreAll {
            return Err(Error::Unsupported {
                method: "DiscreteAdjoint",
                what: "checkpoint an SDE solve (it stores every step's state; use Checkpointing::StoreAll)"
                    .into(),
            }
            .into());
        }
        discrete_adjoint(prob, method, opts, loss)
    }
}
