//! Gradients through stiff solvers: the discrete adjoint of Rosenbrock steps (with
//! Hessian-vector products for the Jacobian inside each step) on Robertson's kinetics.
#![allow(clippy::unwrap_used)]

use sciml_core::{ForwardAd, GenericRhs, Scalar};
use sciml_ode::problems::Robertson;
use sciml_ode::{
    MethodInfo, OdeMethod, OdeProblem, Rodas4, Rodas5P, Rosenbrock23, SaveAt, SolveOptions,
    StepVjp, Tolerance,
};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};

const P: [f64; 3] = [0.04, 3e7, 1e4];
const SAVES: [f64; 4] = [0.4, 4.0, 40.0, 400.0];
/// Loss weights per saved state: emphasise y2 (~1e-5), whose scale differs by 1e5.
const WEIGHTS: [f64; 3] = [1.0, 1e4, 1.0];

fn opts() -> SolveOptions<f64> {
    SolveOptions {
        tol: Tolerance::new(1e-8, 1e-12).unwrap(),
        saveat: SaveAt::Times(SAVES.to_vec()),
        ..SolveOptions::default()
    }
}

/// L = Σ_k Σ_i w_i u_i(t_k)², and its cotangents.
fn loss(us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let mut l = 0.0;
    let mut bars = Vec::new();
    for u in us {
        let mut b = vec![0.0; 3];
        for i in 0..3 {
            l += WEIGHTS[i] * u[i] * u[i];
            b[i] = 2.0 * WEIGHTS[i] * u[i];
        }
        bars.push(b);
    }
    (l, bars)
}

fn value<M: OdeMethod<ForwardAd<Robertson>>>(m: &M, u0: &[f64], p: &[f64]) -> f64 {
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        u0.to_vec(),
        (0.0, 400.0),
        p.to_vec(),
    )
    .unwrap();
    loss(&prob.solve(m.clone(), &opts()).unwrap().u).0
}

/// `(∂L/∂u0, ∂L/∂p)` concatenated, and the backward statistics, of Robertson on [0, 400] solved
/// by `m` with sensitivity method `s`.
fn gradient<S, M>(s: &S, m: &M) -> (Vec<f64>, sciml_core::Stats)
where
    S: Sensitivity<ForwardAd<Robertson>, M>,
    M: MethodInfo,
{
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 400.0),
        P.to_vec(),
    )
    .unwrap();
    let (sol, tape) = s.forward(&mut prob, m, &opts()).unwrap();
    let (_, ubar) = loss(&sol.u);
    let g = s.backward(&mut prob, m, tape, &ubar).unwrap();
    (g.du0.into_iter().chain(g.dp).collect(), g.stats)
}

/// The exact discrete adjoint's gradient.
fn adjoint<M>(m: &M) -> Vec<f64>
where
    M: OdeMethod<ForwardAd<Robertson>> + StepVjp<ForwardAd<Robertson>>,
{
    gradient(&DiscreteAdjoint::default(), m).0
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-8))
        .fold(0.0, f64::max)
}

/// The mesh an adaptive solve takes, to be replayed with fixed steps (`tstops` at every step
/// end and a step larger than the span, so each step lands on the next stop).
fn frozen_mesh_opts<M: OdeMethod<ForwardAd<Robertson>>>(m: &M) -> SolveOptions<f64> {
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 400.0),
        P.to_vec(),
    )
    .unwrap();
    let o = SolveOptions {
        saveat: SaveAt::Steps,
        ..opts()
    };
    let sol = prob.solve(m.clone(), &o).unwrap();
    let mut fixed = opts();
    fixed.adaptive = Some(false);
    fixed.dt = Some(1e3);
    fixed.tstops = sol.t[1..sol.t.len() - 1].to_vec();
    fixed
}

