//! Multiple shooting: DiffEqFlux's window ranges, gradients against central differences for
//! several sensitivity methods, failures reported as an infinite loss, and DiffEqFlux's spiral
//! comparison with single shooting.

use diffeqflux::multiple_shooting::{
    group_ranges, windows_by_count, Continuity, MultipleShooting, ShootingError,
};
use diffeqflux::nn::{Activation, Chain, Dense, ElementwiseFn, Layer, WrappedFunction};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::NeuralOde;
use sciml_core::Scalar;
use sciml_ode::{FnField, OdeProblem, SaveAt, SolveOptions, Tsit5, Vern9};
use sciml_sensitivity::{DiscreteAdjoint, GaussAdjoint, InterpolatingAdjoint};
use std::sync::Arc;

/// DiffEqFlux's stated values (docs of `group_ranges`), 1-based there, 0-based half-open here.
#[test]
fn group_ranges_match_diffeqflux() {
    assert_eq!(group_ranges(10, 4), Ok(vec![0..4, 3..7, 6..10]));
    assert_eq!(group_ranges(10, 5), Ok(vec![0..5, 4..9, 8..10]));
    assert_eq!(group_ranges(10, 10).map(|r| r.len()), Ok(1));
    assert_eq!(group_ranges(3, 2), Ok(vec![0..2, 1..3]));
    for g in [0, 1, 11] {
        assert_eq!(
            group_ranges(10, g),
            Err(ShootingError::GroupSize {
                group_size: g,
                n: 10
            })
        );
    }
    assert_eq!(
        windows_by_count(10, 9),
        Ok((0..9).map(|i| i..i + 2).collect())
    );
    for w in [0, 10, 20] {
        assert_eq!(
            windows_by_count(10, w),
            Err(ShootingError::WindowCount { windows: w, n: 10 })
        );
    }
}

fn small_problem() -> (Vec<f64>, Vec<Vec<f64>>) {
    let t: Vec<f64> = (0..10).map(|i| 0.2 * i as f64).collect();
    let data = t
        .iter()
        .map(|&s| vec![(2.0 * s).cos() * (-0.1 * s).exp(), -(2.0 * s).sin()])
        .collect();
    (t, data)
}

fn small_net() -> Net {
    Chain::new((
        Dense::new(2, 4, Activation::Tanh),
        Dense::new(4, 2, Activation::Identity),
    ))
    .expect("chain")
}

type Net = Chain<(Dense, Dense)>;
type Field = diffeqflux::NeuralField<Net, Vec<f64>>;

/// Central differences of the loss in every parameter and every start.
fn check_against_differences<S>(ms: &MultipleShooting<Net, Tsit5, S, Field>, rel: f64)
where
    S: sciml_sensitivity::Sensitivity<Field, Tsit5> + diffeqflux::multiple_shooting::MaybeSync,
{
    let p: Vec<f64> = (0..small_net().nparams())
        .map(|i| 0.3 * ((i as f64) * 1.7).sin())
        .collect();
    // Starts off the data, so every continuity term is active.
    let starts: Vec<Vec<f64>> = ms
        .data_starts()
        .iter()
        .enumerate()
        .map(|(k, s)| s.iter().map(|x| x + 0.1 * (k as f64 + 1.0)).collect())
        .collect();
    let g = ms.loss_and_gradient(&p, &starts).expect("gradient");
    assert!(g.failure.is_none() && g.continuity_loss > 0.0 && g.data_loss > 0.0);
    let loss = |p: &[f64], s: &[Vec<f64>]| ms.loss_and_gradient(p, s).expect("loss").loss;
    let eps = 1e-6;
    for i in 0..p.len() {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += eps;
        b[i] -= eps;
        let fd = (loss(&a, &starts) - loss(&b, &starts)) / (2.0 * eps);
        assert!(
            (fd - g.dp[i]).abs() <= rel * (1.0 + fd.abs()),
            "p[{i}]: {} vs {fd}",
            g.dp[i]
        );
    }
    for k in 0..starts.len() {
        for j in 0..2 {
            let (mut a, mut b) = (starts.clone(), starts.clone());
            a[k][j] += eps;
            b[k][j] -= eps;
            let fd = (loss(&p, &a) - loss(&p, &b)) / (2.0 * eps);
            let an = g.dstarts[k][j];
            assert!(
                (fd - an).abs() <= rel * (1.0 + fd.abs()),
                "start {k}[{j}]: {an} vs {fd}"
            );
        }
    }
}

