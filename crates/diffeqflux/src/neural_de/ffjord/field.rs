//! [`FfjordField`]: the augmented dynamics of a continuous normalizing flow,
//! `d/dt [z; l; e; j] = [f(z, t); −tr(∂f/∂z); ‖f‖²; ‖(∂f/∂z) ε‖²]`, over a batch of samples
//! solved as one system, with its exact VJP (second derivatives of the network by the layers'
//! forward-over-reverse pass, `Layer::vjp_tangent`).

use super::super::memo::PassMemo;
use super::super::{ModelField, NeuralParams};
use crate::nn::{Input, Layer};
use sciml_core::{
    rng::Xoshiro256pp, Dual64, Error, Re, Scalar, SliceState, State, VectorField, Vjp, Zero,
};
use sciml_sensitivity::DualField;

/// How the trace `tr(∂f/∂z)` in the log-density's equation is computed.
///
/// ```
/// use diffeqflux::neural_de::{ProbeKind, Trace};
/// assert_eq!(Trace::default(), Trace::Exact);
/// let t = Trace::Hutchinson(ProbeKind::Rademacher);
/// assert_ne!(t, Trace::Exact);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trace {
    /// Exactly, from `n` Jacobian-vector products (one per data dimension) over the whole batch.
    #[default]
    Exact,
    /// Hutchinson's unbiased estimator `εᵀ (∂f/∂z) ε` (Grathwohl et al. 2019, FFJORD, eq. 7),
    /// one Jacobian-vector product per evaluation. One probe `ε` per sample is drawn for each
    /// forward solve and held fixed through it and through its backward pass.
    Hutchinson(ProbeKind),
}

/// The distribution of Hutchinson's probes (both have zero mean and identity covariance, so
/// `E[εᵀ J ε] = tr J`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// Standard normal components.
    Gaussian,
    /// Components ±1 with equal probability (lower variance than Gaussian probes).
    Rademacher,
}

/// Scratch of one scalar type: the network's input, tangents, output, cotangents and workspace.
#[derive(Clone)]
struct Scratch<S: Scalar> {
    /// Network input, `[z; t]` or `z` per sample.
    x: Vec<S>,
    /// Input tangents, one batch per trace direction (zero on the time row).
    xdot: Vec<S>,
    /// Network output `f`.
    y: Vec<S>,
    /// Output tangents `J xdot`, one batch per direction.
    ydot: Vec<S>,
    /// Output cotangents, one batch per direction, and the cotangent tangent (the VJP's).
    ybar: Vec<S>,
    ybar_dot: Vec<S>,
    /// The VJP's input cotangents (one batch per direction), the tangent summed over the
    /// directions and the parameter cotangent's tangent.
    xbar: Vec<S>,
    xbar_dot: Vec<S>,
    pbar_dot: Vec<S>,
    /// The layers' workspace (for the passes and for the multi-direction passes).
    ws: Vec<S>,
    /// The forward passes kept for the reverse pass (outputs and tangents of every layer,
    /// [`Layer::jvp_dirs_tape`]), keyed by the part's state.
    memo: PassMemo<S>,
}

impl<S: Scalar> Scratch<S> {
    /// Scratch for `batch` samples (states of `m` features each) and `ndir` trace directions,
    /// keeping forward passes in up to `memory` bytes.
    fn new<L: Layer>(model: &L, (batch, m): (usize, usize), ndir: usize, memory: usize) -> Self {
        let z = S::zero();
        let nin = model.in_dim() * batch;
        let nout = model.out_dim() * batch;
        // One direction (Hutchinson) runs the plain passes, which need less, unless it keeps
        // its forward passes (the multi-direction ones).
        let memo = PassMemo::new(memory, model.dirs_tape_len(batch, ndir), m * batch);
        let tangent_ws = if ndir == 1 && !memo.enabled() {
            model.tangent_workspace_len(batch)
        } else {
            model.dirs_workspace_len(batch, ndir)
        };
        let ws = model.workspace_len(batch).max(tangent_ws);
        Scratch {
            x: vec![z; nin],
            xdot: vec![z; nin * ndir],
            y: vec![z; nout],
            ydot: vec![z; nout * ndir],
            ybar: vec![z; nout * ndir],
            ybar_dot: vec![z; nout],
            xbar: vec![z; nin * ndir],
            xbar_dot: vec![z; nin],
            pbar_dot: vec![z; model.nparams()],
            ws: vec![z; ws],
            memo,
        }
    }
}

