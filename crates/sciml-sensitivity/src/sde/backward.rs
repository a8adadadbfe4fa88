//! The backward pass of the continuous SDE adjoints as a [`Stepper`] on the shared loop
//! (`sciml_ode::StepLoop`): the augmented state `y = (z, a, μ)` stepped from `T` to `t0` by
//! Euler–Heun on the forward grid, with the increments `−ΔW` of the forward path as the step's
//! control. The loop owns time, the step count, the non-finite check and the return codes; the
//! stepper adds the loss's cotangents of the saves at a node to `a` as the step from that node
//! starts (the jump of the adjoint at a save), so the loop's state runs without restarts.

use sciml_core::{DenseOutput, Real, Stats};
use sciml_ode::{MethodInfo, StepFailure, StepInput, Stepper};
use sciml_sde::replay::{increments, Grid, GridPath, GridReplay, Nodes};
use sciml_sde::{BrownianTree, Method, Noise, SdeError, SdeFunction, SdeProblem, SdeVjp};

/// The backward method as the loop sees it: Euler–Heun with fixed steps and linear dense output.
#[derive(Clone, Copy, Debug)]
pub(super) struct BackwardEulerHeun;

impl MethodInfo for BackwardEulerHeun {
    fn name(&self) -> &'static str {
        "EulerHeun (adjoint)"
    }
    fn order(&self) -> u8 {
        1
    }
    fn is_adaptive(&self) -> bool {
        false
    }
    fn error_order(&self) -> u8 {
        0
    }
    fn interp_order(&self) -> u8 {
        1
    }
    fn interp_poly<R: Real>(&self) -> Vec<Vec<R>> {
        vec![vec![R::one()]]
    }
}

/// The forward states the backward pass reads, by grid node.
pub(super) enum ForwardStates<R> {
    /// None: backsolve integrates `z` backward with the adjoint.
    Backsolve,
    /// Every state, `(nsteps + 1) · n` values.
    All(Vec<R>),
    /// The states at nodes `0, k, 2k, …` (and the last), and the segment last recomputed.
    Checkpoints {
        every: usize,
        at: Vec<Vec<R>>,
        segment: usize,
        states: Vec<R>,
    },
}

/// What recomputes a checkpointed segment: the forward system and method on the same grid.
pub(super) struct Forward<'a, R: Real, F> {
    pub f: F,
    pub method: Method,
    pub prob: &'a SdeProblem<R, F>,
}

/// Scratch of one backward step.
struct Work<R> {
    g: Vec<R>,
    wg: Vec<R>,
    wa: Vec<R>,
    z: Vec<R>,
    zbar: Vec<R>,
    abar: Vec<R>,
    kz: [Vec<R>; 2],
    ka: [Vec<R>; 2],
    km: [Vec<R>; 2],
    dw: Vec<R>,
    dz: Vec<R>,
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
    (wa, wg): (&mut [R], &mut [R]),
) {
    let Stage { t, dt, dw, z, p } = st;
    ka.iter_mut().for_each(|x| *x = R::zero());
    kmu.iter_mut().for_each(|x| *x = R::zero());
    for (w, x) in wa.iter_mut().zip(a) {
        *w = -*x * dt;
    }
    f.drift_vjp(t, z, p, wa, ka, kmu);
    noise.outer_to(a, dw, -R::one(), wg);
    f.diffusion_vjp(t, z, p, wg, ka, kmu);
}

/// `kz = f dt + g dW`.
fn state_increment<R: Real, B: SdeFunction<R>>(
    f: &mut B,
    noise: Noise,
    st: Stage<'_, R>,
    kz: &mut [R],
    g: &mut [R],
) {
    let Stage { t, dt, dw, z, p } = st;
    f.drift(t, z, p, kz);
    for x in kz.iter_mut() {
        *x *= dt;
    }
    f.diffusion(t, z, p, g);
    noise.apply_add(g, dw, R::one(), kz);
}

