//! Criterion benches of the explicit Runge–Kutta engine: workload W1 (Lotka–Volterra, rtol 1e-6,
//! atol 1e-8, 100 saved points) for each adaptive method, and the cost of one step.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use sciml_ode::{
    Dp5, FnField, MethodInfo, OdeProblem, RkMethod, SaveAt, SolveOptions, Tsit5, Vern7, Vern9,
};
use std::hint::black_box;

fn lv() -> impl sciml_ode::VectorField<V = Vec<f64>, P = Vec<f64>> {
    FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = 1.5 * u[0] - u[0] * u[1];
        du[1] = -3.0 * u[1] + u[0] * u[1];
    })
}

fn bench_w1<M: RkMethod>(c: &mut Criterion, m: M) {
    let times: Vec<f64> = (0..100).map(|i| 10.0 * i as f64 / 99.0).collect();
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(times));
    let mut prob =
        OdeProblem::new(lv(), vec![1.0, 1.0], (0.0, 10.0), vec![]).expect("valid problem");
    c.bench_function(&format!("W1 lotka_volterra {}", m.name()), |b| {
        b.iter(|| black_box(prob.solve(m.clone(), &opts).expect("solves")))
    });
}

fn w1(c: &mut Criterion) {
    bench_w1(c, Tsit5);
    bench_w1(c, Dp5);
    bench_w1(c, Vern7);
    bench_w1(c, Vern9);
}

fn fixed_steps(c: &mut Criterion) {
    let opts = SolveOptions::default()
        .fixed_step(0.01)
        .saveat(SaveAt::Times(vec![10.0]));
    let mut prob =
        OdeProblem::new(lv(), vec![1.0, 1.0], (0.0, 10.0), vec![]).expect("valid problem");
    c.bench_function("1000 fixed Tsit5 steps, 2 states", |b| {
        b.iter(|| black_box(prob.solve(Tsit5, &opts).expect("solves")))
    });
}

criterion_group!(benches, w1, fixed_steps);
criterion_main!(benches);
