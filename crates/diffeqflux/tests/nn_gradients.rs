//! Every layer's reverse (VJP) and forward (JVP) passes against central finite differences, their
//! mutual consistency, and forward mode through dual numbers, at batch 1 and at larger batches.
//!
//! The harness fills workspaces and input-gradient buffers with NaN before each call (so a pass
//! that reads scratch it did not write, or accumulates into `xbar`, fails), gives `pbar` a random
//! start (so a pass that overwrites instead of accumulating fails), and passes workspaces of
//! exactly `workspace_len(batch)` scalars.

#![allow(clippy::unwrap_used)]

use diffeqflux::nn::{
    Activation, ActivationLayer, Chain, Combine, Dense, ElementwiseFn, Input, Layer, Parallel,
    Scale, SkipConnection, WrappedFunction,
};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Dual64, Scalar};

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

fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// `y = layer(x; p)` with a fresh NaN-filled workspace.
fn forward<L: Layer>(l: &L, x: &[f64], p: &[f64], batch: usize) -> Vec<f64> {
    let mut y = vec![f64::NAN; l.out_dim() * batch];
    let mut ws = vec![f64::NAN; l.workspace_len(batch)];
    l.forward(Input { x, batch, p }, &mut y, &mut ws);
    y
}

/// `|a − b|∞ ≤ rtol · max(|b|∞, floor)`, with a message.
fn assert_close(what: &str, a: &[f64], b: &[f64], rtol: f64, floor: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let err = a
        .iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()));
    let scale = max_abs(b).max(floor);
    assert!(
        err <= rtol * scale,
        "{what}: max error {err:e} > {rtol:e} × {scale:e}\n got  {a:?}\n want {b:?}"
    );
}

