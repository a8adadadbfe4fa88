//! The exact discrete adjoint of variable-order BDF (module docs of `bdf`) for the dense linear
//! strategy, with or without a constant mass matrix `M` (`I` when the problem has none).
//!
//! # What is differentiated
//!
//! BDF is a multistep method: a step's result depends on earlier steps through the history, the
//! modified divided differences `D_0 … D_k` (`D_0 = u_n`). On a frozen mesh (DESIGN decision 7:
//! the step sizes, the orders and the error estimates are constants) one accepted step of order
//! `k` and size `h` is the map
//!
//! 1. change of spacing `D_j ← Σ_{i=1}^{k} D_i (R(ρ)·U)_{ij}` for `j = 1 … k`, `ρ = h / h_prev`
//!    (the spacing the history was written for; [`StepMemory::rescale`]);
//! 2. the converged corrector `G(y) = M y − c f(t + h, y) − M b = 0`, `c = h/α_k`, with
//!    `b = y⁽⁰⁾ − ψ = Σ_{j=0}^{k} β_j D_j`, `β_0 = 1`, `β_j = 1 − γ_j/α_k` (the corrector
//!    `M (d + ψ) − c f(t + h, y⁽⁰⁾ + d) = 0` of the module docs written in `y = y⁽⁰⁾ + d`);
//! 3. the difference update `D_m ← y − Σ_{l<m} D_l` for `m = 0 … k + 1` (`D_0 ← y = u_{n+1}`,
//!    `D_{k+1} ← d`); the update's `D_{k+2}` only feeds the error estimate of order `k + 1`;
//! 4. saves inside the step, `u(θ) = u_n + Σ_{j=1}^{k} (p_j(θ) − p_j(0)) D_j` with the updated
//!    differences (the dense output).
//!
//! The first step starts from `D_0 = u0`, `D_1 = f(t0, u0)` at spacing 1 (with a mass matrix
//! `D_1 = 0`: `u′(t0)` is not `f(t0, u0)` then). The forward solve
//! reaches `y` by a simplified Newton iteration stopped at a tolerance; the adjoint is the
//! derivative of the converged equation at the forward's `y` ([`StepMemory::end`]), never of the
//! iterations (as for ESDIRK, `sdirk_vjp`): it agrees with dual numbers through the solver and
//! with differences of the computed solution as far as that iteration has converged.
//!
//! # Reverse sweep
//!
//! The adjoint of a multistep method is itself multistep: the cotangents of the whole history
//! travel from one reversed step to the one before it — `D̄_0 = ū_{n+1}` in `λ`, `D̄_1 … D̄_k`
//! in [`BdfVjpCache`]. Reversing step `n`: seed `D̄'_j` from the saves; `ȳ = Σ_{m=0}^{k+1} D̄'_m`
//! and `D̄_l = −Σ_{m>l} D̄'_m` (the update, 3); `μ = W⁻ᵀ ȳ` with `W = M − c J(t + h, y)` (the
//! Jacobian exactly at `y`), `p̄ += c f_pᵀ μ` (one VJP) and `D̄_l += β_l Mᵀ μ` (the corrector,
//! 2, by the implicit function theorem); `D̄_i ← Σ_j (R(ρ)·U)_{ij} D̄_j` (the change of spacing,
//! 1). On the first step without a mass matrix, `D̄_1` reaches `u0` and `p` through one VJP of
//! `f(t0, u0)`. Cost per
//! step: one Jacobian, one LU factorisation and transposed solve, and one VJP.

use super::bdf::{alpha, gamma, interp_coefficients, rescale_matrix, Bdf, MAX_ORDER};
use super::linear::DenseSolve;
use crate::method::StepMemory;
use crate::step_vjp::{StepVjp, StepVjpContext};
use sciml_core::linalg::DenseLu;
use sciml_core::{DenseMatrix, Jacobian, Vjp};

