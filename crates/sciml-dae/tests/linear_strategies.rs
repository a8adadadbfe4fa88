//! The DAE BDF's linear strategies beyond the dense one, in the steps and the consistent
//! initialisations: Jacobian-free GMRES (sciml-ode's `KrylovSolve`) and the sparse LU
//! (`SparseSolve`, Jacobians by coloured products), against independent references: the IVP
//! test set's Robertson value at `t = 1e5` (`sciml_ode::problems::Robertson::REF_T1E5`), the exact
//! solution of a semi-discrete heat equation with algebraic boundary values, and the dense
//! strategy.

use sciml_core::linalg::SparsityPattern;
use sciml_core::{ReturnCode, Scalar};
use sciml_dae::{
    DaeBdf, DaeClosure, DaeColoured, DaeError, DaeFiniteDiff, DaeForwardAd, DaeFunction, DaeInit,
    DaeJacobian, DaeJvp, DaePreconditioner, DaeProblem, GenericResidual,
};
use sciml_ode::problems::Robertson;
use sciml_ode::stiff::{KrylovSolve, SparseSolve};
use sciml_ode::{SaveAt, SolveOptions};

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
        (0.0, Robertson::T1E5),
        k.to_vec(),
        Some(vec![true, true, false]),
    )
    .expect("valid problem")
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) / y).abs())
        .fold(0.0, f64::max)
}

fn krylov(rtol: f64) -> KrylovSolve {
    KrylovSolve {
        rtol,
        ..KrylovSolve::default()
    }
}

#[test]
fn robertson_with_gmres_matches_the_reference_and_the_dense_strategy() {
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-14)
        .saveat(SaveAt::Times(vec![Robertson::T1E5]));
    let dense = rober(DaeForwardAd::new(Rober))
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("dense solve");
    let method = DaeBdf::new().linear_solver(krylov(1e-10));
    let sol = rober(DaeForwardAd::new(Rober))
        .solve(method, DaeInit::CheckInit, &opts)
        .expect("GMRES solve");
    assert_eq!(sol.retcode, ReturnCode::Success);
    let (e_dense, e_krylov) = (
        max_rel(&dense.u[0], &Robertson::REF_T1E5),
        max_rel(&sol.u[0], &Robertson::REF_T1E5),
    );
    println!(
        "dense: {e_dense:.2e} ({} steps), GMRES: {e_krylov:.2e} ({} steps, {} linear solves, \
         {} residual evaluations and products)",
        dense.stats.accepted, sol.stats.accepted, sol.stats.nlinsolve, sol.stats.nf
    );
    // rtol 1e-8 leaves the dense solve at 1e-6 or better; GMRES solved to 1e-10 keeps it there.
    assert!(e_dense < 1e-6, "{e_dense:e}");
    assert!(e_krylov < 1e-6, "{e_krylov:e}");
    assert!(max_rel(&sol.u[0], &dense.u[0]) < 1e-6);
    // No matrix: the Jacobian evaluations are linearisation points, every product a JVP.
    assert!(sol.stats.nf > dense.stats.nf);
}

#[test]
fn a_looser_gmres_tolerance_still_solves_robertson_to_the_step_tolerance() {
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-10)
        .saveat(SaveAt::Times(vec![Robertson::T1E5]));
    let method = DaeBdf::new().linear_solver(KrylovSolve::default());
    let sol = rober(DaeForwardAd::new(Rober))
        .solve(method, DaeInit::CheckInit, &opts)
        .expect("GMRES solve");
    let e = max_rel(&sol.u[0], &Robertson::REF_T1E5);
    println!("GMRES rtol 1e-6: {e:.2e}, {} steps", sol.stats.accepted);
    // The W8 setting: the dense strategy reaches 5e-6 here (bench_w8_dae).
    assert!(e < 5e-5, "{e:e}");
    let u = &sol.u[0];
    assert!((u[0] + u[1] + u[2] - 1.0).abs() < 1e-12);
}

#[path = "../examples/common/heat.rs"]
mod heat;
use heat::{Heat, UNIT};

