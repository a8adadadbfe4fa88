//! The discrete adjoint of delay equations (`DdeDiscreteAdjoint`) against dual numbers through
//! the same solve (equal to rounding, DESIGN decision 7), central differences, and the exact
//! solution of u'(t) = -p u(t-1) by the method of steps.
#![allow(clippy::ptr_arg)]

use sciml_core::{Dual64, Error, Scalar};
use sciml_dde::{DdeError, DdeFunction, History, MethodOfSteps};
use sciml_ode::{Bs3, Dp5, OdeMethod, RkMethod, SaveAt, SolveOptions, Tsit5, Vern9};
use sciml_sensitivity::dde::{
    dual_vjp, ConstantHistory, DdeDiscreteAdjoint, DdeForwardDiff, DdeVjp, DdeVjpArgs, DdeVjpBars,
    DualDde, ScalarHistory,
};
use std::marker::PhantomData;

/// u'(t) = -p u(t - 1).
#[derive(Clone)]
struct Linear<S>(PhantomData<S>);

impl<S: Scalar<Re = f64>> DdeFunction for Linear<S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (1, 1)
    }
    fn rhs(
        &mut self,
        du: &mut Vec<S>,
        _u: &Vec<S>,
        h: &mut History<'_, Vec<S>, Vec<S>>,
        p: &Vec<S>,
        t: f64,
    ) {
        du[0] = -(p[0] * h.value(t - 1.0)[0]);
    }
}

impl DualDde for Linear<f64> {
    type Dual = Linear<Dual64>;
    fn to_dual(&self) -> Linear<Dual64> {
        Linear(PhantomData)
    }
}

impl DdeVjp for Linear<f64> {
    fn vjp(&mut self, a: DdeVjpArgs<'_>, b: DdeVjpBars<'_>) -> Result<(), Error> {
        dual_vjp(&mut self.to_dual(), a, b)
    }
}

const TAU1: f64 = 0.3;
const TAU2: f64 = 0.7;

/// u1' = -p0 u1(t-τ1) + p1 u2(t-τ2),  u2' = -p2 u2 + p3 u1(t-τ2) u2(t-τ1).
#[derive(Clone)]
struct TwoLags<S>(PhantomData<S>);

impl<S: Scalar<Re = f64>> DdeFunction for TwoLags<S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (2, 4)
    }
    fn rhs(
        &mut self,
        du: &mut Vec<S>,
        u: &Vec<S>,
        h: &mut History<'_, Vec<S>, Vec<S>>,
        p: &Vec<S>,
        t: f64,
    ) {
        let a = h.value(t - TAU1).clone();
        let b = h.value(t - TAU2).clone();
        du[0] = -(p[0] * a[0]) + p[1] * b[1];
        du[1] = -(p[2] * u[1]) + p[3] * b[0] * a[1];
    }
}

impl DualDde for TwoLags<f64> {
    type Dual = TwoLags<Dual64>;
    fn to_dual(&self) -> TwoLags<Dual64> {
        TwoLags(PhantomData)
    }
}

impl DdeVjp for TwoLags<f64> {
    fn vjp(&mut self, a: DdeVjpArgs<'_>, b: DdeVjpBars<'_>) -> Result<(), Error> {
        dual_vjp(&mut self.to_dual(), a, b)
    }
}

/// u(t) = [cos(p0 t), 1 + p1 t / 4] before 0: the parameters' cotangents flow through it.
#[derive(Clone)]
struct Hist;

impl ScalarHistory for Hist {
    fn eval<S: Scalar<Re = f64>>(&self, p: &[S], t: f64, out: &mut [S]) {
        out[0] = (p[0] * S::cst(t)).cos();
        out[1] = S::cst(1.0) + p[1] * S::cst(t / 4.0);
    }
}

const U0: [f64; 2] = [1.0, 0.5];
const P: [f64; 4] = [1.3, 0.6, 0.4, 0.9];
/// Saves inside steps and at the end.
const SAVES: [f64; 3] = [0.55, 1.63, 3.0];

fn two_lags(u0: &[f64], p: &[f64]) -> DdeForwardDiff<TwoLags<f64>, Hist> {
    DdeForwardDiff::new(
        TwoLags(PhantomData),
        u0.to_vec(),
        p.to_vec(),
        Hist,
        (0.0, 3.0),
        vec![TAU1, TAU2],
    )
    .expect("valid problem")
}