/// The backward pass's stepper: the Stratonovich system `back` with its VJPs, the forward states
/// it reads, and the Brownian path on the grid. The step from node `j` to `j − 1` uses the
/// grid's times, so the loop's own times only count the steps (they land on the grid to
/// rounding: `continuous.rs` gives a short last step as a tstop).
pub(super) struct BackwardStepper<'a, R: Real, F, B> {
    back: B,
    noise: Noise,
    p: &'a [R],
    n: usize,
    m: usize,
    grid: Grid<R>,
    span: (R, R),
    tree: &'a mut BrownianTree,
    path: GridPath<R>,
    forward: Forward<'a, R, F>,
    states: ForwardStates<R>,
    /// The node the next step starts from, and `W` there.
    j: usize,
    wj: Vec<f64>,
    /// `W` at node `j − 1`.
    wprev: Vec<f64>,
    /// The save nodes (ascending) and the loss's cotangents there; the saves `..si` are the ones
    /// not yet added, and `..si_next` those left after the attempted step's start node.
    saves: &'a [usize],
    cot: &'a [Vec<R>],
    si: usize,
    si_next: usize,
    /// `a` with the cotangents of the step's start node added.
    a0: Vec<R>,
    work: Work<R>,
    /// The last accepted state and its linear dense output's slope.
    y1: Vec<R>,
    k: [Vec<R>; 1],
    zero: Vec<R>,
}

/// How a [`BackwardStepper`] is set up.
pub(super) struct BackwardSetup<'a, R: Real, F> {
    pub grid: Grid<R>,
    pub tree: &'a mut BrownianTree,
    pub path: GridPath<R>,
    pub forward: Forward<'a, R, F>,
    pub states: ForwardStates<R>,
    /// The save nodes, ascending, and the loss's cotangents there.
    pub saves: &'a [usize],
    pub cot: &'a [Vec<R>],
}

impl<'a, R: Real, F: SdeFunction<R>, B: SdeVjp<R>> BackwardStepper<'a, R, F, B> {
    /// The stepper of `back` (the Stratonovich system) for the problem `setup.forward.prob`.
    pub fn new(back: B, setup: BackwardSetup<'a, R, F>) -> Self {
        let BackwardSetup {
            grid,
            tree,
            path,
            forward,
            states,
            saves,
            cot,
        } = setup;
        let prob = forward.prob;
        let n = prob.u0.len();
        let np = prob.p.len();
        let noise = back.noise();
        let m = noise.brownian_dim(n);
        let gl = noise.diffusion_len(n);
        let z = || vec![R::zero(); n];
        let zp = || vec![R::zero(); np];
        let dim = tree.dim();
        BackwardStepper {
            back,
            noise,
            p: &prob.p,
            n,
            m,
            grid,
            span: prob.tspan,
            tree,
            path,
            forward,
            states,
            j: grid.nsteps,
            wj: vec![0.0; dim],
            wprev: vec![0.0; dim],
            saves,
            cot,
            si: saves.len(),
            si_next: saves.len(),
            a0: vec![R::zero(); n],
            work: Work {
                g: vec![R::zero(); gl],
                wg: vec![R::zero(); gl],
                wa: z(),
                z: z(),
                zbar: z(),
                abar: z(),
                kz: [z(), z()],
                ka: [z(), z()],
                km: [zp(), zp()],
                dw: vec![R::zero(); m],
                dz: vec![R::zero(); m],
            },
            y1: vec![R::zero(); 2 * n + np],
            k: [vec![R::zero(); 2 * n + np]],
            zero: vec![R::zero(); 2 * n + np],
        }
    }

    /// The grid node the last accepted step ended on.
    pub fn node(&self) -> usize {
        self.j
    }

    /// The cotangents of the saves at node 0 (not added by any step) into `a`, last save first
    /// as the steps add theirs.
    pub fn add_first_node(&self, a: &mut [R]) {
        for k in (0..self.si).rev().filter(|k| self.saves[*k] == 0) {
            for (x, c) in a.iter_mut().zip(&self.cot[k]) {
                *x += *c;
            }
        }
    }

