#!/usr/bin/env python
"""W5: FFJORD-style continuous normalising flow on a 2-D density, torchdiffeq.

Data: two moons generated with numpy (noise 0.1, standardised), a fresh batch of 512 samples per iteration
      (numpy RandomState(0) stream).
Dynamics: dz/dt = MLP([z, t]) with Linear(3,64)-tanh-Linear(64,64)-tanh-Linear(64,2);
          d(dlogp)/dt = -trace(df/dz), trace either exact (2 autograd passes, one per output dim)
          or Hutchinson (one Gaussian probe vector per solve, e^T (df/dz) e via one vjp).
Integrate data z(0)=x from t=0 to t=1; log p(x) = log N(z(1); 0, I) - dlogp(1);  loss = -mean log p(x).
Solver: torchdiffeq odeint_adjoint, dopri5, rtol=atol=1e-5 (adjoint solve with the same tolerances);
Optimiser: Adam(lr=1e-3).  float32 (typical for torch CNFs) unless --dtype f64.
Timed: zero_grad + forward solve + loss + backward (adjoint) + Adam step.

Usage:  python w5_ffjord.py --trace {exact,hutchinson} --threads {1,default} [--iters 20]
   or:  python w5_ffjord.py --system torchdiffeq_{exact,hutchinson}_{f32,f64} --threads ...
        (how `cargo xtask bench W5 --peers` calls it: the system names the trace and dtype)
Prints one JSON line (with median_s, nfe and final_loss, the keys `cargo xtask bench` reads).
"""
import argparse, os, sys, json, time, statistics, platform

ap = argparse.ArgumentParser()
ap.add_argument("--trace", default="exact", choices=["exact", "hutchinson"])
ap.add_argument("--threads", default="1", choices=["1", "default"])
ap.add_argument("--dtype", default="f32", choices=["f32", "f64"])
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--batch", type=int, default=512)
ap.add_argument("--budget-s", type=float, default=270.0)
ap.add_argument("--system", default=None,
                choices=[f"torchdiffeq_{t}_{d}" for t in ("exact", "hutchinson") for d in ("f32", "f64")])
args = ap.parse_args()
if args.system is not None:
    _, args.trace, args.dtype = args.system.split("_")
if args.threads == "1":
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = "1"

import math
import numpy as np
import torch, torchdiffeq

if args.threads == "1":
    torch.set_num_threads(1); torch.set_num_interop_threads(1)
tdt = torch.float32 if args.dtype == "f32" else torch.float64
torch.manual_seed(0)
rng = np.random.RandomState(0)
RTOL = ATOL = 1e-5


def two_moons(n):
    n1 = n // 2; n2 = n - n1
    a1 = rng.uniform(0, math.pi, n1); a2 = rng.uniform(0, math.pi, n2)
    x = np.concatenate([np.stack([np.cos(a1), np.sin(a1)], 1),
                        np.stack([1 - np.cos(a2), 0.5 - np.sin(a2)], 1)])
    x += 0.1 * rng.randn(n, 2)
    x = (x - np.array([0.5, 0.25])) / np.array([0.87, 0.5])  # roughly standardise
    return x[rng.permutation(n)]


class CNF(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                                       torch.nn.Tanh(), torch.nn.Linear(64, 2))
        self.nfe = 0
        self.e = None

    def forward(self, t, state):
        self.nfe += 1
        z, _ = state
        with torch.set_grad_enabled(True):
            if not z.requires_grad:
                z = z.requires_grad_(True)
            tt = torch.ones_like(z[:, :1]) * t
            dz = self.net(torch.cat([z, tt], 1))
            if args.trace == "exact":
                tr = 0.0
                for i in range(2):
                    tr = tr + torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0][:, i]
            else:
                e_dzdx = torch.autograd.grad(dz, z, self.e, create_graph=True)[0]
                tr = (e_dzdx * self.e).sum(1)
        return dz, -tr


func = CNF().to(tdt)
opt = torch.optim.Adam(func.parameters(), lr=1e-3)
tspan = torch.tensor([0.0, 1.0], dtype=tdt)
LOG2PI = math.log(2 * math.pi)

times, cpus, losses, nfe_f, nfe_b = [], [], [], [], []
t_start = time.perf_counter()
for it in range(args.iters):
    x = torch.tensor(two_moons(args.batch), dtype=tdt)
    c0 = time.process_time(); w0 = time.perf_counter()
    opt.zero_grad()
    func.e = torch.randn_like(x) if args.trace == "hutchinson" else None
    func.nfe = 0
    zT, dlogpT = torchdiffeq.odeint_adjoint(func, (x, torch.zeros(args.batch, dtype=tdt)), tspan,
                                            rtol=RTOL, atol=ATOL, method="dopri5",
                                            adjoint_params=tuple(func.parameters()))
    z1, dlogp1 = zT[-1], dlogpT[-1]
    logpz = -0.5 * (z1 ** 2).sum(1) - LOG2PI  # log N(z; 0, I) in 2-D
    loss = -(logpz - dlogp1).mean()
    nf = func.nfe
    loss.backward()
    nb = func.nfe - nf
    opt.step()
    times.append(time.perf_counter() - w0); cpus.append(time.process_time() - c0)
    losses.append(loss.item()); nfe_f.append(nf); nfe_b.append(nb)
    if time.perf_counter() - t_start > args.budget_s:
        break

out = dict(workload="W5_ffjord_cnf_train", system=f"torchdiffeq_dopri5_adjoint_{args.trace}", threads=args.threads,
           dtype=args.dtype, batch=args.batch, rtol=RTOL, atol=ATOL,
           version=f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}",
           torch_num_threads=torch.get_num_threads(), iters_requested=args.iters, iters_done=len(times),
           median_iter_s=statistics.median(times), min_iter_s=min(times), max_iter_s=max(times),
           mean_iter_s=statistics.fmean(times), total_s=sum(times), cpu_over_wall=sum(cpus) / sum(times),
           nfe_forward_median=statistics.median(nfe_f), nfe_backward_median=statistics.median(nfe_b),
           nfe_forward_first_last=[nfe_f[0], nfe_f[-1]], nfe_backward_first_last=[nfe_b[0], nfe_b[-1]],
           loss_first=losses[0], loss_last=losses[-1],
           note="median over all iterations (no warm-up excluded); NFE = calls of the dynamics function")
out["python"] = platform.python_version()
# The keys of `cargo xtask bench`: time per iteration, RHS evaluations per iteration, last loss.
out["median_s"] = out["median_iter_s"]
out["nfe"] = statistics.median([f + b for f, b in zip(nfe_f, nfe_b)])
out["final_loss"] = out["loss_last"]
print(json.dumps(out))
