//! BacksolveAdjoint for Stratonovich SDEs (Li, Wong, Chen & Duvenaud, "Scalable gradients for
//! stochastic differential equations", AISTATS 2020): the state, the adjoint `a = ∂L/∂u` and the
//! parameter gradient are integrated backward in time together, on the same Brownian path
//! replayed from the tree, so memory is `O(n + n_p)` in the number of steps.
//!
//! In forward time the augmented Stratonovich system is
//!
//! `dz = f dt + g ∘ dW`, `da = −(∂f/∂z)ᵀ a dt − (∂(g ∘ dW)/∂z)ᵀ a`,
//! `dμ = −(∂f/∂θ)ᵀ a dt − (∂(g ∘ dW)/∂θ)ᵀ a`,
//!
//! whose diffusion terms are VJPs of the diffusion with the cotangent `a ⊗ dW`, so no Jacobian
//! is formed. It is stepped from `T` to `t0` by Euler–Heun (Stratonovich) with step `−h` and
//! increments `−ΔW` on the forward grid. The gradient is that of the continuous problem, with an
//! error of the scheme's order (strong order 1 for commutative noise), not the exact derivative
//! of the computed solution (use [`crate::adjoint::discrete_adjoint`] for that). Itô problems
//! need the Itô–Stratonovich drift correction, which is not provided.

use crate::adjoint::SdeAdjoint;
use crate::error::SdeError;
use crate::methods::Method;
use crate::problem::{Noise, SdeProblem, SdeVjp};
use crate::solver::{default_tree, grid_saves, increments, solve, validate, SdeOptions};
use sciml_core::{Error, Real};

/// Scratch of one augmented evaluation.
struct Aug<R> {
    g: Vec<R>,
    wg: Vec<R>,
}

/// `k = F(y) Δt + G(y) ΔW` for the augmented state `y = (z, a, μ)`.
#[allow(clippy::too_many_arguments)]
fn aug_increment<R: Real, F: SdeVjp<R>>(
    f: &mut F,
    noise: Noise,
    t: R,
    dt: R,
    dw: &[R],
    n: usize,
    y: &[R],
    p: &[R],
    k: &mut [R],
    s: &mut Aug<R>,
) {
    let (z, rest) = y.split_at(n);
    let a = &rest[..n];
    k.iter_mut().for_each(|x| *x = R::zero());
    let (kz, krest) = k.split_at_mut(n);
    let (ka, kmu) = krest.split_at_mut(n);
    // z: f dt + g dW.
    f.drift(t, z, p, kz);
    for x in kz.iter_mut() {
        *x *= dt;
    }
    f.diffusion(t, z, p, &mut s.g);
    noise.apply_add(&s.g, dw, R::one(), kz);
    // a, μ: −(∂f)ᵀ a dt − (∂g)ᵀ (a ⊗ dW); the VJPs accumulate, so negate the cotangents.
    let wa: Vec<R> = a.iter().map(|x| -*x * dt).collect();
    f.drift_vjp(t, z, p, &wa, ka, kmu);
    noise.outer_to(a, dw, -R::one(), &mut s.wg);
    f.diffusion_vjp(t, z, p, &s.wg, ka, kmu);
}

