//! A virtual Brownian tree: a Brownian path grown deterministically from a seed, evaluable at any
//! time, replayable exactly (for rejected steps and adjoints) in `O(depth)` memory.
//!
//! The span is normalised to `[0, 1]` and bisected dyadically. The value at the right end is
//! `√T · Z₀`; the midpoint of the node with heap index `k` (children `2k`, `2k + 1`) is drawn from
//! the Brownian bridge between its ends, `(W_a + W_b)/2 + √((b − a)/4) · Z_k`, where `Z_k` are
//! standard normals from the stream `Xoshiro256pp::stream(seed, k)` (the end value uses stream 0). Every value is therefore a
//! pure function of `(seed, span, node)`, independent of the order of queries, of the thread that
//! makes them and of how many noise components the caller reads (the first `d` normals of a node
//! do not depend on the dimension). Below the maximum depth the path is interpolated linearly; the
//! leaf width is `span / 2^depth` (`2⁻⁴⁰` of the span by default), far below any step size.
//!
//! The tree keeps the last root-to-leaf path, so monotone queries (a time-stepping solver) cost
//! `O(1)` node draws each on average (the idea of torchsde's `BrownianInterval` cache; Li et al.,
//! "Scalable gradients for stochastic differential equations", AISTATS 2020, describe the virtual
//! Brownian tree).

// Index loops over several equally long buffers read more clearly than zipped iterators.
#![allow(clippy::needless_range_loop)]

use sciml_core::rng::Xoshiro256pp;
use sciml_core::Error;

/// Standard normals from one node's stream, two per accepted pair of Marsaglia's polar method
/// (the core generator's `normal` keeps one of the pair; a node needs `dim` of them at once).
struct Normals {
    rng: Xoshiro256pp,
    spare: Option<f64>,
}

impl Normals {
    fn new(seed: u64, k: u64) -> Self {
        Normals {
            rng: Xoshiro256pp::stream(seed, k),
            spare: None,
        }
    }
    #[inline]
    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.rng.uniform() - 1.0;
            let v = 2.0 * self.rng.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

/// Default maximum depth of the tree.
pub const DEFAULT_DEPTH: u32 = 40;

/// A replayable `d`-dimensional Brownian motion on `[t0, t1]` with `W(t0) = 0`.
///
/// ```
/// use sciml_sde::BrownianTree;
/// let mut w = BrownianTree::new(7, 0.0, 1.0, 2).unwrap();
/// let mut a = [0.0; 2];
/// let mut b = [0.0; 2];
/// w.eval(0.3, &mut a).unwrap();
/// w.eval(0.9, &mut b).unwrap();
/// // A fresh tree from the same seed replays the path exactly, in any query order.
/// let mut v = BrownianTree::new(7, 0.0, 1.0, 2).unwrap();
/// let mut c = [0.0; 2];
/// v.eval(0.9, &mut c).unwrap();
/// assert_eq!(b, c);
/// v.eval(0.3, &mut c).unwrap();
/// assert_eq!(a, c);
/// ```
#[derive(Clone, Debug)]
pub struct BrownianTree {
    seed: u64,
    t0: f64,
    span: f64,
    dim: usize,
    depth: u32,
    /// Cached path: level `l` holds node index `idx[l]` (interval `[i, i+1] / 2^l`, with
    /// `i = idx[l] - 2^l`) and its end values in `vals[2 l d ..]` (left) and `vals[(2l+1) d ..]`.
    idx: Vec<u64>,
    vals: Vec<f64>,
    /// The midpoint value of each cached level once drawn (`mids[l d ..]`, valid when
    /// `mid_known[l]`), so a sweep that goes left and later right of a node draws it once.
    mids: Vec<f64>,
    mid_known: Vec<bool>,
    /// Number of valid cached levels (at least 1 once built).
    len: usize,
}

impl BrownianTree {
    /// A tree on `[t0, t1]` of dimension `dim`, with the default depth.
    pub fn new(seed: u64, t0: f64, t1: f64, dim: usize) -> Result<Self, Error> {
        Self::with_depth(seed, t0, t1, dim, DEFAULT_DEPTH)
    }

