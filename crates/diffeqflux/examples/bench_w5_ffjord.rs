//! Workload W5: time per training iteration of the FFJORD two-moons flow of
//! `shared/peers/w5_ffjord.py` (batch 512, MLP [z, t] 3-64-64-2 tanh, Dp5 at rtol = atol = 1e-5,
//! discrete adjoint, Adam(1e-3)), here in f64, for the exact trace and Hutchinson's estimator.
//!
//! Each iteration is run twice on the same parameters, data and probes: once with the network's
//! second derivatives from `Layer::vjp_tangent` in plain floats (`plain`, what `Ffjord` uses),
//! and once through a wrapper layer that keeps the dual-number default of `vjp_tangent` (`dual`,
//! the previous implementation: the network's VJP in dual numbers). The parameters follow the
//! plain pass's gradient. Prints one JSON line per trace and pass: median and spread (min, max)
//! of the seconds per iteration after one warm-up, function evaluations per iteration, the loss
//! of the last iteration (`final_loss`, before its Adam step), the largest relative difference
//! between the two passes' gradients, and the median time of one VJP of the augmented field at
//! batch 512 in f64 and in f32 (`Ffjord` itself trains in f64; the field runs in either).
//!
//! `cargo run --release -p diffeqflux --example bench_w5_ffjord` (`W5_ITERS`, default 10).

use diffeqflux::neural_de::{Ffjord, FfjordField, ProbeKind, Trace};
use diffeqflux::nn::{Activation, Chain, Dense, Input, Layer, LayerTape};
use diffeqflux::optim::{Adam, Optimiser};
use sciml_core::{rng::Xoshiro256pp, Batch, Scalar, Vjp};
use sciml_ode::Dp5;
use std::f64::consts::PI;
use std::ops::Range;
use std::time::Instant;

type Mlp = Chain<(Dense, Dense, Dense)>;

/// `L` with every pass but `vjp_tangent`, which stays the trait's default (dual numbers).
#[derive(Clone)]
struct ViaDuals<L>(L);

impl<L: Layer> Layer for ViaDuals<L> {
    fn in_dim(&self) -> usize {
        self.0.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.0.out_dim()
    }
    fn nparams(&self) -> usize {
        self.0.nparams()
    }
    fn workspace_len(&self, batch: usize) -> usize {
        self.0.workspace_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.0.tape_len(batch)
    }
    fn init_params(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        self.0.init_params(rng, p)
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        self.0.param_names()
    }
    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]) {
        self.0.forward(inp, y, ws)
    }
    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        yb: &[S],
        xb: &mut [S],
        pb: &mut [S],
        ws: &mut [S],
    ) {
        self.0.vjp(inp, yb, xb, pb, ws)
    }
    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        self.0.jvp(inp, xdot, pdot, y, ydot, ws)
    }
    fn forward_tape<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], t: &mut [S], ws: &mut [S]) {
        self.0.forward_tape(inp, y, t, ws)
    }
    fn backward<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        tape: LayerTape<'_, S>,
        yb: &[S],
        xb: &mut [S],
        pb: &mut [S],
        ws: &mut [S],
    ) {
        self.0.backward(inp, tape, yb, xb, pb, ws)
    }
}

/// `n` two-moons samples, standardised as the W5 workload does.
fn two_moons(rng: &mut Xoshiro256pp, n: usize) -> Result<Batch<f64>, sciml_core::Error> {
    let mut x = Vec::with_capacity(2 * n);
    for i in 0..n {
        let a = rng.uniform_range(0.0, PI);
        let (px, py) = if i < n / 2 {
            (a.cos(), a.sin())
        } else {
            (1.0 - a.cos(), 0.5 - a.sin())
        };
        x.push((px + 0.1 * rng.normal() - 0.5) / 0.87);
        x.push((py + 0.1 * rng.normal() - 0.25) / 0.5);
    }
    Batch::new(2, n, x)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        })
}

