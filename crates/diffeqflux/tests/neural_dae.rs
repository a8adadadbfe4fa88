//! NeuralDae: gradients against central differences of whole solves (on a fixed mesh, where
//! they must agree to the differences' own error, and adaptively to 1e-5), training on
//! Robertson data with the conservation law as the algebraic row, and bad input.

use diffeqflux::neural_de::{Constraints, DaeConstraints, DaeSensitivity, NeuralDae};
use diffeqflux::nn::{Activation, Chain, Combine, Dense, Input, Layer, Parallel};
use diffeqflux::optim::{Bfgs, Convergence, Minimiser};
use sciml_core::{Error, Scalar, SolveError};
use sciml_dae::{DaeBdf, DaeClosure, DaeError, DaeFiniteDiff, DaeInit, DaeProblem};
use sciml_ode::SolveOptions;

/// `u1 + u2 + u3 = c` with a trainable total `c` (starting at 1).
#[derive(Clone)]
struct Total;
impl DaeConstraints for Total {
    fn len(&self) -> usize {
        1
    }
    fn nparams(&self) -> usize {
        1
    }
    fn init_params(&self, p: &mut [f64]) {
        p[0] = 1.0;
    }
    fn residual<S: Scalar<Re = f64>>(&self, _t: f64, u: &[S], p: &[S], out: &mut [S]) {
        out[0] = u[0] + u[1] + u[2] - p[0];
    }
}

/// `u1 + u2 + u3 − 1 = 0`.
#[derive(Clone)]
struct Conservation;
impl Constraints for Conservation {
    fn len(&self) -> usize {
        1
    }
    fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
        out[0] = u[0] + u[1] + u[2] - S::cst(1.0);
    }
}

type Net = Chain<(Dense, Dense)>;

fn net(hidden: usize) -> Net {
    Chain::new((
        Dense::new(3, hidden, Activation::Tanh),
        Dense::new(hidden, 2, Activation::Identity),
    ))
    .expect("sizes chain")
}

const SAVES: [f64; 2] = [0.5, 1.0];
const WEIGHTS: [f64; 3] = [1.0, -0.7, 0.4];

/// `L = Σ_saves Σ_i w_i u_i²`, with its cotangents.
fn loss(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let l = us
        .iter()
        .flat_map(|u| u.iter().zip(WEIGHTS).map(|(x, w)| w * x * x))
        .sum();
    let bars = us
        .iter()
        .map(|u| u.iter().zip(WEIGHTS).map(|(x, w)| 2.0 * w * x).collect())
        .collect();
    (l, bars)
}

/// The layer with a trainable constraint, the start `(u0, du0)` and parameters (the network's
/// drawn from seed 3, scaled up so that the dynamics are not nearly linear).
fn setup(
    opts: impl Fn(&mut SolveOptions<f64>),
    method: DaeBdf,
) -> (NeuralDae<Net, Total>, Vec<f64>) {
    let mut layer = NeuralDae::new(
        net(4),
        Total,
        (0.0, 1.0),
        vec![true, true, false],
        SAVES.to_vec(),
    )
    .expect("valid layer")
    .method(method)
    .init(DaeInit::BrownFullBasicInit);
    opts(layer.options_mut());
    let mut p = layer.init_params(3);
    let np = p.len();
    p[..np - 1].iter_mut().for_each(|x| *x *= 2.0);
    (layer, p)
}

const U0: [f64; 3] = [0.8, 0.1, 0.1];

fn loss_at<L: Layer + Clone>(layer: &NeuralDae<L, Total>, u0: &[f64], p: &[f64]) -> f64 {
    let sol = layer.solve(u0, &[0.0; 3], p).expect("solves");
    loss(&sol.t, &sol.u).0
}