/// `u_t = u_xx` from the exact start over `(0, 0.1)`.
fn heat_problem<F: DaeFunction>(heat: &Heat, f: F) -> DaeProblem<F> {
    heat.problem(f, &UNIT, 0.1).expect("valid problem")
}

/// Jacobi preconditioning of `W = ∂F/∂u + α·∂F/∂u′`: its diagonal is `2/Δx² + α` on the
/// interior rows and 1 on the boundary rows.
#[derive(Clone, Debug)]
struct Jacobi {
    n: usize,
    inv_dx2: f64,
    d: f64,
    setups: usize,
}

impl DaePreconditioner for Jacobi {
    fn setup(&mut self, _t: f64, _du: &[f64], _u: &[f64], alpha: f64) {
        self.d = 2.0 * self.inv_dx2 + alpha;
        self.setups += 1;
    }
    fn apply(&mut self, v: &mut [f64]) {
        let m = self.n + 1;
        for x in &mut v[1..m] {
            *x /= self.d;
        }
    }
}

fn heat_error(heat: &Heat, u: &[f64]) -> f64 {
    let exact = heat.exact(&UNIT, 0.1);
    let scale = exact.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
    u.iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn heat_equation_with_algebraic_boundaries_matches_its_exact_solution() {
    let heat = Heat { n: 60 };
    let opts = SolveOptions::default()
        .tolerances(1e-7, 1e-9)
        .saveat(SaveAt::Times(vec![0.1]));
    let dense = heat_problem(&heat, DaeForwardAd::new(heat.clone()))
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("dense solve");
    let plain = heat_problem(&heat, DaeForwardAd::new(heat.clone()))
        .solve(
            DaeBdf::new().linear_solver(krylov(1e-8)),
            DaeInit::CheckInit,
            &opts,
        )
        .expect("GMRES solve");
    let inv_dx2 = 1.0 / (heat.dx() * heat.dx());
    let pc = Jacobi {
        n: heat.n,
        inv_dx2,
        d: 1.0,
        setups: 0,
    };
    let method = DaeBdf::new().linear_solver(krylov(1e-8).with_preconditioner(pc));
    let pre = heat_problem(&heat, DaeForwardAd::new(heat.clone()))
        .solve(method, DaeInit::CheckInit, &opts)
        .expect("preconditioned GMRES solve");
    let errs = [&dense, &plain, &pre].map(|s| heat_error(&heat, &s.u[0]));
    println!(
        "errors dense {:.2e}, GMRES {:.2e}, Jacobi-GMRES {:.2e}; products: GMRES {}, \
         Jacobi-GMRES {} (linear solves {} / {})",
        errs[0],
        errs[1],
        errs[2],
        plain.stats.nf,
        pre.stats.nf,
        plain.stats.nlinsolve,
        pre.stats.nlinsolve
    );
    for e in errs {
        assert!(e < 2e-5, "{e:e}");
    }
    // The boundary values stay on their constraint.
    for s in [&plain, &pre] {
        let u = &s.u[0];
        assert!(u[0].abs() < 1e-12 && u[heat.n + 1].abs() < 1e-12);
    }
    // The preconditioner does its job: fewer products per linear solve.
    let per = |s: &sciml_core::Solution<Vec<f64>>| s.stats.nf as f64 / s.stats.nlinsolve as f64;
    assert!(per(&pre) < per(&plain), "{} vs {}", per(&pre), per(&plain));
}

#[test]
fn finite_difference_products_solve_the_heat_equation() {
    let heat = Heat { n: 30 };
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-8)
        .saveat(SaveAt::Times(vec![0.1]));
    let f = {
        let h = heat.clone();
        DaeFiniteDiff::new(DaeClosure::new(
            heat.n + 2,
            move |t: f64, du: &[f64], u: &[f64], p: &[f64], r: &mut [f64]| h.eval(t, du, u, p, r),
        ))
    };
    let sol = heat_problem(&heat, f)
        .solve(
            DaeBdf::new().linear_solver(KrylovSolve::default()),
            DaeInit::CheckInit,
            &opts,
        )
        .expect("GMRES solve with differences");
    let e = heat_error(&heat, &sol.u[0]);
    println!("differences + GMRES: {e:.2e}, {} steps", sol.stats.accepted);
    assert!(e < 1e-4, "{e:e}");
}

