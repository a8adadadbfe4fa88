//! The state at earlier times, as the right-hand side reads it: the history before `t0` (a
//! function or a constant), the solve's own dense output from `t0` to the current step's start,
//! and inside the current step (for steps longer than a lag) the step's own interpolant from
//! the previous fixed-point iterate, or on the first iterate the previous step's interpolant
//! extrapolated.

use sciml_core::dense::PolyTable;
use sciml_core::{DenseOutput, Re, Real, Scalar, State, Zero, MAX_LINCOMB};

/// A history function `h(p, t, out)`, writing `u(t)` for `t < t0` into `out`.
pub type HistoryFn<V, P> = Box<dyn FnMut(&P, Re<V>, &mut V) + Send>;

/// The history before `t0`: what `u(t)` is for `t < t0`.
pub enum InitialHistory<V: State, P> {
    /// The same state at every earlier time.
    Constant(V),
    /// `h(p, t, out)` writes `u(t)` for `t < t0` into `out`.
    Function(HistoryFn<V, P>),
}

impl<V: State, P> InitialHistory<V, P> {
    /// A constant history.
    pub fn constant(u: V) -> Self {
        InitialHistory::Constant(u)
    }
    /// A history given by a function `h(p, t, out)`.
    pub fn function(h: impl FnMut(&P, Re<V>, &mut V) + Send + 'static) -> Self {
        InitialHistory::Function(Box::new(h))
    }
    /// Writes the history at `t` (before `t0`) into `out`.
    pub(crate) fn eval(&mut self, p: &P, t: Re<V>, out: &mut V) {
        match self {
            InitialHistory::Constant(u) => out.copy_from(u),
            InitialHistory::Function(h) => h(p, t, out),
        }
    }
}

/// What went wrong while reading the history (reported once the step loop returns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fault {
    /// A read later than the stage being evaluated.
    Future { t: f64, query: f64 },
    /// The history function wrote a NaN or infinite value.
    HistoryNonFinite { t: f64 },
    /// A read older than the kept window of the solution (`history_window`).
    Dropped { t: f64, query: f64 },
}

/// The interpolant of the step being attempted, from the previous fixed-point iterate.
struct CurrentStep<V: State> {
    t: Re<V>,
    h: Re<V>,
    y0: V,
    ks: Vec<V>,
}

/// Everything the history reads need besides the dense output and the initial history.
pub(crate) struct Reader<V: State> {
    t0: Re<V>,
    u0: V,
    /// The history at `t0` differs from `u0` (a jump: `u` itself is discontinuous at `t0`).
    pub(crate) jump: bool,
    poly: PolyTable<Re<V>>,
    /// Start of the step being attempted.
    step_start: Re<V>,
    current: CurrentStep<V>,
    /// Whether `current` holds an iterate of the step being attempted.
    current_valid: bool,
    /// Some read fell inside the step being attempted (beyond the recorded history).
    pub(crate) read_ahead: bool,
    pub(crate) fault: Option<Fault>,
}

impl<V: State> Reader<V> {
    pub(crate) fn new(t0: Re<V>, u0: &V, poly: &[Vec<Re<V>>]) -> Self {
        Reader {
            t0,
            u0: u0.clone(),
            jump: false,
            poly: PolyTable::new(poly),
            step_start: t0,
            current: CurrentStep {
                t: t0,
                h: Re::<V>::zero(),
                y0: u0.clone(),
                ks: Vec::new(),
            },
            current_valid: false,
            read_ahead: false,
            fault: None,
        }
    }

    /// A new attempt from `t`: reads inside it extrapolate the last recorded step until an
    /// iterate is available.
    pub(crate) fn begin_step(&mut self, t: Re<V>) {
        self.step_start = t;
        self.current_valid = false;
        self.read_ahead = false;
    }

    /// The new state at the start of the solve or after a callback changed it.
    pub(crate) fn restart(&mut self, t: Re<V>) {
        self.step_start = t;
        self.current_valid = false;
    }

