//! Forward sensitivities with the sparse LU and the Jacobian-free GMRES strategy, against
//! independent references: the exact parameter derivatives of a semi-discrete heat equation with
//! algebraic boundary values, and the dense strategy's sensitivities (themselves checked against
//! central differences and the discrete adjoint in `sensitivity.rs` and `adjoint.rs`).

use sciml_core::linalg::SparsityPattern;
use sciml_core::{ReturnCode, Scalar, Solution};
use sciml_dae::{
    sensitivity, DaeBdf, DaeColoured, DaeForwardAd, DaeFunction, DaeInit, DaeProblem,
    GenericResidual,
};
use sciml_ode::problems::Robertson;
use sciml_ode::stiff::{KrylovSolve, SparseSolve};
use sciml_ode::{SaveAt, SolveOptions};

#[path = "../examples/common/heat.rs"]
mod heat;
use heat::Heat;

const P: [f64; 2] = [1.0, 0.5];
const T1: f64 = 0.1;

fn heat_problem<F: DaeFunction>(heat: &Heat, f: F) -> DaeProblem<F> {
    heat.problem(f, &P, T1).expect("valid problem")
}

/// `max_i |a_i − b_i| / max_i |b_i|`.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

fn krylov(rtol: f64) -> KrylovSolve {
    KrylovSolve {
        rtol,
        ..KrylovSolve::default()
    }
}

/// The largest error of the two sensitivities at `T1` against the exact ones.
fn heat_sensitivity_error(heat: &Heat, sol: &Solution<Vec<f64>>) -> f64 {
    assert_eq!(sol.retcode, ReturnCode::Success);
    let last = sol.u.last().expect("a saved state");
    let n = heat.n + 2;
    let exact = heat.exact_sensitivities(&P, T1);
    (0..2)
        .map(|j| rel_diff(sensitivity(last, n, j), &exact[j]))
        .fold(0.0, f64::max)
}

#[test]
fn heat_sensitivities_by_every_linear_strategy_match_the_exact_derivatives() {
    let heat = Heat { n: 40 };
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![T1]));
    let init = DaeInit::CheckInit;
    let dense = heat_problem(&heat, DaeForwardAd::new(heat.clone()))
        .solve_forward_sensitivity(DaeBdf::new(), init, &opts)
        .expect("dense");
    let coloured = DaeColoured::new(
        DaeForwardAd::new(heat.clone()),
        heat.pattern().expect("pattern"),
    )
    .expect("f");
    let sparse = heat_problem(&heat, coloured)
        .solve_forward_sensitivity(DaeBdf::new().linear_solver(SparseSolve), init, &opts)
        .expect("sparse");
    let gmres = heat_problem(&heat, DaeForwardAd::new(heat.clone()))
        .solve_forward_sensitivity(DaeBdf::new().linear_solver(krylov(1e-10)), init, &opts)
        .expect("GMRES");
    let errs = [&dense, &sparse, &gmres].map(|s| heat_sensitivity_error(&heat, s));
    println!(
        "sensitivity errors: dense {:.2e}, sparse {:.2e}, GMRES {:.2e}; steps {} / {} / {}",
        errs[0],
        errs[1],
        errs[2],
        dense.stats.accepted,
        sparse.stats.accepted,
        gmres.stats.accepted
    );
    // At rtol 1e-8 the dense solve's sensitivities are within 1e-6 of the exact ones (the error
    // test sees the solution only, as IDAS's errconS = false); every strategy stays there.
    for e in errs {
        assert!(e < 1e-6, "{e:e}");
    }
    // With exact Jacobians the sparse LU takes the dense solve's steps: the same sensitivities
    // up to the two factorisations' rounding.
    let (d, s) = (
        dense.u.last().expect("dense"),
        sparse.u.last().expect("sparse"),
    );
    assert_eq!(dense.stats.accepted, sparse.stats.accepted);
    assert!(rel_diff(s, d) < 1e-10, "{:e}", rel_diff(s, d));
    // The algebraic boundary sensitivities stay zero.
    for sol in [&sparse, &gmres] {
        let last = sol.u.last().expect("state");
        for j in 0..2 {
            let sj = sensitivity(last, heat.n + 2, j);
            assert!(
                sj[0].abs() < 1e-12 && sj[heat.n + 1].abs() < 1e-12,
                "{sj:?}"
            );
        }
    }
}

#[derive(Clone, Debug)]
struct Rober;

impl GenericResidual for Rober {
    fn len(&self) -> usize {
        3
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        let (k1, k2, k3) = (p[0], p[1], p[2]);
        r[0] = du[0] + k1 * u[0] - k3 * u[1] * u[2];
        r[1] = du[1] - k1 * u[0] + k3 * u[1] * u[2] + k2 * u[1] * u[1];
        r[2] = u[0] + u[1] + u[2] - S::cst(1.0);
    }
}

