//! Automatic stiffness switching (`AutoTsit5Rodas5P`): on a stiff problem at tight tolerances
//! it must do about the work of its stiff method alone, and on a non-stiff problem exactly the
//! work of Tsit5 alone.
#![allow(clippy::unwrap_used)]

mod common;

use common::{LotkaVolterra, LV_P};
use sciml_core::{ForwardAd, Stats};
use sciml_ode::problems::{Robertson, TestProblem};
use sciml_ode::{
    AutoTsit5Rodas5P, OdeMethod, OdeProblem, Rodas5P, SaveAt, SolveOptions, Tolerance, Tsit5,
};

/// The tight `(rtol, atol)` of `tests/rosenbrock.rs`'s Robertson solves (the Krylov comparison at
/// 1e-8/1e-12, the reference of `robertson_methods_agree` at 1e-10/1e-14): atol = 1e-4 × rtol.
const TIGHT: [(f64, f64); 2] = [(1e-8, 1e-12), (1e-10, 1e-14)];

/// Robertson on benchmark W2's span [0, 1e5] with `m` at `(rtol, atol)`: the end state and the
/// stats. No floor on the step (as `tests/testset.rs`: the first steps are below the default).
fn robertson<M: OdeMethod<ForwardAd<Robertson>>>(m: M, rtol: f64, atol: f64) -> (Vec<f64>, Stats) {
    let mut p = Robertson.problem().unwrap();
    p.set_tspan((p.tspan().0, Robertson::T1E5)).unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(rtol, atol).unwrap(),
        saveat: SaveAt::Times(vec![Robertson::T1E5]),
        dtmin: Some(0.0),
        ..SolveOptions::default()
    };
    let sol = p.solve(m, &opts).unwrap();
    (sol.u.last().unwrap().clone(), sol.stats)
}

/// Largest componentwise relative error of `got` against `want`.
fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

/// Before the fix the switcher stayed on Tsit5 (stability-limited, `h ≈ 1e-3`) far into the
/// stiff phase: 6,407 accepted steps at rtol 1e-8 and 41,305 at rtol 1e-10, against Rodas5P's
/// 251 and 846. Now it should be within 1.5× of Rodas5P (measured: 1.04× and 0.99×), and as
/// accurate: the end state against the reference of `sciml_ode::problems::Robertson::REF_T1E5`
/// (scipy Radau at rtol 1e-13, cited there) within 10 × rtol, a global-error allowance for a
/// local tolerance (Rodas5P alone at rtol 1e-8: 4.4e-9, measured).
#[test]
fn robertson_at_tight_tolerances_costs_about_what_rodas5p_does() {
    for (rtol, atol) in TIGHT {
        let (ua, sa) = robertson(AutoTsit5Rodas5P::new(), rtol, atol);
        let (ur, sr) = robertson(Rodas5P::new(), rtol, atol);
        eprintln!("rtol {rtol:e}: auto {sa:?}\n             Rodas5P {sr:?}");
        assert!(
            sa.accepted as f64 <= 1.5 * sr.accepted as f64,
            "rtol {rtol:e}: auto {} accepted steps, Rodas5P {}",
            sa.accepted,
            sr.accepted
        );
        let (ea, er) = (
            rel_err(&ua, &Robertson::REF_T1E5),
            rel_err(&ur, &Robertson::REF_T1E5),
        );
        eprintln!("rtol {rtol:e}: relative error auto {ea:.2e}, Rodas5P {er:.2e}");
        assert!(
            ea < 10.0 * rtol,
            "rtol {rtol:e}: auto relative error {ea:.2e}"
        );
    }
}

/// The switcher's work on Robertson at the tight tolerances, kept as snapshots so a change in
/// its switching shows in review (the number of switches is not exposed by `Stats`).
#[test]
fn auto_stats_on_robertson_at_tight_tolerances() {
    let (_, s8) = robertson(AutoTsit5Rodas5P::new(), TIGHT[0].0, TIGHT[0].1);
    insta::assert_yaml_snapshot!("auto_robertson_rtol_1e-8", s8);
    let (_, s10) = robertson(AutoTsit5Rodas5P::new(), TIGHT[1].0, TIGHT[1].1);
    insta::assert_yaml_snapshot!("auto_robertson_rtol_1e-10", s10);
}

/// Lotka–Volterra is not stiff: the switcher must never leave Tsit5 (no Jacobian), so its steps
/// are Tsit5's own, from the default tolerance down to the tight ones where a stiffness bound
/// that shrinks with the tolerance could misfire.
#[test]
fn lotka_volterra_stays_on_tsit5() {
    for (rtol, atol) in [(1e-3, 1e-6), (1e-6, 1e-8), (1e-8, 1e-10), (1e-10, 1e-12)] {
        let solve = |auto: bool| {
            let mut prob = OdeProblem::new(
                ForwardAd::new(LotkaVolterra),
                vec![1.0, 1.0],
                (0.0, 10.0),
                LV_P.to_vec(),
            )
            .unwrap();
            let opts = SolveOptions::default().tolerances(rtol, atol);
            if auto {
                prob.solve(AutoTsit5Rodas5P::new(), &opts).unwrap()
            } else {
                prob.solve(Tsit5, &opts).unwrap()
            }
        };
        let (a, t) = (solve(true), solve(false));
        eprintln!(
            "rtol {rtol:e}: auto {:?}\n            Tsit5 {:?}",
            a.stats, t.stats
        );
        assert_eq!(a.stats.njac, 0, "rtol {rtol:e}: switched to Rodas5P");
        assert_eq!(a.stats, t.stats, "rtol {rtol:e}");
        assert_eq!(a.u.last(), t.u.last(), "rtol {rtol:e}");
    }
}
