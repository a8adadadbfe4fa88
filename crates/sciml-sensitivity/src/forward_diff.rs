//! Dual numbers through the solver.

use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{Dual64, ForwardAd, GenericRhs, Scalar, SolveError, Stats, VectorField};
use sciml_ode::{OdeMethod, OdeProblem, SolveOptions};

/// A field over `Vec<f64>` that can be evaluated in dual numbers: what
/// [`ForwardDiffSensitivity`] needs. Implemented for [`ForwardAd`] over any [`GenericRhs`].
pub trait DualField: VectorField<V = Vec<f64>, P = Vec<f64>> {
    /// The same field over `Vec<Dual64>`.
    type Dual: VectorField<V = Vec<Dual64>, P = Vec<Dual64>>;
    /// Builds the dual-valued field.
    fn to_dual(&self) -> Self::Dual;
}

impl<G: GenericRhs + Clone> DualField for ForwardAd<G, f64> {
    type Dual = ForwardAd<G, Dual64>;
    fn to_dual(&self) -> Self::Dual {
        ForwardAd::with_scalar(self.inner().clone())
    }
}

/// Forward-mode sensitivities by solving in dual numbers, one tangent direction per state and
/// parameter (`n + np` dual solves). The dual solve takes exactly the steps of the real one (step
/// control sees value parts only), so this is the exact derivative of the computed solution, as
/// the discrete adjoint is. Cheapest for small problems. A mass matrix (a DAE of index 1 for
/// the Rosenbrock and BDF methods) carries over to the dual solves.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardDiffSensitivity;

/// What [`ForwardDiffSensitivity`] keeps: the options, to repeat the solve in dual numbers.
pub struct ForwardDiffTape {
    opts: SolveOptions<f64>,
    nsaved: usize,
}

impl<F: DualField, M: OdeMethod<F> + OdeMethod<F::Dual>> Sensitivity<F, M>
    for ForwardDiffSensitivity
{
    type Tape = ForwardDiffTape;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<f64>,
    ) -> ForwardResult<Vec<f64>, ForwardDiffTape> {
        let sol = prob.solve(method.clone(), opts)?;
        let nsaved = sol.len();
        Ok((
            sol,
            ForwardDiffTape {
                opts: opts.clone(),
                nsaved,
            },
        ))
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        tape: ForwardDiffTape,
        ubar: &[Vec<f64>],
    ) -> BackwardResult<Vec<f64>, Vec<f64>> {
        let (n, np) = (prob.u0().len(), prob.p().len());
        check_cotangents(ubar, tape.nsaved, n)?;
        let mut du0 = vec![0.0; n];
        let mut dp = vec![0.0; np];
        let mut stats = Stats::default();
        for d in 0..n + np {
            let seed = |i: usize| if i == d { 1.0 } else { 0.0 };
            let u0: Vec<Dual64> = prob
                .u0()
                .iter()
                .enumerate()
                .map(|(i, x)| Dual64::new(*x, seed(i)))
                .collect();
            let p: Vec<Dual64> = prob
                .p()
                .iter()
                .enumerate()
                .map(|(i, x)| Dual64::new(*x, seed(n + i)))
                .collect();
            let mut dprob = OdeProblem::new(prob.f().to_dual(), u0, prob.tspan(), p)?;
            // The mass matrix is constant, so it passes to the dual solve as it is.
            if let Some(mass) = prob.mass() {
                dprob = dprob.with_mass_matrix(mass.clone())?;
            }
            let sol = match dprob.solve(method.clone(), &tape.opts) {
                Ok(s) => s,
                Err(SolveError::Input(e)) => return Err(SolveError::Input(e)),
                Err(SolveError::Failed { code, t, partial }) => {
                    // The solution so far is the value part of the dual one.
                    return Err(SolveError::Failed {
                        code,
                        t,
                        partial: Box::new(
                            partial.map_states(|u| u.iter().map(|x| x.re()).collect::<Vec<f64>>()),
                        ),
                    });
                }
            };
            if sol.len() != tape.nsaved {
                return Err(sciml_core::Error::Unsupported {
                    method: "ForwardDiffSensitivity",
                    what: "reproduce the forward solve's saved points in dual numbers".into(),
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
}