/// The augmented vector field of FFJORD (Grathwohl et al. 2019; the regularisers of Finlay et
/// al. 2020, "How to train your neural ODE"): for each sample of a batch, the state column is
/// `[z (n); l; e; j]` (`e` and `j` only when regularised) and
///
/// ```text
/// z' = f(z, t),   l' = −tr(∂f/∂z),   e' = ‖f‖²,   j' = ‖(∂f/∂z) ε‖²
/// ```
///
/// where `f` is the network, fed `[z; t]` when its input has one more feature than its output
/// (the time input of the W5 workload) and `z` otherwise. With the exact trace, `j` integrates
/// `‖∂f/∂z‖²_F` exactly (the sum of the `n` JVPs' squares); with Hutchinson's estimator it
/// integrates `‖(∂f/∂z) ε‖²`, an unbiased estimate of it (RNODE uses `εᵀ ∂f/∂z`, which has the
/// same mean).
///
/// The state is any slice state holding the `features × batch` columns: `sciml_core::Batch`
/// (what [`super::Ffjord`] solves) or a flat `Vec` (dual numbers pass through this one, so
/// `ForwardDiffSensitivity` checks the adjoint). Its VJP is exact: the trace's derivatives are
/// second derivatives of the network, from the layers' forward-over-reverse pass
/// ([`Layer::vjp_tangent`], in plain scalars).
///
/// ```
/// use diffeqflux::neural_de::{FfjordField, Trace};
/// use diffeqflux::nn::{Activation, Dense};
/// use sciml_core::VectorField;
/// // f(z) = A z with A = [[1, 2], [0, 3]]: z' = A z and l' = −tr A = −4.
/// let mut f = FfjordField::<_, Vec<f64>>::new(Dense::new(2, 2, Activation::Identity), 1, Trace::Exact, false)?;
/// let p = vec![1.0, 2.0, 0.0, 3.0, 0.0, 0.0];
/// let mut du = vec![0.0; 3];
/// f.rhs(0.0, &vec![1.0, 1.0, 0.0], &p, &mut du);
/// assert_eq!(du, [3.0, 3.0, -4.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FfjordField<L, V: State> {
    model: L,
    dim: usize,
    time_input: bool,
    batch: usize,
    regularised: bool,
    trace: Trace,
    /// Hutchinson's probes, `dim × batch` (empty for the exact trace).
    probes: Vec<V::S>,
    /// Samples per part of the batch (the last part may have fewer).
    part_len: usize,
    /// Scratch per part of the batch (one part unless split by [`FfjordField::split_batch`]).
    parts: Vec<Scratch<V::S>>,
    /// Bytes the kept forward passes may take ([`FfjordField::forward_memory`]).
    memory: usize,
}

impl<L: Layer + Clone, V: State> Clone for FfjordField<L, V> {
    fn clone(&self) -> Self {
        FfjordField {
            model: self.model.clone(),
            dim: self.dim,
            time_input: self.time_input,
            batch: self.batch,
            regularised: self.regularised,
            trace: self.trace,
            probes: self.probes.clone(),
            part_len: self.part_len,
            parts: self.parts.clone(),
            memory: self.memory,
        }
    }
}

impl<L: Layer, V: SliceState> FfjordField<L, V> {
    /// The field of `model` for `batch` samples. The model maps `n` features to `n` (no time
    /// input) or `n + 1` to `n` (`[z; t]`); `regularised` adds the kinetic-energy and Jacobian
    /// Frobenius integrals to each column. Hutchinson's probes start at zero: draw them with
    /// [`FfjordField::draw_probes`] or set them with [`FfjordField::set_probes`].
    pub fn new(model: L, batch: usize, trace: Trace, regularised: bool) -> Result<Self, Error> {
        let dim = model.out_dim();
        let time_input = match model.in_dim() {
            i if i == dim => false,
            i if i == dim + 1 => true,
            i => {
                return Err(Error::InvalidOption {
                    option: "model",
                    reason: format!(
                        "a CNF's network maps z (n features) or [z; t] (n + 1) to dz/dt (n); it maps {i} -> {dim}"
                    ),
                })
            }
        };
        if dim == 0 || batch == 0 {
            return Err(Error::InvalidOption {
                option: if dim == 0 { "model" } else { "batch" },
                reason: "must be at least 1".into(),
            });
        }
        let (nprobes, ndir) = match trace {
            Trace::Exact => (0, dim),
            Trace::Hutchinson(_) => (dim * batch, 1),
        };
        Ok(FfjordField {
            part_len: batch,
            parts: vec![Scratch::new(
                &model,
                (batch, augmented_features(dim, regularised)),
                ndir,
                0,
            )],
            memory: 0,
            probes: vec![V::S::zero(); nprobes],
            dim,
            time_input,
            batch,
            regularised,
            trace,
            model,
        })
    }

