//! AugmentedNde: the padded solve equals the wrapped layer's on the padded state, and gradients
//! with respect to the input are that layer's with the padding dropped, checked against central
//! differences; single states and batches.

use diffeqflux::neural_de::{augment_batch, AugmentedNde};
use diffeqflux::nn::{Activation, Chain, Dense};
use diffeqflux::NeuralOde;
use sciml_core::Batch;
use sciml_ode::Tsit5;
use sciml_sensitivity::DiscreteAdjoint;

type Net = Chain<(Dense, Dense)>;

fn layer() -> Result<NeuralOde<Net, Tsit5, DiscreteAdjoint>, Box<dyn std::error::Error>> {
    let net = Chain::new((
        Dense::new(4, 6, Activation::Tanh),
        Dense::new(6, 4, Activation::Identity),
    ))?;
    let mut node = NeuralOde::new(net, (0.0, 1.0), Tsit5, vec![0.5, 1.0])?
        .sensitivity(DiscreteAdjoint::default());
    // A fixed mesh, so central differences and the discrete adjoint differentiate one map.
    node.options_mut().dt = Some(0.05);
    node.options_mut().adaptive = Some(false);
    Ok(node)
}

/// Loss Σ_k w·u_k over the saved states, weights touching every component (padding included).
fn loss(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let w = [0.3, -1.2, 0.8, 2.0];
    let l = us
        .iter()
        .map(|u| u.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>())
        .sum();
    (l, vec![w.to_vec(); us.len()])
}

#[test]
fn solve_and_gradient_are_the_padded_layers() -> Result<(), Box<dyn std::error::Error>> {
    let anode = AugmentedNde::new(layer()?, 2)?;
    assert_eq!(anode.input_dim(), 2);
    let p: Vec<f64> = anode.init_params(1).iter().map(|v| v + 0.05).collect();
    let x = [0.7, -0.4];
    let padded = [0.7, -0.4, 0.0, 0.0];
    let sol = anode.solve(&x, &p)?;
    assert_eq!(sol.u, layer()?.solve(&padded, &p)?.u);
    let g = anode.loss_and_gradient(&x, &p, loss)?;
    let full = layer()?.loss_and_gradient(&padded, &p, loss)?;
    assert_eq!(g.du0, full.du0[..2].to_vec());
    assert_eq!(g.dp, full.dp);
    // Central differences in the input.
    let h = 1e-6;
    for i in 0..2 {
        let (mut a, mut b) = (x, x);
        a[i] += h;
        b[i] -= h;
        let la = anode.loss_and_gradient(&a, &p, loss)?.loss;
        let lb = anode.loss_and_gradient(&b, &p, loss)?.loss;
        let fd = (la - lb) / (2.0 * h);
        assert!(
            (g.du0[i] - fd).abs() < 1e-7,
            "du0[{i}] = {} vs {fd}",
            g.du0[i]
        );
    }
    Ok(())
}

#[test]
fn batches_pad_and_drop_rows() -> Result<(), Box<dyn std::error::Error>> {
    let anode = AugmentedNde::new(layer()?, 2)?;
    let p = anode.init_params(2);
    let x = Batch::new(2, 3, vec![0.7, -0.4, 0.1, 0.2, -1.0, 0.5])?;
    let sol = anode.solve_batch(&x, &p)?;
    let loss_b = |_t: &[f64], us: &[Batch<f64>]| {
        let l = us.iter().map(|u| u.as_ref().iter().sum::<f64>()).sum();
        (
            l,
            us.iter()
                .map(|_| Batch::new(4, 3, vec![1.0; 12]).expect("4 × 3"))
                .collect(),
        )
    };
    let g = anode.loss_and_gradient_batch(&x, &p, loss_b)?;
    assert_eq!((g.du0.features(), g.du0.batch_size()), (2, 3));
    for b in 0..3 {
        let single = anode.solve(x.column(b), &p)?;
        for (k, u) in single.u.iter().enumerate() {
            for (a, c) in u.iter().zip(sol.u[k].column(b)) {
                assert!((a - c).abs() < 1e-12, "sample {b}: single {a} vs batch {c}");
            }
        }
        let gs = anode.loss_and_gradient(x.column(b), &p, |_t: &[f64], us: &[Vec<f64>]| {
            (us.iter().flatten().sum(), vec![vec![1.0; 4]; us.len()])
        })?;
        for (a, c) in gs.du0.iter().zip(g.du0.column(b)) {
            assert!((a - c).abs() < 1e-12, "sample {b}: du0 {a} vs {c}");
        }
    }
    let padded = augment_batch(&x, 2, 2)?;
    assert_eq!(padded.column(1), &[0.1, 0.2, 0.0, 0.0]);
    Ok(())
}

#[test]
fn bad_input_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
    assert!(AugmentedNde::new(layer()?, 4).is_err());
    let anode = AugmentedNde::new(layer()?, 1)?;
    let p = anode.init_params(0);
    let e = anode
        .solve(&[1.0, 2.0], &p)
        .err()
        .ok_or("wrong input length")?;
    assert!(
        e.to_string().contains("input of the augmented layer"),
        "{e}"
    );
    assert!(anode
        .solve_batch(&Batch::new(2, 1, vec![1.0, 2.0])?, &p)
        .is_err());
    Ok(())
}
