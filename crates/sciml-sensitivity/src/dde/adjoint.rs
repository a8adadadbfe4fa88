//! The exact discrete adjoint of a delay equation solved by the method of steps with an explicit
//! Runge–Kutta method: reverse through the steps taken, with each history read's cotangent sent
//! into the earlier step whose interpolant served it (DESIGN decision 12).
//!
//! Step `n` from `y0` with interpolation vectors `k_j` (the stages, `f(t1, u1)` for non-FSAL
//! methods, the lazy interpolation stages) evaluates `k_j = f(Y_j, H_j, p, t_j)` with
//! `Y_j = y0 + h Σ_i a_ji k_i`; each read in `H_j` is the history before `t0`, `u0`, or an
//! earlier step's interpolant `y0_m + h_m Σ_i P_i(θ) k_i^m`, linear in that step's `y0` and
//! `k`. Sweeping steps in reverse order and each step's vectors in reverse order, every vector's
//! cotangent is complete when it is reached: later steps have sent their reads' cotangents
//! back, and later vectors of the same step theirs.

use super::lookup::{Mesh, Served, Unserved};
use super::vjp::{DdeVjp, DdeVjpArgs, DdeVjpBars};
use super::{DdeForwardDiff, DualDde, ScalarHistory};
use crate::gradient::Gradient;
use sciml_core::{DenseOutput, Dual64, Error, Real, Solution, Stats};
use sciml_dde::{
    DdeError, DdeField, DdeFunction, DdeProblem, History, HistorySource, InitialHistory,
    MethodOfSteps,
};
use sciml_ode::tableaus::{Interp, Tableau};
use sciml_ode::{MethodInfo, OdeMethod, RkMethod, SolveOptions};
use std::any::Any;

const NAME: &str = "DdeDiscreteAdjoint";