fn rober<F: DaeFunction>(f: F) -> DaeProblem<F> {
    let k = Robertson::P;
    DaeProblem::new(
        f,
        vec![-k[0], k[0], 0.0],
        vec![1.0, 0.0, 0.0],
        (0.0, 40.0),
        k.to_vec(),
        Some(vec![true, true, false]),
    )
    .expect("valid problem")
}

#[test]
fn robertson_parameter_and_start_sensitivities_by_sparse_lu_and_gmres_match_the_dense_ones() {
    // Three parameters and the two differential start values: five directions, the last two
    // starting at unit vectors and made consistent through each strategy's Brown matrix.
    let opts = SolveOptions::default()
        .tolerances(1e-9, 1e-13)
        .saveat(SaveAt::Times(vec![1.0, 40.0]));
    let init = DaeInit::BrownFullBasicInit;
    let dense = rober(DaeForwardAd::new(Rober))
        .solve_forward_sensitivity_u0(DaeBdf::new(), init, &opts)
        .expect("dense");
    let full =
        SparsityPattern::from_triplets(3, 3, &(0..9).map(|k| (k / 3, k % 3)).collect::<Vec<_>>())
            .expect("pattern");
    let sparse = rober(DaeColoured::new(DaeForwardAd::new(Rober), full).expect("f"))
        .solve_forward_sensitivity_u0(DaeBdf::new().linear_solver(SparseSolve), init, &opts)
        .expect("sparse");
    let gmres = rober(DaeForwardAd::new(Rober))
        .solve_forward_sensitivity_u0(DaeBdf::new().linear_solver(krylov(1e-12)), init, &opts)
        .expect("GMRES");
    for sol in [&dense, &sparse, &gmres] {
        assert_eq!(sol.retcode, ReturnCode::Success);
        assert_eq!(sol.u[0].len(), 3 * (1 + 3 + 2));
    }
    // Parameter directions relative to their size; start directions on the scale of their
    // start (a unit vector): by t = 1 the sensitivity to y2(0) is 7e-5, a cancellation of O(1)
    // terms in the stiff transient.
    let scale = |s: &[f64], j: usize| {
        let m = s.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
        if j < 3 {
            m
        } else {
            m.max(1.0)
        }
    };
    for (name, sol, bound) in [("sparse", &sparse, 1e-9), ("GMRES", &gmres, 1e-7)] {
        for (i, (a, b)) in sol.u.iter().zip(&dense.u).enumerate() {
            for j in 0..5 {
                let (sa, sb) = (sensitivity(a, 3, j), sensitivity(b, 3, j));
                let diff = sa
                    .iter()
                    .zip(sb)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f64::max);
                let d = diff / scale(sb, j);
                println!("{name}, save {i}, direction {j}: {d:.2e} from dense");
                assert!(d < bound, "{name} direction {j} at save {i}: {d:e}");
            }
        }
    }
    // The conservation law y1 + y2 + y3 = 1 differentiates to Σ s = 0 for the parameters and
    // for the start values (y3's start follows the other two).
    for sol in [&sparse, &gmres] {
        let last = sol.u.last().expect("state");
        for j in 0..5 {
            let s: f64 = sensitivity(last, 3, j).iter().sum();
            let scale = sensitivity(last, 3, j)
                .iter()
                .fold(1.0, |m: f64, x| m.max(x.abs()));
            assert!(s.abs() < 1e-10 * scale, "direction {j}: Σ s = {s:e}");
        }
    }
}

#[test]
fn a_gmres_solve_that_cannot_converge_at_the_start_says_so() {
    // Robertson from a consistent start with y2 ≠ 0: Brown's matrix [[1, 0, −k3·y2],
    // [0, 1, k3·y2], [0, 0, 1]] is not the identity, and the start direction of y1 needs two
    // GMRES iterations. Allowed one, the sensitivities' consistent start fails: an Err naming the
    // iterative solve, not a singular matrix (the dense strategy solves the same start).
    let k = Robertson::P;
    let u0 = vec![0.9, 1e-4, 0.1 - 1e-4];
    let du0 = vec![
        -k[0] * u0[0] + k[2] * u0[1] * u0[2],
        k[0] * u0[0] - k[2] * u0[1] * u0[2] - k[1] * u0[1] * u0[1],
        0.0,
    ];
    let prob = |f| {
        DaeProblem::new(
            f,
            du0.clone(),
            u0.clone(),
            (0.0, 1.0),
            k.to_vec(),
            Some(vec![true, true, false]),
        )
        .expect("valid problem")
    };
    let opts = SolveOptions::default().tolerances(1e-6, 1e-10);
    let one = KrylovSolve {
        max_iters: 1,
        ..KrylovSolve::default()
    };
    let r = prob(DaeForwardAd::new(Rober)).solve_forward_sensitivity_u0(
        DaeBdf::new().linear_solver(one),
        DaeInit::CheckInit,
        &opts,
    );
    match r {
        Err(e @ sciml_dae::DaeError::IterativeSolveFailed { t }) => {
            assert_eq!(t, 0.0);
            assert!(e.to_string().contains("max_iters"), "{e}");
        }
        other => panic!("expected IterativeSolveFailed, got {other:?}"),
    }
    let dense = prob(DaeForwardAd::new(Rober)).solve_forward_sensitivity_u0(
        DaeBdf::new(),
        DaeInit::CheckInit,
        &opts,
    );
    assert!(dense.is_ok(), "{dense:?}");
}

