//! Dense LU with partial pivoting, preallocated, for the Newton matrices of implicit solvers.

use super::{all_finite, LinalgReal, LinearError};
use crate::matrix::DenseMatrix;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::lu::partial_pivoting::factor::lu_in_place;
use faer::linalg::lu::partial_pivoting::factor::lu_in_place_scratch;
use faer::{MatMut, Par};

/// Smallest `n` at which [`DenseLuBackend::Auto`] uses faer's blocked factorisation instead of
/// nalgebra's elimination kernel.
///
/// Chosen from `cargo bench -p sciml-core --bench linalg` (factor + solve, `f64`): below this size
/// nalgebra's unblocked kernel wins (faer's per-call set-up dominates: 2× slower at n = 3–10),
/// they are even around n = 30–40, and faer's blocked kernel wins above (2× at n = 100, 2–3× at
/// n = 200).
pub const DENSE_LU_FAER_MIN_N: usize = 32;

/// Which factorisation kernel a [`DenseLu`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DenseLuBackend {
    /// nalgebra's kernel below [`DENSE_LU_FAER_MIN_N`], faer from there on.
    #[default]
    Auto,
    /// A right-looking, column-oriented kernel in this crate (a reference: nalgebra's kernel, the
    /// same algorithm, measured 5–30% faster at n = 3–30).
    Simple,
    /// faer's recursive blocked in-place LU with preallocated scratch: best for large `n`.
    Faer,
    /// nalgebra's elimination kernels on a view of the preallocated storage.
    Nalgebra,
}

/// An LU factorisation `P A = L U` with partial (row) pivoting, for repeated solves with one
/// matrix, allocation-free after [`DenseLu::new`]: nalgebra's elimination kernel for small `n`,
/// faer's blocked in-place LU with preallocated scratch from [`DENSE_LU_FAER_MIN_N`] on.
///
/// The factors are stored packed in one column-major `n × n` array (unit lower `L` below the
/// diagonal, `U` on and above it) with the row interchanges as a LAPACK-style sequence, whatever
/// kernel factored them, so both solves are shared.
///
/// A zero pivot gives [`LinearError::Singular`]; a non-finite matrix, factor or solution gives
/// [`LinearError::NonFinite`]. Near-singular matrices are factored: a stiff solver detects their
/// effect through its Newton convergence test.
///
/// ```
/// use sciml_core::{DenseLu, DenseMatrix};
/// let mut a = DenseMatrix::<f64>::zeros(2, 2);
/// a[(0, 0)] = 2.0; a[(0, 1)] = 1.0;
/// a[(1, 0)] = 1.0; a[(1, 1)] = 3.0;
/// let mut lu = DenseLu::new(2);
/// lu.factor(&a).unwrap();
/// let mut b = [3.0, 5.0]; // A · [0.8, 1.4]
/// lu.solve_in_place(&mut b).unwrap();
/// assert!((b[0] - 0.8).abs() < 1e-15 && (b[1] - 1.4).abs() < 1e-15);
/// let mut c = [3.0, 4.0]; // Aᵀ · [1, 1]
/// lu.solve_transpose_in_place(&mut c).unwrap();
/// assert!((c[0] - 1.0).abs() < 1e-15 && (c[1] - 1.0).abs() < 1e-15);
/// ```
pub struct DenseLu<R: LinalgReal> {
    n: usize,
    backend: DenseLuBackend,
    lu: Vec<R>,
    /// Row `k` was interchanged with row `piv[k] >= k` at step `k`.
    piv: Vec<usize>,
    /// `1 / U_kk`: the back substitution multiplies by them (a division there is a long-latency
    /// link in a chain of `n` dependent ones; small stiff systems spend most of a solve on it).
    inv_diag: Vec<R>,
    /// The interchanges as one permutation: row `i` of `P·b` is `b[row_perm[i]]` (the small
    /// solves gather through it, so their vector stays in registers).
    row_perm: Vec<usize>,
    factored: bool,
    // faer's outputs and scratch (empty when the simple kernel is used).
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    pos: Vec<usize>,
    scratch: MemBuffer,
}

