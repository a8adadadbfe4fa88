//! `Layer::jvp_dirs` and `Layer::vjp_tangent_dirs` (several directions in one pass) against one
//! `jvp` / `vjp_tangent` call per direction, which `nn_vjp_tangent.rs` checks against dual
//! numbers and central differences. Values, tangents and per-direction cotangents keep each
//! direction's summation order (compared bitwise); the tangent summed over the directions and
//! the parameter term add in another order (compared to rounding).
//!
//! The multi-direction workspace has exactly `dirs_workspace_len` scalars, NaN-filled, so a pass
//! reading scratch it did not write, or needing more than it asked for, fails.

#![allow(clippy::unwrap_used)]

use diffeqflux::nn::{Activation, ActivationLayer, Chain, Dense, Input, Layer, Scale};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Real, Scalar};

fn normals<S: Scalar>(rng: &mut Xoshiro256pp, n: usize) -> Vec<S> {
    (0..n).map(|_| S::cst(rng.normal())).collect()
}

/// The outputs of both forms, per direction and at once: `(y, ydot, xbar, xbar_dot, pbar_dot)`.
type Outputs<S> = (Vec<S>, Vec<S>, Vec<S>, Vec<S>, Vec<S>);

fn run<L: Layer, S: Scalar>(
    layer: &L,
    batch: usize,
    ndir: usize,
    seed: u64,
) -> (Outputs<S>, Outputs<S>) {
    let mut rng = Xoshiro256pp::new(seed);
    let (ni, no) = (layer.in_dim() * batch, layer.out_dim() * batch);
    let mut p: Vec<S> = layer
        .initial_params(&mut rng)
        .iter()
        .map(|v| S::cst(*v))
        .collect();
    for v in p.iter_mut() {
        *v += S::cst(0.3 * rng.normal());
    }
    let x = normals::<S>(&mut rng, ni);
    let xdot = normals::<S>(&mut rng, ni * ndir);
    let ybar = normals::<S>(&mut rng, no * ndir);
    let ybar_dot = normals::<S>(&mut rng, no);
    let pbar0 = normals::<S>(&mut rng, layer.nparams());
    let nan = S::cst(f64::NAN);
    let inp = Input {
        x: &x,
        batch,
        p: &p,
    };

    // One call per direction.
    let ws_len = layer
        .workspace_len(batch)
        .max(layer.tangent_workspace_len(batch));
    let mut ws = vec![nan; ws_len];
    let (mut y1, mut yd1) = (vec![nan; no], vec![nan; no * ndir]);
    let (mut xb1, mut xbd1, mut pbd1) = (vec![nan; ni * ndir], vec![S::zero(); ni], pbar0.clone());
    // The cotangent tangent on the first direction, zero on the others; tangents summed.
    let (zeros, mut one_xbd) = (vec![S::zero(); no], vec![nan; ni]);
    for d in 0..ndir {
        let (i, o) = (d * ni..(d + 1) * ni, d * no..(d + 1) * no);
        layer.jvp(
            inp,
            &xdot[i.clone()],
            None,
            &mut y1,
            &mut yd1[o.clone()],
            &mut ws,
        );
        layer.vjp_tangent(
            inp,
            &xdot[i.clone()],
            None,
            &ybar[o],
            if d == 0 { &ybar_dot } else { &zeros },
            &mut xb1[i],
            &mut one_xbd,
            &mut pbd1,
            &mut ws,
        );
        for (s, v) in xbd1.iter_mut().zip(&one_xbd) {
            *s += *v;
        }
    }

    // All at once.
    let mut ws = vec![nan; layer.dirs_workspace_len(batch, ndir)];
    let (mut y2, mut yd2) = (vec![nan; no], vec![nan; no * ndir]);
    let (mut xb2, mut xbd2, mut pbd2) = (vec![nan; ni * ndir], vec![nan; ni], pbar0);
    layer.jvp_dirs(inp, ndir, &xdot, &mut y2, &mut yd2, &mut ws);
    ws.iter_mut().for_each(|v| *v = nan);
    layer.vjp_tangent_dirs(
        inp,
        ndir,
        &xdot,
        None,
        (&ybar, &ybar_dot),
        &mut xb2,
        &mut xbd2,
        &mut pbd2,
        &mut ws,
    );
    ((y1, yd1, xb1, xbd1, pbd1), (y2, yd2, xb2, xbd2, pbd2))
}

/// Bitwise equality of the values, tangents and cotangents, agreement to `tol` relative to the
/// largest entry of the summed tangents, and no NaN (scratch read before written).
fn assert_same<S: Scalar + std::fmt::Debug>(a: &Outputs<S>, b: &Outputs<S>, tol: f64, what: &str) {
    let exact = [
        ("y", &a.0, &b.0),
        ("ydot", &a.1, &b.1),
        ("xbar", &a.2, &b.2),
    ];
    for (name, u, v) in exact {
        assert!(
            u.iter().all(|s| s.is_finite_all()),
            "{what}: {name} has NaN"
        );
        assert_eq!(u, v, "{what}: {name} differs");
    }
    for (name, u, v) in [("xbar_dot", &a.3, &b.3), ("pbar_dot", &a.4, &b.4)] {
        let f = |s: &S| s.re().to_f64_lossy();
        let scale = u.iter().map(|s| f(s).abs()).fold(1e-300, f64::max);
        let err = u
            .iter()
            .zip(v)
            .map(|(p, q)| (f(p) - f(q)).abs())
            .fold(
                0.0,
                |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
            );
        assert!(
            err.is_finite() && err <= tol * scale,
            "{what}: {name} off by {err:e} (scale {scale:e})"
        );
    }
}

