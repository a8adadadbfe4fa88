//! Criterion benches of the native layers on the 2-50-2 tanh MLP
//! `Chain(Dense(2, 50, tanh), Dense(50, 2))` at batch 1 and 512: forward, VJP (forward recompute
//! plus reverse, in input and parameters) and JVP, side by side with a hand-written scalar version
//! of the same VJP (plain loops, libm `tanh`), and the vectorised `tanh_slice` against libm.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use diffeqflux::nn::{Activation, Chain, Dense, Input, Layer};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use std::hint::black_box;

const H: usize = 50;

/// The same network's VJP written out by hand (W row-major out×in, as the layers store it).
fn hand_vjp(p: &[f64], x: &[f64], ybar: &[f64], xbar: &mut [f64], pbar: &mut [f64], h: &mut [f64]) {
    let (w1, rest) = p.split_at(2 * H);
    let (b1, rest) = rest.split_at(H);
    let (w2, b2) = rest.split_at(2 * H);
    let (gw1, rest) = pbar.split_at_mut(2 * H);
    let (gb1, rest) = rest.split_at_mut(H);
    let (gw2, gb2) = rest.split_at_mut(2 * H);
    let batch = x.len() / 2;
    for s in 0..batch {
        let xs = &x[2 * s..2 * s + 2];
        for i in 0..H {
            h[i] = (w1[2 * i] * xs[0] + w1[2 * i + 1] * xs[1] + b1[i]).tanh();
        }
        let yb = &ybar[2 * s..2 * s + 2];
        for o in 0..2 {
            gb2[o] += yb[o];
            for i in 0..H {
                gw2[o * H + i] += yb[o] * h[i];
            }
        }
        let (mut xb0, mut xb1) = (0.0, 0.0);
        for i in 0..H {
            let hb = w2[i] * yb[0] + w2[H + i] * yb[1];
            let zb = hb * (1.0 - h[i] * h[i]);
            gb1[i] += zb;
            gw1[2 * i] += zb * xs[0];
            gw1[2 * i + 1] += zb * xs[1];
            xb0 += w1[2 * i] * zb;
            xb1 += w1[2 * i + 1] * zb;
        }
        xbar[2 * s] = xb0;
        xbar[2 * s + 1] = xb1;
    }
    let _ = b2;
}

fn mlp(c: &mut Criterion) {
    let net = Chain::new((
        Dense::new(2, H, Activation::Tanh),
        Dense::new(H, 2, Activation::Identity),
    ))
    .expect("dimensions match");
    let p = net.initial_params(&mut Xoshiro256pp::new(0));
    for batch in [1usize, 512] {
        let mut rng = Xoshiro256pp::new(1);
        let x: Vec<f64> = (0..2 * batch).map(|_| rng.normal()).collect();
        let ybar: Vec<f64> = (0..2 * batch).map(|_| rng.normal()).collect();
        let mut ws = vec![0.0; net.workspace_len(batch)];
        let mut y = vec![0.0; 2 * batch];
        let mut ydot = vec![0.0; 2 * batch];
        let mut xbar = vec![0.0; 2 * batch];
        let mut pbar = vec![0.0; p.len()];
        let inp = Input {
            x: &x,
            batch,
            p: &p,
        };
        c.bench_function(&format!("mlp 2-50-2 forward batch {batch}"), |b| {
            b.iter(|| net.forward(black_box(inp), &mut y, &mut ws))
        });
        c.bench_function(&format!("mlp 2-50-2 vjp batch {batch}"), |b| {
            b.iter(|| {
                net.vjp(
                    black_box(inp),
                    black_box(&ybar),
                    &mut xbar,
                    &mut pbar,
                    &mut ws,
                )
            })
        });
        c.bench_function(&format!("mlp 2-50-2 jvp (x only) batch {batch}"), |b| {
            b.iter(|| {
                net.jvp(
                    black_box(inp),
                    black_box(&ybar),
                    None,
                    &mut y,
                    &mut ydot,
                    &mut ws,
                )
            })
        });
        let mut h = vec![0.0; H];
        c.bench_function(
            &format!("mlp 2-50-2 vjp hand-written scalar batch {batch}"),
            |b| {
                b.iter(|| {
                    hand_vjp(
                        black_box(&p),
                        black_box(&x),
                        black_box(&ybar),
                        &mut xbar,
                        &mut pbar,
                        &mut h,
                    )
                })
            },
        );
    }
}

fn tanh(c: &mut Criterion) {
    let mut rng = Xoshiro256pp::new(2);
    let xs: Vec<f64> = (0..H * 512).map(|_| 3.0 * rng.normal()).collect();
    let mut buf = xs.clone();
    c.bench_function("tanh 25600 f64: tanh_slice", |b| {
        b.iter(|| {
            buf.copy_from_slice(&xs);
            f64::tanh_slice(black_box(&mut buf));
        })
    });
    c.bench_function("tanh 25600 f64: libm", |b| {
        b.iter(|| {
            for (o, &v) in buf.iter_mut().zip(&xs) {
                *o = black_box(v).tanh();
            }
        })
    });
}

criterion_group!(benches, mlp, tanh);
criterion_main!(benches);
