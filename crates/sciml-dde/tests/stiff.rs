//! Stiff delay equations through the method of steps with Rosenbrock and ESDIRK methods.
#![allow(clippy::ptr_arg)]

use sciml_core::DenseMatrix;
use sciml_dde::{
    DdeFn, DdeFunction, DdeJacobian, DdeProblem, FiniteDiffJacobian, History, InitialHistory,
    MethodOfSteps,
};
use sciml_ode::{KenCarp4, Rodas5P, SaveAt, SolveOptions, Tsit5};

const A: f64 = -1000.0;

/// `u' = a u(t) + b u(t - 1)` with `a = -1000` and `b = (-1 - a) e^{-1}`, history `e^{-t}`:
/// `u = e^{-t}` exactly (`-1 = a + b e^{1}`), and the `a` term makes it stiff.
struct StiffLinear;

impl DdeFunction for StiffLinear {
    type V = Vec<f64>;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        (1, 0)
    }
    fn rhs(
        &mut self,
        du: &mut Vec<f64>,
        u: &Vec<f64>,
        h: &mut History<'_, Vec<f64>, Vec<f64>>,
        _p: &Vec<f64>,
        t: f64,
    ) {
        let b = (-1.0 - A) * (-1f64).exp();
        du[0] = A * u[0] + b * h.value(t - 1.0)[0];
    }
}

impl DdeJacobian for StiffLinear {
    const EXACT: bool = true;
    fn jacobian(
        &mut self,
        _u: &Vec<f64>,
        _h: &mut History<'_, Vec<f64>, Vec<f64>>,
        _p: &Vec<f64>,
        _t: f64,
        j: &mut DenseMatrix<f64>,
    ) {
        j[(0, 0)] = A;
    }
}

fn problem<F: DdeFunction<V = Vec<f64>, P = Vec<f64>>>(f: F) -> DdeProblem<F> {
    let history =
        InitialHistory::function(|_p: &Vec<f64>, t: f64, out: &mut Vec<f64>| out[0] = (-t).exp());
    DdeProblem::new(f, vec![1.0], history, (0.0, 5.0), vec![])
        .expect("valid")
        .with_lags(vec![1.0])
        .expect("valid")
}

fn max_rel_error(sol: &sciml_core::Solution<Vec<f64>>) -> f64 {
    sol.iter()
        .map(|(t, u)| ((u[0] - (-t).exp()) / (-t).exp()).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

#[test]
fn rodas5p_and_kencarp4_solve_a_stiff_delay_equation() {
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![0.5, 1.0, 2.5, 5.0]));
    let rodas = problem(StiffLinear)
        .solve(MethodOfSteps::new(Rodas5P::new()), &opts)
        .expect("solves");
    let kencarp = problem(StiffLinear)
        .solve(MethodOfSteps::new(KenCarp4::new()), &opts)
        .expect("solves");
    let tsit5 = problem(StiffLinear)
        .solve(MethodOfSteps::new(Tsit5), &opts)
        .expect("solves");
    let (er, ek, et) = (
        max_rel_error(&rodas),
        max_rel_error(&kencarp),
        max_rel_error(&tsit5),
    );
    eprintln!(
        "Rodas5P {er:.2e} in {} steps, KenCarp4 {ek:.2e} in {}, Tsit5 {et:.2e} in {}",
        rodas.stats.accepted, kencarp.stats.accepted, tsit5.stats.accepted
    );
    assert!(er < 1e-6, "Rodas5P: {er:e}");
    assert!(ek < 1e-6, "KenCarp4: {ek:e}");
    // Stiffness: the explicit method's steps are held to its stability bound (|a h| <~ 3.5).
    assert!(tsit5.stats.accepted > 1000);
    assert!(rodas.stats.accepted < tsit5.stats.accepted / 5);
    assert!(kencarp.stats.accepted < tsit5.stats.accepted / 5);
}

#[test]
fn finite_difference_jacobians_work_with_rodas5p() {
    let f = DdeFn::new(
        1,
        0,
        |du: &mut Vec<f64>,
         u: &Vec<f64>,
         h: &mut History<'_, Vec<f64>, Vec<f64>>,
         _p: &Vec<f64>,
         t: f64| {
            let b = (-1.0 - A) * (-1f64).exp();
            du[0] = A * u[0] + b * h.value(t - 1.0)[0];
        },
    );
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![1.0, 5.0]));
    let sol = problem(FiniteDiffJacobian::new(f))
        .solve(MethodOfSteps::new(Rodas5P::new()), &opts)
        .expect("solves");
    assert!(max_rel_error(&sol) < 1e-6, "{:e}", max_rel_error(&sol));
}
