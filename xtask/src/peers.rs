//! The Python environment for the peer benchmarks: where it lives and `cargo xtask peers-setup`.

use crate::util::{absolute, display_command, run, workspace_root, Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming the peers' virtual environment.
pub const VENV_ENV: &str = "SCIML_PEERS_VENV";

/// The packages `peers-setup` installs into the virtual environment.
pub const PACKAGES: &[&str] = &[
    "numpy",
    "scipy",
    "torch",
    "torchdiffeq",
    "jax[cpu]",
    "diffrax",
    "equinox",
    "optax",
    "pydiffsol",
];

/// The virtual environment to use: `explicit`, else `$SCIML_PEERS_VENV`, else `target/peers-venv`.
pub fn venv_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return absolute(p);
    }
    match std::env::var_os(VENV_ENV) {
        Some(v) if !v.is_empty() => absolute(Path::new(&v)),
        _ => workspace_root().join("target").join("peers-venv"),
    }
}

/// The Python interpreter inside a virtual environment.
pub fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// `cargo xtask peers-setup [VENV] [--dry-run] [--python PYTHON]`.
pub fn setup(args: &[String]) -> Result {
    let mut dry_run = false;
    let mut venv: Option<PathBuf> = None;
    let mut python = String::from("python3");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dry-run" | "-n" => dry_run = true,
            "--python" => {
                python = it
                    .next()
                    .ok_or_else(|| {
                        Error::usage("`--python` needs a value, e.g. `--python python3.11`")
                    })?
                    .clone();
            }
            s if s.starts_with("--python=") => python = s["--python=".len()..].to_string(),
            s if s.starts_with('-') => {
                return Err(Error::usage(format!(
                    "unknown option `{s}` for `peers-setup`; see `cargo xtask help peers-setup`"
                )))
            }
            s => {
                if let Some(prev) = &venv {
                    return Err(Error::usage(format!(
                        "`peers-setup` takes one VENV path, got `{}` and `{s}`",
                        prev.display()
                    )));
                }
                venv = Some(PathBuf::from(s));
            }
        }
    }
    let venv = venv_dir(venv.as_deref());
    let py = venv_python(&venv);

    let mut commands = Vec::new();
    let exists = py.is_file();
    if !exists {
        let mut create = Command::new(&python);
        create.arg("-m").arg("venv").arg(&venv);
        commands.push(create);
    }
    let mut pip_up = Command::new(&py);
    pip_up.args(["-m", "pip", "install", "--upgrade", "pip"]);
    commands.push(pip_up);
    let mut install = Command::new(&py);
    install.args(["-m", "pip", "install"]).args(PACKAGES);
    commands.push(install);

    if dry_run {
        println!("# peers-setup --dry-run: would run");
        if exists {
            println!(
                "# (virtual environment {} exists; not recreated)",
                venv.display()
            );
        }
        for c in &commands {
            println!("{}", display_command(c));
        }
        return Ok(());
    }
    if exists {
        eprintln!(
            "virtual environment {} exists; installing/updating packages in it",
            venv.display()
        );
    }
    for c in &mut commands {
        run(c)?;
    }
    eprintln!(
        "peers environment ready: {}\nrun `cargo xtask bench W1 --peers` to use it{}",
        venv.display(),
        if venv == venv_dir(None) {
            String::new()
        } else {
            format!(" (with {VENV_ENV}={} or --venv)", venv.display())
        }
    );
    Ok(())
}
