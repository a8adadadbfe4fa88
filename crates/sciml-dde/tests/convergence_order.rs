//! Fixed-step convergence orders on `u'(t) = -u(t - 1)` with the history `u = e^{μt}` (the exact
//! solution by the method of steps, `common::ExpHistoryExact`; not polynomial on any piece, so
//! no method integrates a piece exactly). With the discontinuities `t0 + k` tracked as tstops a
//! method keeps its order; without, steps straddle the jumps in `u'` (t = 0 is a stop anyway),
//! `u''` (t = 1) and `u'''` (t = 2), and the order collapses.
//!
//! Vern6 and Vern8 are not order-checked here: their interpolants' weights in sciml-ode's
//! tableaus agree with their `b` (the interpolant at θ = 1) only to about 7e-12 and 2e-10, which
//! puts a floor of about 1e-10 and 1e-9 relative on any solve that reads the history; above it
//! Vern6's local orders still fall from 6.4 to 6.05 (a fit of 6.23). Vern9
//! reaches its rounding floor (1e-14) before its asymptotic range on this problem (local
//! orders rise from 7.4 to 8.6 over the usable steps).
#![allow(clippy::ptr_arg)]

mod common;

use common::{exp_history_problem, fitted_order, ExpField, ExpHistoryExact};
use sciml_dde::{DdeField, MethodOfSteps};
use sciml_ode::{Bs3, Dp5, OdeMethod, SolveOptions, Tsit5, Vern7};

const T1: f64 = 4.0;

/// The relative error at `T1` with fixed steps `1 / (n + 1/3)` (not aligned with the lag, so
/// the grid meets the discontinuities only where tracking puts tstops).
fn error<M, C>(method: M, mu: f64, n: usize, track: bool) -> (f64, f64)
where
    M: for<'h> OdeMethod<DdeField<'h, ExpField>, Cache = C> + Clone,
    C: Clone + Send,
{
    let exact = ExpHistoryExact::new(1.0, mu, 4).at(T1);
    let dt = 1.0 / (n as f64 + 1.0 / 3.0);
    let mut prob = exp_history_problem(1.0, mu, T1);
    let opts = SolveOptions::default().fixed_step(dt);
    let alg = MethodOfSteps::new(method).track_discontinuities(track);
    let sol = prob.solve(alg, &opts).expect("solves");
    let (t, u) = sol.iter().last().expect("saved the end");
    assert_eq!(t, T1);
    (dt, ((u[0] - exact) / exact).abs())
}

fn order<M, C>(method: M, mu: f64, ns: &[usize], track: bool) -> f64
where
    M: for<'h> OdeMethod<DdeField<'h, ExpField>, Cache = C> + Clone,
    C: Clone + Send,
{
    let (hs, errs): (Vec<f64>, Vec<f64>) = ns
        .iter()
        .map(|&n| error(method.clone(), mu, n, track))
        .unzip();
    let p = fitted_order(&hs, &errs);
    eprintln!(
        "{} (μ = {mu}, track: {track}): relative errors {errs:?}, fitted order {p:.2}",
        method.name()
    );
    p
}

fn check<M, C>(method: M, mu: f64, ns: &[usize])
where
    M: for<'h> OdeMethod<DdeField<'h, ExpField>, Cache = C> + Clone,
    C: Clone + Send,
{
    let p = order(method.clone(), mu, ns, true);
    let want = f64::from(method.order());
    assert!(
        (p - want).abs() <= 0.2,
        "{}: fitted order {p:.3}, method order {want}",
        method.name()
    );
}

#[test]
fn the_exp_history_reference_satisfies_the_equation() {
    // Independent of the recurrence: u'(t) = -u(t - 1) by central differences of the pieces,
    // continuity at the integers, and u = 1 at t = 0.
    let mu = 8.0;
    let ex = ExpHistoryExact::new(1.0, mu, 4);
    assert!((ex.at(0.0) - 1.0).abs() < 1e-14);
    let before = |t: f64| if t < 0.0 { (mu * t).exp() } else { ex.at(t) };
    for t in [0.3, 1.25, 2.5, 3.7] {
        let d = 1e-5;
        let du = (ex.at(t + d) - ex.at(t - d)) / (2.0 * d);
        assert!((du + before(t - 1.0)).abs() < 1e-7, "t = {t}");
    }
    for k in 1..4 {
        let k = f64::from(k);
        assert!((ex.at(k - 1e-12) - ex.at(k)).abs() < 1e-9);
    }
}

#[test]
fn tracked_orders_bs3_dp5_tsit5() {
    check(Bs3, 8.0, &[32, 64, 128]);
    check(Dp5, 4.0, &[32, 64, 128]);
    check(Tsit5, 4.0, &[32, 64, 128]);
}

#[test]
fn tracked_order_vern7() {
    check(Vern7, 8.0, &[6, 12, 24]);
}

#[test]
fn without_tracking_the_order_collapses() {
    let untracked = order(Tsit5, 4.0, &[32, 64, 128], false);
    assert!(
        untracked < 3.5,
        "Tsit5 untracked fitted order {untracked:.2}"
    );
    let untracked7 = order(Vern7, 8.0, &[6, 12, 24], false);
    assert!(
        untracked7 < 4.0,
        "Vern7 untracked fitted order {untracked7:.2}"
    );
}
