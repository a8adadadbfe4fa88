//! Parameter initialisation: Glorot-uniform statistics of `Dense`, Lux's choices for `Scale`, seeded
//! reproducibility, and containers drawing their layers' parameters in order from one stream.

#![allow(clippy::unwrap_used)]

use diffeqflux::nn::{Activation, Chain, Combine, Dense, Layer, Parallel, Scale, SkipConnection};
use sciml_core::rng::Xoshiro256pp;

#[test]
fn dense_weight_is_glorot_uniform_and_bias_zero() {
    let (i, o) = (200, 300);
    let d = Dense::new(i, o, Activation::Tanh);
    let p = d.initial_params(&mut Xoshiro256pp::new(42));
    let w = &p[d.weight_range()];
    let b = &p[d.bias_range().unwrap()];
    let a = (6.0 / (i + o) as f64).sqrt();
    assert!(w.iter().all(|v| v.abs() < a), "a weight outside ±{a}");
    let n = w.len() as f64;
    let max = w.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!(max > 0.999 * a, "largest |w| {max} far below the bound {a}");
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    // U(−a, a): mean 0 (standard error a/√(3n) = 2.6e-4), variance a²/3 (relative standard error
    // √(0.8/n) = 0.4 %).
    assert!(mean.abs() < 1.5e-3, "mean {mean}");
    assert!((var / (a * a / 3.0) - 1.0).abs() < 0.02, "variance {var}");
    assert!(b.iter().all(|&v| v == 0.0));
}

#[test]
fn glorot_bound_of_the_2_50_2_network() {
    let net = Chain::new((
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))
    .unwrap();
    let p = net.initial_params(&mut Xoshiro256pp::new(0));
    let a = (6.0_f64 / 52.0).sqrt();
    for name in ["layer_1.weight", "layer_2.weight"] {
        let w = &p[net.param_range(name).unwrap()];
        assert_eq!(w.len(), 100);
        assert!(w.iter().all(|v| v.abs() < a));
        assert!(w.iter().any(|v| v.abs() > 0.8 * a));
    }
    for name in ["layer_1.bias", "layer_2.bias"] {
        assert!(p[net.param_range(name).unwrap()].iter().all(|&v| v == 0.0));
    }
}

#[test]
fn seeded_initialisation_is_reproducible() {
    let net = Chain::new((
        Dense::new(3, 7, Activation::Relu),
        Dense::new(7, 2, Activation::Identity),
    ))
    .unwrap();
    let a = net.initial_params(&mut Xoshiro256pp::new(9));
    let b = net.initial_params(&mut Xoshiro256pp::new(9));
    let c = net.initial_params(&mut Xoshiro256pp::new(10));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn containers_draw_their_layers_in_order_from_one_stream() {
    let (d1, d2, d3) = (
        Dense::new(3, 4, Activation::Tanh),
        Dense::new(4, 4, Activation::Tanh),
        Dense::new(4, 2, Activation::Identity),
    );
    let net = Chain::new((
        d1,
        SkipConnection::new(d2, Combine::Sum).unwrap(),
        Parallel::new(Combine::Concat, (d3, Scale::new(4, Activation::Identity))).unwrap(),
    ))
    .unwrap();
    let p = net.initial_params(&mut Xoshiro256pp::new(5));
    let mut rng = Xoshiro256pp::new(5);
    let mut want = d1.initial_params(&mut rng);
    want.extend(d2.initial_params(&mut rng));
    want.extend(d3.initial_params(&mut rng));
    want.extend([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(p, want);
}

#[test]
fn scale_starts_as_the_identity_and_init_writes_only_its_block() {
    let s = Scale::new(3, Activation::Identity);
    let mut p = vec![7.0; 8];
    s.init_params(&mut Xoshiro256pp::new(1), &mut p);
    assert_eq!(p, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 7.0, 7.0]);
    let d = Dense::new(2, 2, Activation::Tanh).use_bias(false);
    let mut q = vec![7.0; 5];
    d.init_params(&mut Xoshiro256pp::new(1), &mut q);
    assert_eq!(q[4], 7.0);
    assert!(q[..4].iter().all(|v| v.abs() < 1.0 && *v != 7.0));
}
