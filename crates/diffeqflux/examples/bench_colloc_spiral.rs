//! Workload COLLOC: wall time to train the DiffEqFlux spiral neural ODE to trajectory loss
//! 0.01, by collocation then single-shooting refinement (L-BFGS), and by single shooting alone
//! (Adam 0.05), from the same starts (`common/collocation_race.rs` has the settings).
//!
//! Prints one JSON line per approach, collocation first: the median over initial-parameter
//! seeds 0..SEEDS (`COLLOC_SEEDS`, default 5) of the seconds to the target, the spread
//! (min, max), the median number of vector-field evaluations (`nfe`: forward solves and
//! discrete adjoints, VJPs included) and of trajectory solves (`solves`: one forward solve and
//! one adjoint each), the median final loss and iterations, and how many runs reached the
//! target. The collocation row also gives the collocation stage's median seconds and the
//! per-seed wall-time and solve ratios.
//!
//! `cargo run --release -p diffeqflux --example bench_colloc_spiral`

#[path = "common/collocation_race.rs"]
mod collocation_race;
#[path = "common/spiral.rs"]
mod spiral;

use collocation_race::{Race, Run};

const TARGET: f64 = 0.01;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        })
}

fn row(system: &str, runs: &[Run], extra: &str) -> String {
    let secs: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
    let (lo, hi) = spread(&secs);
    format!(
        "{{\"system\": \"{system}\", \"median_s\": {:e}, \"min_s\": {lo:e}, \"max_s\": {hi:e}, \
         \"nfe\": {}, \"solves\": {}, \"final_loss\": {}, \"iterations\": {}, \
         \"target_loss\": {TARGET}, \
         \"runs\": {}, \"runs_reaching_target\": {}{extra}}}",
        median(secs.clone()),
        median(runs.iter().map(|r| r.rhs_evals as f64).collect()),
        median(runs.iter().map(|r| r.solves as f64).collect()),
        median(runs.iter().map(|r| r.loss).collect()),
        median(runs.iter().map(|r| r.iterations as f64).collect()),
        runs.len(),
        runs.iter().filter(|r| r.reached).count(),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds: u64 = std::env::var("COLLOC_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let race = Race::new()?;
    let (mut colloc, mut single) = (Vec::new(), Vec::new());
    for seed in 0..seeds {
        let p0 = race.init(seed);
        colloc.push(race.collocation_then_refine(&p0, TARGET)?);
        single.push(race.single_shooting(&p0, TARGET)?);
    }
    let ratios = |f: &dyn Fn(&Run) -> f64| -> Vec<String> {
        colloc
            .iter()
            .zip(&single)
            .map(|(c, s)| format!("{:.1}", f(s) / f(c)))
            .collect()
    };
    let stage1 = median(
        colloc
            .iter()
            .filter_map(|r| r.stage1.map(|(t, _)| t))
            .collect(),
    );
    let extra = format!(
        ", \"collocation_stage_median_s\": {stage1:e}, \"wall_time_ratio_per_seed\": [{}], \
         \"solve_ratio_per_seed\": [{}]",
        ratios(&|r| r.seconds).join(", "),
        ratios(&|r| r.solves as f64).join(", ")
    );
    println!(
        "{}",
        row(
            "sciml-rs collocation (Gaussian, L-BFGS 50) + L-BFGS single-shooting refinement",
            &colloc,
            &extra
        )
    );
    println!(
        "{}",
        row("sciml-rs single shooting alone, Adam 0.05", &single, "")
    );
    Ok(())
}
