//! DataLoader: epochs are permutations, seeds reproduce, shuffles are uniform; minibatch
//! training over time points through the trainer recovers a known rate.

use diffeqflux::data::{time_windows, DataError, DataLoader};
use diffeqflux::nn::{Activation, Dense};
use diffeqflux::optim::Adam;
use diffeqflux::train::{TrainOptions, Trainer};
use diffeqflux::NeuralOde;
use sciml_ode::Tsit5;

#[test]
fn every_epoch_deals_each_sample_once_and_seeds_reproduce() {
    let mut a = DataLoader::new(23, 5, 7).expect("loader");
    assert_eq!(a.batches_per_epoch(), 5);
    let mut first_epochs = Vec::new();
    for epoch in 0..3 {
        let mut seen = Vec::new();
        for k in 0..5 {
            let b = a.next_batch().to_vec();
            assert_eq!(b.len(), if k < 4 { 5 } else { 3 });
            seen.extend(b);
        }
        assert_eq!(a.epoch(), epoch);
        first_epochs.push(seen.clone());
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
    }
    assert_ne!(first_epochs[0], first_epochs[1], "reshuffled each epoch");
    let mut b = DataLoader::new(23, 5, 7).expect("loader");
    let again: Vec<usize> = (0..5).flat_map(|_| b.next_batch().to_vec()).collect();
    assert_eq!(again, first_epochs[0]);
    let mut c = DataLoader::new(23, 5, 8).expect("loader");
    let other: Vec<usize> = (0..5).flat_map(|_| c.next_batch().to_vec()).collect();
    assert_ne!(other, first_epochs[0]);
    // drop_last: 4 full batches per epoch.
    let mut d = DataLoader::new(23, 5, 7).expect("loader").drop_last(true);
    assert_eq!(d.batches_per_epoch(), 4);
    for _ in 0..8 {
        assert_eq!(d.next_batch().len(), 5);
    }
    assert_eq!(d.epoch(), 1);
}

/// Each of 5 samples lands first in an epoch with probability 1/5: over 2000 epochs the counts
/// are 400 ± 17.9 (one standard deviation); the test allows five.
#[test]
fn shuffles_are_uniform() {
    let mut loader = DataLoader::new(5, 5, 3).expect("loader");
    let mut counts = [0usize; 5];
    for _ in 0..2000 {
        counts[loader.next_batch()[0]] += 1;
    }
    for c in counts {
        assert!((c as f64 - 400.0).abs() < 5.0 * 17.9, "{counts:?}");
    }
}

#[test]
fn bad_sizes_are_errors_and_windows_tile_the_trajectory() {
    assert_eq!(DataLoader::new(0, 1, 0).err(), Some(DataError::Empty));
    assert!(matches!(
        DataLoader::new(5, 0, 0),
        Err(DataError::Size { .. })
    ));
    assert!(matches!(
        DataLoader::new(5, 6, 0),
        Err(DataError::Size { max: 5, .. })
    ));
    assert_eq!(time_windows(7, 3, 2), Ok(vec![0..3, 2..5, 4..7]));
    assert_eq!(time_windows(7, 7, 1).map(|w| w[0].clone()), Ok(0..7));
    assert!(time_windows(7, 8, 1).is_err() && time_windows(7, 0, 1).is_err());
    assert!(time_windows(7, 3, 0).is_err());
}

/// DiffEqFlux's minibatch tutorial in miniature: u' = a u with a = −0.5 learned from batches of
/// 5 of 20 time points, each batch fitted by a solve saved at its own times only.
fn train_rate() -> Vec<f64> {
    let t: Vec<f64> = (0..20).map(|i| 0.1 * (i + 1) as f64).collect();
    let data: Vec<f64> = t.iter().map(|s| (-0.5 * s).exp()).collect();
    let model = Dense::new(1, 1, Activation::Identity).use_bias(false);
    let mut loader = DataLoader::new(t.len(), 5, 11).expect("loader");
    let mut trainer = Trainer::new(
        Adam::new(0.05).expect("adam"),
        TrainOptions::new(150)
            .expect("options")
            .with_progress(false),
    );
    let mut p = vec![0.0];
    trainer
        .train_batches(&mut p, &mut loader, |x, g, batch| {
            let mut idx = batch.to_vec();
            idx.sort_unstable();
            let times: Vec<f64> = idx.iter().map(|&i| t[i]).collect();
            let last = times[times.len() - 1];
            let node = NeuralOde::new(model, (0.0, last), Tsit5, times)?.tolerances(1e-8, 1e-10);
            let lg = node.loss_and_gradient(&[1.0], x, |_t: &[f64], us: &[Vec<f64>]| {
                let r: Vec<f64> = us.iter().zip(&idx).map(|(u, &i)| u[0] - data[i]).collect();
                (
                    r.iter().map(|v| v * v).sum(),
                    r.iter().map(|v| vec![2.0 * v]).collect(),
                )
            })?;
            g.copy_from_slice(&lg.dp);
            Ok(lg.loss)
        })
        .expect("training");
    p
}

#[test]
fn minibatch_training_over_time_points_recovers_the_rate_reproducibly() {
    let p = train_rate();
    assert!((p[0] + 0.5).abs() < 0.01, "learned rate {}", p[0]);
    assert_eq!(train_rate(), p, "a fixed seed gives the same run");
}
