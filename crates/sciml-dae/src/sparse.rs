//! Sparse Jacobians of a residual and the sparse linear strategy for DAEs.
//!
//! * [`DaeSparseJacobian`]: `∂F/∂u` and `∂F/∂u′` as sparse matrices on one pattern (the union of
//!   both), which is the pattern of every iteration matrix `W = ∂F/∂u·D_u + ∂F/∂u′·D_u′`.
//! * [`DaeColoured`]: the provider. Given the pattern, it colours the columns (Curtis, Powell and
//!   Reid's compression, sciml-core's greedy distance-2 colouring) and recovers both Jacobians
//!   from `2 × colours` directional derivatives of the residual ([`DaeJvp`]: exact through
//!   [`crate::DaeForwardAd`], differences through [`crate::DaeFiniteDiff`]); a banded system
//!   costs a constant number of passes whatever its size.
//! * sciml-ode's [`SparseSolve`] as a [`DaeLinearSolver`]: `W` formed on the pattern (with its
//!   diagonal) and factorised by sciml-core's sparse LU (faer), whose symbolic analysis is done
//!   once per solve.

use crate::error::DaeError;
use crate::function::{DaeFunction, DaeJacobian, DaeJvp};
use crate::linear::{check_lengths, DaeLinearSolver, DaeTransposeSolver, DaeW};
use sciml_core::linalg::{colour_columns, Colouring, SparseLu, SparseMatrix, SparsityPattern};
use sciml_core::{DenseMatrix, Stats};
use sciml_ode::stiff::SparseSolve;
use sciml_ode::StepFailure;
use std::sync::Arc;

/// `∂F/∂u` and `∂F/∂u′` of a residual as sparse matrices on [`DaeSparseJacobian::pattern`].
pub trait DaeSparseJacobian: DaeFunction {
    /// The union of the patterns of `∂F/∂u` and `∂F/∂u′` (`n × n`).
    fn pattern(&self) -> &Arc<SparsityPattern>;
    /// Writes `∂F/∂u` into `dfdu` and `∂F/∂u′` into `dfddu` (both on [`Self::pattern`]; every
    /// entry of the pattern is written).
    #[allow(clippy::too_many_arguments)] // the residual's arguments and the two outputs
    fn sparse_jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut SparseMatrix<f64>,
        dfddu: &mut SparseMatrix<f64>,
    );
    /// Checks, once at the start of a solve, that the pattern holds every nonzero of both
    /// Jacobians at `(t, du, u)`; the default trusts it. [`DaeColoured`] compares one product of
    /// each Jacobian with the residual's own directional derivative.
    ///
    /// # Errors
    /// [`DaeError::Pattern`] naming the first row whose products differ.
    fn check_pattern(
        &mut self,
        _t: f64,
        _du: &[f64],
        _u: &[f64],
        _p: &[f64],
    ) -> Result<(), DaeError> {
        Ok(())
    }
}

/// Sparse Jacobians by coloured directional derivatives (module docs), for a residual with
/// [`DaeJvp`] and a known pattern. It passes the residual and its products through, so it also
/// serves the dense-free Krylov strategy.
///
/// ```
/// use sciml_core::linalg::{SparseMatrix, SparsityPattern};
/// use sciml_dae::{DaeClosure, DaeColoured, DaeFiniteDiff, DaeSparseJacobian};
/// // u1′ + u1 = 0, u2′ − u1 + u2 = 0, u3 − u2 = 0: a lower-bidiagonal ∂F/∂u.
/// let f = DaeFiniteDiff::new(DaeClosure::new(3, |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
///     r[0] = du[0] + u[0];
///     r[1] = du[1] - u[0] + u[1];
///     r[2] = u[2] - u[1];
/// }));
/// let pattern = SparsityPattern::from_triplets(3, 3, &[(0, 0), (1, 0), (1, 1), (2, 1), (2, 2)])?;
/// let mut f = DaeColoured::new(f, pattern)?;
/// assert_eq!(f.colours(), 2);
/// let p = f.pattern().clone();
/// let (mut j, mut a) = (SparseMatrix::zeros(p.clone()), SparseMatrix::zeros(p));
/// f.sparse_jacobians(0.0, &[0.0; 3], &[1.0; 3], &[], &mut j, &mut a);
/// assert!((j.get(1, 0) + 1.0).abs() < 1e-7 && (a.get(1, 1) - 1.0).abs() < 1e-7);
/// assert_eq!(a.get(2, 2), 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DaeColoured<F> {
    f: F,
    pattern: Arc<SparsityPattern>,
    colouring: Colouring,
    /// The direction of one colour, zeros, and the product.
    seed: Vec<f64>,
    zero: Vec<f64>,
    out: Vec<f64>,
}

