//! The discrete adjoint of [`DaeBdf`] solves: the exact gradient of the computed solution on its
//! frozen mesh (DESIGN decision 7), by one reverse sweep with transposed solves.
//!
//! # What is differentiated
//!
//! On a frozen mesh (step sizes, orders and the error estimates are constants) the solve is a
//! chain of maps of the history `D_0 … D_{k+2}` (module docs of [`crate::bdf`]):
//!
//! 1. the start `D_0 = u0`, `D_1 = u′(t0)` (spacing 1), the rest zero;
//! 2. each change of spacing `D_j ← Σ_{i=1}^{k} D_i (R(ρ)U)_{ij}`, `j = 1 … k` (Shampine and
//!    Reichelt 1997, §2.3), after rejected attempts too;
//! 3. each accepted step: the converged corrector `F((γ_k d + ψ)/h, y⁽⁰⁾ + d, p, t + h) = 0` with
//!    `y⁽⁰⁾ = Σ_{j≤k} D_j`, `ψ = Σ_{j=1}^{k} γ_j D_j`, then the difference update
//!    `D_{k+2} ← d − D_{k+1}`, `D_{k+1} ← d`, `D_i ← D_i + D_{i+1}` for `i = k … 0`;
//! 4. each save inside a step, `u(θ) = u_start + Σ_{q=1}^{k} θ^q Σ_{l=1}^{k} c_{lq} D_l` with the
//!    updated differences (`c`: sciml-ode's `interp_coefficients`), or `D_0` at the step's end.
//!
//! By the implicit function theorem the corrector's derivative at the converged point is
//! `δd = −W⁻¹(∂F/∂u·δy⁽⁰⁾ + ∂F/∂u′·δψ/h + ∂F/∂p·δp)`, `W = ∂F/∂u + (γ_k/h)·∂F/∂u′` evaluated at
//! the converged `(u, u′)` (not at Newton's iterates: the adjoint is of the converged equations,
//! as sciml-ode's `bdf_vjp`). Every other map is linear. The reverse sweep transposes each in
//! reverse order: for a step, `λ = W⁻ᵀ d̄`, `ȳ⁽⁰⁾ = −∂F/∂uᵀλ`, `ψ̄ = −∂F/∂u′ᵀλ/h`,
//! `p̄ −= ∂F/∂pᵀλ`. The forward sensitivities of [`DaeProblem::solve_forward_sensitivity`] are
//! the tangent of the same discrete equations, so on the same mesh both agree to rounding.
//!
//! # The start
//!
//! The algebraic start values and the differential derivatives `u′(t0)` are taken as functions
//! of `p` and the differential start values through the consistent initialisation,
//! `F(u′(t0), u(t0), p, t0) = 0` (linearised as in the forward sensitivities: with
//! `G = [∂F/∂u′ on differential columns | ∂F/∂u on algebraic columns]`, `μ = G⁻ᵀ x̄` sends the
//! start's cotangents to `p` and to the differential start values). The algebraic entries of the
//! `u0` gradient are therefore zero, and `u′(t0)` of the algebraic variables is a constant.

use crate::bdf::{DaeBdf, DaeBdfStepper, StepOp};
use crate::error::DaeError;
use crate::function::DaeJacobian;
use crate::init::DaeInit;
use crate::linear::{DaeTransposeSolver, DaeW};
use crate::problem::DaeProblem;
use sciml_core::{DenseMatrix, Solution, Stats};
use sciml_ode::stiff::bdf::{gamma, interp_coefficients, rescale_matrix, MAX_ORDER};
use sciml_ode::stiff::DenseSolve;
use sciml_ode::{Callbacks, SolveOptions, StepLoop};

/// Where a saved state sits on the recorded mesh.
#[derive(Clone, Copy, Debug)]
enum SavePos {
    /// `u0` after the initialisation.
    Start,
    /// The end of the step recorded at this index of the operations (exactly `D_0` there).
    End(usize),
    /// Inside that step, at `θ = (t − t_start)/h`.
    Inside(usize, f64),
}

/// What a [`DaeProblem::solve_with_tape`] solve recorded for its discrete adjoint: the
/// consistent start, the parameters, and each change of spacing and accepted step with its order,
/// size and converged `(u, u′)`.
///
/// The tape keeps the solve's linear strategy (`L`, the dense one by default): the reverse
/// sweep factorises the same matrices with it.
#[derive(Clone, Debug)]
pub struct DaeTape<L = DenseSolve> {
    linear: L,
    t0: f64,
    u0: Vec<f64>,
    du0: Vec<f64>,
    p: Vec<f64>,
    ops: Vec<StepOp>,
    saves: Vec<SavePos>,
}

