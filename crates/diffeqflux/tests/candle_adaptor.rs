//! The candle adaptor against the native layers: a candle-nn 2-50-2 tanh MLP on a VarMap with
//! the native `Chain(Dense(2,50,tanh), Dense(50,2))`'s weights gives the same outputs, the same
//! VJPs and the same neural-ODE gradients; the flat-parameter mapping, clones and bad input.
#![cfg(feature = "candle")]
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Linear, VarBuilder, VarMap};
use diffeqflux::candle::{CandleAdaptorError, CandleField, CandleModel};
use diffeqflux::nn::{Activation as Act, Chain, Dense, Input, Layer};
use diffeqflux::NeuralField;
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{Batch, SliceState, VectorField, Vjp};
use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};

type Net = Chain<(Dense, Dense)>;

/// Candle's variable names and the native blocks they hold.
const NAMES: [(&str, &str); 4] = [
    ("l1.weight", "layer_1.weight"),
    ("l1.bias", "layer_1.bias"),
    ("l2.weight", "layer_2.weight"),
    ("l2.bias", "layer_2.bias"),
];

fn native() -> Net {
    Chain::new((
        Dense::new(2, 50, Act::Tanh),
        Dense::new(50, 2, Act::Identity),
    ))
    .unwrap()
}

/// Native parameters with non-zero biases.
fn native_params(net: &Net, seed: u64) -> Vec<f64> {
    let mut p = net.initial_params(&mut Xoshiro256pp::new(seed));
    for (k, v) in p.iter_mut().enumerate() {
        *v += 0.05 * ((k as f64) * 0.37 + seed as f64).sin();
    }
    p
}

/// `linear(2, 50)`, tanh, `linear(50, 2)` (a struct rather than `candle_nn::Sequential`, whose
/// boxed layers are not `Send`, so the model can be shared between threads).
struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.tanh()?)
    }
}

fn candle_mlp(dtype: DType) -> (Mlp, VarMap) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, dtype, &Device::Cpu);
    let net = Mlp {
        l1: linear(2, 50, vb.pp("l1")).unwrap(),
        l2: linear(50, 2, vb.pp("l2")).unwrap(),
    };
    (net, vm)
}

fn candle_model() -> CandleModel<Mlp> {
    let (net, vm) = candle_mlp(DType::F64);
    CandleModel::new(net, vm, 2, 2).unwrap()
}

/// Native flat vector -> candle flat vector (block by block, through the names).
fn to_candle(net: &Net, model: &CandleModel<Mlp>, p: &[f64]) -> Vec<f64> {
    let mut q = vec![f64::NAN; model.nparams()];
    for (c, n) in NAMES {
        q[model.param_range(c).unwrap()].copy_from_slice(&p[net.param_range(n).unwrap()]);
    }
    assert!(q.iter().all(|x| x.is_finite()));
    q
}

/// Candle flat vector -> native flat vector.
fn to_native(net: &Net, model: &CandleModel<Mlp>, q: &[f64]) -> Vec<f64> {
    let mut p = vec![f64::NAN; net.nparams()];
    for (c, n) in NAMES {
        p[net.param_range(n).unwrap()].copy_from_slice(&q[model.param_range(c).unwrap()]);
    }
    p
}

/// Checks `|a - b| <= tol · max(|b|, 1)` componentwise; returns the largest such scaled error.
fn close(a: &[f64], b: &[f64], tol: f64, what: &str) -> f64 {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let mut worst = 0.0_f64;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let e = (x - y).abs() / y.abs().max(1.0);
        assert!(e <= tol, "{what}[{i}]: {x} vs {y}");
        worst = worst.max(e);
    }
    worst
}

fn data(n: usize, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|k| (0.7 * k as f64 + phase).sin() * 1.3)
        .collect()
}

