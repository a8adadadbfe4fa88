//! Callbacks: events located on the dense output, state changes, termination.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use sciml_core::{FnField, ReturnCode};
use sciml_ode::*;

const G: f64 = 9.81;
const H0: f64 = 10.0;

/// Free fall u = [height, velocity], u' = [v, -g].
fn ball() -> OdeProblem<impl sciml_core::VectorField<V = Vec<f64>, P = Vec<f64>>> {
    let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = u[1];
        du[1] = -G;
    });
    OdeProblem::new(f, vec![H0, 0.0], (0.0, 5.0), vec![]).unwrap()
}

#[test]
fn bouncing_ball_first_impact_is_exact() {
    let mut prob = ball();
    let bounce = ContinuousCallback::new(|_t, u: &Vec<f64>| u[0], |ctx| ctx.u[1] *= -0.9)
        .direction(Crossing::Down);
    let sol = prob
        .solve_with_callbacks(
            Tsit5,
            &SolveOptions::default(),
            Callbacks::new().with_continuous(bounce),
        )
        .unwrap();
    // Saved at every step: the event appears twice, before and after the bounce.
    let i = sol
        .u
        .windows(2)
        .position(|w| w[0][1] < 0.0 && w[1][1] > 0.0)
        .expect("a bounce");
    let t_hit = sol.t[i];
    assert_eq!(sol.t[i], sol.t[i + 1]);
    let exact = (2.0 * H0 / G).sqrt();
    assert!(
        (t_hit - exact).abs() < 1e-10,
        "impact at {t_hit}, exact {exact}"
    );
    // Velocity reversed with restitution 0.9 at the impact.
    assert!((sol.u[i + 1][1] + 0.9 * sol.u[i][1]).abs() < 1e-12);
    assert!((sol.u[i][1] + G * exact).abs() < 1e-8);
    // The second impact follows after the flight time of the reduced speed.
    let v1 = 0.9 * G * exact;
    let second = exact + 2.0 * v1 / G;
    let j = i
        + 2
        + sol.u[i + 2..]
            .windows(2)
            .position(|w| w[0][1] < 0.0 && w[1][1] > 0.0)
            .expect("a second bounce");
    assert!((sol.t[j] - second).abs() < 1e-9, "{} vs {second}", sol.t[j]);
    assert_eq!(sol.retcode, ReturnCode::Success);
    assert!(
        sol.u.iter().all(|u| u[0] > -1e-9),
        "the ball never goes through the floor"
    );
}

#[test]
fn terminating_event_stops_at_the_root() {
    let mut prob = ball();
    let stop = ContinuousCallback::new(|_t, u: &Vec<f64>| u[0] - 5.0, |ctx| ctx.terminate());
    let sol = prob
        .solve_with_callbacks(
            Tsit5,
            &SolveOptions::default(),
            Callbacks::new().with_continuous(stop),
        )
        .unwrap();
    assert_eq!(sol.retcode, ReturnCode::Terminated);
    let t = *sol.t.last().unwrap();
    assert!((t - (2.0 * 5.0 / G).sqrt()).abs() < 1e-10);
    assert!((sol.u.last().unwrap()[0] - 5.0).abs() < 1e-9);
}

#[test]
fn event_in_the_middle_of_saveat_points_keeps_the_grid() {
    let mut prob = ball();
    let bounce = ContinuousCallback::new(|_t, u: &Vec<f64>| u[0], |ctx| ctx.u[1] = -ctx.u[1]);
    let opts = SolveOptions::default().saveat(SaveAt::Every(0.25));
    let sol = prob
        .solve_with_callbacks(Tsit5, &opts, Callbacks::new().with_continuous(bounce))
        .unwrap();
    assert_eq!(sol.len(), 21);
    // Elastic bounce: the motion is periodic with period 2 sqrt(2h/g); check the height at 2.5.
    let tf = (2.0 * H0 / G).sqrt();
    let tau = 2.5 % (2.0 * tf);
    let s = if tau < tf { tau } else { 2.0 * tf - tau };
    let exact = H0 - 0.5 * G * s * s;
    assert!(
        (sol.u[10][0] - exact).abs() < 1e-5,
        "{} vs {exact}",
        sol.u[10][0]
    );
}

