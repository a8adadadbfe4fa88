//! The Jacobian `∂f/∂u` the stiff methods need, with the history frozen: the delayed values
//! are data to the Newton iteration, as in DelayDiffEq (their dependence on the current step's
//! state, for steps longer than a lag, is left to the fixed-point iteration).

use crate::field::DdeField;
use crate::function::DdeFunction;
use crate::history::{History, Source};
use sciml_core::{DenseMatrix, Jacobian, Re, Real, SliceState, State};

/// `∂f/∂u (u, h, p, t)` of a delay equation's right-hand side, the history held fixed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` gives no Jacobian (`DdeJacobian`), which the implicit methods of steps need",
    label = "this delay equation has no `DdeJacobian`",
    note = "wrap it in `sciml_dde::FiniteDiffJacobian::new(..)` (forward differences) or implement `DdeJacobian`"
)]
pub trait DdeJacobian: DdeFunction {
    /// Whether the Jacobian is exact (not finite differences).
    const EXACT: bool;
    /// Writes `∂f/∂u` into `j` (`n × n`).
    fn jacobian(
        &mut self,
        u: &Self::V,
        h: &mut History<'_, Self::V, Self::P>,
        p: &Self::P,
        t: Re<Self::V>,
        j: &mut DenseMatrix<<Self::V as State>::S>,
    );
}

impl<F: DdeJacobian> Jacobian for DdeField<'_, F> {
    const EXACT: bool = F::EXACT;
    fn jacobian(
        &mut self,
        t: Re<F::V>,
        u: &F::V,
        p: &F::P,
        j: &mut DenseMatrix<<F::V as State>::S>,
    ) {
        let mut h = History {
            source: Source::Solve {
                reader: self.reader,
                initial: self.initial,
                dense: self.dense,
                p,
            },
            t,
            scratch: self.scratch,
        };
        self.f.jacobian(u, &mut h, p, t, j);
    }
}

/// Gives any real-valued [`DdeFunction`] a Jacobian by forward differences in `u` (the
/// history frozen), so the stiff methods can step it. `EXACT` is false.
///
/// ```
/// use sciml_dde::{DdeFn, DdeProblem, FiniteDiffJacobian, History, InitialHistory, MethodOfSteps};
/// use sciml_ode::{Rodas5P, SolveOptions};
/// let f = DdeFn::new(1, 0, |du: &mut Vec<f64>, u: &Vec<f64>, h: &mut History<'_, Vec<f64>, Vec<f64>>, _p: &Vec<f64>, t: f64| {
///     du[0] = -50.0 * u[0] + h.value(t - 1.0)[0];
/// });
/// let mut prob = DdeProblem::new(FiniteDiffJacobian::new(f), vec![1.0], InitialHistory::constant(vec![1.0]), (0.0, 2.0), vec![])?
///     .with_lags(vec![1.0])?;
/// let sol = prob.solve(MethodOfSteps::new(<Rodas5P>::new()), &SolveOptions::default())?;
/// assert!(sol.u.last().is_some_and(|u| u[0].is_finite()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FiniteDiffJacobian<F: DdeFunction> {
    f: F,
    u_shift: Option<F::V>,
    f0: Option<F::V>,
    f1: Option<F::V>,
}

impl<F: DdeFunction> FiniteDiffJacobian<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        FiniteDiffJacobian {
            f,
            u_shift: None,
            f0: None,
            f1: None,
        }
    }
}

impl<F: DdeFunction> DdeFunction for FiniteDiffJacobian<F> {
    type V = F::V;
    type P = F::P;
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    #[inline]
    fn rhs(
        &mut self,
        du: &mut F::V,
        u: &F::V,
        h: &mut History<'_, F::V, F::P>,
        p: &F::P,
        t: Re<F::V>,
    ) {
        self.f.rhs(du, u, h, p, t);
    }
}

impl<F, R> DdeJacobian for FiniteDiffJacobian<F>
where
    R: Real,
    F: DdeFunction,
    F::V: SliceState<S = R>,
    R: sciml_core::Scalar<Re = R>,
{
    const EXACT: bool = false;
    fn jacobian(
        &mut self,
        u: &F::V,
        h: &mut History<'_, F::V, F::P>,
        p: &F::P,
        t: R,
        j: &mut DenseMatrix<R>,
    ) {
        let n = u.len();
        let us = self.u_shift.get_or_insert_with(|| u.clone());
        us.copy_from(u);
        let f0 = self.f0.get_or_insert_with(|| u.zeros_like());
        self.f.rhs(f0, u, h, p, t);
        let f1 = self.f1.get_or_insert_with(|| u.zeros_like());
        let sqrt_eps = R::epsilon().sqrt();
        for k in 0..n {
            let x = u.as_slice()[k];
            let d = sqrt_eps * x.abs().max(R::one());
            us.as_mut_slice()[k] = x + d;
            self.f.rhs(f1, us, h, p, t);
            us.as_mut_slice()[k] = x;
            for i in 0..n {
                j[(i, k)] = (f1.as_slice()[i] - f0.as_slice()[i]) / d;
            }
        }
    }
}
