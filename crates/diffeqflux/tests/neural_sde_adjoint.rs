//! Continuous adjoints of neural SDEs: the Itô correction of the network system against central
//! differences, and the backsolve and interpolating gradients against the discrete adjoint (the
//! exact derivative of the Euler–Maruyama solution) as the step shrinks.

#![allow(clippy::unwrap_used)]

use diffeqflux::nn::{Activation, Chain, Dense, Layer};
use diffeqflux::{NeuralDsde, NeuralSde, NeuralSdeLayer, SdeSensitivity};
use sciml_sde::{ItoCorrection, SdeFunction};
use sciml_sensitivity::InterpolatingAdjoint;

const BATCH: usize = 3;
const LEVELS: [i32; 4] = [5, 7, 9, 11];

fn drift() -> Chain<(Dense, Dense)> {
    Chain::new((
        Dense::new(2, 4, Activation::Tanh),
        Dense::new(4, 2, Activation::Identity),
    ))
    .unwrap()
}

fn diagonal(dt: f64) -> NeuralDsde<Chain<(Dense, Dense)>, Dense> {
    // A tanh diffusion, so the correction has nonzero second derivatives.
    NeuralDsde::new(
        drift(),
        Dense::new(2, 2, Activation::Tanh),
        (0.0, 1.0),
        dt,
        vec![0.5, 1.0],
    )
    .unwrap()
}

fn general(dt: f64) -> NeuralSde<Chain<(Dense, Dense)>, Dense> {
    NeuralSde::new(
        drift(),
        Dense::new(2, 6, Activation::Tanh),
        3,
        (0.0, 1.0),
        dt,
        vec![0.5, 1.0],
    )
    .unwrap()
}

fn u0() -> Vec<f64> {
    vec![0.7, -0.2, 0.1, 0.5, -0.6, 0.3]
}

/// Parameters scaled up from the initialisation so the diffusion is far from linear.
fn params<D: Layer + Clone, G: Layer + Clone, K>(core: &NeuralSdeLayer<D, G, K>) -> Vec<f64> {
    core.init_params(3).iter().map(|x| 1.5 * x + 0.1).collect()
}

/// The Itô correction `c_i = ½ Σ_j Σ_k g_kj ∂g_ij/∂u_k` by central differences of the diffusion
/// (for general noise, along each column `g_j` of every sample at once: samples are independent),
/// and its VJP by central differences of `w · c`.
fn check_correction<D: Layer + Clone, G: Layer + Clone, K>(core: &NeuralSdeLayer<D, G, K>) {
    let u = u0();
    let p = params(core);
    let mut sys = core.problem(&u, BATCH, &p).unwrap().f;
    let noise = SdeFunction::<f64>::noise(&sys);
    let gl = noise.diffusion_len(u.len());
    let m = gl / u.len();
    let mut g = vec![0.0; gl];
    sys.diffusion(0.0, &u, &p, &mut g);
    let h = 1e-5;
    let mut expect = vec![0.0; u.len()];
    let (mut ga, mut gb) = (vec![0.0; gl], vec![0.0; gl]);
    if m == 1 {
        for i in 0..2 {
            let (mut a, mut b) = (u.clone(), u.clone());
            for s in 0..BATCH {
                a[s * 2 + i] += h;
                b[s * 2 + i] -= h;
            }
            sys.diffusion(0.0, &a, &p, &mut ga);
            sys.diffusion(0.0, &b, &p, &mut gb);
            for s in 0..BATCH {
                let k = s * 2 + i;
                expect[k] = 0.5 * g[k] * (ga[k] - gb[k]) / (2.0 * h);
            }
        }
    } else {
        for j in 0..m {
            let a: Vec<f64> = (0..u.len()).map(|k| u[k] + h * g[k * m + j]).collect();
            let b: Vec<f64> = (0..u.len()).map(|k| u[k] - h * g[k * m + j]).collect();
            sys.diffusion(0.0, &a, &p, &mut ga);
            sys.diffusion(0.0, &b, &p, &mut gb);
            for k in 0..u.len() {
                expect[k] += 0.5 * (ga[k * m + j] - gb[k * m + j]) / (2.0 * h);
            }
        }
    }
    let mut c = vec![0.0; u.len()];
    sys.ito_correction(0.0, &u, &p, &mut c);
    for k in 0..u.len() {
        assert!(
            (c[k] - expect[k]).abs() < 1e-8,
            "m = {m}: c {c:?} fd {expect:?}"
        );
    }
    let w: Vec<f64> = (0..u.len()).map(|k| 0.3 + 0.2 * k as f64).collect();
    let (mut gu, mut gp) = (vec![0.0; u.len()], vec![0.0; p.len()]);
    sys.ito_correction_vjp(0.0, &u, &p, &w, &mut gu, &mut gp);
    let mut wc = |u: &[f64], p: &[f64]| {
        let mut c = vec![0.0; u.len()];
        sys.ito_correction(0.0, u, p, &mut c);
        c.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
    };
    let mut worst: f64 = 0.0;
    for k in 0..u.len() + p.len() {
        let (mut ua, mut ub, mut pa, mut pb) = (u.clone(), u.clone(), p.clone(), p.clone());
        if k < u.len() {
            ua[k] += h;
            ub[k] -= h;
        } else {
            pa[k - u.len()] += h;
            pb[k - u.len()] -= h;
        }
        let fd = (wc(&ua, &pa) - wc(&ub, &pb)) / (2.0 * h);
        let got = if k < u.len() { gu[k] } else { gp[k - u.len()] };
        let err = (got - fd).abs() / fd.abs().max(1.0);
        worst = worst.max(err);
        assert!(err < 1e-8, "m = {m}, component {k}: vjp {got}, fd {fd}");
    }
    eprintln!("m = {m}: worst relative VJP error of the Itô correction {worst:.1e}");
}

