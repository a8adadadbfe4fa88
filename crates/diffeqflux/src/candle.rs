//! Candle modules as explicit-parameter models and as vector fields (DESIGN decision 5), behind
//! the cargo feature `candle`.
//!
//! Any candle-nn module whose weights live in a [`VarMap`] becomes a [`CandleModel`]: its
//! parameters map to one flat `f64` vector, like the native layers' (every variable of the map,
//! **sorted by name**, each flattened row-major), its outputs come from the module's `forward`
//! and its vector-Jacobian products from candle's autograd. [`CandleField`] wraps a model as a
//! `sciml_core` vector field with exact VJPs, so it drives a neural ODE through the solvers and the
//! adjoint sensitivity methods that need only [`Vjp`] (the discrete adjoint, the continuous
//! adjoints).
//!
//! Why not the [`crate::nn::Layer`] trait: a layer is generic over the scalar, so dual numbers
//! pass through it, and candle computes in its own `f32`/`f64` tensors. Converting duals to their
//! values would drop their tangents silently, so a candle module does not pretend to be a layer;
//! it offers what it can compute exactly, on `f64` slices:
//!
//! | capability | provided |
//! |---|---|
//! | forward pass, VJP in input and parameters | yes, [`CandleModel::forward`], [`CandleModel::vjp`] |
//! | [`VectorField`] + [`Vjp`] (`EXACT`) over `Vec<f64>` or `Batch<f64>` | yes, [`CandleField`] |
//! | `Jvp`, dual numbers (`ForwardDiffSensitivity`, `ForwardSensitivity`) | no: a compile error |
//!
//! Data are `features × batch`, column-major, as everywhere in the crate; that is the row-major
//! `(batch, features)` tensor candle-nn layers expect, so no copy reorders anything. The module
//! must map a `(batch, in_dim)` tensor to a `(batch, out_dim)` one.
//!
//! Note on layouts: candle's `Linear` stores its weight as `(out, in)`, row-major, which is the
//! layout of [`crate::nn::Dense`]'s `weight` block too; but the flat vector's blocks follow the
//! variables' names, so `l1.bias` comes before `l1.weight`. Use [`CandleModel::param_names`] /
//! [`CandleModel::param_range`] to move weights between the two.
//!
//! Precision: the variables keep their dtype. With `f32` variables the parameters are rounded to
//! `f32` when written, and outputs and gradients carry `f32` accuracy.
//!
//! Threads: candle's CPU matrix product asks for its thread count on every call, and unless the
//! environment variable `RAYON_NUM_THREADS` is set that means reading `/proc/cpuinfo` (about
//! 30 µs, more than a tiny network's whole forward pass). candle has no other setting for it, and
//! this library sets no environment variable on its own: set `RAYON_NUM_THREADS` before starting
//! the program (`RAYON_NUM_THREADS=2 cargo run ...`), or call [`pin_candle_thread_count`] once at
//! the start of `main`, before other threads exist.
//!
//! ```
//! use candle_core::{DType, Device};
//! use candle_nn::{linear, VarBuilder, VarMap};
//! use diffeqflux::candle::CandleModel;
//!
//! let vm = VarMap::new();
//! let vb = VarBuilder::from_varmap(&vm, DType::F64, &Device::Cpu);
//! let net = candle_nn::seq()
//!     .add(linear(2, 16, vb.pp("l1"))?)
//!     .add_fn(|x| x.tanh())
//!     .add(linear(16, 2, vb.pp("l2"))?);
//! let model = CandleModel::new(net, vm, 2, 2)?;
//! let names: Vec<_> = model.param_names().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]);
//! let p = model.varmap_to_params()?; // the VarMap's initial values, 16 + 32 + 2 + 32
//! assert_eq!(p.len(), 82);
//!
//! // Three samples, features × batch; the output bias's gradient of Σ y is 3 per component.
//! let x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
//! let mut y = [0.0; 6];
//! model.forward(&x, 3, &p, &mut y)?;
//! let (mut xbar, mut pbar) = ([0.0; 6], vec![0.0; p.len()]);
//! model.vjp(&x, 3, &p, &[1.0; 6], &mut xbar, &mut pbar)?;
//! let b2 = model.param_range("l2.bias").expect("a named block");
//! assert!(pbar[b2].iter().all(|g| (g - 3.0).abs() < 1e-12));
//! # Ok::<(), diffeqflux::candle::CandleAdaptorError>(())
//! ```

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::VarMap;
use sciml_core::{Re, SliceState, VectorField, Vjp};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What went wrong building or calling a candle adaptor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CandleAdaptorError {
    /// Candle reported an error (a shape the module rejects, a device or dtype problem).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A slice passed to the adaptor has the wrong length.
    #[error("{what} has {found} values; the candle model needs {expected}")]
    Length {
        /// Which argument (`"x"`, `"p"`, ...).
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The module's output does not have the declared shape.
    #[error(
        "the module maps a (batch, {in_dim}) input to shape {found:?}; expected (batch, {out_dim})"
    )]
    OutputShape {
        /// The declared input features.
        in_dim: usize,
        /// The declared output features.
        out_dim: usize,
        /// The shape the module returned.
        found: Vec<usize>,
    },
    /// The variables of the map do not share one floating-point dtype and device.
    #[error("{0}")]
    Variables(String),
    /// A vector field needs as many outputs as inputs, and at least one sample.
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, CandleAdaptorError>;