#[test]
fn gradient_matches_central_differences_with_the_discrete_adjoint() {
    let (t, data) = small_problem();
    let node = NeuralOde::new(small_net(), (0.0, 1.8), Tsit5, t.clone())
        .expect("node")
        .tolerances(1e-10, 1e-12)
        .sensitivity(DiscreteAdjoint::default());
    // The default continuity (Σ|·|) is smooth away from zero jumps, which the starts avoid.
    let ms = MultipleShooting::new(node, t, data, 4)
        .expect("ms")
        .continuity_term(10.0)
        .expect("term");
    check_against_differences(&ms, 1e-6);
}

#[test]
fn gradient_matches_central_differences_with_continuous_adjoints_and_a_user_continuity_loss() {
    let (t, data) = small_problem();
    // A user continuity loss: Σ w_j (end_j − start_j)² with weights (1, 3).
    let user = Continuity::Custom(Arc::new(|end: &[f64], start: &[f64]| {
        let w = [1.0, 3.0];
        let d: Vec<f64> = end.iter().zip(start).map(|(a, b)| a - b).collect();
        let loss = d.iter().zip(w).map(|(x, w)| w * x * x).sum();
        let de: Vec<f64> = d.iter().zip(w).map(|(x, w)| 2.0 * w * x).collect();
        let ds = de.iter().map(|x| -x).collect();
        (loss, de, ds)
    }));
    let base = NeuralOde::new(small_net(), (0.0, 1.8), Tsit5, t.clone())
        .expect("node")
        .tolerances(1e-10, 1e-12);
    let interp = MultipleShooting::with_windows(
        base.clone().sensitivity(InterpolatingAdjoint::default()),
        t.clone(),
        data.clone(),
        3,
    )
    .expect("ms")
    .continuity(user.clone());
    // Continuous adjoints agree with differences to about the solver tolerance.
    check_against_differences(&interp, 1e-5);
    let gauss = MultipleShooting::with_windows(base.sensitivity(GaussAdjoint), t, data, 3)
        .expect("ms")
        .continuity(user)
        .continuity_term(50.0)
        .expect("term");
    check_against_differences(&gauss, 1e-5);
}

#[derive(Clone, Copy, Debug)]
struct Cube;
impl ElementwiseFn for Cube {
    fn f<S: Scalar>(&self, x: S) -> S {
        x * x * x
    }
    fn df<S: Scalar>(&self, x: S) -> S {
        x * x * S::cst(3.0)
    }
}

/// u' = u³ from u0 = 10 blows up at t = 1/200: the second window's solve fails.
#[test]
fn a_failed_window_gives_an_infinite_loss_and_names_the_window() {
    let t: Vec<f64> = (0..7).map(|i| 0.1 * i as f64).collect();
    let data = vec![vec![0.0]; 7];
    let model = Chain::new((
        WrappedFunction::new(1, Cube),
        Dense::new(1, 1, Activation::Identity),
    ))
    .expect("chain");
    let node = NeuralOde::new(model, (0.0, 0.6), Tsit5, t.clone()).expect("node");
    let ms = MultipleShooting::new(node, t, data, 4).expect("ms");
    let g = ms
        .loss_and_gradient(&[1.0, 0.0], &[vec![0.1], vec![10.0]])
        .expect("no input error");
    assert_eq!(g.loss, f64::INFINITY);
    let f = g.failure.expect("failure reported");
    assert_eq!(f.window, 1);
    assert!(g.dp.iter().all(|x| *x == 0.0));
    assert!(!f.error.to_string().is_empty());
}