/// Buffers of a BDF reverse sweep, and the cotangents of the history `D̄_1 … D̄_{k+1}` it
/// carries from one reversed step to the one before (`D̄_0` is the sweep's `λ`).
///
/// ```
/// use sciml_core::{ForwardAd, GenericRhs, Scalar};
/// use sciml_ode::{Bdf, OdeProblem, SaveAt, SolveOptions, StepVjp, StepVjpContext};
/// #[derive(Clone)]
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -(p[0] * u[0]);
///     }
/// }
/// // Record a short solve, then reverse its steps by hand: L = u(T).
/// let mut prob = OdeProblem::new(ForwardAd::new(Decay), vec![2.0], (0.0, 0.5), vec![3.0]).unwrap();
/// let opts = SolveOptions::default().saveat(SaveAt::Times(vec![0.5]));
/// let mut integ = prob.init(Bdf::new(), &opts).unwrap();
/// integ.record_tape(1, false).unwrap();
/// let (_, tape) = integ.solve_with_tape().unwrap();
/// let tape = tape.unwrap();
/// let (mut f, m) = (ForwardAd::new(Decay), Bdf::new());
/// let mut cache = StepVjp::<ForwardAd<Decay>>::vjp_cache(&m, &vec![2.0]);
/// let mut stats = sciml_core::Stats::default();
/// let (mut lam, mut gp) = (vec![1.0], vec![0.0]);
/// for rec in tape.steps.iter().rev() {
///     let u0 = rec.u0.clone().unwrap();
///     let ctx = StepVjpContext {
///         p: &vec![3.0], t: rec.t0, h: rec.h, u0: &u0, saves: &[], stages: None,
///         memory: rec.memory.as_ref(), mass: None, stats: &mut stats,
///     };
///     m.step_vjp(&mut cache, &mut f, ctx, &mut lam, &mut gp);
/// }
/// // Close to the exact solution's derivatives e^{-pT} and -T u0 e^{-pT}.
/// let e = (-1.5f64).exp();
/// assert!((lam[0] - e).abs() < 1e-3 * e, "{lam:?}");
/// assert!((gp[0] + 1.0 * e).abs() < 1e-3 * e, "{gp:?}");
/// ```
pub struct BdfVjpCache {
    /// `D̄_0 … D̄_{MAX_ORDER+1}` after the step being reversed (entry 0 unused between steps).
    dbar: Vec<Vec<f64>>,
    /// `D̄` of the differences the step started from, at the step's spacing.
    dold: Vec<Vec<f64>>,
    j: DenseMatrix<f64>,
    w: DenseMatrix<f64>,
    lu: DenseLu<f64>,
    mu: Vec<f64>,
    /// `Mᵀ μ` when the problem has a mass matrix.
    mtmu: Vec<f64>,
    scratch: Vec<f64>,
}

impl<F> StepVjp<F> for Bdf<DenseSolve>
where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    type VjpCache = BdfVjpCache;

    /// The reverse pass linearises at the step record's end state ([`StepMemory::end`]); it
    /// needs no stages.
    fn uses_stages(&self) -> bool {
        false
    }

    fn reverses_mass_matrix(&self) -> bool {
        true
    }

    fn vjp_cache(&self, u0: &Vec<f64>) -> BdfVjpCache {
        let n = u0.len();
        let z = vec![0.0; n];
        BdfVjpCache {
            dbar: vec![z.clone(); MAX_ORDER + 2],
            dold: vec![z.clone(); MAX_ORDER + 2],
            j: DenseMatrix::zeros(n, n),
            w: DenseMatrix::zeros(n, n),
            lu: DenseLu::new(n),
            mu: z.clone(),
            mtmu: z.clone(),
            scratch: z,
        }
    }

    fn step_vjp(
        &self,
        c: &mut BdfVjpCache,
        f: &mut F,
        ctx: StepVjpContext<'_, F>,
        lam: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        if reverse_step(self.ndf, c, f, ctx, lam, gp).is_none() {
            // No step record, an order out of range or a singular `W`: the forward step solved
            // this equation, so this means a corrupt tape; report it as NaN.
            lam.iter_mut().for_each(|x| *x = f64::NAN);
        }
    }
}

