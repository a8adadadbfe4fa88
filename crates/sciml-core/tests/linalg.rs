//! Tests of the linear-algebra layer: dense and sparse LU, colouring, compressed Jacobians,
//! sparsity detection and GMRES, each against an independent reference.

#![allow(clippy::unwrap_used)] // test helpers unwrap results the tests expect to be Ok

use sciml_core::linalg::{DenseLu, DenseLuBackend, LinearError};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::DenseMatrix;

fn random_matrix(n: usize, rng: &mut Xoshiro256pp) -> DenseMatrix<f64> {
    let mut a = DenseMatrix::zeros(n, n);
    for j in 0..n {
        for i in 0..n {
            a[(i, j)] = rng.uniform_range(-1.0, 1.0);
        }
    }
    a
}

/// A random matrix made well conditioned by a dominant, sign-varying diagonal (pivoting still
/// happens off the diagonal because of the random permutation of rows applied afterwards).
fn well_conditioned(n: usize, rng: &mut Xoshiro256pp) -> DenseMatrix<f64> {
    let mut a = random_matrix(n, rng);
    for i in 0..n {
        let s = if i % 2 == 0 { 1.0 } else { -1.0 };
        a[(i, i)] += s * (n as f64);
    }
    // Reverse the rows: the dominant entries move off the diagonal, so pivoting is exercised.
    let mut b = DenseMatrix::zeros(n, n);
    for j in 0..n {
        for i in 0..n {
            b[(i, j)] = a[(n - 1 - i, j)];
        }
    }
    b
}

fn inf_norm(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn dense_lu_recovers_known_solutions_and_small_residuals() {
    let mut rng = Xoshiro256pp::new(7);
    let sizes: Vec<usize> = (1..=40).chain([50, 64, 100, 150, 300]).collect();
    for n in sizes {
        let a = well_conditioned(n, &mut rng);
        let x: Vec<f64> = (0..n).map(|_| rng.uniform_range(-2.0, 2.0)).collect();
        let mut b = vec![0.0; n];
        a.mul_vec_to(&x, &mut b);
        let mut bt = vec![0.0; n];
        a.tr_mul_vec_add(&x, &mut bt);
        for backend in [
            DenseLuBackend::Simple,
            DenseLuBackend::Faer,
            DenseLuBackend::Auto,
        ] {
            let mut lu = DenseLu::with_backend(n, backend);
            lu.factor(&a).unwrap();
            let mut y = b.clone();
            lu.solve_in_place(&mut y).unwrap();
            let err: Vec<f64> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
            // Condition number is O(1) here, so the forward error is a few ulps times n.
            assert!(
                inf_norm(&err) < 1e-12,
                "n = {n} {backend:?}: {}",
                inf_norm(&err)
            );
            // Residual of the computed solution, scaled by ‖A‖‖x‖.
            let mut r = vec![0.0; n];
            a.mul_vec_to(&y, &mut r);
            let res: Vec<f64> = r.iter().zip(&b).map(|(a, b)| a - b).collect();
            assert!(inf_norm(&res) < 1e-14 * (n as f64) * (n as f64) * inf_norm(&x));
            let mut z = bt.clone();
            lu.solve_transpose_in_place(&mut z).unwrap();
            let err: Vec<f64> = z.iter().zip(&x).map(|(a, b)| a - b).collect();
            assert!(inf_norm(&err) < 1e-12, "transpose n = {n} {backend:?}");
        }
    }
}

#[test]
fn dense_lu_matches_a_hand_computed_system() {
    // A = [[0, 2, 1], [1, 1, 0], [2, 0, 3]] (a zero leading entry forces a row interchange):
    // A · [1, 2, 3] = [7, 3, 11] and Aᵀ · [1, 1, 1] = [3, 3, 4].
    let rows = [[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [2.0, 0.0, 3.0]];
    let mut a = DenseMatrix::zeros(3, 3);
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            a[(i, j)] = *v;
        }
    }
    for backend in [
        DenseLuBackend::Simple,
        DenseLuBackend::Nalgebra,
        DenseLuBackend::Faer,
    ] {
        let mut lu = DenseLu::with_backend(3, backend);
        lu.factor(&a).unwrap();
        let mut b = [7.0_f64, 3.0, 11.0];
        lu.solve_in_place(&mut b).unwrap();
        for (x, e) in b.iter().zip([1.0, 2.0, 3.0]) {
            assert!((x - e).abs() < 1e-14, "{backend:?} {b:?}");
        }
        let mut c = [3.0_f64, 3.0, 4.0];
        lu.solve_transpose_in_place(&mut c).unwrap();
        for x in c {
            assert!((x - 1.0).abs() < 1e-14, "{backend:?} {c:?}");
        }
    }
}

#[test]
fn dense_lu_in_f32() {
    let mut rng = Xoshiro256pp::new(3);
    let a64 = well_conditioned(80, &mut rng);
    let mut a = DenseMatrix::<f32>::zeros(80, 80);
    for j in 0..80 {
        for i in 0..80 {
            a[(i, j)] = a64[(i, j)] as f32;
        }
    }
    let x: Vec<f32> = (0..80).map(|i| (i as f32 * 0.1).sin()).collect();
    let mut b = vec![0.0; 80];
    a.mul_vec_to(&x, &mut b);
    for backend in [
        DenseLuBackend::Simple,
        DenseLuBackend::Nalgebra,
        DenseLuBackend::Faer,
    ] {
        let mut lu = DenseLu::with_backend(80, backend);
        lu.factor(&a).unwrap();
        let mut y = b.clone();
        lu.solve_in_place(&mut y).unwrap();
        for (u, v) in y.iter().zip(&x) {
            assert!((u - v).abs() < 1e-4, "{backend:?}");
        }
    }
}

