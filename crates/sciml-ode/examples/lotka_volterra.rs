//! The README's example: Lotka–Volterra solved with Tsit5, saved on a grid, interpolated, and
//! differentiated with respect to its parameters by running dual numbers through the solver.
//!
//! `cargo run --release -p sciml-ode --example lotka_volterra`

use sciml_ode::{
    Dual64, ForwardAd, GenericRhs, OdeProblem, SaveAt, Scalar, SolveOptions, Tsit5, Vern9,
};
use std::time::Instant;

/// du1 = a u1 − b u1 u2, du2 = −c u2 + d u1 u2, written once for every scalar type.
struct LotkaVolterra;

impl GenericRhs for LotkaVolterra {
    fn dims(&self) -> (usize, usize) {
        (2, 4)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
        du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = vec![1.5, 1.0, 3.0, 1.0];
    let mut prob = OdeProblem::new(
        ForwardAd::new(LotkaVolterra),
        vec![1.0, 1.0],
        (0.0, 10.0),
        p.clone(),
    )?;
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Every(1.0));
    let start = Instant::now();
    let sol = prob.solve(Tsit5, &opts)?;
    let elapsed = start.elapsed();
    println!("   t        prey      predator");
    for (t, u) in sol.iter() {
        println!("{t:5.1}  {:10.6}  {:10.6}", u[0], u[1]);
    }
    println!(
        "Tsit5: {} steps ({} rejected), {} RHS evaluations, {:.1} µs",
        sol.stats.accepted,
        sol.stats.rejected,
        sol.stats.nf,
        elapsed.as_secs_f64() * 1e6
    );

    // Dense output: the default options keep every step's interpolant.
    let dense = prob.solve(Vern9, &SolveOptions::default().tolerances(1e-12, 1e-12))?;
    let u = dense.interpolate(std::f64::consts::PI)?;
    println!("Vern9 at t = π: [{:.12}, {:.12}]", u[0], u[1]);

    // d u(10) / d p by forward-mode dual numbers through the same solver (one pass per parameter).
    println!("∂u(10)/∂p:");
    for k in 0..4 {
        let pd: Vec<Dual64> = p
            .iter()
            .enumerate()
            .map(|(i, v)| Dual64::new(*v, if i == k { 1.0 } else { 0.0 }))
            .collect();
        let u0 = vec![Dual64::constant(1.0), Dual64::constant(1.0)];
        let mut dprob = OdeProblem::new(
            ForwardAd::<_, Dual64>::with_scalar(LotkaVolterra),
            u0,
            (0.0, 10.0),
            pd,
        )?;
        let end = dprob.solve(Tsit5, &opts)?;
        let last = end.u.last().ok_or("empty solution")?;
        println!("  p[{k}]: [{:+.6}, {:+.6}]", last[0].eps(), last[1].eps());
    }
    Ok(())
}
