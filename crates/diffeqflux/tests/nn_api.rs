//! Shapes, names and errors of the layers: nested parameter names, contiguous parameter blocks,
//! dimension errors, input checks, serde round trips, batches computed sample by sample, and a
//! property test of the VJP/JVP duality of `Dense` over random shapes.

#![allow(clippy::unwrap_used)]

use diffeqflux::nn::{
    Activation, Chain, Combine, Dense, Input, Layer, LayerError, Parallel, Scale, SkipConnection,
};
use proptest::prelude::*;
use sciml_core::rng::Xoshiro256pp;

fn nested() -> impl Layer {
    Chain::new((
        Dense::new(2, 4, Activation::Tanh),
        Chain::new((
            Dense::new(4, 4, Activation::Gelu),
            Scale::new(4, Activation::Identity).use_bias(false),
        ))
        .unwrap(),
        SkipConnection::new(Dense::new(4, 4, Activation::Relu), Combine::Sum).unwrap(),
        Parallel::new(
            Combine::Concat,
            (
                Dense::new(4, 1, Activation::Identity),
                Dense::new(4, 2, Activation::Sigmoid).use_bias(false),
            ),
        )
        .unwrap(),
    ))
    .unwrap()
}

#[test]
fn nested_parameter_names_and_contiguous_blocks() {
    let net = nested();
    let names = net.param_names();
    let got: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        got,
        [
            "layer_1.weight",
            "layer_1.bias",
            "layer_2.layer_1.weight",
            "layer_2.layer_1.bias",
            "layer_2.layer_2.weight",
            "layer_3.layers.weight",
            "layer_3.layers.bias",
            "layer_4.layer_1.weight",
            "layer_4.layer_1.bias",
            "layer_4.layer_2.weight",
        ]
    );
    // The blocks tile 0..nparams in order.
    let mut end = 0;
    for (n, r) in &names {
        assert_eq!(r.start, end, "{n} does not follow its predecessor");
        end = r.end;
    }
    assert_eq!(end, net.nparams());
    assert_eq!(net.param_range("layer_2.layer_2.weight"), Some(32..36));
    assert_eq!(net.param_range("layer_4.layer_1.bias"), Some(60..61));
    assert_eq!(net.param_range("layer_5.weight"), None);
    assert_eq!((net.in_dim(), net.out_dim()), (2, 3));
}

