//! Property tests: any query inside the span is finite and replayable; malformed problems and
//! options are rejected with an `Err`, never a panic.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sciml_sde::{solve, BrownianTree, FnSde, Method, Noise, SdeOptions, SdeProblem};

fn methods() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::EulerMaruyama),
        Just(Method::EulerHeun),
        Just(Method::Milstein),
        Just(Method::Sriw1),
        Just(Method::Sra1),
        Just(Method::LambaEm),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn brownian_queries_are_finite_and_replayable(
        seed in any::<u64>(), t0 in -10.0f64..10.0, len in 1e-3f64..100.0,
        xs in proptest::collection::vec(0.0f64..=1.0, 1..20),
    ) {
        let mut w = BrownianTree::new(seed, t0, t0 + len, 3).unwrap();
        for x in xs {
            let t = (t0 + x * len).min(t0 + len);
            let mut a = [0.0; 3];
            w.eval(t, &mut a).unwrap();
            prop_assert!(a.iter().all(|v| v.is_finite()));
            let mut b = [0.0; 3];
            BrownianTree::new(seed, t0, t0 + len, 3).unwrap().eval(t, &mut b).unwrap();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic(
        method in methods(),
        u0 in prop_oneof![Just(1.0), Just(f64::NAN), Just(f64::INFINITY), -5.0f64..5.0],
        t1 in prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), 0.01f64..2.0],
        dt in prop_oneof![Just(0.0), Just(-0.1), Just(f64::NAN), 1e-3f64..0.5],
        adaptive in any::<bool>(),
        noise in prop_oneof![
            Just(Noise::Diagonal),
            Just(Noise::Scalar),
            Just(Noise::General { m: 2 }),
            Just(Noise::General { m: 0 }),
        ],
    ) {
        let f = FnSde::new(
            1,
            0,
            noise,
            |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -u[0],
            |_t: f64, _u: &[f64], _p: &[f64], g: &mut [f64]| g.fill(0.3),
        );
        if let Ok(prob) = SdeProblem::new(f, vec![u0], (0.0, t1), vec![]) {
            let mut opts = if adaptive {
                SdeOptions::adaptive(1e-2, 1e-2).dt(dt)
            } else {
                SdeOptions::fixed(dt)
            };
            opts.maxiters = 100_000;
            // Either a solution ending at t1 or an error: never a panic.
            if let Ok(sol) = solve(&prob, method, &opts) {
                prop_assert_eq!(*sol.t.last().unwrap(), t1);
                prop_assert!(sol.u.iter().flatten().all(|v| v.is_finite()));
            }
        }
    }
}
