//! Errors, paths and child processes shared by all tasks.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A task failure: a message for the user and the exit code `cargo xtask` ends with.
#[derive(Debug)]
pub struct Error {
    /// What went wrong, in one or a few lines.
    pub message: String,
    /// Exit code of the xtask process (a failing child's own code where it had one).
    pub code: u8,
}

impl Error {
    /// An error with exit code 1.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            code: 1,
        }
    }

    /// A usage error (bad arguments), exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            code: 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Result type of every task.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// The workspace root (the directory above `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo binary that launched us (`$CARGO`), or `cargo` from `PATH`.
pub fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A `cargo` command running in the workspace root.
pub fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(cargo_bin());
    cmd.args(args).current_dir(workspace_root());
    cmd
}

/// Renders a command line for display, quoting arguments that contain spaces or quotes.
pub fn display_command(cmd: &Command) -> String {
    let mut parts = vec![quote(&cmd.get_program().to_string_lossy())];
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

fn quote(s: &str) -> String {
    if s.is_empty() || s.contains([' ', '"', '\'', '[', ']', '$', '*']) {
        format!("'{}'", s.replace('\'', r"'\''"))
    } else {
        s.to_string()
    }
}

/// Short form of a command for display: `cargo` instead of the full `$CARGO` path.
fn display_short(cmd: &Command) -> String {
    let full = display_command(cmd);
    let program = quote(&cmd.get_program().to_string_lossy());
    if cmd.get_program() == cargo_bin() {
        format!("cargo{}", &full[program.len()..])
    } else {
        full
    }
}

fn status_error(what: &str, status: ExitStatus) -> Error {
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .filter(|&c| c != 0);
    let how = match status.code() {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    };
    Error {
        message: format!("`{what}` failed ({how})"),
        code: code.unwrap_or(1),
    }
}

/// Runs `cmd` with inherited stdio after echoing it; a non-zero exit is an error.
pub fn run(cmd: &mut Command) -> Result {
    let shown = display_short(cmd);
    eprintln!("==> {shown}");
    let status = cmd.status().map_err(|e| spawn_error(&shown, cmd, &e))?;
    if status.success() {
        Ok(())
    } else {
        Err(status_error(&shown, status))
    }
}

/// Runs `cmd` capturing stdout (stderr is inherited, so build progress stays visible).
pub fn run_capture_stdout(cmd: &mut Command) -> Result<String> {
    let shown = display_short(cmd);
    eprintln!("==> {shown}");
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| spawn_error(&shown, cmd, &e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut err = status_error(&shown, out.status);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !stdout.trim().is_empty() {
            err.message
                .push_str(&format!("\nits stdout was:\n{}", tail(&stdout, 20)));
        }
        Err(err)
    }
}

/// Output of a child whose stdout and stderr were both captured.
pub struct Captured {
    /// Whether the child exited with status 0.
    pub success: bool,
    /// How it ended, for messages: "exit code 1" or "killed by a signal".
    pub how: String,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `cmd` capturing both streams; failing to start it is an error, a non-zero exit is not.
pub fn run_capture_all(cmd: &mut Command) -> Result<Captured> {
    let shown = display_short(cmd);
    eprintln!("==> {shown}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(&shown, cmd, &e))?;
    Ok(Captured {
        success: out.status.success(),
        how: match out.status.code() {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".to_string(),
        },
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn spawn_error(shown: &str, cmd: &Command, e: &std::io::Error) -> Error {
    let program = cmd.get_program().to_string_lossy();
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::new(format!("cannot run `{shown}`: `{program}` was not found"))
    } else {
        Error::new(format!("cannot run `{shown}`: {e}"))
    }
}

/// The last `n` non-empty lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether an executable named `name` is on `PATH`.
pub fn on_path(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(name);
        candidate.is_file() || (cfg!(windows) && candidate.with_extension("exe").is_file())
    })
}

/// Makes a user-given path absolute against the current directory (children run elsewhere).
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
