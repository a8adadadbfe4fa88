//! The discrete adjoint through the DAE BDF against four independent references:
//!
//! * the staggered forward sensitivities on the same fixed mesh (the tangent of the same
//!   discrete equations: agreement to rounding, 1e-10);
//! * dual numbers through the solver on the same fixed mesh (the residual in dual arithmetic,
//!   solved as a real DAE of twice the size: 1e-10 per component);
//! * the analytic gradient of a DAE with a closed-form solution (to the solver's accuracy);
//! * central differences of whole adaptive solves (1e-5).
//!
//! Problems: a nonlinear index-1 DAE with an algebraic start that depends on `p`, a DAE with an
//! exact solution, and Robertson's kinetics (conservation law as the algebraic equation) on a
//! short span.

use sciml_core::{ReturnCode, Scalar};
use sciml_dae::{
    sensitivity, DaeBdf, DaeError, DaeForwardAd, DaeInit, DaeProblem, GenericResidual,
};
use sciml_ode::{SaveAt, SolveOptions};

/// `u1′ = −a u1 + u2`, `0 = u2 − b cos t + c u1²`, `p = (a, b, c)`.
struct Nonlinear;

impl GenericResidual for Nonlinear {
    fn len(&self) -> usize {
        2
    }
    fn eval<S: Scalar<Re = f64>>(&self, t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        r[0] = du[0] + p[0] * u[0] - u[1];
        r[1] = u[1] - p[1] * S::from_re(t.cos()) + p[2] * u[0] * u[0];
    }
}

/// `u1′ = −a u1`, `0 = u2 − b u1²`: `u1 = x e^{−at}`, `u2 = b x² e^{−2at}`.
struct Exact;

impl GenericResidual for Exact {
    fn len(&self) -> usize {
        2
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        r[0] = du[0] + p[0] * u[0];
        r[1] = u[1] - p[1] * u[0] * u[0];
    }
}

/// Robertson's kinetics with the conservation law (Hairer and Wanner, *Solving ODEs II*, §IV.10).
struct Robertson;

impl GenericResidual for Robertson {
    fn len(&self) -> usize {
        3
    }
    fn eval<S: Scalar<Re = f64>>(&self, _t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        r[0] = du[0] + p[0] * u[0] - p[2] * u[1] * u[2];
        r[1] = du[1] - p[0] * u[0] + p[2] * u[1] * u[2] + p[1] * u[1] * u[1];
        r[2] = u[0] + u[1] + u[2] - S::from_re(1.0);
    }
}

struct Case<R> {
    residual: fn() -> R,
    u0: fn(&[f64], f64) -> Vec<f64>,
    n: usize,
    differential: Vec<bool>,
    p: Vec<f64>,
    x0: f64,
    t1: f64,
}

impl<R: GenericResidual> Case<R> {
    fn problem(&self, p: &[f64], x0: f64) -> DaeProblem<DaeForwardAd<R>> {
        DaeProblem::new(
            DaeForwardAd::new((self.residual)()),
            vec![0.0; self.n],
            (self.u0)(p, x0),
            (0.0, self.t1),
            p.to_vec(),
            Some(self.differential.clone()),
        )
        .expect("valid problem")
    }

    /// Fixed cotangents: `L = Σ_i Σ_c w_{ic} u_c(t_i)`.
    fn weights(&self, saves: usize) -> Vec<Vec<f64>> {
        (0..saves)
            .map(|i| {
                (0..self.n)
                    .map(|c| 0.3 + 0.7 * ((i * self.n + c) as f64 * 1.3).sin())
                    .collect()
            })
            .collect()
    }

    fn loss(&self, p: &[f64], x0: f64, method: DaeBdf, opts: &SolveOptions<f64>) -> f64 {
        let sol = self
            .problem(p, x0)
            .solve(method, DaeInit::BrownFullBasicInit, opts)
            .expect("solves");
        assert_eq!(sol.retcode, ReturnCode::Success);
        let w = self.weights(sol.u.len());
        dot(&w, &sol.u)
    }