impl<L> DaeTape<L> {
    /// The tape of a solve from the consistent `(u0, du0)` that recorded `ops` and saved at
    /// `times`, with the strategy `linear`.
    pub(crate) fn new(
        linear: L,
        t0: f64,
        u0: Vec<f64>,
        du0: Vec<f64>,
        p: Vec<f64>,
        ops: Vec<StepOp>,
        times: &[f64],
    ) -> Result<Self, DaeError> {
        if !matches!(ops.first(), Some(StepOp::Start))
            || ops.iter().skip(1).any(|o| matches!(o, StepOp::Start))
        {
            return Err(DaeError::TapeMismatch {
                why: "the solve restarted the method (events are not supported)",
            });
        }
        let saves = locate_saves(t0, &ops, times)?;
        Ok(DaeTape {
            linear,
            t0,
            u0,
            du0,
            p,
            ops,
            saves,
        })
    }
    /// Number of saved states (the number of cotangents [`DaeProblem::discrete_adjoint`] takes).
    pub fn n_saves(&self) -> usize {
        self.saves.len()
    }
    /// Number of accepted steps recorded.
    pub fn n_steps(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o, StepOp::Step { .. }))
            .count()
    }
}

/// The gradient of a loss with respect to the start values and the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct DaeGradient {
    /// `∂L/∂u0` through the differential start values (zero on algebraic components, which the
    /// consistent initialisation determines).
    pub u0: Vec<f64>,
    /// `∂L/∂p`.
    pub p: Vec<f64>,
}

/// Maps each save time onto the recorded mesh (as the step loop placed it: exactly the state at
/// a step end, else interpolated in the step that contains it).
fn locate_saves(t0: f64, ops: &[StepOp], times: &[f64]) -> Result<Vec<SavePos>, DaeError> {
    // (op index, step start, step end, h)
    let mut steps = Vec::new();
    let mut t_start = t0;
    for (i, op) in ops.iter().enumerate() {
        if let StepOp::Step { h, t_end, .. } = op {
            steps.push((i, t_start, *t_end, *h));
            t_start = *t_end;
        }
    }
    // The steps' ends in the solve's direction (a backward span's decrease).
    let forward = steps.last().is_none_or(|s| s.2 >= t0);
    times
        .iter()
        .map(|&ts| {
            if ts == t0 {
                return Ok(SavePos::Start);
            }
            let j = steps.partition_point(|s| if forward { s.2 < ts } else { s.2 > ts });
            match steps.get(j) {
                Some(&(i, _, t_end, _)) if ts == t_end => Ok(SavePos::End(i)),
                Some(&(i, start, _, h)) => Ok(SavePos::Inside(i, (ts - start) / h)),
                None => Err(DaeError::TapeMismatch {
                    why: "a save lies after the last recorded step",
                }),
            }
        })
        .collect()
}

