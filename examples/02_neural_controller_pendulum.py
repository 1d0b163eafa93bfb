"""A pendulum with a neural controller: train it with the sampled condition, then certify.

The inverted pendulum of Neural Lyapunov Control (m = 0.15, l = 0.5, b = 0.1) is stabilised
by a small tanh network u = k(x) with k(0) = 0 (no biases). V is the LQR closed loop's
quadratic Lyapunov function; the controller is trained so that grad V . f(x, k(x)) + rate V <= 0
on sampled states (LyaNet's hinge, no ODE solve), then checked on samples and certified by
branch and bound on the whole box — the equilibrium included, no excluded ball.

Run: ``python examples/02_neural_controller_pendulum.py`` (``--fast`` for CI).
"""

from __future__ import annotations

import argparse

import control
import numpy as np
import torch

import lyactrl
from lyactrl.train import hinge_loss

M, L, B, G = 0.15, 0.5, 0.1, 9.81


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)

    plant = lyactrl.SymbolicSystem(
        ["x2", "(m*g*l*sin(x1) - b*x2 + u) / (m*l**2)"],
        "x1, x2",
        inputs="u",
        parameters={"m": M, "g": G, "l": L, "b": B},
    )
    A = np.array([[0.0, 1.0], [G / L, -B / (M * L**2)]])
    Bu = np.array([[0.0], [1.0 / (M * L**2)]])
    K, _, _ = control.lqr(A, Bu, np.eye(2), np.eye(1))
    V = lyactrl.Quadratic.from_linearization(lyactrl.ClosedLoop(plant, K))
    rate = 1.0

    controller = torch.nn.Sequential(
        torch.nn.Linear(2, 16, bias=False), torch.nn.Tanh(), torch.nn.Linear(16, 1, bias=False)
    ).double()
    loop = lyactrl.ClosedLoop(plant, controller)
    cond = lyactrl.ExponentialStability(loop, V, rate)
    region = lyactrl.Box([-1.0, -2.0], [1.0, 2.0])
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(controller.parameters(), lr=1e-2)
    for step in range(150 if args.fast else 600):
        x = region.sample(1024, generator=gen)
        d2 = (x**2).sum(1)
        loss, frac = hinge_loss(cond.evaluate(x) + 0.05 * d2)  # strict margin near 0
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:4d}: loss {float(loss.detach()):.4f}, violating {float(frac):.3f}")

    with torch.no_grad():
        sampled = lyactrl.check_sampled(cond, region, n_samples=50_000, generator=gen)
    print(f"sampled: {sampled.status}, {sampled.n_violations} violations; {sampled.message}")
    cert = lyactrl.certify(cond, region, time_limit=30.0)
    print(
        f"certify on {region}: {cert.status} in {cert.seconds:.2f} s ({cert.boxes_processed} boxes)"
    )
    linear_rate = lyactrl.best_quadratic_rate(lyactrl.linearize(loop), V.P)
    print(f"rate {rate} (the learned loop's linearisation allows {linear_rate:.3f})")


if __name__ == "__main__":
    main()
