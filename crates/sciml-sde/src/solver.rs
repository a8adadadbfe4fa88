//! SDE solves: the options, their checks, and the solve itself, which runs the
//! `SdeStepper` (`stepper.rs`) through the shared stepping loop
//! (`sciml_ode::StepLoop`) with the options translated to `sciml_ode::SolveOptions`.

use crate::brownian::BrownianTree;
use crate::error::SdeError;
use crate::grid::{grid_for, grid_saves, Grid, GridPath};
use crate::methods::Method;
use crate::problem::{SdeFunction, SdeProblem};
use crate::stepper::{Nodes, Path, SdeSetup, SdeStepper};
use sciml_core::{Error, Real, Solution, SolveError, Tolerance};
use sciml_ode::{Callbacks, PiController, SolveOptions, StepLoop};

/// Which states a solve returns: the type ODE solves use too. `Every(dt)` saves on the grid
/// `t0 + k·dt` and the end; `Times` may come in any order and are sorted (SDE spans run
/// forward, so ascending); with fixed steps every save time must lie on the step grid (to within
/// 0.1% of a step; the grid time is saved), and adaptive solves step onto them exactly.
pub use sciml_core::SaveAt;

/// Options of an SDE solve.
#[derive(Clone, Debug)]
pub struct SdeOptions<R> {
    /// Step size (fixed steps), or the first step (adaptive; default 1% of the span); required
    /// for fixed steps.
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
    /// Smallest step an adaptive solve may take: when the controller would go below it, the solve
    /// fails with [`ReturnCode::DtLessThanMin`](sciml_core::ReturnCode::DtLessThanMin) (or
    /// `NonFinite` when NaN or infinite values shrank the steps), as ODE solves do. Default:
    /// `16 ε max(|t|, ε·span)` at the current time `t`. Checked when the solve starts, also for
    /// fixed steps: finite, `>= 0` and `<= dtmax`.
    pub dtmin: Option<R>,
    /// Largest step an adaptive solve may take (default the span). Checked when the solve
    /// starts, also for fixed steps: finite and `> 0`.
    pub dtmax: Option<R>,
    /// Most step attempts (at least 1), for fixed and adaptive steps alike: a solve that needs
    /// more fails with [`ReturnCode::MaxIters`](sciml_core::ReturnCode::MaxIters) after
    /// `maxiters` steps, its error holding the solution saved so far. With fixed steps every step
    /// taken counts as accepted in the statistics (there is no error test), also one that fails
    /// on a NaN or infinite value.
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
    /// Sets what to save ([`SaveAt::Steps`], or listed times as [`SdeOptions::saveat`] gives).
    pub fn save_at(mut self, saveat: SaveAt<R>) -> Self {
        self.saveat = saveat;
        self
    }
    /// Sets the smallest step an adaptive solve may take (see the field).
    pub fn dtmin(mut self, dtmin: R) -> Self {
        self.dtmin = Some(dtmin);
        self
    }
    /// Sets the largest step an adaptive solve may take (see the field).
    pub fn dtmax(mut self, dtmax: R) -> Self {
        self.dtmax = Some(dtmax);
        self
    }
    /// Sets the most step attempts (see the field).
    ///
    /// ```
    /// use sciml_core::ReturnCode;
    /// use sciml_sde::{solve, FnSde, Method, Noise, SdeError, SdeOptions, SdeProblem};
    /// let f = FnSde::new(1, 0, Noise::Diagonal,
    ///     |_t: f64, _u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = 0.0,
    ///     |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 1.0);
    /// let prob = SdeProblem::new(f, vec![0.0], (0.0, 1.0), vec![])?;
    /// let opts = SdeOptions::fixed(0.01).maxiters(10);
    /// let e = solve(&prob, Method::EulerMaruyama, &opts).unwrap_err();
    /// assert!(matches!(e, SdeError::Failed { code: ReturnCode::MaxIters, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maxiters(mut self, maxiters: usize) -> Self {
        self.maxiters = maxiters;
        self
    }
    /// Sets the weight of the deterministic part of the adaptive error estimate (see the field).
    pub fn delta(mut self, delta: R) -> Self {
        self.delta = delta;
        self
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
    run(&mut f, prob, method, opts, &mut tree, (grid, true))
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
    run(&mut f, prob, method, opts, tree, (None, false))
}