impl<F: DaeJacobian> DaeProblem<F> {
    /// [`DaeProblem::solve`] (without events) that also records what
    /// [`DaeProblem::discrete_adjoint`] needs: per step its order, size and converged `(u, u′)`.
    ///
    /// ```
    /// use sciml_dae::{DaeBdf, DaeClosure, DaeFiniteDiff, DaeInit, DaeProblem};
    /// use sciml_ode::{SaveAt, SolveOptions};
    /// // u′ = −p u, L = u(1): dL/dp = −e^{−p}, dL/du0 = e^{−p}.
    /// let f = DaeClosure::new(1, |_t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]| {
    ///     r[0] = du[0] + p[0] * u[0];
    /// });
    /// let mut prob = DaeProblem::new(DaeFiniteDiff::new(f), vec![-1.0], vec![1.0], (0.0, 1.0),
    ///     vec![1.0], None)?;
    /// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![1.0]));
    /// let (sol, tape) = prob.solve_with_tape(DaeBdf::new(), DaeInit::CheckInit, &opts)?;
    /// let g = prob.discrete_adjoint(&tape, &[vec![1.0]])?;
    /// let e = (-1f64).exp();
    /// assert!((sol.u[0][0] - e).abs() < 1e-7);
    /// assert!((g.p[0] + e).abs() < 1e-6 && (g.u0[0] - e).abs() < 1e-6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn solve_with_tape<L: DaeTransposeSolver<F>>(
        &mut self,
        method: DaeBdf<L>,
        init: DaeInit,
        opts: &SolveOptions<f64>,
    ) -> Result<(Solution<Vec<f64>>, DaeTape<L>), DaeError> {
        crate::init::refuse_for_sensitivities(init)?;
        // The start check (a sparse pattern) matters all the more here: the reverse sweep is
        // made of the Jacobians.
        let (u0, du0, _) = self.consistent_start(&method, init, opts, self.u0.len())?;
        let t0 = self.tspan.0;
        let mut ops = Vec::new();
        let linear = method.linear.clone();
        let stepper =
            DaeBdfStepper::new(&mut self.f, &self.p, method, &self.differential_vars, &du0)?
                .with_record(&mut ops);
        let sol = StepLoop::new(stepper, &u0, self.tspan, opts, Callbacks::new())?.solve()?;
        let tape = DaeTape::new(linear, t0, u0, du0, self.p.clone(), ops, &sol.t)?;
        Ok((sol, tape))
    }

    /// The discrete adjoint of the solve recorded in `tape` (module docs of [`crate::adjoint`]):
    /// given `cotangents[i] = ∂L/∂u(t_i)` for every saved state of that solve (in order, each of
    /// length `n`), the gradient of `L` with respect to the differential start values and the
    /// parameters. Needs `∂F/∂p` when there are parameters. Cotangents of the wrong number or
    /// length, or not finite, are an `Err`.
    pub fn discrete_adjoint<L: DaeTransposeSolver<F>>(
        &mut self,
        tape: &DaeTape<L>,
        cotangents: &[Vec<f64>],
    ) -> Result<DaeGradient, DaeError> {
        let n = self.u0.len();
        let m = tape.p.len();
        if tape.u0.len() != n || m != self.p.len() {
            return Err(DaeError::TapeMismatch {
                why: "the tape was recorded for a problem of another size",
            });
        }
        if cotangents.len() != tape.saves.len() {
            return Err(DaeError::CotangentCount {
                got: cotangents.len(),
                expected: tape.saves.len(),
            });
        }
        for c in cotangents {
            if c.len() != n {
                return Err(DaeError::Length {
                    what: "a cotangent",
                    got: c.len(),
                    expected: n,
                });
            }
            if let Some(index) = c.iter().position(|x| !x.is_finite()) {
                return Err(DaeError::NotFinite {
                    what: "a cotangent",
                    index,
                });
            }
        }
        let p = &tape.p;
        let linear = &tape.linear;
        let mut lc = linear.dae_cache(&self.f, n);
        // Jacobian evaluations of the sweep are not the solve's: they count nowhere.
        let mut stats = Stats::default();
        let mut dfdp = DenseMatrix::zeros(n, m);
        let mut vd = vec![0.0; n];
        // Cotangents of the history D_0 … D_{MAX_ORDER+2}, of p and of the step's start.
        let mut db = vec![vec![0.0; n]; MAX_ORDER + 3];
        let mut tmp = vec![vec![0.0; n]; MAX_ORDER + 1];
        let mut gp = vec![0.0; m];
        let (mut ub, mut lam, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut dbar = vec![0.0; n];
        // Save cotangents grouped by the op they belong to.
        let mut at_op: Vec<Vec<usize>> = vec![Vec::new(); tape.ops.len()];
        let mut start_bar = vec![0.0; n];
        for (s, pos) in tape.saves.iter().enumerate() {
            match pos {
                SavePos::Start => add(&mut start_bar, &cotangents[s], 1.0),
                SavePos::End(i) | SavePos::Inside(i, _) => at_op[*i].push(s),
            }
        }
        for (i, op) in tape.ops.iter().enumerate().rev() {
            match op {
                StepOp::Start => {}
                StepOp::Rescale { k, rho } => {
                    let k = *k;
                    let ru = rescale_matrix(k, *rho);
                    for (a, ta) in tmp.iter_mut().enumerate().take(k + 1).skip(1) {
                        ta.fill(0.0);
                        for b in 1..=k {
                            add(ta, &db[b], ru[a][b]);
                        }
                    }
                    for a in 1..=k {
                        std::mem::swap(&mut db[a], &mut tmp[a]);
                    }
                }
                StepOp::Step {
                    k, h, t_f, u, du, ..
                } => {
                    let (k, h) = (*k, *h);
                    // 4. Saves in the step.
                    ub.fill(0.0);
                    let coef = interp_coefficients(k);
                    for &s in &at_op[i] {
                        let g = &cotangents[s];
                        match tape.saves[s] {
                            SavePos::Inside(_, theta) => {
                                add(&mut ub, g, 1.0);
                                for (l, dl) in db.iter_mut().enumerate().take(k + 1).skip(1) {
                                    let c: f64 =
                                        (1..=k).map(|q| theta.powi(q as i32) * coef[l][q]).sum();
                                    add(dl, g, c);
                                }
                            }
                            _ => add(&mut db[0], g, 1.0),
                        }
                    }
                    // 3b. The difference update, reversed.
                    for a in 0..=k {
                        let (lo, hi) = db.split_at_mut(a + 1);
                        add(&mut hi[0], &lo[a], 1.0);
                    }
                    // D_{k+1} ← d, then D_{k+2} ← d − D_{k+1} (old), reversed.
                    let (lo, hi) = db.split_at_mut(k + 2);
                    for ((b, d1), d2) in dbar.iter_mut().zip(&mut lo[k + 1]).zip(&mut hi[0]) {
                        *b = *d1 + *d2;
                        *d1 = -*d2;
                        *d2 = 0.0;
                    }
                    add(&mut db[0], &ub, 1.0);
                    // 3a. The converged corrector: λ = W⁻ᵀ d̄ at the converged point.
                    lam.copy_from_slice(&dbar);
                    let at = (*t_f, &du[..], &u[..], &p[..]);
                    let w = DaeW::bdf(gamma(k) / h);
                    let sweep = (&mut lam[..], &mut vd[..], &mut v[..]);
                    transposed_step(linear, &mut lc, &mut self.f, at, w, sweep, &mut stats)?;
                    // ȳ⁽⁰⁾ = −∂F/∂uᵀλ reaches D_0 … D_k; ψ̄ = −∂F/∂u′ᵀλ/h reaches γ_j D_j.
                    for dj in db.iter_mut().take(k + 1) {
                        add(dj, &v, -1.0);
                    }
                    for (j, dj) in db.iter_mut().enumerate().take(k + 1).skip(1) {
                        add(dj, &vd, -gamma(j) / h);
                    }
                    if m > 0 {
                        if !self.f.param_jacobian(*t_f, du, u, p, &mut dfdp) {
                            return Err(DaeError::NoParamJacobian);
                        }
                        sub_tr_mul(&dfdp, &lam, &mut gp);
                    }
                }
            }
        }
        // 1. The start: D_0 = u0, D_1 = u′(t0), through the consistent initialisation.
        add(&mut db[0], &start_bar, 1.0);
        let (t0, u0, du0) = (tape.t0, &tape.u0, &tape.du0);
        for (i, d) in self.differential_vars.iter().enumerate() {
            lam[i] = if *d { db[1][i] } else { db[0][i] };
        }
        let at = (t0, &du0[..], &u0[..], &p[..]);
        let w = DaeW::mixed(&self.differential_vars);
        let sweep = (&mut lam[..], &mut vd[..], &mut v[..]);
        transposed_step(linear, &mut lc, &mut self.f, at, w, sweep, &mut stats)?;
        let gu0 = (0..n)
            .map(|i| {
                if self.differential_vars[i] {
                    db[0][i] - v[i]
                } else {
                    0.0
                }
            })
            .collect();
        if m > 0 {
            if !self.f.param_jacobian(t0, du0, u0, p, &mut dfdp) {
                return Err(DaeError::NoParamJacobian);
            }
            sub_tr_mul(&dfdp, &lam, &mut gp);
        }
        Ok(DaeGradient { u0: gu0, p: gp })
    }
}

