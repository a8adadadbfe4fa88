#!/usr/bin/env python3
"""Independent check of the reference values in `sciml_ode::problems`.

Each stiff problem of the IVP test set (F. Mazzia and C. Magherini, "Test Set for Initial Value
Problem Solvers", release 2.4, University of Bari, 2008) is written here again in numpy, solved
with scipy's Radau IIA (order 5) with the analytic Jacobian at rtol 1e-13 and a tiny atol, and
with LSODA (Adams/BDF, ODEPACK) at rtol 1e-12 as a second, different method. The published
end-point values (the `solut` routines of the test set's Fortran files) are compared with both;
the script prints the largest componentwise relative difference for each.

Robertson at t = 1e5 has no published value: this script computes it (Radau, rtol 1e-13,
atol 1e-22) and prints it with 17 digits; those are the `REF_T1E5` constants in
crates/sciml-ode/src/problems/robertson.rs, and their agreement with LSODA and with a looser
Radau run is printed next to them.

Usage (a few seconds to a minute):
    target/peers-venv/bin/python crates/sciml-ode/tests/testset_reference.py
"""
import argparse
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

RTOL_RADAU = 1e-13
RTOL_LSODA = 1e-12


# ---------------------------------------------------------------- problems (as in the test set)

def rober(t, y, k1=0.04, k2=3e7, k3=1e4):
    y1, y2, y3 = y
    return [-k1 * y1 + k3 * y2 * y3, k1 * y1 - k3 * y2 * y3 - k2 * y2 * y2, k2 * y2 * y2]


def rober_jac(t, y, k1=0.04, k2=3e7, k3=1e4):
    y1, y2, y3 = y
    return np.array([[-k1, k3 * y3, k3 * y2],
                     [k1, -k3 * y3 - 2 * k2 * y2, -k3 * y2],
                     [0.0, 2 * k2 * y2, 0.0]])


EPS_VDP = 1e-6


def vdpol(t, y):
    return [y[1], ((1 - y[0] ** 2) * y[1] - y[0]) / EPS_VDP]


def vdpol_jac(t, y):
    return np.array([[0.0, 1.0], [(-2 * y[0] * y[1] - 1) / EPS_VDP, (1 - y[0] ** 2) / EPS_VDP]])


def hires(t, y):
    f = np.empty(8)
    f[0] = -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007
    f[1] = 1.71 * y[0] - 8.75 * y[1]
    f[2] = -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4]
    f[3] = 8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3]
    f[4] = -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6]
    f[5] = -280.0 * y[5] * y[7] + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6]
    f[6] = 280.0 * y[5] * y[7] - 1.81 * y[6]
    f[7] = -f[6]
    return f


def hires_jac(t, y):
    j = np.zeros((8, 8))
    j[0, :3] = [-1.71, 0.43, 8.32]
    j[1, :2] = [1.71, -8.75]
    j[2, 2:5] = [-10.03, 0.43, 0.035]
    j[3, 1:4] = [8.32, 1.71, -1.12]
    j[4, 4:7] = [-1.745, 0.43, 0.43]
    j[5, 3:8] = [0.69, 1.71, -280.0 * y[7] - 0.43, 0.69, -280.0 * y[5]]
    j[6, 5:8] = [280.0 * y[7], -1.81, 280.0 * y[5]]
    j[7] = -j[6]
    return j


K_POLLU = [.35, .266e2, .123e5, .86e-3, .82e-3, .15e5, .13e-3, .24e5, .165e5, .9e4, .22e-1, .12e5,
           .188e1, .163e5, .48e7, .35e-3, .175e-1, .1e9, .444e12, .124e4, .21e1, .578e1, .474e-1,
           .178e4, .312e1]
# reaction j: (rate constant index, reactants (0-based species), products with multiplicity)
POLLU_REACTIONS = [
    ([0], [1, 2]), ([1, 3], [0]), ([4, 1], [0, 5]), ([6], [4, 4, 7]), ([6], [7]),
    ([6, 5], [4, 7]), ([8], [9, 4, 7]), ([8, 5], [10]), ([10, 1], [0, 9, 11]), ([10, 0], [12]),
    ([12], [0, 10]), ([9, 1], [13, 0]), ([13], [6, 4]), ([0, 5], [14]), ([2], [3]), ([3], [15]),
    ([3], [2]), ([15], [5, 5]), ([15], [2]), ([16, 5], [17, 4]), ([18], [1]), ([18], [0, 2]),
    ([0, 3], [18]), ([18, 0], [19]), ([19], [0, 18]),
]


def pollu(t, y):
    """Written from the reaction list (not from the test set's expanded sums), so a typo in one
    of the two forms shows as a disagreement with the Rust unit test's hand evaluation."""
    f = np.zeros(20)
    for k, (reac, prod) in zip(K_POLLU, POLLU_REACTIONS):
        r = k * np.prod([y[i] for i in reac])
        for i in reac:
            f[i] -= r
        for i in prod:
            f[i] += r
    return f


def pollu_jac(t, y):
    j = np.zeros((20, 20))
    for k, (reac, prod) in zip(K_POLLU, POLLU_REACTIONS):
        for a in range(len(reac)):
            dr = k * np.prod([y[i] for b, i in enumerate(reac) if b != a])
            col = reac[a]
            for i in reac:
                j[i, col] -= dr
            for i in prod:
                j[i, col] += dr
    return j


