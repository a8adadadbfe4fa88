//! SDE problems `du = f(u, p, t) dt + g(u, p, t) dW` and the user-facing system traits.

use crate::error::SdeError;
use sciml_core::{Error, Real};

/// The shape of the noise term `g(u, p, t) dW`.
///
/// The diffusion is stored in its native shape and applied matrix-free: a diagonal or scalar
/// diffusion is an `n`-vector (never an `n × n` matrix), a general one an `n × m` matrix stored
/// row-major (`g[i * m + j] = g_ij`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// `n` independent Brownian motions, `dW` of length `n`, `g` an `n`-vector acting
    /// componentwise: `du_i += g_i dW_i`.
    Diagonal,
    /// One Brownian motion shared by all components, `g` an `n`-vector: `du += g dW`.
    Scalar,
    /// `m` Brownian motions, `g` an `n × m` matrix: `du += g dW`.
    General {
        /// Number of Brownian motions.
        m: usize,
    },
    /// Like [`Noise::General`], with the user's promise that the columns of `g` commute
    /// (`Σ_k g_kj ∂_k g_il = Σ_k g_kl ∂_k g_ij`), so Lévy areas cancel.
    Commutative {
        /// Number of Brownian motions.
        m: usize,
    },
    /// `batch` independent copies of a general-noise system, stacked: the state is `batch` blocks
    /// of `k = n / batch` components, each driven by its own `m` Brownian motions through its own
    /// `k × m` matrix; `g` holds the blocks one after another (each row-major), `dW` has `m · batch`
    /// components. This is general noise for a batch solved as one state, without the zero blocks.
    Batched {
        /// Brownian motions per block.
        m: usize,
        /// Number of blocks.
        batch: usize,
    },
}

impl Noise {
    /// Number of Brownian motions for a state of length `n`.
    pub fn brownian_dim(self, n: usize) -> usize {
        match self {
            Noise::Diagonal => n,
            Noise::Scalar => 1,
            Noise::General { m } | Noise::Commutative { m } => m,
            Noise::Batched { m, batch } => m * batch,
        }
    }
    /// Length of the diffusion buffer for a state of length `n`.
    pub fn diffusion_len(self, n: usize) -> usize {
        match self {
            Noise::Diagonal | Noise::Scalar => n,
            Noise::General { m } | Noise::Commutative { m } | Noise::Batched { m, .. } => n * m,
        }
    }
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Noise::Diagonal => "diagonal",
            Noise::Scalar => "scalar",
            Noise::General { .. } => "general",
            Noise::Commutative { .. } => "commutative",
            Noise::Batched { .. } => "batched general",
        }
    }

    /// `out += g · dw` for a diffusion `g` of this shape (matrix-free for diagonal and scalar).
    pub fn apply_add<R: Real>(self, g: &[R], dw: &[R], scale: R, out: &mut [R]) {
        match self {
            Noise::Diagonal => {
                for ((o, gi), wi) in out.iter_mut().zip(g).zip(dw) {
                    *o += *gi * *wi * scale;
                }
            }
            Noise::Scalar => {
                let w = dw[0] * scale;
                for (o, gi) in out.iter_mut().zip(g) {
                    *o += *gi * w;
                }
            }
            Noise::General { m } | Noise::Commutative { m } => {
                for (o, row) in out.iter_mut().zip(g.chunks_exact(m)) {
                    let mut s = R::zero();
                    for (gij, wj) in row.iter().zip(dw) {
                        s += *gij * *wj;
                    }
                    *o += s * scale;
                }
            }
            Noise::Batched { m, batch } => {
                let k = (out.len() / batch.max(1)).max(1);
                for (b, (ob, gb)) in out
                    .chunks_exact_mut(k)
                    .zip(g.chunks_exact(k * m))
                    .enumerate()
                {
                    let wb = &dw[b * m..(b + 1) * m];
                    for (o, row) in ob.iter_mut().zip(gb.chunks_exact(m)) {
                        let mut s = R::zero();
                        for (gij, wj) in row.iter().zip(wb) {
                            s += *gij * *wj;
                        }
                        *o += s * scale;
                    }
                }
            }
        }
    }

    /// The cotangent of `g` for `out = g · dw`: `wg = λ ⊗ dw` in `g`'s shape, scaled.
    pub fn outer_to<R: Real>(self, lambda: &[R], dw: &[R], scale: R, wg: &mut [R]) {
        match self {
            Noise::Diagonal => {
                for ((o, l), w) in wg.iter_mut().zip(lambda).zip(dw) {
                    *o = *l * *w * scale;
                }
            }
            Noise::Scalar => {
                let w = dw[0] * scale;
                for (o, l) in wg.iter_mut().zip(lambda) {
                    *o = *l * w;
                }
            }
            Noise::General { m } | Noise::Commutative { m } => {
                for (row, l) in wg.chunks_exact_mut(m).zip(lambda) {
                    for (o, w) in row.iter_mut().zip(dw) {
                        *o = *l * *w * scale;
                    }
                }
            }
            Noise::Batched { m, batch } => {
                let k = (lambda.len() / batch.max(1)).max(1);
                for (i, (row, l)) in wg.chunks_exact_mut(m).zip(lambda).enumerate() {
                    let wb = &dw[(i / k) * m..(i / k + 1) * m];
                    for (o, w) in row.iter_mut().zip(wb) {
                        *o = *l * *w * scale;
                    }
                }
            }
        }
    }
}