#[test]
fn consistent_initialisation_through_gmres_matches_the_dense_one() {
    // Inconsistent algebraic value and derivatives: Brown's initialisation repairs y3 and
    // (y1′, y2′) from (y1, y2); Shampine's moves every component.
    let k = Robertson::P;
    let start = |f| {
        DaeProblem::new(
            f,
            vec![0.0, 0.0, 0.0],
            vec![1.0, 0.0, 0.3],
            (0.0, 1.0),
            k.to_vec(),
            Some(vec![true, true, false]),
        )
        .expect("valid problem")
    };
    // Shampine's step leaves a residual of about ε·|u|/dt ≈ 1e-10 in u′ (dt = 1e-6); the
    // consistency check allows the larger of atol and that floor.
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![0.0, 1.0]));
    for init in [
        DaeInit::BrownFullBasicInit,
        DaeInit::ShampineCollocationInit { dt: None },
    ] {
        let dense = start(DaeForwardAd::new(Rober))
            .solve(DaeBdf::new(), init, &opts)
            .expect("dense");
        let kry = start(DaeForwardAd::new(Rober))
            .solve(DaeBdf::new().linear_solver(krylov(1e-12)), init, &opts)
            .expect("GMRES");
        let (d0, k0) = (&dense.u[0], &kry.u[0]);
        println!("{init:?}: dense start {d0:?}, GMRES start {k0:?}");
        for (a, b) in d0.iter().zip(k0) {
            assert!((a - b).abs() < 1e-10, "{d0:?} vs {k0:?}");
        }
        // On the constraint.
        assert!((k0[0] + k0[1] + k0[2] - 1.0).abs() < 1e-10);
        assert!(max_rel(&kry.u[1], &dense.u[1]) < 1e-6);
    }
}

#[test]
fn the_products_agree_with_the_jacobians() {
    // ∂F/∂u′·a + ∂F/∂u·b from dual numbers, from differences and from the dense Jacobians.
    let (du, u, p) = ([0.3, -0.2, 0.1], [0.9, 2e-5, 0.1], Robertson::P.to_vec());
    let (a, b) = ([1.0, -2.0, 0.5], [0.25, 1.0, -3.0]);
    let mut ad = DaeForwardAd::new(Rober);
    let (mut jd, mut jdd) = (
        sciml_core::DenseMatrix::zeros(3, 3),
        sciml_core::DenseMatrix::zeros(3, 3),
    );
    ad.jacobians(0.0, &du, &u, &p, &mut jd, &mut jdd);
    let mut want = [0.0; 3];
    for i in 0..3 {
        for j in 0..3 {
            want[i] += jdd[(i, j)] * a[j] + jd[(i, j)] * b[j];
        }
    }
    let mut got = [0.0; 3];
    ad.jvp(0.0, &du, &u, &p, (&a, &b), &mut got);
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
    // F is quadratic in u, so one forward difference of step σ is off by exactly σ/2 times the
    // second derivative along b: (−2k3·b2·b3, 2k3·b2·b3 + 2k2·b2², 0) (in 1-based components).
    // σ = √ε·max(1, ‖u‖)/‖b‖ (DaeFiniteDiff's JVP docs: sized for the u part; F is linear in u′,
    // so the u′ part is exact); the bound adds rounding.
    let (k2, k3) = (p[1], p[2]);
    let curv = [
        -2.0 * k3 * b[1] * b[2],
        2.0 * k3 * b[1] * b[2] + 2.0 * k2 * b[1] * b[1],
        0.0,
    ];
    let norm = |x: &[f64], y: &[f64]| x.iter().chain(y).map(|v| v * v).sum::<f64>().sqrt();
    let sigma = f64::EPSILON.sqrt() * norm(&[], &u).max(1.0) / norm(&[], &b);
    let fd_ok = |got: &[f64; 3]| {
        for ((g, w), c) in got.iter().zip(&want).zip(&curv) {
            let bound = 0.5 * sigma * c.abs() * 1.01 + 1e-6 * w.abs().max(1.0);
            assert!(
                (g - w).abs() <= bound,
                "{got:?} vs {want:?} (bound {bound:e})"
            );
        }
    };
    let mut fd = DaeFiniteDiff::new(DaeForwardAd::new(Rober));
    fd.jvp(0.0, &du, &u, &p, (&a, &b), &mut got);
    fd_ok(&got);
    // A Jacobian evaluation elsewhere overwrites the differences' base residual: the next
    // product at the first point must not reuse it.
    let (du2, u2) = ([1.0, 1.0, 1.0], [0.5, 0.5, 0.5]);
    fd.jacobians(0.0, &du2, &u2, &p, &mut jd, &mut jdd);
    fd.jvp(0.0, &du, &u, &p, (&a, &b), &mut got);
    fd_ok(&got);
    // The zero direction.
    fd.jvp(0.0, &du, &u, &p, (&[0.0; 3], &[0.0; 3]), &mut got);
    assert_eq!(got, [0.0; 3]);
}

