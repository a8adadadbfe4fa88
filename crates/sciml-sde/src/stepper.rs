//! SDEs on the shared stepping loop (DESIGN decision 12): [`SdeStepper`] is an SDE problem with
//! its method, driven by `sciml_ode::StepLoop` like every other family. The loop owns time, step
//! control, the save schedule and the return codes; the stepper owns the system, the method's
//! scratch and the Brownian path, and draws the step's control, the Brownian increment over
//! `(t, t + h)`, inside `try_step` (diffrax's model: a vector field times a control). A rejected
//! attempt draws again on the same path: the [`BrownianTree`] fills in `W(t + h')` by its bridge,
//! so rejections do not bias the solution (Rackauckas & Nie 2017).

use crate::brownian::BrownianTree;
use crate::grid::{increments, Grid, GridPath};
use crate::methods::{Method, SdeStep, Work};
use crate::problem::SdeFunction;
use sciml_core::{DenseOutput, Real, State, Stats};
use sciml_ode::{MethodInfo, StepFailure, StepInput, Stepper};

/// An SDE method as the step loop sees it: its name, whether it adapts, and its dense output,
/// the linear interpolant `u0 + θ (u1 − u0)` (`P₁(θ) = θ` on `k = (u1 − u0)/h`); a higher-order
/// polynomial through one Brownian step would only pretend to more accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SdeMethod(pub Method);

impl MethodInfo for SdeMethod {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    /// Strong orders are 0.5 to 1.5; the loop reads this only for its starting-step heuristic,
    /// which SDE solves do not use (they give the first step).
    fn order(&self) -> u8 {
        1
    }
    fn is_adaptive(&self) -> bool {
        self.0.is_adaptive()
    }
    /// The adaptive methods' estimates are controlled with `err^(-1/2)` (an integral controller
    /// for an estimate of local order 2), the controller `solve` sets in its options.
    fn error_order(&self) -> u8 {
        u8::from(self.0.is_adaptive())
    }
    fn interp_order(&self) -> u8 {
        1
    }
    fn interp_poly<R: Real>(&self) -> Vec<Vec<R>> {
        vec![vec![R::one()]]
    }
}

/// Where a step reads `W`.
pub(crate) enum Path<'a, R> {
    /// At the step's own end time, from the tree (adaptive steps: any time in the tree's span).
    Tree,
    /// At the nodes of a fixed grid: node `j` is the step's start, `j_end` the end of the last
    /// attempt. The step's time and size are the grid's (`t_j`, `t_{j_end} − t_j`), so a run
    /// over a segment of the grid (the adjoints' checkpoints) is bitwise the same as the whole.
    Grid {
        grid: Grid<R>,
        nodes: Nodes<'a, R>,
        j: usize,
        j_end: usize,
    },
}

/// How `W` at a grid node is read.
pub enum Nodes<'a, R> {
    /// On the tree's own dyadic grid, a block of nodes at a time (each tree node drawn once).
    Blocks(&'a mut GridPath<R>),
    /// From a table of every node's `W` (`dim` values per node), drawn beforehand.
    Table(&'a [f64]),
    /// From the tree at the grid's times (a user's tree, whose nodes are not the grid's).
    Times,
}

/// How an [`SdeStepper`] is set up.
pub(crate) struct SdeSetup<'a, R> {
    /// The method.
    pub method: Method,
    /// Where the steps read `W`.
    pub path: Path<'a, R>,
    /// The problem's span.
    pub span: (R, R),
    /// The state's length.
    pub n: usize,
    /// `Some(δ)` for adaptive steps: the error estimate's deterministic weight.
    pub delta: Option<R>,
    /// The loop reads [`Stepper::f_start`] (it picks the first step itself), so `initialize`
    /// evaluates the drift.
    pub drift_at_start: bool,
}

/// An SDE with its method and Brownian path: the [`Stepper`] behind [`crate::solve`].
pub(crate) struct SdeStepper<'a, R: Real, F> {
    f: &'a mut F,
    p: &'a [R],
    method: SdeMethod,
    work: Work<R>,
    tree: &'a mut BrownianTree,
    path: Path<'a, R>,
    /// The problem's span (a run may cover part of it).
    span: (R, R),
    /// Number of Brownian motions (`dw`, `dz` lengths).
    m: usize,
    /// `W` (with the auxiliary `Z` behind it) at the step's start and at the attempt's end.
    w0: Vec<f64>,
    w1: Vec<f64>,
    dw: Vec<R>,
    dz: Vec<R>,
    /// `Some(δ)` with adaptive steps: the error estimate's deterministic weight.
    delta: Option<R>,
    /// The state at the end of the last accepted step, and `k = (u1 − u0)/h` for its dense output.
    u1: Vec<R>,
    k: [Vec<R>; 1],
    /// The drift at the step's start, evaluated by `initialize` only when `drift_at_start` (a loop
    /// that picks its own first step reads it); `solve` gives the first step.
    drift0: Vec<R>,
    drift_at_start: bool,
}

