//! The DiffEqFlux README tutorial's spiral, shared by the examples that train on it:
//! du/dt = ((u.^3)ᵀ A)ᵀ with A = [[-0.1, 2.0], [-2.0, -0.1]], u0 = [2, 0].

use diffeqflux::nn::ElementwiseFn;
use sciml_ode::{FnField, OdeProblem, SaveAt, Scalar, SolveOptions, Vern9};

const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];

/// `x ↦ x³`, elementwise, with its derivative.
#[derive(Clone, Copy, Debug)]
pub struct Cube;
impl ElementwiseFn for Cube {
    fn f<S: Scalar>(&self, x: S) -> S {
        x * x * x
    }
    fn df<S: Scalar>(&self, x: S) -> S {
        x * x * S::cst(3.0)
    }
}

/// Save times and the states saved there.
pub type Trajectory = (Vec<f64>, Vec<Vec<f64>>);

/// `points` equally spaced times on `[0, t_end]` and the true spiral there (Vern9 at 1e-12).
pub fn spiral_data(t_end: f64, points: usize) -> Result<Trajectory, Box<dyn std::error::Error>> {
    let last = (points - 1) as f64;
    let ts: Vec<f64> = (0..points).map(|i| t_end * i as f64 / last).collect();
    let truth = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let (a, b) = (u[0].powi(3), u[1].powi(3));
        du[0] = a * A[0][0] + b * A[1][0];
        du[1] = a * A[0][1] + b * A[1][1];
    });
    let data = OdeProblem::new(truth, vec![2.0, 0.0], (0.0, t_end), vec![])?
        .solve(
            Vern9,
            &SolveOptions::default()
                .tolerances(1e-12, 1e-12)
                .saveat(SaveAt::Times(ts.clone())),
        )?
        .u;
    Ok((ts, data))
}
