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
