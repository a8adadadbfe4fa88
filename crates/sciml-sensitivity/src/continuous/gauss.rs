use super::fields::{InterpolatedAdjoint, LambdaAdjoint};
use super::quadrature::{forward_dense, QuadratureTape, QUAD_POINTS};
use super::{add_to, backward_opts, gauss_legendre, lift_err, sweep};
use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{Re, Real, Scalar, State, Stats, Vjp};
use sciml_ode::{OdeMethod, OdeProblem, SolveOptions};

/// Like [`super::QuadratureAdjoint`], but the integral `∫ (∂f/∂p)ᵀ λ dt` is accumulated step by
/// step while `λ` is solved (Gauss–Legendre on each accepted step's interpolant), so `λ`'s dense
/// output is never stored (SciML's `GaussAdjoint`).
#[derive(Clone, Copy, Debug, Default)]
pub struct GaussAdjoint;

/// What [`GaussAdjoint`] keeps: the forward dense output.
pub type GaussTape<V> = QuadratureTape<V>;

impl<F, M> Sensitivity<F, M> for GaussAdjoint
where
    F: Vjp,
    M: OdeMethod<F> + for<'a> OdeMethod<LambdaAdjoint<'a, F>>,
{
    type Tape = GaussTape<F::V>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> ForwardResult<F::V, GaussTape<F::V>> {
        forward_dense("GaussAdjoint", prob, method, opts)
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: GaussTape<F::V>,
        ubar: &[F::V],
    ) -> BackwardResult<F::V, F::P> {
        check_cotangents(ubar, tape.t.len(), prob.u0().len())?;
        let n = prob.u0().len();
        let (gx, gw) = gauss_legendre(QUAD_POINTS);
        let mut stats = Stats::default();
        let lam = prob.u0().zeros_like();
        let mut mu = prob.p().zeros_like();
        let segment = |lam: F::V,
                       hi: Re<F::V>,
                       lo: Re<F::V>,
                       mu: &mut F::P,
                       prob: &mut OdeProblem<F>,
                       stats: &mut Stats| {
            let p = prob.p().clone();
            let mut l = prob.u0().zeros_like();
            let parts = prob.parts_mut();
            let field = LambdaAdjoint {
                inner: InterpolatedAdjoint::<F>::new(parts.f, &tape.dense, parts.u0, parts.p),
            };
            let bopts = backward_opts(&tape.opts, lo, n);
            let mut bp = OdeProblem::new(field, lam, (hi, lo), p.clone())?;
            let mut integ = bp.init(method.clone(), &bopts)?;
            let mut nquad = 0;
            while integ.step()? {
                integrate_last_step(&mut integ, (&gx, &gw), &p, &mut l, mu)?;
                nquad += QUAD_POINTS;
            }
            integrate_last_step(&mut integ, (&gx, &gw), &p, &mut l, mu)?;
            nquad += QUAD_POINTS;
            let sol = integ.solve()?;
            *stats += &sol.stats;
            stats.nf += nquad;
            sol.u
                .into_iter()
                .last()
                .ok_or(sciml_core::Error::NoDenseOutput.into())
        };
        let tspan = prob.tspan();
        let lam = sweep(
            &tape.t,
            tspan,
            lam,
            false,
            |lam, hi, lo, _k| segment(lam, hi, lo, &mut mu, prob, &mut stats).map_err(lift_err),
            |lam, k| add_to(lam, &ubar[k]),
        )?;
        Ok(Gradient {
            du0: lam,
            dp: mu,
            stats,
        })
    }
}

/// Adds `∫ (∂f/∂p)ᵀ λ dt` over the step the integrator just took (if any) to `mu`.
fn integrate_last_step<'a, F: Vjp, M: OdeMethod<LambdaAdjoint<'a, F>>>(
    integ: &mut sciml_ode::Integrator<'_, LambdaAdjoint<'a, F>, M>,
    (gx, gw): (&[f64], &[f64]),
    p: &F::P,
    l: &mut F::V,
    mu: &mut F::P,
) -> Result<(), sciml_core::Error> {
    let Some((t0, h)) = integ.last_step() else {
        return Ok(());
    };
    for (x, w) in gx.iter().zip(gw) {
        let t = t0 + h * Re::<F::V>::c(*x);
        integ.interpolate_last_step(t, l)?;
        integ
            .field_mut()
            .inner
            .add_fp_lambda(t, l, p, h.abs() * Re::<F::V>::c(*w), mu);
    }
    Ok(())
}
