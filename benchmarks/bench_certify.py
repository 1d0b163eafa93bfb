"""Sound certification on the yardstick systems S1-S6 (docs/benchmarks.md, issue 3).

Run: ``python benchmarks/bench_certify.py`` (prints markdown for docs/benchmarks.md).

S1 linear family: max_certified_rate against the closed form. S2 reversed Van der Pol:
region_of_attraction with the quadratic V from the linearisation. S3 inverted pendulum with LQR
(NLC parameters): certify a box and the ROA level, no excluded ball. S4-S6 FOSSIL systems:
certify on FOSSIL's domain with the equilibrium included. The certifier is deterministic (no
seeds enter), so "10 runs" are 10 repetitions of the same run; times are medians (and means).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.linalg
import torch
from _common import machine

import lyactrl
from lyactrl.verify import local_rate_limit


def timed(fn, repeats: int):
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times), statistics.mean(times)


def s1(repeats: int) -> list[str]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(10):
        n = 2 + i % 3
        M = rng.normal(size=(n, n))
        A = M - (max(np.linalg.eigvals(M).real) + 0.2 + rng.uniform()) * np.eye(n)
        P = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(n))
        P = 0.5 * (P + P.T)
        best = float(scipy.linalg.eigh(np.eye(n), P, eigvals_only=True)[0])
        box = lyactrl.Box([-1.0] * n, [1.0] * n)
        res, med, _ = timed(
            lambda A=A, P=P, box=box: lyactrl.max_certified_rate(
                lyactrl.LinearSystem(A), lyactrl.Quadratic(P), box
            ),
            repeats,
        )
        gap = (best - res.rate) / best
        rows.append(
            f"| {i} | {n} | {best:.6f} | {res.rate:.6f} | {100 * gap:.3f} % | "
            f"{'yes' if res.rate <= best else '**no**'} | {res.iterations} | {med:.3f} |"
        )
    head = [
        "| system | n | closed form | certified | below by | never above | certify calls | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return head + rows


def s2(repeats: int) -> list[str]:
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(vdp)
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    roa, med, _ = timed(lambda: lyactrl.region_of_attraction(vdp, V, domain), repeats)
    cert, cmed, _ = timed(
        lambda: lyactrl.certify(lyactrl.ExponentialStability(vdp, V, roa.rate), roa.region),
        repeats,
    )
    d = roa.decay_bound
    sim = lyactrl.simulated_region_of_attraction(vdp, domain, grid=101, t_final=20.0)
    ratio = lyactrl.volume_ratio(roa.region, sim)
    front, fmed, _ = timed(lambda: lyactrl.rate_level_front(vdp, V, domain), repeats)
    pts = []
    for r, res in zip(front.rates, front.regions, strict=True):
        share = 100 * lyactrl.volume_ratio(res.region, sim)
        pts.append(f"{r:.3f} / {res.level:.3f} / {share:.1f} %")
    return [
        "| V | rate | level | level upper | status (ROA / re-certify) | boxes | c | alpha | "
        "volume ratio (simulated ROA, 101^2 grid) | ROA s | re-certify s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| quadratic (linearisation, Q = I) | {roa.rate:.4f} | {roa.level:.5f} | "
        f"{roa.level_upper:.5f} | {roa.status} / {cert.status} | {roa.boxes_processed} | "
        f"{d.c:.4f} | {d.alpha:.4f} | {100 * ratio:.1f} % | {med:.3f} | {cmed:.3f} |",
        "",
        f"Rate-level front (`rate_level_front`, {len(front.rates)} certified points, "
        f"{fmed:.2f} s; local limit {front.local_limit:.4f}); rate / level / volume ratio:",
        "",
        "; ".join(pts),
    ]


def pendulum() -> lyactrl.ClosedLoop:
    import control

    m, ell, b, g = 0.15, 0.5, 0.1, 9.81
    A = np.array([[0.0, 1.0], [g / ell, -b / (m * ell**2)]])
    B = np.array([[0.0], [1.0 / (m * ell**2)]])
    K, _, _ = control.lqr(A, B, np.eye(2), np.eye(1))
    plant = lyactrl.SymbolicSystem(
        ["x2", "(m*g*l*sin(x1) - b*x2 + u)/(m*l**2)"],
        "x1, x2",
        inputs="u",
        parameters={"m": m, "l": ell, "b": b, "g": g},
    )
    return lyactrl.ClosedLoop(plant, np.asarray(K))


def s3(repeats: int) -> list[str]:
    loop = pendulum()
    V = lyactrl.Quadratic.from_linearization(loop)
    rate = 0.1 * local_rate_limit(loop, V)
    rows = [
        "| region | rate | status | boxes | median s |",
        "|---|---|---|---|---|",
    ]
    for region in (lyactrl.Box([-6.0, -6.0], [6.0, 6.0]), lyactrl.Ball([0.0, 0.0], 6.0)):
        cond = lyactrl.ExponentialStability(loop, V, rate)
        res, med, _ = timed(lambda cond=cond, region=region: lyactrl.certify(cond, region), repeats)
        rows.append(
            f"| {region!r} | {rate:.4f} | {res.status} | {res.boxes_processed} | {med:.3f} |"
        )
    domain = lyactrl.Box([-6.0, -6.0], [6.0, 6.0])
    roa, med, _ = timed(lambda: lyactrl.region_of_attraction(loop, V, domain, rate=rate), repeats)
    rows.append(
        f"| ROA in {domain!r}: level {roa.level:.4f}, c = {roa.decay_bound.c:.3f}, "
        f"alpha = {roa.decay_bound.alpha:.4f} | {rate:.4f} | {roa.status} | "
        f"{roa.boxes_processed} | {med:.3f} |"
    )
    return rows


FOSSIL = {
    "S4 NonPoly0": (["-x + x*y", "-y"], "x, y", 1.0, 0.16),
    "S5 Poly2": (["-x**3 + y", "-x - y"], "x, y", 10.0, 5.64),
    "S6 NonPoly2": (["-x", "-2*y + 0.1*x*y**2 + z", "-z - 1.5*y"], "x, y, z", 1.0, 0.45),
}


def s456(runs: int) -> list[str]:
    rows = [
        "| system | domain (equilibrium included) | rate | certified runs | mean s | median s | FOSSIL 2.0 mean s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (exprs, states, radius, fossil) in FOSSIL.items():
        sys = lyactrl.SymbolicSystem(exprs, states)
        n = sys.n_states
        region = lyactrl.Ball([0.0] * n, radius)

        def one(sys=sys, region=region):
            V = lyactrl.Quadratic.from_linearization(sys)  # included in the time
            rate = 0.1 * local_rate_limit(sys, V)
            return lyactrl.certify(lyactrl.ExponentialStability(sys, V, rate), region), rate

        times, ok, rate = [], 0, 0.0
        for _ in range(runs):
            t0 = time.perf_counter()
            res, rate = one()
            times.append(time.perf_counter() - t0)
            ok += res.status == "certified"
        rows.append(
            f"| {name} | ball radius {radius:g} | {rate:.4f} | {ok}/{runs} | "
            f"{statistics.mean(times):.3f} | {statistics.median(times):.3f} | {fossil} |"
        )
    return rows


def neural(widths: list[int]) -> list[str]:
    """Certifier cost with a neural candidate: NeuralLyapunov (2 hidden tanh layers) fitted to
    the quadratic V of S2 (so that it is a Lyapunov function), then region_of_attraction."""
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    Vq = lyactrl.Quadratic.from_linearization(vdp)
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    g = torch.Generator().manual_seed(1)
    x = torch.cat([domain.sample(4096, generator=g), 0.01 * domain.sample(1024, generator=g)])
    rows = [
        "| hidden | ROA status | level | boxes | ROA s (no decay) | decay bound s | re-certify s |",
        "|---|---|---|---|---|---|---|",
    ]
    for h in widths:
        V = lyactrl.NeuralLyapunov(
            2, hidden=(h, h, 2), eps=0.05, generator=torch.Generator().manual_seed(0)
        )
        opt = torch.optim.Adam(V.parameters(), lr=1e-2)
        for _ in range(600):
            opt.zero_grad()
            err = (V.value(x) - 0.95 * Vq.value(x)) / (x.pow(2).sum(1) + 1e-2)
            (err**2).mean().backward()
            opt.step()
        V.requires_grad_(False)
        t0 = time.perf_counter()
        roa = lyactrl.region_of_attraction(vdp, V, domain, decay=False)
        t1 = time.perf_counter()
        lyactrl.verify.decay_bound(V, roa.rate, roa.region)
        t2 = time.perf_counter()
        cert = lyactrl.certify(
            lyactrl.ExponentialStability(vdp, V, roa.rate), roa.region, decay=False
        )
        rows.append(
            f"| ({h}, {h}, 2) tanh | {roa.status} | {roa.level:.4f} | {roa.boxes_processed} | "
            f"{t1 - t0:.2f} | {t2 - t1:.2f} | {cert.seconds:.2f} ({cert.status}) |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--neural", type=int, nargs="*", default=[16, 64])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"Machine: {machine()}\n")
    print("S1 linear family (max_certified_rate, tol 1e-3)\n")
    print("\n".join(s1(max(1, args.repeats // 2))))
    print("\nS2 reversed Van der Pol (region_of_attraction, default rate)\n")
    print("\n".join(s2(args.repeats)))
    print("\nS3 inverted pendulum, LQR (NLC parameters)\n")
    print("\n".join(s3(args.repeats)))
    print("\nS4-S6 FOSSIL systems\n")
    print("\n".join(s456(args.runs)))
    if args.neural:
        print("\nNeural candidate on S2 (one run each)\n")
        print("\n".join(neural(args.neural)))


if __name__ == "__main__":
    main()
