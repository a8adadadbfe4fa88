//! ESDIRK methods (TRBDF2, KenCarp4, Kvaerno5): convergence orders against an exact solution, dense
//! output, stiff reference values, mass matrices and the Newton bookkeeping.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

mod common;

use common::robertson_end;
use sciml_core::{DenseMatrix, ForwardAd, GenericRhs, Scalar};
use sciml_ode::problems::RobertsonDae;
use sciml_ode::{
    KenCarp4, Kvaerno5, OdeMethod, OdeProblem, Rodas5P, SaveAt, SolveOptions, Tolerance, Trbdf2,
};

/// Prothero–Robinson `u' = λ (u − sin t) + cos t`, `u = sin t` from `u(0) = 0`, next to the
/// nonlinear `v' = −v²`, `v = 1/(1 + t)`. With `mass`, the same system written as
/// `M u' = M g(t, u)`, which has the same solution.
#[derive(Clone)]
struct ProtheroRobinson {
    lambda: f64,
    mass: Option<[[f64; 2]; 2]>,
}

impl GenericRhs for ProtheroRobinson {
    fn dims(&self) -> (usize, usize) {
        (2, 0)
    }
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        let (s, c) = (S::from_re(t).sin(), S::from_re(t).cos());
        let g0 = (u[0] - s) * S::cst(self.lambda) + c;
        let g1 = -(u[1] * u[1]);
        match self.mass {
            None => {
                du[0] = g0;
                du[1] = g1;
            }
            Some(m) => {
                du[0] = g0 * S::cst(m[0][0]) + g1 * S::cst(m[0][1]);
                du[1] = g0 * S::cst(m[1][0]) + g1 * S::cst(m[1][1]);
            }
        }
    }
}

fn exact(t: f64) -> [f64; 2] {
    [t.sin(), 1.0 / (1.0 + t)]
}

fn pr_problem(lambda: f64, mass: Option<[[f64; 2]; 2]>) -> OdeProblem<ForwardAd<ProtheroRobinson>> {
    let f = ForwardAd::new(ProtheroRobinson { lambda, mass });
    let prob = OdeProblem::new(f, vec![0.0, 1.0], (0.0, 1.0), vec![]).unwrap();
    match mass {
        None => prob,
        Some(m) => {
            let mut mm = DenseMatrix::zeros(2, 2);
            for i in 0..2 {
                for j in 0..2 {
                    mm.col_mut(j)[i] = m[i][j];
                }
            }
            prob.with_mass_matrix(mm).unwrap()
        }
    }
}

