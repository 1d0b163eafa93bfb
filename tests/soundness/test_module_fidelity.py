"""Rule 1: the certifier bounds exactly what ``module(x)`` computes now, or refuses.

Every check is against ``module(x)`` evaluated by torch itself on a dense grid.
"""

from __future__ import annotations

import pytest
import torch
from _checks import certify, grid, quadratic_residual, refuses_or_contains, status
from torch import nn

import lyactrl
from lyactrl.bounds import bound_candidate, bound_system

LO, HI = [-1.0, -1.0], [1.0, 1.0]
X = grid(LO, HI, 15)


def _system_bounds(module: nn.Module):
    sys = lyactrl.NeuralSystem(module, 2)
    return lambda: (lambda b: (b.lower, b.upper))(bound_system(sys, X, X))


def _truth(module: nn.Module):
    def run():
        with torch.no_grad():
            return module(X)

    return run


def _stable_linear() -> nn.Linear:
    lin = nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(-torch.eye(2, dtype=torch.float64))
    return lin


class Tripled(nn.Sequential):
    def forward(self, x):
        return 3 * super().forward(x)


class Negated(nn.Sequential):
    """Children give -x (stable); the real forward gives +x (unstable)."""

    def forward(self, x):
        out = x
        for m in self:
            out = m(out)
        return -out


class DoubledLinear(nn.Linear):
    def forward(self, x):
        return 2 * nn.functional.linear(x, self.weight, self.bias)


def test_sequential_subclass_with_forward_is_bounded_by_its_forward():
    m = Tripled(_stable_linear(), nn.Tanh())
    assert refuses_or_contains(_system_bounds(m), _truth(m)) in ("refused", "contained")


def test_linear_subclass_with_forward_is_bounded_by_its_forward():
    m = DoubledLinear(2, 2).double()
    assert refuses_or_contains(_system_bounds(m), _truth(m)) in ("refused", "contained")


def test_sequential_subclass_never_certifies_an_unstable_forward():
    m = Negated(_stable_linear())
    assert bool((quadratic_residual(m, X[X.abs().sum(1) > 0], 1.0) > 0).all())  # unstable
    res = certify(lyactrl.NeuralSystem(m, 2), lyactrl.Quadratic(torch.eye(2)), 1.0, LO, HI)
    assert status(res) != "certified"


@pytest.mark.parametrize("kind", ["forward", "pre", "global"])
def test_hooks_are_bounded_or_refused(kind):
    net = nn.Sequential(_stable_linear(), nn.Tanh())
    if kind == "forward":
        handle = net[0].register_forward_hook(lambda mod, inp, out: -5 * out)
    elif kind == "pre":
        handle = net[1].register_forward_pre_hook(lambda mod, inp: (-5 * inp[0],))
    else:
        handle = nn.modules.module.register_module_forward_hook(lambda mod, i, o: -o)
    try:
        assert refuses_or_contains(_system_bounds(net), _truth(net)) in ("refused", "contained")
        res = certify(lyactrl.NeuralSystem(net, 2), lyactrl.Quadratic(torch.eye(2)), 1.0, LO, HI)
        residual = quadratic_residual(net, X[X.abs().sum(1) > 0.5], 1.0)
    finally:
        handle.remove()
    # every hook turns x' = tanh(-x) into x' = tanh(5x) or tanh(x): unstable, so never certified
    assert bool((residual > 0).any())
    assert status(res) != "certified"


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sign = -1.0

    def forward(self, x):
        return self.sign * x


class ModeSwitch(nn.Module):
    def forward(self, x):
        return x if self.training else -x


def test_attribute_mutation_after_a_certificate_is_seen():
    m = Scaled()
    sys = lyactrl.NeuralSystem(m, 2)
    V = lyactrl.Quadratic(torch.eye(2))
    first = certify(sys, V, 1.0, LO, HI)
    assert status(first) == "certified"  # x' = -x, V = |x|^2, rate 1 < 2
    m.sign = 1.0  # now x' = x
    assert refuses_or_contains(_system_bounds(m), _truth(m)) in ("refused", "contained")
    assert status(certify(sys, V, 1.0, LO, HI)) != "certified"


