use super::fields::BacksolveSystem;
use super::{add_to, backward_opts, lift_err, refuse_mass, require_saveat, solve_segment, sweep};
use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{Error, Pair, Re, State, Stats, Vjp};
use sciml_ode::{OdeProblem, RkMethod, SolveOptions};

/// The continuous adjoint that solves the state backwards together with `(λ, μ)`, keeping
/// nothing of the forward solve but the saved states: least memory, but the backward state
/// solve can be unstable for dissipative systems. At every save time the backward state is reset
/// to the saved forward state (SciML's `BacksolveAdjoint(checkpointing = true)`), which bounds
/// that drift.
///
/// It refuses per-step saving and dense output (it keeps no interpolant): give the save times.
///
/// The same type is the backsolve adjoint of fixed-step SDE solves
/// (`sciml_sensitivity::sde::ContinuousSdeAdjoint`, with the `sde` feature): the state is solved
/// backward with the adjoint on the forward Brownian path, `O(1)` memory in the number of steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BacksolveAdjoint;

/// What [`BacksolveAdjoint`] keeps: the saved times and states.
pub struct BacksolveTape<V: State> {
    t: Vec<Re<V>>,
    u: Vec<V>,
    opts: SolveOptions<Re<V>>,
}

impl<F: Vjp, M: RkMethod> Sensitivity<F, M> for BacksolveAdjoint {
    type Tape = BacksolveTape<F::V>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> ForwardResult<F::V, BacksolveTape<F::V>> {
        require_saveat("BacksolveAdjoint", opts)?;
        refuse_mass("BacksolveAdjoint", prob)?;
        if opts.dense == Some(true) {
            return Err(Error::Unsupported {
                method: "BacksolveAdjoint",
                what: "keep dense output (it recomputes the state backwards); use InterpolatingAdjoint".into(),
            }
            .into());
        }
        let mut o = opts.clone();
        o.dense = Some(false);
        let sol = prob.solve(method.clone(), &o)?;
        let tape = BacksolveTape {
            t: sol.t.clone(),
            u: sol.u.clone(),
            opts: opts.clone(),
        };
        Ok((sol, tape))
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: BacksolveTape<F::V>,
        ubar: &[F::V],
    ) -> BackwardResult<F::V, F::P> {
        check_cotangents(ubar, tape.t.len(), prob.u0().len())?;
        let n = prob.u0().len();
        let mut stats = Stats::default();
        let z = prob.u0().zeros_like();
        let y = Pair(Pair(z.clone(), z.clone()), prob.p().zeros_like());
        let run = |y: Pair<Pair<F::V, F::V>, F::P>,
                   hi: Re<F::V>,
                   lo: Re<F::V>,
                   prob: &mut OdeProblem<F>,
                   stats: &mut Stats| {
            let parts = prob.parts_mut();
            let field = BacksolveSystem {
                f: parts.f,
                gu: z.clone(),
                gp: parts.p.zeros_like(),
                zu: z.clone(),
                zp: parts.p.zeros_like(),
            };
            let bopts = backward_opts(&tape.opts, lo, 2 * n);
            solve_segment(field, y, (hi, lo), parts.p.clone(), method, &bopts, stats)
                .map(|(y, _)| y)
                .map_err(lift_err::<_, F::V>)
        };
        let tspan = prob.tspan();
        let y = sweep(
            &tape.t,
            tspan,
            y,
            false,
            |y, hi, lo, _k| run(y, hi, lo, prob, &mut stats),
            |y, k| {
                // Reset the backward state to the saved forward state (checkpointing).
                y.0 .0.copy_from(&tape.u[k]);
                add_to(&mut y.0 .1, &ubar[k]);
            },
        )?;
        Ok(Gradient {
            du0: y.0 .1,
            dp: y.1,
            stats,
        })
    }
}
