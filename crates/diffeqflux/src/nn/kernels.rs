//! Matrix kernels of the dense layers, generic over the scalar (for `f64` and `f32` the compiler
//! vectorises them; for dual numbers they are plain loops).
//!
//! Matrices are row-major; data are `features × batch`, column-major (one sample contiguous).
//! Three products cover the dense layer's passes:
//!
//! - [`gemm_dot`]: `Y[:, b] = A X[:, b]` with `A` row-major `m×k`, one dot product per output
//!   (good when `k` is long),
//! - [`gemm_axpy`]: `Y[:, b] = Bᵀ X[:, b]` with `B` row-major `k×m`, accumulating rows of `B` into
//!   register tiles of the output (rows × samples; good when `m` is long),
//! - [`ger_acc`]: `W += U Vᵀ` summed over the batch, each register block of `W` sweeping the
//!   batch once.
//!
//! The inner loops index fixed-size blocks of slices whose lengths the compiler knows, so they
//! have no bounds checks.

use sciml_core::Scalar;

/// How a kernel starts each output column.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Init<'a, S> {
    /// From zero: `y = A x`.
    Zero,
    /// From what is there: `y += A x`.
    Keep,
    /// From a bias vector (length `m`): `y = b + A x`.
    Bias(&'a [S]),
}

impl<S: Scalar> Init<'_, S> {
    /// Starts the block `y[i0..i0+W]` in registers.
    #[inline(always)]
    fn start<const W: usize>(self, y: &[S], i0: usize) -> [S; W] {
        let mut acc = [S::zero(); W];
        match self {
            Init::Zero => {}
            Init::Keep => acc.copy_from_slice(&y[i0..i0 + W]),
            Init::Bias(b) => acc.copy_from_slice(&b[i0..i0 + W]),
        }
        acc
    }
    #[inline(always)]
    fn apply(self, y: S, i: usize, s: S) -> S {
        match self {
            Init::Zero => s,
            Init::Keep => y + s,
            Init::Bias(b) => b[i] + s,
        }
    }
}

