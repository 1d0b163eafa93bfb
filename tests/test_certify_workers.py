"""certify(workers=N): the sharded branch and bound gives the answer of one process.

Every box is decided by its own bounds, whatever worker holds it, so a certified search bounds
exactly the same tree of boxes: the box counts agree, not only the status. A refutation may
find another counterexample first, so there only the status (and that the counterexample is
proved) is compared. The Ray test starts its own local instance and is skipped when ray is
not installed (``pip install 'lyactrl[ray]'``).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import lyactrl
from lyactrl.verify import _shard
from tests.reference_systems import BiasedField, fossil_poly2

D = torch.float64
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture
def deals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many boxes each round dealt to the workers (so a test knows sharding happened)."""
    seen: list[int] = []
    deal = _shard._deal

    def counting(frontier, k):
        seen.append(len(frontier))
        return deal(frontier, k)

    monkeypatch.setattr(_shard, "_deal", counting)
    return seen


def _poly2(fraction: float = 0.8) -> lyactrl.ExponentialStability:
    sys = fossil_poly2()
    V = lyactrl.Quadratic.from_linearization(sys)
    return lyactrl.ExponentialStability(sys, V, fraction * lyactrl.verify.local_rate_limit(sys, V))


def _pocket() -> lyactrl.ExponentialStability:
    """A stable system with a planted pocket of instability near (0.61, -0.23), away from the
    equilibrium (the bump is ``O(x1^2)``, so ``x_eq = 0`` stays exact)."""
    bump = "4*x1**2*exp(-300*((x1 - 0.61)**2 + (x2 + 0.23)**2))"
    sys = lyactrl.SymbolicSystem([f"-x1 + {bump}", "-x2"], "x1, x2")
    return lyactrl.ExponentialStability(sys, lyactrl.Quadratic(torch.eye(2, dtype=D)), 0.5)


def _biased() -> tuple[lyactrl.ExponentialStability, lyactrl.Box]:
    """A torch network with biases, its equilibrium proved as a box (``x_eq_box``)."""
    system = lyactrl.NeuralSystem(BiasedField(), 2)
    eq = lyactrl.find_equilibrium(system, region=lyactrl.Box([-3.0, -3.0], [3.0, 3.0]))
    V = lyactrl.Quadratic.from_linearization(system, x_eq=eq.x)
    rate = 0.9 * lyactrl.verify.local_rate_limit(system, V)
    return lyactrl.ExponentialStability(system, V, rate, x_eq_box=eq), lyactrl.Box(
        eq.x - 1.5, eq.x + 1.5
    )


BOX = lyactrl.Box([-1.5, -1.5], [1.5, 1.5])
UNIT = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])


def test_certified_symbolic_same_tree(deals: list[int]) -> None:
    cond = _poly2()
    one = lyactrl.certify(cond, BOX, decay=False)
    two = lyactrl.certify(cond, BOX, workers=2, decay=False)
    assert deals and deals[0] >= 2 * _shard.WARM_UP_BOXES  # the frontier was sharded
    assert one.status == two.status == "certified"
    assert two.boxes_processed == one.boxes_processed
    assert len(two.undecided_lo) == 0


def test_certified_torch_network_with_biases(deals: list[int]) -> None:
    cond, region = _biased()
    one = lyactrl.certify(cond, region)
    two = lyactrl.certify(cond, region, workers=2)
    assert deals
    assert one.status == two.status == "certified"
    assert two.boxes_processed == one.boxes_processed
    assert two.decay_bound is not None and two.decay_bound.alpha == one.decay_bound.alpha


def test_falsified_keeps_a_proved_counterexample(deals: list[int]) -> None:
    cond = _pocket()
    one = lyactrl.certify(cond, UNIT)
    two = lyactrl.certify(cond, UNIT, workers=2)
    assert deals
    assert one.status == two.status == "falsified"
    cx = two.counterexamples
    assert cx.shape[0] >= 1 and bool(UNIT.contains(cx).all())
    assert bool((cond.residual(cx).detach() > 0).all())
    assert bool(lyactrl.bounds.proved_positive(cond, cx).all())
    assert float((cx[0] - torch.tensor([0.61, -0.23], dtype=D)).norm()) < 0.1  # in the pocket


def test_budget_holds_across_workers(deals: list[int]) -> None:
    cond = _poly2()
    one = lyactrl.certify(cond, BOX, max_boxes=300, decay=False)
    two = lyactrl.certify(cond, BOX, max_boxes=300, workers=2, decay=False)
    assert deals
    assert one.status == two.status == "unknown"
    assert "budget spent" in two.message and "2 workers" in two.message
    assert two.boxes_processed <= 300
    assert len(two.undecided_lo) > 0  # the boxes left are reported


def test_max_certified_rate_passes_workers() -> None:
    cond = _poly2()
    kw = {"tol": 0.05, "max_iterations": 8}
    one = lyactrl.max_certified_rate(cond, BOX, **kw)
    two = lyactrl.max_certified_rate(cond, BOX, workers=2, **kw)
    assert one.status == two.status == "certified"
    assert two.rate == one.rate and two.upper == one.upper


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_positive_int(workers) -> None:
    with pytest.raises(lyactrl.InvalidValueError, match="workers"):
        lyactrl.certify(_poly2(), BOX, workers=workers)


def test_unknown_executor_is_named() -> None:
    with pytest.raises(lyactrl.InvalidValueError, match="executor.*Did you mean 'process'"):
        lyactrl.certify(_poly2(), BOX, workers=2, executor="proces")
    with pytest.raises(lyactrl.InvalidValueError, match="executor"):
        lyactrl.certify(_poly2(), BOX, workers=2, executor=None)


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(lyactrl.MissingDependencyError, match=r"lyactrl\[ray\]"):
        lyactrl.certify(_poly2(), BOX, workers=2, executor="ray")


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'lyactrl[ray]')")
def test_unreachable_ray_address_is_named() -> None:
    import ray

    assert not ray.is_initialized()
    with pytest.raises(lyactrl.InvalidValueError, match="executor.*ray://127.0.0.1:9"):
        lyactrl.certify(_poly2(), BOX, workers=2, executor="ray://127.0.0.1:9")


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'lyactrl[ray]')")
def test_local_ray_instance_gives_the_same_answers() -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cond = _poly2()
        one = lyactrl.certify(cond, BOX, decay=False)
        two = lyactrl.certify(cond, BOX, workers=2, executor="ray", decay=False)
        assert one.status == two.status == "certified"
        assert two.boxes_processed == one.boxes_processed
        bad = lyactrl.certify(_pocket(), UNIT, workers=2, executor="ray")
        assert bad.status == "falsified"
        assert bool(lyactrl.bounds.proved_positive(_pocket(), bad.counterexamples).all())
        spent = lyactrl.certify(cond, BOX, max_boxes=300, workers=2, executor="ray")
        assert spent.status == "unknown" and spent.boxes_processed <= 300
    finally:
        ray.shutdown()