    /// Splits the batch into at most `parts` parts of equal size (the last may be smaller), each with its own scratch; with
    /// the crate's `rayon` feature the parts are evaluated on rayon's pool (all cores), without
    /// it one after another. Each sample's derivatives are computed as before (bitwise, while
    /// every part has at least 4 samples, from where the dense products keep one form); the
    /// parameter cotangent adds the parts' sums in order, which rounds differently.
    ///
    /// ```
    /// use diffeqflux::neural_de::{FfjordField, Trace};
    /// use diffeqflux::nn::{Activation, Dense};
    /// let f = FfjordField::<_, Vec<f64>>::new(Dense::new(2, 2, Activation::Tanh), 10, Trace::Exact, false)?;
    /// assert_eq!(f.split_batch(3)?.parts(), 3);
    /// let f = FfjordField::<_, Vec<f64>>::new(Dense::new(2, 2, Activation::Tanh), 2, Trace::Exact, false)?;
    /// assert!(f.split_batch(3).is_err()); // more parts than samples
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split_batch(mut self, parts: usize) -> Result<Self, Error> {
        if parts == 0 || parts > self.batch {
            return Err(Error::InvalidOption {
                option: "parts",
                reason: format!(
                    "the batch of {} samples splits into 1 to {} parts, not {parts}",
                    self.batch, self.batch
                ),
            });
        }
        let part_len = self.batch.div_ceil(parts);
        self.part_len = part_len;
        self.rebuild_parts();
        Ok(self)
    }

