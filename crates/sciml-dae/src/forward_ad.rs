//! Exact Jacobians of a residual written once, generically over the scalar: [`GenericResidual`]
//! evaluated in sciml-core's dual numbers by [`DaeForwardAd`], one pass per column of `∂F/∂u`,
//! `∂F/∂u′` and `∂F/∂p`.

use crate::function::{DaeFunction, DaeJacobian, DaeJvp};
use sciml_core::{DenseMatrix, Dual, Dual64, Scalar};

/// A residual `F(u′, u, p, t)` generic over the scalar (reals and dual numbers), as sciml-core's
/// `GenericRhs` is for vector fields.
pub trait GenericResidual {
    /// Number of equations (and of states).
    fn len(&self) -> usize;
    /// Whether the system is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes `F(du, u, p, t)` into `out`.
    fn eval<S: Scalar<Re = f64>>(&self, t: f64, du: &[S], u: &[S], p: &[S], out: &mut [S]);
}

/// A [`GenericResidual`] with exact Jacobians by forward-mode dual numbers.
///
/// ```
/// use sciml_core::{DenseMatrix, Scalar};
/// use sciml_dae::{DaeForwardAd, DaeJacobian, GenericResidual};
/// struct Toy;
/// impl GenericResidual for Toy {
///     fn len(&self) -> usize { 2 }
///     fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
///         r[0] = du[0] + p[0] * u[0];
///         r[1] = u[1] - u[0] * u[0];
///     }
/// }
/// let mut f = DaeForwardAd::new(Toy);
/// let (mut j, mut a) = (DenseMatrix::zeros(2, 2), DenseMatrix::zeros(2, 2));
/// f.jacobians(0.0, &[0.0, 0.0], &[3.0, 9.0], &[2.0], &mut j, &mut a);
/// assert_eq!((j[(0, 0)], j[(1, 0)], j[(1, 1)]), (2.0, -6.0, 1.0));
/// assert_eq!((a[(0, 0)], a[(1, 1)]), (1.0, 0.0));
/// ```
#[derive(Clone, Debug)]
pub struct DaeForwardAd<G> {
    g: G,
    du: Vec<Dual64>,
    u: Vec<Dual64>,
    p: Vec<Dual64>,
    r: Vec<Dual64>,
}

impl<G: GenericResidual> DaeForwardAd<G> {
    /// Wraps `g`.
    pub fn new(g: G) -> Self {
        let n = g.len();
        let z = Dual::constant(0.0);
        DaeForwardAd {
            g,
            du: vec![z; n],
            u: vec![z; n],
            p: Vec::new(),
            r: vec![z; n],
        }
    }

    /// The wrapped residual.
    pub fn inner(&self) -> &G {
        &self.g
    }

    /// Loads the point with zero tangents.
    fn load(&mut self, du: &[f64], u: &[f64], p: &[f64]) {
        for (d, x) in self.du.iter_mut().zip(du) {
            *d = Dual::constant(*x);
        }
        for (d, x) in self.u.iter_mut().zip(u) {
            *d = Dual::constant(*x);
        }
        self.p.clear();
        self.p.extend(p.iter().map(|x| Dual::constant(*x)));
    }

    /// Evaluates with the tangents as loaded and writes the tangent of `F` into column `col`.
    fn pass_to(&mut self, t: f64, out: &mut DenseMatrix<f64>, col: usize) {
        self.g.eval(t, &self.du, &self.u, &self.p, &mut self.r);
        for (o, r) in out.col_mut(col).iter_mut().zip(&self.r) {
            *o = r.eps();
        }
    }
}

impl<G: GenericResidual> DaeFunction for DaeForwardAd<G> {
    fn len(&self) -> usize {
        self.g.len()
    }
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]) {
        self.g.eval(t, du, u, p, out);
    }
}

impl<G: GenericResidual> DaeJacobian for DaeForwardAd<G> {
    fn jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    ) {
        self.load(du, u, p);
        for (c, x) in u.iter().enumerate() {
            self.u[c] = Dual::new(*x, 1.0);
            self.pass_to(t, dfdu, c);
            self.u[c] = Dual::constant(*x);
        }
        for (c, x) in du.iter().enumerate() {
            self.du[c] = Dual::new(*x, 1.0);
            self.pass_to(t, dfddu, c);
            self.du[c] = Dual::constant(*x);
        }
    }
    fn param_jacobian(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdp: &mut DenseMatrix<f64>,
    ) -> bool {
        self.load(du, u, p);
        for (c, x) in p.iter().enumerate() {
            self.p[c] = Dual::new(*x, 1.0);
            self.pass_to(t, dfdp, c);
            self.p[c] = Dual::constant(*x);
        }
        true
    }
}

impl<G: GenericResidual> DaeJvp for DaeForwardAd<G> {
    const EXACT: bool = true;
    /// One pass in dual numbers, the tangents of `u′` and `u` set to the direction: exact.
    fn jvp(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
    ) {
        self.load(du, u, p);
        for ((d, x), v) in self.du.iter_mut().zip(du).zip(dir.0) {
            *d = Dual::new(*x, *v);
        }
        for ((d, x), v) in self.u.iter_mut().zip(u).zip(dir.1) {
            *d = Dual::new(*x, *v);
        }
        self.g.eval(t, &self.du, &self.u, &self.p, &mut self.r);
        for (o, r) in out.iter_mut().zip(&self.r) {
            *o = r.eps();
        }
    }
}
