//! A forward solve that fails inside a sensitivity method still returns what it computed: the
//! forward solution up to the failure, as a plain solve does.
#![allow(clippy::unwrap_used)]

use sciml_core::{ad_field, ReturnCode, SolveError, Tolerance};
use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
use sciml_sensitivity::{ForwardDiffSensitivity, ForwardSensitivity, Sensitivity};

#[test]
fn forward_sensitivities_keep_the_partial_solution() {
    // u' = p u² from u(0) = 1 blows up at t = 1/p = 1.
    let f = ad_field!(1, 1, |t, u, p, du| {
        du[0] = p[0] * u[0] * u[0];
    });
    let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 2.0), vec![1.0]).unwrap();
    let opts = SolveOptions::default()
        .tolerance(Tolerance::new(1e-8, 1e-10).unwrap())
        .saveat(SaveAt::Times(vec![0.5, 1.5]));
    let plain = match prob.solve(Tsit5, &opts) {
        Err(SolveError::Failed { partial, .. }) => partial,
        other => panic!("expected a failure, got {:?}", other.map(|s| s.retcode)),
    };
    assert_eq!(plain.t, vec![0.5]);
    let checks = [
        ForwardSensitivity.forward(&mut prob, &Tsit5, &opts).err(),
        ForwardDiffSensitivity
            .forward(&mut prob, &Tsit5, &opts)
            .err(),
    ];
    for e in checks.into_iter().flatten() {
        match e {
            SolveError::Failed { code, t, partial } => {
                assert_ne!(code, ReturnCode::Success);
                // The blow-up at t = 1 ends the solve within a step of it.
                assert!(t > 0.99 && t < 1.01, "{t}");
                assert_eq!(partial.t, vec![0.5]);
                // u(0.5) = 1 / (1 − 0.5) = 2.
                assert!((partial.u[0][0] - 2.0).abs() < 1e-6, "{:?}", partial.u);
            }
            other => panic!("expected a failure, got {other}"),
        }
    }
}
