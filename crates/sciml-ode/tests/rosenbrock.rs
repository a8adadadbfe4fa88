//! Rosenbrock methods: convergence orders against an exact solution, stiff reference values,
//! dense output, mass matrices and the Jacobian strategies.
#![allow(clippy::unwrap_used)]

mod common;

use common::robertson_end;
use sciml_core::{ForwardAd, GenericRhs, Scalar, SparseJacobian};
use sciml_ode::problems::{Robertson, RobertsonDae};
use sciml_ode::{
    OdeMethod, OdeProblem, Rodas4, Rodas5P, Rosenbrock23, SaveAt, SolveOptions, Tolerance,
};

/// Prothero–Robinson: `u' = λ (u − φ(t)) + φ'(t)`, exact solution `u = φ(t) = sin t` from
/// `u(0) = 0`; non-autonomous, so the `∂f/∂t` terms are exercised. Second component: a nonlinear
/// autonomous equation `v' = −v²`, `v = 1/(1 + t)`.
#[derive(Clone)]
struct ProtheroRobinson {
    lambda: f64,
}

impl GenericRhs for ProtheroRobinson {
    fn dims(&self) -> (usize, usize) {
        (2, 0)
    }
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        let (s, c) = (S::from_re(t).sin(), S::from_re(t).cos());
        du[0] = (u[0] - s) * S::cst(self.lambda) + c;
        du[1] = -(u[1] * u[1]);
    }
}

fn exact(t: f64) -> [f64; 2] {
    [t.sin(), 1.0 / (1.0 + t)]
}

/// `(error at the step end t = 1, error of the dense output at t = 0.37)`.
fn fixed_step_error<M: OdeMethod<ForwardAd<ProtheroRobinson>>>(
    m: M,
    lambda: f64,
    n: usize,
) -> (f64, f64) {
    let f = ForwardAd::new(ProtheroRobinson { lambda });
    let mut prob = OdeProblem::new(f, vec![0.0, 1.0], (0.0, 1.0), vec![]).unwrap();
    let opts = SolveOptions {
        adaptive: Some(false),
        dt: Some(1.0 / n as f64),
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

#[test]
fn orders_of_convergence() {
    // λ = −2: mildly stiff, so no order reduction. Expected: the method's order at a step end;
    // min(order, interp_order + 1) for the dense output.
    fn check(m: impl OdeMethod<ForwardAd<ProtheroRobinson>> + Copy, ns: &[usize]) {
        let (end, dense): (Vec<f64>, Vec<f64>) =
            ns.iter().map(|&n| fixed_step_error(m, -2.0, n)).unzip();
        let (pe, pd) = (fitted(&end, ns), fitted(&dense, ns));
        let p = f64::from(m.order());
        let q = f64::from(m.interp_order() + 1).min(p);
        eprintln!(
            "{}: end order {pe:.3} (expect {p}), dense order {pd:.3} (expect {q}), errors {end:?}",
            m.name()
        );
        assert!((pe - p).abs() < 0.25, "{}: end order {pe}", m.name());
        assert!((pd - q).abs() < 0.35, "{}: dense order {pd}", m.name());
    }
    check(Rosenbrock23::new(), &[20, 40, 80, 160]);
    check(Rodas4::new(), &[10, 20, 40, 80]);
    check(Rodas5P::new(), &[6, 12, 24, 48]);
}

#[test]
fn robertson_methods_agree() {
    let (reference, st) = robertson_end(Rodas5P::new(), 1e-10, 1e-14);
    eprintln!("Rodas5P tight: {reference:?} {st:?}");
    for (name, (u, st)) in [
        (
            "Rosenbrock23",
            robertson_end(Rosenbrock23::new(), 1e-6, 1e-10),
        ),
        ("Rodas4", robertson_end(Rodas4::new(), 1e-6, 1e-10)),
        ("Rodas5P", robertson_end(Rodas5P::new(), 1e-6, 1e-10)),
    ] {
        eprintln!("{name}: {u:?} {st:?}");
        for k in 0..3 {
            let rel = (u[k] - reference[k]).abs() / reference[k].abs();
            assert!(rel < 1e-3, "{name} component {k}: rel err {rel:e}");
        }
    }
}

#[test]
fn mass_matrix_dae_matches_the_ode_form() {
    let (ode, _) = robertson_end(Rodas5P::new(), 1e-10, 1e-14);
    for (name, u) in [
        ("Rodas5P", dae_end(Rodas5P::new())),
        ("Rodas4", dae_end(Rodas4::new())),
        ("Rosenbrock23", dae_end(Rosenbrock23::new())),
    ] {
        let rel =
            (0..3)
                .map(|k| (u[k] - ode[k]).abs() / ode[k].abs())
                .fold(
                    0.0,
                    |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
                );
        eprintln!("{name} DAE vs ODE form: max relative difference {rel:.2e}");
        assert!(rel < 2e-3, "{name}: {rel:e}");
        // The algebraic constraint holds at the saved point.
        assert!((u[0] + u[1] + u[2] - 1.0).abs() < 1e-12);
    }

    fn dae_end<M: OdeMethod<ForwardAd<RobertsonDae>>>(m: M) -> Vec<f64> {
        let mut mass = sciml_core::DenseMatrix::zeros(3, 3);
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
            tol: Tolerance::new(1e-8, 1e-12).unwrap(),
            saveat: SaveAt::Times(vec![1e5]),
            ..SolveOptions::default()
        };
        prob.solve(m, &opts).unwrap().u[0].clone()
    }
}

#[test]
fn explicit_methods_refuse_a_mass_matrix() {
    let mut mass = sciml_core::DenseMatrix::zeros(3, 3);
    mass[(0, 0)] = 1.0;
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 1.0),
        vec![0.04, 3e7, 1e4],
    )
    .unwrap()
    .with_mass_matrix(mass)
    .unwrap();
    let err = prob
        .solve(sciml_ode::Tsit5, &SolveOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("mass matrix"), "{err}");
}