/// An SDE system: drift `f` and diffusion `g` written in place, over a real type `R`.
///
/// Methods take `&mut self` so scratch can live in the system; ensembles clone it per trajectory.
pub trait SdeFunction<R: Real> {
    /// `(n, number of parameters)`.
    fn dims(&self) -> (usize, usize);
    /// The noise shape.
    fn noise(&self) -> Noise;
    /// `du = f(u, p, t)`.
    fn drift(&mut self, t: R, u: &[R], p: &[R], du: &mut [R]);
    /// `g = g(u, p, t)` in the shape given by [`Noise::diffusion_len`].
    fn diffusion(&mut self, t: R, u: &[R], p: &[R], g: &mut [R]);
}

/// Vector-Jacobian products of the drift and diffusion, for the discrete adjoint.
pub trait SdeVjp<R: Real>: SdeFunction<R> {
    /// `gu += (∂f/∂u)ᵀ w`, `gp += (∂f/∂p)ᵀ w`.
    fn drift_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]);
    /// `gu += (∂g/∂u)ᵀ w`, `gp += (∂g/∂p)ᵀ w`, with `w` in `g`'s shape.
    fn diffusion_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]);
    /// A hint from the discrete adjoint of Euler–Maruyama: after `record_drift(Some(steps))`,
    /// the next `steps` `drift` calls are made at states whose `drift_vjp` will later be asked
    /// for, in exactly the reverse order, so a system may keep what its VJP needs (a tape of
    /// activations) instead of recomputing it. `record_drift(None)` ends this and discards
    /// anything kept. The default ignores the hint.
    fn record_drift(&mut self, steps: Option<usize>) {
        let _ = steps;
    }
}

/// The Itô–Stratonovich drift correction and its VJP, for the continuous adjoints of Itô SDEs.
///
/// The Itô SDE `du = f dt + g dW` has the same solutions as the Stratonovich SDE
/// `du = (f − c) dt + g ∘ dW` with
///
/// `c_i = ½ Σ_j Σ_k g_kj ∂g_ij/∂u_k`
///
/// (Kloeden & Platen, *Numerical Solution of SDEs*, §4.9). For diagonal noise this is
/// `c_i = ½ g_i ∂g_i/∂u_i`, for scalar noise `c = ½ (∂g/∂u) g`. Continuous adjoints are
/// Stratonovich SDEs, so they integrate the corrected drift, whose VJP needs second derivatives
/// of the diffusion. [`crate::FieldSde`] implements this trait from its diffusion's JVPs and
/// HVPs; systems with general noise implement it by hand.
pub trait ItoCorrection<R: Real>: SdeVjp<R> {
    /// `c = ½ Σ_j (∂g_{·j}/∂u) g_{·j}`, of length `n`.
    fn ito_correction(&mut self, t: R, u: &[R], p: &[R], c: &mut [R]);
    /// `gu += (∂c/∂u)ᵀ w`, `gp += (∂c/∂p)ᵀ w`.
    fn ito_correction_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]);
}

