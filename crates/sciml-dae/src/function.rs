//! What a DAE is to the solver: a residual `F(u′, u, p, t)` ([`DaeFunction`]) and, for the
//! implicit steps, its two Jacobians `∂F/∂u` and `∂F/∂u′` ([`DaeJacobian`]). Providers: closures
//! ([`DaeClosure`], with or without Jacobians) and forward differences ([`DaeFiniteDiff`]).
//! A residual without Jacobians cannot be solved until it is wrapped (a compile error, as
//! sciml-core's `Missing`).

use sciml_core::DenseMatrix;

/// A residual `F(u′, u, p, t) = 0` of `len()` equations in as many states.
pub trait DaeFunction {
    /// Number of equations (and of states).
    fn len(&self) -> usize;
    /// Whether the system is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes `F(du, u, p, t)` into `out`.
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]);
    /// The number of parameters the residual reads, where it declares one (as a wrapped
    /// vector field does): [`crate::DaeProblem`] then refuses parameter vectors of another
    /// length. `None` (the default) takes any length.
    fn n_params(&self) -> Option<usize> {
        None
    }
}

/// The Jacobians of a [`DaeFunction`]: the iteration matrix of an implicit step is
/// `∂F/∂u + α·∂F/∂u′`.
pub trait DaeJacobian: DaeFunction {
    /// Writes `∂F/∂u` into `dfdu` and `∂F/∂u′` into `dfddu` (both `n × n`, every entry).
    fn jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    );
    /// Writes `∂F/∂p` into `dfdp` (`n × len(p)`) and returns `true`; the default has none and
    /// returns `false` (forward sensitivities then refuse the problem). [`DaeFiniteDiff`] gives
    /// it by differences.
    fn param_jacobian(
        &mut self,
        _t: f64,
        _du: &[f64],
        _u: &[f64],
        _p: &[f64],
        _dfdp: &mut DenseMatrix<f64>,
    ) -> bool {
        false
    }
}

/// Directional derivatives of a residual, `out = ∂F/∂u′·v′ + ∂F/∂u·v` at `(t, u′, u)` for the
/// direction `dir = (v′, v)`: what the Jacobian-free linear strategy
/// ([`sciml_ode::stiff::KrylovSolve`], see [`crate::linear`]) needs instead of the matrices.
/// Providers: [`crate::DaeForwardAd`] (exact, one pass in dual numbers) and [`DaeFiniteDiff`]
/// (one forward difference).
///
/// ```
/// use sciml_dae::{DaeClosure, DaeFiniteDiff, DaeJvp};
/// // F = (u1′ + u1·u2, u2 − u1²): ∂F/∂u′ = [[1, 0], [0, 0]], ∂F/∂u = [[u2, u1], [−2u1, 1]].
/// let mut f = DaeFiniteDiff::new(DaeClosure::new(2, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0] * u[1];
///     r[1] = u[1] - u[0] * u[0];
/// }));
/// let mut out = [0.0; 2];
/// f.jvp(0.0, &[0.0, 0.0], &[2.0, 3.0], &[], (&[1.0, 0.0], &[1.0, 1.0]), &mut out);
/// // (1 + 3 + 2, −4 + 1)
/// assert!((out[0] - 6.0).abs() < 1e-6 && (out[1] + 3.0).abs() < 1e-6);
/// ```
pub trait DaeJvp: DaeFunction {
    /// Whether the products are exact (dual numbers), not differences; the default says not.
    const EXACT: bool = false;
    /// Writes `∂F/∂u′·dir.0 + ∂F/∂u·dir.1` at `(t, du, u, p)` into `out`.
    fn jvp(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
    );
}

/// No Jacobian closure was given (wrap the residual in [`DaeFiniteDiff`], or give one with
/// [`DaeClosure::with_jacobians`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoJacobians;

/// A residual (and optionally its Jacobians) from closures.
///
/// ```
/// use sciml_dae::{DaeClosure, DaeFunction};
/// // u1′ + u1 = 0, u2 − u1² = 0.
/// let mut f = DaeClosure::new(2, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0];
///     r[1] = u[1] - u[0] * u[0];
/// });
/// let mut r = [0.0; 2];
/// f.residual(0.0, &[-1.0, -2.0], &[1.0, 1.0], &[], &mut r);
/// assert_eq!(r, [0.0, 0.0]);
/// ```
#[derive(Clone)]
pub struct DaeClosure<R, J = NoJacobians> {
    n: usize,
    residual: R,
    jacobians: J,
}

