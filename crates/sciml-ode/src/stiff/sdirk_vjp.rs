//! The exact discrete adjoint of an ESDIRK step (TRBDF2, KenCarp4) for the dense linear
//! strategy, without a mass matrix.
//!
//! # What is differentiated
//!
//! The step map defined by the *converged* stage equations (module docs of `sdirk`, `M = I`):
//!
//! `z_1 = h f(t, u0)`, and for `i ≥ 2`: `G_i(z_i; ψ_i, p) = z_i − h f(t_i, ψ_i + γ z_i, p) = 0`
//! with `ψ_i = u0 + Σ_{j<i} a_ij z_j`, `Y_i = ψ_i + γ z_i`, `t_i = t + c_i h`;
//! `u1 = u0 + Σ b_j z_j` (`= Y_s`, the method being stiffly accurate), and saves inside the step
//! `y(θ) = u0 + Σ_j P_j(θ) z_j` (the dense output).
//!
//! The forward solve only approximates these equations: its stage values come from a
//! simplified Newton iteration stopped at a tolerance (`Newton::kappa`, in units of the solve's
//! tolerances), and its first stage reuses the previous step's last stage derivative `z_s / h`
//! (first same as last) rather than evaluating `f(t, u0)`. Both coincide with the definition
//! above once the equations hold exactly. The adjoint is the derivative of the converged
//! implicit equations, evaluated at the forward's stage values when the tape keeps them
//! (`StepVjpContext::stages`, `k_i = z_i / h`), so it is *not* the derivative of the Newton
//! iterations: it differs from finite differences of the computed solution by an amount of the
//! order of the Newton tolerance, and agrees with them to rounding only as that tolerance goes
//! to zero (the tests measure both).
//!
//! When the tape keeps no stages, the replay solves every stage equation by a full Newton
//! iteration (a fresh Jacobian at every iterate) to rounding, from the forward's predictor, and
//! takes `z_1 = h f(t, u0)`.
//!
//! # Reverse sweep
//!
//! Seeds: `z̄_j = b_j λ + Σ_saves P_j(θ) ȳ`, `ū0 = λ + Σ_saves ȳ`. Then for `i = s … 2`, by the
//! implicit function theorem applied to `G_i`: `μ_i = W_iᵀ⁻¹ z̄_i` with
//! `W_i = I − hγ J(t_i, Y_i)` — the Jacobian evaluated exactly at the stage value, not the
//! (possibly stale) iteration matrix of the forward Newton — and one VJP of the field at
//! `(t_i, Y_i)` with cotangent `h μ_i` gives `ψ̄_i` and the parameter contribution; `ψ̄_i` flows
//! into `ū0` and into `z̄_j += a_ij ψ̄_i` for `j < i`. Last, `z_1 = h f(t, u0)` takes one VJP at
//! `(t, u0)` with cotangent `h z̄_1`. Cost per step: `s − 1` Jacobians, LU factorisations and
//! transposed solves, and `s` VJPs. The error estimate does not enter the solution and is not
//! differentiated (on a frozen mesh the step sizes are constants).

use super::axpy;
use super::linear::{DenseSolve, WSpec};
use super::newton::{iterate, NewtonConvergence, Rate, Residual};
use super::sdirk::Esdirk;
use crate::method::{MethodInfo, StepFailure};
use crate::step_vjp::{StepVjp, StepVjpContext};
use crate::tableaus::{EsdirkCoefficients, EsdirkTableau};
use sciml_core::dense::interp_weights;
use sciml_core::linalg::DenseLu;
use sciml_core::{DenseMatrix, Jacobian, Stats, Vjp};

/// Most full Newton iterations of the replay per stage (it converges quadratically from the
/// forward's predictor; a handful suffice).
const REPLAY_MAX_ITER: usize = 30;