/// The whole check for one layer at one batch size.
fn check<L: Layer>(label: &str, l: &L, batch: usize, seed: u64) {
    let label = format!("{label} (batch {batch})");
    let mut rng = Xoshiro256pp::new(seed);
    let (ni, no, np) = (l.in_dim() * batch, l.out_dim() * batch, l.nparams());
    let x = normals(&mut rng, ni, 1.0);
    let p = normals(&mut rng, np, 0.5);
    let ybar = normals(&mut rng, no, 1.0);
    let xdot = normals(&mut rng, ni, 1.0);
    let pdot = normals(&mut rng, np, 1.0);
    let pbar0 = normals(&mut rng, np, 1.0);
    let inp = Input {
        x: &x,
        batch,
        p: &p,
    };
    l.check_input(&inp).unwrap();
    let y = forward(l, &x, &p, batch);
    assert!(
        y.iter().all(|v| v.is_finite()),
        "{label}: forward gave {y:?}"
    );

    // Reverse mode.
    let mut xbar = vec![f64::NAN; ni];
    let mut pbar = pbar0.clone();
    let mut ws = vec![f64::NAN; l.workspace_len(batch)];
    l.vjp(inp, &ybar, &mut xbar, &mut pbar, &mut ws);
    for (g, g0) in pbar.iter_mut().zip(&pbar0) {
        *g -= g0;
    }
    // The same VJP again on the dirty workspace gives the same result.
    let mut xbar2 = vec![f64::NAN; ni];
    let mut pbar2 = vec![0.0; np];
    l.vjp(inp, &ybar, &mut xbar2, &mut pbar2, &mut ws);
    assert_eq!(xbar, xbar2, "{label}: vjp not repeatable");

    // Central differences of ⟨ybar, f⟩ in each input and parameter.
    let h = 1e-5;
    let loss = |x: &[f64], p: &[f64]| dot(&ybar, &forward(l, x, p, batch));
    let fd_x: Vec<f64> = (0..ni)
        .map(|i| {
            let (mut a, mut b) = (x.clone(), x.clone());
            a[i] += h;
            b[i] -= h;
            (loss(&a, &p) - loss(&b, &p)) / (2.0 * h)
        })
        .collect();
    let fd_p: Vec<f64> = (0..np)
        .map(|i| {
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += h;
            b[i] -= h;
            (loss(&x, &a) - loss(&x, &b)) / (2.0 * h)
        })
        .collect();
    assert_close(&format!("{label}: xbar vs FD"), &xbar, &fd_x, 1e-7, 1e-3);
    if np > 0 {
        assert_close(&format!("{label}: pbar vs FD"), &pbar, &fd_p, 1e-7, 1e-3);
    }

    // Forward mode, with and without a parameter tangent.
    let mut yj = vec![f64::NAN; no];
    let mut ydot = vec![f64::NAN; no];
    let mut ws = vec![f64::NAN; l.workspace_len(batch)];
    l.jvp(inp, &xdot, Some(&pdot), &mut yj, &mut ydot, &mut ws);
    assert_close(&format!("{label}: jvp y"), &yj, &y, 1e-15, 1.0);
    let shift = |s: f64| {
        let xs: Vec<f64> = x.iter().zip(&xdot).map(|(a, d)| a + s * d).collect();
        let ps: Vec<f64> = p.iter().zip(&pdot).map(|(a, d)| a + s * d).collect();
        forward(l, &xs, &ps, batch)
    };
    let (yp, ym) = (shift(h), shift(-h));
    let fd_dir: Vec<f64> = yp
        .iter()
        .zip(&ym)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    assert_close(&format!("{label}: ydot vs FD"), &ydot, &fd_dir, 1e-7, 1e-3);

    let mut ydot_x = vec![f64::NAN; no];
    l.jvp(inp, &xdot, None, &mut yj, &mut ydot_x, &mut ws);
    let fd_x_dir: Vec<f64> = {
        let xp: Vec<f64> = x.iter().zip(&xdot).map(|(a, d)| a + h * d).collect();
        let xm: Vec<f64> = x.iter().zip(&xdot).map(|(a, d)| a - h * d).collect();
        let (a, b) = (forward(l, &xp, &p, batch), forward(l, &xm, &p, batch));
        a.iter().zip(&b).map(|(u, v)| (u - v) / (2.0 * h)).collect()
    };
    assert_close(
        &format!("{label}: ydot (x only) vs FD"),
        &ydot_x,
        &fd_x_dir,
        1e-7,
        1e-3,
    );

    // ⟨ybar, J [xdot; pdot]⟩ = ⟨Jᵀ ybar, [xdot; pdot]⟩.
    let lhs = dot(&ybar, &ydot);
    let rhs = dot(&xbar, &xdot) + dot(&pbar, &pdot);
    let scale = max_abs(&ybar) * max_abs(&ydot) * no as f64;
    assert!(
        (lhs - rhs).abs() <= 1e-12 * scale.max(1.0),
        "{label}: <ybar, J v> = {lhs} but <J^T ybar, v> = {rhs}"
    );

    // Forward through dual numbers equals the JVP.
    let xd: Vec<Dual64> = x
        .iter()
        .zip(&xdot)
        .map(|(&a, &d)| Dual64::new(a, d))
        .collect();
    let pd: Vec<Dual64> = p
        .iter()
        .zip(&pdot)
        .map(|(&a, &d)| Dual64::new(a, d))
        .collect();
    let mut yd = vec![Dual64::cst(f64::NAN); no];
    let mut wsd = vec![Dual64::cst(f64::NAN); l.workspace_len(batch)];
    l.forward(
        Input {
            x: &xd,
            batch,
            p: &pd,
        },
        &mut yd,
        &mut wsd,
    );
    let re: Vec<f64> = yd.iter().map(|v| v.re()).collect();
    let eps: Vec<f64> = yd.iter().map(|v| v.eps()).collect();
    assert_close(&format!("{label}: dual value"), &re, &y, 1e-14, 1.0);
    assert_close(
        &format!("{label}: dual tangent vs jvp"),
        &eps,
        &ydot,
        1e-13,
        1.0,
    );

    // Reverse mode in dual numbers: value parts as in f64.
    let ybd: Vec<Dual64> = ybar.iter().map(|&v| Dual64::cst(v)).collect();
    let mut xbd = vec![Dual64::cst(f64::NAN); ni];
    let mut pbd = vec![Dual64::cst(0.0); np];
    l.vjp(
        Input {
            x: &xd,
            batch,
            p: &pd,
        },
        &ybd,
        &mut xbd,
        &mut pbd,
        &mut wsd,
    );
    let xb_re: Vec<f64> = xbd.iter().map(|v| v.re()).collect();
    assert_close(
        &format!("{label}: dual vjp value"),
        &xb_re,
        &xbar,
        1e-13,
        1.0,
    );

    // f32 runs and agrees to single precision.
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let mut y32 = vec![0.0_f32; no];
    let mut ws32 = vec![f32::NAN; l.workspace_len(batch)];
    l.forward(
        Input {
            x: &x32,
            batch,
            p: &p32,
        },
        &mut y32,
        &mut ws32,
    );
    let y32: Vec<f64> = y32.iter().map(|&v| f64::from(v)).collect();
    assert_close(&format!("{label}: f32 forward"), &y32, &y, 1e-5, 1.0);
}