/// Closures have no `Debug`: the size stands for them, so a problem can still be printed.
impl<R, J> std::fmt::Debug for DaeClosure<R, J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaeClosure")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl<R> DaeClosure<R, NoJacobians>
where
    R: FnMut(f64, &[f64], &[f64], &[f64], &mut [f64]),
{
    /// `n` equations with the residual `residual(t, du, u, p, out)`.
    pub fn new(n: usize, residual: R) -> Self {
        DaeClosure {
            n,
            residual,
            jacobians: NoJacobians,
        }
    }

    /// Adds the Jacobians `jacobians(t, du, u, p, ∂F/∂u, ∂F/∂u′)`.
    pub fn with_jacobians<J>(self, jacobians: J) -> DaeClosure<R, J>
    where
        J: FnMut(f64, &[f64], &[f64], &[f64], &mut DenseMatrix<f64>, &mut DenseMatrix<f64>),
    {
        DaeClosure {
            n: self.n,
            residual: self.residual,
            jacobians,
        }
    }
}

impl<R, J> DaeFunction for DaeClosure<R, J>
where
    R: FnMut(f64, &[f64], &[f64], &[f64], &mut [f64]),
{
    fn len(&self) -> usize {
        self.n
    }
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]) {
        (self.residual)(t, du, u, p, out);
    }
}

impl<R, J> DaeJacobian for DaeClosure<R, J>
where
    R: FnMut(f64, &[f64], &[f64], &[f64], &mut [f64]),
    J: FnMut(f64, &[f64], &[f64], &[f64], &mut DenseMatrix<f64>, &mut DenseMatrix<f64>),
{
    fn jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    ) {
        (self.jacobians)(t, du, u, p, dfdu, dfddu);
    }
}

/// Jacobians of any residual by forward differences, column by column, with the step
/// `√ε·max(|x_j|, 1)` (about eight correct digits; give exact Jacobians when they matter).
///
/// ```
/// use sciml_core::DenseMatrix;
/// use sciml_dae::{DaeClosure, DaeFiniteDiff, DaeJacobian};
/// // F = u′ + p·u²: ∂F/∂u = 2pu, ∂F/∂u′ = 1, ∂F/∂p = u².
/// let mut f = DaeFiniteDiff::new(DaeClosure::new(1, |_t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + p[0] * u[0] * u[0];
/// }));
/// let (mut j, mut a, mut jp) = (DenseMatrix::zeros(1, 1), DenseMatrix::zeros(1, 1), DenseMatrix::zeros(1, 1));
/// f.jacobians(0.0, &[0.0], &[3.0], &[2.0], &mut j, &mut a);
/// assert!(f.param_jacobian(0.0, &[0.0], &[3.0], &[2.0], &mut jp));
/// assert!((j[(0, 0)] - 12.0).abs() < 1e-6 && (a[(0, 0)] - 1.0).abs() < 1e-6);
/// assert!((jp[(0, 0)] - 9.0).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct DaeFiniteDiff<F> {
    f: F,
    base: Vec<f64>,
    shifted: Vec<f64>,
    x: Vec<f64>,
    /// A copy of the parameters to perturb (and, for [`DaeJvp`], those of `base`).
    p: Vec<f64>,
    /// `(t, u′, u)` at which `base` holds the residual for [`DaeJvp`] (empty: none).
    jvp_at: Vec<f64>,
}

impl<F: DaeFunction> DaeFiniteDiff<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        let n = f.len();
        DaeFiniteDiff {
            f,
            base: vec![0.0; n],
            shifted: vec![0.0; n],
            x: vec![0.0; n],
            p: Vec::new(),
            jvp_at: Vec::new(),
        }
    }

    /// The wrapped residual.
    pub fn inner(&self) -> &F {
        &self.f
    }
}

impl<F: DaeFunction> DaeFunction for DaeFiniteDiff<F> {
    fn len(&self) -> usize {
        self.f.len()
    }
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]) {
        self.f.residual(t, du, u, p, out);
    }
    fn n_params(&self) -> Option<usize> {
        self.f.n_params()
    }
}