#[test]
fn the_flat_vector_follows_the_sorted_names_and_candle_layouts() {
    let net = native();
    let model = candle_model();
    let names: Vec<(String, std::ops::Range<usize>)> = model.param_names();
    assert_eq!(
        names,
        vec![
            ("l1.bias".to_string(), 0..50),
            ("l1.weight".to_string(), 50..150),
            ("l2.bias".to_string(), 150..152),
            ("l2.weight".to_string(), 152..252),
        ]
    );
    assert_eq!(model.nparams(), net.nparams());
    assert_eq!((model.in_dim(), model.out_dim()), (2, 2));
    assert_eq!(model.dtype(), DType::F64);

    let p = native_params(&net, 1);
    let q = to_candle(&net, &model, &p);
    model.params_to_varmap(&q).unwrap();
    assert_eq!(model.varmap_to_params().unwrap(), q);
    // The VarMap's weight is (out, in), row-major: the native Dense weight block as it is.
    let w = model.varmap().data().lock().unwrap()["l1.weight"]
        .as_tensor()
        .clone();
    assert_eq!(w.dims(), [50, 2]);
    let w: Vec<Vec<f64>> = w.to_vec2().unwrap();
    let wn = &p[net.param_range("layer_1.weight").unwrap()];
    for (o, row) in w.iter().enumerate() {
        assert_eq!(row.as_slice(), &wn[2 * o..2 * o + 2]);
    }
    // The module itself, called through candle, sees the written values.
    let y = model
        .module()
        .forward(&Tensor::new(&[[0.3, -0.4]], &Device::Cpu).unwrap())
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let mut yn = [0.0; 2];
    let mut ws = vec![0.0; net.workspace_len(1)];
    net.forward(
        Input {
            x: &[0.3, -0.4],
            batch: 1,
            p: &p,
        },
        &mut yn,
        &mut ws,
    );
    close(&y[0], &yn, 1e-12, "module output");
}

#[test]
fn outputs_and_vjps_match_the_native_chain() {
    let net = native();
    let model = candle_model();
    for (batch, seed) in [(1, 2), (7, 3)] {
        let p = native_params(&net, seed);
        let q = to_candle(&net, &model, &p);
        let x = data(2 * batch, 0.1 * seed as f64);
        let ybar = data(2 * batch, 1.9);
        let mut ws = vec![0.0; net.workspace_len(batch)];
        let inp = Input {
            x: &x,
            batch,
            p: &p,
        };

        let (mut y, mut yc) = (vec![0.0; 2 * batch], vec![0.0; 2 * batch]);
        net.forward(inp, &mut y, &mut ws);
        model.forward(&x, batch, &q, &mut yc).unwrap();
        let e_y = close(&yc, &y, 1e-12, &format!("y, batch {batch}"));

        // xbar overwritten, pbar accumulated on top of what is there.
        let (mut xbar, mut pbar) = (vec![0.0; 2 * batch], vec![0.25; p.len()]);
        net.vjp(inp, &ybar, &mut xbar, &mut pbar, &mut ws);
        let (mut xbarc, mut pbarc) = (vec![9.0; 2 * batch], vec![0.25; q.len()]);
        model
            .vjp(&x, batch, &q, &ybar, &mut xbarc, &mut pbarc)
            .unwrap();
        let e_x = close(&xbarc, &xbar, 1e-12, &format!("xbar, batch {batch}"));
        let e_p = close(
            &to_native(&net, &model, &pbarc),
            &pbar,
            1e-12,
            &format!("pbar, batch {batch}"),
        );
        println!("batch {batch}: largest relative difference y {e_y:.1e}, xbar {e_x:.1e}, pbar {e_p:.1e}");
    }
}

#[test]
fn the_field_matches_the_native_field_single_and_batched() {
    let net = native();
    let model = candle_model();
    let p = native_params(&net, 4);
    let q = to_candle(&net, &model, &p);
    for batch in [1, 3] {
        let u = Batch::new(2, batch, data(2 * batch, 0.5)).unwrap();
        let w = Batch::new(2, batch, data(2 * batch, 2.5)).unwrap();
        let mut nf = NeuralField::<Net, Batch<f64>>::new(net.clone(), batch).unwrap();
        let mut cf = CandleField::<_, Batch<f64>>::new(model.clone(), batch).unwrap();
        assert_eq!(cf.dims(), (2 * batch, 252));
        let (mut du, mut duc) = (Batch::zeros(2, batch), Batch::zeros(2, batch));
        nf.rhs(0.0, &u, &p, &mut du);
        cf.rhs(0.0, &u, &q, &mut duc);
        close(duc.as_slice(), du.as_slice(), 1e-12, "rhs");
        // Both gradients accumulate.
        let (mut gu, mut gp) = (
            Batch::new(2, batch, vec![1.0; 2 * batch]).unwrap(),
            vec![1.0; 252],
        );
        let (mut guc, mut gpc) = (gu.clone(), gp.clone());
        nf.vjp(0.0, &u, &p, &w, &mut gu, &mut gp);
        cf.vjp(0.0, &u, &q, &w, &mut guc, &mut gpc);
        close(guc.as_slice(), gu.as_slice(), 1e-12, "gu");
        close(&to_native(&net, &model, &gpc), &gp, 1e-12, "gp");
        assert!(cf.take_error().is_none());
    }
    const { assert!(<CandleField<Mlp, Vec<f64>> as Vjp>::EXACT) };
}