/// The exact discrete adjoint through method-of-steps steps of an explicit Runge–Kutta method
/// with dense output (any [`RkMethod`]: BS3, DP5, Tsit5, Vern6–9, ...): the gradient of the
/// computed solution with respect to `u0` and `p` (through the history before `t0` too, when it
/// depends on `p`), equal to [`DdeForwardDiff`]'s dual numbers on the same mesh to rounding.
///
/// The forward solve caps the step at the smallest constant lag (or refuses a longer fixed
/// step), so no step reads inside itself: the fixed-point iteration of longer steps is not
/// differentiated, and a read inside its own step (an undeclared or state-dependent lag
/// shorter than the step) ends the backward pass with an `Err`. The VJPs of the right-hand side
/// come from its [`DdeVjp`]. Cost: one probe evaluation and one VJP per stored vector per step;
/// memory: the solve's dense output.
///
/// ```
/// use sciml_core::{Dual64, Scalar};
/// use sciml_dde::{DdeFunction, History, MethodOfSteps};
/// use sciml_ode::{SaveAt, SolveOptions, Tsit5};
/// use sciml_sensitivity::dde::*;
/// // u'(t) = -λ u(t - 1), u = 1 before 0: u(1) = 1 - λ, ∂u(1)/∂λ = -1.
/// #[derive(Clone)]
/// struct Lin<S>(std::marker::PhantomData<S>);
/// impl<S: Scalar<Re = f64>> DdeFunction for Lin<S> {
///     type V = Vec<S>;
///     type P = Vec<S>;
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn rhs(&mut self, du: &mut Vec<S>, _u: &Vec<S>, h: &mut History<'_, Vec<S>, Vec<S>>, p: &Vec<S>, t: f64) {
///         du[0] = -(p[0] * h.value(t - 1.0)[0]);
///     }
/// }
/// impl DualDde for Lin<f64> {
///     type Dual = Lin<Dual64>;
///     fn to_dual(&self) -> Lin<Dual64> { Lin(std::marker::PhantomData) }
/// }
/// impl DdeVjp for Lin<f64> {
///     fn vjp(&mut self, a: DdeVjpArgs<'_>, b: DdeVjpBars<'_>) -> Result<(), sciml_core::Error> {
///         dual_vjp(&mut self.to_dual(), a, b)
///     }
/// }
/// let prob = DdeForwardDiff::new(Lin(std::marker::PhantomData), vec![1.0], vec![0.5],
///     ConstantHistory(vec![1.0]), (0.0, 1.0), vec![1.0])?;
/// let opts = SolveOptions::default().saveat(SaveAt::Times(vec![1.0]));
/// let adj = DdeDiscreteAdjoint;
/// let (sol, tape) = adj.forward(&prob, &MethodOfSteps::new(Tsit5), &opts)?;
/// let g = adj.backward(&prob, &MethodOfSteps::new(Tsit5), &tape, &[vec![1.0]])?;
/// assert!((sol.u[0][0] - 0.5).abs() < 1e-12 && (g.dp[0] + 1.0).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DdeDiscreteAdjoint;

/// What [`DdeDiscreteAdjoint::forward`] keeps: the solve's dense output (every step's start
/// state and interpolation vectors), the save times, and what identifies the problem and method.
#[derive(Clone, Debug)]
pub struct DdeTape<R: Real = f64> {
    dense: DenseOutput<Vec<R>>,
    saves: Vec<R>,
    method: &'static str,
    u0: Vec<R>,
    p: Vec<R>,
    tspan: (R, R),
    lags: Vec<R>,
}

/// What [`DdeDiscreteAdjoint::forward`] returns: the solution and its tape.
pub type DdeForwardResult<R = f64> = Result<(Solution<Vec<R>>, DdeTape<R>), DdeError<Vec<R>>>;

/// The gradient in the problem's scalar `R`.
pub type DdeAdjointGradient<R = f64> = Gradient<Vec<R>, Vec<R>>;

/// A delay problem the discrete adjoint differentiates, in the real scalar [`Self::R`]:
/// [`DdeForwardDiff`] (in `f64`) and [`DdeRealProblem`] (in `f32` or `f64`).
pub trait DdeAdjointInput {
    /// The real scalar of the state, the parameters and time.
    type R: Real;
    /// The right-hand side.
    type F: DdeFunction<V = Vec<Self::R>, P = Vec<Self::R>> + Clone;
    /// The history before `t0`.
    type H: ScalarHistory;
    /// The right-hand side, start, parameters, history, span and constant lags.
    fn parts(&self) -> DdeParts<'_, Self::F, Self::H, Self::R>;
}

/// The pieces of a delay problem, borrowed (see [`DdeAdjointInput`]).
#[derive(Debug)]
pub struct DdeParts<'a, F, H, R> {
    /// The right-hand side.
    pub f: &'a F,
    /// The start state.
    pub u0: &'a [R],
    /// The parameters.
    pub p: &'a [R],
    /// The history before `t0`.
    pub history: &'a H,
    /// The span.
    pub tspan: (R, R),
    /// The constant lags.
    pub lags: &'a [R],
}

impl<F: DualDde + Clone, H: ScalarHistory> DdeAdjointInput for DdeForwardDiff<F, H> {
    type R = f64;
    type F = F;
    type H = H;
    fn parts(&self) -> DdeParts<'_, F, H, f64> {
        DdeParts {
            f: &self.f,
            u0: &self.u0,
            p: &self.p,
            history: &self.history,
            tspan: self.tspan,
            lags: &self.lags,
        }
    }
}

