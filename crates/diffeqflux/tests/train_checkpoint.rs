//! Checkpoints: round trips, resuming, validation on load, and interrupted saves.
#![allow(clippy::unwrap_used)]

use diffeqflux::optim::{Adam, AnyOptimiser, BoxError, Optimiser, Sgd};
use diffeqflux::train::{
    load_checkpoint, load_named_params, load_params, save_checkpoint, save_params, temp_path,
    write_atomically, Checkpoint, CheckpointError, CheckpointSchedule, TrainOptions, TrainProgress,
    Trainer, STATE_FILE,
};
use safetensors::tensor::{Dtype, TensorView};
use std::fs;
use std::path::{Path, PathBuf};

fn quadratic(p: &[f64], g: &mut [f64]) -> Result<f64, BoxError> {
    let mut f = 0.0;
    for (i, (pi, gi)) in p.iter().zip(g.iter_mut()).enumerate() {
        let c = i as f64 - 1.5;
        f += (pi - c) * (pi - c);
        *gi = 2.0 * (pi - c);
    }
    Ok(f)
}

fn opts(max_iters: usize) -> TrainOptions {
    TrainOptions::new(max_iters)
        .unwrap()
        .with_progress(false)
        .with_final_evaluation(false)
}

fn views() -> Vec<(String, std::ops::Range<usize>)> {
    vec![("weight".into(), 0..3), ("bias".into(), 3..4)]
}

/// The parameter files in a checkpoint directory.
fn params_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("params-") && n.ends_with(".safetensors"))
        .collect();
    v.sort();
    v
}

fn committed_params_file(dir: &Path) -> PathBuf {
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join(STATE_FILE)).unwrap()).unwrap();
    dir.join(state["params_file"].as_str().unwrap())
}

fn trained(iters: usize) -> (Trainer<Adam>, Vec<f64>) {
    let mut trainer = Trainer::new(Adam::new(0.1).unwrap(), opts(iters)).with_param_names(views());
    let mut p = vec![0.0; 4];
    trainer.train(&mut p, quadratic).unwrap();
    (trainer, p)
}

#[test]
fn checkpoint_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ck_dir = dir.path().join("ck");
    let (trainer, p) = trained(15);
    assert_eq!(trainer.save_checkpoint(&ck_dir, &p).unwrap(), 1);

    let ck: Checkpoint<Adam> = load_checkpoint(&ck_dir).unwrap();
    assert_eq!(ck.params, p);
    assert_eq!(&ck.optimiser, trainer.optimiser());
    assert_eq!(&ck.progress, trainer.progress());
    assert_eq!(ck.progress.best_params, trainer.progress().best_params);
    assert_eq!(ck.progress.loss_history.len(), 15);
    assert_eq!(ck.views, views());
    assert_eq!(ck.generation, 1);

    // The parameter file is plain safetensors: params, best_params and the named views.
    let named = load_named_params(&committed_params_file(&ck_dir)).unwrap();
    assert_eq!(named["params"], p);
    assert_eq!(named["weight"], p[0..3].to_vec());
    assert_eq!(named["bias"], p[3..4].to_vec());
    assert_eq!(named["best_params"], trainer.progress().best_params);
}

/// 10 iterations, checkpoint, resume in a new trainer, 10 more = 20 straight, bit for bit.
#[test]
fn resumed_run_matches_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, p_straight) = trained(20);

    let (first, p_first) = trained(10);
    first.save_checkpoint(dir.path(), &p_first).unwrap();
    drop(first);
    let (mut resumed, mut p) = Trainer::<Adam>::resume(dir.path(), opts(20)).unwrap();
    assert_eq!(resumed.progress().iteration, 10);
    assert_eq!(resumed.param_names(), views().as_slice());
    let report = resumed.train(&mut p, quadratic).unwrap();
    assert_eq!(p, p_straight);
    assert_eq!(report.loss_history, straight.progress().loss_history);
    assert_eq!(resumed.optimiser(), straight.optimiser());
    assert_eq!(report.iterations, 20);
}