fn check_batches<L: Layer>(label: &str, l: &L) {
    for (batch, seed) in [(1, 11), (5, 12)] {
        check(label, l, batch, seed);
    }
}

#[test]
fn dense_every_activation_with_and_without_bias() {
    for act in ACTIVATIONS {
        check_batches(&format!("Dense(3, 4, {act:?})"), &Dense::new(3, 4, act));
        check_batches(
            &format!("Dense(4, 2, {act:?}) no bias"),
            &Dense::new(4, 2, act).use_bias(false),
        );
    }
}

#[test]
fn dense_blocked_kernel_shapes() {
    // Wide outputs (transposed forward), wide inputs (axpy reverse), remainders of every block.
    for &(i, o) in &[(2, 50), (50, 2), (9, 13), (1, 17), (17, 1), (8, 8)] {
        let d = Dense::new(i, o, Activation::Tanh);
        for batch in [1, 3, 4, 7] {
            check(
                &format!("Dense({i}, {o}, tanh)"),
                &d,
                batch,
                20 + batch as u64,
            );
        }
    }
}

#[test]
fn activation_layers() {
    for act in ACTIVATIONS {
        check_batches(&format!("{act:?} layer"), &act.layer(3));
    }
    check_batches(
        "ActivationLayer::new",
        &ActivationLayer::new(2, Activation::Gelu),
    );
}

#[test]
fn scale_layers() {
    for act in [Activation::Identity, Activation::Tanh, Activation::Softplus] {
        check_batches(&format!("Scale(3, {act:?})"), &Scale::new(3, act));
        check_batches(
            &format!("Scale(3, {act:?}) no bias"),
            &Scale::new(3, act).use_bias(false),
        );
    }
}

struct Cube;
impl ElementwiseFn for Cube {
    fn f<S: Scalar>(&self, x: S) -> S {
        x * x * x
    }
    fn df<S: Scalar>(&self, x: S) -> S {
        x * x * S::cst(3.0)
    }
}

/// Derivative by dual numbers (the trait's default).
struct SinTimesExp;
impl ElementwiseFn for SinTimesExp {
    fn f<S: Scalar>(&self, x: S) -> S {
        x.sin() * (x * S::cst(0.3)).exp()
    }
}

#[test]
fn wrapped_functions() {
    check_batches("WrappedFunction(x^3)", &WrappedFunction::new(3, Cube));
    check_batches(
        "WrappedFunction(sin x e^0.3x)",
        &WrappedFunction::new(2, SinTimesExp),
    );
}

