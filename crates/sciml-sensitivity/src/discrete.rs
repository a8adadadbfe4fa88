//! The discrete adjoint: reverse through the steps actually taken (Runge–Kutta, Rosenbrock,
//! ESDIRK and, through the history it carries from step to step, BDF).

use crate::continuous::add_to;
use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{Re, State, Stats, Vjp};
use sciml_ode::{OdeMethod, OdeProblem, SolveOptions, StepContext, StepVjp, StepVjpContext, Tape};

/// What the forward solve keeps for the discrete adjoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Checkpointing {
    /// Keep the state at the start of every step and its stage derivatives (memory: about
    /// `stages + 1` states per step; the reverse sweep evaluates only VJPs).
    #[default]
    StoreAll,
    /// Keep every `k`-th step's state and recompute the ones between from it (memory: about
    /// `steps/k + k` states; cost: one extra forward step per step). A multistep method (BDF)
    /// records every step's end state in its step record anyway (`sciml_ode::StepMemory`; a
    /// replay would need its whole history), so its steps are not recomputed and its memory
    /// stays about one state per step.
    Every(usize),
}

/// The exact gradient of the computed solution, by reversing each accepted step (stages
/// recomputed from the step's starting state, saved points inside a step seeding the stage
/// cotangents through the interpolant). Agrees with [`crate::ForwardDiffSensitivity`] to rounding.
/// A constant mass matrix (`M u' = f`, index-1 DAEs in mass-matrix form included) is reversed
/// by the Rosenbrock methods (transposed solves with `Mᵀ − hγJᵀ`) and BDF (`Mᵀ − (h/α)Jᵀ`);
/// `forward` refuses it for the other methods ([`sciml_ode::StepVjp::reverses_mass_matrix`]).
///
/// ```
/// use sciml_ode::{ForwardAd, GenericRhs, OdeProblem, SaveAt, Scalar, SolveOptions, Tsit5};
/// use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -p[0] * u[0];
///     }
/// }
/// let mut prob = OdeProblem::new(ForwardAd::new(Decay), vec![2.0], (0.0, 1.0), vec![0.5]).unwrap();
/// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![1.0]));
/// let (sol, tape) = DiscreteAdjoint::default().forward(&mut prob, &Tsit5, &opts).unwrap();
/// // L = u(1) = 2 e^{-p}: dL/du0 = e^{-p}, dL/dp = -2 e^{-p}
/// let g = DiscreteAdjoint::default().backward(&mut prob, &Tsit5, tape, &[vec![1.0]]).unwrap();
/// assert!((g.du0[0] - (-0.5_f64).exp()).abs() < 1e-9);
/// assert!((g.dp[0] + 2.0 * (-0.5_f64).exp()).abs() < 1e-9);
/// # let _ = sol;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscreteAdjoint {
    /// What the forward solve keeps.
    pub checkpointing: Checkpointing,
}

/// The discrete adjoint's tape: the solver's step records and the solve's options.
pub struct DiscreteTape<V: State> {
    tape: Tape<V>,
    opts: SolveOptions<Re<V>>,
}

impl<F: Vjp, M: StepVjp<F> + OdeMethod<F>> Sensitivity<F, M> for DiscreteAdjoint {
    type Tape = DiscreteTape<F::V>;