/// The Stratonovich form `du = (f − c) dt + g ∘ dW` of an Itô system ([`ItoCorrection`]).
#[derive(Clone, Debug)]
pub struct StratonovichForm<R, F> {
    /// The Itô system.
    pub f: F,
    c: Vec<R>,
    w: Vec<R>,
}

impl<R: Real, F: ItoCorrection<R>> StratonovichForm<R, F> {
    /// The Stratonovich form of the Itô system `f`.
    pub fn new(f: F) -> Self {
        let (n, _) = f.dims();
        StratonovichForm {
            f,
            c: vec![R::zero(); n],
            w: vec![R::zero(); n],
        }
    }
}

impl<R: Real, F: ItoCorrection<R>> SdeFunction<R> for StratonovichForm<R, F> {
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    fn noise(&self) -> Noise {
        self.f.noise()
    }
    fn drift(&mut self, t: R, u: &[R], p: &[R], du: &mut [R]) {
        self.f.drift(t, u, p, du);
        self.f.ito_correction(t, u, p, &mut self.c);
        for (d, c) in du.iter_mut().zip(&self.c) {
            *d -= *c;
        }
    }
    fn diffusion(&mut self, t: R, u: &[R], p: &[R], g: &mut [R]) {
        self.f.diffusion(t, u, p, g);
    }
}

impl<R: Real, F: ItoCorrection<R>> SdeVjp<R> for StratonovichForm<R, F> {
    fn drift_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        self.f.drift_vjp(t, u, p, w, gu, gp);
        for (a, b) in self.w.iter_mut().zip(w) {
            *a = -*b;
        }
        self.f.ito_correction_vjp(t, u, p, &self.w, gu, gp);
    }
    fn diffusion_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        self.f.diffusion_vjp(t, u, p, w, gu, gp);
    }
}

/// An SDE from closures (no derivatives): `drift(t, u, p, du)` and `diffusion(t, u, p, g)`.
///
/// ```
/// use sciml_sde::{FnSde, Noise, SdeFunction};
/// // Geometric Brownian motion du = μu dt + σu dW.
/// let mut gbm = FnSde::new(1, 2, Noise::Diagonal,
///     |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0],
///     |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| g[0] = p[1] * u[0]);
/// let mut g = [0.0];
/// gbm.diffusion(0.0, &[2.0], &[1.0, 0.5], &mut g);
/// assert_eq!(g, [1.0]);
/// ```
#[derive(Clone)]
pub struct FnSde<F, G> {
    n: usize,
    np: usize,
    noise: Noise,
    f: F,
    g: G,
}

impl<F, G> FnSde<F, G> {
    /// A system with `n` states, `np` parameters and the given noise shape.
    pub fn new(n: usize, np: usize, noise: Noise, f: F, g: G) -> Self {
        FnSde { n, np, noise, f, g }
    }
    /// Adds closures for the drift and diffusion VJPs, making an [`SdeVjp`] system.
    pub fn with_vjp<FV, GV>(self, fv: FV, gv: GV) -> FnSdeVjp<F, G, FV, GV> {
        FnSdeVjp { base: self, fv, gv }
    }
}

impl<R: Real, F, G> SdeFunction<R> for FnSde<F, G>
where
    F: FnMut(R, &[R], &[R], &mut [R]),
    G: FnMut(R, &[R], &[R], &mut [R]),
{
    fn dims(&self) -> (usize, usize) {
        (self.n, self.np)
    }
    fn noise(&self) -> Noise {
        self.noise
    }
    fn drift(&mut self, t: R, u: &[R], p: &[R], du: &mut [R]) {
        (self.f)(t, u, p, du)
    }
    fn diffusion(&mut self, t: R, u: &[R], p: &[R], g: &mut [R]) {
        (self.g)(t, u, p, g)
    }
}

/// An [`FnSde`] with VJP closures `(t, u, p, w, gu, gp)` for the drift and the diffusion.
#[derive(Clone)]
pub struct FnSdeVjp<F, G, FV, GV> {
    base: FnSde<F, G>,
    fv: FV,
    gv: GV,
}

