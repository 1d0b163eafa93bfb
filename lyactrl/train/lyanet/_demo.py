"""A short LyaNet run on the embedded digits, for ``lyactrl demo``."""

from __future__ import annotations

import time
from typing import Any

import torch

from ..._api import checked_kwargs

__all__ = ["run_lyanet_demo"]


@checked_kwargs
def run_lyanet_demo(seed: int = 0, *, epochs: int = 15, quiet: bool = True) -> dict[str, Any]:
    """Train a small LyaNet classifier on digits and measure it (about 10 s on 2 cores).

    The model (MLP encoder, vertex flow, cross-entropy potential) is trained with the sampled
    Lyapunov loss only: no ODE is solved during training.

    Parameters
    ----------
    seed : int
        Seed of the model's initial weights and of training.
    epochs : int
        Training epochs.
    quiet : bool
        No progress bar (the bar is shown only when standard error is a terminal).

    Returns
    -------
    dict
        ``accuracy`` (RK4, 10 steps), ``accuracy_rk4_1``, ``accuracy_rk4_2``,
        ``decay_fraction`` (share of test points whose ``V(eta(t))`` decays at least at the
        rate along the trajectory), ``violation_rate`` (sampled, held-out states), ``rate``,
        ``epochs``, ``n_test`` and ``seconds``.

    Examples
    --------
    >>> from lyactrl.train import run_lyanet_demo
    >>> r = run_lyanet_demo(seed=0, epochs=1)  # doctest: +SKIP
    >>> r["accuracy"] > 0.5  # doctest: +SKIP
    True
    """
    from ._classifier import build_classifier
    from ._classifier_fit import LYANET_DEFAULTS, evaluate_classifier, train_classifier
    from ._data import load_digits

    start = time.perf_counter()
    data = load_digits()
    model = build_classifier(
        data.input_shape,
        data.n_classes,
        mean=[float(data.x_train.mean())],
        std=[float(data.x_train.std())],
        seed=seed,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        train_classifier(
            model,
            data,
            method="lyanet",
            epochs=epochs,
            seed=seed,
            quiet=quiet,
            **{k: v for k, v in LYANET_DEFAULTS.items()},
        )
        ev = evaluate_classifier(
            model,
            data.x_test,
            data.y_test,
            steps=(1, 2, 10),
            rate=LYANET_DEFAULTS["rate"],
            radius=LYANET_DEFAULTS["radius"],
            seed=seed,
        )
    finally:
        torch.set_num_threads(threads)
    return {
        "accuracy": ev["accuracy_rk4"]["10"],
        "accuracy_rk4_1": ev["accuracy_rk4"]["1"],
        "accuracy_rk4_2": ev["accuracy_rk4"]["2"],
        "accuracy_dopri5": ev["accuracy_dopri5"],
        "decay_fraction": ev["decay_fraction"],
        "violation_rate": ev["violation_rate"],
        "rate": LYANET_DEFAULTS["rate"],
        "epochs": epochs,
        "n_test": ev["n_test"],
        "seconds": time.perf_counter() - start,
    }
