//! Adam, AdamW and SGD checked against hand-computed steps, plus their error handling and
//! serde state.
#![allow(clippy::unwrap_used)]

use diffeqflux::optim::{Adam, AdamW, AnyOptimiser, OptimError, Optimiser, Sgd};

/// Gradients fed in the hand-computed examples (deliberately not from one loss, so each
/// component of the update formula matters), starting from p₀ = (1, −0.5).
const P0: [f64; 2] = [1.0, -0.5];
const GRADS: [[f64; 2]; 3] = [[0.2, -1.0], [0.4, 0.5], [-0.3, 0.1]];

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "component {i}: got {g:e}, want {w:e}"
        );
    }
}

/// Adam (Kingma & Ba 2015, algorithm 1; torch.optim.Adam), lr = 0.1, β = (0.9, 0.999),
/// ε = 1e-8:
///   m_t = β₁ m_{t−1} + (1 − β₁) g_t,   v_t = β₂ v_{t−1} + (1 − β₂) g_t²,
///   p_t = p_{t−1} − lr · (m_t / (1 − β₁ᵗ)) / (√(v_t / (1 − β₂ᵗ)) + ε).
///
/// Step 1, component 0: m = 0.02, v = 4e-5, m̂ = 0.2, v̂ = 0.04, √v̂ = 0.2,
///   p = 1 − 0.1 · 0.2 / (0.2 + 1e-8) = 0.900000005 (to 9 digits).
/// Step 2, component 0: m = 0.9·0.02 + 0.1·0.4 = 0.058, v = 0.999·4e-5 + 0.001·0.16 = 1.9996e-4,
///   m̂ = 0.058/0.19 = 0.305263…, v̂ = 1.9996e-4/0.001999 = 0.100030…, √v̂ = 0.316275…,
///   p = 0.900000005 − 0.1 · 0.305263/0.316275 = 0.803481805…
/// The literals below carry these computations to full double precision.
#[test]
fn adam_matches_hand_computed_steps() {
    let mut adam = Adam::new(0.1).unwrap();
    let mut p = P0.to_vec();
    let want_p = [
        [0.9000000049999998, -0.400000001],
        [0.8034818054695385, -0.37336629737090316],
        [0.7771362192191542, -0.3585564644610497],
    ];
    let want_m = [[0.02, -0.1], [0.058, -0.04], [0.0222, -0.026]];
    let want_v = [
        [4.0e-5, 1.0e-3],
        [1.9996e-4, 1.249e-3],
        [2.8976004e-4, 1.257751e-3],
    ];
    for t in 0..3 {
        adam.step(&mut p, &GRADS[t]).unwrap();
        assert_close(&p, &want_p[t], 1e-14);
        assert_close(adam.first_moment(), &want_m[t], 1e-14);
        assert_close(adam.second_moment(), &want_v[t], 1e-14);
        assert_eq!(adam.steps(), t as u64 + 1);
    }
}

/// AdamW (Loshchilov & Hutter 2019, algorithm 2; torch.optim.AdamW), lr = 0.1, λ = 0.1:
///   p ← p · (1 − lr λ), then the Adam step above on the same gradient.
/// Step 1, component 0: p = 1 · (1 − 0.01) = 0.99, then − 0.1 · 0.2/(0.2 + 1e-8)
///   = 0.890000005.
/// Step 1, component 1: p = −0.5 · 0.99 = −0.495, then + 0.1 · 1/(1 + 1e-8) = −0.395000001.
#[test]
fn adamw_matches_hand_computed_steps() {
    let mut opt = AdamW::new(0.1).unwrap().with_weight_decay(0.1).unwrap();
    let mut p = P0.to_vec();
    let want = [
        [0.8900000049999998, -0.395000001],
        [0.7845818054195385, -0.36441629736090314],
        [0.7503904011149588, -0.34596230147744067],
    ];
    for t in 0..3 {
        opt.step(&mut p, &GRADS[t]).unwrap();
        assert_close(&p, &want[t], 1e-14);
    }
}

/// With λ = 0 AdamW is Adam, bit for bit.
#[test]
fn adamw_without_decay_is_adam() {
    let mut a = Adam::new(0.05).unwrap();
    let mut w = AdamW::new(0.05).unwrap().with_weight_decay(0.0).unwrap();
    let (mut pa, mut pw) = (P0.to_vec(), P0.to_vec());
    for g in GRADS {
        a.step(&mut pa, &g).unwrap();
        w.step(&mut pw, &g).unwrap();
    }
    assert_eq!(pa, pw);
}