#[test]
fn robertson_gradients_on_the_adaptive_mesh() {
    // The adjoint of the adaptive solve differentiates the computed solution on its own mesh.
    // Differences of the same mesh replayed with fixed steps are an independent check of exactly
    // that derivative (differences of adaptive solves would also move the mesh).
    fn check<M>(m: M)
    where
        M: OdeMethod<ForwardAd<Robertson>> + StepVjp<ForwardAd<Robertson>> + Copy,
    {
        let frozen = frozen_mesh_opts(&m);
        let adj = adjoint(&m);
        let x0: Vec<f64> = [1.0, 0.0, 0.0].iter().chain(P.iter()).copied().collect();
        let fd: Vec<f64> = (0..6)
            .map(|i| {
                let h = 1e-4 * x0[i].abs().max(1e-4);
                let eval = |d: f64| {
                    let mut x = x0.clone();
                    x[i] += d;
                    let mut prob = OdeProblem::new(
                        ForwardAd::new(Robertson),
                        x[..3].to_vec(),
                        (0.0, 400.0),
                        x[3..].to_vec(),
                    )
                    .unwrap();
                    loss(&prob.solve(m, &frozen).unwrap().u).0
                };
                (eval(h) - eval(-h)) / (2.0 * h)
            })
            .collect();
        let e = max_rel(&adj, &fd);
        eprintln!(
            "{}: adjoint {adj:?}\n  frozen-mesh differences {fd:?}\n  max rel {e:.2e}",
            m.name()
        );
        assert!(e < 1e-6, "{}: {e:e}", m.name());
    }
    check(Rodas5P::new());
    check(Rodas4::new());
}

#[test]
fn robertson_gradients_agree_with_adaptive_differences() {
    // Differences of adaptive solves also move the mesh: agreement to about the tolerance's
    // effect on the loss, not to rounding.
    let m = Rodas5P::new();
    let adj = adjoint(&m);
    let x0: Vec<f64> = [1.0, 0.0, 0.0].iter().chain(P.iter()).copied().collect();
    let fd: Vec<f64> = (0..6)
        .map(|i| {
            let h = 1e-6 * x0[i].abs().max(1e-3);
            let eval = |d: f64| {
                let mut x = x0.clone();
                x[i] += d;
                value(&m, &x[..3], &x[3..])
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        })
        .collect();
    let e = max_rel(&adj, &fd);
    eprintln!("adaptive differences {fd:?}, max rel {e:.2e}");
    assert!(e < 1e-3, "{e:e}");
}

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

#[test]
fn rosenbrock_discrete_adjoint_is_exact_on_a_fixed_mesh() {
    // Van der Pol (μ = 10), fixed steps, saves inside steps (dense output) and at step ends:
    // the map (u0, μ) ↦ loss is smooth, and Richardson-extrapolated central differences
    // (steps 1e-3 and 5e-4) are accurate to ~1e-11, so the adjoint must match to rounding.
    fn run<M: OdeMethod<ForwardAd<VanDerPol>>>(
        m: &M,
        x: &[f64],
    ) -> (OdeProblem<ForwardAd<VanDerPol>>, SolveOptions<f64>) {
        let prob = OdeProblem::new(
            ForwardAd::new(VanDerPol),
            x[..2].to_vec(),
            (0.0, 2.0),
            x[2..].to_vec(),
        )
        .unwrap();
        let o = SolveOptions {
            adaptive: Some(false),
            dt: Some(0.01),
            saveat: SaveAt::Times(vec![0.5, 1.375, 2.0]),
            ..SolveOptions::default()
        };
        let _ = m;
        (prob, o)
    }
    fn l(us: &[Vec<f64>]) -> f64 {
        us.iter().map(|u| u[0] * u[0] + 3.0 * u[1]).sum()
    }
    fn check<M>(m: M)
    where
        M: OdeMethod<ForwardAd<VanDerPol>> + StepVjp<ForwardAd<VanDerPol>>,
    {
        let x0 = [2.0, 0.0, 10.0];
        let val = |x: &[f64]| {
            let (mut prob, o) = run(&m, x);
            l(&prob.solve(m.clone(), &o).unwrap().u)
        };
        let cd = |i: usize, h: f64| {
            let (mut a, mut b) = (x0, x0);
            a[i] += h;
            b[i] -= h;
            (val(&a) - val(&b)) / (2.0 * h)
        };
        let fd: Vec<f64> = (0..3)
            .map(|i| (4.0 * cd(i, 5e-4) - cd(i, 1e-3)) / 3.0)
            .collect();
        let (mut prob, o) = run(&m, &x0);
        let s = DiscreteAdjoint::default();
        let (sol, tape) = s.forward(&mut prob, &m, &o).unwrap();
        let ubar: Vec<Vec<f64>> = sol.u.iter().map(|u| vec![2.0 * u[0], 3.0]).collect();
        let g = s.backward(&mut prob, &m, tape, &ubar).unwrap();
        let adj: Vec<f64> = g.du0.into_iter().chain(g.dp).collect();
        let e = max_rel(&adj, &fd);
        eprintln!(
            "{}: adjoint {adj:?}, differences {fd:?}, max rel {e:.2e}",
            m.name()
        );
        assert!(e < 1e-9, "{}: {e:e}", m.name());
    }
    check(Rodas5P::new());
    check(Rodas4::new());
    check(Rosenbrock23::new());
}

#[test]
fn discrete_adjoint_refuses_mass_matrices() {
    let mut mass = sciml_core::DenseMatrix::zeros(3, 3);
    mass[(0, 0)] = 1.0;
    mass[(1, 1)] = 1.0;
    mass[(2, 2)] = 1.0;
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 1.0),
        P.to_vec(),
    )
    .unwrap()
    .with_mass_matrix(mass)
    .unwrap();
    let err = DiscreteAdjoint::default()
        .forward(&mut prob, &Rodas5P::new(), &SolveOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("mass matrix"), "{err}");
}

