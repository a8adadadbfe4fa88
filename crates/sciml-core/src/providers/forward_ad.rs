use crate::dual::Dual;
use crate::field::{GenericRhs, Hvp, Jacobian, Jvp, VectorField, Vjp};
use crate::matrix::DenseMatrix;
use crate::scalar::Scalar;

/// Exact derivatives of a [`GenericRhs`] by forward-mode dual numbers.
///
/// The state and parameters are `Vec<S>`; `S` may itself be a dual number (dual numbers through
/// the solver), in which case the derivatives nest. All buffers are allocated once here.
///
/// ```
/// use sciml_core::{ForwardAd, GenericRhs, Jvp, Scalar, VectorField};
/// struct Square;
/// impl GenericRhs for Square {
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = p[0] * u[0] * u[0];
///     }
/// }
/// let mut f = ForwardAd::new(Square);
/// let mut out = vec![0.0];
/// f.jvp_u(0.0, &vec![3.0], &vec![2.0], &vec![1.0], &mut out);
/// assert_eq!(out[0], 12.0); // d/du (2 u²) at u = 3
/// ```
pub struct ForwardAd<G, S: Scalar = f64> {
    g: G,
    n: usize,
    np: usize,
    ws: Vec<S>,
    ud: Vec<Dual<S, S::Re>>,
    pd: Vec<Dual<S, S::Re>>,
    dud: Vec<Dual<S, S::Re>>,
    wsd: Vec<Dual<S, S::Re>>,
}

impl<G: Clone, S: Scalar> Clone for ForwardAd<G, S> {
    fn clone(&self) -> Self {
        ForwardAd {
            g: self.g.clone(),
            n: self.n,
            np: self.np,
            ws: self.ws.clone(),
            ud: self.ud.clone(),
            pd: self.pd.clone(),
            dud: self.dud.clone(),
            wsd: self.wsd.clone(),
        }
    }
}

impl<G: GenericRhs> ForwardAd<G, f64> {
    /// Wraps `g` for states and parameters in `f64`.
    pub fn new(g: G) -> Self {
        Self::with_scalar(g)
    }
}

impl<G: GenericRhs, S: Scalar> ForwardAd<G, S> {
    /// Wraps `g` for states and parameters in the scalar `S` (`f32`, or a dual number).
    pub fn with_scalar(g: G) -> Self {
        let (n, np) = g.dims();
        let m = g.scratch_len();
        let z = Dual::constant(S::zero());
        ForwardAd {
            n,
            np,
            ws: vec![S::zero(); m],
            ud: vec![z; n],
            pd: vec![z; np],
            dud: vec![z; n],
            wsd: vec![z; m],
            g,
        }
    }
    /// The wrapped function.
    pub fn inner(&self) -> &G {
        &self.g
    }

    /// Seeds `u` and `p` with tangents `(vu, vp)` (either may be absent = zero) and evaluates in
    /// dual numbers; tangents of `du` are left in `self.dud`.
    fn dual_pass(&mut self, t: S::Re, u: &[S], p: &[S], vu: Option<&[S]>, vp: Option<&[S]>) {
        for (i, d) in self.ud.iter_mut().enumerate() {
            *d = Dual::new(u[i], vu.map_or(S::zero(), |v| v[i]));
        }
        for (i, d) in self.pd.iter_mut().enumerate() {
            *d = Dual::new(p[i], vp.map_or(S::zero(), |v| v[i]));
        }
        self.g
            .eval(t, &self.ud, &self.pd, &mut self.dud, &mut self.wsd);
    }

    /// One unit-vector pass: tangent `e_i` in `u` (`i < n`) or `e_{i-n}` in `p`.
    fn unit_pass(&mut self, t: S::Re, u: &[S], p: &[S], i: usize) {
        for (k, d) in self.ud.iter_mut().enumerate() {
            *d = Dual::new(u[k], if k == i { S::one() } else { S::zero() });
        }
        for (k, d) in self.pd.iter_mut().enumerate() {
            *d = Dual::new(p[k], if k + self.n == i { S::one() } else { S::zero() });
        }
        self.g
            .eval(t, &self.ud, &self.pd, &mut self.dud, &mut self.wsd);
    }
}

