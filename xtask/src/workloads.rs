//! The benchmark workloads: what we run for each, and which peers run the same work.
//!
//! To add a workload, add an entry to [`WORKLOADS`]: an example in one of our crates that
//! prints one JSON line (`system`, `median_s`, `nfe`, `final_state`, ...), and a script in
//! `benches/peers/` that takes `--system S --threads 1|default` and prints the same kind of line.

use crate::util::{Error, Result};

/// One benchmark workload.
#[derive(Debug)]
pub struct Workload {
    /// Name used on the command line and in `target/bench/<name>.json`, e.g. `W1`.
    pub name: &'static str,
    /// One-line description for help and the JSON report.
    pub description: &'static str,
    /// Package holding our example.
    pub package: &'static str,
    /// Our example (`cargo run --release -p <package> --example <example>`).
    pub example: &'static str,
    /// Peer script, relative to the workspace root.
    pub peer_script: &'static str,
    /// Values of the peer script's `--system` option, in the order they are run.
    pub peer_systems: &'static [&'static str],
}

/// All known workloads.
pub const WORKLOADS: &[Workload] = &[Workload {
    name: "W1",
    description:
        "Lotka-Volterra, Tsit5-class explicit RK, rtol 1e-6, atol 1e-8, 100 saved points, f64",
    package: "sciml-ode",
    example: "w1",
    peer_script: "benches/peers/w1_lotka_volterra.py",
    peer_systems: &[
        "scipy_RK45",
        "scipy_DOP853",
        "diffrax_tsit5",
        "torchdiffeq_dopri5",
        "pydiffsol_tsit45",
    ],
}];

/// Looks a workload up by name (case-insensitive).
pub fn find(name: &str) -> Result<&'static Workload> {
    WORKLOADS
        .iter()
        .find(|w| w.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown workload `{name}`; known workloads:\n{}",
                list()
            ))
        })
}

/// The known workloads, one per line, for help and error messages.
pub fn list() -> String {
    WORKLOADS
        .iter()
        .map(|w| format!("  {:<4} {}", w.name, w.description))
        .collect::<Vec<_>>()
        .join("\n")
}