    /// The reverse sweep replays the accepted steps' stages: every VJP is at a point of the
    /// forward solve.
    fn reads_forward_evaluations(&self) -> bool {
        true
    }

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> ForwardResult<F::V, DiscreteTape<F::V>> {
        let stride = match self.checkpointing {
            Checkpointing::StoreAll => 1,
            Checkpointing::Every(k) => k,
        };
        if prob.mass().is_some() && !method.reverses_mass_matrix() {
            return Err(sciml_core::Error::Unsupported {
                method: "DiscreteAdjoint",
                what: format!(
                    "reverse {} steps with a mass matrix (the Rosenbrock methods and BDF \
                     do); use one of those, ForwardDiffSensitivity or finite differences",
                    method.name()
                ),
            }
            .into());
        }
        let mut integ = prob.init(method.clone(), opts)?;
        let keep_stages = self.checkpointing == Checkpointing::StoreAll && method.uses_stages();
        integ.record_tape(stride, keep_stages)?;
        let (sol, tape) = integ.solve_with_tape()?;
        let tape = tape.ok_or(sciml_core::Error::Unsupported {
            method: "DiscreteAdjoint",
            what: "run without a tape".into(),
        })?;
        Ok((
            sol,
            DiscreteTape {
                tape,
                opts: opts.clone(),
            },
        ))
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: DiscreteTape<F::V>,
        ubar: &[F::V],
    ) -> BackwardResult<F::V, F::P> {
        let DiscreteTape { tape, opts } = tape;
        check_cotangents(ubar, tape.saves.len(), prob.u0().len())?;
        let nsteps = tape.steps.len();
        // Cotangents landing exactly on a step's end, and interpolated ones inside each step.
        let mut at_end: Vec<Vec<usize>> = vec![Vec::new(); nsteps];
        let mut inside: Vec<Vec<usize>> = vec![Vec::new(); nsteps];
        // Saves of the initial state itself go straight to du0.
        let mut u0bar = prob.u0().zeros_like();
        for (k, rec) in tape.saves.iter().enumerate() {
            match rec.step {
                None => add_to(&mut u0bar, &ubar[k]),
                Some(i) if rec.exact_end => at_end[i].push(k),
                Some(i) => inside[i].push(k),
            }
        }
        let mut lam = prob.u0().zeros_like();
        let mut gp = prob.p().zeros_like();
        let mut stats = Stats::default();
        let mut vjp_cache = method.vjp_cache(prob.u0());
        let mut fwd_cache = method.cache(prob.f(), prob.u0());
        let parts = prob.parts_mut();
        let (f, p, mass) = (parts.f, parts.p, parts.mass);
        // Walk the checkpoint segments backwards; inside one, recompute the states forward.
        let stride = tape.stride.max(1);
        let mut seg_end = nsteps;
        while seg_end > 0 {
            let seg_start = (seg_end - 1) / stride * stride;
            let mut states: Vec<F::V> = Vec::with_capacity(seg_end - seg_start);
            let first = tape.steps[seg_start]
                .u0
                .clone()
                .ok_or(sciml_core::Error::Unsupported {
                    method: "DiscreteAdjoint",
                    what: "find a checkpoint at the start of a segment (corrupt tape)".into(),
                })?;
            states.push(first);
            for i in seg_start..seg_end - 1 {
                let rec = &tape.steps[i];
                if let Some(mem) = &rec.memory {
                    // A multistep method records every step's end state: no replay (its
                    // replay would also need the method's whole history, not just u0).
                    states.push(mem.end.clone());
                    continue;
                }
                let mut next = states[0].zeros_like();
                method.initialize(
                    &mut fwd_cache,
                    f,
                    p,
                    rec.t0,
                    &states[i - seg_start],
                    &mut stats,
                );
                let ctx = StepContext {
                    p,
                    t: rec.t0,
                    h: rec.h,
                    u0: &states[i - seg_start],
                    tol: &opts.tol,
                    mass,
                    stats: &mut stats,
                };
                // The error estimate is not needed (the step is replayed with its recorded
                // size), but a step that cannot be carried out again must not pass silently.
                if let Err(e) = method.try_step(&mut fwd_cache, f, ctx, &mut next) {
                    return Err(sciml_core::Error::Replay {
                        step: i,
                        t: sciml_core::Real::to_f64_lossy(rec.t0),
                        reason: format!("{e:?}"),
                    }
                    .into());
                }
                states.push(next);
            }
            for i in (seg_start..seg_end).rev() {
                for &k in &at_end[i] {
                    add_to(&mut lam, &ubar[k]);
                }
                let rec = &tape.steps[i];
                let saves: Vec<(Re<F::V>, &F::V)> = inside[i]
                    .iter()
                    .map(|&k| (tape.saves[k].theta, &ubar[k]))
                    .collect();
                let ctx = StepVjpContext {
                    p,
                    t: rec.t0,
                    h: rec.h,
                    u0: &states[i - seg_start],
                    saves: &saves,
                    stages: rec.stages.as_deref(),
                    memory: rec.memory.as_ref(),
                    mass,
                    stats: &mut stats,
                };
                method.step_vjp(&mut vjp_cache, f, ctx, &mut lam, &mut gp);
            }
            seg_end = seg_start;
        }
        add_to(&mut u0bar, &lam);
        Ok(Gradient {
            du0: u0bar,
            dp: gp,
            stats,
        })
    }
}