/// A schedule saves every `every` iterations and at the end; only the newest parameter file
/// is kept.
#[test]
fn scheduled_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let ck_dir = dir.path().join("nested").join("ck");
    let options = opts(10).with_checkpoints(CheckpointSchedule::new(&ck_dir, 3).unwrap());
    let mut trainer = Trainer::new(Sgd::new(0.1).unwrap(), options);
    let mut p = vec![0.0; 4];
    trainer.train(&mut p, quadratic).unwrap();
    let ck: Checkpoint<Sgd> = load_checkpoint(&ck_dir).unwrap();
    // Saves at iterations 3, 6, 9 and 10.
    assert_eq!(ck.generation, 4);
    assert_eq!(ck.progress.iteration, 10);
    assert_eq!(ck.params, p);
    assert_eq!(params_files(&ck_dir), vec!["params-4.safetensors"]);
}

/// A save interrupted before its commit point (only temporary files written, or the new
/// parameter file written but `state.json` not yet replaced) leaves the previous checkpoint
/// loadable and unchanged; the next save succeeds and tidies up.
#[test]
fn interrupted_save_never_corrupts_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path();
    let (trainer, p) = trained(5);
    trainer.save_checkpoint(ck, &p).unwrap();
    let before: Checkpoint<Adam> = load_checkpoint(ck).unwrap();
    let state_bytes = fs::read(ck.join(STATE_FILE)).unwrap();

    // Interruption 1: half-written temporary files only.
    fs::write(temp_path(&ck.join(STATE_FILE)), b"{\"format\": \"diffeqf").unwrap();
    fs::write(temp_path(&ck.join("params-2.safetensors")), b"\x10\x00\x00").unwrap();
    let after: Checkpoint<Adam> = load_checkpoint(ck).unwrap();
    assert_eq!(after, before);

    // Interruption 2: the new parameter file completely written under its final name, but
    // the crash came before state.json was replaced.
    save_params(&ck.join("params-2.safetensors"), &[9.0; 4], &[]).unwrap();
    let after: Checkpoint<Adam> = load_checkpoint(ck).unwrap();
    assert_eq!(after, before);
    assert_eq!(fs::read(ck.join(STATE_FILE)).unwrap(), state_bytes);

    // The next save works over the debris, and removes the stale parameter files.
    let (trainer, p2) = trained(8);
    let generation = trainer.save_checkpoint(ck, &p2).unwrap();
    assert_eq!(generation, 3, "generation 2's name is taken by the debris");
    let after: Checkpoint<Adam> = load_checkpoint(ck).unwrap();
    assert_eq!(after.params, p2);
    assert_eq!(after.progress.iteration, 8);
    assert_eq!(params_files(ck), vec!["params-3.safetensors"]);
}

/// `write_atomically` with a stale temporary file from an earlier interrupted write.
#[test]
fn atomic_write_over_stale_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    save_params(&path, &[1.0, 2.0], &[]).unwrap();
    fs::write(temp_path(&path), b"garbage from a crash").unwrap();
    assert_eq!(load_params(&path).unwrap(), vec![1.0, 2.0]);
    save_params(&path, &[3.0], &[]).unwrap();
    assert_eq!(load_params(&path).unwrap(), vec![3.0]);
    assert!(!temp_path(&path).exists());
    write_atomically(&dir.path().join("x.bin"), b"abc").unwrap();
    assert_eq!(fs::read(dir.path().join("x.bin")).unwrap(), b"abc");
}

fn write_tensor(path: &Path, name: &str, dtype: Dtype, shape: Vec<usize>, data: &[u8]) {
    let view = TensorView::new(dtype, shape, data).unwrap();
    let bytes = safetensors::serialize(vec![(name.to_string(), view)], &None).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn params_files_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.safetensors");

    let err = load_params(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err}");

    fs::write(&path, b"definitely not safetensors").unwrap();
    let err = load_params(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::SafeTensors { .. }), "{err}");

    write_tensor(&path, "params", Dtype::F32, vec![2], &[0u8; 8]);
    let err = load_params(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::WrongDtype { .. }), "{err}");
    assert!(err.to_string().contains("F32"));

    write_tensor(&path, "params", Dtype::F64, vec![2, 2], &[0u8; 32]);
    let err = load_params(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::WrongShape { .. }), "{err}");

    write_tensor(&path, "weights", Dtype::F64, vec![1], &[0u8; 8]);
    let err = load_params(&path).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::MissingTensor { name, .. } if name == "params"),
        "{err}"
    );

    // Values survive bit for bit, non-finite ones included.
    let p = [
        0.1,
        -0.0,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::NAN,
        f64::INFINITY,
    ];
    save_params(&path, &p, &[]).unwrap();
    let back = load_params(&path).unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&p));
}