impl<R: LinalgReal> Clone for DenseLu<R> {
    fn clone(&self) -> Self {
        let mut c = Self::with_backend(self.n, self.backend);
        c.lu.copy_from_slice(&self.lu);
        c.piv.copy_from_slice(&self.piv);
        c.inv_diag.copy_from_slice(&self.inv_diag);
        c.row_perm.copy_from_slice(&self.row_perm);
        c.factored = self.factored;
        c
    }
}

impl<R: LinalgReal> std::fmt::Debug for DenseLu<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseLu")
            .field("n", &self.n)
            .field("backend", &self.backend)
            .field("factored", &self.factored)
            .finish_non_exhaustive()
    }
}

impl<R: LinalgReal> DenseLu<R> {
    /// An LU for `n × n` matrices, kernel chosen by size ([`DenseLuBackend::Auto`]).
    pub fn new(n: usize) -> Self {
        Self::with_backend(n, DenseLuBackend::Auto)
    }

    /// An LU for `n × n` matrices with the given kernel.
    pub fn with_backend(n: usize, backend: DenseLuBackend) -> Self {
        let use_faer = match backend {
            DenseLuBackend::Auto => n >= DENSE_LU_FAER_MIN_N,
            DenseLuBackend::Simple | DenseLuBackend::Nalgebra => false,
            DenseLuBackend::Faer => true,
        };
        let (m, req) = if use_faer {
            (
                n,
                lu_in_place_scratch::<usize, R>(n, n, Par::Seq, Default::default()),
            )
        } else {
            (0, StackReq::EMPTY)
        };
        DenseLu {
            n,
            backend: match backend {
                DenseLuBackend::Auto if use_faer => DenseLuBackend::Faer,
                DenseLuBackend::Auto => DenseLuBackend::Nalgebra,
                b => b,
            },
            lu: vec![R::zero(); n * n],
            piv: vec![0; n],
            inv_diag: vec![R::zero(); n],
            row_perm: (0..n).collect(),
            factored: false,
            perm: vec![0; m],
            perm_inv: vec![0; m],
            pos: vec![0; m],
            scratch: MemBuffer::new(req),
        }
    }

    /// The size `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The kernel in use (never [`DenseLuBackend::Auto`]).
    pub fn backend(&self) -> DenseLuBackend {
        self.backend
    }

    /// Whether the last [`DenseLu::factor`] succeeded.
    pub fn is_factored(&self) -> bool {
        self.factored
    }

    /// Copies `a` and factors it in place. Allocation-free.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `a` is not `n × n`, [`LinearError::NonFinite`] if it holds a
    /// NaN or infinity (or the factors overflow), [`LinearError::Singular`] on a zero pivot. After
    /// an error, solves fail with [`LinearError::NotFactored`] until a factorisation succeeds.
    pub fn factor(&mut self, a: &DenseMatrix<R>) -> Result<(), LinearError> {
        self.factored = false;
        let n = self.n;
        if a.nrows() != n || a.ncols() != n {
            return Err(LinearError::Dimension {
                expected: n,
                got: if a.nrows() != n { a.nrows() } else { a.ncols() },
            });
        }
        if !all_finite(a.as_slice()) {
            return Err(LinearError::NonFinite);
        }
        self.lu.copy_from_slice(a.as_slice());
        match self.backend {
            DenseLuBackend::Faer => self.factor_faer(),
            // Small systems (thousands of factorisations of a 3-species kinetics model per
            // solve): nalgebra's operations in nalgebra's order on a stack array, unrolled.
            DenseLuBackend::Nalgebra => match n {
                1 => factor_small::<R, 1>(&mut self.lu, &mut self.piv)?,
                2 => factor_small::<R, 2>(&mut self.lu, &mut self.piv)?,
                3 => factor_small::<R, 3>(&mut self.lu, &mut self.piv)?,
                4 => factor_small::<R, 4>(&mut self.lu, &mut self.piv)?,
                5 => factor_small::<R, 5>(&mut self.lu, &mut self.piv)?,
                6 => factor_small::<R, 6>(&mut self.lu, &mut self.piv)?,
                7 => factor_small::<R, 7>(&mut self.lu, &mut self.piv)?,
                8 => factor_small::<R, 8>(&mut self.lu, &mut self.piv)?,
                _ => R::lu_nalgebra(&mut self.lu, n, &mut self.piv)?,
            },
            _ => factor_simple(&mut self.lu, n, &mut self.piv)?,
        }
        // A zero pivot (faer does not stop at one) or overflow in the factors.
        for k in 0..n {
            let d = self.lu[k * n + k];
            if d == R::zero() {
                return Err(LinearError::Singular { column: k });
            }
            if !d.is_finite() {
                return Err(LinearError::NonFinite);
            }
            self.inv_diag[k] = R::one() / d;
        }
        if self.backend == DenseLuBackend::Faer && !all_finite(&self.lu) {
            return Err(LinearError::NonFinite);
        }
        for (i, r) in self.row_perm.iter_mut().enumerate() {
            *r = i;
        }
        for (k, &p) in self.piv.iter().enumerate() {
            self.row_perm.swap(k, p);
        }
        self.factored = true;
        Ok(())
    }

