//! The fixed step grid of an SDE solve and the Brownian path on it: the grid's times, the save
//! indices, `W` at the grid nodes (drawn from the tree a block at a time), and the adjoints'
//! replay of the steps on the grid.

use crate::brownian::BrownianTree;
use crate::error::SdeError;
use crate::methods::{Method, SdeStep, Work};
use crate::problem::{SdeFunction, SdeProblem};
use crate::solver::sorted_times;
use sciml_core::{Error, Real, ReturnCode, SaveAt, Stats};

/// The fixed step grid: `nsteps` steps of `dt`, the last one possibly shorter; the Brownian tree
/// spans `dt · 2^k` so that every grid time is a tree node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid<R> {
    pub dt: R,
    pub nsteps: usize,
    pub k: u32,
    pub last_exact: bool,
}

impl<R: Real> Grid<R> {
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

/// `W` at the fixed-grid times `t_lo..=t_hi` (`hi ≤ nsteps`) into `out` (length
/// `(hi − lo + 1) · dim`), each tree node drawn once: bitwise what `eval_dyadic` gives at the grid
/// nodes, and at a short last step's `t1` what `eval` gives there.
pub(crate) fn grid_brownian<R: Real>(
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
pub(crate) struct GridPath<R> {
    grid: Grid<R>,
    t1: R,
    /// `W` at nodes `lo..=hi`.
    block: Vec<f64>,
    lo: usize,
    hi: usize,
}

impl<R: Real> GridPath<R> {
    const BLOCK: usize = 256;

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
pub(crate) fn increments<R: Real>(
    wprev: &[f64],
    wnext: &[f64],
    m: usize,
    dw: &mut [R],
    dz: &mut [R],
) {
    for j in 0..m {
        dw[j] = R::c(wnext[j] - wprev[j]);
    }
    if wnext.len() > m {
        for j in 0..m {
            dz[j] = R::c(wnext[m + j] - wprev[m + j]);
        }
    }
}

/// The adjoints' forward pass on a fixed grid: `method` stepping `f` on `prob` along `grid`
/// (DESIGN decision 11: the arguments of [`GridReplay::steps`] are what changes per call).
pub(crate) struct GridReplay<'a, R: Real, F> {
    /// The system (the adjoints' own copy).
    pub f: &'a mut F,
    /// The method.
    pub method: Method,
    /// The problem (span and parameters).
    pub prob: &'a SdeProblem<R, F>,
    /// The grid.
    pub grid: &'a Grid<R>,
}

impl<R: Real, F: SdeFunction<R>> GridReplay<'_, R, F> {
    /// Steps from grid node `j0` (state `u0`) to node `j1`, with `w_at(j, out)` giving `W(t_j)`,
    /// and hands each new state to `visit(j, u_j)`. The arithmetic is that of [`crate::solve`]
    /// (the loop's fixed steps `t0 + k·dt` are the grid's times), so on the same path the states
    /// are bitwise the same.
    pub fn steps(
        self,
        (j0, j1): (usize, usize),
        u0: &[R],
        stats: &mut Stats,
        mut w_at: impl FnMut(usize, &mut [f64]),
        mut visit: impl FnMut(usize, &[R]),
    ) -> Result<(), SdeError> {
        let GridReplay {
            f,
            method,
            prob,
            grid,
        } = self;
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
            let ctx = SdeStep {
                t,
                h,
                u: &u,
                p: &prob.p,
                dw: &dw,
                dz: &dz,
                delta: None,
                nf: &mut stats.nf,
            };
            work.step(f, ctx, &mut unew);
            stats.steps += 1;
            stats.accepted += 1;
            if !unew.iter().all(|x| x.is_finite()) {
                return Err(SdeError::Failed {
                    code: ReturnCode::NonFinite,
                    t: t.to_f64_lossy(),
                    partial: None,
                });
            }
            visit(j, &unew);
            std::mem::swap(&mut u, &mut unew);
            std::mem::swap(&mut wprev, &mut wnext);
        }
        Ok(())
    }
}