    /// Keeps the interpolant of the iterate `(t, h, y0, ks)` for reads inside the step.
    pub(crate) fn set_current(&mut self, t: Re<V>, h: Re<V>, y0: &V, ks: &[V]) {
        let cur = &mut self.current;
        cur.t = t;
        cur.h = h;
        cur.y0.copy_from(y0);
        if cur.ks.len() != ks.len() {
            cur.ks = ks.to_vec();
        } else {
            for (a, b) in cur.ks.iter_mut().zip(ks) {
                a.copy_from(b);
            }
        }
        self.current_valid = true;
    }

    fn slack(&self, t: Re<V>) -> Re<V> {
        Re::<V>::c(100.0) * Re::<V>::epsilon() * t.abs().max(self.t0.abs()).max(Re::<V>::c(1.0))
    }

    /// Writes `u(tq)` into `out`, read by a stage evaluated at time `ts`.
    pub(crate) fn read<P>(
        &mut self,
        initial: &mut InitialHistory<V, P>,
        dense: Option<&DenseOutput<V>>,
        p: &P,
        ts: Re<V>,
        tq: Re<V>,
        out: &mut V,
    ) {
        let slack = self.slack(ts);
        let tq = if tq.is_finite() && tq <= ts + slack {
            tq.min(ts)
        } else {
            self.fault.get_or_insert(Fault::Future {
                t: ts.to_f64_lossy(),
                query: tq.to_f64_lossy(),
            });
            ts
        };
        if tq < self.t0 - slack {
            self.read_initial(initial, p, tq, out);
            return;
        }
        if tq <= self.t0 + slack {
            // At `t0` itself: the history's left limit for a stage whose step lies before the
            // jump (the step ends at `t0 + τ`), the solution's `u0` otherwise.
            if self.jump && ts > self.step_start + slack {
                self.read_initial(initial, p, self.t0, out);
            } else {
                out.copy_from(&self.u0);
            }
            return;
        }
        let recorded_end = dense.and_then(DenseOutput::range).map(|r| r.1);
        if let (Some(d), Some(end)) = (dense, recorded_end) {
            if tq <= end + slack {
                // Out of range only when the part it needs was dropped (`history_window`).
                if d.evaluate_to(tq.min(end), out).is_err() {
                    self.fault.get_or_insert(Fault::Dropped {
                        t: ts.to_f64_lossy(),
                        query: tq.to_f64_lossy(),
                    });
                    out.copy_from(&self.u0);
                }
                return;
            }
        }
        // Inside the step being attempted.
        self.read_ahead = true;
        if self.current_valid {
            let c = &self.current;
            eval_poly(&self.poly, (c.t, c.h, &c.y0), &c.ks, tq, out);
        } else if let Some(last) = dense.and_then(|d| d.segments().last()) {
            eval_poly(&self.poly, (last.t0, last.h, last.y0), last.ks, tq, out);
        } else {
            // The first step, no iterate yet: the constant `u0` starts the iteration.
            out.copy_from(&self.u0);
        }
    }

    fn read_initial<P>(
        &mut self,
        initial: &mut InitialHistory<V, P>,
        p: &P,
        t: Re<V>,
        out: &mut V,
    ) {
        initial.eval(p, t, out);
        if !out.all_finite() {
            self.fault.get_or_insert(Fault::HistoryNonFinite {
                t: t.to_f64_lossy(),
            });
        }
    }
}

