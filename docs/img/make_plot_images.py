"""Regenerate the ``docs/img/plot_*.png`` figures of the user guide (about a minute on a CPU).

Every number drawn is computed here: the certified level comes from ``lyactrl.certify``, the
accuracy curves from the two toy classifiers of ``lyanet_toy_figure`` (seed 0).

    python docs/img/make_plot_images.py
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

import lyactrl
from lyactrl import plot
from lyactrl.train.lyanet import train_toy

OUT = Path(__file__).resolve().parent


def save_small(fig, name: str, dpi: int = 80) -> None:
    """A palette PNG (small enough for the docs)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(OUT / f"{name}.png", optimize=True)


def van_der_pol() -> None:
    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    V = lyactrl.Quadratic.from_linearization(vdp)
    cond = lyactrl.ExponentialStability(vdp, V, rate=0.25)
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])
    # the largest certified level on a grid of candidates
    cert, level = None, None
    for c in (1.4, 1.3, 1.2, 1.1, 1.0, 0.8, 0.5):
        res = lyactrl.certify(cond, lyactrl.Sublevel(V, c, within=domain), time_limit=30)
        if res.status == "certified":
            cert, level = res, c
            break
    falsified = lyactrl.falsify(cond, domain, generator=torch.Generator().manual_seed(0))
    fig = plot.phase_portrait(
        vdp,
        domain,
        V=V,
        certified_level=level,
        counterexamples=falsified,
        trajectories=10,
        title=f"Reversed Van der Pol: certified {{V ≤ {level:g}}} at rate 0.25",
    )
    save_small(fig, "plot_phase_portrait")
    fig = plot.residual_heatmap(cond, domain, counterexamples=falsified)
    save_small(fig, "plot_residual_heatmap")
    bound = cert.decay_bound
    x0 = lyactrl.Sublevel(V, level, within=domain).sample(
        4, generator=torch.Generator().manual_seed(1)
    )
    fig = plot.decay_plot(vdp, V, x0, rate=0.25, t_final=20.0, c=bound.c, alpha=bound.alpha)
    save_small(fig, "plot_decay")


def toy_curves() -> None:
    toy = train_toy(seed=0, steps=120, rate=2.0, horizon=1.0, potential_name="cross_entropy")
    rob = {}
    gen = torch.Generator().manual_seed(0)
    for name, model in toy.models.items():
        with torch.no_grad():
            rob[name] = {}
            for eps in (0.0, 0.5, 1.0, 2.0, 3.0):
                d = torch.randn(toy.x_test.shape[0], 2, generator=gen)
                eta0 = eps * d / d.norm(dim=1, keepdim=True)
                pred = model.logits(toy.x_test, 1.0, eta0=eta0).argmax(-1)
                rob[name][eps] = float((pred == toy.y_test).float().mean())
    save_small(
        plot.robustness_curves(
            rob,
            xlabel=r"perturbation of the initial logits $\|\delta\eta(0)\|$",
            title="Two moons: accuracy with a perturbed initial state",
        ),
        "plot_robustness_curves",
    )


def toy_figures() -> None:
    save_small(plot.lyanet_toy_figure(), "plot_lyanet_toy")
    save_small(plot.lyanet_toy_figure(potential="squared_error"), "plot_lyanet_toy_vertex")


if __name__ == "__main__":
    van_der_pol()
    toy_curves()
    toy_figures()