impl<F: DaeJvp> DaeColoured<F> {
    /// Wraps `f` with the pattern of `∂F/∂u` and `∂F/∂u′` together (`n × n` for the residual's
    /// `n` equations; an entry outside the true pattern only costs work, one missing from it
    /// gives a wrong Jacobian).
    ///
    /// # Errors
    /// [`DaeError::Length`] when the pattern is not `n × n`.
    pub fn new(f: F, pattern: SparsityPattern) -> Result<Self, DaeError> {
        let n = f.len();
        if pattern.nrows() != n || pattern.ncols() != n {
            return Err(DaeError::Length {
                what: "sparsity pattern rows and columns",
                got: if pattern.nrows() != n {
                    pattern.nrows()
                } else {
                    pattern.ncols()
                },
                expected: n,
            });
        }
        let colouring = colour_columns(&pattern);
        Ok(DaeColoured {
            f,
            pattern: Arc::new(pattern),
            colouring,
            seed: vec![0.0; n],
            zero: vec![0.0; n],
            out: vec![0.0; n],
        })
    }

    /// The number of colours: each Jacobian evaluation takes twice as many products.
    pub fn colours(&self) -> usize {
        self.colouring.n_colours
    }

    /// The wrapped residual.
    pub fn inner(&self) -> &F {
        &self.f
    }
}

impl<F: DaeJvp> DaeFunction for DaeColoured<F> {
    fn len(&self) -> usize {
        self.f.len()
    }
    fn residual(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64], out: &mut [f64]) {
        self.f.residual(t, du, u, p, out);
    }
    fn n_params(&self) -> Option<usize> {
        self.f.n_params()
    }
}

impl<F: DaeJvp> DaeJvp for DaeColoured<F> {
    const EXACT: bool = F::EXACT;
    fn jvp(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
    ) {
        self.f.jvp(t, du, u, p, dir, out);
    }
}

/// The wrapped residual's dense Jacobians and `∂F/∂p`, passed through: forward sensitivities
/// read `∂F/∂p` from here whatever the linear strategy (the dense Jacobians serve only a
/// solve with the dense strategy).
impl<F: DaeJvp + DaeJacobian> DaeJacobian for DaeColoured<F> {
    fn jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut DenseMatrix<f64>,
        dfddu: &mut DenseMatrix<f64>,
    ) {
        self.f.jacobians(t, du, u, p, dfdu, dfddu);
    }
    fn param_jacobian(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdp: &mut DenseMatrix<f64>,
    ) -> bool {
        self.f.param_jacobian(t, du, u, p, dfdp)
    }
}

