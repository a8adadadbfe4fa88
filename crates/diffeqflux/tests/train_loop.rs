//! The training loop: rejected non-finite steps, stopping rules, best-parameter tracking,
//! callbacks, continuation, reports.
#![allow(clippy::unwrap_used)]

use diffeqflux::optim::{Adam, BoxError, OptimError, Optimiser, Sgd};
use diffeqflux::train::{
    EarlyStopping, OnNonFinite, RejectReason, StopReason, TrainError, TrainOptions, TrainReport,
    TrainState, Trainer,
};

/// f(p) = Σ aᵢ (pᵢ − cᵢ)² with its gradient.
fn quadratic(p: &[f64], g: &mut [f64]) -> Result<f64, BoxError> {
    const A: [f64; 3] = [1.0, 3.0, 0.5];
    const C: [f64; 3] = [1.0, -2.0, 0.5];
    let mut f = 0.0;
    for i in 0..3 {
        let r = p[i] - C[i];
        f += A[i] * r * r;
        g[i] = 2.0 * A[i] * r;
    }
    Ok(f)
}

const P0: [f64; 3] = [0.0, 0.0, 0.0];

fn opts(max_iters: usize) -> TrainOptions {
    TrainOptions::new(max_iters).unwrap().with_progress(false)
}

/// Runs Adam with a callback that records the parameters after every iteration; `inject`
/// decides, per call of the loss (1-based), whether to return a NaN loss or gradient.
fn run_recording(
    options: TrainOptions,
    inject: impl Fn(usize) -> Option<&'static str>,
) -> (TrainReport, Vec<Vec<f64>>, Adam) {
    let mut trainer = Trainer::new(Adam::new(0.05).unwrap(), options);
    let mut p = P0.to_vec();
    let mut calls = 0;
    let mut after = Vec::new();
    let report = trainer
        .train_with_callback(
            &mut p,
            |x, g| {
                calls += 1;
                let f = quadratic(x, g)?;
                match inject(calls) {
                    Some("loss") => Ok(f64::NAN),
                    Some("grad") => {
                        g[1] = f64::INFINITY;
                        Ok(f)
                    }
                    _ => Ok(f),
                }
            },
            |s: &TrainState<'_>| {
                assert_eq!(s.iteration, after.len() + 1);
                after.push(s.params.to_vec());
                false
            },
        )
        .unwrap();
    (report, after, trainer.optimiser().clone())
}

/// A NaN loss at iteration k = 5 (Skip policy): the step is rejected, the parameters after
/// iteration 5 equal those after iteration 4, the run continues, and — since the optimiser's
/// state was not touched — iteration k + j of the run with the NaN does what iteration
/// k + j − 1 of a clean run did.
#[test]
fn nan_loss_rejects_the_step_and_continues() {
    let k = 5;
    let (report, after, adam) = run_recording(opts(12).with_final_evaluation(false), |c| {
        (c == k).then_some("loss")
    });
    let (clean, clean_after, _) = run_recording(opts(12).with_final_evaluation(false), |_| None);

    assert_eq!(after[k - 1], after[k - 2], "parameters moved on a NaN step");
    assert_eq!(report.rejected_steps, 1);
    assert_eq!(report.rejections[0].iteration, k);
    assert!(matches!(
        report.rejections[0].reason,
        RejectReason::NonFiniteLoss { loss } if loss.is_nan()
    ));
    assert!(report.loss_history[k - 1].is_nan());
    assert_eq!(report.iterations, 12);
    assert_eq!(report.stop_reason, StopReason::MaxIterations);
    assert_eq!(adam.steps(), 11, "the optimiser must skip exactly one step");
    for j in 0..(12 - k) {
        assert_eq!(after[k + j], clean_after[k + j - 1]);
    }
    assert_eq!(report.params, after[11]);
    assert!(report.best_loss.is_finite());
    assert!(clean.best_loss.is_finite());
}

