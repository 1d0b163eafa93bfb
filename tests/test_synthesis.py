"""Controller synthesis: LQR against python-control and closed forms, the stabilisability test,
bad input, and learned controllers whose certificates re-certify and whose trajectories
converge inside the input limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import lyactrl
from lyactrl.synthesis import SaturatedController, check_stabilizable

M, L, B_FRIC, G = 0.15, 0.5, 0.1, 9.81


def pendulum() -> lyactrl.SymbolicSystem:
    """Neural Lyapunov Control's inverted pendulum, torque input."""
    return lyactrl.SymbolicSystem(
        ["x2", f"({M * G * L}*sin(x1) - {B_FRIC}*x2 + u)/({M * L * L})"], "x1, x2", inputs="u"
    )


def double_integrator() -> lyactrl.LinearSystem:
    return lyactrl.LinearSystem([[0.0, 1.0], [0.0, 0.0]], B=[[0.0], [1.0]])


def test_lqr_scalar_closed_form() -> None:
    # x' = a x + b u, cost q x^2 + r u^2: p = r (a + sqrt(a^2 + b^2 q / r)) / b^2, K = b p / r
    a, b, q, r = 0.7, 2.0, 3.0, 0.5
    K = lyactrl.lqr(lyactrl.LinearSystem([[a]], B=[[b]]), Q=[[q]], R=[[r]])
    p = r * (a + math.sqrt(a * a + b * b * q / r)) / (b * b)
    assert float(K[0, 0]) == pytest.approx(b * p / r, rel=1e-10)


def test_lqr_matches_python_control() -> None:
    control = pytest.importorskip("control")
    plant = pendulum()
    Q, R = np.diag([2.0, 0.5]), np.array([[3.0]])
    K = lyactrl.lqr(plant, Q=Q, R=R).numpy()
    A, B = (t.numpy() for t in lyactrl.linearize(plant))
    K_ref, _, _ = control.lqr(A, B, Q, R)
    np.testing.assert_allclose(K, K_ref, rtol=1e-8)
    disc = lyactrl.DiscreteSystem.discretize(plant, dt=0.05)
    Kd = lyactrl.lqr(disc).numpy()
    Ad, Bd = (t.numpy() for t in lyactrl.linearize(disc))
    Kd_ref, _, _ = control.dlqr(Ad, Bd, np.eye(2), np.eye(1))
    np.testing.assert_allclose(Kd, Kd_ref, rtol=1e-8)
    # the closed loop of the linearisation is stable
    assert np.abs(np.linalg.eigvals(Ad - Bd @ Kd)).max() < 1.0


def test_not_stabilizable_names_the_mode() -> None:
    A, B = [[1.0, 0.0], [0.0, -1.0]], [[0.0], [1.0]]
    with pytest.raises(
        lyactrl.NotStabilizableError, match=r"lambda = 1.*rank \[A - lambda I, B\] = 1 < n = 2"
    ):
        check_stabilizable(A, B, discrete=False)
    with pytest.raises(lyactrl.NotStabilizableError, match="lambda = 1"):
        lyactrl.lqr(lyactrl.LinearSystem(A, B=B))
    # an uncontrollable but stable mode is fine; a map's mode at -1 is not stable
    check_stabilizable([[-1.0, 0.0], [0.0, 1.0]], [[0.0], [1.0]], discrete=False)
    with pytest.raises(lyactrl.NotStabilizableError, match="lambda = -1"):
        check_stabilizable([[-1.0, 0.0], [0.0, 0.5]], [[0.0], [1.0]], discrete=True)
    box = lyactrl.Box([-1, -1], [1, 1])
    with pytest.raises(lyactrl.NotStabilizableError):
        lyactrl.fit_controller(lyactrl.LinearSystem(A, B=B), box, u_bounds=1.0, steps=1)


