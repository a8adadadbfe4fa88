//! diffsol (the Rust crate) as a native peer of benchmarks W1 and W2, called from Rust in the
//! same kind of process as our examples, on the same problems and tolerances.
//!
//! `cargo run --release --manifest-path benches/diffsol-peer/Cargo.toml -- w1|w2` prints one
//! JSON row per system, in the format of our example rows (`system`, `median_s`, `nfe`, ...,
//! `final_state`); `cargo xtask bench W1 --peers` (and `W2`) runs it and adds the rows to the
//! table. It is a separate Cargo project (not a member of the main workspace) so that diffsol
//! is not built by `cargo test --workspace`.
//!
//! - `w1`: Lotka–Volterra (du1 = 1.5 u1 − u1 u2, du2 = −3 u2 + u1 u2, u0 = [1, 1], t in
//!   [0, 10]), diffsol's tsit45, rtol 1e-6, atol 1e-8, `solve_dense` at the 100 points
//!   10·i/99, f64, nalgebra.
//! - `w2`: Robertson (k1 = 0.04, k2 = 3e7, k3 = 1e4, u0 = [1, 0, 0], t in [0, 1e5]), diffsol's
//!   BDF, ESDIRK34 and TR-BDF2 with the dense nalgebra LU, rtol 1e-6, atol 1e-10, final state
//!   only (`solve_dense` at t = 1e5), analytic Jacobian-vector product (diffsol assembles the
//!   dense Jacobian from it).
//!
//! Timing as in our examples: one untimed solve, an inner loop sized to about 0.2 s, the median
//! of 15 repeats; each timed solve creates the solver (state initialisation and initial step
//! included), as `OdeProblem::solve` does on our side. `nfe` counts calls of the right-hand-side
//! closure (diffsol reports no such counter), `njvp` calls of the Jacobian-vector product.

use diffsol::ode_solver::OdeSolverStatistics;
use diffsol::{
    DenseMatrix, MatrixCommon, NalgebraLU, NalgebraMat, OdeBuilder, OdeEquations, OdeSolverMethod,
    OdeSolverProblem,
};
use std::cell::Cell;
use std::time::Instant;

type M = NalgebraMat<f64>;
type Lu = NalgebraLU<f64>;
type BoxError = Box<dyn std::error::Error>;

/// Robertson at t = 1e5: `Robertson::REF_T1E5` in crates/sciml-ode/src/problems/robertson.rs.
#[allow(clippy::excessive_precision)] // the digits as in robertson.rs
const ROBERTSON_REF_T1E5: [f64; 3] = [
    1.786_592_114_209_994_3e-2,
    7.274_751_468_436_533_3e-8,
    9.821_340_061_103_832_6e-1,
];

/// What one solve returns: the final state and diffsol's statistics.
struct Outcome {
    final_state: Vec<f64>,
    stats: OdeSolverStatistics,
}

/// Median seconds per call of `solve`: an untimed warm-up of 0.05 s sizes the inner loop to
/// about 0.2 s, then 15 repeats.
fn median_seconds(mut solve: impl FnMut() -> Result<Outcome, BoxError>) -> Result<f64, BoxError> {
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed().as_secs_f64() < 0.05 {
        std::hint::black_box(solve()?);
        n += 1;
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    let inner = ((0.2 / per) as u32).max(1);
    let mut samples = Vec::with_capacity(15);
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..inner {
            std::hint::black_box(solve()?);
        }
        samples.push(t.elapsed().as_secs_f64() / f64::from(inner));
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[7])
}

fn json_array(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.17e}")).collect();
    format!("[{}]", parts.join(", "))
}

/// Times `solve`, counts the closures' calls of one solve, and prints the row.
fn run(
    system: &str,
    nfe: &Cell<u64>,
    njvp: &Cell<u64>,
    extra: &str,
    reference: Option<&[f64]>,
    mut solve: impl FnMut() -> Result<Outcome, BoxError>,
) -> Result<(), BoxError> {
    nfe.set(0);
    njvp.set(0);
    let first = solve()?;
    let (nf, nj) = (nfe.get(), njvp.get());
    let median = median_seconds(&mut solve)?;
    let s = &first.stats;
    // diffsol counts accepted steps in `number_of_steps`, rejections by cause.
    let rejected = s.number_of_error_test_failures + s.number_of_nonlinear_solver_fails;
    let err = reference.map(|r| {
        first
            .final_state
            .iter()
            .zip(r)
            .map(|(a, b)| (a - b).abs() / b.abs())
            .fold(0.0, f64::max)
    });
    println!(
        "{{\"system\": \"{system}\", \"median_s\": {median:e}, \"nfe\": {nf}, \"njvp\": {nj}, \
         \"steps\": {}, \"accepted_steps\": {}, \"rejected_steps\": {rejected}, \"nfactor\": {}, \
         \"newton_iterations\": {}, {extra}\"version\": \"diffsol {} (Rust, native)\", \
         \"final_state\": {}{}}}",
        s.number_of_steps + rejected,
        s.number_of_steps,
        s.number_of_linear_solver_setups,
        s.number_of_nonlinear_solver_iterations,
        DIFFSOL_VERSION,
        json_array(&first.final_state),
        err.map_or_else(String::new, |e| format!(
            ", \"rel_err_vs_reference\": {e:e}"
        )),
    );
    Ok(())
}

