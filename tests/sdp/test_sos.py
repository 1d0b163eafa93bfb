"""SOS Lyapunov search, S-procedure levels and the V-s iteration."""

from __future__ import annotations

import json
import math

import pytest
import torch
from reference_systems import cubic_1d, fossil_poly2, reversed_van_der_pol

import lyactrl
from lyactrl._results import Status


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("degree", [4, 6])
def test_poly2_certificate_holds_on_samples(degree: int) -> None:
    system = fossil_poly2()
    res = lyactrl.sos_lyapunov(system, degree=degree, rate=0.05)
    assert res.status == "feasible", res.message
    V = res.V
    assert isinstance(V, lyactrl.SymbolicCandidate)
    box = lyactrl.Box([-3.0, -3.0], [3.0, 3.0])
    x = box.sample(5000, generator=_gen())
    assert bool((V(x) > 0).all())
    cond = lyactrl.ExponentialStability(system, V, rate=0.05)
    check = lyactrl.check_sampled(cond, box, n_samples=20_000, generator=_gen())
    assert check.holds, str(check)
    assert res.min_gram_eigenvalue >= -1e-6 and res.equality_residual <= 1e-6
    assert res.status is Status.FEASIBLE and res.solver == "clarabel" and res.seconds > 0
    d = res.to_dict()
    json.dumps(d)
    assert d["status"] == "feasible" and d["V"] == res.expression and d["method"] == "sos"


def test_unstable_polynomial_system_is_infeasible() -> None:
    unstable = lyactrl.SymbolicSystem(["x + y**3", "-y"], "x, y")
    for degree in (2, 4):
        res = lyactrl.sos_lyapunov(unstable, degree=degree)
        assert res.status is Status.INFEASIBLE and res.V is None and "degree" in res.message


def test_local_only_system_needs_the_s_procedure() -> None:
    system = cubic_1d()  # stable only on (-1, 1)
    assert lyactrl.sos_lyapunov(system, degree=2).status == "infeasible"
    res = lyactrl.sos_lyapunov(system, degree=2, rate=0.5, domain=lyactrl.Box([-0.6], [0.6]))
    assert res.status == "feasible" and res.method == "sos-s-procedure"
    cond = lyactrl.ExponentialStability(system, res.V, rate=0.5)
    assert lyactrl.check_sampled(cond, lyactrl.Box([-0.6], [0.6]), n_samples=2000).holds


def test_shifted_equilibrium() -> None:
    system = lyactrl.SymbolicSystem(
        ["-(x - 1)**3 + (y + 2)", "-(x - 1) - (y + 2)"], "x, y", x_eq=[1.0, -2.0]
    )
    res = lyactrl.sos_lyapunov(system, degree=4, rate=0.05)
    assert res.status == "feasible"
    assert float(res.V([[1.0, -2.0]])[0]) == pytest.approx(0.0, abs=1e-12)
    box = lyactrl.Box([-1.0, -4.0], [3.0, 0.0])
    cond = lyactrl.ExponentialStability(system, res.V, rate=0.05)
    assert lyactrl.check_sampled(cond, box, n_samples=5000, generator=_gen()).holds


def test_level_matches_closed_form_1d() -> None:
    # 2 x (-x + x^3) + 0.5 x^2 <= 0  iff  x^2 <= 0.75
    V = lyactrl.SymbolicCandidate("x**2", "x", x_eq=[0.0])
    res = lyactrl.sos_level(cubic_1d(), V, rate=0.5, rtol=1e-4)
    assert res.status == "feasible"
    assert 0.75 * (1 - 1e-3) <= res.level <= 0.75 * (1 + 1e-6)


def test_level_of_vdp_linearisation_holds_on_samples() -> None:
    system = reversed_van_der_pol()
    P = lyactrl.Quadratic.from_linearization(system).P.numpy()
    expr = f"{P[0, 0]}*x1**2 + {2 * P[0, 1]}*x1*x2 + {P[1, 1]}*x2**2"
    V = lyactrl.SymbolicCandidate(expr, "x1, x2", x_eq=[0.0, 0.0])
    res = lyactrl.sos_level(system, V, rate=0.1)
    assert res.status == "feasible" and res.level > 0.5
    region = lyactrl.Sublevel(V, res.level, within=lyactrl.Box([-3.0, -3.0], [3.0, 3.0]))
    cond = lyactrl.ExponentialStability(system, V, rate=0.1)
    assert lyactrl.check_sampled(cond, region, n_samples=20_000, generator=_gen()).holds
    # a much larger level must fail somewhere (the sublevel set leaves the region of attraction)
    big = lyactrl.Sublevel(V, 10 * res.level, within=lyactrl.Box([-6.0, -6.0], [6.0, 6.0]))
    assert not lyactrl.check_sampled(cond, big, n_samples=20_000, generator=_gen()).holds


