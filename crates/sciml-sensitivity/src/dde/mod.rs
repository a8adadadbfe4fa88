//! Gradients of delay-equation solutions: forward mode ([`DdeForwardDiff`], dual numbers through
//! the method of steps of `sciml_dde`, one tangent direction per state component and parameter)
//! and the discrete adjoint ([`DdeDiscreteAdjoint`]).
//!
//! The dual solve takes the steps of the real one (step control, tstops and the fixed-point
//! iteration look at value parts only), and the history reads carry tangents too, so the result
//! is the exact derivative of the computed solution on its mesh (DESIGN decision 7).
//!
//! [`DdeDiscreteAdjoint`] is the reverse-mode counterpart: the exact discrete adjoint through
//! method-of-steps steps of an explicit Runge–Kutta method, cotangents flowing back through the
//! history reads into earlier steps' stages and interpolants. It needs the right-hand side's
//! VJP ([`DdeVjp`]; [`dual_vjp`] gives one from the dual-valued function). Continuous adjoints
//! are not offered for delay equations; see `docs/src/ddes.md`.

mod adjoint;
mod lookup;
mod vjp;

pub use adjoint::{
    DdeAdjointGradient, DdeAdjointInput, DdeDiscreteAdjoint, DdeForwardResult, DdeParts,
    DdeRealProblem, DdeTape,
};
pub use vjp::{dual_vjp, DdeVjp, DdeVjpArgs, DdeVjpBars};

use crate::gradient::Gradient;
use sciml_core::{Dual64, Error, Real, Scalar, Solution, Stats};
use sciml_dde::{DdeError, DdeField, DdeFunction, DdeProblem, InitialHistory, MethodOfSteps};
use sciml_ode::{OdeMethod, SolveOptions};

/// A delay right-hand side over `Vec<f64>` that can be evaluated in dual numbers.
pub trait DualDde: DdeFunction<V = Vec<f64>, P = Vec<f64>> {
    /// The same right-hand side over `Vec<Dual64>`.
    type Dual: DdeFunction<V = Vec<Dual64>, P = Vec<Dual64>>;
    /// Builds the dual-valued right-hand side.
    fn to_dual(&self) -> Self::Dual;
}

/// A history before `t0` that can be evaluated in any scalar with real part `f64`, so that
/// tangents of the parameters flow through it.
pub trait ScalarHistory: Clone + Send + 'static {
    /// Writes `u(t)` for `t < t0` into `out`, given the parameters `p`.
    fn eval<S: Scalar<Re = f64>>(&self, p: &[S], t: f64, out: &mut [S]);
    /// [`ScalarHistory::eval`] in a real scalar `R` (`f32` or `f64`): by default evaluated in
    /// `f64` and rounded (one allocation per call; override it to write in place).
    fn eval_real<R: Real>(&self, p: &[R], t: R, out: &mut [R]) {
        let p64: Vec<f64> = p.iter().map(|x| x.to_f64_lossy()).collect();
        let mut h = vec![0.0; out.len()];
        self.eval(&p64, t.to_f64_lossy(), &mut h);
        for (o, x) in out.iter_mut().zip(&h) {
            *o = R::c(*x);
        }
    }
    /// The length of the states it writes, where known without evaluating it (checked against
    /// the state's length when the problem is built).
    fn state_len(&self) -> Option<usize> {
        None
    }
    /// Whether the history depends on the parameters. `false` lets the discrete adjoint skip
    /// its derivative (one dual evaluation per parameter and read); the default `true` is
    /// always correct.
    fn depends_on_params(&self) -> bool {
        true
    }
}

/// The same state at every time before `t0` (it depends on neither `u0` nor `p`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantHistory(pub Vec<f64>);

