"""Controller synthesis (issue 11): a saturated controller learned with its certificate.

Three cases, each run through ``lyactrl.fit_controller`` (the learned controller and V, and
the saturated LQR controller with the quadratic V of its closed loop as the baseline, both
certified by ``region_of_attraction``):

(a) ``pendulum``: Neural Lyapunov Control's inverted pendulum (m = 0.15, l = 0.5, b = 0.1,
    g = 9.81) with the torque limit |u| <= 0.5 on [-pi/2, pi/2] x [-4, 4]. The limit is below
    the largest gravity torque m g l = 0.736 N m, so no controller holds the pendulum beyond
    |theta| = asin(0.5 / 0.736) = 0.75 rad at rest, and the saturated LQR law's certified set
    is small.
(b) ``path``: path tracking of a kinematic vehicle on a circle (v = 2, L = 1, R = 10), state
    (distance error d, angle error theta), steering |u| <= 0.84 on [-3, 3]^2:
    d' = v sin(theta), theta' = v tan(u) / L - v cos(theta) / (R - d). The equilibrium input is
    the feed-forward steering atan(L / R), so the plant's input is w = u - atan(L / R) (limits
    shifted), and tan(w + a) is written by the addition formula (sin and cos, which the
    certifier bounds).
(c) ``discrete``: the discrete-time pendulum of Yang et al. 2024 (Euler, dt = 0.05,
    |u| <= 6 on [-12, 12]^2; theta'' = (g / l) sin(theta) - b / (m l^2) theta' + u / (m l^2));
    their published certified level is rho ~ 708 for their own controller and V (not
    comparable level for level: a level is in the units of its V).

Containment of the LQR set in the learned one is checked on a dense grid (labelled so: not a
proof) and, where the grid check passes, proved by sound bounds (``lyactrl.prove_contained``).
Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_synthesis.py [--cases pendulum path
discrete] [--steps 1000] [--figure]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from _common import machine

import lyactrl

M, L, B, G = 0.15, 0.5, 0.1, 9.81


def pendulum():
    plant = lyactrl.SymbolicSystem(
        ["x2", f"({M * G * L}*sin(x1) - {B}*x2 + u)/({M * L * L})"], "x1, x2", inputs="u"
    )
    return plant, lyactrl.Box([-math.pi / 2, -4.0], [math.pi / 2, 4.0]), 0.5


def path_tracking():
    """theta' = v tan(w + a) / L - v cos(theta) / (R - d) with tan(a) = L / R = 1/10, v = 2,
    L = 1, R = 10, over the common denominator: with tan(w + a) = (sin w + cos w / 10) /
    (cos w - sin w / 10) and 1 - cos(theta) = 2 sin(theta / 2)^2 the numerator is
    2 (10 - d) sin w + cos w (4 sin(theta / 2)^2 - d / 5) + cos(theta) sin w / 5 and the
    denominator (cos w - sin w / 10) (10 - d). Written so, the real vector field vanishes
    exactly at 0 and its enclosure there is exactly 0 (the certifier's local premise; a
    difference such as 2/10 - 2*0.1 is only known to lie in a rounding interval)."""
    a = math.atan(0.1)
    num = "2*(10 - d)*sin(w) + cos(w)*(4*sin(th/2)**2 - d/5) + cos(th)*sin(w)/5"
    den = "(cos(w) - sin(w)/10)*(10 - d)"
    plant = lyactrl.SymbolicSystem(["2*sin(th)", f"({num})/({den})"], "d, th", inputs="w")
    # the rewriting is the textbook field (checked at random states and inputs)
    x = torch.rand(256, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, w = 6 * x - 3, torch.rand(256, 1, dtype=torch.float64) - 0.5
    ref = 2 * torch.tan(w[:, 0] + a) - 2 * torch.cos(x[:, 1]) / (10 - x[:, 0])
    assert torch.allclose(plant.vector_field(0.0, x, w)[:, 1], ref, atol=1e-12)
    return plant, lyactrl.Box([-3.0, -3.0], [3.0, 3.0]), (-0.84 - a, 0.84 - a)


def discrete_pendulum():
    flow = lyactrl.SymbolicSystem(
        ["x2", f"{G / L}*sin(x1) - {B / (M * L * L)}*x2 + {1 / (M * L * L)}*u"],
        "x1, x2",
        inputs="u",
    )
    plant = lyactrl.DiscreteSystem.discretize(flow, dt=0.05)
    return plant, lyactrl.Box([-12.0, -12.0], [12.0, 12.0]), 6.0


CASES = {"pendulum": pendulum, "path": path_tracking, "discrete": discrete_pendulum}


def containment(fit) -> tuple[bool, int]:
    """Whether every point of a 400 x 400 grid of the domain in the LQR set is in the learned
    one (a dense-grid check, not a proof), and how many grid points the LQR set has."""
    dom = fit.domain
    axes = [
        torch.linspace(float(a), float(b), 400, dtype=torch.float64)
        for a, b in zip(dom.lo, dom.hi, strict=True)
    ]
    pts = torch.cartesian_prod(*axes)
    with torch.no_grad():
        lqr_in = fit.lqr_V.value(pts) <= fit.lqr_level
        ours = fit.V.value(pts) <= fit.level
    return bool((ours | ~lqr_in).all()), int(lqr_in.sum())


def prove_containment(fit, *, max_boxes: int = 400_000, time_limit: float = 120.0) -> str:
    """Prove ``{x in domain : V_lqr(x) <= c_lqr}`` inside ``{V(x) <= c}`` by sound bounds
    (:func:`lyactrl.prove_contained`), strictly when a state of the learned set is proved
    outside LQR's."""
    if fit.V is fit.lqr_V and fit.level == fit.lqr_level:
        return "the same set (the baseline was returned)"
    res = lyactrl.prove_contained(
        lyactrl.Sublevel(fit.lqr_V, fit.lqr_level, within=fit.domain),
        lyactrl.Sublevel(fit.V, fit.level, within=fit.domain),
        max_boxes=max_boxes,
        time_limit=time_limit,
    )
    if res.status == "certified":
        how = "strictly" if res.strict else "not shown strict"
        return f"proved, {how} ({res.boxes_processed} boxes, {res.seconds:.1f} s)"
    return f"{res.status}: {res.message}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--figure", action="store_true", help="write docs/img/controller_<case>.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.cases:
        plant, domain, bounds = CASES[name]()
        t0 = time.perf_counter()
        fit = lyactrl.fit_controller(
            plant,
            domain,
            u_bounds=bounds,
            controller="neural",
            steps=args.steps,
            rounds=args.rounds,
            seed=args.seed,
            time_limit=args.time_limit,
            progress=False,
        )
        total = time.perf_counter() - t0
        contains, n_lqr = containment(fit)
        proof = prove_containment(fit) if contains else "-"
        dec = fit.decay_bound
        rows.append((name, fit, contains, n_lqr, total, dec, proof))
        print(name, fit, "|", fit.message, "| containment:", proof, flush=True)
        if args.figure:
            from lyactrl.plot import controller_plot

            steps = 200 if plant.is_discrete else 400
            controller_plot(fit, steps=steps, path=f"docs/img/controller_{name}")
    print(f"\nMachine: {machine()}\n")
    print(
        "| case | learned status | learned V | level | share | LQR status | LQR level | LQR share "
        "| LQR set inside learned (400^2 grid) | proof of it | decay c, alpha | train (s) "
        "| certify (s) | total (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, fit, contains, n_lqr, total, dec, proof in rows:
        dtxt = f"{dec.c:.3g}, {dec.alpha:.3g}" if dec is not None else "-"
        print(
            f"| {name} | {fit.status} | {type(fit.V).__name__} | {fit.level:.4g} "
            f"| {100 * fit.volume_share:.2f} % | {fit.lqr_status} | {fit.lqr_level:.4g} "
            f"| {100 * fit.lqr_volume_share:.2f} % | {'yes' if contains else 'no'} "
            f"({n_lqr} points) | {proof} | {dtxt} | {fit.train_seconds:.1f} | {fit.certify_seconds:.1f} "
            f"| {total:.1f} |"
        )


if __name__ == "__main__":
    main()
