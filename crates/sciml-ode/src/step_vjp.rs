//! The discrete adjoint of one explicit Runge–Kutta step on a frozen mesh (DESIGN decisions 7
//! and 8): the exact derivative of the computed step, including saved points interpolated inside
//! it.
//!
//! Forward, with stages `Y_i = u0 + h Σ_{j<i} a_ij k_j`, `k_i = f(t + c_i h, Y_i)`, the end state
//! `u1 = u0 + h Σ b_i k_i` (for FSAL methods `u1 = Y_{s-1}`), `f1 = f(t1, u1)` for non-FSAL
//! methods, lazy interpolation stages `k_q = f(t + c_q h, u0 + h Σ_m a_qm k_m)`, and saves
//! `y(θ) = u0 + h Σ_j P_j(θ) k_j`. The reverse sweep runs the same operations backwards:
//! extra stages, then `f1`, then `u1`, then the stages from last to first, each stage costing
//! one VJP of the vector field.

use crate::explicit_rk::RkMethod;
use crate::method::MethodInfo;
use crate::tableaus::Interp;
use sciml_core::dense::interp_weights;
use sciml_core::{One, Re, Real, State, Stats, Vjp, Zero, MAX_LINCOMB};

/// What the reverse of one step needs besides the method's buffers.
pub struct StepVjpContext<'a, F: sciml_core::VectorField> {
    /// Parameters.
    pub p: &'a F::P,
    /// Start of the step.
    pub t: Re<F::V>,
    /// Its size, exactly as stepped.
    pub h: Re<F::V>,
    /// State at the start of the step.
    pub u0: &'a F::V,
    /// Saved points interpolated inside the step: `(θ, cotangent)`.
    pub saves: &'a [(Re<F::V>, &'a F::V)],
    /// The step's stage derivatives as the forward solve computed them (the method's
    /// interpolation vectors), if kept: the replay then evaluates no field.
    pub stages: Option<&'a [F::V]>,
    /// What a multistep method recorded of the step ([`crate::StepMemory`]); `None` for one-step
    /// methods.
    pub memory: Option<&'a crate::StepMemory<F::V>>,
    /// The problem's constant mass matrix `M` (of `M u' = f`), if any; only methods whose
    /// [`StepVjp::reverses_mass_matrix`] is true are given one.
    pub mass: Option<&'a sciml_core::DenseMatrix<Re<F::V>>>,
    /// Work counters (RHS evaluations and VJPs of the replay).
    pub stats: &'a mut Stats,
}

/// Methods whose steps, on fields of type `F`, can be reversed exactly.
///
/// Explicit Runge–Kutta methods need the field's VJP; Rosenbrock methods also its
/// Hessian-vector products (the Jacobian appears inside their steps); SDIRK methods its
/// Jacobian, for transposed solves through their converged stage equations (never through the
/// Newton iterations).
pub trait StepVjp<F: Vjp>: MethodInfo {
    /// Buffers of the reverse sweep.
    type VjpCache: Send;
    /// Whether the reverse sweep reads the step's stage derivatives from the tape
    /// ([`StepVjpContext::stages`]) when it keeps them; a method that does not (BDF, whose step
    /// record carries what it needs) saves the tape their memory.
    fn uses_stages(&self) -> bool {
        true
    }
    /// Whether the reverse step handles a constant mass matrix ([`StepVjpContext::mass`]);
    /// the discrete adjoint refuses mass-matrix problems for methods where this is false.
    fn reverses_mass_matrix(&self) -> bool {
        false
    }
    /// Builds the buffers for states shaped like `u0`.
    fn vjp_cache(&self, u0: &F::V) -> Self::VjpCache;
    /// Given `lam = ∂L/∂u1` (everything downstream of the step's end), overwrites it with
    /// `∂L/∂u0` and accumulates `∂L/∂p` into `gp`, for the step `ctx` describes.
    fn step_vjp(
        &self,
        c: &mut Self::VjpCache,
        f: &mut F,
        ctx: StepVjpContext<'_, F>,
        lam: &mut F::V,
        gp: &mut F::P,
    );
}

/// Buffers of an explicit Runge–Kutta reverse sweep.
pub struct RkVjpCache<V: State> {
    ys: Vec<V>,
    ks: Vec<V>,
    kbar: Vec<V>,
    live: Vec<bool>,
    u1: V,
    ybar: V,
    u0bar: V,
    scratch: V,
    /// The dense output's weights, the weights at one save, and the first row of each lazy
    /// stage's and each stage's coefficients: built once per solve, not per reversed step.
    poly: Vec<Vec<Re<V>>>,
    pw: Vec<Re<V>>,
    extra_rows: Vec<usize>,
    stage_rows: Vec<usize>,
}