impl ScalarHistory for ConstantHistory {
    fn eval<S: Scalar<Re = f64>>(&self, _p: &[S], _t: f64, out: &mut [S]) {
        if out.len() == self.0.len() {
            for (o, x) in out.iter_mut().zip(&self.0) {
                *o = S::cst(*x);
            }
        } else {
            // Unreachable through `DdeForwardDiff::new`, which checks the length; a NaN ends
            // any other solve with `DdeError::HistoryNonFinite` rather than garbage.
            out.iter_mut().for_each(|o| *o = S::cst(f64::NAN));
        }
    }
    fn eval_real<R: Real>(&self, _p: &[R], _t: R, out: &mut [R]) {
        if out.len() == self.0.len() {
            for (o, x) in out.iter_mut().zip(&self.0) {
                *o = R::c(*x);
            }
        } else {
            out.iter_mut().for_each(|o| *o = R::c(f64::NAN));
        }
    }
    fn state_len(&self) -> Option<usize> {
        Some(self.0.len())
    }
    fn depends_on_params(&self) -> bool {
        false
    }
}

/// The history as `sciml_dde` takes it, for one scalar.
fn initial<S: Scalar<Re = f64>, H: ScalarHistory>(h: &H) -> InitialHistory<Vec<S>, Vec<S>> {
    let h = h.clone();
    InitialHistory::function(move |p: &Vec<S>, t: f64, out: &mut Vec<S>| h.eval(p, t, out))
}

/// A delay problem described once and solved in `f64` or in dual numbers: the right-hand side,
/// the start, the parameters, the history, the span and the constant lags. Its gradients are
/// forward mode (`n + np` dual solves): exact for the computed solution, cheapest for few
/// states and parameters.
///
/// ```
/// use sciml_dde::{DdeFunction, History, MethodOfSteps};
/// use sciml_ode::{SaveAt, SolveOptions, Tsit5};
/// use sciml_sensitivity::dde::{ConstantHistory, DdeForwardDiff, DualDde};
/// use sciml_core::{Dual64, Scalar};
/// // u'(t) = -λ u(t - 1), u = 1 before 0, so u(1) = 1 - λ and ∂u(1)/∂λ = -1.
/// #[derive(Clone)]
/// struct Lin<S>(std::marker::PhantomData<S>);
/// impl<S: Scalar<Re = f64>> DdeFunction for Lin<S> {
///     type V = Vec<S>;
///     type P = Vec<S>;
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn rhs(&mut self, du: &mut Vec<S>, _u: &Vec<S>, h: &mut History<'_, Vec<S>, Vec<S>>, p: &Vec<S>, t: f64) {
///         du[0] = -(p[0] * h.value(t - 1.0)[0]);
///     }
/// }
/// impl DualDde for Lin<f64> {
///     type Dual = Lin<Dual64>;
///     fn to_dual(&self) -> Lin<Dual64> { Lin(std::marker::PhantomData) }
/// }
/// let prob = DdeForwardDiff::new(Lin(std::marker::PhantomData), vec![1.0], vec![0.5],
///     ConstantHistory(vec![1.0]), (0.0, 1.0), vec![1.0])?;
/// let opts = SolveOptions::default().saveat(SaveAt::Times(vec![1.0]));
/// let (sol, g) = prob.loss_and_gradient(&MethodOfSteps::new(Tsit5), &opts, |sol| {
///     (sol.u[0][0], vec![vec![1.0]])
/// })?;
/// assert!((sol.u[0][0] - 0.5).abs() < 1e-12 && (g.dp[0] + 1.0).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DdeForwardDiff<F, H> {
    f: F,
    u0: Vec<f64>,
    p: Vec<f64>,
    history: H,
    tspan: (f64, f64),
    lags: Vec<f64>,
}

/// Gradients with respect to `u0` and `p`.
pub type DdeGradient = Gradient<Vec<f64>, Vec<f64>>;

/// The solution the loss was computed from, and the loss's gradient.
pub type DdeLossGradient = (Solution<Vec<f64>>, DdeGradient);

