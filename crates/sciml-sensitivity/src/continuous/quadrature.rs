use super::fields::{InterpolatedAdjoint, LambdaAdjoint};
use super::{add_to, backward_opts, gauss_legendre, lift_err, refuse_mass, require_saveat, sweep};
use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{DenseOutput, Error, Re, Real, Scalar, State, Stats, Vjp};
use sciml_ode::{OdeMethod, OdeProblem, SolveOptions};

/// Gauss–Legendre points per step of the quadrature of `∫ (∂f/∂p)ᵀ λ dt`: exact for polynomials
/// of degree 9, beyond the order of the interpolants it integrates.
pub(crate) const QUAD_POINTS: usize = 5;

/// The continuous adjoint that solves only `λ` backwards (`u(t)` from the forward dense output)
/// and then computes `∂L/∂p = ∫ (∂f/∂p)ᵀ λ dt` by Gauss–Legendre quadrature over the steps of
/// `λ`'s own dense output. The backward solve carries `n` components instead of `n + np`: the
/// method of choice when parameters far outnumber states.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuadratureAdjoint;

/// What [`QuadratureAdjoint`] keeps: the forward dense output.
pub struct QuadratureTape<V: State> {
    pub(crate) dense: DenseOutput<V>,
    pub(crate) t: Vec<Re<V>>,
    pub(crate) opts: SolveOptions<Re<V>>,
}

/// The forward solve both quadrature adjoints share: dense output kept for the backward pass.
pub(crate) fn forward_dense<F: Vjp, M: OdeMethod<F>>(
    name: &'static str,
    prob: &mut OdeProblem<F>,
    method: &M,
    opts: &SolveOptions<Re<F::V>>,
) -> ForwardResult<F::V, QuadratureTape<F::V>> {
    require_saveat(name, opts)?;
    refuse_mass(name, prob)?;
    let mut o = opts.clone();
    o.dense = Some(true);
    let mut sol = prob.solve(method.clone(), &o)?;
    let dense = if opts.dense == Some(true) {
        sol.dense.clone()
    } else {
        sol.dense.take()
    }
    .ok_or(Error::NoDenseOutput)?;
    let tape = QuadratureTape {
        dense,
        t: sol.t.clone(),
        opts: opts.clone(),
    };
    Ok((sol, tape))
}

impl<F, M> Sensitivity<F, M> for QuadratureAdjoint
where
    F: Vjp,
    M: OdeMethod<F> + for<'a> OdeMethod<LambdaAdjoint<'a, F>>,
{
    type Tape = QuadratureTape<F::V>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> ForwardResult<F::V, QuadratureTape<F::V>> {
        forward_dense("QuadratureAdjoint", prob, method, opts)
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: QuadratureTape<F::V>,
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
            let parts = prob.parts_mut();
            let p = parts.p;
            let field = LambdaAdjoint {
                inner: InterpolatedAdjoint::<F>::new(parts.f, &tape.dense, parts.u0, p),
            };
            let mut bopts = backward_opts(&tape.opts, lo, n);
            bopts.dense = Some(true);
            let mut bp = OdeProblem::new(field, lam, (hi, lo), p.clone())?;
            let sol = bp.solve(method.clone(), &bopts)?;
            *stats += &sol.stats;
            let dl = sol.dense.as_ref().ok_or(Error::NoDenseOutput)?;
            let a = &mut bp.f_mut().inner;
            let mut l = a.u.zeros_like();
            for seg in dl.segments() {
                let len = (seg.t_end - seg.t0).abs();
                for (x, w) in gx.iter().zip(&gw) {
                    let t = seg.t0 + (seg.t_end - seg.t0) * Re::<F::V>::c(*x);
                    dl.evaluate_to(t, &mut l)?;
                    a.add_fp_lambda(t, &l, p, len * Re::<F::V>::c(*w), mu);
                }
            }
            stats.nf += dl.segments().len() * QUAD_POINTS;
            sol.u.into_iter().last().ok_or(Error::NoDenseOutput.into())
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
