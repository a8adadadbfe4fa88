//! `cargo xtask bench WORKLOAD [--peers] [--threads 1|default]`: run our example for a workload
//! and, optionally, the Python peers and the native (Rust) peers; write
//! `target/bench/<WORKLOAD>.json` and print a table.

use crate::peers::{venv_dir, venv_python, VENV_ENV};
use crate::util::{
    cargo, run, run_capture_all, run_capture_stdout, tail, workspace_root, Error, Result,
};
use crate::workloads::{self, NativePeer, Outcome, Workload};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::Command;

/// Thread-pool variables pinned to 1 in every child when running single-threaded.
const THREAD_VARS: &[&str] = &[
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
];

/// Relative difference of a peer's final state from ours above which the table flags it.
const AGREEMENT_RTOL: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    One,
    Default,
}

impl Threads {
    fn as_str(self) -> &'static str {
        match self {
            Threads::One => "1",
            Threads::Default => "default",
        }
    }

    fn apply(self, cmd: &mut Command) {
        if self == Threads::One {
            for var in THREAD_VARS {
                cmd.env(var, "1");
            }
        }
    }
}

struct Options {
    workload: &'static Workload,
    peers: bool,
    only: Vec<String>,
    threads: Threads,
    venv: Option<PathBuf>,
}

impl Options {
    /// Whether the peer `name` is to run (with `--peers`): every peer, or those `--peer` names.
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

fn value_of<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a String> {
    it.next().ok_or_else(|| {
        Error::usage(format!(
            "`{flag}` needs a value; see `cargo xtask help bench`"
        ))
    })
}

fn parse(args: &[String]) -> Result<Options> {
    let mut workload = None;
    let mut peers = false;
    let mut only = Vec::new();
    let mut threads = Threads::One;
    let mut venv = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let value = |it: &mut std::slice::Iter<'_, String>| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => value_of(flag, it).cloned(),
            }
        };
        match flag {
            "--peers" => peers = true,
            "--peer" => {
                peers = true;
                only.extend(value(&mut it)?.split(',').map(str::to_string));
            }
            "--threads" => {
                threads = match value(&mut it)?.as_str() {
                    "1" => Threads::One,
                    "default" => Threads::Default,
                    other => {
                        return Err(Error::usage(format!(
                            "`--threads` is `1` or `default`, not `{other}`"
                        )))
                    }
                }
            }
            "--venv" => venv = Some(PathBuf::from(value(&mut it)?)),
            s if s.starts_with('-') => {
                return Err(Error::usage(format!(
                    "unknown option `{s}` for `bench`; see `cargo xtask help bench`"
                )))
            }
            name => {
                if workload.is_some() {
                    return Err(Error::usage(format!(
                        "`bench` takes one workload, got a second one: `{name}`"
                    )));
                }
                workload = Some(workloads::find(name)?);
            }
        }
    }
    let workload = workload.ok_or_else(|| {
        Error::usage(format!(
            "`bench` needs a workload, e.g. `cargo xtask bench W1`; known workloads:\n{}",
            workloads::list()
        ))
    })?;
    for s in &only {
        if !workload.has_peer(s) {
            return Err(Error::usage(format!(
                "`{s}` is not a peer of {}; its peers are: {}",
                workload.name,
                workload.peer_names().join(", ")
            )));
        }
    }
    Ok(Options {
        workload,
        peers,
        only,
        threads,
        venv,
    })
}

/// Every line of `stdout` that parses as a JSON object, in order.
fn json_objects(stdout: &str) -> Vec<Map<String, Value>> {
    stdout
        .lines()
        .filter_map(|line| match serde_json::from_str(line.trim()) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        })
        .collect()
}

/// The last line of `stdout` that parses as a JSON object.
fn last_json_object(stdout: &str) -> Option<Map<String, Value>> {
    json_objects(stdout).pop()
}

