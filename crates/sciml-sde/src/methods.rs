//! The stochastic Runge–Kutta methods and their single steps.

// Index loops over several equally long buffers read more clearly than zipped iterators.
#![allow(clippy::needless_range_loop)]

use crate::problem::{Noise, SdeFunction};
use sciml_core::Real;

/// How the stochastic integral is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpretation {
    /// Itô (left-point) integral.
    Ito,
    /// Stratonovich (midpoint) integral.
    Stratonovich,
}

/// A stochastic integration method.
///
/// | method | sense | strong order | noise | steps |
/// |---|---|---|---|---|
/// | `EulerMaruyama` | Itô | 0.5 (1.0 for additive) | all | fixed |
/// | `EulerHeun` | Stratonovich | 1.0 commutative, 0.5 general | all | fixed |
/// | `Milstein` | Itô | 1.0 | diagonal (each `g_i` a function of `u_i`), scalar | fixed |
/// | `Sriw1` | Itô | 1.0 on our path (see below; 1.5 measured on GBM) | diagonal, scalar | fixed or adaptive |
/// | `Sra1` | Itô = Stratonovich | 1.0 on our path (see below; 1.5 with the exact `I₍₁,₀₎`) | additive only (any shape) | fixed or adaptive |
/// | `LambaEm` | Itô | 0.5 | all | fixed or adaptive (step sizes from past information only) |
///
/// The adaptive methods reject a step by retrying a shorter one on the same Brownian path
/// (the [`crate::BrownianTree`] supplies the bridge), so rejections do not bias the solution.
/// `Sriw1` and `Sra1` need the iterated integral `I₍₁,₀₎`; like StochasticDiffEq, it is formed
/// from a second, independent Brownian component `Z` as `I₍₁,₀₎ = h/2 (ΔW + ΔZ/√3)`, which has the
/// exact one-step joint law with `ΔW` but is not the space-time integral of the same path, so the
/// strong order of `Sriw1` and `Sra1` against the exact solution is 1.0 rather than 1.5 (their
/// weak order 2 is unaffected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Euler–Maruyama: `u' = u + f h + g ΔW`.
    EulerMaruyama,
    /// Euler–Heun (stochastic trapezoid/Heun predictor–corrector), Stratonovich.
    EulerHeun,
    /// Derivative-free Milstein (Kloeden & Platen, "Numerical Solution of Stochastic Differential
    /// Equations", 1992, §11.1): `g g'` approximated by `(g(ū) − g(u))/√h`, `ū = u + f h + g √h`.
    Milstein,
    /// SRIW1: Rößler's SRI1W1 tableau (A. Rößler, "Runge–Kutta methods for the strong
    /// approximation of solutions of stochastic differential equations", SIAM J. Numer. Anal.
    /// 48(3), 2010), with the error estimate of Rackauckas & Nie ("Adaptive methods for stochastic
    /// differential equations via natural embeddings and rejection sampling with memory",
    /// DCDS-B 22(7), 2017).
    Sriw1,
    /// SRA1: Rößler's SRA1 tableau for additive noise (Rößler 2010, as above), with the
    /// Rackauckas–Nie error estimate.
    Sra1,
    /// LambaEM: Euler–Maruyama with the drift and diffusion error estimates of Lamba
    /// ("An adaptive timestepping algorithm for stochastic differential equations", J. Comput.
    /// Appl. Math. 161, 2003).
    LambaEm,
}

impl Method {
    /// The interpretation of the stochastic integral the method converges to.
    pub fn interpretation(self) -> Interpretation {
        match self {
            Method::EulerHeun => Interpretation::Stratonovich,
            _ => Interpretation::Ito,
        }
    }
    /// Whether the method can adapt its step size.
    pub fn is_adaptive(self) -> bool {
        matches!(self, Method::Sriw1 | Method::Sra1 | Method::LambaEm)
    }
    /// Whether the method needs the auxiliary Brownian component `Z` for `I₍₁,₀₎`.
    pub(crate) fn needs_z(self) -> bool {
        matches!(self, Method::Sriw1 | Method::Sra1)
    }
    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Method::EulerMaruyama => "EulerMaruyama",
            Method::EulerHeun => "EulerHeun",
            Method::Milstein => "Milstein",
            Method::Sriw1 => "SRIW1",
            Method::Sra1 => "SRA1",
            Method::LambaEm => "LambaEM",
        }
    }
    /// Whether the method supports a noise shape.
    pub fn supports(self, noise: Noise) -> bool {
        match self {
            Method::Milstein | Method::Sriw1 => matches!(noise, Noise::Diagonal | Noise::Scalar),
            _ => true,
        }
    }
}