    /// The forward states at nodes `j` and `j − 1` into `work.z` and `work.zbar` (stored or
    /// checkpointed states; backsolve reads its own).
    fn forward_states(&mut self, j: usize) -> Result<(), SdeError> {
        let n = self.n;
        let w = &mut self.work;
        match &mut self.states {
            ForwardStates::Backsolve => {}
            ForwardStates::All(all) => {
                w.z.copy_from_slice(&all[j * n..(j + 1) * n]);
                w.zbar.copy_from_slice(&all[(j - 1) * n..j * n]);
            }
            ForwardStates::Checkpoints {
                every,
                at,
                segment,
                states,
            } => {
                let c = (j - 1) / *every;
                if *segment != c {
                    // Recompute the segment from its checkpoint on the same path: bitwise the
                    // states of the forward pass.
                    let j0 = c * *every;
                    let j1 = (j0 + *every).min(self.grid.nsteps);
                    states.clear();
                    states.extend_from_slice(&at[c]);
                    let mut sink = Stats::default();
                    GridReplay {
                        f: &mut self.forward.f,
                        method: self.forward.method,
                        prob: self.forward.prob,
                        grid: &self.grid,
                        tree: &mut *self.tree,
                        nodes: Nodes::Blocks(&mut self.path),
                    }
                    .steps((j0, j1), &at[c], &mut sink, |_, u| {
                        states.extend_from_slice(u)
                    })?;
                    *segment = c;
                }
                let o = j - c * *every;
                w.z.copy_from_slice(&states[o * n..(o + 1) * n]);
                w.zbar.copy_from_slice(&states[(o - 1) * n..o * n]);
            }
        }
        Ok(())
    }
}

