//! Compressed sparse column (CSC) patterns and matrices.

use super::LinearError;
use crate::matrix::DenseMatrix;
use crate::scalar::Scalar;
use std::sync::Arc;

/// The positions of the nonzeros of an `nrows × ncols` matrix in compressed sparse column form:
/// the rows of column `j` are `row_idx[col_ptr[j]..col_ptr[j + 1]]`, strictly increasing.
///
/// The invariants are established by the constructors and cannot be broken afterwards, so the
/// sparse LU and the colouring can rely on them.
///
/// ```
/// use sciml_core::SparsityPattern;
/// // A 3 × 3 tridiagonal pattern; duplicates are merged.
/// let p = SparsityPattern::from_triplets(
///     3, 3,
///     &[(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (2, 2), (2, 2)],
/// ).unwrap();
/// assert_eq!(p.nnz(), 7);
/// assert!(p.contains(2, 1) && !p.contains(2, 0));
/// assert_eq!(p.col(1), &[0, 1, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SparsityPattern {
    nrows: usize,
    ncols: usize,
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
}

impl SparsityPattern {
    /// The pattern with the given `(row, col)` entries, in any order; duplicates are merged.
    ///
    /// # Errors
    /// [`LinearError::IndexOutOfBounds`] for an entry outside `nrows × ncols`.
    pub fn from_triplets(
        nrows: usize,
        ncols: usize,
        entries: &[(usize, usize)],
    ) -> Result<Self, LinearError> {
        if let Some(&(row, col)) = entries.iter().find(|(r, c)| *r >= nrows || *c >= ncols) {
            return Err(LinearError::IndexOutOfBounds {
                row,
                col,
                nrows,
                ncols,
            });
        }
        // Counting sort by column, then sort and deduplicate the rows of each column.
        let mut count = vec![0usize; ncols + 1];
        for &(_, c) in entries {
            count[c + 1] += 1;
        }
        for j in 0..ncols {
            count[j + 1] += count[j];
        }
        let mut next = count.clone();
        let mut rows = vec![0usize; entries.len()];
        for &(r, c) in entries {
            rows[next[c]] = r;
            next[c] += 1;
        }
        let mut col_ptr = Vec::with_capacity(ncols + 1);
        let mut row_idx = Vec::with_capacity(entries.len());
        col_ptr.push(0);
        for j in 0..ncols {
            let col = &mut rows[count[j]..count[j + 1]];
            col.sort_unstable();
            let start = row_idx.len();
            for &r in col.iter() {
                if row_idx.len() == start || row_idx.last() != Some(&r) {
                    row_idx.push(r);
                }
            }
            col_ptr.push(row_idx.len());
        }
        Ok(SparsityPattern {
            nrows,
            ncols,
            col_ptr,
            row_idx,
        })
    }

    /// The pattern of the `true` entries of a column-major `nrows × ncols` mask.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if `mask.len() != nrows * ncols`.
    pub fn from_dense_mask(nrows: usize, ncols: usize, mask: &[bool]) -> Result<Self, LinearError> {
        if mask.len() != nrows * ncols {
            return Err(LinearError::Dimension {
                expected: nrows * ncols,
                got: mask.len(),
            });
        }
        let mut col_ptr = Vec::with_capacity(ncols + 1);
        let mut row_idx = Vec::new();
        col_ptr.push(0);
        for j in 0..ncols {
            for i in 0..nrows {
                if mask[j * nrows + i] {
                    row_idx.push(i);
                }
            }
            col_ptr.push(row_idx.len());
        }
        Ok(SparsityPattern {
            nrows,
            ncols,
            col_ptr,
            row_idx,
        })
    }

    /// The pattern of the nonzero (or non-finite) entries of a dense matrix.
    pub fn from_dense<S: Scalar>(a: &DenseMatrix<S>) -> Self {
        let mask: Vec<bool> = a.as_slice().iter().map(|v| *v != S::zero()).collect();
        // The mask has the matrix's size by construction.
        Self::from_dense_mask(a.nrows(), a.ncols(), &mask).unwrap_or_else(|_| Self::empty(0, 0))
    }

    /// The pattern with no entries.
    pub fn empty(nrows: usize, ncols: usize) -> Self {
        SparsityPattern {
            nrows,
            ncols,
            col_ptr: vec![0; ncols + 1],
            row_idx: Vec::new(),
        }
    }

