//! Dense output between steps, saving options, tstops, the integrator interface, backward
//! integration, ensembles, batches, dual numbers through a solve and serde.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

mod common;
use common::*;
use sciml_core::{Batch, Dual64, Error, FnField, ForwardAd, ReturnCode, Solution};
use sciml_ode::*;

#[test]
fn dense_output_between_steps_tracks_the_exact_solution() {
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 6.0), vec![]).unwrap();
    let opts = SolveOptions::default().tolerances(1e-10, 1e-12);
    for (name, sol) in [
        ("Tsit5", prob.solve(Tsit5, &opts).unwrap()),
        ("DP5", prob.solve(Dp5, &opts).unwrap()),
        ("Vern7", prob.solve(Vern7, &opts).unwrap()),
        ("Vern9", prob.solve(Vern9, &opts).unwrap()),
        ("BS3", prob.solve(Bs3, &opts).unwrap()),
    ] {
        let mut worst = 0.0_f64;
        for k in 0..=600 {
            let t = 6.0 * k as f64 / 600.0;
            let u = sol.interpolate(t).unwrap();
            let ex = kepler_exact(t);
            worst = worst.max(u.iter().zip(&ex).map(|(a, b)| (a - b).abs()).fold(
                0.0,
                |m: f64, v: f64| if v > m || v.is_nan() { v } else { m },
            ));
        }
        eprintln!(
            "{name}: worst dense error {worst:.2e} over {} steps",
            sol.stats.accepted
        );
        // The interpolant between steps is as accurate as the steps themselves (tolerance 1e-10,
        // global error growth over one orbit of an e = 0.5 Kepler problem).
        assert!(worst < 1e-7, "{name}: {worst:e}");
    }
}

#[test]
fn interpolation_outside_the_span_is_an_error() {
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 1.0), vec![]).unwrap();
    let sol = prob.solve(Tsit5, &SolveOptions::default()).unwrap();
    assert!(matches!(
        sol.interpolate(1.5),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        sol.interpolate(f64::NAN),
        Err(Error::OutOfRange { .. })
    ));
    let sparse = prob
        .solve(
            Tsit5,
            &SolveOptions::default().saveat(SaveAt::Times(vec![0.5])),
        )
        .unwrap();
    assert!(matches!(sparse.interpolate(0.5), Err(Error::NoDenseOutput)));
}

#[test]
fn saveat_every_and_times_and_start_end_flags() {
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 1.0), vec![]).unwrap();
    let sol = prob
        .solve(Tsit5, &SolveOptions::default().saveat(SaveAt::Every(0.1)))
        .unwrap();
    assert_eq!(sol.len(), 11);
    assert_eq!(sol.t[0], 0.0);
    assert_eq!(*sol.t.last().unwrap(), 1.0);
    let mut opts = SolveOptions::default().saveat(SaveAt::Every(0.3));
    let sol = prob.solve(Tsit5, &opts).unwrap();
    assert_eq!(sol.t.len(), 5, "0, .3, .6, .9 and the end: {:?}", sol.t);
    opts.save_start = Some(false);
    opts.save_end = Some(false);
    let sol = prob.solve(Tsit5, &opts).unwrap();
    assert_eq!(sol.t.len(), 3);
    // Unsorted times come back sorted; the start and end are saved only when listed.
    let opts = SolveOptions::default().saveat(SaveAt::Times(vec![0.7, 0.2, 0.5]));
    let sol = prob.solve(Tsit5, &opts).unwrap();
    assert_eq!(sol.t, vec![0.2, 0.5, 0.7]);
    for (t, u) in sol.iter() {
        let ex = kepler_exact(t);
        assert!((u[0] - ex[0]).abs() < 1e-4);
    }
    let mut steps = SolveOptions::default();
    steps.save_start = Some(false);
    let sol = prob.solve(Tsit5, &steps).unwrap();
    assert!(sol.t[0] > 0.0);
    assert_eq!(sol.len(), sol.stats.accepted);
}

#[test]
fn tstops_are_stepped_onto_exactly() {
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 2.0), vec![]).unwrap();
    let opts = SolveOptions::default().tstops(vec![1.234_567, 0.5]);
    let sol = prob.solve(Tsit5, &opts).unwrap();
    assert!(
        sol.t.contains(&0.5) && sol.t.contains(&1.234_567),
        "{:?}",
        sol.t
    );
}