/// A non-finite gradient (finite loss) under the Stop policy: the run stops at that
/// iteration with the parameters of the previous one.
#[test]
fn nan_gradient_stops_when_configured() {
    let k = 4;
    let options = opts(50).with_on_non_finite(OnNonFinite::Stop).unwrap();
    let (report, after, adam) = run_recording(options, |c| (c == k).then_some("grad"));
    assert_eq!(report.stop_reason, StopReason::NonFinite);
    assert_eq!(report.iterations, k);
    assert_eq!(after.len(), k);
    assert_eq!(after[k - 1], after[k - 2]);
    assert_eq!(report.params, after[k - 2]);
    assert_eq!(adam.steps(), (k - 1) as u64);
    assert_eq!(
        report.rejections[0].reason,
        RejectReason::NonFiniteGradient {
            index: 1,
            value: f64::INFINITY
        }
    );
    assert!(report.rejections[0].to_string().contains("step 4 rejected"));
}

/// A loss that stays NaN from iteration 4 on: after `max_consecutive` rejections in a row
/// the run stops, with the parameters reached at iteration 3.
#[test]
fn too_many_rejections_stop_the_run() {
    let options = opts(100)
        .with_on_non_finite(OnNonFinite::Skip { max_consecutive: 4 })
        .unwrap();
    let (report, after, _) = run_recording(options, |c| (c >= 4).then_some("loss"));
    assert_eq!(report.stop_reason, StopReason::TooManyRejections);
    assert_eq!(report.iterations, 7);
    assert_eq!(report.rejected_steps, 4);
    assert_eq!(report.params, after[2]);
    assert!(
        report.final_loss.is_nan(),
        "the final evaluation is NaN too"
    );
}

/// The callback sees rejections.
#[test]
fn callback_sees_rejections() {
    let mut trainer = Trainer::new(Sgd::new(0.1).unwrap(), opts(5));
    let mut p = P0.to_vec();
    let mut calls = 0;
    let mut flagged = Vec::new();
    trainer
        .train_with_callback(
            &mut p,
            |x, g| {
                calls += 1;
                let f = quadratic(x, g)?;
                Ok(if calls == 2 { f64::INFINITY } else { f })
            },
            |s| {
                flagged.push(s.rejected.map(|r| r.iteration));
                false
            },
        )
        .unwrap();
    assert_eq!(flagged, vec![None, Some(2), None, None, None]);
}

/// A constant loss never improves: early stopping fires after `patience` iterations
/// without improvement (the first iteration improves on +∞).
#[test]
fn early_stopping_on_a_plateau() {
    let options = opts(1000).with_early_stopping(EarlyStopping::new(5, 0.0).unwrap());
    let mut trainer = Trainer::new(Adam::new(0.1).unwrap(), options);
    let mut p = vec![1.0, 2.0];
    let report = trainer
        .train(&mut p, |_x, g| {
            g.fill(0.0);
            Ok(3.0)
        })
        .unwrap();
    assert_eq!(report.stop_reason, StopReason::EarlyStopping);
    assert_eq!(report.iterations, 6);
}

/// Improvements smaller than `min_delta` do not count.
#[test]
fn early_stopping_respects_min_delta() {
    // SGD with a tiny learning rate improves the loss by about 4e-4 per iteration.
    let options = opts(1000).with_early_stopping(EarlyStopping::new(3, 1e-2).unwrap());
    let mut trainer = Trainer::new(Sgd::new(1e-5).unwrap(), options);
    let mut p = P0.to_vec();
    let report = trainer.train(&mut p, quadratic).unwrap();
    assert_eq!(report.stop_reason, StopReason::EarlyStopping);
    assert_eq!(report.iterations, 4);

    let options = opts(50).with_early_stopping(EarlyStopping::new(3, 1e-6).unwrap());
    let mut trainer = Trainer::new(Sgd::new(1e-5).unwrap(), options);
    let mut p = P0.to_vec();
    let report = trainer.train(&mut p, quadratic).unwrap();
    assert_eq!(report.stop_reason, StopReason::MaxIterations);
}