    /// Keeps the network's forward passes of the latest right-hand side evaluations, up to
    /// `bytes` in all (0, the default: none), so that a VJP at one of those points reads them
    /// back instead of repeating the pass: the discrete adjoint's reverse sweep asks for the
    /// VJP at every stage of every accepted step, and with the passes kept it costs about a
    /// third less (W5). A point matches when its time, state and parameters equal the
    /// evaluation's, and the results are bitwise those without; the oldest passes make way for
    /// new ones (the reverse sweep asks for the newest first). Only layers that record their
    /// passes ([`Layer::dirs_tape_len`], e.g. [`crate::nn::Chain`]) keep any.
    ///
    /// ```
    /// use diffeqflux::neural_de::{FfjordField, Trace};
    /// use diffeqflux::nn::{Activation, Chain, Dense};
    /// use sciml_core::{VectorField, Vjp};
    /// let net = Chain::new((Dense::new(2, 8, Activation::Tanh), Dense::new(8, 2, Activation::Identity)))?;
    /// let mut f = FfjordField::<_, Vec<f64>>::new(net, 1, Trace::Exact, false)?.forward_memory(1 << 20);
    /// let p: Vec<f64> = (0..f.dims().1).map(|i| 0.05 * i as f64 - 0.4).collect();
    /// let (u, w) = (vec![0.3, -0.7, 0.0], vec![1.0, 0.5, 2.0]);
    /// let mut du = vec![0.0; 3];
    /// f.rhs(0.25, &u, &p, &mut du);
    /// let (mut gu, mut gp) = (vec![0.0; 3], vec![0.0; p.len()]);
    /// f.vjp(0.25, &u, &p, &w, &mut gu, &mut gp);
    /// assert_eq!(f.forward_reuses(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward_memory(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self.rebuild_parts();
        self
    }

    /// How many VJPs read a kept forward pass ([`FfjordField::forward_memory`]).
    pub fn forward_reuses(&self) -> usize {
        self.parts.iter().map(|s| s.memo.hits()).sum()
    }

    /// The bytes the kept forward passes may take ([`FfjordField::forward_memory`]).
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Forgets the kept forward passes (keeping their buffers).
    pub(crate) fn forget_passes(&mut self) {
        for s in &mut self.parts {
            s.memo.forget();
        }
    }

    /// Samples per part of the batch.
    pub(crate) fn part_len(&self) -> usize {
        self.part_len
    }

    /// The parts' scratch for the current split and memory.
    fn rebuild_parts(&mut self) {
        let nd = self.shape().ndirections();
        let nparts = self.batch.div_ceil(self.part_len);
        let m = self.features();
        self.parts = part_sizes(self.batch, self.part_len)
            .map(|b| Scratch::new(&self.model, (b, m), nd, self.memory / nparts))
            .collect();
    }

    /// How many parts the batch is evaluated in (see [`FfjordField::split_batch`]).
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// The network.
    pub fn model(&self) -> &L {
        &self.model
    }
    /// Data dimension `n`.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Features of a state column: `n + 1`, or `n + 3` when regularised.
    pub fn features(&self) -> usize {
        augmented_features(self.dim, self.regularised)
    }
    /// Samples per state.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Whether the network takes `[z; t]`.
    pub fn time_input(&self) -> bool {
        self.time_input
    }
    /// The trace computation.
    pub fn trace(&self) -> Trace {
        self.trace
    }
    /// Whether the regularisers' integrals are part of the state.
    pub fn regularised(&self) -> bool {
        self.regularised
    }
    /// Hutchinson's probes (`n × batch`, column-major; empty for the exact trace).
    pub fn probes(&self) -> &[V::S] {
        &self.probes
    }

    /// Draws new probes from `rng` (nothing for the exact trace): what each forward solve of
    /// [`super::Ffjord`] does, so the backward pass replays the same ones.
    pub fn draw_probes(&mut self, rng: &mut Xoshiro256pp) {
        if let Trace::Hutchinson(kind) = self.trace {
            for e in self.probes.iter_mut() {
                let v = match kind {
                    ProbeKind::Gaussian => rng.normal(),
                    ProbeKind::Rademacher => {
                        if rng.next_u64() >> 63 == 0 {
                            -1.0
                        } else {
                            1.0
                        }
                    }
                };
                *e = V::S::cst(v);
            }
        }
    }

    /// Sets the probes (`n × batch` values, column-major): fixed probes for tests and for
    /// replaying an estimate.
    pub fn set_probes(&mut self, probes: &[f64]) -> Result<(), Error> {
        if self.probes.len() != probes.len() {
            return Err(Error::DimensionMismatch {
                what: match self.trace {
                    Trace::Exact => "probes (the exact trace takes none)".into(),
                    Trace::Hutchinson(_) => "probes (n × batch)".into(),
                },
                expected: self.probes.len(),
                got: probes.len(),
            });
        }
        for (e, v) in self.probes.iter_mut().zip(probes) {
            *e = V::S::cst(*v);
        }
        Ok(())
    }
    fn shape(&self) -> Shape<V::S> {
        Shape {
            dim: self.dim,
            nin: self.model.in_dim(),
            m: self.features(),
            batch: self.batch,
            time_input: self.time_input,
            trace: self.trace,
            _s: std::marker::PhantomData,
        }
    }
}

/// The layout of a state and of the network's input, and the trace's directions: what the
/// passes need besides the scratch (a copy, so the scratch can be borrowed mutably beside it).
#[derive(Clone, Copy)]
struct Shape<S> {
    dim: usize,
    nin: usize,
    m: usize,
    batch: usize,
    time_input: bool,
    trace: Trace,
    _s: std::marker::PhantomData<S>,
}

impl<S: Scalar> Shape<S> {
    /// Writes the network's input `[z; t]` (or `z`) for every sample of the state `u`.
    fn load_input<T: Scalar>(&self, u: &[S], t: S::Re, x: &mut [T], lift: impl Fn(S) -> T) {
        let (n, m, nin) = (self.dim, self.m, self.nin);
        for b in 0..self.batch {
            let (col, xin) = (&u[b * m..b * m + n], &mut x[b * nin..(b + 1) * nin]);
            for (xi, ui) in xin.iter_mut().zip(col) {
                *xi = lift(*ui);
            }
            if self.time_input {
                xin[n] = lift(S::from_re(t));
            }
        }
    }