// SRIW1 (Rößler 2010, SRI1W1), stages s = 0..4, `A[s][j]` lower triangular.
const SRI_C0: [f64; 4] = [0.0, 0.75, 0.0, 0.0];
const SRI_C1: [f64; 4] = [0.0, 0.25, 1.0, 0.25];
const SRI_A0: [[f64; 4]; 4] = [[0.0; 4], [0.75, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4]];
const SRI_A1: [[f64; 4]; 4] = [
    [0.0; 4],
    [0.25, 0.0, 0.0, 0.0],
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.25, 0.0],
];
const SRI_B0: [[f64; 4]; 4] = [[0.0; 4], [1.5, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4]];
const SRI_B1: [[f64; 4]; 4] = [
    [0.0; 4],
    [0.5, 0.0, 0.0, 0.0],
    [-1.0, 0.0, 0.0, 0.0],
    [-5.0, 3.0, 0.5, 0.0],
];
const SRI_ALPHA: [f64; 4] = [1.0 / 3.0, 2.0 / 3.0, 0.0, 0.0];
const SRI_BETA1: [f64; 4] = [-1.0, 4.0 / 3.0, 2.0 / 3.0, 0.0];
const SRI_BETA2: [f64; 4] = [-1.0, 4.0 / 3.0, -1.0 / 3.0, 0.0];
const SRI_BETA3: [f64; 4] = [2.0, -4.0 / 3.0, -2.0 / 3.0, 0.0];
const SRI_BETA4: [f64; 4] = [-2.0, 5.0 / 3.0, -2.0 / 3.0, 1.0];

/// Scratch for one step, built once per solve.
pub(crate) struct Work<R> {
    method: Method,
    n: usize,
    noise: Noise,
    f0: Vec<R>,
    f1: Vec<R>,
    g0: Vec<R>,
    g1: Vec<R>,
    ubar: Vec<R>,
    /// Per-component ΔW (diagonal/scalar noise expanded to length n).
    dwn: Vec<R>,
    dzn: Vec<R>,
    /// SRI stage values and their f, g evaluations.
    h0: Vec<Vec<R>>,
    h1: Vec<Vec<R>>,
    fs: Vec<Vec<R>>,
    gs: Vec<Vec<R>>,
    err: Vec<R>,
    /// `I₍₁,₀₎ / h` per Brownian motion (SRA1).
    chi: Vec<R>,
}

impl<R: Real> Work<R> {
    pub fn new(n: usize, noise: Noise, method: Method) -> Self {
        let gl = noise.diffusion_len(n);
        let stages = if method == Method::Sriw1 { 4 } else { 0 };
        Work {
            method,
            n,
            noise,
            f0: vec![R::zero(); n],
            f1: vec![R::zero(); n],
            g0: vec![R::zero(); gl],
            g1: vec![R::zero(); gl],
            ubar: vec![R::zero(); n],
            dwn: vec![R::zero(); n],
            dzn: vec![R::zero(); n],
            h0: vec![vec![R::zero(); n]; stages],
            h1: vec![vec![R::zero(); n]; stages],
            fs: vec![vec![R::zero(); n]; stages],
            gs: vec![vec![R::zero(); gl]; stages],
            err: vec![R::zero(); n],
            chi: vec![R::zero(); noise.brownian_dim(n)],
        }
    }
}

/// What one step needs beyond the method's scratch (DESIGN decision 11): where it starts, its
/// size, the parameters, and its control, the Brownian increments over `(t, t + h)`.
pub(crate) struct SdeStep<'a, R> {
    /// Start of the step.
    pub t: R,
    /// Step size.
    pub h: R,
    /// State at `t`.
    pub u: &'a [R],
    /// Parameters.
    pub p: &'a [R],
    /// `ΔW` over the step, one per Brownian motion.
    pub dw: &'a [R],
    /// `ΔZ` of the auxiliary Brownian component (SRIW1 and SRA1 only; see [`Method`]).
    pub dz: &'a [R],
    /// `Some(δ)`: also form the error estimate, its deterministic part weighted by δ
    /// (Rackauckas & Nie 2017), into [`Work::error`].
    pub delta: Option<R>,
    /// Drift evaluations, counted.
    pub nf: &'a mut usize,
}

impl<R: Real> Work<R> {
    /// The error estimate of the last step that formed one (see [`SdeStep::delta`]): per
    /// component, unscaled; the caller takes its weighted RMS norm (`State::err_norm`).
    pub fn error(&self) -> &Vec<R> {
        &self.err
    }

