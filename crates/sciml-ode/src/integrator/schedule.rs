//! The schedule of a solve: the listed save times, the tstops the steps must land on, and the
//! fixed-step grid.

use super::validate::Limits;
use crate::options::{SaveAt, SolveOptions};
use sciml_core::{Error, Real};

/// Where the steps must stop and which times are saved.
pub(crate) struct Schedule<R> {
    dir: R,
    t1: R,
    /// Every accepted step is saved (`SaveAt::Steps`).
    pub save_steps: bool,
    /// With `save_steps`: the end of the span is saved too.
    pub save_end_steps: bool,
    save_times: Vec<R>,
    save_idx: usize,
    tstops: Vec<R>,
    tstop_idx: usize,
    /// Fixed-step mode: times are `anchor + k·h`, not accumulated sums, so `n` steps of
    /// `span / n` land on the end without a sliver of a step.
    anchor: (R, usize),
}

impl<R: Real> Schedule<R> {
    /// Checks and sorts the save times and tstops of `opts`.
    pub fn new(opts: &SolveOptions<R>, lim: &Limits<R>) -> Result<Self, Error> {
        let (t0, t1) = (lim.t0, lim.t1);
        // Save times, as one sorted list (start and end included as the options say).
        let (save_steps, mut save_times) = match &opts.saveat {
            SaveAt::Steps => (true, Vec::new()),
            SaveAt::Every(_) => {
                let v = opts
                    .saveat
                    .listed_times(t0, t1, opts.save_end != Some(false))?
                    .unwrap_or_default();
                (false, v)
            }
            SaveAt::Times(ts) => {
                lim.check_times("saveat", ts)?;
                let mut v = ts.clone();
                if opts.save_start == Some(true) && !v.contains(&t0) {
                    v.push(t0);
                }
                if opts.save_end == Some(true) && !v.contains(&t1) {
                    v.push(t1);
                }
                (false, v)
            }
        };
        if opts.save_start == Some(false) {
            save_times.retain(|x| *x != t0);
        }
        if opts.save_end == Some(false) {
            save_times.retain(|x| *x != t1);
        }
        lim.sort_dir(&mut save_times);
        lim.check_times("tstops", &opts.tstops)?;
        let mut tstops = Vec::with_capacity(opts.tstops.len());
        for x in &opts.tstops {
            if (*x - t0) * lim.dir > R::zero() && (*x - t1) * lim.dir < R::zero() {
                tstops.push(*x);
            }
        }
        lim.sort_dir(&mut tstops);
        Ok(Schedule {
            dir: lim.dir,
            t1,
            save_steps,
            save_end_steps: opts.save_end != Some(false),
            save_times,
            save_idx: 0,
            tstops,
            tstop_idx: 0,
            anchor: (t0, 0),
        })
    }

    /// How many listed save times there are.
    pub fn listed_saves(&self) -> usize {
        self.save_times.len()
    }

    /// The next time the steps must land on: a tstop, or the end of the span.
    #[inline]
    pub fn next_stop(&self) -> R {
        self.tstops.get(self.tstop_idx).copied().unwrap_or(self.t1)
    }

    /// The end of the span.
    #[inline]
    pub fn end(&self) -> R {
        self.t1
    }

    /// The next listed save time, if it is not beyond `upto`; [`Schedule::saved`] moves on.
    #[inline]
    pub fn next_save_upto(&self, upto: R) -> Option<R> {
        let ts = *self.save_times.get(self.save_idx)?;
        ((ts - upto) * self.dir <= R::zero()).then_some(ts)
    }

    /// The save time [`Schedule::next_save_upto`] returned has been saved.
    #[inline]
    pub fn saved(&mut self) {
        self.save_idx += 1;
    }

    /// Fixed-step mode: the step from `t` to the next grid point of spacing `h`.
    #[inline]
    pub fn grid_step(&self, t: R, h: R) -> R {
        // From the anchor, not t + h.
        self.anchor.0 + h * R::from_usize(self.anchor.1 + 1) - t
    }

    /// An accepted step ended at `tnew`; `at_stop` says it landed on the next stop.
    #[inline]
    pub fn stepped(&mut self, tnew: R, at_stop: bool) {
        self.anchor.1 += 1;
        if at_stop && tnew != self.t1 {
            self.tstop_idx += 1;
            self.anchor = (tnew, 0);
        }
    }

    /// The solve jumped to `t` (an event inside a step): the grid restarts there, and tstops
    /// not beyond `t` are passed.
    pub fn jumped_to(&mut self, t: R) {
        self.anchor = (t, 0);
        while self
            .tstops
            .get(self.tstop_idx)
            .is_some_and(|ts| (*ts - t) * self.dir <= R::zero())
        {
            self.tstop_idx += 1;
        }
    }
}