/// `L = Σ_k Σ_i (sin(k + i) u_i(t_k) + ½ u_i(t_k)²)` and its cotangents.
fn loss(us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let mut l = 0.0;
    let bars = us
        .iter()
        .enumerate()
        .map(|(k, u)| {
            u.iter()
                .enumerate()
                .map(|(i, x)| {
                    let w = ((k + i) as f64).sin();
                    l += w * x + 0.5 * x * x;
                    w + x
                })
                .collect()
        })
        .collect();
    (l, bars)
}

fn discrete_adjoint<F: Vjp<V = Vec<f64>, P = Vec<f64>>>(
    field: F,
    u0: &[f64],
    p: &[f64],
) -> (Vec<Vec<f64>>, f64, Vec<f64>, Vec<f64>) {
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![0.1, 0.25, 0.4, 0.5]));
    let mut prob = OdeProblem::new(field, u0.to_vec(), (0.0, 0.5), p.to_vec()).unwrap();
    let adj = DiscreteAdjoint::default();
    let (sol, tape) = adj.forward(&mut prob, &Tsit5, &opts).unwrap();
    let (l, ubar) = loss(&sol.u);
    let g = adj.backward(&mut prob, &Tsit5, tape, &ubar).unwrap();
    (sol.u, l, g.du0, g.dp)
}

#[test]
fn a_neural_ode_gradient_through_the_candle_field_matches_the_native_one() {
    let net = native();
    let model = candle_model();
    let p = native_params(&net, 5);
    let q = to_candle(&net, &model, &p);
    let u0 = [0.8, -0.4];

    let (us, l, du0, dp) = discrete_adjoint(
        NeuralField::<Net, Vec<f64>>::new(net.clone(), 1).unwrap(),
        &u0,
        &p,
    );
    let mut field = CandleField::<_, Vec<f64>>::new(model.clone(), 1).unwrap();
    let (usc, lc, du0c, dpc) = discrete_adjoint(field.clone(), &u0, &q);
    assert!(field.take_error().is_none());

    assert_eq!(usc.len(), us.len());
    for (a, b) in usc.iter().zip(&us) {
        close(a, b, 1e-12, "saved state");
    }
    assert!(
        (lc - l).abs() <= 1e-12 * l.abs().max(1.0),
        "loss {lc} vs {l}"
    );
    let e_u = close(&du0c, &du0, 1e-10, "du0");
    let e_p = close(&to_native(&net, &model, &dpc), &dp, 1e-10, "dp");
    println!("neural ODE: largest relative difference du0 {e_u:.1e}, dp {e_p:.1e}");
}

#[test]
fn clones_share_the_variables_but_not_the_parameters_of_a_call() {
    let net = native();
    let model = candle_model();
    let other = model.clone();
    let (p1, p2) = (native_params(&net, 6), native_params(&net, 7));
    let (q1, q2) = (to_candle(&net, &model, &p1), to_candle(&net, &model, &p2));
    let x = data(6, 0.3);
    let want = |p: &[f64]| {
        let mut y = vec![0.0; 6];
        let mut ws = vec![0.0; net.workspace_len(3)];
        net.forward(Input { x: &x, batch: 3, p }, &mut y, &mut ws);
        y
    };
    let (w1, w2) = (want(&p1), want(&p2));
    let mut y = vec![0.0; 6];
    // Interleaved calls each see their own parameters.
    for _ in 0..2 {
        model.forward(&x, 3, &q1, &mut y).unwrap();
        close(&y, &w1, 1e-12, "clone 1");
        other.forward(&x, 3, &q2, &mut y).unwrap();
        close(&y, &w2, 1e-12, "clone 2");
    }
    // From several threads at once.
    std::thread::scope(|s| {
        for (m, q, w) in [(&model, &q1, &w1), (&other, &q2, &w2)] {
            let x = &x;
            s.spawn(move || {
                let mut y = vec![0.0; 6];
                for _ in 0..50 {
                    m.forward(x, 3, q, &mut y).unwrap();
                    close(&y, w, 1e-12, "threaded");
                }
            });
        }
    });
    // Changing the variables through candle, then forgetting what was loaded.
    model.forward(&x, 3, &q1, &mut y).unwrap();
    model.varmap().data().lock().unwrap()["l2.bias"]
        .set(&Tensor::new(&[10.0, 10.0], &Device::Cpu).unwrap())
        .unwrap();
    model.forget_loaded_params();
    model.forward(&x, 3, &q1, &mut y).unwrap();
    close(&y, &w1, 1e-12, "after forget_loaded_params");
}