#[test]
fn gmres_on_bad_problems_ends_with_an_error_not_a_panic() {
    // y1′ = −y1, 0 = y1² − y1: y2 appears nowhere, so W is singular for every α; the dense
    // strategy says so at the start, GMRES fails to converge and the solve ends with an Err
    // that says the linear solves failed.
    let f = || DaeForwardAd::new(Singular {});
    let prob = |f| {
        DaeProblem::new(
            f,
            vec![-1.0, 0.0],
            vec![1.0, 0.0],
            (0.0, 1.0),
            vec![],
            Some(vec![true, false]),
        )
        .expect("valid problem")
    };
    let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
    let dense = prob(f()).solve(DaeBdf::new(), DaeInit::CheckInit, &opts);
    assert!(matches!(
        dense,
        Err(DaeError::SingularIterationMatrix { .. })
    ));
    let kry = prob(f()).solve(
        DaeBdf::new().linear_solver(KrylovSolve::default()),
        DaeInit::CheckInit,
        &opts,
    );
    // The step loop names the cause: the linear solves kept failing as the step shrank.
    match kry {
        Err(DaeError::Solve(sciml_core::SolveError::Failed { code, .. })) => {
            assert_eq!(code, ReturnCode::LinearSolveFailed)
        }
        other => panic!("unexpected {other:?}"),
    }
    // So does a GMRES allowed one iteration on Robertson (valid settings that cannot work).
    let one = KrylovSolve {
        max_iters: 1,
        ..KrylovSolve::default()
    };
    match rober(DaeForwardAd::new(Rober)).solve(
        DaeBdf::new().linear_solver(one),
        DaeInit::CheckInit,
        &SolveOptions::default().tolerances(1e-6, 1e-10),
    ) {
        Err(DaeError::Solve(sciml_core::SolveError::Failed { code, .. })) => {
            assert_eq!(code, ReturnCode::LinearSolveFailed)
        }
        other => panic!("unexpected {other:?}"),
    }
    // A residual that turns NaN after t = 0.5: a NonFinite failure there with the partial
    // solution, under GMRES and under the dense LU of difference Jacobians alike. (The
    // Jacobians of an attempt past 0.5 are NaN; before they were refreshed on a failed linear
    // solve, the step size shrank to dtmin behind them.)
    let nan = || {
        DaeFiniteDiff::new(DaeClosure::new(
            1,
            |t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
                r[0] = du[0] + u[0] + if t > 0.5 { f64::NAN } else { 0.0 };
            },
        ))
    };
    let check = |r: Result<sciml_core::Solution<Vec<f64>>, DaeError>, what: &str| match r {
        Err(DaeError::Solve(sciml_core::SolveError::Failed { code, t, partial })) => {
            println!("NaN residual, {what}: {code:?} at t = {t}");
            assert_eq!(code, ReturnCode::NonFinite, "{what}");
            assert!((0.4..=0.5).contains(&t), "{what}: stopped at {t}");
            assert!(partial.u.iter().all(|u| u[0].is_finite()));
        }
        other => panic!("{what}: unexpected {other:?}"),
    };
    let new = |f| DaeProblem::new(f, vec![-1.0], vec![1.0], (0.0, 1.0), vec![], None);
    let mut p = new(nan()).expect("valid");
    let r = p.solve(
        DaeBdf::new().linear_solver(KrylovSolve::default()),
        DaeInit::CheckInit,
        &opts,
    );
    check(r, "GMRES");
    let mut p = new(nan()).expect("valid");
    check(p.solve(DaeBdf::new(), DaeInit::CheckInit, &opts), "dense");
}

