//! Forward sensitivities: the sensitivity equations solved alongside the state.

use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use sciml_core::{Batch, Jvp, Pair, Real, Solution, SolveError, Stats, VectorField};
use sciml_ode::{OdeProblem, RkMethod, SolveOptions};

/// Forward sensitivities by the augmented system `u' = f(u)`, `S' = (∂f/∂u) S + ∂f/∂p`,
/// `S(0) = [I, 0]`, with `S` the `n × (n + np)` Jacobian of the state with respect to
/// `[u0; p]`, its columns propagated by JVPs. The error norm covers `S` as well (as SciML's
/// `ForwardSensitivity` does), so the mesh differs from a plain solve's; agreement with the
/// adjoints is to tolerance. Cost grows with `n + np`: for small problems.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardSensitivity;

/// What [`ForwardSensitivity`] keeps: `S` at every saved time.
pub struct ForwardSensitivityTape<R> {
    s: Vec<Batch<R>>,
}

/// The augmented field over `(u, S)`, `S` stored as a batch of `n + np` columns of length `n`.
struct Augmented<'a, F: VectorField> {
    f: &'a mut F,
    n: usize,
    np: usize,
    col: F::V,
    out: F::V,
    tmp: F::V,
    unit: F::P,
}

impl<R: Real, F: Jvp<V = Vec<R>, P = Vec<R>>> VectorField for Augmented<'_, F> {
    type V = Pair<Vec<R>, Batch<R>>;
    type P = Vec<R>;
    fn dims(&self) -> (usize, usize) {
        (self.n + self.n * (self.n + self.np), self.np)
    }
    fn rhs(&mut self, t: R, y: &Self::V, p: &Vec<R>, dy: &mut Self::V) {
        self.f.rhs(t, &y.0, p, &mut dy.0);
        for j in 0..self.n + self.np {
            self.col.copy_from_slice(y.1.column(j));
            self.f.jvp_u(t, &y.0, p, &self.col, &mut self.out);
            if j >= self.n {
                self.unit[j - self.n] = R::one();
                self.f.jvp_p(t, &y.0, p, &self.unit, &mut self.tmp);
                self.unit[j - self.n] = R::zero();
                for (o, x) in self.out.iter_mut().zip(&self.tmp) {
                    *o += *x;
                }
            }
            dy.1.column_mut(j).copy_from_slice(&self.out);
        }
    }
}

impl<R: Real, F: Jvp<V = Vec<R>, P = Vec<R>>, M: RkMethod> Sensitivity<F, M>
    for ForwardSensitivity
{
    type Tape = ForwardSensitivityTape<R>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<R>,
    ) -> ForwardResult<Vec<R>, ForwardSensitivityTape<R>> {
        let (n, np) = (prob.u0().len(), prob.p().len());
        let mut s0 = Batch::zeros(n, n + np);
        for i in 0..n {
            s0.column_mut(i)[i] = R::one();
        }
        let parts = prob.parts_mut();
        let field = Augmented {
            f: parts.f,
            n,
            np,
            col: vec![R::zero(); n],
            out: vec![R::zero(); n],
            tmp: vec![R::zero(); n],
            unit: vec![R::zero(); np],
        };
        let mut o = opts.clone();
        o.dense = Some(false);
        if o.tol.rtol_len() != 1 || o.tol.atol_len() != 1 {
            return Err(sciml_core::Error::Unsupported {
                method: "ForwardSensitivity",
                what: "use per-component tolerances (the augmented system has more components)"
                    .into(),
            }
            .into());
        }
        let mut aug = OdeProblem::new(
            field,
            Pair(parts.u0.clone(), s0),
            parts.tspan,
            parts.p.clone(),
        )?;
        let sol = aug.solve(method.clone(), &o).map_err(|e| match e {
            SolveError::Input(e) => SolveError::Input(e),
            // The forward solution so far is the state part of the augmented one.
            SolveError::Failed { code, t, partial } => SolveError::Failed {
                code,
                t,
                partial: Box::new(partial.map_states(|s| s.0)),
            },
        })?;
        let mut u = Vec::with_capacity(sol.len());
        let mut s = Vec::with_capacity(sol.len());
        for y in sol.u {
            u.push(y.0);
            s.push(y.1);
        }
        let out = Solution {
            t: sol.t,
            u,
            stats: sol.stats,
            retcode: sol.retcode,
            dense: None,
        };
        Ok((out, ForwardSensitivityTape { s }))
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        _method: &M,
        tape: ForwardSensitivityTape<R>,
        ubar: &[Vec<R>],
    ) -> BackwardResult<Vec<R>, Vec<R>> {
        let (n, np) = (prob.u0().len(), prob.p().len());
        check_cotangents(ubar, tape.s.len(), n)?;
        let mut g = vec![R::zero(); n + np];
        for (s, b) in tape.s.iter().zip(ubar) {
            for (j, gj) in g.iter_mut().enumerate() {
                *gj += s
                    .column(j)
                    .iter()
                    .zip(b)
                    .fold(R::zero(), |acc, (x, y)| acc + *x * *y);
            }
        }
        let dp = g.split_off(n);
        Ok(Gradient {
            du0: g,
            dp,
            stats: Stats::default(),
        })
    }
}