impl<F: DaeJvp> DaeSparseJacobian for DaeColoured<F> {
    fn pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }

    /// With the direction `v_j = 1 + frac(0.618·j)` (every column weighted differently), compares
    /// `∂F/∂u·v` and `∂F/∂u′·v` from the compressed Jacobians with the residual's products along
    /// `v`: an entry missing from the pattern makes them differ. With exact products (dual
    /// numbers, `DaeJvp::EXACT`) the two agree to rounding when the pattern is complete (the
    /// bound is 1e-8 of the row's scale); with differences their truncation errors differ by
    /// more than a small missing entry would, so the check is skipped. Non-finite products are
    /// left to the Jacobians' own check (`NonFiniteJacobian`).
    fn check_pattern(&mut self, t: f64, du: &[f64], u: &[f64], p: &[f64]) -> Result<(), DaeError> {
        if !F::EXACT {
            return Ok(());
        }
        let n = self.f.len();
        let (mut ju, mut jd) = (
            SparseMatrix::zeros(self.pattern.clone()),
            SparseMatrix::zeros(self.pattern.clone()),
        );
        self.sparse_jacobians(t, du, u, p, &mut ju, &mut jd);
        let v: Vec<f64> = (0..n)
            .map(|j| 1.0 + (0.618_033_988_749_895 * j as f64).fract())
            .collect();
        let zero = vec![0.0; n];
        let (mut want, mut got, mut scale) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for (m, dir) in [(&ju, (&zero[..], &v[..])), (&jd, (&v[..], &zero[..]))] {
            self.f.jvp(t, du, u, p, dir, &mut want);
            m.mul_vec_to(&v, &mut got);
            scale.iter_mut().for_each(|s| *s = 0.0);
            let col_ptr = self.pattern.col_ptr();
            for (j, vj) in v.iter().enumerate() {
                let rows = &self.pattern.row_idx()[col_ptr[j]..col_ptr[j + 1]];
                for (r, x) in rows.iter().zip(m.col_values(j)) {
                    scale[*r] += (x * vj).abs();
                }
            }
            for row in 0..n {
                if !(got[row].is_finite() && want[row].is_finite()) {
                    continue;
                }
                let bound = 1e-8 * (scale[row] + want[row].abs());
                if (got[row] - want[row]).abs() > bound {
                    return Err(DaeError::Pattern {
                        row,
                        got: got[row],
                        want: want[row],
                    });
                }
            }
        }
        Ok(())
    }

    fn sparse_jacobians(
        &mut self,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        dfdu: &mut SparseMatrix<f64>,
        dfddu: &mut SparseMatrix<f64>,
    ) {
        let DaeColoured {
            f,
            pattern,
            colouring,
            seed,
            zero,
            out,
        } = self;
        for c in 0..colouring.n_colours {
            seed.iter_mut().for_each(|s| *s = 0.0);
            for j in colouring.columns_of(c) {
                seed[j] = 1.0;
            }
            // ∂F/∂u′ then ∂F/∂u along the colour's columns; no two of them share a row, so
            // each row of a column's entries is that column's alone.
            for (dir, m) in [(0, &mut *dfddu), (1, &mut *dfdu)] {
                let d = if dir == 0 {
                    (&seed[..], &zero[..])
                } else {
                    (&zero[..], &seed[..])
                };
                f.jvp(t, du, u, p, d, out);
                let col_ptr = pattern.col_ptr();
                for j in colouring.columns_of(c) {
                    let (lo, hi) = (col_ptr[j], col_ptr[j + 1]);
                    let rows = &pattern.row_idx()[lo..hi];
                    for (v, r) in m.values_mut()[lo..hi].iter_mut().zip(rows) {
                        *v = out[*r];
                    }
                }
            }
        }
    }
}

/// Buffers of [`SparseSolve`] for a DAE.
pub struct DaeSparseCache {
    dfdu: SparseMatrix<f64>,
    dfddu: SparseMatrix<f64>,
    /// `W` on the pattern with its diagonal, and where each entry of the residual's pattern
    /// sits in it.
    w: SparseMatrix<f64>,
    at: Vec<usize>,
    /// `None` when the symbolic analysis failed (reported at the first factorisation).
    lu: Option<SparseLu<f64>>,
}

impl std::fmt::Debug for DaeSparseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaeSparseCache")
            .field("n", &self.w.nrows())
            .field("nnz", &self.w.pattern().nnz())
            .finish_non_exhaustive()
    }
}

impl<F: DaeSparseJacobian> DaeTransposeSolver<F> for SparseSolve {
    fn solve_transpose(&self, c: &mut DaeSparseCache, b: &mut [f64]) -> Result<(), StepFailure> {
        match c.lu.as_ref() {
            Some(lu) => lu
                .solve_transpose_in_place(b)
                .map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }
    fn jacobian_transpose_products(
        &self,
        c: &DaeSparseCache,
        y: &[f64],
        du_bar: &mut [f64],
        u_bar: &mut [f64],
    ) -> Result<(), StepFailure> {
        check_lengths(c.w.ncols(), &[y.len(), du_bar.len(), u_bar.len()])?;
        square_jacobians(c, y.len())?;
        du_bar.iter_mut().for_each(|x| *x = 0.0);
        u_bar.iter_mut().for_each(|x| *x = 0.0);
        c.dfddu.tr_mul_vec_add(y, du_bar);
        c.dfdu.tr_mul_vec_add(y, u_bar);
        Ok(())
    }
}

/// Both Jacobians are `n × n` (a custom `DaeSparseJacobian` may give another pattern; the
/// products then refuse it rather than panic).
fn square_jacobians(c: &DaeSparseCache, n: usize) -> Result<(), StepFailure> {
    let p = c.dfdu.pattern();
    check_lengths(n, &[p.nrows(), p.ncols()])
}

impl<F: DaeSparseJacobian> DaeLinearSolver<F> for SparseSolve {
    type Cache = DaeSparseCache;

