//! Dense LU kernels (factor + one solve) at the sizes stiff solvers meet: the in-crate simple
//! kernel, faer's blocked in-place LU (both through `DenseLu`, allocation-free), and nalgebra's
//! `LU` (which takes its matrix by value, so each call includes one `n × n` copy, as a Newton
//! iteration would need). Picks `DENSE_LU_FAER_MIN_N`. Also times, on the 2-D Brusselator's
//! Newton matrix `I − γJ` (n = 512 and 2048), the coloured dual Jacobian, the sparse LU (numeric
//! factorisation + solve, and solve alone) and unpreconditioned GMRES(30).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sciml_core::linalg::{
    detect_sparsity, dual_jacobian_coloured, DenseLu, DenseLuBackend, DualJacobianScratch, Gmres,
    SparseLu, SparseMatrix,
};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::DenseMatrix;
use sciml_core::{GenericRhs, Scalar};
use std::sync::Arc;
use std::time::Duration;

fn matrix(n: usize) -> DenseMatrix<f64> {
    let mut rng = Xoshiro256pp::new(n as u64);
    let mut a = DenseMatrix::zeros(n, n);
    for j in 0..n {
        for i in 0..n {
            a[(i, j)] = rng.uniform_range(-1.0, 1.0) + if i == j { n as f64 } else { 0.0 };
        }
    }
    a
}

fn dense(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense_lu_factor_solve");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    for n in [3usize, 10, 20, 30, 40, 50, 100, 200] {
        let a = matrix(n);
        let b: Vec<f64> = (0..n).map(|i| i as f64).collect();
        for (name, backend) in [
            ("simple", DenseLuBackend::Simple),
            ("nalgebra_kernel", DenseLuBackend::Nalgebra),
            ("faer", DenseLuBackend::Faer),
        ] {
            let mut lu = DenseLu::with_backend(n, backend);
            let mut x = b.clone();
            g.bench_with_input(BenchmarkId::new(name, n), &n, |bch, _| {
                bch.iter(|| {
                    lu.factor(black_box(&a)).expect("well-conditioned");
                    x.copy_from_slice(&b);
                    lu.solve_in_place(&mut x).expect("factored");
                    black_box(&x);
                })
            });
        }
        let na = nalgebra::DMatrix::from_column_slice(n, n, a.as_slice());
        let nb = nalgebra::DVector::from_column_slice(&b);
        let mut x = nb.clone();
        g.bench_with_input(BenchmarkId::new("nalgebra", n), &n, |bch, _| {
            bch.iter(|| {
                let lu = nalgebra::linalg::LU::new(black_box(&na).clone());
                x.copy_from(&nb);
                lu.solve_mut(&mut x);
                black_box(&x);
            })
        });
    }
    g.finish();
}

/// The 2-D Brusselator on an `m × m` periodic grid (as in the tests): the W2b workload's pattern.
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
        for i in 0..m {
            for j in 0..m {
                let k = i * m + j;
                let nb = [
                    ((i + 1) % m) * m + j,
                    ((i + m - 1) % m) * m + j,
                    i * m + (j + 1) % m,
                    i * m + (j + m - 1) % m,
                ];
                let lap = |o: usize| {
                    nb.iter()
                        .fold(S::cst(-4.0) * y[o + k], |s, &c| s + y[o + c])
                };
                let (u, v) = (y[k], y[nn + k]);
                let u2v = u * u * v;
                dy[k] = S::cst(1.0) + u2v - S::cst(4.4) * u + p[0] * h2 * lap(0);
                dy[nn + k] = S::cst(3.4) * u - u2v + p[0] * h2 * lap(nn);
            }
        }
    }
}

fn sparse(c: &mut Criterion) {
    let mut g = c.benchmark_group("brusselator_sparse");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    for m in [16usize, 32] {
        let n = 2 * m * m;
        let bruss = Bruss { m };
        let y: Vec<f64> = (0..n).map(|i| 1.0 + 0.1 * ((i % 7) as f64)).collect();
        let p = [0.02];
        let jp = Arc::new(detect_sparsity(&bruss, 0.0, &y, &p).expect("sizes match"));
        let wp = Arc::new(jp.with_diagonal());
        let mut ws = DualJacobianScratch::new(&bruss, jp.clone()).expect("square");
        let mut j = SparseMatrix::zeros(jp.clone());
        g.bench_with_input(BenchmarkId::new("dual_jacobian_coloured", n), &n, |b, _| {
            b.iter(|| dual_jacobian_coloured(&bruss, 0.0, &y, &p, &mut ws, &mut j).expect("ok"))
        });
        let mut w = SparseMatrix::zeros(wp.clone());
        w.set_identity_minus_scaled(0.01, &j).expect("pattern");
        let mut lu = SparseLu::new(&wp).expect("analysis");
        let rhs: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let mut x = rhs.clone();
        g.bench_with_input(BenchmarkId::new("sparse_lu_factor_solve", n), &n, |b, _| {
            b.iter(|| {
                lu.factor(black_box(&w)).expect("nonsingular");
                x.copy_from_slice(&rhs);
                lu.solve_in_place(&mut x).expect("finite");
            })
        });
        lu.factor(&w).expect("nonsingular");
        g.bench_with_input(BenchmarkId::new("sparse_lu_solve", n), &n, |b, _| {
            b.iter(|| {
                x.copy_from_slice(&rhs);
                lu.solve_in_place(&mut x).expect("finite");
            })
        });
        let mut gm = Gmres::new(n, 30);
        gm.set_rtol(1e-8);
        g.bench_with_input(
            BenchmarkId::new("gmres30_unpreconditioned", n),
            &n,
            |b, _| {
                b.iter(|| {
                    x.iter_mut().for_each(|v| *v = 0.0);
                    let mut mv = |v: &[f64], o: &mut [f64]| w.mul_vec_to(v, o);
                    gm.solve(&mut mv, None, &rhs, &mut x).expect("converges")
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, dense, sparse);
criterion_main!(benches);
