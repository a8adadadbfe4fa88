//! An SDE built from two `sciml_core` vector fields: the drift and a diagonal (or scalar)
//! diffusion, whose VJPs (from any provider: forward-mode AD, closures, finite differences) drive
//! the adjoint.

use crate::problem::{Noise, SdeFunction, SdeVjp};
use sciml_core::{Real, VectorField, Vjp};

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