#[derive(Clone, Debug)]
struct Singular {}

impl GenericResidual for Singular {
    fn len(&self) -> usize {
        2
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], _p: &[S], r: &mut [S]) {
        r[0] = du[0] + u[0];
        r[1] = u[0] * u[0] - u[0];
    }
}

#[test]
fn sparse_lu_with_coloured_jacobians_matches_the_dense_strategy_and_the_exact_heat_solution() {
    let heat = Heat { n: 60 };
    let opts = SolveOptions::default()
        .tolerances(1e-7, 1e-9)
        .saveat(SaveAt::Times(vec![0.05, 0.1]));
    let dense = heat_problem(&heat, DaeForwardAd::new(heat.clone()))
        .solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("dense solve");
    let f = DaeColoured::new(
        DaeForwardAd::new(heat.clone()),
        heat.pattern().expect("pattern"),
    )
    .expect("f");
    // A tridiagonal pattern takes three colours: six passes per Jacobian evaluation.
    assert_eq!(f.colours(), 3);
    let sparse = heat_problem(&heat, f)
        .solve(
            DaeBdf::new().linear_solver(SparseSolve),
            DaeInit::CheckInit,
            &opts,
        )
        .expect("sparse solve");
    let (ed, es) = (
        heat_error(&heat, &dense.u[1]),
        heat_error(&heat, &sparse.u[1]),
    );
    println!(
        "dense {ed:.2e} ({} steps), sparse {es:.2e} ({} steps, {} Jacobians)",
        dense.stats.accepted, sparse.stats.accepted, sparse.stats.njac
    );
    assert!(es < 2e-5, "{es:e}");
    // The same steps: only the LU's rounding differs.
    assert_eq!(dense.stats.accepted, sparse.stats.accepted);
    assert_eq!(dense.stats.rejected, sparse.stats.rejected);
    for (a, b) in dense.u.iter().flatten().zip(sparse.u.iter().flatten()) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}