impl<R: Real, F: SdeFunction<R>, B: SdeVjp<R>> Stepper for BackwardStepper<'_, R, F, B> {
    type V = Vec<R>;
    type Method = BackwardEulerHeun;

    fn method(&self) -> &BackwardEulerHeun {
        &BackwardEulerHeun
    }

    fn initialize(
        &mut self,
        t: R,
        _y: &Vec<R>,
        _history: Option<&DenseOutput<Vec<R>>>,
        _stats: &mut Stats,
    ) {
        // The node at t: the start, t1 (the loop restarts a stepper after a callback changes
        // the state; the backward pass has none, and adds its cotangents inside the steps).
        let (t0, t1) = self.span;
        self.j = if t == t1 {
            self.grid.nsteps
        } else {
            let x = ((t - t0) / self.grid.dt).to_f64_lossy().round().max(0.0);
            (x as usize).min(self.grid.nsteps)
        };
        self.path.at(self.tree, self.j, &mut self.wj);
    }

    /// Fixed steps only: the loop reads the start's derivative only to pick a first step.
    fn f_start(&self) -> &Vec<R> {
        &self.zero
    }

    /// The drift of the augmented system, `(f, −(∂f/∂z)ᵀ a, −(∂f/∂θ)ᵀ a)`.
    fn rhs(&mut self, t: R, y: &Vec<R>, out: &mut Vec<R>, stats: &mut Stats) {
        let n = self.n;
        let (z, rest) = y.split_at(n);
        let a = &rest[..n];
        let (oz, orest) = out.split_at_mut(n);
        let (oa, om) = orest.split_at_mut(n);
        self.back.drift(t, z, self.p, oz);
        oa.iter_mut()
            .chain(om.iter_mut())
            .for_each(|x| *x = R::zero());
        for (w, x) in self.work.wa.iter_mut().zip(a) {
            *w = -*x;
        }
        self.back.drift_vjp(t, z, self.p, &self.work.wa, oa, om);
        stats.nf += 1;
    }

    fn try_step(&mut self, step: StepInput<'_, Vec<R>>, y1: &mut Vec<R>) -> Result<R, StepFailure> {
        let (n, j) = (self.n, self.j);
        let (t0, t1) = self.span;
        if j == 0 {
            // The loop ends at t0, node 0; a step beyond it would be a bug in the tstops.
            return Err(StepFailure::NonFinite);
        }
        self.path.at(self.tree, j - 1, &mut self.wprev);
        let w = &mut self.work;
        increments(&self.wprev, &self.wj, self.m, &mut w.dw, &mut w.dz);
        for x in w.dw.iter_mut() {
            *x = -*x;
        }
        let tj = self.grid.time(t0, t1, j);
        let tjm = self.grid.time(t0, t1, j - 1);
        let dt = tjm - tj;
        let (p, noise) = (self.p, self.noise);
        let y = step.u0;
        let (zy, rest) = y.split_at(n);
        let (a, mu) = rest.split_at(n);
        let backsolve = matches!(self.states, ForwardStates::Backsolve);
        // The state at t_j (stage 1) and at t_{j−1} (stage 2).
        if backsolve {
            let w = &mut self.work;
            w.z.copy_from_slice(zy);
            let st = Stage {
                t: tj,
                dt,
                dw: &w.dw,
                z: &w.z,
                p,
            };
            state_increment(&mut self.back, noise, st, &mut w.kz[0], &mut w.g);
            for i in 0..n {
                w.zbar[i] = w.z[i] + w.kz[0][i];
            }
        } else if self.forward_states(j).is_err() {
            // A recomputed segment failed where the forward pass succeeded on the same path:
            // only a non-finite state can do that.
            return Err(StepFailure::NonFinite);
        }
        // The adjoint jumps by the cotangents of the saves at node j.
        let mut si = self.si;
        let a = if si > 0 && self.saves[si - 1] == j {
            self.a0.copy_from_slice(a);
            while si > 0 && self.saves[si - 1] == j {
                si -= 1;
                for (x, c) in self.a0.iter_mut().zip(&self.cot[si]) {
                    *x += *c;
                }
            }
            &self.a0[..]
        } else {
            a
        };
        self.si_next = si;
        let w = &mut self.work;
        let st = Stage {
            t: tj,
            dt,
            dw: &w.dw,
            z: &w.z,
            p,
        };
        let [ka0, ka1] = &mut w.ka;
        let [km0, km1] = &mut w.km;
        adjoint_increment(
            &mut self.back,
            noise,
            st,
            a,
            (ka0, km0),
            (&mut w.wa, &mut w.wg),
        );
        for i in 0..n {
            w.abar[i] = a[i] + ka0[i];
        }
        let st = Stage {
            t: tjm,
            dt,
            dw: &w.dw,
            z: &w.zbar,
            p,
        };
        if backsolve {
            state_increment(&mut self.back, noise, st, &mut w.kz[1], &mut w.g);
        }
        adjoint_increment(
            &mut self.back,
            noise,
            st,
            &w.abar,
            (ka1, km1),
            (&mut w.wa, &mut w.wg),
        );
        let half = R::c(0.5);
        let (z1, rest1) = y1.split_at_mut(n);
        let (a1, mu1) = rest1.split_at_mut(n);
        if backsolve {
            for i in 0..n {
                z1[i] = zy[i] + half * (w.kz[0][i] + w.kz[1][i]);
            }
        } else {
            z1.copy_from_slice(&w.zbar);
        }
        for i in 0..n {
            a1[i] = a[i] + half * (ka0[i] + ka1[i]);
        }
        for i in 0..mu.len() {
            mu1[i] = mu[i] + half * (km0[i] + km1[i]);
        }
        Ok(R::zero())
    }

    fn finish_step(
        &mut self,
        _t1: R,
        y1: &Vec<R>,
        _history: Option<&DenseOutput<Vec<R>>>,
        _stats: &mut Stats,
    ) {
        std::mem::swap(&mut self.wj, &mut self.wprev);
        self.j -= 1;
        self.si = self.si_next;
        self.y1.copy_from_slice(y1);
    }

    fn prepare_interp(&mut self, step: StepInput<'_, Vec<R>>) {
        let inv_h = R::one() / step.h;
        for ((k, a), b) in self.k[0].iter_mut().zip(step.u0).zip(&self.y1) {
            *k = (*b - *a) * inv_h;
        }
    }

    fn interp_vectors(&self) -> &[Vec<R>] {
        &self.k
    }

    fn advance(&mut self) {}
}
