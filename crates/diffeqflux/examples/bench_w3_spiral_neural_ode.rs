//! Workload W3: time per training iteration (forward solve, gradient, Adam step) of the
//! DiffEqFlux README neural ODE, from the same initial weights and data as the peers
//! (`benches/peers/w3_init.json`): Tsit5 at rtol 1e-3, atol 1e-6, Adam(0.05), 300 iterations, f64.
//!
//! Prints one JSON line per sensitivity method (the first is the reference row of
//! `cargo xtask bench W3`): median time per iteration, RHS evaluations (VJPs included) per
//! iteration, the loss after 300 iterations, and the floor those evaluations imply (evaluations
//! times the cost of one VJP of the network).

use diffeqflux::nn::{Activation, Chain, Dense, ElementwiseFn, Input, Layer, WrappedFunction};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::{NeuralField, NeuralOde};
use sciml_ode::{Scalar, Tsit5};
use sciml_sensitivity::{
    BacksolveAdjoint, DiscreteAdjoint, GaussAdjoint, InterpolatingAdjoint, QuadratureAdjoint,
    Sensitivity,
};
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Cube;
impl ElementwiseFn for Cube {
    fn f<S: Scalar>(&self, x: S) -> S {
        x * x * x
    }
    fn df<S: Scalar>(&self, x: S) -> S {
        x * x * S::cst(3.0)
    }
}

type Model = Chain<(WrappedFunction<Cube>, Dense, Dense)>;

fn model() -> Result<Model, Box<dyn std::error::Error>> {
    Ok(Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))?)
}

struct Setup {
    ts: Vec<f64>,
    data: Vec<Vec<f64>>,
    u0: Vec<f64>,
    p0: Vec<f64>,
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    let mut out = Vec::new();
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| out.extend(floats(x))),
        serde_json::Value::Number(n) => out.extend(n.as_f64()),
        _ => {}
    }
    out
}

fn setup(m: &Model) -> Result<Setup, Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/peers/w3_init.json"
    );
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let data = floats(&v["data"]);
    let mut p0 = vec![0.0; m.nparams()];
    // numpy's W1 (50 × 2) and W2 (2 × 50) are row-major, as Dense's `out × in` weight.
    for (name, key) in [
        ("layer_2.weight", "W1"),
        ("layer_2.bias", "b1"),
        ("layer_3.weight", "W2"),
        ("layer_3.bias", "b2"),
    ] {
        let r = m
            .param_range(name)
            .ok_or(format!("no parameter block {name}"))?;
        let vals = floats(&v[key]);
        if vals.len() != r.len() {
            return Err(
                format!("{key} has {} values, {name} needs {}", vals.len(), r.len()).into(),
            );
        }
        p0[r].copy_from_slice(&vals);
    }
    Ok(Setup {
        ts: floats(&v["ts"]),
        data: data.chunks(2).map(<[f64]>::to_vec).collect(),
        u0: floats(&v["u0"]),
        p0,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of one VJP of the network at batch 1.
fn vjp_seconds(m: &Model, p: &[f64]) -> f64 {
    let mut ws = vec![0.0; m.workspace_len(1)];
    let (x, ybar) = ([1.2, -0.3], [0.7, 0.4]);
    let mut xbar = [0.0; 2];
    let mut pbar = vec![0.0; p.len()];
    let reps = 20_000;
    let mut samples = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        for _ in 0..reps {
            m.vjp(
                Input { x: &x, batch: 1, p },
                &ybar,
                &mut xbar,
                &mut pbar,
                &mut ws,
            );
            std::hint::black_box(&pbar);
        }
        samples.push(t.elapsed().as_secs_f64() / f64::from(reps));
    }
    median(samples)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = model()?;
    let s = setup(&m)?;
    let vjp = vjp_seconds(&m, &s.p0);
    let iters: usize = std::env::var("W3_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    run(
        "DiscreteAdjoint",
        DiscreteAdjoint::default(),
        &m,
        &s,
        vjp,
        iters,
    )?;
    run(
        "InterpolatingAdjoint",
        InterpolatingAdjoint::default(),
        &m,
        &s,
        vjp,
        iters,
    )?;
    run("GaussAdjoint", GaussAdjoint, &m, &s, vjp, iters)?;
    run("QuadratureAdjoint", QuadratureAdjoint, &m, &s, vjp, iters)?;
    run("BacksolveAdjoint", BacksolveAdjoint, &m, &s, vjp, iters)?;
    Ok(())
}

/// Trains with the sensitivity method `sensitivity` (a type parameter of the layer) and prints
/// its JSON line.
fn run<S: Sensitivity<NeuralField<Model, Vec<f64>>, Tsit5>>(
    name: &str,
    sensitivity: S,
    m: &Model,
    s: &Setup,
    vjp: f64,
    iters: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let node = NeuralOde::new(m.clone(), (0.0, 1.5), Tsit5, s.ts.clone())?
        .tolerances(1e-3, 1e-6)
        .sensitivity(sensitivity);
    let loss_fn = |_t: &[f64], us: &[Vec<f64>]| {
        let mut loss = 0.0;
        let bars = us
            .iter()
            .zip(&s.data)
            .map(|(u, d)| {
                u.iter()
                    .zip(d)
                    .map(|(a, b)| {
                        loss += (a - b) * (a - b);
                        2.0 * (a - b)
                    })
                    .collect()
            })
            .collect();
        (loss, bars)
    };
    let mut p = s.p0.clone();
    let mut adam = Adam::new(0.05)?;
    let (mut times, mut nfes, mut nfe_fwd) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = f64::NAN;
    for _ in 0..iters {
        let t = Instant::now();
        let g = node.loss_and_gradient(&s.u0, &p, loss_fn)?;
        adam.step(&mut p, &g.dp)?;
        times.push(t.elapsed().as_secs_f64());
        nfes.push((g.forward.nf + g.backward.nf) as f64);
        nfe_fwd.push(g.forward.nf as f64);
        last = g.loss;
    }
    let final_loss = node.loss_and_gradient(&s.u0, &p, loss_fn)?.loss;
    let nfe = median(nfes);
    let med = median(times.into_iter().skip(5).collect());
    println!(
        "{{\"system\": \"sciml-rs Tsit5 {name}\", \"median_s\": {med:e}, \"nfe\": {nfe}, \"nfe_forward\": {}, \"final_loss\": {final_loss}, \"loss_at_300\": {}, \"iterations\": {iters}, \"vjp_s\": {vjp:e}, \"floor_s\": {:e}, \"last_iteration_loss\": {last}}}",
        median(nfe_fwd),
        if iters >= 300 { format!("{final_loss}") } else { "null".into() },
        nfe * vjp,
    );
    Ok(())
}