/// Sets `RAYON_NUM_THREADS` to [`std::thread::available_parallelism`] (rayon's own default) when
/// it is unset or invalid, so that candle's CPU matrix product stops reading `/proc/cpuinfo` on
/// every call (see the module documentation). Returns the thread count in force.
///
/// This writes the process environment, which is why the library never calls it by itself: call
/// it at the start of `main`, before starting threads (C code reading the environment from
/// another thread at that moment is not synchronised with the write).
///
/// ```
/// let n = diffeqflux::candle::pin_candle_thread_count();
/// assert!(n >= 1);
/// assert_eq!(std::env::var("RAYON_NUM_THREADS").unwrap(), n.to_string());
/// ```
pub fn pin_candle_thread_count() -> usize {
    let set = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0);
    match set {
        Some(n) => n,
        None => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            n
        }
    }
}

/// One variable of the map: its name, the variable, and its block of the flat vector.
struct Slot {
    name: String,
    var: Var,
    range: Range<usize>,
}

struct Inner<M> {
    module: M,
    varmap: VarMap,
    slots: Vec<Slot>,
    nparams: usize,
    in_dim: usize,
    out_dim: usize,
    dtype: DType,
    device: Device,
    /// The parameters this adaptor last wrote into the variables (`None`: unknown). The lock also
    /// serialises calls, since clones share the variables.
    loaded: Mutex<Option<Vec<f64>>>,
}

/// A candle module on a [`VarMap`] as an explicit-parameter model on `f64` slices: forward pass
/// and vector-Jacobian products from candle's autograd, with the parameters in one flat vector.
///
/// The flat vector holds every variable of the map, sorted by name, each flattened row-major;
/// [`CandleModel::param_names`] lists the blocks. A call with parameters `p` writes them into the
/// variables (skipped when they are bit-for-bit those of the previous call) and runs the module.
/// Clones share the module and its variables; calls are serialised by a lock, so clones may be
/// used from several threads, one call at a time.
///
/// If the variables are changed through candle (an optimiser step, [`VarMap::load`]), call
/// [`CandleModel::forget_loaded_params`] before the next call, or that call may skip writing
/// parameters it believes are already in place.
pub struct CandleModel<M> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for CandleModel<M> {
    fn clone(&self) -> Self {
        CandleModel {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> std::fmt::Debug for CandleModel<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleModel")
            .field("in_dim", &self.inner.in_dim)
            .field("out_dim", &self.inner.out_dim)
            .field("nparams", &self.inner.nparams)
            .field("dtype", &self.inner.dtype)
            .finish_non_exhaustive()
    }
}

impl<M: Module> CandleModel<M> {
    /// Wraps `module`, whose variables are those of `varmap`, mapping `in_dim` features per sample
    /// to `out_dim`. Checks that the variables share one floating-point dtype and one device (an
    /// empty map means `f64` on the CPU), and that a one-sample forward pass gives `(1, out_dim)`.
    ///
    /// The first model built in a process pins candle's thread count (see the module
    /// documentation).
    pub fn new(module: M, varmap: VarMap, in_dim: usize, out_dim: usize) -> Result<Self> {
        let mut named: Vec<(String, Var)> = {
            let data = varmap.data().lock().unwrap_or_else(PoisonError::into_inner);
            data.iter().map(|(n, v)| (n.clone(), v.clone())).collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let (dtype, device) = match named.first() {
            Some((_, v)) => (v.dtype(), v.device().clone()),
            None => (DType::F64, Device::Cpu),
        };
        if !dtype.is_float() {
            return Err(CandleAdaptorError::Variables(format!(
                "the variables must be floating point; found {dtype:?}"
            )));
        }
        let mut slots = Vec::with_capacity(named.len());
        let mut offset = 0;
        for (name, var) in named {
            if var.dtype() != dtype {
                return Err(CandleAdaptorError::Variables(format!(
                    "variable {name} is {:?} but the others are {dtype:?}; convert them to one dtype",
                    var.dtype()
                )));
            }
            if !var.device().same_device(&device) {
                return Err(CandleAdaptorError::Variables(format!(
                    "variable {name} is on another device than the others"
                )));
            }
            if !var.is_contiguous() {
                return Err(CandleAdaptorError::Variables(format!(
                    "variable {name} is not contiguous, so it cannot be set"
                )));
            }
            let n = var.elem_count();
            slots.push(Slot {
                name,
                var,
                range: offset..offset + n,
            });
            offset += n;
        }
        let model = CandleModel {
            inner: Arc::new(Inner {
                module,
                varmap,
                slots,
                nparams: offset,
                in_dim,
                out_dim,
                dtype,
                device,
                loaded: Mutex::new(None),
            }),
        };
        // A trial pass at the current values checks the declared shapes (no clone exists yet,
        // so nothing else can be writing the variables).
        let mut y = vec![0.0; out_dim];
        let yt = model
            .inner
            .module
            .forward(&model.input(&vec![0.0; in_dim], 1)?)?;
        model.output(&yt, 1, &mut y)?;
        Ok(model)
    }

    /// Features per input sample.
    pub fn in_dim(&self) -> usize {
        self.inner.in_dim
    }
    /// Features per output sample.
    pub fn out_dim(&self) -> usize {
        self.inner.out_dim
    }
    /// Number of parameters (the elements of every variable).
    pub fn nparams(&self) -> usize {
        self.inner.nparams
    }
    /// The dtype the module computes in (that of its variables).
    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }
    /// The module.
    pub fn module(&self) -> &M {
        &self.inner.module
    }
    /// The variable map (shared with the model: changing it through candle needs
    /// [`CandleModel::forget_loaded_params`]).
    pub fn varmap(&self) -> &VarMap {
        &self.inner.varmap
    }

