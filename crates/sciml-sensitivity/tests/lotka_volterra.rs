//! SciMLSensitivity's acceptance problem: Lotka–Volterra with p = [1.5, 1, 3, 1], u0 = [1, 1],
//! t in [0, 10], solver tolerance 1e-12. Every method against central finite differences, and the
//! exact methods against each other.
#![allow(clippy::unwrap_used)]

use sciml_ode::{
    ForwardAd, GenericRhs, OdeMethod, OdeProblem, RkMethod, SaveAt, Scalar, SolveOptions, Tsit5,
    Vern9,
};
use sciml_sensitivity::{
    BacksolveAdjoint, Checkpointing, DiscreteAdjoint, ForwardDiffSensitivity, ForwardSensitivity,
    GaussAdjoint, Gradient, InterpolatingAdjoint, QuadratureAdjoint, Sensitivity,
};

#[derive(Clone, Copy)]
struct LotkaVolterra;
impl GenericRhs for LotkaVolterra {
    fn dims(&self) -> (usize, usize) {
        (2, 4)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
        du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
    }
}

const P: [f64; 4] = [1.5, 1.0, 3.0, 1.0];
type Field = ForwardAd<LotkaVolterra>;

fn problem(u0: &[f64], p: &[f64]) -> OdeProblem<Field> {
    OdeProblem::new(
        ForwardAd::new(LotkaVolterra),
        u0.to_vec(),
        (0.0, 10.0),
        p.to_vec(),
    )
    .unwrap()
}

fn opts(times: Vec<f64>) -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerances(1e-12, 1e-12)
        .saveat(SaveAt::Times(times))
}

/// Loss 1: Σ_k Σ_i (2 − u_i(t_k))² / 2 over t = 0:0.5:10. Loss 2: Σ of the solution at 0:0.1:10.
#[derive(Clone, Copy)]
enum Loss {
    Squared,
    Sum,
}

impl Loss {
    fn times(self) -> Vec<f64> {
        match self {
            Loss::Squared => (0..=20).map(|k| 0.5 * k as f64).collect(),
            Loss::Sum => (0..=100).map(|k| 0.1 * k as f64).collect(),
        }
    }
    fn value(self, us: &[Vec<f64>]) -> f64 {
        us.iter()
            .flatten()
            .map(|u| match self {
                Loss::Squared => 0.5 * (2.0 - u).powi(2),
                Loss::Sum => *u,
            })
            .sum()
    }
    fn cotangents(self, us: &[Vec<f64>]) -> Vec<Vec<f64>> {
        us.iter()
            .map(|u| {
                u.iter()
                    .map(|x| match self {
                        Loss::Squared => x - 2.0,
                        Loss::Sum => 1.0,
                    })
                    .collect()
            })
            .collect()
    }
}

fn gradient<S: Sensitivity<Field, M>, M: OdeMethod<Field>>(s: &S, m: &M, loss: Loss) -> Vec<f64> {
    let mut prob = problem(&[1.0, 1.0], &P);
    let (sol, tape) = s.forward(&mut prob, m, &opts(loss.times())).unwrap();
    let ubar = loss.cotangents(&sol.u);
    let Gradient { du0, dp, .. } = s.backward(&mut prob, m, tape, &ubar).unwrap();
    du0.into_iter().chain(dp).collect()
}