/// Checks that a row has what the table needs; returns a description of what is wrong.
fn check_row(row: &Map<String, Value>, outcome: Outcome) -> std::result::Result<(), String> {
    match row.get("median_s") {
        Some(v) if v.as_f64().is_some_and(|x| x.is_finite() && x > 0.0) => {}
        _ => return Err("its JSON has no positive number `median_s`".into()),
    }
    let state_ok =
        matches!(row.get("final_state"), Some(Value::Array(a)) if a.iter().all(Value::is_number));
    let loss_ok = row.get("final_loss").is_some_and(Value::is_number);
    match outcome {
        Outcome::FinalState if state_ok => Ok(()),
        Outcome::FinalState => Err("its JSON has no numeric array `final_state`".into()),
        Outcome::FinalLoss if loss_ok => Ok(()),
        Outcome::FinalLoss => Err("its JSON has no number `final_loss`".into()),
        Outcome::StateOrLoss if state_ok || loss_ok => Ok(()),
        Outcome::StateOrLoss => Err(
            "its JSON has neither a numeric array `final_state` nor a number `final_loss`".into(),
        ),
    }
}

/// Runs our example; every JSON line it prints is a row (the first is the reference for ratios).
fn run_ours(opts: &Options) -> Result<Vec<Map<String, Value>>> {
    let w = opts.workload;
    let mut cmd = cargo(["run", "--release", "-p", w.package, "--example", w.example]);
    opts.threads.apply(&mut cmd);
    let stdout = run_capture_stdout(&mut cmd)?;
    let mut rows = json_objects(&stdout);
    if rows.is_empty() {
        return Err(Error::new(format!(
            "example `{}` printed no JSON line; its output was:\n{}",
            w.example,
            tail(&stdout, 20)
        )));
    }
    for (i, row) in rows.iter_mut().enumerate() {
        check_row(row, w.outcome).map_err(|e| {
            Error::new(format!("example `{}`, JSON line {}: {e}", w.example, i + 1))
        })?;
        row.entry("system")
            .or_insert_with(|| json!(format!("sciml-rs {}", w.example)));
    }
    Ok(rows)
}

fn error_row(system: &str, error: String) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("system".into(), json!(system));
    row.insert("error".into(), json!(error));
    row
}

fn run_peer(opts: &Options, python: &std::path::Path, system: &str) -> Map<String, Value> {
    let script = workspace_root().join(opts.workload.peer_script);
    if !script.is_file() {
        return error_row(
            system,
            format!("peer script {} is missing", script.display()),
        );
    }
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--system", system, "--threads", opts.threads.as_str()])
        .args(opts.workload.peer_args)
        .current_dir(workspace_root());
    opts.threads.apply(&mut cmd);
    let out = match run_capture_all(&mut cmd) {
        Ok(out) => out,
        Err(e) => return error_row(system, e.message),
    };
    if !out.success {
        let last = tail(&out.stderr, 1);
        let mut row = error_row(system, format!("peer script failed ({}): {last}", out.how));
        row.insert("stderr_tail".into(), json!(tail(&out.stderr, 20)));
        return row;
    }
    let Some(mut row) = last_json_object(&out.stdout) else {
        return error_row(
            system,
            format!("peer printed no JSON line: {}", tail(&out.stdout, 3)),
        );
    };
    if let Err(e) = check_row(&row, opts.workload.outcome) {
        return error_row(system, format!("peer output unusable: {e}"));
    }
    row.insert("system".into(), json!(system));
    row
}

/// The rows a native peer printed: every JSON line is a row and must name its `system`; a row
/// missing what the table needs becomes an error row. No row at all is one error row.
fn native_peer_rows(peer: &str, stdout: &str, outcome: Outcome) -> Vec<Map<String, Value>> {
    let rows: Vec<_> = json_objects(stdout)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let system = match row.get("system").and_then(Value::as_str) {
                Some(s) => s.to_string(),
                None => format!("{peer} (row {})", i + 1),
            };
            match check_row(&row, outcome) {
                Ok(()) if row.contains_key("system") => row,
                Ok(()) => error_row(
                    &system,
                    "peer output unusable: its JSON has no `system`".into(),
                ),
                Err(e) => error_row(&system, format!("peer output unusable: {e}")),
            }
        })
        .collect();
    if rows.is_empty() {
        vec![error_row(
            peer,
            format!("peer printed no JSON line: {}", tail(stdout, 3)),
        )]
    } else {
        rows
    }
}