    /// The adjoint gradient `(∂L/∂p, ∂L/∂x0)` (`x0`: the first start value).
    fn adjoint(&self, method: DaeBdf, opts: &SolveOptions<f64>) -> Vec<f64> {
        let mut prob = self.problem(&self.p, self.x0);
        let (sol, tape) = prob
            .solve_with_tape(method, DaeInit::BrownFullBasicInit, opts)
            .expect("solves");
        assert_eq!(sol.retcode, ReturnCode::Success);
        let g = prob
            .discrete_adjoint(&tape, &self.weights(tape.n_saves()))
            .expect("adjoint");
        let mut out = g.p.clone();
        out.push(g.u0[0]);
        out
    }

    /// The same gradient from the staggered forward sensitivities.
    fn forward(&self, method: DaeBdf, opts: &SolveOptions<f64>) -> Vec<f64> {
        let sol = self
            .problem(&self.p, self.x0)
            .solve_forward_sensitivity_u0(method, DaeInit::BrownFullBasicInit, opts)
            .expect("solves");
        let w = self.weights(sol.u.len());
        let m = self.p.len();
        (0..=m)
            .map(|j| {
                let s: Vec<Vec<f64>> = sol
                    .u
                    .iter()
                    .map(|u| sensitivity(u, self.n, j).to_vec())
                    .collect();
                dot(&w, &s)
            })
            .collect()
    }

    /// Central differences of the loss (relative step `rel`).
    fn central(&self, method: DaeBdf, opts: &SolveOptions<f64>, rel: f64) -> Vec<f64> {
        let mut out: Vec<f64> = (0..self.p.len())
            .map(|j| {
                let d = rel * self.p[j].abs();
                let (mut pp, mut pm) = (self.p.clone(), self.p.clone());
                pp[j] += d;
                pm[j] -= d;
                (self.loss(&pp, self.x0, method, opts) - self.loss(&pm, self.x0, method, opts))
                    / (2.0 * d)
            })
            .collect();
        let d = rel * self.x0.abs();
        out.push(
            (self.loss(&self.p, self.x0 + d, method, opts)
                - self.loss(&self.p, self.x0 - d, method, opts))
                / (2.0 * d),
        );
        out
    }
}

fn dot(w: &[Vec<f64>], u: &[Vec<f64>]) -> f64 {
    w.iter()
        .zip(u)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>())
        .sum()
}

/// `max_i |a_i − b_i| / max_i |b_i|`.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().map(|x| x.abs()).fold(
        0.0,
        |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
    );
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(
            0.0,
            |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
        )
}

fn nonlinear() -> Case<Nonlinear> {
    Case {
        residual: || Nonlinear,
        // The algebraic start b − c x² is consistent; u′(0) comes from BrownFullBasicInit.
        u0: |p, x| vec![x, p[1] - p[2] * x * x],
        n: 2,
        differential: vec![true, false],
        p: vec![1.0, 1.0, 0.3],
        x0: 1.0,
        t1: 2.0,
    }
}

fn robertson() -> Case<Robertson> {
    Case {
        residual: || Robertson,
        u0: |_p, x| vec![x, 0.0, 1.0 - x],
        n: 3,
        differential: vec![true, true, false],
        p: vec![0.04, 3e7, 1e4],
        x0: 1.0,
        t1: 0.5,
    }
}

/// Saves inside steps (interpolated) and at the end.
fn fixed_opts(h: f64, times: Vec<f64>) -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerances(1e-12, 1e-12)
        .fixed_step(h)
        .saveat(SaveAt::Times(times))
}

#[test]
fn adjoint_equals_forward_sensitivities_on_the_same_fixed_mesh() {
    let case = nonlinear();
    let opts = fixed_opts(0.05, vec![0.0, 0.33, 1.0, 1.77, 2.0]);
    let method = DaeBdf::fixed_order(3);
    let adj = case.adjoint(method, &opts);
    let fwd = case.forward(method, &opts);
    let diff = rel_diff(&adj, &fwd);
    println!("adjoint {adj:?}\nforward {fwd:?}\nrelative difference {diff:e}");
    assert!(diff < 1e-10, "relative difference {diff:e}");
    // And the derivative of the discrete solution itself (the mesh is frozen by fixed steps).
    let cd = case.central(method, &opts, 1e-4);
    let d2 = rel_diff(&adj, &cd);
    println!("central {cd:?}\nrelative difference {d2:e}");
    assert!(d2 < 1e-7, "relative difference {d2:e}");
}

