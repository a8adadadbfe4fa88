//! The discrete adjoint through Rosenbrock and BDF steps of `M u' = f` (constant mass matrix
//! `M`, singular for the DAEs): against dual numbers through the same solver (the same
//! derivative of the same computed solution, so agreement to rounding) and against central
//! differences of the same mesh replayed with fixed steps (an independent check of that
//! derivative). Non-symmetric `M` catch a missing transpose.
#![allow(clippy::unwrap_used)]

use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, Scalar};
use sciml_ode::problems::RobertsonDae;
use sciml_ode::stiff::{BdfFrozenOrders, BdfNewton};
use sciml_ode::Bdf;
use sciml_ode::{
    OdeMethod, OdeProblem, Rodas4, Rodas5P, Rosenbrock23, SaveAt, SolveOptions, StepVjp,
};
use sciml_sensitivity::{Checkpointing, DiscreteAdjoint, ForwardDiffSensitivity, Sensitivity};
use std::sync::Arc;

/// One mass-matrix problem: field, `M`, span, saves, loss weights per component and the
/// point `x = (u0, p)` the gradient is taken at.
struct Case<G> {
    field: G,
    mass: DenseMatrix<f64>,
    tspan: (f64, f64),
    saves: Vec<f64>,
    weights: Vec<f64>,
    x0: Vec<f64>,
    /// Absolute tolerance (relative: 1e-8).
    atol: f64,
}

impl<G: GenericRhs + Clone> Case<G> {
    fn n(&self) -> usize {
        self.weights.len()
    }

    fn problem(&self, x: &[f64]) -> OdeProblem<ForwardAd<G>> {
        let n = self.n();
        OdeProblem::new(
            ForwardAd::new(self.field.clone()),
            x[..n].to_vec(),
            self.tspan,
            x[n..].to_vec(),
        )
        .unwrap()
        .with_mass_matrix(self.mass.clone())
        .unwrap()
    }

    fn opts(&self) -> SolveOptions<f64> {
        SolveOptions::default()
            .tolerances(1e-8, self.atol)
            .saveat(SaveAt::Times(self.saves.clone()))
    }

    /// L = Σ_k Σ_i w_i u_i(t_k)² and its cotangents.
    fn loss(&self, us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
        let mut l = 0.0;
        let bars = us
            .iter()
            .map(|u| {
                u.iter()
                    .zip(&self.weights)
                    .map(|(ui, w)| {
                        l += w * ui * ui;
                        2.0 * w * ui
                    })
                    .collect()
            })
            .collect();
        (l, bars)
    }

    /// `(∂L/∂u0, ∂L/∂p)` by sensitivity method `s`, and the number of steps taken.
    fn gradient<S, M>(&self, s: &S, m: &M) -> (Vec<f64>, usize)
    where
        S: Sensitivity<ForwardAd<G>, M>,
        M: sciml_ode::MethodInfo,
    {
        let mut prob = self.problem(&self.x0);
        let (sol, tape) = s.forward(&mut prob, m, &self.opts()).unwrap();
        let g = s
            .backward(&mut prob, m, tape, &self.loss(&sol.u).1)
            .unwrap();
        (g.du0.into_iter().chain(g.dp).collect(), sol.stats.accepted)
    }

    /// The adaptive solve's mesh, to be replayed with fixed steps (each step lands on the next
    /// stop), and the orders of its steps (from a multistep method's step records; else empty).
    fn frozen<M: OdeMethod<ForwardAd<G>>>(&self, m: &M) -> (Arc<[usize]>, SolveOptions<f64>) {
        let mut prob = self.problem(&self.x0);
        let mut integ = prob.init(m.clone(), &self.opts()).unwrap();
        integ.record_tape(1, false).unwrap();
        let tape = integ.solve_with_tape().unwrap().1.unwrap();
        let orders = tape
            .steps
            .iter()
            .filter_map(|s| s.memory.as_ref().map(|mem| mem.order))
            .collect();
        let ends: Vec<f64> = tape.steps.iter().map(|s| s.t0 + s.h).collect();
        let mut fixed = self.opts();
        fixed.adaptive = Some(false);
        fixed.dt = Some(10.0 * (self.tspan.1 - self.tspan.0));
        fixed.tstops = ends[..ends.len() - 1].to_vec();
        (orders, fixed)
    }

    /// Central differences of the loss solved by `replay` with the `frozen` options (relative
    /// step 1e-5).
    fn differences<R: OdeMethod<ForwardAd<G>>>(
        &self,
        replay: &R,
        frozen: &SolveOptions<f64>,
    ) -> Vec<f64> {
        let loss_at = |x: &[f64]| {
            self.loss(&self.problem(x).solve(replay.clone(), frozen).unwrap().u)
                .0
        };
        (0..self.x0.len())
            .map(|i| {
                let h = 1e-5 * self.x0[i].abs().max(1e-2);
                let mut xp = self.x0.clone();
                let mut xm = self.x0.clone();
                xp[i] += h;
                xm[i] -= h;
                (loss_at(&xp) - loss_at(&xm)) / (2.0 * h)
            })
            .collect()
    }

