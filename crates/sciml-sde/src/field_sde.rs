//! An SDE built from two `sciml_core` vector fields: the drift and a diagonal (or scalar)
//! diffusion, whose VJPs (from any provider: forward-mode AD, closures, finite differences) drive
//! the adjoint.

use crate::problem::{Noise, SdeFunction, SdeVjp};
use sciml_core::{Hvp, Jvp, Real, VectorField, Vjp};

/// An SDE whose drift `f` and diffusion `g` are [`VectorField`]s over `Vec<R>`; the diffusion's
/// output has the shape of `u`, so the noise is [`Noise::Diagonal`] or [`Noise::Scalar`].
///
/// ```
/// use sciml_core::{ForwardAd, GenericRhs, Scalar};
/// use sciml_sde::{FieldSde, Noise, SdeFunction};
/// #[derive(Clone)]
/// struct Lin;
/// impl GenericRhs for Lin {
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = p[0] * u[0];
///     }
/// }
/// let mut sde = FieldSde::new(ForwardAd::new(Lin), ForwardAd::new(Lin), Noise::Diagonal).unwrap();
/// let mut g = [0.0];
/// sde.diffusion(0.0, &[2.0], &[3.0], &mut g);
/// assert_eq!(g, [6.0]);
/// ```
#[derive(Clone, Debug)]
pub struct FieldSde<F, G> {
    /// The drift.
    pub drift: F,
    /// The diffusion.
    pub diffusion: G,
    noise: Noise,
}

impl<F: VectorField, G: VectorField> FieldSde<F, G> {
    /// Pairs a drift and a diffusion with the same dimensions; `noise` must be diagonal or scalar.
    pub fn new(drift: F, diffusion: G, noise: Noise) -> Result<Self, crate::SdeError> {
        if !matches!(noise, Noise::Diagonal | Noise::Scalar) {
            return Err(crate::SdeError::NoiseShape {
                reason: "a vector-field diffusion has the shape of u: use diagonal or scalar noise"
                    .into(),
            });
        }
        if drift.dims() != diffusion.dims() {
            return Err(crate::SdeError::NoiseShape {
                reason: format!(
                    "drift dims {:?} and diffusion dims {:?} differ",
                    drift.dims(),
                    diffusion.dims()
                ),
            });
        }
        Ok(FieldSde {
            drift,
            diffusion,
            noise,
        })
    }
}

// The core fields take `&Vec<R>`, so slices are copied (this adaptor is for small systems and
// tests; performance-critical systems implement `SdeFunction` directly).
impl<R, F, G> SdeFunction<R> for FieldSde<F, G>
where
    R: Real,
    F: VectorField<V = Vec<R>, P = Vec<R>>,
    G: VectorField<V = Vec<R>, P = Vec<R>>,
{
    fn dims(&self) -> (usize, usize) {
        self.drift.dims()
    }
    fn noise(&self) -> Noise {
        self.noise
    }
    fn drift(&mut self, t: R, u: &[R], p: &[R], du: &mut [R]) {
        let (uv, pv, mut out) = (u.to_vec(), p.to_vec(), du.to_vec());
        self.drift.rhs(t, &uv, &pv, &mut out);
        du.copy_from_slice(&out);
    }
    fn diffusion(&mut self, t: R, u: &[R], p: &[R], g: &mut [R]) {
        let (uv, pv, mut out) = (u.to_vec(), p.to_vec(), g.to_vec());
        self.diffusion.rhs(t, &uv, &pv, &mut out);
        g.copy_from_slice(&out);
    }
}

impl<R, F, G> SdeVjp<R> for FieldSde<F, G>
where
    R: Real,
    F: Vjp + VectorField<V = Vec<R>, P = Vec<R>>,
    G: Vjp + VectorField<V = Vec<R>, P = Vec<R>>,
{
    fn drift_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        let (uv, pv, wv, mut guv, mut gpv) =
            (u.to_vec(), p.to_vec(), w.to_vec(), gu.to_vec(), gp.to_vec());
        self.drift.vjp(t, &uv, &pv, &wv, &mut guv, &mut gpv);
        gu.copy_from_slice(&guv);
        gp.copy_from_slice(&gpv);
    }
    fn diffusion_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        let (uv, pv, wv, mut guv, mut gpv) =
            (u.to_vec(), p.to_vec(), w.to_vec(), gu.to_vec(), gp.to_vec());
        self.diffusion.vjp(t, &uv, &pv, &wv, &mut guv, &mut gpv);
        gu.copy_from_slice(&guv);
        gp.copy_from_slice(&gpv);
    }
}