#[test]
fn singular_and_non_finite_matrices_are_errors() {
    for backend in [
        DenseLuBackend::Simple,
        DenseLuBackend::Nalgebra,
        DenseLuBackend::Faer,
    ] {
        let mut rng = Xoshiro256pp::new(11);
        let n = 5;
        let mut lu = DenseLu::with_backend(n, backend);
        // An exactly singular matrix: a zero column.
        let mut z = random_matrix(n, &mut rng);
        for i in 0..n {
            z[(i, 2)] = 0.0;
        }
        assert_eq!(
            lu.factor(&z),
            Err(LinearError::Singular { column: 2 }),
            "{backend:?}"
        );
        let mut b = vec![1.0; n];
        assert_eq!(lu.solve_in_place(&mut b), Err(LinearError::NotFactored));
        // Rank one, with power-of-two entries so elimination is exact and the zero pivot exact.
        let mut r1 = DenseMatrix::zeros(n, n);
        for j in 0..n {
            for i in 0..n {
                r1[(i, j)] = f64::powi(2.0, (i + 2 * j) as i32);
            }
        }
        assert!(matches!(
            lu.factor(&r1),
            Err(LinearError::Singular { column: 1 })
        ));
        let mut nan = random_matrix(n, &mut rng);
        nan[(3, 1)] = f64::NAN;
        assert_eq!(lu.factor(&nan), Err(LinearError::NonFinite));
        nan[(3, 1)] = f64::INFINITY;
        assert_eq!(lu.factor(&nan), Err(LinearError::NonFinite));
        // Wrong shapes.
        assert!(matches!(
            lu.factor(&DenseMatrix::zeros(4, 4)),
            Err(LinearError::Dimension {
                expected: 5,
                got: 4
            })
        ));
        lu.factor(&random_matrix(n, &mut rng)).unwrap();
        let mut short = vec![1.0; 3];
        assert!(matches!(
            lu.solve_in_place(&mut short),
            Err(LinearError::Dimension {
                expected: 5,
                got: 3
            })
        ));
        let mut bad = vec![f64::NAN; n];
        assert_eq!(lu.solve_in_place(&mut bad), Err(LinearError::NonFinite));
    }
}

// ---------------------------------------------------------------------------------------------
// Sparse patterns, sparse LU, colouring, compressed Jacobians, sparsity detection, GMRES.

use sciml_core::linalg::{
    colour_columns, detect_sparsity, dual_jacobian_coloured, fd_jacobian_coloured,
    DualJacobianScratch, FdJvp, FdScheme, Gmres, JacobianScratch, SparseLu, SparseLuMethod,
    SparseMatrix, SparsityPattern,
};
use sciml_core::{ForwardAd, GenericRhs, Jacobian, Jvp, Scalar};
use std::sync::Arc;

/// The 2-D Brusselator on an `m × m` periodic grid (Hairer and Wanner, Solving ODEs II, §IV.10,
/// with the reaction terms of the W2b): `u' = 1 + u²v − 4.4u + α∇²u`,
/// `v' = 3.4u − u²v + α∇²v`, states blocked as `[u; v]`. Parameters `p = [α]`.
struct Bruss {
    m: usize,
}

