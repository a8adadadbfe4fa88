//! L-BFGS and BFGS on the Rosenbrock function and on objectives that misbehave.
#![allow(clippy::unwrap_used)]

use diffeqflux::optim::{
    Bfgs, BoxError, Convergence, IterState, Lbfgs, MinimiseReport, Minimiser, OptimError,
    Termination,
};

/// The chained Rosenbrock function f(x) = Σᵢ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)², minimum 0 at
/// x = (1, …, 1), with its gradient.
fn rosenbrock(x: &[f64], g: &mut [f64]) -> Result<f64, BoxError> {
    let mut f = 0.0;
    g.fill(0.0);
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f += a * a + 100.0 * b * b;
        g[i] += -2.0 * a - 400.0 * x[i] * b;
        g[i + 1] += 200.0 * b;
    }
    Ok(f)
}

/// The standard start for the chained Rosenbrock function: (−1.2, 1, −1.2, 1, …).
fn rosenbrock_start(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect()
}

fn assert_at_ones(r: &MinimiseReport, tol: f64) {
    for (i, v) in r.params.iter().enumerate() {
        assert!(
            (v - 1.0).abs() <= tol,
            "x[{i}] = {v} is not within {tol} of 1 (iterations, evaluations, termination, loss, \
             grad norm: {:?})",
            (
                r.iterations,
                r.evaluations,
                r.termination,
                r.loss,
                r.grad_norm
            )
        );
    }
}

/// 2-D Rosenbrock from (−1.2, 1): scipy's L-BFGS-B and Optim.jl's LBFGS take 35–40
/// iterations; we allow 60.
#[test]
fn lbfgs_rosenbrock_2d() {
    let r = Lbfgs::new().minimise(&[-1.2, 1.0], rosenbrock).unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance);
    assert!(r.iterations <= 60, "{} iterations", r.iterations);
    assert!(r.evaluations <= 100, "{} evaluations", r.evaluations);
    assert_at_ones(&r, 1e-6);
    assert!(r.loss < 1e-15);
    assert_eq!(r.loss_history.len(), r.iterations + 1);
    // Every accepted step decreases the loss.
    assert!(r.loss_history.windows(2).all(|w| w[1] < w[0]));
}

#[test]
fn bfgs_rosenbrock_2d() {
    let r = Bfgs::new().minimise(&[-1.2, 1.0], rosenbrock).unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance);
    assert!(r.iterations <= 60, "{} iterations", r.iterations);
    assert_at_ones(&r, 1e-6);
    assert!(r.loss_history.windows(2).all(|w| w[1] < w[0]));
}

/// 10-D chained Rosenbrock from (−1.2, 1, …): reaches the global minimum (not the local one
/// near x₀ = −1) within 150 iterations.
#[test]
fn lbfgs_rosenbrock_10d() {
    let r = Lbfgs::new()
        .minimise(&rosenbrock_start(10), rosenbrock)
        .unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance);
    assert!(r.iterations <= 150, "{} iterations", r.iterations);
    assert_at_ones(&r, 1e-6);
}

#[test]
fn bfgs_rosenbrock_10d() {
    let r = Bfgs::new()
        .minimise(&rosenbrock_start(10), rosenbrock)
        .unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance);
    assert!(r.iterations <= 150, "{} iterations", r.iterations);
    assert_at_ones(&r, 1e-6);
}

/// A small memory still converges on 10-D Rosenbrock from zero.
#[test]
fn lbfgs_small_memory() {
    let r = Lbfgs::new()
        .with_memory(3)
        .unwrap()
        .minimise(&[0.0; 10], rosenbrock)
        .unwrap();
    assert!(r.termination.converged());
    assert_at_ones(&r, 1e-6);
}

/// The pseudo-Huber loss f = Σ √(1 + (xᵢ − 1)²) − 1, made NaN wherever some xᵢ > 1.5. Far
/// from the minimum the loss is nearly linear, so from x = −10 the bracketing phase keeps
/// doubling the step until it lands in the NaN region and must backtrack.
#[test]
fn backtracks_out_of_non_finite_region() {
    for use_bfgs in [false, true] {
        let mut nan_calls = 0;
        let f = |x: &[f64], g: &mut [f64]| -> Result<f64, BoxError> {
            if x.iter().any(|&v| v > 1.5) {
                nan_calls += 1;
                g.fill(f64::NAN);
                return Ok(f64::NAN);
            }
            let mut f = 0.0;
            for (gi, xi) in g.iter_mut().zip(x) {
                let r = (1.0 + (xi - 1.0) * (xi - 1.0)).sqrt();
                *gi = (xi - 1.0) / r;
                f += r - 1.0;
            }
            Ok(f)
        };
        let x0 = [-10.0; 3];
        let r = if use_bfgs {
            Bfgs::new().minimise(&x0, f)
        } else {
            Lbfgs::new().minimise(&x0, f)
        }
        .unwrap();
        assert!(nan_calls > 0, "the test never reached the NaN region");
        assert_eq!(r.termination, Termination::GradientTolerance);
        assert_at_ones(&r, 1e-8);
    }
}

/// An infinite loss (say, a solver that failed) is backtracked from in the same way.
#[test]
fn backtracks_from_infinite_loss() {
    let r = Lbfgs::new()
        .minimise(&[-10.0], |x, g| {
            if x[0] > 0.0 {
                return Ok(f64::INFINITY);
            }
            g[0] = 2.0 * (x[0] + 1.0);
            Ok((x[0] + 1.0).powi(2))
        })
        .unwrap();
    assert!((r.params[0] + 1.0).abs() < 1e-8);
}