impl<'a, R: Real, F: SdeFunction<R>> SdeStepper<'a, R, F> {
    /// Binds the method to the system, its parameters and the Brownian path, as `setup` says.
    pub fn new(
        f: &'a mut F,
        p: &'a [R],
        tree: &'a mut BrownianTree,
        setup: SdeSetup<'a, R>,
    ) -> Self {
        let SdeSetup {
            method,
            path,
            span,
            n,
            delta,
            drift_at_start,
        } = setup;
        let noise = f.noise();
        let m = noise.brownian_dim(n);
        let dim = tree.dim();
        SdeStepper {
            f,
            p,
            method: SdeMethod(method),
            work: Work::new(n, noise, method),
            tree,
            path,
            span,
            m,
            w0: vec![0.0; dim],
            w1: vec![0.0; dim],
            dw: vec![R::zero(); m],
            dz: vec![R::zero(); m],
            delta,
            u1: vec![R::zero(); n],
            k: [vec![R::zero(); n]],
            drift0: vec![R::zero(); n],
            drift_at_start,
        }
    }

    /// The grid node the last accepted step ended on (`None` for adaptive steps).
    pub fn node(&self) -> Option<usize> {
        match &self.path {
            Path::Tree => None,
            Path::Grid { j, .. } => Some(*j),
        }
    }

    /// `W` at the end of an attempt from `t` of size `h` into `w1`; returns the step's time and
    /// size: the loop's, or on a grid the grid's.
    #[inline]
    fn draw_end(&mut self, t: R, h: R) -> (R, R) {
        let (t0, t1) = self.span;
        match &mut self.path {
            Path::Tree => {
                self.tree
                    .eval_unchecked((t + h).to_f64_lossy(), &mut self.w1);
                (t, h)
            }
            Path::Grid {
                grid,
                nodes,
                j,
                j_end,
            } => {
                // The loop's fixed steps land on the grid's times (schedule.rs: from an anchor,
                // `+ k·dt`) to rounding; a step that reaches t1 ends at the last node.
                let end = t + h;
                let slack = R::c(100.0) * R::epsilon() * t1.abs().max(t.abs());
                *j_end = if (end - t1).abs() <= slack {
                    grid.nsteps
                } else {
                    (*j + 1).min(grid.nsteps)
                };
                read_node(self.tree, grid, nodes, (t0, t1), *j_end, &mut self.w1);
                let tj = grid.time(t0, t1, *j);
                (tj, grid.time(t0, t1, *j_end) - tj)
            }
        }
    }
}

/// `W` at grid node `j` into `out`.
#[inline]
fn read_node<R: Real>(
    tree: &mut BrownianTree,
    grid: &Grid<R>,
    nodes: &mut Nodes<'_, R>,
    (t0, t1): (R, R),
    j: usize,
    out: &mut [f64],
) {
    match nodes {
        // Node 0 is the tree's start, read as a time (as the adjoints always have).
        Nodes::Blocks(b) if j > 0 => b.at(tree, j, out),
        Nodes::Table(w) => {
            let d = out.len();
            out.copy_from_slice(&w[j * d..(j + 1) * d]);
        }
        _ => tree.eval_unchecked(grid.time(t0, t1, j).to_f64_lossy(), out),
    }
}

