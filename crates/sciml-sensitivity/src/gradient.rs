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
        if u.len() != n {
            return Err(sciml_core::Error::DimensionMismatch {
                what: format!("cotangent {k}"),
                expected: n,
                got: u.len(),
            });
        }
        if let Some(index) = u.first_non_finite() {
            return Err(sciml_core::Error::NonFinite {
                what: format!("cotangent {k}"),
                index,
            });
        }
    }
    Ok(())
}