#[test]
fn difference_products_with_gmres_solve_and_differentiate_the_heat_equation() {
    // Products by differences resolve about 1e-6 of this residual's term scale (1/Δx² ≈ 1681
    // against u′ ≈ 10): GMRES's relative test alone then failed near-converged Newton iterations
    // (tiny right-hand sides) until the step collapsed (`LinearSolveFailed` at t ≈ 0.02 with the
    // default rtol 1e-6). With IDA's absolute floor on the residual the solve succeeds.
    let heat = Heat { n: 40 };
    let differences = || {
        let h = heat.clone();
        sciml_dae::DaeFiniteDiff::new(sciml_dae::DaeClosure::new(
            heat.n + 2,
            move |t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]| h.eval(t, du, u, p, r),
        ))
    };
    let init = DaeInit::CheckInit;
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(vec![T1]));
    let plain = heat_problem(&heat, differences())
        .solve(
            DaeBdf::new().linear_solver(KrylovSolve::default()),
            init,
            &opts,
        )
        .expect("GMRES with differences");
    assert_eq!(plain.retcode, ReturnCode::Success);
    let e = rel_diff(&plain.u[0], &heat.exact(&P, T1));
    println!(
        "differences + GMRES (rtol 1e-6): error {e:.2e}, {} steps, {} rejected",
        plain.stats.accepted, plain.stats.rejected
    );
    assert!(e < 1e-5, "{e:e}");
    // Sensitivities with a GMRES tolerance the products can meet (IDA's own linear tolerance is
    // looser still): against the exact derivatives.
    let sens = heat_problem(&heat, differences())
        .solve_forward_sensitivity(DaeBdf::new().linear_solver(krylov(1e-4)), init, &opts)
        .expect("sensitivities with differences");
    let es = heat_sensitivity_error(&heat, &sens);
    println!(
        "sensitivities, differences + GMRES (rtol 1e-4): error {es:.2e}, {} steps",
        sens.stats.accepted
    );
    assert!(es < 1e-5, "{es:e}");
}

/// `L = Σ_i w_i u_i(T1)` with fixed weights.
fn heat_weights(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 + 0.4 * (1.3 * i as f64).sin()).collect()
}

#[test]
fn the_discrete_adjoint_through_sparse_lu_matches_the_dense_one_and_the_exact_gradient() {
    let heat = Heat { n: 40 };
    let n = heat.n + 2;
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![T1]));
    let init = DaeInit::CheckInit;
    let w = vec![heat_weights(n)];
    let mut dense_prob = heat_problem(&heat, DaeForwardAd::new(heat.clone()));
    let (dense_sol, dense_tape) = dense_prob
        .solve_with_tape(DaeBdf::new(), init, &opts)
        .expect("dense");
    let dense = dense_prob
        .discrete_adjoint(&dense_tape, &w)
        .expect("dense adjoint");
    let coloured = DaeColoured::new(
        DaeForwardAd::new(heat.clone()),
        heat.pattern().expect("pattern"),
    )
    .expect("f");
    let mut sparse_prob = heat_problem(&heat, coloured);
    let (sparse_sol, sparse_tape) = sparse_prob
        .solve_with_tape(DaeBdf::new().linear_solver(SparseSolve), init, &opts)
        .expect("sparse");
    let sparse = sparse_prob
        .discrete_adjoint(&sparse_tape, &w)
        .expect("sparse adjoint");
    // The same mesh (exact Jacobians, two LU factorisations of the same matrices): the same
    // gradient up to their rounding.
    assert_eq!(dense_tape.n_steps(), sparse_tape.n_steps());
    assert_eq!(dense_sol.stats.accepted, sparse_sol.stats.accepted);
    let dp = rel_diff(&sparse.p, &dense.p);
    let du = rel_diff(&sparse.u0, &dense.u0);
    // The exact gradient in p: ∂L/∂κ = Σ w_i λT·u_i, ∂L/∂μ = −T·Σ w_i u_i (Heat's docs).
    let s = heat.exact_sensitivities(&P, T1);
    let exact: Vec<f64> = s
        .iter()
        .map(|sj| sj.iter().zip(&w[0]).map(|(a, b)| a * b).sum())
        .collect();
    let e = rel_diff(&sparse.p, &exact);
    println!(
        "sparse adjoint against dense: p {dp:.2e}, u0 {du:.2e}; against the exact ∂L/∂p: \
         {e:.2e} ({} steps)",
        sparse_tape.n_steps()
    );
    assert!(dp < 1e-10 && du < 1e-10, "{dp:e} {du:e}");
    assert!(e < 1e-6, "{e:e}");
    // The boundary values are algebraic: no gradient through their start values.
    assert_eq!((sparse.u0[0], sparse.u0[n - 1]), (0.0, 0.0));
}