    /// Asserts adjoint = dual numbers to `dual_bound` and both = the differences `fd` to
    /// `1e-5`, all relative to the gradient's largest entry; also with checkpoints every 2
    /// steps.
    fn check_against<M>(&self, name: &str, m: M, fd: &[f64], dual_bound: f64)
    where
        M: OdeMethod<ForwardAd<G>>
            + OdeMethod<<ForwardAd<G> as sciml_sensitivity::DualField>::Dual>,
        M: StepVjp<ForwardAd<G>>,
        ForwardAd<G>: sciml_sensitivity::DualField,
    {
        let (adj, steps) = self.gradient(&DiscreteAdjoint::default(), &m);
        let every = DiscreteAdjoint {
            checkpointing: Checkpointing::Every(2),
        };
        let (adj2, _) = self.gradient(&every, &m);
        let (dual, _) = self.gradient(&ForwardDiffSensitivity, &m);
        // `f64::max` drops NaN: check finiteness first, or a NaN gradient would pass.
        for (what, g) in [("adjoint", &adj), ("checkpointed", &adj2), ("dual", &dual)] {
            assert!(g.iter().all(|x| x.is_finite()), "{name}: {what} {g:?}");
        }
        let scale = dual.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
        let dist = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .fold(0.0_f64, |e, (x, y)| e.max((x - y).abs()))
                / scale
        };
        let (e_dual, e_every, e_fd, e_fd_dual) = (
            dist(&adj, &dual),
            dist(&adj2, &dual),
            dist(&adj, fd),
            dist(&dual, fd),
        );
        eprintln!(
            "{name} ({steps} steps): adjoint {adj:?}\n  dual {dual:?}\n  differences {fd:?}\n  \
             adjoint-dual {e_dual:.1e}, checkpointed-dual {e_every:.1e}, adjoint-fd {e_fd:.1e}, \
             dual-fd {e_fd_dual:.1e}"
        );
        assert!(steps >= 5, "{name}: too few steps ({steps}) to test much");
        assert!(e_dual < dual_bound, "{name}: adjoint vs dual {e_dual:e}");
        assert!(
            e_every < dual_bound,
            "{name}: checkpointed vs dual {e_every:e}"
        );
        assert!(e_fd < 1e-5, "{name}: adjoint vs differences {e_fd:e}");
        assert!(
            e_fd_dual < 1e-5,
            "{name}: dual vs differences {e_fd_dual:e}"
        );
    }

    /// [`Case::check_against`] a one-step method, with differences on its frozen mesh.
    fn check<M>(&self, name: &str, m: M)
    where
        M: OdeMethod<ForwardAd<G>>
            + OdeMethod<<ForwardAd<G> as sciml_sensitivity::DualField>::Dual>,
        M: StepVjp<ForwardAd<G>>,
        ForwardAd<G>: sciml_sensitivity::DualField,
    {
        let (_, frozen) = self.frozen(&m);
        let fd = self.differences(&m, &frozen);
        self.check_against(name, m, &fd, 1e-10);
    }

    /// [`Case::check_against`] BDF with its corrector converged to near rounding (what the
    /// adjoint differentiates; dual numbers differentiate the iterations taken), with
    /// differences on its frozen mesh and orders.
    fn check_bdf(&self, name: &str, bdf: Bdf, dual_bound: f64)
    where
        ForwardAd<G>: sciml_sensitivity::DualField,
        Bdf: OdeMethod<<ForwardAd<G> as sciml_sensitivity::DualField>::Dual>,
    {
        let m = bdf.with_newton(BdfNewton {
            kappa: 1e-6,
            max_iter: 30,
        });
        let (orders, frozen) = self.frozen(&m);
        let fd = self.differences(&BdfFrozenOrders::new(m, orders), &frozen);
        self.check_against(name, m, &fd, dual_bound);
    }
}

fn matrix(rows: &[&[f64]]) -> DenseMatrix<f64> {
    let mut m = DenseMatrix::zeros(rows.len(), rows[0].len());
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            m[(i, j)] = *v;
        }
    }
    m
}

/// Robertson's kinetics with the conservation law as the algebraic equation, M = diag(1, 1, 0).
fn robertson() -> Case<RobertsonDae> {
    Case {
        field: RobertsonDae,
        mass: RobertsonDae::mass(),
        tspan: (0.0, 2.0),
        // 2.0 is the last step's end; the others fall inside steps.
        saves: vec![0.05, 0.3, 1.1, 2.0],
        weights: vec![1.0, 1e4, 1.0],
        x0: vec![1.0, 0.0, 0.0, 0.04, 3e7, 1e4],
        atol: 1e-10,
    }
}

/// A linear, time-dependent index-1 DAE with a singular, non-diagonal, non-symmetric `M`:
/// rows 1 and 3 of `M` are equal, so `f3 − f1 = u3 − u1 − p2 cos t = 0` is the constraint.
#[derive(Clone)]
struct SingularLinear;