/// Median seconds of one VJP of the augmented field at batch 512, in the scalar `S`.
fn field_vjp_seconds<L: Layer, S: Scalar<Re = S>>(
    net: L,
    trace: Trace,
    p: &[f64],
) -> Result<f64, Box<dyn std::error::Error>> {
    let batch = 512;
    let mut field = FfjordField::<_, Batch<S>>::new(net, batch, trace, false)?;
    field.draw_probes(&mut Xoshiro256pp::new(3));
    let mut rng = Xoshiro256pp::new(4);
    let m = field.features();
    let mut col = || -> Vec<S> { (0..m * batch).map(|_| S::cst(rng.normal())).collect() };
    let (u, w) = (Batch::new(m, batch, col())?, Batch::new(m, batch, col())?);
    let mut gu = Batch::new(m, batch, vec![S::zero(); m * batch])?;
    let mut gp = vec![S::zero(); p.len()];
    let p: Vec<S> = p.iter().map(|v| S::cst(*v)).collect();
    let mut samples = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..5 {
            field.vjp(S::cst(0.3), &u, &p, &w, &mut gu, &mut gp);
        }
        samples.push(t.elapsed().as_secs_f64() / 5.0);
    }
    Ok(median(samples))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters: usize = std::env::var("W5_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(2);
    let net: Mlp = Chain::new((
        Dense::new(3, 64, Activation::Tanh),
        Dense::new(64, 64, Activation::Tanh),
        Dense::new(64, 2, Activation::Identity),
    ))?;
    for (name, trace) in [
        ("exact", Trace::Exact),
        ("hutchinson", Trace::Hutchinson(ProbeKind::Gaussian)),
    ] {
        let plain = Ffjord::new(net.clone(), (0.0, 1.0), Dp5)?
            .trace(trace)
            .tolerances(1e-5, 1e-5);
        let dual = Ffjord::new(ViaDuals(net.clone()), (0.0, 1.0), Dp5)?
            .trace(trace)
            .tolerances(1e-5, 1e-5);
        let mut p = plain.init_params(0);
        let mut adam = Adam::new(1e-3)?;
        let mut data_rng = Xoshiro256pp::new(0);
        let (mut tp, mut td, mut nfe, mut nfe_fwd) = (vec![], vec![], vec![], vec![]);
        let mut max_rel = 0.0f64;
        let mut nfe_mismatch = 0;
        let mut final_loss = f64::NAN;
        for it in 0..iters {
            let x = two_moons(&mut data_rng, 512)?;
            // The same probes for both passes: each starts its own copy of the probe stream.
            let seed = 1000 + it as u64;
            let t = Instant::now();
            let gp = plain.loss_and_gradient(&x, &p, &mut Xoshiro256pp::new(seed))?;
            let t_plain = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let gd = dual.loss_and_gradient(&x, &p, &mut Xoshiro256pp::new(seed))?;
            let t_dual = t.elapsed().as_secs_f64();
            let scale = gd.dp.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (a, b) in gp.dp.iter().zip(&gd.dp) {
                max_rel = max_rel.max((a - b).abs() / scale);
            }
            if (gp.forward.nf, gp.backward.nf) != (gd.forward.nf, gd.backward.nf) {
                nfe_mismatch += 1;
            }
            adam.step(&mut p, &gp.dp)?;
            final_loss = gp.loss;
            if it > 0 {
                tp.push(t_plain);
                td.push(t_dual);
                nfe.push((gp.forward.nf + gp.backward.nf) as f64);
                nfe_fwd.push(gp.forward.nf as f64);
            }
        }
        let vjp_plain = field_vjp_seconds::<_, f64>(net.clone(), trace, &p)?;
        let vjp_dual = field_vjp_seconds::<_, f64>(ViaDuals(net.clone()), trace, &p)?;
        let vjp_plain32 = field_vjp_seconds::<_, f32>(net.clone(), trace, &p)?;
        let vjp_dual32 = field_vjp_seconds::<_, f32>(ViaDuals(net.clone()), trace, &p)?;
        for (pass, times, vjp, vjp32) in [
            ("plain", &tp, vjp_plain, vjp_plain32),
            ("dual", &td, vjp_dual, vjp_dual32),
        ] {
            let (lo, hi) = spread(times);
            println!(
                "{{\"system\": \"sciml-rs Dp5 discrete adjoint, {name} trace, f64, second derivatives {pass}\", \"median_s\": {:e}, \"min_s\": {lo:e}, \"max_s\": {hi:e}, \"nfe\": {}, \"nfe_forward\": {}, \"iterations\": {iters}, \"iterations_timed\": {}, \"final_loss\": {final_loss}, \"field_vjp_s\": {vjp:e}, \"field_vjp_f32_s\": {vjp32:e}, \"max_rel_gradient_difference_plain_vs_dual\": {max_rel:e}, \"iterations_with_different_nfe\": {nfe_mismatch}}}",
                median(times.clone()),
                median(nfe.clone()),
                median(nfe_fwd.clone()),
                times.len(),
            );
        }
    }
    Ok(())
}
