"""Peers side by side (issue 13): Drake's RegionOfAttraction and CROWN-style Vdot bounds.

Run, in the separate peers environment (Drake is never a dependency of lyactrl):

    python -m venv --system-site-packages /work/venvs/peers
    /work/venvs/peers/bin/pip install drake==1.51.1 z3-solver
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD /work/venvs/peers/bin/python benchmarks/bench_peers.py

Part 1 (reversed Van der Pol, mu = 1): Drake's ``RegionOfAttraction`` with its default
candidate ``V = x^T P x``, ``A^T P + P A = -I`` (one SOS program for the largest level ``rho``
of ``V``, returned as ``V / rho``), beside lyactrl's ``Quadratic.from_linearization`` (the same
``P``) with ``lyactrl.sos_level`` (the S-procedure at rate 0, by bisection) and the sound
``lyactrl.region_of_attraction`` (interval branch and bound; it needs a rate > 0).

Part 2 (as auto_LiRPA's published example: a 2-16-16-1 tanh ``V``, ``Vdot = grad V . f`` on the
reversed Van der Pol, boxes of radius 0.1): lyactrl's bounds of ``Vdot`` -- the mean-value form
intersected with the interval jet (what ``lyactrl.bounds.bound_residual`` does) and the plain
interval jet (IBP-like) -- beside the range of ``Vdot`` on a dense grid. The networks are
seeded random ones (auto_LiRPA's network is not available). Without pydrake part 1 prints a
note and part 2 still runs. ``--mlp-relaxation all`` bounds ``V``'s gradient with the MLP
relaxation's centred-form Jacobian too (the default relaxes only the local certificate's
Jacobian tests); ``--part 2`` runs part 2 alone. Prints markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import lyactrl  # noqa: E402
from lyactrl.bounds import _torch as torch_bounds  # noqa: E402
from lyactrl.bounds.jets import Jet, candidate_jets, mean_value_bounds, system_jet  # noqa: E402

try:
    from _common import machine, median_time
except ImportError:  # run as a module from the repository root
    from benchmarks._common import machine, median_time

D = torch.float64
FIELD = ["-x2", "x1 + (x1**2 - 1)*x2"]  # reversed Van der Pol, mu = 1


def _vdp() -> lyactrl.SymbolicSystem:
    return lyactrl.SymbolicSystem(FIELD, "x1, x2")


# ----------------------------------------------------------------------------- part 1: Drake


def drake_roa() -> tuple[float, np.ndarray] | None:
    """Drake's level ``rho`` of ``V = x^T P x`` and that ``P``, or ``None`` without pydrake."""
    try:
        from pydrake.all import (
            RealContinuousLyapunovEquation,
            RegionOfAttraction,
            SymbolicVectorSystem,
            Variable,
        )
    except ImportError:
        return None
    x = np.array([Variable("x1"), Variable("x2")])
    system = SymbolicVectorSystem(state=x, dynamics=[-x[1], x[0] + (x[0] ** 2 - 1) * x[1]])
    context = system.CreateDefaultContext()
    W = RegionOfAttraction(system, context)  # V / rho, in Drake's own variables x(0), x(1)
    names = sorted(W.GetVariables(), key=lambda v: v.get_name())

    # recover V / rho's quadratic form from its values at three points
    def at(p: tuple[float, float]) -> float:
        return float(W.Evaluate({names[0]: p[0], names[1]: p[1]}))

    a, c = at((1.0, 0.0)), at((0.0, 1.0))
    b = 0.5 * (at((1.0, 1.0)) - a - c)
    M = np.array([[a, b], [b, c]])
    # Drake's own P (its default: the Lyapunov equation of the linearisation with Q = I)
    A = np.array([[0.0, -1.0], [1.0, -1.0]])
    P = RealContinuousLyapunovEquation(A, np.eye(2))
    ratios = P / M
    assert np.allclose(ratios, ratios[0, 0], rtol=1e-9), ratios  # V / rho is P / rho
    return float(ratios[0, 0]), P


