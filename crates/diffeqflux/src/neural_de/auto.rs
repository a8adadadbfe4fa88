//! [`AutoSensitivity`]: SciMLSensitivity's default choice, forward mode for small problems and
//! the exact discrete adjoint otherwise.

use super::NeuralField;
use crate::nn::Layer;
use sciml_core::{Batch, Re, State, Vjp};
use sciml_ode::{OdeMethod, OdeProblem, SolveOptions, StepVjp};
use sciml_sensitivity::{
    BackwardResult, DiscreteAdjoint, DiscreteTape, DualField, ForwardDiffSensitivity,
    ForwardDiffTape, ForwardResult, Sensitivity,
};

/// Forward mode ([`ForwardDiffSensitivity`]) when states plus parameters number at most
/// [`AutoSensitivity::FORWARD_MAX`] (SciMLSensitivity's rule), otherwise the exact discrete
/// adjoint ([`DiscreteAdjoint`]). The choice is made once, by the forward pass, and the tape
/// carries it to the backward pass. A batch solved as one system
/// (`NeuralField<_, Batch<f64>>`) always takes the discrete adjoint.
///
/// ```
/// use diffeqflux::nn::{Activation, Dense};
/// use diffeqflux::{AutoSensitivity, NeuralOde};
/// use sciml_ode::Tsit5;
/// let node = NeuralOde::new(Dense::new(2, 2, Activation::Tanh), (0.0, 1.0), Tsit5, vec![1.0])?
///     .sensitivity(AutoSensitivity); // the default
/// let p = node.init_params(0);
/// let g = node.loss_and_gradient(&[1.0, 0.0], &p, |_t: &[f64], us: &[Vec<f64>]| {
///     (us[0][0], vec![vec![1.0, 0.0]])
/// })?;
/// assert_eq!(g.dp.len(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoSensitivity;

impl AutoSensitivity {
    /// The largest number of states plus parameters differentiated in forward mode.
    pub const FORWARD_MAX: usize = 100;
}

/// The tape of [`AutoSensitivity`]: that of the method it chose.
pub enum AutoTape<V: State> {
    /// Forward mode was chosen.
    ForwardDiff(ForwardDiffTape),
    /// The discrete adjoint was chosen.
    Discrete(DiscreteTape<V>),
}

impl<F, M> Sensitivity<F, M> for AutoSensitivity
where
    F: DualField + Vjp,
    M: StepVjp<F> + OdeMethod<F> + OdeMethod<F::Dual>,
{
    type Tape = AutoTape<Vec<f64>>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<f64>,
    ) -> ForwardResult<Vec<f64>, Self::Tape> {
        if prob.u0().len() + prob.p().len() <= Self::FORWARD_MAX {
            let (sol, tape) = ForwardDiffSensitivity.forward(prob, method, opts)?;
            Ok((sol, AutoTape::ForwardDiff(tape)))
        } else {
            let (sol, tape) = DiscreteAdjoint::default().forward(prob, method, opts)?;
            Ok((sol, AutoTape::Discrete(tape)))
        }
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: Self::Tape,
        ubar: &[Vec<f64>],
    ) -> BackwardResult<Vec<f64>, Vec<f64>> {
        match tape {
            AutoTape::ForwardDiff(t) => ForwardDiffSensitivity.backward(prob, method, t, ubar),
            AutoTape::Discrete(t) => DiscreteAdjoint::default().backward(prob, method, t, ubar),
        }
    }
}

/// A batch solved as one system: the discrete adjoint (forward mode needs single states).
impl<L, M> Sensitivity<NeuralField<L, Batch<f64>>, M> for AutoSensitivity
where
    L: Layer,
    M: StepVjp<NeuralField<L, Batch<f64>>> + OdeMethod<NeuralField<L, Batch<f64>>>,
{
    type Tape = DiscreteTape<Batch<f64>>;

    fn reads_forward_evaluations(&self) -> bool {
        true
    }

    fn forward(
        &self,
        prob: &mut OdeProblem<NeuralField<L, Batch<f64>>>,
        method: &M,
        opts: &SolveOptions<Re<Batch<f64>>>,
    ) -> ForwardResult<Batch<f64>, Self::Tape> {
        DiscreteAdjoint::default().forward(prob, method, opts)
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<NeuralField<L, Batch<f64>>>,
        method: &M,
        tape: Self::Tape,
        ubar: &[Batch<f64>],
    ) -> BackwardResult<Batch<f64>, Vec<f64>> {
        DiscreteAdjoint::default().backward(prob, method, tape, ubar)
    }
}
