//! The interpolating adjoint with a backward method of its own, for stiff problems: the adjoint
//! state `(λ, μ)` packed into one vector so that implicit methods (which solve with dense,
//! sparse or Krylov linear algebra on `Vec` states) can step it.

use super::fields::{eval_forward, InterpolatedAdjoint};
use super::{backward_opts, lift_err, refuse_mass, require_saveat, sweep};
use crate::gradient::{check_cotangents, BackwardResult, ForwardResult, Gradient, Sensitivity};
use crate::InterpolatingTape;
use sciml_core::{DenseMatrix, Error, Jacobian, SolveError, Stats, VectorField, Vjp};
use sciml_ode::{MethodInfo, OdeMethod, OdeProblem, SolveOptions};

/// `y = (λ, μ)` packed, `y' = (−Jᵀλ, −f_pᵀλ)` with `u(t)` from the forward dense output. Its
/// Jacobian is `[[−Jᵀ, 0], [−f_pᵀ, 0]]` (the `f_p` block from `n` VJPs), which is what an implicit
/// backward method needs.
pub struct PackedAdjoint<'a, F: Vjp> {
    inner: InterpolatedAdjoint<'a, F>,
    n: usize,
    lam: Vec<f64>,
    e: Vec<f64>,
    gu: Vec<f64>,
    gp: Vec<f64>,
    jf: DenseMatrix<f64>,
}

impl<F: Vjp<V = Vec<f64>, P = Vec<f64>>> VectorField for PackedAdjoint<'_, F> {
    type V = Vec<f64>;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        let (n, np) = self.inner.f.dims();
        (n + np, np)
    }
    fn rhs(&mut self, t: f64, y: &Vec<f64>, p: &Vec<f64>, dy: &mut Vec<f64>) {
        let n = self.n;
        let a = &mut self.inner;
        eval_forward(a.dense, t, &mut a.u);
        self.lam.copy_from_slice(&y[..n]);
        self.gu.iter_mut().for_each(|x| *x = 0.0);
        self.gp.iter_mut().for_each(|x| *x = 0.0);
        a.f.vjp(t, &a.u, p, &self.lam, &mut self.gu, &mut self.gp);
        for (d, g) in dy[..n].iter_mut().zip(&self.gu) {
            *d = -g;
        }
        for (d, g) in dy[n..].iter_mut().zip(&self.gp) {
            *d = -g;
        }
    }
}

impl<F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian> Jacobian for PackedAdjoint<'_, F> {
    const EXACT: bool = <F as Jacobian>::EXACT && <F as Vjp>::EXACT;
    fn jacobian(&mut self, t: f64, _y: &Vec<f64>, p: &Vec<f64>, j: &mut DenseMatrix<f64>) {
        let n = self.n;
        let a = &mut self.inner;
        eval_forward(a.dense, t, &mut a.u);
        a.f.jacobian(t, &a.u, p, &mut self.jf);
        j.fill_zero();
        for c in 0..n {
            for r in 0..n {
                j[(r, c)] = -self.jf[(c, r)];
            }
            // Column c of the μ rows: −∂(f_pᵀλ)/∂λ_c = −(row c of f_p).
            self.e.iter_mut().for_each(|x| *x = 0.0);
            self.e[c] = 1.0;
            self.gu.iter_mut().for_each(|x| *x = 0.0);
            self.gp.iter_mut().for_each(|x| *x = 0.0);
            a.f.vjp(t, &a.u, p, &self.e, &mut self.gu, &mut self.gp);
            for (k, g) in self.gp.iter().enumerate() {
                j[(n + k, c)] = -g;
            }
        }
    }
}

/// [`crate::InterpolatingAdjoint`] with its own backward method, built by
/// [`crate::InterpolatingAdjoint::with_backward`]: the adjoint of a stiff problem is stiff, so
/// solve it with an implicit method (`Rodas5P`, `KenCarp4`, `Bdf`, ...). The field needs a
/// Jacobian (the adjoint's is `[[−Jᵀ, 0], [−f_pᵀ, 0]]`) and `Vec<f64>` states.
#[derive(Clone, Copy, Debug)]
pub struct InterpolatingAdjointWith<B> {
    /// Recompute the forward solution between save times instead of keeping its dense output.
    pub checkpointing: bool,
    /// The method that solves the adjoint backwards.
    pub backward: B,
}

impl<F, M, B> Sensitivity<F, M> for InterpolatingAdjointWith<B>
where
    F: Vjp<V = Vec<f64>, P = Vec<f64>> + Jacobian,
    M: OdeMethod<F>,
    B: MethodInfo + for<'a> OdeMethod<PackedAdjoint<'a, F>>,
{
    type Tape = InterpolatingTape<Vec<f64>>;

    fn forward(
        &self,
        prob: &mut OdeProblem<F>,
        method: &M,
        opts: &SolveOptions<f64>,
    ) -> ForwardResult<Vec<f64>, InterpolatingTape<Vec<f64>>> {
        require_saveat("InterpolatingAdjoint", opts)?;
        refuse_mass("InterpolatingAdjoint", prob)?;
        if self.checkpointing {
            return Err(Error::Unsupported {
                method: "InterpolatingAdjoint::with_backward",
                what: "recompute the forward solution between saves (checkpointing); keep the \
                       dense output (checkpointing: false) or use GaussAdjoint"
                    .into(),
            }
            .into());
        }
        super::interpolating::forward_tape(false, prob, method, opts)
    }

    fn backward(
        &self,
        prob: &mut OdeProblem<F>,
        _method: &M,
        tape: InterpolatingTape<Vec<f64>>,
        ubar: &[Vec<f64>],
    ) -> BackwardResult<Vec<f64>, Vec<f64>> {
        check_cotangents(ubar, tape.t.len(), prob.u0().len())?;
        let (n, np) = (prob.u0().len(), prob.p().len());
        let mut stats = Stats::default();
        let y = vec![0.0; n + np];
        let segment = |y: Vec<f64>,
                       hi: f64,
                       lo: f64,
                       lo_state: Option<usize>,
                       prob: &mut OdeProblem<F>,
                       stats: &mut Stats|
         -> Result<Vec<f64>, SolveError<Vec<f64>>> {
            let bopts = backward_opts(&tape.opts, lo, n);
            let _ = lo_state;
            let dense = tape.dense.as_ref().ok_or(Error::NoDenseOutput)?;
            let parts = prob.parts_mut();
            let field = PackedAdjoint {
                inner: InterpolatedAdjoint::<F>::new(parts.f, dense, parts.u0, parts.p),
                n,
                lam: vec![0.0; n],
                e: vec![0.0; n],
                gu: vec![0.0; n],
                gp: vec![0.0; np],
                jf: DenseMatrix::zeros(n, n),
            };
            let mut bp = OdeProblem::new(field, y, (hi, lo), parts.p.clone())?;
            let sol = bp.solve(self.backward.clone(), &bopts).map_err(lift_err)?;
            *stats += &sol.stats;
            sol.u.into_iter().last().ok_or(Error::NoDenseOutput.into())
        };
        let tspan = prob.tspan();
        let y = sweep(
            &tape.t,
            tspan,
            y,
            false,
            |y, hi, lo, k| segment(y, hi, lo, k, prob, &mut stats),
            |y, k| {
                for (a, b) in y[..n].iter_mut().zip(&ubar[k]) {
                    *a += b;
                }
            },
        )?;
        Ok(Gradient {
            du0: y[..n].to_vec(),
            dp: y[n..].to_vec(),
            stats,
        })
    }
}