impl<F: DaeFunction> DaeJacobian for DaeFiniteDiff<F> {
    fn jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    ) {
        let DaeFiniteDiff {
            f,
            base,
            shifted,
            x,
            jvp_at,
            ..
        } = self;
        jvp_at.clear();
        f.residual(t, du, u, p, base);
        // Columns of ∂F/∂u (perturbing u), then of ∂F/∂u′ (perturbing u′).
        x.copy_from_slice(u);
        difference_columns(x, base, shifted, dfdu, |x, out| {
            f.residual(t, du, x, p, out)
        });
        x.copy_from_slice(du);
        difference_columns(x, base, shifted, dfddu, |x, out| {
            f.residual(t, x, u, p, out)
        });
    }
    fn param_jacobian(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdp: &mut DenseMatrix<f64>,
    ) -> bool {
        let DaeFiniteDiff {
            f,
            base,
            shifted,
            p: q,
            jvp_at,
            ..
        } = self;
        jvp_at.clear();
        f.residual(t, du, u, p, base);
        q.clear();
        q.extend_from_slice(p);
        difference_columns(q, base, shifted, dfdp, |q, out| {
            f.residual(t, du, u, q, out)
        });
        true
    }
}

impl<F: DaeFunction> DaeJvp for DaeFiniteDiff<F> {
    /// One forward difference along the direction, the step sized for its `u` part,
    /// `σ = √ε·max(1, ‖u‖₂)/‖v‖₂` (the usual Jacobian-free Newton–Krylov choice, Knoll and Keyes,
    /// J. Comput. Phys. 193, 2004, §2.2, applied as IDA's difference quotient applies it to
    /// `(v′, v) = (αv, v)`: the `u′` part moves by the same `σ`); a direction without a `u` part
    /// is sized by its `u′` part. A step sized by the whole direction would shrink as `1/α` and,
    /// for the small steps of a stiff start, move `u` by less than its rounding. The `u′` part
    /// is exact for residuals linear in `u′`. The residual at the point is re-evaluated only when
    /// the point changes.
    fn jvp(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
    ) {
        let n = self.f.len();
        let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let (nv, ndv) = (norm(dir.1), norm(dir.0));
        let step = if nv > 0.0 {
            f64::EPSILON.sqrt() * norm(u).max(1.0) / nv
        } else if ndv > 0.0 {
            f64::EPSILON.sqrt() * norm(du).max(1.0) / ndv
        } else {
            out.iter_mut().for_each(|o| *o = 0.0);
            return;
        };
        let DaeFiniteDiff {
            f,
            base,
            shifted,
            x,
            p: q,
            jvp_at,
            ..
        } = self;
        // The base residual is kept with the point it was evaluated at (t, u′, u, p).
        let same = jvp_at.len() == 2 * n + 1
            && jvp_at[0].to_bits() == t.to_bits()
            && jvp_at[1..=n] == *du
            && jvp_at[n + 1..] == *u
            && q[..] == *p;
        if !same {
            f.residual(t, du, u, p, base);
            jvp_at.clear();
            jvp_at.push(t);
            jvp_at.extend_from_slice(du);
            jvp_at.extend_from_slice(u);
            q.clear();
            q.extend_from_slice(p);
        }
        for ((xi, d), v) in x.iter_mut().zip(du).zip(dir.0) {
            *xi = d + step * v;
        }
        for ((s, ui), v) in shifted.iter_mut().zip(u).zip(dir.1) {
            *s = ui + step * v;
        }
        f.residual(t, x, shifted, p, out);
        for (o, b) in out.iter_mut().zip(base.iter()) {
            *o = (*o - b) / step;
        }
    }
}

/// Forward-difference columns `jac[:, j] = (G(x + h_j e_j) − G(x)) / h_j` of a residual in one of
/// its arguments: `x` holds that argument (restored on return), `base` is `G(x)`, and
/// `eval(x, out)` writes `G` at a perturbed `x` into `out` (`shifted`).
fn difference_columns(
    x: &mut [f64],
    base: &[f64],
    shifted: &mut [f64],
    jac: &mut DenseMatrix<f64>,
    mut eval: impl FnMut(&[f64], &mut [f64]),
) {
    for j in 0..x.len() {
        let xj = x[j];
        let step = f64::EPSILON.sqrt() * xj.abs().max(1.0);
        x[j] = xj + step;
        eval(x, shifted);
        x[j] = xj;
        for ((c, s), b) in jac.col_mut(j).iter_mut().zip(shifted.iter()).zip(base) {
            *c = (s - b) / step;
        }
    }
}
