//! The vector fields of the adjoint systems.

use sciml_core::{
    DenseMatrix, DenseOutput, Jacobian, One, Pair, Re, Scalar, State, VectorField, Vjp,
};

/// `u(t)` for the adjoint: from the forward solve's dense output.
pub(crate) fn eval_forward<V: State>(dense: &DenseOutput<V>, t: Re<V>, u: &mut V) {
    // The backward solve only evaluates inside the forward span; a stage time a rounding error
    // outside it is clamped to the nearest end.
    if dense.evaluate_to(t, u).is_err() {
        if let Some((a, b)) = dense.range() {
            let tc = if (t - a).abs() < (t - b).abs() { a } else { b };
            let _ = dense.evaluate_to(tc, u);
        }
    }
}

fn negate_into<V: State>(dst: &mut V, zero: &V, x: &V) {
    dst.lincomb(zero, &[-Re::<V>::one()], &[x]);
}

/// The running-cost type of an adjoint without one.
pub type NoCost<V> = fn(Re<V>, &V, &mut V);

/// The adjoint system `(λ, μ)' = (−Jᵀλ − ∂g/∂u, −f_pᵀλ)` with `u(t)` interpolated from the
/// forward solution (`g` a running cost, if any). Built by the continuous adjoints; public so
/// that a backward method's bounds can name it.
pub struct InterpolatedAdjoint<'a, F: Vjp, G = NoCost<<F as VectorField>::V>> {
    pub(crate) f: &'a mut F,
    pub(crate) dense: &'a DenseOutput<F::V>,
    /// `∂g/∂u` of a running cost `∫ g(t, u) dt`, written into its last argument.
    pub(crate) running: Option<&'a mut G>,
    pub(crate) dg: F::V,
    pub(crate) u: F::V,
    pub(crate) gu: F::V,
    pub(crate) gp: F::P,
    pub(crate) zu: F::V,
    pub(crate) zp: F::P,
    /// Scratch for `μ` updates in the quadrature adjoints.
    pub(crate) mu_next: F::P,
}

impl<'a, F: Vjp, G> InterpolatedAdjoint<'a, F, G> {
    /// `mu += weight · (∂f/∂p)ᵀ λ` at `(t, u(t))`: one quadrature node of `∫ (∂f/∂p)ᵀ λ dt`,
    /// with `u(t)` from the forward dense output. Allocation-free.
    pub(crate) fn add_fp_lambda(
        &mut self,
        t: Re<F::V>,
        lam: &F::V,
        p: &F::P,
        weight: Re<F::V>,
        mu: &mut F::P,
    ) {
        eval_forward(self.dense, t, &mut self.u);
        self.gu.fill_zero();
        self.gp.fill_zero();
        self.f.vjp(t, &self.u, p, lam, &mut self.gu, &mut self.gp);
        self.mu_next.lincomb(mu, &[weight], &[&self.gp]);
        std::mem::swap(mu, &mut self.mu_next);
    }

    pub(crate) fn new(f: &'a mut F, dense: &'a DenseOutput<F::V>, u0: &F::V, p: &F::P) -> Self {
        InterpolatedAdjoint {
            f,
            dense,
            running: None,
            dg: u0.zeros_like(),
            u: u0.zeros_like(),
            gu: u0.zeros_like(),
            gp: p.zeros_like(),
            zu: u0.zeros_like(),
            zp: p.zeros_like(),
            mu_next: p.zeros_like(),
        }
    }
}

impl<F: Vjp, G: FnMut(Re<F::V>, &F::V, &mut F::V)> VectorField for InterpolatedAdjoint<'_, F, G> {
    type V = Pair<F::V, F::P>;
    type P = F::P;
    fn dims(&self) -> (usize, usize) {
        let (n, np) = self.f.dims();
        (n + np, np)
    }
    fn rhs(&mut self, t: Re<F::V>, y: &Self::V, p: &F::P, dy: &mut Self::V) {
        eval_forward(self.dense, t, &mut self.u);
        self.gu.fill_zero();
        self.gp.fill_zero();
        self.f.vjp(t, &self.u, p, &y.0, &mut self.gu, &mut self.gp);
        if let Some(g) = self.running.as_mut() {
            self.dg.fill_zero();
            g(t, &self.u, &mut self.dg);
            // λ' = −(Jᵀλ + ∂g/∂u)
            self.zu.fill_zero();
            dy.0.lincomb(
                &self.zu,
                &[-Re::<F::V>::one(), -Re::<F::V>::one()],
                &[&self.gu, &self.dg],
            );
        } else {
            negate_into(&mut dy.0, &self.zu, &self.gu);
        }
        negate_into(&mut dy.1, &self.zp, &self.gp);
    }
}