#[test]
fn views_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.safetensors");
    let p = [1.0, 2.0, 3.0];
    for bad in [
        vec![("w".to_string(), 0..4)],
        vec![("w".to_string(), 0..1), ("w".to_string(), 1..2)],
        vec![("params".to_string(), 0..1)],
        vec![(String::new(), 0..1)],
    ] {
        let err = save_params(&path, &p, &bad).unwrap_err();
        assert!(matches!(err, CheckpointError::InvalidView { .. }), "{err}");
    }
    assert!(!path.exists());
}

#[test]
fn checkpoints_are_validated_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path();

    // Missing directory and missing state file.
    let err = load_checkpoint::<Adam>(&ck.join("nope")).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err}");
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::NotFound { path } if path.ends_with(STATE_FILE)),
        "{err}"
    );

    let (trainer, p) = trained(3);
    trainer.save_checkpoint(ck, &p).unwrap();
    let state_path = ck.join(STATE_FILE);
    let good = fs::read_to_string(&state_path).unwrap();

    // Corrupt JSON.
    fs::write(&state_path, &good[..good.len() / 2]).unwrap();
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(matches!(err, CheckpointError::Json { .. }), "{err}");

    // Another format, another version.
    fs::write(&state_path, good.replace("diffeqflux-checkpoint", "other")).unwrap();
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(matches!(err, CheckpointError::Format { .. }), "{err}");
    fs::write(
        &state_path,
        good.replace("\"version\": 1", "\"version\": 99"),
    )
    .unwrap();
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(matches!(err, CheckpointError::Format { .. }), "{err}");

    // A parameter file name that escapes the directory.
    fs::write(
        &state_path,
        good.replace("params-1.safetensors", "../evil.safetensors"),
    )
    .unwrap();
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(matches!(err, CheckpointError::Format { .. }), "{err}");

    // The state says 4 parameters; the file holds 3.
    fs::write(&state_path, &good).unwrap();
    save_params(&ck.join("params-1.safetensors"), &[1.0, 2.0, 3.0], &[]).unwrap();
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(matches!(err, CheckpointError::WrongShape { .. }), "{err}");

    // Missing parameter file.
    fs::remove_file(ck.join("params-1.safetensors")).unwrap();
    let err = load_checkpoint::<Adam>(ck).unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err}");
}

#[test]
fn optimiser_type_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (trainer, p) = trained(3);
    trainer.save_checkpoint(dir.path(), &p).unwrap();
    let err = load_checkpoint::<Sgd>(dir.path()).unwrap_err();
    match &err {
        CheckpointError::OptimiserMismatch { stored, .. } => assert_eq!(stored, "adam"),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("adam"));

    // A run-time chosen optimiser round-trips as itself.
    let any: AnyOptimiser = Sgd::new(0.2).unwrap().with_momentum(0.5).unwrap().into();
    save_checkpoint(dir.path(), &[1.0], &any, &TrainProgress::default(), &[]).unwrap();
    let ck: Checkpoint<AnyOptimiser> = load_checkpoint(dir.path()).unwrap();
    assert_eq!(ck.optimiser, any);
    assert_eq!(ck.optimiser.name(), "sgd");
    assert!(ck.progress.best_params.is_empty());
}

/// NaN losses in the history survive a checkpoint.
#[test]
fn non_finite_history_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(Adam::new(0.1).unwrap(), opts(6));
    let mut p = vec![0.0; 2];
    let mut calls = 0;
    trainer
        .train(&mut p, |x, g| {
            calls += 1;
            let f = quadratic(x, g)?;
            Ok(match calls {
                2 => f64::NAN,
                4 => f64::NEG_INFINITY,
                _ => f,
            })
        })
        .unwrap();
    trainer.save_checkpoint(dir.path(), &p).unwrap();
    let ck: Checkpoint<Adam> = load_checkpoint(dir.path()).unwrap();
    assert!(ck.progress.loss_history[1].is_nan());
    assert_eq!(ck.progress.loss_history[3], f64::NEG_INFINITY);
    assert_eq!(ck.progress.rejected.len(), 2);
    // NaN ≠ NaN, so compare the printed forms.
    assert_eq!(
        format!("{:?}", ck.progress.rejected),
        format!("{:?}", trainer.progress().rejected)
    );
}