    /// The variables' names and their blocks of the flat parameter vector, in order (sorted by
    /// name), as [`crate::nn::Layer::param_names`] gives them for native layers.
    pub fn param_names(&self) -> Vec<(String, Range<usize>)> {
        self.inner
            .slots
            .iter()
            .map(|s| (s.name.clone(), s.range.clone()))
            .collect()
    }

    /// The block of the variable called `name`.
    pub fn param_range(&self, name: &str) -> Option<Range<usize>> {
        self.inner
            .slots
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.range.clone())
    }

    /// The variables' current values as a flat vector (`nparams()` values).
    pub fn varmap_to_params(&self) -> Result<Vec<f64>> {
        let _guard = self.lock();
        let mut p = Vec::with_capacity(self.inner.nparams);
        for s in &self.inner.slots {
            let t = s.var.as_tensor().to_dtype(DType::F64)?.flatten_all()?;
            p.extend(t.to_vec1::<f64>()?);
        }
        Ok(p)
    }

    /// Writes the flat vector `p` (`nparams()` values) into the variables.
    pub fn params_to_varmap(&self, p: &[f64]) -> Result<()> {
        check_len("p", self.inner.nparams, p.len())?;
        let mut guard = self.lock();
        *guard = None;
        self.write_params(p)?;
        *guard = Some(p.to_vec());
        Ok(())
    }

    /// Forgets which parameters are in the variables, so the next call writes its own. Needed
    /// after the variables were changed through candle.
    pub fn forget_loaded_params(&self) {
        *self.lock() = None;
    }

    /// `y = module(x; p)`: `x` is `in_dim × batch`, `y` is `out_dim × batch` (both column-major,
    /// i.e. one sample after another).
    pub fn forward(&self, x: &[f64], batch: usize, p: &[f64], y: &mut [f64]) -> Result<()> {
        self.check(x, batch, p)?;
        check_len("y", self.inner.out_dim * batch, y.len())?;
        let mut guard = self.lock();
        self.load(&mut guard, p)?;
        let xt = self.input(x, batch)?;
        let yt = self.inner.module.forward(&xt)?;
        self.output(&yt, batch, y)
    }