/// A delay problem over `Vec<R>` (`f32` or `f64`) for [`DdeDiscreteAdjoint`] alone: the same
/// pieces as [`DdeForwardDiff`], without the dual-number right-hand side forward mode needs.
///
/// ```
/// use sciml_dde::{DdeFunction, History, MethodOfSteps};
/// use sciml_ode::{SaveAt, SolveOptions, Tsit5};
/// use sciml_sensitivity::dde::*;
/// // u'(t) = -λ u(t - 1) in f32, u = 1 before 0: u(1) = 1 - λ, ∂u(1)/∂λ = -1.
/// #[derive(Clone)]
/// struct Lin;
/// impl DdeFunction for Lin {
///     type V = Vec<f32>;
///     type P = Vec<f32>;
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn rhs(&mut self, du: &mut Vec<f32>, _u: &Vec<f32>, h: &mut History<'_, Vec<f32>, Vec<f32>>, p: &Vec<f32>, t: f32) {
///         du[0] = -(p[0] * h.value(t - 1.0)[0]);
///     }
/// }
/// impl DdeVjp<f32> for Lin {
///     fn vjp(&mut self, a: DdeVjpArgs<'_, f32>, b: DdeVjpBars<'_, f32>) -> Result<(), sciml_core::Error> {
///         b.hbar[0][0] -= a.p[0] * a.v[0];
///         b.pbar[0] -= a.reads[0][0] * a.v[0];
///         Ok(())
///     }
/// }
/// let prob = DdeRealProblem::new(Lin, vec![1.0f32], vec![0.5], ConstantHistory(vec![1.0]),
///     (0.0, 1.0), vec![1.0])?;
/// let opts = SolveOptions::<f32>::default().saveat(SaveAt::Times(vec![1.0]));
/// let alg = MethodOfSteps::new(Tsit5);
/// let (sol, tape) = DdeDiscreteAdjoint.forward(&prob, &alg, &opts)?;
/// let g = DdeDiscreteAdjoint.backward(&prob, &alg, &tape, &[vec![1.0]])?;
/// assert!((sol.u[0][0] - 0.5).abs() < 1e-6 && (g.dp[0] + 1.0).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DdeRealProblem<F, H, R> {
    f: F,
    u0: Vec<R>,
    p: Vec<R>,
    history: H,
    tspan: (R, R),
    lags: Vec<R>,
}

impl<R: Real, F, H> DdeRealProblem<F, H, R>
where
    F: DdeFunction<V = Vec<R>, P = Vec<R>> + Clone,
    H: ScalarHistory,
{
    /// The problem `f` from `u0` at `tspan.0` with parameters `p`, history `history` and
    /// constant lags `lags`; checked as `DdeProblem` checks them (by building it once).
    pub fn new(
        f: F,
        u0: Vec<R>,
        p: Vec<R>,
        history: H,
        tspan: (R, R),
        lags: Vec<R>,
    ) -> Result<Self, DdeError<Vec<R>>> {
        let out = DdeRealProblem {
            f,
            u0,
            p,
            history,
            tspan,
            lags,
        };
        let (n, _) = out.f.dims();
        if let Some(got) = out.history.state_len().filter(|got| *got != n) {
            return Err(DdeError::HistoryLength { expected: n, got });
        }
        let mut h0 = vec![R::c(0.0); n];
        out.history.eval_real(&out.p, out.tspan.0, &mut h0);
        if !h0.iter().all(|x| x.is_finite()) {
            return Err(DdeError::HistoryNonFinite {
                t: out.tspan.0.to_f64_lossy(),
            });
        }
        real_problem(&out.parts())?;
        Ok(out)
    }
}

impl<R: Real, F, H> DdeAdjointInput for DdeRealProblem<F, H, R>
where
    F: DdeFunction<V = Vec<R>, P = Vec<R>> + Clone,
    H: ScalarHistory,
{
    type R = R;
    type F = F;
    type H = H;
    fn parts(&self) -> DdeParts<'_, F, H, R> {
        DdeParts {
            f: &self.f,
            u0: &self.u0,
            p: &self.p,
            history: &self.history,
            tspan: self.tspan,
            lags: &self.lags,
        }
    }
}

/// The history at `t`: in f64 by `eval` itself (in place, as `DdeForwardDiff` solves), in any
/// other scalar by `eval_real`.
// `Vec`, not slices: only sized types can be downcast.
#[allow(clippy::ptr_arg)]
fn eval_history<H: ScalarHistory, R: Real>(h: &H, p: &Vec<R>, t: R, out: &mut Vec<R>) {
    let (p_any, out_any): (&dyn Any, &mut dyn Any) = (p, out);
    match (
        p_any.downcast_ref::<Vec<f64>>(),
        out_any.downcast_mut::<Vec<f64>>(),
    ) {
        (Some(p64), Some(out64)) => h.eval(p64, t.to_f64_lossy(), out64),
        _ => h.eval_real(p, t, out),
    }
}