/// Central differences of the loss in every parameter and in the two differential start
/// values (step `rel·max(|x|, 1)`), in the order `[p…, u0_1, u0_2]`.
fn central<L: Layer + Clone>(layer: &NeuralDae<L, Total>, p: &[f64], rel: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for j in 0..p.len() {
        let h = rel * p[j].abs().max(1.0);
        let (mut pp, mut pm) = (p.to_vec(), p.to_vec());
        pp[j] += h;
        pm[j] -= h;
        out.push((loss_at(layer, &U0, &pp) - loss_at(layer, &U0, &pm)) / (2.0 * h));
    }
    for i in 0..2 {
        let h = rel;
        let (mut up, mut um) = (U0.to_vec(), U0.to_vec());
        up[i] += h;
        um[i] -= h;
        out.push((loss_at(layer, &up, p) - loss_at(layer, &um, p)) / (2.0 * h));
    }
    out
}

/// The forward-sensitivity gradient, in the order of [`central`]; the algebraic start value's
/// entry must be zero.
fn forward<L: Layer + Clone>(layer: &NeuralDae<L, Total>, p: &[f64]) -> Vec<f64> {
    let g = layer
        .loss_and_gradient(&U0, &[0.0; 3], p, loss)
        .expect("gradient");
    assert_eq!(
        g.du0[2], 0.0,
        "the algebraic start value is not a direction"
    );
    // The sensitivity solve refreshes the Jacobians every step, so its Newton iterates (not its
    // mesh on fixed steps) differ from the plain solve's: the two agree to Newton's tolerance.
    let plain = loss_at(layer, &U0, p);
    assert!(
        (g.loss - plain).abs() <= 1e-8 * plain.abs(),
        "{} vs {plain}",
        g.loss
    );
    let mut out = g.dp;
    out.extend_from_slice(&g.du0[..2]);
    out
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
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

#[test]
fn gradients_on_a_fixed_mesh_are_the_derivative_of_the_discrete_solution() {
    // Fixed steps and orders: the mesh does not move, so central differences (relative step
    // 1e-4, truncation ~1e-8) check the sensitivities themselves.
    // Up to 10 simplified-Newton iterations: with the default 4 the first step at this
    // tolerance fails (a fixed step cannot be retried smaller).
    let mut method = DaeBdf::fixed_order(3);
    method.max_iter = 10;
    let (layer, p) = setup(
        |o| *o = o.clone().tolerances(1e-12, 1e-12).fixed_step(0.05),
        method,
    );
    let fwd = forward(&layer, &p);
    let cd = central(&layer, &p, 1e-4);
    let diff = max_rel_diff(&fwd, &cd);
    println!(
        "fixed mesh: relative difference {diff:e} over {} entries",
        fwd.len()
    );
    assert!(diff < 1e-7, "relative difference {diff:e}");
}

#[test]
fn adaptive_gradients_match_central_differences_to_1e_5() {
    let (layer, p) = setup(|o| *o = o.clone().tolerances(1e-9, 1e-11), DaeBdf::new());
    let fwd = forward(&layer, &p);
    // The reference: central differences of tight solves (relative step 1e-3).
    let (tight, _) = setup(|o| *o = o.clone().tolerances(1e-12, 1e-14), DaeBdf::new());
    let cd = central(&tight, &p, 1e-3);
    let diff = max_rel_diff(&fwd, &cd);
    println!(
        "adaptive: relative difference {diff:e} over {} entries",
        fwd.len()
    );
    assert!(diff < 1e-5, "relative difference {diff:e}");
}

/// The discrete-adjoint gradient, in the order of [`central`].
fn adjoint<L: Layer + Clone>(layer: NeuralDae<L, Total>, p: &[f64]) -> Vec<f64> {
    let layer = layer.sensitivity(DaeSensitivity::DiscreteAdjoint);
    let g = layer
        .loss_and_gradient(&U0, &[0.0; 3], p, loss)
        .expect("gradient");
    assert_eq!(
        g.du0[2], 0.0,
        "the algebraic start value is not a direction"
    );
    assert_eq!(
        g.loss,
        loss_at(&layer, &U0, p),
        "the adjoint's solve is the plain one"
    );
    let mut out = g.dp;
    out.extend_from_slice(&g.du0[..2]);
    out
}

#[test]
fn discrete_adjoint_equals_forward_sensitivities_on_a_fixed_mesh() {
    let mut method = DaeBdf::fixed_order(3);
    method.max_iter = 10;
    let (layer, p) = setup(
        |o| *o = o.clone().tolerances(1e-12, 1e-12).fixed_step(0.05),
        method,
    );
    let fwd = forward(&layer, &p);
    let adj = adjoint(layer, &p);
    // Separate solves: the two linearise at points that differ by Newton's stopping error.
    let diff = max_rel_diff(&adj, &fwd);
    println!(
        "adjoint against forward: relative difference {diff:e} over {} entries",
        adj.len()
    );
    assert!(diff < 1e-10, "relative difference {diff:e}");
}

#[test]
fn adaptive_discrete_adjoint_matches_central_differences_to_1e_5() {
    let (layer, p) = setup(|o| *o = o.clone().tolerances(1e-9, 1e-11), DaeBdf::new());
    let adj = adjoint(layer, &p);
    let (tight, _) = setup(|o| *o = o.clone().tolerances(1e-12, 1e-14), DaeBdf::new());
    let cd = central(&tight, &p, 1e-3);
    let diff = max_rel_diff(&adj, &cd);
    println!(
        "adaptive adjoint: relative difference {diff:e} over {} entries",
        adj.len()
    );
    assert!(diff < 1e-5, "relative difference {diff:e}");
}

/// Robertson's kinetics (k1 = 0.04, k2 = 3e7, k3 = 1e4) in residual form with the
/// conservation law as its algebraic row, saved at `saves`.
fn robertson_data(saves: &[f64]) -> Vec<Vec<f64>> {
    let f = DaeClosure::new(
        3,
        |_t: f64, du: &[f64], u: &[f64], _p: &[f64], r: &mut [f64]| {
            r[0] = du[0] + 0.04 * u[0] - 1e4 * u[1] * u[2];
            r[1] = du[1] - 0.04 * u[0] + 1e4 * u[1] * u[2] + 3e7 * u[1] * u[1];
            r[2] = u[0] + u[1] + u[2] - 1.0;
        },
    );
    let mut prob = DaeProblem::new(
        DaeFiniteDiff::new(f),
        vec![-0.04, 0.04, 0.0],
        vec![1.0, 0.0, 0.0],
        (0.0, 1.0),
        vec![],
        Some(vec![true, true, false]),
    )
    .expect("valid problem");
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-12)
        .saveat(sciml_ode::SaveAt::Times(saves.to_vec()));
    prob.solve(DaeBdf::new(), DaeInit::CheckInit, &opts)
        .expect("solves")
        .u
}