    /// faer's blocked LU, then its row permutation turned into an interchange sequence.
    fn factor_faer(&mut self) {
        let n = self.n;
        let mat = MatMut::from_column_major_slice_mut(&mut self.lu, n, n);
        let stack = MemStack::new(&mut self.scratch);
        lu_in_place(
            mat,
            &mut self.perm,
            &mut self.perm_inv,
            Par::Seq,
            stack,
            Default::default(),
        );
        // Row i of P·A is row perm[i] of A. Replay as interchanges: keep where each original row
        // currently sits (pos) and which original row sits at each position (perm_inv reused).
        for i in 0..n {
            self.pos[i] = i;
            self.perm_inv[i] = i;
        }
        for k in 0..n {
            let q = self.pos[self.perm[k]];
            self.piv[k] = q;
            let (rk, rq) = (self.perm_inv[k], self.perm_inv[q]);
            self.perm_inv.swap(k, q);
            self.pos[rk] = q;
            self.pos[rq] = k;
        }
    }

    fn check_rhs(&self, b: &[R]) -> Result<(), LinearError> {
        if !self.factored {
            return Err(LinearError::NotFactored);
        }
        if b.len() != self.n {
            return Err(LinearError::Dimension {
                expected: self.n,
                got: b.len(),
            });
        }
        Ok(())
    }

    /// Solves `A x = b`, overwriting `b` with `x`. Allocation-free.
    ///
    /// # Errors
    /// [`LinearError::NotFactored`], [`LinearError::Dimension`] if `b.len() != n`,
    /// [`LinearError::NonFinite`] if the solution is not finite.
    pub fn solve_in_place(&self, b: &mut [R]) -> Result<(), LinearError> {
        self.check_rhs(b)?;
        // Small systems (a 3-species kinetics model solves thousands of them per integration):
        // the same operations in the same order on a stack array, the loops unrolled.
        match self.n {
            1 => return self.solve_small::<1>(b),
            2 => return self.solve_small::<2>(b),
            3 => return self.solve_small::<3>(b),
            4 => return self.solve_small::<4>(b),
            5 => return self.solve_small::<5>(b),
            6 => return self.solve_small::<6>(b),
            7 => return self.solve_small::<7>(b),
            8 => return self.solve_small::<8>(b),
            _ => {}
        }
        self.solve_general(b)
    }