class _TwoOutputs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :1], x[:, :1]], dim=1) * 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (dict(u_bounds=1.0, controller=_TwoOutputs()), lyactrl.ShapeError, "controller"),
        (dict(u_bounds=(1.0, -1.0)), lyactrl.InvalidValueError, "u_bounds"),
        (dict(u_bounds=(0.1, 0.5)), lyactrl.InvalidValueError, "u_bounds"),
        (dict(u_bounds=-1.0), lyactrl.InvalidValueError, "u_bounds"),
        (dict(u_bounds=1.0, controller="quadratic"), lyactrl.InvalidValueError, "controller"),
        (dict(u_bounds=1.0, rate=0.0), lyactrl.InvalidValueError, "rate"),
    ],
)
def test_bad_input(kwargs: dict, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        lyactrl.fit_controller(
            double_integrator(), lyactrl.Box([-1, -1], [1, 1]), steps=1, **kwargs
        )


def test_bad_input_discrete() -> None:
    disc = lyactrl.DiscreteSystem.discretize(double_integrator(), dt=0.1)
    with pytest.raises(lyactrl.InvalidValueError, match="rate"):
        lyactrl.fit_controller(disc, lyactrl.Box([-1, -1], [1, 1]), u_bounds=1.0, rate=1.5)
    for dt in (0.0, -0.1):
        with pytest.raises(lyactrl.LyactrlError, match="dt"):
            lyactrl.DiscreteSystem.discretize(double_integrator(), dt=dt)
    with pytest.raises(lyactrl.InvalidArgumentError, match="domain"):
        lyactrl.fit_controller(disc, lyactrl.Box([-1], [1]), u_bounds=1.0)
    with pytest.raises(lyactrl.InvalidArgumentError, match="plant"):
        lyactrl.fit_controller(lyactrl.LinearSystem([[-1.0]]), lyactrl.Box([-1], [1]), u_bounds=1.0)


def test_saturated_controller_limits_and_equilibrium() -> None:
    K = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float64)
    k = SaturatedController(
        K,
        [-0.3, -1.0],
        [0.2, 2.0],
        torch.zeros(2),
        hidden=(8,),
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        for p in k.residual.parameters():
            p.normal_()
        x = 10 * torch.randn(500, 2, dtype=torch.float64)
        u = k(x)
        assert u.shape == (500, 2)
        assert bool((u[:, 0] >= -0.3).all() and (u[:, 0] <= 0.2).all())
        assert bool((u[:, 1] >= -1.0).all() and (u[:, 1] <= 2.0).all())
        assert k(torch.zeros(1, 2, dtype=torch.float64)).abs().max() == 0.0


def _simulate_inside(fit, plant, domain, *, discrete: bool, n: int = 12) -> None:
    """Trajectories from points of the certified set converge, with |u| inside the limits."""
    loop = lyactrl.ClosedLoop(plant, fit.controller)
    x = domain.sample(4000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        v = fit.V.value(x)
    # the outermost points of the set, where convergence is slowest
    inside = x[v <= fit.level]
    order = torch.argsort(fit.V.value(inside), descending=True)
    x0 = inside[order[:n]]
    assert x0.shape[0] > 0
    if discrete:
        traj = lyactrl.simulate(loop, x0, 400)
    else:
        traj = lyactrl.simulate(loop, x0, torch.linspace(0, 30, 301, dtype=torch.float64))
    xs = traj.x.reshape(-1, plant.n_states)
    u = fit.controller(xs)
    lo, hi = fit.controller.u_lo[0], fit.controller.u_hi[0]
    assert bool((u >= lo).all()) and bool((u <= hi).all())
    assert bool(domain.contains(xs).all())
    assert float(traj.final.norm(dim=-1).max()) < 0.5 * float(x0.norm(dim=-1).min())
    with torch.no_grad():
        assert float(fit.V.value(traj.final).max()) <= fit.level


@pytest.fixture(scope="module")
def pendulum_fit():
    plant = pendulum()
    domain = lyactrl.Box([-math.pi / 2, -4.0], [math.pi / 2, 4.0])
    fit = lyactrl.fit_controller(
        plant,
        domain,
        u_bounds=0.5,
        controller="neural",
        steps=50,
        rounds=2,
        batch=256,
        lyapunov_hidden=(8, 8),
        time_limit=4,
        seed=0,
        progress=False,
    )
    return plant, domain, fit


def test_pendulum_certificate_recertifies(pendulum_fit) -> None:
    plant, domain, fit = pendulum_fit
    assert fit.status == "certified"
    assert fit.lqr_status == "certified"
    # the learned pair is returned, and it certifies more than the baseline
    assert fit.V is not fit.lqr_V and fit.volume_share > fit.lqr_volume_share > 0
    assert fit.decay_bound is not None and fit.decay_bound.alpha > 0
    loop = lyactrl.ClosedLoop(plant, fit.controller)
    cond = lyactrl.ExponentialStability(loop, fit.V, fit.rate)
    again = lyactrl.certify(cond, lyactrl.Sublevel(fit.V, fit.level, within=domain), time_limit=30)
    assert again.status == "certified"
    # the certifier's own result agrees with the level returned
    assert fit.certificate.status == "certified" and fit.certificate.level == fit.level
    assert "fit_controller: certified" in str(fit)
    assert fit.to_dict()["status"] == "certified"


def test_pendulum_trajectories_converge_within_limits(pendulum_fit) -> None:
    plant, domain, fit = pendulum_fit
    _simulate_inside(fit, plant, domain, discrete=False)


def test_discrete_double_integrator_certifies() -> None:
    plant = lyactrl.DiscreteSystem.discretize(double_integrator(), dt=0.1)
    domain = lyactrl.Box([-2.0, -2.0], [2.0, 2.0])
    fit = lyactrl.fit_controller(
        plant,
        domain,
        u_bounds=1.0,
        controller="linear",
        rate=0.01,
        steps=30,
        rounds=1,
        batch=256,
        lyapunov_hidden=(8,),
        time_limit=4,
        progress=False,
    )
    assert fit.status == "certified" and fit.level > 0
    assert fit.lqr_status == "certified"
    assert fit.decay_bound.discrete
    loop = lyactrl.ClosedLoop(plant, fit.controller)
    cond = lyactrl.ExponentialStability(loop, fit.V, fit.rate)
    again = lyactrl.certify(cond, lyactrl.Sublevel(fit.V, fit.level, within=domain), time_limit=20)
    assert again.status == "certified"
    _simulate_inside(fit, plant, domain, discrete=True)


def test_controller_plot(pendulum_fit, tmp_path) -> None:
    from lyactrl.plot import controller_plot

    _, _, fit = pendulum_fit
    fig = controller_plot(fit, trajectories=3, steps=100, resolution=50, path=tmp_path / "c")
    ax, axu = fig.axes[:2]
    assert (tmp_path / "c.png").exists()
    # the limits are drawn, and every plotted input lies within them
    limits = sorted({line.get_ydata()[0] for line in axu.lines if line.get_linestyle() == ":"})
    assert limits == [-0.5, 0.5]
    for line in axu.lines:
        assert np.all(np.abs(np.asarray(line.get_ydata(), dtype=float)) <= 0.5 + 1e-12)
    with pytest.raises(lyactrl.InvalidArgumentError, match="fit"):
        controller_plot(object())


def test_user_module_is_clamped_and_kept() -> None:
    plant = double_integrator()
    mine = nn.Linear(2, 1, bias=False, dtype=torch.float32)
    with torch.no_grad():
        mine.weight.copy_(torch.tensor([[-1.0, -1.7]]))
    fit = lyactrl.fit_controller(
        plant,
        lyactrl.Box([-1, -1], [1, 1]),
        u_bounds=0.5,
        controller=mine,
        steps=2,
        rounds=1,
        batch=128,
        lyapunov_hidden=(4,),
        time_limit=3,
        progress=False,
    )
    assert mine.weight.dtype == torch.float32  # the user's module is not converted
    assert fit.status == "certified"
    x = 10 * torch.randn(200, 2, dtype=torch.float64)
    assert float(fit.controller(x).abs().max()) <= 0.5
    biased = nn.Linear(2, 1)
    with torch.no_grad():
        biased.bias.fill_(0.3)
    with pytest.raises(lyactrl.InvalidValueError, match="u\\(x_eq\\) = 0"):
        lyactrl.fit_controller(
            plant, lyactrl.Box([-1, -1], [1, 1]), u_bounds=1.0, controller=biased
        )


def test_two_inputs_certify() -> None:
    # two decoupled integrators with different limits: the clamp with tensor bounds is certified
    plant = lyactrl.LinearSystem([[0.0, 0.0], [0.0, 0.0]], B=[[1.0, 0.0], [0.0, 1.0]])
    fit = lyactrl.fit_controller(
        plant,
        lyactrl.Box([-2, -2], [2, 2]),
        u_bounds=([-0.5, -1.0], [0.5, 2.0]),
        controller="linear",
        steps=5,
        rounds=1,
        batch=128,
        lyapunov_hidden=(8,),
        time_limit=5,
        progress=False,
    )
    assert fit.status == "certified" and fit.lqr_status == "certified"
    u = fit.controller(10 * torch.randn(300, 2, dtype=torch.float64))
    assert float(u[:, 0].abs().max()) <= 0.5 and float(u[:, 1].min()) >= -1.0
    assert float(u[:, 1].max()) <= 2.0


def test_a_given_V_is_trained_as_a_copy() -> None:
    """``V=`` starts from the user's network (not a new one warm-started on the baseline) and
    leaves it unchanged; a V of the wrong shape, type or equilibrium is refused by name."""
    plant = double_integrator()
    domain = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    V0 = lyactrl.NeuralLyapunov(2, hidden=(8,), x_eq=[0.0, 0.0])
    before = [p.detach().clone() for p in V0.parameters()]
    fit = lyactrl.fit_controller(
        plant, domain, u_bounds=1.0, controller="linear", V=V0, steps=20, rounds=1,
        batch=128, time_limit=2, progress=False,
    )  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(before, V0.parameters(), strict=True))
    assert fit.V is not V0
    for bad, error in [
        (lyactrl.Quadratic(torch.eye(2)), lyactrl.InvalidArgumentError),
        (lyactrl.NeuralLyapunov(3, hidden=(4,), x_eq=[0.0] * 3), lyactrl.ShapeError),
        (lyactrl.NeuralLyapunov(2, hidden=(4,), x_eq=[0.1, 0.0]), lyactrl.InvalidValueError),
    ]:
        with pytest.raises(error, match="V: expected"):
            lyactrl.fit_controller(plant, domain, u_bounds=1.0, V=bad, steps=1)
