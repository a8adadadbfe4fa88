//! Neural ODEs through stiff solvers: the network field's Jacobian and Hessian-vector products
//! (dual numbers through the hand-written VJP) against differences, and DiffEqFlux's stiff test —
//! the spiral neural ODE trained with Rodas5P and with KenCarp4 at reltol 1e-7, abstol 1e-9.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use diffeqflux::nn::{Activation, Chain, Dense, ElementwiseFn, Layer, WrappedFunction};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::NeuralField;
use sciml_core::rng::Xoshiro256pp;
use sciml_core::{DenseMatrix, FnField, Hvp, Jacobian, Jvp, Scalar, Vjp};
use sciml_ode::{OdeMethod, OdeProblem, Rodas5P, SaveAt, SolveOptions, StepVjp, Tolerance, Vern9};
use sciml_sensitivity::{DiscreteAdjoint, Sensitivity};

#[derive(Clone, Copy, Debug)]
struct Cube;
impl ElementwiseFn for Cube {
    fn f<S: Scalar>(&self, x: S) -> S {
        x * x * x
    }
    fn df<S: Scalar>(&self, x: S) -> S {
        x * x * S::cst(3.0)
    }
}

type Net = Chain<(WrappedFunction<Cube>, Dense, Dense)>;

fn net() -> Net {
    Chain::new((
        WrappedFunction::new(2, Cube),
        Dense::new(2, 50, Activation::Tanh),
        Dense::new(50, 2, Activation::Identity),
    ))
    .unwrap()
}

fn params(model: &Net, seed: u64) -> Vec<f64> {
    let mut p = vec![0.0; model.nparams()];
    model.init_params(&mut Xoshiro256pp::new(seed), &mut p);
    p
}

#[test]
fn network_jacobian_and_hvp_match_differences() {
    let model = net();
    let p = params(&model, 1);
    let mut f = NeuralField::<Net, Vec<f64>>::new(model, 1).unwrap();
    let (u, w, v) = (vec![0.7, -0.4], vec![0.3, 1.2], vec![-0.5, 0.9]);
    // Jacobian columns against JVPs.
    let mut j = DenseMatrix::zeros(2, 2);
    f.jacobian(0.0, &u, &p, &mut j);
    for c in 0..2 {
        let mut e = vec![0.0; 2];
        e[c] = 1.0;
        let mut col = vec![0.0; 2];
        f.jvp_u(0.0, &u, &p, &e, &mut col);
        assert_eq!(j.col(c), &col[..]);
    }
    // ∇(wᵀ J v) against central differences of the exact VJP along v.
    let (mut gu, mut gp) = (vec![0.0; 2], vec![0.0; p.len()]);
    f.hvp(0.0, &u, &p, &w, &v, &mut gu, &mut gp);
    let h = 1e-5;
    let vjp_at = |f: &mut NeuralField<Net, Vec<f64>>, s: f64| {
        let ue: Vec<f64> = u.iter().zip(&v).map(|(a, b)| a + s * b).collect();
        let (mut a, mut b) = (vec![0.0; 2], vec![0.0; p.len()]);
        f.vjp(0.0, &ue, &p, &w, &mut a, &mut b);
        (a, b)
    };
    let ((ap, bp), (am, bm)) = (vjp_at(&mut f, h), vjp_at(&mut f, -h));
    let scale = gp.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    for k in 0..2 {
        let fd = (ap[k] - am[k]) / (2.0 * h);
        assert!(
            (gu[k] - fd).abs() < 1e-7 * fd.abs().max(1.0),
            "u {k}: {} vs {fd}",
            gu[k]
        );
    }
    for k in 0..p.len() {
        let fd = (bp[k] - bm[k]) / (2.0 * h);
        assert!(
            (gp[k] - fd).abs() < 1e-7 * scale.max(1.0),
            "p {k}: {} vs {fd}",
            gp[k]
        );
    }
}

const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];

fn data(ts: &[f64]) -> Vec<Vec<f64>> {
    let truth = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let (a, b) = (u[0].powi(3), u[1].powi(3));
        du[0] = a * A[0][0] + b * A[1][0];
        du[1] = a * A[0][1] + b * A[1][1];
    });
    let mut prob = OdeProblem::new(truth, vec![2.0, 0.0], (0.0, 1.5), vec![]).unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-12, 1e-12).unwrap(),
        saveat: SaveAt::Times(ts.to_vec()),
        ..SolveOptions::default()
    };
    prob.solve(Vern9, &opts).unwrap().u
}