/// How the solve runs on the shared loop: the options translated to the loop's, and where the
/// steps read `W`.
///
/// - Adaptive steps: the first step is `dt` (default 1% of the span, as before), the save times
///   are tstops too, so every save lands on a step's end exactly (no interpolation of a
///   Brownian step), and the controller is the integral one the SDE loop used:
///   `q = 0.9 err^(-1/2)` clamped to `[0.2, 5]`, never shrinking after an accepted step
///   (`beta1 = 1/2`, `beta2 = 0`, `qmax = 5`, `qmin_accepted = 1`). A step the
///   controller would shrink below `dtmin` fails with `DtLessThanMin`, as ODE solves do (the
///   loop's default floor, 16 ε |t|, unless `dtmin` is given).
/// - Fixed steps: the loop's grid `t0 + k·dt`, ending at `t1`, is the SDE grid; the stepper
///   reads `W` at its nodes (a block at a time on the solve's own tree), and saves are the grid
///   times of the save indices. `dtmin`/`dtmax` (checked by [`validate`]) do not bend the grid.
fn loop_options<R: Real, F: SdeFunction<R>>(
    prob: &SdeProblem<R, F>,
    opts: &SdeOptions<R>,
    grid: Option<&Grid<R>>,
) -> Result<SolveOptions<R>, SdeError> {
    let (t0, t1) = prob.tspan;
    let mut o = SolveOptions {
        adaptive: Some(opts.adaptive),
        maxiters: opts.maxiters,
        // Dense output is never asked for: saves land on steps.
        dense: Some(false),
        ..SolveOptions::default()
    };
    match grid {
        Some(grid) => {
            o.dt = Some(grid.dt);
            if !matches!(opts.saveat, SaveAt::Steps) {
                let saves = grid_saves(t0, t1, grid, &opts.saveat)?;
                o.saveat = SaveAt::Times(saves.iter().map(|&j| grid.time(t0, t1, j)).collect());
            }
        }
        None => {
            o.dt = Some(opts.dt.unwrap_or((t1 - t0) * R::c(1e-2)));
            o.dtmin = opts.dtmin;
            o.dtmax = opts.dtmax;
            o.tol = Tolerance::scalar(opts.reltol, opts.abstol);
            let mut ctrl = PiController::default();
            ctrl.beta1 = Some(R::c(0.5));
            ctrl.beta2 = Some(R::zero());
            ctrl.qmax = R::c(5.0);
            ctrl.qmin_accepted = Some(R::one());
            o.controller = ctrl;
            if let Some(ts) = opts.saveat.listed_times(t0, t1, true)? {
                let ts = sorted_times(&ts);
                o.tstops.clone_from(&ts);
                o.saveat = SaveAt::Times(ts);
            }
        }
    }
    Ok(o)
}

/// Runs the solve through the shared loop on `tree`; `grid` is the fixed-step grid (`None` for
/// adaptive steps), `own_tree` says the tree was grown for this grid (its nodes are the grid's).
fn run<R: Real, F: SdeFunction<R>>(
    f: &mut F,
    prob: &SdeProblem<R, F>,
    method: Method,
    opts: &SdeOptions<R>,
    tree: &mut BrownianTree,
    (grid, own_tree): (Option<Grid<R>>, bool),
) -> Result<Solution<Vec<R>>, SdeError> {
    let (t0, t1) = prob.tspan;
    let grid = match (opts.adaptive, grid) {
        (true, _) => None,
        (false, Some(g)) => Some(g),
        // Validated: fixed steps have a `dt`.
        (false, None) => Some(grid_for(t0, t1, opts.dt.unwrap_or(t1 - t0))),
    };
    let sopts = loop_options(prob, opts, grid.as_ref())?;
    let mut blocks = grid.map(|g| GridPath::new(g, t1));
    let path = match (grid, blocks.as_mut()) {
        (Some(grid), Some(b)) => Path::Grid {
            grid,
            nodes: if own_tree {
                Nodes::Blocks(b)
            } else {
                Nodes::Times
            },
            j: 0,
            j_end: 0,
        },
        _ => Path::Tree,
    };
    let setup = SdeSetup {
        method,
        path,
        span: prob.tspan,
        n: prob.u0.len(),
        delta: opts.adaptive.then_some(opts.delta),
        drift_at_start: sopts.dt.is_none(),
    };
    let stepper = SdeStepper::new(f, &prob.p, tree, setup);
    let res = StepLoop::new(stepper, &prob.u0, prob.tspan, &sopts, Callbacks::new())?.solve();
    match res {
        Ok(sol) => Ok(sol),
        Err(SolveError::Failed { code, t, partial }) => {
            let mut sol = *partial;
            if !opts.adaptive {
                // Fixed steps have no error test: every step taken counts as accepted, the one
                // that failed on a NaN or infinite value included (as `forward_steps` counts).
                sol.stats.accepted = sol.stats.steps;
            }
            Err(SdeError::failed(code, t, sol))
        }
        Err(SolveError::Input(e)) => Err(e.into()),
    }
}
