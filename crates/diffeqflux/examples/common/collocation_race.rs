//! Collocation then single-shooting refinement, raced against single shooting alone to the same
//! trajectory loss on the DiffEqFlux spiral; shared by the `collocation` example and the
//! `bench_colloc_spiral` workload.
//!
//! Both sides minimise the same function (the sum of squared errors of the Tsit5 trajectory
//! against the 30 data points, gradients by the discrete adjoint) and stop at the first
//! iterate whose loss is at or below the target; the timings include every loss evaluation
//! (line searches too).

use diffeqflux::collocation::{collocate_data, CollocationLoss, Kernel};
use diffeqflux::nn::{Activation, Chain, Dense, WrappedFunction};
use diffeqflux::optim::{Adam, Convergence, Lbfgs, Minimiser, Optimiser};
use diffeqflux::NeuralOde;
use sciml_ode::Tsit5;
use std::time::Instant;

use crate::spiral::{spiral_data, Cube};

/// The spiral's network: x -> x.^3 -> Dense(2, 50, tanh) -> Dense(50, 2).
pub type Model = Chain<(WrappedFunction<Cube>, Dense, Dense)>;

/// Gaussian kernel, bandwidth 0.015 of the span (σ = 0.0225, under half the sample spacing):
/// nearly interpolating, right for these exact data. Measured sums of squared derivative
/// errors against the true field at the 30 points: 5.0 here, 29 with Epanechnikov at 0.08 (the
/// narrowest window that still holds a local quadratic), 16.7 with Gaussian at 0.03.
pub const KERNEL: Kernel = Kernel::Gaussian;
/// See [`KERNEL`].
pub const BANDWIDTH: f64 = 0.015;
/// L-BFGS iterations on the collocation loss: early stopping. The derivative estimates carry
/// errors, and fitting them further ruins the trajectory (measured from seed 0: trajectory
/// loss 1.7 after 50 iterations, 9.3 after 200, about 6000 after 1000).
pub const COLLOCATION_ITERS: usize = 50;
/// Adam's rate for single shooting alone: the best of 0.01, 0.02, 0.05 and 0.1 (measured time
/// to the losses 0.1, 0.05 and 0.01 from seed 0; 0.1 never reached 0.01 in 4000 iterations).
/// L-BFGS alone on the trajectory loss stalls (its line search fails near loss 0.5).
pub const SINGLE_LR: f64 = 0.05;
/// Iteration cap of either side.
pub const MAX_ITERS: usize = 5000;

/// One side's run to the target.
#[derive(Clone, Debug)]
pub struct Run {
    /// Wall time in seconds (to the target, or to the cap).
    pub seconds: f64,
    /// Optimiser iterations (both stages for collocation).
    pub iterations: usize,
    /// Trajectory-loss evaluations (each one a forward solve and an adjoint).
    pub solves: usize,
    /// Vector-field evaluations of those solves, forward and backward (VJPs included).
    pub rhs_evals: usize,
    /// The trajectory loss at the end.
    pub loss: f64,
    /// Whether the target was reached.
    pub reached: bool,
    /// Collocation stage alone: seconds and the trajectory loss after it (collocation runs).
    pub stage1: Option<(f64, f64)>,
}

/// The data, network and layer of the race.
pub struct Race {
    ts: Vec<f64>,
    data: Vec<Vec<f64>>,
    model: Model,
    node: NeuralOde<Model, Tsit5>,
}

impl Race {
    /// The spiral over (0, 1.5) at 30 points.
    pub fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let (ts, data) = spiral_data(1.5, 30)?;
        let model = Chain::new((
            WrappedFunction::new(2, Cube),
            Dense::new(2, 50, Activation::Tanh),
            Dense::new(50, 2, Activation::Identity),
        ))?;
        let node = NeuralOde::new(model.clone(), (0.0, 1.5), Tsit5, ts.clone())?;
        Ok(Race {
            ts,
            data,
            model,
            node,
        })
    }

    /// Initial parameters from `seed`.
    pub fn init(&self, seed: u64) -> Vec<f64> {
        self.node.init_params(seed)
    }

    /// The trajectory loss, its gradient and the vector-field evaluations they took.
    pub fn trajectory(
        &self,
        p: &[f64],
    ) -> Result<(f64, Vec<f64>, usize), Box<dyn std::error::Error + Send + Sync>> {
        let g = self
            .node
            .loss_and_gradient(&[2.0, 0.0], p, |_t: &[f64], us: &[Vec<f64>]| {
                diffeqflux::multiple_shooting::squared_error(&self.data, us)
            })?;
        Ok((g.loss, g.dp, g.forward.nf + g.backward.nf))
    }

    /// Collocation (no solve, L-BFGS for [`COLLOCATION_ITERS`] iterations) from `p0`, then
    /// L-BFGS on the trajectory loss until it reaches `target`.
    pub fn collocation_then_refine(
        &self,
        p0: &[f64],
        target: f64,
    ) -> Result<Run, Box<dyn std::error::Error>> {
        let start = Instant::now();
        let c = collocate_data(&self.data, &self.ts, KERNEL, Some(BANDWIDTH))?;
        let loss = CollocationLoss::new(&c)?;
        let stage1 = Lbfgs::new()
            .with_convergence(Convergence::default().with_max_iters(COLLOCATION_ITERS)?)
            .minimise(p0, |x, g| {
                let (l, gl) = loss.loss_and_gradient(&self.model, x)?;
                g.copy_from_slice(&gl);
                Ok(l)
            })?;
        let t1 = start.elapsed().as_secs_f64();
        let (mut solves, mut rhs_evals) = (0, 0);
        let mut reached = false;
        let refine = Lbfgs::new()
            .with_convergence(Convergence::default().with_max_iters(MAX_ITERS)?)
            .minimise_with_callback(
                &stage1.params,
                |x, g| {
                    solves += 1;
                    let (l, gl, nf) = self.trajectory(x)?;
                    rhs_evals += nf;
                    g.copy_from_slice(&gl);
                    Ok(l)
                },
                |s| {
                    reached = s.loss <= target;
                    reached
                },
            )?;
        let seconds = start.elapsed().as_secs_f64();
        let l1 = refine.loss_history.first().copied().unwrap_or(f64::NAN);
        Ok(Run {
            seconds,
            iterations: stage1.iterations + refine.iterations,
            solves,
            rhs_evals,
            loss: refine.loss,
            reached: reached || refine.loss <= target,
            stage1: Some((t1, l1)),
        })
    }

    /// Single shooting alone: Adam([`SINGLE_LR`]) on the trajectory loss from `p0` until it
    /// reaches `target`.
    pub fn single_shooting(
        &self,
        p0: &[f64],
        target: f64,
    ) -> Result<Run, Box<dyn std::error::Error>> {
        let start = Instant::now();
        let mut p = p0.to_vec();
        let mut adam = Adam::new(SINGLE_LR)?;
        let mut loss = f64::INFINITY;
        let (mut iterations, mut rhs_evals) = (0, 0);
        while iterations < MAX_ITERS {
            let (l, g, nf) = self.trajectory(&p).map_err(|e| e.to_string())?;
            loss = l;
            rhs_evals += nf;
            if l <= target {
                break;
            }
            adam.step(&mut p, &g)?;
            iterations += 1;
        }
        Ok(Run {
            seconds: start.elapsed().as_secs_f64(),
            iterations,
            solves: iterations + 1,
            rhs_evals,
            loss,
            reached: loss <= target,
            stage1: None,
        })
    }
}