#[test]
fn dimension_errors() {
    let e = Chain::new((
        Dense::new(2, 3, Activation::Tanh),
        Dense::new(3, 3, Activation::Tanh),
        Dense::new(2, 1, Activation::Tanh),
    ))
    .unwrap_err();
    assert_eq!(
        e,
        LayerError::ChainMismatch {
            index: 2,
            expected: 2,
            found: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "layer 3 of the chain takes 2 features but the layer before it gives 3"
    );
    let e = Parallel::new(
        Combine::Concat,
        (
            Dense::new(2, 3, Activation::Tanh),
            Dense::new(3, 3, Activation::Tanh),
        ),
    )
    .unwrap_err();
    assert!(matches!(
        e,
        LayerError::ConnectionMismatch {
            what: "Parallel input",
            index: 1,
            expected: 2,
            found: 3
        }
    ));
    assert!(SkipConnection::new(Dense::new(3, 2, Activation::Tanh), Combine::Sum).is_err());
    let d = Dense::new(3, 2, Activation::Tanh);
    let p = vec![0.0; 7];
    let e = d
        .check_input(&Input {
            x: &[0.0; 3],
            batch: 1,
            p: &p,
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "p has 7 values; the layer needs 8");
}

#[test]
fn layers_serialise() {
    let d = Dense::new(3, 2, Activation::Elu(0.5)).use_bias(false);
    let s = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<Dense>(&s).unwrap(), d);
    let c = Chain::new((d, Scale::new(2, Activation::LeakyRelu(0.1)))).unwrap();
    let s = serde_json::to_string(&c).unwrap();
    assert_eq!(
        serde_json::from_str::<Chain<(Dense, Scale)>>(&s).unwrap(),
        c
    );
}

/// A batch gives, column by column, what each sample gives alone (the batched kernels and the
/// batch-1 kernels agree to rounding).
#[test]
fn batches_agree_with_samples_one_at_a_time() {
    let net = Chain::new((
        Dense::new(3, 20, Activation::Tanh),
        Dense::new(20, 9, Activation::Swish),
        Dense::new(9, 2, Activation::Identity),
    ))
    .unwrap();
    let p = net.initial_params(&mut Xoshiro256pp::new(1));
    let batch = 11;
    let mut rng = Xoshiro256pp::new(2);
    let x: Vec<f64> = (0..3 * batch).map(|_| rng.normal()).collect();
    let ybar: Vec<f64> = (0..2 * batch).map(|_| rng.normal()).collect();
    let mut ws = vec![0.0; net.workspace_len(batch)];
    let mut y = vec![0.0; 2 * batch];
    net.forward(
        Input {
            x: &x,
            batch,
            p: &p,
        },
        &mut y,
        &mut ws,
    );
    let mut xbar = vec![0.0; 3 * batch];
    let mut pbar = vec![0.0; p.len()];
    net.vjp(
        Input {
            x: &x,
            batch,
            p: &p,
        },
        &ybar,
        &mut xbar,
        &mut pbar,
        &mut ws,
    );
    let mut pbar_sum = vec![0.0; p.len()];
    for b in 0..batch {
        let xs = &x[3 * b..3 * b + 3];
        let mut ys = [0.0; 2];
        let mut ws1 = vec![0.0; net.workspace_len(1)];
        net.forward(
            Input {
                x: xs,
                batch: 1,
                p: &p,
            },
            &mut ys,
            &mut ws1,
        );
        for (u, v) in ys.iter().zip(&y[2 * b..2 * b + 2]) {
            assert!((u - v).abs() < 1e-14);
        }
        let mut xb = [0.0; 3];
        net.vjp(
            Input {
                x: xs,
                batch: 1,
                p: &p,
            },
            &ybar[2 * b..2 * b + 2],
            &mut xb,
            &mut pbar_sum,
            &mut ws1,
        );
        for (u, v) in xb.iter().zip(&xbar[3 * b..3 * b + 3]) {
            assert!((u - v).abs() < 1e-14);
        }
    }
    for (u, v) in pbar_sum.iter().zip(&pbar) {
        assert!((u - v).abs() < 1e-13 * (1.0 + v.abs()));
    }
}

const ACTS: [Activation; 9] = [
    Activation::Identity,
    Activation::Tanh,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Softplus,
    Activation::Swish,
    Activation::Gelu,
    Activation::Elu(1.0),
    Activation::LeakyRelu(0.01),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// ⟨ybar, J v⟩ = ⟨Jᵀ ybar, v⟩ for `Dense` of any shape and batch, with and without bias.
    #[test]
    fn dense_vjp_is_the_adjoint_of_its_jvp(
        i in 1usize..12, o in 1usize..20, batch in 1usize..10, a in 0usize..9,
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let d = Dense::new(i, o, ACTS[a]).use_bias(bias);
        let mut rng = Xoshiro256pp::new(seed);
        let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.normal()).collect() };
        let (x, p, ybar, xdot, pdot) =
            (draw(i * batch), draw(d.nparams()), draw(o * batch), draw(i * batch), draw(d.nparams()));
        let inp = Input { x: &x, batch, p: &p };
        let mut ws = vec![0.0; d.workspace_len(batch)];
        let (mut xbar, mut pbar) = (vec![0.0; i * batch], vec![0.0; d.nparams()]);
        d.vjp(inp, &ybar, &mut xbar, &mut pbar, &mut ws);
        let (mut y, mut ydot) = (vec![0.0; o * batch], vec![0.0; o * batch]);
        d.jvp(inp, &xdot, Some(&pdot), &mut y, &mut ydot, &mut ws);
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        let lhs = dot(&ybar, &ydot);
        let rhs = dot(&xbar, &xdot) + dot(&pbar, &pdot);
        let scale: f64 = ybar.iter().zip(&ydot).map(|(a, b)| (a * b).abs()).sum::<f64>() + 1.0;
        prop_assert!((lhs - rhs).abs() <= 1e-12 * scale, "{} vs {}", lhs, rhs);
    }
}

