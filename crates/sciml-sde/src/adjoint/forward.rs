//! What the adjoints share: the fixed-step set-up and checks, and the forward pass (fixed steps of
//! a method on a grid, with the Brownian path supplied node by node).

use crate::error::SdeError;
use crate::methods::{step, Method, Work};
use crate::problem::{SdeFunction, SdeProblem};
use crate::solver::{default_tree, grid_saves, increments, validate, Grid, SdeOptions};
use crate::BrownianTree;
use sciml_core::{Error, Real, ReturnCode, Stats};

/// Checks a fixed-step adjoint's options (`who` names the adjoint in the refusal of adaptive
/// steps) and returns the solve's Brownian tree, its grid and the grid indices of the saves.
pub(crate) fn fixed_setup<R: Real, F: SdeFunction<R>>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
    who: &str,
) -> Result<(BrownianTree, Grid<R>, Vec<usize>), SdeError> {
    if opts.adaptive {
        return Err(Error::InvalidOption {
            option: "adaptive",
            reason: format!("{who} needs fixed steps"),
        }
        .into());
    }
    validate(prob, method, opts)?;
    let (tree, grid) = default_tree(prob, method, opts)?;
    let grid = grid.ok_or(Error::InvalidOption {
        option: "dt",
        reason: "fixed-step solves need a step size".into(),
    })?;
    let saves = grid_saves(prob.tspan.0, prob.tspan.1, &grid, &opts.saveat)?;
    Ok((tree, grid, saves))
}

/// Checks that a loss returned one cotangent of length `n` per saved state.
pub(crate) fn check_cotangents<R>(cot: &[Vec<R>], saves: usize, n: usize) -> Result<(), SdeError> {
    if cot.len() != saves || cot.iter().any(|c| c.len() != n) {
        return Err(Error::DimensionMismatch {
            what: "loss cotangents (one per saved state, each of the state's length)".into(),
            expected: saves * n,
            got: cot.iter().map(|c| c.len()).sum(),
        }
        .into());
    }
    Ok(())
}

/// Steps `method` from grid node `j0` (state `u0`) to node `j1`, with `w_at(j, out)` giving
/// `W(t_j)`, and hands each new state to `visit(j, u_j)`. The arithmetic is that of
/// [`crate::solve`], so on the same path the states are bitwise the same.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_steps<R: Real, F: SdeFunction<R>>(
    f: &mut F,
    method: Method,
    prob: &SdeProblem<R, F>,
    grid: &Grid<R>,
    (j0, j1): (usize, usize),
    u0: &[R],
    stats: &mut Stats,
    mut w_at: impl FnMut(usize, &mut [f64]),
    mut visit: impl FnMut(usize, &[R]),
) -> Result<(), SdeError> {
    let n = u0.len();
    let noise = f.noise();
    let m = noise.brownian_dim(n);
    let (t0, t1) = prob.tspan;
    let mut work = Work::new(n, noise, method);
    let dim = if method.needs_z() { 2 * m } else { m };
    let (mut wprev, mut wnext) = (vec![0.0f64; dim], vec![0.0f64; dim]);
    let (mut dw, mut dz) = (vec![R::zero(); m], vec![R::zero(); m]);
    let mut u = u0.to_vec();
    let mut unew = vec![R::zero(); n];
    w_at(j0, &mut wprev);
    for j in j0 + 1..=j1 {
        let t = grid.time(t0, t1, j - 1);
        let h = grid.time(t0, t1, j) - t;
        w_at(j, &mut wnext);
        increments(&wprev, &wnext, m, &mut dw, &mut dz);
        step(
            method,
            f,
            t,
            h,
            &u,
            &prob.p,
            &dw,
            &dz,
            &mut unew,
            &mut work,
            None,
            &mut stats.nf,
        );
        stats.steps += 1;
        stats.accepted += 1;
        if !unew.iter().all(|x| x.is_finite()) {
            return Err(SdeError::Failed {
                code: ReturnCode::NonFinite,
                t: t.to_f64_lossy(),
            });
        }
        visit(j, &unew);
        std::mem::swap(&mut u, &mut unew);
        std::mem::swap(&mut wprev, &mut wnext);
    }
    Ok(())
}