/// The `sciml_dde` problem in `R`, as [`DdeForwardDiff`] builds it (`assume_jump_at_t0`, so
/// that the mesh is the one the backward pass assumes).
fn real_problem<R: Real, F, H>(q: &DdeParts<'_, F, H, R>) -> Result<DdeProblem<F>, DdeError<Vec<R>>>
where
    F: DdeFunction<V = Vec<R>, P = Vec<R>> + Clone,
    H: ScalarHistory,
{
    let h = q.history.clone();
    let initial = InitialHistory::function(move |p: &Vec<R>, t: R, out: &mut Vec<R>| {
        eval_history(&h, p, t, out)
    });
    Ok(
        DdeProblem::new(q.f.clone(), q.u0.to_vec(), initial, q.tspan, q.p.to_vec())?
            .with_lags(q.lags.to_vec())?
            .assume_jump_at_t0(),
    )
}

impl<R: Real> DdeTape<R> {
    /// The number of recorded steps.
    pub fn steps(&self) -> usize {
        self.dense.len()
    }
}

/// The forward options: dense output on, steps no longer than the smallest lag.
fn forward_options<M: MethodInfo, R: Real>(
    alg: &MethodOfSteps<M>,
    opts: &SolveOptions<R>,
    lags: &[R],
) -> Result<SolveOptions<R>, Error> {
    let mut o = opts.clone();
    o.dense = Some(true);
    let Some(min_lag) = lags.iter().copied().reduce(R::min) else {
        return Ok(o);
    };
    let fixed = o.adaptive == Some(false) || !alg.method().is_adaptive();
    if fixed {
        if let Some(dt) =
            o.dt.filter(|dt| *dt > min_lag * (R::c(1.0) + R::epsilon() * R::c(16.0)))
        {
            return Err(Error::InvalidOption {
                option: "dt",
                reason: format!(
                    "the fixed step {dt} is longer than the smallest lag {min_lag}; \
                     {NAME} needs steps no longer than it (the fixed-point iteration of longer \
                     steps is not differentiated)"
                ),
            });
        }
    } else {
        o.dtmax = Some(o.dtmax.map_or(min_lag, |d| d.min(min_lag)));
    }
    Ok(o)
}

/// `(c_j, row)`: stored vector `j` is `f` at `t + c_j h` and `y0 + h Σ_i row_i k_i`.
fn vector_row(tab: &'static Tableau, j: usize) -> Option<(f64, &'static [f64])> {
    let s = tab.c.len();
    let nb = if tab.fsal { s } else { s + 1 };
    if j == 0 {
        return Some((0.0, &[]));
    }
    if j < s {
        let off = j * (j - 1) / 2;
        return Some((tab.c[j], tab.a.get(off..off + j)?));
    }
    if j < nb {
        return Some((1.0, tab.b));
    }
    let Interp::Free {
        extra_c, extra_a, ..
    } = &tab.interp
    else {
        return None;
    };
    let e = j - nb;
    let off = e * nb + e * e.saturating_sub(1) / 2;
    Some((*extra_c.get(e)?, extra_a.get(off..off + nb + e)?))
}

/// Answers the history reads of one replayed evaluation from the recorded solution, and
/// remembers where each came from.
struct Recorder<'a, H, R: Real> {
    mesh: &'a Mesh<'a, R>,
    history: &'a H,
    p: &'a Vec<R>,
    u0: &'a [R],
    step: usize,
    step_start: R,
    /// Where each read came from and what it gave (buffers kept across evaluations; the
    /// first `count` entries are this evaluation's).
    served: &'a mut Vec<Served<R>>,
    values: &'a mut Vec<Vec<R>>,
    count: usize,
    fault: Option<(R, Unserved)>,
}

impl<H: ScalarHistory, R: Real> HistorySource<Vec<R>> for Recorder<'_, H, R> {
    fn read(&mut self, t: R, tq: R, out: &mut Vec<R>) {
        match self.mesh.serve(self.step, self.step_start, t, tq) {
            Ok(s) => {
                match s {
                    Served::Initial(tq) => eval_history(self.history, self.p, tq, out),
                    Served::U0 => out.copy_from_slice(self.u0),
                    Served::Step { index, theta } => self.mesh.value(index, theta, out),
                }
                if self.count < self.served.len() {
                    self.served[self.count] = s;
                    self.values[self.count].copy_from_slice(out);
                } else {
                    self.served.push(s);
                    self.values.push(out.clone());
                }
                self.count += 1;
            }
            Err(e) => {
                self.fault.get_or_insert((tq, e));
                out.copy_from_slice(self.u0);
            }
        }
    }
}

