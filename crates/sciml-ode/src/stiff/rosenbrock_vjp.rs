//! The exact discrete adjoint of a Rosenbrock step (DESIGN decisions 7 and 8), for the dense
//! linear strategy.
//!
//! Forward (module docs of `rosenbrock`), with the constant mass matrix `M` (`I` when the problem
//! has none): `W = M − hγ J(t, u0)`, `f_t = (f(t + δ, u0) − f(t, u0))/δ`,
//! `r_i = hγ (f(t + c_i h, u0 + Σ a_ij U_j) + h d_i f_t) + M Σ γ C_ij U_j`, `U_i = W⁻¹ r_i`,
//! `u1 = u0 + Σ b_i U_i`, saves inside the step `u0 + Σ P_j(θ) U_j`.
//!
//! Reverse, stage by stage from the last: `r̄_i = W⁻ᵀ Ū_i` (a transposed solve with the same
//! factorisation, so `Wᵀ = Mᵀ − hγ Jᵀ`), then the cotangents flow into `f_i` (one VJP of the
//! field), into the earlier `U_j` through `a` and through `C` (as `γ C_ij Mᵀ r̄_i`: the forward
//! multiplies those terms by `M`), and into `J` — `J̄ = hγ Σ_i r̄_i U_iᵀ`, which reaches `u0` and `p`
//! through Hessian-vector products `∇ (r̄_iᵀ J U_i)` (the [`Hvp`] capability). The forward
//! difference for `f_t` is differentiated as computed (two VJPs), so the result is the derivative
//! of the computed step to rounding.

use super::linear::DenseSolve;
use super::rosenbrock::Rosenbrock;
use super::{axpy, mass_mul};
use crate::method::MethodInfo;
use crate::step_vjp::{StepVjp, StepVjpContext};
use crate::tableaus::{RosenbrockCoefficients, RosenbrockTableau};
use sciml_core::dense::interp_weights;
use sciml_core::linalg::DenseLu;
use sciml_core::{DenseMatrix, Hvp, Jacobian, State, Vjp};

/// `out = Mᵀ v`: the transpose of the forward's `M·(Σ γ C_ij U_j)`.
fn mass_tmul(m: &DenseMatrix<f64>, v: &[f64], out: &mut [f64]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = m.col(j).iter().zip(v).map(|(a, x)| a * x).sum();
    }
}

/// Buffers of a Rosenbrock reverse step.
pub struct RosenbrockVjpCache {
    j: DenseMatrix<f64>,
    w: DenseMatrix<f64>,
    lu: DenseLu<f64>,
    args: Vec<Vec<f64>>,
    us: Vec<Vec<f64>>,
    ubar: Vec<Vec<f64>>,
    f0: Vec<f64>,
    ft: Vec<f64>,
    fi: Vec<f64>,
    dt: Vec<f64>,
    dtbar: Vec<f64>,
    rbar: Vec<f64>,
    /// `Σ γ C_ij U_j` before, and `Mᵀ r̄_i` after, the product with the mass matrix.
    msum: Vec<f64>,
    tmp: Vec<f64>,
    argbar: Vec<f64>,
}

impl<T, F> StepVjp<F> for Rosenbrock<T, DenseSolve>
where
    T: RosenbrockTableau,
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Hvp + Jacobian,
{
    type VjpCache = RosenbrockVjpCache;

    fn reverses_mass_matrix(&self) -> bool {
        true
    }

    fn vjp_cache(&self, u0: &Vec<f64>) -> RosenbrockVjpCache {
        let n = u0.len();
        let s = T::coefficients().c.len();
        RosenbrockVjpCache {
            j: DenseMatrix::zeros(n, n),
            w: DenseMatrix::zeros(n, n),
            lu: DenseLu::new(n),
            args: vec![vec![0.0; n]; s],
            us: vec![vec![0.0; n]; s],
            ubar: vec![vec![0.0; n]; s],
            f0: vec![0.0; n],
            ft: vec![0.0; n],
            fi: vec![0.0; n],
            dt: vec![0.0; n],
            dtbar: vec![0.0; n],
            rbar: vec![0.0; n],
            msum: vec![0.0; n],
            tmp: vec![0.0; n],
            argbar: vec![0.0; n],
        }
    }

    fn step_vjp(
        &self,
        c: &mut RosenbrockVjpCache,
        f: &mut F,
        ctx: StepVjpContext<'_, F>,
        lam: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        reverse_step(
            T::coefficients(),
            c,
            f,
            ctx,
            lam,
            gp,
            MethodInfo::interp_poly::<f64>(self),
        );
    }
}