#[test]
fn adjoint_with_every_step_saved_equals_forward_sensitivities() {
    // Saves at t0 and at every step's end (no interpolation).
    let case = nonlinear();
    let opts = SolveOptions::default()
        .tolerances(1e-12, 1e-12)
        .fixed_step(0.05);
    let method = DaeBdf::fixed_order(3);
    let adj = case.adjoint(method, &opts);
    let fwd = case.forward(method, &opts);
    let diff = rel_diff(&adj, &fwd);
    println!("every step saved: relative difference {diff:e}");
    assert!(diff < 1e-10, "relative difference {diff:e}");
}

#[test]
fn adjoint_equals_forward_sensitivities_on_robertson() {
    // Fixed steps small enough for the fast transient's Newton iteration.
    let case = Case {
        t1: 0.02,
        ..robertson()
    };
    let opts = fixed_opts(1e-4, vec![0.00013, 0.01, 0.02]).tolerances(1e-12, 1e-14);
    let method = DaeBdf::fixed_order(3);
    let adj = case.adjoint(method, &opts);
    let fwd = case.forward(method, &opts);
    let diff = rel_diff(&adj, &fwd);
    println!("adjoint {adj:?}\nforward {fwd:?}\nrelative difference {diff:e}");
    // Per component too: the parameter gradients span many orders of magnitude.
    for (a, f) in adj.iter().zip(&fwd) {
        assert!(
            (a - f).abs() <= 1e-10 * f.abs().max(1e-300),
            "{a:e} vs {f:e}"
        );
    }
}

#[test]
fn adaptive_adjoint_matches_central_differences() {
    let opts = SolveOptions::default()
        .tolerances(1e-9, 1e-11)
        .saveat(SaveAt::Times(vec![0.7, 2.0]));
    let tight = SolveOptions::default()
        .tolerances(1e-12, 1e-14)
        .saveat(SaveAt::Times(vec![0.7, 2.0]));
    let case = nonlinear();
    let adj = case.adjoint(DaeBdf::new(), &opts);
    let cd = case.central(DaeBdf::new(), &tight, 1e-3);
    let diff = rel_diff(&adj, &cd);
    println!("nonlinear: adjoint {adj:?}\ncentral {cd:?}\nrelative difference {diff:e}");
    assert!(diff < 1e-5, "relative difference {diff:e}");
}

#[test]
fn adaptive_adjoint_on_robertson_matches_central_differences() {
    let times = vec![0.1, 0.5];
    let opts = SolveOptions::default()
        .tolerances(1e-9, 1e-12)
        .saveat(SaveAt::Times(times.clone()));
    let tight = SolveOptions::default()
        .tolerances(1e-12, 1e-15)
        .saveat(SaveAt::Times(times));
    let case = robertson();
    let adj = case.adjoint(DaeBdf::new(), &opts);
    let cd = case.central(DaeBdf::new(), &tight, 1e-3);
    println!("robertson: adjoint {adj:?}\ncentral {cd:?}");
    for (a, c) in adj.iter().zip(&cd) {
        assert!((a - c).abs() <= 1e-5 * c.abs(), "{a:e} vs {c:e}");
    }
}

