//! Fixed-step SDE solves are the adjoints' grid replay bitwise (same times, same Brownian nodes,
//! same arithmetic): the forward pass of every SDE adjoint is the solve.

#![allow(clippy::unwrap_used)]

// The SDE test systems are sciml-sde's own (one copy, shared with its tests).
#[path = "../../sciml-sde/tests/common/mod.rs"]
mod common;
use common::general_noise;
use sciml_sde::{solve, Method, SdeOptions, SdeProblem};
use sciml_sensitivity::sde::{discrete_adjoint, ContinuousSdeAdjoint};
use sciml_sensitivity::InterpolatingAdjoint;

#[test]
fn fixed_steps_are_the_adjoints_forward_pass_bitwise() {
    // Spans that start at 0, away from 0 and across 0, steps that divide them or not.
    for span in [(0.0, 1.0), (0.3, 2.1), (-1.0, 0.7)] {
        let prob = SdeProblem::new(
            general_noise(),
            vec![1.0, 0.5],
            span,
            vec![0.4, 0.3, 0.2, 0.5],
        )
        .unwrap();
        for dt in [0.01, 0.03, 0.25] {
            for method in [Method::EulerMaruyama, Method::EulerHeun] {
                let opts = SdeOptions::fixed(dt).seed(6);
                let sol = solve(&prob, method, &opts).unwrap();
                let adj = discrete_adjoint(&prob, method, &opts, |_, us| {
                    (us[0][0], vec![vec![0.0; 2]; us.len()])
                })
                .unwrap();
                assert_eq!(sol.t, adj.sol.t, "{span:?} {dt} {method:?}");
                assert_eq!(sol.u, adj.sol.u, "{span:?} {dt} {method:?}");
                assert_eq!(sol.stats.steps, adj.sol.stats.steps);
                assert_eq!(sol.stats.nf, adj.sol.stats.nf);
            }
            // The continuous adjoints replay the grid a block of Brownian nodes at a time.
            let opts = SdeOptions::fixed(dt).seed(2);
            let sol = solve(&prob, Method::EulerHeun, &opts).unwrap();
            let adj = InterpolatingAdjoint::default()
                .gradient(&prob, &opts, |_, us| {
                    (us[0][0], vec![vec![0.0; 2]; us.len()])
                })
                .unwrap();
            assert_eq!(sol.u, adj.sol.u, "{span:?} {dt}");
        }
    }
}