/// SGD (torch.optim.SGD, dampening 0), lr = 0.1:
///   plain:     p ← p − lr g
///   momentum:  b ← μ b + g,  p ← p − lr b                 (μ = 0.9)
///   Nesterov:  b ← μ b + g,  p ← p − lr (g + μ b)
/// Momentum, component 0: b = 0.2, 0.58, 0.222; p = 0.98, 0.922, 0.8998.
/// Nesterov, component 0: b as above; p = 1 − 0.1(0.2 + 0.18) = 0.962,
///   0.962 − 0.1(0.4 + 0.522) = 0.8698, 0.8698 − 0.1(−0.3 + 0.1998) = 0.87982.
#[test]
fn sgd_matches_hand_computed_steps() {
    let mut plain = Sgd::new(0.1).unwrap();
    let mut p = P0.to_vec();
    for g in GRADS {
        plain.step(&mut p, &g).unwrap();
    }
    assert_close(&p, &[1.0 - 0.1 * 0.3, -0.5 - 0.1 * -0.4], 1e-15);
    assert!(plain.velocity().is_empty());

    let mut heavy = Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap();
    let mut p = P0.to_vec();
    let want = [[0.98, -0.4], [0.922, -0.36], [0.8998, -0.334]];
    let want_b = [[0.2, -1.0], [0.58, -0.4], [0.222, -0.26]];
    for t in 0..3 {
        heavy.step(&mut p, &GRADS[t]).unwrap();
        assert_close(&p, &want[t], 1e-14);
        assert_close(heavy.velocity(), &want_b[t], 1e-14);
    }

    let mut nesterov = Sgd::new(0.1)
        .unwrap()
        .with_momentum(0.9)
        .unwrap()
        .with_nesterov(true)
        .unwrap();
    let mut p = P0.to_vec();
    let want = [[0.962, -0.31], [0.8698, -0.324], [0.87982, -0.3106]];
    for t in 0..3 {
        nesterov.step(&mut p, &GRADS[t]).unwrap();
        assert_close(&p, &want[t], 1e-14);
    }
}

/// Adam on an ill-conditioned quadratic f = ½ Σ aᵢ (xᵢ − cᵢ)² converges to c.
#[test]
fn adam_converges_on_a_quadratic() {
    let a = [1.0, 10.0, 100.0];
    let c = [1.0, -2.0, 0.5];
    let mut adam = Adam::new(0.01).unwrap();
    let mut x = vec![0.0; 3];
    let mut g = vec![0.0; 3];
    for _ in 0..5000 {
        for i in 0..3 {
            g[i] = a[i] * (x[i] - c[i]);
        }
        adam.step(&mut x, &g).unwrap();
    }
    assert_close(&x, &c, 1e-4);
}

#[test]
fn optimisers_converge_on_a_quadratic() {
    let opts: Vec<AnyOptimiser> = vec![
        Adam::new(0.05).unwrap().into(),
        AdamW::new(0.05)
            .unwrap()
            .with_weight_decay(0.0)
            .unwrap()
            .into(),
        Sgd::new(0.1).unwrap().into(),
        Sgd::new(0.05).unwrap().with_momentum(0.9).unwrap().into(),
        Sgd::new(0.05)
            .unwrap()
            .with_momentum(0.9)
            .unwrap()
            .with_nesterov(true)
            .unwrap()
            .into(),
    ];
    for mut opt in opts {
        let mut x = vec![3.0, -4.0];
        for _ in 0..3000 {
            let g: Vec<f64> = x.iter().map(|v| 2.0 * (v - 1.0)).collect();
            opt.step(&mut x, &g).unwrap();
        }
        assert_close(&x, &[1.0, 1.0], 1e-5);
    }
}

#[test]
fn bad_hyperparameters_are_refused() {
    assert!(Adam::new(0.0).is_err());
    assert!(Adam::new(f64::INFINITY).is_err());
    assert!(Adam::new(0.1).unwrap().with_betas(0.9, 1.0).is_err());
    assert!(Adam::new(0.1).unwrap().with_betas(-0.1, 0.9).is_err());
    assert!(Adam::new(0.1).unwrap().with_eps(0.0).is_err());
    assert!(AdamW::new(0.1)
        .unwrap()
        .with_weight_decay(f64::NAN)
        .is_err());
    assert!(Sgd::new(-1.0).is_err());
    assert!(Sgd::new(0.1).unwrap().with_momentum(1.0).is_err());
    assert!(Sgd::new(0.1).unwrap().with_nesterov(true).is_err());
    let nesterov = Sgd::new(0.1)
        .unwrap()
        .with_momentum(0.5)
        .unwrap()
        .with_nesterov(true)
        .unwrap();
    assert!(nesterov.with_momentum(0.0).is_err());
    let mut adam = Adam::new(0.1).unwrap();
    assert!(adam.set_learning_rate(-1.0).is_err());
    assert_eq!(adam.learning_rate(), 0.1);
    adam.set_learning_rate(0.2).unwrap();
    assert_eq!(adam.learning_rate(), 0.2);
}