    /// [`DenseLu::solve_in_place`] for any `n`, after the checks.
    fn solve_general(&self, b: &mut [R]) -> Result<(), LinearError> {
        let n = self.n;
        let lu = &self.lu;
        for (k, &p) in self.piv.iter().enumerate() {
            b.swap(k, p);
        }
        // L y = P b (unit lower), column-oriented so each update is a contiguous axpy.
        for k in 0..n {
            let bk = b[k];
            if bk != R::zero() {
                let col = &lu[k * n + k + 1..(k + 1) * n];
                for (bi, l) in b[k + 1..].iter_mut().zip(col) {
                    *bi -= *l * bk;
                }
            }
        }
        // U x = y.
        for k in (0..n).rev() {
            b[k] *= self.inv_diag[k];
            let bk = b[k];
            if bk != R::zero() {
                let col = &lu[k * n..k * n + k];
                for (bi, u) in b[..k].iter_mut().zip(col) {
                    *bi -= *u * bk;
                }
            }
        }
        if all_finite(b) {
            Ok(())
        } else {
            Err(LinearError::NonFinite)
        }
    }

    /// [`DenseLu::solve_in_place`] for `n == N`, bitwise the same result.
    #[inline]
    fn solve_small<const N: usize>(&self, b: &mut [R]) -> Result<(), LinearError> {
        let lu = &self.lu[..N * N];
        let mut x = [R::zero(); N];
        for (xi, &r) in x.iter_mut().zip(&self.row_perm[..N]) {
            *xi = b[r];
        }
        for k in 0..N {
            let xk = x[k];
            if xk != R::zero() {
                for i in k + 1..N {
                    x[i] -= lu[k * N + i] * xk;
                }
            }
        }
        let inv = &self.inv_diag[..N];
        for k in (0..N).rev() {
            x[k] *= inv[k];
            let xk = x[k];
            if xk != R::zero() {
                for i in 0..k {
                    x[i] -= lu[k * N + i] * xk;
                }
            }
        }
        b[..N].copy_from_slice(&x);
        if x.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(LinearError::NonFinite)
        }
    }

    /// Solves `Aᵀ x = b`, overwriting `b` with `x` (adjoints need it). Allocation-free.
    ///
    /// With `P A = L U`, `Aᵀ = Uᵀ Lᵀ P`: solve `Uᵀ y = b`, then `Lᵀ z = y`, then `x = Pᵀ z`.
    ///
    /// # Errors
    /// As [`DenseLu::solve_in_place`].
    pub fn solve_transpose_in_place(&self, b: &mut [R]) -> Result<(), LinearError> {
        self.check_rhs(b)?;
        let n = self.n;
        let lu = &self.lu;
        // Uᵀ y = b: row i of Uᵀ is column i of U, contiguous.
        for i in 0..n {
            let col = &lu[i * n..i * n + i];
            let s = col
                .iter()
                .zip(&b[..i])
                .fold(R::zero(), |s, (u, y)| s + *u * *y);
            b[i] = (b[i] - s) / lu[i * n + i];
        }
        // Lᵀ z = y (unit upper).
        for i in (0..n).rev() {
            let col = &lu[i * n + i + 1..(i + 1) * n];
            let s = col
                .iter()
                .zip(&b[i + 1..])
                .fold(R::zero(), |s, (l, z)| s + *l * *z);
            b[i] -= s;
        }
        for (k, &p) in self.piv.iter().enumerate().rev() {
            b.swap(k, p);
        }
        if all_finite(b) {
            Ok(())
        } else {
            Err(LinearError::NonFinite)
        }
    }
}