/// Buffers of an ESDIRK reverse step.
///
/// ```
/// use sciml_core::{ForwardAd, GenericRhs, Scalar, Stats};
/// use sciml_ode::{KenCarp4, OdeProblem, SolveOptions, StepVjp, StepVjpContext};
/// #[derive(Clone)]
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -(p[0] * u[0]);
///     }
/// }
/// let m = KenCarp4::new();
/// let (u0, h) = (vec![2.0], 0.1);
/// // One step u1(u0, p) of the solver, as a function of the parameter.
/// let step = |p: f64| {
///     let opts = SolveOptions { adaptive: Some(false), dt: Some(h), ..SolveOptions::default() };
///     let mut prob = OdeProblem::new(ForwardAd::new(Decay), u0.clone(), (0.0, h), vec![p]).unwrap();
///     prob.solve(m, &opts).unwrap().u.last().unwrap()[0]
/// };
/// let mut f = ForwardAd::new(Decay);
/// let mut cache = StepVjp::<ForwardAd<Decay>>::vjp_cache(&m, &u0);
/// let mut stats = Stats::default();
/// let (mut lam, mut gp) = (vec![1.0], vec![0.0]); // L = u1
/// let ctx = StepVjpContext {
///     p: &vec![50.0], t: 0.0, h, u0: &u0, saves: &[], stages: None, memory: None, mass: None,
///     stats: &mut stats,
/// };
/// m.step_vjp(&mut cache, &mut f, ctx, &mut lam, &mut gp);
/// // A linear problem: u1 = R(−p h) u0 with R the stability function, so ∂u1/∂u0 = u1/u0.
/// assert!((lam[0] - step(50.0) / u0[0]).abs() < 1e-12);
/// let d = 1e-4;
/// let fd = (step(50.0 + d) - step(50.0 - d)) / (2.0 * d);
/// assert!((gp[0] - fd).abs() < 1e-7 * fd.abs());
/// ```
pub struct EsdirkVjpCache {
    w: IterMatrix,
    /// `z_i = h k_i`.
    zs: Vec<Vec<f64>>,
    /// Stage values `Y_i = ψ_i + γ z_i` (`Y_1 = u0`).
    ys: Vec<Vec<f64>>,
    zbar: Vec<Vec<f64>>,
    psi: Vec<f64>,
    fy: Vec<f64>,
    dz: Vec<f64>,
    mu: Vec<f64>,
    psibar: Vec<f64>,
    u0bar: Vec<f64>,
    /// Solution weights `b`, dense-output polynomials and their values at one `θ`.
    b: Vec<f64>,
    poly: Vec<Vec<f64>>,
    pw: Vec<f64>,
}

impl<T, F> StepVjp<F> for Esdirk<T, DenseSolve>
where
    T: EsdirkTableau,
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    type VjpCache = EsdirkVjpCache;

    fn vjp_cache(&self, u0: &Vec<f64>) -> EsdirkVjpCache {
        let tab = T::coefficients();
        let n = u0.len();
        let s = tab.c.len();
        let z = vec![0.0; n];
        EsdirkVjpCache {
            w: IterMatrix {
                j: DenseMatrix::zeros(n, n),
                w: DenseMatrix::zeros(n, n),
                lu: DenseLu::new(n),
            },
            zs: vec![z.clone(); s],
            ys: vec![z.clone(); s],
            zbar: vec![z.clone(); s],
            psi: z.clone(),
            fy: z.clone(),
            dz: z.clone(),
            mu: z.clone(),
            psibar: z.clone(),
            u0bar: z,
            b: tab.b(),
            poly: MethodInfo::interp_poly::<f64>(self),
            pw: vec![0.0; s],
        }
    }

    fn step_vjp(
        &self,
        c: &mut EsdirkVjpCache,
        f: &mut F,
        ctx: StepVjpContext<'_, F>,
        lam: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        if reverse_step(T::coefficients(), c, f, ctx, lam, gp).is_none() {
            // Singular `W` or a replay that did not converge: the forward step solved
            // these equations, so this means corrupt input; report it as NaN.
            lam.iter_mut().for_each(|x| *x = f64::NAN);
        }
    }
}

