//! `Layer::vjp_tangent` (forward over reverse in plain scalars) against two independent
//! references: the layer's VJP run in dual numbers (input `x + δ·xdot`, cotangent `ybar +
//! δ·ybar_dot`), and central differences of the plain VJP along the same direction.
//!
//! Buffers that the pass overwrites start as NaN and the workspace has exactly
//! `tangent_workspace_len(batch)` scalars (NaN-filled), so a pass reading scratch it did not write
//! fails; `pbar_dot` starts random, so a pass that overwrites instead of accumulating fails.

#![allow(clippy::unwrap_used)]

use diffeqflux::nn::{Activation, ActivationLayer, Chain, Dense, Input, Layer, Scale};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Dual64;

const ACTIVATIONS: [Activation; 9] = [
    Activation::Identity,
    Activation::Tanh,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Softplus,
    Activation::Swish,
    Activation::Gelu,
    Activation::Elu(0.7),
    Activation::LeakyRelu(0.05),
];

fn normals(rng: &mut Xoshiro256pp, n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|_| s * rng.normal()).collect()
}

/// A random point, direction and cotangent for `layer` at `batch`.
struct Case {
    batch: usize,
    x: Vec<f64>,
    xdot: Vec<f64>,
    p: Vec<f64>,
    ybar: Vec<f64>,
    ybar_dot: Vec<f64>,
    pbar0: Vec<f64>,
}

fn case<L: Layer>(layer: &L, batch: usize, seed: u64) -> Case {
    let mut rng = Xoshiro256pp::new(seed);
    let (nin, nout) = (layer.in_dim() * batch, layer.out_dim() * batch);
    let mut p = layer.initial_params(&mut rng);
    // Non-zero biases and scales, so every parameter block matters.
    for v in p.iter_mut() {
        *v += 0.3 * rng.normal();
    }
    Case {
        batch,
        x: normals(&mut rng, nin, 0.8),
        xdot: normals(&mut rng, nin, 1.0),
        ybar: normals(&mut rng, nout, 1.0),
        ybar_dot: normals(&mut rng, nout, 1.0),
        pbar0: normals(&mut rng, layer.nparams(), 1.0),
        p,
    }
}

/// `(xbar, xbar_dot, pbar_dot − pbar0)` from the plain-scalar pass, with or without the
/// forward pass handed in.
fn plain<L: Layer>(layer: &L, c: &Case, with_fwd: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let nin = layer.in_dim() * c.batch;
    let (mut xbar, mut xbar_dot) = (vec![f64::NAN; nin], vec![f64::NAN; nin]);
    let mut pbar_dot = c.pbar0.clone();
    let inp = Input {
        x: &c.x,
        batch: c.batch,
        p: &c.p,
    };
    let nout = layer.out_dim() * c.batch;
    let (mut y, mut ydot) = (vec![0.0; nout], vec![0.0; nout]);
    let mut ws = vec![f64::NAN; layer.workspace_len(c.batch)];
    layer.jvp(inp, &c.xdot, None, &mut y, &mut ydot, &mut ws);
    let fwd = with_fwd.then_some((&y[..], &ydot[..]));
    let mut ws = vec![f64::NAN; layer.tangent_workspace_len(c.batch)];
    layer.vjp_tangent(
        inp,
        &c.xdot,
        fwd,
        &c.ybar,
        &c.ybar_dot,
        &mut xbar,
        &mut xbar_dot,
        &mut pbar_dot,
        &mut ws,
    );
    let pd = pbar_dot.iter().zip(&c.pbar0).map(|(a, b)| a - b).collect();
    (xbar, xbar_dot, pd)
}

/// The same quantities from the VJP in dual numbers.
fn by_duals<L: Layer>(layer: &L, c: &Case) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = |v: &[f64], t: &[f64]| -> Vec<Dual64> {
        v.iter().zip(t).map(|(a, b)| Dual64::new(*a, *b)).collect()
    };
    let (x, yb) = (d(&c.x, &c.xdot), d(&c.ybar, &c.ybar_dot));
    let p: Vec<Dual64> = c.p.iter().map(|v| Dual64::constant(*v)).collect();
    let zero = Dual64::constant(0.0);
    let (mut xb, mut pb) = (vec![zero; x.len()], vec![zero; p.len()]);
    let mut ws = vec![zero; layer.workspace_len(c.batch)];
    let inp = Input {
        x: &x,
        batch: c.batch,
        p: &p,
    };
    layer.vjp(inp, &yb, &mut xb, &mut pb, &mut ws);
    (
        xb.iter().map(|v| v.value()).collect(),
        xb.iter().map(|v| v.eps()).collect(),
        pb.iter().map(|v| v.eps()).collect(),
    )
}

/// Central differences of the plain VJP: `(vjp(x + h xdot, ybar + h ybar_dot) − vjp(x − h …)) / 2h`.
fn by_differences<L: Layer>(layer: &L, c: &Case, h: f64) -> (Vec<f64>, Vec<f64>) {
    let at = |s: f64| {
        let x: Vec<f64> = c.x.iter().zip(&c.xdot).map(|(a, b)| a + s * b).collect();
        let yb: Vec<f64> = c
            .ybar
            .iter()
            .zip(&c.ybar_dot)
            .map(|(a, b)| a + s * b)
            .collect();
        let (mut xb, mut pb) = (vec![0.0; x.len()], vec![0.0; c.p.len()]);
        let mut ws = vec![0.0; layer.workspace_len(c.batch)];
        let inp = Input {
            x: &x,
            batch: c.batch,
            p: &c.p,
        };
        layer.vjp(inp, &yb, &mut xb, &mut pb, &mut ws);
        (xb, pb)
    };
    let ((xp, pp), (xm, pm)) = (at(h), at(-h));
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| (u - v) / (2.0 * h)).collect();
    (diff(&xp, &xm), diff(&pp, &pm))
}