/// L = Σ_k Σ_i w_i u_i(t_k)², weights so that both components matter.
fn loss(us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let w = [1.0, 2.0];
    let l = us
        .iter()
        .map(|u| u.iter().zip(w).map(|(x, wi)| wi * x * x).sum::<f64>())
        .sum();
    let bar = us
        .iter()
        .map(|u| u.iter().zip(w).map(|(x, wi)| 2.0 * wi * x).collect())
        .collect();
    (l, bar)
}

fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) -> f64 {
    let mut worst: f64 = 0.0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let e = (x - y).abs() / y.abs().max(1.0);
        worst = worst.max(e);
        assert!(
            e <= tol,
            "{what}[{i}]: {x} vs {y} (error {e:.2e} > {tol:.0e})"
        );
    }
    worst
}

/// The adjoint and dual numbers on the same solve (the adjoint's forward caps steps at the
/// smallest lag; the dual solve is given that cap too, so both take the same mesh).
fn adjoint_equals_dual<M, C, CD>(method: M, opts: &SolveOptions<f64>)
where
    M: RkMethod
        + for<'h> OdeMethod<sciml_dde::DdeField<'h, TwoLags<f64>>, Cache = C>
        + for<'h> OdeMethod<sciml_dde::DdeField<'h, TwoLags<Dual64>>, Cache = CD>,
    C: Clone + Send,
    CD: Clone + Send,
{
    let prob = two_lags(&U0, &P);
    let alg = MethodOfSteps::new(method);
    let adj = DdeDiscreteAdjoint;
    let (sol, g) = adj
        .loss_and_gradient(&prob, &alg, opts, |s| loss(&s.u))
        .expect("adjoint");
    assert_eq!(sol.t, SAVES.to_vec());
    let (_, ubar) = loss(&sol.u);
    let fd = prob
        .gradient(&alg, &opts.clone().dtmax(TAU1), &ubar)
        .expect("dual");
    let name = alg.method().tableau().name;
    let e0 = assert_close(&format!("{name} du0"), &g.du0, &fd.du0, 1e-10);
    let e1 = assert_close(&format!("{name} dp"), &g.dp, &fd.dp, 1e-10);
    eprintln!("{name}: |adjoint - dual| <= {:.1e}", e0.max(e1));
    // Every parameter matters (p0 and p1 through the history too).
    assert!(g.dp.iter().all(|x| x.abs() > 1e-3), "{:?}", g.dp);
}

fn saves() -> SolveOptions<f64> {
    SolveOptions::default().saveat(SaveAt::Times(SAVES.to_vec()))
}

#[test]
fn two_lags_adjoint_equals_dual_numbers_for_four_methods() {
    adjoint_equals_dual(Tsit5, &saves().tolerances(1e-8, 1e-10));
    adjoint_equals_dual(Bs3, &saves().tolerances(1e-6, 1e-8));
    adjoint_equals_dual(Dp5, &saves().tolerances(1e-8, 1e-10));
    // Vern9's lazy interpolation stages read the history too.
    adjoint_equals_dual(Vern9, &saves().tolerances(1e-10, 1e-12));
    // Fixed steps shorter than both lags.
    adjoint_equals_dual(Tsit5, &saves().fixed_step(0.1));
}

#[test]
fn two_lags_adjoint_matches_central_differences() {
    let opts = saves().tolerances(1e-12, 1e-14);
    let alg = MethodOfSteps::new(Vern9);
    let adj = DdeDiscreteAdjoint;
    let (_, g) = adj
        .loss_and_gradient(&two_lags(&U0, &P), &alg, &opts, |s| loss(&s.u))
        .expect("adjoint");
    let at = |u0: &[f64], p: &[f64]| {
        let (sol, _) = adj.forward(&two_lags(u0, p), &alg, &opts).expect("solves");
        loss(&sol.u).0
    };
    let d = 1e-5;
    let central = |i: usize| {
        let (mut up, mut dn) = ([U0.as_slice(), &P].concat(), [U0.as_slice(), &P].concat());
        up[i] += d;
        dn[i] -= d;
        (at(&up[..2], &up[2..]) - at(&dn[..2], &dn[2..])) / (2.0 * d)
    };
    let fd: Vec<f64> = (0..6).map(central).collect();
    let e0 = assert_close("du0", &g.du0, &fd[..2], 1e-5);
    let e1 = assert_close("dp", &g.dp, &fd[2..], 1e-5);
    eprintln!("|adjoint - central| <= {:.1e}", e0.max(e1));
}