#[test]
fn adaptive_adjoint_matches_the_analytic_gradient() {
    // L = u1(T) + u2(T) with u1 = x e^{−aT}, u2 = b x² e^{−2aT}.
    let (a, b, x, t) = (0.8, 1.5, 1.2, 1.5);
    let mut prob = DaeProblem::new(
        DaeForwardAd::new(Exact),
        vec![0.0, 0.0],
        vec![x, 0.0],
        (0.0, t),
        vec![a, b],
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerances(1e-10, 1e-12)
        .saveat(SaveAt::Times(vec![t]));
    let (_, tape) = prob
        .solve_with_tape(DaeBdf::new(), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    let g = prob
        .discrete_adjoint(&tape, &[vec![1.0, 1.0]])
        .expect("adjoint");
    let (e1, e2) = ((-a * t).exp(), (-2.0 * a * t).exp());
    let want_p = [-t * x * e1 - 2.0 * t * b * x * x * e2, x * x * e2];
    let want_x = e1 + 2.0 * b * x * e2;
    println!("adjoint {g:?}, analytic p {want_p:?}, x {want_x}");
    for (got, want) in g.p.iter().zip(&want_p) {
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
    }
    assert!((g.u0[0] - want_x).abs() < 1e-6 * want_x);
    // The algebraic start is not a free input: its gradient entry is zero.
    assert_eq!(g.u0[1], 0.0);
}

#[test]
fn cotangents_of_the_wrong_shape_are_refused() {
    let case = nonlinear();
    let mut prob = case.problem(&case.p, case.x0);
    let opts = fixed_opts(0.05, vec![1.0, 2.0]);
    let (_, tape) = prob
        .solve_with_tape(DaeBdf::fixed_order(3), DaeInit::BrownFullBasicInit, &opts)
        .expect("solves");
    assert_eq!(tape.n_saves(), 2);
    let e = prob
        .discrete_adjoint(&tape, &[vec![1.0, 0.0]])
        .expect_err("one cotangent for two saves");
    assert!(
        matches!(
            e,
            DaeError::CotangentCount {
                got: 1,
                expected: 2
            }
        ),
        "{e}"
    );
    let e = prob
        .discrete_adjoint(&tape, &[vec![1.0, 0.0], vec![1.0]])
        .expect_err("short cotangent");
    assert!(
        matches!(
            e,
            DaeError::Length {
                got: 1,
                expected: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = prob
        .discrete_adjoint(&tape, &[vec![1.0, 0.0], vec![f64::NAN, 0.0]])
        .expect_err("NaN cotangent");
    assert!(matches!(e, DaeError::NotFinite { index: 0, .. }), "{e}");
    // A tape of another problem (three parameters here, two there).
    let mut other = DaeProblem::new(
        DaeForwardAd::new(Exact),
        vec![0.0, 0.0],
        vec![1.0, 1.0],
        (0.0, 1.0),
        vec![1.0, 1.0],
        Some(vec![true, false]),
    )
    .expect("valid problem");
    let e = other
        .discrete_adjoint(&tape, &[vec![1.0, 0.0], vec![1.0, 0.0]])
        .expect_err("foreign tape");
    assert!(matches!(e, DaeError::TapeMismatch { .. }), "{e}");
}

/// `R` in dual numbers, as a real DAE of twice the size: the state `[u; s]` stands for the dual
/// numbers `u + ε s` (and `[u′; s′]` for `u′ + ε s′`), the parameter `dir` carries the tangent
/// `p_dir` (the derivative in `ln p_dir`, so every tangent has the solution's scale, as IDAS
/// scales sensitivities by `p̄`; none for a start-value direction), and the residual's value and
/// ε parts are the two halves. Solved on a fixed mesh, `s` is the dual-number derivative of the discrete solution:
/// the BDF formulas are linear in the state, so the solver on `[u; s]` is the solver run in dual
/// numbers (only the corrector's iteration differs, and it converges to the same point).
struct DualNumbers<R> {
    inner: R,
    /// The parameter that carries the tangent (`None`: a start value does).
    dir: Option<usize>,
}

impl<R: GenericResidual> GenericResidual for DualNumbers<R> {
    fn len(&self) -> usize {
        2 * self.inner.len()
    }
    fn eval<S: Scalar<Re = f64>>(&self, t: f64, du: &[S], u: &[S], p: &[S], r: &mut [S]) {
        type D<S> = sciml_core::Dual<S, f64>;
        let n = self.inner.len();
        let z = S::from_re(0.0);
        let ud: Vec<D<S>> = (0..n).map(|i| D::new(u[i], u[n + i])).collect();
        let dud: Vec<D<S>> = (0..n).map(|i| D::new(du[i], du[n + i])).collect();
        let pd: Vec<D<S>> = p
            .iter()
            .enumerate()
            .map(|(k, v)| D::new(*v, if Some(k) == self.dir { *v } else { z }))
            .collect();
        let mut rd = vec![D::new(z, z); n];
        self.inner.eval(t, &dud, &ud, &pd, &mut rd);
        for i in 0..n {
            r[i] = rd[i].value();
            r[n + i] = rd[i].eps();
        }
    }
}

/// The gradient of the case's loss by dual numbers through the solver (one solve of
/// [`DualNumbers`] per parameter and for the first start value).
fn dual_number_gradient<R: GenericResidual>(
    case: &Case<R>,
    method: DaeBdf,
    opts: &SolveOptions<f64>,
    times: &[f64],
) -> Vec<f64> {
    let (n, m) = (case.n, case.p.len());
    let w = case.weights(times.len());
    let mut dual = Vec::new();
    for dir in (0..m).map(Some).chain([None]) {
        let mut u0 = (case.u0)(&case.p, case.x0);
        // The tangent of the start: e_0 for the first start value, 0 for a parameter (the
        // algebraic part and every derivative follow from the initialisation).
        u0.extend((0..n).map(|i| if dir.is_none() && i == 0 { 1.0 } else { 0.0 }));
        let mut differential = case.differential.clone();
        differential.extend(case.differential.clone());
        let mut prob = DaeProblem::new(
            DaeForwardAd::new(DualNumbers {
                inner: (case.residual)(),
                dir,
            }),
            vec![0.0; 2 * n],
            u0,
            (0.0, case.t1),
            case.p.clone(),
            Some(differential),
        )
        .expect("valid problem");
        let sol = prob
            .solve(method, DaeInit::BrownFullBasicInit, opts)
            .expect("solves");
        assert_eq!(sol.t, times);
        let s: Vec<Vec<f64>> = sol.u.iter().map(|u| u[n..].to_vec()).collect();
        dual.push(dot(&w, &s) / dir.map_or(1.0, |j| case.p[j]));
    }
    dual
}

/// The discrete adjoint equals dual numbers through `DaeBdf` on the same mesh (fixed steps and
/// order) to 1e-10 per component: the nonlinear DAE within 5e-15, Robertson (gradients over 12
/// orders of magnitude) within 4e-11.
#[test]
fn adjoint_equals_dual_numbers_on_the_same_fixed_mesh() {
    let method = DaeBdf::fixed_order(3);
    let times = vec![0.0, 0.33, 1.0, 1.77, 2.0];
    let opts = fixed_opts(0.05, times.clone());
    let case = nonlinear();
    let (adj, dual) = (
        case.adjoint(method, &opts),
        dual_number_gradient(&case, method, &opts, &times),
    );
    println!(
        "nonlinear: adjoint {adj:?}
dual numbers {dual:?}"
    );
    let rob = Case {
        t1: 0.02,
        ..robertson()
    };
    let rob_times = vec![0.00013, 0.01, 0.02];
    let rob_opts = fixed_opts(1e-4, rob_times.clone()).tolerances(1e-12, 1e-14);
    // The dual solve's corrector stops at κ times the error weights: a smaller κ converges it
    // further on the same fixed mesh, which the smallest gradient, ∂L/∂k2 ≈ −6.5e-14, needs
    // (1.2e-10 apart at the default κ = 0.2, 3.9e-11 at 0.03; at 0.01 the iteration meets
    // rounding before its test and the fixed step fails).
    let mut converged = method;
    converged.kappa = 3e-2;
    let (rob_adj, rob_dual) = (
        rob.adjoint(method, &rob_opts),
        dual_number_gradient(&rob, converged, &rob_opts, &rob_times),
    );
    println!(
        "robertson: adjoint {rob_adj:?}
dual numbers {rob_dual:?}"
    );
    for (a, d) in adj.iter().zip(&dual).chain(rob_adj.iter().zip(&rob_dual)) {
        assert!(
            (a - d).abs() <= 1e-10 * d.abs().max(1e-300),
            "adjoint {a:e} vs dual numbers {d:e}"
        );
    }
}