impl GenericRhs for Bruss {
    fn dims(&self) -> (usize, usize) {
        (2 * self.m * self.m, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, y: &[S], p: &[S], dy: &mut [S], _ws: &mut [S]) {
        let m = self.m;
        let nn = m * m;
        let h2 = S::cst(((m - 1) * (m - 1)) as f64);
        let alpha = p[0];
        let idx = |i: usize, j: usize| i * m + j;
        for i in 0..m {
            for j in 0..m {
                let k = idx(i, j);
                let (ip, im) = ((i + 1) % m, (i + m - 1) % m);
                let (jp, jm) = ((j + 1) % m, (j + m - 1) % m);
                let lap = |o: usize| {
                    y[o + idx(ip, j)] + y[o + idx(im, j)] + y[o + idx(i, jp)] + y[o + idx(i, jm)]
                        - S::cst(4.0) * y[o + k]
                };
                let (u, v) = (y[k], y[nn + k]);
                let u2v = u * u * v;
                dy[k] = S::cst(1.0) + u2v - S::cst(4.4) * u + alpha * h2 * lap(0);
                dy[nn + k] = S::cst(3.4) * u - u2v + alpha * h2 * lap(nn);
            }
        }
    }
}

/// The exact Jacobian pattern of [`Bruss`], written by hand.
fn bruss_pattern(m: usize) -> SparsityPattern {
    let nn = m * m;
    let mut e = vec![];
    for i in 0..m {
        for j in 0..m {
            let k = i * m + j;
            let nb = [
                k,
                ((i + 1) % m) * m + j,
                ((i + m - 1) % m) * m + j,
                i * m + (j + 1) % m,
                i * m + (j + m - 1) % m,
            ];
            for o in [0, nn] {
                for &c in &nb {
                    e.push((o + k, o + c));
                }
            }
            e.push((k, nn + k));
            e.push((nn + k, k));
        }
    }
    SparsityPattern::from_triplets(2 * nn, 2 * nn, &e).unwrap()
}

fn bruss_state(m: usize) -> Vec<f64> {
    let nn = m * m;
    let mut y = vec![0.0; 2 * nn];
    for i in 0..m {
        for j in 0..m {
            let (x, z) = (i as f64 / (m - 1) as f64, j as f64 / (m - 1) as f64);
            y[i * m + j] = 22.0 * z * (1.0 - z).powf(1.5);
            y[nn + i * m + j] = 27.0 * x * (1.0 - x).powf(1.5);
        }
    }
    y
}

/// The `m × m` 5-point convection–diffusion operator `−∇²u + c·∂u/∂x` (central differences,
/// Dirichlet boundaries), nonsymmetric for `c ≠ 0`.
fn convection_diffusion(m: usize, c: f64) -> SparseMatrix<f64> {
    let n = m * m;
    let h = 1.0 / (m + 1) as f64;
    let mut e = vec![];
    let mut vals = std::collections::HashMap::new();
    for i in 0..m {
        for j in 0..m {
            let k = i * m + j;
            let mut add = |r: usize, col: usize, v: f64| {
                e.push((r, col));
                *vals.entry((r, col)).or_insert(0.0) += v;
            };
            add(k, k, 4.0 / (h * h));
            if i > 0 {
                add(k, k - m, -1.0 / (h * h));
            }
            if i + 1 < m {
                add(k, k + m, -1.0 / (h * h));
            }
            if j > 0 {
                add(k, k - 1, -1.0 / (h * h) - c / (2.0 * h));
            }
            if j + 1 < m {
                add(k, k + 1, -1.0 / (h * h) + c / (2.0 * h));
            }
        }
    }
    let p = Arc::new(SparsityPattern::from_triplets(n, n, &e).unwrap());
    let mut a = SparseMatrix::zeros(p.clone());
    for col in 0..n {
        for &r in p.col(col) {
            a.set(r, col, vals[&(r, col)]).unwrap();
        }
    }
    a
}

#[test]
fn pattern_constructors_agree_and_validate() {
    let p =
        SparsityPattern::from_triplets(3, 4, &[(2, 3), (0, 0), (2, 3), (1, 0), (0, 2)]).unwrap();
    assert_eq!(p.nnz(), 4);
    assert_eq!(p.col_ptr(), &[0, 2, 2, 3, 4]);
    assert_eq!(p.row_idx(), &[0, 1, 0, 2]);
    let mut mask = vec![false; 12];
    for (r, c) in [(2, 3), (0, 0), (1, 0), (0, 2)] {
        mask[c * 3 + r] = true;
    }
    assert_eq!(SparsityPattern::from_dense_mask(3, 4, &mask).unwrap(), p);
    assert!(matches!(
        SparsityPattern::from_triplets(3, 4, &[(3, 0)]),
        Err(LinearError::IndexOutOfBounds { row: 3, col: 0, .. })
    ));
    assert!(SparsityPattern::from_dense_mask(3, 4, &mask[..11]).is_err());
    let d = p.with_diagonal();
    assert_eq!(d.nnz(), 4 + 2); // (0,0) was there; (1,1) and (2,2) added
    assert!(d.contains(1, 1) && d.contains(2, 2) && d.contains(2, 3));
    assert_eq!(p.transpose().transpose(), p);
}

#[test]
fn sparse_matrix_products_and_newton_matrix_match_dense() {
    let a = convection_diffusion(6, 30.0);
    let d = a.to_dense();
    let x: Vec<f64> = (0..36).map(|i| (i as f64).cos()).collect();
    let (mut y1, mut y2) = (vec![0.0; 36], vec![0.0; 36]);
    a.mul_vec_to(&x, &mut y1);
    d.mul_vec_to(&x, &mut y2);
    assert!(y1.iter().zip(&y2).all(|(a, b)| (a - b).abs() < 1e-9));
    let (mut t1, mut t2) = (vec![1.0; 36], vec![1.0; 36]);
    a.tr_mul_vec_add(&x, &mut t1);
    d.tr_mul_vec_add(&x, &mut t2);
    assert!(t1.iter().zip(&t2).all(|(a, b)| (a - b).abs() < 1e-9));
    // W = I − γ J on the pattern with the diagonal.
    let wp = Arc::new(a.pattern().with_diagonal());
    let mut w = SparseMatrix::zeros(wp);
    w.set_identity_minus_scaled(0.1, &a).unwrap();
    for r in 0..36 {
        for c in 0..36 {
            let e = if r == c { 1.0 } else { 0.0 } - 0.1 * d[(r, c)];
            assert!((w.get(r, c) - e).abs() < 1e-12);
        }
    }
    // Diagonal mass matrix with an algebraic (zero) row.
    let mass: Vec<f64> = (0..36)
        .map(|i| if i == 5 { 0.0 } else { 1.0 + i as f64 })
        .collect();
    w.set_diagonal_minus_scaled(&mass, 0.1, &a).unwrap();
    for r in 0..36 {
        for c in 0..36 {
            let e = if r == c { mass[r] } else { 0.0 } - 0.1 * d[(r, c)];
            assert!((w.get(r, c) - e).abs() < 1e-12);
        }
    }
    assert!(w.set_diagonal_minus_scaled(&mass[1..], 0.1, &a).is_err());
    // A pattern without room for J is refused.
    let small = Arc::new(SparsityPattern::from_triplets(36, 36, &[(0, 0)]).unwrap());
    assert_eq!(
        SparseMatrix::zeros(small).set_identity_minus_scaled(0.1, &a),
        Err(LinearError::PatternMismatch)
    );
}

#[test]
fn sparse_lu_matches_dense_lu_on_brusselator_newton_matrices() {
    // 2 × 20 × 20 = 800 unknowns; W = I − γ J at two states, one symbolic analysis.
    let m = 20;
    let g = Bruss { m };
    let n = 2 * m * m;
    let jp = Arc::new(bruss_pattern(m));
    let wp = Arc::new(jp.with_diagonal());
    let mut lu = SparseLu::new(&wp).unwrap();
    let mut lu_simp = SparseLu::with_method(&wp, SparseLuMethod::Simplicial).unwrap();
    let mut lu_super = SparseLu::with_method(&wp, SparseLuMethod::Supernodal).unwrap();
    let mut f = ForwardAd::new(Bruss { m });
    let mut jd = DenseMatrix::zeros(n, n);
    let mut rng = Xoshiro256pp::new(5);
    let mut ws = DualJacobianScratch::new(&g, jp.clone()).unwrap();
    let mut js = SparseMatrix::zeros(jp.clone());
    let mut w = SparseMatrix::zeros(wp.clone());
    for (shift, gamma) in [(0.0, 0.05), (0.3, 0.2)] {
        let y: Vec<f64> = bruss_state(m).iter().map(|v| v + shift).collect();
        let p = vec![0.02];
        f.jacobian(0.0, &y, &p, &mut jd);
        dual_jacobian_coloured(&g, 0.0, &y, &p, &mut ws, &mut js).unwrap();
        w.set_identity_minus_scaled(gamma, &js).unwrap();
        lu.factor(&w).unwrap();
        lu_simp.factor(&w).unwrap();
        lu_super.factor(&w).unwrap();
        let mut wd = DenseMatrix::zeros(n, n);
        for c in 0..n {
            for r in 0..n {
                wd[(r, c)] = if r == c { 1.0 } else { 0.0 } - gamma * jd[(r, c)];
            }
        }
        let mut dlu = DenseLu::new(n);
        dlu.factor(&wd).unwrap();
        let b: Vec<f64> = (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
        for transpose in [false, true] {
            let (mut xs, mut xd) = (b.clone(), b.clone());
            let (mut x1, mut x2) = (b.clone(), b.clone());
            if transpose {
                lu.solve_transpose_in_place(&mut xs).unwrap();
                lu_simp.solve_transpose_in_place(&mut x1).unwrap();
                lu_super.solve_transpose_in_place(&mut x2).unwrap();
                dlu.solve_transpose_in_place(&mut xd).unwrap();
            } else {
                lu.solve_in_place(&mut xs).unwrap();
                lu_simp.solve_in_place(&mut x1).unwrap();
                lu_super.solve_in_place(&mut x2).unwrap();
                dlu.solve_in_place(&mut xd).unwrap();
            }
            for xv in [&x1, &x2] {
                let d: Vec<f64> = xv.iter().zip(&xd).map(|(a, b)| a - b).collect();
                assert!(inf_norm(&d) < 1e-10 * inf_norm(&xd));
            }
            let diff: Vec<f64> = xs.iter().zip(&xd).map(|(a, b)| a - b).collect();
            assert!(
                inf_norm(&diff) < 1e-10 * inf_norm(&xd),
                "γ = {gamma}, transpose = {transpose}: {}",
                inf_norm(&diff)
            );
            // Residual of the sparse solution against the sparse matrix itself.
            let mut r = vec![0.0; n];
            if transpose {
                w.tr_mul_vec_add(&xs, &mut r);
            } else {
                w.mul_vec_to(&xs, &mut r);
            }
            let res: Vec<f64> = r.iter().zip(&b).map(|(a, b)| a - b).collect();
            assert!(inf_norm(&res) < 1e-12, "residual {}", inf_norm(&res));
        }
    }
}

#[test]
fn sparse_lu_reports_singular_mismatched_and_non_finite_matrices() {
    let a = convection_diffusion(5, 1.0);
    let mut lu = SparseLu::new(a.pattern()).unwrap();
    // A zero column: numerically singular (the pattern itself is fine).
    let mut z = a.clone();
    let p = a.pattern().clone();
    let (lo, hi) = (p.col_ptr()[7], p.col_ptr()[8]);
    z.values_mut()[lo..hi].iter_mut().for_each(|v| *v = 0.0);
    assert!(matches!(
        lu.factor(&z),
        Err(LinearError::NumericallySingular) | Err(LinearError::Singular { .. })
    ));
    let mut b = vec![1.0; 25];
    assert_eq!(lu.solve_in_place(&mut b), Err(LinearError::NotFactored));
    let mut nan = a.clone();
    nan.values_mut()[3] = f64::NAN;
    assert_eq!(lu.factor(&nan), Err(LinearError::NonFinite));
    let other = convection_diffusion(5, 1.0);
    let q = Arc::new(
        other
            .pattern()
            .with_diagonal()
            .union(&SparsityPattern::from_triplets(25, 25, &[(0, 24)]).unwrap())
            .unwrap(),
    );
    assert_eq!(
        lu.factor(&SparseMatrix::zeros(q)),
        Err(LinearError::PatternMismatch)
    );
    // A structurally singular pattern (an empty column).
    let hole = SparsityPattern::from_triplets(3, 3, &[(0, 0), (1, 1), (2, 1)]).unwrap();
    let r = SparseLu::<f64>::new(&hole).and_then(|mut l| {
        let m = SparseMatrix::zeros(Arc::new(hole.clone()));
        l.factor(&m)
    });
    assert!(r.is_err());
    assert!(matches!(
        SparseLu::<f64>::new(&SparsityPattern::empty(2, 3)),
        Err(LinearError::Dimension { .. })
    ));
    lu.factor(&a).unwrap();
    let mut short = vec![1.0; 3];
    assert!(matches!(
        lu.solve_in_place(&mut short),
        Err(LinearError::Dimension { .. })
    ));
}

fn assert_valid_colouring(p: &SparsityPattern) -> usize {
    let c = colour_columns(p);
    assert!(c.is_valid_for(p));
    // Independent check: for every row, the colours of its columns are distinct.
    let t = p.transpose();
    for r in 0..p.nrows() {
        let mut cs: Vec<usize> = t.col(r).iter().map(|&j| c.colour[j]).collect();
        let len = cs.len();
        cs.sort_unstable();
        cs.dedup();
        assert_eq!(cs.len(), len, "row {r} has two columns of one colour");
    }
    // Lower bound: the densest row needs that many colours.
    let max_row = (0..t.ncols()).map(|r| t.col(r).len()).max().unwrap_or(0);
    assert!(c.n_colours >= max_row);
    c.n_colours
}

#[test]
fn colourings_are_valid_and_small() {
    let n: usize = 50;
    let mut e = vec![];
    for i in 0..n {
        for j in i.saturating_sub(1)..(i + 2).min(n) {
            e.push((i, j));
        }
    }
    assert_eq!(
        assert_valid_colouring(&SparsityPattern::from_triplets(n, n, &e).unwrap()),
        3
    );
    // 5-point Laplacian on 15 × 15: 5 colours are optimal ((i + 2j) mod 5); greedy gets few.
    let lap = convection_diffusion(15, 0.0);
    let k = assert_valid_colouring(lap.pattern());
    assert!((5..=8).contains(&k), "{k} colours");
    // The Brusselator (two coupled 5-point stencils): 6 entries per row.
    let kb = assert_valid_colouring(&bruss_pattern(8));
    assert!(kb <= 12, "{kb} colours");
    // Random patterns.
    let mut rng = Xoshiro256pp::new(99);
    for _ in 0..20 {
        let (r, c) = (30, 40);
        let e: Vec<(usize, usize)> = (0..120)
            .map(|_| ((rng.next_u64() % r) as usize, (rng.next_u64() % c) as usize))
            .collect();
        assert_valid_colouring(
            &SparsityPattern::from_triplets(r as usize, c as usize, &e).unwrap(),
        );
    }
    // A dense pattern needs one colour per column.
    assert_eq!(colour_columns(&SparsityPattern::full(4, 4)).n_colours, 4);
}

#[test]
fn compressed_jacobians_match_dense_dual_jacobian() {
    let m = 8;
    let n = 2 * m * m;
    let g = Bruss { m };
    let y = bruss_state(m);
    let p = vec![0.02];
    let mut f = ForwardAd::new(Bruss { m });
    let mut jd = DenseMatrix::zeros(n, n);
    f.jacobian(0.3, &y, &p, &mut jd);
    let jp = Arc::new(bruss_pattern(m));
    // The hand pattern contains every nonzero of the dense Jacobian.
    for c in 0..n {
        for r in 0..n {
            assert!(jd[(r, c)] == 0.0 || jp.contains(r, c));
        }
    }
    let scale = jd.as_slice().iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    // Dual: exact up to rounding.
    let mut ws = DualJacobianScratch::new(&g, jp.clone()).unwrap();
    let mut j = SparseMatrix::zeros(jp.clone());
    dual_jacobian_coloured(&g, 0.3, &y, &p, &mut ws, &mut j).unwrap();
    let err = |j: &SparseMatrix<f64>| {
        let d = j.to_dense();
        d.as_slice()
            .iter()
            .zip(jd.as_slice())
            .fold(0.0_f64, |a, (x, y)| a.max((x - y).abs()))
    };
    assert!(err(&j) <= 1e-14 * scale, "dual {}", err(&j));
    // Finite differences: forward O(√ε), central O(ε^(2/3)) relative to the scale of f.
    let mut fd = ForwardAd::new(Bruss { m });
    for (scheme, tol) in [(FdScheme::Forward, 1e-5), (FdScheme::Central, 1e-8)] {
        let mut ws = JacobianScratch::new(jp.clone(), scheme);
        let mut j = SparseMatrix::zeros(jp.clone());
        let evals = fd_jacobian_coloured(&mut fd, 0.3, &y, &p, None, &mut ws, &mut j).unwrap();
        let k = ws.colouring().n_colours;
        assert_eq!(
            evals,
            if scheme == FdScheme::Central {
                2 * k
            } else {
                k + 1
            }
        );
        assert!(evals < n / 4, "{evals} evaluations for n = {n}");
        assert!(
            err(&j) <= tol * scale,
            "{scheme:?}: {} (scale {scale})",
            err(&j)
        );
    }
    // A Jacobian with a different pattern is refused.
    let mut wrong = SparseMatrix::zeros(Arc::new(
        jp.with_diagonal()
            .transpose()
            .union(&SparsityPattern::full(n, n))
            .unwrap(),
    ));
    assert_eq!(
        dual_jacobian_coloured(&g, 0.3, &y, &p, &mut ws, &mut wrong),
        Err(LinearError::PatternMismatch)
    );
}

/// `du_i = p₀ (u_{i−1} − 2u_i + u_{i+1}) + u_i² p₁ ` with zero boundary values: tridiagonal.
struct Tridiag {
    n: usize,
}
impl GenericRhs for Tridiag {
    fn dims(&self) -> (usize, usize) {
        (self.n, 2)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        let n = self.n;
        for i in 0..n {
            let l = if i > 0 { u[i - 1] } else { S::zero() };
            let r = if i + 1 < n { u[i + 1] } else { S::zero() };
            du[i] = p[0] * (l - S::cst(2.0) * u[i] + r) + p[1] * u[i] * u[i];
        }
    }
}

#[test]
fn detect_sparsity_finds_the_tridiagonal_and_brusselator_patterns() {
    let n: usize = 12;
    // At u = 0, p₁ = 0 the diagonal of the quadratic term vanishes, but the stencil keeps it; at
    // p₀ = 0 the whole stencil vanishes at the given point and only the perturbations find it.
    let pat = detect_sparsity(&Tridiag { n }, 0.0, &vec![0.0; n], &[0.0, 0.0]).unwrap();
    let mut e = vec![];
    for i in 0..n {
        for j in i.saturating_sub(1)..(i + 2).min(n) {
            e.push((i, j));
        }
    }
    assert_eq!(pat, SparsityPattern::from_triplets(n, n, &e).unwrap());
    let m = 6;
    let pb = detect_sparsity(&Bruss { m }, 0.0, &bruss_state(m), &[0.02]).unwrap();
    assert_eq!(pb, bruss_pattern(m));
    assert!(detect_sparsity(&Tridiag { n }, 0.0, &vec![0.0; n - 1], &[0.0, 0.0]).is_err());
}

#[test]
fn fd_jvp_matches_dual_jvp() {
    let m = 5;
    let mut f = ForwardAd::new(Bruss { m });
    let n = 2 * m * m;
    let y = bruss_state(m);
    let p = vec![0.02];
    let v: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64 / 11.0 - 0.5).collect();
    let mut exact = vec![0.0; n];
    f.jvp_u(0.0, &y, &p, &v, &mut exact);
    let mut jv = FdJvp::new(n);
    jv.set_point(&mut f, 0.0, &y, &p).unwrap();
    let mut out = vec![0.0; n];
    jv.apply(&mut f, 0.0, &p, &v, &mut out).unwrap();
    let diff: Vec<f64> = out.iter().zip(&exact).map(|(a, b)| a - b).collect();
    assert!(
        inf_norm(&diff) < 1e-5 * inf_norm(&exact),
        "{}",
        inf_norm(&diff)
    );
}

fn gmres_vs_lu(a: &SparseMatrix<f64>, restart: usize, pc: Option<&SparseLu<f64>>) -> usize {
    let n = a.nrows();
    let mut rng = Xoshiro256pp::new(17);
    let xtrue: Vec<f64> = (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let mut b = vec![0.0; n];
    a.mul_vec_to(&xtrue, &mut b);
    let mut dlu = DenseLu::new(n);
    dlu.factor(&a.to_dense()).unwrap();
    let mut xlu = b.clone();
    dlu.solve_in_place(&mut xlu).unwrap();
    let mut gm = Gmres::new(n, restart);
    gm.set_rtol(1e-10).set_max_iters(5000);
    let mut x = vec![0.0; n];
    let mut mv = |v: &[f64], out: &mut [f64]| a.mul_vec_to(v, out);
    let mut apply = |z: &mut [f64]| pc.map_or((), |l| l.solve_in_place(z).unwrap());
    let st = gm
        .solve(
            &mut mv,
            if pc.is_some() { Some(&mut apply) } else { None },
            &b,
            &mut x,
        )
        .unwrap();
    // The reported residual is the true one.
    let mut r = vec![0.0; n];
    a.mul_vec_to(&x, &mut r);
    let res = r
        .iter()
        .zip(&b)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    assert!((res - st.residual).abs() <= 1e-6 * res.max(1e-300) + 1e-14);
    let bn = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(res <= 1e-10 * bn);
    let diff: Vec<f64> = x.iter().zip(&xlu).map(|(a, b)| a - b).collect();
    assert!(
        inf_norm(&diff) < 1e-6 * inf_norm(&xlu),
        "GMRES vs LU {}",
        inf_norm(&diff)
    );
    st.iterations
}

#[test]
fn gmres_solves_nonsymmetric_systems_like_lu() {
    // Nonsymmetric, diagonally dominant, dense-ish random sparse matrix.
    let n = 120;
    let mut rng = Xoshiro256pp::new(23);
    let mut e: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
    for _ in 0..6 * n {
        e.push((
            (rng.next_u64() % n as u64) as usize,
            (rng.next_u64() % n as u64) as usize,
        ));
    }
    let p = Arc::new(SparsityPattern::from_triplets(n, n, &e).unwrap());
    let mut a = SparseMatrix::zeros(p.clone());
    for c in 0..n {
        for &r in p.col(c) {
            let v = if r == c {
                10.0
            } else {
                rng.uniform_range(-1.0, 1.0)
            };
            a.set(r, c, v).unwrap();
        }
    }
    let it = gmres_vs_lu(&a, 30, None);
    assert!(it < 60, "{it}");
    // Convection–diffusion, restarted (m = 20 < iterations needed).
    let cd = convection_diffusion(20, 10.0);
    let it_plain = gmres_vs_lu(&cd, 20, None);
    // Preconditioned with the LU of the pure-diffusion operator: far fewer iterations.
    let diff = convection_diffusion(20, 0.0);
    let mut pc = SparseLu::new(diff.pattern()).unwrap();
    pc.factor(&diff).unwrap();
    let it_pc = gmres_vs_lu(&cd, 20, Some(&pc));
    eprintln!("GMRES(20) iterations: plain {it_plain}, preconditioned {it_pc}");
    assert!(
        it_pc * 3 < it_plain,
        "preconditioned {it_pc} vs plain {it_plain}"
    );
}

#[test]
fn gmres_reports_non_convergence_and_bad_input() {
    let cd = convection_diffusion(10, 5.0);
    let n = cd.nrows();
    let mut gm = Gmres::new(n, 5);
    gm.set_max_iters(7).set_rtol(1e-12);
    let b = vec![1.0; n];
    let mut x = vec![0.0; n];
    let mut mv = |v: &[f64], out: &mut [f64]| cd.mul_vec_to(v, out);
    match gm.solve(&mut mv, None, &b, &mut x) {
        Err(LinearError::NotConverged {
            iterations,
            residual,
        }) => {
            assert_eq!(iterations, 7);
            assert!(residual > 0.0 && residual.is_finite());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        gm.solve(&mut mv, None, &b[..3], &mut x),
        Err(LinearError::Dimension { .. })
    ));
    let mut bad = b.clone();
    bad[0] = f64::NAN;
    assert_eq!(
        gm.solve(&mut mv, None, &bad, &mut x),
        Err(LinearError::NonFinite)
    );
    // Zero right-hand side and zero guess: solved at once.
    let mut z = vec![0.0; n];
    let st = gm.solve(&mut mv, None, &vec![0.0; n], &mut z).unwrap();
    assert_eq!(st.iterations, 0);
}

use sciml_core::{FnField, SparseAd, SparseFd, SparseFn, SparseJacobian, VectorField};

fn max_diff(a: &DenseMatrix<f64>, b: &DenseMatrix<f64>) -> f64 {
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn sparse_jacobian_adaptors_match_the_dense_dual_jacobian() {
    let m = 6;
    let n = 2 * m * m;
    let y = bruss_state(m);
    let p = vec![0.02];
    let mut dense = ForwardAd::new(Bruss { m });
    let mut jd = DenseMatrix::zeros(n, n);
    dense.jacobian(0.0, &y, &p, &mut jd);
    let scale = jd.as_slice().iter().fold(0.0_f64, |a, v| a.max(v.abs()));

    // Exact, with the pattern detected.
    let mut ad = SparseAd::detect(Bruss { m }, 0.0, &y, &p).unwrap();
    assert_eq!(**ad.jacobian_pattern(), bruss_pattern(m));
    const { assert!(<SparseAd<Bruss> as SparseJacobian>::EXACT) };
    let mut j = SparseMatrix::zeros(ad.jacobian_pattern().clone());
    ad.sparse_jacobian(0.0, &y, &p, &mut j);
    assert!(max_diff(&j.to_dense(), &jd) <= 1e-14 * scale);
    // Capabilities pass through: the dense Jacobian and the JVP are ForwardAd's.
    let mut jd2 = DenseMatrix::zeros(n, n);
    ad.jacobian(0.0, &y, &p, &mut jd2);
    assert_eq!(jd2, jd);
    let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let (mut o1, mut o2) = (vec![0.0; n], vec![0.0; n]);
    ad.jvp_u(0.0, &y, &p, &v, &mut o1);
    dense.jvp_u(0.0, &y, &p, &v, &mut o2);
    assert_eq!(o1, o2);

    // Finite differences of a plain closure field (no GenericRhs).
    let g = Bruss { m };
    let closure = FnField::new(n, 1, move |t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
        g.eval(t, u, p, du, &mut [])
    });
    let mut fd = SparseFd::new(closure, bruss_pattern(m), FdScheme::Central).unwrap();
    const {
        assert!(
            !<SparseFd<FnField<f64, fn(f64, &[f64], &[f64], &mut [f64])>> as SparseJacobian>::EXACT
        )
    };
    let mut jf = SparseMatrix::zeros(fd.jacobian_pattern().clone());
    fd.sparse_jacobian(0.0, &y, &p, &mut jf);
    assert!(max_diff(&jf.to_dense(), &jd) <= 1e-8 * scale);
    // The wrapped field still evaluates the same right-hand side.
    let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
    fd.rhs(0.0, &y, &p, &mut d1);
    dense.rhs(0.0, &y, &p, &mut d2);
    assert_eq!(d1, d2);

    // A Jacobian matrix with another pattern is poisoned, not silently wrong.
    let mut wrong = SparseMatrix::zeros(Arc::new(
        bruss_pattern(m)
            .with_diagonal()
            .transpose()
            .union(&SparsityPattern::full(n, n))
            .unwrap(),
    ));
    ad.sparse_jacobian(0.0, &y, &p, &mut wrong);
    assert!(wrong.values().iter().all(|v| v.is_nan()));
    assert!(SparseAd::new(Bruss { m }, SparsityPattern::full(n - 1, n - 1)).is_err());
}

#[test]
fn user_sparse_jacobian_is_used_as_given() {
    // du₀ = −2u₀ + u₁, du₁ = u₀ u₁: pattern (0,0), (1,0), (0,1), (1,1).
    let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = -2.0 * u[0] + u[1];
        du[1] = u[0] * u[1];
    });
    let pat = SparsityPattern::full(2, 2);
    let mut sf = SparseFn::new(
        f,
        pat.clone(),
        |_t: f64, u: &[f64], _p: &[f64], v: &mut [f64]| {
            v.copy_from_slice(&[-2.0, u[1], 1.0, u[0]]);
        },
    )
    .unwrap();
    let mut j = SparseMatrix::zeros(sf.jacobian_pattern().clone());
    sf.sparse_jacobian(0.0, &vec![3.0, 5.0], &vec![], &mut j);
    assert_eq!(j.to_dense().as_slice(), &[-2.0, 5.0, 1.0, 3.0]);
    // Checked against coloured central differences of the same field.
    let g = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = -2.0 * u[0] + u[1];
        du[1] = u[0] * u[1];
    });
    let mut fd = SparseFd::new(g, pat, FdScheme::Central).unwrap();
    let mut jf = SparseMatrix::zeros(fd.jacobian_pattern().clone());
    fd.sparse_jacobian(0.0, &vec![3.0, 5.0], &vec![], &mut jf);
    assert!(max_diff(&j.to_dense(), &jf.to_dense()) < 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Allocation-free hot paths: a counting allocator, per thread (tests run in parallel).

mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;
    thread_local! {
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }
    // SAFETY: forwards to the system allocator unchanged; only counts calls.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as the caller's.
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as the caller's.
            unsafe { System.realloc(p, l, n) }
        }
    }
    /// Allocations made on this thread by `f`.
    pub fn allocations(f: impl FnOnce()) -> usize {
        let before = COUNT.with(|c| c.get());
        f();
        COUNT.with(|c| c.get()) - before
    }
}

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