/// Right-looking LU with partial pivoting of the column-major `n × n` array `a`, in place.
/// Each trailing update is a contiguous axpy on one column, which the compiler vectorises.
/// nalgebra's LU kernel (`lu_nalgebra`: the first largest pivot by absolute value, rows
/// interchanged across the whole matrix, multipliers scaled by the pivot's reciprocal, each
/// trailing entry updated as `a − (pivot row entry)·(multiplier)`) for `n == N` on a stack copy,
/// bitwise the same factors and interchanges.
#[inline]
fn factor_small<R: LinalgReal, const N: usize>(
    a: &mut [R],
    piv: &mut [usize],
) -> Result<(), LinearError> {
    // m[column][row], column-major as the storage; index loops over constant bounds, which the
    // compiler unrolls.
    let mut m = [[R::zero(); N]; N];
    for (j, col) in m.iter_mut().enumerate() {
        col.copy_from_slice(&a[j * N..(j + 1) * N]);
    }
    #[allow(clippy::needless_range_loop)] // matrix indices read as in the algorithm
    for k in 0..N {
        let (mut p, mut best) = (k, m[k][k].abs());
        for r in k + 1..N {
            let v = m[k][r].abs();
            if v > best {
                best = v;
                p = r;
            }
        }
        piv[k] = p;
        let d = m[k][p];
        if d == R::zero() {
            return Err(LinearError::Singular { column: k });
        }
        if p != k {
            for c in 0..N {
                m[c].swap(k, p);
            }
        }
        let inv = R::one() / d;
        // Full-length loops with the triangle as a condition: constant trip counts, which the
        // compiler unrolls (the same operations in the same order).
        for r in 0..N {
            if r > k {
                m[k][r] *= inv;
            }
        }
        let lcol = m[k];
        for c in 0..N {
            if c > k {
                let pr = m[c][k];
                for r in 0..N {
                    if r > k {
                        m[c][r] -= pr * lcol[r];
                    }
                }
            }
        }
    }
    for (j, col) in m.iter().enumerate() {
        a[j * N..(j + 1) * N].copy_from_slice(col);
    }
    Ok(())
}

fn factor_simple<R: LinalgReal>(
    a: &mut [R],
    n: usize,
    piv: &mut [usize],
) -> Result<(), LinearError> {
    for k in 0..n {
        let col = &a[k * n..(k + 1) * n];
        let mut p = k;
        let mut best = col[k].abs();
        for (i, v) in col.iter().enumerate().skip(k + 1) {
            let v = v.abs();
            if v > best {
                best = v;
                p = i;
            }
        }
        piv[k] = p;
        if best == R::zero() {
            return Err(LinearError::Singular { column: k });
        }
        let (left, right) = a.split_at_mut((k + 1) * n);
        if p != k {
            for col in left.chunks_exact_mut(n) {
                col.swap(k, p);
            }
        }
        let colk = &mut left[k * n..];
        let inv = R::one() / colk[k];
        for x in &mut colk[k + 1..] {
            *x *= inv;
        }
        let lcol = &colk[k + 1..];
        // The interchange of each trailing column is fused with its update, so every column is
        // streamed once per step (as nalgebra's `gauss_step_swap` does).
        for cj in right.chunks_exact_mut(n) {
            if p != k {
                cj.swap(k, p);
            }
            let (top, bot) = cj.split_at_mut(k + 1);
            let akj = top[k];
            if akj != R::zero() {
                for (x, l) in bot.iter_mut().zip(lcol) {
                    *x -= *l * akj;
                }
            }
        }
    }
    Ok(())
}

