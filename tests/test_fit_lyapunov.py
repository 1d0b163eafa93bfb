"""fit_lyapunov: the learned, certified sublevel set lies in the true region of attraction."""

import pytest
import torch

import lyactrl


@pytest.fixture(scope="module")
def cubic_fit():
    # x' = -x + x^3: the region of attraction of 0 is exactly (-1, 1)
    system = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    domain = lyactrl.Box([-2.0], [2.0])
    fit = lyactrl.fit_lyapunov(
        system, domain, hidden=(16, 16), steps=400, batch=256, grid=401, rate=0.05, time_limit=30.0
    )
    return system, domain, fit


def test_certified_set_is_inside_the_true_region_and_covers_most_of_it(cubic_fit):
    system, domain, fit = cubic_fit
    assert fit.status == "certified"
    x = torch.linspace(-2, 2, 4001, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        inside = fit.V.value(x) <= fit.level
    covered = x[inside, 0]
    assert float(covered.abs().max()) < 1.0  # soundness: never past the true boundary
    assert float(covered.min()) < -0.7 and float(covered.max()) > 0.7
    assert fit.volume_ratio > 0.7
    # the certificate's own condition holds on samples of the certified set
    region = lyactrl.Sublevel(fit.V, fit.level, within=domain)
    cond = lyactrl.ExponentialStability(system, fit.V, fit.rate)
    check = lyactrl.check_sampled(
        cond, region, n_samples=5000, generator=torch.Generator().manual_seed(0)
    )
    assert check.status == "holds_on_samples"


def test_fit_result_reports_times_and_serialises(cubic_fit):
    _, _, fit = cubic_fit
    d = fit.to_dict()
    assert d["method"] == "fit_lyapunov" and d["status"] == "certified"
    assert fit.train_seconds > 0 and fit.certify_seconds > 0
    assert fit.certificate.level == fit.level


def test_unsampled_estimate_is_labelled_statistical():
    system = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    fit = lyactrl.fit_lyapunov(
        system,
        lyactrl.Box([-2.0], [2.0]),
        hidden=(8,),
        steps=100,
        batch=128,
        grid=101,
        certify=False,
    )
    assert fit.status == "holds_on_samples" and fit.certificate is None


def test_bad_domain():
    system = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    with pytest.raises(lyactrl.InvalidArgumentError, match="domain: expected a Box"):
        lyactrl.fit_lyapunov(system, lyactrl.Ball([0.0], 1.0))


def test_never_below_the_quadratic_baseline(capsys):
    # a reversed Van der Pol with a barely trained network: the result is at least the
    # quadratic baseline from the linearisation, certified on its own
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    fit = lyactrl.fit_lyapunov(
        vdp,
        domain,
        hidden=(8,),
        steps=20,
        batch=128,
        grid=41,
        rate=0.05,
        time_limit=20.0,
        progress=True,
    )
    assert fit.status == "certified" and fit.baseline_volume_ratio > 0
    assert fit.volume_ratio >= fit.baseline_volume_ratio
    Vq = lyactrl.Quadratic.from_linearization(vdp)
    base = lyactrl.region_of_attraction(lyactrl.ExponentialStability(vdp, Vq, 0.05), domain)
    simulated = lyactrl.simulated_region_of_attraction(vdp, domain, grid=41)
    ratio_q = lyactrl.volume_ratio(base.region, simulated)
    assert fit.volume_ratio >= ratio_q - 1e-12
    if isinstance(fit.V, lyactrl.Quadratic):
        assert "baseline" in fit.message
    # the certificate returned is for the V returned
    cert = lyactrl.certify(
        lyactrl.ExponentialStability(vdp, fit.V, fit.rate), fit.certificate.region
    )
    assert cert.status == "certified"
    assert "fit_lyapunov" in capsys.readouterr().err  # the progress bar was shown


def test_saturated_pendulum_never_ends_below_its_quadratic_baseline():
    # the case that used to end "unknown, level 0": a torque-limited LQR pendulum
    plant = lyactrl.SymbolicSystem(["x2", "9.81*sin(x1) - 0.1*x2 + u"], "x1, x2", inputs="u")
    K = torch.tensor([[19.67, 6.25]], dtype=torch.float64)
    loop = lyactrl.ClosedLoop(plant, lambda x: torch.clamp(-x @ K.T, -4.0, 4.0))
    domain = lyactrl.Box([-1.0, -3.0], [1.0, 3.0])
    fit = lyactrl.fit_lyapunov(
        loop, domain, hidden=(8, 8), steps=100, batch=256, grid=31, rate=0.05, time_limit=10.0
    )
    assert fit.status == "certified" and fit.level > 0
    assert fit.volume_ratio >= fit.baseline_volume_ratio > 0
    cert = lyactrl.certify(
        lyactrl.ExponentialStability(loop, fit.V, fit.rate), fit.certificate.region, time_limit=20.0
    )
    assert cert.status == "certified"


def test_power_system_in_half_angle_form_encloses_exactly_zero_at_its_equilibrium():
    # the local certificate at x_eq needs f(x_eq) enclosed by exactly [0, 0]; the two-machine
    # power system sin(x1 + d) - sin(d) encloses a widened sin(d) - sin(d) at x1 = 0, while the
    # same function as 2 cos(x1/2 + d) sin(x1/2) keeps sin(0) = 0 exact
    from lyactrl.bounds import bound_system

    naive = lyactrl.SymbolicSystem(["x2", "-0.5*x2 - (sin(x1 + pi/3) - sin(pi/3))"], "x1, x2")
    exact = lyactrl.SymbolicSystem(["x2", "-0.5*x2 - 2*cos(x1/2 + pi/3)*sin(x1/2)"], "x1, x2")
    zero = [[0.0, 0.0]]
    b = bound_system(exact, zero, zero)
    assert b.lower.tolist() == [[0.0, 0.0]] and b.upper.tolist() == [[0.0, 0.0]]
    n = bound_system(naive, zero, zero)
    assert float(n.lower[0, 1]) <= 0.0 <= float(n.upper[0, 1])  # sound, but not exact
    # the same function elsewhere, and both enclosures contain it on a box
    x = torch.tensor([[-1.3, 0.4], [0.7, -2.0], [2.9, 1.1]], dtype=torch.float64)
    assert torch.allclose(exact(x), naive(x), atol=1e-12)
    lo, hi = [[-0.2, -0.1]], [[0.3, 0.2]]
    be, bn = bound_system(exact, lo, hi), bound_system(naive, lo, hi)
    inner = torch.tensor([[0.1, 0.05]], dtype=torch.float64)
    assert bool((be.lower <= exact(inner)).all() and (exact(inner) <= be.upper).all())
    assert bool((bn.lower <= exact(inner)).all() and (exact(inner) <= bn.upper).all())


def test_erode_keeps_the_target_away_from_non_converging_points_and_not_from_the_edge():
    from lyactrl.verify._fit_lyapunov import _erode

    mask = torch.ones(5, 6, dtype=torch.bool)
    mask[2, 3] = False
    one = _erode(mask, 1)
    assert not one[2, 3] and not one[1, 3] and not one[3, 3] and not one[2, 2] and not one[2, 4]
    assert one[1, 2] and one[0, 0] and one[4, 5]  # diagonal neighbours and the grid's edge kept
    assert int((~one).sum()) == 5
    assert int((~_erode(mask, 2)).sum()) == 13
    assert torch.equal(_erode(mask, 0), mask)


def test_a_domain_that_cuts_the_region_trains_its_rim_as_outside():
    # x' = -x + x^3 has the region of attraction (-1, 1); the domain [-0.8, 0.8] cuts it, so
    # every grid point converges and only the rim (trained as V >= 1.1) sets V's scale
    system = lyactrl.SymbolicSystem(["-x + x**3"], "x")
    domain = lyactrl.Box([-0.8], [0.8])
    fit = lyactrl.fit_lyapunov(
        system, domain, hidden=(8, 8), steps=200, batch=256, grid=61, rate=0.05, certify=False
    )
    rim = torch.tensor([[-0.8 + 0.8 / 61], [0.8 - 0.8 / 61]], dtype=torch.float64)
    mid = torch.tensor([[-0.5], [0.5]], dtype=torch.float64)
    with torch.no_grad():
        v_rim, v_mid = fit.V.value(rim), fit.V.value(mid)
    assert bool((v_rim >= 1.05).all()) and bool((v_mid < 1.0).all())
    assert fit.level <= float(v_rim.min()) + 1e-12  # the sampled level: at most the rim