#[test]
fn training_on_robertson_data_lowers_the_loss_and_keeps_the_constraint() {
    let saves: Vec<f64> = (1..=10).map(|i| 0.1 * i as f64).collect();
    let data = robertson_data(&saves);
    let (rtol, atol) = (1e-6, 1e-8);
    let layer = NeuralDae::new(
        net(8),
        Conservation,
        (0.0, 1.0),
        vec![true, true, false],
        saves,
    )
    .expect("valid layer")
    .tolerances(rtol, atol)
    .init(DaeInit::BrownFullBasicInit);
    let u0 = [1.0, 0.0, 0.0];
    let mut worst: f64 = 0.0;
    let mut history = Vec::new();
    let bfgs =
        Bfgs::new().with_convergence(Convergence::default().with_max_iters(8).expect("iters"));
    let report = bfgs
        .minimise(&layer.init_params(0), |p, grad| {
            let g = layer.loss_and_gradient(&u0, &[0.0; 3], p, |_t: &[f64], us: &[Vec<f64>]| {
                for u in us {
                    worst = worst.max((u[0] + u[1] + u[2] - 1.0).abs());
                }
                let l = us
                    .iter()
                    .zip(&data)
                    .flat_map(|(u, d)| u.iter().zip(d).map(|(a, b)| (a - b) * (a - b)))
                    .sum();
                let bars = us
                    .iter()
                    .zip(&data)
                    .map(|(u, d)| u.iter().zip(d).map(|(a, b)| 2.0 * (a - b)).collect())
                    .collect();
                (l, bars)
            })?;
            grad.copy_from_slice(&g.dp);
            history.push(g.loss);
            Ok(g.loss)
        })
        .expect("trains");
    println!(
        "loss {:.4e} -> {:.4e} in {} iterations; worst constraint violation {worst:.2e}",
        report.loss_history[0], report.loss, report.iterations
    );
    assert!(report.iterations >= 3, "{report:?}");
    assert!(
        report.loss < 0.5 * report.loss_history[0],
        "loss {:e} -> {:e}",
        report.loss_history[0],
        report.loss
    );
    // Every saved state of every solve of the training (trial points of the line search
    // included) satisfies the conservation law to within the absolute tolerance.
    assert!(worst <= atol, "worst violation {worst:e}");
}

