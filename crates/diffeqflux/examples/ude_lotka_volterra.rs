//! A universal differential equation, the "missing physics" tutorial of SciML: Lotka–Volterra
//! whose interaction terms are unknown and replaced by a small neural network,
//!
//!   du1/dt =  α u1 + NN(u)₁,   du2/dt = −δ u2 + NN(u)₂,
//!
//! with α = 1.3 and δ = 1.8 known. The network (2 → 5 → 5 → 2, tanh) is trained on noisy data of
//! the true system (β = 0.9, γ = 0.8, u0 = [0.44249296, 4.6280594], t in [0, 5], 21 points, 5 %
//! noise) with Adam and then L-BFGS, through the discrete adjoint. The trained model recovers the
//! trajectories, and the network approximates the missing terms −β u1 u2 and γ u1 u2.
//!
//! `cargo run --release -p diffeqflux --example ude_lotka_volterra`

use diffeqflux::nn::{Activation, Chain, Dense, Layer};
use diffeqflux::optim::{Adam, Convergence, Lbfgs, Minimiser, Optimiser, Termination};
use diffeqflux::NeuralField;
use sciml_core::rng::Xoshiro256pp;
use sciml_ode::{FnField, OdeProblem, SaveAt, SolveOptions, Tsit5, VectorField, Vern9, Vjp};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};
use std::time::Instant;

const ALPHA: f64 = 1.3;
const DELTA: f64 = 1.8;

type Net = Chain<(Dense, Dense, Dense)>;

/// Known physics plus the network: `f(u) = [α u1, −δ u2] + NN(u)`.
struct Ude {
    nn: NeuralField<Net, Vec<f64>>,
}

impl VectorField for Ude {
    type V = Vec<f64>;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        self.nn.dims()
    }
    fn rhs(&mut self, t: f64, u: &Vec<f64>, p: &Vec<f64>, du: &mut Vec<f64>) {
        self.nn.rhs(t, u, p, du);
        du[0] += ALPHA * u[0];
        du[1] -= DELTA * u[1];
    }
}

