"""The figures of the engineer workflows and of the engine changes (issues 9, 10, 12, 13).

Run: ``python benchmarks/bench_workflows.py`` (prints markdown for docs/benchmarks.md). One
run each (the certifier is deterministic; the times are single measurements on a quiet
machine). Every row is computed here, through the public API.
"""

from __future__ import annotations

import time

import control
import numpy as np
import torch
from _common import machine
from torchdiffeq import odeint

import lyactrl

D = torch.float64


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def vdp_max_rate() -> str:
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(vdp)
    res, s = timed(lambda: lyactrl.max_certified_rate(vdp, V, lyactrl.Box([-1, -1], [1, 1])))
    return f"| max_certified_rate, reversed Van der Pol on [-1, 1]^2 | {res.status}, {res.iterations} certify calls | {s:.2f} |"


class Biased(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.A = torch.nn.Linear(2, 2).double()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
        ).double()
        with torch.no_grad():
            self.A.weight.copy_(torch.tensor([[-1.0, 0.5], [-0.5, -1.0]], dtype=D))
            self.A.bias.copy_(torch.tensor([0.1, -0.2], dtype=D))
            for p in self.net.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=D))

    def forward(self, x):
        return self.A(x) + self.net(x)


def biased_network() -> list[str]:
    system = lyactrl.NeuralSystem(Biased(), 2)
    eq, s_eq = timed(lambda: lyactrl.find_equilibrium(system, torch.zeros(2, dtype=D)))
    system = lyactrl.NeuralSystem(system.module, 2, x_eq=eq.x)
    V = lyactrl.Quadratic.from_linearization(system)
    box = lyactrl.Box(eq.x - 0.5, eq.x + 0.5)
    plain = lyactrl.ExponentialStability(system, V, 0.5)
    r0, s0 = timed(lambda: lyactrl.certify(plain, box, time_limit=10.0))
    boxed = lyactrl.ExponentialStability(system, V, 0.5, x_eq_box=eq)
    r1, s1 = timed(lambda: lyactrl.certify(boxed, box, time_limit=10.0))
    return [
        f"| find_equilibrium, A x + b + 2-16-2 tanh network with biases | {eq.status}, box "
        f"{float((eq.hi - eq.lo).max()):.0e} wide | {s_eq:.3f} |",
        f"| certify on x_eq +- 0.5, rate 0.5, V at the numerical root | {r0.status}, "
        f"{r0.boxes_processed} boxes | {s0:.2f} |",
        f"| the same with x_eq_box (the proved equilibrium box) | {r1.status}, "
        f"{r1.boxes_processed} boxes | {s1:.3f} |",
    ]


def saturated_pendulum() -> list[str]:
    def saturated(t, x, u, params):
        x, u = torch.as_tensor(x), torch.as_tensor(u)
        tau = torch.clamp(u[0], -params["u_max"], params["u_max"])
        return torch.stack([x[1], 9.81 * torch.sin(x[0]) - 0.1 * x[1] + tau])

    A, B = np.array([[0.0, 1.0], [9.81, -0.1]]), np.array([[0.0], [1.0]])
    K, S, _ = control.lqr(A, B, np.eye(2), [[1.0]])
    V = lyactrl.Quadratic(S)
    rows = []
    for u_max in (4.0, 3.0, 2.0):
        plant = control.nlsys(
            saturated,
            states=["theta", "omega"],
            inputs=["tau"],
            outputs=2,
            params={"u_max": u_max},
        )
        loop = lyactrl.ClosedLoop(lyactrl.from_control(plant), K)
        roa, s = timed(
            lambda loop=loop: lyactrl.region_of_attraction(
                loop, V, lyactrl.Box([-3.0, -8.0], [3.0, 8.0]), rate=0.5
            )
        )
        rows.append(
            f"| region_of_attraction, LQR pendulum (python-control), torque abs(tau) <= {u_max:g} "
            f"as torch.clamp in updfcn | {roa.status}, level {roa.level:.3f} | {s:.2f} |"
        )
    return rows