def test_sos_roa_1d_stays_inside_true_region() -> None:
    res = lyactrl.sos_roa(cubic_1d(), lyactrl.Box([-2.0], [2.0]), degree=2, iterations=2, rate=0.1)
    assert res.status == "feasible"
    x = torch.linspace(-1.5, 1.5, 3001, dtype=torch.float64).unsqueeze(1)
    inside = x[res.V(x) <= res.level].abs()
    # rate 0.1: the exact largest interval is x^2 <= 0.95
    assert 0.9 <= float(inside.max()) <= math.sqrt(0.95) + 1e-3


def test_bad_arguments() -> None:
    with pytest.raises(lyactrl.InvalidValueError, match="polynomial"):
        lyactrl.sos_lyapunov(lyactrl.SymbolicSystem(["-sin(x)"], "x"))
    with pytest.raises(lyactrl.InvalidArgumentError, match="SymbolicSystem"):
        lyactrl.sos_lyapunov(lyactrl.LinearSystem([[-1.0]]))
    with pytest.raises(lyactrl.InvalidValueError, match="degree"):
        lyactrl.sos_lyapunov(cubic_1d(), degree=3)
    with pytest.raises(lyactrl.InvalidValueError, match="solver"):
        lyactrl.sos_lyapunov(cubic_1d(), solver="mosek")
    with pytest.raises(lyactrl.UnknownArgumentError):
        lyactrl.sos_lyapunov(cubic_1d(), deg=2)
    with pytest.raises(lyactrl.InvalidArgumentError, match="domain"):
        lyactrl.sos_lyapunov(cubic_1d(), domain="box")
    with pytest.raises(lyactrl.InvalidValueError, match="states"):
        lyactrl.sos_level(cubic_1d(), lyactrl.SymbolicCandidate("y**2", "y"))


def test_level_refuses_a_candidate_that_is_not_positive_definite() -> None:
    system = fossil_poly2()
    for expr in ("x**2 - y**2", "x**2", "x**2 + y**2 + x"):
        V = lyactrl.SymbolicCandidate(expr, "x, y")
        res = lyactrl.sos_level(system, V)
        assert res.status == "unknown" and "positive definite" in res.message


def test_sos_roa_vdp_grows_and_stays_inside_the_simulated_region() -> None:
    system = reversed_van_der_pol()
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    sim = lyactrl.simulated_region_of_attraction(
        system, domain, grid=(25, 35), t_final=15.0, step=0.02
    )
    shares = []
    for degree, iterations in ((2, 0), (4, 4)):
        res = lyactrl.sos_roa(system, domain, degree=degree, iterations=iterations, rate=0.01)
        assert res.status == "feasible"
        inside = res.V(sim.points) <= res.level
        assert not bool((inside & ~sim.mask).any())  # certified points all converge
        shares.append(lyactrl.volume_ratio(inside, sim))
        region = lyactrl.Sublevel(res.V, res.level, within=domain)
        cond = lyactrl.ExponentialStability(system, res.V, rate=0.01)
        check = lyactrl.check_sampled(cond, region, n_samples=20_000, generator=_gen())
        assert check.holds, str(check)
    assert 0.3 < shares[0] < shares[1] < 1.0


def test_sos_roa_bad_arguments_and_unstable_linearisation() -> None:
    with pytest.raises(lyactrl.InvalidArgumentError, match="domain"):
        lyactrl.sos_roa(cubic_1d(), lyactrl.Ball([0.0], 1.0))
    with pytest.raises(lyactrl.InvalidArgumentError, match="SymbolicSystem"):
        lyactrl.sos_roa(lyactrl.LinearSystem([[-1.0]]), lyactrl.Box([-1.0], [1.0]))
    unstable = lyactrl.SymbolicSystem(["x - x**3"], "x")
    res = lyactrl.sos_roa(unstable, lyactrl.Box([-1.0], [1.0]), degree=2)
    assert res.status == "infeasible" and "Hurwitz" in res.message
