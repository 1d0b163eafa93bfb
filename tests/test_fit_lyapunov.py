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