fn norm_inf(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// `W = I − hγ J(t, y)`: the Jacobian, the matrix and its factorisation. The reverse sweep needs
/// transposed solves with `W` at the exact stage values, so this keeps its own dense LU rather
/// than a [`LinearStrategy`](super::linear::LinearStrategy)'s.
struct IterMatrix {
    j: DenseMatrix<f64>,
    w: DenseMatrix<f64>,
    lu: DenseLu<f64>,
}

impl IterMatrix {
    /// Evaluates `J(t, y)` and factorises `W = α·I + β·J` (`spec.a` must be `None`); `None` if
    /// `W` is singular.
    fn factor<F>(
        &mut self,
        f: &mut F,
        (t, y, p): (f64, &Vec<f64>, &Vec<f64>),
        spec: WSpec<'_, f64>,
        stats: &mut Stats,
    ) -> Option<()>
    where
        F: Jacobian<V = Vec<f64>, P = Vec<f64>>,
    {
        if spec.a.is_some() {
            return None;
        }
        f.jacobian(t, y, p, &mut self.j);
        stats.njac += 1;
        let n = self.w.nrows();
        for col in 0..n {
            for row in 0..n {
                let id = if row == col { spec.alpha } else { 0.0 };
                // For `WSpec::ode(hγ, None)`: 1 + (−hγ)·J = 1 − hγ·J in the same rounding.
                self.w[(row, col)] = id + spec.beta * self.j[(row, col)];
            }
        }
        stats.nfactor += 1;
        self.lu.factor(&self.w).ok()
    }
}

/// Replays the step's stage values into `c.zs`, `c.ys`: from the stored stage derivatives when
/// the tape kept them, otherwise by solving each stage equation to rounding.
fn replay<F>(
    tab: &EsdirkCoefficients,
    c: &mut EsdirkVjpCache,
    f: &mut F,
    ctx: &mut StepVjpContext<'_, F>,
) -> Option<()>
where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    let s = tab.c.len();
    let (t, h, u0, p) = (ctx.t, ctx.h, ctx.u0, ctx.p);
    let gamma = tab.gamma;
    let hg = h * gamma;
    let stored = ctx.stages.filter(|st| st.len() >= s);
    c.ys[0].copy_from_slice(u0);
    match stored {
        Some(st) => {
            for (z, k) in c.zs[0].iter_mut().zip(&st[0]) {
                *z = h * k;
            }
        }
        None => {
            f.rhs(t, u0, p, &mut c.zs[0]);
            ctx.stats.nf += 1;
            c.zs[0].iter_mut().for_each(|z| *z *= h);
        }
    }
    for i in 1..s {
        c.psi.copy_from_slice(u0);
        for (aij, zj) in tab.a[i].iter().zip(&c.zs[..i]) {
            if *aij != 0.0 {
                axpy(&mut c.psi, *aij, zj);
            }
        }
        let ti = t + h * tab.c[i];
        match stored {
            Some(st) => {
                for (z, k) in c.zs[i].iter_mut().zip(&st[i]) {
                    *z = h * k;
                }
            }
            None => {
                // The forward's predictor: z extrapolated linearly in c from the two previous
                // stages (the previous stage's z where their nodes nearly coincide).
                let (done, rest) = c.zs.split_at_mut(i);
                let zi = &mut rest[0];
                zi.copy_from_slice(&done[i - 1]);
                if i >= 2 {
                    let (cp, cq) = (tab.c[i - 2], tab.c[i - 1]);
                    if (cq - cp).abs() > 1e-3 {
                        let r = (tab.c[i] - cq) / (cq - cp);
                        for ((z, a), b) in zi.iter_mut().zip(&done[i - 1]).zip(&done[i - 2]) {
                            *z += r * (a - b);
                        }
                    }
                }
                newton_to_rounding(c, f, i, ti, h, gamma, hg, p, ctx.stats)?;
            }
        }
        let (psi, zi, yi) = (&c.psi, &c.zs[i], &mut c.ys[i]);
        for ((y, ps), z) in yi.iter_mut().zip(psi).zip(zi) {
            *y = ps + gamma * z;
        }
    }
    Some(())
}

/// Full Newton on `z − h f(t_i, ψ + γ z) = 0` (ψ in `c.psi`, the guess in `c.zs[i]`), with the
/// Jacobian at every iterate, until the increment reaches rounding: the shared iteration with
/// [`NewtonConvergence::Rounding`] (stop once the stage value's change is below 1e-12 of its size in
/// the max norm, then take one more iteration, which with quadratic convergence lands at
/// rounding).
#[allow(clippy::too_many_arguments)]
fn newton_to_rounding<F>(
    c: &mut EsdirkVjpCache,
    f: &mut F,
    i: usize,
    ti: f64,
    h: f64,
    gamma: f64,
    hg: f64,
    p: &Vec<f64>,
    stats: &mut Stats,
) -> Option<()>
where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    let EsdirkVjpCache {
        w,
        zs,
        psi,
        fy,
        dz,
        mu,
        ..
    } = c;
    let mut g = ReplayStage {
        w,
        f,
        p,
        ti,
        h,
        gamma,
        hg,
        psi,
        y: mu,
        fy,
    };
    let mut rate = Rate {
        eta: 0.0,
        max_theta: 0.0,
    };
    let conv = NewtonConvergence::Rounding {
        rtol: 1e-12,
        max_iter: REPLAY_MAX_ITER,
    };
    iterate(&mut g, &mut zs[i], dz, conv, &mut rate, stats).ok()?;
    Some(())
}

/// An ESDIRK stage for the replay's full Newton iteration: `−G(z) = h f(t_i, y) − z` at the
/// stage value `y = ψ + γz`, with `W = I − hγ J(t_i, y)` evaluated and factorised afresh at every
/// iterate; increments measured by the stage value's change in the max norm, `γ‖Δ‖_∞`.
struct ReplayStage<'a, F> {
    w: &'a mut IterMatrix,
    f: &'a mut F,
    p: &'a Vec<f64>,
    ti: f64,
    h: f64,
    gamma: f64,
    hg: f64,
    psi: &'a Vec<f64>,
    /// Stage value at the iterate.
    y: &'a mut Vec<f64>,
    fy: &'a mut Vec<f64>,
}

