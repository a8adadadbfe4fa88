//! Robertson's kinetics as a DAE (benchmark W8's first workload: span [0, 1e5], rtol 1e-6,
//! atol 1e-10), with exact Jacobians by dual numbers. Prints the error against the reference at
//! 1e5 (`sciml_ode::problems::Robertson::REF_T1E5`), the work counters and the median time of a
//! few solves. Run with `cargo run --release -p sciml-dae --example robertson_dae`.

use sciml_core::Scalar;
use sciml_dae::{DaeBdf, DaeForwardAd, DaeInit, DaeProblem, GenericResidual};
use sciml_ode::problems::Robertson;
use sciml_ode::{SaveAt, SolveOptions};
use std::time::Instant;

struct RobertsonResidual;

impl GenericResidual for RobertsonResidual {
    fn len(&self) -> usize {
        3
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        let (k1, k2, k3) = (p[0], p[1], p[2]);
        r[0] = du[0] + k1 * u[0] - k3 * u[1] * u[2];
        r[1] = du[1] - k1 * u[0] + k3 * u[1] * u[2] + k2 * u[1] * u[1];
        r[2] = u[0] + u[1] + u[2] - S::one();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let k = Robertson::P;
    let mut prob = DaeProblem::new(
        DaeForwardAd::new(RobertsonResidual),
        vec![-k[0], k[0], 0.0],
        vec![1.0, 0.0, 0.0],
        (0.0, Robertson::T1E5),
        k.to_vec(),
        Some(vec![true, true, false]),
    )?;
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-10)
        .saveat(SaveAt::Times(vec![Robertson::T1E5]));
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..21 {
        let start = Instant::now();
        let sol = prob.solve(DaeBdf::new(), DaeInit::CheckInit, &opts)?;
        times.push(start.elapsed().as_secs_f64());
        last = Some(sol);
    }
    times.sort_by(f64::total_cmp);
    let sol = last.ok_or("no solve")?;
    let u = &sol.u[0];
    let err = u
        .iter()
        .zip(&Robertson::REF_T1E5)
        .map(|(a, b)| ((a - b) / b).abs())
        .fold(0.0, f64::max);
    println!("y(1e5) = {u:?}");
    println!("max relative error {err:.2e}");
    println!("{:?}", sol.stats);
    println!("median {:.3} ms", 1e3 * times[times.len() / 2]);
    Ok(())
}