#[test]
fn sparse_lu_with_difference_jacobians_solves_robertson_and_initialises() {
    // Robertson's pattern: rows 1 and 2 read every component, row 3 too; ∂F/∂u′ is diagonal
    // on the first two.
    let full: Vec<(usize, usize)> = (0..3).flat_map(|i| (0..3).map(move |j| (i, j))).collect();
    let pattern = SparsityPattern::from_triplets(3, 3, &full).expect("pattern");
    let f = || {
        DaeColoured::new(
            DaeFiniteDiff::new(DaeForwardAd::new(Rober)),
            pattern.clone(),
        )
        .expect("f")
    };
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-14)
        .saveat(SaveAt::Times(vec![Robertson::T1E5]));
    let sol = rober(f())
        .solve(
            DaeBdf::new().linear_solver(SparseSolve),
            DaeInit::CheckInit,
            &opts,
        )
        .expect("sparse solve");
    let e = max_rel(&sol.u[0], &Robertson::REF_T1E5);
    println!(
        "sparse, difference Jacobians: {e:.2e}, {} steps",
        sol.stats.accepted
    );
    assert!(e < 1e-6, "{e:e}");
    // The initialisations through the sparse LU agree with the dense ones.
    fn start<F: DaeFunction>(f: F) -> DaeProblem<F> {
        DaeProblem::new(
            f,
            vec![0.0, 0.0, 0.0],
            vec![1.0, 0.0, 0.3],
            (0.0, 1.0),
            Robertson::P.to_vec(),
            Some(vec![true, true, false]),
        )
        .expect("valid problem")
    }
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![0.0]));
    for init in [
        DaeInit::BrownFullBasicInit,
        DaeInit::ShampineCollocationInit { dt: None },
    ] {
        let dense = start(DaeColoured::new(DaeForwardAd::new(Rober), pattern.clone()).expect("f"))
            .solve(DaeBdf::new().linear_solver(SparseSolve), init, &opts)
            .expect("sparse");
        let reference = start(DaeForwardAd::new(Rober))
            .solve(DaeBdf::new(), init, &opts)
            .expect("dense");
        for (a, b) in dense.u[0].iter().zip(&reference.u[0]) {
            assert!(
                (a - b).abs() < 1e-10,
                "{:?} vs {:?}",
                dense.u[0],
                reference.u[0]
            );
        }
    }
}

#[test]
fn sparse_bad_input_is_an_error() {
    // A pattern of the wrong size.
    let p = SparsityPattern::from_triplets(2, 2, &[(0, 0), (1, 1)]).expect("pattern");
    let e = DaeColoured::new(DaeForwardAd::new(Rober), p).unwrap_err();
    assert!(matches!(e, DaeError::Length { .. }), "{e}");
    // A pattern that misses the heat stencil's sub-diagonal: found by the check at the start
    // (compressed products against the residual's own), with dual numbers and with differences.
    let heat = Heat { n: 20 };
    let m = heat.n + 1;
    let mut e = vec![(0, 0), (m, m)];
    for i in 1..m {
        e.extend([(i, i), (i, i + 1)]);
    }
    let short = SparsityPattern::from_triplets(m + 1, m + 1, &e).expect("pattern");
    let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
    let ad = DaeColoured::new(DaeForwardAd::new(heat.clone()), short.clone()).expect("f");
    let r = heat_problem(&heat, ad).solve(
        DaeBdf::new().linear_solver(SparseSolve),
        DaeInit::CheckInit,
        &opts,
    );
    assert!(matches!(r, Err(DaeError::Pattern { row: 1, .. })), "{r:?}");
    // With differences the check is skipped (their truncation error would hide a small missing
    // entry): the wrong Jacobian only slows Newton down; the residual is exact, so a solve that
    // succeeds is as accurate as its tolerance.
    let fd =
        DaeColoured::new(DaeFiniteDiff::new(DaeForwardAd::new(heat.clone())), short).expect("f");
    let opts_t = opts.clone().saveat(SaveAt::Times(vec![0.1]));
    match heat_problem(&heat, fd).solve(
        DaeBdf::new().linear_solver(SparseSolve),
        DaeInit::CheckInit,
        &opts_t,
    ) {
        Ok(sol) => {
            let e = heat_error(&heat, &sol.u[0]);
            println!(
                "incomplete pattern, differences: error {e:.2e}, {} steps",
                sol.stats.accepted
            );
            assert!(e < 1e-4, "{e:e}");
        }
        Err(e) => println!("incomplete pattern, differences: {e}"),
    }
    // A structurally singular system: refused before the first step, as with the dense LU.
    let p = SparsityPattern::from_triplets(2, 2, &[(0, 0), (1, 0)]).expect("pattern");
    let f = DaeColoured::new(DaeForwardAd::new(Singular {}), p).expect("f");
    let mut prob = DaeProblem::new(
        f,
        vec![-1.0, 0.0],
        vec![1.0, 0.0],
        (0.0, 1.0),
        vec![],
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
    let r = prob.solve(
        DaeBdf::new().linear_solver(SparseSolve),
        DaeInit::CheckInit,
        &opts,
    );
    assert!(
        matches!(r, Err(DaeError::SingularIterationMatrix { .. })),
        "{r:?}"
    );
}

/// `u′ + √u = 0` from `u = 0`: consistent (`u′ = 0`), but `∂F/∂u = 1/(2√u)` is infinite there.
#[derive(Clone, Debug)]
struct SqrtDecay;

impl GenericResidual for SqrtDecay {
    fn len(&self) -> usize {
        1
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], _p: &[S], r: &mut [S]) {
        r[0] = du[0] + u[0].sqrt();
    }
}