#[test]
fn on_a_fixed_mesh_the_adjoint_is_the_derivative_of_the_computed_solution() {
    // Coarse fixed steps of 0.1: perturbed solves take the same mesh, so central differences
    // of coarse solves are the derivative of the computed solution to the differences' own
    // error, far below the coarse solution's error.
    let opts = saves().fixed_step(0.1);
    let alg = MethodOfSteps::new(Tsit5);
    let adj = DdeDiscreteAdjoint;
    let (_, g) = adj
        .loss_and_gradient(&two_lags(&U0, &P), &alg, &opts, |s| loss(&s.u))
        .expect("adjoint");
    let at = |x: &[f64]| {
        let (sol, _) = adj
            .forward(&two_lags(&x[..2], &x[2..]), &alg, &opts)
            .expect("solves");
        loss(&sol.u).0
    };
    let x0 = [U0.as_slice(), &P].concat();
    let d = 1e-6;
    let fd: Vec<f64> = (0..6)
        .map(|i| {
            let (mut up, mut dn) = (x0.clone(), x0.clone());
            up[i] += d;
            dn[i] -= d;
            (at(&up) - at(&dn)) / (2.0 * d)
        })
        .collect();
    assert_close("du0", &g.du0, &fd[..2], 1e-8);
    assert_close("dp", &g.dp, &fd[2..], 1e-8);
}

/// u'(t) = -p u(t-1), u = 1 before 0, u(0) = u0 (a jump when u0 ≠ 1): by the method of steps
/// u = u0 - p t on [0, 1] and u(t) = u0 - p - p u0 (t-1) + p² (t-1)²/2 on [1, 2], so
/// ∂u(2)/∂p = -1 - u0 + p and ∂u(2)/∂u0 = 1 - p; u(1.5) = u0 - p - p u0/2 + p²/8, so
/// ∂u(1.5)/∂p = -1 - u0/2 + p/4 and ∂u(1.5)/∂u0 = 1 - p/2.
#[test]
fn linear_delay_adjoint_matches_the_exact_derivative() {
    let (u0, p) = (1.0, 0.5);
    let prob = DdeForwardDiff::new(
        Linear(PhantomData),
        vec![u0],
        vec![p],
        ConstantHistory(vec![1.0]),
        (0.0, 2.0),
        vec![1.0],
    )
    .expect("valid");
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Times(vec![1.5, 2.0]));
    let ones = |s: &sciml_core::Solution<Vec<f64>>| (0.0, vec![vec![1.0]; s.len()]);
    let capped = opts.clone().dtmax(1.0);
    let tsit5 = MethodOfSteps::new(Tsit5);
    let bs3 = MethodOfSteps::new(Bs3);
    let (st, gt) = DdeDiscreteAdjoint
        .loss_and_gradient(&prob, &tsit5, &opts, ones)
        .expect("tsit5");
    let (sb, gb) = DdeDiscreteAdjoint
        .loss_and_gradient(&prob, &bs3, &opts, ones)
        .expect("bs3");
    // Dual numbers on the same mesh.
    let dt = prob
        .gradient(&tsit5, &capped, &[vec![1.0], vec![1.0]])
        .expect("dual");
    let db = prob
        .gradient(&bs3, &capped, &[vec![1.0], vec![1.0]])
        .expect("dual");
    for (name, g, d) in [("Tsit5", &gt, &dt), ("Bs3", &gb, &db)] {
        assert_close(&format!("{name} dual dp"), &g.dp, &d.dp, 1e-10);
        assert_close(&format!("{name} dual du0"), &g.du0, &d.du0, 1e-10);
    }
    for (name, g, sol) in [("Tsit5", gt, st), ("Bs3", gb, sb)] {
        // The solution is piecewise quadratic with its breaks on the tracked tstops: both
        // methods (orders 5 and 3) reproduce it to rounding, and so their derivatives.
        let exact = [
            u0 - p - p * u0 / 2.0 + p * p / 8.0,
            u0 - p - p * u0 + p * p / 2.0,
        ];
        assert_close(
            &format!("{name} u"),
            &[sol.u[0][0], sol.u[1][0]],
            &exact,
            1e-12,
        );
        let dp = (-1.0 - u0 / 2.0 + p / 4.0) + (-1.0 - u0 + p);
        let du0 = (1.0 - p / 2.0) + (1.0 - p);
        assert_close(&format!("{name} dp"), &g.dp, &[dp], 1e-12);
        assert_close(&format!("{name} du0"), &g.du0, &[du0], 1e-12);
    }
}