impl<R: Real, F, G, FV, GV> SdeFunction<R> for FnSdeVjp<F, G, FV, GV>
where
    F: FnMut(R, &[R], &[R], &mut [R]),
    G: FnMut(R, &[R], &[R], &mut [R]),
{
    fn dims(&self) -> (usize, usize) {
        (self.base.n, self.base.np)
    }
    fn noise(&self) -> Noise {
        self.base.noise
    }
    fn drift(&mut self, t: R, u: &[R], p: &[R], du: &mut [R]) {
        (self.base.f)(t, u, p, du)
    }
    fn diffusion(&mut self, t: R, u: &[R], p: &[R], g: &mut [R]) {
        (self.base.g)(t, u, p, g)
    }
}

impl<R: Real, F, G, FV, GV> SdeVjp<R> for FnSdeVjp<F, G, FV, GV>
where
    F: FnMut(R, &[R], &[R], &mut [R]),
    G: FnMut(R, &[R], &[R], &mut [R]),
    FV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
    GV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
{
    fn drift_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        (self.fv)(t, u, p, w, gu, gp)
    }
    fn diffusion_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        (self.gv)(t, u, p, w, gu, gp)
    }
}

impl<F, G, FV, GV> FnSdeVjp<F, G, FV, GV> {
    /// Adds closures for the Itô correction `c(t, u, p, c)` and its VJP `(t, u, p, w, gu, gp)`
    /// (see [`ItoCorrection`]), for the continuous adjoints of Itô SDEs.
    ///
    /// ```
    /// use sciml_sde::{FnSde, ItoCorrection, Noise};
    /// // GBM du = μu dt + σu dW: c = ½ g ∂g/∂u = ½ σ² u.
    /// let mut f = FnSde::new(1, 2, Noise::Diagonal,
    ///     |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = p[0] * u[0],
    ///     |_t: f64, u: &[f64], p: &[f64], g: &mut [f64]| g[0] = p[1] * u[0])
    ///     .with_vjp(
    ///         |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
    ///             gu[0] += p[0] * w[0];
    ///             gp[0] += u[0] * w[0];
    ///         },
    ///         |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
    ///             gu[0] += p[1] * w[0];
    ///             gp[1] += u[0] * w[0];
    ///         })
    ///     .with_ito_correction(
    ///         |_t: f64, u: &[f64], p: &[f64], c: &mut [f64]| c[0] = 0.5 * p[1] * p[1] * u[0],
    ///         |_t: f64, u: &[f64], p: &[f64], w: &[f64], gu: &mut [f64], gp: &mut [f64]| {
    ///             gu[0] += 0.5 * p[1] * p[1] * w[0];
    ///             gp[1] += p[1] * u[0] * w[0];
    ///         });
    /// let mut c = [0.0];
    /// f.ito_correction(0.0, &[2.0], &[0.1, 0.5], &mut c);
    /// assert_eq!(c, [0.25]);
    /// ```
    pub fn with_ito_correction<C, CV>(self, c: C, cv: CV) -> FnSdeIto<F, G, FV, GV, C, CV> {
        FnSdeIto { base: self, c, cv }
    }
}

/// An [`FnSdeVjp`] with closures for the Itô correction and its VJP.
#[derive(Clone)]
pub struct FnSdeIto<F, G, FV, GV, C, CV> {
    base: FnSdeVjp<F, G, FV, GV>,
    c: C,
    cv: CV,
}

impl<R: Real, F, G, FV, GV, C, CV> SdeFunction<R> for FnSdeIto<F, G, FV, GV, C, CV>
where
    F: FnMut(R, &[R], &[R], &mut [R]),
    G: FnMut(R, &[R], &[R], &mut [R]),
{
    fn dims(&self) -> (usize, usize) {
        SdeFunction::<R>::dims(&self.base)
    }
    fn noise(&self) -> Noise {
        SdeFunction::<R>::noise(&self.base)
    }
    fn drift(&mut self, t: R, u: &[R], p: &[R], du: &mut [R]) {
        self.base.drift(t, u, p, du)
    }
    fn diffusion(&mut self, t: R, u: &[R], p: &[R], g: &mut [R]) {
        self.base.diffusion(t, u, p, g)
    }
}

