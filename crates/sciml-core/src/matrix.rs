//! A small column-major dense matrix: what Jacobian providers fill.

use crate::scalar::Scalar;
use serde::{Deserialize, Serialize};

/// A column-major `nrows × ncols` matrix.
///
/// ```
/// use sciml_core::DenseMatrix;
/// let mut m = DenseMatrix::<f64>::zeros(2, 2);
/// m[(0, 1)] = 3.0;
/// assert_eq!(m.col(1), &[3.0, 0.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseMatrix<S> {
    nrows: usize,
    ncols: usize,
    data: Vec<S>,
}

impl<S: Scalar> DenseMatrix<S> {
    /// A zero matrix.
    pub fn zeros(nrows: usize, ncols: usize) -> Self {
        DenseMatrix {
            nrows,
            ncols,
            data: vec![S::zero(); nrows * ncols],
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
    /// Column `j`.
    pub fn col(&self, j: usize) -> &[S] {
        &self.data[j * self.nrows..(j + 1) * self.nrows]
    }
    /// Column `j`, mutably.
    pub fn col_mut(&mut self, j: usize) -> &mut [S] {
        &mut self.data[j * self.nrows..(j + 1) * self.nrows]
    }
    /// The column-major data.
    pub fn as_slice(&self) -> &[S] {
        &self.data
    }
    /// The column-major data, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [S] {
        &mut self.data
    }
    /// `self = I − γ·j`: the Newton matrix of an implicit method with identity mass matrix, with
    /// no allocation.
    ///
    /// # Panics
    /// If `j` does not have the shape of `self`.
    pub fn set_identity_minus_scaled(&mut self, gamma: S, j: &DenseMatrix<S>) {
        assert!(j.nrows == self.nrows && j.ncols == self.ncols);
        for (w, a) in self.data.iter_mut().zip(&j.data) {
            *w = -(gamma * *a);
        }
        for i in 0..self.nrows.min(self.ncols) {
            self.data[i * self.nrows + i] += S::one();
        }
    }
    /// Sets every entry to zero.
    pub fn fill_zero(&mut self) {
        self.data.iter_mut().for_each(|x| *x = S::zero());
    }
    /// `out = self · v`.
    pub fn mul_vec_to(&self, v: &[S], out: &mut [S]) {
        out.iter_mut().for_each(|x| *x = S::zero());
        self.mul_vec_add(v, out);
    }
    /// `out += self · v`, column by column.
    pub fn mul_vec_add(&self, v: &[S], out: &mut [S]) {
        for (j, vj) in v.iter().enumerate().take(self.ncols) {
            for (o, a) in out.iter_mut().zip(self.col(j)) {
                *o += *a * *vj;
            }
        }
    }
    /// `out += selfᵀ · w`.
    pub fn tr_mul_vec_add(&self, w: &[S], out: &mut [S]) {
        for (j, o) in out.iter_mut().enumerate().take(self.ncols) {
            let mut s = S::zero();
            for (a, wi) in self.col(j).iter().zip(w) {
                s += *a * *wi;
            }
            *o += s;
        }
    }
}

impl<S> std::ops::Index<(usize, usize)> for DenseMatrix<S> {
    type Output = S;
    fn index(&self, (i, j): (usize, usize)) -> &S {
        &self.data[j * self.nrows + i]
    }
}
impl<S> std::ops::IndexMut<(usize, usize)> for DenseMatrix<S> {
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut S {
        &mut self.data[j * self.nrows + i]
    }
}
