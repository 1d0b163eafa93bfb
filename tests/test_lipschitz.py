"""Lipschitz bounds: soundness against gradient ascent, LipSDP <= product, exactness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lyactrl import InvalidArgumentError, InvalidValueError, UnsupportedOperationError
from lyactrl.robust import _norms, lipschitz_bound
from lyactrl.robust._lipsdp import certify_rho, lmi_matrix


def _mlp(seed: int, widths: list[int], act: type[nn.Module]) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1]).double()


def _ascent_lower(net: nn.Module, n_in: int, norm: str, seed: int) -> float:
    """Largest Jacobian operator norm found by gradient ascent from many starts."""
    g = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(128, n_in, generator=g, dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    best = 0.0
    for _ in range(40):
        J = torch.func.vmap(torch.func.jacrev(net))(x)
        val = torch.linalg.matrix_norm(J, 2) if norm == "2" else J.abs().sum(-1).amax(-1)
        best = max(best, float(val.detach().max()))
        opt.zero_grad()
        (-val.sum()).backward()
        opt.step()
    return best


@pytest.mark.parametrize(
    "seed,act", [(0, nn.ReLU), (1, nn.Tanh), (2, nn.LeakyReLU), (3, nn.Sigmoid)]
)
def test_bounds_are_sound_on_random_mlps(seed: int, act: type[nn.Module]) -> None:
    net = _mlp(seed, [3, 12, 10, 2], act)
    lower2 = _ascent_lower(net, 3, "2", seed)
    prod = lipschitz_bound(net).value
    sdp = lipschitz_bound(net, method="lipsdp").value
    split = lipschitz_bound(net, method="lipsdp-split", split=1).value
    for b in (prod, sdp, split):
        assert b >= lower2
    assert sdp <= prod * (1 + 1e-9)
    assert split <= prod * (1 + 1e-9)
    assert lipschitz_bound(net, norm="inf").value >= _ascent_lower(net, 3, "inf", seed)


def test_lipsdp_returned_value_satisfies_the_lmi() -> None:
    net = _mlp(5, [4, 8, 3], nn.ReLU)
    w = [net[0].weight.detach().numpy(), net[2].weight.detach().numpy()]
    lam = [np.full(8, 0.7)]
    rho = certify_rho(w, [(0.0, 1.0)], lam)
    assert rho is not None
    assert np.linalg.eigvalsh(lmi_matrix(w, [(0.0, 1.0)], lam, rho))[-1] <= 0
    # slightly less than the certified rho breaks the LMI (it is the least one for this T)
    assert np.linalg.eigvalsh(lmi_matrix(w, [(0.0, 1.0)], lam, rho * 0.999))[-1] > 0


def test_single_linear_layer_is_exact() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(5, 4)
    W = layer.weight.detach().double().numpy()
    b2 = lipschitz_bound(layer)
    assert b2.exact and b2.value == pytest.approx(np.linalg.norm(W, 2), rel=1e-8)
    assert b2.value >= np.linalg.norm(W, 2)
    binf = lipschitz_bound(layer, norm="inf")
    assert binf.exact and binf.value == pytest.approx(np.abs(W).sum(1).max(), rel=1e-12)
    sdp = lipschitz_bound(layer, method="lipsdp")
    assert sdp.value == pytest.approx(np.linalg.norm(W, 2), rel=1e-8)


def test_consecutive_linear_layers_are_composed_exactly() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 6, bias=False), nn.Linear(6, 3, bias=False)).double()
    M = (net[1].weight @ net[0].weight).detach().numpy()
    b = lipschitz_bound(net)
    assert b.exact and b.value == pytest.approx(np.linalg.norm(M, 2), rel=1e-8)


def test_conv_exact_matrix_and_fft_upper_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(2)
    for conv in (
        nn.Conv2d(2, 3, 3, padding=1),
        nn.Conv2d(2, 3, 3, stride=2),
        nn.Conv2d(2, 3, 3, padding=2, dilation=2),
    ):
        exact = lipschitz_bound(conv, input_shape=(2, 7, 7))
        assert exact.exact
        monkeypatch.setattr(_norms, "DENSE_LIMIT", 10)
        fft = lipschitz_bound(conv, input_shape=(2, 7, 7))
        monkeypatch.undo()
        assert not fft.exact
        assert fft.value >= exact.value * (1 - 1e-12)
        assert fft.factors[0]["lower"] <= exact.value * (1 + 1e-9)
        inf = lipschitz_bound(conv, input_shape=(2, 7, 7), norm="inf")
        M = _norms.dense_matrix(lipschitz_flat(conv, (2, 7, 7)))
        assert inf.value == pytest.approx(np.abs(M).sum(1).max(), rel=1e-12)


def lipschitz_flat(m: nn.Module, shape: tuple[int, ...]):  # noqa: ANN201
    from lyactrl.robust._layers import flatten_module

    return flatten_module(m, shape)


def test_small_cnn_bounds_are_sound() -> None:
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 3 * 3, 3),
    ).double()
    lower = _ascent_lower(lambda z: net(z.view(-1, 1, 6, 6)).squeeze(0), 36, "2", 0)  # type: ignore[arg-type]
    assert lipschitz_bound(net, input_shape=(1, 6, 6)).value >= lower
    net2 = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 16, 3)
    ).double()
    low2 = _ascent_lower(lambda z: net2(z.view(-1, 1, 4, 4)).squeeze(0), 16, "2", 1)  # type: ignore[arg-type]
    prod = lipschitz_bound(net2, input_shape=(1, 4, 4)).value
    sdp = lipschitz_bound(net2, method="lipsdp", input_shape=(1, 4, 4)).value
    assert low2 <= sdp <= prod * (1 + 1e-9)


def test_misuse_raises() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1))
    with pytest.raises(UnsupportedOperationError, match="Softmax"):
        lipschitz_bound(net)
    with pytest.raises(InvalidValueError, match="method"):
        lipschitz_bound(nn.Linear(2, 2), method="exact")
    with pytest.raises(InvalidValueError, match="norm"):
        lipschitz_bound(nn.Linear(2, 2), norm=1)
    with pytest.raises(InvalidValueError, match="2-norm"):
        lipschitz_bound(nn.Linear(2, 2), method="lipsdp", norm="inf")
    with pytest.raises(InvalidArgumentError, match="input_shape"):
        lipschitz_bound(nn.Conv2d(1, 1, 3))
    with pytest.raises(UnsupportedOperationError, match="max pooling"):
        lipschitz_bound(
            nn.Sequential(nn.MaxPool2d(2), nn.Flatten()), method="lipsdp", input_shape=(1, 4, 4)
        )
    with pytest.raises(UnsupportedOperationError, match="padding_mode"):
        lipschitz_bound(
            nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), input_shape=(1, 4, 4)
        )
    with pytest.raises(UnsupportedOperationError, match="overlapping"):
        lipschitz_bound(nn.MaxPool2d(3, stride=1), input_shape=(1, 4, 4))
