"""Loader of the published Two-Stage neural controllers and Lyapunov functions (issue 13).

The checkpoints, specs and their formulas are in ``shared/benchmarks/two-stage/`` (``SPEC.md``
there: source repository, MIT licence, saturations, verified levels). Everything is built from
the public API: the controller and ``V`` are plain float64 torch modules, the plant a
:class:`lyactrl.SymbolicSystem` with inputs, the closed loop a :class:`lyactrl.ClosedLoop`, the
condition a :class:`lyactrl.Decrease` with alpha-beta-CROWN's tolerance on a
:class:`lyactrl.Band` of ``V`` between the published levels.

    >>> spec = load("van")                                   # doctest: +SKIP
    >>> lyactrl.certify(spec.condition, spec.region, time_limit=600.0)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import torch
from torch import nn

import lyactrl

#: Where the checkpoints and vnnlib specs live (override with ``LYACTRL_TWO_STAGE``).
DATA = Path(
    os.environ.get(
        "LYACTRL_TWO_STAGE",
        Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "two-stage",
    )
)
if not DATA.is_dir():
    DATA = Path("/work/shared/benchmarks/two-stage")

#: alpha-beta-CROWN's decision_thresh = -1e-6: Vdot <= 1e-6 was accepted.
TOL = 1e-6

#: Plant right-hand sides (states x1, x2, ...; inputs u1, ...), parameters, saturation s, and
#: whether u = s * relu(tanh(.)) (one-sided, the quadrotor's rotors).
PLANTS: dict[str, dict] = {
    "van": dict(exprs=["x2", "-x1 + mu*(1 - x1**2)*x2 + u1"], params={"mu": 1.0}, s=1.0),
    "double": dict(exprs=["x2", "u1"], params={}, s=1.0),
    "pendulum_smalltorque": dict(
        exprs=["x2", "-(beta/(m*l**2))*x2 + (g/l)*sin(x1) + u1/(m*l**2)"],
        params={"m": 0.15, "l": 0.5, "beta": 0.1, "g": 9.81},
        s=0.75,
    ),
    "pendulum_bigtorque": dict(
        exprs=["x2", "-(beta/(m*l**2))*x2 + (g/l)*sin(x1) + u1/(m*l**2)"],
        params={"m": 0.15, "l": 0.5, "beta": 0.1, "g": 9.81},
        s=6.0,
    ),
    "path_tracking_smalltorque": dict(
        exprs=["v*sin(x2)", "v*u1/L - cos(x2)/(R/v - sin(x2))"],
        params={"v": 2.0, "L": 1.0, "R": 10.0},
        s=0.5,
    ),
    "2dquadrotor": dict(
        exprs=[
            "x4",
            "x5",
            "x6",
            "-sin(x3)*(u1 + u2)/m",
            "cos(x3)*(u1 + u2)/m - g",
            "(l/I)*(u1 - u2)",
        ],
        params={"l": 0.25, "m": 0.486, "I": 0.00383, "g": 9.81},
        s=6.0,
        one_sided=True,
    ),
}

#: The spec files of each system: the published one first, then the adjusted-level variant.
SPECS: dict[str, tuple[str, ...]] = {
    "van": ("van_spec.vnnlib",),
    "double": ("double_spec.vnnlib", "double_spec_c1_0.011.vnnlib"),
    "pendulum_smalltorque": ("pendulum_smalltorque_spec.vnnlib",),
    "pendulum_bigtorque": (
        "pendulum_bigtorque_spec.vnnlib",
        "pendulum_bigtorque_spec_c1_0.0227.vnnlib",
    ),
    "path_tracking_smalltorque": (
        "path_tracking_smalltorque_spec.vnnlib",
        "path_tracking_smalltorque_spec_c1_0.011.vnnlib",
    ),
    "2dquadrotor": ("2dquadrotor_spec.vnnlib", "2dquadrotor_spec_c2_0.9.vnnlib"),
}


class Controller(nn.Module):
    """``u(x) = s * tanh(N(x) - N(x_eq) + b)`` (or ``s * relu(tanh(...))``), float64."""

    def __init__(
        self, net: nn.Sequential, x_eq: torch.Tensor, b: torch.Tensor, s: float, one_sided: bool
    ) -> None:
        super().__init__()
        self.net = net
        with torch.no_grad():
            shift = b - net(x_eq.unsqueeze(0))[0]
        self.register_buffer("shift", shift)  # b - N(x_eq), one constant per input
        self.s = float(s)
        self.one_sided = bool(one_sided)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.tanh(self.net(x) + self.shift)
        if self.one_sided:
            z = torch.relu(z)
        return z * self.s


def _mlp(state: dict[str, torch.Tensor], prefix: str, sigmoid: bool) -> nn.Sequential:
    idx = sorted({int(k.split(".")[2]) for k in state if k.startswith(prefix + "layers.")})
    layers: list[nn.Module] = []
    for j, i in enumerate(idx):
        w, bias = state[f"{prefix}layers.{i}.weight"], state[f"{prefix}layers.{i}.bias"]
        lin = nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(w.double())
            lin.bias.copy_(bias.double())
        layers.append(lin)
        if j < len(idx) - 1:
            layers.append(nn.Tanh())
    if sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers).eval().requires_grad_(False)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One published spec: ``Vdot <= tol`` on ``{x in box : c1 <= V(x) <= c2}``."""

    system: str
    file: str
    box: lyactrl.Box
    c1: float
    c2: float
    V_module: nn.Sequential
    controller: Controller
    plant: lyactrl.SymbolicSystem
    loop: lyactrl.ClosedLoop
    V: lyactrl.ModuleCandidate
    condition: lyactrl.Decrease
    region: lyactrl.Band

    def vdot(self, x) -> torch.Tensor:
        """``grad V . f(x, u(x))`` in float64 (no tolerance)."""
        x = torch.as_tensor(x, dtype=torch.float64).reshape(-1, self.box.n_states)
        v, g = self.V.value_and_gradient(x)
        return (g * self.loop(x)).sum(1).detach()


