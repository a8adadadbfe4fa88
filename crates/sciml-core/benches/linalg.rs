//! Dense LU kernels (factor + one solve) at the sizes stiff solvers meet: the in-crate simple
//! kernel, faer's blocked in-place LU (both through `DenseLu`, allocation-free), and nalgebra's
//! `LU` (which takes its matrix by value, so each call includes one `n × n` copy, as a Newton
//! iteration would need). Picks `DENSE_LU_FAER_MIN_N`. Also times the sparse LU and GMRES on a
//! 2-D Laplacian.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sciml_core::linalg::{DenseLu, DenseLuBackend};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::DenseMatrix;
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
    for n in [3usize, 10, 20, 50, 100, 200] {
        let a = matrix(n);
        let b: Vec<f64> = (0..n).map(|i| i as f64).collect();
        for (name, backend) in [
            ("simple", DenseLuBackend::Simple),
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

criterion_group!(benches, dense);
criterion_main!(benches);
