//! Tests of the linear-algebra layer: dense and sparse LU, colouring, compressed Jacobians,
//! sparsity detection and GMRES, each against an independent reference.

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
    for backend in [DenseLuBackend::Simple, DenseLuBackend::Faer] {
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
    for backend in [DenseLuBackend::Simple, DenseLuBackend::Faer] {
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
    for backend in [DenseLuBackend::Simple, DenseLuBackend::Faer] {
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
