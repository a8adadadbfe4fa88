//! Checkpoints: parameters as safetensors, optimiser and trainer state as JSON, each file
//! written to a temporary file in the same directory and renamed into place (layout: see the
//! `train` module's documentation).

use super::TrainProgress;
use crate::optim::Optimiser;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The safetensors tensor holding the whole parameter vector.
pub const PARAMS_TENSOR: &str = "params";
/// The safetensors tensor holding the best parameters in a checkpoint.
pub const BEST_PARAMS_TENSOR: &str = "best_params";
/// The JSON file of a checkpoint directory.
pub const STATE_FILE: &str = "state.json";
const FORMAT: &str = "diffeqflux-checkpoint";
const VERSION: u32 = 1;

/// Errors of saving and loading parameters and checkpoints. Each says which file and what
/// is wrong with it.
///
/// ```
/// use diffeqflux::train::{load_params, CheckpointError};
/// let err = load_params(std::path::Path::new("/no/such/params.safetensors")).unwrap_err();
/// assert!(matches!(err, CheckpointError::NotFound { .. }));
/// assert!(err.to_string().contains("/no/such/params.safetensors"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A file or directory does not exist.
    #[error("`{}` does not exist", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is corrupt or does not hold what was asked for.
    #[error("`{}` is not valid {what}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The checkpoint's optimiser cannot be read as the requested type.
    #[error(
        "the checkpoint `{}` holds a `{stored}` optimiser that cannot be read as `{requested}`: {source}",
        path.display()
    )]
    OptimiserMismatch {
        /// The state file.
        path: PathBuf,
        /// The stored optimiser's name.
        stored: String,
        /// The requested Rust type.
        requested: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A state file of another format or version.
    #[error("`{}` is not a checkpoint this version can read: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file is corrupt.
    #[error("`{}` is not a valid safetensors file: {message}", path.display())]
    SafeTensors {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// A tensor is missing.
    #[error("`{}` has no tensor named `{name}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A tensor has a dtype other than f64.
    #[error("tensor `{name}` in `{}` has dtype {dtype}, expected F64", path.display())]
    WrongDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` in `{}` has shape {shape:?}, expected {expected}", path.display())]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// What was expected.
        expected: String,
    },
    /// A named view of the parameters is invalid.
    #[error("invalid parameter view `{name}`: {reason}")]
    InvalidView {
        /// The view's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| {
        if source.kind() == ErrorKind::NotFound && action == "read" {
            CheckpointError::NotFound { path }
        } else {
            CheckpointError::Io {
                action,
                path,
                source,
            }
        }
    }
}

/// The temporary file a save of `path` writes before renaming it to `path`: `.NAME.tmp` in
/// the same directory (so the rename never crosses file systems).
///
/// ```
/// use diffeqflux::train::temp_path;
/// use std::path::Path;
/// assert_eq!(temp_path(Path::new("ckpt/state.json")), Path::new("ckpt/.state.json.tmp"));
/// ```
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `bytes` to `path` atomically: into [`temp_path`]`(path)`, synced to disk, then
/// renamed over `path`. Readers see the old file or the new one, never a partial one.
///
/// # Errors
/// [`CheckpointError::Io`] if the directory is missing or not writable.
///
/// ```
/// use diffeqflux::train::write_atomically;
/// let path = std::env::temp_dir().join(format!("dfx-doc-atomic-{}.txt", std::process::id()));
/// write_atomically(&path, b"first")?;
/// write_atomically(&path, b"second")?;
/// assert_eq!(std::fs::read(&path)?, b"second");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
        file.write_all(bytes).map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("sync", &tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))
    })();
    if result.is_err() {
        // Best effort: a stale temporary file is harmless, but tidy up when we can.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(path);
    Ok(())
}

/// Syncs the directory holding `path` so the rename itself is durable (best effort; not
/// every platform can open a directory).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    fs::read(path).map_err(io_err("read", path))
}