#[test]
fn ito_correction_of_the_networks_matches_central_differences() {
    check_correction(&diagonal(0.01));
    check_correction(&general(0.01));
}

fn sum_sq(_ts: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let l = us.iter().flatten().map(|x| x * x).sum::<f64>();
    let g = us
        .iter()
        .map(|u| u.iter().map(|x| 2.0 * x).collect())
        .collect();
    (l, g)
}

fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// Relative distance of the continuous gradients (backsolve, interpolating, checkpointed
/// interpolating) to the discrete one at steps 2^-5, 2^-7, 2^-9.
fn convergence<D, G, K>(model: impl Fn(f64) -> NeuralSdeLayer<D, G, K>) -> Vec<[f64; 3]>
where
    D: Layer + Clone,
    G: Layer + Clone,
{
    let u = u0();
    let mut out = Vec::new();
    for level in LEVELS {
        let core = model(0.5f64.powi(level));
        let p = params(&core);
        let d = core
            .loss_and_gradient_batch(&u, BATCH, &p, 4, sum_sq)
            .unwrap();
        let mut row = [0.0; 3];
        for (k, s) in [
            SdeSensitivity::Backsolve,
            SdeSensitivity::Interpolating(InterpolatingAdjoint::new()),
            SdeSensitivity::Interpolating(InterpolatingAdjoint::checkpointed(5)),
        ]
        .into_iter()
        .enumerate()
        {
            let c = core
                .loss_and_gradient_batch_with(s, &u, BATCH, &p, 4, sum_sq)
                .unwrap();
            assert_eq!(c.loss, d.loss);
            let a: Vec<f64> = c.dp.iter().chain(&c.du0).copied().collect();
            let b: Vec<f64> = d.dp.iter().chain(&d.du0).copied().collect();
            row[k] = rel_diff(&a, &b);
        }
        // Checkpointing recomputes the same states: the same gradient.
        assert_eq!(row[1], row[2]);
        out.push(row);
    }
    out
}

/// Euler–Maruyama converges with strong order 1/2 for multiplicative noise, so over 64× smaller
/// steps the distance to the discrete gradient should shrink about 8×; at least 3× is required.
/// Euler–Heun (Stratonovich, no drift correction) is the control: it converges faster.
#[test]
fn continuous_adjoints_of_neural_sdes_converge_to_the_discrete_gradient() {
    let diag = convergence(diagonal);
    let gen = convergence(general);
    let gen_stratonovich = convergence(|dt| {
        let mut g = general(dt);
        g.set_method(sciml_sde::Method::EulerHeun).unwrap();
        g
    });
    eprintln!("NeuralDsde, Itô (backsolve, interpolating, checkpointed): {diag:?}");
    eprintln!("NeuralSde, Itô: {gen:?}");
    eprintln!("NeuralSde, Stratonovich: {gen_stratonovich:?}");
    for e in [&diag, &gen, &gen_stratonovich] {
        let last = e.len() - 1;
        for k in 0..2 {
            assert!(e[last][k] < e[0][k] / 3.0, "{e:?}");
            assert!(e[last][k] < 3e-2, "{e:?}");
        }
    }
}

/// `sciml_sensitivity::DiscreteAdjoint`, the ODE layers' type, differentiates neural SDEs too:
/// bitwise the gradient of `SdeSensitivity::Discrete`; its checkpointed form is refused.
#[test]
fn the_ode_discrete_adjoint_type_differentiates_neural_sdes() {
    use sciml_sensitivity::{Checkpointing, DiscreteAdjoint};
    let core = diagonal(1.0 / 64.0);
    let p = params(&core);
    let a = core
        .loss_and_gradient_batch_with(SdeSensitivity::Discrete, &u0(), BATCH, &p, 7, sum_sq)
        .unwrap();
    let b = core
        .loss_and_gradient_batch_with(DiscreteAdjoint::default(), &u0(), BATCH, &p, 7, sum_sq)
        .unwrap();
    assert_eq!((a.loss, &a.dp, &a.du0), (b.loss, &b.dp, &b.du0));
    let every = DiscreteAdjoint {
        checkpointing: Checkpointing::Every(4),
    };
    assert!(core
        .loss_and_gradient_batch_with(every, &u0(), BATCH, &p, 7, sum_sq)
        .is_err());
}
