use crate::field::{Jacobian, Jvp, VectorField, Vjp};
use crate::matrix::DenseMatrix;
use crate::scalar::Real;
use std::marker::PhantomData;

/// Marks a capability the user did not supply: the matching trait is then not implemented, so a
/// solver that needs it fails to compile instead of silently approximating.
#[derive(Clone, Copy, Debug, Default)]
pub struct Missing;

/// A vector field from closures over `Vec<R>` states and parameters, with derivative closures
/// added one capability at a time.
///
/// * `rhs(t, u, p, du)` writes `du = f(t, u, p)`.
/// * `with_jvp(|t, u, p, vu, vp, out|)` writes `out = ∂f/∂u·vu + ∂f/∂p·vp` (one closure serves both
///   `Jvp::jvp_u` and `Jvp::jvp_p`).
/// * `with_vjp(|t, u, p, w, gu, gp|)` *accumulates* `gu += (∂f/∂u)ᵀ w`, `gp += (∂f/∂p)ᵀ w`.
/// * `with_jacobian(|t, u, p, jac|)` writes `∂f/∂u`.
///
/// User-supplied derivatives are taken as exact (`EXACT = true`); test them, e.g. against
/// [`crate::FiniteDiff`].
///
/// ```
/// use sciml_core::{FnField, Jvp, VectorField};
/// let mut f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = -p[0] * u[0])
///     .with_jvp(|_t, u, p, vu, vp, out| out[0] = -p[0] * vu[0] - vp[0] * u[0]);
/// let mut out = vec![0.0];
/// f.jvp_p(0.0, &vec![2.0], &vec![0.5], &vec![1.0], &mut out);
/// assert_eq!(out[0], -2.0);
/// ```
pub struct FnField<R, F, J = Missing, B = Missing, M = Missing> {
    n: usize,
    np: usize,
    f: F,
    jvp: J,
    vjp: B,
    jac: M,
    zu: Vec<R>,
    zp: Vec<R>,
    _r: PhantomData<fn() -> R>,
}

impl<R: Clone, F: Clone, J: Clone, B: Clone, M: Clone> Clone for FnField<R, F, J, B, M> {
    fn clone(&self) -> Self {
        FnField {
            n: self.n,
            np: self.np,
            f: self.f.clone(),
            jvp: self.jvp.clone(),
            vjp: self.vjp.clone(),
            jac: self.jac.clone(),
            zu: self.zu.clone(),
            zp: self.zp.clone(),
            _r: PhantomData,
        }
    }
}

impl<R: Real, F: FnMut(R, &[R], &[R], &mut [R])> FnField<R, F> {
    /// A field of `n` states and `np` parameters from `rhs(t, u, p, du)`.
    pub fn new(n: usize, np: usize, rhs: F) -> Self {
        FnField {
            n,
            np,
            f: rhs,
            jvp: Missing,
            vjp: Missing,
            jac: Missing,
            zu: vec![R::zero(); n],
            zp: vec![R::zero(); np],
            _r: PhantomData,
        }
    }
}

impl<R: Real, F, J, B, M> FnField<R, F, J, B, M> {
    /// Adds the directional derivative `out = ∂f/∂u·vu + ∂f/∂p·vp`.
    pub fn with_jvp<J2>(self, jvp: J2) -> FnField<R, F, J2, B, M>
    where
        J2: FnMut(R, &[R], &[R], &[R], &[R], &mut [R]),
    {
        FnField {
            n: self.n,
            np: self.np,
            f: self.f,
            jvp,
            vjp: self.vjp,
            jac: self.jac,
            zu: self.zu,
            zp: self.zp,
            _r: PhantomData,
        }
    }
    /// Adds the reverse product, accumulating `gu += (∂f/∂u)ᵀ w`, `gp += (∂f/∂p)ᵀ w`.
    pub fn with_vjp<B2>(self, vjp: B2) -> FnField<R, F, J, B2, M>
    where
        B2: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
    {
        FnField {
            n: self.n,
            np: self.np,
            f: self.f,
            jvp: self.jvp,
            vjp,
            jac: self.jac,
            zu: self.zu,
            zp: self.zp,
            _r: PhantomData,
        }
    }
    /// Adds the dense Jacobian `∂f/∂u`.
    pub fn with_jacobian<M2>(self, jac: M2) -> FnField<R, F, J, B, M2>
    where
        M2: FnMut(R, &[R], &[R], &mut DenseMatrix<R>),
    {
        FnField {
            n: self.n,
            np: self.np,
            f: self.f,
            jvp: self.jvp,
            vjp: self.vjp,
            jac,
            zu: self.zu,
            zp: self.zp,
            _r: PhantomData,
        }
    }
}

impl<R: Real, F: FnMut(R, &[R], &[R], &mut [R]), J, B, M> VectorField for FnField<R, F, J, B, M> {
    type V = Vec<R>;
    type P = Vec<R>;
    fn dims(&self) -> (usize, usize) {
        (self.n, self.np)
    }
    #[inline]
    fn rhs(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, du: &mut Vec<R>) {
        (self.f)(t, u, p, du)
    }
}

impl<R, F, J, B, M> Jvp for FnField<R, F, J, B, M>
where
    R: Real,
    F: FnMut(R, &[R], &[R], &mut [R]),
    J: FnMut(R, &[R], &[R], &[R], &[R], &mut [R]),
{
    const EXACT: bool = true;
    fn jvp_u(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        (self.jvp)(t, u, p, v, &self.zp, out)
    }
    fn jvp_p(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, v: &Vec<R>, out: &mut Vec<R>) {
        (self.jvp)(t, u, p, &self.zu, v, out)
    }
}

impl<R, F, J, B, M> Vjp for FnField<R, F, J, B, M>
where
    R: Real,
    F: FnMut(R, &[R], &[R], &mut [R]),
    B: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
{
    const EXACT: bool = true;
    fn vjp(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, w: &Vec<R>, gu: &mut Vec<R>, gp: &mut Vec<R>) {
        (self.vjp)(t, u, p, w, gu, gp)
    }
}

impl<R, F, J, B, M> Jacobian for FnField<R, F, J, B, M>
where
    R: Real,
    F: FnMut(R, &[R], &[R], &mut [R]),
    M: FnMut(R, &[R], &[R], &mut DenseMatrix<R>),
{
    const EXACT: bool = true;
    fn jacobian(&mut self, t: R, u: &Vec<R>, p: &Vec<R>, j: &mut DenseMatrix<R>) {
        (self.jac)(t, u, p, j)
    }
}