/// Builds a native peer (`cargo build --release --manifest-path ...`, its output shown: the first
/// build compiles the peer's dependencies) and runs it; a build or run failure is an error row.
fn run_native_peer(opts: &Options, peer: &NativePeer) -> Vec<Map<String, Value>> {
    let manifest = workspace_root().join(peer.manifest);
    if !manifest.is_file() {
        return vec![error_row(
            peer.name,
            format!("native peer manifest {} is missing", manifest.display()),
        )];
    }
    eprintln!(
        "building the native peer {} ({}; the first build takes a few minutes)",
        peer.name, peer.manifest
    );
    let mut build = cargo(["build", "--release", "--manifest-path"]);
    build.arg(&manifest);
    if let Err(e) = run(&mut build) {
        return vec![error_row(
            peer.name,
            format!(
                "cannot build the native peer ({}); its rows are left out; build it by hand with \
                 `cargo build --release --manifest-path {}` to see why",
                e.message, peer.manifest
            ),
        )];
    }
    let mut cmd = cargo(["run", "--release", "--quiet", "--manifest-path"]);
    cmd.arg(&manifest).arg("--").args(peer.args);
    opts.threads.apply(&mut cmd);
    let out = match run_capture_all(&mut cmd) {
        Ok(out) => out,
        Err(e) => return vec![error_row(peer.name, e.message)],
    };
    if !out.success {
        let last = tail(&out.stderr, 1);
        let mut row = error_row(
            peer.name,
            format!("native peer failed ({}): {last}", out.how),
        );
        row.insert("stderr_tail".into(), json!(tail(&out.stderr, 20)));
        return vec![row];
    }
    native_peer_rows(peer.name, &out.stdout, opts.workload.outcome)
}

fn f64_field(row: &Map<String, Value>, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

fn state(row: &Map<String, Value>) -> Option<Vec<f64>> {
    match row.get("final_state") {
        Some(Value::Array(a)) => a.iter().map(Value::as_f64).collect(),
        _ => None,
    }
}

/// Largest componentwise relative difference of `a` from the reference `b`.
fn max_rel_diff(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / y.abs().max(f64::MIN_POSITIVE))
            .fold(0.0, f64::max),
    )
}

/// Our row that `row` is compared with: the first of ours (`rows[..n_ours]`) with the same
/// `problem` (rows without one match rows without one), else our first row.
fn our_reference(rows: &[Map<String, Value>], n_ours: usize, row: &Map<String, Value>) -> usize {
    let problem = row.get("problem");
    rows[..n_ours.min(rows.len())]
        .iter()
        .position(|r| r.get("problem") == problem)
        .unwrap_or(0)
}

/// Derived fields: each row's ratio to our row of the same problem, and how far its final state
/// is from that row's.
fn derive_ratios(rows: &mut [Map<String, Value>], n_ours: usize) {
    for i in 0..rows.len() {
        if rows[i].contains_key("error") {
            continue;
        }
        let r = our_reference(rows, n_ours, &rows[i]);
        let (our_median, our_state) = (f64_field(&rows[r], "median_s"), state(&rows[r]));
        let row = &mut rows[i];
        if let (Some(m), Some(o)) = (f64_field(row, "median_s"), our_median) {
            row.insert("ratio_vs_ours".into(), json!(m / o));
        }
        if let (Some(a), Some(b)) = (state(row), our_state.as_ref()) {
            if let Some(d) = max_rel_diff(&a, b) {
                row.insert("final_state_rel_diff_vs_ours".into(), json!(d));
            }
        }
    }
}

/// A duration in seconds, human-readable with three significant digits.
pub fn format_seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".into();
    }
    let (v, unit) = if s < 1e-6 {
        (s * 1e9, "ns")
    } else if s < 1e-3 {
        (s * 1e6, "µs")
    } else if s < 1.0 {
        (s * 1e3, "ms")
    } else {
        (s, "s")
    };
    format!("{} {unit}", three_sig(v))
}

fn three_sig(v: f64) -> String {
    if v >= 99.95 {
        format!("{v:.0}")
    } else if v >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A number with seven significant digits, fixed-point where that reads well.
fn format_component(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        // a in [1e-3, 1e5): log10 in [-3, 5), so the cast is in range.
        let decimals = (6 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.6e}")
    }
}

/// Components shown in the table; a longer state (W2b's 2048 values) shows its first ones and
/// its length (the JSON report keeps every value).
const SHOWN_COMPONENTS: usize = 4;