#[test]
fn chains() {
    let mlp = Chain::new((
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))
    .unwrap();
    check_batches("Chain 2-50-2", &mlp);
    let mixed = Chain::new((
        Dense::new(3, 5, Activation::Softplus),
        Scale::new(5, Activation::Gelu),
        WrappedFunction::new(5, Cube),
        Activation::Swish.layer(5),
        Dense::new(5, 2, Activation::Identity).use_bias(false),
    ))
    .unwrap();
    check_batches("Chain mixed", &mixed);
    let nested = Chain::new((
        Dense::new(2, 4, Activation::Tanh),
        Chain::new((
            Dense::new(4, 4, Activation::Sigmoid),
            Dense::new(4, 3, Activation::Relu),
        ))
        .unwrap(),
        Dense::new(3, 1, Activation::Identity),
    ))
    .unwrap();
    check_batches("Chain nested", &nested);
    let single = Chain::new((Dense::new(3, 2, Activation::Elu(1.0)),)).unwrap();
    check_batches("Chain of one", &single);
}

#[test]
fn parallel_and_skip() {
    let sum = Parallel::new(
        Combine::Sum,
        (
            Dense::new(3, 4, Activation::Tanh),
            Dense::new(3, 4, Activation::Swish),
            Chain::new((
                Dense::new(3, 2, Activation::Identity),
                Dense::new(2, 4, Activation::Sigmoid),
            ))
            .unwrap(),
        ),
    )
    .unwrap();
    check_batches("Parallel sum", &sum);
    let cat = Parallel::new(
        Combine::Concat,
        (
            Dense::new(3, 2, Activation::Tanh),
            Scale::new(3, Activation::Softplus),
            Dense::new(3, 1, Activation::Identity),
        ),
    )
    .unwrap();
    check_batches("Parallel concat", &cat);
    let res = SkipConnection::new(
        Chain::new((
            Dense::new(3, 6, Activation::Gelu),
            Dense::new(6, 3, Activation::Identity),
        ))
        .unwrap(),
        Combine::Sum,
    )
    .unwrap();
    check_batches("SkipConnection sum", &res);
    let skip_cat =
        SkipConnection::new(Dense::new(3, 2, Activation::Tanh), Combine::Concat).unwrap();
    check_batches("SkipConnection concat", &skip_cat);
    let deep = Chain::new((
        Dense::new(2, 3, Activation::Tanh),
        res,
        cat,
        Dense::new(6, 2, Activation::Identity),
    ))
    .unwrap();
    check_batches("Chain of containers", &deep);
}

#[test]
fn vjp_through_forward_tape_and_backward_equals_vjp() {
    // A chain calls its layers' forward_tape/backward; the layers' own vjp recompute. Both agree.
    let d = Dense::new(4, 6, Activation::Gelu);
    let batch = 3;
    let mut rng = Xoshiro256pp::new(5);
    let x = normals(&mut rng, 4 * batch, 1.0);
    let p = normals(&mut rng, d.nparams(), 0.5);
    let ybar = normals(&mut rng, 6 * batch, 1.0);
    let inp = Input {
        x: &x,
        batch,
        p: &p,
    };
    let mut ws = vec![f64::NAN; d.workspace_len(batch)];
    let (mut xa, mut pa) = (vec![0.0; 4 * batch], vec![0.0; d.nparams()]);
    d.vjp(inp, &ybar, &mut xa, &mut pa, &mut ws);
    let mut y = vec![0.0; 6 * batch];
    let mut tape = vec![f64::NAN; d.tape_len(batch)];
    d.forward_tape(inp, &mut y, &mut tape, &mut ws);
    assert_eq!(y, forward(&d, &x, &p, batch));
    let (mut xb, mut pb) = (vec![0.0; 4 * batch], vec![0.0; d.nparams()]);
    let t = diffeqflux::nn::LayerTape {
        y: &y,
        saved: &tape,
    };
    d.backward(inp, t, &ybar, &mut xb, &mut pb, &mut ws);
    assert_eq!(xa, xb);
    assert_eq!(pa, pb);
}