/// `(error at the step end t = 1, error of the dense output at t = 0.37)` with `n` fixed steps.
/// The tolerances only steer the Newton iteration here; tight ones keep its error far below
/// the truncation error.
fn fixed_step_error<M: OdeMethod<ForwardAd<ProtheroRobinson>>>(
    m: M,
    lambda: f64,
    mass: Option<[[f64; 2]; 2]>,
    n: usize,
) -> (f64, f64) {
    let mut prob = pr_problem(lambda, mass);
    let opts = SolveOptions {
        adaptive: Some(false),
        dt: Some(1.0 / n as f64),
        tol: Tolerance::new(1e-13, 1e-13).unwrap(),
        saveat: SaveAt::Times(vec![0.37, 1.0]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(m, &opts).unwrap();
    let err = |k: usize| {
        let e = exact(sol.t[k]);
        (sol.u[k][0] - e[0]).abs().max((sol.u[k][1] - e[1]).abs())
    };
    (err(1), err(0))
}

fn fitted(errs: &[f64], ns: &[usize]) -> f64 {
    let k = errs.len() - 1;
    (errs[0] / errs[k]).ln() / ((ns[k] as f64) / (ns[0] as f64)).ln()
}

fn check_orders(
    m: impl OdeMethod<ForwardAd<ProtheroRobinson>> + Copy,
    mass: Option<[[f64; 2]; 2]>,
    ns: &[usize],
) {
    // λ = −2: mildly stiff, so no order reduction. Expected: the method's order at a step end;
    // min(order, interp_order + 1) for the dense output.
    let (end, dense): (Vec<f64>, Vec<f64>) = ns
        .iter()
        .map(|&n| fixed_step_error(m, -2.0, mass, n))
        .unzip();
    let (pe, pd) = (fitted(&end, ns), fitted(&dense, ns));
    let p = f64::from(m.order());
    let q = f64::from(m.interp_order() + 1).min(p);
    eprintln!(
        "{} (mass {}): end order {pe:.3} (expect {p}), dense order {pd:.3} (expect {q}), \
         errors {end:?} dense {dense:?}",
        m.name(),
        mass.is_some()
    );
    assert!((pe - p).abs() < 0.25, "{}: end order {pe}", m.name());
    assert!((pd - q).abs() < 0.25, "{}: dense order {pd}", m.name());
}

#[test]
fn orders_of_convergence() {
    check_orders(Trbdf2::new(), None, &[20, 40, 80, 160]);
    check_orders(KenCarp4::new(), None, &[10, 20, 40, 80]);
    check_orders(Kvaerno5::new(), None, &[10, 20, 40, 80]);
}

#[test]
fn orders_with_a_mass_matrix() {
    let m = Some([[2.0, 1.0], [1.0, 3.0]]);
    check_orders(Trbdf2::new(), m, &[20, 40, 80, 160]);
    check_orders(KenCarp4::new(), m, &[10, 20, 40, 80]);
    check_orders(Kvaerno5::new(), m, &[10, 20, 40, 80]);
}

#[test]
fn singular_mass_matrix_without_zero_rows_is_an_error_not_a_panic() {
    // Rank one and no zero row: not a semi-explicit DAE, so no first-stage derivative exists.
    for m in [[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]]] {
        let mut prob = pr_problem(-2.0, Some(m));
        assert!(prob.solve(Trbdf2::new(), &SolveOptions::default()).is_err());
        assert!(prob
            .solve(KenCarp4::new(), &SolveOptions::default())
            .is_err());
    }
}

#[test]
fn mass_matrix_dae_matches_the_ode_form() {
    let (ode, _) = robertson_end(Rodas5P::new(), 1e-10, 1e-14);
    fn dae_end<M: OdeMethod<ForwardAd<RobertsonDae>>>(m: M) -> (Vec<f64>, sciml_core::Stats) {
        let mut mass = DenseMatrix::zeros(3, 3);
        mass[(0, 0)] = 1.0;
        mass[(1, 1)] = 1.0;
        let mut prob = OdeProblem::new(
            ForwardAd::new(RobertsonDae),
            vec![1.0, 0.0, 0.0],
            (0.0, 1e5),
            vec![0.04, 3e7, 1e4],
        )
        .unwrap()
        .with_mass_matrix(mass)
        .unwrap();
        let opts = SolveOptions {
            tol: Tolerance::new(1e-6, 1e-10).unwrap(),
            saveat: SaveAt::Times(vec![1e5]),
            ..SolveOptions::default()
        };
        let sol = prob.solve(m, &opts).unwrap();
        (sol.u[0].clone(), sol.stats)
    }
    for (name, (u, st)) in [
        ("TRBDF2", dae_end(Trbdf2::new())),
        ("KenCarp4", dae_end(KenCarp4::new())),
    ] {
        let rel =
            (0..3)
                .map(|k| (u[k] - ode[k]).abs() / ode[k].abs())
                .fold(
                    0.0,
                    |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
                );
        eprintln!("{name} DAE vs ODE form: max relative difference {rel:.2e} {st:?}");
        assert!(rel < 1e-3, "{name}: {rel:e}");
        // The constraint holds at the saved point (to the Newton tolerance).
        assert!((u[0] + u[1] + u[2] - 1.0).abs() < 1e-9, "{name}: {u:?}");
    }
}

#[test]
fn very_stiff_prothero_robinson_adaptive() {
    // λ = −1e6: the stiff component must follow sin t without step-size collapse; both methods
    // are L-stable and stiffly accurate.
    for (name, sol) in [
        ("TRBDF2", {
            let mut prob = pr_problem(-1e6, None);
            let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
            prob.solve(Trbdf2::new(), &opts).unwrap()
        }),
        ("KenCarp4", {
            let mut prob = pr_problem(-1e6, None);
            let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
            prob.solve(KenCarp4::new(), &opts).unwrap()
        }),
    ] {
        let u = sol.u.last().unwrap();
        let e = exact(1.0);
        let (es, en) = ((u[0] - e[0]).abs(), (u[1] - e[1]).abs());
        eprintln!(
            "{name} PR λ=-1e6: errors stiff {es:e} non-stiff {en:e} {:?}",
            sol.stats
        );
        // The stiff component sits on its slow manifold: within the local tolerance. The
        // non-stiff one carries the accumulated global error, at most about one local tolerance
        // per step.
        assert!(es < 1e-6, "{name}: stiff error {es:e}");
        assert!(
            en < 1e-6 * sol.stats.accepted as f64,
            "{name}: non-stiff error {en:e}"
        );
        assert!(sol.stats.accepted < 300, "{name}: {:?}", sol.stats);
    }
}

#[test]
fn robertson_against_rodas5p() {
    let (reference, st) = robertson_end(Rodas5P::new(), 1e-10, 1e-14);
    eprintln!("Rodas5P tight: {reference:?} {st:?}");
    for (name, (u, st)) in [
        ("TRBDF2", robertson_end(Trbdf2::new(), 1e-6, 1e-10)),
        ("KenCarp4", robertson_end(KenCarp4::new(), 1e-6, 1e-10)),
    ] {
        eprintln!(
            "{name}: {u:?} steps {} (accepted {}, rejected {}) njac {} nfactor {} nnewton {} \
             nf {} nlinsolve {}",
            st.steps,
            st.accepted,
            st.rejected,
            st.njac,
            st.nfactor,
            st.nnewton,
            st.nf,
            st.nlinsolve
        );
        for k in 0..3 {
            let rel = (u[k] - reference[k]).abs() / reference[k].abs();
            assert!(rel < 1e-3, "{name} component {k}: rel err {rel:e}");
        }
        // Reuse of J and W: far fewer Jacobians and factorisations than steps.
        assert!(st.njac < st.steps / 2, "{name}: {st:?}");
        assert!(st.nfactor < st.steps, "{name}: {st:?}");
    }
}

/// Van der Pol with μ = 1000 (`u1' = u2`, `u2' = μ(1 − u1²) u2 − u1`), over more than one
/// relaxation period (≈ 1614).
#[derive(Clone)]
struct VanDerPol;
impl GenericRhs for VanDerPol {
    fn dims(&self) -> (usize, usize) {
        (2, 1)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = u[1];
        du[1] = p[0] * (S::cst(1.0) - u[0] * u[0]) * u[1] - u[0];
    }
}

fn vdp_end<M: OdeMethod<ForwardAd<VanDerPol>>>(
    m: M,
    rtol: f64,
    atol: f64,
) -> (Vec<f64>, sciml_core::Stats) {
    let mut prob = OdeProblem::new(
        ForwardAd::new(VanDerPol),
        vec![2.0, 0.0],
        (0.0, 2500.0),
        vec![1000.0],
    )
    .unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(rtol, atol).unwrap(),
        saveat: SaveAt::Times(vec![2500.0]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(m, &opts).unwrap();
    (sol.u[0].clone(), sol.stats)
}

#[test]
fn van_der_pol_stiff_sanity() {
    let (reference, st) = vdp_end(Rodas5P::new(), 1e-9, 1e-11);
    eprintln!("Rodas5P tight: {reference:?} {st:?}");
    for (name, (u, st)) in [
        ("TRBDF2", vdp_end(Trbdf2::new(), 1e-5, 1e-7)),
        ("KenCarp4", vdp_end(KenCarp4::new(), 1e-5, 1e-7)),
    ] {
        eprintln!("{name}: {u:?} {st:?}");
        let rel = (u[0] - reference[0]).abs() / reference[0].abs();
        assert!(rel < 1e-2, "{name}: u1 rel err {rel:e}");
        assert!(st.accepted < 5000, "{name}: {st:?}");
    }
}

#[test]
fn jacobian_free_krylov_matches_dense_lu() {
    use sciml_ode::KrylovSolve;
    // The Newton iteration only needs W⁻¹ applied to residuals, so GMRES on exact JVPs must give
    // the dense-LU answer to within the tolerances.
    let krylov = KrylovSolve {
        rtol: 1e-10,
        ..KrylovSolve::default()
    };
    for (name, (dense, _), (kry, st)) in [
        (
            "TRBDF2",
            robertson_end(Trbdf2::new(), 1e-8, 1e-12),
            robertson_end(Trbdf2::new().with_linear(krylov.clone()), 1e-8, 1e-12),
        ),
        (
            "KenCarp4",
            robertson_end(KenCarp4::new(), 1e-8, 1e-12),
            robertson_end(KenCarp4::new().with_linear(krylov.clone()), 1e-8, 1e-12),
        ),
    ] {
        eprintln!("{name} Krylov Robertson {st:?}");
        for k in 0..3 {
            let rel = (kry[k] - dense[k]).abs() / dense[k].abs();
            assert!(rel < 1e-5, "{name} component {k}: {rel:e}");
        }
    }
}
