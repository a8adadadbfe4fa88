#!/usr/bin/env python3
"""Peer benchmark for workload W1 (non-stiff forward solve): Lotka-Volterra.

    du1/dt = 1.5 u1 - u1 u2
    du2/dt = -3 u2 + u1 u2,        u(0) = [1, 1],  t in [0, 10]

rtol = 1e-6, atol = 1e-8, float64, solution saved at 100 equally spaced times
including t = 0 and t = 10.

Usage:
    python w1_lotka_volterra.py --system SYSTEM [--threads 1|default]
                                [--repeats 15] [--target-s 0.2]

SYSTEM is one of: scipy_RK45, scipy_DOP853, diffrax_tsit5, torchdiffeq_dopri5,
pydiffsol_tsit45.

Prints exactly one JSON line on stdout with at least: system, median_s, nfe
(null when the library exposes no right-hand-side counter), final_state,
version. Timing: warm-up calls, then an inner loop sized so that one repeat
takes about --target-s seconds, --repeats repeats; median_s is the median
per-call time. Compilation (JAX jit, diffsl JIT) is excluded from the timing.
Run by `cargo xtask bench W1 --peers`.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

SYSTEMS = ("scipy_RK45", "scipy_DOP853", "diffrax_tsit5", "torchdiffeq_dopri5", "pydiffsol_tsit45")

RTOL = 1e-6
ATOL = 1e-8
T_SPAN = (0.0, 10.0)
U0 = (1.0, 1.0)
N_SAVE = 100
ALPHA, BETA, GAMMA = 1.5, 1.0, 3.0  # du1 = ALPHA u1 - BETA u1 u2, du2 = -GAMMA u2 + u1 u2


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
    # Size the inner loop from a short calibration run.
    n, start = 0, time.perf_counter()
    while True:
        call()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= 0.05 * target_s or n >= 1000:
            break
    inner = max(1, int(round(target_s / (elapsed / n))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "inner_loop": inner,
        "repeats": repeats,
    }


# --------------------------------------------------------------------------------------------
# One function per library. Each returns (timed callable, dict of result fields).
# --------------------------------------------------------------------------------------------

def setup_scipy(method, t_eval):
    import numpy as np
    import scipy
    from scipy.integrate import solve_ivp

    def rhs(t, u):
        x, y = u
        return np.array([ALPHA * x - BETA * x * y, -GAMMA * y + x * y])

    def solve():
        return solve_ivp(rhs, T_SPAN, U0, method=method, t_eval=t_eval, rtol=RTOL, atol=ATOL)

    sol = solve()
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    # Without t_eval, solve_ivp returns one column per accepted step (plus t0).
    steps = solve_ivp(rhs, T_SPAN, U0, method=method, rtol=RTOL, atol=ATOL)
    info = {
        "version": f"scipy {scipy.__version__}",
        "nfe": int(sol.nfev),
        "accepted_steps": int(steps.t.size - 1),
        "nsaved": int(sol.y.shape[1]),
        "final_state": [float(v) for v in sol.y[:, -1]],
    }
    return solve, info


def setup_torchdiffeq(t_eval, pinned):
    import torch
    import torchdiffeq

    if pinned:
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # can only be set once, before any parallel work
    torch.set_grad_enabled(False)

    class LotkaVolterra(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = self.accepted = self.rejected = 0

        def forward(self, t, u):
            self.calls += 1
            x, y = u[0], u[1]
            return torch.stack((ALPHA * x - BETA * x * y, -GAMMA * y + x * y))

        # torchdiffeq calls these hooks on the vector field after each step attempt.
        def callback_accept_step(self, t0, y0, dt):
            self.accepted += 1

        def callback_reject_step(self, t0, y0, dt):
            self.rejected += 1

    field = LotkaVolterra()
    u0 = torch.tensor(U0, dtype=torch.float64)
    ts = torch.tensor(t_eval, dtype=torch.float64)

    def solve():
        return torchdiffeq.odeint(field, u0, ts, rtol=RTOL, atol=ATOL, method="dopri5")

    field.calls = field.accepted = field.rejected = 0
    ys = solve()
    info = {
        "version": f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}",
        "nfe": field.calls,
        "accepted_steps": field.accepted,
        "rejected_steps": field.rejected,
        "nsaved": int(ys.shape[0]),
        "final_state": [float(v) for v in ys[-1]],
        "torch_threads": torch.get_num_threads(),
    }
    return solve, info


def setup_diffrax(t_eval):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import equinox
    import jax.numpy as jnp

    def field(t, u, args):
        x, y = u[0], u[1]
        return jnp.stack((ALPHA * x - BETA * x * y, -GAMMA * y + x * y))

    ts = jnp.asarray(t_eval, dtype=jnp.float64)
    u0 = jnp.asarray(U0, dtype=jnp.float64)

    def build(f):
        def solve(y0):
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(f), diffrax.Tsit5(), t0=T_SPAN[0], t1=T_SPAN[1], dt0=None, y0=y0,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                max_steps=100_000,
            )
            return sol.ys, sol.stats
        return jax.jit(solve)

    solve = build(field)
    start = time.perf_counter()
    ys, stats = jax.block_until_ready(solve(u0))
    compile_s = time.perf_counter() - start

    # Count vector-field evaluations in a separate, untimed, instrumented run.
    count = [0]

    def bump():
        count[0] += 1

    def counted_field(t, u, args):
        jax.debug.callback(bump)
        return field(t, u, args)

    jax.block_until_ready(build(counted_field)(u0))
    jax.effects_barrier()

    info = {
        "version": f"jax {jax.__version__}, diffrax {diffrax.__version__}, equinox {equinox.__version__}",
        "nfe": count[0],
        "steps": int(stats["num_steps"]),
        "accepted_steps": int(stats["num_accepted_steps"]),
        "rejected_steps": int(stats["num_rejected_steps"]),
        "nsaved": int(ys.shape[0]),
        "final_state": [float(v) for v in ys[-1]],
        "compile_s": compile_s,
    }
    return (lambda: jax.block_until_ready(solve(u0))), info


def setup_pydiffsol(t_eval):
    import numpy as np
    import pydiffsol as ds

    code = f"""
    u_i {{ x = {U0[0]!r}, y = {U0[1]!r} }}
    F_i {{ {ALPHA!r} * x - {BETA!r} * x * y, -{GAMMA!r} * y + x * y }}
    """
    start = time.perf_counter()
    ode = ds.Ode(code, matrix_type=ds.nalgebra_dense, ode_solver=ds.tsit45)
    jit_s = time.perf_counter() - start
    ode.rtol = RTOL
    ode.atol = ATOL
    params = np.array([], dtype=np.float64)
    t_eval = np.asarray(t_eval, dtype=np.float64)

    def solve():
        return ode.solve_dense(params, t_eval)

    sol = solve()
    ys = np.asarray(sol.ys)
    info = {
        "version": f"pydiffsol {ds.version()} (diffsol {ds.diffsol_version()})",
        "nfe": None,
        "nsaved": int(ys.shape[1]),
        "final_state": [float(v) for v in ys[:, -1]],
        "jit_compile_s": jit_s,
        "note": "pydiffsol exposes no RHS-evaluation counter",
    }
    return solve, info


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    pinned = args.threads == "1"
    if pinned:
        pin_threads()  # before numpy / torch / jax are imported
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    import numpy as np

    t_eval = np.linspace(T_SPAN[0], T_SPAN[1], N_SAVE)
    system = args.system
    if system.startswith("scipy_"):
        call, info = setup_scipy(system.split("_", 1)[1], t_eval)
    elif system == "torchdiffeq_dopri5":
        call, info = setup_torchdiffeq(t_eval, pinned)
    elif system == "diffrax_tsit5":
        call, info = setup_diffrax(t_eval)
    elif system == "pydiffsol_tsit45":
        call, info = setup_pydiffsol(t_eval)
    else:  # unreachable: argparse checks choices
        raise SystemExit(f"unknown system {system!r}")

    timing = time_it(call, args.repeats, args.target_s)
    row = {"workload": "W1", "system": system, "median_s": timing.pop("median_s")}
    row.update(info)
    row.update(timing)
    row.update({"threads": args.threads, "rtol": RTOL, "atol": ATOL, "dtype": "float64",
                "python": platform.python_version()})
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