def parse_vnnlib(path: Path) -> tuple[list[float], list[float], float, float]:
    """Box corners and levels ``(lo, hi, c1, c2)`` from a spec file (the repository's form)."""
    text = path.read_text()
    n = len(re.findall(r"declare-const X_\d+", text))
    lo, hi = [-math.inf] * n, [math.inf] * n
    c1 = c2 = math.nan
    for op, var, num in re.findall(r"\(assert \((<=|>=) ([XY]_\d+) ([-+0-9.eE]+)\)\)", text):
        kind, i, val = var[0], int(var[2:]), float(num)
        if kind == "X":
            (hi if op == "<=" else lo)[i] = val
        elif i == 0:
            if op == "<=":
                c2 = val
            else:
                c1 = val
    return lo, hi, c1, c2


def load(
    system: str,
    variant: int = 0,
    *,
    tol: float = TOL,
    c1: float | None = None,
    c2: float | None = None,
) -> Spec:
    """The spec ``SPECS[system][variant]`` with its models, closed loop, condition and band
    (``c1``, ``c2``: other levels than the file's, for a variant without a file)."""
    cfg = PLANTS[system]
    state = torch.load(DATA / f"{system}_seed0.pt", weights_only=True)
    n = state["controller.x_equilibrium"].shape[0]
    m = state["controller.u_equilibrium"].shape[0]
    names = ", ".join(f"x{i + 1}" for i in range(n))
    inputs = ", ".join(f"u{i + 1}" for i in range(m))
    x_eq = state["controller.x_equilibrium"].double()
    plant = lyactrl.SymbolicSystem(
        cfg["exprs"],
        names,
        inputs=inputs,
        parameters=cfg["params"],
        x_eq=x_eq,
        check_equilibrium=False,  # f(x_eq, 0) != 0 where u_eq != 0; the loop's is checked
    )
    ctrl = Controller(
        _mlp(state, "controller.", sigmoid=False),
        x_eq,
        state["controller.b"].double(),
        cfg["s"],
        cfg.get("one_sided", False),
    ).eval()
    loop = lyactrl.ClosedLoop(plant, ctrl)
    V_module = _mlp(state, "lyapunov.", sigmoid=True)
    V = lyactrl.ModuleCandidate(V_module, x_eq=None, n_states=n)
    file = SPECS[system][variant]
    lo, hi, f1, f2 = parse_vnnlib(DATA / file)
    c1 = f1 if c1 is None else float(c1)
    c2 = f2 if c2 is None else float(c2)
    box = lyactrl.Box(lo, hi)
    return Spec(
        system=system,
        file=file,
        box=box,
        c1=c1,
        c2=c2,
        V_module=V_module,
        controller=ctrl,
        plant=plant,
        loop=loop,
        V=V,
        condition=lyactrl.Decrease(loop, V, tol=tol),
        region=lyactrl.Band(V, c1, c2, within=box),
    )
