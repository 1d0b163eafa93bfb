"""Figures of lyactrl.plot: written as PNG and SVG, not blank, and saying true things."""

from __future__ import annotations

import os
import re
import subprocess
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import lyactrl  # noqa: E402
from lyactrl import plot  # noqa: E402


def assert_not_blank(png) -> None:
    """The PNG has real content: varied pixels, a fair share of them not white."""
    import matplotlib.image

    img = matplotlib.image.imread(str(png))[..., :3]
    non_white = float((img.mean(-1) < 0.95).mean())
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert float(img.std()) > 0.05
    assert non_white > 0.03


def assert_written(paths) -> None:
    png, svg = paths if isinstance(paths, list) else (paths[0], paths[1])
    assert png.suffix == ".png" and svg.suffix == ".svg"
    assert_not_blank(png)
    assert "<svg" in svg.read_text()[:2000]


def files(base):
    return [base.with_name(base.name + ".png"), base.with_name(base.name + ".svg")]


@pytest.fixture(scope="module")
def vdp():
    system = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(system)
    return system, V, lyactrl.ExponentialStability(system, V, rate=0.25)


def test_import_lyactrl_does_not_import_matplotlib():
    code = "import sys, lyactrl, lyactrl.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_phase_portrait_written_and_marked(tmp_path, vdp):
    system, V, cond = vdp
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    fals = lyactrl.falsify(cond, domain, generator=torch.Generator().manual_seed(0))
    assert fals.status == "falsified"
    fig = plot.phase_portrait(
        system,
        domain,
        V=V,
        certified_level=1.0,
        counterexamples=fals,
        trajectories=4,
        resolution=25,
        path=tmp_path / "pp",
    )
    assert_written(files(tmp_path / "pp"))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "$x_{1}$" and ax.get_ylabel() == "$x_{2}$"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("certified" in t for t in labels)
    assert any(f"counterexamples ({fals.counterexamples.shape[0]})" in t for t in labels)
    assert ax.get_xlim()[0] < -2.5 and ax.get_xlim()[1] > 2.5


def test_phase_portrait_slice_of_three_states_into_given_axes(tmp_path):
    import matplotlib.figure

    system = lyactrl.LinearSystem([[-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [0.0, 0.0, -2.0]])
    own = matplotlib.figure.Figure()
    ax = own.subplots()
    fig = plot.phase_portrait(
        system,
        lyactrl.Ball([0.0, 0.0, 0.0], 1.0),
        dims=(0, 2),
        trajectories=[[0.5, 0.0, 0.5]],
        resolution=15,
        ax=ax,
        state_labels=["position [m]", "velocity [m/s]", "current [A]"],
    )
    assert fig is own
    assert ax.get_xlabel() == "position [m]" and ax.get_ylabel() == "current [A]"
    assert "slice" in ax.get_title()
    plot.save_figure(fig, tmp_path / "slice.png")  # the suffix is dropped
    assert_written(files(tmp_path / "slice"))


def test_phase_portrait_bad_input():
    system = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -1.0]])
    box = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(lyactrl.InvalidArgumentError, match="certified_level"):
        plot.phase_portrait(system, box, certified_level=1.0)
    with pytest.raises(lyactrl.InvalidValueError, match="dims"):
        plot.phase_portrait(system, box, dims=(0, 0))
    with pytest.raises(lyactrl.ShapeError, match="region"):
        plot.phase_portrait(system, lyactrl.Box([-1.0], [1.0]))
    with pytest.raises(lyactrl.UnknownArgumentError, match="trajectory"):
        plot.phase_portrait(system, box, trajectory=3)


def test_residual_heatmap_centred_at_zero(tmp_path, vdp):
    system, V, cond = vdp
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    fig = plot.residual_heatmap(cond, domain, resolution=40, path=tmp_path / "rh")
    assert_written(files(tmp_path / "rh"))
    ax, cax = fig.axes
    mesh = ax.collections[0]
    assert mesh.norm.vcenter == 0.0 and mesh.norm.vmin < 0.0 < mesh.norm.vmax
    assert "kappa" in cax.get_ylabel() or "κ" in cax.get_ylabel()
    # the map holds the residual itself: compare the grid with a direct evaluation
    data = np.asarray(mesh.get_array()).reshape(40, 40)
    x1, x2 = np.linspace(-2.5, 2.5, 40), np.linspace(-3.5, 3.5, 40)
    direct = cond.residual([[x1[7], x2[31]]]).item()
    assert data[31, 7] == pytest.approx(direct, rel=1e-12, abs=1e-12)
    frac = float((data > 0).mean())
    shown = float(re.search(r"([\d.]+)% of grid points violate", ax.get_title()).group(1))
    assert shown == pytest.approx(100 * frac, abs=0.051)