    /// The full (dense) pattern.
    pub fn full(nrows: usize, ncols: usize) -> Self {
        SparsityPattern {
            nrows,
            ncols,
            col_ptr: (0..=ncols).map(|j| j * nrows).collect(),
            row_idx: (0..ncols).flat_map(|_| 0..nrows).collect(),
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }
    /// Column pointers (`ncols + 1` of them).
    pub fn col_ptr(&self) -> &[usize] {
        &self.col_ptr
    }
    /// Row indices of all entries, column by column.
    pub fn row_idx(&self) -> &[usize] {
        &self.row_idx
    }
    /// The (sorted) rows of column `j`.
    ///
    /// # Panics
    /// If `j >= ncols`.
    pub fn col(&self, j: usize) -> &[usize] {
        &self.row_idx[self.col_ptr[j]..self.col_ptr[j + 1]]
    }
    /// The position of entry `(r, c)` in the value array, if it is in the pattern.
    pub fn index_of(&self, r: usize, c: usize) -> Option<usize> {
        if c >= self.ncols {
            return None;
        }
        let start = self.col_ptr[c];
        self.col(c).binary_search(&r).ok().map(|k| start + k)
    }
    /// Whether `(r, c)` is in the pattern.
    pub fn contains(&self, r: usize, c: usize) -> bool {
        self.index_of(r, c).is_some()
    }

    /// The union of two patterns of the same shape.
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if the shapes differ.
    pub fn union(&self, other: &SparsityPattern) -> Result<Self, LinearError> {
        if self.nrows != other.nrows || self.ncols != other.ncols {
            return Err(LinearError::Dimension {
                expected: self.nrows * self.ncols,
                got: other.nrows * other.ncols,
            });
        }
        let mut col_ptr = Vec::with_capacity(self.ncols + 1);
        let mut row_idx = Vec::with_capacity(self.nnz().max(other.nnz()));
        col_ptr.push(0);
        for j in 0..self.ncols {
            let (a, b) = (self.col(j), other.col(j));
            let (mut x, mut y) = (0, 0);
            while x < a.len() || y < b.len() {
                let r = match (a.get(x), b.get(y)) {
                    (Some(&ra), Some(&rb)) if ra == rb => {
                        x += 1;
                        y += 1;
                        ra
                    }
                    (Some(&ra), Some(&rb)) if ra < rb => {
                        x += 1;
                        ra
                    }
                    (Some(&ra), None) => {
                        x += 1;
                        ra
                    }
                    (_, Some(&rb)) => {
                        y += 1;
                        rb
                    }
                    (None, None) => break,
                };
                row_idx.push(r);
            }
            col_ptr.push(row_idx.len());
        }
        Ok(SparsityPattern {
            nrows: self.nrows,
            ncols: self.ncols,
            col_ptr,
            row_idx,
        })
    }

    /// The union with the diagonal (`W = M − γJ` needs every diagonal entry even where `J` has
    /// none).
    pub fn with_diagonal(&self) -> Self {
        let m = self.nrows.min(self.ncols);
        let diag = SparsityPattern {
            nrows: self.nrows,
            ncols: self.ncols,
            col_ptr: (0..=self.ncols).map(|j| j.min(m)).collect(),
            row_idx: (0..m).collect(),
        };
        // Same shape by construction.
        self.union(&diag).unwrap_or_else(|_| self.clone())
    }

    /// The transposed pattern.
    pub fn transpose(&self) -> Self {
        let mut count = vec![0usize; self.nrows + 1];
        for &r in &self.row_idx {
            count[r + 1] += 1;
        }
        for i in 0..self.nrows {
            count[i + 1] += count[i];
        }
        let mut next = count.clone();
        let mut row_idx = vec![0usize; self.nnz()];
        // Columns are visited in increasing order, so each transposed column comes out sorted.
        for j in 0..self.ncols {
            for &r in self.col(j) {
                row_idx[next[r]] = j;
                next[r] += 1;
            }
        }
        SparsityPattern {
            nrows: self.ncols,
            ncols: self.nrows,
            col_ptr: count,
            row_idx,
        }
    }
}

/// A sparse matrix: values aligned with a shared [`SparsityPattern`].
///
/// The pattern sits behind an [`Arc`] so the Jacobian, the Newton matrix and the LU share one
/// copy, and a pattern check is a pointer comparison in the common case.
///
/// ```
/// use sciml_core::{SparseMatrix, SparsityPattern};
/// use std::sync::Arc;
/// let p = Arc::new(SparsityPattern::from_triplets(2, 2, &[(0, 0), (1, 0), (1, 1)]).unwrap());
/// let mut a = SparseMatrix::<f64>::zeros(p);
/// a.values_mut().copy_from_slice(&[2.0, 1.0, 3.0]); // column by column
/// let mut y = [0.0; 2];
/// a.mul_vec_to(&[1.0, 1.0], &mut y);
/// assert_eq!(y, [2.0, 4.0]);
/// assert_eq!(a.get(0, 1), 0.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMatrix<S> {
    pattern: Arc<SparsityPattern>,
    values: Vec<S>,
}