fn format_state(v: &[f64]) -> String {
    let parts: Vec<String> = v
        .iter()
        .take(SHOWN_COMPONENTS)
        .map(|&x| format_component(x))
        .collect();
    if v.len() > SHOWN_COMPONENTS {
        format!("[{}, … ({} values)]", parts.join(", "), v.len())
    } else {
        format!("[{}]", parts.join(", "))
    }
}

/// A count, without a fractional part when it has none (a median of counts may be `56.0`).
fn format_count(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x}"),
        None => "n/a".into(),
    }
}

fn markdown_table(w: &Workload, rows: &[Map<String, Value>]) -> String {
    let ours = rows.first().and_then(|r| f64_field(r, "median_s"));
    // Optional columns: shown when some row that ran has the field.
    let has = |key: &str| {
        rows.iter()
            .any(|r| !r.contains_key("error") && r.get(key).is_some_and(|v| !v.is_null()))
    };
    let show_problem = has("problem");
    let show_state = has("final_state");
    let show_loss = has("final_loss");
    let show_iters = has("iterations");
    let show_error = has("error_vs_reference");
    let mut header = vec!["system"];
    let mut align = vec!["---"];
    if show_problem {
        header.push("problem");
        align.push("---");
    }
    header.extend(["median", "RHS evals"]);
    align.extend(["---:", "---:"]);
    if show_state {
        header.push("final state");
        align.push("---");
    }
    if show_loss {
        header.push("final loss");
        align.push("---:");
    }
    if show_iters {
        header.push("iterations");
        align.push("---:");
    }
    if show_error {
        header.push("error");
        align.push("---:");
    }
    header.push("ratio");
    align.push("---:");
    let mut lines = vec![
        format!("| {} |", header.join(" | ")),
        format!("|{}|", align.join("|")),
    ];
    let mut notes = Vec::new();
    for row in rows {
        let system = row.get("system").and_then(Value::as_str).unwrap_or("?");
        if let Some(err) = row.get("error").and_then(Value::as_str) {
            let dashes = vec!["–"; header.len() - 2].join(" | ");
            lines.push(format!("| {system} | error | {dashes} |"));
            notes.push(format!("{system}: {err}"));
            continue;
        }
        let median = f64_field(row, "median_s");
        let mut cells = vec![system.to_string()];
        if show_problem {
            cells.push(
                row.get("problem")
                    .and_then(Value::as_str)
                    .unwrap_or("–")
                    .to_string(),
            );
        }
        cells.push(median.map_or_else(|| "?".into(), format_seconds));
        cells.push(row.get("nfe").map_or_else(|| "n/a".into(), format_count));
        if show_state {
            cells.push(state(row).map_or_else(|| "–".into(), |v| format_state(&v)));
        }
        if show_loss {
            cells.push(f64_field(row, "final_loss").map_or_else(|| "–".into(), format_component));
        }
        if show_iters {
            cells.push(
                row.get("iterations")
                    .map_or_else(|| "–".into(), format_count),
            );
        }
        if show_error {
            cells.push(
                f64_field(row, "error_vs_reference")
                    .map_or_else(|| "–".into(), |e| format!("{e:.1e}")),
            );
        }
        // The ratio derived per problem when the report was built; else against the first row.
        cells.push(match (f64_field(row, "ratio_vs_ours"), median, ours) {
            (Some(r), _, _) => three_sig(r),
            (None, Some(m), Some(o)) => three_sig(m / o),
            _ => "?".into(),
        });
        lines.push(format!("| {} |", cells.join(" | ")));
    }
    let mut out = lines.join("\n");
    out.push_str(&format!(
        "\n\nmedian and RHS evals are per {}; ratio = median / our (first row's) median, \
         per problem where rows name one (how many times faster we are; ours = 1.00)",
        w.per
    ));
    let diffs: Vec<String> = rows
        .iter()
        .skip(1)
        .filter_map(|r| {
            let d = f64_field(r, "final_state_rel_diff_vs_ours")?;
            let name = r.get("system").and_then(Value::as_str).unwrap_or("?");
            let flag = if d > AGREEMENT_RTOL { " (!)" } else { "" };
            Some(format!("{name} {d:.1e}{flag}"))
        })
        .collect();
    if !diffs.is_empty() {
        out.push_str(&format!(
            "\nfinal state, max relative difference from ours: {}",
            diffs.join(", ")
        ));
        if diffs.iter().any(|d| d.ends_with("(!)")) {
            out.push_str(&format!(
                "\n(!) = differs by more than {AGREEMENT_RTOL:.0e}"
            ));
        }
    }
    for n in notes {
        out.push_str(&format!("\nerror: {n}"));
    }
    out
}

