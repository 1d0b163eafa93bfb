"""Benchmark: LMI rates (S1) against the closed forms; SOS on Poly2 (S5) and reversed Van der Pol (S2).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_lmi_sos.py [--quick]

Prints a markdown report (machine, medians of repeats) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
import warnings

import numpy as np
import scipy.linalg
import torch

import lyactrl


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores (shared with other jobs), Python {platform.python_version()}"


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_lmi(repeats: int) -> list[str]:
    rng = np.random.default_rng(0)
    rows = [
        "| n | closed form (s) | LMI, P fixed (s) | rate gap, P fixed | LMI, P free (s) | SDPs | "
        "rate / (-2 max Re eig) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in (2, 4, 8, 16):
        M = rng.normal(size=(n, n))
        A = M - (max(np.linalg.eigvals(M).real) + 0.5) * np.eye(n)
        P = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(n))
        P = 0.5 * (P + P.T)
        t_cf, exact = median_time(lambda A=A, P=P: lyactrl.best_quadratic_rate(A, P), 5 * repeats)
        t_fix, fix = median_time(lambda A=A, P=P: lyactrl.lmi_rate(A, P=P), repeats)
        t_free, free = median_time(lambda A=A: lyactrl.lmi_rate(A), repeats)
        assert fix.status == "certified" and free.status == "certified"
        rows.append(
            f"| {n} | {t_cf:.2e} | {t_fix:.3f} | {abs(fix.rate - exact) / exact:.1e} (rel.) | "
            f"{t_free:.3f} | {free.n_solves} | {free.rate / free.reference_rate:.5f} |"
        )
    return rows


def _certify(cond, region) -> str:
    """Sound check by lyactrl.certify (bound propagation), when it is available."""
    certify = getattr(lyactrl, "certify", None)
    if certify is None:
        return "n/a"
    t0 = time.perf_counter()
    res = certify(cond, region, time_limit=300.0)
    return f"{res.status} ({time.perf_counter() - t0:.1f} s)"


def bench_sos_poly2(repeats: int) -> list[str]:
    system = lyactrl.SymbolicSystem(["-x**3 + y", "-x - y"], "x, y")
    box = lyactrl.Box([-3.0, -3.0], [3.0, 3.0])
    rows = [
        "| degree | rate | status | seconds (median) | sampled decrease on [-3, 3]^2 | "
        "lyactrl.certify on [-3, 3]^2 |",
        "|---|---|---|---|---|---|",
    ]
    for degree in (2, 4, 6):
        t, res = median_time(
            lambda d=degree: lyactrl.sos_lyapunov(system, degree=d, rate=0.05), repeats
        )
        check, sound = "-", "-"
        if res.V is not None:
            cond = lyactrl.ExponentialStability(system, res.V, rate=0.05)
            chk = lyactrl.check_sampled(
                cond, box, n_samples=100_000, generator=torch.Generator().manual_seed(0)
            )
            check = f"{chk.status} ({chk.n_violations}/{chk.n_samples} violations)"
            sound = _certify(cond, box)
        rows.append(f"| {degree} | 0.05 | {res.status} | {t:.3f} | {check} | {sound} |")
    return rows


def bench_vdp(iterations: int, grid: tuple[int, int]) -> list[str]:
    system = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    wider = lyactrl.Box([-3.5, -4.5], [3.5, 4.5])  # certify on {V <= c} inside a wider box
    t0 = time.perf_counter()
    roa = lyactrl.simulated_region_of_attraction(system, domain, grid=grid, t_final=20.0, step=0.01)
    t_sim = time.perf_counter() - t0
    coarse = lyactrl.simulated_region_of_attraction(
        system, domain, grid=(grid[0] // 2, grid[1] // 2), t_final=20.0, step=0.01
    )
    rows = [
        f"Simulated ROA: {grid[0]}x{grid[1]} grid, RK4 step 0.01 to t = 20, tol 0.01: "
        f"{100 * roa.fraction:.2f} % of the box ({t_sim:.1f} s); half resolution: "
        f"{100 * coarse.fraction:.2f} %.",
        "",
        "| degree | rate | status | level | volume ratio | SDPs | SOS seconds | "
        "lyactrl.certify on {V <= level} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for degree in (2, 4, 6):
        rate = 0.001
        res = lyactrl.sos_roa(system, domain, degree=degree, rate=rate, iterations=iterations)
        if res.V is None:
            rows.append(
                f"| {degree} | {rate} | {res.status} | - | - | {res.n_solves} | "
                f"{res.seconds:.1f} | - |"
            )
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ratio = lyactrl.volume_ratio(res.V(roa.points) <= res.level, roa)
        flag = " (certified points outside the simulated ROA!)" if caught else ""
        cond = lyactrl.ExponentialStability(system, res.V, rate=rate)
        sound = _certify(cond, lyactrl.Sublevel(res.V, res.level, within=wider))
        rows.append(
            f"| {degree} | {rate} | {res.status} | {res.level:.4g} | {100 * ratio:.2f} %{flag} | "
            f"{res.n_solves} | {res.seconds:.1f} | {sound} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    torch.set_num_threads(1)
    lines = [
        f"Machine: {machine()}.",
        "",
        "S1, linear family (random Hurwitz A, P from A^T P + P A = -I):",
        "",
    ]
    lines += bench_lmi(repeats)
    lines += ["", "S5, FOSSIL Poly2, global SOS search (sos_lyapunov, Clarabel):", ""]
    lines += bench_sos_poly2(repeats)
    lines += [
        "",
        "S2, reversed Van der Pol on [-2.5, 2.5] x [-3.5, 3.5] (sos_roa, V-s iteration):",
        "",
    ]
    lines += bench_vdp(8 if args.quick else 40, (100, 140) if args.quick else (200, 280))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