/// Central finite differences of the loss in [u0; p], each solve at tolerance 1e-12.
fn finite_differences(loss: Loss) -> Vec<f64> {
    let x0: Vec<f64> = [1.0, 1.0].into_iter().chain(P).collect();
    (0..6)
        .map(|j| {
            let h = 1e-5 * x0[j].abs().max(1.0);
            let eval = |d: f64| {
                let mut x = x0.clone();
                x[j] += d;
                let sol = problem(&x[..2], &x[2..])
                    .solve(Vern9, &opts(loss.times()))
                    .unwrap();
                loss.value(&sol.u)
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        })
        .collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(
        0.0,
        |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
    ) / scale
}

fn check_exact_methods<M: RkMethod>(m: M, loss: Loss) {
    let discrete = gradient(&DiscreteAdjoint::default(), &m, loss);
    let checkpointed = gradient(
        &DiscreteAdjoint {
            checkpointing: Checkpointing::Every(7),
        },
        &m,
        loss,
    );
    let dual = gradient(&ForwardDiffSensitivity, &m, loss);
    let fd = finite_differences(loss);
    eprintln!("discrete {discrete:?}\ndual     {dual:?}\nfd       {fd:?}");
    // Same mesh, same arithmetic up to ordering: rounding only.
    assert!(
        rel(&discrete, &dual) < 1e-12,
        "discrete vs dual: {:e}",
        rel(&discrete, &dual)
    );
    assert!(
        rel(&checkpointed, &discrete) < 1e-13,
        "checkpointing changes nothing: {:e}",
        rel(&checkpointed, &discrete)
    );
    assert!(
        rel(&discrete, &fd) < 1e-5,
        "discrete vs finite differences: {:e}",
        rel(&discrete, &fd)
    );
}

#[test]
fn squared_loss_discrete_adjoint_equals_dual_numbers_tsit5() {
    check_exact_methods(Tsit5, Loss::Squared);
}

#[test]
fn sum_loss_discrete_adjoint_equals_dual_numbers_tsit5() {
    check_exact_methods(Tsit5, Loss::Sum);
}

#[test]
fn squared_loss_discrete_adjoint_equals_dual_numbers_vern9() {
    // Vern9's lazy interpolation stages and f(t1, u1) sit on the reverse path of every save.
    check_exact_methods(Vern9, Loss::Squared);
}

fn check_continuous_methods(loss: Loss) {
    let exact = gradient(&ForwardDiffSensitivity, &Tsit5, loss);
    let fd = finite_differences(loss);
    for (name, g) in [
        (
            "InterpolatingAdjoint",
            gradient(&InterpolatingAdjoint::default(), &Tsit5, loss),
        ),
        (
            "InterpolatingAdjoint (checkpointed)",
            gradient(
                &InterpolatingAdjoint {
                    checkpointing: true,
                    ..Default::default()
                },
                &Tsit5,
                loss,
            ),
        ),
        (
            "BacksolveAdjoint",
            gradient(&BacksolveAdjoint, &Tsit5, loss),
        ),
        (
            "QuadratureAdjoint",
            gradient(&QuadratureAdjoint, &Tsit5, loss),
        ),
        ("GaussAdjoint", gradient(&GaussAdjoint, &Tsit5, loss)),
        (
            "ForwardSensitivity",
            gradient(&ForwardSensitivity, &Tsit5, loss),
        ),
    ] {
        eprintln!(
            "{name}: {g:?}, vs dual {:.1e}, vs fd {:.1e}",
            rel(&g, &exact),
            rel(&g, &fd)
        );
        assert!(
            rel(&g, &exact) < 1e-8,
            "{name} vs dual numbers: {:e}",
            rel(&g, &exact)
        );
        assert!(
            rel(&g, &fd) < 1e-5,
            "{name} vs finite differences: {:e}",
            rel(&g, &fd)
        );
    }
}

#[test]
fn squared_loss_continuous_adjoints_agree_to_tolerance() {
    check_continuous_methods(Loss::Squared);
}

#[test]
fn sum_loss_continuous_adjoints_agree_to_tolerance() {
    check_continuous_methods(Loss::Sum);
}

#[test]
fn backsolve_refuses_dense_and_per_step_saving() {
    let mut prob = problem(&[1.0, 1.0], &P);
    let per_step = SolveOptions::default();
    let e = BacksolveAdjoint
        .forward(&mut prob, &Tsit5, &per_step)
        .err()
        .unwrap();
    assert!(e.to_string().contains("SaveAt::Times"), "{e}");
    let dense = opts(vec![1.0, 2.0]).dense(true);
    let e = BacksolveAdjoint
        .forward(&mut prob, &Tsit5, &dense)
        .err()
        .unwrap();
    assert!(e.to_string().contains("dense"), "{e}");
}

#[test]
fn wrong_cotangents_are_rejected() {
    let mut prob = problem(&[1.0, 1.0], &P);
    let (_, tape) = DiscreteAdjoint::default()
        .forward(&mut prob, &Tsit5, &opts(vec![5.0, 10.0]))
        .unwrap();
    let e = DiscreteAdjoint::default()
        .backward(&mut prob, &Tsit5, tape, &[vec![1.0, 1.0]])
        .err()
        .unwrap();
    assert!(e.to_string().contains("one per saved state"), "{e}");
    let (_, tape) = InterpolatingAdjoint::default()
        .forward(&mut prob, &Tsit5, &opts(vec![10.0]))
        .unwrap();
    let e = InterpolatingAdjoint::default()
        .backward(&mut prob, &Tsit5, tape, &[vec![f64::NAN, 1.0]])
        .err()
        .unwrap();
    assert!(e.to_string().contains("NaN"), "{e}");
}

/// Lotka–Volterra extended by q' = ½ Σ u², so q(10) = ∫_0^10 ½ Σ u² dt.
#[derive(Clone, Copy)]
struct WithIntegral;
impl GenericRhs for WithIntegral {
    fn dims(&self) -> (usize, usize) {
        (3, 4)
    }
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], p: &[S], du: &mut [S], ws: &mut [S]) {
        LotkaVolterra.eval(t, &u[..2], p, &mut du[..2], ws);
        du[2] = (u[0] * u[0] + u[1] * u[1]) * S::cst(0.5);
    }
}

#[test]
fn running_cost_gradient_matches_an_augmented_state() {
    // L = ∫_0^10 ½ Σ u² dt through the running-cost adjoint...
    let adj = InterpolatingAdjoint::default();
    let mut prob = problem(&[1.0, 1.0], &P);
    let (_, tape) = adj.forward(&mut prob, &Tsit5, &opts(vec![10.0])).unwrap();
    let mut dgdu = |_t: f64, u: &Vec<f64>, out: &mut Vec<f64>| {
        out[0] = u[0];
        out[1] = u[1];
    };
    let g = adj
        .backward_with_running_cost(&mut prob, &Tsit5, tape, &[vec![0.0, 0.0]], &mut dgdu)
        .unwrap();
    let got: Vec<f64> = g.du0.iter().chain(&g.dp).copied().collect();
    // ...against dual numbers through the augmented system [u; q] (an independent route).
    let mut aug = OdeProblem::new(
        ForwardAd::new(WithIntegral),
        vec![1.0, 1.0, 0.0],
        (0.0, 10.0),
        P.to_vec(),
    )
    .unwrap();
    let (sol, tape) = ForwardDiffSensitivity
        .forward(&mut aug, &Tsit5, &opts(vec![10.0]))
        .unwrap();
    assert_eq!(sol.len(), 1);
    let ga = ForwardDiffSensitivity
        .backward(&mut aug, &Tsit5, tape, &[vec![0.0, 0.0, 1.0]])
        .unwrap();
    let want: Vec<f64> = ga.du0[..2].iter().chain(&ga.dp).copied().collect();
    eprintln!("running cost: {got:?}\naugmented:    {want:?}");
    assert!(rel(&got, &want) < 1e-8, "{:e}", rel(&got, &want));
}