/// Keys written first in each row of the report, in this order; the rest follow alphabetically.
const ROW_KEY_ORDER: &[&str] = &[
    "system",
    "problem",
    "error",
    "median_s",
    "nfe",
    "final_state",
    "final_loss",
    "error_vs_reference",
    "loss_at_300",
    "iterations",
    "ratio_vs_ours",
    "final_state_rel_diff_vs_ours",
    "version",
];

/// The JSON report, with keys in a readable order (serde_json's `Map` sorts them) and
/// one field per line.
fn report_json(w: &Workload, threads: Threads, rows: &[Map<String, Value>]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut keys: Vec<&String> = Vec::with_capacity(row.len());
            for k in ROW_KEY_ORDER {
                if let Some((key, _)) = row.get_key_value(*k) {
                    keys.push(key);
                }
            }
            keys.extend(row.keys().filter(|k| !ROW_KEY_ORDER.contains(&k.as_str())));
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("      {}: {}", json!(k), row[k.as_str()]))
                .collect();
            format!("    {{\n{}\n    }}", fields.join(",\n"))
        })
        .collect();
    format!(
        "{{\n  \"workload\": {},\n  \"description\": {},\n  \"threads\": {},\n  \"rows\": [\n{}\n  ]\n}}\n",
        json!(w.name),
        json!(w.description),
        json!(threads.as_str()),
        rows.join(",\n")
    )
}