#[test]
fn f32_variables_compute_in_f32() {
    let net = native();
    let (m, vm) = candle_mlp(DType::F32);
    let model = CandleModel::new(m, vm, 2, 2).unwrap();
    assert_eq!(model.dtype(), DType::F32);
    let p = native_params(&net, 8);
    let q = to_candle(&net, &model, &p);
    let x = data(4, 0.2);
    let (mut y, mut yc) = (vec![0.0; 4], vec![0.0; 4]);
    let mut ws = vec![0.0; net.workspace_len(2)];
    net.forward(
        Input {
            x: &x,
            batch: 2,
            p: &p,
        },
        &mut y,
        &mut ws,
    );
    model.forward(&x, 2, &q, &mut yc).unwrap();
    close(&yc, &y, 1e-5, "f32 forward");
    let (mut xbar, mut pbar) = (vec![0.0; 4], vec![0.0; p.len()]);
    net.vjp(
        Input {
            x: &x,
            batch: 2,
            p: &p,
        },
        &[1.0; 4],
        &mut xbar,
        &mut pbar,
        &mut ws,
    );
    let (mut xbarc, mut pbarc) = (vec![0.0; 4], vec![0.0; p.len()]);
    model
        .vjp(&x, 2, &q, &[1.0; 4], &mut xbarc, &mut pbarc)
        .unwrap();
    close(&xbarc, &xbar, 1e-5, "f32 xbar");
    close(&to_native(&net, &model, &pbarc), &pbar, 1e-5, "f32 pbar");
}

#[test]
fn bad_input_is_an_error() {
    let model = candle_model();
    let q = model.varmap_to_params().unwrap();
    let mut y = vec![0.0; 2];
    let e = model.forward(&[0.0; 3], 1, &q, &mut y).unwrap_err();
    assert!(
        matches!(
            e,
            CandleAdaptorError::Length {
                what: "x",
                expected: 2,
                found: 3
            }
        ),
        "{e}"
    );
    let e = model.forward(&[0.0; 2], 1, &q[1..], &mut y).unwrap_err();
    assert!(
        matches!(e, CandleAdaptorError::Length { what: "p", .. }),
        "{e}"
    );
    let e = model.forward(&[0.0; 2], 0, &q, &mut y).unwrap_err();
    assert!(e.to_string().contains("batch"), "{e}");
    let (mut xbar, mut pbar) = (vec![0.0; 2], vec![0.0; 3]);
    let e = model
        .vjp(&[0.0; 2], 1, &q, &[1.0; 2], &mut xbar, &mut pbar)
        .unwrap_err();
    assert!(
        matches!(e, CandleAdaptorError::Length { what: "pbar", .. }),
        "{e}"
    );
    assert!(model.params_to_varmap(&q[2..]).is_err());

    // Declared sizes the module does not have.
    let (m, vm) = candle_mlp(DType::F64);
    let e = CandleModel::new(m, vm, 2, 3).unwrap_err();
    assert!(
        matches!(e, CandleAdaptorError::OutputShape { out_dim: 3, .. }),
        "{e}"
    );
    let (m, vm) = candle_mlp(DType::F64);
    let e = CandleModel::new(m, vm, 5, 2).unwrap_err();
    assert!(matches!(e, CandleAdaptorError::Candle(_)), "{e}");

    // Variables of two dtypes.
    let vm = VarMap::new();
    let l1 = linear(
        2,
        3,
        VarBuilder::from_varmap(&vm, DType::F64, &Device::Cpu).pp("a"),
    )
    .unwrap();
    let l2 = linear(
        3,
        2,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu).pp("b"),
    )
    .unwrap();
    let e = CandleModel::new(candle_nn::seq().add(l1).add(l2), vm, 2, 2).unwrap_err();
    assert!(matches!(e, CandleAdaptorError::Variables(_)), "{e}");

    // A field needs as many outputs as inputs.
    let vm = VarMap::new();
    let l = linear(2, 3, VarBuilder::from_varmap(&vm, DType::F64, &Device::Cpu)).unwrap();
    let wide = CandleModel::new(l, vm, 2, 3).unwrap();
    let e = CandleField::<_, Vec<f64>>::new(wide, 1).err().unwrap();
    assert!(e.to_string().contains("sizes must agree"), "{e}");
    assert!(CandleField::<_, Vec<f64>>::new(model, 0).is_err());
}