    /// Writes direction `v` into the input tangent `xdot`: the unit vector `e_v` (exact trace)
    /// or the probes (Hutchinson, `v = 0`), zero on the time row.
    fn load_tangent(&self, v: usize, probes: &[S], xdot: &mut [S]) {
        let (n, nin) = (self.dim, self.nin);
        xdot.iter_mut().for_each(|x| *x = S::zero());
        for b in 0..self.batch {
            let col = &mut xdot[b * nin..b * nin + n];
            match self.trace {
                Trace::Exact => col[v] = S::one(),
                Trace::Hutchinson(_) => col.copy_from_slice(&probes[b * n..(b + 1) * n]),
            }
        }
    }

    /// Writes every direction into `xdot`, one batch after another (what
    /// [`Layer::jvp_dirs`] takes).
    fn load_tangents(&self, probes: &[S], xdot: &mut [S]) {
        let nb = self.nin * self.batch;
        for (v, block) in xdot.chunks_exact_mut(nb).enumerate() {
            self.load_tangent(v, probes, block);
        }
    }

    /// How many directions the trace needs.
    fn ndirections(&self) -> usize {
        match self.trace {
            Trace::Exact => self.dim,
            Trace::Hutchinson(_) => 1,
        }
    }

    /// Component `k` of direction `v` for sample `b`.
    fn direction(&self, v: usize, b: usize, k: usize, probes: &[S]) -> S {
        match self.trace {
            Trace::Exact if k == v => S::one(),
            Trace::Exact => S::zero(),
            Trace::Hutchinson(_) => probes[b * self.dim + k],
        }
    }
}

/// Features of a state column for data dimension `n`.
pub(crate) fn augmented_features(n: usize, regularised: bool) -> usize {
    if regularised {
        n + 3
    } else {
        n + 1
    }
}

impl<L: Layer, V: SliceState> VectorField for FfjordField<L, V> {
    type V = V;
    type P = Vec<V::S>;
    fn dims(&self) -> (usize, usize) {
        (self.features() * self.batch, self.model.nparams())
    }
    fn rhs(&mut self, t: Re<V>, u: &V, p: &Vec<V::S>, du: &mut V) {
        let sh = self.shape();
        let (m, pl) = (sh.m, self.part_len);
        let (model, reg) = (&self.model, self.regularised);
        let parts = u
            .as_slice()
            .chunks(pl * m)
            .zip(du.as_mut_slice().chunks_mut(pl * m));
        let items: Vec<_> = parts
            .enumerate()
            .map(|(k, (u, du))| (part_probes(&self.probes, k, pl, sh.dim), u, du))
            .collect();
        for_each_part(&mut self.parts, items, |s, (probes, u, du)| {
            let sh = Shape {
                batch: u.len() / m,
                ..sh
            };
            rhs_part(&sh, model, reg, s, (t, u, p, probes), du);
        });
    }
}

/// The field's equations for one part of the batch: `u`, `du` and `probes` are its columns.
fn rhs_part<L: Layer, S: Scalar>(
    sh: &Shape<S>,
    model: &L,
    regularised: bool,
    s: &mut Scratch<S>,
    (t, u, p, probes): (S::Re, &[S], &[S], &[S]),
    du: &mut [S],
) {
    let (n, m, batch) = (sh.dim, sh.m, sh.batch);
    sh.load_input(u, t, &mut s.x, |v| v);
    for b in 0..batch {
        du[b * m + n..(b + 1) * m]
            .iter_mut()
            .for_each(|d| *d = S::zero());
    }
    // Every direction's JVP in one pass: the network's values once, the tangents of all the
    // directions through one product per layer.
    let nd = sh.ndirections();
    sh.load_tangents(probes, &mut s.xdot);
    if s.memo.enabled() {
        // The same pass, recorded for a VJP at this point.
        let inp = Input { x: &s.x, batch, p };
        let (y, ydot, ws) = (&mut s.y, &mut s.ydot, &mut s.ws);
        s.memo.record(t, u, p, |tape| {
            model.jvp_dirs_tape(inp, nd, &s.xdot, y, ydot, tape, ws)
        });
    } else {
        jvp_all(model, (batch, p), nd, s);
    }
    for v in 0..nd {
        let ydot = &s.ydot[v * n * batch..(v + 1) * n * batch];
        for b in 0..batch {
            let jv = &ydot[b * n..(b + 1) * n];
            let mut vjv = S::zero();
            for (k, x) in jv.iter().enumerate() {
                vjv += sh.direction(v, b, k, probes) * *x;
            }
            du[b * m + n] -= vjv;
            if regularised {
                du[b * m + n + 2] += sum_sq(jv);
            }
        }
    }
    for b in 0..batch {
        let f = &s.y[b * n..(b + 1) * n];
        du[b * m..b * m + n].copy_from_slice(f);
        if regularised {
            du[b * m + n + 1] = sum_sq(f);
        }
    }
}