impl Vjp for Ude {
    const EXACT: bool = true;
    fn vjp(
        &mut self,
        t: f64,
        u: &Vec<f64>,
        p: &Vec<f64>,
        w: &Vec<f64>,
        gu: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        self.nn.vjp(t, u, p, w, gu, gp);
        gu[0] += ALPHA * w[0];
        gu[1] -= DELTA * w[1];
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let start = Instant::now();
    let u0 = vec![0.442_492_96, 4.628_059_4];
    let ts: Vec<f64> = (0..=20).map(|k| 0.25 * k as f64).collect();
    let truth = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = ALPHA * u[0] - 0.9 * u[0] * u[1];
        du[1] = -DELTA * u[1] + 0.8 * u[0] * u[1];
    });
    let exact = OdeProblem::new(truth, u0.clone(), (0.0, 5.0), vec![])?
        .solve(
            Vern9,
            &SolveOptions::default()
                .tolerances(1e-12, 1e-12)
                .saveat(SaveAt::Times(ts.clone())),
        )?
        .u;
    // 5 % Gaussian noise relative to each component's mean, seeded.
    let mut rng = Xoshiro256pp::new(1234);
    let mean: Vec<f64> = (0..2)
        .map(|i| exact.iter().map(|u| u[i]).sum::<f64>() / exact.len() as f64)
        .collect();
    let data: Vec<Vec<f64>> = exact
        .iter()
        .map(|u| {
            (0..2)
                .map(|i| u[i] + 0.05 * mean[i] * rng.normal())
                .collect()
        })
        .collect();

    let net = Chain::new((
        Dense::new(2, 5, Activation::Tanh),
        Dense::new(5, 5, Activation::Tanh),
        Dense::new(5, 2, Activation::Identity),
    ))?;
    let mut p = net.initial_params(&mut Xoshiro256pp::new(42));
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(ts.clone()));
    let adjoint = DiscreteAdjoint::default();
    let loss_and_grad =
        |p: &[f64], grad: &mut [f64]| -> Result<f64, Box<dyn std::error::Error + Send + Sync>> {
            let mut prob = OdeProblem::new(
                Ude {
                    nn: NeuralField::new(net.clone(), 1)?,
                },
                u0.clone(),
                (0.0, 5.0),
                p.to_vec(),
            )?;
            let (sol, tape) = match adjoint.forward(&mut prob, &Tsit5, &opts) {
                Ok(x) => x,
                Err(_) => return Ok(f64::INFINITY),
            };
            let mut loss = 0.0;
            let ubar: Vec<Vec<f64>> = sol
                .u
                .iter()
                .zip(&data)
                .map(|(u, d)| {
                    (0..2)
                        .map(|i| {
                            let r = u[i] - d[i];
                            loss += r * r;
                            2.0 * r
                        })
                        .collect()
                })
                .collect();
            let g = adjoint.backward(&mut prob, &Tsit5, tape, &ubar)?;
            grad.copy_from_slice(&g.dp);
            Ok(loss)
        };
    let mut grad = vec![0.0; p.len()];
    let mut adam = Adam::new(0.01)?;
    let first = loss_and_grad(&p, &mut grad)?;
    println!("initial loss: {first:.4}");
    for iter in 1..=2000 {
        let loss = loss_and_grad(&p, &mut grad)?;
        if iter % 200 == 0 {
            println!("Adam iteration {iter:5}: loss {loss:.5}");
        }
        if loss.is_finite() {
            adam.step(&mut p, &grad)?;
        }
    }
    // L-BFGS, restarted (fresh curvature memory) when its line search gives up.
    let lbfgs = Lbfgs::new().with_convergence(Convergence::default().with_max_iters(1000)?);
    let mut report = lbfgs.minimise(&p, |x, g| loss_and_grad(x, g))?;
    for _ in 0..3 {
        if report.termination != Termination::LineSearchFailed {
            break;
        }
        println!(
            "L-BFGS: {:?} after {} iterations, loss {:.6}; restarting",
            report.termination, report.iterations, report.loss
        );
        report = lbfgs.minimise(&report.params, |x, g| loss_and_grad(x, g))?;
    }
    p = report.params.clone();
    println!(
        "L-BFGS: {:?} after {} iterations, loss {:.6}",
        report.termination, report.iterations, report.loss
    );

    // How well the trained UDE recovers the true trajectories (no noise) and the missing terms.
    let mut prob = OdeProblem::new(
        Ude {
            nn: NeuralField::new(net.clone(), 1)?,
        },
        u0.clone(),
        (0.0, 5.0),
        p.clone(),
    )?;
    let fit = prob.solve(Tsit5, &opts)?;
    let scale: Vec<f64> = (0..2)
        .map(|i| exact.iter().fold(0.0_f64, |m, u| m.max(u[i].abs())))
        .collect();
    let worst = fit
        .u
        .iter()
        .zip(&exact)
        .flat_map(|(a, b)| (0..2).map(move |i| (a[i] - b[i]).abs()))
        .zip((0..).map(|k| scale[k % 2]))
        .map(|(e, s)| e / s)
        .fold(0.0, f64::max);
    let mut nn = NeuralField::<Net, Vec<f64>>::new(net, 1)?;
    let mut out = vec![0.0; 2];
    let mut term_err = 0.0_f64;
    let mut term_scale = 0.0_f64;
    for u in &exact {
        nn.rhs(0.0, u, &p, &mut out);
        let missing = [-0.9 * u[0] * u[1], 0.8 * u[0] * u[1]];
        for i in 0..2 {
            term_err = term_err.max((out[i] - missing[i]).abs());
            term_scale = term_scale.max(missing[i].abs());
        }
    }
    println!(
        "fitted trajectory against the exact one: largest error {:.2} % of each component's range",
        100.0 * worst
    );
    println!("network vs the missing terms along the trajectory: max error {term_err:.3} (terms up to {term_scale:.3})");
    println!("final loss: {:.6}", report.loss);
    println!("wall time: {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