/// `λ' = −Jᵀλ` alone, `u(t)` interpolated (the quadrature adjoints integrate `μ` separately).
/// Its Jacobian is `−J(u(t))ᵀ`, so an implicit method can solve it when the forward problem is
/// stiff (the adjoint of a stiff problem is stiff too).
pub struct LambdaAdjoint<'a, F: Vjp> {
    pub(crate) inner: InterpolatedAdjoint<'a, F>,
}

impl<F: Vjp + Jacobian> Jacobian for LambdaAdjoint<'_, F> {
    const EXACT: bool = <F as Jacobian>::EXACT;
    fn jacobian(
        &mut self,
        t: Re<F::V>,
        _y: &F::V,
        p: &F::P,
        j: &mut DenseMatrix<<F::V as State>::S>,
    ) {
        let a = &mut self.inner;
        eval_forward(a.dense, t, &mut a.u);
        a.f.jacobian(t, &a.u, p, j);
        let n = j.nrows();
        for c in 0..n {
            for r in 0..c {
                let (x, y) = (j[(r, c)], j[(c, r)]);
                j[(r, c)] = -y;
                j[(c, r)] = -x;
            }
            j[(c, c)] = -j[(c, c)];
        }
    }
}

impl<F: Vjp> VectorField for LambdaAdjoint<'_, F> {
    type V = F::V;
    type P = F::P;
    fn dims(&self) -> (usize, usize) {
        self.inner.f.dims()
    }
    fn rhs(&mut self, t: Re<F::V>, y: &F::V, p: &F::P, dy: &mut F::V) {
        let a = &mut self.inner;
        eval_forward(a.dense, t, &mut a.u);
        a.gu.fill_zero();
        a.gp.fill_zero();
        a.f.vjp(t, &a.u, p, y, &mut a.gu, &mut a.gp);
        negate_into(dy, &a.zu, &a.gu);
    }
}

/// `(u, λ, μ)' = (f(u), −Jᵀλ, −f_pᵀλ)`: the state is solved backwards with the adjoint.
pub(crate) struct BacksolveSystem<'a, F: Vjp> {
    pub f: &'a mut F,
    pub gu: F::V,
    pub gp: F::P,
    pub zu: F::V,
    pub zp: F::P,
}

impl<F: Vjp> VectorField for BacksolveSystem<'_, F> {
    type V = Pair<Pair<F::V, F::V>, F::P>;
    type P = F::P;
    fn dims(&self) -> (usize, usize) {
        let (n, np) = self.f.dims();
        (2 * n + np, np)
    }
    fn rhs(&mut self, t: Re<F::V>, y: &Self::V, p: &F::P, dy: &mut Self::V) {
        let (u, lam) = (&y.0 .0, &y.0 .1);
        self.f.rhs(t, u, p, &mut dy.0 .0);
        self.gu.fill_zero();
        self.gp.fill_zero();
        self.f.vjp(t, u, p, lam, &mut self.gu, &mut self.gp);
        negate_into(&mut dy.0 .1, &self.zu, &self.gu);
        negate_into(&mut dy.1, &self.zp, &self.gp);
    }
}

/// A field borrowed mutably, so a problem can be built around the caller's field.
pub(crate) struct ByRef<'a, F>(pub &'a mut F);

impl<F: VectorField> VectorField for ByRef<'_, F> {
    type V = F::V;
    type P = F::P;
    fn dims(&self) -> (usize, usize) {
        self.0.dims()
    }
    fn rhs(&mut self, t: Re<F::V>, u: &F::V, p: &F::P, du: &mut F::V) {
        self.0.rhs(t, u, p, du)
    }
}