    /// One step of the method from `(s.t, s.u)` of size `s.h` with the increments `s.dw`,
    /// `s.dz`; writes `unew` and returns whether an error estimate was formed (only the adaptive
    /// methods have one, and only when `s.delta` asks for it).
    pub fn step<F: SdeFunction<R>>(
        &mut self,
        sys: &mut F,
        s: SdeStep<'_, R>,
        unew: &mut [R],
    ) -> bool {
        let SdeStep {
            t,
            h,
            u,
            p,
            dw,
            dz,
            delta,
            nf,
        } = s;
        let w = self;
        let method = w.method;
        let n = w.n;
        let noise = w.noise;
        let one = R::one();
        let half = R::c(0.5);
        match method {
            Method::EulerMaruyama | Method::LambaEm => {
                sys.drift(t, u, p, &mut w.f0);
                sys.diffusion(t, u, p, &mut w.g0);
                *nf += 1;
                for i in 0..n {
                    unew[i] = u[i] + h * w.f0[i];
                }
                noise.apply_add(&w.g0, dw, one, unew);
                if method == Method::LambaEm {
                    if let Some(delta) = delta {
                        // Lamba (2003) compares the drift and diffusion at both ends of the step:
                        // h/2 (f(ū) − f(u)) and ½ (g(ū) − g(u)) ξ. Lamba uses the realised ΔW for ξ
                        // and ū = u'; that makes accepting a step depend on its own increment, which
                        // biases Euler–Maruyama (Gaines & Lyons, SIAM J. Appl. Math. 57, 1997; we
                        // measured a 10% error on GBM). Here ū = u + f h + g √h and ξ = √h, so the
                        // step size is chosen from the past only and the path is still replayed.
                        let sq = h.sqrt();
                        w.chi.iter_mut().for_each(|x| *x = sq);
                        for i in 0..n {
                            w.ubar[i] = u[i] + h * w.f0[i];
                        }
                        noise.apply_add(&w.g0, &w.chi, one, &mut w.ubar);
                        sys.drift(t + h, &w.ubar, p, &mut w.f1);
                        sys.diffusion(t + h, &w.ubar, p, &mut w.g1);
                        *nf += 1;
                        for v in w.g1.iter_mut().zip(&w.g0) {
                            *v.0 -= *v.1;
                        }
                        w.err.iter_mut().for_each(|x| *x = R::zero());
                        noise.apply_add(&w.g1, &w.chi, half, &mut w.err);
                        for i in 0..n {
                            w.err[i] =
                                delta * (half * h * (w.f1[i] - w.f0[i])).abs() + w.err[i].abs();
                        }
                        return true;
                    }
                }
                false
            }
            Method::EulerHeun => {
                sys.drift(t, u, p, &mut w.f0);
                sys.diffusion(t, u, p, &mut w.g0);
                for i in 0..n {
                    w.ubar[i] = u[i] + h * w.f0[i];
                }
                noise.apply_add(&w.g0, dw, one, &mut w.ubar);
                sys.drift(t + h, &w.ubar, p, &mut w.f1);
                sys.diffusion(t + h, &w.ubar, p, &mut w.g1);
                *nf += 2;
                for i in 0..n {
                    unew[i] = u[i] + half * h * (w.f0[i] + w.f1[i]);
                }
                noise.apply_add(&w.g0, dw, half, unew);
                noise.apply_add(&w.g1, dw, half, unew);
                false
            }
            Method::Milstein => {
                sys.drift(t, u, p, &mut w.f0);
                sys.diffusion(t, u, p, &mut w.g0);
                *nf += 1;
                let sq = h.sqrt();
                for i in 0..n {
                    w.ubar[i] = u[i] + h * w.f0[i] + w.g0[i] * sq;
                }
                sys.diffusion(t, &w.ubar, p, &mut w.g1);
                for i in 0..n {
                    let dwi = if noise == Noise::Scalar { dw[0] } else { dw[i] };
                    unew[i] = u[i]
                        + h * w.f0[i]
                        + w.g0[i] * dwi
                        + (w.g1[i] - w.g0[i]) / (R::c(2.0) * sq) * (dwi * dwi - h);
                }
                false
            }
            Method::Sriw1 => w.step_sriw1(
                sys,
                SdeStep {
                    t,
                    h,
                    u,
                    p,
                    dw,
                    dz,
                    delta,
                    nf,
                },
                unew,
            ),
            Method::Sra1 => {
                // Rößler SRA1: k1 = h f(u), k2 = h f(u + ¾k1 + (3/2) g(t+h) χ₂),
                // u' = u + k1/3 + 2k2/3 + (g(t) − g(t+h)) χ₂ + g(t+h) ΔW, χ₂ = (ΔW + ΔZ/√3)/2.
                let s3 = R::c(3.0f64.sqrt());
                for ((c, a), b) in w.chi.iter_mut().zip(dw).zip(dz) {
                    *c = (*a + *b / s3) * half;
                }
                let chi2 = &w.chi;
                sys.drift(t, u, p, &mut w.f0);
                sys.diffusion(t, u, p, &mut w.g0);
                sys.diffusion(t + h, u, p, &mut w.g1);
                for i in 0..n {
                    w.ubar[i] = u[i] + R::c(0.75) * h * w.f0[i];
                }
                noise.apply_add(&w.g1, chi2, R::c(1.5), &mut w.ubar);
                sys.drift(t + R::c(0.75) * h, &w.ubar, p, &mut w.f1);
                *nf += 2;
                for i in 0..n {
                    unew[i] = u[i] + h * (w.f0[i] / R::c(3.0) + R::c(2.0) * w.f1[i] / R::c(3.0));
                }
                noise.apply_add(&w.g1, dw, one, unew);
                // E_N = (g(t) − g(t+h)) χ₂.
                for v in w.g0.iter_mut().zip(&w.g1) {
                    *v.0 -= *v.1;
                }
                w.err.iter_mut().for_each(|x| *x = R::zero());
                noise.apply_add(&w.g0, chi2, one, &mut w.err);
                for i in 0..n {
                    unew[i] += w.err[i];
                }
                match delta {
                    Some(delta) => {
                        for i in 0..n {
                            w.err[i] = delta * (h * (w.f0[i] - w.f1[i])).abs() + w.err[i].abs();
                        }
                        true
                    }
                    None => false,
                }
            }
        }
    }

