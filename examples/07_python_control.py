"""Interoperate with python-control: LQR design there, stability analysis here.

The inverted pendulum of Neural Lyapunov Control (m = 0.15, l = 0.5, b = 0.1) is linearised in
python-control, an LQR gain is designed with ``control.lqr``, the nonlinear plant is closed
with that gain in lyactrl, and the closed loop is checked with a quadratic V. The linear
closed loop goes back to python-control for a step response.

Run: ``python examples/07_python_control.py`` (add ``--fast`` for fewer samples).
"""

from __future__ import annotations

import argparse

import control
import numpy as np
import torch

import lyactrl

M, L, B, G = 0.15, 0.5, 0.1, 9.81


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args()
    n = 20_000 if args.fast else 200_000

    # theta'' = (m g l sin(theta) - b theta' + u) / (m l^2)
    plant = lyactrl.SymbolicSystem(
        ["x2", "(m*g*l*sin(x1) - b*x2 + u) / (m*l**2)"],
        "x1, x2",
        inputs="u",
        parameters={"m": M, "g": G, "l": L, "b": B},
    )
    A = np.array([[0.0, 1.0], [G / L, -B / (M * L**2)]])
    Bu = np.array([[0.0], [1.0 / (M * L**2)]])
    linear = lyactrl.to_control(lyactrl.LinearSystem(A, B=Bu))
    K, _, poles = control.lqr(linear, np.eye(2), np.eye(1))
    print(f"LQR gain K = {np.round(K, 4).tolist()}, closed-loop poles {np.round(poles, 3)}")

    loop = lyactrl.ClosedLoop(plant, K)  # u = -K x
    A_cl = lyactrl.linearize(loop).numpy()
    np.testing.assert_allclose(A_cl, A - Bu @ K, atol=1e-9)

    V = lyactrl.Quadratic.from_linearization(loop)
    best = lyactrl.best_quadratic_rate(A_cl, V.P)
    cond = lyactrl.ExponentialStability(loop, V, 0.5 * best)
    box = lyactrl.Box([-1.0, -2.0], [1.0, 2.0])
    res = lyactrl.check_sampled(cond, box, n_samples=n, generator=torch.Generator().manual_seed(0))
    print(f"best linear rate {best:.4f}; at rate {0.5 * best:.4f} on {box}: {res.status}")
    print(f"  {res.message}")

    # back to python-control: the linear closed loop's step response settles
    closed = lyactrl.to_control(lyactrl.LinearSystem(A_cl, B=Bu))
    resp = control.step_response(closed, T=np.linspace(0, 5, 200))
    print(f"step response of theta settles at {float(resp.outputs[0, 0, -1]):.4f} rad per unit u")


if __name__ == "__main__":
    main()