/// Writes any serde value as pretty JSON, atomically.
///
/// # Errors
/// [`CheckpointError::Io`] on write failure; [`CheckpointError::Json`] if the value cannot
/// be serialised.
///
/// ```
/// use diffeqflux::optim::Adam;
/// use diffeqflux::train::{load_json, save_json};
/// let path = std::env::temp_dir().join(format!("dfx-doc-json-{}.json", std::process::id()));
/// save_json(&path, &Adam::new(0.01)?)?;
/// let back: Adam = load_json(&path)?;
/// assert_eq!(back, Adam::new(0.01)?);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| CheckpointError::Json {
        path: path.to_path_buf(),
        what: "JSON (serialisation failed)",
        source,
    })?;
    write_atomically(path, &bytes)
}

/// Reads a serde value from a JSON file.
///
/// # Errors
/// [`CheckpointError::NotFound`], [`CheckpointError::Io`], or [`CheckpointError::Json`] for
/// corrupt JSON or JSON of another shape.
///
/// ```
/// use diffeqflux::optim::Adam;
/// use diffeqflux::train::{load_json, CheckpointError};
/// let path = std::env::temp_dir().join(format!("dfx-doc-badjson-{}.json", std::process::id()));
/// std::fs::write(&path, "{ not json")?;
/// assert!(matches!(load_json::<Adam>(&path), Err(CheckpointError::Json { .. })));
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Json {
        path: path.to_path_buf(),
        what: "JSON for this type",
        source,
    })
}

/// Checks named views against a parameter vector of length `n`: non-empty unique names
/// other than the reserved tensor names, ranges inside `0..n`.
pub(crate) fn check_views(
    views: &[(String, Range<usize>)],
    n: usize,
) -> Result<(), CheckpointError> {
    let mut seen = std::collections::HashSet::new();
    for (name, range) in views {
        let bad = |reason: String| CheckpointError::InvalidView {
            name: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("the name is empty".into()));
        }
        if name == PARAMS_TENSOR || name == BEST_PARAMS_TENSOR {
            return Err(bad(format!(
                "`{PARAMS_TENSOR}` and `{BEST_PARAMS_TENSOR}` are reserved tensor names"
            )));
        }
        if !seen.insert(name.as_str()) {
            return Err(bad("the name appears twice".into()));
        }
        if range.start > range.end || range.end > n {
            return Err(bad(format!(
                "range {}..{} does not lie inside the {n} parameters",
                range.start, range.end
            )));
        }
    }
    Ok(())
}

