//! Collocation on the DiffEqFlux spiral: fit the neural ODE's vector field to derivative
//! estimates without solving, then refine by single shooting (L-BFGS on the trajectory loss).
//! Against it: single shooting alone (Adam 0.05) from the same start. Both run until the
//! trajectory loss reaches the same target, measured by the same function.
//!
//! Data: du/dt = ((u.^3)ᵀ A)ᵀ, A = [[-0.1, 2.0], [-2.0, -0.1]], u0 = [2, 0], tspan (0, 1.5), 30
//! points (the `neural_ode` example). Model: x -> x.^3 -> Dense(2, 50, tanh) -> Dense(50, 2).
//! Losses are sums of squared errors over the Tsit5 trajectory. The settings and why they were
//! chosen are in `common/collocation_race.rs`. The printed speed-ups are single runs on one
//! machine, not a benchmark (`cargo xtask bench COLLOC` takes medians over several starts);
//! the trajectory solves each side needed do not depend on the machine.
//!
//! `cargo run --release -p diffeqflux --example collocation`

#[path = "common/collocation_race.rs"]
mod collocation_race;
#[path = "common/spiral.rs"]
mod spiral;

use collocation_race::{Race, BANDWIDTH, COLLOCATION_ITERS, SINGLE_LR};

/// Trajectory loss both sides train to (the `neural_ode` example ends at 0.0094).
const TARGET: f64 = 0.01;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let race = Race::new()?;
    let p0 = race.init(0);
    let c = race.collocation_then_refine(&p0, TARGET)?;
    let s = race.single_shooting(&p0, TARGET)?;
    if let Some((t1, l1)) = c.stage1 {
        println!(
            "stage 1, collocation (Gaussian kernel, bandwidth {BANDWIDTH}, {COLLOCATION_ITERS} \
             L-BFGS iterations, no solve): {t1:.4} s; trajectory loss after it {l1:.4}"
        );
    }
    println!(
        "stage 2, single-shooting refinement (L-BFGS): trajectory loss {:.6} after {} solves; \
         both stages {} iterations in {:.4} s",
        c.loss, c.solves, c.iterations, c.seconds
    );
    println!(
        "single shooting alone (Adam {SINGLE_LR}): trajectory loss {:.6} after {} iterations in \
         {:.4} s",
        s.loss, s.iterations, s.seconds
    );
    if c.reached && s.reached {
        println!(
            "to trajectory loss {TARGET}: collocation + refinement {:.1}x faster in wall time, \
             {:.1}x fewer solves ({} against {} vector-field evaluations)",
            s.seconds / c.seconds,
            s.solves as f64 / c.solves as f64,
            c.rhs_evals,
            s.rhs_evals
        );
    } else {
        println!(
            "target {TARGET} not reached (collocation: {}, single shooting: {})",
            c.reached, s.reached
        );
    }
    Ok(())
}
