#!/usr/bin/env python3
"""Peer benchmark for workload W2b (large stiff system): the 2-D Brusselator on a 32 x 32 grid.

    u_t = B + u^2 v - (A + 1) u + alpha (u_xx + u_yy) + f(x, y, t)
    v_t = A u - u^2 v + alpha (v_xx + v_yy),          (x, y) in [0, 1)^2, periodic
    f = 5 where (x - 0.3)^2 + (y - 0.6)^2 <= 0.1^2 and t >= 1.1, else 0
    u(x, y, 0) = 22 (y (1 - y))^(3/2),  v(x, y, 0) = 27 (x (1 - x))^(3/2)

A = 3.4, B = 1, alpha = 10, t in [0, 11.5]; five-point Laplacian on the periodic grid
x_i = i/32, y_j = j/32 (spacing 1/32); 2048 unknowns, interleaved per grid point: u of point
k = i + 32 j is component 2k, v is 2k + 1 (exactly `sciml_ode::problems::Brusselator2d::new(32)`).
rtol = 1e-6, atol = 1e-8 (scalar), float64, only the final state is requested.

Usage:
    python w2b_brusselator.py --system SYSTEM [--threads 1|default] [--repeats 5] [--target-s 0.2]

SYSTEM is one of:
  scipy_BDF      scipy's BDF given the Jacobian's sparsity pattern (jac_sparsity): it builds the
                 Jacobian by finite differences compressed by column grouping, and factorises
                 with SuperLU (splu).
  scipy_BDF_jac  scipy's BDF with the analytic sparse Jacobian (CSC).

Prints exactly one JSON line with at least: system, median_s, nfe, final_state (2048 numbers),
version, and rel_err_vs_reference: max_i |y_i - ref_i| / max_i |ref_i| against the reference
end state in w2b_reference.json (scipy Radau, analytic sparse Jacobian, rtol 1e-11,
atol 1e-13; written by `--write-reference`). Radau at rtol 1e-10 agrees with it to 3.8e-12 and
scipy BDF at rtol 1e-10, atol 1e-12 to 4.7e-8 (max-norm, relative). Timing as in the other W scripts, with 5 repeats
by default (one solve takes seconds).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

SYSTEMS = ("scipy_BDF", "scipy_BDF_jac")

N = 32
A, B, ALPHA = 3.4, 1.0, 10.0
T_SPAN = (0.0, 11.5)
T_FORCING = 1.1
RTOL = 1e-6
ATOL = 1e-8
HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_FILE = os.path.join(HERE, "w2b_reference.json")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", choices=SYSTEMS)
    p.add_argument("--threads", default="1", choices=("1", "default"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--target-s", type=float, default=0.2)
    p.add_argument("--write-reference", action="store_true",
                   help="solve with Radau at rtol 1e-11 (minutes) and write w2b_reference.json")
    args = p.parse_args(argv)
    if not args.write_reference and args.system is None:
        p.error("--system is required")
    if args.repeats < 1 or args.target_s < 0:
        p.error("--repeats must be >= 1 and --target-s >= 0")
    return args


def pin_threads():
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"


def time_it(call, repeats, target_s, warmup=1):
    for _ in range(warmup):
        call()
    start = time.perf_counter()
    call()
    one = time.perf_counter() - start
    inner = max(1, int(round(target_s / one)))
    samples, cpu = [], []
    for _ in range(repeats):
        c0, start = time.process_time(), time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
        cpu.append((time.process_time() - c0) / inner)
    med = statistics.median(samples)
    return {"median_s": med, "min_s": min(samples), "max_s": max(samples), "inner_loop": inner,
            "repeats": repeats, "cpu_over_wall": statistics.median(cpu) / med}


class Brusselator:
    """The right-hand side, its sparsity pattern and its analytic Jacobian (numpy/scipy)."""

    def __init__(self):
        import numpy as np
        import scipy.sparse as sp

        self.np, self.sp = np, sp
        x = np.arange(N) / N
        # Point k = i + N j has x = x_i, y = y_j: arrays indexed [j, i] and flattened row-major.
        X, Y = np.meshgrid(x, x, indexing="xy")
        self.u0 = np.empty(2 * N * N)
        self.u0[0::2] = (22.0 * (Y * (1.0 - Y)) ** 1.5).ravel()
        self.u0[1::2] = (27.0 * (X * (1.0 - X)) ** 1.5).ravel()
        self.disc = 5.0 * ((X - 0.3) ** 2 + (Y - 0.6) ** 2 <= 0.1 * 0.1).ravel()
        self.c = ALPHA * N * N  # alpha / dx^2
        # Periodic five-point Laplacian on points, then on the interleaved unknowns.
        k = np.arange(N * N)
        i, j = k % N, k // N
        rows = np.concatenate([k] * 5)
        cols = np.concatenate([k, (i + 1) % N + N * j, (i - 1) % N + N * j,
                               i + N * ((j + 1) % N), i + N * ((j - 1) % N)])
        vals = np.concatenate([-4.0 * np.ones(N * N)] + [np.ones(N * N)] * 4)
        lap = sp.csr_matrix((vals, (rows, cols)), shape=(N * N, N * N))
        pu = sp.csr_matrix((np.ones(N * N), (2 * k, k)), shape=(2 * N * N, N * N))
        pv = sp.csr_matrix((np.ones(N * N), (2 * k + 1, k)), shape=(2 * N * N, N * N))
        self.pu, self.pv = pu, pv
        self.lap_full = (self.c * (pu @ lap @ pu.T + pv @ lap @ pv.T)).tocsc()
        diag_blocks = pu @ pu.T + pu @ pv.T + pv @ pu.T + pv @ pv.T
        self.sparsity = ((abs(self.lap_full) + diag_blocks) != 0).astype(float).tocsc()
        self.nfe = 0

    def lap(self, w):
        np = self.np
        w = w.reshape(N, N)
        return (np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1) - 4.0 * w).ravel()

    def rhs(self, t, y):
        self.nfe += 1
        u, v = y[0::2], y[1::2]
        uuv = u * u * v
        du = self.np.empty_like(y)
        du[0::2] = B + uuv - (A + 1.0) * u + self.c * self.lap(u)
        if t >= T_FORCING:
            du[0::2] += self.disc
        du[1::2] = A * u - uuv + self.c * self.lap(v)
        return du

    def jac(self, t, y):
        sp = self.sp
        u, v = y[0::2], y[1::2]
        pu, pv = self.pu, self.pv
        react = (pu @ sp.diags(2.0 * u * v - (A + 1.0)) @ pu.T + pu @ sp.diags(u * u) @ pv.T
                 + pv @ sp.diags(A - 2.0 * u * v) @ pu.T + pv @ sp.diags(-u * u) @ pv.T)
        return (react + self.lap_full).tocsc()


def write_reference():
    import numpy as np
    from scipy.integrate import solve_ivp

    b = Brusselator()
    out = {}
    for rtol, atol in ((1e-10, 1e-12), (1e-11, 1e-13)):
        start = time.perf_counter()
        sol = solve_ivp(b.rhs, T_SPAN, b.u0, method="Radau", jac=b.jac, rtol=rtol, atol=atol,
                        t_eval=(T_SPAN[1],))
        if not sol.success:
            raise SystemExit(sol.message)
        out[rtol] = sol.y[:, -1]
        print(f"Radau rtol {rtol:.0e}: {time.perf_counter() - start:.1f} s, {sol.nfev} RHS evaluations",
              file=sys.stderr)
    ref = out[1e-11]
    diff = float(np.max(np.abs(out[1e-10] - ref)) / np.max(np.abs(ref)))
    doc = {"workload": "W2b", "t": T_SPAN[1], "method": "scipy Radau, analytic sparse Jacobian",
           "rtol": 1e-11, "atol": 1e-13, "rel_diff_vs_rtol_1e-10": diff,
           "layout": "interleaved: u of point i + 32 j at 2k, v at 2k + 1",
           "final_state": [float(x) for x in ref]}
    with open(REFERENCE_FILE, "w") as fh:
        json.dump(doc, fh)
    print(f"wrote {REFERENCE_FILE}; max-norm difference of the rtol 1e-10 run: {diff:.2e}", file=sys.stderr)


def setup_scipy(analytic):
    import scipy
    from scipy.integrate import solve_ivp

    b = Brusselator()
    kw = {"jac": b.jac} if analytic else {"jac_sparsity": b.sparsity}

    def solve():
        return solve_ivp(b.rhs, T_SPAN, b.u0, method="BDF", t_eval=(T_SPAN[1],), rtol=RTOL, atol=ATOL, **kw)

    b.nfe = 0
    sol = solve()
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    info = {
        "version": f"scipy {scipy.__version__}",
        "jacobian": "analytic sparse (CSC)" if analytic else
                    "finite differences compressed by the sparsity pattern (jac_sparsity)",
        "nfe": int(sol.nfev),
        "njev": int(sol.njev),
        "nlu": int(sol.nlu),
        "final_state": [float(v) for v in sol.y[:, -1]],
    }
    return solve, info


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads == "1":
        pin_threads()
    if args.write_reference:
        write_reference()
        return
    call, info = setup_scipy(analytic=args.system == "scipy_BDF_jac")
    try:
        with open(REFERENCE_FILE) as fh:
            ref = json.load(fh)["final_state"]
        scale = max(abs(x) for x in ref)
        info["rel_err_vs_reference"] = max(abs(a - b) for a, b in zip(info["final_state"], ref)) / scale
    except FileNotFoundError:
        info["rel_err_vs_reference"] = None
    timing = time_it(call, args.repeats, args.target_s)
    row = {"workload": "W2b", "system": args.system, "median_s": timing.pop("median_s")}
    row.update(info)
    row.update(timing)
    row.update({"threads": args.threads, "rtol": RTOL, "atol": ATOL, "dtype": "float64", "n": 2 * N * N,
                "python": platform.python_version()})
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