/// Gradients of a loss of the saved states by the backsolve adjoint of a Stratonovich SDE solved
/// with fixed Euler–Heun steps (`opts` as for [`crate::solve`]; the forward solution is returned
/// too). `loss(ts, us)` returns the loss and its cotangents, one per saved state.
///
/// ```
/// use sciml_sde::adjoint::backsolve_adjoint;
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
/// let r = backsolve_adjoint(&prob, &opts, |_ts, us| (us[0][0], vec![vec![1.0]])).unwrap();
/// // dL/dp0 = u(1) exactly; the backsolve gradient is within the scheme's error.
/// assert!((r.dp[0] - r.sol.u[0][0]).abs() < 1e-2);
/// ```
pub fn backsolve_adjoint<R, F, L>(
    prob: &SdeProblem<R, F>,
    opts: &SdeOptions<R>,
    loss: L,
) -> Result<SdeAdjoint<R>, SdeError>
where
    R: Real,
    F: SdeVjp<R> + Clone,
    L: FnOnce(&[R], &[Vec<R>]) -> (R, Vec<Vec<R>>),
{
    let method = Method::EulerHeun;
    if opts.adaptive {
        return Err(Error::InvalidOption {
            option: "adaptive",
            reason: "the backsolve adjoint needs fixed steps".into(),
        }
        .into());
    }
    validate(prob, method, opts)?;
    let sol = solve(prob, method, opts)?;
    let (mut tree, grid) = default_tree(prob, method, opts)?;
    let grid = grid.ok_or(Error::InvalidOption {
        option: "dt",
        reason: "fixed-step solves need a step size".into(),
    })?;
    let saves = grid_saves(prob.tspan.0, prob.tspan.1, &grid, &opts.saveat)?;
    let (loss, cot) = loss(&sol.t, &sol.u);
    let n = prob.u0.len();
    let np = prob.p.len();
    if cot.len() != saves.len() || cot.iter().any(|c| c.len() != n) {
        return Err(Error::DimensionMismatch {
            what: "loss cotangents (one per saved state, each of the state's length)".into(),
            expected: saves.len() * n,
            got: cot.iter().map(|c| c.len()).sum(),
        }
        .into());
    }
    let mut f = prob.f.clone();
    let noise = f.noise();
    let m = noise.brownian_dim(n);
    let (t0, t1) = prob.tspan;
    let p = &prob.p;
    let nsteps = grid.nsteps;
    let query = |tree: &mut crate::BrownianTree, j: usize, out: &mut [f64]| {
        if j < nsteps || grid.last_exact {
            tree.eval_dyadic(j as u64, grid.k, out);
        } else {
            tree.eval_unchecked(t1.to_f64_lossy(), out);
        }
    };
    // y = (z, a, μ), starting from the final state.
    let len = 2 * n + np;
    let mut y = vec![R::zero(); len];
    // The final state: the last save if it is at T, else the last state of a fresh solve.
    let z_end = if saves.last() == Some(&nsteps) {
        sol.u[sol.u.len() - 1].clone()
    } else {
        let o = SdeOptions {
            saveat: crate::SaveAt::Steps,
            ..opts.clone()
        };
        let full = solve(prob, method, &o)?;
        full.u[full.u.len() - 1].clone()
    };
    y[..n].copy_from_slice(&z_end);
    let mut si = saves.len();
    let add = |j: usize, si: &mut usize, y: &mut [R]| {
        while *si > 0 && saves[*si - 1] == j {
            *si -= 1;
            for (a, c) in y[n..2 * n].iter_mut().zip(&cot[*si]) {
                *a += *c;
            }
        }
    };
    let mut s = Aug {
        g: vec![R::zero(); noise.diffusion_len(n)],
        wg: vec![R::zero(); noise.diffusion_len(n)],
    };
    let (mut k0, mut k1, mut ybar) = (
        vec![R::zero(); len],
        vec![R::zero(); len],
        vec![R::zero(); len],
    );
    let mut wprev = vec![0.0f64; m];
    let mut wnext = vec![0.0f64; m];
    let mut dw = vec![R::zero(); m];
    let mut dz = vec![R::zero(); m];
    query(&mut tree, nsteps, &mut wnext);
    for j in (1..=nsteps).rev() {
        add(j, &mut si, &mut y);
        query(&mut tree, j - 1, &mut wprev);
        increments(&wprev, &wnext, m, &mut dw, &mut dz);
        for x in dw.iter_mut() {
            *x = -*x;
        }
        let tj = grid.time(t0, t1, j);
        let tjm = grid.time(t0, t1, j - 1);
        let dt = tjm - tj;
        aug_increment(&mut f, noise, tj, dt, &dw, n, &y, p, &mut k0, &mut s);
        for i in 0..len {
            ybar[i] = y[i] + k0[i];
        }
        aug_increment(&mut f, noise, tjm, dt, &dw, n, &ybar, p, &mut k1, &mut s);
        for i in 0..len {
            y[i] += R::c(0.5) * (k0[i] + k1[i]);
        }
        if !y.iter().all(|x| x.is_finite()) {
            return Err(SdeError::Failed {
                code: sciml_core::ReturnCode::NonFinite,
                t: tjm.to_f64_lossy(),
            });
        }
        std::mem::swap(&mut wprev, &mut wnext);
    }
    add(0, &mut si, &mut y);
    Ok(SdeAdjoint {
        sol,
        loss,
        du0: y[n..2 * n].to_vec(),
        dp: y[2 * n..].to_vec(),
    })
}