/// SGD with too large a learning rate diverges on x²: the best parameters are the initial
/// ones, and the final evaluation reports the (larger) final loss.
#[test]
fn best_parameters_are_tracked() {
    let mut trainer = Trainer::new(Sgd::new(1.05).unwrap(), opts(10));
    let mut p = vec![1.0];
    let report = trainer
        .train(&mut p, |x, g| {
            g[0] = 2.0 * x[0];
            Ok(x[0] * x[0])
        })
        .unwrap();
    assert_eq!(report.best_params, vec![1.0]);
    assert_eq!(report.best_loss, 1.0);
    assert_eq!(report.best_iteration, 0);
    // x_{k+1} = −1.1 x_k.
    let want = 1.1f64.powi(10);
    assert!((report.params[0].abs() - want).abs() < 1e-12);
    assert!((report.final_loss - want * want).abs() < 1e-10);
    assert!(report.loss_history.windows(2).all(|w| w[1] > w[0]));

    // Converging run: the final evaluation becomes the best point.
    let mut trainer = Trainer::new(Sgd::new(0.25).unwrap(), opts(3));
    let mut p = vec![1.0];
    let report = trainer
        .train(&mut p, |x, g| {
            g[0] = 2.0 * x[0];
            Ok(x[0] * x[0])
        })
        .unwrap();
    assert_eq!(report.params, vec![0.125]);
    assert_eq!(report.best_params, vec![0.125]);
    assert_eq!(report.best_iteration, 3);
    assert_eq!(report.final_loss, 0.125 * 0.125);

    // Without the final evaluation the best is the last evaluated point.
    let mut trainer = Trainer::new(
        Sgd::new(0.25).unwrap(),
        opts(3).with_final_evaluation(false),
    );
    let mut p = vec![1.0];
    let report = trainer
        .train(&mut p, |x, g| {
            g[0] = 2.0 * x[0];
            Ok(x[0] * x[0])
        })
        .unwrap();
    assert_eq!(report.best_params, vec![0.25]);
    assert_eq!(report.best_iteration, 2);
    assert!(report.final_loss.is_nan());
}

/// Two calls of 10 iterations do what one call of 20 does.
#[test]
fn training_continues_across_calls() {
    let mut once = Trainer::new(
        Adam::new(0.05).unwrap(),
        opts(20).with_final_evaluation(false),
    );
    let mut p1 = P0.to_vec();
    let r1 = once.train(&mut p1, quadratic).unwrap();

    let mut twice = Trainer::new(
        Adam::new(0.05).unwrap(),
        opts(10).with_final_evaluation(false),
    );
    let mut p2 = P0.to_vec();
    twice.train(&mut p2, quadratic).unwrap();
    // A finished run does nothing more...
    let again = twice.train(&mut p2, quadratic).unwrap();
    assert_eq!(again.iterations, 10);
    // ...until the limit is raised.
    twice.set_options(opts(20).with_final_evaluation(false));
    let r2 = twice.train(&mut p2, quadratic).unwrap();
    assert_eq!(p1, p2);
    assert_eq!(r1.loss_history, r2.loss_history);
    assert_eq!(r2.iterations, 20);

    twice.reset();
    assert_eq!(twice.progress().iteration, 0);
}

#[test]
fn callback_stops_and_sees_consistent_state() {
    let mut trainer = Trainer::new(Adam::new(0.05).unwrap(), opts(100));
    let mut p = P0.to_vec();
    let mut last_best = f64::INFINITY;
    let report = trainer
        .train_with_callback(&mut p, quadratic, |s| {
            assert!(s.best_loss <= last_best);
            assert!(s.best_loss <= s.loss);
            assert_eq!(s.grad.len(), 3);
            last_best = s.best_loss;
            s.iteration == 17
        })
        .unwrap();
    assert_eq!(report.stop_reason, StopReason::Callback);
    assert_eq!(report.iterations, 17);
    assert_eq!(report.loss_history.len(), 17);
}