#[test]
fn bad_input_is_an_error() {
    // differential_vars of the wrong length.
    let e = NeuralDae::new(net(4), Total, (0.0, 1.0), vec![true, false], vec![1.0]).err();
    assert!(
        matches!(
            e,
            Some(DaeError::Length {
                what: "differential_vars",
                got: 2,
                expected: 3
            })
        ),
        "{e:?}"
    );
    // The network's outputs must be the differential variables (here one, the network has 2).
    let e = NeuralDae::new(
        net(4),
        Total,
        (0.0, 1.0),
        vec![true, false, false],
        vec![1.0],
    )
    .err();
    match e {
        Some(DaeError::Solve(SolveError::Input(Error::InvalidOption { option, reason }))) => {
            assert_eq!(option, "model");
            assert!(reason.contains("needs 1 outputs"), "{reason}");
        }
        other => panic!("expected a model-size error, got {other:?}"),
    }
    // One constraint per algebraic variable: four states, two of them algebraic, one constraint.
    let four = Chain::new((
        Dense::new(4, 4, Activation::Tanh),
        Dense::new(4, 2, Activation::Identity),
    ))
    .expect("sizes chain");
    let e = NeuralDae::new(
        four,
        Total,
        (0.0, 1.0),
        vec![true, false, true, false],
        vec![1.0],
    )
    .err();
    assert!(
        matches!(
            e,
            Some(DaeError::Solve(SolveError::Input(Error::InvalidOption {
                option: "constraints",
                ..
            })))
        ),
        "{e:?}"
    );
    let layer = NeuralDae::new(
        net(4),
        Total,
        (0.0, 1.0),
        vec![true, true, false],
        vec![1.0],
    )
    .expect("valid")
    .tolerances(1e-8, 1e-10);
    let p = layer.init_params(0);
    // CheckInit (the default) with du0 = 0, while the network gives u′ ≠ 0.
    let e = layer.solve(&U0, &[0.0; 3], &p).err();
    assert!(matches!(e, Some(DaeError::Inconsistent { .. })), "{e:?}");
    // The same start with a consistent du0 is accepted.
    let mut du0 = [0.0; 3];
    let mut r = [0.0; 3];
    let mut field = layer.core().field().clone();
    sciml_dae::DaeFunction::residual(&mut field, 0.0, &du0, &U0, &p, &mut r);
    du0[0] = -r[0];
    du0[1] = -r[1];
    layer.solve(&U0, &du0, &p).expect("consistent start");
    // Wrong parameter and state lengths, a NaN start.
    let e = layer.solve(&U0, &du0, &p[1..]).err();
    assert!(
        matches!(e, Some(DaeError::Length { got, .. }) if got == p.len() - 1),
        "{e:?}"
    );
    let e = layer.solve(&U0[..2], &du0, &p).err();
    assert!(
        matches!(e, Some(DaeError::Length { what: "u0", .. })),
        "{e:?}"
    );
    let e = layer.solve(&[f64::NAN, 0.1, 0.1], &du0, &p).err();
    assert!(
        matches!(
            e,
            Some(DaeError::NotFinite {
                what: "u0",
                index: 0
            })
        ),
        "{e:?}"
    );
    // A loss whose cotangents have the wrong shape.
    let e = layer
        .loss_and_gradient(&U0, &du0, &p, |_t: &[f64], us: &[Vec<f64>]| {
            (1.0, vec![vec![1.0]; us.len()])
        })
        .err();
    assert!(
        matches!(
            e,
            Some(DaeError::Solve(SolveError::Input(Error::InvalidOption {
                option: "loss",
                ..
            })))
        ),
        "{e:?}"
    );
}

