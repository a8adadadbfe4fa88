//! The state at earlier times, as the right-hand side reads it: the history before `t0` (a
//! function or a constant), the solve's own dense output from `t0` to the current step's start,
//! and inside the current step (for steps longer than a lag) the step's own interpolant from
//! the previous fixed-point iterate, or on the first iterate the previous step's interpolant
//! extrapolated.

use sciml_core::dense::PolyTable;
use sciml_core::dense::Segment;
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
    /// The history function wrote a state of another length than `u0`.
    HistoryLength { expected: usize, got: usize },
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
    /// The recorded step the last read fell in: reads at a constant lag move forward through
    /// the record, so the next one is almost always in it or the one after.
    cursor: usize,
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
            cursor: 0,
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
        if let Some(d) = dense {
            if let Some(last) = d.segments().next_back() {
                if tq <= last.t_end + slack {
                    let tq = tq.min(last.t_end);
                    match self.locate(d, tq) {
                        Some(seg) => {
                            eval_poly(&self.poly, (seg.t0, seg.h, seg.y0), seg.ks, tq, out)
                        }
                        None => {
                            // Only when the part it needs was dropped (`history_window`).
                            self.fault.get_or_insert(Fault::Dropped {
                                t: ts.to_f64_lossy(),
                                query: tq.to_f64_lossy(),
                            });
                            out.copy_from(&self.u0);
                        }
                    }
                    return;
                }
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

    /// The recorded step that holds `tq` (`tq` at most the record's end): the first whose end
    /// reaches `tq`, as `DenseOutput::evaluate_to` picks it, so the values are bitwise the same;
    /// `None` when `tq` lies before the kept record. Tries the last step used and the one after
    /// before a binary search.
    fn locate<'d>(&mut self, d: &'d DenseOutput<V>, tq: Re<V>) -> Option<Segment<'d, V>> {
        let holds = |i: usize| -> Option<Segment<'d, V>> {
            let seg = d.segment(i)?;
            let after_previous = i == 0 || d.segment(i - 1).is_some_and(|s| s.t_end < tq);
            (seg.t_end >= tq && after_previous).then_some(seg)
        };
        for i in [self.cursor, self.cursor + 1] {
            if let Some(seg) = holds(i) {
                self.cursor = i;
                return (i > 0 || tq >= seg.t0).then_some(seg);
            }
        }
        // `tq` is finite here (checked by `read`).
        let first = d.segment(0)?;
        if tq < first.t0 {
            return None;
        }
        let (mut lo, mut hi) = (0, d.len() - 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if d.segment(mid).is_some_and(|s| s.t_end < tq) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.cursor = lo;
        d.segment(lo)
    }

    fn read_initial<P>(
        &mut self,
        initial: &mut InitialHistory<V, P>,
        p: &P,
        t: Re<V>,
        out: &mut V,
    ) {
        initial.eval(p, t, out);
        if out.len() != self.u0.len() {
            // Reported once the step returns; the right-hand side meanwhile reads `u0`, so
            // that neither it nor the interpolation indexes a state of the wrong length.
            self.fault.get_or_insert(Fault::HistoryLength {
                expected: self.u0.len(),
                got: out.len(),
            });
            *out = self.u0.clone();
            return;
        }
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