#[test]
fn errors_are_reported() {
    let mut trainer = Trainer::new(Adam::new(0.05).unwrap(), opts(10));
    let err = trainer.train(&mut [], quadratic).unwrap_err();
    assert!(matches!(
        err,
        TrainError::Optim(OptimError::EmptyParameters)
    ));
    let err = trainer
        .train(&mut [0.0, f64::NAN, 0.0], quadratic)
        .unwrap_err();
    assert!(matches!(
        err,
        TrainError::Optim(OptimError::NonFinite { index: 1, .. })
    ));

    let mut calls = 0;
    let mut p = P0.to_vec();
    let err = trainer
        .train(&mut p, |x, g| {
            calls += 1;
            if calls == 3 {
                return Err("solver diverged".into());
            }
            quadratic(x, g)
        })
        .unwrap_err();
    assert!(matches!(err, TrainError::Loss { iteration: 3, .. }));
    assert!(err.to_string().contains("solver diverged"));
    // The parameters hold the last values reached (two steps).
    assert_ne!(p, P0.to_vec());
    assert_eq!(trainer.optimiser().steps(), 2);

    // A parameter vector of another length than the optimiser's state.
    let err = trainer.train(&mut [0.0; 4], |_, _| Ok(0.0)).unwrap_err();
    assert!(matches!(
        err,
        TrainError::Optim(OptimError::DimensionMismatch { .. })
    ));
}

/// Reports serialise, NaN losses included.
#[test]
fn report_round_trips_through_json() {
    let (report, _, _) = run_recording(opts(8), |c| (c == 3).then_some("loss"));
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"NaN\""));
    let back: TrainReport = serde_json::from_str(&json).unwrap();
    assert!(back.loss_history[2].is_nan());
    assert_eq!(back.params, report.params);
    assert_eq!(back.rejections.len(), 1);
    let (a, b): (Vec<_>, Vec<_>) = (
        back.loss_history.iter().map(|v| v.to_bits()).collect(),
        report.loss_history.iter().map(|v| v.to_bits()).collect(),
    );
    assert_eq!(a, b);
}

#[test]
fn options_validate_and_serialise() {
    assert!(TrainOptions::new(0).is_err());
    assert!(EarlyStopping::new(0, 0.1).is_err());
    assert!(EarlyStopping::new(1, f64::NAN).is_err());
    assert!(opts(5)
        .with_on_non_finite(OnNonFinite::Skip { max_consecutive: 0 })
        .is_err());
    let o = opts(5).with_early_stopping(EarlyStopping::new(3, 0.1).unwrap());
    let json = serde_json::to_string(&o).unwrap();
    assert_eq!(serde_json::from_str::<TrainOptions>(&json).unwrap(), o);
    let bad = json.replace("\"max_iters\":5", "\"max_iters\":0");
    assert!(serde_json::from_str::<TrainOptions>(&bad).is_err());
}

/// The DiffEqFlux recipe: Adam, then L-BFGS from the best parameters.
#[test]
fn adam_then_lbfgs() {
    let rosenbrock = |x: &[f64], g: &mut [f64]| -> Result<f64, BoxError> {
        let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
        g[0] = -2.0 * a - 400.0 * x[0] * b;
        g[1] = 200.0 * b;
        Ok(a * a + 100.0 * b * b)
    };
    let mut trainer = Trainer::new(Adam::new(0.01).unwrap(), opts(500));
    let mut p = vec![-1.2, 1.0];
    let adam = trainer.train(&mut p, rosenbrock).unwrap();
    let lbfgs = adam.then_lbfgs(rosenbrock).unwrap();
    assert!(lbfgs.termination.converged());
    assert!(lbfgs.params.iter().all(|v| (v - 1.0).abs() < 1e-6));
    assert!(lbfgs.loss_history[0] <= adam.best_loss);
}
