//! The stepping loop: fixed or adaptive steps, saving, and the Brownian path behind them.

use crate::brownian::BrownianTree;
use crate::error::SdeError;
use crate::methods::{step, Method, Tol, Work};
use crate::problem::{SdeFunction, SdeProblem};
use sciml_core::{Error, Real, ReturnCode, Solution, Stats};

/// Which states a solve returns: the type ODE solves use too. `Every(dt)` saves on the grid
/// `t0 + k·dt` and the end; `Times` may come in any order and are sorted (SDE spans run
/// forward, so ascending); with fixed steps every save time must lie on the step grid (to within
/// 0.1% of a step; the grid time is saved), and adaptive solves step onto them exactly.
pub use sciml_core::SaveAt;

/// Options of an SDE solve.
#[derive(Clone, Debug)]
pub struct SdeOptions<R> {
    /// Step size (fixed steps), or the first step (adaptive); required for fixed steps.
    pub dt: Option<R>,
    /// Adapt the step size (only for adaptive methods).
    pub adaptive: bool,
    /// Absolute tolerance of the error estimate.
    pub abstol: R,
    /// Relative tolerance of the error estimate.
    pub reltol: R,
    /// Weight of the deterministic part of the error estimate (Rackauckas & Nie's δ).
    pub delta: R,
    /// What to save.
    pub saveat: SaveAt<R>,
    /// Smallest step an adaptive solve may take (default `1e-12` of the span). Checked when the
    /// solve starts, also for fixed steps: finite, `>= 0` and `<= dtmax`.
    pub dtmin: Option<R>,
    /// Largest step an adaptive solve may take (default the span). Checked when the solve
    /// starts, also for fixed steps: finite and `> 0`.
    pub dtmax: Option<R>,
    /// Most step attempts (at least 1), for fixed and adaptive steps alike: a solve that needs
    /// more fails with [`ReturnCode::MaxIters`] after `maxiters` steps, its error holding the
    /// solution saved so far.
    pub maxiters: usize,
    /// Seed of the Brownian path.
    pub seed: u64,
}

impl<R: Real> SdeOptions<R> {
    /// Fixed steps of size `dt`.
    pub fn fixed(dt: R) -> Self {
        SdeOptions {
            dt: Some(dt),
            adaptive: false,
            abstol: R::c(1e-2),
            reltol: R::c(1e-2),
            delta: R::c(1.0 / 6.0),
            saveat: SaveAt::Steps,
            dtmin: None,
            dtmax: None,
            maxiters: 10_000_000,
            seed: 0,
        }
    }
    /// Adaptive steps with tolerances `abstol`, `reltol`.
    pub fn adaptive(abstol: R, reltol: R) -> Self {
        SdeOptions {
            dt: None,
            adaptive: true,
            abstol,
            reltol,
            ..Self::fixed(R::c(0.01))
        }
    }
    /// Sets the seed of the Brownian path.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Saves at these times.
    pub fn saveat(mut self, times: Vec<R>) -> Self {
        self.saveat = SaveAt::Times(times);
        self
    }
    /// Sets the (first) step size.
    pub fn dt(mut self, dt: R) -> Self {
        self.dt = Some(dt);
        self
    }
}

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

