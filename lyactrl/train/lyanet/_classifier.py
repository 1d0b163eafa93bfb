"""The LyaNet classifier: an encoder gives a context, a flow on the logits classifies.

The logit state ``eta`` (one entry per class) starts at a fixed ``eta(0)`` and follows
``eta' = f(eta, context)`` with ``context = encoder(normalise(x))``; the class is
``argmax eta(T)``. The default flow :class:`VertexDynamics` points at a soft class vertex chosen
from the state and the context, with a fixed speed, ``f = speed * (scale * softmax(h(eta, c)) -
eta)``. The same model is trained either with LyaNet's sampled Lyapunov loss (no ODE solve) or,
as the baseline, through the solver (see :func:`train_classifier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..._api import checked_kwargs, choice
from ..._errors import InvalidArgumentError, InvalidValueError, ShapeError
from ..._tensors import as_positive, positive_int, unit_fraction
from ...conditions import ExponentialStability
from ...lyapunov import AbstractCandidate, CrossEntropy, SquaredError
from ...systems import NeuralSystem
from ._official import OfficialDynamics

__all__ = [
    "LyaNetClassifier",
    "VertexDynamics",
    "MLPDynamics",
    "Normalize",
    "build_classifier",
    "ENCODERS",
    "DYNAMICS",
    "POTENTIALS",
    "ODE_METHODS",
]

ENCODERS = ("mlp", "cnn")
DYNAMICS = ("vertex", "mlp", "official")
POTENTIALS = ("cross_entropy", "squared_error")
#: torchdiffeq solvers accepted by :meth:`LyaNetClassifier.integrate` (``dopri5`` adaptive).
ODE_METHODS = ("rk4", "euler", "midpoint", "dopri5")


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, so that the model takes pixels in ``[0, 1]``.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel (of inputs shaped ``(batch, channels, height, width)``).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import Normalize
    >>> Normalize([0.5], [0.25])(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class VertexDynamics(nn.Module):
    """``f(eta, c) = speed * (scale * softmax(h(eta / scale, c)) - eta)``: flow to a soft vertex.

    ``h`` is a one-hidden-layer network on the state and the context. The target
    ``scale * softmax(h)`` lies in the simplex scaled by ``scale``, whose vertices are the
    confident logits of each class.

    Parameters
    ----------
    n_classes : int
        The width of the state ``eta`` (one logit per class).
    context_dim : int
        The width of the context ``c`` (the encoder's output).
    hidden : int
        Width of the hidden layer of ``h``.
    scale : float
        The scale of the simplex (the logit of a confident class).
    speed : float
        The rate of the flow towards its target.
    dropout : float
        Dropout probability on the hidden layer of ``h`` while training (as in the official
        LyaNet code's vector field); in ``eval()`` mode the flow is deterministic.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import VertexDynamics
    >>> f = VertexDynamics(3, 5, hidden=8)
    >>> f(torch.zeros(2, 3), torch.zeros(2, 5)).shape
    torch.Size([2, 3])
    """

    @checked_kwargs
    def __init__(
        self,
        n_classes: int,
        context_dim: int,
        *,
        hidden: int = 64,
        scale: float = 10.0,
        speed: float = 2.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.state_in = nn.Linear(n_classes, hidden, bias=False)
        self.context_in = nn.Linear(context_dim, hidden)
        self.out = nn.Linear(hidden, n_classes)
        self.dropout = nn.Dropout(unit_fraction(dropout, "dropout"))
        self.scale = float(scale)
        self.speed = float(speed)

    def forward(self, eta: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h = self.dropout(torch.relu(self.state_in(eta / self.scale) + self.context_in(context)))
        target = self.scale * torch.softmax(self.out(h), dim=-1)
        return self.speed * (target - eta)


class MLPDynamics(nn.Module):
    """An unstructured flow ``f(eta, c) = W2 relu(W1 [eta, c])`` (for comparison).

    Parameters
    ----------
    n_classes : int
        The width of the state ``eta``.
    context_dim : int
        The width of the context ``c``.
    hidden : int
        Width of the hidden layer.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import MLPDynamics
    >>> MLPDynamics(3, 5, hidden=8)(torch.zeros(2, 3), torch.zeros(2, 5)).shape
    torch.Size([2, 3])
    """

    @checked_kwargs
    def __init__(self, n_classes: int, context_dim: int, *, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_classes + context_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, eta: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([eta, context], dim=-1))


class _Counted(nn.Module):
    """``(t, eta) -> f(eta, context)`` for torchdiffeq, counting evaluations."""

    def __init__(self, dynamics: nn.Module, context: torch.Tensor) -> None:
        super().__init__()
        self.dynamics = dynamics
        self.context = context
        self.nfe = 0

    def forward(self, t: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.dynamics(eta, self.context)


class LyaNetClassifier(nn.Module):
    """A classifier whose logits follow ``eta' = f(eta, encoder(x))`` from a fixed ``eta(0)``.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of inputs (pixels in ``[0, 1]``; normalisation is ``normalizer``'s job) to
        contexts ``(batch, context_dim)``.
    dynamics : torch.nn.Module
        ``dynamics(eta, context) -> (batch, n_classes)``.
    n_classes : int
        Number of classes (the width of ``eta``).
    normalizer : torch.nn.Module, optional
        Applied to the inputs first (e.g. :class:`Normalize`).
    horizon : float
        Integration time ``T``.
    potential : {"cross_entropy", "squared_error"}
        The task-loss potential ``V_y(eta)``; the squared error targets ``scale * onehot(y)``.
    target_scale : float
        The vertex scale of the squared-error targets.
    config : dict, optional
        Plain settings that rebuild the architecture (kept in checkpoints).

    Examples
    --------
    >>> import torch
    >>> from lyactrl.train import build_classifier
    >>> model = build_classifier((1, 8, 8), 10, seed=0)
    >>> model.predict(torch.rand(3, 1, 8, 8), steps=2).shape
    torch.Size([3])
    """

    @checked_kwargs
    def __init__(
        self,
        encoder: nn.Module,
        dynamics: nn.Module,
        n_classes: int,
        *,
        normalizer: nn.Module | None = None,
        horizon: float = 1.0,
        potential: str = "cross_entropy",
        target_scale: float = 10.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        for name, mod in (("encoder", encoder), ("dynamics", dynamics)):
            if not isinstance(mod, nn.Module):
                raise InvalidArgumentError(
                    f"{name}: expected a torch.nn.Module, received {type(mod).__name__}"
                )
        if normalizer is not None and not isinstance(normalizer, nn.Module):
            raise InvalidArgumentError(
                f"normalizer: expected a torch.nn.Module or None, received "
                f"{type(normalizer).__name__}"
            )
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise InvalidValueError(f"n_classes: expected an int >= 2, received {n_classes!r}")
        self.encoder = encoder
        self.dynamics = dynamics
        self.normalizer = normalizer if normalizer is not None else nn.Identity()
        self.n_classes = n_classes
        self.horizon = as_positive(horizon, name="horizon")
        self.potential = choice(potential, "potential", POTENTIALS)
        self.target_scale = as_positive(target_scale, name="target_scale")
        self.config = dict(config or {})
        self.register_buffer("eta0", torch.zeros(n_classes))

    # --- the flow -------------------------------------------------------------------------
    def context(self, x: torch.Tensor) -> torch.Tensor:
        """The context ``encoder(normalise(x))``, shape ``(batch, context_dim)``."""
        if not isinstance(x, torch.Tensor):
            raise InvalidArgumentError(f"x: expected a torch tensor, received {type(x).__name__}")
        c = self.encoder(self.normalizer(x))
        if c.ndim != 2 or c.shape[0] != x.shape[0]:
            raise ShapeError(
                f"encoder: expected contexts of shape ({x.shape[0]}, context_dim), received "
                f"{tuple(c.shape)}"
            )
        return c

    def initial_state(self, batch: int) -> torch.Tensor:
        """``eta(0)`` repeated ``batch`` times."""
        return self.eta0.unsqueeze(0).expand(batch, -1)

    @checked_kwargs
    def integrate(
        self,
        context: torch.Tensor,
        *,
        method: str = "rk4",
        steps: int = 10,
        times: torch.Tensor | None = None,
        rtol: float = 1e-5,
        atol: float = 1e-6,
    ) -> tuple[torch.Tensor, int]:
        """Solve the flow from ``eta(0)`` for given contexts with torchdiffeq.

        Returns the states at ``times`` (default ``[0, T]``), shape ``(batch, len(times),
        n_classes)``, and the number of function evaluations.
        """
        import torchdiffeq

        method = choice(method, "method", ODE_METHODS)
        steps = positive_int(steps, "steps")
        t = torch.tensor([0.0, self.horizon]) if times is None else times
        t = t.to(dtype=context.dtype, device=context.device)
        func = _Counted(self.dynamics, context)
        eta0 = self.initial_state(context.shape[0]).to(context.dtype)
        options = {} if method == "dopri5" else {"step_size": self.horizon / steps}
        kw = {"rtol": rtol, "atol": atol} if method == "dopri5" else {}
        out = torchdiffeq.odeint(func, eta0, t, method=method, options=options, **kw)
        return out.transpose(0, 1), func.nfe

    @checked_kwargs
    def forward(self, x: torch.Tensor, *, method: str = "rk4", steps: int = 10) -> torch.Tensor:
        """The final logits ``eta(T)``, shape ``(batch, n_classes)``."""
        return self.integrate(self.context(x), method=method, steps=steps)[0][:, -1]

    @torch.no_grad()
    @checked_kwargs
    def predict(self, x: torch.Tensor, *, method: str = "rk4", steps: int = 10) -> torch.Tensor:
        """Predicted classes ``argmax eta(T)``, shape ``(batch,)``."""
        return self.forward(x, method=method, steps=steps).argmax(-1)

    # --- the bridge to the rest of lyactrl ----------------------------------------------------
    def system_for(self, x: torch.Tensor) -> NeuralSystem:
        """The ordinary system ``eta' = f(eta, context(x))`` for given inputs (context detached).

        One input gives a system shared by any batch of states; a batch of ``b`` inputs gives a
        system evaluated on exactly ``b`` states (row ``i`` uses input ``i``).
        """
        with torch.no_grad():
            ctx = self.context(x).detach()
        if ctx.shape[0] == 1:
            ctx = ctx[0]
        return NeuralSystem(
            self.dynamics,
            self.n_classes,
            inputs="x,context",
            context=ctx,
            x_eq=self.eta0.double(),
        )

    def condition_for_contexts(
        self, context: torch.Tensor, y: Any, rate: float
    ) -> ExponentialStability:
        """The condition of a training batch: row ``i`` pairs with ``context[i]`` and ``y[i]``.

        ``ExponentialStability(system, potential_for(y), rate)`` where ``system`` is the flow
        bound to the per-row contexts, which stay in the autograd graph (the encoder is trained
        through them). Unlike :meth:`NeuralSystem.bind` no probe forward pass is run: the
        contexts come from :meth:`context`, which checked their shape.
        """
        system = NeuralSystem(
            self.dynamics, self.n_classes, inputs="x,context", x_eq=self.eta0.double()
        )
        system.context = context
        return ExponentialStability(system, self.potential_for(y), rate)

    def potential_for(self, y: Any) -> AbstractCandidate:
        """The potential ``V_y``: :class:`CrossEntropy` or :class:`SquaredError` to the label."""
        ce = CrossEntropy(y, n_classes=self.n_classes)
        if self.potential == "cross_entropy":
            return ce
        onehot = torch.nn.functional.one_hot(ce.label, self.n_classes).to(torch.float32)
        return SquaredError(self.target_scale * onehot)

    def potential_along(self, traj: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``V_y(eta)`` at every state of trajectories ``traj`` of shape ``(batch, times,
        n_classes)`` (as :meth:`integrate` returns them), ``y`` the batch's labels; shape
        ``(batch, times)``."""
        V = self.potential_for(y.repeat_interleave(traj.shape[1]))
        return V.value(traj.reshape(-1, self.n_classes)).reshape(traj.shape[0], -1)

    def condition_for(self, x: torch.Tensor, y: Any, rate: float) -> ExponentialStability:
        """``ExponentialStability(system_for(x), potential_for(y), rate)``."""
        return ExponentialStability(self.system_for(x), self.potential_for(y), rate)


@checked_kwargs
def build_classifier(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    encoder: str = "mlp",
    dynamics: str = "vertex",
    context_dim: int = 64,
    hidden: int = 128,
    dynamics_hidden: int = 64,
    dynamics_dropout: float = 0.0,
    channels: Sequence[int] = (32, 64),
    scale: float = 10.0,
    speed: float = 2.0,
    gain: float = 100.0,
    horizon: float = 1.0,
    potential: str = "cross_entropy",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int | None = None,
) -> LyaNetClassifier:
    """Build a classifier from plain settings (the settings are kept in ``model.config``).

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, H, W)`` of one image.
    n_classes : int
        Number of classes.
    encoder : {"mlp", "cnn"}
        A two-layer MLP (digits) or a small two-convolution CNN (MNIST-sized images).
    dynamics : {"vertex", "mlp", "official"}
        :class:`VertexDynamics`, :class:`MLPDynamics` or the official code's flow
        :class:`OfficialDynamics` (which needs ``context_dim = dynamics_hidden ** 2``; its
        vertices are at ``scale``, and the encoder's context is linear, without the final
        ReLU; see :func:`official_preset`).
    context_dim, hidden, dynamics_hidden : int
        Widths of the context, the encoder's hidden layer and the dynamics' hidden layer.
    dynamics_dropout : float
        Dropout probability in the hidden layer(s) of the flow while training
        (``dynamics="vertex"`` or ``"official"``).
    channels : sequence of two int
        Channels of the CNN encoder's two convolutions.
    scale, speed : float
        Vertex scale and speed of :class:`VertexDynamics`.
    gain : float
        The initial gain of :class:`OfficialDynamics` (``dynamics="official"`` only).
    horizon : float
        Integration time ``T``.
    potential : {"cross_entropy", "squared_error"}
        The potential used by LyaNet training and by :meth:`LyaNetClassifier.potential_for`.
    mean, std : sequence of float, optional
        Per-channel normalisation (default 0 and 1).
    seed : int, optional
        Seed of the initial weights. They are drawn inside :func:`torch.random.fork_rng`, so
        the global torch RNG is left as it was; without a seed they come from the global RNG,
        as for any ``nn.Module``.

    Examples
    --------
    >>> from lyactrl.train import build_classifier
    >>> build_classifier((1, 8, 8), 10, seed=0).config["encoder"]
    'mlp'
    """
    shape = _input_shape(input_shape)
    encoder = choice(encoder, "encoder", ENCODERS)
    dynamics = choice(dynamics, "dynamics", DYNAMICS)
    widths = {
        name: positive_int(v, name)
        for name, v in (
            ("context_dim", context_dim),
            ("hidden", hidden),
            ("dynamics_hidden", dynamics_hidden),
        )
    }
    chans = _channels(channels)
    drop = unit_fraction(dynamics_dropout, "dynamics_dropout")
    if drop and dynamics == "mlp":
        raise InvalidValueError(
            f"dynamics_dropout: expected 0 with dynamics={dynamics!r} (dropout is a setting of "
            f"the vertex and official dynamics), received {dynamics_dropout!r}"
        )
    c = shape[0]
    mean = [0.0] * c if mean is None else [float(m) for m in mean]
    std = [1.0] * c if std is None else [float(s) for s in std]
    if len(mean) != c or len(std) != c or min(std) <= 0:
        raise InvalidValueError(
            f"mean, std: expected {c} values each (std > 0), received {mean!r} and {std!r}"
        )
    config = {
        "input_shape": list(shape),
        "n_classes": n_classes,
        "encoder": encoder,
        "dynamics": dynamics,
        **widths,
        "dynamics_dropout": drop,
        "channels": chans,
        "scale": as_positive(scale, name="scale"),
        "speed": as_positive(speed, name="speed"),
        "gain": as_positive(gain, name="gain"),
        "horizon": float(horizon),
        "potential": potential,
        "mean": mean,
        "std": std,
    }
    if seed is None:
        return _assemble(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _assemble(config)


def _input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ShapeError(f"input_shape: expected (C, H, W), received {tuple(input_shape)!r}")
    return shape  # type: ignore[return-value]


def _channels(channels: Sequence[int]) -> list[int]:
    try:
        chans = [int(ch) for ch in channels]
    except (TypeError, ValueError):
        chans = []
    if len(chans) != 2 or min(chans) < 1:
        raise InvalidValueError(f"channels: expected two positive ints, received {channels!r}")
    return chans


def _encoder(cfg: dict[str, Any]) -> nn.Module:
    """The MLP or the two-convolution CNN of ``cfg``: both end in a ReLU context, except under
    the official flow, whose context is a linear map (as the official code's parameter map)."""
    c, h, w = cfg["input_shape"]
    if cfg["encoder"] == "mlp":
        layers: list[nn.Module] = [
            nn.Flatten(),
            nn.Linear(c * h * w, cfg["hidden"]),
            nn.ReLU(),
            nn.Linear(cfg["hidden"], cfg["context_dim"]),
        ]
    else:
        c1, c2 = cfg["channels"]
        layers = [
            nn.Conv2d(c, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * (h // 4) * (w // 4), cfg["context_dim"]),
        ]
    if cfg["dynamics"] != "official":
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _assemble(cfg: dict[str, Any]) -> LyaNetClassifier:
    """The classifier of a validated ``config`` (draws the initial weights)."""
    k, ctx, hid = cfg["n_classes"], cfg["context_dim"], cfg["dynamics_hidden"]
    enc = _encoder(cfg)
    if cfg["dynamics"] == "vertex":
        dyn: nn.Module = VertexDynamics(
            k,
            ctx,
            hidden=hid,
            scale=cfg["scale"],
            speed=cfg["speed"],
            dropout=cfg["dynamics_dropout"],
        )
    elif cfg["dynamics"] == "official":
        dyn = OfficialDynamics(
            k,
            ctx,
            hidden=hid,
            dropout=cfg["dynamics_dropout"],
            vertex=cfg["scale"],
            gain=cfg.get("gain", 100.0),
        )
    else:
        dyn = MLPDynamics(k, ctx, hidden=hid)
    return LyaNetClassifier(
        enc,
        dyn,
        k,
        normalizer=Normalize(cfg["mean"], cfg["std"]),
        horizon=cfg["horizon"],
        potential=cfg["potential"],
        target_scale=cfg["scale"],
        config=cfg,
    )