    /// A tree with a given maximum depth (1 to 60).
    pub fn with_depth(seed: u64, t0: f64, t1: f64, dim: usize, depth: u32) -> Result<Self, Error> {
        if !(t0.is_finite() && t1.is_finite()) || t1 <= t0 {
            return Err(Error::InvalidSpan {
                t0,
                t1,
                reason: "a Brownian tree needs finite t0 < t1".into(),
            });
        }
        if !(1..=60).contains(&depth) {
            return Err(Error::InvalidOption {
                option: "depth",
                reason: format!("must be between 1 and 60, got {depth}"),
            });
        }
        let levels = depth as usize + 1;
        let mut tree = BrownianTree {
            seed,
            t0,
            span: t1 - t0,
            dim,
            depth,
            idx: vec![0; levels],
            vals: vec![0.0; 2 * levels * dim],
            mids: vec![0.0; levels * dim],
            mid_known: vec![false; levels],
            len: 0,
        };
        // Root: [0, 1], W(0) = 0, W(1) = √T Z₀ (stream 0, which no heap node uses: node 1 draws
        // the root's midpoint).
        tree.idx[0] = 1;
        let mut rng = Normals::new(seed, 0);
        let sq = tree.span.sqrt();
        for c in 0..dim {
            tree.vals[dim + c] = sq * rng.next();
        }
        tree.len = 1;
        Ok(tree)
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The span `(t0, t1)`.
    pub fn span(&self) -> (f64, f64) {
        (self.t0, self.t0 + self.span)
    }
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Writes `W(t)` into `out` (length `dim`).
    pub fn eval(&mut self, t: f64, out: &mut [f64]) -> Result<(), Error> {
        if out.len() != self.dim {
            return Err(Error::DimensionMismatch {
                what: "Brownian output".into(),
                expected: self.dim,
                got: out.len(),
            });
        }
        let (a, b) = self.span();
        if !(t >= a && t <= b) {
            return Err(Error::OutOfRange {
                t,
                start: a,
                end: b,
            });
        }
        self.eval_unchecked(t, out);
        Ok(())
    }

    /// `W(t)` for a `t` known to be in the span and an `out` of length `dim`.
    pub(crate) fn eval_unchecked(&mut self, t: f64, out: &mut [f64]) {
        let x = ((t - self.t0) / self.span).clamp(0.0, 1.0);
        self.eval_x(x, out);
    }

    /// `W` at `t0 + span · num / 2^level` exactly (the node on the dyadic grid), `num ≤ 2^level`.
    pub(crate) fn eval_dyadic(&mut self, num: u64, level: u32, out: &mut [f64]) {
        // Dyadic rationals with level ≤ 60 are exact in f64 up to 2^-52 relative; the descent
        // compares against exactly representable midpoints, so this hits the node exactly.
        let x = num as f64 / (1u64 << level) as f64;
        self.eval_x(x, out);
    }

    /// `W` at the dyadic nodes `t0 + span · j / 2^level` for `j = lo..=hi` (`hi ≤ 2^level`,
    /// `level ≤` the depth), written to `out[(j − lo) dim ..]`: bitwise the values of
    /// [`eval_dyadic`](Self::eval_dyadic), but each tree node on the way is drawn once, so a
    /// whole fixed-step grid costs `O(hi − lo + level)` node draws instead of one descent per node.
    /// The cached path of `eval` is left as it is (unless `level` exceeds the depth, where nodes
    /// are interpolated and queried one by one).
    pub(crate) fn fill_dyadic(&mut self, lo: u64, hi: u64, level: u32, out: &mut [f64]) {
        let d = self.dim;
        debug_assert!(lo <= hi && hi <= 1u64 << level);
        debug_assert_eq!(out.len(), (hi - lo + 1) as usize * d);
        if level > self.depth {
            // Nodes below the leaves are interpolated: query them one by one.
            for (j, o) in (lo..=hi).zip(out.chunks_exact_mut(d)) {
                self.eval_dyadic(j, level, o);
            }
            return;
        }
        let top = 1u64 << level;
        // The root's ends: W(0) = 0 and W(1) (level 0 of the cache is never overwritten).
        if lo == 0 {
            out[..d].fill(0.0);
        }
        if hi == top {
            let o = (top - lo) as usize * d;
            out[o..o + d].copy_from_slice(self.right(0));
        }
        // Per level: the ends of the node being refined, then its midpoint.
        let mut scratch = vec![0.0; 3 * d * (level as usize + 1)];
        scratch[d..2 * d].copy_from_slice(self.right(0));
        self.fill_node(1, 0, (lo, hi, level), &mut scratch, out);
    }

    /// Draws the midpoint of heap node `k` (at tree level `l`, ends in `scratch[..2d]`) when its
    /// interval holds nodes of `lo..=hi` inside, stores it if it is one, and recurses.
    fn fill_node(
        &self,
        k: u64,
        l: u32,
        (lo, hi, level): (u64, u64, u32),
        scratch: &mut [f64],
        out: &mut [f64],
    ) {
        if l == level {
            return;
        }
        let d = self.dim;
        let i = k - (1u64 << l);
        let shift = level - l;
        let (ia, ib) = (i << shift, (i + 1) << shift);
        if ia >= hi || ib <= lo {
            return;
        }
        // The same arithmetic as `eval_x`, so the values agree bitwise.
        let w = 1.0 / (1u64 << l) as f64;
        let (a, b) = (i as f64 * w, (i + 1) as f64 * w);
        let sd = (0.25 * (b - a) * self.span).sqrt();
        let (cur, deeper) = scratch.split_at_mut(3 * d);
        let mut rng = Normals::new(self.seed, k);
        for c in 0..d {
            cur[2 * d + c] = 0.5 * (cur[c] + cur[d + c]) + sd * rng.next();
        }
        let im = (2 * i + 1) << (shift - 1);
        if (lo..=hi).contains(&im) {
            let o = (im - lo) as usize * d;
            out[o..o + d].copy_from_slice(&cur[2 * d..]);
        }
        // Left child: [a, mid]; right child: [mid, b].
        deeper[..d].copy_from_slice(&cur[..d]);
        deeper[d..2 * d].copy_from_slice(&cur[2 * d..]);
        self.fill_node(2 * k, l + 1, (lo, hi, level), deeper, out);
        deeper[..d].copy_from_slice(&cur[2 * d..]);
        deeper[d..2 * d].copy_from_slice(&cur[d..2 * d]);
        self.fill_node(2 * k + 1, l + 1, (lo, hi, level), deeper, out);
    }

    fn left(&self, l: usize) -> &[f64] {
        &self.vals[2 * l * self.dim..(2 * l + 1) * self.dim]
    }
    fn right(&self, l: usize) -> &[f64] {
        &self.vals[(2 * l + 1) * self.dim..(2 * l + 2) * self.dim]
    }
    fn bounds(&self, l: usize) -> (f64, f64) {
        let i = self.idx[l] - (1u64 << l);
        let w = 1.0 / (1u64 << l) as f64;
        (i as f64 * w, (i + 1) as f64 * w)
    }

    fn eval_x(&mut self, x: f64, out: &mut [f64]) {
        let d = self.dim;
        // Deepest cached level whose interval contains x.
        let mut l = self.len - 1;
        loop {
            let (a, b) = self.bounds(l);
            if (a <= x && x <= b) || l == 0 {
                break;
            }
            l -= 1;
        }
        loop {
            let (a, b) = self.bounds(l);
            if x == a {
                out.copy_from_slice(self.left(l));
                self.len = l + 1;
                return;
            }
            if x == b {
                out.copy_from_slice(self.right(l));
                self.len = l + 1;
                return;
            }
            if l as u32 == self.depth {
                let s = (x - a) / (b - a);
                for c in 0..d {
                    let wa = self.vals[2 * l * d + c];
                    let wb = self.vals[(2 * l + 1) * d + c];
                    out[c] = wa + s * (wb - wa);
                }
                self.len = l + 1;
                return;
            }
            // Bridge sample at the midpoint, then descend into the half containing x.
            let mid = 0.5 * (a + b);
            let k = self.idx[l];
            let go_left = x < mid;
            let nl = l + 1;
            self.idx[nl] = if go_left { 2 * k } else { 2 * k + 1 };
            if !self.mid_known[l] {
                let mut rng = Normals::new(self.seed, k);
                let sd = (0.25 * (b - a) * self.span).sqrt();
                for c in 0..d {
                    let wa = self.vals[2 * l * d + c];
                    let wb = self.vals[(2 * l + 1) * d + c];
                    self.mids[l * d + c] = 0.5 * (wa + wb) + sd * rng.next();
                }
                self.mid_known[l] = true;
            }
            for c in 0..d {
                let wm = self.mids[l * d + c];
                if go_left {
                    self.vals[2 * nl * d + c] = self.vals[2 * l * d + c];
                    self.vals[(2 * nl + 1) * d + c] = wm;
                } else {
                    self.vals[2 * nl * d + c] = wm;
                    self.vals[(2 * nl + 1) * d + c] = self.vals[(2 * l + 1) * d + c];
                }
            }
            self.mid_known[nl] = false;
            l = nl;
            self.len = l + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_have_brownian_moments() {
        // Var(W(t) − W(s)) = t − s and independent increments: check over many seeds.
        let n = 4000;
        let (mut s1, mut s2, mut s12, mut sm) = (0.0, 0.0, 0.0, 0.0);
        let mut a = [0.0];
        let mut b = [0.0];
        let mut c = [0.0];
        for seed in 0..n {
            let mut w = BrownianTree::new(seed, 0.0, 2.0, 1).unwrap();
            // The root's midpoint: Var W(1) = 1 (its draw must be independent of W(2)).
            let mut v = w.clone();
            v.eval(1.0, &mut a).unwrap();
            sm += a[0] * a[0];
            w.eval(0.3, &mut a).unwrap();
            w.eval(1.1, &mut b).unwrap();
            w.eval(1.7, &mut c).unwrap();
            let d1 = b[0] - a[0];
            let d2 = c[0] - b[0];
            s1 += d1 * d1;
            s2 += d2 * d2;
            s12 += d1 * d2;
        }
        let nf = n as f64;
        // Standard errors: √2·0.8/√n = 0.018, √2·0.6/√n = 0.013, 0.8·0.6/√n = 0.0076.
        assert!((s1 / nf - 0.8).abs() < 0.06, "{}", s1 / nf);
        assert!((s2 / nf - 0.6).abs() < 0.045, "{}", s2 / nf);
        assert!((s12 / nf).abs() < 0.03, "{}", s12 / nf);
        assert!((sm / nf - 1.0).abs() < 0.07, "{}", sm / nf);
    }

    #[test]
    fn dyadic_and_real_queries_agree() {
        let mut w = BrownianTree::new(3, 1.0, 3.0, 3).unwrap();
        let mut v = w.clone();
        let mut a = [0.0; 3];
        let mut b = [0.0; 3];
        w.eval_dyadic(5, 4, &mut a);
        v.eval(1.0 + 2.0 * 5.0 / 16.0, &mut b).unwrap();
        assert_eq!(a, b);
        let mut c = [0.0; 3];
        v.eval(1.0, &mut c).unwrap();
        assert_eq!(c, [0.0; 3]);
    }

    #[test]
    fn filled_dyadic_nodes_equal_single_queries_bitwise() {
        for &(seed, t0, t1, dim, level) in &[
            (3u64, 1.0, 3.0, 3usize, 4u32),
            (8, 0.0, 1.28, 5, 7),
            (9, -0.5, 0.1, 1, 0),
            (10, 0.0, 1.0, 2, 1),
            (11, 0.0, 0.7, 4, 10),
        ] {
            let tree = BrownianTree::new(seed, t0, t1, dim).unwrap();
            let top = 1u64 << level;
            for &(lo, hi) in &[
                (0, top),
                (0, top.saturating_sub(3)),
                (top / 3, top),
                (top / 2, top / 2),
                (1.min(top), (top / 2 + 1).min(top)),
            ] {
                let mut out = vec![0.0; (hi - lo + 1) as usize * dim];
                tree.clone().fill_dyadic(lo, hi, level, &mut out);
                let mut fresh = tree.clone();
                let mut want = vec![0.0; dim];
                for j in lo..=hi {
                    // Alternate fresh trees and one cached tree queried backwards.
                    let mut single = BrownianTree::new(seed, t0, t1, dim).unwrap();
                    single.eval_dyadic(j, level, &mut want);
                    let o = (j - lo) as usize * dim;
                    let got = &out[o..o + dim];
                    assert_eq!(
                        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        "seed {seed}, node {j}/2^{level}"
                    );
                    fresh.eval_dyadic(hi - (j - lo), level, &mut want);
                    let o = (hi - j) as usize * dim;
                    assert_eq!(&out[o..o + dim], &want[..]);
                }
            }
        }
    }

    #[test]
    fn first_components_do_not_depend_on_dimension() {
        let mut w1 = BrownianTree::new(11, 0.0, 1.0, 1).unwrap();
        let mut w2 = BrownianTree::new(11, 0.0, 1.0, 2).unwrap();
        let mut a = [0.0];
        let mut b = [0.0; 2];
        w1.eval(0.37, &mut a).unwrap();
        w2.eval(0.37, &mut b).unwrap();
        assert_eq!(a[0], b[0]);
    }

    #[test]
    fn cached_queries_in_any_order_equal_fresh_ones() {
        let mut rng = Xoshiro256pp::new(5);
        let mut w = BrownianTree::new(21, 0.0, 3.0, 2).unwrap();
        let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
        for i in 0..300 {
            // Mix grid points (sequential, both directions) with arbitrary times.
            let t = match i % 3 {
                0 => 3.0 * rng.uniform(),
                1 => 3.0 * ((i / 3) % 64) as f64 / 64.0,
                _ => 3.0 * (63 - (i / 3) % 64) as f64 / 64.0,
            };
            w.eval(t, &mut a).unwrap();
            BrownianTree::new(21, 0.0, 3.0, 2)
                .unwrap()
                .eval(t, &mut b)
                .unwrap();
            assert_eq!(a, b, "t = {t}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(BrownianTree::new(1, 1.0, 0.0, 1).is_err());
        assert!(BrownianTree::new(1, 0.0, f64::NAN, 1).is_err());
        let mut w = BrownianTree::new(1, 0.0, 1.0, 1).unwrap();
        assert!(w.eval(1.5, &mut [0.0]).is_err());
        assert!(w.eval(0.5, &mut [0.0, 0.0]).is_err());
    }
}
