#!/usr/bin/env python3
"""Peer benchmark for workload W4 (neural SDE forward + gradient) with torchsde.

Adapted from /work/shared/peers/w4_neural_sde.py. Itô SDE, diagonal noise, state dim 2:
    drift     f(t, y) = Linear(50, 2)(tanh(Linear(2, 50)(y)))
    diffusion g(t, y) = Linear(2, 2)(y)     (diagonal noise: g returns (batch, 2))
y0 = [2, 0] for each of 100 trajectories (batch 100), t in [0, 1], Euler-Maruyama with fixed
dt = 0.01 (100 steps), saved at the 101 grid points. Loss = mean over (time, batch, state) of
(y - target)^2, target = the W3 true ODE du/dt = u^3 A solved at the same 101 times.
A fresh Brownian sample every iteration: torchsde.BrownianInterval(t0=0, t1=1, size=(100, 2),
dt=0.01) built inside the timed region (the "hinted" Brownian motion). Timed: zero_grad +
forward solve + loss + backward (no optimiser step).

Usage: python w4_neural_sde.py --system SYSTEM --threads 1|default [--iters 20]
SYSTEM: torchsde_euler_f32, torchsde_euler_adjoint_f32, torchsde_euler_f64,
        torchsde_euler_adjoint_f64 (sdeint with backpropagation through the solver, or
        sdeint_adjoint, whose default adjoint method for diagonal Itô noise is Milstein).
Prints one JSON line: system, median_s, nfe (drift + diffusion evaluations per iteration,
forward and backward), nfe_forward, final_loss (loss of the last timed iteration), version.
Run by `cargo xtask bench W4 --peers`.
"""
import argparse, os, json, time, statistics

ap = argparse.ArgumentParser()
ap.add_argument("--system", required=True)
ap.add_argument("--threads", default="1", choices=["1", "default"])
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--budget-s", type=float, default=240.0)
args = ap.parse_args()
SYSTEMS = {
    "torchsde_euler_f32": ("backprop", "f32"),
    "torchsde_euler_adjoint_f32": ("adjoint", "f32"),
    "torchsde_euler_f64": ("backprop", "f64"),
    "torchsde_euler_adjoint_f64": ("adjoint", "f64"),
}
if args.system not in SYSTEMS:
    raise SystemExit(f"unknown system {args.system}; known: {', '.join(SYSTEMS)}")
mode, dtype = SYSTEMS[args.system]
if args.threads == "1":
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = "1"

import numpy as np
from scipy.integrate import solve_ivp
import torch, torchsde

if args.threads == "1":
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
tdt = torch.float32 if dtype == "f32" else torch.float64
torch.manual_seed(0)

A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
BATCH, DT = 100, 0.01
TS = np.linspace(0.0, 1.0, 101)
target_np = solve_ivp(lambda t, u: (u ** 3) @ A, (0.0, 1.0), [2.0, 0.0], method="DOP853",
                      t_eval=TS, rtol=1e-12, atol=1e-12).y.T


class SDE(torch.nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self):
        super().__init__()
        self.drift = torch.nn.Sequential(torch.nn.Linear(2, 50), torch.nn.Tanh(),
                                         torch.nn.Linear(50, 2))
        self.diff = torch.nn.Linear(2, 2)
        self.nf = 0
        self.ng = 0

    def f(self, t, y):
        self.nf += 1
        return self.drift(y)

    def g(self, t, y):
        self.ng += 1
        return self.diff(y)


sde = SDE().to(tdt)
y0 = torch.tensor([2.0, 0.0], dtype=tdt).expand(BATCH, 2).contiguous()
ts = torch.tensor(TS, dtype=tdt)
target = torch.tensor(target_np, dtype=tdt).unsqueeze(1)


def iteration():
    sde.zero_grad(set_to_none=True)
    bm = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(BATCH, 2), dtype=tdt, dt=DT,
                                   levy_area_approximation="none")
    if mode == "adjoint":
        ys = torchsde.sdeint_adjoint(sde, y0, ts, bm=bm, method="euler", dt=DT)
    else:
        ys = torchsde.sdeint(sde, y0, ts, bm=bm, method="euler", dt=DT)
    loss = ((ys - target) ** 2).mean()
    nf_fwd = sde.nf + sde.ng
    loss.backward()
    return loss.item(), nf_fwd


times, cpus, losses, nfes, nfe_fwd = [], [], [], [], []
t_start = time.perf_counter()
for i in range(args.warmup + args.iters):
    sde.nf = sde.ng = 0
    c0 = time.process_time()
    w0 = time.perf_counter()
    loss, nf_fwd = iteration()
    w = time.perf_counter() - w0
    c = time.process_time() - c0
    if i >= args.warmup:
        times.append(w)
        cpus.append(c)
        losses.append(loss)
        nfes.append(sde.nf + sde.ng)
        nfe_fwd.append(nf_fwd)
    if time.perf_counter() - t_start > args.budget_s:
        break

row = dict(system=args.system, median_s=statistics.median(times), nfe=statistics.median(nfes),
           nfe_forward=statistics.median(nfe_fwd), final_loss=losses[-1], iterations=len(times),
           cpu_over_wall=round(sum(cpus) / sum(times), 3), median_cpu_s=statistics.median(cpus), dtype=dtype, batch=BATCH, dt=DT, threads=args.threads,
           adjoint_method=("milstein (torchsde default for diagonal Ito)" if mode == "adjoint" else None),
           version=f"torch {torch.__version__}, torchsde {torchsde.__version__}")
print(json.dumps(row), flush=True)