/// `out = y0 + h Σ P_j(θ) k_j` at `θ = (tq - t0)/h` (θ may exceed 1: extrapolation).
fn eval_poly<V: State>(
    poly: &PolyTable<Re<V>>,
    (t0, h, y0): (Re<V>, Re<V>, &V),
    ks: &[V],
    tq: Re<V>,
    out: &mut V,
) {
    if h == Re::<V>::zero() {
        out.copy_from(y0);
        return;
    }
    let m = ks.len().min(poly.rows()).min(MAX_LINCOMB);
    let mut w = [Re::<V>::zero(); MAX_LINCOMB];
    poly.weights((tq - t0) / h, h, &mut w[..m]);
    let mut refs: [&V; MAX_LINCOMB] = [y0; MAX_LINCOMB];
    for (r, k) in refs.iter_mut().zip(ks) {
        *r = k;
    }
    out.lincomb(y0, &w[..m], &refs[..m]);
}

/// Where the reads of a replayed evaluation are answered from (see [`History::replay`]): a
/// sensitivity method re-evaluating a recorded step, with the values it looks up itself.
pub trait HistorySource<V: State> {
    /// Writes `u(tq)` into `out`, read by an evaluation at time `t`.
    fn read(&mut self, t: Re<V>, tq: Re<V>, out: &mut V);
}

/// Where a [`History`] reads from.
pub(crate) enum Source<'a, V: State, P> {
    /// Inside a solve: the initial history, the dense output and the current step.
    Solve {
        reader: &'a mut Reader<V>,
        initial: &'a mut InitialHistory<V, P>,
        dense: Option<&'a DenseOutput<V>>,
        p: &'a P,
    },
    /// Outside a solve: every read answered by the source.
    Replay(&'a mut dyn HistorySource<V>),
}

/// The state at earlier times, lent to the right-hand side for one evaluation.
///
/// `value(t)` is `u(t)`: the history before `t0`, the solve's own dense output after it, and
/// inside a step longer than a lag, the step's interpolant from the fixed-point iteration.
/// Reading a time later than the one being evaluated is an error the solve reports
/// ([`crate::DdeError::FutureHistory`]).
pub struct History<'a, V: State, P> {
    pub(crate) source: Source<'a, V, P>,
    pub(crate) t: Re<V>,
    pub(crate) scratch: &'a mut V,
}

impl<'a, V: State, P> History<'a, V, P> {
    /// A history whose reads `source` answers, for evaluating the right-hand side at `t`
    /// outside a solve (an adjoint replaying a recorded step); `scratch` backs [`Self::value`].
    ///
    /// ```
    /// use sciml_dde::{History, HistorySource};
    /// struct Ramp;
    /// impl HistorySource<Vec<f64>> for Ramp {
    ///     fn read(&mut self, _t: f64, tq: f64, out: &mut Vec<f64>) { out[0] = tq; }
    /// }
    /// let (mut src, mut scratch) = (Ramp, vec![0.0]);
    /// let mut h = History::<Vec<f64>, Vec<f64>>::replay(&mut src, 2.0, &mut scratch);
    /// assert_eq!(h.value(1.5)[0], 1.5);
    /// ```
    pub fn replay(source: &'a mut dyn HistorySource<V>, t: Re<V>, scratch: &'a mut V) -> Self {
        History {
            source: Source::Replay(source),
            t,
            scratch,
        }
    }
}

impl<V: State, P> History<'_, V, P> {
    #[inline]
    fn read(source: &mut Source<'_, V, P>, t: Re<V>, tq: Re<V>, out: &mut V) {
        match source {
            Source::Solve {
                reader,
                initial,
                dense,
                p,
            } => reader.read(initial, *dense, p, t, tq, out),
            Source::Replay(src) => src.read(t, tq, out),
        }
    }
    /// `u(tq)` into `out`.
    pub fn value_to(&mut self, tq: Re<V>, out: &mut V) {
        Self::read(&mut self.source, self.t, tq, out);
    }
    /// `u(tq)`, in a buffer the next read overwrites.
    pub fn value(&mut self, tq: Re<V>) -> &V {
        Self::read(&mut self.source, self.t, tq, self.scratch);
        self.scratch
    }
    /// The time being evaluated.
    pub fn t(&self) -> Re<V> {
        self.t
    }
}