/// Trains for `iters` Adam(0.1) steps; returns the losses.
fn train<M>(method: M, iters: usize) -> Vec<f64>
where
    M: OdeMethod<NeuralField<Net, Vec<f64>>> + StepVjp<NeuralField<Net, Vec<f64>>>,
{
    let ts: Vec<f64> = (0..30).map(|i| 1.5 * i as f64 / 29.0).collect();
    let target = data(&ts);
    let model = net();
    let mut p = params(&model, 0);
    let field = NeuralField::<Net, Vec<f64>>::new(model, 1).unwrap();
    let mut prob = OdeProblem::new(field, vec![2.0, 0.0], (0.0, 1.5), p.clone()).unwrap();
    let opts = SolveOptions {
        tol: Tolerance::new(1e-7, 1e-9).unwrap(),
        saveat: SaveAt::Times(ts.clone()),
        ..SolveOptions::default()
    };
    let mut adam = Adam::new(0.1).unwrap();
    let s = DiscreteAdjoint::default();
    let mut losses = Vec::new();
    for _ in 0..iters {
        prob.set_p(p.clone()).unwrap();
        let (sol, tape) = s.forward(&mut prob, &method, &opts).unwrap();
        let mut loss = 0.0;
        let ubar: Vec<Vec<f64>> = sol
            .u
            .iter()
            .zip(&target)
            .map(|(u, d)| {
                (0..2)
                    .map(|i| {
                        let r = u[i] - d[i];
                        loss += r * r;
                        2.0 * r
                    })
                    .collect()
            })
            .collect();
        losses.push(loss);
        let g = s.backward(&mut prob, &method, tape, &ubar).unwrap();
        adam.step(&mut p, &g.dp).unwrap();
    }
    losses
}

#[test]
fn spiral_neural_ode_trains_with_rodas5p() {
    let losses = train(Rodas5P::new(), 100);
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    eprintln!("Rodas5P: loss {first:.4} -> {last:.4} (best {best:.4})");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(last < 0.5 * first, "{first} -> {last}");
}