/// Sample counts of the parts of a batch of `batch` samples cut every `part_len`.
fn part_sizes(batch: usize, part_len: usize) -> impl Iterator<Item = usize> {
    (0..batch.div_ceil(part_len)).map(move |k| part_len.min(batch - k * part_len))
}

/// Part `k`'s probes (none for the exact trace).
fn part_probes<S>(probes: &[S], k: usize, part_len: usize, n: usize) -> &[S] {
    if probes.is_empty() {
        return probes;
    }
    let start = k * part_len * n;
    &probes[start..(start + part_len * n).min(probes.len())]
}

/// Runs `f` on each part with its scratch: on rayon's pool with the `rayon` feature and more
/// than one part, else in order.
fn for_each_part<S: Scalar, T: Send>(
    scratch: &mut [Scratch<S>],
    items: Vec<T>,
    f: impl Fn(&mut Scratch<S>, T) + Sync,
) {
    #[cfg(feature = "rayon")]
    if scratch.len() > 1 {
        use rayon::prelude::*;
        scratch
            .par_iter_mut()
            .zip(items.into_par_iter())
            .for_each(|(s, it)| f(s, it));
        return;
    }
    for (s, it) in scratch.iter_mut().zip(items) {
        f(s, it);
    }
}

/// `f` and its `nd` directional derivatives at the scratch's input: [`Layer::jvp_dirs`], or the
/// plain [`Layer::jvp`] for one direction (whose scratch is what `Scratch::new` sized).
fn jvp_all<L: Layer, S: Scalar>(
    model: &L,
    (batch, p): (usize, &[S]),
    nd: usize,
    s: &mut Scratch<S>,
) {
    let inp = Input { x: &s.x, batch, p };
    if nd == 1 {
        model.jvp(inp, &s.xdot, None, &mut s.y, &mut s.ydot, &mut s.ws);
    } else {
        model.jvp_dirs(inp, nd, &s.xdot, &mut s.y, &mut s.ydot, &mut s.ws);
    }
}

fn sum_sq<S: Scalar>(x: &[S]) -> S {
    x.iter().fold(S::zero(), |a, v| a + *v * *v)
}

impl<L: Layer, V: SliceState> Vjp for FfjordField<L, V> {
    const EXACT: bool = true;
    /// `gu += (∂F/∂u)ᵀ w`, `gp += (∂F/∂p)ᵀ w` for the augmented field `F`, with the cotangent
    /// column `[w_z; w_l; w_e; w_j]`: one forward-over-reverse pass of the network over every
    /// trace direction `v` at once ([`Layer::vjp_tangent_dirs`]), with cotangent `a_v` per
    /// direction and one cotangent tangent `c`; its summed tangent is `Jᵀ c + Σ_v ∇(a_vᵀ J v)`.
    /// `a_v = −w_l v + 2 w_j (J v)` carries the trace and the Frobenius term; `c = w_z + 2 w_e
    /// f` is the first-order part (so it costs no pass of its own).
    fn vjp(&mut self, t: Re<V>, u: &V, p: &Vec<V::S>, w: &V, gu: &mut V, gp: &mut Vec<V::S>) {
        let sh = self.shape();
        let (m, pl) = (sh.m, self.part_len);
        let (model, reg) = (&self.model, self.regularised);
        let cols = u.as_slice().chunks(pl * m).zip(w.as_slice().chunks(pl * m));
        let items: Vec<_> = cols
            .zip(gu.as_mut_slice().chunks_mut(pl * m))
            .enumerate()
            .map(|(k, ((u, w), gu))| (part_probes(&self.probes, k, pl, sh.dim), u, w, gu))
            .collect();
        for_each_part(&mut self.parts, items, |s, (probes, u, w, gu)| {
            let sh = Shape {
                batch: u.len() / m,
                ..sh
            };
            vjp_part(&sh, model, reg, s, (t, u, p, probes), w, gu);
        });
        // The parts' parameter cotangents, in order.
        for s in &self.parts {
            for (g, x) in gp.iter_mut().zip(&s.pbar_dot) {
                *g += *x;
            }
        }
    }
}

