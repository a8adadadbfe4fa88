//! What the adjoints share: the fixed-step set-up and the check of a loss's cotangents.

use crate::error::SdeError;
use crate::grid::{grid_saves, Grid};
use crate::methods::Method;
use crate::problem::{SdeFunction, SdeProblem};
use crate::solver::{default_tree, validate, SdeOptions};
use crate::BrownianTree;
use sciml_core::{Error, Real, ReturnCode};

/// Checks a fixed-step adjoint's options (`who` names the adjoint in the refusal of adaptive
/// steps; a grid of more than `maxiters` steps fails with `MaxIters` before any work) and
/// returns the solve's Brownian tree, its grid and the grid indices of the saves.
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
    let (t0, t1) = prob.tspan;
    // The forward pass would stop after `maxiters` steps, leaving nothing to differentiate:
    // refuse before any work, with the code and time at which `solve` would stop.
    if grid.nsteps > opts.maxiters {
        return Err(SdeError::Failed {
            code: ReturnCode::MaxIters,
            t: grid.time(t0, t1, opts.maxiters).to_f64_lossy(),
            partial: None,
        });
    }
    let saves = grid_saves(t0, t1, &grid, &opts.saveat)?;
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