    fn step_sriw1<F: SdeFunction<R>>(
        &mut self,
        sys: &mut F,
        s: SdeStep<'_, R>,
        unew: &mut [R],
    ) -> bool {
        let SdeStep {
            t,
            h,
            u,
            p,
            dw,
            dz,
            delta,
            nf,
        } = s;
        let w = self;
        let n = w.n;
        for i in 0..n {
            let k = if w.noise == Noise::Scalar { 0 } else { i };
            w.dwn[i] = dw[k];
            w.dzn[i] = dz[k];
        }
        let sq = h.sqrt();
        let s3 = R::c(3.0f64.sqrt());
        for s in 0..4 {
            for i in 0..n {
                let chi2 = (w.dwn[i] + w.dzn[i] / s3) * R::c(0.5);
                let (mut a0, mut a1, mut b0, mut b1) = (R::zero(), R::zero(), R::zero(), R::zero());
                for j in 0..s {
                    a0 += w.fs[j][i] * R::c(SRI_A0[s][j]);
                    a1 += w.fs[j][i] * R::c(SRI_A1[s][j]);
                    b0 += w.gs[j][i] * R::c(SRI_B0[s][j]);
                    b1 += w.gs[j][i] * R::c(SRI_B1[s][j]);
                }
                w.h0[s][i] = u[i] + a0 * h + b0 * chi2;
                w.h1[s][i] = u[i] + a1 * h + b1 * sq;
            }
            sys.drift(t + R::c(SRI_C0[s]) * h, &w.h0[s], p, &mut w.fs[s]);
            sys.diffusion(t + R::c(SRI_C1[s]) * h, &w.h1[s], p, &mut w.gs[s]);
            *nf += 1;
        }
        for i in 0..n {
            let dwi = w.dwn[i];
            let chi1 = (dwi * dwi - h) / (R::c(2.0) * sq);
            let chi2 = (dwi + w.dzn[i] / s3) * R::c(0.5);
            let chi3 = (dwi * dwi * dwi - R::c(3.0) * h * dwi) / (R::c(6.0) * h);
            let (mut a, mut b) = (R::zero(), R::zero());
            let mut e2 = R::zero();
            for s in 0..4 {
                a += w.fs[s][i] * R::c(SRI_ALPHA[s]);
                b += w.gs[s][i] * (R::c(SRI_BETA1[s]) * dwi + R::c(SRI_BETA2[s]) * chi1);
                e2 += w.gs[s][i] * (R::c(SRI_BETA3[s]) * chi2 + R::c(SRI_BETA4[s]) * chi3);
            }
            unew[i] = u[i] + a * h + b + e2;
            if let Some(delta) = delta {
                // Rackauckas & Nie (2017): deterministic part from the embedded Euler drift,
                // stochastic part the β₃, β₄ terms.
                w.err[i] = delta * (h * (w.fs[0][i] - w.fs[1][i])).abs() + e2.abs();
            }
        }
        delta.is_some()
    }
}