#[test]
fn hot_paths_do_not_allocate() {
    use counting::allocations;
    let mut rng = Xoshiro256pp::new(41);
    for (n, backend) in [
        (12, DenseLuBackend::Nalgebra),
        (12, DenseLuBackend::Simple),
        (90, DenseLuBackend::Faer),
    ] {
        let a = well_conditioned(n, &mut rng);
        let mut lu = DenseLu::with_backend(n, backend);
        let mut b = vec![1.0; n];
        // faer allocates once on its very first call in a thread (one-time set-up), not per call.
        let first = allocations(|| lu.factor(&a).unwrap());
        assert!(first <= 1, "{backend:?}: {first}");
        let k = allocations(|| {
            lu.factor(&a).unwrap();
            lu.solve_in_place(&mut b).unwrap();
            lu.solve_transpose_in_place(&mut b).unwrap();
        });
        assert_eq!(k, 0, "DenseLu {backend:?}");
    }
    // Sparse LU: the first numeric factorisation sizes faer's factor storage; later ones (same
    // pattern, same pivoting) reuse it.
    let m = 10;
    let g = Bruss { m };
    let n = 2 * m * m;
    let y = bruss_state(m);
    let p = vec![0.02];
    let jp = Arc::new(bruss_pattern(m));
    let wp = Arc::new(jp.with_diagonal());
    let mut ws = DualJacobianScratch::new(&g, jp.clone()).unwrap();
    let mut j = SparseMatrix::zeros(jp.clone());
    let mut w = SparseMatrix::zeros(wp.clone());
    dual_jacobian_coloured(&g, 0.0, &y, &p, &mut ws, &mut j).unwrap();
    w.set_identity_minus_scaled(0.1, &j).unwrap();
    let mut fd = ForwardAd::new(Bruss { m });
    let mut fws = JacobianScratch::new(jp.clone(), FdScheme::Forward);
    let mut jv = FdJvp::new(n);
    let mut gm = Gmres::new(n, 20);
    let mut x = vec![0.0; n];
    let b = vec![1.0; n];
    let mut out = vec![0.0; n];
    let k = allocations(|| {
        dual_jacobian_coloured(&g, 0.0, &y, &p, &mut ws, &mut j).unwrap();
        fd_jacobian_coloured(&mut fd, 0.0, &y, &p, None, &mut fws, &mut j).unwrap();
        w.set_identity_minus_scaled(0.01, &j).unwrap();
        jv.set_point(&mut fd, 0.0, &y, &p).unwrap();
        jv.apply(&mut fd, 0.0, &p, &b, &mut out).unwrap();
        let mut mv = |v: &[f64], o: &mut [f64]| w.mul_vec_to(v, o);
        gm.solve(&mut mv, None, &b, &mut x).unwrap();
    });
    assert_eq!(k, 0, "Jacobians, JVP and GMRES");
    for method in [SparseLuMethod::Simplicial, SparseLuMethod::Supernodal] {
        let mut lu = SparseLu::with_method(&wp, method).unwrap();
        lu.factor(&w).unwrap();
        let kf = allocations(|| lu.factor(&w).unwrap());
        let ks = allocations(|| {
            lu.solve_in_place(&mut x).unwrap();
            lu.solve_transpose_in_place(&mut x).unwrap();
        });
        assert_eq!(ks, 0, "{method:?} solves");
        // faer's supernodal numeric factorisation allocates per supernode (measured: 52 here);
        // the simplicial one reuses its storage.
        if method == SparseLuMethod::Simplicial {
            assert_eq!(kf, 0, "simplicial refactorisation");
        }
    }
}