def test_train_eval_switch_after_a_certificate_is_seen():
    m = ModeSwitch().eval()
    sys = lyactrl.NeuralSystem(m, 2)
    V = lyactrl.Quadratic(torch.eye(2))
    assert status(certify(sys, V, 1.0, LO, HI)) == "certified"
    m.train()  # now x' = x
    assert refuses_or_contains(_system_bounds(m), _truth(m)) in ("refused", "contained")
    assert status(certify(sys, V, 1.0, LO, HI)) != "certified"


@pytest.mark.parametrize("layer", [nn.Dropout(0.5), nn.BatchNorm1d(2)])
def test_train_mode_dropout_and_batch_norm(layer):
    net = nn.Sequential(_stable_linear(), layer.double()).train()
    truth = torch.stack([net(X).detach() for _ in range(20)])
    try:
        b = bound_system(lyactrl.NeuralSystem(net, 2), X, X)
    except lyactrl.UnsupportedOperationError as exc:
        assert "train mode" in str(exc) or "Batch norm" in str(exc)
        return
    assert bool((b.lower <= truth).all() and (truth <= b.upper).all())


def test_eval_mode_dropout_is_the_identity():
    net = nn.Sequential(_stable_linear(), nn.Dropout(0.5)).eval()
    b = bound_system(lyactrl.NeuralSystem(net, 2), X, X)
    truth = net(X).detach()
    assert bool((b.lower <= truth).all() and (truth <= b.upper).all())


class _ZeroDropoutField(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = _stable_linear()

    def forward(self, x):
        return torch.nn.functional.dropout(self.lin(x), p=0.0, training=True)


def test_train_mode_dropout_with_p_zero_is_the_identity():
    """p = 0 leaves every unit: the same bounds as the network without it, in train mode too
    (as a module and as F.dropout); any p > 0 in train mode is still refused."""
    lin = _stable_linear()
    plain = bound_system(lyactrl.NeuralSystem(nn.Sequential(lin), 2), X, X)
    for net in (nn.Sequential(lin, nn.Dropout(0.0)).train(), _ZeroDropoutField().train()):
        if isinstance(net, _ZeroDropoutField):
            net.lin = lin
        b = bound_system(lyactrl.NeuralSystem(net, 2), X, X)
        assert torch.equal(b.lower, plain.lower) and torch.equal(b.upper, plain.upper)
    with pytest.raises(lyactrl.UnsupportedOperationError, match="train mode"):
        bound_system(lyactrl.NeuralSystem(nn.Sequential(lin, nn.Dropout(1e-3)).train(), 2), X, X)


class NegativeQuadratic(lyactrl.Quadratic):
    def value(self, x):
        return -super().value(x)


class ShiftedGradient(lyactrl.Quadratic):
    def value_and_gradient(self, x):
        v, g = super().value_and_gradient(x)
        return v, -g


@pytest.mark.parametrize("cls", [NegativeQuadratic, ShiftedGradient])
def test_candidate_subclass_overriding_evaluation(cls):
    V = cls(torch.eye(2))
    pts = X[X.abs().sum(1) > 0]
    truth = V.value(pts)
    assert refuses_or_contains(
        lambda: (lambda b: (b.lower, b.upper))(bound_candidate(V, pts, pts)), truth
    ) in ("refused", "contained")
    sys = lyactrl.LinearSystem(-torch.eye(2, dtype=torch.float64))
    res = certify(sys, V, 1.0, LO, HI)
    with torch.no_grad():
        v, g = V.value_and_gradient(pts)
    residual = (g * (-pts)).sum(1) + v
    if bool((residual > 0).any()):
        assert status(res) != "certified"


def _empirical_lipschitz(module: nn.Module, shape: tuple[int, ...], n: int = 400) -> float:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    b = a + 1e-3 * torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        num = (module(a) - module(b)).reshape(n, -1).norm(dim=1)
    return float((num / (a - b).reshape(n, -1).norm(dim=1)).max())


def _lipschitz_refuses_or_bounds(module: nn.Module, shape: tuple[int, ...]) -> None:
    try:
        value = lyactrl.lipschitz_bound(module, input_shape=shape).value
    except lyactrl.UnsupportedOperationError:
        return
    assert value >= _empirical_lipschitz(module, shape) * (1 - 1e-9)


def test_lipschitz_of_sequential_subclass_with_forward():
    _lipschitz_refuses_or_bounds(Tripled(nn.Linear(3, 3).double(), nn.Tanh()), (3,))


def test_lipschitz_with_a_hook():
    net = nn.Sequential(nn.Linear(3, 3).double(), nn.Tanh())
    handle = net[0].register_forward_hook(lambda mod, inp, out: 10 * out)
    try:
        _lipschitz_refuses_or_bounds(net, (3,))
    finally:
        handle.remove()


def test_lipschitz_of_train_mode_dropout_is_refused():
    net = nn.Sequential(nn.Linear(3, 3).double(), nn.Dropout(0.5)).train()
    with pytest.raises(lyactrl.UnsupportedOperationError, match="train mode"):
        lyactrl.lipschitz_bound(net)
    # p = 0 is the identity in train mode too: the bound of the Linear layer alone
    zero = nn.Sequential(net[0], nn.Dropout(0.0)).train()
    assert float(lyactrl.lipschitz_bound(zero)) == float(lyactrl.lipschitz_bound(net[:1]))


def test_lipschitz_of_pooling_overlapping_in_one_dimension():
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.MaxPool2d((2, 3), stride=2)).double()
    _lipschitz_refuses_or_bounds(net, (1, 8, 8))