/// `cargo xtask bench ...`.
pub fn bench(args: &[String]) -> Result {
    let opts = parse(args)?;
    let w = opts.workload;
    eprintln!(
        "bench {}: {} (threads: {})",
        w.name,
        w.description,
        opts.threads.as_str()
    );

    let mut rows = run_ours(&opts)?;
    let n_ours = rows.len();

    if opts.peers && w.peer_systems.iter().any(|s| opts.wants(s)) {
        let venv = venv_dir(opts.venv.as_deref());
        let python = venv_python(&venv);
        let systems: Vec<&str> = w
            .peer_systems
            .iter()
            .copied()
            .filter(|s| opts.wants(s))
            .collect();
        for system in systems {
            let row = if python.is_file() {
                run_peer(&opts, &python, system)
            } else {
                error_row(
                    system,
                    format!(
                        "no Python at {}; create the peers environment with `cargo xtask peers-setup` \
                         (or point --venv / {VENV_ENV} at one)",
                        python.display()
                    ),
                )
            };
            if let Some(e) = row.get("error").and_then(Value::as_str) {
                eprintln!("warning: {system}: {e}");
            }
            rows.push(row);
        }
    }
    if opts.peers {
        for peer in w.native_peers.iter().filter(|p| opts.wants(p.name)) {
            for row in run_native_peer(&opts, peer) {
                if let Some(e) = row.get("error").and_then(Value::as_str) {
                    let system = row.get("system").and_then(Value::as_str).unwrap_or("?");
                    eprintln!("warning: {system}: {e}");
                }
                rows.push(row);
            }
        }
    }

    derive_ratios(&mut rows, n_ours);

    let dir = workspace_root().join("target").join("bench");
    let path = dir.join(format!("{}.json", w.name));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    let text = report_json(w, opts.threads, &rows);
    std::fs::write(&path, text)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;

    println!("\n{} — {}\n", w.name, w.description);
    println!("{}", markdown_table(w, &rows));
    eprintln!("\nwrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn seconds_are_human_readable() {
        assert_eq!(format_seconds(1.6e-4), "160 µs");
        assert_eq!(format_seconds(5.6e-3), "5.60 ms");
        assert_eq!(format_seconds(7.02e-2), "70.2 ms");
        assert_eq!(format_seconds(2.5), "2.50 s");
        assert_eq!(format_seconds(3e-8), "30.0 ns");
    }

    #[test]
    fn parses_options() {
        let o = parse(&args(&["w1", "--peers", "--threads=default"])).expect("valid");
        assert_eq!(o.workload.name, "W1");
        assert!(o.peers);
        assert_eq!(o.threads, Threads::Default);
        assert!(parse(&args(&["W9"])).is_err());
        assert!(parse(&args(&["W1", "--threads", "4"])).is_err());
        assert!(parse(&args(&["W1", "--threads"])).is_err());
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["W1", "--peer", "nope"])).is_err());
    }

    #[test]
    fn report_is_valid_json_with_ours_first() {
        let w = workloads::find("W1").expect("W1");
        let mut ours = Map::new();
        ours.insert("system".into(), json!("ours"));
        ours.insert("median_s".into(), json!(1e-5));
        ours.insert("final_state".into(), json!([1.0, 2.0]));
        let text = report_json(
            w,
            Threads::One,
            &[ours, error_row("peer", "boom \"x\"".into())],
        );
        let v: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["workload"], json!("W1"));
        assert_eq!(v["rows"][0]["system"], json!("ours"));
        assert_eq!(v["rows"][1]["error"], json!("boom \"x\""));
        assert!(text.find("\"system\"") < text.find("\"median_s\""));
    }

    #[test]
    fn finds_last_json_line() {
        let m = last_json_object("noise\n{\"a\": 1}\n{\"median_s\": 2}\ntrailing\n").expect("json");
        assert_eq!(m.get("median_s").and_then(Value::as_f64), Some(2.0));
        assert!(last_json_object("nothing here").is_none());
    }

    #[test]
    fn our_example_may_print_several_rows() {
        let rows = json_objects("building\n{\"system\": \"a\"}\n[1]\n{\"system\": \"b\"}\n");
        let names: Vec<_> = rows.iter().map(|r| r["system"].clone()).collect();
        assert_eq!(names, [json!("a"), json!("b")]);
    }

    #[test]
    fn rows_need_the_workloads_outcome() {
        let row = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let loss = row(json!({"median_s": 0.01, "final_loss": 0.5}));
        let state = row(json!({"median_s": 0.01, "final_state": [1.0, 2.0]}));
        assert!(check_row(&loss, Outcome::FinalLoss).is_ok());
        assert!(check_row(&loss, Outcome::FinalState).is_err());
        assert!(check_row(&state, Outcome::FinalState).is_ok());
        assert!(check_row(&state, Outcome::FinalLoss).is_err());
        let no_median = row(json!({"final_loss": 0.5}));
        assert!(check_row(&no_median, Outcome::FinalLoss).is_err());
    }

    #[test]
    fn table_shows_final_loss_and_iterations_for_training() {
        let w = workloads::find("W3").expect("W3");
        let row = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let rows = [
            row(
                json!({"system": "ours", "median_s": 0.002, "nfe": 150, "final_loss": 0.0123,
                       "iterations": 300}),
            ),
            row(
                json!({"system": "peer", "median_s": 0.004, "nfe": 56.0, "final_loss": 0.5,
                       "iterations": 120}),
            ),
            error_row("broken", "boom".into()),
        ];
        let table = markdown_table(w, &rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "| system | median | RHS evals | final loss | iterations | ratio |"
        );
        assert_eq!(
            lines[2],
            "| ours | 2.00 ms | 150 | 0.01230000 | 300 | 1.00 |"
        );
        assert_eq!(lines[3], "| peer | 4.00 ms | 56 | 0.5000000 | 120 | 2.00 |");
        assert_eq!(lines[4], "| broken | error | – | – | – | – |");
        assert!(table.contains("per training iteration"), "{table}");
        assert!(!table.contains("final state"), "{table}");
    }

    #[test]
    fn table_shows_final_state_for_solves() {
        let w = workloads::find("W1").expect("W1");
        let mut ours = Map::new();
        ours.insert("system".into(), json!("ours"));
        ours.insert("median_s".into(), json!(1e-5));
        ours.insert("nfe".into(), json!(300));
        ours.insert("final_state".into(), json!([1.0, 2.0]));
        let table = markdown_table(w, &[ours]);
        assert!(
            table.starts_with("| system | median | RHS evals | final state | ratio |"),
            "{table}"
        );
        assert!(table.contains("| ours | 10.0 µs | 300 | [1.000000, 2.000000] | 1.00 |"));
    }

    #[test]
    fn long_states_are_shortened_in_the_table() {
        assert_eq!(format_state(&[1.0, 2.0]), "[1.000000, 2.000000]");
        let long: Vec<f64> = (0..2048).map(f64::from).collect();
        assert_eq!(
            format_state(&long),
            "[0, 1.000000, 2.000000, 3.000000, … (2048 values)]"
        );
    }

    #[test]
    fn w2_workloads_are_registered() {
        let w = workloads::find("w2").expect("W2");
        assert_eq!(
            (w.example, w.outcome),
            ("bench_w2_robertson", Outcome::FinalState)
        );
        assert!(w.peer_systems.contains(&"pydiffsol_bdf"));
        let w = workloads::find("W2B").expect("W2b");
        assert_eq!(w.peer_args, ["--repeats", "5"]);
    }

    #[test]
    fn colloc_workload_races_two_trainings_without_peers() {
        let w = workloads::find("colloc").expect("COLLOC");
        assert_eq!(
            (w.example, w.outcome),
            ("bench_colloc_spiral", Outcome::FinalLoss)
        );
        assert!(w.peer_names().is_empty());
        assert!(parse(&args(&["COLLOC", "--peer", "torchdiffeq_direct"])).is_err());
    }

    #[test]
    fn examples_are_named_for_what_they_run() {
        for w in workloads::WORKLOADS {
            let prefix = format!("bench_{}_", w.name.to_ascii_lowercase());
            assert!(w.example.starts_with(&prefix), "{}: {}", w.name, w.example);
            let path = workspace_root()
                .join("crates")
                .join(w.package)
                .join("examples")
                .join(format!("{}.rs", w.example));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }

    #[test]
    fn diffsol_native_peer_is_registered_for_w1_and_w2() {
        for name in ["W1", "W2"] {
            let w = workloads::find(name).expect("workload");
            let peer = &w.native_peers[0];
            assert_eq!(peer.name, "diffsol_rs");
            assert_eq!(peer.args, [name.to_ascii_lowercase()]);
            assert!(workspace_root().join(peer.manifest).is_file());
            assert!(w.has_peer("diffsol_rs") && w.peer_names().contains(&"diffsol_rs"));
        }
        let o = parse(&args(&["W2", "--peer", "diffsol_rs"])).expect("valid");
        assert!(o.peers && o.wants("diffsol_rs") && !o.wants("scipy_BDF"));
        assert!(parse(&args(&["W3", "--peer", "diffsol_rs"])).is_err());
    }

    #[test]
    fn native_peer_rows_keep_their_systems() {
        let stdout = "\
{\"system\": \"diffsol bdf (Rust)\", \"median_s\": 1.5e-4, \"nfe\": 680, \"final_state\": [0.0178, 7.3e-8, 0.982]}
warning: noise
{\"system\": \"diffsol esdirk34 (Rust)\", \"median_s\": 4e-4, \"nfe\": 3141}
{\"median_s\": 4e-4, \"final_state\": [1.0]}
";
        let rows = native_peer_rows("diffsol_rs", stdout, Outcome::FinalState);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["system"], json!("diffsol bdf (Rust)"));
        assert_eq!(rows[0]["nfe"], json!(680));
        assert!(!rows[0].contains_key("error"));
        assert_eq!(rows[1]["system"], json!("diffsol esdirk34 (Rust)"));
        assert!(rows[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("final_state")));
        assert_eq!(rows[2]["system"], json!("diffsol_rs (row 3)"));
        assert!(rows[2].contains_key("error"));
        let none = native_peer_rows("diffsol_rs", "error: cannot\n", Outcome::FinalState);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0]["system"], json!("diffsol_rs"));
        assert!(none[0].contains_key("error"));
    }

    #[test]
    fn w3_peers_parse() {
        let o = parse(&args(&["w3", "--peer", "diffrax_rca,torchdiffeq_adjoint"])).expect("valid");
        assert_eq!(o.workload.name, "W3");
        assert_eq!(o.workload.outcome, Outcome::FinalLoss);
        assert_eq!(o.only, ["diffrax_rca", "torchdiffeq_adjoint"]);
        assert!(parse(&args(&["W3", "--peer", "scipy_RK45"])).is_err());
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn w7_and_w8_are_registered_with_problem_named_peers() {
        let w7 = workloads::find("w7").expect("W7");
        assert_eq!(
            (w7.package, w7.example, w7.outcome),
            ("diffeqflux", "bench_w7_dde", Outcome::StateOrLoss)
        );
        let w8 = workloads::find("W8").expect("W8");
        assert_eq!(
            (w8.package, w8.example, w8.outcome),
            ("sciml-dae", "bench_w8_dae", Outcome::FinalState)
        );
        for (w, problems) in [
            (w7, &["linear", "mackey_glass", "neural"][..]),
            (w8, &["robertson_dae", "pendulum", "akzo"][..]),
        ] {
            assert!(workspace_root().join(w.peer_script).is_file());
            for system in w.peer_systems {
                let (problem, peer) = system.split_once(':').expect("PROBLEM:SYSTEM");
                assert!(problems.contains(&problem) && !peer.is_empty(), "{system}");
            }
            for problem in problems {
                assert!(
                    w.peer_systems.iter().any(|s| s.starts_with(problem)),
                    "{}: no peer for {problem}",
                    w.name
                );
            }
        }
        let o = parse(&args(&["W8", "--peer", "pendulum:casadi_idas"])).expect("valid");
        assert!(o.wants("pendulum:casadi_idas") && !o.wants("akzo:casadi_idas"));
        assert!(parse(&args(&["W7", "--peer", "jitcdde_bs3"])).is_err());
    }

    #[test]
    fn mixed_workloads_take_a_state_or_a_loss() {
        let loss = obj(json!({"median_s": 0.1, "final_loss": 0.5}));
        let state = obj(json!({"median_s": 0.1, "final_state": [1.0]}));
        let neither = obj(json!({"median_s": 0.1, "final_state": "x"}));
        assert!(check_row(&loss, Outcome::StateOrLoss).is_ok());
        assert!(check_row(&state, Outcome::StateOrLoss).is_ok());
        assert!(check_row(&neither, Outcome::StateOrLoss).is_err());
    }

    #[test]
    fn ratios_are_against_our_row_of_the_same_problem() {
        let mut rows = vec![
            obj(json!({"system": "ours a", "problem": "a", "median_s": 1.0, "final_state": [1.0]})),
            obj(
                json!({"system": "ours a2", "problem": "a", "median_s": 2.0, "final_state": [1.0]}),
            ),
            obj(json!({"system": "ours b", "problem": "b", "median_s": 0.01, "final_loss": 3.0})),
            obj(json!({"system": "peer b", "problem": "b", "median_s": 0.05, "final_loss": 3.0})),
            obj(
                json!({"system": "peer a", "problem": "a", "median_s": 4.0, "final_state": [1.5],
                       "error_vs_reference": 2.5e-4}),
            ),
            obj(json!({"system": "peer c", "problem": "c", "median_s": 3.0})),
            error_row("broken", "boom".into()),
        ];
        derive_ratios(&mut rows, 3);
        let ratio = |i: usize| f64_field(&rows[i], "ratio_vs_ours").expect("ratio");
        assert_eq!(ratio(1), 2.0);
        assert!((ratio(3) - 5.0).abs() < 1e-12);
        assert_eq!(ratio(4), 4.0);
        // A problem we have no row for is compared with our first row.
        assert_eq!(ratio(5), 3.0);
        assert_eq!(
            f64_field(&rows[4], "final_state_rel_diff_vs_ours"),
            Some(0.5)
        );
        assert!(!rows[6].contains_key("ratio_vs_ours"));
        let w = workloads::find("W7").expect("W7");
        let table = markdown_table(w, &rows);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("| system | problem | median | RHS evals |")
                && lines[0].ends_with("| error | ratio |"),
            "{table}"
        );
        assert!(lines[5].starts_with("| peer b | b | 50.0 ms |"), "{table}");
        assert!(lines[5].ends_with("| – | 5.00 |"), "{table}");
        assert!(lines[6].ends_with("| 2.5e-4 | 4.00 |"), "{table}");
    }

    #[test]
    fn unknown_workload_lists_known_ones() {
        let e = workloads::find("W42").expect_err("unknown");
        assert!(e.message.contains("W1"), "{}", e.message);
    }
}