/// The diffsol version this program is built against (keep in step with Cargo.toml/Cargo.lock).
const DIFFSOL_VERSION: &str = "0.19.0";

fn w1() -> Result<(), BoxError> {
    let nfe = Cell::new(0u64);
    let njvp = Cell::new(0u64);
    let problem = OdeBuilder::<M>::new()
        .rtol(1e-6)
        .atol([1e-8])
        .rhs(|x, _p, _t, y| {
            nfe.set(nfe.get() + 1);
            y[0] = 1.5 * x[0] - x[0] * x[1];
            y[1] = -3.0 * x[1] + x[0] * x[1];
        })
        .init(
            |_p, _t, y| {
                y[0] = 1.0;
                y[1] = 1.0;
            },
            2,
        )
        .build()?;
    let times: Vec<f64> = (0..100).map(|i| 10.0 * f64::from(i) / 99.0).collect();
    run(
        "diffsol tsit45 (Rust)",
        &nfe,
        &njvp,
        "\"nsaved\": 100, ",
        None,
        || {
            let mut solver = problem.tsit45()?;
            let (ys, _stop) = solver.solve_dense(&times)?;
            let last = ys.ncols() - 1;
            let final_state = (0..ys.nrows()).map(|i| ys.get_index(i, last)).collect();
            Ok(Outcome {
                final_state,
                stats: solver.get_statistics().clone(),
            })
        },
    )
}

/// Final state at t = 1e5 and statistics of one solve with `solver`.
fn final_state<'a, Eqn, S>(solver: &mut S) -> Result<Outcome, BoxError>
where
    Eqn: OdeEquations<M = M, V = <M as MatrixCommon>::V, T = f64> + 'a,
    S: OdeSolverMethod<'a, Eqn>,
{
    let (ys, _stop) = solver.solve_dense(&[1e5])?;
    Ok(Outcome {
        final_state: (0..ys.nrows()).map(|i| ys.get_index(i, 0)).collect(),
        stats: solver.get_statistics().clone(),
    })
}

fn w2() -> Result<(), BoxError> {
    const K1: f64 = 0.04;
    const K2: f64 = 3e7;
    const K3: f64 = 1e4;
    let nfe = Cell::new(0u64);
    let njvp = Cell::new(0u64);
    let problem: OdeSolverProblem<_> = OdeBuilder::<M>::new()
        .rtol(1e-6)
        .atol([1e-10])
        .rhs_implicit(
            |x, _p, _t, y| {
                nfe.set(nfe.get() + 1);
                y[0] = -K1 * x[0] + K3 * x[1] * x[2];
                y[1] = K1 * x[0] - K3 * x[1] * x[2] - K2 * x[1] * x[1];
                y[2] = K2 * x[1] * x[1];
            },
            // J(x) v, with J the analytic Jacobian of the right-hand side.
            |x, _p, _t, v, y| {
                njvp.set(njvp.get() + 1);
                y[0] = -K1 * v[0] + K3 * x[2] * v[1] + K3 * x[1] * v[2];
                y[1] = K1 * v[0] - (K3 * x[2] + 2.0 * K2 * x[1]) * v[1] - K3 * x[1] * v[2];
                y[2] = 2.0 * K2 * x[1] * v[1];
            },
        )
        .init(
            |_p, _t, y| {
                y[0] = 1.0;
                y[1] = 0.0;
                y[2] = 0.0;
            },
            3,
        )
        .build()?;
    let extra = "\"jacobian\": \"analytic J·v, dense nalgebra LU\", ";
    let reference = Some(&ROBERTSON_REF_T1E5[..]);
    run("diffsol bdf (Rust)", &nfe, &njvp, extra, reference, || {
        final_state(&mut problem.bdf::<Lu>()?)
    })?;
    run(
        "diffsol esdirk34 (Rust)",
        &nfe,
        &njvp,
        extra,
        reference,
        || final_state(&mut problem.esdirk34::<Lu>()?),
    )?;
    run(
        "diffsol tr_bdf2 (Rust)",
        &nfe,
        &njvp,
        extra,
        reference,
        || final_state(&mut problem.tr_bdf2::<Lu>()?),
    )?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    match std::env::args().nth(1).as_deref() {
        Some("w1" | "W1") => w1(),
        Some("w2" | "W2") => w2(),
        other => Err(format!(
            "usage: diffsol-peer w1|w2 (got {})",
            other.map_or_else(|| "nothing".into(), |s| format!("`{s}`"))
        )
        .into()),
    }
}
