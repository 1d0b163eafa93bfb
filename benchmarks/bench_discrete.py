"""Discrete-time yardsticks (issue 11): FOSSIL's Ahmadi map, linear maps against their closed
form, a sampled-data saturated double integrator and the discrete pendulum of Yang et al. 2024
under saturated LQR.

Run: ``python benchmarks/bench_discrete.py`` (prints markdown rows for docs/benchmarks.md).
Times are medians of repeated runs on this machine; every row goes through the public API.
"""

from __future__ import annotations

import statistics
import time

import control
import numpy as np
import scipy.linalg
import torch
from _common import machine

import lyactrl

D = torch.float64


def ahmadi() -> str:
    """10 independent runs: V from the discrete Lyapunov equation, then the region of
    attraction on [-10, 10]^2 (equilibrium included)."""
    times, ok, level = [], 0, 0.0
    for _ in range(10):
        t0 = time.perf_counter()
        system = lyactrl.DiscreteSystem(
            ["0.687*x + 0.558*y - 0.0001*x*y", "-0.292*x + 0.773*y"], states="x, y"
        )
        V = lyactrl.Quadratic.from_linearization(system)
        roa = lyactrl.region_of_attraction(system, V, lyactrl.Box([-10.0, -10.0], [10.0, 10.0]))
        times.append(time.perf_counter() - t0)
        ok += roa.status == "certified" and roa.local_lo is not None
        level = roa.level
    return (
        f"| Ahmadi map (FOSSIL 2.0: 0.51 s mean, 10/10) | region of attraction on [-10, 10]^2, "
        f"x_eq included | {ok}/10 certified, level {level:.4g}, rate {roa.rate:.4g} | "
        f"{statistics.median(times):.3f} (median), {statistics.mean(times):.3f} (mean) |"
    )


def linear_maps() -> list[str]:
    rows = []
    for n in (2, 4, 6):
        rng = np.random.default_rng(n)
        M = rng.normal(size=(n, n))
        A = M * (0.9 / max(abs(np.linalg.eigvals(M))))
        P = scipy.linalg.solve_discrete_lyapunov(A.T, np.eye(n))
        P = 0.5 * (P + P.T)
        k = lyactrl.best_quadratic_rate(A, P, discrete=True)
        system, V = lyactrl.DiscreteSystem(torch.tensor(A, dtype=D)), lyactrl.Quadratic(P)
        t0 = time.perf_counter()
        res = lyactrl.max_certified_rate(system, V, lyactrl.Box([-1.0] * n, [1.0] * n))
        s = time.perf_counter() - t0
        rows.append(
            f"| linear map, n = {n}, spectral radius 0.9 | max_certified_rate vs closed form "
            f"{k:.6f} | {res.status}, {res.rate:.6f} ({res.rate / k:.4f} of it), "
            f"{res.iterations} certify calls | {s:.2f} |"
        )
    return rows


def saturated_double_integrator() -> str:
    plant = lyactrl.DiscreteSystem.discretize(
        lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]]), dt=0.1
    )
    K = torch.tensor([[1.0, 1.7]], dtype=D)
    loop = lyactrl.ClosedLoop(plant, lambda x: torch.clamp(-x @ K.T, -1.0, 1.0))
    V = lyactrl.Quadratic.from_linearization(loop)
    t0 = time.perf_counter()
    roa = lyactrl.region_of_attraction(loop, V, lyactrl.Box([-4.0, -4.0], [4.0, 4.0]))
    s = time.perf_counter() - t0
    g = torch.linspace(-4, 4, 161, dtype=D)
    grid = torch.cartesian_prod(g, g)
    share = float(roa.region.contains(grid).double().mean())
    return (
        f"| double integrator, Euler dt = 0.1, u = clamp(-Kx, -1, 1) | region of attraction "
        f"on [-4, 4]^2 | {roa.status}, level {roa.level:.4g}, {share:.1%} of the box, "
        f"{roa.boxes_processed} boxes | {s:.2f} |"
    )


def yang_pendulum_lqr() -> str:
    """Yang et al. 2024's discrete pendulum (Euler, dt = 0.05, |u| <= 6, [-12, 12]^2) under
    saturated discrete LQR (their published certified level for their neural controller:
    rho ~ 708, for their own V)."""
    m, length, b, g, dt = 0.15, 0.5, 0.1, 9.81, 0.05
    flow = lyactrl.SymbolicSystem(
        ["x2", f"({m * g * length}*sin(x1) + u - {b}*x2)/{m * length**2}"], "x1, x2", inputs="u"
    )
    plant = lyactrl.DiscreteSystem.discretize(flow, dt=dt)
    A, B = (t.numpy() for t in lyactrl.linearize(plant))
    K, _, _ = control.dlqr(A, B, np.eye(2), np.eye(1))
    Kt = torch.tensor(K, dtype=D)
    loop = lyactrl.ClosedLoop(plant, lambda x: torch.clamp(-x @ Kt.T, -6.0, 6.0))
    V = lyactrl.Quadratic.from_linearization(loop)
    t0 = time.perf_counter()
    roa = lyactrl.region_of_attraction(loop, V, lyactrl.Box([-12.0, -12.0], [12.0, 12.0]))
    s = time.perf_counter() - t0
    gr = torch.linspace(-12, 12, 241, dtype=D)
    share = float(roa.region.contains(torch.cartesian_prod(gr, gr)).double().mean())
    return (
        f"| Yang et al. 2024 discrete pendulum, saturated dLQR (K = {np.round(K, 3).tolist()}) "
        f"| region of attraction on [-12, 12]^2 | {roa.status}, level {roa.level:.4g} for "
        f"V = x^T P x (dLyap), {share:.2%} of the box, rate {roa.rate:.3g} | {s:.2f} |"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"Machine: {machine()}\n")
    print("| system | what | result | seconds |")
    print("|---|---|---|---|")
    print(ahmadi())
    for row in linear_maps():
        print(row)
    print(saturated_double_integrator())
    print(yang_pendulum_lqr())
