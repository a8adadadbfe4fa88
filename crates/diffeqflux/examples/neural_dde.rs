//! A neural delay equation (NeuralCdde) learns a damped oscillator with two delayed feedbacks.
//!
//! Data: u1' = u2 − 0.5 u1(t − 0.3), u2' = −u1 − 0.3 u2(t − 0.6), with u = [1, 0] before 0 and at 0,
//! on (0, 3), 31 saved points (a tight Vern9 solve). Model: Dense(6, 16, tanh) → Dense(16, 2)
//! on [u(t); u(t − 0.3); u(t − 0.6)] (146 parameters). Loss: the sum of squared errors.
//! Training: Adam(0.02), gradients by the discrete adjoint (one backward sweep through the
//! network's reverse pass; `CddeSensitivity::ForwardDiff` gives the same gradients by one dual
//! solve per parameter).
//!
//! `cargo run --release -p diffeqflux --example neural_dde` prints the loss every 25
//! iterations, then `final loss: <value>` and the wall time, and writes `neural_dde.png` (data as
//! markers, prediction as lines; loss curve on the right).
#![allow(clippy::ptr_arg)]

use diffeqflux::neural_de::{CddeHistory, CddeSensitivity, NeuralCdde};
use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::plot;
use sciml_dde::{DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{SaveAt, SolveOptions, Tsit5, Vern9};
use std::time::Instant;

const LAGS: [f64; 2] = [0.3, 0.6];
const ITERS: usize = 300;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let ts: Vec<f64> = (0..=30).map(|i| 0.1 * f64::from(i)).collect();
    let truth = DdeFn::new(
        2,
        0,
        |du: &mut Vec<f64>,
         u: &Vec<f64>,
         h: &mut History<'_, Vec<f64>, Vec<f64>>,
         _p: &Vec<f64>,
         t: f64| {
            let a = h.value(t - LAGS[0])[0];
            let b = h.value(t - LAGS[1])[1];
            du[0] = u[1] - 0.5 * a;
            du[1] = -u[0] - 0.3 * b;
        },
    );
    let u0 = [1.0, 0.0];
    let data = DdeProblem::new(
        truth,
        u0.to_vec(),
        InitialHistory::constant(u0.to_vec()),
        (0.0, 3.0),
        vec![],
    )?
    .with_lags(LAGS.to_vec())?
    .solve(
        MethodOfSteps::new(Vern9),
        &SolveOptions::default()
            .tolerances(1e-12, 1e-12)
            .saveat(SaveAt::Times(ts.clone())),
    )?
    .u;

    let model = Chain::new((
        Dense::new(6, 16, Activation::Tanh),
        Dense::new(16, 2, Activation::Identity),
    ))?;
    let cdde = NeuralCdde::new(
        model,
        (0.0, 3.0),
        CddeHistory::Constant(u0.to_vec()),
        LAGS.to_vec(),
        Tsit5,
        ts.clone(),
    )?
    .tolerances(1e-6, 1e-8)
    .with_sensitivity(CddeSensitivity::DiscreteAdjoint);
    let mut p = cdde.init_params(0);
    println!("{} parameters", p.len());

    let loss_fn = |_t: &[f64], us: &[Vec<f64>]| {
        let mut loss = 0.0;
        let mut bars = Vec::with_capacity(us.len());
        for (u, d) in us.iter().zip(&data) {
            let r: Vec<f64> = u.iter().zip(d).map(|(a, b)| a - b).collect();
            loss += r.iter().map(|x| x * x).sum::<f64>();
            bars.push(r.iter().map(|x| 2.0 * x).collect());
        }
        (loss, bars)
    };

    let mut adam = Adam::new(0.02)?;
    let mut losses = Vec::with_capacity(ITERS);
    for iter in 0..ITERS {
        let g = cdde.loss_and_gradient(&u0, &p, loss_fn)?;
        losses.push(g.loss);
        if iter % 25 == 0 {
            println!("iteration {iter:4}: loss {:.6}", g.loss);
        }
        adam.step(&mut p, &g.dp)?;
    }
    let sol = cdde.solve(&u0, &p)?;
    let final_loss = loss_fn(&sol.t, &sol.u).0;
    let png = std::path::Path::new("neural_dde.png");
    plot::training_figure(png, &ts, &data, &sol.u, &losses)?;
    println!("wrote {}", png.display());
    println!("final loss: {final_loss:.6} (initial {:.6})", losses[0]);
    println!("wall time: {:.3} s", start.elapsed().as_secs_f64());
    Ok(())
}
