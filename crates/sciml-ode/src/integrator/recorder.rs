//! What a solve keeps: the saved points, the dense output and the tape a sensitivity method
//! replays.

use crate::method::StepMemory;
use sciml_core::{DenseOutput, One, Re, ReturnCode, Solution, SolveError, State, Zero};

/// One accepted step, as a sensitivity method replays it: start, size and starting state.
#[derive(Clone, Debug)]
pub struct StepRecord<V: State> {
    /// Start of the step.
    pub t0: Re<V>,
    /// Its (signed) size, exactly as stepped.
    pub h: Re<V>,
    /// The state at `t0`, kept for every `stride`-th step only (a checkpoint); the others are
    /// recomputed from the last checkpoint when needed.
    pub u0: Option<V>,
    /// The step's stage derivatives and interpolation vectors (when the tape keeps them), so a
    /// reverse sweep needs no re-evaluation of the field.
    pub stages: Option<Vec<V>>,
    /// What a multistep method records of the step (`OdeMethod::step_memory`), kept for every
    /// step; `None` for one-step methods.
    pub memory: Option<StepMemory<V>>,
}

/// How one saved point was produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SaveRecord<R> {
    /// The step it lies in (`None`: the initial state itself).
    pub step: Option<usize>,
    /// `(t - t0) / h` inside that step.
    pub theta: R,
    /// The saved state is the step's end state exactly (not interpolated).
    pub exact_end: bool,
}

/// Everything needed to replay a solve backwards on its frozen mesh: the accepted steps and how
/// each saved point came from them (one `SaveRecord` per entry of `Solution::u`).
#[derive(Clone, Debug)]
pub struct Tape<V: State> {
    /// Accepted steps in order.
    pub steps: Vec<StepRecord<V>>,
    /// Every `stride`-th step keeps its starting state.
    pub stride: usize,
    /// Whether every step keeps its stages.
    pub keep_stages: bool,
    /// One record per saved point.
    pub saves: Vec<SaveRecord<Re<V>>>,
}

/// `(t0, h)`: where a step starts and its signed size.
pub type StepSpan<R> = (R, R);

/// A solution and the tape recorded with it (if recording was on).
pub type SolutionWithTape<V> = (Solution<V>, Option<Tape<V>>);

/// The solution being built and, when recording, the tape.
pub(crate) struct Recorder<V: State> {
    pub sol: Solution<V>,
    pub tape: Option<Tape<V>>,
}

impl<V: State> Recorder<V> {
    /// An empty record, with dense output when `dense` is given.
    pub fn new(dense: Option<DenseOutput<V>>, listed_saves: usize) -> Self {
        let mut sol = Solution::empty();
        sol.dense = dense;
        sol.t.reserve(listed_saves);
        sol.u.reserve(listed_saves);
        Recorder { sol, tape: None }
    }

    /// Starts the tape (see `StepLoop::record_tape`, which checks the arguments).
    pub fn start_tape(&mut self, stride: usize, keep_stages: bool) {
        let initial = SaveRecord {
            step: None,
            theta: Re::<V>::zero(),
            exact_end: true,
        };
        self.tape = Some(Tape {
            steps: Vec::new(),
            stride,
            keep_stages,
            saves: vec![initial; self.sol.len()],
        });
    }

    /// Saves `(t, u)`, produced at `theta` inside the step just recorded.
    #[inline]
    pub fn save(&mut self, t: Re<V>, u: V, theta: Re<V>, exact_end: bool) {
        if let Some(tape) = self.tape.as_mut() {
            tape.saves.push(SaveRecord {
                step: tape.steps.len().checked_sub(1),
                theta,
                exact_end,
            });
        }
        self.sol.t.push(t);
        self.sol.u.push(u);
    }

    /// Saves `(t, u)` at the end of the step just recorded.
    #[inline]
    pub fn save_step_end(&mut self, t: Re<V>, u: &V) {
        self.save(t, u.clone(), Re::<V>::one(), true);
    }

    /// Saves a state outside any step's interpolant (around a callback's change).
    #[inline]
    pub fn save_untaped(&mut self, t: Re<V>, u: V) {
        self.sol.t.push(t);
        self.sol.u.push(u);
    }

    /// Records an accepted step from `(t0, u0)` of size `h` on the tape, with what `memory`
    /// gives (asked for only while recording).
    #[inline]
    pub fn record_step(
        &mut self,
        t0: Re<V>,
        h: Re<V>,
        u0: &V,
        memory: impl FnOnce() -> Option<StepMemory<V>>,
    ) {
        if let Some(tape) = self.tape.as_mut() {
            let keep = tape.steps.len() % tape.stride == 0;
            tape.steps.push(StepRecord {
                t0,
                h,
                u0: keep.then(|| u0.clone()),
                stages: None,
                memory: memory(),
            });
        }
    }

    /// Whether the tape wants the stages of each step.
    #[inline]
    pub fn wants_stages(&self) -> bool {
        self.tape.as_ref().is_some_and(|t| t.keep_stages)
    }

    /// Keeps the stages of the step just recorded.
    pub fn record_stages(&mut self, ks: &[V]) {
        if let Some(last) = self.tape.as_mut().and_then(|t| t.steps.last_mut()) {
            last.stages = Some(ks.to_vec());
        }
    }

    /// Whether dense output is recorded.
    #[inline]
    pub fn wants_dense(&self) -> bool {
        self.sol.dense.is_some()
    }

    /// Appends the dense output of the step `(t0, h)` from `y0`, used up to `t_end`.
    pub fn push_segment(&mut self, t0: Re<V>, h: Re<V>, t_end: Re<V>, y0: &V, ks: &[V]) {
        if let Some(d) = self.sol.dense.as_mut() {
            d.push_step(t0, h, t_end, y0, ks);
        }
    }

    /// Ends the solve with a failure at `t`: the error carries what was saved.
    pub fn fail(&mut self, code: ReturnCode, t: Re<V>) -> SolveError<V> {
        self.sol.retcode = code;
        let mut partial = std::mem::replace(&mut self.sol, Solution::empty());
        if let Some(d) = partial.dense.as_mut() {
            d.truncate_after(t);
        }
        SolveError::failed(code, t, partial)
    }
}
