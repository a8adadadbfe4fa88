#!/usr/bin/env python
"""Peer benchmark for workload W7 (delay differential equations), as `cargo xtask bench W7 --peers` calls it.

The workload and the peers' side are defined in the shared peer script `w7_dde.py` (in the folder named by
$SCIML_SHARED_PEERS, by default `../shared/peers` beside the workspace): `linear` (u'(t) = -u(t-1), exact
solution, rtol 1e-8, atol 1e-10), `mackey_glass` (t in [0, 500], rtol 1e-6, atol 1e-9) and `neural` (one
forward + backward of a neural DDE, batch 64, float32). This script selects a problem and a system by one
name, PROBLEM:SYSTEM, runs the shared script in a child process and prints its JSON line with the keys the
harness reads added: `error_vs_reference` (|u(t1) - reference| for the solves; for `neural` the gradient's
relative error against the shared script's float64 reference) and, for `neural`, `final_loss`.

Usage:  python w7_dde.py --system PROBLEM:SYSTEM [--threads 1|default] [extra options for the shared script]
        e.g. --system linear:jitcdde_bs3, mackey_glass:torchdde_dopri5, neural:torchdde_rk4_backprop
Prints one JSON line; a failure prints one JSON line with `failed` and exits with status 1.
"""
import json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SCIML_SHARED_PEERS") or os.path.join(HERE, "..", "..", "..", "shared", "peers")
PROBLEMS = ("linear", "mackey_glass", "neural")


def fail(msg, **extra):
    print(json.dumps(dict(workload="W7", failed=msg, median_s=None, **extra)))
    sys.exit(1)


def main(argv):
    if "--system" not in argv or argv.index("--system") + 1 >= len(argv):
        fail("usage: w7_dde.py --system PROBLEM:SYSTEM [--threads 1|default] [...]")
    i = argv.index("--system")
    problem, _, system = argv[i + 1].partition(":")
    if problem not in PROBLEMS or not system:
        fail(f"--system must be PROBLEM:SYSTEM with PROBLEM one of {', '.join(PROBLEMS)}; got {argv[i + 1]!r}")
    script = os.path.join(SHARED, "w7_dde.py")
    if not os.path.isfile(script):
        fail(f"shared peer script {script} is missing; set SCIML_SHARED_PEERS to the folder holding it")
    rest = argv[:i] + argv[i + 2:]
    child = subprocess.run([sys.executable, script, "--problem", problem, "--system", system] + rest,
                           stdout=subprocess.PIPE, text=True)
    lines = [l for l in child.stdout.splitlines() if l.strip().startswith("{")]
    if not lines:
        fail(f"shared script printed no JSON line (exit status {child.returncode})", problem=problem)
    row = json.loads(lines[-1])
    row["problem"] = problem
    if problem == "neural":
        row["final_loss"] = row.get("loss")
        if isinstance(row.get("nfe_forward"), int) and isinstance(row.get("nfe_backward"), int):
            row["nfe"] = row["nfe_forward"] + row["nfe_backward"]
        row["error_vs_reference"] = row.get("grad_rel_error_vs_f64_rk4_dt0p01")
        row["error_kind"] = "gradient, relative to the shared script's float64 RK4 dt 0.01 reference"
    else:
        row["error_vs_reference"] = row.get("abs_error_vs_reference")
        row["error_kind"] = "|u(t1) - reference|"
    print(json.dumps(row))
    sys.exit(child.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
