//! A delay equation seen as a vector field for one step: the right-hand side with the history
//! lent to it, so the ODE methods step it unchanged.

use crate::function::DdeFunction;
use crate::history::{History, InitialHistory, Reader, Source};
use sciml_core::{DenseOutput, Re, VectorField};

/// The right-hand side `f(u, h, p, t)` with its history bound for one step: what the ODE
/// methods step inside [`crate::MethodOfSteps`]. It borrows the solve's dense output, so it
/// lives only as long as one call of the stepper; it appears in the bounds of
/// [`crate::DdeProblem::solve`] (`M: OdeMethod<DdeField<'h, F>>`), not in user code.
pub struct DdeField<'h, F: DdeFunction> {
    pub(crate) f: &'h mut F,
    pub(crate) initial: &'h mut InitialHistory<F::V, F::P>,
    pub(crate) reader: &'h mut Reader<F::V>,
    pub(crate) dense: Option<&'h DenseOutput<F::V>>,
    pub(crate) scratch: &'h mut F::V,
}

impl<F: DdeFunction> VectorField for DdeField<'_, F> {
    type V = F::V;
    type P = F::P;
    fn dims(&self) -> (usize, usize) {
        self.f.dims()
    }
    #[inline]
    fn rhs(&mut self, t: Re<F::V>, u: &F::V, p: &F::P, du: &mut F::V) {
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
        self.f.rhs(du, u, &mut h, p, t);
    }
}
