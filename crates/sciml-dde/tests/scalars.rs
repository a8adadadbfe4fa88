//! f32 states, and dual numbers through the solver (forward-mode derivatives of the computed
//! solution) checked against central differences.
#![allow(clippy::ptr_arg)]

mod common;

use common::LinearExact;
use sciml_core::{Dual64, Scalar};
use sciml_dde::{DdeFunction, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{SaveAt, SolveOptions, Tsit5, Vern9};

/// `u'(t) = -λ u(t - 1)` for any scalar (`p = [λ]`).
struct Linear<S>(std::marker::PhantomData<S>);

impl<S: Scalar> DdeFunction for Linear<S> {
    type V = Vec<S>;
    type P = Vec<S>;
    fn dims(&self) -> (usize, usize) {
        (1, 1)
    }
    fn rhs(
        &mut self,
        du: &mut Vec<S>,
        _u: &Vec<S>,
        h: &mut History<'_, Vec<S>, Vec<S>>,
        p: &Vec<S>,
        t: S::Re,
    ) {
        let one = <S::Re as sciml_core::One>::one();
        du[0] = -(p[0] * h.value(t - one)[0]);
    }
}

fn problem<S: Scalar>(lambda: S, t1: S::Re) -> DdeProblem<Linear<S>> {
    let one = S::cst(1.0);
    DdeProblem::new(
        Linear(std::marker::PhantomData),
        vec![one],
        InitialHistory::constant(vec![one]),
        (<S::Re as sciml_core::Zero>::zero(), t1),
        vec![lambda],
    )
    .expect("valid")
    .with_lags(vec![<S::Re as sciml_core::One>::one()])
    .expect("valid")
}

#[test]
fn f32_states_solve_to_single_precision() {
    let exact = LinearExact::new(5);
    let mut prob = problem::<f32>(1.0, 5.0);
    let opts = SolveOptions::default()
        .tolerances(1e-6_f32, 1e-7)
        .saveat(SaveAt::Times(vec![1.5, 3.0, 5.0]));
    let sol = prob
        .solve(MethodOfSteps::new(Tsit5), &opts)
        .expect("solves");
    for (t, u) in sol.iter() {
        let want = exact.at(f64::from(t));
        assert!(
            (f64::from(u[0]) - want).abs() < 1e-5,
            "u({t}) = {} vs {want}",
            u[0]
        );
    }
}

fn u_at_4(lambda: f64) -> f64 {
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(vec![4.0]));
    problem::<f64>(lambda, 4.0)
        .solve(MethodOfSteps::new(Vern9), &opts)
        .expect("solves")
        .u[0][0]
}

#[test]
fn dual_numbers_through_the_solver_match_central_differences() {
    let lambda = 0.8;
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(vec![4.0]));
    let sol = problem(Dual64::new(lambda, 1.0), 4.0)
        .solve(MethodOfSteps::new(Vern9), &opts)
        .expect("solves");
    let (value, derivative) = (sol.u[0][0].value(), sol.u[0][0].eps());
    let d = 1e-5;
    let central = (u_at_4(lambda + d) - u_at_4(lambda - d)) / (2.0 * d);
    assert!((value - u_at_4(lambda)).abs() < 1e-12);
    assert!(
        (derivative - central).abs() < 1e-5 * central.abs().max(1.0),
        "dual {derivative} vs central differences {central}"
    );
    // And against the exact derivative: u(4) is a polynomial in λ; its derivative by the
    // method of steps in closed form: on [k, k+1], u is Σ_j (-λ)^j (t - j + 1)^j / j!.
    let exact_du = |t: f64| -> f64 {
        let mut s = 0.0;
        let mut fact = 1.0;
        for j in 1..=(t.floor() as i32 + 1) {
            fact *= f64::from(j);
            s += f64::from(j)
                * (-1f64).powi(j)
                * lambda.powi(j - 1)
                * (t - f64::from(j) + 1.0).powi(j)
                / fact;
        }
        s
    };
    assert!(
        (derivative - exact_du(4.0)).abs() < 1e-9,
        "dual {derivative} vs exact {}",
        exact_du(4.0)
    );
}
