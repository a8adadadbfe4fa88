//! NeuralCdde: DiffEqFlux's acceptance case (Dense(6,50)-Dense(50,2), lags (0.1, 0.2), tspan
//! (0, 2)): gradients are non-zero and match central differences; and bad input is an Err.

use diffeqflux::neural_de::{CddeError, CddeHistory, CddeSensitivity, NeuralCdde};
use diffeqflux::nn::{Activation, Chain, Dense};
use sciml_ode::Tsit5;

type Model = Chain<(Dense, Dense)>;

fn model(inputs: usize) -> Model {
    Chain::new((
        Dense::new(inputs, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))
    .expect("valid chain")
}

fn saves() -> Vec<f64> {
    (1..=10).map(|k| 0.2 * f64::from(k)).collect()
}

fn layer() -> NeuralCdde<Model, Tsit5> {
    let hist = CddeHistory::function(|t: f64| vec![2.0 * t.cos(), t.sin()]);
    NeuralCdde::new(model(6), (0.0, 2.0), hist, vec![0.1, 0.2], Tsit5, saves())
        .expect("valid layer")
        .tolerances(1e-10, 1e-12)
}

/// Sum of squares of the saved states.
fn loss(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let l = us.iter().flatten().map(|x| x * x).sum();
    (
        l,
        us.iter()
            .map(|u| u.iter().map(|x| 2.0 * x).collect())
            .collect(),
    )
}

#[test]
fn acceptance_case_gradients_match_central_differences() {
    let cdde = layer();
    let u0 = [2.0, 0.0];
    let p = cdde.init_params(1);
    assert_eq!(p.len(), 6 * 50 + 50 + 50 * 2 + 2);
    let g = cdde.loss_and_gradient(&u0, &p, loss).expect("gradient");
    let at = |u0: &[f64], p: &[f64]| loss(&[], &cdde.solve(u0, p).expect("solves").u).0;
    assert!((g.loss - at(&u0, &p)).abs() < 1e-12 * g.loss.max(1.0));
    let nonzero = g.dp.iter().filter(|x| x.abs() > 1e-8).count();
    assert!(
        nonzero > p.len() / 2,
        "only {nonzero} of {} gradients are non-zero",
        p.len()
    );
    let d = 1e-6;
    // Weights and biases of both layers, the first and the last of each block.
    for &i in &[0, 5, 299, 300, 349, 350, 420, 449, 450, 451] {
        let (mut up, mut dn) = (p.clone(), p.clone());
        up[i] += d;
        dn[i] -= d;
        let fd = (at(&u0, &up) - at(&u0, &dn)) / (2.0 * d);
        assert!(
            (g.dp[i] - fd).abs() <= 1e-5 * fd.abs().max(1.0),
            "dp[{i}]: forward mode {} vs central {fd}",
            g.dp[i]
        );
    }
    for i in 0..2 {
        let (mut up, mut dn) = (u0, u0);
        up[i] += d;
        dn[i] -= d;
        let fd = (at(&up, &p) - at(&dn, &p)) / (2.0 * d);
        assert!(
            (g.du0[i] - fd).abs() <= 1e-5 * fd.abs().max(1.0),
            "du0[{i}]: {} vs {fd}",
            g.du0[i]
        );
    }
}

/// The adjoint and forward mode on the same mesh (steps capped at the smallest lag for both),
/// agreeing to rounding; and the adjoint against central differences.
#[test]
fn acceptance_case_discrete_adjoint_equals_forward_mode_and_differences() {
    let mut fwd = layer();
    fwd.options_mut().dtmax = Some(0.1);
    let adj = layer()
        .with_sensitivity(CddeSensitivity::DiscreteAdjoint)
        .tolerances(1e-10, 1e-12);
    assert_eq!(adj.sensitivity(), CddeSensitivity::DiscreteAdjoint);
    let u0 = [2.0, 0.0];
    let p = fwd.init_params(1);
    let ga = adj.loss_and_gradient(&u0, &p, loss).expect("adjoint");
    let gf = fwd.loss_and_gradient(&u0, &p, loss).expect("forward mode");
    assert!((ga.loss - gf.loss).abs() <= 1e-14 * gf.loss.max(1.0));
    let nonzero = ga.dp.iter().filter(|x| x.abs() > 1e-8).count();
    assert!(nonzero > p.len() / 2, "only {nonzero} non-zero gradients");
    let scale = gf.dp.iter().fold(1.0_f64, |a, x| a.max(x.abs()));
    let worst = ga
        .dp
        .iter()
        .zip(&gf.dp)
        .chain(ga.du0.iter().zip(&gf.du0))
        .map(|(a, f)| (a - f).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    assert!(
        worst <= 1e-10 * scale,
        "|adjoint - forward| = {worst:e} (scale {scale})"
    );
    eprintln!("|adjoint - forward mode| = {worst:.1e} (largest gradient {scale:.2})");
    let at = |u0: &[f64], p: &[f64]| loss(&[], &fwd.solve(u0, p).expect("solves").u).0;
    let d = 1e-6;
    for &i in &[0, 299, 349, 350, 449, 451] {
        let (mut up, mut dn) = (p.clone(), p.clone());
        up[i] += d;
        dn[i] -= d;
        let fd = (at(&u0, &up) - at(&u0, &dn)) / (2.0 * d);
        assert!(
            (ga.dp[i] - fd).abs() <= 1e-5 * fd.abs().max(1.0),
            "dp[{i}]: adjoint {} vs central {fd}",
            ga.dp[i]
        );
    }
}

/// A batch of three trajectories on fixed steps is three independent solves on the same mesh:
/// its gradient is the sum of theirs (dp) and theirs side by side (du0), for both
/// sensitivities.
#[test]
fn a_batch_gradient_is_the_sum_of_its_samples() {
    let build = |s: CddeSensitivity| {
        let mut l = layer().with_sensitivity(s);
        *l.options_mut() = l.options_mut().clone().fixed_step(0.05);
        l
    };
    let samples = [[2.0, 0.0], [0.5, -1.0], [-1.0, 0.3]];
    let u0: Vec<f64> = samples.iter().flatten().copied().collect();
    for s in [
        CddeSensitivity::DiscreteAdjoint,
        CddeSensitivity::ForwardDiff,
    ] {
        let cdde = build(s);
        let p = cdde.init_params(2);
        let g = cdde.loss_and_gradient(&u0, &p, loss).expect("batch");
        let mut dp = vec![0.0; p.len()];
        let mut du0 = Vec::new();
        let mut total = 0.0;
        for x in &samples {
            let gi = cdde.loss_and_gradient(x, &p, loss).expect("sample");
            dp.iter_mut().zip(&gi.dp).for_each(|(a, b)| *a += b);
            du0.extend(gi.du0);
            total += gi.loss;
        }
        assert!((g.loss - total).abs() <= 1e-12 * total, "{s:?}: loss");
        for (a, b) in g.dp.iter().zip(&dp).chain(g.du0.iter().zip(&du0)) {
            assert!(
                (a - b).abs() <= 1e-11 * b.abs().max(1.0),
                "{s:?}: {a} vs {b}"
            );
        }
    }
    let e = build(CddeSensitivity::DiscreteAdjoint)
        .solve(&[1.0, 2.0, 3.0], &layer().init_params(0))
        .expect_err("3 values are not whole states of 2");
    assert!(matches!(e, CddeError::BatchLength { got: 3, n: 2 }), "{e}");
}

/// A batch whose samples each have their own constant history (one state per sample) is the
/// samples solved one at a time with their own histories: same loss, dp summed, du0 side by
/// side (adjoint, fixed steps so both take the same mesh).
#[test]
fn a_batch_with_one_history_per_sample_is_its_samples_solved_alone() {
    let samples = [[2.0, 0.0], [0.5, -1.0], [-1.0, 0.3]];
    let u0: Vec<f64> = samples.iter().flatten().copied().collect();
    let build = |history: Vec<f64>| {
        let mut l = NeuralCdde::new(
            model(6),
            (0.0, 1.0),
            CddeHistory::Constant(history),
            vec![0.1, 0.2],
            Tsit5,
            saves().into_iter().filter(|t| *t <= 1.0).collect(),
        )
        .expect("valid layer")
        .with_sensitivity(CddeSensitivity::DiscreteAdjoint);
        *l.options_mut() = l.options_mut().clone().fixed_step(0.05);
        l
    };
    let batch = build(u0.clone());
    let p = batch.init_params(3);
    let g = batch.loss_and_gradient(&u0, &p, loss).expect("batch");
    let (mut dp, mut du0, mut total) = (vec![0.0; p.len()], Vec::new(), 0.0);
    for x in &samples {
        let gi = build(x.to_vec())
            .loss_and_gradient(x, &p, loss)
            .expect("sample");
        dp.iter_mut().zip(&gi.dp).for_each(|(a, b)| *a += b);
        du0.extend(gi.du0);
        total += gi.loss;
    }
    assert!((g.loss - total).abs() <= 1e-12 * total, "loss");
    // The histories differ, so a history shared by all samples would give another loss.
    let shared = build(samples[0].to_vec());
    let other = shared.loss_and_gradient(&u0, &p, loss).expect("shared");
    assert!((other.loss - total).abs() > 1e-6 * total);
    for (a, b) in g.dp.iter().zip(&dp).chain(g.du0.iter().zip(&du0)) {
        assert!((a - b).abs() <= 1e-11 * b.abs().max(1.0), "{a} vs {b}");
    }
    // Histories for two samples with a u0 of three.
    let e = build(u0[..4].to_vec())
        .solve(&u0, &p)
        .expect_err("two histories, three samples");
    assert!(
        matches!(
            e,
            CddeError::BatchHistoryLength {
                expected: 6,
                got: 4,
                n: 2,
                batch: 3
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_input_is_an_error() {
    let zero = || CddeHistory::Constant(vec![0.0, 0.0]);
    // 2 lags and 2 states need 6 inputs.
    let e = NeuralCdde::new(model(4), (0.0, 1.0), zero(), vec![0.1, 0.2], Tsit5, vec![])
        .err()
        .expect("wrong input size");
    assert!(
        matches!(
            e,
            CddeError::InputSize {
                expected: 6,
                got: 4,
                ..
            }
        ),
        "{e}"
    );
    for bad in [-0.1, 0.0, f64::NAN] {
        let e = NeuralCdde::new(model(6), (0.0, 1.0), zero(), vec![0.1, bad], Tsit5, vec![])
            .err()
            .expect("bad lag");
        assert!(matches!(e, CddeError::InvalidLag { index: 1, .. }), "{e}");
    }
    let e = NeuralCdde::new(model(2), (0.0, 1.0), zero(), vec![], Tsit5, vec![])
        .err()
        .expect("no lags");
    assert!(matches!(e, CddeError::NoLags), "{e}");
    let e = NeuralCdde::new(
        model(6),
        (0.0, 1.0),
        CddeHistory::Constant(vec![0.0; 3]),
        vec![0.1, 0.2],
        Tsit5,
        vec![],
    )
    .err()
    .expect("history of length 3");
    assert!(
        matches!(
            e,
            CddeError::HistoryLength {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
    let short = CddeHistory::function(|_t: f64| vec![1.0]);
    let e = NeuralCdde::new(model(6), (0.0, 1.0), short, vec![0.1, 0.2], Tsit5, vec![])
        .err()
        .expect("history function of length 1");
    assert!(
        matches!(
            e,
            CddeError::HistoryLength {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e}"
    );
    // A history function whose length changes only later is caught by the solve.
    let late = CddeHistory::function(|t: f64| {
        if !(-0.15..=-0.05).contains(&t) {
            vec![0.0; 2]
        } else {
            vec![0.0; 3]
        }
    });
    let cdde = NeuralCdde::new(model(6), (0.0, 1.0), late, vec![0.1, 0.2], Tsit5, vec![])
        .expect("checks pass at t0 and t0 - 0.2");
    let p = cdde.init_params(0);
    assert!(cdde.solve(&[1.0, 0.0], &p).is_err());
    // Wrong u0 / p lengths, reversed span, non-finite loss.
    let cdde = NeuralCdde::new(
        model(6),
        (0.0, 1.0),
        zero(),
        vec![0.1, 0.2],
        Tsit5,
        vec![1.0],
    )
    .expect("valid");
    assert!(cdde.solve(&[1.0], &p).is_err());
    assert!(cdde.solve(&[1.0, 0.0], &p[1..]).is_err());
    let e = cdde
        .loss_and_gradient(&[1.0, 0.0], &p, |_t: &[f64], _us: &[Vec<f64>]| {
            (f64::NAN, vec![vec![0.0; 2]])
        })
        .expect_err("NaN loss");
    assert!(matches!(e, CddeError::NonFiniteLoss(_)), "{e}");
    let rev = NeuralCdde::new(model(6), (1.0, 0.0), zero(), vec![0.1, 0.2], Tsit5, vec![])
        .expect("span checked at solve");
    assert!(rev.solve(&[1.0, 0.0], &p).is_err());
}

/// Relative 2-norm distance of `a` (any precision, as `f64`) from the reference `b`.
fn rel_dist(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let r: f64 = b.iter().map(|y| y * y).sum();
    (d / r).sqrt()
}

/// The f32 layer (`new_in::<f32>`) on the f64 layer's fixed mesh (RK4, dt 0.1 = the smallest
/// lag, so both take the same 20 steps): its loss and gradient are the f64 ones up to f32
/// rounding. Reference: the f64 discrete adjoint (itself checked against forward mode and
/// central differences above).
#[test]
fn f32_layer_matches_the_f64_layer_on_the_same_mesh() {
    use sciml_ode::Rk4 as RK4;
    let hist = CddeHistory::function(|t: f64| vec![2.0 * t.cos(), t.sin()]);
    let (lags, span) = (vec![0.1, 0.2], (0.0, 2.0));
    let mut l64 = NeuralCdde::new(model(6), span, hist.clone(), lags.clone(), RK4, saves())
        .expect("valid layer")
        .with_sensitivity(CddeSensitivity::DiscreteAdjoint);
    let mut l32 =
        NeuralCdde::new_in::<f32>(model(6), span, hist, lags, RK4, saves()).expect("valid layer");
    l64.options_mut().adaptive = Some(false);
    l64.options_mut().dt = Some(0.1);
    l32.options_mut().adaptive = Some(false);
    l32.options_mut().dt = Some(0.1);
    // Two samples in one batch: the bench's batched layout.
    let u0 = [1.0, 0.5, -0.3, 0.8];
    let p = l64.init_params(3);
    let g64 = l64.loss_and_gradient(&u0, &p, loss).expect("f64 gradient");
    // The same layer in f64 through the scalar-generic entry point: the same numbers.
    let g64b = l64
        .adjoint_loss_and_gradient(&u0, &p, loss)
        .expect("generic f64 gradient");
    assert_eq!(g64b.loss, g64.loss);
    assert!(rel_dist(&g64b.dp, &g64.dp) < 1e-14);

    let to32 = |x: &[f64]| x.iter().map(|v| *v as f32).collect::<Vec<f32>>();
    let to64 = |x: &[f32]| x.iter().map(|v| f64::from(*v)).collect::<Vec<f64>>();
    let loss32 = |_t: &[f32], us: &[Vec<f32>]| {
        let value = us.iter().flatten().map(|x| f64::from(*x).powi(2)).sum();
        (
            value,
            us.iter()
                .map(|u| u.iter().map(|x| 2.0 * x).collect())
                .collect(),
        )
    };
    let g32 = l32
        .adjoint_loss_and_gradient(&to32(&u0), &to32(&p), loss32)
        .expect("f32 gradient");
    assert_eq!(g32.forward.accepted, g64.forward.accepted, "same mesh");
    assert_eq!(g32.forward.nf, g64.forward.nf, "same evaluations");
    let (e_loss, e_dp, e_du0) = (
        (g32.loss - g64.loss).abs() / g64.loss.abs(),
        rel_dist(&to64(&g32.dp), &g64.dp),
        rel_dist(&to64(&g32.du0), &g64.du0),
    );
    eprintln!("f32 vs f64: loss {e_loss:.2e}, dp {e_dp:.2e}, du0 {e_du0:.2e}");
    // Measured ~1e-7 (a few f32 ulps); 2e-6 is ~16 ulps of f32.
    assert!(e_loss < 2e-6 && e_dp < 2e-6 && e_du0 < 2e-6);
}

/// Keeping the forward passes for the discrete adjoint's reverse sweep (the default,
/// `NeuralCdde::forward_memory`) changes nothing, bitwise, in f64 and f32, over two gradients with
/// different parameters (the second reuses the first's buffers), for a batch of 3; and every VJP
/// of the sweep but at most one reads a kept pass.
#[test]
fn kept_forward_passes_change_nothing() -> Result<(), Box<dyn std::error::Error>> {
    fn check<R: sciml_core::Real>() -> Result<(), Box<dyn std::error::Error>> {
        let make = || {
            let hist = CddeHistory::function(|t: f64| vec![2.0 * t.cos(), t.sin()]);
            NeuralCdde::new_in::<R>(model(6), (0.0, 2.0), hist, vec![0.1, 0.2], Tsit5, saves())
                .map(|l| l.tolerances(R::c(1e-6), R::c(1e-8)))
        };
        let (kept, repeated) = (make()?, make()?.forward_memory(0));
        let u0: Vec<R> = [1.0, 0.5, -0.3, 0.8, 0.2, -1.0]
            .iter()
            .map(|v| R::c(*v))
            .collect();
        let sq = |_t: &[R], us: &[Vec<R>]| {
            let l = us.iter().flatten().map(|x| x.to_f64_lossy().powi(2)).sum();
            (
                l,
                us.iter()
                    .map(|u| u.iter().map(|x| *x + *x).collect())
                    .collect(),
            )
        };
        for it in 0..2 {
            let p: Vec<R> = kept
                .init_params(1)
                .iter()
                .map(|v| R::c(v * (1.0 + 0.1 * it as f64)))
                .collect();
            let a = kept.adjoint_loss_and_gradient(&u0, &p, sq)?;
            let b = repeated.adjoint_loss_and_gradient(&u0, &p, sq)?;
            assert_eq!(a.loss, b.loss);
            assert_eq!(a.dp, b.dp);
            assert_eq!(a.du0, b.du0);
            assert!(a.dp.iter().any(|v| v.to_f64_lossy().abs() > 1e-6));
            // Tsit5: 6 evaluated stages per accepted step (FSAL), one VJP each.
            // Tsit5: 6 evaluated stages per accepted step (FSAL), each with its VJP; the sweep's
            // VJPs are counted in its `nf`.
            let reads = kept.forward_reuses();
            assert!(
                reads >= 6 * a.forward.accepted && reads <= a.backward.nf,
                "iteration {it}: {reads} reads, {} steps, {} backward evaluations",
                a.forward.accepted,
                a.backward.nf
            );
            assert_eq!(repeated.forward_reuses(), 0);
        }
        Ok(())
    }
    check::<f64>()?;
    check::<f32>()?;
    // The f64 layer's `loss_and_gradient` with the discrete adjoint keeps them too.
    let kept = layer().with_sensitivity(CddeSensitivity::DiscreteAdjoint);
    let repeated = layer()
        .with_sensitivity(CddeSensitivity::DiscreteAdjoint)
        .forward_memory(0);
    let p = kept.init_params(2);
    let u0 = [1.0, 0.5];
    let a = kept.loss_and_gradient(&u0, &p, loss)?;
    let b = repeated.loss_and_gradient(&u0, &p, loss)?;
    assert_eq!((a.loss, &a.dp, &a.du0), (b.loss, &b.dp, &b.du0));
    assert!(kept.forward_reuses() >= 6 * a.forward.accepted);
    Ok(())
}
