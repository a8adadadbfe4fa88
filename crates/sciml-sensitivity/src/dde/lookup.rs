//! Which part of the recorded solution answered a history read, by the rules the method of
//! steps' reader follows in the forward solve (`sciml_dde`'s `history.rs`): the history
//! before `t0`, `u0` (or the history's left limit at a jump), or an earlier step's interpolant.

use sciml_core::dense::{interp_weights, Segment};
use sciml_core::{Real, MAX_LINCOMB};

/// The source of one history read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Served<R> {
    /// The history before `t0`, at this time.
    Initial(R),
    /// The start state `u0`.
    U0,
    /// The interpolant of step `index` at `theta`.
    Step { index: usize, theta: R },
}

/// Why a read has no source the adjoint can differentiate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unserved {
    /// Later than the evaluation (the forward solve failed on it).
    Future,
    /// Inside the step being evaluated: a step longer than a lag.
    Ahead,
}

/// The recorded steps, for looking up where reads came from.
pub(crate) struct Mesh<'a, R: Real> {
    pub(crate) t0: R,
    pub(crate) jump: bool,
    pub(crate) steps: Vec<Segment<'a, Vec<R>>>,
    pub(crate) poly: Vec<Vec<R>>,
}

impl<R: Real> Mesh<'_, R> {
    /// The reader's slack around `t0` and the recorded end (a few ulps of the times involved).
    fn slack(&self, t: R) -> R {
        R::c(100.0) * R::epsilon() * t.abs().max(self.t0.abs()).max(R::c(1.0))
    }

    /// Where a read of `u(tq)` by an evaluation at `ts` inside step `step` (starting at
    /// `step_start`) was served from, with the steps before `step` recorded.
    pub(crate) fn serve(
        &self,
        step: usize,
        step_start: R,
        ts: R,
        tq: R,
    ) -> Result<Served<R>, Unserved> {
        let slack = self.slack(ts);
        if !(tq.is_finite() && tq <= ts + slack) {
            return Err(Unserved::Future);
        }
        let tq = tq.min(ts);
        if tq < self.t0 - slack {
            return Ok(Served::Initial(tq));
        }
        if tq <= self.t0 + slack {
            return Ok(if self.jump && ts > step_start + slack {
                Served::Initial(self.t0)
            } else {
                Served::U0
            });
        }
        let recorded = &self.steps[..step.min(self.steps.len())];
        let Some(end) = recorded.last().map(|s| s.t_end) else {
            return Err(Unserved::Ahead);
        };
        if tq > end + slack {
            return Err(Unserved::Ahead);
        }
        // As `DenseOutput::evaluate_to`: the first step whose end reaches the time.
        let tq = tq.min(end);
        let index = recorded
            .partition_point(|s| s.t_end < tq)
            .min(recorded.len() - 1);
        let s = &recorded[index];
        let theta = if s.h == R::c(0.0) {
            R::c(0.0)
        } else {
            (tq - s.t0) / s.h
        };
        Ok(Served::Step { index, theta })
    }

    /// The interpolation weights `h P_j(θ)` of step `index`, one per stored vector (the first
    /// `m` entries, `m` returned with them).
    pub(crate) fn weights(&self, index: usize, theta: R) -> ([R; MAX_LINCOMB], usize) {
        let s = &self.steps[index];
        let m = s.ks.len().min(self.poly.len()).min(MAX_LINCOMB);
        let mut w = [R::c(0.0); MAX_LINCOMB];
        interp_weights(&self.poly[..m], theta, s.h, &mut w[..m]);
        (w, m)
    }

    /// `u` from step `index`'s interpolant at `theta`.
    pub(crate) fn value(&self, index: usize, theta: R, out: &mut [R]) {
        let s = &self.steps[index];
        let (w, m) = self.weights(index, theta);
        out.copy_from_slice(s.y0);
        for (wj, k) in w[..m].iter().zip(s.ks) {
            for (o, x) in out.iter_mut().zip(k) {
                *o += *wj * *x;
            }
        }
    }
}