/// `out += (∂h(p, t)/∂p)ᵀ hbar` for the history before `t0`, by forward columns.
/// The history is evaluated in `f64` dual numbers whatever `R` (it is an `f64` function).
fn history_vjp<H: ScalarHistory, R: Real>(history: &H, p: &[R], t: R, hbar: &[R], out: &mut [R]) {
    let p64: Vec<f64> = p.iter().map(|x| x.to_f64_lossy()).collect();
    let mut pd: Vec<Dual64> = p64.iter().map(|x| Dual64::constant(*x)).collect();
    let mut h = vec![Dual64::constant(0.0); hbar.len()];
    for k in 0..p.len() {
        pd[k] = Dual64::new(p64[k], 1.0);
        history.eval(&pd, t.to_f64_lossy(), &mut h);
        let dot: f64 = h
            .iter()
            .zip(hbar)
            .map(|(x, b)| x.eps() * b.to_f64_lossy())
            .sum();
        out[k] += R::c(dot);
        pd[k] = Dual64::constant(p64[k]);
    }
}

fn add_scaled<R: Real>(y: &mut [R], a: R, x: &[R]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * *xi;
    }
}

impl DdeDiscreteAdjoint {
    /// Solves `prob` in its scalar with `alg`, steps capped at the smallest lag, and keeps the
    /// tape. A fixed step longer than the smallest lag is an `Err`.
    pub fn forward<Q, M, C>(
        &self,
        prob: &Q,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<Q::R>,
    ) -> DdeForwardResult<Q::R>
    where
        Q: DdeAdjointInput,
        M: RkMethod + Clone + for<'h> OdeMethod<DdeField<'h, Q::F>, Cache = C>,
        C: Clone + Send,
    {
        let prob = prob.parts();
        let o = forward_options(alg, opts, prob.lags)?;
        let sol = real_problem(&prob)?.solve(alg.clone(), &o)?;
        let dense = sol.dense.clone().ok_or(Error::NoDenseOutput)?;
        if dense.range().map(|r| r.0) != Some(prob.tspan.0) {
            // `MethodOfSteps::history_window` dropped the first steps.
            return Err(Error::Unsupported {
                method: NAME,
                what: "differentiate a solve that kept only part of its history \
                       (`history_window`): the backward pass needs every step; drop the window"
                    .into(),
            }
            .into());
        }
        let tape = DdeTape {
            dense,
            saves: sol.t.clone(),
            method: alg.method().tableau().name,
            u0: prob.u0.to_vec(),
            p: prob.p.to_vec(),
            tspan: prob.tspan,
            lags: prob.lags.to_vec(),
        };
        Ok((sol, tape))
    }

