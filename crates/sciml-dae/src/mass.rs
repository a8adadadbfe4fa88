//! Mass-matrix DAEs `M u′ = f(t, u, p)` in residual form, so that one crate takes every DAE:
//! [`MassMatrixDae`] is the residual `M u′ − f(t, u, p)` of any sciml-core vector field with a
//! Jacobian. (sciml-ode's Rosenbrock and BDF methods solve these directly as well.)

use crate::error::DaeError;
use crate::function::{DaeFunction, DaeJacobian, DaeJvp};
use sciml_core::{DenseMatrix, Jacobian, Jvp, VectorField};

/// The residual `F(u′, u, p, t) = M u′ − f(t, u, p)`, with `∂F/∂u′ = M` and `∂F/∂u = −∂f/∂u`.
///
/// ```
/// use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, Scalar};
/// use sciml_dae::{DaeFunction, MassMatrixDae};
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (1, 0) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -u[0];
///     }
/// }
/// let mut m = DenseMatrix::zeros(1, 1);
/// m[(0, 0)] = 2.0;
/// let mut f = MassMatrixDae::new(ForwardAd::new(Decay), m)?;
/// let mut r = [0.0];
/// f.residual(0.0, &[-0.5], &[1.0], &[], &mut r); // 2·(−0.5) − (−1) = 0
/// assert_eq!(r, [0.0]);
/// // A wrong shape is refused.
/// assert!(MassMatrixDae::new(ForwardAd::new(Decay), DenseMatrix::zeros(2, 2)).is_err());
/// # Ok::<(), sciml_dae::DaeError>(())
/// ```
#[derive(Clone)]
pub struct MassMatrixDae<F> {
    f: F,
    mass: DenseMatrix<f64>,
    u: Vec<f64>,
    p: Vec<f64>,
    out: Vec<f64>,
    /// The direction of a [`DaeJvp`] product, as the field's state type.
    dir: Vec<f64>,
}

/// The field need not be `Debug`: the mass matrix stands for the system.
impl<F> std::fmt::Debug for MassMatrixDae<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MassMatrixDae")
            .field("mass", &self.mass)
            .finish_non_exhaustive()
    }
}

impl<F> MassMatrixDae<F>
where
    F: VectorField<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    /// `M u′ = f(t, u, p)`; `mass` must be `n × n` for the field's `n` states.
    pub fn new(f: F, mass: DenseMatrix<f64>) -> Result<Self, DaeError> {
        let n = f.dims().0;
        if mass.nrows() != n || mass.ncols() != n {
            return Err(DaeError::MassShape {
                rows: mass.nrows(),
                cols: mass.ncols(),
                n,
            });
        }
        Ok(MassMatrixDae {
            f,
            mass,
            u: vec![0.0; n],
            p: Vec::new(),
            out: vec![0.0; n],
            dir: vec![0.0; n],
        })
    }

    /// The variables whose derivative appears (a nonzero column of `M`): the
    /// `differential_vars` of the problem.
    pub fn differential_vars(&self) -> Vec<bool> {
        (0..self.mass.ncols())
            .map(|j| self.mass.col(j).iter().any(|m| *m != 0.0))
            .collect()
    }

    fn load(&mut self, u: &[f64], p: &[f64]) {
        self.u.copy_from_slice(u);
        self.p.clear();
        self.p.extend_from_slice(p);
    }
}

impl<F> DaeFunction for MassMatrixDae<F>
where
    F: VectorField<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    fn len(&self) -> usize {
        self.u.len()
    }
    fn n_params(&self) -> Option<usize> {
        Some(self.f.dims().1)
    }
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]) {
        self.load(u, p);
        self.f.rhs(t, &self.u, &self.p, &mut self.out);
        self.mass.mul_vec_to(du, out);
        for (o, fi) in out.iter_mut().zip(&self.out) {
            *o -= fi;
        }
    }
}

impl<F> DaeJacobian for MassMatrixDae<F>
where
    F: VectorField<V = Vec<f64>, P = Vec<f64>> + Jacobian,
{
    fn jacobians(
        &mut self,
        t: f64,
        _du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    ) {
        self.load(u, p);
        self.f.jacobian(t, &self.u, &self.p, dfdu);
        dfdu.as_mut_slice().iter_mut().for_each(|x| *x = -*x);
        dfddu.as_mut_slice().copy_from_slice(self.mass.as_slice());
    }
}

impl<F> DaeJvp for MassMatrixDae<F>
where
    F: VectorField<V = Vec<f64>, P = Vec<f64>> + Jacobian + Jvp,
{
    const EXACT: bool = <F as Jvp>::EXACT;
    /// `M·v′ − (∂f/∂u)·v`, the product by the field's own JVP.
    fn jvp(
        &mut self,
        t: f64,
        _du: &[f64],
        u: &[f64],
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
    ) {
        self.load(u, p);
        self.dir.clear();
        self.dir.extend_from_slice(dir.1);
        self.f.jvp_u(t, &self.u, &self.p, &self.dir, &mut self.out);
        self.mass.mul_vec_to(dir.0, out);
        for (o, jv) in out.iter_mut().zip(&self.out) {
            *o -= jv;
        }
    }
}