impl<R: Real, F, G, FV, GV, C, CV> SdeVjp<R> for FnSdeIto<F, G, FV, GV, C, CV>
where
    F: FnMut(R, &[R], &[R], &mut [R]),
    G: FnMut(R, &[R], &[R], &mut [R]),
    FV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
    GV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
{
    fn drift_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        self.base.drift_vjp(t, u, p, w, gu, gp)
    }
    fn diffusion_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        self.base.diffusion_vjp(t, u, p, w, gu, gp)
    }
}

impl<R: Real, F, G, FV, GV, C, CV> ItoCorrection<R> for FnSdeIto<F, G, FV, GV, C, CV>
where
    F: FnMut(R, &[R], &[R], &mut [R]),
    G: FnMut(R, &[R], &[R], &mut [R]),
    FV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
    GV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
    C: FnMut(R, &[R], &[R], &mut [R]),
    CV: FnMut(R, &[R], &[R], &[R], &mut [R], &mut [R]),
{
    fn ito_correction(&mut self, t: R, u: &[R], p: &[R], c: &mut [R]) {
        (self.c)(t, u, p, c)
    }
    fn ito_correction_vjp(&mut self, t: R, u: &[R], p: &[R], w: &[R], gu: &mut [R], gp: &mut [R]) {
        (self.cv)(t, u, p, w, gu, gp)
    }
}

/// An SDE problem: a system, an initial state, a time span and parameters.
#[derive(Clone)]
pub struct SdeProblem<R: Real, F> {
    /// The system.
    pub f: F,
    /// Initial state.
    pub u0: Vec<R>,
    /// Time span `(t0, t1)`, `t0 < t1`.
    pub tspan: (R, R),
    /// Parameters.
    pub p: Vec<R>,
}

impl<R: Real, F> std::fmt::Debug for SdeProblem<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdeProblem")
            .field("u0", &self.u0)
            .field("tspan", &self.tspan)
            .field("p", &self.p)
            .finish_non_exhaustive()
    }
}

fn check_finite<R: Real>(what: &str, x: &[R]) -> Result<(), Error> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            what: what.into(),
            index,
        }),
        None => Ok(()),
    }
}

impl<R: Real, F: SdeFunction<R>> SdeProblem<R, F> {
    /// A validated problem: lengths match the system, values are finite, `t0 < t1`, and the
    /// noise shape is consistent.
    pub fn new(f: F, u0: Vec<R>, tspan: (R, R), p: Vec<R>) -> Result<Self, SdeError> {
        let (n, np) = f.dims();
        if u0.len() != n {
            return Err(Error::DimensionMismatch {
                what: "u0".into(),
                expected: n,
                got: u0.len(),
            }
            .into());
        }
        if p.len() != np {
            return Err(Error::DimensionMismatch {
                what: "p".into(),
                expected: np,
                got: p.len(),
            }
            .into());
        }
        check_finite("u0", &u0)?;
        check_finite("p", &p)?;
        let (t0, t1) = tspan;
        if !(t0.is_finite() && t1.is_finite()) || t1 <= t0 {
            return Err(Error::InvalidSpan {
                t0: t0.to_f64_lossy(),
                t1: t1.to_f64_lossy(),
                reason: "SDE solves need finite t0 < t1 (reverse-time SDEs are not supported)"
                    .into(),
            }
            .into());
        }
        match f.noise() {
            Noise::General { m } | Noise::Commutative { m } if m == 0 => {
                return Err(SdeError::NoiseShape {
                    reason: "general noise needs at least one Brownian motion (m ≥ 1)".into(),
                });
            }
            Noise::Batched { m, batch } if m == 0 || batch == 0 || n % batch != 0 => {
                return Err(SdeError::NoiseShape {
                    reason: format!(
                        "batched noise needs m ≥ 1 and a batch ({batch}) dividing the state \
                         length ({n})"
                    ),
                });
            }
            _ => {}
        }
        if n == 0 {
            return Err(Error::DimensionMismatch {
                what: "u0 (an SDE needs at least one state)".into(),
                expected: 1,
                got: 0,
            }
            .into());
        }
        Ok(SdeProblem { f, u0, tspan, p })
    }
}
