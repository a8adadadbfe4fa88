use super::fields::{ByRef, InterpolatedAdjoint, NoCost};
use super::{add_to, backward_opts, lift_err, refuse_mass, require_saveat, solve_segment, sweep};
use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{DenseOutput, Error, Pair, Re, State, Stats, Vjp};
use sciml_ode::{OdeMethod, OdeProblem, RkMethod, SolveOptions};

/// The adjoint state at a segment's end, or why the segment failed.
type SegmentResult<V, P> = Result<Pair<V, P>, sciml_core::SolveError<V>>;

/// The continuous adjoint with `u(t)` interpolated from the forward solution: from its dense
/// output (memory: every step's stages), or, with `checkpointing`, recomputed segment by segment
/// between save times from the saved states (memory: the saved states; cost: a second forward
/// solve).
///
/// ```
/// use sciml_ode::{ForwardAd, GenericRhs, OdeProblem, SaveAt, Scalar, SolveOptions, Tsit5};
/// use sciml_sensitivity::{InterpolatingAdjoint, Sensitivity};
/// struct Decay;
/// impl GenericRhs for Decay {
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
///         du[0] = -p[0] * u[0];
///     }
/// }
/// let mut prob = OdeProblem::new(ForwardAd::new(Decay), vec![2.0], (0.0, 1.0), vec![0.5]).unwrap();
/// let opts = SolveOptions::default().tolerances(1e-10, 1e-12).saveat(SaveAt::Times(vec![1.0]));
/// let adj = InterpolatingAdjoint::default();
/// let (_sol, tape) = adj.forward(&mut prob, &Tsit5, &opts).unwrap();
/// let g = adj.backward(&mut prob, &Tsit5, tape, &[vec![1.0]]).unwrap();
/// assert!((g.dp[0] + 2.0 * (-0.5_f64).exp()).abs() < 1e-8);
/// ```
///
/// The same type is the interpolating adjoint of fixed-step SDE solves
/// (`sciml_sensitivity::sde::ContinuousSdeAdjoint`, with the `sde` feature), whose forward
/// states are stored at every step or, with [`InterpolatingAdjoint::checkpointed`], every `k`
/// steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterpolatingAdjoint {
    /// Recompute the forward solution between checkpoints instead of keeping it: for ODEs the
    /// checkpoints are the save times (no dense output kept); for SDEs they are every
    /// `checkpoint_every` steps.
    pub checkpointing: bool,
    /// SDEs: the steps between checkpoints when `checkpointing` (required then, at least 1).
    /// ODE solves do not read it: their checkpoints are the save times.
    pub checkpoint_every: Option<usize>,
}

impl InterpolatingAdjoint {
    /// Keeps the forward solution: its dense output (ODEs), or the state at every step (SDEs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Recomputes the forward solution from checkpoints: the save times for ODEs, every `every`
    /// steps for SDEs (`every = 0` is refused when an SDE gradient is asked for), each segment
    /// recomputed on the same Brownian path, so bitwise the stored states.
    pub fn checkpointed(every: usize) -> Self {
        InterpolatingAdjoint {
            checkpointing: true,
            checkpoint_every: Some(every),
        }
    }
}

/// What [`InterpolatingAdjoint`] keeps.
pub struct InterpolatingTape<V: State> {
    pub(crate) dense: Option<DenseOutput<V>>,
    pub(crate) t: Vec<Re<V>>,
    pub(crate) u: Vec<V>,
    pub(crate) opts: SolveOptions<Re<V>>,
}

/// The forward solve of the interpolating adjoints: dense output kept (or, with
/// `checkpointing`, the saved states only).
pub(crate) fn forward_tape<F: Vjp, M: OdeMethod<F>>(
    checkpointing: bool,
    prob: &mut OdeProblem<F>,
    method: &M,
    opts: &SolveOptions<Re<F::V>>,
) -> ForwardResult<F::V, InterpolatingTape<F::V>> {
    let mut o = opts.clone();
    o.dense = Some(!checkpointing || opts.dense == Some(true));
    let mut sol = prob.solve(method.clone(), &o)?;
    let dense = if checkpointing {
        None
    } else if opts.dense == Some(true) {
        sol.dense.clone()
    } else {
        sol.dense.take()
    };
    let tape = InterpolatingTape {
        dense,
        t: sol.t.clone(),
        u: if checkpointing {
            sol.u.clone()
        } else {
            Vec::new()
        },
        opts: opts.clone(),
    };
    Ok((sol, tape))
}