#[test]
fn pinning_candles_thread_count_is_the_users_call() {
    // Building a model writes no environment variable (the library sets none by itself) ...
    let before = std::env::var("RAYON_NUM_THREADS").ok();
    let _model = candle_model();
    assert_eq!(std::env::var("RAYON_NUM_THREADS").ok(), before);
    // ... and the explicit call pins it.
    let n = diffeqflux::candle::pin_candle_thread_count();
    let env: usize = std::env::var("RAYON_NUM_THREADS").unwrap().parse().unwrap();
    assert!(n >= 1);
    assert_eq!(env, n);
}

/// Time per call of a 2-50-2 forward pass and VJP at batch 1 (run it alone, with
/// `--ignored --nocapture`, so the raw candle timing comes before the thread count is pinned).
#[test]
#[ignore = "timing, not a check: run alone with --ignored --nocapture"]
fn timing_tiny_mlp() {
    use std::time::Instant;
    let reps = 2000;
    let (m, vm) = candle_mlp(DType::F64);
    let x = Tensor::new(&[[0.3, -0.4]], &Device::Cpu).unwrap();
    let env = std::env::var("RAYON_NUM_THREADS").ok();
    let raw = |m: &Mlp| {
        for _ in 0..50 {
            m.forward(&x).unwrap();
        }
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(m.forward(&x).unwrap());
        }
        t.elapsed().as_secs_f64() / reps as f64 * 1e6
    };
    let before = raw(&m);
    diffeqflux::candle::pin_candle_thread_count();
    let model = CandleModel::new(m, vm, 2, 2).unwrap();
    let after = raw(model.module());
    let q = model.varmap_to_params().unwrap();
    let mut y = [0.0; 2];
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..50 {
            f();
        }
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        t.elapsed().as_secs_f64() / reps as f64 * 1e6
    };
    let fwd = time(&mut || model.forward(&[0.3, -0.4], 1, &q, &mut y).unwrap());
    let mut q2 = q.clone();
    let fwd_new_p = time(&mut || {
        q2[0] += 1e-9;
        model.forward(&[0.3, -0.4], 1, &q2, &mut y).unwrap()
    });
    let (mut xbar, mut pbar) = ([0.0; 2], vec![0.0; q.len()]);
    let vjp = time(&mut || {
        model
            .vjp(&[0.3, -0.4], 1, &q, &[1.0, 1.0], &mut xbar, &mut pbar)
            .unwrap()
    });
    let net = native();
    let p = native_params(&net, 1);
    let mut ws = vec![0.0; net.workspace_len(1)];
    let native_fwd = time(&mut || {
        net.forward(
            Input {
                x: &[0.3, -0.4],
                batch: 1,
                p: &p,
            },
            &mut y,
            &mut ws,
        )
    });
    println!(
        "RAYON_NUM_THREADS before: {env:?}, after: {:?}",
        std::env::var("RAYON_NUM_THREADS").ok()
    );
    println!("raw candle forward, threads not pinned: {before:.2} µs/call");
    println!("raw candle forward, threads pinned:     {after:.2} µs/call");
    println!("CandleModel::forward (same p):          {fwd:.2} µs/call");
    println!("CandleModel::forward (new p each call): {fwd_new_p:.2} µs/call");
    println!("CandleModel::vjp (same p):              {vjp:.2} µs/call");
    println!("native Chain forward:                   {native_fwd:.3} µs/call");
}