#[test]
fn bad_input_is_an_error() {
    let (t, data) = small_problem();
    let node = NeuralOde::new(small_net(), (0.0, 1.8), Tsit5, t.clone()).expect("node");
    let e = MultipleShooting::new(node.clone(), t.clone(), data.clone(), 1).err();
    assert_eq!(
        e,
        Some(ShootingError::GroupSize {
            group_size: 1,
            n: 10
        })
    );
    let e = MultipleShooting::new(node.clone(), t.clone(), data.clone(), 11).err();
    assert_eq!(
        e,
        Some(ShootingError::GroupSize {
            group_size: 11,
            n: 10
        })
    );
    let e = MultipleShooting::with_windows(node.clone(), t.clone(), data.clone(), 12).err();
    assert_eq!(e, Some(ShootingError::WindowCount { windows: 12, n: 10 }));
    let e = MultipleShooting::new(node.clone(), t.clone(), data[..9].to_vec(), 3).err();
    assert!(matches!(e, Some(ShootingError::Length { .. })));
    let mut backwards = t.clone();
    backwards.swap(2, 3);
    let e = MultipleShooting::new(node.clone(), backwards, data.clone(), 3).err();
    assert_eq!(e, Some(ShootingError::Times { index: 3 }));
    let e = MultipleShooting::new(node.clone(), t.clone(), data.clone(), 4)
        .expect("ms")
        .continuity_term(-1.0)
        .err();
    assert!(matches!(e, Some(ShootingError::ContinuityTerm(_))));
    let ms = MultipleShooting::new(node, t, data, 4).expect("ms");
    let p = vec![0.0; 22];
    let e = ms.loss_and_gradient(&p, &vec![vec![0.0; 2]; 2]).err();
    assert!(matches!(
        e,
        Some(ShootingError::Length {
            expected: 3,
            found: 2,
            ..
        })
    ));
    let e = ms
        .loss_and_gradient(&p, &[vec![0.0; 2], vec![0.0; 3], vec![0.0; 2]])
        .err();
    assert!(matches!(
        e,
        Some(ShootingError::Length {
            expected: 2,
            found: 3,
            ..
        })
    ));
}

const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];

/// DiffEqFlux's multiple-shooting test (test/multiple_shoot_tests.jl): the spiral over (0, 5)
/// with 30 points, x -> x³ -> Dense(2, 16, tanh) -> Dense(16, 2), Adam(0.05) for 300
/// iterations, group size 3, continuity term 200: the single-shooting loss of the
/// multiple-shooting result is below 10× that of the single-shooting result.
#[test]
fn spiral_multiple_shooting_is_within_ten_times_single_shooting() {
    let ts: Vec<f64> = (0..30).map(|i| 5.0 * i as f64 / 29.0).collect();
    let truth = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let (a, b) = (u[0].powi(3), u[1].powi(3));
        du[0] = a * A[0][0] + b * A[1][0];
        du[1] = a * A[0][1] + b * A[1][1];
    });
    let data = OdeProblem::new(truth, vec![2.0, 0.0], (0.0, 5.0), vec![])
        .expect("problem")
        .solve(
            Vern9,
            &SolveOptions::default()
                .tolerances(1e-12, 1e-12)
                .saveat(SaveAt::Times(ts.clone())),
        )
        .expect("data")
        .u;
    let model = Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 16, Activation::Tanh),
        Dense::new(16, 2, Activation::Identity),
    ))
    .expect("chain");
    let node = NeuralOde::new(model, (0.0, 5.0), Tsit5, ts.clone()).expect("node");
    let u0 = [2.0, 0.0];
    let p0 = node.init_params(0);
    let single_loss = |p: &[f64]| {
        node.loss_and_gradient(&u0, p, |_t: &[f64], us: &[Vec<f64>]| {
            let (l, g) = diffeqflux::multiple_shooting::squared_error(&data, us);
            (l, g)
        })
    };
    // Single shooting; a failed solve skips the step, as a trainer would.
    let mut p_ss = p0.clone();
    let mut adam = Adam::new(0.05).expect("adam");
    for _ in 0..300 {
        if let Ok(g) = single_loss(&p_ss) {
            adam.step(&mut p_ss, &g.dp).expect("step");
        }
    }
    let loss_ss = single_loss(&p_ss).expect("single shooting").loss;
    // Multiple shooting from the data's states, as DiffEqFlux does.
    let ms = MultipleShooting::new(node.clone(), ts, data.clone(), 3)
        .expect("ms")
        .continuity_term(200.0)
        .expect("term");
    let starts = ms.data_starts();
    let mut p_ms = p0;
    let mut adam = Adam::new(0.05).expect("adam");
    for _ in 0..300 {
        let g = ms.loss_and_gradient(&p_ms, &starts).expect("ms loss");
        if g.failure.is_none() {
            adam.step(&mut p_ms, &g.dp).expect("step");
        }
    }
    let loss_ms = single_loss(&p_ms).map_or(f64::INFINITY, |g| g.loss);
    eprintln!("single shooting {loss_ss}, multiple shooting {loss_ms}");
    assert!(loss_ms < 10.0 * loss_ss, "{loss_ms} vs {loss_ss}");
}