    /// Given `ubar[k] = ∂L/∂u(t_k)` for every saved state of the forward solution, returns
    /// `∂L/∂u0` and `∂L/∂p`. `prob` and `alg` must be those of the forward pass.
    pub fn backward<Q, M>(
        &self,
        prob: &Q,
        alg: &MethodOfSteps<M>,
        tape: &DdeTape<Q::R>,
        ubar: &[Vec<Q::R>],
    ) -> Result<DdeAdjointGradient<Q::R>, DdeError<Vec<Q::R>>>
    where
        Q: DdeAdjointInput,
        Q::F: DdeVjp<Q::R>,
        M: RkMethod,
    {
        let prob = prob.parts();
        let zero = <Q::R as Real>::c(0.0);
        let one = <Q::R as Real>::c(1.0);
        let tab = alg.method().tableau();
        let (n, np) = (prob.u0.len(), prob.p.len());
        let (t0, _) = prob.tspan;
        if tape.method != tab.name
            || tape.u0 != prob.u0
            || tape.p != prob.p
            || tape.tspan != prob.tspan
            || tape.lags != prob.lags
        {
            return Err(Error::Replay {
                step: 0,
                t: t0.to_f64_lossy(),
                reason: format!(
                    "the tape was recorded with {} for another problem (u0, p, span or lags \
                     differ) or method ({}); run `forward` again",
                    tape.method, tab.name
                ),
            }
            .into());
        }
        if ubar.len() != tape.saves.len() {
            return Err(Error::DimensionMismatch {
                what: "cotangents (one per saved state)".into(),
                expected: tape.saves.len(),
                got: ubar.len(),
            }
            .into());
        }
        if let Some(b) = ubar.iter().find(|b| b.len() != n) {
            return Err(Error::DimensionMismatch {
                what: "a cotangent of a saved state".into(),
                expected: n,
                got: b.len(),
            }
            .into());
        }
        let mesh = Mesh {
            t0,
            // `DdeForwardDiff` always solves with `assume_jump_at_t0`.
            jump: true,
            steps: tape.dense.segments().collect(),
            poly: alg.method().interp_poly::<Q::R>(),
        };
        let nsteps = mesh.steps.len();
        if nsteps == 0 {
            return Err(Error::NoDenseOutput.into());
        }
        let nvec = mesh.steps[0].ks.len();
        let mut ybar = vec![vec![zero; n]; nsteps];
        let mut kbar = vec![vec![vec![zero; n]; nvec]; nsteps];
        let mut dp = vec![zero; np];
        let mut stats = Stats::default();

        // Saves: interpolated from the step whose end first reaches them.
        for (ts, ub) in tape.saves.iter().zip(ubar) {
            let index = mesh
                .steps
                .partition_point(|s| s.t_end < *ts)
                .min(nsteps - 1);
            let s = &mesh.steps[index];
            let theta = if s.h == zero {
                zero
            } else {
                (*ts - s.t0) / s.h
            };
            add_scaled(&mut ybar[index], one, ub);
            let (w, m) = mesh.weights(index, theta);
            for (kb, w) in kbar[index].iter_mut().zip(&w[..m]) {
                add_scaled(kb, *w, ub);
            }
        }

        let history_depends_on_p = prob.history.depends_on_params();
        let mut f = prob.f.clone();
        let p_vec = prob.p.to_vec();
        let (mut state, mut du, mut scratch) = (vec![zero; n], vec![zero; n], vec![zero; n]);
        let (mut ubar_stage, mut v) = (vec![zero; n], vec![zero; n]);
        let (mut served, mut values, mut hbar) = (Vec::new(), Vec::new(), Vec::new());
        for step in (0..nsteps).rev() {
            let seg = &mesh.steps[step];
            let (t, h) = (seg.t0, seg.h);
            if seg.ks.len() != nvec {
                return Err(Error::Replay {
                    step,
                    t: t.to_f64_lossy(),
                    reason: "steps store different numbers of vectors".into(),
                }
                .into());
            }
            if step + 1 < nsteps {
                // y1 = y0 + h Σ b_j k_j is the next step's start.
                let (head, tail) = ybar.split_at_mut(step + 1);
                add_scaled(&mut head[step], one, &tail[0]);
                for (kb, b) in kbar[step].iter_mut().zip(tab.b) {
                    add_scaled(kb, h * <Q::R as Real>::c(*b), &tail[0]);
                }
            }
            for j in (0..nvec).rev() {
                let Some((c, row)) = vector_row(tab, j) else {
                    return Err(Error::Replay {
                        step,
                        t: t.to_f64_lossy(),
                        reason: format!("{} has no stored vector {j}", tab.name),
                    }
                    .into());
                };
                state.copy_from_slice(seg.y0);
                for (a, k) in row.iter().zip(seg.ks) {
                    add_scaled(&mut state, h * <Q::R as Real>::c(*a), k);
                }
                let ts = if j == 0 {
                    t
                } else {
                    t + h * <Q::R as Real>::c(c)
                };
                // Probe: which history values this evaluation reads, and from where.
                let mut rec = Recorder {
                    mesh: &mesh,
                    history: prob.history,
                    p: &p_vec,
                    u0: prob.u0,
                    step,
                    step_start: t,
                    served: &mut served,
                    values: &mut values,
                    count: 0,
                    fault: None,
                };
                let evaluated = {
                    let mut hist = History::replay(&mut rec, ts, &mut scratch);
                    f.replay_reads(&mut du, &state, &mut hist, &p_vec, ts)
                };
                stats.nf += usize::from(evaluated);
                if let Some((tq, why)) = rec.fault {
                    return Err(unserved(why, ts, tq));
                }
                let reads = rec.count;
                if kbar[step][j].iter().all(|x| *x == zero) {
                    continue;
                }
                v.copy_from_slice(&kbar[step][j]);
                ubar_stage.iter_mut().for_each(|x| *x = zero);
                if hbar.len() < reads {
                    hbar.resize(reads, vec![zero; n]);
                }
                hbar[..reads]
                    .iter_mut()
                    .for_each(|hb: &mut Vec<Q::R>| hb.iter_mut().for_each(|x| *x = zero));
                f.vjp(
                    DdeVjpArgs {
                        t: ts,
                        u: &state,
                        p: prob.p,
                        reads: &values[..reads],
                        v: &v,
                    },
                    DdeVjpBars {
                        ubar: &mut ubar_stage,
                        hbar: &mut hbar[..reads],
                        pbar: &mut dp,
                    },
                )?;
                stats.nf += 1;
                add_scaled(&mut ybar[step], one, &ubar_stage);
                for (kb, a) in kbar[step].iter_mut().zip(row) {
                    add_scaled(kb, h * <Q::R as Real>::c(*a), &ubar_stage);
                }
                for (from, hb) in served[..reads].iter().zip(&hbar) {
                    match *from {
                        Served::Initial(tq) => {
                            if history_depends_on_p {
                                history_vjp(prob.history, prob.p, tq, hb, &mut dp);
                            }
                        }
                        Served::U0 => add_scaled(&mut ybar[0], one, hb),
                        Served::Step { index, theta } => {
                            add_scaled(&mut ybar[index], one, hb);
                            let (w, m) = mesh.weights(index, theta);
                            for (kb, w) in kbar[index].iter_mut().zip(&w[..m]) {
                                add_scaled(kb, *w, hb);
                            }
                        }
                    }
                }
            }
        }
        let du0 = ybar.swap_remove(0);
        Ok(Gradient { du0, dp, stats })
    }

