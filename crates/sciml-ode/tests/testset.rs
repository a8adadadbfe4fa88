//! The stiff problems of the IVP test set (Mazzia and Magherini, *Test Set for Initial Value
//! Problem Solvers*, release 2.4) solved at tight tolerances against their reference solutions
//! (`sciml_ode::problems`, where each value's source is cited and its independent check quoted),
//! and solver statistics on Robertson and Van der Pol as insta snapshots.
#![allow(clippy::unwrap_used)]

use sciml_core::ForwardAd;
use sciml_ode::problems::{Hires, Oregonator, Pollution, Robertson, TestProblem, VanDerPol};
use sciml_ode::{Bdf, KenCarp4, Kvaerno5, Trbdf2};
use sciml_ode::{OdeMethod, Rodas4, Rodas5P, Rosenbrock23, SaveAt, SolveOptions, Stats, Tolerance};

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

/// Solves `prob` on `[t0, t1]` with `m` at `(rtol, atol)`; returns the end state and the stats.
fn solve_to<P: TestProblem, M: OdeMethod<ForwardAd<P>>>(
    prob: &P,
    t1: f64,
    m: M,
    rtol: f64,
    atol: f64,
) -> (Vec<f64>, Stats) {
    let mut p = prob.problem().unwrap();
    p.set_tspan((p.tspan().0, t1)).unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(rtol, atol).unwrap(),
        saveat: SaveAt::Times(vec![t1]),
        // The default floor on the step, 16 eps max(|t0|, |t1|), is 3.6e-4 on Robertson's
        // [0, 1e11], larger than the first steps the problem needs; no floor instead.
        dtmin: Some(0.0),
        ..SolveOptions::default()
    };
    let sol = p.solve(m, &opts).unwrap();
    (sol.u.last().unwrap().clone(), sol.stats)
}