def test_instance_level_forward_attribute():
    lin = _stable_linear()
    lin.forward = lambda x: -5 * nn.functional.linear(x, lin.weight)  # lin(x) now gives 5x
    net = nn.Sequential(lin)
    assert refuses_or_contains(_system_bounds(net), _truth(net)) in ("refused", "contained")
    res = certify(lyactrl.NeuralSystem(net, 2), lyactrl.Quadratic(torch.eye(2)), 1.0, LO, HI)
    assert status(res) != "certified"


def test_random_operation_in_forward_is_not_folded_into_one_sample():
    class Noisy(nn.Module):
        def forward(self, x):
            return -x + torch.randn(2, dtype=torch.float64)

    m = Noisy()
    truth = torch.stack([m(X).detach() for _ in range(30)])
    assert refuses_or_contains(_system_bounds(m), truth) in ("refused", "contained")


def _neural_candidate_bounds(V, pts):
    return lambda: (lambda b: (b.lower, b.upper))(bound_candidate(V, pts, pts))


def test_neural_lyapunov_with_a_custom_feature_network():
    V = lyactrl.NeuralLyapunov(2, hidden=(8, 4), generator=torch.Generator().manual_seed(1))
    V.phi = Tripled(*V.phi)
    pts = X[:50]
    truth = V.value(pts).detach()
    assert refuses_or_contains(_neural_candidate_bounds(V, pts), truth) in ("refused", "contained")


def test_neural_lyapunov_with_a_hook_on_its_network():
    V = lyactrl.NeuralLyapunov(2, hidden=(8, 4), generator=torch.Generator().manual_seed(1))
    handle = V.phi[0].register_forward_hook(lambda mod, inp, out: 4 * out)
    try:
        pts = X[:50]
        truth = V.value(pts).detach()
        got = refuses_or_contains(_neural_candidate_bounds(V, pts), truth)
    finally:
        handle.remove()
    assert got in ("refused", "contained")


class FlippedLinear(lyactrl.LinearSystem):
    def vector_field(self, t, x, u=None):
        return -super().vector_field(t, x, u)


def test_system_subclass_overriding_its_vector_field():
    sys = FlippedLinear(-torch.eye(2, dtype=torch.float64))  # really x' = x
    pts = X[X.abs().sum(1) > 0]
    assert bool((quadratic_residual(sys, pts, 1.0) > 0).all())
    assert status(certify(sys, lyactrl.Quadratic(torch.eye(2)), 1.0, LO, HI)) != "certified"


def test_time_varying_system_with_a_module_of_one_argument_is_refused():
    sys = lyactrl.NeuralSystem(nn.Sequential(_stable_linear()), 2, inputs="t,x")
    with pytest.raises(lyactrl.UnsupportedOperationError):
        bound_system(sys, X, X)


def test_a_batch_broadcast_buffer_is_bounded_as_torch_broadcasts_it():
    # a (1, n) buffer broadcasts along the batch in torch; the bounds must do the same
    class Shift(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("c", torch.tensor([[0.5, -1.0]], dtype=torch.float64))

        def forward(self, x):
            return -x + self.c

    system = lyactrl.NeuralSystem(Shift(), 2)
    x = torch.rand(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    b = lyactrl.bounds.bound_system(system, x, x)
    truth = Shift()(x)
    assert torch.all(b.lower <= truth) and torch.all(truth <= b.upper)
    assert torch.allclose(b.lower, truth) and torch.allclose(b.upper, truth)