impl<F> Residual for ReplayStage<'_, F>
where
    F: Jacobian<V = Vec<f64>, P = Vec<f64>>,
{
    type V = Vec<f64>;

    fn neg_residual(
        &mut self,
        z: &Vec<f64>,
        out: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        for ((y, ps), zi) in self.y.iter_mut().zip(self.psi.iter()).zip(z) {
            *y = ps + self.gamma * zi;
        }
        self.f.rhs(self.ti, self.y, self.p, self.fy);
        stats.nf += 1;
        self.w
            .factor(
                self.f,
                (self.ti, self.y, self.p),
                WSpec::ode(self.hg, None),
                stats,
            )
            .ok_or(StepFailure::LinearSolve)?;
        for ((d, fy), zi) in out.iter_mut().zip(self.fy.iter()).zip(z) {
            *d = self.h * fy - zi;
        }
        Ok(())
    }

    fn solve(&mut self, b: &mut Vec<f64>, stats: &mut Stats) -> Result<(), StepFailure> {
        self.w
            .lu
            .solve_in_place(b)
            .map_err(|_| StepFailure::LinearSolve)?;
        stats.nlinsolve += 1;
        stats.nnewton += 1;
        Ok(())
    }

    fn norm(&mut self, dz: &Vec<f64>) -> f64 {
        self.gamma * norm_inf(dz)
    }

    fn update(&mut self, z: &mut Vec<f64>, dz: &Vec<f64>) {
        axpy(z, 1.0, dz);
    }

    fn magnitude(&self) -> f64 {
        norm_inf(self.y).max(f64::MIN_POSITIVE)
    }
}

fn reverse_step<F>(
    tab: &EsdirkCoefficients,
    c: &mut EsdirkVjpCache,
    f: &mut F,
    mut ctx: StepVjpContext<'_, F>,
    lam: &mut [f64],
    gp: &mut Vec<f64>,
) -> Option<()>
where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    replay(tab, c, f, &mut ctx)?;
    let s = tab.c.len();
    let (t, h, u0, p) = (ctx.t, ctx.h, ctx.u0, ctx.p);
    let hg = h * tab.gamma;
    // Seeds: u1 = u0 + Σ b_j z_j and saves u0 + Σ P_j(θ) z_j inside the step.
    c.u0bar.copy_from_slice(lam);
    for (zb, bj) in c.zbar.iter_mut().zip(&c.b) {
        for (x, l) in zb.iter_mut().zip(lam.iter()) {
            *x = bj * l;
        }
    }
    for (theta, ybar) in ctx.saves {
        // interp_weights gives h·P_j(θ) for vectors k_j = z_j/h; on the z_j use h = 1.
        interp_weights(&c.poly[..s], *theta, 1.0, &mut c.pw);
        axpy(&mut c.u0bar, 1.0, ybar);
        for (zb, wj) in c.zbar.iter_mut().zip(&c.pw) {
            if *wj != 0.0 {
                axpy(zb, *wj, ybar);
            }
        }
    }
    for i in (1..s).rev() {
        let ti = t + h * tab.c[i];
        // J exactly at the stage value Y_i.
        c.w.factor(f, (ti, &c.ys[i], p), WSpec::ode(hg, None), ctx.stats)?;
        // μ_i = W_i⁻ᵀ z̄_i, then ψ̄_i = h J_iᵀ μ_i and p̄ += h f_pᵀ μ_i.
        c.mu.copy_from_slice(&c.zbar[i]);
        c.w.lu.solve_transpose_in_place(&mut c.mu).ok()?;
        ctx.stats.nlinsolve += 1;
        c.mu.iter_mut().for_each(|x| *x *= h);
        c.psibar.iter_mut().for_each(|x| *x = 0.0);
        f.vjp(ti, &c.ys[i], p, &c.mu, &mut c.psibar, gp);
        ctx.stats.nf += 1;
        axpy(&mut c.u0bar, 1.0, &c.psibar);
        let (earlier, _) = c.zbar.split_at_mut(i);
        for (zb, aij) in earlier.iter_mut().zip(&tab.a[i]) {
            if *aij != 0.0 {
                axpy(zb, *aij, &c.psibar);
            }
        }
    }
    // z_1 = h f(t, u0).
    for (m, zb) in c.mu.iter_mut().zip(&c.zbar[0]) {
        *m = h * zb;
    }
    f.vjp(t, u0, p, &c.mu, &mut c.u0bar, gp);
    ctx.stats.nf += 1;
    lam.copy_from_slice(&c.u0bar);
    Some(())
}