fn reverse_step<F>(
    tab: &RosenbrockCoefficients,
    c: &mut RosenbrockVjpCache,
    f: &mut F,
    ctx: StepVjpContext<'_, F>,
    lam: &mut Vec<f64>,
    gp: &mut Vec<f64>,
    poly: Vec<Vec<f64>>,
) where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Hvp + Jacobian,
{
    let s = tab.c.len();
    let (t, h, u0, p, mass) = (ctx.t, ctx.h, ctx.u0, ctx.p, ctx.mass);
    let n = u0.len();
    let gamma = tab.gamma;
    let hg = h * gamma;
    // Replay the step exactly as `try_step` computed it.
    f.rhs(t, u0, p, &mut c.f0);
    f.jacobian(t, u0, p, &mut c.j);
    let dtau = f64::EPSILON.sqrt() * t.abs().max(1.0);
    f.rhs(t + dtau, u0, p, &mut c.ft);
    ctx.stats.nf += 2;
    ctx.stats.njac += 1;
    for k in 0..n {
        c.dt[k] = (c.ft[k] - c.f0[k]) / dtau;
    }
    for col in 0..n {
        for row in 0..n {
            let m = match mass {
                Some(m) => m[(row, col)],
                None if row == col => 1.0,
                None => 0.0,
            };
            c.w[(row, col)] = m - hg * c.j[(row, col)];
        }
    }
    ctx.stats.nfactor += 1;
    if c.lu.factor(&c.w).is_err() {
        // The forward step factorised this same matrix; a failure here means corrupt input.
        lam.iter_mut().for_each(|x| *x = f64::NAN);
        return;
    }
    for i in 0..s {
        let (done, rest) = c.us.split_at_mut(i);
        let arg = &mut c.args[i];
        arg.copy_from_slice(u0);
        for (aij, uj) in tab.a[i].iter().zip(done.iter()) {
            axpy(arg, *aij, uj);
        }
        if i == 0 {
            c.fi.copy_from_slice(&c.f0);
        } else {
            f.rhs(t + h * tab.c[i], arg, p, &mut c.fi);
            ctx.stats.nf += 1;
        }
        let ui = &mut rest[0];
        for ((x, fk), dk) in ui.iter_mut().zip(&c.fi).zip(&c.dt) {
            *x = hg * (fk + h * tab.d[i] * dk);
        }
        match mass {
            None => {
                for (cij, uj) in tab.cm[i].iter().zip(done.iter()) {
                    axpy(ui, gamma * cij, uj);
                }
            }
            Some(m) => {
                c.msum.iter_mut().for_each(|x| *x = 0.0);
                for (cij, uj) in tab.cm[i].iter().zip(done.iter()) {
                    axpy(&mut c.msum, gamma * cij, uj);
                }
                mass_mul::<f64>(m, &c.msum, &mut c.tmp);
                axpy(ui, 1.0, &c.tmp);
            }
        }
        let _ = c.lu.solve_in_place(ui);
        ctx.stats.nlinsolve += 1;
    }
    // Seeds: u1 = u0 + Σ b_j U_j, and saves u0 + Σ P_j(θ) U_j inside the step.
    let mut u0bar = lam.clone();
    for (j, ub) in c.ubar.iter_mut().enumerate() {
        for k in 0..n {
            ub[k] = tab.b[j] * lam[k];
        }
    }
    let mut pw = vec![0.0; s];
    for (theta, ybar) in ctx.saves {
        // interp_weights gives h·P_j(θ) for vectors U_j/h; here the vectors are U_j, so use h = 1.
        interp_weights(&poly[..s], *theta, 1.0, &mut pw);
        axpy(&mut u0bar, 1.0, ybar);
        for (j, ub) in c.ubar.iter_mut().enumerate() {
            axpy(ub, pw[j], ybar);
        }
    }
    c.dtbar.iter_mut().for_each(|x| *x = 0.0);
    for i in (0..s).rev() {
        c.rbar.copy_from_slice(&c.ubar[i]);
        let _ = c.lu.solve_transpose_in_place(&mut c.rbar);
        ctx.stats.nlinsolve += 1;
        // J̄ = hγ r̄_i U_iᵀ → ∇(hγ r̄_iᵀ J U_i).
        for k in 0..n {
            c.tmp[k] = hg * c.rbar[k];
        }
        f.hvp(t, u0, p, &c.tmp, &c.us[i], &mut u0bar, gp);
        // r_i = hγ f_i + hγ h d_i f_t + M Σ γ C_ij U_j.
        if tab.d[i] != 0.0 {
            axpy(&mut c.dtbar, hg * h * tab.d[i], &c.rbar);
        }
        let cbar = match mass {
            None => &c.rbar,
            Some(m) => {
                mass_tmul(m, &c.rbar, &mut c.msum);
                &c.msum
            }
        };
        for (j, cij) in tab.cm[i].iter().enumerate() {
            if *cij != 0.0 {
                axpy(&mut c.ubar[j], gamma * cij, cbar);
            }
        }
        // f_i = f(t + c_i h, arg_i): f̄_i = hγ r̄_i = tmp.
        c.argbar.iter_mut().for_each(|x| *x = 0.0);
        f.vjp(t + h * tab.c[i], &c.args[i], p, &c.tmp, &mut c.argbar, gp);
        ctx.stats.nf += 1;
        axpy(&mut u0bar, 1.0, &c.argbar);
        for (j, aij) in tab.a[i].iter().enumerate() {
            if *aij != 0.0 {
                axpy(&mut c.ubar[j], *aij, &c.argbar);
            }
        }
    }
    // f_t = (f(t + δ, u0) − f(t, u0)) / δ.
    if c.dtbar.iter().any(|x| *x != 0.0) {
        for k in 0..n {
            c.tmp[k] = c.dtbar[k] / dtau;
        }
        f.vjp(t + dtau, u0, p, &c.tmp, &mut u0bar, gp);
        for k in 0..n {
            c.tmp[k] = -c.dtbar[k] / dtau;
        }
        f.vjp(t, u0, p, &c.tmp, &mut u0bar, gp);
        ctx.stats.nf += 2;
    }
    lam.copy_from(&u0bar);
}
