//! The fixed step grid of an SDE solve and the Brownian path on it: the grid's times, the save
//! indices, `W` at the grid nodes (drawn from the tree a block at a time), and the adjoints'
//! replay of the steps on the grid (public through [`crate::replay`]).

use crate::brownian::BrownianTree;
use crate::error::SdeError;
use crate::methods::Method;
use crate::problem::{SdeFunction, SdeProblem};
use crate::solver::{default_tree, sorted_times, validate, SdeOptions};
use crate::stepper::{Nodes, Path, SdeSetup, SdeStepper};
use sciml_core::{Error, Real, ReturnCode, SaveAt, SolveError, Stats};
use sciml_ode::{Callbacks, SolveOptions, StepLoop};

/// The fixed step grid: `nsteps` steps of `dt`, the last one possibly shorter; the Brownian tree
/// spans `dt · 2^k` so that every grid time is a tree node.
#[derive(Clone, Copy, Debug)]
pub struct Grid<R> {
    /// The step.
    pub dt: R,
    /// The number of steps.
    pub nsteps: usize,
    /// The tree's level whose dyadic nodes are the grid's times.
    pub k: u32,
    /// Whether the last step is a full `dt` (else it ends at `t1`, off the dyadic grid).
    pub last_exact: bool,
}

impl<R: Real> Grid<R> {
    /// The time of node `j` of the grid over `(t0, t1)`: `t0 + j·dt`, and `t1` at the last.
    pub fn time(&self, t0: R, t1: R, j: usize) -> R {
        if j == self.nsteps {
            t1
        } else {
            t0 + self.dt * R::from_usize(j)
        }
    }
}

pub(crate) fn grid_for<R: Real>(t0: R, t1: R, dt: R) -> Grid<R> {
    let span = (t1 - t0).to_f64_lossy();
    let d = dt.to_f64_lossy();
    let ratio = span / d;
    // A step that divides the span up to rounding in R (an f32 0.01 is not 1/100) gives an exact
    // number of steps, not one more sliver step.
    let slack = 100.0 * R::epsilon().to_f64_lossy();
    let nsteps = ((ratio * (1.0 - slack)).ceil() as usize).max(1);
    let last_exact = ((nsteps as f64) * d - span).abs() <= slack * span;
    let k = (usize::BITS - (nsteps - 1).leading_zeros()).min(60);
    Grid {
        dt,
        nsteps,
        k,
        last_exact,
    }
}

/// Step indices at which to save, for a fixed grid, ascending (save times in any order).
pub(crate) fn grid_saves<R: Real>(
    t0: R,
    t1: R,
    grid: &Grid<R>,
    saveat: &SaveAt<R>,
) -> Result<Vec<usize>, SdeError> {
    match saveat.listed_times(t0, t1, true)? {
        None => Ok((0..=grid.nsteps).collect()),
        Some(ts) => {
            let mut out = Vec::with_capacity(ts.len());
            for ts_i in sorted_times(&ts) {
                let j = if ts_i == t1 {
                    grid.nsteps
                } else {
                    ((ts_i - t0) / grid.dt).to_f64_lossy().round() as usize
                };
                let tj = grid.time(t0, t1, j.min(grid.nsteps));
                let off = (tj - ts_i).abs().to_f64_lossy();
                // Rounding of t0 + j·dt in R (f32 above all) is forgiven up to 0.1% of a step.
                if j > grid.nsteps || off > 1e-3 * grid.dt.to_f64_lossy() {
                    return Err(Error::InvalidOption {
                        option: "saveat",
                        reason: format!(
                            "time {ts_i} is not on the fixed step grid (dt = {}); choose dt \
                             dividing the save spacing",
                            grid.dt
                        ),
                    }
                    .into());
                }
                out.push(j);
            }
            Ok(out)
        }
    }
}

