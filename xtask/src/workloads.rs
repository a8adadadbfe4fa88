//! The benchmark workloads: what we run for each, and which peers run the same work.
//!
//! To add a workload, add an entry to [`WORKLOADS`]: an example in one of our crates that
//! prints one JSON line per configuration it runs (`system`, `median_s`, `nfe`, and the
//! workload's [`Outcome`] field, `final_state` or `final_loss`, ...; rows may name their
//! `problem` when a workload has several, and give `error_vs_reference`), and a script in
//! `benches/peers/` that takes `--system S --threads 1|default` and prints one such line.
//! Peers written in Rust ([`NativePeer`]) are separate Cargo projects under `benches/` that
//! print rows the way our examples do.

use crate::util::{Error, Result};

/// The result field every row of a workload must have, shown in the table next to the timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `final_state`: the solution at the end of the time span, an array of numbers.
    FinalState,
    /// `final_loss`: the training loss of the parameters after the last iteration, a number.
    FinalLoss,
    /// Either of the two: a workload with solves and training iterations side by side (W7),
    /// its rows told apart by their `problem`.
    StateOrLoss,
}

/// A peer called natively from Rust: a separate Cargo project (its own `[workspace]`, so not a
/// member of ours and not built by `cargo test --workspace`), built and run with
/// `cargo run --release --manifest-path <manifest> -- <args>`. Like our examples it prints one
/// JSON row per system it runs, each naming its `system`.
#[derive(Debug)]
pub struct NativePeer {
    /// Name for `--peer`, e.g. `diffsol_rs`.
    pub name: &'static str,
    /// The project's `Cargo.toml`, relative to the workspace root.
    pub manifest: &'static str,
    /// Arguments after `--`, e.g. the workload.
    pub args: &'static [&'static str],
}

/// diffsol, the Rust crate, with the nalgebra backend: `benches/diffsol-peer`.
const DIFFSOL_MANIFEST: &str = "benches/diffsol-peer/Cargo.toml";

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
    /// Extra arguments passed to the peer script after `--system S --threads T`.
    pub peer_args: &'static [&'static str],
    /// Peers in Rust, run after the Python ones.
    pub native_peers: &'static [NativePeer],
    /// What one timed unit is (`median_s` and `nfe` are per this), e.g. `solve`.
    pub per: &'static str,
    /// The result field each row must carry.
    pub outcome: Outcome,
}