def torchdiffeq_model() -> list[str]:
    torch.manual_seed(0)
    func = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))

    def pendulum(t, x):
        return torch.stack([x[..., 1], -torch.sin(x[..., 0]) - 0.5 * x[..., 1]], -1)

    def field(t, x):
        return func(x)

    t = torch.linspace(0.0, 2.0, 21)
    x0 = 2.0 * torch.rand(64, 2) - 1.0
    with torch.no_grad():
        data = odeint(pendulum, x0, t, method="rk4", options={"step_size": 0.05})
    opt = torch.optim.Adam(func.parameters(), lr=1e-2)
    t0 = time.perf_counter()
    for _ in range(300):
        pred = odeint(field, x0, t, method="rk4", options={"step_size": 0.1})
        loss = ((pred - data) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    s_train = time.perf_counter() - t0
    system = lyactrl.NeuralSystem(func.double(), 2)
    eq, s_eq = timed(lambda: lyactrl.find_equilibrium(system, torch.zeros(2, dtype=D)))
    system = lyactrl.NeuralSystem(system.module, 2, x_eq=eq.x)
    V = lyactrl.Quadratic.from_linearization(system)
    cond = lyactrl.ExponentialStability(
        system, V, lyactrl.verify.default_rate(system, V), x_eq_box=eq
    )
    roa, s = timed(lambda: lyactrl.region_of_attraction(cond, lyactrl.Box(eq.x - 1, eq.x + 1)))
    return [
        f"| training a 2-32-2 tanh ODE function through odeint (300 steps, loss "
        f"{loss.item():.1e}) | - | {s_train:.2f} |",
        f"| find_equilibrium on it | {eq.status} | {s_eq:.3f} |",
        f"| region_of_attraction with x_eq_box, default rate {cond.rate:.3f} | {roa.status}, "
        f"level {roa.level:.3f} | {s:.2f} |",
    ]


def torque_limited_fit() -> str:
    plant = lyactrl.SymbolicSystem(["x2", "9.81*sin(x1) - 0.1*x2 + u"], "x1, x2", inputs="u")
    K = torch.tensor([[19.67, 6.25]], dtype=D)
    loop = lyactrl.ClosedLoop(plant, lambda x: torch.clamp(-x @ K.T, -4.0, 4.0))
    fit, s = timed(
        lambda: lyactrl.fit_lyapunov(
            loop,
            lyactrl.Box([-1.0, -3.0], [1.0, 3.0]),
            hidden=(16, 16),
            steps=400,
            grid=61,
            rate=0.05,
            time_limit=30.0,
            progress=False,
        )
    )
    return (
        f"| fit_lyapunov, torque-limited LQR pendulum (abs(u) <= 4) on [-1, 1] x [-3, 3], 400 steps "
        f"| {fit.status}, volume ratio {100 * fit.volume_ratio:.1f} % (quadratic baseline "
        f"{100 * fit.baseline_volume_ratio:.1f} %), V = {type(fit.V).__name__} | {s:.1f} |"
    )


def guide_page(name: str) -> dict:
    """Run a guide page's code blocks (as the test suite does) and return its namespace."""
    import contextlib
    import io
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "guide" / name
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            exec(block, ns)  # noqa: S102 - the project's own documentation
    return ns


def stable_model() -> list[str]:
    ns, s = timed(lambda: guide_page("learned-stable-model.md"))
    tiles = ", ".join(str(c.status) for c in ns["certs"])
    return [
        f"| StableDynamics fitted to the damped pendulum, certified outside (-0.1, 0.1)^2 at "
        f"0.8 of its rate (guide page, whole page) | {tiles}; certified rate "
        f"{ns['proved_rate']:.2f}, observed {ns['observed']:.3f}, true pendulum "
        f"{ns['true_rate']:.3f}, rollout RMSE {ns['rmse']:.3f} | {s:.1f} |"
    ]


def main() -> None:
    torch.set_num_threads(1)
    print(f"Machine: {machine()}\n")
    print("| case | result | s |")
    print("|---|---|---|")
    rows = [vdp_max_rate(), *biased_network(), *saturated_pendulum(), *torchdiffeq_model()]
    rows.append(torque_limited_fit())
    rows += stable_model()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