    /// Solves, evaluates `loss` on the solution (it returns the loss's cotangents of the saved
    /// states, one per save) and returns the solution with the loss's gradient.
    #[allow(clippy::type_complexity)]
    pub fn loss_and_gradient<Q, M, C>(
        &self,
        prob: &Q,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<Q::R>,
        loss: impl FnOnce(&Solution<Vec<Q::R>>) -> (Q::R, Vec<Vec<Q::R>>),
    ) -> Result<(Solution<Vec<Q::R>>, DdeAdjointGradient<Q::R>), DdeError<Vec<Q::R>>>
    where
        Q: DdeAdjointInput,
        Q::F: DdeVjp<Q::R>,
        M: RkMethod + Clone + for<'h> OdeMethod<DdeField<'h, Q::F>, Cache = C>,
        C: Clone + Send,
    {
        let (sol, tape) = self.forward(prob, alg, opts)?;
        let (_, ubar) = loss(&sol);
        let g = self.backward(prob, alg, &tape, &ubar)?;
        Ok((sol, g))
    }
}

/// The error for a read the adjoint cannot send a cotangent through.
fn unserved<R: Real>(why: Unserved, t: R, tq: R) -> DdeError<Vec<R>> {
    let what = match why {
        Unserved::Future => format!(
            "differentiate a read of u({tq}) while evaluating t = {t}: only earlier times can \
             be read"
        ),
        Unserved::Ahead => format!(
            "differentiate the evaluation at t = {t}: it read u({tq}) inside its own step (a \
             step longer than a lag, resolved by fixed-point iteration, which is not \
             differentiated); declare every lag the right-hand side reads, or cap `dtmax` below \
             the smallest lag"
        ),
    };
    Error::Unsupported { method: NAME, what }.into()
}
