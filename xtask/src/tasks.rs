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
    let steps: [&[&str]; 3] = [
        &["fmt", "--all", "--", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &["test", "--workspace"],
    ];
    for (i, step) in steps.iter().enumerate() {
        eprintln!("[ci {}/{}]", i + 1, steps.len());
        run(&mut cargo(*step))?;
    }
    eprintln!("ci: all {} steps passed", steps.len());
    Ok(())
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

/// `cargo xtask demo [ARGS...]`: the Lotka–Volterra example, in release mode.
pub fn demo(args: &[String]) -> Result {
    let mut cmd = cargo([
        "run",
        "--release",
        "-p",
        "sciml-ode",
        "--example",
        "lotka_volterra",
    ]);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    run(&mut cmd)
}
