//! The right-hand side's reads of the recorded solution are the solution's dense output: each
//! value read at `t − τ` equals, bitwise, the finished solve's `DenseOutput::evaluate_to` there.
//! Two lags make consecutive reads jump between distant steps of the record.
#![allow(clippy::ptr_arg)]

use sciml_dde::{DdeFn, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{SolveOptions, Tsit5, Vern7};

fn check(reads: &[(f64, f64)], dense: &sciml_core::DenseOutput<Vec<f64>>) {
    assert!(reads.len() > 100, "only {} reads", reads.len());
    let mut out = vec![0.0];
    for &(tq, value) in reads {
        dense.evaluate_to(tq, &mut out).expect("inside the record");
        assert_eq!(
            value.to_bits(),
            out[0].to_bits(),
            "read at {tq}: {value} against the dense output's {}",
            out[0]
        );
    }
}

/// Solves `u' = −0.5 u(t − 0.5) − 0.3 u(t − 1.3) + 0.1 sin t` on [0, 8] with `$method` and
/// steps shorter than both lags (so every read after `t0` lies in the record), recording the
/// reads, and checks them against the finished dense output.
macro_rules! solve_recording {
    ($method:expr) => {{
        let mut reads: Vec<(f64, f64)> = Vec::new();
        let dense = {
            let f = DdeFn::new(
                1,
                0,
                |du: &mut Vec<f64>,
                 _u: &Vec<f64>,
                 h: &mut History<'_, Vec<f64>, Vec<f64>>,
                 _p: &Vec<f64>,
                 t: f64| {
                    let a = h.value(t - 0.5)[0];
                    if t - 0.5 > 1e-12 {
                        reads.push((t - 0.5, a));
                    }
                    let b = h.value(t - 1.3)[0];
                    if t - 1.3 > 1e-12 {
                        reads.push((t - 1.3, b));
                    }
                    du[0] = -0.5 * a - 0.3 * b + 0.1 * t.sin();
                },
            );
            let mut prob = DdeProblem::new(
                f,
                vec![1.0],
                InitialHistory::constant(vec![1.0]),
                (0.0, 8.0),
                vec![],
            )
            .expect("valid")
            .with_lags(vec![0.5, 1.3])
            .expect("valid");
            let opts = SolveOptions::default()
                .tolerances(1e-8, 1e-10)
                .dtmax(0.2)
                .dense(true);
            prob.solve(MethodOfSteps::new($method), &opts)
                .expect("solves")
                .dense
                .expect("dense output")
        };
        check(&reads, &dense);
    }};
}

#[test]
fn reads_of_the_record_are_the_dense_output_bitwise() {
    solve_recording!(Tsit5);
    solve_recording!(Vern7);
}
