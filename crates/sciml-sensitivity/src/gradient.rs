use sciml_core::{Re, Solution, SolveError, State, Stats, VectorField};
use sciml_ode::{MethodInfo, OdeProblem, SolveOptions};

/// The gradients a backward pass returns.
#[derive(Clone, Debug)]
pub struct Gradient<V, P> {
    /// `∂L/∂u0`.
    pub du0: V,
    /// `∂L/∂p`.
    pub dp: P,
    /// Work of the backward pass (RHS evaluations count VJPs and replayed stages too).
    pub stats: Stats,
}

/// What a forward pass returns: the solution and the method's tape.
pub type ForwardResult<V, T> = Result<(Solution<V>, T), SolveError<V>>;

/// What a backward pass returns.
pub type BackwardResult<V, P> = Result<Gradient<V, P>, SolveError<V>>;

/// A sensitivity method: a pullback of the map `(u0, p) ↦ saved states`.
pub trait Sensitivity<F: VectorField, M: MethodInfo> {
    /// What the forward solve keeps for the backward pass.
    type Tape;
    /// Solves `prob` with `method` and `opts` and keeps what the backward pass needs.
    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
    ) -> ForwardResult<F::V, Self::Tape>;
    /// Given `ubar[k] = ∂L/∂u_k` for every saved state `u_k` of the forward solution, returns
    /// `∂L/∂u0` and `∂L/∂p`.
    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: Self::Tape,
        ubar: &[F::V],
    ) -> BackwardResult<F::V, F::P>;

    /// Whether the backward pass evaluates the field's VJPs exactly where the forward solve
    /// evaluated the field (same time, state and parameters), as the discrete adjoint's replay
    /// of the accepted steps does; a field may then keep its forward passes for them (the neural
    /// layers' `forward_memory`). `false` by default: a continuous adjoint evaluates its VJPs
    /// at other points.
    ///
    /// ```
    /// use sciml_core::{ForwardAd, GenericRhs, Scalar};
    /// use sciml_ode::Tsit5;
    /// use sciml_sensitivity::{DiscreteAdjoint, InterpolatingAdjoint, Sensitivity};
    /// struct Decay;
    /// impl GenericRhs for Decay {
    ///     fn dims(&self) -> (usize, usize) { (1, 1) }
    ///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
    ///         du[0] = -p[0] * u[0];
    ///     }
    /// }
    /// fn replays<S: Sensitivity<ForwardAd<Decay>, Tsit5>>(s: &S) -> bool {
    ///     s.reads_forward_evaluations()
    /// }
    /// assert!(replays(&DiscreteAdjoint::default()));
    /// assert!(!replays(&InterpolatingAdjoint::default()));
    /// ```
    fn reads_forward_evaluations(&self) -> bool {
        false
    }

    /// The loss of a solve and its gradient in one call, as `jax.value_and_grad` or Zygote
    /// give it: solves, calls `loss(t, u)` on the saved points, which returns the loss and its
    /// cotangents `∂L/∂u_k` (one per saved state), and pulls them back.
    ///
    /// ```
    /// use sciml_core::{ForwardAd, GenericRhs, Scalar};
    /// use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
    /// use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};
    /// // u' = -p u, L = u(1)²: dL/dp = -2 u(1)², dL/du0 = 2 u(1) e^{-p}.
    /// struct Decay;
    /// impl GenericRhs for Decay {
    ///     fn dims(&self) -> (usize, usize) { (1, 1) }
    ///     fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
    ///         du[0] = -p[0] * u[0];
    ///     }
    /// }
    /// let mut prob = OdeProblem::new(ForwardAd::new(Decay), vec![1.0], (0.0, 1.0), vec![0.5]).unwrap();
    /// let mut opts = SolveOptions::default().saveat(SaveAt::Times(vec![1.0]));
    /// opts.tol = sciml_core::Tolerance::new(1e-10, 1e-12).unwrap();
    /// let (loss, g) = DiscreteAdjoint::default()
    ///     .loss_and_gradient(&mut prob, &Tsit5, &opts, |_t: &[f64], u: &[Vec<f64>]| {
    ///         (u[0][0] * u[0][0], vec![vec![2.0 * u[0][0]]])
    ///     })
    ///     .unwrap();
    /// let u1 = (-0.5f64).exp();
    /// assert!((loss - u1 * u1).abs() < 1e-9);
    /// assert!((g.dp[0] + 2.0 * u1 * u1).abs() < 1e-8);
    /// assert!((g.du0[0] - 2.0 * u1 * u1).abs() < 1e-8);
    /// ```
    #[allow(clippy::type_complexity)]
    fn loss_and_gradient<T, L>(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<Re<F::V>>,
        loss: L,
    ) -> Result<(T, Gradient<F::V, F::P>), SolveError<F::V>>
    where
        L: FnOnce(&[Re<F::V>], &[F::V]) -> (T, Vec<F::V>),
    {
        let (sol, tape) = self.forward(prob, method, opts)?;
        let (value, ubar) = loss(&sol.t, &sol.u);
        let g = self.backward(prob, method, tape, &ubar)?;
        Ok((value, g))
    }
}

/// Checks that there is one cotangent per saved state, each shaped like the state.
pub(crate) fn check_cotangents<V: State>(
    ubar: &[V],
    nsaved: usize,
    n: usize,
) -> Result<(), sciml_core::Error> {
    if ubar.len() != nsaved {
        return Err(sciml_core::Error::DimensionMismatch {
            what: "cotangents (one per saved state)".into(),
            expected: nsaved,
            got: ubar.len(),
        });
    }
    for (k, u) in ubar.iter().enumerate() {
        sciml_core::check_state(format_args!("cotangent {k}"), u, n)?;
    }
    Ok(())
}
