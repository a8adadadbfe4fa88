#!/usr/bin/env python3
"""Peer benchmark for workload W3 (neural ODE training): the DiffEqFlux.jl README problem.

True system (the data):
    du/dt = ((u.^3)^T A)^T,   A = [[-0.1, 2.0], [-2.0, -0.1]],   u(0) = [2, 0],   t in [0, 1.5]
    solved with scipy DOP853 at rtol = atol = 1e-12 and saved at 30 equally spaced times
    including 0 and 1.5; the 30 x 2 values are the training data.
Model:
    du/dt = NN(u),  NN: x -> x.^3 -> Dense(2, 50, tanh) -> Dense(50, 2)   (252 parameters)
    initial weights: Glorot-uniform from numpy RandomState(0), W1 (50 x 2) first, then W2 (2 x 50),
    zero biases -- identical for every system (they are read from w3_init.json).
Loss:
    sum of squared errors over the 30 x 2 saved values (the t = 0 row included, where it is 0).
Training:
    Adam(lr = 0.05); one iteration = loss forward + gradient + Adam update; 300 iterations.
Solver:
    torchdiffeq dopri5 / diffrax Tsit5, rtol = 1e-3, atol = 1e-6, float64; adjoint solves use the
    same method and tolerances.

The data and the initial weights are stored in w3_init.json next to this script (our Rust example
reads the same file); `--write-init` regenerates it.

Usage:
    python w3_neural_ode.py --system SYSTEM [--iters 300] [--threads 1|default] [--budget-s 180]
                            [--warmup-skip 5] [--init PATH]
    python w3_neural_ode.py --write-init [--init PATH]

SYSTEM is one of:
    torchdiffeq_direct   torchdiffeq.odeint, backpropagation through the solver's operations
    torchdiffeq_adjoint  torchdiffeq.odeint_adjoint (continuous adjoint, backward solve)
    diffrax_rca          diffrax RecursiveCheckpointAdjoint (discretise-then-optimise), jitted step
    diffrax_backsolve    diffrax BacksolveAdjoint (continuous adjoint, backward solve), jitted step

Prints exactly one JSON line on stdout with at least: system, median_s (median wall time of one
training iteration over iterations warmup_skip+1..N), nfe (network evaluations per iteration,
forward + backward, median over iterations), nfe_forward, nfe_backward, final_loss (loss of the
parameters after the last update), loss_at_300 (loss of the parameters after 300 updates, when
at least 300 iterations ran), iterations, version. JAX compilation is done before training and
reported as compile_s. Training stops early, with `stopped_early: true`, once --budget-s seconds
of training have passed. Run by `cargo xtask bench W3 --peers`.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

SYSTEMS = ("torchdiffeq_direct", "torchdiffeq_adjoint", "diffrax_rca", "diffrax_backsolve")

A = ((-0.1, 2.0), (-2.0, -0.1))
U0 = (2.0, 0.0)
T_SPAN = (0.0, 1.5)
N_SAVE = 30
HIDDEN = 50
RTOL = 1e-3
ATOL = 1e-6
LR = 0.05
DATA_TOL = 1e-12
MAX_STEPS = 4096  # diffrax's default; also sizes RecursiveCheckpointAdjoint's checkpoints
DEFAULT_INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "w3_init.json")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", choices=SYSTEMS)
    p.add_argument("--iters", type=int, default=300, help="training iterations (default 300)")
    p.add_argument("--threads", default="1", choices=("1", "default"),
                   help="'1' pins every thread pool to one thread (default); 'default' leaves them alone")
    p.add_argument("--budget-s", type=float, default=180.0,
                   help="stop training once this much wall time has been spent on it (default 180)")
    p.add_argument("--warmup-skip", type=int, default=5,
                   help="iterations left out of the median at the start (default 5)")
    p.add_argument("--init", default=DEFAULT_INIT, help="data and initial weights (default: w3_init.json here)")
    p.add_argument("--write-init", action="store_true", help="(re)generate the --init file and exit")
    args = p.parse_args(argv)
    if not args.write_init and args.system is None:
        p.error("--system is required (or --write-init)")
    if args.iters < 1 or args.warmup_skip < 0 or args.budget_s <= 0:
        p.error("--iters must be >= 1, --warmup-skip >= 0 and --budget-s > 0")
    return args


def pin_threads():
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()


# --------------------------------------------------------------------------------------------
# The data and initial weights (w3_init.json)
# --------------------------------------------------------------------------------------------

def make_init():
    import numpy as np
    import scipy
    from scipy.integrate import solve_ivp

    a = np.array(A)
    ts = np.linspace(T_SPAN[0], T_SPAN[1], N_SAVE)
    sol = solve_ivp(lambda t, u: (u ** 3) @ a, T_SPAN, np.array(U0), method="DOP853", t_eval=ts,
                    rtol=DATA_TOL, atol=DATA_TOL)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    data = sol.y.T  # (30, 2)

    rng = np.random.RandomState(0)

    def glorot(fan_out, fan_in):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, size=(fan_out, fan_in))

    w1 = glorot(HIDDEN, 2)  # drawn first
    w2 = glorot(2, HIDDEN)
    return {
        "A": [list(r) for r in A],
        "u0": list(U0),
        "tspan": list(T_SPAN),
        "ts": ts.tolist(),
        "data": data.tolist(),
        "W1": w1.tolist(),
        "b1": [0.0] * HIDDEN,
        "W2": w2.tolist(),
        "b2": [0.0, 0.0],
        "note": (
            "W3 neural-ODE training data and initial weights, generated by "
            "`python benches/peers/w3_neural_ode.py --write-init` "
            f"(numpy {np.__version__}, scipy {scipy.__version__}). "
            "data: du/dt = ((u.^3)' A)' from u0 over tspan, scipy solve_ivp DOP853, rtol = atol = 1e-12, "
            "saved at ts = linspace(0, 1.5, 30); data[i] = [u1, u2] at ts[i]. "
            "Weights: Glorot-uniform from numpy.random.RandomState(0): W1 = uniform(-sqrt(6/52), sqrt(6/52), "
            "size=(50, 2)) drawn first, then W2 = uniform(-sqrt(6/52), sqrt(6/52), size=(2, 50)); "
            "b1, b2 zero. Matrices are lists of rows (row-major); layer y = W x + b, "
            "model du/dt = W2 tanh(W1 u.^3 + b1) + b2."
        ),
    }


def write_init(path):
    init = make_init()
    # One matrix row per line; repr floats round-trip exactly.
    lines = ["{"]
    keys = list(init)
    for i, k in enumerate(keys):
        v = init[k]
        comma = "," if i + 1 < len(keys) else ""
        if isinstance(v, list) and v and isinstance(v[0], list):
            rows = ",\n    ".join(json.dumps(r) for r in v)
            lines.append(f"  {json.dumps(k)}: [\n    {rows}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v)}{comma}")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    # Read it back: it must round-trip exactly.
    if load_init(path) != {k: v for k, v in init.items()}:
        raise RuntimeError(f"{path} does not round-trip")
    print(f"wrote {path}", file=sys.stderr)


def load_init(path):
    with open(path) as f:
        init = json.load(f)
    shapes = {"ts": (N_SAVE,), "data": (N_SAVE, 2), "W1": (HIDDEN, 2), "b1": (HIDDEN,), "W2": (2, HIDDEN),
              "b2": (2,)}
    for k, shape in shapes.items():
        v = init.get(k)
        got = (len(v),) if v and not isinstance(v[0], list) else (len(v), len(v[0])) if v else (0,)
        if got != shape:
            raise SystemExit(f"{path}: `{k}` has shape {got}, expected {shape}")
    return init


# --------------------------------------------------------------------------------------------
# Training loops. Each returns a dict with per-iteration lists `iter_s`, `cpu_s`, `loss`,
# `nfe_forward`, `nfe_backward` (possibly shorter than `iter_s`), the final loss and extras.
# --------------------------------------------------------------------------------------------

def train_torchdiffeq(init, adjoint, iters, budget_s, pinned):
    import torch
    import torchdiffeq

    if pinned:
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # can only be set once, before any parallel work
    dt = torch.float64

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = torch.nn.Linear(2, HIDDEN, dtype=dt)
            self.l2 = torch.nn.Linear(HIDDEN, 2, dtype=dt)
            self.calls = 0

        def forward(self, t, u):
            self.calls += 1
            return self.l2(torch.tanh(self.l1(u ** 3)))

    field = Field()
    with torch.no_grad():
        field.l1.weight.copy_(torch.tensor(init["W1"], dtype=dt))
        field.l1.bias.copy_(torch.tensor(init["b1"], dtype=dt))
        field.l2.weight.copy_(torch.tensor(init["W2"], dtype=dt))
        field.l2.bias.copy_(torch.tensor(init["b2"], dtype=dt))
    u0 = torch.tensor(init["u0"], dtype=dt)
    ts = torch.tensor(init["ts"], dtype=dt)
    target = torch.tensor(init["data"], dtype=dt)
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    opt = torch.optim.Adam(field.parameters(), lr=LR)

    def loss_fn():
        pred = solve(field, u0, ts, rtol=RTOL, atol=ATOL, method="dopri5")
        return ((pred - target) ** 2).sum()

    rec = {k: [] for k in ("iter_s", "cpu_s", "loss", "nfe_forward", "nfe_backward")}
    start = time.perf_counter()
    for _ in range(iters):
        c0, w0 = time.process_time(), time.perf_counter()
        opt.zero_grad()
        field.calls = 0
        loss = loss_fn()
        nf = field.calls
        loss.backward()
        nb = field.calls - nf
        opt.step()
        rec["iter_s"].append(time.perf_counter() - w0)
        rec["cpu_s"].append(time.process_time() - c0)
        rec["loss"].append(loss.item())
        rec["nfe_forward"].append(nf)
        rec["nfe_backward"].append(nb)
        if time.perf_counter() - start > budget_s:
            break
    with torch.no_grad():
        rec["final_loss"] = float(loss_fn())
    rec["version"] = f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}"
    rec["extra"] = {
        "solver": "dopri5",
        "torch_threads": torch.get_num_threads(),
        "nfe_note": (
            "calls of the network's forward; backward = calls made by loss.backward(): each evaluation "
            "of the adjoint's augmented dynamics calls the network once and takes a VJP through it"
            if adjoint else
            "calls of the network's forward; backward is 0 for direct backpropagation: autograd "
            "replays one VJP per forward call (rejected steps included) without calling the network"
        ),
    }
    return rec


def train_diffrax(init, kind, iters, budget_s):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import equinox as eqx
    import jax.numpy as jnp
    import optax

    dt = jnp.float64

    class Field(eqx.Module):
        l1: eqx.nn.Linear
        l2: eqx.nn.Linear

        def __call__(self, t, u, args):
            return self.l2(jnp.tanh(self.l1(u ** 3)))

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    field = Field(eqx.nn.Linear(2, HIDDEN, key=k1, dtype=dt), eqx.nn.Linear(HIDDEN, 2, key=k2, dtype=dt))
    field = eqx.tree_at(lambda f: (f.l1.weight, f.l1.bias, f.l2.weight, f.l2.bias), field,
                        tuple(jnp.asarray(init[k], dtype=dt) for k in ("W1", "b1", "W2", "b2")))
    u0 = jnp.asarray(init["u0"], dtype=dt)
    ts = jnp.asarray(init["ts"], dtype=dt)
    target = jnp.asarray(init["data"], dtype=dt)
    t0, t1 = (float(x) for x in init["tspan"])
    if kind == "rca":
        adjoint = diffrax.RecursiveCheckpointAdjoint()
    else:
        adjoint = diffrax.BacksolveAdjoint(solver=diffrax.Tsit5(),
                                           stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL))

    count = [0]

    def bump():
        count[0] += 1

    def make(counted):
        # The network goes in as `args` (not closed over), so every adjoint sees its parameters.
        def vector_field(t, u, f):
            if counted:
                jax.debug.callback(bump)
            return f(t, u, None)

        def loss_fn(f):
            sol = diffrax.diffeqsolve(diffrax.ODETerm(vector_field), diffrax.Tsit5(), t0, t1, None, u0, args=f,
                                      saveat=diffrax.SaveAt(ts=ts),
                                      stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                                      adjoint=adjoint, max_steps=MAX_STEPS)
            return jnp.sum((sol.ys - target) ** 2), sol.stats["num_steps"]

        optim = optax.adam(LR)

        @eqx.filter_jit
        def step(f, opt_state):
            (loss, nsteps), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(f)
            updates, opt_state = optim.update(grads, opt_state, eqx.filter(f, eqx.is_inexact_array))
            return eqx.apply_updates(f, updates), opt_state, loss, nsteps

        return step, eqx.filter_jit(loss_fn), optim

    step, eval_loss, optim = make(counted=False)
    opt_state0 = optim.init(eqx.filter(field, eqx.is_inexact_array))

    # Compile (and run once, discarding the result) before timing.
    c = time.perf_counter()
    jax.block_until_ready(step(field, opt_state0))
    compile_s = time.perf_counter() - c

    rec = {k: [] for k in ("iter_s", "cpu_s", "loss", "nfe_forward", "nfe_backward")}
    steps = []
    f, opt_state = field, opt_state0
    start = time.perf_counter()
    for _ in range(iters):
        c0, w0 = time.process_time(), time.perf_counter()
        f, opt_state, loss, nsteps = step(f, opt_state)
        jax.block_until_ready((f, opt_state, loss))
        rec["iter_s"].append(time.perf_counter() - w0)
        rec["cpu_s"].append(time.process_time() - c0)
        rec["loss"].append(float(loss))
        steps.append(int(nsteps))
        if time.perf_counter() - start > budget_s:
            break
    rec["final_loss"] = float(eval_loss(f)[0])

    # Count network evaluations in a separate, untimed replay of the same training with a
    # jax.debug.callback in the vector field (forward-only loss, then the full step).
    cstep, ceval, _ = make(counted=True)
    f, opt_state = field, opt_state0
    cstart = time.perf_counter()
    for _ in range(len(rec["iter_s"])):
        count[0] = 0
        jax.block_until_ready(ceval(f))
        jax.effects_barrier()
        nf = count[0]
        count[0] = 0
        f, opt_state, _, _ = jax.block_until_ready(cstep(f, opt_state))
        jax.effects_barrier()
        rec["nfe_forward"].append(nf)
        rec["nfe_backward"].append(count[0] - nf)
        if time.perf_counter() - cstart > budget_s:
            break

    rec["version"] = (f"jax {jax.__version__}, diffrax {diffrax.__version__}, equinox {eqx.__version__}, "
                      f"optax {optax.__version__}")
    rec["extra"] = {
        "solver": "Tsit5",
        "adjoint": type(adjoint).__name__,
        "compile_s": compile_s,
        "steps_median": statistics.median(steps),
        "steps_first_iter": steps[0],
        "nfe_note": (
            "network evaluations traced at run time with jax.debug.callback in an untimed replay: forward = "
            "forward-only loss; backward = evaluations in value_and_grad beyond the forward ones "
            "(recomputation from checkpoints and the primal half of each VJP for RecursiveCheckpointAdjoint; "
            "one per augmented-dynamics evaluation of the backward solve for BacksolveAdjoint)"
        ),
    }
    return rec


def median_count(xs):
    """Median of counts, as an int when it is whole."""
    if not xs:
        return None
    m = statistics.median(xs)
    return int(m) if float(m).is_integer() else m


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    pinned = args.threads == "1"
    if pinned:
        pin_threads()  # before numpy / torch / jax are imported
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    if args.write_init:
        write_init(args.init)
        return

    init = load_init(args.init)
    system = args.system
    if system.startswith("torchdiffeq_"):
        rec = train_torchdiffeq(init, system == "torchdiffeq_adjoint", args.iters, args.budget_s, pinned)
    else:
        rec = train_diffrax(init, system.split("_", 1)[1], args.iters, args.budget_s)

    n = len(rec["iter_s"])
    skip = args.warmup_skip if n > args.warmup_skip + 5 else 0
    timed, timed_cpu = rec["iter_s"][skip:], rec["cpu_s"][skip:]
    nf, nb = rec["nfe_forward"], rec["nfe_backward"]
    nfe = [a + b for a, b in zip(nf, nb)]
    losses = rec["loss"]  # losses[i]: loss of the parameters after i updates
    if n == 300:
        loss_at_300 = rec["final_loss"]
    elif n > 300:
        loss_at_300 = losses[300]
    else:
        loss_at_300 = None

    row = {
        "workload": "W3",
        "system": system,
        "median_s": statistics.median(timed),
        "nfe": median_count(nfe),
        "nfe_forward": median_count(nf),
        "nfe_backward": median_count(nb),
        "final_loss": rec["final_loss"],
        "loss_at_300": loss_at_300,
        "iterations": n,
        "iters_requested": args.iters,
        "stopped_early": n < args.iters,
        "version": rec["version"],
        "initial_loss": losses[0],
        "nfe_first_iter": nfe[0] if nfe else None,
        "nfe_forward_first_iter": nf[0] if nf else None,
        "nfe_backward_first_iter": nb[0] if nb else None,
        "nfe_counted_iters": len(nfe),
        "min_s": min(timed),
        "mean_s": statistics.fmean(timed),
        "median_over": f"iterations {skip + 1}..{n}",
        "median_cpu_s": statistics.median(timed_cpu),
        "cpu_over_wall": sum(timed_cpu) / sum(timed),
        "train_s": sum(rec["iter_s"]),
        "loss_every_50": [losses[i] for i in range(0, n, 50)],
    }
    row.update(rec["extra"])
    row.update({"threads": args.threads, "rtol": RTOL, "atol": ATOL, "lr": LR, "dtype": "float64",
                "python": platform.python_version()})
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