/// The Itô correction from the diffusion's JVPs and HVPs (exact when they are).
///
/// Diagonal noise: `c_i = ½ g_i D_i` with `D_i = ∂g_i/∂u_i`, the Jacobian's diagonal, taken by `n`
/// JVPs; the VJP is `Jᵀ(½ w ⊙ D)` plus, for each `i`, the HVP `∇(½ w_i g_i eᵢᵀ J eᵢ)` with the
/// weight `½ w_i g_i` held fixed, so `n` JVPs, one VJP and `n` HVPs per call. Scalar noise:
/// `c = ½ J g` (one JVP); its VJP is `½ Jᵀ(Jᵀ w)` plus the HVP `∇(½ wᵀ J v)` at `v = g` held
/// fixed. Both cost `O(n)` passes: fine for the small systems this adaptor is for.
impl<R, F, G> crate::problem::ItoCorrection<R> for FieldSde<F, G>
where
    R: Real,
    F: Vjp + VectorField<V = Vec<R>, P = Vec<R>>,
    G: Jvp + Hvp + VectorField<V = Vec<R>, P = Vec<R>>,
{
    fn ito_correction(&mut self, t: R, u: &[R], p: &[R], c: &mut [R]) {
        let (uv, pv) = (u.to_vec(), p.to_vec());
        let n = u.len();
        let mut g = vec![R::zero(); n];
        self.diffusion.rhs(t, &uv, &pv, &mut g);
        let mut jv = vec![R::zero(); n];
        match self.noise {
            Noise::Scalar => {
                self.diffusion.jvp_u(t, &uv, &pv, &g, &mut jv);
                for (ci, x) in c.iter_mut().zip(&jv) {
                    *ci = R::c(0.5) * *x;
                }
            }
            _ => {
                let d = self.jacobian_diagonal(t, &uv, &pv);
                for ((ci, gi), di) in c.iter_mut().zip(&g).zip(&d) {
                    *ci = R::c(0.5) * *gi * *di;
                }
            }
        }
    }

    fn ito_correction_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        let (uv, pv) = (u.to_vec(), p.to_vec());
        let (n, np) = (u.len(), p.len());
        let mut g = vec![R::zero(); n];
        self.diffusion.rhs(t, &uv, &pv, &mut g);
        let (mut guv, mut gpv) = (gu.to_vec(), gp.to_vec());
        let half = R::c(0.5);
        match self.noise {
            Noise::Scalar => {
                // r = Jᵀ w, then ½ Jᵀ r (and ½ g_pᵀ r) for the derivative of the factor g.
                let wv = w.to_vec();
                let (mut r, mut rp) = (vec![R::zero(); n], vec![R::zero(); np]);
                self.diffusion.vjp(t, &uv, &pv, &wv, &mut r, &mut rp);
                for x in r.iter_mut() {
                    *x *= half;
                }
                self.diffusion.vjp(t, &uv, &pv, &r, &mut guv, &mut gpv);
                let hw: Vec<R> = w.iter().map(|x| half * *x).collect();
                self.diffusion.hvp(t, &uv, &pv, &hw, &g, &mut guv, &mut gpv);
            }
            _ => {
                let d = self.jacobian_diagonal(t, &uv, &pv);
                let r: Vec<R> = w.iter().zip(&d).map(|(wi, di)| half * *wi * *di).collect();
                self.diffusion.vjp(t, &uv, &pv, &r, &mut guv, &mut gpv);
                let (mut wi, mut ei) = (vec![R::zero(); n], vec![R::zero(); n]);
                for i in 0..n {
                    wi[i] = half * w[i] * g[i];
                    ei[i] = R::one();
                    self.diffusion
                        .hvp(t, &uv, &pv, &wi, &ei, &mut guv, &mut gpv);
                    wi[i] = R::zero();
                    ei[i] = R::zero();
                }
            }
        }
        gu.copy_from_slice(&guv);
        gp.copy_from_slice(&gpv);
    }
}

impl<F, G: Jvp> FieldSde<F, G> {
    /// `∂g_i/∂u_i` for every `i`, one JVP per unit vector.
    fn jacobian_diagonal<R: Real>(&mut self, t: R, u: &Vec<R>, p: &Vec<R>) -> Vec<R>
    where
        G: VectorField<V = Vec<R>, P = Vec<R>>,
    {
        let n = u.len();
        let (mut e, mut jv, mut d) = (vec![R::zero(); n], vec![R::zero(); n], vec![R::zero(); n]);
        for i in 0..n {
            e[i] = R::one();
            self.diffusion.jvp_u(t, u, p, &e, &mut jv);
            d[i] = jv[i];
            e[i] = R::zero();
        }
        d
    }
}