fn check<L: Layer>(layer: &L, what: &str) {
    // Batches below and above the size where the dense products change form, and two with
    // several register tiles of samples (one with a short last tile).
    for (batch, ndir, seed) in [
        (1, 2, 1),
        (3, 3, 2),
        (5, 2, 3),
        (9, 1, 4),
        (64, 2, 8),
        (75, 3, 9),
    ] {
        let (a, b) = run::<L, f64>(layer, batch, ndir, seed);
        assert_same(
            &a,
            &b,
            1e-13,
            &format!("{what} f64 batch {batch} ndir {ndir}"),
        );
        let (a, b) = run::<L, f32>(layer, batch, ndir, seed);
        assert_same(
            &a,
            &b,
            1e-5,
            &format!("{what} f32 batch {batch} ndir {ndir}"),
        );
    }
}

#[test]
fn dense_directions_at_once_equal_one_call_each() {
    for act in [
        Activation::Identity,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
    ] {
        // 9 outputs: the register-blocked products; 3: the dot-product ones.
        check(&Dense::new(3, 9, act), &format!("Dense(3, 9, {act:?})"));
        check(&Dense::new(9, 3, act), &format!("Dense(9, 3, {act:?})"));
    }
    check(
        &Dense::new(4, 8, Activation::Tanh).use_bias(false),
        "Dense without bias",
    );
}

#[test]
fn chains_directions_at_once_equal_one_call_each() -> Result<(), Box<dyn std::error::Error>> {
    // The W5 network's shape, smaller: [z; t] -> hidden -> hidden -> z.
    let mlp = Chain::new((
        Dense::new(3, 16, Activation::Tanh),
        Dense::new(16, 16, Activation::Tanh),
        Dense::new(16, 2, Activation::Identity),
    ))?;
    check(&mlp, "MLP 3-16-16-2");
    // Layers on the per-direction defaults inside a chain.
    let mixed = Chain::new((
        Scale::new(3, Activation::Identity),
        Dense::new(3, 8, Activation::Gelu),
        ActivationLayer::new(8, Activation::Swish),
        Dense::new(8, 3, Activation::Tanh),
    ))?;
    check(&mixed, "Scale-Dense-Activation-Dense");
    Ok(())
}

/// `vjp_tangent_dirs_from_tape` with an empty `xbar` (the caller needs no input cotangents):
/// `xbar_dot` and `pbar_dot` bitwise those of the call that fills `xbar`, whether the first
/// layer skips them (`Dense`), computes them into scratch (`Scale`), or the layer keeps no tape
/// (a bare `ActivationLayer` on the trait's default).
fn check_empty_xbar<L: Layer>(layer: &L, what: &str) {
    for (batch, ndir, seed) in [(1, 2, 5), (9, 2, 6), (4, 1, 7)] {
        let mut rng = Xoshiro256pp::new(seed);
        let (ni, no) = (layer.in_dim() * batch, layer.out_dim() * batch);
        let p: Vec<f64> = layer
            .initial_params(&mut rng)
            .iter()
            .map(|v| v + 0.3 * rng.normal())
            .collect();
        let x = normals::<f64>(&mut rng, ni);
        let xdot = normals::<f64>(&mut rng, ni * ndir);
        let ybar = normals::<f64>(&mut rng, no * ndir);
        let ybar_dot = normals::<f64>(&mut rng, no);
        let inp = Input {
            x: &x,
            batch,
            p: &p,
        };
        let mut ws = vec![f64::NAN; layer.dirs_workspace_len(batch, ndir)];
        let mut tape = vec![f64::NAN; layer.dirs_tape_len(batch, ndir)];
        let (mut y, mut yd) = (vec![0.0; no], vec![0.0; no * ndir]);
        layer.jvp_dirs_tape(inp, ndir, &xdot, &mut y, &mut yd, &mut tape, &mut ws);
        let mut grads = |want_xbar: bool| {
            let mut xb = vec![f64::NAN; if want_xbar { ni * ndir } else { 0 }];
            let (mut xbd, mut pbd) = (vec![f64::NAN; ni], vec![0.5; layer.nparams()]);
            let yb = (&ybar[..], &ybar_dot[..]);
            layer.vjp_tangent_dirs_from_tape(
                inp, ndir, &xdot, &tape, yb, &mut xb, &mut xbd, &mut pbd, &mut ws,
            );
            (xbd, pbd)
        };
        let (full, skipped) = (grads(true), grads(false));
        assert!(full.0.iter().all(|v| v.is_finite()), "{what}: NaN");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&full.0),
            bits(&skipped.0),
            "{what}: xbar_dot ({batch}, {ndir})"
        );
        assert_eq!(
            bits(&full.1),
            bits(&skipped.1),
            "{what}: pbar_dot ({batch}, {ndir})"
        );
    }
}

#[test]
fn an_empty_xbar_skips_the_input_cotangents_and_changes_nothing_else(
) -> Result<(), Box<dyn std::error::Error>> {
    let mlp = Chain::new((
        Dense::new(3, 16, Activation::Tanh),
        Dense::new(16, 16, Activation::Tanh),
        Dense::new(16, 2, Activation::Identity),
    ))?;
    check_empty_xbar(&mlp, "MLP 3-16-16-2");
    let scaled = Chain::new((
        Scale::new(3, Activation::Identity),
        Dense::new(3, 8, Activation::Tanh),
    ))?;
    check_empty_xbar(&scaled, "Scale-Dense");
    check_empty_xbar(
        &ActivationLayer::new(3, Activation::Swish),
        "ActivationLayer",
    );
    check_empty_xbar(&Dense::new(3, 9, Activation::Tanh), "Dense");
    Ok(())
}