/// `Σ a_l b_l` over the common length, with eight partial sums (vectorisable without
/// reassociation by the compiler, and eight independent dependency chains).
#[inline(always)]
fn dot<S: Scalar>(a: &[S], b: &[S]) -> S {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [S::zero(); 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (p, q) in ca.zip(cb) {
        for ((s, &u), &v) in acc.iter_mut().zip(p).zip(q) {
            *s += u * v;
        }
    }
    let mut tail = S::zero();
    for (&u, &v) in ra.iter().zip(rb) {
        tail += u * v;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail
}

sciml_core::simd_fn! {
    /// `y[:, b] (init)= A x[:, b]` for every sample `b`: `A` row-major `m×k`, `x` is `k×batch`, `y` is
    /// `m×batch`.
    pub(crate) fn gemm_dot[S: Scalar](
        a: &[S],
        mk: (usize, usize),
        x: &[S],
        y: &mut [S],
        init: Init<'_, S>,
    ) {
        let (m, k) = mk;
        if m == 0 {
            return;
        }
        if k == 0 {
            for yc in y.chunks_exact_mut(m) {
                for (i, yi) in yc.iter_mut().enumerate() {
                    *yi = init.apply(*yi, i, S::zero());
                }
            }
            return;
        }
        let a = &a[..m * k];
        for (yc, xc) in y.chunks_exact_mut(m).zip(x.chunks_exact(k)) {
            // Rows by index, not `chunks_exact`, which would divide by `k` for every sample.
            for (i, yi) in yc.iter_mut().enumerate() {
                *yi = init.apply(*yi, i, dot(&a[i * k..(i + 1) * k], xc));
            }
        }
    }
}

/// One register tile `y[i0..i0+MR, b0..b0+NR]` of `y = Bᵀ x`: each row segment of `B` is loaded
/// once for `NR` samples.
#[inline(always)]
fn axpy_tile<S: Scalar, const MR: usize, const NR: usize>(
    bm: &[S],
    (k, m): (usize, usize),
    x: &[S],
    y: &mut [S],
    (i0, b0): (usize, usize),
    init: Init<'_, S>,
) {
    let mut acc = [[S::zero(); MR]; NR];
    let mut xs: [&[S]; NR] = [&[]; NR];
    for (c, (a, xc)) in acc.iter_mut().zip(xs.iter_mut()).enumerate() {
        *a = init.start(&y[(b0 + c) * m..(b0 + c + 1) * m], i0);
        *xc = &x[(b0 + c) * k..(b0 + c + 1) * k];
    }
    // Rows by index: `chunks_exact` would divide by `m` in every tile, which costs as much as
    // the tile itself when `k` is small.
    for l in 0..k {
        let row = &bm[l * m + i0..l * m + i0 + MR];
        for (a, xc) in acc.iter_mut().zip(&xs) {
            let xl = xc[l];
            for (o, &w) in a.iter_mut().zip(row) {
                *o += w * xl;
            }
        }
    }
    for (c, a) in acc.iter().enumerate() {
        y[(b0 + c) * m + i0..(b0 + c) * m + i0 + MR].copy_from_slice(a);
    }
}

/// Rows `i0..i0+MR` of `y = Bᵀ x` for every sample, `NR` samples at a time, then one by one.
#[inline(always)]
fn axpy_rows<S: Scalar, const MR: usize, const NR: usize>(
    bm: &[S],
    km: (usize, usize),
    x: &[S],
    y: &mut [S],
    i0: usize,
    init: Init<'_, S>,
) {
    let batch = y.len() / km.1;
    let mut b = 0;
    while b + NR <= batch {
        axpy_tile::<S, MR, NR>(bm, km, x, y, (i0, b), init);
        b += NR;
    }
    while b < batch {
        axpy_tile::<S, MR, 1>(bm, km, x, y, (i0, b), init);
        b += 1;
    }
}

sciml_core::simd_fn! {
    /// `y[:, b] (init)= Bᵀ x[:, b]` for every sample `b`: `B` row-major `k×m` (so `y = Σ_l B[l, :]
    /// x[l]`), `x` is `k×batch`, `y` is `m×batch`. Register tiles of 8 rows × 2 samples (then 4×4,
    /// 2×8, 1×8 for the last rows).
    pub(crate) fn gemm_axpy[S: Scalar](
        bm: &[S],
        km: (usize, usize),
        x: &[S],
        y: &mut [S],
        init: Init<'_, S>,
    ) {
        let (k, m) = km;
        if m == 0 {
            return;
        }
        if k == 0 {
            return gemm_dot(bm, (m, 0), x, y, init);
        }
        let batch = (y.len() / m).min(x.len() / k);
        let (bm, x, y) = (&bm[..k * m], &x[..k * batch], &mut y[..m * batch]);
        let km = (k, m);
        let mut i = 0;
        // Main tiles: 16 rows × 4 samples in f32, 8 × 6 in f64: more independent accumulators
        // than 8 × 2 (whose adds' latency bounded the loop). Measured on W5's field VJP (best of
        // 30, AVX-512): 1.99 → 1.47 ms in f32, 2.77 → 2.30 ms in f64, with the `ger_acc` blocks
        // below. Other scalars (dual numbers) keep 8 × 2. Each output's sum runs in the same
        // order whatever the tile, so results do not depend on it.
        match std::mem::size_of::<S>() {
            4 => {
                while i + 16 <= m {
                    axpy_rows::<S, 16, 4>(bm, km, x, y, i, init);
                    i += 16;
                }
            }
            8 => {
                while i + 8 <= m {
                    axpy_rows::<S, 8, 6>(bm, km, x, y, i, init);
                    i += 8;
                }
            }
            _ => {}
        }
        while i + 8 <= m {
            axpy_rows::<S, 8, 2>(bm, km, x, y, i, init);
            i += 8;
        }
        if i + 4 <= m {
            axpy_rows::<S, 4, 4>(bm, km, x, y, i, init);
            i += 4;
        }
        if i + 2 <= m {
            axpy_rows::<S, 2, 8>(bm, km, x, y, i, init);
            i += 2;
        }
        if i < m {
            axpy_rows::<S, 1, 8>(bm, km, x, y, i, init);
        }
    }
}

/// One register block `W[i0..i0+MI, j0..j0+NJ] += Σ_b U[i0.., b] V[j0.., b]ᵀ`, vectorised along
/// its longer side (the `MI` contiguous values of `U` or the `NJ` of `V` in each sample).
#[inline(always)]
fn ger_block<S: Scalar, const MI: usize, const NJ: usize>(
    u: &[S],
    m: usize,
    v: &[S],
    n: usize,
    w: &mut [S],
    i0: usize,
    j0: usize,
) {
    let at = |r: usize, c: usize| (i0 + r) * n + j0 + c;
    if MI > NJ {
        // acc[c][r]: one vector per column of the block.
        // The sums start from zero and are added to `W` at the end: started from `W`'s strided
        // entries, the compiler left the whole block scalar.
        let mut acc = [[S::zero(); MI]; NJ];
        for (uc, vc) in u.chunks_exact(m).zip(v.chunks_exact(n)) {
            let ub = &uc[i0..i0 + MI];
            let vb = &vc[j0..j0 + NJ];
            for (a, &vv) in acc.iter_mut().zip(vb) {
                for (o, &ur) in a.iter_mut().zip(ub) {
                    *o += ur * vv;
                }
            }
        }
        for (c, a) in acc.iter().enumerate() {
            for (r, &o) in a.iter().enumerate() {
                w[at(r, c)] += o;
            }
        }
    } else {
        // acc[r][c]: one vector per row of the block.
        let mut acc = [[S::zero(); NJ]; MI];
        for (r, a) in acc.iter_mut().enumerate() {
            a.copy_from_slice(&w[at(r, 0)..at(r, NJ)]);
        }
        for (uc, vc) in u.chunks_exact(m).zip(v.chunks_exact(n)) {
            let ub = &uc[i0..i0 + MI];
            let vb = &vc[j0..j0 + NJ];
            for (a, &ur) in acc.iter_mut().zip(ub) {
                for (o, &vv) in a.iter_mut().zip(vb) {
                    *o += ur * vv;
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            w[at(r, 0)..at(r, NJ)].copy_from_slice(a);
        }
    }
}

/// All rows of the columns `j0..j0+NJ` of `W += U Vᵀ`, in blocks of `MI` rows, then 2, then 1.
#[inline(always)]
fn ger_cols<S: Scalar, const NJ: usize, const MI: usize>(
    u: &[S],
    (m, n): (usize, usize),
    v: &[S],
    w: &mut [S],
    j0: usize,
) {
    ger_cols_from::<S, NJ, MI>(u, (m, n), v, w, j0, 0);
}

/// [`ger_cols`] from row `i0` on.
#[inline(always)]
fn ger_cols_from<S: Scalar, const NJ: usize, const MI: usize>(
    u: &[S],
    (m, n): (usize, usize),
    v: &[S],
    w: &mut [S],
    j0: usize,
    i0: usize,
) {
    let mut i = i0;
    while i + MI <= m {
        ger_block::<S, MI, NJ>(u, m, v, n, w, i, j0);
        i += MI;
    }
    while i + 2 <= m {
        ger_block::<S, 2, NJ>(u, m, v, n, w, i, j0);
        i += 2;
    }
    if i < m {
        ger_block::<S, 1, NJ>(u, m, v, n, w, i, j0);
    }
}

sciml_core::simd_fn! {
    /// `W += Σ_b U[:, b] V[:, b]ᵀ`: `U` is `m×batch`, `V` is `n×batch`, `W` row-major `m×n`. The
    /// batch is swept in chunks whose `U` and `V` stay in the L1 cache while every register
    /// block of `W` (16 scalars or more) sweeps them: swept whole, each block streamed both
    /// from L2 again, and the product ran at half the speed of `gemm_axpy` (W5). Every entry of
    /// `W` is still one sum in sample order started from `W`, so the chunks change no result.
    pub(crate) fn ger_acc[S: Scalar](u: &[S], mn: (usize, usize), v: &[S], w: &mut [S]) {
        let (m, n) = mn;
        if m == 0 || n == 0 {
            return;
        }
        let w = &mut w[..m * n];
        let batch = (u.len() / m).min(v.len() / n);
        // 16 KiB of U and V per chunk (half the L1 data cache of current x86 cores).
        let chunk = (16384 / ((m + n) * std::mem::size_of::<S>())).max(8);
        let mut b0 = 0;
        let mut j = 0;
        while b0 < batch {
            let b1 = (b0 + chunk).min(batch);
            let (uc, vc) = (&u[b0 * m..b1 * m], &v[b0 * n..b1 * n]);
            j = 0;
            // Main blocks: 16 columns × 4 rows in f32, 8 × 6 in f64 (more independent
            // accumulators than 8 × 2; measured with `gemm_axpy`'s tiles above). Other scalars
            // keep 8 × 2. These blocks, and the 8 × 2 and 4 × 4 ones, start from `W`.
            // With fewer rows than a main block (W5's last layer: 2 × 64), rows of 64 (32)
            // columns at a time: blocks of 16 (8) columns held two vectors, bound by the adds'
            // latency. Either way every entry starts from `W` and sums in sample order.
            match std::mem::size_of::<S>() {
                4 => {
                    while m < 4 && j + 64 <= n {
                        ger_cols::<S, 64, 4>(uc, (m, n), vc, w, j);
                        j += 64;
                    }
                    while j + 16 <= n {
                        ger_cols::<S, 16, 4>(uc, (m, n), vc, w, j);
                        j += 16;
                    }
                }
                8 => {
                    while m < 6 && j + 32 <= n {
                        ger_cols::<S, 32, 6>(uc, (m, n), vc, w, j);
                        j += 32;
                    }
                    while j + 8 <= n {
                        ger_cols::<S, 8, 6>(uc, (m, n), vc, w, j);
                        j += 8;
                    }
                }
                _ => {}
            }
            while j + 8 <= n {
                ger_cols::<S, 8, 2>(uc, (m, n), vc, w, j);
                j += 8;
            }
            if j + 4 <= n {
                ger_cols::<S, 4, 4>(uc, (m, n), vc, w, j);
                j += 4;
            }
            b0 = b1;
        }
        // The last one to three columns in blocks that sum from zero and add to `W` at the end:
        // the whole batch at once, as their rounding depends on it. Four vectors of rows at a
        // time first (as many rows as the blocks of 8 below would take, and each sum the same):
        // one vector per column was bound by the adds' latency (a 64 × 3 weight, W5's first
        // layer, took a third of that layer's reverse pass).
        if j + 2 <= n {
            let rows = tall_tail::<S, 2>(u, (m, n), v, w, j);
            ger_cols_from::<S, 2, 8>(u, (m, n), v, w, j, rows);
            j += 2;
        }
        if j < n {
            let rows = tall_tail::<S, 1>(u, (m, n), v, w, j);
            ger_cols_from::<S, 1, 8>(u, (m, n), v, w, j, rows);
        }
    }
}

/// The `NJ` tail columns `j..j+NJ` of `W += U Vᵀ` over whole blocks of four AVX-512 vectors
/// of rows (64 in `f32`, 32 in `f64`, none for other scalars), each entry summed from zero over
/// the whole batch, as the blocks of 8 rows do. Returns the rows it covered.
#[inline(always)]
fn tall_tail<S: Scalar, const NJ: usize>(
    u: &[S],
    (m, n): (usize, usize),
    v: &[S],
    w: &mut [S],
    j: usize,
) -> usize {
    let mut i = 0;
    match std::mem::size_of::<S>() {
        4 => {
            while i + 64 <= m {
                ger_block::<S, 64, NJ>(u, m, v, n, w, i, j);
                i += 64;
            }
        }
        8 => {
            while i + 32 <= m {
                ger_block::<S, 32, NJ>(u, m, v, n, w, i, j);
                i += 32;
            }
        }
        _ => {}
    }
    i
}

sciml_core::simd_fn! {
    /// `s += Σ_b U[:, b]` (`U` is `m×batch`): the bias gradient.
    pub(crate) fn colsum_acc[S: Scalar](u: &[S], m: usize, s: &mut [S]) {
        if m == 0 {
            return;
        }
        let s = &mut s[..m];
        for uc in u.chunks_exact(m) {
            for (o, &v) in s.iter_mut().zip(uc) {
                *o += v;
            }
        }
    }
}

/// `out = Aᵀ`: `A` row-major `m×k`, `out` row-major `k×m`.
pub(crate) fn transpose<S: Scalar>(a: &[S], (m, k): (usize, usize), out: &mut [S]) {
    if m == 0 || k == 0 {
        return;
    }
    let out = &mut out[..m * k];
    for (i, row) in a[..m * k].chunks_exact(k).enumerate() {
        for (o, &v) in out[i..].iter_mut().step_by(m).zip(row) {
            *o = v;
        }
    }
}

/// Places each sample of `src` (`rows × batch`) at rows `off..off+rows` of `dst`
/// (`dst_rows × batch`): one block of a feature-wise concatenation.
pub(crate) fn scatter_rows<S: Copy>(
    src: &[S],
    rows: usize,
    dst: &mut [S],
    (dst_rows, off): (usize, usize),
) {
    if rows == 0 || dst_rows == 0 {
        return;
    }
    for (d, s) in dst.chunks_exact_mut(dst_rows).zip(src.chunks_exact(rows)) {
        d[off..off + rows].copy_from_slice(s);
    }
}

/// Rows `off..off+rows` of each sample of `src` (`src_rows × batch`) into `dst` (`rows × batch`),
/// written or (with `add`) added: one block of a feature-wise split.
pub(crate) fn gather_rows<S: Scalar>(
    src: &[S],
    (src_rows, off): (usize, usize),
    dst: &mut [S],
    rows: usize,
    add: bool,
) {
    if rows == 0 || src_rows == 0 {
        return;
    }
    for (d, s) in dst.chunks_exact_mut(rows).zip(src.chunks_exact(src_rows)) {
        let s = &s[off..off + rows];
        if add {
            for (o, &v) in d.iter_mut().zip(s) {
                *o += v;
            }
        } else {
            d.copy_from_slice(s);
        }
    }
}

/// `y += x` elementwise.
#[inline]
pub(crate) fn add_assign<S: Scalar>(y: &mut [S], x: &[S]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], m: usize, k: usize, x: &[f64]) -> Vec<f64> {
        let batch = x.len() / k.max(1);
        let mut y = vec![0.0; m * batch];
        for b in 0..batch {
            for i in 0..m {
                for l in 0..k {
                    y[b * m + i] += a[i * k + l] * x[b * k + l];
                }
            }
        }
        y
    }

    fn vals(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + 1.0) * s).sin()).collect()
    }

    /// Every kernel at every SIMD level the CPU has, on the W4 shapes and awkward ones.
    fn all_kernels<S: Scalar>(vals: impl Fn(usize, f64) -> Vec<S>) -> Vec<Vec<S>> {
        let mut out = Vec::new();
        for &(m, k, batch) in &[
            (50, 2, 100),
            (2, 50, 100),
            (17, 9, 5),
            (3, 1, 2),
            (8, 8, 1),
            (40, 35, 13),
        ] {
            let a = vals(m * k, 0.37);
            let x = vals(k * batch, 0.71);
            let bias = vals(m, 0.13);
            let mut y = vals(m * batch, 0.5);
            gemm_dot(&a, (m, k), &x, &mut y, Init::Bias(&bias));
            let mut y2 = vals(m * batch, 0.3);
            gemm_axpy(&a, (k, m), &x, &mut y2, Init::Keep);
            let mut w = vals(m * k, 0.9);
            ger_acc(&y, (m, k), &x, &mut w);
            let mut s = vals(m, 0.2);
            colsum_acc(&y2, m, &mut s);
            let mut d = vals(m * batch, 0.1);
            crate::nn::Activation::Tanh.mul_derivative(&[], &y2, &y, &mut d);
            let (mut zb, mut zbd) = (vals(m * batch, 0.6), vals(m * batch, 0.8));
            let yb = vals(m * batch, 0.45);
            super::super::activation::tanh_cotangent_tangent(&d, &y2, &y, &yb, &mut zb, &mut zbd);
            out.extend([y, y2, w, s, d, zb, zbd]);
        }
        out
    }

    #[test]
    fn simd_levels_give_bitwise_equal_results() {
        use sciml_core::simd::{force_simd_level, simd_level, SimdLevel};
        let initial = simd_level();
        let v64 = |n: usize, s: f64| vals(n, s);
        let v32 = |n: usize, s: f64| vals(n, s).into_iter().map(|x| x as f32).collect();
        force_simd_level(SimdLevel::Portable);
        let (want64, want32) = (all_kernels::<f64>(v64), all_kernels::<f32>(v32));
        for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
            let got = force_simd_level(level);
            let bits64 = |v: &[Vec<f64>]| -> Vec<Vec<u64>> {
                v.iter()
                    .map(|x| x.iter().map(|y| y.to_bits()).collect())
                    .collect()
            };
            let bits32 = |v: &[Vec<f32>]| -> Vec<Vec<u32>> {
                v.iter()
                    .map(|x| x.iter().map(|y| y.to_bits()).collect())
                    .collect()
            };
            assert_eq!(bits64(&all_kernels::<f64>(v64)), bits64(&want64), "{got:?}");
            assert_eq!(bits32(&all_kernels::<f32>(v32)), bits32(&want32), "{got:?}");
        }
        force_simd_level(initial);
    }

    #[test]
    fn kernels_match_naive_loops_on_awkward_sizes() {
        for &(m, k, batch) in &[
            (1, 1, 1),
            (2, 50, 3),
            (50, 2, 5),
            (17, 9, 4),
            (8, 8, 1),
            (3, 1, 2),
            (20, 24, 13),
            (64, 64, 7),
            (64, 64, 100),
            (5, 19, 300),
        ] {
            let a = vals(m * k, 0.37);
            let x = vals(k * batch, 0.71);
            let want = naive(&a, m, k, &x);
            let bias = vals(m, 0.13);
            let mut y = vec![0.0; m * batch];
            gemm_dot(&a, (m, k), &x, &mut y, Init::Bias(&bias));
            let mut at = vec![0.0; m * k];
            transpose(&a, (m, k), &mut at);
            let mut y2 = vec![1.0; m * batch];
            gemm_axpy(&at, (k, m), &x, &mut y2, Init::Keep);
            for b in 0..batch {
                for i in 0..m {
                    let w = want[b * m + i];
                    assert!((y[b * m + i] - w - bias[i]).abs() < 1e-13);
                    assert!((y2[b * m + i] - w - 1.0).abs() < 1e-13);
                }
            }
            // W += U Vᵀ with U = y (m×batch), V = x (k×batch).
            let mut w = vec![0.5; m * k];
            ger_acc(&y, (m, k), &x, &mut w);
            for i in 0..m {
                for j in 0..k {
                    let s: f64 = (0..batch).map(|b| y[b * m + i] * x[b * k + j]).sum();
                    assert!((w[i * k + j] - 0.5 - s).abs() < 1e-12);
                }
            }
        }
    }

    /// Sweeping the batch in chunks changes no result: where `n` is a multiple of 4 every entry
    /// of `W` is the sum in sample order started from `W`, bitwise, across several chunks.
    #[test]
    fn ger_acc_sums_in_sample_order_across_chunks() {
        fn check<S: Scalar + PartialEq>(lift: impl Fn(f64) -> S) {
            for &(m, n, batch) in &[
                (64, 64, 1000),
                (7, 20, 257),
                (2, 64, 300),
                (3, 8, 99),
                (3, 136, 77),
                (1, 96, 41),
                (5, 104, 60),
            ] {
                let u: Vec<S> = vals(m * batch, 0.37).into_iter().map(&lift).collect();
                let v: Vec<S> = vals(n * batch, 0.71).into_iter().map(&lift).collect();
                let mut w: Vec<S> = vals(m * n, 0.9).into_iter().map(&lift).collect();
                let mut want = w.clone();
                for b in 0..batch {
                    for i in 0..m {
                        for j in 0..n {
                            want[i * n + j] += u[b * m + i] * v[b * n + j];
                        }
                    }
                }
                ger_acc(&u, (m, n), &v, &mut w);
                assert!(w == want, "({m}, {n}, {batch})");
            }
        }
        check::<f64>(|x| x);
        check::<f32>(|x| x as f32);
    }

    /// The last `n mod 4` columns: the rows that blocks of 8 (or 2 for a single column) cover
    /// are summed from zero over the whole batch in sample order and then added to `W`; the
    /// remaining rows sum in sample order started from `W`. Bitwise, whatever block computes
    /// them.
    #[test]
    fn ger_acc_tail_columns_sum_from_zero() {
        fn check<S: Scalar + PartialEq>(lift: impl Fn(f64) -> S) {
            for &(m, n, batch) in &[(64, 3, 300), (70, 7, 129), (130, 2, 50), (97, 65, 40)] {
                let u: Vec<S> = vals(m * batch, 0.37).into_iter().map(&lift).collect();
                let v: Vec<S> = vals(n * batch, 0.71).into_iter().map(&lift).collect();
                let mut w: Vec<S> = vals(m * n, 0.9).into_iter().map(&lift).collect();
                let tail = n % 4;
                let mut want = w.clone();
                for i in 0..m {
                    for j in n - tail..n {
                        // Two tail columns go in pairs first, then a single one.
                        let single = tail % 2 == 1 && j == n - 1;
                        let from_zero = if single { i < m / 2 * 2 } else { i < m / 8 * 8 };
                        let mut acc = if from_zero {
                            S::zero()
                        } else {
                            want[i * n + j]
                        };
                        for b in 0..batch {
                            acc += u[b * m + i] * v[b * n + j];
                        }
                        want[i * n + j] = if from_zero {
                            want[i * n + j] + acc
                        } else {
                            acc
                        };
                    }
                }
                ger_acc(&u, (m, n), &v, &mut w);
                for i in 0..m {
                    for j in n - tail..n {
                        assert!(w[i * n + j] == want[i * n + j], "({m}, {n}): ({i}, {j})");
                    }
                }
            }
        }
        check::<f64>(|x| x);
        check::<f32>(|x| x as f32);
    }
}
