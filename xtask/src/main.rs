//! Project automation for the sciml-rs workspace, run as `cargo xtask <TASK>`
//! (an alias defined in `.cargo/config.toml`).

mod bench;
mod peers;
mod tasks;
mod util;
mod workloads;

use std::process::ExitCode;
use util::{Error, Result};

const USAGE: &str = "\
cargo xtask <TASK> [ARGS...]

Tasks:
  ci                      cargo fmt --check, clippy -D warnings, a build without optional features, test (stops at first failure)
  test [ARGS...]          cargo test --workspace ARGS...
  doc                     API docs (cargo doc --workspace --no-deps) and the mdBook guide
  demo [ARGS...]          run the Lotka-Volterra example in release mode
  bench WORKLOAD [OPTS]   run a benchmark workload (ours, and with --peers the Python peers)
  peers-setup [VENV]      create the Python environment the peer benchmarks use
  help [TASK]             this text, or a task's help

Run `cargo xtask help TASK` (or `cargo xtask TASK --help`) for a task's options.";

fn task_help(task: &str) -> Option<String> {
    let text = match task {
        "ci" => "\
cargo xtask ci

Runs, in order, stopping at the first failure (non-zero exit):
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
  cargo test --workspace"
            .to_string(),
        "test" => "\
cargo xtask test [ARGS...]

Runs `cargo test --workspace ARGS...`. Extra arguments are passed through, e.g.
  cargo xtask test -- --nocapture
  cargo xtask test -p sciml-core      (--workspace is dropped when -p/--package is given)"
            .to_string(),
        "doc" => "\
cargo xtask doc

Builds the API docs with `cargo doc --workspace --no-deps` (target/doc), then the user guide
with `mdbook build docs` (docs/book) when `mdbook` is on PATH. Without mdbook it says how to
install it (`cargo install mdbook`) and still succeeds."
            .to_string(),
        "demo" => "\
cargo xtask demo [ARGS...]

Runs `cargo run --release -p diffeqflux --example neural_ode [-- ARGS...]`."
            .to_string(),
        "bench" => format!(
            "\
cargo xtask bench WORKLOAD [--peers] [--peer SYSTEM[,SYSTEM...]] [--threads 1|default] [--venv DIR]

Runs our example for WORKLOAD (cargo run --release), which prints one JSON line per
configuration (each a row; the first is the reference for ratios), and with --peers each peer
system of the workload's Python script, using the peers' virtual environment, then its native
(Rust) peers: separate Cargo projects under benches/ (W1, W2: diffsol_rs, benches/diffsol-peer),
built with `cargo build --release --manifest-path ...` on first use (a few minutes).
A peer that fails, is missing or cannot be built becomes a row with an \"error\" field; the run
goes on.
Writes target/bench/WORKLOAD.json and prints a markdown table (system | median | RHS evals |
final state or final loss [| iterations] | ratio = median / our first row's median).

Options:
  --peers               also run the Python peers and the native peers
  --peer SYSTEM,...     run only these peers (implies --peers); may be repeated
  --threads 1|default   1 (the default) sets OMP_NUM_THREADS, MKL_NUM_THREADS,
                        OPENBLAS_NUM_THREADS and RAYON_NUM_THREADS to 1 for every child and
                        passes --threads 1 to the peers; `default` leaves thread pools alone
  --venv DIR            peers' virtual environment (default: ${}, else target/peers-venv)

Workloads:
{}",
            peers::VENV_ENV,
            workloads::WORKLOADS
                .iter()
                .map(|w| {
                    let mut line = format!(
                        "  {:<4} {}\n       peers ({}): {}",
                        w.name,
                        w.description,
                        w.peer_script,
                        w.peer_systems.join(", ")
                    );
                    for p in w.native_peers {
                        line.push_str(&format!(
                            "\n       native peer ({}): {}",
                            p.manifest, p.name
                        ));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n")
        ),
        "peers-setup" => format!(
            "\
cargo xtask peers-setup [VENV] [--dry-run] [--python PYTHON]

Creates a Python virtual environment with `PYTHON -m venv VENV` (PYTHON defaults to python3;
an existing environment is reused) and pip-installs into it:
  {}
VENV defaults to ${}, else target/peers-venv. This downloads several GB (torch, jax).

Options:
  --dry-run, -n       print the commands instead of running them
  --python PYTHON     interpreter used to create the environment",
            peers::PACKAGES.join(" "),
            peers::VENV_ENV
        ),
        _ => return None,
    };
    Some(text)
}

fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "--help" | "help")
}

fn dispatch(args: &[String]) -> Result {
    let Some((task, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    if is_help(task) {
        return match rest.first() {
            None => {
                println!("{USAGE}");
                Ok(())
            }
            Some(t) => match task_help(t) {
                Some(h) => {
                    println!("{h}");
                    Ok(())
                }
                None => Err(unknown_task(t)),
            },
        };
    }
    // `-h`/`--help` anywhere before a `--` asks for the task's help (test/demo pass the rest on).
    if rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help")
    {
        if let Some(h) = task_help(task) {
            println!("{h}");
            return Ok(());
        }
    }
    match task.as_str() {
        "ci" => tasks::ci(rest),
        "test" => tasks::test(rest),
        "doc" => tasks::doc(rest),
        "demo" => tasks::demo(rest),
        "bench" => bench::bench(rest),
        "peers-setup" => peers::setup(rest),
        other => Err(unknown_task(other)),
    }
}

fn unknown_task(task: &str) -> Error {
    Error::usage(format!("unknown task `{task}`\n\n{USAGE}"))
}

fn main() -> ExitCode {
    let args: std::result::Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| Error::usage(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect();
    match args.and_then(|args| dispatch(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code)
        }
    }
}