#[test]
fn gauss_and_quadrature_adjoints_solve_the_stiff_adjoint_implicitly() {
    // The adjoint λ' = −Jᵀλ of a stiff problem is stiff; with Rodas5P forward and backward
    // (the adjoint field's Jacobian is −J(u(t))ᵀ) the continuous adjoints agree with the exact
    // discrete adjoint to the tolerance.
    use sciml_sensitivity::{GaussAdjoint, QuadratureAdjoint};
    let m = Rodas5P::new();
    let exact = adjoint(&m);
    for (name, (g, st)) in [
        ("GaussAdjoint", gradient(&GaussAdjoint, &m)),
        ("QuadratureAdjoint", gradient(&QuadratureAdjoint, &m)),
    ] {
        let e = max_rel(&g, &exact);
        eprintln!("{name}: {g:?}\n  vs discrete: max rel {e:.2e}; backward {st:?}");
        assert!(e < 1e-4, "{name}: {e:e}");
        // An explicit method would need ~1e7 steps over [0, 400] at this stiffness.
        assert!(st.steps < 5_000, "{name}: {st:?}");
    }
}

#[test]
fn robertson_gradients_match_forward_diff_sensitivity() {
    // Dual numbers through Rodas5P (the dense LU runs in dual arithmetic; step control sees value
    // parts, so the dual solve takes the real solve's steps) and the discrete adjoint compute the
    // same derivative of the same computed solution: agreement to rounding, not to tolerance.
    use sciml_sensitivity::ForwardDiffSensitivity;
    let m = Rodas5P::new();
    let adj = adjoint(&m);
    let (fwd, _) = gradient(&ForwardDiffSensitivity, &m);
    let e = max_rel(&adj, &fwd);
    eprintln!("ForwardDiffSensitivity {fwd:?}\n  vs discrete adjoint: max rel {e:.2e}");
    assert!(e < 1e-9, "{e:e}");
}

#[test]
fn interpolating_adjoint_with_an_implicit_backward_method() {
    // (λ, μ) packed into one vector and solved backwards with Rodas5P, KenCarp4 and Bdf: the
    // gradient agrees with the exact discrete adjoint to the tolerance.
    use sciml_ode::{Bdf, KenCarp4};
    use sciml_sensitivity::InterpolatingAdjoint;
    let m = Rodas5P::new();
    let exact = adjoint(&m);
    let ia = InterpolatingAdjoint::default();
    for (name, (g, st), tol) in [
        (
            "Rodas5P",
            gradient(&ia.with_backward(Rodas5P::new()), &m),
            1e-7,
        ),
        (
            "KenCarp4",
            gradient(&ia.with_backward(KenCarp4::new()), &m),
            1e-5,
        ),
        ("Bdf", gradient(&ia.with_backward(Bdf::new()), &m), 1e-5),
    ] {
        let e = max_rel(&g, &exact);
        eprintln!("InterpolatingAdjoint backward {name}: max rel {e:.2e}; backward {st:?}");
        assert!(e < tol, "{name}: {e:e}");
        assert!(st.steps < 5_000, "{name}: {st:?}");
    }
    // Checkpointing is refused with a clear error (the recompute would need the field's
    // Jacobian through a borrowed wrapper).
    let mut prob = OdeProblem::new(
        ForwardAd::new(Robertson),
        vec![1.0, 0.0, 0.0],
        (0.0, 400.0),
        P.to_vec(),
    )
    .unwrap();
    let ck = InterpolatingAdjoint {
        checkpointing: true,
    }
    .with_backward(Rodas5P::new());
    let err = ck.forward(&mut prob, &m, &opts()).err().unwrap();
    assert!(err.to_string().contains("checkpointing"), "{err}");
}
