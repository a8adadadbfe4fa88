#!/usr/bin/env python3
"""Peer benchmark for workload W2 (stiff forward solve): Robertson's chemical kinetics.

    dy1/dt = -0.04 y1 + 1e4 y2 y3
    dy2/dt =  0.04 y1 - 1e4 y2 y3 - 3e7 y2^2
    dy3/dt =  3e7 y2^2,              y(0) = [1, 0, 0],  t in [0, 1e5]

rtol = 1e-6, atol = 1e-10 (scalar), float64; only the final state is requested where the API
allows (scipy: t_eval = [1e5]; diffrax: SaveAt(t1=True); pydiffsol's solve() returns its
internal steps and we take the last).

Usage:
    python w2_robertson.py --system SYSTEM [--threads 1|default] [--repeats 15] [--target-s 0.2]

SYSTEM is one of: scipy_BDF, scipy_Radau, scipy_LSODA (all three with the analytic Jacobian;
append _fdjac to let scipy difference it), diffrax_kvaerno5 (jitted; Jacobians by JAX
autodiff), pydiffsol_bdf (diffsol's BDF through its Python package; diffsl-generated Jacobian,
dense LU), pydiffsol_esdirk34, pydiffsol_tr_bdf2.

Prints exactly one JSON line on stdout with at least: system, median_s, nfe (null where the
library exposes no right-hand-side counter), final_state, version, and rel_err_vs_reference:
the largest componentwise relative difference from the reference solution at t = 1e5
(`Robertson::REF_T1E5` in crates/sciml-ode/src/problems/robertson.rs, computed with scipy
Radau at rtol 1e-13 by crates/sciml-ode/tests/testset_reference.py). Timing: warm-up calls,
then an inner loop sized so one repeat takes about --target-s seconds, --repeats repeats;
median_s is the median per-solve time. Compilation (JAX jit, diffsl JIT) is excluded and
reported separately. Run by `cargo xtask bench W2 --peers`.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

SYSTEMS = ("scipy_BDF", "scipy_Radau", "scipy_LSODA", "scipy_BDF_fdjac", "scipy_Radau_fdjac",
           "scipy_LSODA_fdjac", "diffrax_kvaerno5", "pydiffsol_bdf", "pydiffsol_esdirk34",
           "pydiffsol_tr_bdf2")

RTOL = 1e-6
ATOL = 1e-10
T_SPAN = (0.0, 1e5)
Y0 = (1.0, 0.0, 0.0)
K1, K2, K3 = 0.04, 3e7, 1e4
# Robertson::REF_T1E5 (see the docstring).
REFERENCE = (1.7865921142099943e-02, 7.2747514684365333e-08, 9.8213400611038326e-01)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", required=True, choices=SYSTEMS)
    p.add_argument("--threads", default="1", choices=("1", "default"),
                   help="'1' pins every thread pool to one thread (default); 'default' leaves them alone")
    p.add_argument("--repeats", type=int, default=15, help="number of timed repeats (median is reported)")
    p.add_argument("--target-s", type=float, default=0.2, help="approximate wall time of one timed repeat")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.target_s < 0:
        p.error("--repeats must be >= 1 and --target-s >= 0")
    return args


def pin_threads():
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()


def time_it(call, repeats, target_s, warmup=3):
    """Median per-call wall time of `call` (which must block until its result exists)."""
    for _ in range(warmup):
        call()
    n, start = 0, time.perf_counter()
    while True:
        call()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= 0.05 * target_s or n >= 1000:
            break
    inner = max(1, int(round(target_s / (elapsed / n))))
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


def rel_err(y):
    return max(abs(a - b) / abs(b) for a, b in zip(y, REFERENCE))


# --------------------------------------------------------------------------------------------
# One function per library. Each returns (timed callable, dict of result fields).
# --------------------------------------------------------------------------------------------

def setup_scipy(method, fdjac):
    import numpy as np
    import scipy
    from scipy.integrate import solve_ivp

    def rhs(t, y):
        y1, y2, y3 = y
        return np.array([-K1 * y1 + K3 * y2 * y3,
                         K1 * y1 - K3 * y2 * y3 - K2 * y2 * y2,
                         K2 * y2 * y2])

    def jac(t, y):
        y1, y2, y3 = y
        return np.array([[-K1, K3 * y3, K3 * y2],
                         [K1, -K3 * y3 - 2 * K2 * y2, -K3 * y2],
                         [0.0, 2 * K2 * y2, 0.0]])

    kw = {} if fdjac else {"jac": jac}

    def solve():
        return solve_ivp(rhs, T_SPAN, Y0, method=method, t_eval=(T_SPAN[1],), rtol=RTOL, atol=ATOL, **kw)

    sol = solve()
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    steps = solve_ivp(rhs, T_SPAN, Y0, method=method, rtol=RTOL, atol=ATOL, **kw)
    info = {
        "version": f"scipy {scipy.__version__}",
        "jacobian": "finite differences" if fdjac else "analytic",
        "nfe": int(sol.nfev),
        "njev": int(sol.njev),
        "nlu": int(sol.nlu),
        "accepted_steps": int(steps.t.size - 1),
        "final_state": [float(v) for v in sol.y[:, -1]],
    }
    return solve, info


def setup_diffrax(name):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import equinox
    import jax.numpy as jnp

    solver = {"kvaerno5": diffrax.Kvaerno5}[name]

    def field(t, y, args):
        y1, y2, y3 = y[0], y[1], y[2]
        return jnp.stack((-K1 * y1 + K3 * y2 * y3, K1 * y1 - K3 * y2 * y3 - K2 * y2 ** 2, K2 * y2 ** 2))

    y0 = jnp.asarray(Y0, dtype=jnp.float64)

    def build(f):
        def solve(y0):
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(f), solver(), t0=T_SPAN[0], t1=T_SPAN[1], dt0=None, y0=y0,
                saveat=diffrax.SaveAt(t1=True),
                stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                max_steps=1_000_000,
            )
            return sol.ys, sol.stats
        return jax.jit(solve)

    solve = build(field)
    start = time.perf_counter()
    ys, stats = jax.block_until_ready(solve(y0))
    compile_s = time.perf_counter() - start

    # Count primal vector-field evaluations in a separate, untimed, instrumented run (a Jacobian
    # by jax.jacfwd evaluates the field once as well).
    count = [0]

    def bump():
        count[0] += 1

    def counted_field(t, y, args):
        jax.debug.callback(bump)
        return field(t, y, args)

    jax.block_until_ready(build(counted_field)(y0))
    jax.effects_barrier()

    info = {
        "version": f"jax {jax.__version__}, diffrax {diffrax.__version__}, equinox {equinox.__version__}",
        "jacobian": "JAX autodiff (diffrax's default root finder, VeryChord)",
        "nfe": count[0],
        "steps": int(stats["num_steps"]),
        "accepted_steps": int(stats["num_accepted_steps"]),
        "rejected_steps": int(stats["num_rejected_steps"]),
        "final_state": [float(v) for v in ys[-1]],
        "compile_s": compile_s,
    }
    return (lambda: jax.block_until_ready(solve(y0))), info


def setup_pydiffsol(solver_name):
    import numpy as np
    import pydiffsol as ds

    code = f"""
    u_i {{ y1 = 1.0, y2 = 0.0, y3 = 0.0 }}
    F_i {{
        -{K1!r} * y1 + {K3!r} * y2 * y3,
        {K1!r} * y1 - {K3!r} * y2 * y3 - {K2!r} * y2 * y2,
        {K2!r} * y2 * y2,
    }}
    """
    start = time.perf_counter()
    ode = ds.Ode(code, matrix_type=ds.nalgebra_dense, ode_solver=getattr(ds, solver_name))
    jit_s = time.perf_counter() - start
    ode.rtol = RTOL
    ode.atol = ATOL
    params = np.array([], dtype=np.float64)

    def solve():
        return ode.solve(params, T_SPAN[1])

    sol = solve()
    ys = np.asarray(sol.ys)
    info = {
        "version": f"pydiffsol {ds.version()} (diffsol {ds.diffsol_version()})",
        "jacobian": "diffsl-generated (autodiff), nalgebra dense LU",
        "nfe": None,
        "accepted_steps": int(len(sol.ts) - 1),
        "final_state": [float(v) for v in ys[:, -1]],
        "final_t": float(sol.ts[-1]),
        "jit_compile_s": jit_s,
        "note": "pydiffsol exposes no RHS-evaluation counter; accepted_steps = len(ts) - 1",
    }
    return solve, info


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads == "1":
        pin_threads()  # before numpy / jax are imported
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    system = args.system
    if system.startswith("scipy_"):
        parts = system.split("_")
        call, info = setup_scipy(parts[1], fdjac=len(parts) > 2)
    elif system.startswith("diffrax_"):
        call, info = setup_diffrax(system.split("_", 1)[1])
    elif system.startswith("pydiffsol_"):
        call, info = setup_pydiffsol(system.split("_", 1)[1])
    else:  # unreachable: argparse checks choices
        raise SystemExit(f"unknown system {system!r}")

    info["rel_err_vs_reference"] = rel_err(info["final_state"])
    timing = time_it(call, args.repeats, args.target_s)
    row = {"workload": "W2", "system": system, "median_s": timing.pop("median_s")}
    row.update(info)
    row.update(timing)
    row.update({"threads": args.threads, "rtol": RTOL, "atol": ATOL, "dtype": "float64",
                "python": platform.python_version()})
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