pub(crate) fn validate<R: Real, F: SdeFunction<R>>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
) -> Result<(), SdeError> {
    let noise = prob.f.noise();
    if !method.supports(noise) {
        return Err(SdeError::NoiseShape {
            reason: format!(
                "{} supports diagonal and scalar noise only, not {} noise; use EulerMaruyama, \
                 EulerHeun or LambaEM",
                method.name(),
                noise.name()
            ),
        });
    }
    if opts.adaptive && !method.is_adaptive() {
        return Err(Error::InvalidOption {
            option: "adaptive",
            reason: format!(
                "{} has no error estimate; use SRIW1, SRA1 or LambaEM, or fixed steps",
                method.name()
            ),
        }
        .into());
    }
    if let Some(dt) = opts.dt {
        // A negative step is refused, not read as |dt|: SDE spans always run forward.
        if !(dt.is_finite() && dt > R::zero()) {
            return Err(Error::InvalidOption {
                option: "dt",
                reason: format!("must be positive and finite, got {dt}"),
            }
            .into());
        }
    } else if !opts.adaptive {
        return Err(Error::InvalidOption {
            option: "dt",
            reason: "fixed-step solves need a step size".into(),
        }
        .into());
    }
    if opts.maxiters == 0 {
        return Err(Error::InvalidOption {
            option: "maxiters",
            reason: "is 0; allow at least one step".into(),
        }
        .into());
    }
    let (t0, t1) = prob.tspan;
    let dtmax = match opts.dtmax {
        Some(x) => {
            if !(x.is_finite() && x > R::zero()) {
                return Err(Error::InvalidOption {
                    option: "dtmax",
                    reason: format!("is {x}; give a finite positive largest step"),
                }
                .into());
            }
            x
        }
        None => t1 - t0,
    };
    if let Some(x) = opts.dtmin {
        if !(x.is_finite() && x >= R::zero() && x <= dtmax) {
            return Err(Error::InvalidOption {
                option: "dtmin",
                reason: format!(
                    "is {x}; need a finite 0 <= dtmin <= dtmax ({dtmax}{})",
                    if opts.dtmax.is_none() {
                        ", the span by default"
                    } else {
                        ""
                    }
                ),
            }
            .into());
        }
    }
    if opts.adaptive && !(opts.abstol > R::zero() && opts.reltol >= R::zero()) {
        return Err(Error::InvalidOption {
            option: "abstol",
            reason: "tolerances must be positive".into(),
        }
        .into());
    }
    if let Some(ts) = opts.saveat.listed_times(t0, t1, true)? {
        if ts.is_empty() {
            return Err(Error::InvalidOption {
                option: "saveat",
                reason: "give at least one time".into(),
            }
            .into());
        }
        for (i, x) in ts.iter().enumerate() {
            if !(x.is_finite() && *x >= t0 && *x <= t1) {
                return Err(Error::InvalidOption {
                    option: "saveat",
                    reason: format!(
                        "time {x} (index {i}) is not a finite time in the span [{t0}, {t1}]"
                    ),
                }
                .into());
            }
        }
        for w in sorted_times(&ts).windows(2) {
            if w[0] == w[1] {
                return Err(Error::InvalidOption {
                    option: "saveat",
                    reason: format!("time {} is given twice; give distinct times", w[0]),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Save times in the order of integration (ascending; SDE spans run forward). The times are
/// checked finite by [`validate`]; a NaN would sort as equal to anything.
pub(crate) fn sorted_times<R: Real>(ts: &[R]) -> Vec<R> {
    let mut v = ts.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
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

/// Brownian dimension a method needs for a problem.
pub(crate) fn tree_dim<R: Real, F: SdeFunction<R>>(
    prob: &SdeProblem<R, F>,
    method: Method,
) -> usize {
    let m = prob.f.noise().brownian_dim(prob.u0.len());
    if method.needs_z() {
        2 * m
    } else {
        m
    }
}

/// The Brownian tree a solve with these options uses (a function of the seed, the span and, for
/// fixed steps, the grid).
pub(crate) fn default_tree<R: Real, F: SdeFunction<R>>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
) -> Result<(BrownianTree, Option<Grid<R>>), SdeError> {
    let (t0, t1) = prob.tspan;
    let dim = tree_dim(prob, method);
    if opts.adaptive {
        let tree = BrownianTree::new(opts.seed, t0.to_f64_lossy(), t1.to_f64_lossy(), dim)?;
        Ok((tree, None))
    } else {
        let dt = opts.dt.ok_or(Error::InvalidOption {
            option: "dt",
            reason: "fixed-step solves need a step size".into(),
        })?;
        let grid = grid_for(t0, t1, dt);
        let t0f = t0.to_f64_lossy();
        let end = t0f + dt.to_f64_lossy() * (1u64 << grid.k) as f64;
        let tree = BrownianTree::new(opts.seed, t0f, end.max(t1.to_f64_lossy()), dim)?;
        Ok((tree, Some(grid)))
    }
}

/// Solves an SDE problem with `method`; the Brownian path is grown from `opts.seed`.
///
/// ```
/// use sciml_sde::{solve, FnSde, Method, Noise, SdeOptions, SdeProblem};
/// // Ornstein–Uhlenbeck with scalar noise, adaptive SRA1 (additive noise).
/// let f = FnSde::new(1, 0, Noise::Scalar,
///     |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -u[0],
///     |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 0.5);
/// let prob = SdeProblem::new(f, vec![1.0], (0.0, 2.0), vec![]).unwrap();
/// let sol = solve(&prob, Method::Sra1, &SdeOptions::adaptive(1e-3, 1e-3).seed(1)).unwrap();
/// assert_eq!(*sol.t.last().unwrap(), 2.0);
/// ```
pub fn solve<R: Real, F: SdeFunction<R> + Clone>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
) -> Result<Solution<Vec<R>>, SdeError> {
    validate(prob, method, opts)?;
    let (mut tree, grid) = default_tree(prob, method, opts)?;
    let mut f = prob.f.clone();
    run(&mut f, prob, method, opts, &mut tree, grid)
}

/// Solves on a given Brownian path (its dimension must be the number of Brownian motions, doubled
/// for SRIW1 and SRA1, whose second half is the auxiliary `Z`; its span must cover the problem's).
pub fn solve_with_brownian<R: Real, F: SdeFunction<R> + Clone>(
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
    tree: &mut BrownianTree,
) -> Result<Solution<Vec<R>>, SdeError> {
    validate(prob, method, opts)?;
    let dim = tree_dim(prob, method);
    if tree.dim() != dim {
        return Err(SdeError::NoiseShape {
            reason: format!(
                "the Brownian path has dimension {}, {} with {} noise needs {dim}",
                tree.dim(),
                method.name(),
                prob.f.noise().name()
            ),
        });
    }
    let (a, b) = tree.span();
    if a > prob.tspan.0.to_f64_lossy() || b < prob.tspan.1.to_f64_lossy() {
        return Err(Error::InvalidSpan {
            t0: a,
            t1: b,
            reason: "the Brownian path must cover the problem's time span".into(),
        }
        .into());
    }
    let mut f = prob.f.clone();
    run(&mut f, prob, method, opts, tree, None)
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
pub(crate) struct GridPath<'a, R> {
    grid: &'a Grid<R>,
    t1: R,
    /// `W` at nodes `lo..=hi`.
    block: Vec<f64>,
    lo: usize,
    hi: usize,
}

impl<'a, R: Real> GridPath<'a, R> {
    const BLOCK: usize = 256;

    pub fn new(grid: &'a Grid<R>, t1: R) -> Self {
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
                self.grid,
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
            // The caller attaches what it saved (see `run`).
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

fn run<R: Real, F: SdeFunction<R>>(
    f: &mut F,
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
    tree: &mut BrownianTree,
    grid: Option<Grid<R>>,
) -> Result<Solution<Vec<R>>, SdeError> {
    let n = prob.u0.len();
    let noise = f.noise();
    let m = noise.brownian_dim(n);
    let (t0, t1) = prob.tspan;
    let p = &prob.p;
    let mut work = Work::new(n, noise, method);
    let mut u = prob.u0.clone();
    let mut unew = u.clone();
    let dimw = tree.dim();
    let mut wprev = vec![0.0f64; dimw];
    let mut wnext = vec![0.0f64; dimw];
    tree.eval_unchecked(t0.to_f64_lossy(), &mut wprev);
    let mut dw = vec![R::zero(); m];
    let mut dz = vec![R::zero(); m];
    let mut sol = Solution::<Vec<R>>::empty();
    let mut stats = Stats::default();

    if !opts.adaptive {
        // Fixed steps on the grid (or, for a user tree, at real times).
        let dt = opts.dt.unwrap_or(t1 - t0);
        let g = grid.unwrap_or_else(|| grid_for(t0, t1, dt));
        let saves = grid_saves(t0, t1, &g, &opts.saveat)?;
        let mut si = 0;
        while si < saves.len() && saves[si] == 0 {
            sol.t.push(t0);
            sol.u.push(u.clone());
            si += 1;
        }
        // At most `maxiters` steps; a longer grid fails with MaxIters where they end.
        let last = g.nsteps.min(opts.maxiters);
        // On the tree's own grid, W is read from blocks of nodes (each node drawn once).
        let mut path = GridPath::new(&g, t1);
        let res = forward_steps(
            f,
            method,
            prob,
            &g,
            (0, last),
            &prob.u0,
            &mut stats,
            |j, w| {
                if grid.is_some() && j > 0 {
                    path.at(tree, j, w);
                } else {
                    tree.eval_unchecked(g.time(t0, t1, j).to_f64_lossy(), w);
                }
            },
            |j, u| {
                while si < saves.len() && saves[si] == j {
                    sol.t.push(g.time(t0, t1, j));
                    sol.u.push(u.to_vec());
                    si += 1;
                }
            },
        );
        sol.stats = stats;
        return match res {
            Err(SdeError::Failed { code, t, .. }) => Err(SdeError::failed(code, t, sol)),
            Err(e) => Err(e),
            Ok(()) if last < g.nsteps => Err(SdeError::failed(
                ReturnCode::MaxIters,
                g.time(t0, t1, last).to_f64_lossy(),
                sol,
            )),
            Ok(()) => Ok(sol),
        };
    }

    // Adaptive steps.
    let tol = Tol {
        abstol: opts.abstol,
        reltol: opts.reltol,
        delta: opts.delta,
    };
    let span = t1 - t0;
    let dtmin = opts.dtmin.unwrap_or(span * R::c(1e-12));
    let dtmax = opts.dtmax.unwrap_or(span);
    let mut h = opts.dt.unwrap_or(span * R::c(1e-2)).min(dtmax);
    let listed = opts.saveat.listed_times(t0, t1, true)?;
    let targets: Vec<R> = match &listed {
        None => vec![t1],
        Some(ts) => {
            let mut v = sorted_times(ts);
            v.retain(|x| *x > t0);
            if v.last().copied() != Some(t1) {
                v.push(t1);
            }
            v
        }
    };
    let save_time = |x: R| match &listed {
        None => true,
        Some(ts) => ts.contains(&x),
    };
    if save_time(t0) {
        sol.t.push(t0);
        sol.u.push(u.clone());
    }
    let mut t = t0;
    let mut ti = 0;
    while ti < targets.len() {
        if stats.steps >= opts.maxiters {
            sol.stats = stats;
            return Err(SdeError::failed(
                ReturnCode::MaxIters,
                t.to_f64_lossy(),
                sol,
            ));
        }
        let target = targets[ti];
        let mut hs = h.min(dtmax);
        let mut tn = t + hs;
        if tn >= target - R::c(1e-12) * span {
            tn = target;
            hs = target - t;
        }
        tree.eval_unchecked(tn.to_f64_lossy(), &mut wnext);
        increments(&wprev, &wnext, m, &mut dw, &mut dz);
        let err = step(
            method,
            f,
            t,
            hs,
            &u,
            p,
            &dw,
            &dz,
            &mut unew,
            &mut work,
            Some(&tol),
            &mut stats.nf,
        );
        stats.steps += 1;
        let finite = err.is_finite() && unew.iter().all(|x| x.is_finite());
        let q = if !finite {
            R::c(0.2)
        } else if err == R::zero() {
            R::c(5.0)
        } else {
            (R::c(0.9) * (R::one() / err).sqrt())
                .max(R::c(0.2))
                .min(R::c(5.0))
        };
        if finite && (err <= R::one() || hs <= dtmin) {
            stats.accepted += 1;
            std::mem::swap(&mut u, &mut unew);
            std::mem::swap(&mut wprev, &mut wnext);
            t = tn;
            if tn == target {
                ti += 1;
            }
            if save_time(t) {
                sol.t.push(t);
                sol.u.push(u.clone());
            }
            // A step cut short to land on a save time does not shrink the next one.
            h = (hs * q).max(h.min(hs));
        } else {
            stats.rejected += 1;
            h = hs * q;
            if h < dtmin {
                let code = if finite {
                    ReturnCode::DtLessThanMin
                } else {
                    ReturnCode::NonFinite
                };
                sol.stats = stats;
                return Err(SdeError::failed(code, t.to_f64_lossy(), sol));
            }
        }
    }
    sol.stats = stats;
    Ok(sol)
}