#[test]
fn an_infinite_jacobian_at_the_start_is_named() {
    let opts = SolveOptions::default().tolerances(1e-6, 1e-8);
    for sparse in [false, true] {
        let p = SparsityPattern::from_triplets(1, 1, &[(0, 0)]).expect("pattern");
        let f = DaeColoured::new(DaeForwardAd::new(SqrtDecay), p).expect("f");
        let mut prob =
            DaeProblem::new(f, vec![0.0], vec![0.0], (0.0, 1.0), vec![], None).expect("valid");
        let r = if sparse {
            prob.solve(
                DaeBdf::new().linear_solver(SparseSolve),
                DaeInit::CheckInit,
                &opts,
            )
        } else {
            let mut prob = DaeProblem::new(
                DaeForwardAd::new(SqrtDecay),
                vec![0.0],
                vec![0.0],
                (0.0, 1.0),
                vec![],
                None,
            )
            .expect("valid");
            prob.solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        };
        match r {
            Err(e @ DaeError::NonFiniteJacobian { .. }) => println!("{e}"),
            other => panic!("sparse = {sparse}: unexpected {other:?}"),
        }
    }
}

#[test]
fn invalid_gmres_settings_are_refused_before_anything_runs() {
    let opts = SolveOptions::default().tolerances(1e-6, 1e-10);
    let bad = [
        krylov(f64::NAN),
        krylov(0.0),
        KrylovSolve {
            max_iters: 0,
            ..KrylovSolve::default()
        },
        KrylovSolve {
            restart: 0,
            ..KrylovSolve::default()
        },
    ];
    for k in bad {
        for init in [DaeInit::CheckInit, DaeInit::BrownFullBasicInit] {
            let e = rober(DaeForwardAd::new(Rober))
                .solve(DaeBdf::new().linear_solver(k.clone()), init, &opts)
                .expect_err("invalid GMRES settings");
            assert!(e.to_string().contains("KrylovSolve::"), "{e}");
        }
    }
}

#[test]
fn difference_products_resolve_the_state_part_at_a_stiff_start() {
    // u1′ + u1 = 0, u2 = u1²: at the first steps α = γ/h is huge, and a difference step sized by
    // the whole direction (αv, v) moved u by less than its rounding, so the algebraic row's
    // product was noise and the solve ended MaxIters at t = 1.5e-12. Sized for the u part (as
    // IDA's difference quotient), it solves like the dense strategy.
    let f = || {
        DaeFiniteDiff::new(DaeClosure::new(
            2,
            |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
                r[0] = du[0] + u[0];
                r[1] = u[1] - u[0] * u[0];
            },
        ))
    };
    let prob = |f| {
        DaeProblem::new(
            f,
            vec![-1.0, 0.0],
            vec![1.0, 1.0],
            (0.0, 1.0),
            vec![],
            Some(vec![true, false]),
        )
        .expect("valid problem")
    };
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![1.0]));
    let sol = prob(f())
        .solve(
            DaeBdf::new().linear_solver(KrylovSolve::default()),
            DaeInit::CheckInit,
            &opts,
        )
        .expect("GMRES with differences");
    let e = (-1f64).exp();
    let u = &sol.u[0];
    println!(
        "GMRES with differences: {u:?} in {} steps",
        sol.stats.accepted
    );
    assert!(
        (u[0] - e).abs() < 1e-7 && (u[1] - e * e).abs() < 1e-7,
        "{u:?}"
    );
}