def part1(repeats: int) -> list[str]:
    vdp = _vdp()
    rows = ["### Region of attraction of the reversed Van der Pol (Drake)", ""]
    Vq = lyactrl.Quadratic.from_linearization(vdp)
    P = Vq.P.numpy()
    A = np.array([[0.0, -1.0], [1.0, -1.0]])
    assert np.allclose(A.T @ P + P @ A, -np.eye(2))
    t0 = time.perf_counter()
    drake = drake_roa()
    t_drake = time.perf_counter() - t0
    if drake is None:
        rows += ["pydrake is not importable here: the Drake row is skipped.", ""]
    else:
        rho, Pd = drake
        rows.append(
            f"Drake's V = x^T P x with P = {np.round(Pd, 6).tolist()}; lyactrl's "
            f"`Quadratic.from_linearization` P = {P.tolist()} (the same V, so the levels "
            "compare directly, no conversion)."
        )
        rows.append("")
    Vs = lyactrl.SymbolicCandidate(
        f"{float(P[0, 0])!r}*x1**2 + {float(2 * P[0, 1])!r}*x1*x2 + {float(P[1, 1])!r}*x2**2",
        "x1, x2",
        x_eq=[0.0, 0.0],
    )
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    rows += [
        "| method | level of V = x^T P x | kind | median s | ratio to Drake |",
        "|---|---|---|---|---|",
    ]
    out: list[tuple[str, float, str, float]] = []
    cold = [f"Drake's first call took {t_drake:.3f} s" if drake is not None else ""]
    if drake is not None:
        t = median_time(drake_roa, repeats=repeats, warmup=1)
        out.append(
            (
                "Drake 1.51.1 `RegionOfAttraction` (one SOS program)",
                drake[0],
                "SOS, solver-accurate",
                t,
            )
        )

    def sos(rtol: float):
        V = lyactrl.Quadratic.from_linearization(vdp)
        del V  # timed with the Lyapunov equation, as Drake's call is
        return lyactrl.sos_level(vdp, Vs, rate=0.0, epsilon=1e-6, rtol=rtol)

    for rtol in (1e-3, 1e-5):
        t0 = time.perf_counter()
        res = sos(rtol)
        if rtol == 1e-3:
            cold.append(f"lyactrl `sos_level`'s {time.perf_counter() - t0:.3f} s (cvxpy import)")
        t = median_time(lambda r=rtol: sos(r), repeats=repeats, warmup=1)
        out.append(
            (
                f"lyactrl `sos_level`, rate 0, rtol {rtol:g} ({res.n_solves} SDPs)",
                float(res.level),
                "SOS, solver-accurate",
                t,
            )
        )

    def sound(rate: float):
        V = lyactrl.Quadratic.from_linearization(vdp)
        return lyactrl.region_of_attraction(vdp, V, domain, rate=rate, progress=False)

    for rate in (1e-3, 1e-4):
        res = sound(rate)
        assert res.status == "certified", res
        t = median_time(lambda r=rate: sound(r), repeats=max(1, repeats // 2), warmup=0)
        out.append(
            (
                f"lyactrl `region_of_attraction`, rate {rate:g}",
                float(res.level),
                f"sound (failing level found: {res.level_upper:.6g})",
                t,
            )
        )
    ref = out[0][3] if drake is not None else None
    for name, level, kind, t in out:
        ratio = f"{t / ref:.1f}x" if ref else "-"
        rows.append(f"| {name} | {level:.6g} | {kind} | {t:.4f} | {ratio} |")
    rows += [
        "",
        f"Times: median of {repeats} calls after one warm-up (`region_of_attraction`: of "
        f"{max(1, repeats // 2)}, no warm-up); " + ", ".join(c for c in cold if c) + ".",
        "",
    ]
    return rows


# ----------------------------------------------------------------------------- part 2: CROWN


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return (
        nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
        .double()
        .eval()
    )


def _trained(seed: int, steps: int = 300) -> nn.Module:
    """The seeded network fitted briefly (Adam) to the quadratic V = x^T P x of the
    linearisation on [-2, 2]^2: a V of the published kind's shape rather than a random one."""
    net = _net(seed)
    P = torch.tensor([[1.5, -0.5], [-0.5, 1.0]], dtype=D)
    gen = torch.Generator().manual_seed(seed)
    X = (torch.rand(2048, 2, generator=gen, dtype=D) * 2 - 1) * 2
    y = ((X @ P) * X).sum(1, keepdim=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return net.eval()


def _field(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([-x[:, 1], x[:, 0] + (x[:, 0] ** 2 - 1) * x[:, 1]], 1)


def sampled_range(
    net: nn.Module, lo: torch.Tensor, hi: torch.Tensor, k: int
) -> tuple[float, float]:
    """Range of ``Vdot`` on a ``k x k`` grid of the box (an inner estimate of the true range)."""
    g0 = torch.linspace(float(lo[0, 0]), float(hi[0, 0]), k, dtype=D)
    g1 = torch.linspace(float(lo[0, 1]), float(hi[0, 1]), k, dtype=D)
    X = torch.cartesian_prod(g0, g1).requires_grad_(True)
    (g,) = torch.autograd.grad(net(X).sum(), X)
    vd = (g * _field(X.detach())).sum(1)
    return float(vd.min()), float(vd.max())


#: Pieces per coordinate of the single-box bounds (``mean_value_bounds(..., splits=k)``).
SPLITS = (1, 4, 8)


def part2(
    seeds: list[int], centres: list[tuple[float, float]], radius: float, grid: int, repeats: int
) -> list[str]:
    vdp = _vdp()
    rows = [
        "### Bounds of Vdot = grad V . f, 2-16-16-1 tanh V, boxes of radius "
        f"{radius:g} (CROWN's published example)",
        "",
        f"True range: min and max of Vdot on a {grid} x {grid} grid of the box (an inner "
        "estimate). Ratio: bound width / sampled width. Times: median of "
        f"{repeats} calls on the one box. Networks: seeded PyTorch default initialisation, "
        f"untrained; the last, seed {seeds[0]} fitted by 300 Adam steps to x^T P x on "
        "[-2, 2]^2.",
        "",
        "| seed (V) | centre | sampled range | mean-value form, one box | width ratio | ms | "
        + " | ".join(f"{k} x {k} pieces: bound | ratio | ms" for k in SPLITS[1:])
        + " | interval jet (IBP-like) | ratio | ms |",
        "|---|---|---|---|---|---|" + "---|---|---|" * (len(SPLITS) - 1) + "---|---|---|",
    ]
    ratios: dict = {k: [] for k in SPLITS}
    times: dict = {k: [] for k in SPLITS}
    iv_ratios, iv_t = [], []
    nets = [(str(seed), _net(seed)) for seed in seeds]
    nets.append((f"{seeds[0]}, fitted", _trained(seeds[0])))
    for seed, net in nets:
        V = lyactrl.ModuleCandidate(net, x_eq=[0.0, 0.0], n_states=2)

        def vdot(x: Jet, V=V) -> Jet:
            g = candidate_jets(V, x)[1]
            return (g * system_jet(vdp, x)).sum(1)

        for c in centres:
            ct = torch.tensor([c], dtype=D)
            lo, hi = ct - radius, ct + radius
            s_lo, s_hi = sampled_range(net, lo, hi, grid)
            sw = s_hi - s_lo
            cells = [f"| {seed} | ({c[0]:g}, {c[1]:g}) | [{s_lo:.4f}, {s_hi:.4f}]"]
            for k in SPLITS:
                mv = mean_value_bounds(vdot, lo, hi, splits=k)
                m_lo, m_hi = float(mv.lower[0]), float(mv.upper[0])
                assert m_lo <= s_lo and s_hi <= m_hi
                t = median_time(
                    lambda lo=lo, hi=hi, k=k: mean_value_bounds(vdot, lo, hi, splits=k),
                    repeats=repeats,
                )
                ratios[k].append((m_hi - m_lo) / sw)
                times[k].append(t)
                cells.append(f"[{m_lo:.4f}, {m_hi:.4f}] | {ratios[k][-1]:.2f} | {1e3 * t:.1f}")
            iv = vdot(Jet.variables(lo, hi, 0)).v
            i_lo, i_hi = float(iv[0][0]), float(iv[1][0])
            assert i_lo <= s_lo and s_hi <= i_hi
            ti = median_time(lambda lo=lo, hi=hi: vdot(Jet.variables(lo, hi, 0)), repeats=repeats)
            iv_ratios.append((i_hi - i_lo) / sw)
            iv_t.append(ti)
            cells.append(f"[{i_lo:.4f}, {i_hi:.4f}] | {iv_ratios[-1]:.2f} | {1e3 * ti:.1f} |")
            rows.append(" | ".join(cells))
    # batched: many boxes in one call, time per box
    n_batch = 1024
    gen = torch.Generator().manual_seed(0)
    cs = (torch.rand(n_batch, 2, generator=gen, dtype=D) * 2 - 1) * 1.5
    V0 = lyactrl.ModuleCandidate(_net(seeds[0]), x_eq=[0.0, 0.0], n_states=2)

    def vdot0(x: Jet) -> Jet:
        return (candidate_jets(V0, x)[1] * system_jet(vdp, x)).sum(1)

    tb = median_time(lambda: mean_value_bounds(vdot0, cs - radius, cs + radius), repeats=3)
    tib = median_time(lambda: vdot0(Jet.variables(cs - radius, cs + radius, 0)), repeats=3)
    rows += [""]
    for k in SPLITS:
        r = ratios[k]
        rows.append(
            f"- {k} x {k} piece(s): median width ratio {float(np.median(r)):.2f} (range "
            f"{min(r):.2f}-{max(r):.2f}), median {1e3 * float(np.median(times[k])):.1f} ms/box."
        )
    rows += [
        f"- Interval jet: median width ratio {float(np.median(iv_ratios)):.2f} (range "
        f"{min(iv_ratios):.2f}-{max(iv_ratios):.2f}), median "
        f"{1e3 * float(np.median(iv_t)):.1f} ms/box.",
        f"- Batched ({n_batch} boxes of radius {radius:g} in one call, seed {seeds[0]}): "
        f"mean-value form {1e6 * tb / n_batch:.1f} us/box, interval jet "
        f"{1e6 * tib / n_batch:.1f} us/box.",
        "",
    ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--grid", type=int, default=401)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--mlp-relaxation",
        choices=torch_bounds.MLP_RELAXATIONS,
        default="local",
        help="where stock MLPs are relaxed (all: also V's gradient in part 2)",
    )
    ap.add_argument("--part", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    torch_bounds.MLP_RELAXATION = args.mlp_relaxation
    torch.set_num_threads(1)
    lines = [
        f"Machine: {machine()}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"MLP_RELAXATION: {args.mlp_relaxation}",
        "",
    ]
    if 1 in args.part:
        lines += part1(args.repeats)
    centres = [(0.5, 0.5), (1.0, -0.5), (-0.8, 0.3)]
    if 2 in args.part:
        lines += part2(args.seeds, centres, 0.1, args.grid, args.repeats)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
