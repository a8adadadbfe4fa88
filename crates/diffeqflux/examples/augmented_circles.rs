//! Concentric circles: the classification of DiffEqFlux's augmented neural ODE tutorial (after
//! Dupont et al. 2019). Points with radius in [0, 2] are labelled +1, points with radius in
//! [3, 4] are labelled −1; a neural ODE carries each point over t ∈ [0, 1] and a linear layer
//! reads the label off its end state. In 2-D the ODE's flow is a homeomorphism of the plane: the
//! image of the whole ring still encloses the image of the whole disc, so no line separates the
//! two sets. With one extra dimension (`AugmentedNde`, `adim = 1`) the flow can lift the disc
//! above the ring.
//!
//! `cargo run --release -p diffeqflux --example augmented_circles` trains both (the plain NODE
//! is the same layer with `adim = 0`) on 400 points and prints each one's accuracy on them and
//! on 2000 fresh points, and the function evaluations of its forward solve. Finitely many
//! points do not pin the ring down: the plain NODE can squeeze the ring's image into thin necks
//! that pass between the points and still classify them all, at the price of a stiffer, more
//! expensive flow (with this seed both reach 100% on both sets, the plain one with about 2.5×
//! the function evaluations); the impossibility holds for the sets, not for samples of them.

use diffeqflux::neural_de::AugmentedNde;
use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::optim::{Adam, Optimiser};
use diffeqflux::NeuralOde;
use sciml_core::{rng::Xoshiro256pp, Batch};
use sciml_ode::Tsit5;
use sciml_sensitivity::DiscreteAdjoint;
use std::f64::consts::PI;

/// Points uniform in angle with radius uniform in `[r0, r1]`.
fn ring(rng: &mut Xoshiro256pp, n: usize, r0: f64, r1: f64, out: &mut Vec<f64>) {
    for _ in 0..n {
        let (r, a) = (rng.uniform_range(r0, r1), rng.uniform_range(0.0, 2.0 * PI));
        out.push(r * a.cos());
        out.push(r * a.sin());
    }
}

/// What training gave: accuracy on the training points and on fresh points, and the last
/// forward solve's number of function evaluations.
struct Trained {
    train: f64,
    test: f64,
    nfe: usize,
}

/// Trains a NODE on `2 + adim` dimensions with a linear read-out on `(x, labels)` and scores it
/// on `(xt, labels_t)` as well.
fn train(
    adim: usize,
    (x, labels): (&Batch<f64>, &[f64]),
    (xt, labels_t): (&Batch<f64>, &[f64]),
) -> Result<Trained, Box<dyn std::error::Error>> {
    let d = 2 + adim;
    let hidden = 16;
    let net = Chain::new((
        Dense::new(d, hidden, Activation::Tanh),
        Dense::new(hidden, hidden, Activation::Tanh),
        Dense::new(hidden, d, Activation::Identity),
    ))?;
    let node = NeuralOde::new(net, (0.0, 1.0), Tsit5, vec![1.0])?
        .tolerances(1e-4, 1e-6)
        .sensitivity(DiscreteAdjoint::default());
    let anode = AugmentedNde::new(node, adim)?;
    let mut p = anode.init_params(0);
    let np = p.len();
    // The read-out y = w·u(1) + c, its parameters after the ODE's.
    p.extend(std::iter::repeat_n(0.1, d + 1));
    let nb = x.batch_size();
    let mut adam = Adam::new(0.02)?;
    let mut accuracy = 0.0;
    let mut nfe = 0;
    for it in 0..300 {
        let (w, c) = (p[np..np + d].to_vec(), p[np + d]);
        let mut head_grad = vec![0.0; d + 1];
        let mut correct = 0;
        let g = anode.loss_and_gradient_batch(x, &p[..np], |_t: &[f64], us: &[Batch<f64>]| {
            let u = &us[0];
            let mut bar = Batch::zeros(d, nb);
            let mut loss = 0.0;
            for (b, label) in labels.iter().enumerate() {
                let col = u.column(b);
                let y = col.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + c;
                if y * label > 0.0 {
                    correct += 1;
                }
                let r = y - label;
                loss += r * r / nb as f64;
                let dy = 2.0 * r / nb as f64;
                for k in 0..d {
                    bar.column_mut(b)[k] = dy * w[k];
                    head_grad[k] += dy * col[k];
                }
                head_grad[d] += dy;
            }
            (loss, vec![bar])
        })?;
        accuracy = correct as f64 / nb as f64;
        nfe = g.forward.nf;
        if it % 50 == 0 {
            println!(
                "  adim {adim}, iteration {it:3}: loss {:.4}, accuracy {:.3}",
                g.loss, accuracy
            );
        }
        let grad: Vec<f64> = g.dp.iter().chain(&head_grad).copied().collect();
        adam.step(&mut p, &grad)?;
    }
    let (w, c) = (&p[np..np + d], p[np + d]);
    let end = anode.solve_batch(xt, &p[..np])?;
    let u = end.u.last().ok_or("a saved state")?;
    let correct = (0..xt.batch_size())
        .filter(|&b| {
            let y = u.column(b).iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + c;
            y * labels_t[b] > 0.0
        })
        .count();
    Ok(Trained {
        train: accuracy,
        test: correct as f64 / xt.batch_size() as f64,
        nfe,
    })
}

/// `inner` points of the disc (label +1) and `outer` of the ring (label −1).
fn circles(
    rng: &mut Xoshiro256pp,
    inner: usize,
    outer: usize,
) -> Result<(Batch<f64>, Vec<f64>), sciml_core::Error> {
    let mut pts = Vec::new();
    ring(rng, inner, 0.0, 2.0, &mut pts);
    ring(rng, outer, 3.0, 4.0, &mut pts);
    let labels = (0..inner + outer)
        .map(|i| if i < inner { 1.0 } else { -1.0 })
        .collect();
    Ok((Batch::new(2, inner + outer, pts)?, labels))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Xoshiro256pp::new(0);
    let (x, labels) = circles(&mut rng, 200, 200)?;
    let (xt, labels_t) = circles(&mut rng, 1000, 1000)?;
    for (name, adim) in [
        ("plain neural ODE (2-D)", 0),
        ("augmented neural ODE (adim = 1)", 1),
    ] {
        let r = train(adim, (&x, &labels), (&xt, &labels_t))?;
        println!(
            "{name}: accuracy {:.1}% on the 400 training points, {:.1}% on 2000 fresh points; {} function evaluations per forward solve",
            100.0 * r.train,
            100.0 * r.test,
            r.nfe
        );
    }
    Ok(())
}