impl GenericRhs for SingularLinear {
    fn dims(&self) -> (usize, usize) {
        (3, 3)
    }
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        let f1 = -p[0] * u[0] + u[2];
        du[0] = f1;
        du[1] = -p[1] * u[1] + u[0];
        du[2] = f1 + u[2] - u[0] - p[2] * S::from_re(t.cos());
    }
}

fn singular_linear() -> Case<SingularLinear> {
    Case {
        field: SingularLinear,
        mass: matrix(&[&[1.0, 0.5, 0.0], &[0.5, 1.0, 0.0], &[1.0, 0.5, 0.0]]),
        tspan: (0.0, 3.0),
        saves: vec![0.7, 1.9, 3.0],
        weights: vec![1.0, 2.0, 0.5],
        // Consistent start: u3(0) = u1(0) + p2.
        x0: vec![1.0, -0.5, 1.3, 0.8, 1.5, 0.3],
        atol: 1e-10,
    }
}

/// Van der Pol in implicit form with an invertible, non-symmetric `M`: `M u' = M g(u)`, so the
/// solution is Van der Pol's, but every product with `M` in the step (and its transpose in the
/// adjoint) matters.
#[derive(Clone)]
struct ImplicitVdp;

const IMPLICIT_M: [[f64; 2]; 2] = [[2.0, 1.0], [-0.5, 1.5]];

impl GenericRhs for ImplicitVdp {
    fn dims(&self) -> (usize, usize) {
        (2, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        let g0 = u[1];
        let g1 = p[0] * (S::one() - u[0] * u[0]) * u[1] - u[0];
        for (r, row) in IMPLICIT_M.iter().enumerate() {
            du[r] = g0 * S::cst(row[0]) + g1 * S::cst(row[1]);
        }
    }
}

fn implicit_vdp() -> Case<ImplicitVdp> {
    Case {
        field: ImplicitVdp,
        mass: matrix(&[&IMPLICIT_M[0], &IMPLICIT_M[1]]),
        tspan: (0.0, 1.5),
        saves: vec![0.25, 0.9, 1.5],
        weights: vec![1.0, 0.3],
        x0: vec![2.0, 0.0, 3.0],
        atol: 1e-10,
    }
}

#[test]
fn robertson_dae_adjoint_equals_dual_numbers_and_differences() {
    robertson().check("Robertson DAE, Rodas5P", Rodas5P::new());
    robertson().check("Robertson DAE, Rodas4", Rodas4::new());
}

#[test]
fn singular_non_diagonal_mass_adjoint_equals_dual_numbers_and_differences() {
    singular_linear().check("singular linear DAE, Rodas5P", Rodas5P::new());
}

#[test]
fn invertible_non_symmetric_mass_adjoint_equals_dual_numbers_and_differences() {
    implicit_vdp().check("implicit Van der Pol, Rodas5P", Rodas5P::new());
    implicit_vdp().check("implicit Van der Pol, Rosenbrock23", Rosenbrock23::new());
}

#[test]
fn bdf_mass_matrix_adjoint_equals_dual_numbers_and_differences() {
    // Where the corrector equation is solved to rounding (linear: one exact Newton step; Van
    // der Pol: fast convergence) the adjoint of the converged corrector and dual numbers
    // through the iterations agree to rounding.
    singular_linear().check_bdf("singular linear DAE, BDF", Bdf::new(), 1e-10);
    singular_linear().check_bdf("singular linear DAE, NDF", Bdf::ndf(), 1e-10);
    implicit_vdp().check_bdf("implicit Van der Pol, BDF", Bdf::new(), 1e-10);
}

#[test]
fn bdf_mass_matrix_adjoint_on_robertson_is_limited_by_the_newton_iteration() {
    // Dual numbers differentiate the Newton iterations actually taken, whose stopping test sees
    // the values only; the adjoint differentiates the converged corrector. On the Robertson DAE
    // the iteration cannot be run much tighter than κ = 1e-6 tolerance units: the algebraic
    // y3 = 1 − y1 − y2 carries a rounding error ~1e-16, 1e-6 tolerance units at atol = 1e-10,
    // where the iteration stalls (the replayed solves fail); atol = 1e-8 keeps that floor below
    // κ. The two then differ by ~5e-10 of the gradient's size (measured 4.8e-10; NDF 1.7e-9), almost
    // all of it in ∂L/∂y2(0); tighter κ (with looser atol) did not bring it below 1e-10, so it
    // is asserted at 2e-9, with central differences of the frozen mesh checking both to 1e-5.
    let rober = Case {
        atol: 1e-8,
        ..robertson()
    };
    rober.check_bdf("Robertson DAE, BDF", Bdf::new(), 2e-9);
}

#[test]
fn methods_without_a_mass_matrix_reverse_step_are_refused() {
    use sciml_ode::KenCarp4;
    let case = robertson();
    let opts = case.opts();
    let esdirk = DiscreteAdjoint::default()
        .forward(&mut case.problem(&case.x0), &KenCarp4::new(), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(
        esdirk.contains("mass matrix") && esdirk.contains("KenCarp4"),
        "{esdirk}"
    );
}