/// Checks a fixed-step adjoint's options (`who` names the adjoint in the refusal of adaptive
/// steps; a grid of more than `maxiters` steps fails with `MaxIters` before any work) and
/// returns the solve's Brownian tree, its grid and the grid indices of the saves.
pub fn fixed_setup<R: Real, F: SdeFunction<R>>(
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

/// `W` at the fixed-grid times `t_lo..=t_hi` (`hi ≤ nsteps`) into `out` (length
/// `(hi − lo + 1) · dim`), each tree node drawn once: bitwise what `eval_dyadic` gives at the grid
/// nodes, and at a short last step's `t1` what `eval` gives there.
pub fn grid_brownian<R: Real>(
    tree: &mut BrownianTree,
    grid: &Grid<R>,
    t1: R,
    (lo, hi): (usize, usize),
    out: &mut [f64],
) {
    let d = tree.dim();
    // A short last step ends at t1, off the dyadic grid.
    let off_grid = hi == grid.nsteps && !grid.last_exact;
    let dyadic_hi = if off_grid { hi - 1 } else { hi };
    if dyadic_hi >= lo {
        let n = (dyadic_hi - lo + 1) * d;
        tree.fill_dyadic(lo as u64, dyadic_hi as u64, grid.k, &mut out[..n]);
    }
    if off_grid {
        let o = (hi - lo) * d;
        tree.eval_unchecked(t1.to_f64_lossy(), &mut out[o..o + d]);
    }
}

/// `W` at the nodes of a fixed grid, read in order (forward or backward) and drawn from the tree
/// a block of nodes at a time, each tree node once per block (bitwise what `eval_dyadic` gives),
/// so the cost per node is one normal sample and memory stays `O(BLOCK · dim)`.
pub struct GridPath<R> {
    grid: Grid<R>,
    t1: R,
    /// `W` at nodes `lo..=hi`.
    block: Vec<f64>,
    lo: usize,
    hi: usize,
}

impl<R: Real> GridPath<R> {
    const BLOCK: usize = 256;

    /// The path on `grid` over a span ending at `t1`; nothing is drawn until [`GridPath::at`].
    pub fn new(grid: Grid<R>, t1: R) -> Self {
        GridPath {
            grid,
            t1,
            block: Vec::new(),
            lo: 1,
            hi: 0,
        }
    }

    /// `W(t_j)` on `tree` (always the same tree for one `GridPath`).
    pub fn at(&mut self, tree: &mut BrownianTree, j: usize, out: &mut [f64]) {
        let d = tree.dim();
        if j < self.lo || j > self.hi {
            self.lo = j - j % Self::BLOCK;
            self.hi = (self.lo + Self::BLOCK).min(self.grid.nsteps);
            self.block.resize((self.hi - self.lo + 1) * d, 0.0);
            grid_brownian(
                tree,
                &self.grid,
                self.t1,
                (self.lo, self.hi),
                &mut self.block,
            );
        }
        let o = (j - self.lo) * d;
        out.copy_from_slice(&self.block[o..o + d]);
    }
}

/// Brownian increments from `wprev` to `wnext` into `dw` (first m) and `dz` (second m).
pub fn increments<R: Real>(wprev: &[f64], wnext: &[f64], m: usize, dw: &mut [R], dz: &mut [R]) {
    for j in 0..m {
        dw[j] = R::c(wnext[j] - wprev[j]);
    }
    if wnext.len() > m {
        for j in 0..m {
            dz[j] = R::c(wnext[m + j] - wprev[m + j]);
        }
    }
}

/// The adjoints' forward pass on a fixed grid: `method` stepping `f` on `prob` along `grid`, with
/// `W` at the nodes from `nodes`, run through the shared loop like [`crate::solve`] (DESIGN
/// decision 11: the arguments of [`GridReplay::steps`] are what changes per call).
pub struct GridReplay<'a, 'n, R: Real, F> {
    /// The system (the adjoints' own copy).
    pub f: &'a mut F,
    /// The method.
    pub method: Method,
    /// The problem (span and parameters).
    pub prob: &'a SdeProblem<R, F>,
    /// The grid.
    pub grid: &'a Grid<R>,
    /// The Brownian path the grid was drawn from.
    pub tree: &'a mut BrownianTree,
    /// How `W` at a node is read.
    pub nodes: Nodes<'n, R>,
}

impl<R: Real, F: SdeFunction<R>> GridReplay<'_, '_, R, F> {
    /// Steps from grid node `j0` (state `u0`) to node `j1` and hands each new state to
    /// `visit(j, u_j)`; the work is added to `stats`. The steps' times and sizes are the grid's
    /// whatever the segment, so on the same path the states are bitwise those of
    /// [`crate::solve`], and a segment recomputed from a checkpoint is bitwise the same as the
    /// whole run. A NaN or infinite state fails with `NonFinite` and no partial solution.
    pub fn steps(
        self,
        (j0, j1): (usize, usize),
        u0: &[R],
        stats: &mut Stats,
        mut visit: impl FnMut(usize, &[R]),
    ) -> Result<(), SdeError> {
        let GridReplay {
            f,
            method,
            prob,
            grid,
            tree,
            nodes,
        } = self;
        if j1 <= j0 {
            return Ok(());
        }
        let (t0, t1) = prob.tspan;
        let opts = SolveOptions {
            dt: Some(grid.dt),
            adaptive: Some(false),
            // Nothing saved: `visit` sees every state.
            saveat: SaveAt::Times(Vec::new()),
            dense: Some(false),
            // The adjoints check the grid against `maxiters` before any work.
            maxiters: usize::MAX,
            ..SolveOptions::default()
        };
        let setup = SdeSetup {
            method,
            path: Path::Grid {
                grid: *grid,
                nodes,
                j: j0,
                j_end: j0,
            },
            span: prob.tspan,
            n: u0.len(),
            delta: None,
            drift_at_start: false,
        };
        let stepper = SdeStepper::new(f, &prob.p, tree, setup);
        let span = (grid.time(t0, t1, j0), grid.time(t0, t1, j1));
        let mut integ = StepLoop::new(stepper, &u0.to_vec(), span, &opts, Callbacks::new())?;
        loop {
            let more = integ.step().map_err(replay_error)?;
            let j = integ.stepper_mut().node().unwrap_or(j1);
            visit(j, integ.u());
            if !more {
                break;
            }
        }
        *stats += &integ.solution().stats;
        Ok(())
    }
}

/// The [`SdeError`] of a failed replay or adjoint pass on the shared loop: its code and time,
/// and no partial solution (what such a pass steps is not the solve's saved trajectory).
pub fn replay_error<R: Real>(e: SolveError<Vec<R>>) -> SdeError {
    match e {
        SolveError::Failed { code, t, .. } => SdeError::Failed {
            code,
            t,
            partial: None,
        },
        SolveError::Input(e) => e.into(),
    }
}