/// At the point `(t, u′, u, p)`: linearises, factorises `W` of weights `w`, replaces `λ` by
/// `W⁻ᵀλ` and writes `∂F/∂u′ᵀλ` into `vd` and `∂F/∂uᵀλ` into `v` (one reverse step of a
/// converged equation).
fn transposed_step<F: DaeJacobian, L: DaeTransposeSolver<F>>(
    linear: &L,
    lc: &mut L::Cache,
    f: &mut F,
    (t, du, u, p): (f64, &[f64], &[f64], &[f64]),
    w: DaeW<'_>,
    (lam, vd, v): (&mut [f64], &mut [f64], &mut [f64]),
    stats: &mut Stats,
) -> Result<(), DaeError> {
    let singular = |_| DaeError::SingularIterationMatrix { t };
    linear
        .linearise(lc, f, t, du, u, p, stats)
        .map_err(|_| DaeError::NonFiniteJacobian { t })?;
    linear.factorise(lc, w, stats).map_err(singular)?;
    linear.solve_transpose(lc, lam).map_err(singular)?;
    linear
        .jacobian_transpose_products(lc, lam, vd, v)
        .map_err(singular)
}

/// `y += c·x`.
fn add(y: &mut [f64], x: &[f64], c: f64) {
    for (a, b) in y.iter_mut().zip(x) {
        *a += c * b;
    }
}

/// `g −= Aᵀλ` for an `n × m` matrix `A`.
fn sub_tr_mul(a: &DenseMatrix<f64>, lam: &[f64], g: &mut [f64]) {
    for (j, gj) in g.iter_mut().enumerate() {
        *gj -= a.col(j).iter().zip(lam).map(|(x, y)| x * y).sum::<f64>();
    }
}

#[cfg(test)]
#[path = "adjoint_tests.rs"]
mod tests;