/// Van der Pol, μ = 1000: stiff on its slow branches, non-stiff in the fast transitions.
#[derive(Clone)]
struct VanDerPol;
impl GenericRhs for VanDerPol {
    fn dims(&self) -> (usize, usize) {
        (2, 0)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], _p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = u[1];
        du[1] = (S::cst(1.0) - u[0] * u[0]) * u[1] * S::cst(1000.0) - u[0];
    }
}

#[test]
fn auto_switching_detects_stiffness() {
    let solve = |auto: bool| {
        let mut prob = OdeProblem::new(
            ForwardAd::new(VanDerPol),
            vec![2.0, 0.0],
            (0.0, 3000.0),
            vec![],
        )
        .unwrap();
        let opts = SolveOptions {
            tol: Tolerance::new(1e-6, 1e-8).unwrap(),
            saveat: SaveAt::Times(vec![3000.0]),
            ..SolveOptions::default()
        };
        if auto {
            prob.solve(sciml_ode::AutoTsit5Rodas5P::new(), &opts)
                .unwrap()
        } else {
            prob.solve(Rodas5P::new(), &opts).unwrap()
        }
    };
    let (a, r) = (solve(true), solve(false));
    eprintln!("auto: {:?}\nRodas5P: {:?}", a.stats, r.stats);
    // Tsit5 alone would need ~1e6 steps here (h ≈ 3.5/1000 on the slow branches over 3000 time
    // units); the switcher must take a number of steps of the stiff method's magnitude.
    assert!(a.stats.accepted < 3 * r.stats.accepted, "{:?}", a.stats);
    let (ua, ur) = (&a.u[0], &r.u[0]);
    assert!(
        (ua[0] - ur[0]).abs() < 1e-3 * ur[0].abs().max(1.0),
        "{ua:?} vs {ur:?}"
    );
}

