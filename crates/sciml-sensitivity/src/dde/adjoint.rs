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
use super::{DdeForwardDiff, DdeGradient, DdeLossGradient, DualDde, ScalarHistory};
use crate::gradient::Gradient;
use sciml_core::{DenseOutput, Dual64, Error, Solution, Stats};
use sciml_dde::{DdeError, DdeField, History, HistorySource, MethodOfSteps};
use sciml_ode::tableaus::{Interp, Tableau};
use sciml_ode::{MethodInfo, OdeMethod, RkMethod, SolveOptions};

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
pub struct DdeTape {
    dense: DenseOutput<Vec<f64>>,
    saves: Vec<f64>,
    method: &'static str,
    u0: Vec<f64>,
    p: Vec<f64>,
    tspan: (f64, f64),
    lags: Vec<f64>,
}

/// What [`DdeDiscreteAdjoint::forward`] returns: the solution and its tape.
pub type DdeForwardResult = Result<(Solution<Vec<f64>>, DdeTape), DdeError<Vec<f64>>>;

impl DdeTape {
    /// The number of recorded steps.
    pub fn steps(&self) -> usize {
        self.dense.len()
    }
}

/// The forward options: dense output on, steps no longer than the smallest lag.
fn forward_options<M: MethodInfo>(
    alg: &MethodOfSteps<M>,
    opts: &SolveOptions<f64>,
    lags: &[f64],
) -> Result<SolveOptions<f64>, Error> {
    let mut o = opts.clone();
    o.dense = Some(true);
    let Some(min_lag) = lags.iter().copied().reduce(f64::min) else {
        return Ok(o);
    };
    let fixed = o.adaptive == Some(false) || !alg.method().is_adaptive();
    if fixed {
        if let Some(dt) = o.dt.filter(|dt| *dt > min_lag * (1.0 + 1e-12)) {
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
struct Recorder<'a, H> {
    mesh: &'a Mesh<'a>,
    history: &'a H,
    p: &'a [f64],
    u0: &'a [f64],
    step: usize,
    step_start: f64,
    /// Where each read came from and what it gave (buffers kept across evaluations; the
    /// first `count` entries are this evaluation's).
    served: &'a mut Vec<Served>,
    values: &'a mut Vec<Vec<f64>>,
    count: usize,
    fault: Option<(f64, Unserved)>,
}

impl<H: ScalarHistory> HistorySource<Vec<f64>> for Recorder<'_, H> {
    fn read(&mut self, t: f64, tq: f64, out: &mut Vec<f64>) {
        match self.mesh.serve(self.step, self.step_start, t, tq) {
            Ok(s) => {
                match s {
                    Served::Initial(tq) => self.history.eval(self.p, tq, out),
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
fn history_vjp<H: ScalarHistory>(history: &H, p: &[f64], t: f64, hbar: &[f64], out: &mut [f64]) {
    let mut pd: Vec<Dual64> = p.iter().map(|x| Dual64::constant(*x)).collect();
    let mut h = vec![Dual64::constant(0.0); hbar.len()];
    for k in 0..p.len() {
        pd[k] = Dual64::new(p[k], 1.0);
        history.eval(&pd, t, &mut h);
        out[k] += h.iter().zip(hbar).map(|(x, b)| x.eps() * b).sum::<f64>();
        pd[k] = Dual64::constant(p[k]);
    }
}

fn add_scaled(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

impl DdeDiscreteAdjoint {
    /// Solves `prob` in `f64` with `alg`, steps capped at the smallest lag, and keeps the tape.
    /// A fixed step longer than the smallest lag is an `Err`.
    pub fn forward<F, H, M, C>(
        &self,
        prob: &DdeForwardDiff<F, H>,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<f64>,
    ) -> DdeForwardResult
    where
        F: DualDde + Clone,
        H: ScalarHistory,
        M: RkMethod + for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
        C: Clone + Send,
    {
        let o = forward_options(alg, opts, &prob.lags)?;
        let sol = prob.solve(alg, &o)?;
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
            u0: prob.u0.clone(),
            p: prob.p.clone(),
            tspan: prob.tspan,
            lags: prob.lags.clone(),
        };
        Ok((sol, tape))
    }

    /// Given `ubar[k] = ∂L/∂u(t_k)` for every saved state of the forward solution, returns
    /// `∂L/∂u0` and `∂L/∂p`. `prob` and `alg` must be those of the forward pass.
    pub fn backward<F, H, M>(
        &self,
        prob: &DdeForwardDiff<F, H>,
        alg: &MethodOfSteps<M>,
        tape: &DdeTape,
        ubar: &[Vec<f64>],
    ) -> Result<DdeGradient, DdeError<Vec<f64>>>
    where
        F: DualDde + DdeVjp + Clone,
        H: ScalarHistory,
        M: RkMethod,
    {
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
                t: t0,
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
            poly: alg.method().interp_poly::<f64>(),
        };
        let nsteps = mesh.steps.len();
        if nsteps == 0 {
            return Err(Error::NoDenseOutput.into());
        }
        let nvec = mesh.steps[0].ks.len();
        let mut ybar = vec![vec![0.0; n]; nsteps];
        let mut kbar = vec![vec![vec![0.0; n]; nvec]; nsteps];
        let mut dp = vec![0.0; np];
        let mut stats = Stats::default();

        // Saves: interpolated from the step whose end first reaches them.
        for (ts, ub) in tape.saves.iter().zip(ubar) {
            let index = mesh
                .steps
                .partition_point(|s| s.t_end < *ts)
                .min(nsteps - 1);
            let s = &mesh.steps[index];
            let theta = if s.h == 0.0 { 0.0 } else { (ts - s.t0) / s.h };
            add_scaled(&mut ybar[index], 1.0, ub);
            let (w, m) = mesh.weights(index, theta);
            for (kb, w) in kbar[index].iter_mut().zip(&w[..m]) {
                add_scaled(kb, *w, ub);
            }
        }

        let history_depends_on_p = prob.history.depends_on_params();
        let mut f = prob.f.clone();
        let (mut state, mut du, mut scratch) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut ubar_stage, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (mut served, mut values, mut hbar) = (Vec::new(), Vec::new(), Vec::new());
        for step in (0..nsteps).rev() {
            let seg = &mesh.steps[step];
            let (t, h) = (seg.t0, seg.h);
            if seg.ks.len() != nvec {
                return Err(Error::Replay {
                    step,
                    t,
                    reason: "steps store different numbers of vectors".into(),
                }
                .into());
            }
            if step + 1 < nsteps {
                // y1 = y0 + h Σ b_j k_j is the next step's start.
                let (head, tail) = ybar.split_at_mut(step + 1);
                add_scaled(&mut head[step], 1.0, &tail[0]);
                for (kb, b) in kbar[step].iter_mut().zip(tab.b) {
                    add_scaled(kb, h * b, &tail[0]);
                }
            }
            for j in (0..nvec).rev() {
                let Some((c, row)) = vector_row(tab, j) else {
                    return Err(Error::Replay {
                        step,
                        t,
                        reason: format!("{} has no stored vector {j}", tab.name),
                    }
                    .into());
                };
                state.copy_from_slice(seg.y0);
                for (a, k) in row.iter().zip(seg.ks) {
                    add_scaled(&mut state, h * a, k);
                }
                let ts = if j == 0 { t } else { t + h * c };
                // Probe: which history values this evaluation reads, and from where.
                let mut rec = Recorder {
                    mesh: &mesh,
                    history: &prob.history,
                    p: &prob.p,
                    u0: &prob.u0,
                    step,
                    step_start: t,
                    served: &mut served,
                    values: &mut values,
                    count: 0,
                    fault: None,
                };
                let evaluated = {
                    let mut hist = History::replay(&mut rec, ts, &mut scratch);
                    f.replay_reads(&mut du, &state, &mut hist, &prob.p, ts)
                };
                stats.nf += usize::from(evaluated);
                if let Some((tq, why)) = rec.fault {
                    return Err(unserved(why, ts, tq));
                }
                let reads = rec.count;
                if kbar[step][j].iter().all(|x| *x == 0.0) {
                    continue;
                }
                v.copy_from_slice(&kbar[step][j]);
                ubar_stage.iter_mut().for_each(|x| *x = 0.0);
                if hbar.len() < reads {
                    hbar.resize(reads, vec![0.0; n]);
                }
                hbar[..reads]
                    .iter_mut()
                    .for_each(|hb: &mut Vec<f64>| hb.iter_mut().for_each(|x| *x = 0.0));
                f.vjp(
                    DdeVjpArgs {
                        t: ts,
                        u: &state,
                        p: &prob.p,
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
                add_scaled(&mut ybar[step], 1.0, &ubar_stage);
                for (kb, a) in kbar[step].iter_mut().zip(row) {
                    add_scaled(kb, h * a, &ubar_stage);
                }
                for (from, hb) in served[..reads].iter().zip(&hbar) {
                    match *from {
                        Served::Initial(tq) => {
                            if history_depends_on_p {
                                history_vjp(&prob.history, &prob.p, tq, hb, &mut dp);
                            }
                        }
                        Served::U0 => add_scaled(&mut ybar[0], 1.0, hb),
                        Served::Step { index, theta } => {
                            add_scaled(&mut ybar[index], 1.0, hb);
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
    pub fn loss_and_gradient<F, H, M, C>(
        &self,
        prob: &DdeForwardDiff<F, H>,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<f64>,
        loss: impl FnOnce(&Solution<Vec<f64>>) -> (f64, Vec<Vec<f64>>),
    ) -> Result<DdeLossGradient, DdeError<Vec<f64>>>
    where
        F: DualDde + DdeVjp + Clone,
        H: ScalarHistory,
        M: RkMethod + for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
        C: Clone + Send,
    {
        let (sol, tape) = self.forward(prob, alg, opts)?;
        let (_, ubar) = loss(&sol);
        let g = self.backward(prob, alg, &tape, &ubar)?;
        Ok((sol, g))
    }
}

/// The error for a read the adjoint cannot send a cotangent through.
fn unserved(why: Unserved, t: f64, tq: f64) -> DdeError<Vec<f64>> {
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
