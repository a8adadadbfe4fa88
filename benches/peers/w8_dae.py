#!/usr/bin/env python
"""Peer benchmark for workload W8 (index-1 DAEs), as `cargo xtask bench W8 --peers` calls it.

The workload and the peers' side are defined in the shared peer script `w8_dae.py` (in the folder named by
$SCIML_SHARED_PEERS, by default `../shared/peers` beside the workspace): `robertson_dae` (t in [0, 1e5]),
`pendulum` (index-1 form, t in [0, 10], against the exact pendulum) and `akzo` (IVP test set Chemical Akzo
Nobel, t in [0, 180], published reference), all at rtol 1e-6, atol 1e-10. This script selects a problem and a
system by one name, PROBLEM:SYSTEM, runs the shared script in a child process and prints its JSON line with
`error_vs_reference` (the largest absolute error over the components) added for the harness's table.

Usage:  python w8_dae.py --system PROBLEM:SYSTEM [--threads 1|default] [extra options for the shared script]
        e.g. --system robertson_dae:casadi_idas, pendulum:pydiffsol_bdf, akzo:sksundae_ida
Prints one JSON line; a failure prints one JSON line with `failed` and exits with status 1.
"""
import json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SCIML_SHARED_PEERS") or os.path.join(HERE, "..", "..", "..", "shared", "peers")
PROBLEMS = ("robertson_dae", "pendulum", "akzo")


def fail(msg, **extra):
    print(json.dumps(dict(workload="W8", failed=msg, median_s=None, **extra)))
    sys.exit(1)


def main(argv):
    if "--system" not in argv or argv.index("--system") + 1 >= len(argv):
        fail("usage: w8_dae.py --system PROBLEM:SYSTEM [--threads 1|default] [...]")
    i = argv.index("--system")
    problem, _, system = argv[i + 1].partition(":")
    if problem not in PROBLEMS or not system:
        fail(f"--system must be PROBLEM:SYSTEM with PROBLEM one of {', '.join(PROBLEMS)}; got {argv[i + 1]!r}")
    script = os.path.join(SHARED, "w8_dae.py")
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
    row["error_vs_reference"] = row.get("max_abs_error")
    row["error_kind"] = "largest absolute error over the components"
    if "nfe" not in row and "steps" not in row and "accepted_steps" in row:
        row["steps"] = row["accepted_steps"]
    print(json.dumps(row))
    sys.exit(child.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