#[test]
fn spiral_neural_ode_trains_with_kencarp4() {
    let losses = train(sciml_ode::KenCarp4::new(), 100);
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    eprintln!("KenCarp4: loss {first:.4} -> {last:.4}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(last < 0.5 * first, "{first} -> {last}");
}

/// The `NeuralOde` layer itself with stiff methods: the sensitivity is passed as a type
/// (`loss_and_gradient_with`). Through Rodas5P (its reverse pass uses the network's
/// Hessian-vector products) and KenCarp4 the discrete adjoint agrees with central differences of
/// the loss to the solver's tolerance, and the two methods agree with each other.
#[test]
fn the_neural_ode_layer_takes_stiff_methods() {
    use diffeqflux::NeuralOde;
    use sciml_ode::KenCarp4;
    let model = small_net(6);
    let loss = sum_of_squares;
    let u0 = [1.0, -0.5];
    let rodas = NeuralOde::new(model.clone(), (0.0, 1.0), Rodas5P::new(), vec![0.5, 1.0])
        .unwrap()
        .tolerances(1e-10, 1e-12);
    let kc = NeuralOde::new(model, (0.0, 1.0), KenCarp4::new(), vec![0.5, 1.0])
        .unwrap()
        .tolerances(1e-10, 1e-12);
    let p = rodas.init_params(3);
    let g_rodas = rodas
        .loss_and_gradient_with(&DiscreteAdjoint::default(), &u0, &p, loss)
        .unwrap();
    let g_kc = kc
        .loss_and_gradient_with(&DiscreteAdjoint::default(), &u0, &p, loss)
        .unwrap();
    let value = |q: &[f64]| {
        let sol = rodas.solve(&u0, q).unwrap();
        loss(&sol.t, &sol.u).0
    };
    for i in [0, 5, 11, p.len() - 1] {
        let h = 1e-6;
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (value(&a) - value(&b)) / (2.0 * h);
        for (name, g) in [("Rodas5P", &g_rodas), ("KenCarp4", &g_kc)] {
            assert!(
                (g.dp[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "{name} dp[{i}]: adjoint {} vs differences {fd}",
                g.dp[i]
            );
        }
    }
}

/// The sensitivity as a type parameter of a stiff layer (`NeuralOde<_, Rodas5P, DiscreteAdjoint>`):
/// `loss_and_gradient` takes the layer's own sensitivity, gives bitwise what
/// `loss_and_gradient_with` gives, and agrees with central differences of the loss (step 1e-6)
/// in a few parameters and in `u0`, to the solver's tolerance.
#[test]
fn a_stiff_layer_takes_its_sensitivity_as_a_type_parameter() {
    use diffeqflux::NeuralOde;
    let model = small_net(6);
    let loss = sum_of_squares;
    let node: NeuralOde<_, Rodas5P, DiscreteAdjoint> =
        NeuralOde::new(model, (0.0, 1.0), Rodas5P::new(), vec![0.5, 1.0])
            .unwrap()
            .tolerances(1e-10, 1e-12)
            .sensitivity(DiscreteAdjoint::default());
    let p = node.init_params(7);
    let u0 = [0.6, 0.9];
    let g = node.loss_and_gradient(&u0, &p, loss).unwrap();
    let g_with = node
        .loss_and_gradient_with(&DiscreteAdjoint::default(), &u0, &p, loss)
        .unwrap();
    assert_eq!(g.dp, g_with.dp);
    assert_eq!(g.du0, g_with.du0);
    let value = |u0: &[f64], q: &[f64]| {
        let sol = node.solve(u0, q).unwrap();
        loss(&sol.t, &sol.u).0
    };
    let h = 1e-6;
    for i in [0, 5, 11, p.len() - 1] {
        let (mut a, mut b) = (p.clone(), p.clone());
        a[i] += h;
        b[i] -= h;
        let fd = (value(&u0, &a) - value(&u0, &b)) / (2.0 * h);
        assert!(
            (g.dp[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "dp[{i}]: adjoint {} vs differences {fd}",
            g.dp[i]
        );
    }
    for i in 0..2 {
        let (mut a, mut b) = (u0, u0);
        a[i] += h;
        b[i] -= h;
        let fd = (value(&a, &p) - value(&b, &p)) / (2.0 * h);
        assert!(
            (g.du0[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "du0[{i}]: adjoint {} vs differences {fd}",
            g.du0[i]
        );
    }
}

/// A stiff layer with the default sensitivity (`AutoSensitivity`, forward mode for a small
/// network): dual numbers through Rodas5P, KenCarp4 and Bdf (the network field's Jacobian in dual
/// arithmetic). Each gradient is that of the discrete solve, as the discrete adjoint's on the
/// same mesh, so the two agree to rounding (1e-9 relative); and both agree with central
/// differences of the loss to the solver's tolerance.
#[test]
fn a_stiff_layer_with_the_default_sensitivity_takes_dual_numbers_through_the_solver() {
    use diffeqflux::NeuralOde;
    use sciml_ode::{Bdf, KenCarp4};
    let model = small_net(5);
    let loss = sum_of_squares;
    let u0 = [0.8, -0.3];
    fn check<M>(name: &str, node: &NeuralOde<Net2, M>, u0: &[f64], loss: Loss)
    where
        M: Clone,
        diffeqflux::AutoSensitivity: Sensitivity<NeuralField<Net2, Vec<f64>>, M>,
        DiscreteAdjoint: Sensitivity<NeuralField<Net2, Vec<f64>>, M>,
        M: OdeMethod<NeuralField<Net2, Vec<f64>>>,
    {
        let p = node.init_params(5);
        let auto = node.loss_and_gradient(u0, &p, loss).unwrap();
        let adj = node
            .loss_and_gradient_with(&DiscreteAdjoint::default(), u0, &p, loss)
            .unwrap();
        for (a, b) in auto
            .dp
            .iter()
            .chain(&auto.du0)
            .zip(adj.dp.iter().chain(&adj.du0))
        {
            assert!(
                (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                "{name}: forward mode {a} vs discrete adjoint {b}"
            );
        }
        let value = |q: &[f64]| {
            let sol = node.solve(u0, q).unwrap();
            loss(&sol.t, &sol.u).0
        };
        for i in [0, 4, 9, p.len() - 1] {
            let h = 1e-6;
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (value(&a) - value(&b)) / (2.0 * h);
            assert!(
                (auto.dp[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "{name} dp[{i}]: forward mode {} vs differences {fd}",
                auto.dp[i]
            );
        }
    }
    let span = (0.0, 1.0);
    let saves = vec![0.5, 1.0];
    check(
        "Rodas5P",
        &NeuralOde::new(model.clone(), span, Rodas5P::new(), saves.clone())
            .unwrap()
            .tolerances(1e-10, 1e-12),
        &u0,
        loss,
    );
    check(
        "KenCarp4",
        &NeuralOde::new(model.clone(), span, KenCarp4::new(), saves.clone())
            .unwrap()
            .tolerances(1e-10, 1e-12),
        &u0,
        loss,
    );
    check(
        "Bdf",
        &NeuralOde::new(model, span, Bdf::new(), saves)
            .unwrap()
            .tolerances(1e-10, 1e-12),
        &u0,
        loss,
    );
}

type Net2 = Chain<(Dense, Dense)>;
type Loss = fn(&[f64], &[Vec<f64>]) -> (f64, Vec<Vec<f64>>);

/// Dense(2, hidden, tanh) → Dense(hidden, 2).
fn small_net(hidden: usize) -> Net2 {
    Chain::new((
        Dense::new(2, hidden, Activation::Tanh),
        Dense::new(hidden, 2, Activation::Identity),
    ))
    .unwrap()
}

/// `L = Σ_saves ‖u‖²` and its cotangents `2u`.
fn sum_of_squares(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let l = us.iter().flatten().map(|x| x * x).sum::<f64>();
    let ubar = us
        .iter()
        .map(|u| u.iter().map(|x| 2.0 * x).collect())
        .collect();
    (l, ubar)
}