impl<F: DualDde, H: ScalarHistory> DdeForwardDiff<F, H> {
    /// The problem `f` from `u0` at `tspan.0` with parameters `p`, history `history` and
    /// constant lags `lags`. Lengths, lags and the span are checked as `DdeProblem` checks
    /// them (by building it once).
    pub fn new(
        f: F,
        u0: Vec<f64>,
        p: Vec<f64>,
        history: H,
        tspan: (f64, f64),
        lags: Vec<f64>,
    ) -> Result<Self, DdeError<Vec<f64>>> {
        let out = DdeForwardDiff {
            f,
            u0,
            p,
            history,
            tspan,
            lags,
        };
        let (n, _) = out.f.dims();
        if let Some(got) = out.history.state_len().filter(|got| *got != n) {
            return Err(DdeError::HistoryLength { expected: n, got });
        }
        // The history's length is checked where it is first evaluated.
        let mut h0 = vec![0.0; n];
        out.history.eval(&out.p, out.tspan.0, &mut h0);
        if !h0.iter().all(|x| x.is_finite()) {
            return Err(DdeError::HistoryNonFinite { t: out.tspan.0 });
        }
        // Lengths of u0 and p, the span and the lags, checked where `DdeProblem` checks them.
        let lift = |x: &[f64]| x.iter().map(|v| Dual64::constant(*v)).collect::<Vec<_>>();
        out.problem(out.f.to_dual(), lift(&out.u0), lift(&out.p))
            .map_err(real_error)?;
        Ok(out)
    }

    /// The start state.
    pub fn u0(&self) -> &[f64] {
        &self.u0
    }
    /// The parameters.
    pub fn p(&self) -> &[f64] {
        &self.p
    }
    /// Replaces the start state and the parameters (lengths checked).
    pub fn set_u0_p(&mut self, u0: Vec<f64>, p: Vec<f64>) -> Result<(), DdeError<Vec<f64>>> {
        let (n, np) = self.f.dims();
        sciml_core::check_state("u0", &u0, n)?;
        sciml_core::check_state("p", &p, np)?;
        self.u0 = u0;
        self.p = p;
        Ok(())
    }

    fn problem<G: DdeFunction<V = Vec<S>, P = Vec<S>>, S: Scalar<Re = f64>>(
        &self,
        f: G,
        u0: Vec<S>,
        p: Vec<S>,
    ) -> Result<DdeProblem<G>, DdeError<Vec<S>>> {
        // Perturbing `u0` alone makes `u` jump at `t0`; dual numbers see that jump only in
        // their derivative parts, so the solve is told (`assume_jump_at_t0`), in both scalars
        // so that they take the same steps.
        Ok(
            DdeProblem::new(f, u0, initial::<S, H>(&self.history), self.tspan, p)?
                .with_lags(self.lags.clone())?
                .assume_jump_at_t0(),
        )
    }

    /// Solves in `f64`.
    pub fn solve<M, C>(
        &self,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<f64>,
    ) -> Result<Solution<Vec<f64>>, DdeError<Vec<f64>>>
    where
        F: Clone,
        M: Clone + for<'h> OdeMethod<DdeField<'h, F>, Cache = C>,
        C: Clone + Send,
    {
        let mut prob = self.problem(self.f.clone(), self.u0.clone(), self.p.clone())?;
        prob.solve(alg.clone(), opts)
    }