def orego(t, y):
    return [77.27 * (y[1] + y[0] * (1 - 8.375e-6 * y[0] - y[1])),
            (y[2] - (1 + y[0]) * y[1]) / 77.27,
            0.161 * (y[0] - y[2])]


def orego_jac(t, y):
    return np.array([[77.27 * (1 - 2 * 8.375e-6 * y[0] - y[1]), 77.27 * (1 - y[0]), 0.0],
                     [-y[1] / 77.27, -(1 + y[0]) / 77.27, 1 / 77.27],
                     [0.161, 0.0, -0.161]])


# Published values: the `solut` routines of rober.f, vdpol.f, hires.f, pollu.f, orego.f.
PROBLEMS = [
    ("rober t=1e11", rober, rober_jac, [1.0, 0.0, 0.0], 1e11,
     [0.2083340149701255e-07, 0.8333360770334713e-13, 0.9999999791665050]),
    ("vdpol t=2", vdpol, vdpol_jac, [2.0, 0.0], 2.0,
     [0.1706167732170483e+01, -0.8928097010247975e+00]),
    ("hires t=321.8122", hires, hires_jac, [1, 0, 0, 0, 0, 0, 0, 0.0057], 321.8122,
     [0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4, 0.1175651343283149e-2,
      0.2386356198831331e-2, 0.6238968252742796e-2, 0.2849998395185769e-2, 0.2850001604814231e-2]),
    ("pollu t=60", pollu, pollu_jac,
     [0, 0.2, 0, 0.04, 0, 0, 0.1, 0.3, 0.01, 0, 0, 0, 0, 0, 0, 0, 0.007, 0, 0, 0], 60.0,
     [0.5646255480022769e-01, 0.1342484130422339e+00, 0.4139734331099427e-08, 0.5523140207484359e-02,
      0.2018977262302196e-06, 0.1464541863493966e-06, 0.7784249118997964e-01, 0.3245075353396018e+00,
      0.7494013383880406e-02, 0.1622293157301561e-07, 0.1135863833257075e-07, 0.2230505975721359e-02,
      0.2087162882798630e-03, 0.1396921016840158e-04, 0.8964884856898295e-02, 0.4352846369330103e-17,
      0.6899219696263405e-02, 0.1007803037365946e-03, 0.1772146513969984e-05, 0.5682943292316392e-04]),
    ("orego t=360", orego, orego_jac, [1.0, 2.0, 3.0], 360.0,
     [0.1000814870318523e+01, 0.1228178521549917e+04, 0.1320554942846706e+03]),
]


def solve(f, jac, y0, t1, method, rtol, atol):
    sol = solve_ivp(f, (0.0, t1), np.asarray(y0, float), method=method, jac=jac, rtol=rtol,
                    atol=atol, first_step=None)
    if not sol.success:
        raise RuntimeError(sol.message)
    return sol.y[:, -1]


def solve_bdf(f, jac, y0, t1, atol):
    """The second method is LSODA (scipy's BDF fails with "step size less than spacing" on Van der
    Pol below rtol 1e-8); loosen until it runs, and say which rtol was used."""
    for rtol in (RTOL_LSODA, 1e-11, 1e-10, 1e-9):
        try:
            return solve(f, jac, y0, t1, "LSODA", rtol, atol), rtol
        except RuntimeError:
            continue
    raise RuntimeError("LSODA failed at every rtol")


def relerr(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    worst = 0.0
    for name, f, jac, y0, t1, ref in PROBLEMS:
        # atol far below the smallest reference component, so every component is resolved
        # relatively (pollu's y16 is 4e-18).
        atol = 1e-24
        t0 = time.perf_counter()
        radau = solve(f, jac, y0, t1, "Radau", RTOL_RADAU, atol)
        # LSODA gets an atol 1e8 times below the smallest reference component (Van der Pol's
        # components cross zero, where atol 1e-24 stalls a multistep method).
        bdf, rb = solve_bdf(f, jac, y0, t1, min(1e-14, 1e-8 * min(abs(x) for x in ref)))
        e_r, e_b = relerr(radau, ref), relerr(bdf, ref)
        worst = max(worst, e_r)
        print(f"{name:18s} max rel diff to published: Radau(1e-13) {e_r:.1e}, LSODA({rb:.0e}) {e_b:.1e}"
              f"  [{time.perf_counter() - t0:.1f} s]")
    # Robertson at t = 1e5: no published value; computed here.
    radau = solve(rober, rober_jac, [1.0, 0.0, 0.0], 1e5, "Radau", RTOL_RADAU, 1e-22)
    radau2 = solve(rober, rober_jac, [1.0, 0.0, 0.0], 1e5, "Radau", 1e-12, 1e-21)
    bdf, rb = solve_bdf(rober, rober_jac, [1.0, 0.0, 0.0], 1e5, 1e-22)
    print("rober t=1e5 (computed, Radau rtol 1e-13 atol 1e-22):")
    for x in radau:
        print(f"    {x:.16e}")
    print(f"    rel diff to Radau(1e-12): {relerr(radau2, radau):.1e}, to LSODA({rb:.0e}): {relerr(bdf, radau):.1e},"
          f" mass balance |sum - 1| = {abs(sum(radau) - 1):.1e}")
    print(f"worst Radau disagreement with a published value: {worst:.1e}")
    return 0 if worst < 1e-8 else 1


if __name__ == "__main__":
    sys.exit(main())