fn axpy_into<V: State>(dst: &mut V, scratch: &mut V, c: Re<V>, x: &V) {
    // dst += c·x through lincomb (the one fused op every State has).
    scratch.lincomb(dst, &[c], &[x]);
    std::mem::swap(dst, scratch);
}

impl<T: RkMethod, F: Vjp> StepVjp<F> for T {
    type VjpCache = RkVjpCache<F::V>;

    fn vjp_cache(&self, u0: &F::V) -> RkVjpCache<F::V> {
        let tab = self.tableau();
        let s = tab.c.len();
        let nb = if tab.fsal { s } else { s + 1 };
        let nextra = match &tab.interp {
            Interp::Hermite => 0,
            Interp::Free { extra_c, .. } => extra_c.len(),
        };
        let z = u0.zeros_like();
        let poly: Vec<Vec<Re<F::V>>> = self.interp_poly();
        // Row of lazy stage j in `extra_a`: the stages before it have nb, nb + 1, ... entries.
        let extra_rows = (0..nextra)
            .map(|j| j * nb + j * j.saturating_sub(1) / 2)
            .collect();
        // Row of stage i in the packed lower triangle `a`: 0 + 1 + ... + (i - 1).
        let stage_rows = (0..s).map(|i| i * i.saturating_sub(1) / 2).collect();
        RkVjpCache {
            ys: vec![z.clone(); nb + nextra],
            ks: vec![z.clone(); nb + nextra],
            kbar: vec![z.clone(); nb + nextra],
            live: vec![false; nb + nextra],
            u1: z.clone(),
            ybar: z.clone(),
            u0bar: z.clone(),
            scratch: z,
            pw: vec![Re::<F::V>::zero(); poly.len().max(nb + nextra)],
            poly,
            extra_rows,
            stage_rows,
        }
    }