#[test]
fn integrator_steps_by_hand() {
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 1.0), vec![]).unwrap();
    let mut integ = prob.init(Tsit5, &SolveOptions::default()).unwrap();
    let mut last_t = 0.0;
    let mut n = 0;
    while integ.step().unwrap() {
        assert!(integ.t() > last_t, "time increases");
        last_t = integ.t();
        n += 1;
    }
    assert!(integ.is_done());
    assert_eq!(integ.t(), 1.0);
    assert!(
        !integ.step().unwrap(),
        "stepping a finished integrator does nothing"
    );
    assert_eq!(integ.solution().stats.accepted, n + 1);
    // Changing the state by hand restarts the method from the new state.
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 1.0), vec![]).unwrap();
    let mut integ = prob.init(Tsit5, &SolveOptions::default()).unwrap();
    integ.step().unwrap();
    assert!(integ.set_u(&vec![1.0, 2.0]).is_err());
    assert!(integ.set_u(&vec![f64::NAN, 0.0, 0.0, 1.0]).is_err());
    integ.set_u(&kepler_exact(integ.t())).unwrap();
    let sol = integ.solve().unwrap();
    assert_eq!(sol.retcode, ReturnCode::Success);
}

#[test]
fn forward_then_backward_returns_to_the_start() {
    let opts = SolveOptions::default().tolerances(1e-10, 1e-12);
    let mut fwd = OdeProblem::new(kepler(), kepler_u0(), (0.0, 3.0), vec![]).unwrap();
    let end = fwd.solve(Tsit5, &opts).unwrap().u.last().unwrap().clone();
    let mut bwd = OdeProblem::new(kepler(), end, (3.0, 0.0), vec![]).unwrap();
    let sol = bwd.solve(Tsit5, &opts).unwrap();
    assert!(sol.t.windows(2).all(|w| w[1] < w[0]), "time decreases");
    let back = sol.u.last().unwrap();
    for (a, b) in back.iter().zip(kepler_u0()) {
        assert!((a - b).abs() < 1e-7, "{back:?}");
    }
    // Dense output works backwards too.
    let mid = sol.interpolate(1.5).unwrap();
    assert!((mid[0] - kepler_exact(1.5)[0]).abs() < 1e-7);
}

#[test]
fn ensemble_results_come_back_in_input_order_and_match_single_solves() {
    let prob = OdeProblem::new(
        ForwardAd::new(LotkaVolterra),
        vec![1.0, 1.0],
        (0.0, 5.0),
        LV_P.to_vec(),
    )
    .unwrap();
    let variants: Vec<(Vec<f64>, Vec<f64>)> = (0..16)
        .map(|k| {
            (
                vec![1.0 + 0.05 * k as f64, 1.0],
                vec![1.5, 1.0, 3.0, 1.0 + 0.01 * k as f64],
            )
        })
        .collect();
    let opts = SolveOptions::default().saveat(SaveAt::Times(vec![5.0]));
    let sols = solve_ensemble(&prob, variants.clone(), Tsit5, &opts);
    for ((u0, p), sol) in variants.into_iter().zip(sols) {
        let mut single = OdeProblem::new(ForwardAd::new(LotkaVolterra), u0, (0.0, 5.0), p).unwrap();
        let want = single.solve(Tsit5, &opts).unwrap();
        assert_eq!(sol.unwrap().u, want.u, "bitwise the same as a single solve");
    }
    let bad = solve_ensemble(&prob, vec![(vec![1.0], LV_P.to_vec())], Tsit5, &opts);
    assert!(bad[0].is_err());
}