#[test]
fn objective_error_is_returned() {
    let mut calls = 0;
    let err = Lbfgs::new()
        .minimise(&[-1.2, 1.0], |x, g| {
            calls += 1;
            if calls == 6 {
                return Err("the ODE solve failed".into());
            }
            rosenbrock(x, g)
        })
        .unwrap_err();
    match &err {
        OptimError::Objective { evaluations, .. } => assert_eq!(*evaluations, 5),
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("the ODE solve failed"));
}

#[test]
fn bad_starts_are_errors() {
    let err = Lbfgs::new().minimise(&[], rosenbrock).unwrap_err();
    assert!(matches!(err, OptimError::EmptyParameters));
    let err = Bfgs::new()
        .minimise(&[1.0, f64::NAN], rosenbrock)
        .unwrap_err();
    assert!(matches!(err, OptimError::NonFinite { index: 1, .. }));
    let err = Lbfgs::new()
        .minimise(&[1.0], |_, _| Ok(f64::NAN))
        .unwrap_err();
    assert!(matches!(err, OptimError::NonFiniteStart { .. }));
}

#[test]
fn stops_at_max_iters() {
    let conv = Convergence::default().with_max_iters(5).unwrap();
    let r = Lbfgs::new()
        .with_convergence(conv)
        .minimise(&[-1.2, 1.0], rosenbrock)
        .unwrap();
    assert_eq!(r.termination, Termination::MaxIterations);
    assert_eq!(r.iterations, 5);
    let r = Bfgs::new()
        .with_convergence(conv)
        .minimise(&[-1.2, 1.0], rosenbrock)
        .unwrap();
    assert_eq!(r.termination, Termination::MaxIterations);
    assert_eq!(r.iterations, 5);
}

#[test]
fn stops_on_relative_loss_change_and_step() {
    let conv = Convergence::default()
        .with_grad_tol(0.0)
        .unwrap()
        .with_f_rel_tol(1e-2)
        .unwrap();
    let r = Lbfgs::new()
        .with_convergence(conv)
        .minimise(&[-1.2, 1.0], rosenbrock)
        .unwrap();
    assert_eq!(r.termination, Termination::LossTolerance);
    let n = r.loss_history.len();
    let (a, b) = (r.loss_history[n - 2], r.loss_history[n - 1]);
    assert!((a - b).abs() <= 1e-2 * a.abs().max(b.abs()));

    let conv = Convergence::default()
        .with_grad_tol(0.0)
        .unwrap()
        .with_x_tol(1e-3)
        .unwrap();
    let r = Bfgs::new()
        .with_convergence(conv)
        .minimise(&[-1.2, 1.0], rosenbrock)
        .unwrap();
    assert_eq!(r.termination, Termination::StepTolerance);
}

#[test]
fn callback_sees_every_iteration_and_can_stop() {
    let mut seen = Vec::new();
    let r = Lbfgs::new()
        .minimise_with_callback(&[-1.2, 1.0], rosenbrock, |s: &IterState<'_>| {
            seen.push((s.iteration, s.loss, s.params.to_vec()));
            s.iteration == 7
        })
        .unwrap();
    assert_eq!(r.termination, Termination::Callback);
    assert_eq!(r.iterations, 7);
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[6].2, r.params);
    assert_eq!(seen[6].1, r.loss);
    assert!(seen.iter().enumerate().all(|(i, s)| s.0 == i + 1));
}

/// A gradient with the wrong sign makes every step uphill: the run stops with
/// `LineSearchFailed` at the starting point instead of accepting a worse point.
#[test]
fn wrong_gradient_fails_cleanly() {
    let r = Lbfgs::new()
        .minimise(&[3.0, -2.0], |x, g| {
            g[0] = -2.0 * x[0];
            g[1] = -2.0 * x[1];
            Ok(x[0] * x[0] + x[1] * x[1])
        })
        .unwrap();
    assert_eq!(r.termination, Termination::LineSearchFailed);
    assert_eq!(r.params, vec![3.0, -2.0]);
    assert_eq!(r.iterations, 0);
}

#[test]
fn converged_start_takes_no_step() {
    let r = Bfgs::new().minimise(&[1.0, 1.0], rosenbrock).unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance);
    assert_eq!(r.iterations, 0);
    assert_eq!(r.evaluations, 1);
}

#[test]
fn settings_and_reports_serialise() {
    let lbfgs = Lbfgs::new().with_memory(7).unwrap();
    let json = serde_json::to_string(&lbfgs).unwrap();
    assert_eq!(serde_json::from_str::<Lbfgs>(&json).unwrap(), lbfgs);
    let bfgs = Bfgs::new();
    let json = serde_json::to_string(&bfgs).unwrap();
    assert_eq!(serde_json::from_str::<Bfgs>(&json).unwrap(), bfgs);
    // Invalid settings are refused on the way in.
    let bad = json.replace("\"c1\":0.0001", "\"c1\":2.0");
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<Bfgs>(&bad).is_err());

    let r = Lbfgs::new().minimise(&[-1.2, 1.0], rosenbrock).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<MinimiseReport>(&json).unwrap(), r);
}
