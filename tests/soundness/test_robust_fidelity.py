"""Rule 1 for the robustness layer: the sensitivity constants of a classifier bound what its
modules compute *now* (their real forward), or the module is refused.

Every check is against the classifier evaluated by torch itself: the change of the vector field
``f(eta, context(x'))  - f(eta, context(x))`` on random pairs of inputs.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import lyactrl
from lyactrl.robust import certified_radius, classifier_sensitivity
from lyactrl.train import build_classifier
from lyactrl.train.lyanet import Normalize, VertexDynamics

SHAPE = (1, 4, 4)
GEN = torch.Generator().manual_seed(0)
X = torch.rand(64, *SHAPE, generator=GEN)
XP = (X + 0.2 * torch.randn(X.shape, generator=GEN)).clamp(0, 1)
ETA = 4 * torch.randn(64, 3, generator=GEN)


def _model(dynamics: str) -> nn.Module:
    return build_classifier(
        SHAPE, 3, seed=0, hidden=8, context_dim=4, dynamics_hidden=8, dynamics=dynamics
    ).eval()


def _observed_gain(model: nn.Module) -> float:
    """The largest ``||df|| / ||dx||`` over the pairs, from the model's real forward."""
    with torch.no_grad():
        df = model.dynamics(ETA, model.context(XP)) - model.dynamics(ETA, model.context(X))
    return float((df.norm(dim=1) / (XP - X).flatten(1).norm(dim=1)).max())


def _refuses_or_bounds(model: nn.Module) -> str:
    try:
        gain = classifier_sensitivity(model).context_gain
    except lyactrl.UnsupportedOperationError:
        return "refused"
    assert _observed_gain(model) <= gain * (1 + 1e-6)
    return "bounded"


def _amplified_beyond_children(model: nn.Module, stock: nn.Module) -> None:
    """The modified forward changes f faster than the stock constant allows: bounding it as
    its children would be wrong."""
    assert _observed_gain(model) > classifier_sensitivity(stock).context_gain


class Amplified(nn.Sequential):
    """A Sequential whose own forward multiplies its children's output by 50."""

    def forward(self, x):
        return 50 * super().forward(x)


class LoudVertex(VertexDynamics):
    def forward(self, eta, context):
        return 50 * super().forward(eta, context)


class Rescale(nn.Module):
    """Has a ``std`` buffer like Normalize, but divides by std squared."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("std", torch.full((1, 1, 1), 0.02))

    def forward(self, x):
        return x / self.std**2


@pytest.mark.parametrize("dynamics", ["vertex", "mlp"])
def test_stock_classifier_is_bounded(dynamics: str) -> None:
    assert _refuses_or_bounds(_model(dynamics)) == "bounded"


def test_sequential_subclass_in_mlp_dynamics_is_not_bounded_as_its_children() -> None:
    stock = _model("mlp")
    model = copy.deepcopy(stock)
    model.dynamics.net = Amplified(*model.dynamics.net.children())
    _amplified_beyond_children(model, stock)
    assert _refuses_or_bounds(model) == "refused"
    with pytest.raises(lyactrl.UnsupportedOperationError, match="own forward"):
        classifier_sensitivity(model)


def test_vertex_dynamics_with_its_own_forward_is_refused() -> None:
    stock = _model("vertex")
    model = copy.deepcopy(stock)
    old = model.dynamics
    model.dynamics = LoudVertex(3, 4, hidden=8, scale=old.scale, speed=old.speed)
    model.dynamics.load_state_dict(old.state_dict())
    _amplified_beyond_children(model, stock)
    assert _refuses_or_bounds(model) == "refused"
    with pytest.raises(lyactrl.UnsupportedOperationError):
        certified_radius(model, X[:2], torch.tensor([0, 1]), n_samples=8, n_boxes=1)


@pytest.mark.parametrize(("dynamics", "where"), [("vertex", "out"), ("mlp", "net")])
def test_hooks_in_the_dynamics_are_refused(dynamics: str, where: str) -> None:
    stock = _model(dynamics)
    model = copy.deepcopy(stock)
    handle = getattr(model.dynamics, where).register_forward_hook(lambda m, i, o: 50 * o)
    try:
        _amplified_beyond_children(model, stock)
        assert _refuses_or_bounds(model) == "refused"
    finally:
        handle.remove()
    assert _refuses_or_bounds(model) == "bounded"  # the hook removed, the stock model again


def test_normalizer_with_another_forward_is_refused() -> None:
    stock = _model("mlp")
    model = copy.deepcopy(stock)
    model.normalizer = Rescale()
    stock.normalizer = Normalize([0.0], [0.02])  # what the std buffer alone would claim
    _amplified_beyond_children(model, stock)
    assert _refuses_or_bounds(model) == "refused"


def test_overridden_context_is_refused() -> None:
    stock = _model("mlp")
    model = copy.deepcopy(stock)

    class Loud(type(model)):
        def context(self, x):
            return 50 * super().context(x)

    model.__class__ = Loud
    _amplified_beyond_children(model, stock)
    assert _refuses_or_bounds(model) == "refused"