#[test]
fn batch_state_steps_all_samples_with_one_step_size() {
    // Three independent copies of the limit cycle as one Batch system with fixed steps must equal
    // three separate solves.
    let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        let s = 1.0 - (u[0] * u[0] + u[1] * u[1]);
        du[0] = -u[1] + u[0] * s;
        du[1] = u[0] + u[1] * s;
    });
    struct Batched<F>(F);
    impl<F: sciml_core::VectorField<V = Vec<f64>, P = Vec<f64>>> sciml_core::VectorField
        for Batched<F>
    {
        type V = Batch<f64>;
        type P = Vec<f64>;
        fn dims(&self) -> (usize, usize) {
            (6, 0)
        }
        fn rhs(&mut self, t: f64, u: &Batch<f64>, p: &Vec<f64>, du: &mut Batch<f64>) {
            let mut out = vec![0.0; 2];
            for j in 0..u.batch_size() {
                self.0.rhs(t, &u.column(j).to_vec(), p, &mut out);
                du.column_mut(j).copy_from_slice(&out);
            }
        }
    }
    let u0s = [[0.5, 0.0], [0.0, 1.5], [-0.2, 0.3]];
    let data: Vec<f64> = u0s.iter().flatten().copied().collect();
    let mut prob = OdeProblem::new(
        Batched(f),
        Batch::new(2, 3, data).unwrap(),
        (0.0, 2.0),
        vec![],
    )
    .unwrap();
    let opts = SolveOptions::default().fixed_step(0.05);
    let sol = prob.solve(Tsit5, &opts).unwrap();
    let end = sol.u.last().unwrap();
    for (j, u0) in u0s.iter().enumerate() {
        let mut single = OdeProblem::new(limit_cycle(), u0.to_vec(), (0.0, 2.0), vec![]).unwrap();
        let want = single.solve(Tsit5, &opts).unwrap();
        assert_eq!(end.column(j), want.u.last().unwrap().as_slice());
    }
}

#[test]
fn dual_numbers_through_the_solver_give_the_parameter_derivative() {
    // d u(5) / d p3 of Lotka–Volterra: dual-valued states and parameters, same mesh as the real
    // solve, against central finite differences of fixed-step solves.
    let opts = SolveOptions::default().fixed_step(0.01);
    let seed = |k: usize| -> Vec<Dual64> {
        LV_P.iter()
            .enumerate()
            .map(|(i, p)| Dual64::new(*p, if i == k { 1.0 } else { 0.0 }))
            .collect()
    };
    let u0 = vec![Dual64::constant(1.0), Dual64::constant(1.0)];
    let mut prob = OdeProblem::new(
        ForwardAd::<_, Dual64>::with_scalar(LotkaVolterra),
        u0,
        (0.0, 5.0),
        seed(3),
    )
    .unwrap();
    let sol = prob.solve(Tsit5, &opts).unwrap();
    let end = sol.u.last().unwrap();
    let solve_real = |p3: f64| {
        let mut p = LV_P.to_vec();
        p[3] = p3;
        let mut prob =
            OdeProblem::new(ForwardAd::new(LotkaVolterra), vec![1.0, 1.0], (0.0, 5.0), p).unwrap();
        prob.solve(Tsit5, &opts).unwrap().u.last().unwrap().clone()
    };
    let h = 1e-6;
    let (up, um, u) = (solve_real(1.0 + h), solve_real(1.0 - h), solve_real(1.0));
    for i in 0..2 {
        assert_eq!(
            end[i].value(),
            u[i],
            "value parts equal the real solve bitwise"
        );
        let fd = (up[i] - um[i]) / (2.0 * h);
        assert!(
            (end[i].eps() - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "{} vs {fd}",
            end[i].eps()
        );
    }
}

#[test]
fn solutions_round_trip_through_serde() {
    let mut prob = OdeProblem::new(kepler(), kepler_u0(), (0.0, 1.0), vec![]).unwrap();
    let sol = prob.solve(Tsit5, &SolveOptions::default()).unwrap();
    let json = serde_json::to_string(&sol).unwrap();
    let back: Solution<Vec<f64>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.t, sol.t);
    assert_eq!(back.u, sol.u);
    assert_eq!(back.stats, sol.stats);
    assert_eq!(
        back.interpolate(0.37).unwrap(),
        sol.interpolate(0.37).unwrap()
    );
    let opts: SolveOptions<f64> =
        serde_json::from_str(&serde_json::to_string(&SolveOptions::<f64>::default()).unwrap())
            .unwrap();
    assert_eq!(opts.maxiters, 100_000);
}