    fn check_start(
        &self,
        f: &mut F,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
    ) -> Result<(), DaeError> {
        f.check_pattern(t, du, u, p)
    }
    fn dae_cache(&self, f: &F, n: usize) -> DaeSparseCache {
        let jp = f.pattern().clone();
        let wp = Arc::new(jp.with_diagonal());
        let mut at = Vec::with_capacity(jp.nnz());
        for j in 0..n.min(jp.ncols()) {
            for r in jp.col(j) {
                at.push(wp.index_of(*r, j).unwrap_or(usize::MAX));
            }
        }
        DaeSparseCache {
            dfdu: SparseMatrix::zeros(jp.clone()),
            dfddu: SparseMatrix::zeros(jp),
            lu: SparseLu::new(&wp).ok(),
            w: SparseMatrix::zeros(wp),
            at,
        }
    }

    fn derivative_columns(&self, c: &DaeSparseCache) -> Option<Vec<bool>> {
        let n = c.dfddu.ncols();
        Some(
            (0..n)
                .map(|j| c.dfddu.col_values(j).iter().any(|x| *x != 0.0))
                .collect(),
        )
    }

    fn linearise(
        &self,
        c: &mut DaeSparseCache,
        f: &mut F,
        t: f64,
        du: &[f64],
        u: &[f64],
        p: &[f64],
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        f.sparse_jacobians(t, du, u, p, &mut c.dfdu, &mut c.dfddu);
        stats.njac += 1;
        let finite = |m: &SparseMatrix<f64>| m.values().iter().all(|x| x.is_finite());
        if finite(&c.dfdu) && finite(&c.dfddu) {
            Ok(())
        } else {
            Err(StepFailure::NonFinite)
        }
    }

    fn factorise(
        &self,
        c: &mut DaeSparseCache,
        w: DaeW<'_>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        let n = c.w.ncols();
        if w.differential.is_some_and(|m| m.len() != n) {
            return Err(StepFailure::LinearSolve);
        }
        c.w.fill_zero();
        let jp = c.dfdu.pattern().clone();
        let (ju, jd) = (c.dfdu.values(), c.dfddu.values());
        let wv = c.w.values_mut();
        let mut k = 0;
        for j in 0..n {
            let len = jp.col(j).len();
            for _ in 0..len {
                let Some(slot) = wv.get_mut(c.at[k]) else {
                    return Err(StepFailure::LinearSolve);
                };
                // The same sum the dense strategy forms: J·1 + α·A.
                *slot = match w.differential {
                    None => ju[k] + w.alpha * jd[k],
                    Some(mask) if mask[j] => jd[k],
                    Some(_) => ju[k],
                };
                k += 1;
            }
        }
        stats.nfactor += 1;
        match c.lu.as_mut() {
            Some(lu) => lu.factor(&c.w).map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }

    fn solve(
        &self,
        c: &mut DaeSparseCache,
        _f: &mut F,
        _p: &[f64],
        b: &mut Vec<f64>,
        stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        stats.nlinsolve += 1;
        match c.lu.as_ref() {
            Some(lu) => lu.solve_in_place(b).map_err(|_| StepFailure::LinearSolve),
            None => Err(StepFailure::LinearSolve),
        }
    }

    fn jacobian_product(
        &self,
        c: &mut DaeSparseCache,
        _f: &mut F,
        _p: &[f64],
        dir: (&[f64], &[f64]),
        out: &mut [f64],
        _stats: &mut Stats,
    ) -> Result<(), StepFailure> {
        check_lengths(c.w.ncols(), &[dir.0.len(), dir.1.len(), out.len()])?;
        square_jacobians(c, out.len())?;
        c.dfddu.mul_vec_to(dir.0, out);
        c.dfdu.mul_vec_add(dir.1, out);
        Ok(())
    }
}