// ---- DiffEqFlux's form: the network sees [u; u′] and its output is the differential row. ----

/// `model([u; u′]) = L [u; u′] + MLP([u; u′])`: a bias-free linear block (started at
/// `[0 I 0]`, so that the rows start near `u′_d + MLP`, solvable for `u′`) plus a tanh MLP that
/// sees all six inputs (so `∂F/∂u′` is not just the identity).
type ImplicitNet = Parallel<(Dense, Chain<(Dense, Dense)>)>;

fn implicit_net(hidden: usize) -> ImplicitNet {
    Parallel::new(
        Combine::Sum,
        (
            Dense::new(6, 2, Activation::Identity).use_bias(false),
            Chain::new((
                Dense::new(6, hidden, Activation::Tanh),
                Dense::new(hidden, 2, Activation::Identity),
            ))
            .expect("sizes chain"),
        ),
    )
    .expect("sizes match")
}

/// Initial parameters of [`implicit_net`] (seed `seed`): the linear block set to pick `u′_1`
/// and `u′_2`, the MLP's drawn ones scaled by `mlp_scale`.
fn implicit_params<C: DaeConstraints + Clone>(
    layer: &NeuralDae<ImplicitNet, C>,
    seed: u64,
    mlp_scale: f64,
) -> Vec<f64> {
    let mut p = layer.init_params(seed);
    let nnet = layer.model().nparams();
    p[..12].fill(0.0);
    p[3] = 1.0; // row 0, input u′_1
    p[6 + 4] = 1.0; // row 1, input u′_2
    p[12..nnet].iter_mut().for_each(|x| *x *= mlp_scale);
    p
}

fn setup_implicit(
    opts: impl Fn(&mut SolveOptions<f64>),
    method: DaeBdf,
) -> (NeuralDae<ImplicitNet, Total>, Vec<f64>) {
    let mut layer = NeuralDae::implicit(
        implicit_net(4),
        Total,
        (0.0, 1.0),
        vec![true, true, false],
        SAVES.to_vec(),
    )
    .expect("valid layer")
    .method(method)
    .init(DaeInit::BrownFullBasicInit);
    opts(layer.options_mut());
    let p = implicit_params(&layer, 3, 1.0);
    (layer, p)
}

/// Fixed steps and order, as in the explicit form's tests. Up to 30 simplified-Newton
/// iterations: the iteration matrix is kept over a step while `∂F/∂u′` now moves with `u′`
/// (through the MLP), so at this tolerance some steps need more than 10.
fn fixed_mesh_implicit() -> (NeuralDae<ImplicitNet, Total>, Vec<f64>) {
    let mut method = DaeBdf::fixed_order(3);
    method.max_iter = 30;
    setup_implicit(
        |o| *o = o.clone().tolerances(1e-12, 1e-12).fixed_step(0.025),
        method,
    )
}