/// A refused step leaves parameters and state untouched.
#[test]
fn bad_steps_change_nothing() {
    let mut adam = Adam::new(0.1).unwrap();
    let mut p = P0.to_vec();
    adam.step(&mut p, &GRADS[0]).unwrap();
    let (p_before, adam_before) = (p.clone(), adam.clone());

    let err = adam.step(&mut p, &[1.0, f64::NAN]).unwrap_err();
    assert!(matches!(err, OptimError::NonFinite { index: 1, .. }));
    let err = adam.step(&mut p, &[1.0]).unwrap_err();
    assert!(matches!(
        err,
        OptimError::DimensionMismatch {
            expected: 2,
            got: 1,
            ..
        }
    ));
    let mut longer = vec![0.0; 3];
    let err = adam.step(&mut longer, &[0.0; 3]).unwrap_err();
    assert!(matches!(
        err,
        OptimError::DimensionMismatch {
            expected: 2,
            got: 3,
            ..
        }
    ));
    assert_eq!(p, p_before);
    assert_eq!(adam, adam_before);

    // After a reset the optimiser takes any length and starts from t = 1 again.
    adam.reset();
    assert_eq!(adam.steps(), 0);
    adam.step(&mut longer, &[1.0, 1.0, 1.0]).unwrap();
    assert_eq!(adam.steps(), 1);
}

/// An optimiser serialised mid-run and restored continues exactly as the original.
#[test]
fn state_round_trips_through_json() {
    let originals: Vec<AnyOptimiser> = vec![
        Adam::new(0.1).unwrap().into(),
        AdamW::new(0.1).unwrap().into(),
        Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap().into(),
    ];
    for mut opt in originals {
        let mut p = P0.to_vec();
        opt.step(&mut p, &GRADS[0]).unwrap();
        opt.step(&mut p, &GRADS[1]).unwrap();
        let json = serde_json::to_string(&opt).unwrap();
        let mut restored: AnyOptimiser = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, opt);
        let mut q = p.clone();
        opt.step(&mut p, &GRADS[2]).unwrap();
        restored.step(&mut q, &GRADS[2]).unwrap();
        assert_eq!(p, q);
        assert_eq!(restored.steps(), 3);
    }
    // The concrete types round-trip on their own too.
    let mut adam = Adam::new(0.1).unwrap();
    adam.step(&mut P0.to_vec(), &GRADS[0]).unwrap();
    let back: Adam = serde_json::from_str(&serde_json::to_string(&adam).unwrap()).unwrap();
    assert_eq!(back, adam);
}

#[test]
fn invalid_state_is_refused_on_load() {
    let mut adam = Adam::new(0.1).unwrap();
    adam.step(&mut P0.to_vec(), &GRADS[0]).unwrap();
    let json = serde_json::to_value(&adam).unwrap();

    let mut bad = json.clone();
    bad["lr"] = serde_json::json!(-1.0);
    let err = serde_json::from_value::<Adam>(bad).unwrap_err();
    assert!(err.to_string().contains("lr"), "{err}");

    let mut bad = json.clone();
    bad["v"] = serde_json::json!([1.0]);
    assert!(serde_json::from_value::<Adam>(bad).is_err());

    let mut bad = json;
    bad["beta2"] = serde_json::json!(1.5);
    assert!(serde_json::from_value::<Adam>(bad).is_err());

    assert!(serde_json::from_str::<Sgd>(
        r#"{"lr":0.1,"momentum":0.0,"nesterov":true,"t":0,"velocity":[]}"#
    )
    .is_err());
}

#[test]
fn names() {
    assert_eq!(Adam::default().name(), "adam");
    assert_eq!(AdamW::default().name(), "adamw");
    assert_eq!(Sgd::new(0.1).unwrap().name(), "sgd");
    let any: AnyOptimiser = AdamW::default().into();
    assert_eq!(any.name(), "adamw");
    assert!(serde_json::to_string(&any)
        .unwrap()
        .contains(r#""kind":"adamw""#));
}