/// A short input must never give a normal return with a wrong output: the `try_` entry points
/// return an `Err` naming the slice, and the unchecked passes panic (in release builds too).
#[test]
fn checked_entry_points_refuse_wrong_lengths() {
    let net = nested();
    let p = net.initial_params(&mut Xoshiro256pp::new(3));
    let batch = 2;
    let x = vec![0.3; net.in_dim() * batch];
    let mut y = vec![0.0; net.out_dim() * batch];
    let mut ws = vec![0.0; net.workspace_len(batch)];
    let forward = |x: &[f64], p: &[f64], y: &mut [f64], ws: &mut [f64]| {
        net.try_forward(Input { x, batch, p }, y, ws)
            .map_err(|e| e.to_string())
    };
    assert!(forward(&x, &p, &mut y, &mut ws).is_ok());
    let short = &x[..x.len() - 1];
    let e = forward(short, &p, &mut y, &mut ws).unwrap_err();
    assert!(e.starts_with("x has 3 values"), "{e}");
    let e = forward(&x, &p[1..], &mut y, &mut ws).unwrap_err();
    assert!(e.starts_with("p has"), "{e}");
    let e = forward(&x, &p, &mut y[..1], &mut ws).unwrap_err();
    assert!(e.starts_with("y has 1 values"), "{e}");
    let e = forward(&x, &p, &mut y, &mut ws[..1]).unwrap_err();
    assert!(e.starts_with("workspace has 1 values"), "{e}");
    let ybar = vec![1.0; y.len()];
    let (mut xbar, mut pbar) = (vec![0.0; x.len()], vec![0.0; p.len()]);
    let inp = Input {
        x: &x,
        batch,
        p: &p,
    };
    assert!(net
        .try_vjp(inp, &ybar, &mut xbar, &mut pbar, &mut ws)
        .is_ok());
    let e = net
        .try_vjp(inp, &ybar[1..], &mut xbar, &mut pbar, &mut ws)
        .unwrap_err();
    assert!(e.to_string().starts_with("ybar has"));
    let mut ydot = vec![0.0; y.len()];
    assert!(net
        .try_jvp(inp, &x, None, &mut y, &mut ydot, &mut ws)
        .is_ok());
    let e = net
        .try_jvp(inp, &x[1..], None, &mut y, &mut ydot, &mut ws)
        .unwrap_err();
    assert!(e.to_string().starts_with("xdot has"));
    // The allocating call agrees with the in-place one.
    let mut y2 = vec![0.0; y.len()];
    net.forward(inp, &mut y2, &mut ws);
    assert_eq!(net.apply(&x, batch, &p).unwrap(), y2);
    assert!(net.apply(short, batch, &p).is_err());
}

/// The unchecked forward pass of a 2-feature layer on a batch of 2 with one value missing.
fn forward_a_short_input(layer: &impl Layer) {
    let p = vec![0.1; layer.nparams()];
    let mut y = vec![0.0; layer.out_dim() * 2];
    let mut ws = vec![0.0; layer.workspace_len(2)];
    layer.forward(
        Input {
            x: &[1.0, 2.0, 3.0],
            batch: 2,
            p: &p,
        },
        &mut y,
        &mut ws,
    );
}

#[test]
#[should_panic(expected = "layer input has 3 values, expected 4")]
fn an_unchecked_pass_panics_on_a_short_input() {
    forward_a_short_input(&Dense::new(2, 3, Activation::Tanh));
}

#[test]
#[should_panic(expected = "layer input has 3 values, expected 4")]
fn an_unchecked_scale_panics_on_a_short_input() {
    forward_a_short_input(&Scale::new(2, Activation::Identity));
}