    /// The gradient of `Σₖ ubar[k] · u(tₖ)` over the saved states `u(tₖ)` with respect to
    /// `u0` and `p`, by `n + np` dual solves.
    pub fn gradient<M, C>(
        &self,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<f64>,
        ubar: &[Vec<f64>],
    ) -> Result<DdeGradient, DdeError<Vec<f64>>>
    where
        M: Clone + for<'h> OdeMethod<DdeField<'h, F::Dual>, Cache = C>,
        C: Clone + Send,
    {
        let (n, np) = (self.u0.len(), self.p.len());
        if let Some(b) = ubar.iter().find(|b| b.len() != n) {
            return Err(Error::DimensionMismatch {
                what: "a cotangent of a saved state".into(),
                expected: n,
                got: b.len(),
            }
            .into());
        }
        let mut du0 = vec![0.0; n];
        let mut dp = vec![0.0; np];
        let mut stats = Stats::default();
        for d in 0..n + np {
            let seed = |i: usize, x: f64| Dual64::new(x, if i == d { 1.0 } else { 0.0 });
            let u0 = self.u0.iter().enumerate().map(|(i, x)| seed(i, *x));
            let p = self.p.iter().enumerate().map(|(i, x)| seed(n + i, *x));
            let mut prob = self
                .problem(self.f.to_dual(), u0.collect(), p.collect())
                .map_err(real_error)?;
            let sol = prob.solve(alg.clone(), opts).map_err(real_error)?;
            if sol.len() != ubar.len() {
                return Err(Error::DimensionMismatch {
                    what: "cotangents (one per saved state)".into(),
                    expected: sol.len(),
                    got: ubar.len(),
                }
                .into());
            }
            let g: f64 = sol
                .u
                .iter()
                .zip(ubar)
                .map(|(u, b)| u.iter().zip(b).map(|(x, y)| x.eps() * y).sum::<f64>())
                .sum();
            if d < n {
                du0[d] = g;
            } else {
                dp[d - n] = g;
            }
            stats += &sol.stats;
        }
        Ok(Gradient { du0, dp, stats })
    }

    /// Solves in `f64`, evaluates `loss` on the solution (it returns the loss's cotangents of
    /// the saved states, one per save) and returns the solution with the loss's gradient.
    pub fn loss_and_gradient<M, C, CD>(
        &self,
        alg: &MethodOfSteps<M>,
        opts: &SolveOptions<f64>,
        loss: impl FnOnce(&Solution<Vec<f64>>) -> (f64, Vec<Vec<f64>>),
    ) -> Result<DdeLossGradient, DdeError<Vec<f64>>>
    where
        F: Clone,
        M: Clone
            + for<'h> OdeMethod<DdeField<'h, F>, Cache = C>
            + for<'h> OdeMethod<DdeField<'h, F::Dual>, Cache = CD>,
        C: Clone + Send,
        CD: Clone + Send,
    {
        let sol = self.solve(alg, opts)?;
        let (_, ubar) = loss(&sol);
        let g = self.gradient(alg, opts, &ubar)?;
        Ok((sol, g))
    }
}

/// A dual solve's error with its partial solution reduced to value parts.
fn real_error(e: DdeError<Vec<Dual64>>) -> DdeError<Vec<f64>> {
    let re = |s: Box<Solution<Vec<Dual64>>>| {
        Box::new(s.map_states(|u| u.iter().map(|x| x.re()).collect::<Vec<f64>>()))
    };
    match e {
        DdeError::Input(e) => DdeError::Input(e),
        DdeError::InvalidLag { index, value } => DdeError::InvalidLag { index, value },
        DdeError::HistoryLength { expected, got } => DdeError::HistoryLength { expected, got },
        DdeError::HistoryNonFinite { t } => DdeError::HistoryNonFinite { t },
        DdeError::LagNotPositive {
            index,
            t,
            value,
            partial,
        } => DdeError::LagNotPositive {
            index,
            t,
            value,
            partial: re(partial),
        },
        DdeError::FutureHistory { t, query, partial } => DdeError::FutureHistory {
            t,
            query,
            partial: re(partial),
        },
        DdeError::HistoryDropped { t, query, partial } => DdeError::HistoryDropped {
            t,
            query,
            partial: re(partial),
        },
        DdeError::FixedPointNotConverged {
            t,
            iterations,
            code,
            partial,
        } => DdeError::FixedPointNotConverged {
            t,
            iterations,
            code,
            partial: re(partial),
        },
        DdeError::Solve(sciml_core::SolveError::Input(e)) => DdeError::Input(e),
        DdeError::Solve(sciml_core::SolveError::Failed { code, t, partial }) => {
            DdeError::Solve(sciml_core::SolveError::Failed {
                code,
                t,
                partial: re(partial),
            })
        }
        other => DdeError::Input(Error::Unsupported {
            method: "DdeForwardDiff",
            what: format!("report this dual-number solve failure: {other}"),
        }),
    }
}