def test_residual_heatmap_masks_outside_a_ball():
    system = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    cond = lyactrl.ExponentialStability(system, lyactrl.Quadratic(np.eye(2)), rate=1.0)
    fig = plot.residual_heatmap(cond, lyactrl.Ball([0.0, 0.0], 1.0), resolution=21)
    data = np.ma.filled(np.asarray(fig.axes[0].collections[0].get_array(), dtype=float), np.nan)
    data = data.reshape(21, 21)
    assert np.isnan(data[0, 0]) and np.isfinite(data[10, 10])
    assert np.nanmax(data) <= 0.0  # rate 1 holds everywhere: no violation shown


def test_decay_plot_envelope_verdict(tmp_path):
    system = lyactrl.LinearSystem([[-1.0, 0.0], [0.0, -2.0]])
    V = lyactrl.Quadratic(np.eye(2))  # dV/dt = -2 x1^2 - 4 x2^2 <= -2 V: rate 2 is true
    x0 = [[1.0, 1.0], [0.5, -1.0], [-1.0, 0.2]]
    fig = plot.decay_plot(
        system, V, x0, rate=2.0, t_final=3.0, c=1.0, alpha=1.0, n_points=60, path=tmp_path / "d"
    )
    assert_written(files(tmp_path / "d"))
    assert len(fig.axes) == 2
    assert "under the envelope" in fig.axes[0].get_title()
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "log"
    wrong = plot.decay_plot(system, V, x0, rate=3.0, t_final=3.0, n_points=60)
    assert "EXCEEDS" in wrong.axes[0].get_title()
    with pytest.raises(lyactrl.InvalidArgumentError, match="alpha"):
        plot.decay_plot(system, V, x0, rate=2.0, t_final=1.0, c=1.0)