fn reverse_step<F>(
    ndf: bool,
    c: &mut BdfVjpCache,
    f: &mut F,
    ctx: StepVjpContext<'_, F>,
    lam: &mut Vec<f64>,
    gp: &mut Vec<f64>,
) -> Option<()>
where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    let mem: &StepMemory<Vec<f64>> = ctx.memory?;
    let k = mem.order;
    if !(1..=MAX_ORDER).contains(&k) || mem.end.len() != lam.len() {
        return None;
    }
    let (t, h, u0, p, mass) = (ctx.t, ctx.h, ctx.u0, ctx.p, ctx.mass);
    let (t_new, y) = (t + h, &mem.end);
    let alpha_k = alpha(k, ndf);
    let cgam = h / alpha_k;

    // D̄' of the updated differences: λ for D_0 = u_{n+1}, the carried D̄_1 … D̄_{k+1}.
    c.dbar[0].copy_from_slice(lam);
    // Saves inside the step: u(θ) = u_n + Σ_j (p_j(θ) − p_j(0)) D'_j; u_n is D_0 before the step.
    c.dold[0].iter_mut().for_each(|x| *x = 0.0);
    if !ctx.saves.is_empty() {
        let coef = interp_coefficients(k);
        for (theta, ybar) in ctx.saves {
            super::axpy(&mut c.dold[0], 1.0, ybar);
            // p_j(θ) − p_j(0) = Σ_{i=1}^{k} coef[j][i] θ^i.
            let mut pw = [0.0f64; MAX_ORDER + 1];
            for (w, row) in pw.iter_mut().zip(&coef).take(k + 1).skip(1) {
                let mut th = 1.0;
                for cji in &row[1..=k] {
                    th *= *theta;
                    *w += cji * th;
                }
            }
            for (db, w) in c.dbar.iter_mut().zip(pw).take(k + 1).skip(1) {
                super::axpy(db, w, ybar);
            }
        }
    }
    // The update D'_m = y − Σ_{l<m} D_l: ȳ = Σ_m D̄'_m, D̄_l = −Σ_{m>l} D̄'_m (suffix sums).
    c.mu.iter_mut().for_each(|x| *x = 0.0);
    for l in (0..=k + 1).rev() {
        super::axpy(&mut c.mu, 1.0, &c.dbar[l]);
        if l >= 1 {
            // D̄_{l−1} (direct part) = −(D̄'_l + … + D̄'_{k+1}).
            let (lo, _) = c.dold.split_at_mut(l);
            if l - 1 == 0 {
                super::axpy(&mut lo[0], -1.0, &c.mu);
            } else {
                for (o, m) in lo[l - 1].iter_mut().zip(&c.mu) {
                    *o = -m;
                }
            }
        }
    }
    // The corrector: μ = W⁻ᵀ ȳ, W = M − c J(t + h, y); p̄ += c f_pᵀ μ; D̄_l += β_l Mᵀ μ.
    f.jacobian(t_new, y, p, &mut c.j);
    ctx.stats.njac += 1;
    let n = c.w.nrows();
    for col in 0..n {
        for row in 0..n {
            let m = match mass {
                Some(m) => m[(row, col)],
                None if row == col => 1.0,
                None => 0.0,
            };
            c.w[(row, col)] = m - cgam * c.j[(row, col)];
        }
    }
    ctx.stats.nfactor += 1;
    c.lu.factor(&c.w).ok()?;
    c.lu.solve_transpose_in_place(&mut c.mu).ok()?;
    ctx.stats.nlinsolve += 1;
    let bbar = match mass {
        None => &c.mu,
        Some(m) => {
            for (j, o) in c.mtmu.iter_mut().enumerate() {
                *o = m.col(j).iter().zip(&c.mu).map(|(a, x)| a * x).sum();
            }
            &c.mtmu
        }
    };
    for (l, dl) in c.dold.iter_mut().enumerate().take(k + 1) {
        let beta = if l == 0 {
            1.0
        } else {
            1.0 - gamma(l) / alpha_k
        };
        super::axpy(dl, beta, bbar);
    }
    c.mu.iter_mut().for_each(|x| *x *= cgam);
    c.scratch.iter_mut().for_each(|x| *x = 0.0);
    f.vjp(t_new, y, p, &c.mu, &mut c.scratch, gp);
    ctx.stats.nf += 1;
    if !c.mu.iter().all(|x| x.is_finite()) {
        return None;
    }
    // The change of spacing D_j ← Σ_i D_i (R·U)_{ij} (j = 1 … k): D̄_i ← Σ_j (R·U)_{ij} D̄_j.
    for db in c.dbar.iter_mut() {
        db.iter_mut().for_each(|x| *x = 0.0);
    }
    if mem.rescale == 1.0 {
        for (db, dl) in c.dbar.iter_mut().zip(&c.dold).take(k + 1).skip(1) {
            db.copy_from_slice(dl);
        }
    } else {
        let ru = rescale_matrix(k, mem.rescale);
        for (i, row) in ru.iter().enumerate().take(k + 1).skip(1) {
            for (j, r) in row.iter().enumerate().take(k + 1).skip(1) {
                if *r != 0.0 {
                    super::axpy(&mut c.dbar[i], *r, &c.dold[j]);
                }
            }
        }
    }
    lam.copy_from_slice(&c.dold[0]);
    if mem.restart && mass.is_none() {
        // D_0 = u0, D_1 = f(t0, u0) at spacing 1 (higher differences are zero; with a mass
        // matrix D_1 = 0, a constant).
        let d1 = std::mem::take(&mut c.dbar[1]);
        f.vjp(t, u0, p, &d1, lam, gp);
        ctx.stats.nf += 1;
        c.dbar[1] = d1;
        c.dbar[1].iter_mut().for_each(|x| *x = 0.0);
    }
    Some(())
}
