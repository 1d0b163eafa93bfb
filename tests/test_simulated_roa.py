"""Simulated region of attraction on a grid, and volume ratios."""

from __future__ import annotations

import json

import pytest
import torch
from reference_systems import cubic_1d, reversed_van_der_pol

import lyactrl
from lyactrl.verify import grid_points


def test_cubic_1d_matches_the_exact_region() -> None:
    domain = lyactrl.Box([-2.0], [2.0])
    roa = lyactrl.simulated_region_of_attraction(cubic_1d(), domain, grid=400, t_final=15.0)
    x = roa.points[:, 0]
    # cell centres are +-0.995, +-1.005, ...: the mask is exactly |x| < 1
    assert torch.equal(roa.mask, x.abs() < 1.0)
    assert roa.fraction == pytest.approx(0.5)
    assert roa.n_points == 400 and roa.grid_shape == (400,)
    json.dumps(roa.to_dict())


def test_linear_systems_all_or_nothing() -> None:
    domain = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    stable = lyactrl.LinearSystem([[-1.0, 2.0], [-2.0, -1.0]])
    assert lyactrl.simulated_region_of_attraction(stable, domain, grid=10).fraction == 1.0
    unstable = lyactrl.LinearSystem([[0.5, 0.0], [0.0, -1.0]])
    assert lyactrl.simulated_region_of_attraction(unstable, domain, grid=10).fraction == 0.0


def test_vdp_two_resolutions_agree() -> None:
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    coarse = lyactrl.simulated_region_of_attraction(
        reversed_van_der_pol(), domain, grid=(25, 35), t_final=15.0, step=0.02
    )
    fine = lyactrl.simulated_region_of_attraction(
        reversed_van_der_pol(), domain, grid=(50, 70), t_final=15.0, step=0.02
    )
    # the region inside the limit cycle covers about 39 % of this box
    assert 0.36 < fine.fraction < 0.42
    assert abs(coarse.fraction - fine.fraction) < 0.02
    assert bool(fine.mask[(fine.points.norm(dim=1) < 1.0)].all())  # a ball of radius 1 is inside


def test_volume_ratio_region_and_mask() -> None:
    roa = lyactrl.simulated_region_of_attraction(cubic_1d(), lyactrl.Box([-2.0], [2.0]), grid=40)
    assert lyactrl.volume_ratio(lyactrl.Box([-0.5], [0.5]), roa) == 0.5
    assert lyactrl.volume_ratio(roa.mask, roa) == 1.0
    with pytest.warns(UserWarning, match="did not converge"):
        assert lyactrl.volume_ratio(lyactrl.Box([-2.0], [2.0]), roa) == 2.0
    with pytest.raises(lyactrl.ShapeError):
        lyactrl.volume_ratio(torch.ones(3, dtype=torch.bool), roa)
    with pytest.raises(lyactrl.InvalidArgumentError):
        lyactrl.volume_ratio([1, 0], roa)


def test_grid_points_are_cell_centres() -> None:
    pts, shape = grid_points(lyactrl.Box([0.0, 0.0], [1.0, 2.0]), (2, 4))
    assert shape == (2, 4) and pts.shape == (8, 2)
    assert pts[:, 0].unique().tolist() == [0.25, 0.75]
    assert pts[:, 1].unique().tolist() == [0.25, 0.75, 1.25, 1.75]


def test_bad_arguments() -> None:
    box = lyactrl.Box([-1.0], [1.0])
    with pytest.raises(lyactrl.InvalidArgumentError):
        lyactrl.simulated_region_of_attraction(cubic_1d(), lyactrl.Ball([0.0], 1.0))
    with pytest.raises(lyactrl.ShapeError):
        lyactrl.simulated_region_of_attraction(cubic_1d(), lyactrl.Box([-1.0, -1.0], [1.0, 1.0]))
    with pytest.raises(lyactrl.ShapeError):
        lyactrl.simulated_region_of_attraction(cubic_1d(), box, grid=(3, 3))
    with pytest.raises(lyactrl.InvalidValueError):
        lyactrl.simulated_region_of_attraction(cubic_1d(), box, step=0.0)
    with pytest.raises(lyactrl.UnknownArgumentError):
        lyactrl.simulated_region_of_attraction(cubic_1d(), box, horizon=3.0)