    /// Reverse mode through candle's autograd: `xbar = (∂y/∂x)ᵀ ybar` (overwritten) and
    /// `pbar += (∂y/∂p)ᵀ ybar` (accumulated), as [`crate::nn::Layer::vjp`].
    pub fn vjp(
        &self,
        x: &[f64],
        batch: usize,
        p: &[f64],
        ybar: &[f64],
        xbar: &mut [f64],
        pbar: &mut [f64],
    ) -> Result<()> {
        self.check(x, batch, p)?;
        let (n_in, n_out) = (self.inner.in_dim * batch, self.inner.out_dim * batch);
        check_len("ybar", n_out, ybar.len())?;
        check_len("xbar", n_in, xbar.len())?;
        check_len("pbar", self.inner.nparams, pbar.len())?;
        let mut guard = self.lock();
        self.load(&mut guard, p)?;
        let xv = Var::from_tensor(&self.input(x, batch)?)?;
        let yt = self.inner.module.forward(xv.as_tensor())?;
        self.check_output_shape(&yt, batch)?;
        let wt = self.input_shaped(ybar, batch, self.inner.out_dim)?;
        let grads = (yt * wt)?.sum_all()?.backward()?;
        match grads.get(xv.as_tensor()) {
            Some(g) => copy_out(g, xbar)?,
            None => xbar.fill(0.0),
        }
        for s in &self.inner.slots {
            if let Some(g) = grads.get(s.var.as_tensor()) {
                let g = g.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
                for (a, b) in pbar[s.range.clone()].iter_mut().zip(&g) {
                    *a += *b;
                }
            }
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Option<Vec<f64>>> {
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, x: &[f64], batch: usize, p: &[f64]) -> Result<()> {
        if batch == 0 {
            return Err(CandleAdaptorError::Invalid(
                "batch must be at least 1".into(),
            ));
        }
        check_len("x", self.inner.in_dim * batch, x.len())?;
        check_len("p", self.inner.nparams, p.len())
    }

    /// Writes `p` into the variables unless they already hold it.
    fn load(&self, loaded: &mut Option<Vec<f64>>, p: &[f64]) -> Result<()> {
        if let Some(q) = loaded.as_deref() {
            if q.len() == p.len() && q.iter().zip(p).all(|(a, b)| a.to_bits() == b.to_bits()) {
                return Ok(());
            }
        }
        *loaded = None;
        self.write_params(p)?;
        match loaded {
            Some(q) => q.copy_from_slice(p),
            None => *loaded = Some(p.to_vec()),
        }
        Ok(())
    }

    fn write_params(&self, p: &[f64]) -> Result<()> {
        for s in &self.inner.slots {
            let t = Tensor::from_slice(&p[s.range.clone()], s.var.shape(), &self.inner.device)?;
            let t = if self.inner.dtype == DType::F64 {
                t
            } else {
                t.to_dtype(self.inner.dtype)?
            };
            s.var.set(&t)?;
        }
        Ok(())
    }

    fn input(&self, x: &[f64], batch: usize) -> Result<Tensor> {
        self.input_shaped(x, batch, self.inner.in_dim)
    }

    fn input_shaped(&self, x: &[f64], batch: usize, features: usize) -> Result<Tensor> {
        let t = Tensor::from_slice(x, (batch, features), &self.inner.device)?;
        Ok(if self.inner.dtype == DType::F64 {
            t
        } else {
            t.to_dtype(self.inner.dtype)?
        })
    }

    fn check_output_shape(&self, yt: &Tensor, batch: usize) -> Result<()> {
        if yt.dims() != [batch, self.inner.out_dim] {
            return Err(CandleAdaptorError::OutputShape {
                in_dim: self.inner.in_dim,
                out_dim: self.inner.out_dim,
                found: yt.dims().to_vec(),
            });
        }
        Ok(())
    }

    fn output(&self, yt: &Tensor, batch: usize, y: &mut [f64]) -> Result<()> {
        self.check_output_shape(yt, batch)?;
        copy_out(yt, y)
    }
}

/// Copies a tensor's values, converted to `f64`, into `out` (whose length is the tensor's).
fn copy_out(t: &Tensor, out: &mut [f64]) -> Result<()> {
    let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    check_len("the tensor", out.len(), v.len())?;
    out.copy_from_slice(&v);
    Ok(())
}

fn check_len(what: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(CandleAdaptorError::Length {
            what,
            expected,
            found,
        })
    }
}

/// A candle model as a vector field, `du/dt = model(u; p)`, over a single state (`Vec<f64>`) or a
/// batch of states solved as one system (`sciml_core::Batch<f64>`), with exact VJPs from candle's
/// autograd ([`Vjp::EXACT`] is true). It has no `Jvp` and no dual-number lifting, so methods that
/// need them (forward sensitivities, `ForwardDiffSensitivity`) do not compile with it.
///
/// [`VectorField::rhs`] and [`Vjp::vjp`] cannot return errors. Shapes are checked when the field
/// is built, so a failure inside candle afterwards is unexpected; if one happens, the outputs are
/// filled with NaN, which the solver reports as a non-finite state (an `Err`), and the error is
/// kept for [`CandleField::take_error`].
///
/// ```
/// use candle_core::{DType, Device};
/// use candle_nn::{linear, VarBuilder, VarMap};
/// use diffeqflux::candle::{CandleField, CandleModel};
/// use sciml_ode::{OdeProblem, SolveOptions, Tsit5};
///
/// let vm = VarMap::new();
/// let vb = VarBuilder::from_varmap(&vm, DType::F64, &Device::Cpu);
/// let net = candle_nn::seq()
///     .add(linear(2, 8, vb.pp("l1"))?)
///     .add_fn(|x| x.tanh())
///     .add(linear(8, 2, vb.pp("l2"))?);
/// let model = CandleModel::new(net, vm, 2, 2)?;
/// let p = model.varmap_to_params()?;
/// let field = CandleField::<_, Vec<f64>>::new(model, 1)?;
/// let mut prob = OdeProblem::new(field, vec![1.0, 0.0], (0.0, 0.5), p).expect("valid problem");
/// let sol = prob.solve(Tsit5, &SolveOptions::default()).expect("solved");
/// assert!(sol.u.last().is_some_and(|u| u.iter().all(|x| x.is_finite())));
/// # Ok::<(), diffeqflux::candle::CandleAdaptorError>(())
/// ```
pub struct CandleField<M, V> {
    model: CandleModel<M>,
    batch: usize,
    xbar: Vec<f64>,
    error: Option<CandleAdaptorError>,
    _state: std::marker::PhantomData<fn() -> V>,
}

impl<M, V> Clone for CandleField<M, V> {
    /// Clones share the model's variables (calls are serialised); the kept error is not cloned.
    fn clone(&self) -> Self {
        CandleField {
            model: self.model.clone(),
            batch: self.batch,
            xbar: self.xbar.clone(),
            error: None,
            _state: std::marker::PhantomData,
        }
    }
}

impl<M: Module, V: SliceState<S = f64>> CandleField<M, V> {
    /// Wraps `model` (whose input and output sizes must agree) for `batch` samples per state.
    pub fn new(model: CandleModel<M>, batch: usize) -> Result<Self> {
        if model.in_dim() != model.out_dim() {
            return Err(CandleAdaptorError::Invalid(format!(
                "a vector field maps the state to its derivative, so input and output sizes must agree (got {} -> {})",
                model.in_dim(),
                model.out_dim()
            )));
        }
        if batch == 0 {
            return Err(CandleAdaptorError::Invalid(
                "batch must be at least 1".into(),
            ));
        }
        Ok(CandleField {
            xbar: vec![0.0; model.in_dim() * batch],
            model,
            batch,
            error: None,
            _state: std::marker::PhantomData,
        })
    }
    /// The model.
    pub fn model(&self) -> &CandleModel<M> {
        &self.model
    }
    /// The first error candle reported during `rhs` or `vjp` since the last call, if any.
    pub fn take_error(&mut self) -> Option<CandleAdaptorError> {
        self.error.take()
    }
    fn keep(&mut self, e: CandleAdaptorError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

impl<M: Module, V: SliceState<S = f64>> VectorField for CandleField<M, V> {
    type V = V;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        (self.model.in_dim() * self.batch, self.model.nparams())
    }
    fn rhs(&mut self, _t: Re<V>, u: &V, p: &Vec<f64>, du: &mut V) {
        if let Err(e) = self
            .model
            .forward(u.as_slice(), self.batch, p, du.as_mut_slice())
        {
            du.as_mut_slice().fill(f64::NAN);
            self.keep(e);
        }
    }
}

impl<M: Module, V: SliceState<S = f64>> Vjp for CandleField<M, V> {
    const EXACT: bool = true;
    fn vjp(&mut self, _t: Re<V>, u: &V, p: &Vec<f64>, w: &V, gu: &mut V, gp: &mut Vec<f64>) {
        let r = self.model.vjp(
            u.as_slice(),
            self.batch,
            p,
            w.as_slice(),
            &mut self.xbar,
            gp,
        );
        match r {
            Ok(()) => {
                for (g, x) in gu.as_mut_slice().iter_mut().zip(&self.xbar) {
                    *g += *x;
                }
            }
            Err(e) => {
                gu.as_mut_slice().fill(f64::NAN);
                gp.fill(f64::NAN);
                self.keep(e);
            }
        }
    }
}