#[test]
fn implicit_residual_is_the_network_on_u_and_du_and_its_jacobians_are_exact() {
    use sciml_dae::{DaeFunction, DaeJacobian};
    let (layer, p) = fixed_mesh_implicit();
    let mut field = layer.core().field().clone();
    let (u, du) = ([0.7, 0.2, 0.1], [-0.3, 0.25, 0.05]);
    let mut r = [0.0; 3];
    field.residual(0.0, &du, &u, &p, &mut r);
    // The rows by hand: the network on [u; u′], then the constraint.
    let net = layer.model();
    let x: Vec<f64> = u.iter().chain(&du).copied().collect();
    let mut y = [0.0; 2];
    let mut ws = vec![0.0; net.workspace_len(1)];
    let pn = &p[..net.nparams()];
    net.forward(
        Input {
            x: &x,
            batch: 1,
            p: pn,
        },
        &mut y,
        &mut ws,
    );
    assert_eq!(&r[..2], &y);
    assert_eq!(r[2], u[0] + u[1] + u[2] - p[p.len() - 1]);
    // ∂F/∂u, ∂F/∂u′ and ∂F/∂p against central differences of the residual (step 1e-6,
    // truncation ~1e-12 for these smooth rows).
    let n = 3;
    let mut dfdu = sciml_core::DenseMatrix::zeros(n, n);
    let mut dfddu = sciml_core::DenseMatrix::zeros(n, n);
    let mut dfdp = sciml_core::DenseMatrix::zeros(n, p.len());
    field.jacobians(0.0, &du, &u, &p, &mut dfdu, &mut dfddu);
    assert!(field.param_jacobian(0.0, &du, &u, &p, &mut dfdp));
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    let mut diff = |which: usize, c: usize, exact: &dyn Fn(usize) -> f64| {
        let (mut up, mut um) = ((u, du, p.clone()), (u, du, p.clone()));
        match which {
            0 => (up.0[c] += h, um.0[c] -= h),
            1 => (up.1[c] += h, um.1[c] -= h),
            _ => (up.2[c] += h, um.2[c] -= h),
        };
        let (mut rp, mut rm) = ([0.0; 3], [0.0; 3]);
        field.residual(0.0, &up.1, &up.0, &up.2, &mut rp);
        field.residual(0.0, &um.1, &um.0, &um.2, &mut rm);
        for i in 0..n {
            worst = worst.max(((rp[i] - rm[i]) / (2.0 * h) - exact(i)).abs());
        }
    };
    for c in 0..n {
        diff(0, c, &|i| dfdu[(i, c)]);
        diff(1, c, &|i| dfddu[(i, c)]);
    }
    for c in 0..p.len() {
        diff(2, c, &|i| dfdp[(i, c)]);
    }
    println!("implicit Jacobians against central differences: {worst:e}");
    assert!(worst < 1e-8, "worst difference {worst:e}");
    // ∂F/∂u′ really depends on the MLP (not just the linear block's identity).
    assert!((dfddu[(0, 0)] - 1.0).abs() > 1e-3 && dfddu[(0, 1)].abs() > 1e-3);
}

#[test]
fn implicit_gradients_on_a_fixed_mesh_match_central_differences() {
    let (layer, p) = fixed_mesh_implicit();
    let fwd = forward(&layer, &p);
    let cd = central(&layer, &p, 1e-4);
    let diff = max_rel_diff(&fwd, &cd);
    println!(
        "implicit, fixed mesh: relative difference {diff:e} over {} entries",
        fwd.len()
    );
    assert!(diff < 1e-7, "relative difference {diff:e}");
}

#[test]
fn implicit_adaptive_gradients_match_central_differences_to_1e_5() {
    let (layer, p) = setup_implicit(|o| *o = o.clone().tolerances(1e-9, 1e-11), DaeBdf::new());
    let fwd = forward(&layer, &p);
    let adj = adjoint(layer, &p);
    let (tight, _) = setup_implicit(|o| *o = o.clone().tolerances(1e-12, 1e-14), DaeBdf::new());
    let cd = central(&tight, &p, 1e-3);
    let (df, da) = (max_rel_diff(&fwd, &cd), max_rel_diff(&adj, &cd));
    println!("implicit, adaptive: forward {df:e}, adjoint {da:e} against central differences");
    assert!(df < 1e-5 && da < 1e-5, "forward {df:e}, adjoint {da:e}");
}

#[test]
fn implicit_discrete_adjoint_equals_forward_sensitivities_on_a_fixed_mesh() {
    let (layer, p) = fixed_mesh_implicit();
    let fwd = forward(&layer, &p);
    let adj = adjoint(layer, &p);
    let diff = max_rel_diff(&adj, &fwd);
    println!(
        "implicit, adjoint against forward: relative difference {diff:e} over {} entries",
        adj.len()
    );
    assert!(diff < 1e-10, "relative difference {diff:e}");
}