fn to_le_bytes(v: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * v.len());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Serialises named f64 vectors into safetensors bytes.
fn encode(
    path: &Path,
    tensors: &[(&str, &[f64])],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, CheckpointError> {
    let st_err = |e: safetensors::SafeTensorError| CheckpointError::SafeTensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let bytes: Vec<(&str, Vec<u8>)> = tensors
        .iter()
        .map(|(name, v)| (*name, to_le_bytes(v)))
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for ((name, data), (_, v)) in bytes.iter().zip(tensors) {
        views.push((
            name.to_string(),
            TensorView::new(Dtype::F64, vec![v.len()], data).map_err(st_err)?,
        ));
    }
    safetensors::serialize(views, &metadata).map_err(st_err)
}

/// Reads one f64 vector from parsed safetensors; `expected` checks its length.
fn decode(
    st: &SafeTensors<'_>,
    path: &Path,
    name: &str,
    expected: Option<usize>,
) -> Result<Vec<f64>, CheckpointError> {
    let view = st
        .tensor(name)
        .map_err(|_| CheckpointError::MissingTensor {
            path: path.to_path_buf(),
            name: name.to_string(),
        })?;
    if view.dtype() != Dtype::F64 {
        return Err(CheckpointError::WrongDtype {
            path: path.to_path_buf(),
            name: name.to_string(),
            dtype: format!("{:?}", view.dtype()),
        });
    }
    let shape = view.shape().to_vec();
    let ok = shape.len() == 1 && expected.is_none_or(|n| shape[0] == n);
    if !ok {
        return Err(CheckpointError::WrongShape {
            path: path.to_path_buf(),
            name: name.to_string(),
            shape,
            expected: match expected {
                Some(n) => format!("[{n}]"),
                None => "one dimension".into(),
            },
        });
    }
    Ok(view
        .data()
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            f64::from_le_bytes(b)
        })
        .collect())
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>, CheckpointError> {
    SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::SafeTensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Saves a parameter vector as a safetensors file, atomically: tensor `"params"` (f64,
/// shape `[n]`) plus one f64 tensor per named view `(name, range)` holding
/// `params[range]` — e.g. a layer's `param_names()` — so candle and PyTorch
/// (`safetensors.torch.load_file`) can read the blocks by name.
///
/// # Errors
/// [`CheckpointError::InvalidView`] for a bad view, [`CheckpointError::Io`] on write failure.
///
/// ```
/// use diffeqflux::train::{load_named_params, load_params, save_params};
/// let path = std::env::temp_dir().join(format!("dfx-doc-params-{}.safetensors", std::process::id()));
/// let p = [1.0, 2.0, 3.0, 4.0, 5.0];
/// save_params(&path, &p, &[("weight".into(), 0..4), ("bias".into(), 4..5)])?;
/// assert_eq!(load_params(&path)?, p);
/// let named = load_named_params(&path)?;
/// assert_eq!(named["bias"], vec![5.0]);
/// assert_eq!(named["weight"], vec![1.0, 2.0, 3.0, 4.0]);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_params(
    path: &Path,
    params: &[f64],
    views: &[(String, Range<usize>)],
) -> Result<(), CheckpointError> {
    let bytes = encode_params(path, params, None, views, None)?;
    write_atomically(path, &bytes)
}

fn encode_params(
    path: &Path,
    params: &[f64],
    best: Option<&[f64]>,
    views: &[(String, Range<usize>)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, CheckpointError> {
    check_views(views, params.len())?;
    let mut tensors: Vec<(&str, &[f64])> = vec![(PARAMS_TENSOR, params)];
    if let Some(b) = best {
        tensors.push((BEST_PARAMS_TENSOR, b));
    }
    for (name, range) in views {
        tensors.push((name.as_str(), &params[range.clone()]));
    }
    encode(path, &tensors, metadata)
}

/// Loads the `"params"` tensor of a safetensors file.
///
/// # Errors
/// [`CheckpointError::NotFound`], [`CheckpointError::SafeTensors`] for a corrupt file,
/// [`CheckpointError::MissingTensor`], [`CheckpointError::WrongDtype`] unless f64,
/// [`CheckpointError::WrongShape`] unless one-dimensional.
///
/// ```
/// use diffeqflux::train::{load_params, save_params};
/// let path = std::env::temp_dir().join(format!("dfx-doc-load-{}.safetensors", std::process::id()));
/// save_params(&path, &[0.5, -0.5], &[])?;
/// assert_eq!(load_params(&path)?, vec![0.5, -0.5]);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_params(path: &Path) -> Result<Vec<f64>, CheckpointError> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    decode(&st, path, PARAMS_TENSOR, None)
}

/// Loads every tensor of a safetensors file by name; each must be a one-dimensional f64
/// tensor.
///
/// # Errors
/// As [`load_params`], for any tensor.
///
/// ```
/// use diffeqflux::train::{load_named_params, save_params};
/// let path = std::env::temp_dir().join(format!("dfx-doc-named-{}.safetensors", std::process::id()));
/// save_params(&path, &[1.0, 2.0], &[("a".into(), 1..2)])?;
/// let all = load_named_params(&path)?;
/// assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "params"]);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_named_params(path: &Path) -> Result<BTreeMap<String, Vec<f64>>, CheckpointError> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    let mut out = BTreeMap::new();
    for name in st.names() {
        out.insert(name.clone(), decode(&st, path, name, None)?);
    }
    Ok(out)
}

/// The contents of `state.json`.
#[derive(Serialize, Deserialize)]
struct StateFile<O, P> {
    format: String,
    version: u32,
    generation: u64,
    params_file: String,
    n_params: usize,
    views: Vec<(String, Range<usize>)>,
    optimiser_kind: String,
    optimiser: O,
    trainer: P,
}

/// A loaded checkpoint.
///
/// ```
/// use diffeqflux::optim::Sgd;
/// use diffeqflux::train::{load_checkpoint, save_checkpoint, Checkpoint, TrainProgress};
/// let dir = std::env::temp_dir().join(format!("dfx-doc-ck-{}", std::process::id()));
/// let sgd = Sgd::new(0.1)?;
/// save_checkpoint(&dir, &[1.0, 2.0], &sgd, &TrainProgress::default(), &[])?;
/// let ck: Checkpoint<Sgd> = load_checkpoint(&dir)?;
/// assert_eq!(ck.params, vec![1.0, 2.0]);
/// assert_eq!(ck.optimiser, sgd);
/// assert_eq!(ck.generation, 1);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<O> {
    /// The parameters.
    pub params: Vec<f64>,
    /// The optimiser with its state.
    pub optimiser: O,
    /// The trainer's progress, `best_params` included.
    pub progress: TrainProgress,
    /// The named views of the parameters saved with it.
    pub views: Vec<(String, Range<usize>)>,
    /// The save counter of the directory (1 for the first save).
    pub generation: u64,
}