#[test]
fn jacobian_free_krylov_matches_dense_lu() {
    use sciml_ode::problems::{Brusselator2d, TestProblem};
    use sciml_ode::KrylovSolve;
    // Robertson: GMRES on W = I − hγJ with exact JVPs (dual numbers).
    let (dense, _) = robertson_end(Rodas5P::new(), 1e-8, 1e-12);
    let (krylov, st) = robertson_end(
        Rodas5P::new().with_linear(KrylovSolve {
            rtol: 1e-10,
            ..KrylovSolve::default()
        }),
        1e-8,
        1e-12,
    );
    eprintln!("Krylov Robertson {st:?}");
    for k in 0..3 {
        let rel = (krylov[k] - dense[k]).abs() / dense[k].abs();
        assert!(rel < 1e-6, "component {k}: {rel:e}");
    }
    // The 2-D Brusselator on an 8 × 8 grid (128 unknowns).
    let b = Brusselator2d::new(8).unwrap();
    let solve = |krylov: bool| {
        let mut prob = OdeProblem::new(
            ForwardAd::new(b),
            b.u0(),
            (0.0, 11.5),
            Brusselator2d::P.to_vec(),
        )
        .unwrap();
        let opts = SolveOptions {
            tol: Tolerance::new(1e-7, 1e-9).unwrap(),
            saveat: SaveAt::Times(vec![11.5]),
            tstops: vec![Brusselator2d::T_FORCING],
            ..SolveOptions::default()
        };
        let sol = if krylov {
            let m = Rodas5P::new().with_linear(KrylovSolve {
                rtol: 1e-10,
                ..KrylovSolve::default()
            });
            prob.solve(m, &opts).unwrap()
        } else {
            prob.solve(Rodas5P::new(), &opts).unwrap()
        };
        (sol.u[0].clone(), sol.stats)
    };
    let ((ud, sd), (uk, sk)) = (solve(false), solve(true));
    eprintln!("Brusselator dense {sd:?}\nBrusselator Krylov {sk:?}");
    let scale = ud.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let diff = ud
        .iter()
        .zip(&uk)
        .map(|(a, b)| (a - b).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    assert!(diff < 1e-5 * scale, "max difference {diff:e}");
}

#[test]
fn sparse_lu_matches_dense_lu_on_the_brusselator() {
    use sciml_core::{SparseAd, SparsityPattern};
    use sciml_ode::problems::{Brusselator2d, TestProblem};
    use sciml_ode::SparseSolve;
    let b = Brusselator2d::new(8).unwrap();
    let n = b.u0().len();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-7, 1e-9).unwrap(),
        saveat: SaveAt::Times(vec![11.5]),
        tstops: vec![Brusselator2d::T_FORCING],
        ..SolveOptions::default()
    };
    let mut prob = OdeProblem::new(
        ForwardAd::new(b),
        b.u0(),
        (0.0, 11.5),
        Brusselator2d::P.to_vec(),
    )
    .unwrap();
    let dense = prob.solve(Rodas5P::new(), &opts).unwrap();
    // The problem's own pattern, and the automatically detected one.
    let given = SparsityPattern::from_triplets(n, n, &b.sparsity()).unwrap();
    let detected = SparseAd::detect(b, 0.0, &b.u0(), &Brusselator2d::P).unwrap();
    assert_eq!(detected.jacobian_pattern().nnz(), given.nnz());
    let field = SparseAd::new(b, given).unwrap();
    let mut prob = OdeProblem::new(field, b.u0(), (0.0, 11.5), Brusselator2d::P.to_vec()).unwrap();
    let sparse = prob
        .solve(Rodas5P::new().with_linear(SparseSolve), &opts)
        .unwrap();
    eprintln!("dense {:?}\nsparse {:?}", dense.stats, sparse.stats);
    let (ud, us) = (&dense.u[0], &sparse.u[0]);
    let scale = ud.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let diff = ud
        .iter()
        .zip(us)
        .map(|(a, b)| (a - b).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    assert!(diff < 1e-9 * scale, "max difference {diff:e}");
    assert_eq!(dense.stats.accepted, sparse.stats.accepted);
}

/// An exact preconditioner for the hook test: a dense LU of `W = I − γJ` at the setup point.
#[derive(Clone)]
struct ExactPreconditioner {
    f: ForwardAd<sciml_ode::problems::Brusselator2d>,
    lu: Option<sciml_core::DenseLu<f64>>,
    setups: usize,
}

impl std::fmt::Debug for ExactPreconditioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactPreconditioner({} setups)", self.setups)
    }
}

impl sciml_ode::stiff::KrylovPreconditioner<f64> for ExactPreconditioner {
    fn setup(&mut self, t: f64, u: &[f64], gamma: f64) {
        use sciml_core::Jacobian;
        let n = u.len();
        let mut j = sciml_core::DenseMatrix::zeros(n, n);
        let p = sciml_ode::problems::Brusselator2d::P.to_vec();
        self.f.jacobian(t, &u.to_vec(), &p, &mut j);
        let mut w = sciml_core::DenseMatrix::zeros(n, n);
        for c in 0..n {
            for r in 0..n {
                w[(r, c)] = if r == c { 1.0 } else { 0.0 } - gamma * j[(r, c)];
            }
        }
        let mut lu = sciml_core::DenseLu::new(n);
        lu.factor(&w).unwrap();
        self.lu = Some(lu);
        self.setups += 1;
    }
    fn apply(&mut self, v: &mut [f64]) {
        if let Some(lu) = &self.lu {
            lu.solve_in_place(v).unwrap();
        }
    }
}