def test_curves_from_plain_dicts(tmp_path):
    fig = plot.accuracy_vs_steps(
        {"lyanet": {1: 0.9, 2: 0.95, 4: 0.96}, "node": {4: 0.95, 1: 0.3, 2: 0.7}},
        path=tmp_path / "acc",
    )
    assert_written(files(tmp_path / "acc"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["LyaNet", "Neural ODE"]
    node = ax.get_lines()[1]
    assert list(node.get_xdata()) == [1.0, 2.0, 4.0]  # sorted by steps
    assert list(node.get_ydata()) == pytest.approx([30.0, 70.0, 95.0])
    fig = plot.robustness_curves(
        {"lyanet": {0.0: 0.97, 0.1: 0.9}, "node": {0.0: 0.97, 0.1: 0.6}}, path=tmp_path / "rob"
    )
    assert_written(files(tmp_path / "rob"))
    raw = plot.robustness_curves({"certified radius": {0.0: 1.5, 1.0: 0.5}}, percent=False)
    assert raw.axes[0].get_ylabel() == "accuracy"


def test_curves_bad_input():
    with pytest.raises(lyactrl.InvalidArgumentError, match="results"):
        plot.accuracy_vs_steps({})
    with pytest.raises(lyactrl.InvalidArgumentError, match="lyanet"):
        plot.accuracy_vs_steps({"lyanet": [0.9]})
    with pytest.raises(lyactrl.InvalidValueError, match=r"\[0, 1\]"):
        plot.accuracy_vs_steps({"lyanet": {1: 95.0}})
    with pytest.raises(lyactrl.InvalidValueError, match="numbers"):
        plot.robustness_curves({"lyanet": {"a": 0.5}})
    with pytest.raises(lyactrl.InvalidArgumentError, match="fig"):
        plot.save_figure("not a figure", "x")


def test_lyanet_toy_figure_shows_lyanet_flows_converging(tmp_path):
    fig = plot.lyanet_toy_figure(path=tmp_path / "toy")
    assert_written(files(tmp_path / "toy"))
    assert len(fig.axes) == 4
    text = fig.get_suptitle()
    nums = {
        name: (float(a), float(b))
        for name, a, b in re.findall(
            r"(Neural ODE|LyaNet): test acc (\d+)%, (\d+)% of starts", text
        )
    }
    assert set(nums) == {"Neural ODE", "LyaNet"}
    # both classify the held-out moons; LyaNet's flow is right from (almost) every start
    assert nums["LyaNet"][0] >= 90 and nums["Neural ODE"][0] >= 90
    assert nums["LyaNet"][1] >= 90
    assert nums["LyaNet"][1] > nums["Neural ODE"][1]
    for ax in fig.axes:
        assert ax.get_xlabel().startswith("logit")
    with pytest.raises(lyactrl.InvalidValueError, match="potential"):
        plot.lyanet_toy_figure(potential="hinge", steps=1)


def test_lyanet_convergence_figure_matches_the_models_predictions(tmp_path):
    """Accuracy points equal the models' own RK4 predictions (4 evaluations per step), the
    trajectories start at ratio 1, the titles carry the decay share; bad input is refused."""
    from lyactrl.train import build_classifier, evaluate_classifier, train_classifier
    from lyactrl.train.lyanet import Dataset

    g = torch.Generator().manual_seed(0)
    y = torch.arange(30) % 3
    x = 0.1 * torch.rand(30, 1, 4, 4, generator=g)
    for c in range(3):
        x[y == c, 0, c, :] += 0.8
    data = Dataset("tiny", x, y, x[:0], y[:0], x, y, 3)
    kw = dict(context_dim=8, hidden=8, dynamics_hidden=8)
    models = {m: build_classifier((1, 4, 4), 3, seed=1, **kw) for m in ("lyanet", "node")}
    for method, model in models.items():
        train_classifier(model, data, method=method, epochs=3, batch_size=10)
    fig = plot.lyanet_convergence_figure(
        models, x, y, rate=2.0, steps=(1, 2, 4), n_trajectories=5, path=tmp_path / "conv"
    )
    assert (tmp_path / "conv.png").exists() and len(fig.axes) == 3
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() != "None"]
    for line, model in zip(lines, models.values(), strict=True):
        assert list(line.get_xdata()) == [4, 8, 16]
        want = [100 * float((model.predict(x, steps=s) == y).double().mean()) for s in (1, 2, 4)]
        assert np.allclose(line.get_ydata(), want)
    for ax, model in zip(fig.axes[1:], models.values(), strict=True):
        curves = [ln.get_ydata() for ln in ax.get_lines()][:-1]  # the last is the envelope
        assert len(curves) == 5 and np.allclose([c[0] for c in curves], 1.0)
        share = evaluate_classifier(model, x, y, steps=(1,), rate=2.0)["decay_fraction"]
        assert f"{100 * share:.1f} %" in ax.get_title()
    with pytest.raises(lyactrl.LyactrlError, match="models"):
        plot.lyanet_convergence_figure({}, x, y, rate=2.0)
    with pytest.raises(lyactrl.LyactrlError, match="models\\['m'\\]"):
        plot.lyanet_convergence_figure({"m": object()}, x, y, rate=2.0)
    with pytest.raises(lyactrl.LyactrlError, match="x, y"):
        plot.lyanet_convergence_figure(models, x, y[:3], rate=2.0)


def test_axis_labels_use_the_systems_state_names():
    named = lyactrl.SymbolicSystem(["omega", "-sin(theta) - omega"], "theta, omega")
    fig = plot.phase_portrait(named, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), resolution=10)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == (r"$\theta$", r"$\omega$")
    control = pytest.importorskip("control")
    ss = control.ss([[0.0, 1.0], [-1.0, -1.0]], [[0.0], [1.0]], np.eye(2), 0)
    ss = control.ss(ss, states=["pos", "vel"])
    loop = lyactrl.ClosedLoop(lyactrl.from_control(ss), [[1.0, 1.0]])
    cond = lyactrl.ExponentialStability(loop, lyactrl.Quadratic(np.eye(2)), 0.1)
    fig = plot.residual_heatmap(cond, lyactrl.Box([-1.0, -1.0], [1.0, 1.0]), resolution=10)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("$pos$", "$vel$")