fn params_file_name(generation: u64) -> String {
    format!("params-{generation}.safetensors")
}

fn parse_params_file_name(name: &str) -> Option<u64> {
    name.strip_prefix("params-")?
        .strip_suffix(".safetensors")?
        .parse()
        .ok()
}

/// Saves a checkpoint into the directory `dir` (created if missing): parameters, best
/// parameters (`progress.best_params`, if any) and named views as safetensors, the optimiser
/// and the progress as JSON. Returns the new generation number. See the
/// [`train` module documentation](crate::train#checkpoint-layout) for the layout and why an interrupted save never damages the
/// previous checkpoint.
///
/// # Errors
/// [`CheckpointError::InvalidView`] for a bad view or `best_params` of another length,
/// [`CheckpointError::Io`] on write failure, [`CheckpointError::Json`] if the optimiser
/// cannot be serialised.
///
/// ```
/// use diffeqflux::optim::{Adam, Optimiser};
/// use diffeqflux::train::{load_checkpoint, save_checkpoint, Checkpoint, TrainProgress};
/// let dir = std::env::temp_dir().join(format!("dfx-doc-save-ck-{}", std::process::id()));
/// let mut adam = Adam::new(0.1)?;
/// let mut p = vec![1.0, 2.0, 3.0];
/// adam.step(&mut p, &[0.1, 0.2, 0.3])?;
/// let views = vec![("w".to_string(), 0..2), ("b".to_string(), 2..3)];
/// assert_eq!(save_checkpoint(&dir, &p, &adam, &TrainProgress::default(), &views)?, 1);
/// assert_eq!(save_checkpoint(&dir, &p, &adam, &TrainProgress::default(), &views)?, 2);
/// let ck: Checkpoint<Adam> = load_checkpoint(&dir)?;
/// assert_eq!((ck.params, ck.optimiser, ck.views), (p, adam, views));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_checkpoint<O: Optimiser + Serialize>(
    dir: &Path,
    params: &[f64],
    optimiser: &O,
    progress: &TrainProgress,
    views: &[(String, Range<usize>)],
) -> Result<u64, CheckpointError> {
    let best = if progress.best_params.is_empty() {
        None
    } else if progress.best_params.len() == params.len() {
        Some(progress.best_params.as_slice())
    } else {
        return Err(CheckpointError::InvalidView {
            name: BEST_PARAMS_TENSOR.into(),
            reason: format!(
                "the best parameters have length {}, the parameters {}",
                progress.best_params.len(),
                params.len()
            ),
        });
    };
    check_views(views, params.len())?;
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let state_path = dir.join(STATE_FILE);

    // The next generation: one past the committed one, skipping names already on disk (left
    // by an interrupted save).
    let mut generation = load_json::<StateFile<serde_json::Value, serde_json::Value>>(&state_path)
        .map(|s| s.generation + 1)
        .unwrap_or(1);
    while dir.join(params_file_name(generation)).exists() {
        generation += 1;
    }
    let params_name = params_file_name(generation);
    let params_path = dir.join(&params_name);

    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("producer".to_string(), FORMAT.to_string()),
        ("generation".to_string(), generation.to_string()),
    ]);
    let bytes = encode_params(&params_path, params, best, views, Some(metadata))?;
    write_atomically(&params_path, &bytes)?;

    let state = StateFile {
        format: FORMAT.to_string(),
        version: VERSION,
        generation,
        params_file: params_name.clone(),
        n_params: params.len(),
        views: views.to_vec(),
        optimiser_kind: optimiser.name().to_string(),
        optimiser,
        trainer: progress,
    };
    save_json(&state_path, &state)?;

    // Committed: older parameter files are no longer referenced.
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if parse_params_file_name(&name).is_some_and(|g| g != generation) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(generation)
}