/// The field's VJP for one part of the batch (`u`, `w`, `gu` and `probes` are its columns): `gu`
/// accumulated, the parameter cotangent left in the scratch's `pbar_dot`.
fn vjp_part<L: Layer, S: Scalar>(
    sh: &Shape<S>,
    model: &L,
    regularised: bool,
    s: &mut Scratch<S>,
    (t, u, p, probes): (S::Re, &[S], &[S], &[S]),
    w: &[S],
    gu: &mut [S],
) {
    let (n, m, nin, batch) = (sh.dim, sh.m, sh.nin, sh.batch);
    let two = S::cst(2.0);
    sh.load_input(u, t, &mut s.x, |v| v);
    let nd = sh.ndirections();
    let nb = n * batch;
    sh.load_tangents(probes, &mut s.xdot);
    // f and every J v for the regularisers' terms (c = w_z + 2 w_e f, a_v's 2 w_j J v).
    if regularised {
        jvp_all(model, (batch, p), nd, s);
    }
    s.pbar_dot.iter_mut().for_each(|x| *x = S::zero());
    for v in 0..nd {
        let ybar = &mut s.ybar[v * nb..];
        let ydot = &s.ydot[v * nb..];
        for b in 0..batch {
            let wl = w[b * m + n];
            for k in 0..n {
                let mut a = -(wl * sh.direction(v, b, k, probes));
                if regularised {
                    a += two * w[b * m + n + 2] * ydot[b * n + k];
                }
                ybar[b * n + k] = a;
            }
        }
    }
    for b in 0..batch {
        for k in 0..n {
            s.ybar_dot[b * n + k] = if regularised {
                w[b * m + k] + two * w[b * m + n + 1] * s.y[b * n + k]
            } else {
                w[b * m + k]
            };
        }
    }
    // Every direction's forward-over-reverse pass at once (the network's values once), the
    // tangents summed over the directions as the trace sums them; one direction (Hutchinson)
    // is the plain pass.
    let inp = Input { x: &s.x, batch, p };
    let yb = (&s.ybar[..], &s.ybar_dot[..]);
    let (xb, xbd, pbd) = (&mut s.xbar, &mut s.xbar_dot, &mut s.pbar_dot);
    if let Some(tape) = s.memo.find(t, u, p) {
        // Only the tangents' cotangent (`xbar_dot`) is read below: no per-direction `xbar`.
        let xb = &mut [];
        model.vjp_tangent_dirs_from_tape(inp, nd, &s.xdot, tape, yb, xb, xbd, pbd, &mut s.ws);
    } else if nd == 1 {
        model.vjp_tangent(inp, &s.xdot, None, yb.0, yb.1, xb, xbd, pbd, &mut s.ws);
    } else {
        model.vjp_tangent_dirs(inp, nd, &s.xdot, None, yb, xb, xbd, pbd, &mut s.ws);
    }
    for b in 0..batch {
        for k in 0..n {
            gu[b * m + k] += s.xbar_dot[b * nin + k];
        }
    }
}

impl<L: Layer + Clone> DualField for FfjordField<L, Vec<f64>> {
    type Dual = FfjordField<L, Vec<Dual64>>;
    /// The same field in dual numbers, with the same probes (as constants).
    fn to_dual(&self) -> Self::Dual {
        FfjordField {
            model: self.model.clone(),
            dim: self.dim,
            time_input: self.time_input,
            batch: self.batch,
            regularised: self.regularised,
            trace: self.trace,
            probes: self.probes.iter().map(|e| Dual64::constant(*e)).collect(),
            part_len: self.part_len,
            parts: part_sizes(self.batch, self.part_len)
                .map(|b| {
                    Scratch::new(
                        &self.model,
                        (b, self.features()),
                        self.shape().ndirections(),
                        0,
                    )
                })
                .collect(),
            memory: 0,
        }
    }
}

impl<L: Layer, V: State> NeuralParams for FfjordField<L, V> {
    fn nparams(&self) -> usize {
        self.model.nparams()
    }
    fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        self.model.init_params(rng, p);
    }
}

impl<L: Layer + Clone> ModelField for FfjordField<L, Vec<f64>> {
    type Model = L;
    fn model(&self) -> &L {
        &self.model
    }
}
