//! The simple tasks: `ci`, `test`, `doc` and `demo`.

use crate::util::{cargo, on_path, run, workspace_root, Error, Result};
use std::process::Command;

/// `cargo xtask ci`: format check, clippy with warnings denied, then the test suite.
/// Stops at the first failing step.
pub fn ci(args: &[String]) -> Result {
    if let Some(extra) = args.first() {
        return Err(Error::usage(format!(
            "`ci` takes no arguments (got `{extra}`); see `cargo xtask help ci`"
        )));
    }
    let steps: [&[&str]; 5] = [
        &["fmt", "--all", "--", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        // The optional parts (ensembles, built-in problems, SDE layers, PNG figures) stay
        // optional: the crates build without them.
        &[
            "check",
            "-p",
            "sciml-ode",
            "-p",
            "sciml-sde",
            "-p",
            "diffeqflux",
            "--no-default-features",
        ],
        &["test", "--workspace"],
        // The candle adaptor is behind a feature (candle is a large build); test it too.
        &[
            "test",
            "-p",
            "diffeqflux",
            "--features",
            "candle",
            "--test",
            "candle_adaptor",
        ],
    ];
    let total = steps.len() + 1;
    for (i, step) in steps.iter().enumerate() {
        eprintln!("[ci {}/{}]", i + 1, total);
        run(&mut cargo(*step))?;
    }
    eprintln!("[ci {total}/{total}] tableau order conditions (python3, mpmath)");
    tableau_checks()?;
    eprintln!("ci: all {total} steps passed");
    Ok(())
}

/// Checks every Butcher tableau's order conditions in exact / 50-digit arithmetic with the
/// scripts in `crates/sciml-ode/tableau_check` (independent of the Rust engine).
fn tableau_checks() -> Result {
    let root = workspace_root();
    let dir = root.join("crates").join("sciml-ode");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut low = Command::new(&python);
    low.current_dir(&dir)
        .arg("tableau_check/check_tableaus.py")
        .args([
            "src/tableaus/low_order.rs",
            "src/tableaus/bs3.rs",
            "src/tableaus/dp5.rs",
            "src/tableaus/tsit5.rs",
        ]);
    run(&mut low)?;
    let has_mpmath = Command::new(&python)
        .args(["-c", "import mpmath"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_mpmath {
        return Err(Error::usage(format!(
            "the Verner/DP8 tableau check needs mpmath: `{python} -m pip install mpmath` (or set PYTHON to a Python that has it)"
        )));
    }
    let mut high = Command::new(&python);
    high.current_dir(&dir)
        .args(["tableau_check/check_verner.py", "--quick"]);
    run(&mut high)
}

/// `cargo xtask test [ARGS...]`: `cargo test --workspace ARGS...`.
///
/// When the arguments select packages themselves (`-p`/`--package`), `--workspace` is left out.
pub fn test(args: &[String]) -> Result {
    let selects_package = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-p" || a.starts_with("--package") || (a.starts_with("-p") && a.len() > 2));
    let mut cmd = cargo(["test"]);
    if !selects_package {
        cmd.arg("--workspace");
    }
    cmd.args(args);
    run(&mut cmd)
}

/// `cargo xtask doc`: API docs for the workspace, then the mdBook guide when mdbook is installed.
pub fn doc(args: &[String]) -> Result {
    if let Some(extra) = args.first() {
        return Err(Error::usage(format!(
            "`doc` takes no arguments (got `{extra}`); see `cargo xtask help doc`"
        )));
    }
    run(&mut cargo(["doc", "--workspace", "--no-deps"]))?;
    let root = workspace_root();
    eprintln!(
        "API docs: {} (one folder per crate; `cargo doc --open` opens them)",
        root.join("target").join("doc").display()
    );
    let docs = root.join("docs");
    if !docs.is_dir() {
        eprintln!("note: no docs/ directory, so there is no user guide to build");
        return Ok(());
    }
    if on_path("mdbook") {
        let mut cmd = Command::new("mdbook");
        cmd.args(["build", "docs"]).current_dir(&root);
        run(&mut cmd)?;
        eprintln!(
            "user guide: {}",
            docs.join("book").join("index.html").display()
        );
    } else {
        eprintln!(
            "note: `mdbook` is not on PATH, so the user guide in docs/ was not built.\n      \
             Install it with `cargo install mdbook`, then run `cargo xtask doc` again.\n      \
             (The API docs above were built.)"
        );
    }
    Ok(())
}

/// `cargo xtask demo [ARGS...]`: the README's main example (training the neural ODE), in
/// release mode.
pub fn demo(args: &[String]) -> Result {
    let mut cmd = cargo([
        "run",
        "--release",
        "-p",
        "diffeqflux",
        "--example",
        "neural_ode",
    ]);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    run(&mut cmd)
}