#[test]
fn bad_cotangents_and_foreign_tapes_are_errors() {
    let prob = two_lags(&U0, &P);
    let alg = MethodOfSteps::new(Tsit5);
    let adj = DdeDiscreteAdjoint;
    let (_, tape) = adj
        .forward(&prob, &alg, &saves().fixed_step(0.1))
        .expect("forward");
    assert!(tape.steps() >= 30);
    let e = adj
        .backward(&prob, &alg, &tape, &[vec![1.0, 0.0]])
        .expect_err("one cotangent for three saves");
    assert!(e.to_string().contains("one per saved state"), "{e}");
    let e = adj
        .backward(&prob, &alg, &tape, &vec![vec![1.0]; 3])
        .expect_err("cotangents of length 1");
    assert!(
        matches!(e, DdeError::Input(Error::DimensionMismatch { .. })),
        "{e}"
    );
    // The tape of another problem (other parameters) or of another method.
    let other = two_lags(&U0, &[1.0, 0.6, 0.4, 0.9]);
    let e = adj
        .backward(&other, &alg, &tape, &vec![vec![1.0, 0.0]; 3])
        .expect_err("foreign tape");
    assert!(matches!(e, DdeError::Input(Error::Replay { .. })), "{e}");
    let e = adj
        .backward(
            &prob,
            &MethodOfSteps::new(Dp5),
            &tape,
            &vec![vec![1.0, 0.0]; 3],
        )
        .expect_err("other method");
    assert!(matches!(e, DdeError::Input(Error::Replay { .. })), "{e}");
    // A solve that forgets its early steps cannot be reversed.
    let e = adj
        .forward(
            &prob,
            &MethodOfSteps::new(Tsit5).history_window(1.0),
            &saves().fixed_step(0.1),
        )
        .expect_err("history window");
    assert!(e.to_string().contains("history_window"), "{e}");
    // A fixed step longer than the smallest lag.
    let e = adj
        .forward(&prob, &alg, &saves().fixed_step(0.5))
        .expect_err("dt 0.5 > lag 0.3");
    assert!(
        matches!(
            e,
            DdeError::Input(Error::InvalidOption { option: "dt", .. })
        ),
        "{e}"
    );
}

/// u' = -u(t - 0.05) declared with a lag of 1: steps longer than 0.05 read inside themselves
/// (resolved by the fixed-point iteration in the forward solve), which the adjoint refuses.
#[derive(Clone)]
struct Undeclared<S>(PhantomData<S>);

impl<S: Scalar<Re = f64>> DdeFunction for Undeclared<S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (1, 1)
    }
    fn rhs(
        &mut self,
        du: &mut Vec<S>,
        _u: &Vec<S>,
        h: &mut History<'_, Vec<S>, Vec<S>>,
        p: &Vec<S>,
        t: f64,
    ) {
        du[0] = -(p[0] * h.value(t - 0.05)[0]);
    }
}

impl DualDde for Undeclared<f64> {
    type Dual = Undeclared<Dual64>;
    fn to_dual(&self) -> Undeclared<Dual64> {
        Undeclared(PhantomData)
    }
}

impl DdeVjp for Undeclared<f64> {
    fn vjp(&mut self, a: DdeVjpArgs<'_>, b: DdeVjpBars<'_>) -> Result<(), Error> {
        dual_vjp(&mut self.to_dual(), a, b)
    }
}

#[test]
fn a_step_that_reads_inside_itself_is_refused() {
    let prob = DdeForwardDiff::new(
        Undeclared(PhantomData),
        vec![1.0],
        vec![1.0],
        ConstantHistory(vec![1.0]),
        (0.0, 2.0),
        vec![1.0],
    )
    .expect("valid");
    let alg = MethodOfSteps::new(Tsit5);
    let opts = SolveOptions::default().fixed_step(0.2);
    let (sol, tape) = DdeDiscreteAdjoint
        .forward(&prob, &alg, &opts)
        .expect("the forward solve iterates");
    let ubar = vec![vec![1.0]; sol.len()];
    let e = DdeDiscreteAdjoint
        .backward(&prob, &alg, &tape, &ubar)
        .expect_err("steps of 0.2 read u(t - 0.05) inside themselves");
    assert!(
        matches!(e, DdeError::Input(Error::Unsupported { .. }))
            && e.to_string().contains("inside its own step"),
        "{e}"
    );
}