impl<F: Vjp, M: RkMethod> Sensitivity<F, M> for InterpolatingAdjoint {
    type Tape = InterpolatingTape<F::V>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> ForwardResult<F::V, InterpolatingTape<F::V>> {
        require_saveat("InterpolatingAdjoint", opts)?;
        refuse_mass("InterpolatingAdjoint", prob)?;
        forward_tape(self.checkpointing, prob, method, opts)
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: InterpolatingTape<F::V>,
        ubar: &[F::V],
    ) -> BackwardResult<F::V, F::P> {
        self.backward_impl(prob, method, tape, ubar, None::<&mut NoCost<F::V>>)
    }
}

impl InterpolatingAdjoint {
    /// The same adjoint with its own backward method, e.g. an implicit one for stiff problems
    /// (the adjoint of a stiff problem is stiff):
    /// `InterpolatingAdjoint::default().with_backward(Rodas5P::new())`. See
    /// [`super::InterpolatingAdjointWith`].
    pub fn with_backward<B>(self, backward: B) -> super::InterpolatingAdjointWith<B> {
        super::InterpolatingAdjointWith {
            checkpointing: self.checkpointing,
            backward,
        }
    }

    /// The backward pass for a loss with a running cost, `L = Σ_k ℓ_k(u(t_k)) + ∫_{t0}^{t1}
    /// g(t, u) dt`: `ubar` are the cotangents of the saved states as in
    /// [`Sensitivity::backward`], and `dgdu(t, u, out)` writes `∂g/∂u`. The adjoint then solves
    /// `λ' = −(∂f/∂u)ᵀλ − ∂g/∂u` over the whole span. (The value of the integral is the caller's:
    /// e.g. a quadrature of the forward solution, or an extra state `q' = g`.)
    pub fn backward_with_running_cost<F: Vjp, M: RkMethod, G: FnMut(Re<F::V>, &F::V, &mut F::V)>(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: InterpolatingTape<F::V>,
        ubar: &[F::V],
        dgdu: &mut G,
    ) -> BackwardResult<F::V, F::P> {
        self.backward_impl(prob, method, tape, ubar, Some(dgdu))
    }

    fn backward_impl<F: Vjp, M: RkMethod, G: FnMut(Re<F::V>, &F::V, &mut F::V)>(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: InterpolatingTape<F::V>,
        ubar: &[F::V],
        mut running: Option<&mut G>,
    ) -> BackwardResult<F::V, F::P> {
        check_cotangents(ubar, tape.t.len(), prob.u0().len())?;
        let n = prob.u0().len();
        let live = running.is_some();
        let mut stats = Stats::default();
        let y = Pair(prob.u0().zeros_like(), prob.p().zeros_like());
        // Index of the saved state at each segment's lower end (None: the initial state).
        let mut segment = |y: Pair<F::V, F::P>,
                           hi: Re<F::V>,
                           lo: Re<F::V>,
                           lo_state: Option<usize>,
                           prob: &mut OdeProblem<F>,
                           stats: &mut Stats|
         -> SegmentResult<F::V, F::P> {
            let bopts = backward_opts(&tape.opts, lo, n);
            let recomputed;
            let dense = match &tape.dense {
                Some(d) => d,
                None => {
                    let start = match lo_state {
                        Some(k) => tape.u[k].clone(),
                        None => prob.u0().clone(),
                    };
                    let mut fo = tape.opts.clone();
                    fo.saveat = sciml_ode::SaveAt::Times(vec![hi]);
                    fo.save_start = Some(false);
                    fo.dense = Some(true);
                    fo.tstops = Vec::new();
                    let p = prob.p().clone();
                    let mut fp = OdeProblem::new(ByRef(prob.f_mut()), start, (lo, hi), p)?;
                    let sol = fp.solve(method.clone(), &fo).map_err(lift_err)?;
                    *stats += &sol.stats;
                    recomputed = sol.dense.ok_or(Error::NoDenseOutput)?;
                    &recomputed
                }
            };
            let parts = prob.parts_mut();
            let mut field = InterpolatedAdjoint::<F, G>::new(parts.f, dense, parts.u0, parts.p);
            field.running = running.as_deref_mut();
            let (y, _) = solve_segment(field, y, (hi, lo), parts.p.clone(), method, &bopts, stats)
                .map_err(lift_err)?;
            Ok(y)
        };
        let tspan = prob.tspan();
        let y = sweep(
            &tape.t,
            tspan,
            y,
            live,
            |y, hi, lo, k| segment(y, hi, lo, k, prob, &mut stats),
            |y, k| add_to(&mut y.0, &ubar[k]),
        )?;
        Ok(Gradient {
            du0: y.0,
            dp: y.1,
            stats,
        })
    }
}