/// All known workloads.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "W1",
        description:
            "Lotka-Volterra, Tsit5-class explicit RK, rtol 1e-6, atol 1e-8, 100 saved points, f64",
        package: "sciml-ode",
        example: "bench_w1_lotka_volterra",
        peer_script: "benches/peers/w1_lotka_volterra.py",
        peer_systems: &[
            "scipy_RK45",
            "scipy_DOP853",
            "diffrax_tsit5",
            "torchdiffeq_dopri5",
            "pydiffsol_tsit45",
        ],
        peer_args: &[],
        native_peers: &[NativePeer {
            name: "diffsol_rs",
            manifest: DIFFSOL_MANIFEST,
            args: &["w1"],
        }],
        per: "solve",
        outcome: Outcome::FinalState,
    },
    Workload {
        name: "W2",
        description: "Robertson (stiff chemical kinetics) on [0, 1e5], stiff methods, rtol 1e-6, \
                      atol 1e-10, final state only, f64",
        package: "sciml-ode",
        example: "bench_w2_robertson",
        peer_script: "benches/peers/w2_robertson.py",
        peer_systems: &[
            "scipy_BDF",
            "scipy_Radau",
            "scipy_LSODA",
            "diffrax_kvaerno5",
            "pydiffsol_bdf",
        ],
        peer_args: &[],
        native_peers: &[NativePeer {
            name: "diffsol_rs",
            manifest: DIFFSOL_MANIFEST,
            args: &["w2"],
        }],
        per: "solve",
        outcome: Outcome::FinalState,
    },
    Workload {
        name: "W2b",
        description: "2-D Brusselator, periodic 32x32 grid (2048 unknowns), t in [0, 11.5], \
                      stiff methods with sparse Jacobians, rtol 1e-6, atol 1e-8, final state only, \
                      f64",
        package: "sciml-ode",
        example: "bench_w2b_brusselator",
        peer_script: "benches/peers/w2b_brusselator.py",
        peer_systems: &["scipy_BDF", "scipy_BDF_jac"],
        peer_args: &["--repeats", "5"],
        native_peers: &[],
        per: "solve",
        outcome: Outcome::FinalState,
    },
    Workload {
        name: "W3",
        description: "neural ODE training (DiffEqFlux README problem: 2-50-2 tanh MLP on u.^3, \
                      30 points, sum-of-squares loss, Adam 0.05), Tsit5-class, rtol 1e-3, \
                      atol 1e-6, f64, 300 iterations",
        package: "diffeqflux",
        example: "bench_w3_spiral_neural_ode",
        peer_script: "benches/peers/w3_neural_ode.py",
        peer_systems: &[
            "torchdiffeq_direct",
            "torchdiffeq_adjoint",
            "diffrax_rca",
            "diffrax_backsolve",
        ],
        peer_args: &["--iters", "300"],
        native_peers: &[],
        per: "training iteration",
        outcome: Outcome::FinalLoss,
    },
    Workload {
        name: "W4",
        description: "neural SDE forward + gradient (2-D diagonal noise, drift 2-50-2 tanh MLP, \
                      diffusion Dense 2-2, 100 trajectories, Euler-Maruyama dt 0.01, 101 saves, \
                      MSE vs the W3 true ODE), discrete adjoint, f32 and f64",
        package: "diffeqflux",
        example: "bench_w4_neural_sde",
        peer_script: "benches/peers/w4_neural_sde.py",
        peer_systems: &[
            "torchsde_euler_f32",
            "torchsde_euler_adjoint_f32",
            "torchsde_euler_f64",
            "torchsde_euler_adjoint_f64",
        ],
        peer_args: &[],
        native_peers: &[],
        per: "forward + gradient",
        outcome: Outcome::FinalLoss,
    },
    Workload {
        name: "W5",
        description: "FFJORD training on two moons (batch 512, [z, t] 3-64-64-2 tanh MLP, \
                      exact trace and Hutchinson), Dp5-class, rtol = atol = 1e-5, adjoint \
                      gradients, Adam 1e-3, one thread; ours in f32 (the reference row) and \
                      f64, peers f32",
        package: "diffeqflux",
        example: "bench_w5_ffjord",
        peer_script: "benches/peers/w5_ffjord.py",
        peer_systems: &["torchdiffeq_exact_f32", "torchdiffeq_hutchinson_f32"],
        peer_args: &["--iters", "20"],
        native_peers: &[],
        per: "training iteration",
        outcome: Outcome::FinalLoss,
    },
    Workload {
        name: "W7",
        description: "delay equations: linear u'(t) = -u(t-1) on [0, 10] at rtol 1e-8 (exact \
                      solution), Mackey-Glass on [0, 500] at rtol 1e-6 (tight reference), and one \
                      forward + gradient of a neural DDE (batch 64, RK4 dt 0.1; peers f32, ours \
                      discrete adjoint in f64 and f32)",
        package: "diffeqflux",
        example: "bench_w7_dde",
        peer_script: "benches/peers/w7_dde.py",
        peer_systems: &[
            "linear:jitcdde_bs3",
            "linear:torchdde_dopri5",
            "mackey_glass:jitcdde_bs3",
            "mackey_glass:torchdde_dopri5",
            "mackey_glass:torchdde_bosh3",
            "neural:torchdde_rk4_backprop",
            "neural:torchdde_euler_backprop",
            "neural:torchdde_rk4_adjoint",
        ],
        peer_args: &[],
        native_peers: &[],
        per: "solve (neural: forward + gradient)",
        outcome: Outcome::StateOrLoss,
    },
    Workload {
        name: "W8",
        description: "index-1 DAEs at rtol 1e-6, atol 1e-10: Robertson in residual form on \
                      [0, 1e5], the pendulum (index-1 form; ours also stabilised index 2) on \
                      [0, 10] against the exact pendulum, Chemical Akzo Nobel on [0, 180] against \
                      the IVP test set, f64",
        package: "sciml-dae",
        example: "bench_w8_dae",
        peer_script: "benches/peers/w8_dae.py",
        peer_systems: &[
            "robertson_dae:sksundae_ida",
            "robertson_dae:casadi_idas",
            "robertson_dae:pydiffsol_bdf",
            "akzo:sksundae_ida",
            "akzo:casadi_idas",
            "akzo:pydiffsol_bdf",
            "pendulum:sksundae_ida",
            "pendulum:casadi_idas",
            "pendulum:pydiffsol_bdf",
        ],
        peer_args: &[],
        native_peers: &[],
        per: "solve",
        outcome: Outcome::FinalState,
    },
    Workload {
        name: "COLLOC",
        description:
            "time to train the DiffEqFlux spiral neural ODE (W3's problem) to trajectory \
                      loss 0.01: collocation then L-BFGS single-shooting refinement, against \
                      single shooting alone (Adam 0.05); median over 5 initial seeds, f64, no peers",
        package: "diffeqflux",
        example: "bench_colloc_spiral",
        peer_script: "",
        peer_systems: &[],
        peer_args: &[],
        native_peers: &[],
        per: "training run to the target loss",
        outcome: Outcome::FinalLoss,
    },
];

impl Workload {
    /// Whether `name` names one of this workload's peers (Python system or native peer).
    pub fn has_peer(&self, name: &str) -> bool {
        self.peer_systems.contains(&name) || self.native_peers.iter().any(|p| p.name == name)
    }

    /// The names of all its peers, Python systems first.
    pub fn peer_names(&self) -> Vec<&'static str> {
        let mut names = self.peer_systems.to_vec();
        names.extend(self.native_peers.iter().map(|p| p.name));
        names
    }
}

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