#[test]
fn dense_newton_matrix_helper() {
    let mut rng = Xoshiro256pp::new(2);
    let j = random_matrix(4, &mut rng);
    let mut w = DenseMatrix::zeros(4, 4);
    w.set_identity_minus_scaled(0.5, &j);
    for c in 0..4 {
        for r in 0..4 {
            let e = if r == c { 1.0 } else { 0.0 } - 0.5 * j[(r, c)];
            assert_eq!(w[(r, c)], e);
        }
    }
}

#[test]
fn full_gmres_converges_on_an_indefinite_newton_matrix_from_a_warm_start() {
    // W = I − 0.1 J of the Brusselator at a state where J has large positive reaction entries:
    // nonsymmetric and indefinite, where restarted GMRES may stagnate but full GMRES (restart = n)
    // must converge in at most n iterations.
    let m = 6;
    let n = 2 * m * m;
    let g = Bruss { m };
    let jp = Arc::new(bruss_pattern(m));
    let mut ws = DualJacobianScratch::new(&g, jp.clone()).unwrap();
    let mut j = SparseMatrix::zeros(jp.clone());
    dual_jacobian_coloured(&g, 0.0, &bruss_state(m), &[0.02], &mut ws, &mut j).unwrap();
    let mut w = SparseMatrix::zeros(Arc::new(jp.with_diagonal()));
    w.set_identity_minus_scaled(0.1, &j).unwrap();
    let mut lu = SparseLu::new(w.pattern()).unwrap();
    lu.factor(&w).unwrap();
    let b: Vec<f64> = (0..n).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
    let mut xlu = b.clone();
    lu.solve_in_place(&mut xlu).unwrap();
    let mut gm = Gmres::new(n, n);
    gm.set_rtol(1e-11).set_max_iters(n);
    // Warm start near the solution: fewer iterations than from zero, same answer.
    let mut x: Vec<f64> = xlu.iter().map(|v| v * (1.0 + 1e-3)).collect();
    let mut mv = |v: &[f64], o: &mut [f64]| w.mul_vec_to(v, o);
    let warm = gm.solve(&mut mv, None, &b, &mut x).unwrap();
    let d: Vec<f64> = x.iter().zip(&xlu).map(|(a, b)| a - b).collect();
    assert!(inf_norm(&d) < 1e-8 * inf_norm(&xlu), "{}", inf_norm(&d));
    let mut x0 = vec![0.0; n];
    let cold = gm.solve(&mut mv, None, &b, &mut x0).unwrap();
    assert!(cold.iterations <= n && cold.restarts == 0);
    assert!(
        warm.iterations < cold.iterations,
        "{} vs {}",
        warm.iterations,
        cold.iterations
    );
}

#[test]
fn sparse_lu_in_f32() {
    let a64 = convection_diffusion(8, 3.0);
    let mut a = SparseMatrix::<f32>::zeros(a64.pattern().clone());
    for (v, w) in a.values_mut().iter_mut().zip(a64.values()) {
        *v = *w as f32;
    }
    let mut lu = SparseLu::new(a.pattern()).unwrap();
    lu.factor(&a).unwrap();
    let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.3).cos()).collect();
    let mut b = vec![0.0_f32; 64];
    a.mul_vec_to(&x, &mut b);
    lu.solve_in_place(&mut b).unwrap();
    for (u, v) in b.iter().zip(&x) {
        assert!((u - v).abs() < 1e-4);
    }
}

#[test]
fn solvers_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<DenseLu<f64>>();
    send_sync::<SparseLu<f64>>();
    send_sync::<Gmres<f64>>();
    send_sync::<SparseMatrix<f64>>();
    send_sync::<JacobianScratch<f64>>();
    send_sync::<DualJacobianScratch<f64>>();
    send_sync::<SparseAd<Bruss>>();
}
