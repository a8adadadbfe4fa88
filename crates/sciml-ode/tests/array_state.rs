//! Fixed-size `[f64; N]` states: the same solve as on `Vec<f64>`, bitwise, with nothing
//! allocated per step or save.

use sciml_core::{FnField, VectorField};
use sciml_ode::{Callbacks, DiscreteCallback, OdeProblem, SaveAt, SolveOptions, Tsit5, Vern9};

struct LotkaVolterra;

impl VectorField for LotkaVolterra {
    type V = [f64; 2];
    type P = [f64; 4];
    fn dims(&self) -> (usize, usize) {
        (2, 4)
    }
    fn rhs(&mut self, _t: f64, u: &[f64; 2], p: &[f64; 4], du: &mut [f64; 2]) {
        du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
        du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
    }
}

fn vec_problem() -> OdeProblem<impl VectorField<V = Vec<f64>, P = Vec<f64>>> {
    let f = FnField::new(2, 4, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
        du[0] = p[0] * u[0] - p[1] * u[0] * u[1];
        du[1] = -p[2] * u[1] + p[3] * u[0] * u[1];
    });
    OdeProblem::new(f, vec![1.0, 1.0], (0.0, 10.0), vec![1.5, 1.0, 3.0, 1.0]).expect("valid")
}

#[test]
fn array_state_solves_bitwise_as_vec() {
    let mut on_vec = vec_problem();
    let mut on_array =
        OdeProblem::new(LotkaVolterra, [1.0, 1.0], (0.0, 10.0), [1.5, 1.0, 3.0, 1.0])
            .expect("valid");
    let times: Vec<f64> = (0..100).map(|i| 10.0 * i as f64 / 99.0).collect();
    for saveat in [SaveAt::Times(times), SaveAt::Steps] {
        let opts = SolveOptions::default()
            .tolerances(1e-6, 1e-8)
            .saveat(saveat.clone());
        let a = on_vec.solve(Tsit5, &opts).expect("solves");
        let b = on_array.solve(Tsit5, &opts).expect("solves");
        assert_eq!(a.t, b.t);
        assert_eq!(a.stats, b.stats);
        for (x, y) in a.u.iter().zip(&b.u) {
            assert_eq!(x.as_slice(), y.as_slice());
        }
        // Vern9: 16 interpolation vectors, dense output on.
        let opts = opts.dense(true);
        let a = on_vec.solve(Vern9, &opts).expect("solves");
        let b = on_array.solve(Vern9, &opts).expect("solves");
        let (mut x, mut y) = (vec![0.0; 2], [0.0; 2]);
        a.dense
            .as_ref()
            .expect("dense")
            .evaluate_to(3.3, &mut x)
            .expect("in range");
        b.dense
            .as_ref()
            .expect("dense")
            .evaluate_to(3.3, &mut y)
            .expect("in range");
        assert_eq!(x.as_slice(), y.as_slice());
    }
}

#[test]
fn array_state_takes_callbacks_and_rejects_bad_input() {
    // A discrete callback that stops once the prey passes 4.
    let cb = DiscreteCallback::<[f64; 2]>::new(|_t, u| u[0] > 4.0, |ctx| ctx.terminate());
    let mut prob = OdeProblem::new(LotkaVolterra, [1.0, 1.0], (0.0, 10.0), [1.5, 1.0, 3.0, 1.0])
        .expect("valid");
    let sol = prob
        .solve_with_callbacks(
            Tsit5,
            &SolveOptions::default(),
            Callbacks::new().with_discrete(cb),
        )
        .expect("terminates cleanly");
    assert_eq!(sol.retcode, sciml_core::ReturnCode::Terminated);
    assert!(sol.u.last().expect("saved")[0] > 4.0);
    // A NaN in the initial state is refused as for any state.
    let err = OdeProblem::new(
        LotkaVolterra,
        [f64::NAN, 1.0],
        (0.0, 1.0),
        [1.5, 1.0, 3.0, 1.0],
    );
    assert!(err.is_err());
}