impl<G: GenericRhs, S: Scalar> VectorField for ForwardAd<G, S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (self.n, self.np)
    }
    #[inline]
    fn rhs(&mut self, t: S::Re, u: &Vec<S>, p: &Vec<S>, du: &mut Vec<S>) {
        self.g.eval(t, u, p, du, &mut self.ws);
    }
}

impl<G: GenericRhs, S: Scalar> Jvp for ForwardAd<G, S> {
    const EXACT: bool = true;
    fn jvp_u(&mut self, t: S::Re, u: &Vec<S>, p: &Vec<S>, v: &Vec<S>, out: &mut Vec<S>) {
        self.dual_pass(t, u, p, Some(v), None);
        for (o, d) in out.iter_mut().zip(&self.dud) {
            *o = d.eps();
        }
    }
    fn jvp_p(&mut self, t: S::Re, u: &Vec<S>, p: &Vec<S>, v: &Vec<S>, out: &mut Vec<S>) {
        self.dual_pass(t, u, p, None, Some(v));
        for (o, d) in out.iter_mut().zip(&self.dud) {
            *o = d.eps();
        }
    }
}

impl<G: GenericRhs, S: Scalar> Vjp for ForwardAd<G, S> {
    const EXACT: bool = true;
    /// Exact, at the cost of `n + np` forward passes (one column of the full Jacobian each):
    /// fine for small fields; neural layers provide a hand-written reverse pass instead.
    fn vjp(
        &mut self,
        t: S::Re,
        u: &Vec<S>,
        p: &Vec<S>,
        w: &Vec<S>,
        gu: &mut Vec<S>,
        gp: &mut Vec<S>,
    ) {
        for i in 0..self.n + self.np {
            self.unit_pass(t, u, p, i);
            let mut s = S::zero();
            for (d, wk) in self.dud.iter().zip(w) {
                s += d.eps() * *wk;
            }
            if i < self.n {
                gu[i] += s;
            } else {
                gp[i - self.n] += s;
            }
        }
    }
}

impl<G: GenericRhs, S: Scalar> Jacobian for ForwardAd<G, S> {
    const EXACT: bool = true;
    fn jacobian(&mut self, t: S::Re, u: &Vec<S>, p: &Vec<S>, j: &mut DenseMatrix<S>) {
        for c in 0..self.n {
            self.unit_pass(t, u, p, c);
            for (jr, d) in j.col_mut(c).iter_mut().zip(&self.dud) {
                *jr = d.eps();
            }
        }
    }
}

impl<G: GenericRhs> Hvp for ForwardAd<G, f64> {
    const EXACT: bool = true;
    /// Exact, by nested dual numbers: the state is seeded with `v` in the inner dual and, column
    /// by column, with a unit tangent in the outer one, so each of the `n + np` evaluations gives
    /// one component of `∇ (wᵀ J v)`. Allocates its nested-dual buffers on each call (the
    /// Rosenbrock adjoint calls it a few times per step).
    fn hvp(
        &mut self,
        t: f64,
        u: &Vec<f64>,
        p: &Vec<f64>,
        w: &Vec<f64>,
        v: &Vec<f64>,
        gu: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        type D2 = Dual<Dual<f64, f64>, f64>;
        let (n, np) = (self.n, self.np);
        let zero = D2::new(Dual::new(0.0, 0.0), Dual::new(0.0, 0.0));
        let mut ud = vec![zero; n];
        let mut pd = vec![zero; np];
        let mut dud = vec![zero; n];
        let mut wsd = vec![zero; self.g.scratch_len()];
        for i in 0..n + np {
            for (k, d) in ud.iter_mut().enumerate() {
                let unit = if k == i { 1.0 } else { 0.0 };
                *d = D2::new(Dual::new(u[k], v[k]), Dual::new(unit, 0.0));
            }
            for (k, d) in pd.iter_mut().enumerate() {
                let unit = if k + n == i { 1.0 } else { 0.0 };
                *d = D2::new(Dual::new(p[k], 0.0), Dual::new(unit, 0.0));
            }
            self.g.eval(t, &ud, &pd, &mut dud, &mut wsd);
            // Outer tangent: ∂f/∂x_i at u + ε v; its inner tangent: the derivative along v.
            let s: f64 = dud.iter().zip(w).map(|(d, wk)| d.eps().eps() * wk).sum();
            if i < n {
                gu[i] += s;
            } else {
                gp[i - n] += s;
            }
        }
    }
}
