"""The official LyaNet code's classification setting, as a preset beside lyactrl's defaults.

The official repository (Jimenez Rodriguez, Ames, Yue 2022) classifies with the flow
``ClassDyn(restrict_to_simplex=False)``: a learned direction, normalised, moved at a speed set
by the softmax-weighted distance to the class vertices ``vertex * (2 e_j - 1)``, times a gain
that a per-step schedule lowers and raises during training. :class:`OfficialDynamics` is that
flow, :class:`GainSchedule` the schedule, and :func:`official_preset` the settings of
``build_classifier`` and ``train_classifier`` that reproduce the official setting as far as
lyactrl's model allows (the differences are listed in the user guide).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._api import checked_kwargs, choice
from ..._errors import InvalidArgumentError, InvalidValueError
from ..._tensors import as_positive, positive_int, unit_fraction

__all__ = ["OfficialDynamics", "GainSchedule", "official_preset", "official_rate"]


def official_rate(n_classes: int, vertex: float = 15.0) -> float:
    """The official code's rate ``log(sqrt(n_classes) * vertex)`` (its ``max_factor``).

    It is the rate of its Lyapunov loss, a factor of its flow's speed, and
    ``sqrt(n_classes) * vertex`` (the distance from 0 to a vertex) is its sampling radius.

    Parameters
    ----------
    n_classes : int
        Number of classes.
    vertex : float
        The vertices' coordinate magnitude (the official code's ``h_dist_lim``).

    Returns
    -------
    float

    Examples
    --------
    >>> from lyactrl.train.lyanet import official_rate
    >>> round(official_rate(10), 4)
    3.8593
    """
    return math.log(
        math.sqrt(positive_int(n_classes, "n_classes")) * as_positive(vertex, name="vertex")
    )


class OfficialDynamics(nn.Module):
    """The official LyaNet flow: a learned unit direction at a distance-weighted speed.

    With the context ``c`` reshaped to a ``hidden x hidden`` matrix ``M`` (the official code's
    "parameter map" of ``hidden**2`` features),

    ``u = W_out a(M a(W_in eta))``, ``d = u / |u|``,
    ``s = mean_j |eta - v_j| softmax_j((v_j - eta) . d)``,
    ``f(eta, c) = rate * gain * s * d``,

    with ``a`` one PReLU (dropout before each use while training), the vertices
    ``v_j = vertex * (2 e_j - 1)`` and ``rate = log(sqrt(K) vertex)``. The gain is a buffer
    (saved with the weights) that :class:`GainSchedule` moves while training.

    Parameters
    ----------
    n_classes : int
        The width of the state ``eta`` (one logit per class).
    context_dim : int
        The width of the context; must be ``hidden ** 2``.
    hidden : int
        The width of the two hidden layers (the official code: 128).
    dropout : float
        Dropout probability before each activation while training (the official code: 0.5).
    vertex : float
        The vertices' coordinate magnitude (the official code's ``h_dist_lim``, 15).
    gain : float
        The initial (and largest) gain (the official code: 100).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train.lyanet import OfficialDynamics
    >>> f = OfficialDynamics(3, 16, hidden=4).eval()
    >>> f(torch.zeros(2, 3), torch.randn(2, 16)).shape
    torch.Size([2, 3])
    """

    @checked_kwargs
    def __init__(
        self,
        n_classes: int,
        context_dim: int,
        *,
        hidden: int = 128,
        dropout: float = 0.5,
        vertex: float = 15.0,
        gain: float = 100.0,
    ) -> None:
        super().__init__()
        k = positive_int(n_classes, "n_classes")
        m = positive_int(hidden, "hidden")
        if positive_int(context_dim, "context_dim") != m * m:
            raise InvalidValueError(
                f"context_dim: expected hidden ** 2 = {m * m} (the context is a {m} x {m} "
                f"matrix), received {context_dim}"
            )
        self.hidden = m
        self.state_in = nn.Linear(k, m)
        self.state_out = nn.Linear(m, k)
        self.activation = nn.PReLU()
        self.dropout = nn.Dropout(unit_fraction(dropout, "dropout"))
        self.vertex = as_positive(vertex, name="vertex")
        self.rate = official_rate(k, self.vertex)
        self.max_gain = as_positive(gain, name="gain")
        self.register_buffer("vertices", self.vertex * (2.0 * torch.eye(k) - 1.0))
        self.register_buffer("gain", torch.tensor(self.max_gain))

    def direction(self, eta: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The learned unit direction ``d`` of the flow, shape ``(batch, n_classes)``."""
        m = self.hidden
        a = self.activation(self.dropout(self.state_in(eta)))
        a = torch.bmm(context.reshape(-1, m, m), a.unsqueeze(-1)).squeeze(-1)
        a = self.activation(self.dropout(a))
        return F.normalize(self.state_out(a), p=2.0, dim=-1)

    def forward(self, eta: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        d = self.direction(eta, context)
        diff = self.vertices.to(eta).unsqueeze(0) - eta.unsqueeze(1)  # (batch, K, K): v_j - eta
        dots = (diff * d.unsqueeze(1)).sum(-1)
        speed = (diff.norm(dim=-1) * dots.softmax(dim=-1)).mean(dim=-1, keepdim=True)
        return (self.rate * self.gain.to(eta)) * speed * d


class GainSchedule:
    """The official code's per-step gain schedule of :class:`OfficialDynamics`.

    After each optimiser step with violation share ``p`` (the share of sampled states whose
    residual is positive): in the first half of the epochs, the gain is multiplied by 0.9999
    while ``p < 0.7`` and the gain is above 1; in the second half, by 1.0001 while ``p > 0.1``
    and the gain is below its initial value. Pass it to :func:`~lyactrl.train.fit` as
    ``step_callback`` (as :func:`train_classifier` does with ``gain_schedule=True``); the gain
    is a buffer of the dynamics, so checkpoints keep it and a resumed run follows the same
    schedule.

    Parameters
    ----------
    dynamics : OfficialDynamics
        The flow whose gain is scheduled.
    epochs : int
        The run's epochs (the schedule turns at half of them, 60 of 120 in the official code).
    steps_per_epoch : int
        Optimiser steps per epoch.

    Examples
    --------
    >>> from lyactrl.train.lyanet import GainSchedule, OfficialDynamics
    >>> f = OfficialDynamics(3, 16, hidden=4)
    >>> schedule = GainSchedule(f, epochs=2, steps_per_epoch=10)
    >>> schedule(1, {"violation_fraction": 0.2})
    >>> round(float(f.gain), 2)
    99.99
    """

    @checked_kwargs
    def __init__(self, dynamics: OfficialDynamics, *, epochs: int, steps_per_epoch: int) -> None:
        if not isinstance(dynamics, OfficialDynamics):
            raise InvalidArgumentError(
                f"dynamics: expected OfficialDynamics (the flow with a gain), received "
                f"{type(dynamics).__name__}"
            )
        self.dynamics = dynamics
        self.turn = positive_int(epochs, "epochs") / 2.0
        self.steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")

    def __call__(self, step: int, diagnostics: dict[str, float]) -> None:
        """Update the gain after optimiser step ``step`` (counted from 1)."""
        share = float(diagnostics["violation_fraction"])
        epoch = (int(step) - 1) // self.steps_per_epoch  # the official code's 0-based epoch
        gain = self.dynamics.gain
        if epoch <= self.turn and share < 0.7 and float(gain) > 1.0:
            gain.mul_(0.9999)
        elif epoch > self.turn and share > 0.1 and float(gain) < self.dynamics.max_gain:
            gain.mul_(1.0001)


_MODEL = {
    "dynamics": "official",
    "dynamics_hidden": 128,
    "context_dim": 128 * 128,
    "dynamics_dropout": 0.5,
    "scale": 15.0,
}
#: per rule: the official LyaNet run (``lyapunov.yaml``) and its Neural ODE baseline on the
#: same flow (``anode.yaml``: gain 1, no schedule, RK4 steps of 0.1, batches of 128)
_RULES = {
    "lyanet": (
        {"gain": 100.0},
        {
            "batch_size": 64,
            "n_states": 512,
            "around": "origin",
            "relative": False,
            "smooth": None,
            "gain_schedule": True,
        },
    ),
    "node": ({"gain": 1.0}, {"batch_size": 128, "node_steps": 10}),
}
#: ``evaluate_classifier`` settings: dopri5 at the official code's validation tolerance (its
#: flow at a high gain is stiff: at 1e-5 a barely trained model needs thousands of steps)
_EVALUATE = {"rtol": 1e-3, "atol": 1e-3}
_SHARED_TRAIN = {
    "epochs": 120,
    "lr": 1e-2,
    "optimizer": "nero",
    "lr_schedule": "step",
    "weight_decay": 0.0,
}


@checked_kwargs
def official_preset(n_classes: int, *, method: str = "lyanet") -> dict[str, dict[str, Any]]:
    """The official code's classification setting of a training rule, as
    ``build_classifier`` and ``train_classifier`` settings: ``{"model": ..., "train": ...}``.

    Both rules: the flow :class:`OfficialDynamics` (128 hidden units, a 128 x 128 context,
    dropout 0.5, vertices at 15), Nero at learning rate 1e-2 divided by 10 at half of 120
    epochs. ``lyanet`` (the official ``lyapunov.yaml``): gain 100 with the gain schedule,
    batches of 64, 512 states per input drawn in the ball of radius ``sqrt(K) 15`` around
    ``eta(0)`` (uniform radius), the plain hinge at the rate :func:`official_rate`. ``node``
    (its Neural ODE baseline on the same flow, ``anode.yaml``): gain 1, batches of 128, RK4
    with 10 steps. Scored with dopri5 at the official validation tolerance 1e-3. How this differs from the official code, and lyactrl's defaults from
    both, is listed in the user guide (training, "The official code's setting").

    Parameters
    ----------
    n_classes : int
        Number of classes (sets the rate and the sampling radius).
    method : {"lyanet", "node"}
        The training rule.

    Examples
    --------
    >>> from lyactrl.train.lyanet import official_preset
    >>> preset = official_preset(10)
    >>> preset["model"]["gain"], round(preset["train"]["radius"], 2)
    (100.0, 47.43)
    """
    k = positive_int(n_classes, "n_classes")
    model_kw, train_kw = _RULES[choice(method, "method", tuple(_RULES))]
    vertex = _MODEL["scale"]
    train = dict(_SHARED_TRAIN, **train_kw, method=method)
    if method == "lyanet":
        train.update(rate=official_rate(k, vertex), radius=math.sqrt(k) * vertex)
    return {"model": dict(_MODEL, **model_kw), "train": train, "evaluate": dict(_EVALUATE)}