    fn step_vjp(
        &self,
        c: &mut RkVjpCache<F::V>,
        f: &mut F,
        ctx: StepVjpContext<'_, F>,
        lam: &mut F::V,
        gp: &mut F::P,
    ) {
        type R<V> = Re<V>;
        let tab = self.tableau();
        let s = tab.c.len();
        let nb = if tab.fsal { s } else { s + 1 };
        let (t, h, u0, p) = (ctx.t, ctx.h, ctx.u0, ctx.p);
        let hc = |x: f64| h * R::<F::V>::c(x);

        // Replay the step forward, keeping every stage input.
        let mut w = [R::<F::V>::zero(); MAX_LINCOMB];
        let stored = ctx.stages.filter(|st| st.len() >= s);
        c.ys[0].copy_from(u0);
        match stored {
            Some(st) => c.ks[0].copy_from(&st[0]),
            None => f.rhs(t, u0, p, &mut c.ks[0]),
        }
        let mut row = 0;
        for i in 1..s {
            let mut refs: [&F::V; MAX_LINCOMB] = [u0; MAX_LINCOMB];
            let mut m = 0;
            for (j, a) in tab.a[row..row + i].iter().enumerate() {
                if *a != 0.0 {
                    w[m] = hc(*a);
                    refs[m] = &c.ks[j];
                    m += 1;
                }
            }
            row += i;
            let (_, ys_rest) = c.ys.split_at_mut(i);
            ys_rest[0].lincomb(u0, &w[..m], &refs[..m]);
            let (_, ks_rest) = c.ks.split_at_mut(i);
            match stored {
                Some(st) => ks_rest[0].copy_from(&st[i]),
                None => f.rhs(t + hc(tab.c[i]), &c.ys[i], p, &mut ks_rest[0]),
            }
        }
        if stored.is_none() {
            ctx.stats.nf += s;
        }
        if tab.fsal {
            c.u1.copy_from(&c.ys[s - 1]);
        } else {
            let mut refs: [&F::V; MAX_LINCOMB] = [u0; MAX_LINCOMB];
            let mut m = 0;
            for (j, b) in tab.b.iter().enumerate() {
                if *b != 0.0 {
                    w[m] = hc(*b);
                    refs[m] = &c.ks[j];
                    m += 1;
                }
            }
            c.u1.lincomb(u0, &w[..m], &refs[..m]);
        }
        let interpolated = !ctx.saves.is_empty();
        let (extra_c, extra_a) = match &tab.interp {
            Interp::Free {
                extra_c, extra_a, ..
            } if interpolated => (*extra_c, *extra_a),
            _ => (&[][..], &[][..]),
        };
        let needs_f1 = !tab.fsal && interpolated;
        if needs_f1 {
            c.ys[s].copy_from(&c.u1);
            let (_, ks_rest) = c.ks.split_at_mut(s);
            match stored.filter(|st| st.len() > s) {
                Some(st) => ks_rest[0].copy_from(&st[s]),
                None => {
                    f.rhs(t + h, &c.u1, p, &mut ks_rest[0]);
                    ctx.stats.nf += 1;
                }
            }
        }
        let mut row = 0;
        for (j, cj) in extra_c.iter().enumerate() {
            let q = nb + j;
            let mut refs: [&F::V; MAX_LINCOMB] = [u0; MAX_LINCOMB];
            let mut m = 0;
            for (l, a) in extra_a[row..row + q].iter().enumerate() {
                if *a != 0.0 {
                    w[m] = hc(*a);
                    refs[m] = &c.ks[l];
                    m += 1;
                }
            }
            row += q;
            let (_, ys_rest) = c.ys.split_at_mut(q);
            ys_rest[0].lincomb(u0, &w[..m], &refs[..m]);
            let (_, ks_rest) = c.ks.split_at_mut(q);
            match stored.filter(|st| st.len() > q) {
                Some(st) => ks_rest[0].copy_from(&st[q]),
                None => {
                    f.rhs(t + hc(*cj), &c.ys[q], p, &mut ks_rest[0]);
                    ctx.stats.nf += 1;
                }
            }
        }
        let nvec = if interpolated { nb + extra_c.len() } else { s };

        // Seed the cotangents of the interpolation vectors from the saves.
        for (kb, live) in c.kbar.iter_mut().zip(c.live.iter_mut()) {
            kb.fill_zero();
            *live = false;
        }
        c.u0bar.fill_zero();
        if interpolated {
            let pw = &mut c.pw[..nvec];
            for (theta, ybar) in ctx.saves {
                interp_weights(&c.poly[..nvec], *theta, h, pw);
                for (j, wj) in pw.iter().enumerate() {
                    if *wj != R::<F::V>::zero() {
                        axpy_into(&mut c.kbar[j], &mut c.ybar, *wj, ybar);
                        c.live[j] = true;
                    }
                }
                axpy_into(&mut c.u0bar, &mut c.ybar, R::<F::V>::one(), ybar);
            }
        }
        // Lazy stages, last first: k_q = f(Y_q), Y_q = u0 + h Σ a_qm k_m.
        for j in (0..extra_c.len()).rev() {
            let q = nb + j;
            if !c.live[q] {
                continue;
            }
            c.ybar.fill_zero();
            f.vjp(t + hc(extra_c[j]), &c.ys[q], p, &c.kbar[q], &mut c.ybar, gp);
            ctx.stats.nf += 1;
            axpy_into(&mut c.u0bar, &mut c.scratch, R::<F::V>::one(), &c.ybar);
            let r0 = c.extra_rows[j];
            for (l, a) in extra_a[r0..r0 + q].iter().enumerate() {
                if *a != 0.0 {
                    axpy_into(&mut c.kbar[l], &mut c.scratch, hc(*a), &c.ybar);
                    c.live[l] = true;
                }
            }
        }
        // f1 = f(t1, u1) (non-FSAL): its cotangent reaches u1.
        if needs_f1 && c.live[s] {
            f.vjp(t + h, &c.u1, p, &c.kbar[s], lam, gp);
            ctx.stats.nf += 1;
        }
        // u1: for non-FSAL methods u1 = u0 + h Σ b_i k_i; for FSAL ones u1 = Y_{s-1}.
        if !tab.fsal {
            for (i, b) in tab.b.iter().enumerate() {
                if *b != 0.0 {
                    axpy_into(&mut c.kbar[i], &mut c.scratch, hc(*b), lam);
                    c.live[i] = true;
                }
            }
            axpy_into(&mut c.u0bar, &mut c.scratch, R::<F::V>::one(), lam);
        }
        // Stages, last first.
        for i in (1..s).rev() {
            let fsal_end = tab.fsal && i == s - 1;
            if fsal_end {
                c.ybar.copy_from(lam);
            } else {
                c.ybar.fill_zero();
            }
            if c.live[i] {
                f.vjp(t + hc(tab.c[i]), &c.ys[i], p, &c.kbar[i], &mut c.ybar, gp);
                ctx.stats.nf += 1;
            } else if !fsal_end {
                continue;
            }
            axpy_into(&mut c.u0bar, &mut c.scratch, R::<F::V>::one(), &c.ybar);
            let r0 = c.stage_rows[i];
            for (j, a) in tab.a[r0..r0 + i].iter().enumerate() {
                if *a != 0.0 {
                    axpy_into(&mut c.kbar[j], &mut c.scratch, hc(*a), &c.ybar);
                    c.live[j] = true;
                }
            }
        }
        // Stage 0: k_0 = f(t, u0).
        if c.live[0] {
            f.vjp(t, u0, p, &c.kbar[0], &mut c.u0bar, gp);
            ctx.stats.nf += 1;
        }
        lam.copy_from(&c.u0bar);
    }
}