/// Largest `|a − b| / max(1, |b|)`.
fn err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(u, v)| (u - v).abs() / v.abs().max(1.0))
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

/// Checks one layer against dual numbers and differences and prints the largest errors.
/// Checks one layer against dual numbers and differences and prints the largest errors.
fn check<L: Layer>(layer: &L, batch: usize, seed: u64, what: &str) {
    let c = case(layer, batch, seed);
    let (dx, dxd, dpd) = by_duals(layer, &c);
    let mut e_dual = 0.0f64;
    for with_fwd in [false, true] {
        let (x, xd, pd) = plain(layer, &c, with_fwd);
        let e = err(&x, &dx).max(err(&xd, &dxd)).max(err(&pd, &dpd));
        assert!(
            e < 1e-12,
            "{what}, batch {batch}, fwd {with_fwd}: {e:e} from dual numbers"
        );
        e_dual = e_dual.max(e);
    }
    let (_, xd, pd) = plain(layer, &c, false);
    let (fx, fp) = by_differences(layer, &c, 1e-5);
    let e_fd = err(&xd, &fx).max(err(&pd, &fp));
    assert!(
        e_fd < 1e-6,
        "{what}, batch {batch}: {e_fd:e} from central differences"
    );
    println!("{what}, batch {batch}: {e_dual:.1e} from dual numbers, {e_fd:.1e} from differences");
}

#[test]
fn dense_matches_dual_numbers_and_differences_for_every_activation() {
    // Shapes on both sides of the kernels' switches (batch ≥ 4 with ≥ 8 outputs is blocked).
    for (k, act) in ACTIVATIONS.into_iter().enumerate() {
        for (i, (nin, nout, batch)) in [(3, 2, 1), (3, 9, 5), (10, 12, 6), (2, 3, 4)]
            .into_iter()
            .enumerate()
        {
            let seed = 100 * k as u64 + i as u64;
            check(
                &Dense::new(nin, nout, act),
                batch,
                seed,
                &format!("{act:?}"),
            );
            let nb = Dense::new(nin, nout, act).use_bias(false);
            check(&nb, batch, seed + 50, &format!("{act:?} without bias"));
        }
    }
}

#[test]
fn chains_match_dual_numbers_and_differences() -> Result<(), Box<dyn std::error::Error>> {
    // The W5 shape, smaller: [z; t] -> hidden -> hidden -> dz/dt.
    let mlp = Chain::new((
        Dense::new(3, 16, Activation::Tanh),
        Dense::new(16, 16, Activation::Tanh),
        Dense::new(16, 2, Activation::Identity),
    ))?;
    for (batch, seed) in [(1, 1), (7, 2)] {
        check(&mlp, batch, seed, "3-16-16-2 tanh chain");
    }
    // Activations that need the pre-activation, layers on the dual-number default (Scale,
    // ActivationLayer) inside a chain, and a chain nested in a chain.
    let mixed = Chain::new((
        Dense::new(2, 9, Activation::Gelu),
        Scale::new(9, Activation::Softplus),
        ActivationLayer::new(9, Activation::Swish),
        Chain::new((
            Dense::new(9, 4, Activation::Sigmoid),
            Dense::new(4, 3, Activation::Elu(1.0)),
        ))?,
    ))?;
    for (batch, seed) in [(1, 3), (5, 4)] {
        check(&mixed, batch, seed, "mixed chain");
    }
    Ok(())
}

#[test]
fn default_pass_for_other_layers_matches_differences() {
    check(&Scale::new(4, Activation::Tanh), 3, 7, "Scale");
    check(
        &ActivationLayer::new(5, Activation::Gelu),
        2,
        8,
        "ActivationLayer",
    );
}

#[test]
fn f32_pass_agrees_with_f64() -> Result<(), Box<dyn std::error::Error>> {
    let mlp = Chain::new((
        Dense::new(3, 12, Activation::Tanh),
        Dense::new(12, 2, Activation::Identity),
    ))?;
    let c = case(&mlp, 5, 11);
    let (x64, xd64, pd64) = plain(&mlp, &c, false);
    let f = |v: &[f64]| -> Vec<f32> { v.iter().map(|a| *a as f32).collect() };
    let (x, xdot, p, yb, ybd) = (f(&c.x), f(&c.xdot), f(&c.p), f(&c.ybar), f(&c.ybar_dot));
    let (mut xbar, mut xbar_dot) = (vec![0f32; x.len()], vec![0f32; x.len()]);
    let mut pbar_dot = vec![0f32; p.len()];
    let mut ws = vec![0f32; mlp.tangent_workspace_len(c.batch)];
    let inp = Input {
        x: &x,
        batch: c.batch,
        p: &p,
    };
    mlp.vjp_tangent(
        inp,
        &xdot,
        None,
        &yb,
        &ybd,
        &mut xbar,
        &mut xbar_dot,
        &mut pbar_dot,
        &mut ws,
    );
    let g = |v: &[f32]| -> Vec<f64> { v.iter().map(|a| f64::from(*a)).collect() };
    let e = err(&g(&xbar), &x64)
        .max(err(&g(&xbar_dot), &xd64))
        .max(err(&g(&pbar_dot), &pd64));
    assert!(e < 1e-5, "f32 against f64: {e:e}");
    Ok(())
}