#[test]
fn implicit_model_sizes_are_checked() {
    // n inputs (the explicit form's size) instead of 2n.
    let e = NeuralDae::implicit(
        net(4),
        Total,
        (0.0, 1.0),
        vec![true, true, false],
        vec![1.0],
    )
    .err();
    match e {
        Some(DaeError::Solve(SolveError::Input(Error::InvalidOption { option, reason }))) => {
            assert_eq!(option, "model");
            assert!(reason.contains("needs 2n = 6 inputs"), "{reason}");
        }
        other => panic!("expected a model-input error, got {other:?}"),
    }
    // 2n inputs but one output per state instead of per differential variable.
    let three_out = Chain::new((
        Dense::new(6, 4, Activation::Tanh),
        Dense::new(4, 3, Activation::Identity),
    ))
    .expect("sizes chain");
    let e = NeuralDae::implicit(
        three_out,
        Total,
        (0.0, 1.0),
        vec![true, true, false],
        vec![1.0],
    )
    .err();
    match e {
        Some(DaeError::Solve(SolveError::Input(Error::InvalidOption { option, reason }))) => {
            assert_eq!(option, "model");
            assert!(reason.contains("needs 2 outputs"), "{reason}");
        }
        other => panic!("expected a model-output error, got {other:?}"),
    }
}

#[test]
fn implicit_training_on_robertson_data_lowers_the_loss_and_keeps_the_constraint() {
    let saves: Vec<f64> = (1..=10).map(|i| 0.1 * i as f64).collect();
    let data = robertson_data(&saves);
    let atol = 1e-8;
    let layer = NeuralDae::implicit(
        implicit_net(8),
        Conservation,
        (0.0, 1.0),
        vec![true, true, false],
        saves,
    )
    .expect("valid layer")
    .tolerances(1e-6, atol)
    .sensitivity(DaeSensitivity::DiscreteAdjoint)
    .init(DaeInit::BrownFullBasicInit);
    let u0 = [1.0, 0.0, 0.0];
    let mut worst: f64 = 0.0;
    let mut failed = 0;
    let bfgs =
        Bfgs::new().with_convergence(Convergence::default().with_max_iters(8).expect("iters"));
    let report = bfgs
        .minimise(&implicit_params(&layer, 0, 1.0), |p, grad| {
            let g = layer.loss_and_gradient(&u0, &[0.0; 3], p, |_t: &[f64], us: &[Vec<f64>]| {
                for u in us {
                    worst = worst.max((u[0] + u[1] + u[2] - 1.0).abs());
                }
                let l = us
                    .iter()
                    .zip(&data)
                    .flat_map(|(u, d)| u.iter().zip(d).map(|(a, b)| (a - b) * (a - b)))
                    .sum();
                let bars = us
                    .iter()
                    .zip(&data)
                    .map(|(u, d)| u.iter().zip(d).map(|(a, b)| 2.0 * (a - b)).collect())
                    .collect();
                (l, bars)
            });
            // A trial point of the line search where the network's rows cannot be solved for
            // u′ (the initialisation's Newton fails) is an infinitely bad point: the search
            // backtracks (the optimiser's documented convention).
            let Ok(g) = g else {
                failed += 1;
                return Ok(f64::INFINITY);
            };
            grad.copy_from_slice(&g.dp);
            Ok(g.loss)
        })
        .expect("trains");
    println!(
        "implicit: loss {:.4e} -> {:.4e} in {} iterations ({failed} trial solves failed); \
         worst constraint violation {worst:.2e}",
        report.loss_history[0], report.loss, report.iterations
    );
    assert!(report.iterations >= 3, "{report:?}");
    assert!(
        report.loss < 0.5 * report.loss_history[0],
        "loss {:e} -> {:e}",
        report.loss_history[0],
        report.loss
    );
    assert!(worst <= atol, "worst violation {worst:e}");
}