#[test]
fn discrete_callback_changes_the_state_after_a_step() {
    let f = FnField::new(1, 0, |_t: f64, _u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = 1.0
    });
    let mut prob = OdeProblem::new(f, vec![0.0], (0.0, 10.0), vec![]).unwrap();
    // Reset to zero whenever the value passes 1 (checked after each step of 0.25).
    let reset = DiscreteCallback::new(|_t, u: &Vec<f64>| u[0] >= 1.0 - 1e-12, |ctx| ctx.u[0] = 0.0);
    let opts = SolveOptions::default().fixed_step(0.25);
    let sol = prob
        .solve_with_callbacks(Euler, &opts, Callbacks::new().with_discrete(reset))
        .unwrap();
    assert!(sol.u.iter().all(|u| u[0] <= 1.0 + 1e-12));
    assert!(
        sol.u.last().unwrap()[0].abs() < 1e-12,
        "10 is a multiple of 1: reset at the end: {:?} {:?}",
        &sol.u[sol.len() - 6..],
        &sol.t[sol.len() - 6..]
    );
}

#[test]
fn discrete_callback_can_terminate() {
    let f = FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = u[0]
    });
    let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 10.0), vec![]).unwrap();
    let stop = DiscreteCallback::new(|_t, u: &Vec<f64>| u[0] > 100.0, |ctx| ctx.terminate());
    let sol = prob
        .solve_with_callbacks(
            Tsit5,
            &SolveOptions::default(),
            Callbacks::new().with_discrete(stop),
        )
        .unwrap();
    assert_eq!(sol.retcode, ReturnCode::Terminated);
    assert!(*sol.t.last().unwrap() < 10.0);
    assert!(sol.u.last().unwrap()[0] > 100.0);
}

/// `u' = max(0, t − 1/2)`: `u''` jumps at t = 1/2, which the error estimate of a step across it
/// does not see; `u(1) = 1/8`. Landing on the root of `t − 1/2` retakes the step that crosses it
/// to end there, and the affect runs on that step's end state.
#[test]
fn landing_on_the_root_of_a_kink_in_the_field() {
    let solve = |land: bool| {
        let f = FnField::new(1, 0, |t: f64, _u: &[f64], _p: &[f64], du: &mut [f64]| {
            du[0] = (t - 0.5).max(0.0);
        });
        let mut prob = OdeProblem::new(f, vec![0.0], (0.0, 1.0), vec![]).unwrap();
        let cb = ContinuousCallback::new(|t, _u: &Vec<f64>| t - 0.5, |_ctx| {})
            .direction(Crossing::Up)
            .land_on_root(land);
        let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
        prob.solve_with_callbacks(Vern9, &opts, Callbacks::new().with_continuous(cb))
            .unwrap()
    };
    let landed = solve(true);
    let at_root = landed.t.iter().filter(|t| (*t - 0.5).abs() < 1e-12).count();
    assert_eq!(at_root, 1, "{:?}", landed.t);
    let err_landed = (landed.u.last().unwrap()[0] - 0.125).abs();
    let interpolated = solve(false);
    let err_interp = (interpolated.u.last().unwrap()[0] - 0.125).abs();
    assert!(err_landed < 1e-14, "landed: error {err_landed:e}");
    assert!(
        err_interp > 1e3 * err_landed.max(1e-17),
        "interpolated: error {err_interp:e}"
    );
    assert_eq!(landed.retcode, ReturnCode::Success);
    assert_eq!(
        landed.stats.rejected,
        interpolated.stats.rejected + 1,
        "one step retaken"
    );
}