impl<R: Real, F: SdeFunction<R>> Stepper for SdeStepper<'_, R, F> {
    type V = Vec<R>;
    type Method = SdeMethod;

    #[inline]
    fn method(&self) -> &SdeMethod {
        &self.method
    }

    fn initialize(
        &mut self,
        t: R,
        u: &Vec<R>,
        _history: Option<&DenseOutput<Vec<R>>>,
        stats: &mut Stats,
    ) {
        let (t0, t1) = self.span;
        match &mut self.path {
            Path::Tree => self.tree.eval_unchecked(t.to_f64_lossy(), &mut self.w0),
            Path::Grid {
                grid,
                nodes,
                j,
                j_end,
            } => {
                // The node at `t` (a run's start: the grid's start or a checkpoint).
                let node = if t == t1 {
                    grid.nsteps
                } else {
                    let x = ((t - t0) / grid.dt).to_f64_lossy().round().max(0.0);
                    (x as usize).min(grid.nsteps)
                };
                (*j, *j_end) = (node, node);
                read_node(self.tree, grid, nodes, (t0, t1), node, &mut self.w0);
            }
        }
        if self.drift_at_start {
            self.f.drift(t, u, self.p, &mut self.drift0);
            stats.nf += 1;
        }
    }

    #[inline]
    fn f_start(&self) -> &Vec<R> {
        &self.drift0
    }

    fn rhs(&mut self, t: R, u: &Vec<R>, out: &mut Vec<R>, stats: &mut Stats) {
        self.f.drift(t, u, self.p, out);
        stats.nf += 1;
    }

    #[inline]
    fn try_step(&mut self, step: StepInput<'_, Vec<R>>, u1: &mut Vec<R>) -> Result<R, StepFailure> {
        let (t, h) = self.draw_end(step.t, step.h);
        increments(&self.w0, &self.w1, self.m, &mut self.dw, &mut self.dz);
        let ctx = SdeStep {
            t,
            h,
            u: step.u0,
            p: self.p,
            dw: &self.dw,
            dz: &self.dz,
            delta: self.delta,
            nf: &mut step.stats.nf,
        };
        if self.work.step(self.f, ctx, u1) {
            // The weighted RMS norm every family shares (`State::err_norm`).
            Ok(<Vec<R> as State>::err_norm(
                self.work.error(),
                step.u0,
                u1,
                step.tol,
            ))
        } else {
            Ok(R::zero())
        }
    }

    #[inline]
    fn finish_step(
        &mut self,
        _t1: R,
        u1: &Vec<R>,
        _history: Option<&DenseOutput<Vec<R>>>,
        _stats: &mut Stats,
    ) {
        // The next step starts where this one's increment ended, so the increments telescope
        // along one path.
        std::mem::swap(&mut self.w0, &mut self.w1);
        if let Path::Grid { j, j_end, .. } = &mut self.path {
            *j = *j_end;
        }
        self.u1.copy_from_slice(u1);
    }

    fn prepare_interp(&mut self, step: StepInput<'_, Vec<R>>) {
        let inv_h = R::one() / step.h;
        for ((k, a), b) in self.k[0].iter_mut().zip(step.u0).zip(&self.u1) {
            *k = (*b - *a) * inv_h;
        }
    }

    #[inline]
    fn interp_vectors(&self) -> &[Vec<R>] {
        &self.k
    }

    #[inline]
    fn advance(&mut self) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::problem::{FnSde, Noise};
    use sciml_ode::{Callbacks, SolveOptions, StepLoop};

    /// Driven by hand through the loop, a step's dense output is the line between its ends, and
    /// the increments telescope: the last state of EM on `du = dW` is `u0 + W(t1) − W(t0)`.
    #[test]
    fn hand_driven_steps_interpolate_linearly_and_telescope() {
        let mut f = FnSde::new(
            1,
            0,
            Noise::Diagonal,
            |_t: f64, _u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = 0.0,
            |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g[0] = 1.0,
        );
        let mut tree = BrownianTree::new(3, 0.0, 1.0, 1).unwrap();
        let setup = SdeSetup {
            method: Method::EulerMaruyama,
            path: Path::Tree,
            span: (0.0, 1.0),
            n: 1,
            delta: None,
            drift_at_start: true,
        };
        let u0 = vec![0.5];
        let stepper = SdeStepper::new(&mut f, &[], &mut tree, setup);
        let opts = SolveOptions::default().fixed_step(0.125);
        let mut integ = StepLoop::new(stepper, &u0, (0.0, 1.0), &opts, Callbacks::new()).unwrap();
        assert!(integ.step().unwrap());
        let (t0, h) = integ.last_step().unwrap();
        let u1 = integ.u()[0];
        let mut mid = vec![0.0];
        integ.interpolate_last_step(t0 + 0.5 * h, &mut mid).unwrap();
        assert!((mid[0] - 0.5 * (0.5 + u1)).abs() < 1e-15);
        while integ.step().unwrap() {}
        let last = integ.u()[0];
        let mut w = [0.0];
        BrownianTree::new(3, 0.0, 1.0, 1)
            .unwrap()
            .eval(1.0, &mut w)
            .unwrap();
        assert!(
            (last - (0.5 + w[0])).abs() < 1e-12,
            "{last} vs {}",
            0.5 + w[0]
        );
        assert_eq!(integ.t(), 1.0);
    }
}