/// Loads a checkpoint saved by [`save_checkpoint`], validating every part.
///
/// # Errors
/// [`CheckpointError::NotFound`] if the directory, `state.json` or the parameter file is
/// missing; [`CheckpointError::Json`] for a corrupt `state.json`;
/// [`CheckpointError::Format`] for another format or version;
/// [`CheckpointError::OptimiserMismatch`] if the optimiser is of another type (or invalid);
/// [`CheckpointError::SafeTensors`], [`CheckpointError::MissingTensor`],
/// [`CheckpointError::WrongDtype`], [`CheckpointError::WrongShape`] for a bad parameter file.
///
/// ```
/// use diffeqflux::optim::Adam;
/// use diffeqflux::train::{load_checkpoint, CheckpointError};
/// let dir = std::env::temp_dir().join("dfx-doc-missing-checkpoint");
/// assert!(matches!(load_checkpoint::<Adam>(&dir), Err(CheckpointError::NotFound { .. })));
/// ```
pub fn load_checkpoint<O: Optimiser + DeserializeOwned>(
    dir: &Path,
) -> Result<Checkpoint<O>, CheckpointError> {
    if !dir.is_dir() {
        return Err(CheckpointError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let state_path = dir.join(STATE_FILE);
    let bytes = read_file(&state_path)?;
    let state: StateFile<serde_json::Value, TrainProgress> = serde_json::from_slice(&bytes)
        .map_err(|source| CheckpointError::Json {
            path: state_path.clone(),
            what: "checkpoint state",
            source,
        })?;
    let format_err = |reason: String| CheckpointError::Format {
        path: state_path.clone(),
        reason,
    };
    if state.format != FORMAT {
        return Err(format_err(format!(
            "format is `{}`, expected `{FORMAT}`",
            state.format
        )));
    }
    if state.version != VERSION {
        return Err(format_err(format!(
            "version {} (this library reads version {VERSION})",
            state.version
        )));
    }
    if parse_params_file_name(&state.params_file).is_none() {
        return Err(format_err(format!(
            "parameter file name `{}` is not of the form params-<generation>.safetensors",
            state.params_file
        )));
    }
    let optimiser: O = serde_json::from_value(state.optimiser).map_err(|source| {
        CheckpointError::OptimiserMismatch {
            path: state_path.clone(),
            stored: state.optimiser_kind.clone(),
            requested: std::any::type_name::<O>(),
            source,
        }
    })?;
    let params_path = dir.join(&state.params_file);
    let bytes = read_file(&params_path)?;
    let st = parse(&params_path, &bytes)?;
    let params = decode(&st, &params_path, PARAMS_TENSOR, Some(state.n_params))?;
    let mut progress = state.trainer;
    progress.best_params = if st.names().iter().any(|n| *n == BEST_PARAMS_TENSOR) {
        decode(&st, &params_path, BEST_PARAMS_TENSOR, Some(state.n_params))?
    } else {
        Vec::new()
    };
    check_views(&state.views, state.n_params)?;
    Ok(Checkpoint {
        params,
        optimiser,
        progress,
        views: state.views,
        generation: state.generation,
    })
}