#[test]
fn robertson_adjoint_through_sparse_lu_matches_the_dense_one() {
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-12)
        .saveat(SaveAt::Times(vec![1.0, 40.0]));
    let init = DaeInit::BrownFullBasicInit;
    let w = vec![vec![1.0, 2e4, -0.5], vec![-0.3, 1e4, 1.0]];
    let mut dense_prob = rober(DaeForwardAd::new(Rober));
    let (_, dense_tape) = dense_prob
        .solve_with_tape(DaeBdf::new(), init, &opts)
        .expect("dense");
    let dense = dense_prob
        .discrete_adjoint(&dense_tape, &w)
        .expect("dense adjoint");
    let full =
        SparsityPattern::from_triplets(3, 3, &(0..9).map(|k| (k / 3, k % 3)).collect::<Vec<_>>())
            .expect("pattern");
    let mut sparse_prob = rober(DaeColoured::new(DaeForwardAd::new(Rober), full).expect("f"));
    let (_, sparse_tape) = sparse_prob
        .solve_with_tape(DaeBdf::new().linear_solver(SparseSolve), init, &opts)
        .expect("sparse");
    let sparse = sparse_prob
        .discrete_adjoint(&sparse_tape, &w)
        .expect("sparse adjoint");
    let (dp, du) = (
        rel_diff(&sparse.p, &dense.p),
        rel_diff(&sparse.u0, &dense.u0),
    );
    println!(
        "Robertson: sparse adjoint against dense: p {dp:.2e}, u0 {du:.2e} ({} and {} steps)",
        sparse_tape.n_steps(),
        dense_tape.n_steps()
    );
    assert_eq!(sparse_tape.n_steps(), dense_tape.n_steps());
    // Per parameter (k1, k2, k3 differ by eleven orders of magnitude).
    for (a, b) in sparse.p.iter().zip(&dense.p) {
        assert!((a - b).abs() <= 1e-8 * b.abs(), "{a:e} vs {b:e}");
    }
    assert!(du < 1e-8, "{du:e}");
}

#[test]
fn an_incomplete_pattern_is_refused_before_sensitivities_and_the_adjoint() {
    // Without the stencil's sub-diagonal the compressed Jacobians miss entries. Sensitivities
    // and the adjoint are made of the Jacobians, so their solves check the pattern at the start
    // as a plain solve does (with exact products; difference products are too inexact to tell a
    // missing entry from truncation error, e.g. on Robertson's start).
    let heat = Heat { n: 12 };
    let m = heat.n + 1;
    let mut e = vec![(0, 0), (m, m)];
    for i in 1..m {
        e.extend([(i, i), (i, i + 1)]);
    }
    let incomplete = SparsityPattern::from_triplets(m + 1, m + 1, &e).expect("pattern");
    let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
    let method = DaeBdf::new().linear_solver(SparseSolve);
    let init = DaeInit::CheckInit;
    let f = || DaeColoured::new(DaeForwardAd::new(heat.clone()), incomplete.clone()).expect("f");
    let is_pattern =
        |r: Result<(), sciml_dae::DaeError>| matches!(r, Err(sciml_dae::DaeError::Pattern { .. }));
    let sens = heat_problem(&heat, f())
        .solve_forward_sensitivity(method, init, &opts)
        .map(|_| ());
    assert!(is_pattern(sens), "sensitivities");
    let sens = heat_problem(&heat, f())
        .solve_forward_sensitivity_u0(method, init, &opts)
        .map(|_| ());
    assert!(is_pattern(sens), "start-value sensitivities");
    let tape = heat_problem(&heat, f())
        .solve_with_tape(method, init, &opts)
        .map(|_| ());
    assert!(is_pattern(tape), "adjoint");
}