#[test]
fn krylov_preconditioner_hook_is_used() {
    use sciml_ode::problems::{Brusselator2d, TestProblem};
    use sciml_ode::KrylovSolve;
    let b = Brusselator2d::new(8).unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-7, 1e-9).unwrap(),
        saveat: SaveAt::Times(vec![11.5]),
        tstops: vec![Brusselator2d::T_FORCING],
        ..SolveOptions::default()
    };
    let solve = |ks: Option<ExactPreconditioner>| {
        let mut prob = OdeProblem::new(
            ForwardAd::new(b),
            b.u0(),
            (0.0, 11.5),
            Brusselator2d::P.to_vec(),
        )
        .unwrap();
        let base = KrylovSolve {
            rtol: 1e-10,
            ..KrylovSolve::default()
        };
        match ks {
            Some(pc) => prob.solve(
                Rodas5P::new().with_linear(base.with_preconditioner(pc)),
                &opts,
            ),
            None => prob.solve(Rodas5P::new().with_linear(base), &opts),
        }
        .unwrap()
    };
    let plain = solve(None);
    let pc = ExactPreconditioner {
        f: ForwardAd::new(b),
        lu: None,
        setups: 0,
    };
    let pre = solve(Some(pc));
    eprintln!("plain {:?}\npreconditioned {:?}", plain.stats, pre.stats);
    // With P = W exactly, each GMRES solve needs one or two iterations: far fewer JVPs.
    assert!(
        pre.stats.nf * 3 < plain.stats.nf,
        "{} vs {}",
        pre.stats.nf,
        plain.stats.nf
    );
    let diff = plain.u[0]
        .iter()
        .zip(&pre.u[0])
        .map(|(a, c)| (a - c).abs())
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        );
    assert!(diff < 1e-8, "{diff:e}");
}

#[test]
fn long_spans_from_zero_take_tiny_first_steps_with_the_default_dtmin() {
    // Robertson to t = 1e11 needs first steps far below ε·1e11; the default step floor is
    // relative to the current time, not to the span's end.
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 1e11),
        vec![0.04, 3e7, 1e4],
    )
    .unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-6, 1e-14).unwrap(),
        saveat: SaveAt::Times(vec![1e11]),
        ..SolveOptions::default()
    };
    let sol = prob.solve(Rodas5P::new(), &opts).unwrap();
    let u = &sol.u[0];
    // IVP test set reference at t = 1e11 (Mazzia & Magherini, problem ROBER):
    // y1 = 0.2083340149701255e-07, y3 = 0.9999999791665050.
    assert!(
        (u[0] - 0.2083340149701255e-07).abs() / 0.2083340149701255e-07 < 1e-3,
        "{u:?}"
    );
    assert!((u[2] - 0.999_999_979_166_505).abs() < 1e-8, "{u:?}");
}

#[test]
fn invalid_krylov_settings_are_refused_when_the_solve_starts() {
    use sciml_ode::{Bdf, KenCarp4, KrylovSolve};
    // A NaN tolerance never converges and a zero iteration limit never iterates: each would
    // fail every step until the step size or maxiters ran out. They are a clear Err instead.
    let bad = [
        KrylovSolve {
            rtol: f64::NAN,
            ..KrylovSolve::default()
        },
        KrylovSolve {
            rtol: 1.0,
            ..KrylovSolve::default()
        },
        KrylovSolve {
            max_iters: 0,
            ..KrylovSolve::default()
        },
        KrylovSolve {
            restart: 0,
            ..KrylovSolve::default()
        },
    ];
    let opts = SolveOptions::default();
    let prob = || {
        OdeProblem::new(
            ForwardAd::new(Robertson),
            vec![1.0, 0.0, 0.0],
            (0.0, 1.0),
            Robertson::P.to_vec(),
        )
        .unwrap()
    };
    for k in bad {
        let errs = [
            prob()
                .solve(Rodas5P::new().with_linear(k.clone()), &opts)
                .map(|_| ()),
            prob()
                .solve(KenCarp4::new().with_linear(k.clone()), &opts)
                .map(|_| ()),
            prob()
                .solve(Bdf::new().with_linear(k.clone()), &opts)
                .map(|_| ()),
        ];
        for e in errs {
            let msg = e.expect_err("invalid Krylov settings").to_string();
            assert!(msg.contains("KrylovSolve::"), "{msg}");
        }
    }
}
