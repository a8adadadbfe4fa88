//! [`PassMemo`]: a network's forward passes at the latest right-hand side evaluations, kept so
//! that a VJP at one of those points (what a discrete adjoint's reverse sweep asks for, at every
//! stage of every accepted step) reads them back instead of repeating the pass.

use sciml_core::Scalar;
use std::collections::VecDeque;

/// The memory a layer's gradient keeps its forward passes in by default: 64 MiB
/// ([`crate::neural_de::Ffjord::forward_memory`], [`crate::neural_de::NeuralCdde::forward_memory`]).
pub const DEFAULT_FORWARD_MEMORY: usize = 64 << 20;

/// Forward passes keyed by the evaluation's time and a slice that fixes the network's input (the
/// state, or the input itself), under one parameter vector. A point matches when its time, key
/// and parameters are equal to an evaluation's, so a VJP that reads a kept pass computes what it
/// would have computed, bitwise; the oldest passes make way for new ones (a reverse sweep asks
/// for the newest first).
pub(crate) struct PassMemo<S: Scalar> {
    /// Most entries kept (0: none).
    cap: usize,
    /// Scalars of one entry's record.
    len: usize,
    /// Scalars of one entry's key.
    key_len: usize,
    /// The parameters of every entry.
    p: Vec<S>,
    /// Oldest first.
    entries: VecDeque<Entry<S>>,
    /// Buffers of dropped entries, for reuse.
    spare: Vec<Entry<S>>,
    /// Lookups that found a pass since the last [`PassMemo::forget`].
    hits: usize,
}

/// One kept forward pass.
struct Entry<S: Scalar> {
    t: S::Re,
    key: Vec<S>,
    /// What the pass recorded ([`PassMemo::new`]'s `len` scalars).
    record: Vec<S>,
}

impl<S: Scalar> PassMemo<S> {
    /// A memo of at most `bytes` for records of `len` scalars under keys of `key_len` (none
    /// when `len` is 0 or one entry does not fit).
    pub(crate) fn new(bytes: usize, len: usize, key_len: usize) -> Self {
        let entry = (len + key_len).max(1) * std::mem::size_of::<S>();
        PassMemo {
            cap: if len == 0 { 0 } else { bytes / entry },
            len,
            key_len,
            p: Vec::new(),
            entries: VecDeque::new(),
            spare: Vec::new(),
            hits: 0,
        }
    }

    /// Whether it was made by [`PassMemo::new`] with these sizes.
    pub(crate) fn fits(&self, bytes: usize, len: usize, key_len: usize) -> bool {
        let cap = PassMemo::<S>::new(bytes, len, key_len).cap;
        (self.cap, self.len, self.key_len) == (cap, len, key_len)
    }

    /// Lookups that found a pass since the last [`PassMemo::forget`].
    pub(crate) fn hits(&self) -> usize {
        self.hits
    }

    /// Whether it keeps any pass.
    pub(crate) fn enabled(&self) -> bool {
        self.cap > 0
    }

    /// Forgets every pass (keeping the buffers) and restarts the count of hits.
    pub(crate) fn forget(&mut self) {
        self.spare.extend(self.entries.drain(..));
        self.hits = 0;
    }

    /// Forgets every pass unless it was computed with `p`; then the entries to come are `p`'s.
    pub(crate) fn check_params(&mut self, p: &[S]) {
        if self.p.as_slice() != p {
            self.forget();
            self.p.clear();
            self.p.extend_from_slice(p);
        }
    }

    /// Runs `pass` on the record of a new entry at `(t, key)` under `p` and keeps it (forgetting
    /// every pass of other parameters first). The record's buffer is a spare one, the oldest
    /// entry's, or a new one.
    pub(crate) fn record(&mut self, t: S::Re, key: &[S], p: &[S], pass: impl FnOnce(&mut [S])) {
        self.check_params(p);
        let mut e = self.take(t, key);
        pass(&mut e.record);
        self.entries.push_back(e);
    }

    /// A buffer for a new entry at `(t, key)`.
    fn take(&mut self, t: S::Re, key: &[S]) -> Entry<S> {
        let reused = match self.spare.pop() {
            Some(e) => Some(e),
            None if self.entries.len() >= self.cap => self.entries.pop_front(),
            None => None,
        };
        let mut e = reused.unwrap_or_else(|| Entry {
            t,
            key: Vec::new(),
            record: vec![S::zero(); self.len],
        });
        e.t = t;
        e.key.clear();
        e.key.extend_from_slice(key);
        e
    }

    /// The record of the pass at `(t, key, p)`, if kept (the newest first), counted in
    /// [`PassMemo::hits`].
    pub(crate) fn find(&mut self, t: S::Re, key: &[S], p: &[S]) -> Option<&[S]> {
        if self.cap == 0 || self.p.as_slice() != p {
            return None;
        }
        let e = self
            .entries
            .iter()
            .rev()
            .find(|e| e.t == t && e.key == key)?;
        self.hits += 1;
        Some(&e.record)
    }
}

impl<S: Scalar> Clone for PassMemo<S> {
    /// The same capacity, no passes.
    fn clone(&self) -> Self {
        PassMemo {
            cap: self.cap,
            len: self.len,
            key_len: self.key_len,
            p: Vec::new(),
            entries: VecDeque::new(),
            spare: Vec::new(),
            hits: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_passes_and_matches_time_key_and_parameters() {
        // Records of 2 scalars under keys of 1: 3 fit in 3 · 3 · 8 bytes.
        let mut m = PassMemo::<f64>::new(72, 2, 1);
        assert!(m.enabled());
        m.check_params(&[1.0]);
        for k in 0..4 {
            m.record(k as f64, &[10.0 * k as f64], &[1.0], |r| {
                r.copy_from_slice(&[k as f64, -(k as f64)])
            });
        }
        // The oldest (k = 0) made way.
        assert!(m.find(0.0, &[0.0], &[1.0]).is_none());
        assert_eq!(m.find(3.0, &[30.0], &[1.0]), Some(&[3.0, -3.0][..]));
        assert_eq!(m.hits(), 1);
        assert!(m.find(3.0, &[31.0], &[1.0]).is_none());
        assert!(m.find(2.5, &[20.0], &[1.0]).is_none());
        assert!(m.find(2.0, &[20.0], &[2.0]).is_none());
        // Other parameters forget every pass.
        m.check_params(&[2.0]);
        assert!(m.find(2.0, &[20.0], &[2.0]).is_none());
        assert!(!PassMemo::<f64>::new(1 << 20, 0, 4).enabled());
        assert!(!PassMemo::<f64>::new(8, 2, 1).enabled());
    }
}