/// Every reference of the test set with `m` at `(rtol, atol)`: `(name, relative error)`.
fn all_references<M>(m: M, rtol: f64, atol: f64) -> Vec<(&'static str, f64)>
where
    M: OdeMethod<ForwardAd<Robertson>>
        + OdeMethod<ForwardAd<VanDerPol>>
        + OdeMethod<ForwardAd<Hires>>
        + OdeMethod<ForwardAd<Pollution>>
        + OdeMethod<ForwardAd<Oregonator>>
        + Copy,
{
    fn one<P: TestProblem, M: OdeMethod<ForwardAd<P>>>(p: &P, m: M, rtol: f64, atol: f64) -> f64 {
        let (u, _) = solve_to(p, p.tspan().1, m, rtol, atol);
        rel_err(&u, &p.reference().unwrap())
    }
    let (u, _) = solve_to(&Robertson, Robertson::T1E5, m, rtol, atol);
    vec![
        ("rober t=1e5", rel_err(&u, &Robertson::REF_T1E5)),
        ("rober t=1e11", one(&Robertson, m, rtol, atol)),
        ("vdpol", one(&VanDerPol, m, rtol, atol)),
        ("hires", one(&Hires, m, rtol, atol)),
        ("pollu", one(&Pollution, m, rtol, atol)),
        ("orego", one(&Oregonator, m, rtol, atol)),
    ]
}

/// The requirement: relative error below 1e-6 at a tight tolerance. With rtol 1e-10,
/// atol 1e-16 Rodas5P's errors are 5e-12 to 7e-10 (measured); the bound below is 100 × rtol, so a
/// method that stops tracking its tolerance fails here long before it breaks the 1e-6 rule.
#[test]
fn rodas5p_meets_the_test_set_references() {
    for (name, e) in all_references(Rodas5P::new(), 1e-10, 1e-16) {
        eprintln!("Rodas5P {name}: {e:.2e}");
        assert!(e < 1e-8, "{name}: relative error {e:.2e}");
    }
}

#[test]
fn rodas4_meets_the_test_set_references() {
    for (name, e) in all_references(Rodas4::new(), 1e-10, 1e-16) {
        eprintln!("Rodas4 {name}: {e:.2e}");
        assert!(e < 1e-8, "{name}: relative error {e:.2e}");
    }
}

/// Tolerance proportionality: a hundredfold tighter rtol gives at least a tenfold smaller error
/// on every problem (an error estimate that does not measure the error fails this).
/// Bdf (variable order 1–5) at the same tolerance: errors up to 3.5e-8 (measured, Robertson at
/// 1e11 the largest); the bound of 1e-6.
#[test]
fn bdf_meets_the_test_set_references() {
    for (name, e) in all_references(Bdf::new(), 1e-10, 1e-16) {
        eprintln!("Bdf {name}: {e:.2e}");
        assert!(e < 1e-6, "{name}: relative error {e:.2e}");
    }
}

/// KenCarp4 (ESDIRK, order 4) at the same tolerance: errors up to 9.2e-8 (measured, Robertson
/// at 1e11 the largest); the bound of 1e-6.
#[test]
fn kencarp4_meets_the_test_set_references() {
    for (name, e) in all_references(KenCarp4::new(), 1e-10, 1e-16) {
        eprintln!("KenCarp4 {name}: {e:.2e}");
        assert!(e < 1e-6, "{name}: relative error {e:.2e}");
    }
}

/// Kvaerno5 (ESDIRK, order 5) at the same tolerance.
#[test]
fn kvaerno5_meets_the_test_set_references() {
    for (name, e) in all_references(Kvaerno5::new(), 1e-10, 1e-16) {
        eprintln!("Kvaerno5 {name}: {e:.2e}");
        assert!(e < 1e-6, "{name}: relative error {e:.2e}");
    }
}

#[test]
fn rodas5p_error_follows_the_tolerance() {
    let loose = all_references(Rodas5P::new(), 1e-7, 1e-13);
    let tight = all_references(Rodas5P::new(), 1e-9, 1e-15);
    for ((name, a), (_, b)) in loose.iter().zip(&tight) {
        eprintln!("Rodas5P {name}: {a:.2e} at rtol 1e-7, {b:.2e} at 1e-9");
        assert!(*a < 1e-5, "{name}: {a:.2e} at rtol 1e-7");
        assert!(
            b * 10.0 < *a,
            "{name}: {a:.2e} at rtol 1e-7 but {b:.2e} at 1e-9"
        );
    }
}

/// Rosenbrock23 is order 2: a moderate tolerance, on the problems it can do in a few thousand
/// steps.
#[test]
fn rosenbrock23_meets_references_at_moderate_tolerance() {
    let (u, _) = solve_to(
        &Robertson,
        Robertson::T1E5,
        Rosenbrock23::new(),
        1e-8,
        1e-14,
    );
    let e = rel_err(&u, &Robertson::REF_T1E5);
    assert!(e < 1e-6, "rober t=1e5: {e:.2e}");
    let (u, _) = solve_to(&Hires, Hires.tspan().1, Rosenbrock23::new(), 1e-8, 1e-14);
    let e = rel_err(&u, &Hires::REF);
    assert!(e < 1e-6, "hires: {e:.2e}");
    let (u, _) = solve_to(&Pollution, 60.0, Rosenbrock23::new(), 1e-8, 1e-14);
    let e = rel_err(&u, &Pollution::REF);
    assert!(e < 1e-6, "pollu: {e:.2e}");
}

/// TRBDF2 is order 2 as well. At rtol 1e-10 it meets 1e-6 on these four (measured: 1.4e-7,
/// 1.7e-7, 6.0e-7, 5.8e-8); on Robertson to 1e11 and OREGO its errors at this tolerance are above
/// 1e-6, and tighter tolerances need more than the default 1e5 steps.
#[test]
fn trbdf2_meets_references_at_tight_tolerance() {
    let (u, _) = solve_to(&Robertson, Robertson::T1E5, Trbdf2::new(), 1e-10, 1e-16);
    let e = rel_err(&u, &Robertson::REF_T1E5);
    eprintln!("Trbdf2 {e:.2e}");
    assert!(e < 1e-6, "rober t=1e5: {e:.2e}");
    let (u, _) = solve_to(&VanDerPol, 2.0, Trbdf2::new(), 1e-10, 1e-16);
    let e = rel_err(&u, &VanDerPol::REF);
    eprintln!("Trbdf2 {e:.2e}");
    assert!(e < 1e-6, "vdpol: {e:.2e}");
    let (u, _) = solve_to(&Hires, Hires.tspan().1, Trbdf2::new(), 1e-10, 1e-16);
    let e = rel_err(&u, &Hires::REF);
    eprintln!("Trbdf2 {e:.2e}");
    assert!(e < 1e-6, "hires: {e:.2e}");
    let (u, _) = solve_to(&Pollution, 60.0, Trbdf2::new(), 1e-10, 1e-16);
    let e = rel_err(&u, &Pollution::REF);
    eprintln!("Trbdf2 {e:.2e}");
    assert!(e < 1e-6, "pollu: {e:.2e}");
}

/// Work on benchmark W2's problem and settings (Robertson on [0, 1e5], rtol 1e-6, atol 1e-10).
fn robertson_w2_stats<M: OdeMethod<ForwardAd<Robertson>>>(m: M) -> Stats {
    let (u, s) = solve_to(&Robertson, Robertson::T1E5, m, 1e-6, 1e-10);
    // The tolerance is met, so the snapshot records a correct solve.
    assert!(rel_err(&u, &Robertson::REF_T1E5) < 1e-4, "{u:?}");
    s
}

/// Van der Pol (ε = 1e-6) on [0, 2] at rtol 1e-6, atol 1e-8.
fn vdpol_stats<M: OdeMethod<ForwardAd<VanDerPol>>>(m: M) -> Stats {
    let (u, s) = solve_to(&VanDerPol, 2.0, m, 1e-6, 1e-8);
    assert!(rel_err(&u, &VanDerPol::REF) < 1e-3, "{u:?}");
    s
}

#[test]
fn rodas5p_stats_on_robertson() {
    insta::assert_yaml_snapshot!(robertson_w2_stats(Rodas5P::new()));
}

#[test]
fn rodas4_stats_on_robertson() {
    insta::assert_yaml_snapshot!(robertson_w2_stats(Rodas4::new()));
}

#[test]
fn rosenbrock23_stats_on_robertson() {
    insta::assert_yaml_snapshot!(robertson_w2_stats(Rosenbrock23::new()));
}

#[test]
fn bdf_stats_on_robertson() {
    insta::assert_yaml_snapshot!(robertson_w2_stats(Bdf::new()));
}

#[test]
fn bdf_stats_on_van_der_pol() {
    insta::assert_yaml_snapshot!(vdpol_stats(Bdf::new()));
}

#[test]
fn kencarp4_stats_on_robertson() {
    insta::assert_yaml_snapshot!(robertson_w2_stats(KenCarp4::new()));
}

#[test]
fn trbdf2_stats_on_robertson() {
    insta::assert_yaml_snapshot!(robertson_w2_stats(Trbdf2::new()));
}

#[test]
fn kencarp4_stats_on_van_der_pol() {
    insta::assert_yaml_snapshot!(vdpol_stats(KenCarp4::new()));
}

#[test]
fn trbdf2_stats_on_van_der_pol() {
    insta::assert_yaml_snapshot!(vdpol_stats(Trbdf2::new()));
}

#[test]
fn rodas5p_stats_on_van_der_pol() {
    insta::assert_yaml_snapshot!(vdpol_stats(Rodas5P::new()));
}

#[test]
fn rodas4_stats_on_van_der_pol() {
    insta::assert_yaml_snapshot!(vdpol_stats(Rodas4::new()));
}

#[test]
fn rosenbrock23_stats_on_van_der_pol() {
    insta::assert_yaml_snapshot!(vdpol_stats(Rosenbrock23::new()));
}

/// Prothero–Robinson, mildly stiff: `u' = λ (u − φ(t)) + φ'(t)` with `φ(t) = e^{−t/2} cos 2t`
/// and `λ = −10`; from `u(0) = φ(0)` the exact solution is `φ` whatever `λ`. Non-autonomous,
/// so a method's handling of `∂f/∂t` enters its order.
#[derive(Clone, Copy)]
struct ProtheroRobinson;

fn phi(t: f64) -> (f64, f64) {
    let (e, (s, c)) = ((-0.5 * t).exp(), (2.0 * t).sin_cos());
    (e * c, e * (-0.5 * c - 2.0 * s))
}

impl sciml_core::GenericRhs for ProtheroRobinson {
    fn dims(&self) -> (usize, usize) {
        (1, 0)
    }
    fn eval<S: sciml_core::Scalar>(
        &self,
        t: S::Re,
        u: &[S],
        _p: &[S],
        du: &mut [S],
        _ws: &mut [S],
    ) {
        use sciml_core::Real;
        let (p, dp) = phi(t.to_f64_lossy());
        du[0] = (u[0] - S::cst(p)) * S::cst(-10.0) + S::cst(dp);
    }
}

/// Error at t = 1 with `n` fixed steps.
fn fixed_step_error<M: OdeMethod<ForwardAd<ProtheroRobinson>>>(m: M, n: usize) -> f64 {
    let f = ForwardAd::new(ProtheroRobinson);
    let mut prob = sciml_ode::OdeProblem::new(f, vec![phi(0.0).0], (0.0, 1.0), vec![]).unwrap();
    let opts = SolveOptions {
        adaptive: Some(false),
        dt: Some(1.0 / n as f64),
        saveat: SaveAt::Times(vec![1.0]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(m, &opts).unwrap();
    (sol.u.last().unwrap()[0] - phi(1.0).0).abs()
}

/// Least-squares slope of log(error) against log(step size).
fn observed_order<M: OdeMethod<ForwardAd<ProtheroRobinson>> + Copy>(m: M, ns: &[usize]) -> f64 {
    let pts: Vec<(f64, f64)> = ns
        .iter()
        .map(|&n| ((1.0 / n as f64).ln(), fixed_step_error(m, n).ln()))
        .collect();
    let k = pts.len() as f64;
    let (mx, my) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / k, b + y / k));
    let sxy: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = pts.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// Every fixed-order stiff method (Bdf changes its order, so it is not here).
#[test]
fn fixed_order_methods_converge_at_their_order() {
    let ns = [20, 40, 80, 160];
    let cases: [(&str, f64, f64); 6] = [
        (
            "Rosenbrock23",
            2.0,
            observed_order(Rosenbrock23::new(), &ns),
        ),
        ("Trbdf2", 2.0, observed_order(Trbdf2::new(), &ns)),
        ("KenCarp4", 4.0, observed_order(KenCarp4::new(), &ns)),
        (
            "Kvaerno5",
            5.0,
            observed_order(Kvaerno5::new(), &[10, 20, 40, 80]),
        ),
        ("Rodas4", 4.0, observed_order(Rodas4::new(), &ns)),
        (
            "Rodas5P",
            5.0,
            observed_order(Rodas5P::new(), &[10, 20, 40, 80]),
        ),
    ];
    for (name, order, slope) in cases {
        eprintln!("{name}: observed order {slope:.3}");
        assert!(
            (slope - order).abs() < 0.25,
            "{name}: slope {slope:.3}, order {order}"
        );
    }
}