/// The same elimination through nalgebra's kernels (`gauss_step`, `gauss_step_swap`, as its
/// `LU::new` does) on a view of `a`, so nothing is allocated.
pub(crate) fn lu_nalgebra<T: nalgebra::RealField + Copy>(
    a: &mut [T],
    n: usize,
    piv: &mut [usize],
) -> Result<(), LinearError> {
    let mut m = nalgebra::DMatrixViewMut::from_slice(a, n, n);
    for i in 0..n {
        let p = m.view_range(i.., i).icamax() + i;
        let d = m[(p, i)];
        piv[i] = p;
        if d.is_zero() {
            return Err(LinearError::Singular { column: i });
        }
        if p != i {
            m.columns_range_mut(..i).swap_rows(i, p);
            nalgebra::linalg::gauss_step_swap(&mut m, d, i, p);
        } else {
            nalgebra::linalg::gauss_step(&mut m, d, i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(n: usize, f: impl Fn(usize, usize) -> f64) -> DenseMatrix<f64> {
        let mut a = DenseMatrix::zeros(n, n);
        for j in 0..n {
            for i in 0..n {
                a[(i, j)] = f(i, j);
            }
        }
        a
    }

    /// Xorshift64 draws, uniform in `[−0.5, 0.5)`.
    fn uniform_centred(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    #[test]
    fn small_solves_are_bitwise_the_general_solve() {
        // Pseudo-random matrices that force interchanges, and right-hand sides with zeros (the
        // kernels skip zero entries the same way).
        let mut next = uniform_centred(0x2545_f491_4f6c_dd1d);
        for n in 1..=8 {
            for trial in 0..50 {
                let entries: Vec<f64> = (0..n * n).map(|_| next()).collect();
                let a = mat(n, |i, j| entries[j * n + i]);
                let mut lu = DenseLu::new(n);
                lu.factor(&a).expect("random matrices are regular");
                let b: Vec<f64> = (0..n)
                    .map(|i| if (i + trial) % 3 == 0 { 0.0 } else { next() })
                    .collect();
                let (mut x, mut y) = (b.clone(), b);
                lu.solve_in_place(&mut x).expect("solves");
                lu.solve_general(&mut y).expect("solves");
                assert_eq!(x, y, "n = {n}, trial {trial}");
            }
        }
    }

    #[test]
    fn small_factorisations_are_bitwise_nalgebras() {
        // Pseudo-random matrices (interchanges forced by the random magnitudes), some with exact
        // zeros and repeated magnitudes (ties in the pivot search), against lu_nalgebra itself.
        let mut next = uniform_centred(0x9e37_79b9_7f4a_7c15);
        for n in 1..=8 {
            for trial in 0..200 {
                let mut entries: Vec<f64> = (0..n * n).map(|_| next()).collect();
                if trial % 5 == 1 {
                    entries.iter_mut().step_by(3).for_each(|x| *x = 0.0);
                }
                if trial % 7 == 2 {
                    entries.iter_mut().step_by(2).for_each(|x| *x = 0.25);
                }
                let (mut want, mut pw) = (entries.clone(), vec![0; n]);
                let rw = lu_nalgebra(&mut want, n, &mut pw);
                let mut lu = DenseLu::with_backend(n, DenseLuBackend::Nalgebra);
                let a = mat(n, |i, j| entries[j * n + i]);
                let rg = lu.factor(&a);
                match rw {
                    Ok(()) => {
                        rg.unwrap_or_else(|e| panic!("n = {n}, trial {trial}: {e}"));
                        assert_eq!(lu.piv, pw, "n = {n}, trial {trial}");
                        let (g, w): (Vec<u64>, Vec<u64>) = (
                            lu.lu.iter().map(|x| x.to_bits()).collect(),
                            want.iter().map(|x| x.to_bits()).collect(),
                        );
                        assert_eq!(g, w, "n = {n}, trial {trial}");
                    }
                    Err(_) => assert!(rg.is_err(), "n = {n}, trial {trial}"),
                }
            }
        }
    }

    #[test]
    fn both_kernels_give_identical_interchanges_on_a_pivoting_matrix() {
        // Row 2 has the largest entry of column 0, so a swap is forced.
        let a = mat(3, |i, j| {
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]][i][j]
        });
        for backend in [
            DenseLuBackend::Simple,
            DenseLuBackend::Nalgebra,
            DenseLuBackend::Faer,
        ] {
            let mut lu = DenseLu::with_backend(3, backend);
            lu.factor(&a).unwrap();
            assert_eq!(lu.piv[0], 2, "{backend:?}");
            // x = [1, 1, 1] → b = row sums.
            let mut b = [6.0, 15.0, 25.0];
            lu.solve_in_place(&mut b).unwrap();
            for x in b {
                assert!((x - 1.0).abs() < 1e-13, "{backend:?}: {b:?}");
            }
        }
    }

    #[test]
    fn zero_sized_system_is_fine() {
        let mut lu = DenseLu::<f64>::new(0);
        lu.factor(&DenseMatrix::zeros(0, 0)).unwrap();
        lu.solve_in_place(&mut []).unwrap();
    }
}