impl<S: Scalar> SparseMatrix<S> {
    /// A matrix with the given pattern and all stored values zero.
    pub fn zeros(pattern: Arc<SparsityPattern>) -> Self {
        let values = vec![S::zero(); pattern.nnz()];
        SparseMatrix { pattern, values }
    }
    /// The stored entries of `a` at the positions of `pattern` (entries of `a` outside the pattern
    /// are dropped).
    ///
    /// # Errors
    /// [`LinearError::Dimension`] if the shapes differ.
    pub fn from_dense(
        pattern: Arc<SparsityPattern>,
        a: &DenseMatrix<S>,
    ) -> Result<Self, LinearError> {
        if a.nrows() != pattern.nrows() || a.ncols() != pattern.ncols() {
            return Err(LinearError::Dimension {
                expected: pattern.nrows() * pattern.ncols(),
                got: a.nrows() * a.ncols(),
            });
        }
        let mut m = Self::zeros(pattern);
        for j in 0..m.ncols() {
            let (lo, hi) = (m.pattern.col_ptr[j], m.pattern.col_ptr[j + 1]);
            for k in lo..hi {
                m.values[k] = a[(m.pattern.row_idx[k], j)];
            }
        }
        Ok(m)
    }
    /// The pattern.
    pub fn pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.pattern.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.pattern.ncols
    }
    /// The stored values, column by column, aligned with [`SparsityPattern::row_idx`].
    pub fn values(&self) -> &[S] {
        &self.values
    }
    /// The stored values, mutably.
    pub fn values_mut(&mut self) -> &mut [S] {
        &mut self.values
    }
    /// The values of column `j`, aligned with `pattern().col(j)`.
    pub fn col_values(&self, j: usize) -> &[S] {
        &self.values[self.pattern.col_ptr[j]..self.pattern.col_ptr[j + 1]]
    }
    /// Entry `(r, c)`: zero outside the pattern.
    pub fn get(&self, r: usize, c: usize) -> S {
        self.pattern
            .index_of(r, c)
            .map_or(S::zero(), |k| self.values[k])
    }
    /// Sets entry `(r, c)`.
    ///
    /// # Errors
    /// [`LinearError::IndexOutOfBounds`] if `(r, c)` is not in the pattern.
    pub fn set(&mut self, r: usize, c: usize, v: S) -> Result<(), LinearError> {
        match self.pattern.index_of(r, c) {
            Some(k) => {
                self.values[k] = v;
                Ok(())
            }
            None => Err(LinearError::IndexOutOfBounds {
                row: r,
                col: c,
                nrows: self.nrows(),
                ncols: self.ncols(),
            }),
        }
    }
    /// Sets every stored value to zero.
    pub fn fill_zero(&mut self) {
        self.values.iter_mut().for_each(|v| *v = S::zero());
    }
    /// `out = self · v`.
    ///
    /// # Panics
    /// If `v.len() != ncols` or `out.len() != nrows`.
    pub fn mul_vec_to(&self, v: &[S], out: &mut [S]) {
        out.iter_mut().for_each(|o| *o = S::zero());
        self.mul_vec_add(v, out);
    }
    /// `out += self · v`, column by column.
    ///
    /// # Panics
    /// If `v.len() != ncols` or `out.len() != nrows`.
    pub fn mul_vec_add(&self, v: &[S], out: &mut [S]) {
        assert!(v.len() == self.ncols() && out.len() == self.nrows());
        for (j, &vj) in v.iter().enumerate() {
            let (lo, hi) = (self.pattern.col_ptr[j], self.pattern.col_ptr[j + 1]);
            for (r, a) in self.pattern.row_idx[lo..hi]
                .iter()
                .zip(&self.values[lo..hi])
            {
                out[*r] += *a * vj;
            }
        }
    }
    /// `out += selfᵀ · w`.
    ///
    /// # Panics
    /// If `w.len() != nrows` or `out.len() != ncols`.
    pub fn tr_mul_vec_add(&self, w: &[S], out: &mut [S]) {
        assert!(w.len() == self.nrows() && out.len() == self.ncols());
        for (j, o) in out.iter_mut().enumerate() {
            let (lo, hi) = (self.pattern.col_ptr[j], self.pattern.col_ptr[j + 1]);
            let mut s = S::zero();
            for (r, a) in self.pattern.row_idx[lo..hi]
                .iter()
                .zip(&self.values[lo..hi])
            {
                s += *a * w[*r];
            }
            *o += s;
        }
    }
    /// The dense copy.
    pub fn to_dense(&self) -> DenseMatrix<S> {
        let mut d = DenseMatrix::zeros(self.nrows(), self.ncols());
        for j in 0..self.ncols() {
            let (lo, hi) = (self.pattern.col_ptr[j], self.pattern.col_ptr[j + 1]);
            for k in lo..hi {
                d[(self.pattern.row_idx[k], j)] = self.values[k];
            }
        }
        d
    }

    /// `self = I − γ·j`, the Newton matrix of an implicit method with identity mass matrix
    /// (divide by `γ` for the `I/γ − J` convention). `self`'s pattern must contain `j`'s pattern
    /// and the diagonal (e.g. `j.pattern().with_diagonal()`); allocation-free.
    ///
    /// # Errors
    /// [`LinearError::PatternMismatch`] if an entry of `j` or of the diagonal is not in `self`'s
    /// pattern, [`LinearError::Dimension`] if the shapes differ.
    pub fn set_identity_minus_scaled(
        &mut self,
        gamma: S,
        j: &SparseMatrix<S>,
    ) -> Result<(), LinearError> {
        self.set_scaled_identity_minus_scaled(S::one(), gamma, j)
    }

    /// `self = α·I − γ·j` (see [`SparseMatrix::set_identity_minus_scaled`]).
    ///
    /// # Errors
    /// As [`SparseMatrix::set_identity_minus_scaled`].
    pub fn set_scaled_identity_minus_scaled(
        &mut self,
        alpha: S,
        gamma: S,
        j: &SparseMatrix<S>,
    ) -> Result<(), LinearError> {
        self.set_diag_minus_scaled(|_| alpha, gamma, j)
    }

    /// `self = diag(m) − γ·j`: the Newton matrix with a diagonal mass matrix `m` (zeros on the
    /// diagonal are kept as stored zeros, for algebraic equations).
    ///
    /// # Errors
    /// As [`SparseMatrix::set_identity_minus_scaled`], and [`LinearError::Dimension`] if
    /// `m.len()` is not the number of rows.
    pub fn set_diagonal_minus_scaled(
        &mut self,
        m: &[S],
        gamma: S,
        j: &SparseMatrix<S>,
    ) -> Result<(), LinearError> {
        if m.len() != self.nrows().min(self.ncols()) {
            return Err(LinearError::Dimension {
                expected: self.nrows().min(self.ncols()),
                got: m.len(),
            });
        }
        self.set_diag_minus_scaled(|i| m[i], gamma, j)
    }

    fn set_diag_minus_scaled(
        &mut self,
        diag: impl Fn(usize) -> S,
        gamma: S,
        j: &SparseMatrix<S>,
    ) -> Result<(), LinearError> {
        if self.nrows() != j.nrows() || self.ncols() != j.ncols() {
            return Err(LinearError::Dimension {
                expected: self.nrows() * self.ncols(),
                got: j.nrows() * j.ncols(),
            });
        }
        let p = &self.pattern;
        let q = &j.pattern;
        for c in 0..p.ncols {
            let (lo, hi) = (p.col_ptr[c], p.col_ptr[c + 1]);
            let rows = &p.row_idx[lo..hi];
            let vals = &mut self.values[lo..hi];
            vals.iter_mut().for_each(|v| *v = S::zero());
            // Merge the sorted rows of j's column into ours.
            let mut k = 0;
            for (r, jv) in q.col(c).iter().zip(j.col_values(c)) {
                while k < rows.len() && rows[k] < *r {
                    k += 1;
                }
                if k == rows.len() || rows[k] != *r {
                    return Err(LinearError::PatternMismatch);
                }
                vals[k] = -(gamma * *jv);
            }
            if c < p.nrows {
                match rows.binary_search(&c) {
                    Ok(d) => vals[d] += diag(c),
                    Err(_) => return Err(LinearError::PatternMismatch),
                }
            }
        }
        Ok(())
    }
}
